//! busy rooms: R rooms, each with its own sender and one long-polling receiver; every
//! sender sends one message per tick, all at the same moment, for M ticks. Many writers
//! at once is what the single-sender fan-out never shows: a server that wakes a
//! receiver before its event is readable delays it by a whole long-poll. For every
//! message, the time from the start of its send to the arrival of the `/sync` answer
//! carrying it; `late_over_1s` counts those that took longer than a second. Under CPU
//! contention the send itself slows, so `after_ack` also gives the time from the send's
//! answer to the arrival (zero when the receiver had it first): the wake-up path alone.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::client::{ClientError, User};
use crate::progress::Progress;
use crate::report::{Better, Section};
use crate::scenarios::receiver::{Listen, Received, collect, receive};
use crate::scenarios::{Ctx, bounded};
use crate::stats::Samples;

/// Initial syncs take one event per room (the receivers only need a token).
const INITIAL_FILTER: &str = r#"{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":1}}}"#;
/// A message held back until its receiver's long-poll times out shows as this delay.
const LONG_POLL_MS: u64 = 20_000;
/// A delivery slower than this is counted as late.
const LATE: Duration = Duration::from_secs(1);

/// One room under load: who sends, who receives from which token.
struct Pair {
    sender: User,
    receiver: User,
    room_id: String,
    since: String,
}

/// When each message of one sender started and was answered (None: not sent), and its
/// send latencies.
#[derive(Default)]
struct Sent {
    starts: Vec<Option<(Instant, Instant)>>,
    latency: Samples,
    errors: Vec<ClientError>,
}

pub async fn run(ctx: &Ctx) -> Section {
    let plan = &ctx.plan;
    let mut section = Section::new(format!("busy_rooms_r{}", plan.busy_rooms));
    let started = Instant::now();
    let pairs = set_up(ctx, &mut section).await;
    if pairs.is_empty() {
        section.error("no room could be set up; nothing to measure");
        return section;
    }
    let messages = plan.busy_rooms_messages;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut receivers = JoinSet::new();
    for (index, pair) in pairs.iter().enumerate() {
        let (server, stop) = (ctx.server.clone(), stop_rx.clone());
        let (user, since, room_id) = (pair.receiver.clone(), pair.since.clone(), pair.room_id.clone());
        let listen = Listen { user, since, room_id, messages, long_poll_ms: LONG_POLL_MS };
        receivers.spawn(async move { (index, receive(server, listen, stop).await) });
    }
    // Let every long-poll reach the server before the first message.
    tokio::time::sleep(Duration::from_millis(1_000 + pairs.len() as u64 * 2)).await;
    let sent = send_all(ctx, &pairs, &mut section).await;
    let results = collect(receivers, plan.busy_rooms_grace, &stop_tx).await;
    summarize(&mut section, &sent, results);
    section.elapsed_secs = started.elapsed().as_secs_f64();
    section
}

/// Every sender sends one message per tick, the ticks of all senders at the same
/// moments; no message starts after the send budget.
async fn send_all(ctx: &Ctx, pairs: &[Pair], section: &mut Section) -> Vec<Sent> {
    let plan = &ctx.plan;
    let messages = plan.busy_rooms_messages;
    let progress = Progress::start(format!("{}: sends", section.name), messages * pairs.len() as u64);
    let counter = progress.counter();
    let first_tick = tokio::time::Instant::now() + Duration::from_millis(50);
    let deadline = Instant::now() + plan.busy_rooms_send_budget;
    let mut senders = JoinSet::new();
    for (index, pair) in pairs.iter().enumerate() {
        let (server, user, room_id, counter) =
            (ctx.server.clone(), pair.sender.clone(), pair.room_id.clone(), counter.clone());
        let spacing = plan.busy_rooms_spacing;
        senders.spawn(async move {
            let mut sent = Sent::default();
            let mut tick = tokio::time::interval_at(first_tick, spacing);
            for seq in 0..messages {
                tick.tick().await;
                if Instant::now() > deadline {
                    break;
                }
                let start = Instant::now();
                match server.send(&user, &room_id, seq).await {
                    Ok(_) => {
                        let answered = Instant::now();
                        sent.latency.push(answered - start);
                        sent.starts.push(Some((start, answered)));
                    }
                    Err(e) => {
                        sent.errors.push(e);
                        sent.starts.push(None);
                    }
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            (index, sent)
        });
    }
    let mut by_room: Vec<Option<Sent>> = (0..pairs.len()).map(|_| None).collect();
    while let Some(joined) = senders.join_next().await {
        if let Ok((index, sent)) = joined
            && let Some(slot) = by_room.get_mut(index)
        {
            *slot = Some(sent);
        }
    }
    drop(progress);
    by_room.into_iter().map(Option::unwrap_or_default).collect()
}

/// Delivery latency of every sent message to its room's receiver, the late and the
/// missing ones, and the send latency.
fn summarize(section: &mut Section, sent: &[Sent], results: Vec<(usize, Received)>) {
    let (mut delivery, mut after_ack) = (Samples::new(), Samples::new());
    let mut send_latency = Samples::new();
    let (mut late, mut delivered) = (0u64, 0u64);
    for (index, received) in results {
        let Some(starts) = sent.get(index).map(|sent| &sent.starts) else { continue };
        for (seq, at) in received.arrivals {
            let start = usize::try_from(seq).ok().and_then(|i| starts.get(i)).copied().flatten();
            let Some((start, answered)) = start else { continue };
            let took = at.saturating_duration_since(start);
            delivered += 1;
            late += u64::from(took > LATE);
            delivery.push(took);
            after_ack.push(at.saturating_duration_since(answered));
        }
        for e in received.errors {
            section.error(e);
        }
    }
    let mut expected = 0u64;
    for room in sent {
        expected += room.starts.iter().filter(|start| start.is_some()).count() as u64;
        send_latency.extend(room.latency.clone());
        for e in &room.errors {
            section.error(e);
        }
    }
    section.figure("rooms", sent.len() as f64, "", Better::Neither);
    section.figure("messages", expected as f64, "", Better::Neither);
    section.latency("delivery", &delivery);
    section.figure("late_over_1s", late as f64, "", Better::Lower);
    if let Some(s) = after_ack.summary() {
        section.figure("after_ack_p50", s.p50, "ms", Better::Lower);
        section.figure("after_ack_p99", s.p99, "ms", Better::Lower);
        section.figure("after_ack_max", s.max, "ms", Better::Lower);
    }
    section.figure("missing_deliveries", expected.saturating_sub(delivered) as f64, "", Better::Lower);
    section.latency("send", &send_latency);
}

/// Rooms created by their senders and joined by their receivers (a few at a time), and
/// each receiver's initial sync for the token its long-polls start from.
async fn set_up(ctx: &Ctx, section: &mut Section) -> Vec<Pair> {
    let plan = &ctx.plan;
    let wanted = plan.busy_rooms;
    let available = ctx.pool.len() / 2;
    if available < wanted {
        section
            .note(format!("only {} users registered: {available} rooms instead of {wanted}", ctx.pool.len()));
    }
    let count = wanted.min(available);
    let progress = Progress::start(format!("{}: rooms", section.name), count as u64);
    let counter = progress.counter();
    let deadline = Instant::now() + plan.join_budget;
    let results = bounded(count, plan.concurrency, deadline, |i| {
        let (server, counter) = (ctx.server.clone(), counter.clone());
        let users = (ctx.pool.get(2 * i).cloned(), ctx.pool.get(2 * i + 1).cloned());
        async move {
            let (Some(sender), Some(receiver)) = users else {
                return Err(ClientError::Shape { what: "busy rooms", detail: "user pool too small".into() });
            };
            let room_id = server.create_room(&sender, true).await?;
            server.join(&receiver, &room_id).await?;
            let since = server.sync(&receiver, None, 0, Some(INITIAL_FILTER)).await?.next_batch;
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Pair { sender, receiver, room_id, since })
        }
    })
    .await;
    drop(progress);
    let mut pairs = Vec::with_capacity(count);
    for (_, result) in results {
        match result {
            Ok(pair) => pairs.push(pair),
            Err(e) => section.error(e),
        }
    }
    if pairs.len() < count {
        section.note(format!("{} of {count} rooms set up within the time budget", pairs.len()));
    }
    pairs
}
