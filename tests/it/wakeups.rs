//! No lost wake-ups: with many writers at once on a stream, every long-polling `/sync`
//! answers as soon as the change that concerns it is published, never only when its
//! timeout runs out — for room events (one sender and one receiver per room, all
//! sending at the same moment), account data and to-device messages (many idle
//! long-polls per user).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::harness::{Backend, Server, Session, V3, bodies, enc, room_events};

/// Rooms, each with its own sender and receiver.
const ROOMS: usize = 20;
/// Rounds in which every sender sends one message at the same moment.
const ROUNDS: usize = 6;
/// The long-poll timeout the receivers ask for: a lost wake-up shows as this delay.
const LONG_POLL_MS: u64 = 20_000;
/// Every change must reach its long-poll well before the timeout.
const PROMPT: Duration = Duration::from_secs(5);

fn next_batch(sync: &Value) -> String {
    sync["next_batch"].as_str().expect("next_batch").to_owned()
}

/// Long-polls `token`'s sync from `since` and reports `(room, round)` for every
/// message `r{round}` that arrives in `room`, until all rounds arrived.
async fn receive(
    s: Arc<Server>,
    token: String,
    room: String,
    index: usize,
    since: String,
    seen: mpsc::UnboundedSender<(usize, usize)>,
) {
    let mut since = since;
    let mut received = 0;
    while received < ROUNDS {
        let sync = s.sync(&token, Some(&since), &format!("timeout={LONG_POLL_MS}")).await;
        for body in bodies(room_events(&sync, "join", &room, "timeline")) {
            let round = body.trim_start_matches('r').parse::<usize>().expect("round number");
            received += 1;
            if seen.send((index, round)).is_err() {
                return;
            }
        }
        since = next_batch(&sync);
    }
}

/// Twenty rooms, a sender and a long-polling receiver in each; every round all senders
/// send at once, and the round ends when every receiver got its message. Each must
/// arrive within [`PROMPT`] of the round's start (a lost wake-up waits 20 s).
async fn concurrent_senders_in_many_rooms_reach_every_receiver_promptly(b: Backend) {
    let s = Arc::new(Server::start_default(b).await);
    let mut rooms = Vec::new();
    for i in 0..ROOMS {
        let sender = s.register(&format!("sender{i}"), "pw").await;
        let receiver = s.register(&format!("receiver{i}"), "pw").await;
        let room = s.create_room(&sender.access_token, json!({ "preset": "public_chat" })).await;
        s.join(&receiver.access_token, &room).await;
        rooms.push((sender, receiver, room));
    }
    let (seen, mut arrivals) = mpsc::unbounded_channel();
    let mut receivers = tokio::task::JoinSet::new();
    for (index, (_, receiver, room)) in rooms.iter().enumerate() {
        let since = next_batch(&s.sync(&receiver.access_token, None, "timeout=0").await);
        let token = receiver.access_token.clone();
        receivers.spawn(receive(s.clone(), token, room.clone(), index, since, seen.clone()));
    }
    drop(seen);
    let mut late = Vec::new();
    let mut slowest = Duration::ZERO;
    for round in 0..ROUNDS {
        let started = Instant::now();
        let body = format!("r{round}");
        let sends = rooms.iter().map(|(sender, _, room)| {
            let content = json!({ "msgtype": "m.text", "body": body });
            s.send_event(&sender.access_token, room, "m.room.message", &body, content)
        });
        for resp in join_all(sends).await {
            resp.ok();
        }
        let mut waiting: Vec<usize> = (0..ROOMS).collect();
        while !waiting.is_empty() {
            let left = PROMPT.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, arrivals.recv()).await {
                Ok(Some((index, arrived_round))) => {
                    assert_eq!(arrived_round, round, "room {index}: a message of another round arrived");
                    waiting.retain(|&waiting_index| waiting_index != index);
                }
                Ok(None) => panic!("a receiver stopped early"),
                Err(_) => break,
            }
        }
        slowest = slowest.max(started.elapsed());
        late.extend(waiting.into_iter().map(|index| (round, index)));
        if !late.is_empty() {
            break;
        }
    }
    assert!(
        late.is_empty(),
        "messages not delivered within {PROMPT:?} of being sent (round, room): {late:?}"
    );
    assert!(slowest < PROMPT, "slowest round took {slowest:?}");
    while let Some(done) = receivers.join_next().await {
        done.expect("receiver task");
    }
}

/// A change made for one user, that wakes that user's long-polls.
#[derive(Clone, Copy)]
enum Change {
    /// The user's own global account data.
    AccountData,
    /// A to-device message from the next user to the user's device.
    ToDevice,
}

impl Change {
    /// Makes the change of `round` for `users[index]`.
    async fn make(self, s: &Server, users: &[(Session, String)], index: usize, round: usize) {
        let (user, _) = &users[index];
        let resp = match self {
            Change::AccountData => {
                let path = format!("{V3}/user/{}/account_data/org.example.round", enc(&user.user_id));
                s.put(&path, Some(&user.access_token), json!({ "round": round })).await
            }
            Change::ToDevice => {
                let (sender, _) = &users[(index + 1) % users.len()];
                let path = format!("{V3}/sendToDevice/org.example.round/round{round}");
                let messages =
                    json!({ "messages": { &user.user_id: { &user.device_id: { "round": round } } } });
                s.put(&path, Some(&sender.access_token), messages).await
            }
        };
        assert_eq!(resp.ok(), &json!({}));
    }

    /// Whether `sync` carries the change of `round`.
    fn seen_in(self, sync: &Value, round: usize) -> bool {
        let events = match self {
            Change::AccountData => &sync["account_data"]["events"],
            Change::ToDevice => &sync["to_device"]["events"],
        };
        let events = events.as_array().map(Vec::as_slice).unwrap_or_default();
        events.iter().any(|e| e["type"] == "org.example.round" && e["content"]["round"] == round)
    }
}

/// Forty users with three idle long-polls each; in every round each user's `change` is
/// made, all at once. Every long-poll must answer with its user's change within
/// [`PROMPT`].
async fn changes_wake_every_idle_long_poll_promptly(b: Backend, change: Change) {
    const USERS: usize = 40;
    const POLLS_PER_USER: usize = 3;
    const CHANGE_ROUNDS: usize = 4;
    let s = Arc::new(Server::start_default(b).await);
    let mut users = Vec::new();
    for i in 0..USERS {
        let user = s.register(&format!("user{i}"), "pw").await;
        let since = next_batch(&s.sync(&user.access_token, None, "timeout=0").await);
        users.push((user, since));
    }
    for round in 0..CHANGE_ROUNDS {
        let mut polls = tokio::task::JoinSet::new();
        for (index, (user, since)) in users.iter().enumerate() {
            for _ in 0..POLLS_PER_USER {
                let (s, token, since) = (s.clone(), user.access_token.clone(), since.clone());
                polls.spawn(async move {
                    let sync = s.sync(&token, Some(&since), &format!("timeout={LONG_POLL_MS}")).await;
                    (index, Instant::now(), sync)
                });
            }
        }
        let started = Instant::now();
        join_all((0..USERS).map(|index| change.make(&s, &users, index, round))).await;
        let mut late = Vec::new();
        let mut answered = 0;
        while let Some(done) = polls.join_next().await {
            let (index, at, sync) = done.expect("long-poll task");
            let got = change.seen_in(&sync, round);
            if !got || at.duration_since(started) >= PROMPT {
                late.push((index, at.duration_since(started), got));
            }
            answered += 1;
            users[index].1 = next_batch(&sync);
        }
        assert_eq!(answered, USERS * POLLS_PER_USER);
        assert!(
            late.is_empty(),
            "round {round}: long-polls answered late or without the change (user, after, had it): {late:?}"
        );
    }
}

async fn account_data_changes_wake_every_idle_long_poll_promptly(b: Backend) {
    changes_wake_every_idle_long_poll_promptly(b, Change::AccountData).await;
}

async fn to_device_messages_wake_every_idle_long_poll_promptly(b: Backend) {
    changes_wake_every_idle_long_poll_promptly(b, Change::ToDevice).await;
}

crate::per_backend!(
    concurrent_senders_in_many_rooms_reach_every_receiver_promptly,
    account_data_changes_wake_every_idle_long_poll_promptly,
    to_device_messages_wake_every_idle_long_poll_promptly,
);
