//! `GET /sync`: initial and incremental syncs, long-polling, no event lost or repeated
//! under concurrent senders, the leave and invite sections, account data, filters, and
//! refused tokens.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Backend, Server, Session, V3, bodies, enc, room_events, timeline_filter};

/// Alice's public room with bob joined.
async fn room_with_two(b: Backend) -> (Server, Session, Session, String) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room =
        s.create_room(&alice.access_token, json!({ "preset": "public_chat", "name": "Sync room" })).await;
    s.join(&bob.access_token, &room).await;
    (s, alice, bob, room)
}

fn next_batch(sync: &Value) -> String {
    sync["next_batch"].as_str().expect("next_batch").to_owned()
}

fn has(events: &[&Value], kind: &str, key: &str) -> bool {
    events.iter().any(|e| e["type"] == kind && e["state_key"] == key)
}

async fn initial_sync_shows_joined_rooms(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    s.put_state(a, &room, "m.room.topic", "", json!({ "topic": "all about sync" })).await.ok();
    s.send_text(a, &room, "hello").await;
    let other = s.create_room(&bob.access_token, json!({})).await;
    // Default filter: the whole (short) history fits; state + timeline cover the room.
    let sync = s.sync(a, None, "").await;
    let joined = sync["rooms"]["join"].as_object().expect("rooms.join");
    assert_eq!(joined.keys().collect::<Vec<_>>(), vec![&room], "alice is only in {room}: {sync}");
    let timeline = room_events(&sync, "join", &room, "timeline");
    assert_eq!(timeline.last().unwrap()["content"]["body"], "hello");
    let mut all = room_events(&sync, "join", &room, "state");
    all.extend(timeline.iter().copied());
    for (kind, key) in [
        ("m.room.create", ""),
        ("m.room.name", ""),
        ("m.room.topic", ""),
        ("m.room.power_levels", ""),
        ("m.room.member", alice.user_id.as_str()),
        ("m.room.member", bob.user_id.as_str()),
    ] {
        assert!(has(&all, kind, key), "initial sync lacks {kind}/{key}: {sync}");
    }
    let entry = &sync["rooms"]["join"][&room];
    assert_eq!(entry["unread_notifications"]["notification_count"], 0, "{entry}");
    assert_eq!(entry["unread_notifications"]["highlight_count"], 0, "{entry}");
    for event in &all {
        assert!(event["event_id"].is_string() && event["sender"].is_string(), "{event}");
        assert!(event["origin_server_ts"].is_u64(), "{event}");
    }
    // A timeline of one: limited, and the room state comes in `state`, as it was at the
    // start of the timeline.
    let sync = s.sync(a, None, &timeline_filter(1)).await;
    let timeline = room_events(&sync, "join", &room, "timeline");
    assert_eq!(bodies(timeline.iter().copied()), vec!["hello"]);
    assert_eq!(timeline.len(), 1);
    let entry = &sync["rooms"]["join"][&room];
    assert_eq!(entry["timeline"]["limited"], true, "{entry}");
    let state = room_events(&sync, "join", &room, "state");
    for (kind, key) in [
        ("m.room.create", ""),
        ("m.room.name", ""),
        ("m.room.topic", ""),
        ("m.room.join_rules", ""),
        ("m.room.member", alice.user_id.as_str()),
        ("m.room.member", bob.user_id.as_str()),
    ] {
        assert!(has(&state, kind, key), "limited sync state lacks {kind}/{key}: {entry}");
    }
    // prev_batch continues backwards just before the timeline, without repeating it.
    let prev = entry["timeline"]["prev_batch"].as_str().expect("prev_batch");
    let page = s.messages(a, &room, &format!("dir=b&limit=1&from={}", enc(prev))).await;
    let chunk = page.ok()["chunk"].as_array().unwrap();
    assert_eq!(chunk.len(), 1);
    assert_eq!(chunk[0]["type"], "m.room.topic", "{}", page.text);
    // Bob sees both his rooms.
    let sync = s.sync(&bob.access_token, None, "").await;
    let mut rooms: Vec<&String> = sync["rooms"]["join"].as_object().unwrap().keys().collect();
    rooms.sort();
    let mut want = vec![&room, &other];
    want.sort();
    assert_eq!(rooms, want);
}

async fn incremental_sync_returns_only_new_events(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let bt = &bob.access_token;
    let quiet = s.create_room(bt, json!({ "name": "quiet" })).await;
    let first = s.sync(bt, None, "").await;
    let since = next_batch(&first);
    s.send_text(&alice.access_token, &room, "one").await;
    s.send_text(&alice.access_token, &room, "two").await;
    let sync = s.sync(bt, Some(&since), "").await;
    let timeline = room_events(&sync, "join", &room, "timeline");
    assert_eq!(timeline.len(), 2, "only the new events: {sync}");
    assert_eq!(bodies(timeline.iter().copied()), vec!["one", "two"]);
    assert_eq!(sync["rooms"]["join"][&room]["timeline"]["limited"], false);
    assert_eq!(room_events(&sync, "join", &room, "state").len(), 0, "state repeated: {sync}");
    assert!(sync["rooms"]["join"].get(&quiet).is_none(), "a quiet room is reported: {sync}");
    // Nothing new: no room entries (timeout 0 answers at once).
    let since = next_batch(&sync);
    let sync = s.sync(bt, Some(&since), "timeout=0").await;
    let rooms = &sync["rooms"]["join"];
    assert!(
        rooms.get(&room).is_none() || room_events(&sync, "join", &room, "timeline").is_empty(),
        "events repeated: {sync}"
    );
    // The same `since` twice gives the same events (tokens are re-usable).
    let again = s.sync(bt, Some(&next_batch(&first)), "").await;
    assert_eq!(bodies(room_events(&again, "join", &room, "timeline")), vec!["one", "two"]);
    // More new events than the limit: the newest, marked limited, with state.
    let since = next_batch(&sync);
    for i in 0..5 {
        s.send_text(&alice.access_token, &room, &format!("burst {i}")).await;
    }
    let sync = s.sync(bt, Some(&since), &timeline_filter(3)).await;
    assert_eq!(bodies(room_events(&sync, "join", &room, "timeline")), vec!["burst 2", "burst 3", "burst 4"]);
    assert_eq!(sync["rooms"]["join"][&room]["timeline"]["limited"], true);
}

async fn full_state_and_stored_filters(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let bt = &bob.access_token;
    for i in 0..4 {
        s.send_text(&alice.access_token, &room, &format!("m{i}")).await;
    }
    let since = next_batch(&s.sync(bt, None, "").await);
    // full_state: the room comes back with its state although nothing changed.
    let started = Instant::now();
    let sync = s.sync(bt, Some(&since), "full_state=true&timeout=10000").await;
    assert!(started.elapsed() < Duration::from_secs(8), "full_state sync waited");
    let mut all = room_events(&sync, "join", &room, "state");
    all.extend(room_events(&sync, "join", &room, "timeline"));
    assert!(has(&all, "m.room.create", "") && has(&all, "m.room.name", ""), "{sync}");
    // A stored filter's timeline limit applies.
    let resp = s
        .post(
            &format!("{V3}/user/{}/filter", enc(&bob.user_id)),
            Some(bt),
            json!({ "room": { "timeline": { "limit": 2 } } }),
        )
        .await;
    let filter_id = resp.ok()["filter_id"].as_str().unwrap().to_owned();
    let sync = s.sync(bt, None, &format!("filter={}", enc(&filter_id))).await;
    assert_eq!(bodies(room_events(&sync, "join", &room, "timeline")), vec!["m2", "m3"]);
    assert_eq!(sync["rooms"]["join"][&room]["timeline"]["limited"], true);
    // Someone else's filter ID, or an unknown one, is refused.
    s.sync_resp(&alice.access_token, None, "filter=nosuchfilter").await.err_one_of(&[
        (404, "M_NOT_FOUND"),
        (400, "M_INVALID_PARAM"),
        (400, "M_BAD_JSON"),
    ]);
}

async fn long_poll_wakes_on_a_message(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let bt = &bob.access_token;
    let since = next_batch(&s.sync(bt, None, "").await);
    let started = Instant::now();
    let (sync, _) = tokio::join!(s.sync(bt, Some(&since), "timeout=10000"), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.send_text(&alice.access_token, &room, "wake up").await
    });
    let elapsed = started.elapsed();
    assert_eq!(bodies(room_events(&sync, "join", &room, "timeline")), vec!["wake up"], "{sync}");
    assert!(elapsed < Duration::from_secs(8), "long-poll took {elapsed:?}");
    // With nothing happening, the long-poll ends at its timeout with an empty answer.
    let since = next_batch(&sync);
    let started = Instant::now();
    let quiet = s.sync(bt, Some(&since), "timeout=1000").await;
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "returned early after {elapsed:?}: {quiet}");
    assert!(elapsed < Duration::from_secs(8), "timeout overran: {elapsed:?}");
    assert!(room_events(&quiet, "join", &room, "timeline").is_empty(), "{quiet}");
    // Its token still works and misses nothing sent afterwards.
    s.send_text(&alice.access_token, &room, "after the quiet poll").await;
    let sync = s.sync(bt, Some(&next_batch(&quiet)), "timeout=10000").await;
    assert_eq!(bodies(room_events(&sync, "join", &room, "timeline")), vec!["after the quiet poll"]);
}

async fn long_poll_wakes_on_an_invite(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let carol = s.register("carol", "pw").await;
    let ct = &carol.access_token;
    let since = next_batch(&s.sync(ct, None, "").await);
    let started = Instant::now();
    let (sync, _) = tokio::join!(s.sync(ct, Some(&since), "timeout=10000"), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.invite(&alice.access_token, &room, &carol.user_id).await
    });
    assert!(started.elapsed() < Duration::from_secs(8));
    let invite = &sync["rooms"]["invite"][&room]["invite_state"]["events"];
    let events = invite.as_array().unwrap_or_else(|| panic!("no invite: {sync}"));
    assert!(events.iter().any(|e| e["type"] == "m.room.member"
        && e["state_key"] == carol.user_id.as_str()
        && e["content"]["membership"] == "invite"));
    assert!(events.iter().any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Sync room"));
    // Reported once.
    let sync = s.sync(ct, Some(&next_batch(&sync)), "timeout=0").await;
    assert!(sync["rooms"]["invite"].get(&room).is_none(), "invite repeated: {sync}");
    // Joining moves the room to `join`.
    s.join(ct, &room).await;
    let sync = s.sync(ct, Some(&next_batch(&sync)), "timeout=10000").await;
    assert!(sync["rooms"]["join"][&room].is_object(), "{sync}");
    assert!(sync["rooms"]["invite"].get(&room).is_none());
}

async fn chain_of_incremental_syncs_loses_nothing(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let s = Arc::new(s);
    let since = next_batch(&s.sync(&bob.access_token, None, "").await);
    const N: usize = 60;
    let sender = {
        let s = s.clone();
        let token = alice.access_token.clone();
        let room = room.clone();
        tokio::spawn(async move {
            for i in 0..N {
                s.send_text(&token, &room, &format!("c{i}")).await;
                if i % 7 == 0 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }
        })
    };
    let mut seen = Vec::new();
    let mut since = since;
    let mut syncs = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let filter = timeline_filter(1000);
    while seen.len() < N {
        assert!(Instant::now() < deadline, "only {} of {N} messages arrived: {seen:?}", seen.len());
        let sync = s.sync(&bob.access_token, Some(&since), &format!("timeout=5000&{filter}")).await;
        if let Some(entry) = sync["rooms"]["join"].get(&room) {
            assert_eq!(entry["timeline"]["limited"], false, "{entry}");
        }
        seen.extend(bodies(room_events(&sync, "join", &room, "timeline")));
        since = next_batch(&sync);
        syncs += 1;
    }
    sender.await.unwrap();
    let expected: Vec<String> = (0..N).map(|i| format!("c{i}")).collect();
    assert_eq!(seen, expected, "lost, repeated or reordered across {syncs} syncs");
    let tail = s.sync(&bob.access_token, Some(&since), "timeout=0").await;
    assert!(bodies(room_events(&tail, "join", &room, "timeline")).is_empty(), "extra events: {tail}");
}

async fn concurrent_senders_and_long_polling_receivers(b: Backend) {
    let s = Arc::new(Server::start_default(b).await);
    let owner = s.register("owner", "pw").await;
    let room = s.create_room(&owner.access_token, json!({ "preset": "public_chat" })).await;
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    const SENDERS: usize = 20;
    const RECEIVERS: usize = 10;
    const PER_SENDER: usize = 50;
    const TOTAL: usize = SENDERS * PER_SENDER;
    for i in 0..SENDERS {
        let user = s.register(&format!("sender{i}"), "pw").await;
        s.join(&user.access_token, &room).await;
        senders.push(user);
    }
    for i in 0..RECEIVERS {
        let user = s.register(&format!("receiver{i}"), "pw").await;
        s.join(&user.access_token, &room).await;
        receivers.push(user);
    }
    let mut receiving = Vec::new();
    for user in &receivers {
        let since = next_batch(&s.sync(&user.access_token, None, "").await);
        let (s, token, room) = (s.clone(), user.access_token.clone(), room.clone());
        receiving.push(tokio::spawn(async move {
            let filter = timeline_filter(1000);
            let mut since = since;
            let mut seen: Vec<String> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(240);
            while seen.len() < TOTAL {
                assert!(Instant::now() < deadline, "receiver got {} of {TOTAL}", seen.len());
                let sync = s.sync(&token, Some(&since), &format!("timeout=5000&{filter}")).await;
                if let Some(entry) = sync["rooms"]["join"].get(&room) {
                    assert_eq!(entry["timeline"]["limited"], false, "{entry}");
                }
                seen.extend(bodies(room_events(&sync, "join", &room, "timeline")));
                since = next_batch(&sync);
            }
            // Nothing more arrives afterwards.
            let tail = s.sync(&token, Some(&since), "timeout=0").await;
            seen.extend(bodies(room_events(&tail, "join", &room, "timeline")));
            seen
        }));
    }
    let mut sending = Vec::new();
    for (i, user) in senders.iter().enumerate() {
        let (s, token, room) = (s.clone(), user.access_token.clone(), room.clone());
        sending.push(tokio::spawn(async move {
            for j in 0..PER_SENDER {
                s.send_text(&token, &room, &format!("s{i}-{j}")).await;
            }
        }));
    }
    for task in sending {
        task.await.expect("sender task");
    }
    let mut orders = Vec::new();
    for task in receiving {
        orders.push(task.await.expect("receiver task"));
    }
    let history: Vec<String> = bodies(&s.all_messages(&owner.access_token, &room).await);
    assert_eq!(history.len(), TOTAL);
    for (r, order) in orders.iter().enumerate() {
        assert_eq!(order.len(), TOTAL, "receiver {r} got {} messages: {order:?}", order.len());
        let unique: HashSet<&String> = order.iter().collect();
        assert_eq!(unique.len(), TOTAL, "receiver {r} got duplicates");
        assert_eq!(order, &history, "receiver {r}'s order differs from the room's");
    }
    // Each sender's messages keep their sending order.
    for i in 0..SENDERS {
        let mine: Vec<&String> = history.iter().filter(|b| b.starts_with(&format!("s{i}-"))).collect();
        let want: Vec<String> = (0..PER_SENDER).map(|j| format!("s{i}-{j}")).collect();
        assert_eq!(mine, want.iter().collect::<Vec<_>>());
    }
}

async fn leave_appears_in_the_leave_section(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let carol = s.register("carol", "pw").await;
    let ct = &carol.access_token;
    s.join(ct, &room).await;
    let bob_since = next_batch(&s.sync(bt, None, "").await);
    let carol_since = next_batch(&s.sync(ct, None, "").await);
    s.send_text(a, &room, "before leaving").await;
    s.room_action(bt, &room, "leave", json!({ "reason": "bye" })).await.ok();
    s.room_action(a, &room, "kick", json!({ "user_id": carol.user_id, "reason": "out" })).await.ok();
    s.send_text(a, &room, "after leaving").await;
    for (user, token, since, sender, reason) in
        [(&bob, bt, &bob_since, &bob.user_id, "bye"), (&carol, ct, &carol_since, &alice.user_id, "out")]
    {
        let sync = s.sync(token, Some(since), "").await;
        assert!(sync["rooms"]["join"].get(&room).is_none(), "{} still joined: {sync}", user.user_id);
        let left = &sync["rooms"]["leave"][&room];
        assert!(left.is_object(), "no leave entry for {}: {sync}", user.user_id);
        let timeline = room_events(&sync, "leave", &room, "timeline");
        let last = timeline.last().unwrap_or_else(|| panic!("empty leave timeline: {sync}"));
        assert_eq!(last["type"], "m.room.member");
        assert_eq!(last["state_key"], user.user_id.as_str());
        assert_eq!(last["sender"], sender.as_str());
        assert_eq!(last["content"]["membership"], "leave");
        assert_eq!(last["content"]["reason"], reason);
        let seen = bodies(timeline.iter().copied());
        assert!(seen.contains(&"before leaving".to_owned()), "{seen:?}");
        assert!(!seen.contains(&"after leaving".to_owned()), "event after the leave leaked: {sync}");
        // Reported once.
        let next = s.sync(token, Some(&next_batch(&sync)), "timeout=0").await;
        assert!(next["rooms"]["leave"].get(&room).is_none(), "leave repeated: {next}");
        assert!(next["rooms"]["join"].get(&room).is_none(), "{next}");
        // An initial sync does not list the left room as joined.
        let initial = s.sync(token, None, "").await;
        assert!(initial["rooms"]["join"].get(&room).is_none(), "{initial}");
    }
    // Ban: in the leave section too.
    let dave = s.register("dave", "pw").await;
    s.join(&dave.access_token, &room).await;
    let since = next_batch(&s.sync(&dave.access_token, None, "").await);
    s.room_action(a, &room, "ban", json!({ "user_id": dave.user_id })).await.ok();
    let sync = s.sync(&dave.access_token, Some(&since), "timeout=10000").await;
    let timeline = room_events(&sync, "leave", &room, "timeline");
    assert_eq!(timeline.last().map(|e| &e["content"]["membership"]), Some(&json!("ban")), "{sync}");
}

async fn account_data_appears_once(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let global = format!("{V3}/user/{}/account_data/org.example.global", enc(&alice.user_id));
    let in_room =
        format!("{V3}/user/{}/rooms/{}/account_data/org.example.room", enc(&alice.user_id), enc(&room));
    let since = next_batch(&s.sync(a, None, "").await);
    s.put(&global, Some(a), json!({ "v": 1 })).await.ok();
    s.put(&in_room, Some(a), json!({ "r": 1 })).await.ok();
    let of = |sync: &Value, kind: &str| -> Vec<Value> {
        let mut events: Vec<Value> = sync["account_data"]["events"].as_array().cloned().unwrap_or_default();
        events.extend(room_events(sync, "join", &room, "account_data").into_iter().cloned());
        events.into_iter().filter(|e| e["type"] == kind).collect()
    };
    let sync = s.sync(a, Some(&since), "timeout=10000").await;
    let globals: Vec<&Value> = sync["account_data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "org.example.global")
        .collect();
    assert_eq!(globals.len(), 1, "{sync}");
    assert_eq!(globals[0]["content"], json!({ "v": 1 }));
    let rooms = room_events(&sync, "join", &room, "account_data");
    let room_data: Vec<&&Value> = rooms.iter().filter(|e| e["type"] == "org.example.room").collect();
    assert_eq!(room_data.len(), 1, "{sync}");
    assert_eq!(room_data[0]["content"], json!({ "r": 1 }));
    // Room data is not global and vice versa.
    assert!(
        !sync["account_data"]["events"].as_array().unwrap().iter().any(|e| e["type"] == "org.example.room")
    );
    assert!(!rooms.iter().any(|e| e["type"] == "org.example.global"));
    // Not repeated.
    let since = next_batch(&sync);
    let sync = s.sync(a, Some(&since), "timeout=0").await;
    assert!(of(&sync, "org.example.global").is_empty() && of(&sync, "org.example.room").is_empty(), "{sync}");
    // Two updates between syncs: one event, the latest content.
    let since = next_batch(&sync);
    s.put(&global, Some(a), json!({ "v": 2 })).await.ok();
    s.put(&global, Some(a), json!({ "v": 3 })).await.ok();
    let sync = s.sync(a, Some(&since), "timeout=10000").await;
    let got = of(&sync, "org.example.global");
    assert_eq!(got.len(), 1, "{sync}");
    assert_eq!(got[0]["content"], json!({ "v": 3 }));
    // An initial sync carries both, once each.
    let initial = s.sync(a, None, "").await;
    assert_eq!(of(&initial, "org.example.global").len(), 1, "{initial}");
    assert_eq!(of(&initial, "org.example.room").len(), 1, "{initial}");
}

async fn long_poll_wakes_on_account_data(b: Backend) {
    let (s, alice, _bob, _room) = room_with_two(b).await;
    let a = &alice.access_token;
    let since = next_batch(&s.sync(a, None, "").await);
    let path = format!("{V3}/user/{}/account_data/org.example.wake", enc(&alice.user_id));
    let started = Instant::now();
    let (sync, _) = tokio::join!(s.sync(a, Some(&since), "timeout=10000"), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.put(&path, Some(a), json!({ "awake": true })).await.ok();
    });
    assert!(started.elapsed() < Duration::from_secs(8));
    let events = sync["account_data"]["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["type"] == "org.example.wake" && e["content"]["awake"] == true),
        "{sync}"
    );
}

async fn invalid_since_tokens_are_refused(b: Backend) {
    let (s, alice, _bob, _room) = room_with_two(b).await;
    let a = &alice.access_token;
    for bad in ["garbage", "s1", "s1_x_y", "t5", "", "s999_1_2_3_4_5_6_7_8"] {
        let resp = s.get(&format!("{V3}/sync?since={}", enc(bad)), Some(a)).await;
        if bad.is_empty() {
            // An empty `since` is the same as none, or refused; never a 500.
            assert!(resp.status == 200 || resp.status == 400, "{}: {}", resp.status, resp.text);
            continue;
        }
        resp.err_one_of(&[(400, "M_INVALID_PARAM"), (400, "M_BAD_JSON"), (400, "M_UNKNOWN")]);
    }
    s.get(&format!("{V3}/sync?timeout=abc"), Some(a))
        .await
        .err_one_of(&[(400, "M_INVALID_PARAM"), (400, "M_BAD_JSON")]);
    s.get(&format!("{V3}/sync?filter=%7Bnot-json"), Some(a)).await.err_one_of(&[
        (400, "M_INVALID_PARAM"),
        (400, "M_BAD_JSON"),
        (400, "M_NOT_JSON"),
        (404, "M_NOT_FOUND"),
    ]);
    s.get(&format!("{V3}/sync"), None).await.err(401, "M_MISSING_TOKEN");
    s.get(&format!("{V3}/sync"), Some("nope")).await.err(401, "M_UNKNOWN_TOKEN");
    // A valid token still works after the refusals.
    s.sync(a, None, "").await;
}

async fn state_changes_and_redactions_reach_sync(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let since = next_batch(&s.sync(bt, None, "").await);
    s.put_state(a, &room, "m.room.name", "", json!({ "name": "Renamed" })).await.ok();
    let target = s.send_text(a, &room, "regrettable").await;
    let sync = s.sync(bt, Some(&since), "").await;
    let timeline = room_events(&sync, "join", &room, "timeline");
    let rename = timeline.iter().find(|e| e["type"] == "m.room.name").unwrap_or_else(|| panic!("{sync}"));
    assert_eq!(rename["state_key"], "");
    assert_eq!(rename["content"]["name"], "Renamed");
    assert_eq!(bodies(timeline.iter().copied()), vec!["regrettable"]);
    let since = next_batch(&sync);
    let path = format!("{V3}/rooms/{}/redact/{}/sr1", enc(&room), enc(&target));
    let redaction = s.put(&path, Some(a), json!({ "reason": "oops" })).await;
    let redaction = redaction.ok()["event_id"].as_str().unwrap().to_owned();
    let sync = s.sync(bt, Some(&since), "timeout=10000").await;
    let timeline = room_events(&sync, "join", &room, "timeline");
    assert_eq!(timeline.len(), 1, "{sync}");
    assert_eq!(timeline[0]["type"], "m.room.redaction");
    assert_eq!(timeline[0]["event_id"], redaction.as_str());
    // A fresh initial sync shows the message already redacted.
    let initial = s.sync(bt, None, &timeline_filter(100)).await;
    let timeline = room_events(&initial, "join", &room, "timeline");
    let old =
        timeline.iter().find(|e| e["event_id"] == target.as_str()).unwrap_or_else(|| panic!("{initial}"));
    assert_eq!(old["content"], json!({}), "{old}");
    assert!(old["unsigned"]["redacted_because"].is_object(), "{old}");
}

async fn rejoining_within_one_sync_window(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let since = next_batch(&s.sync(bt, None, "").await);
    s.leave(bt, &room).await;
    s.send_text(a, &room, "while away").await;
    s.join(bt, &room).await;
    s.send_text(a, &room, "welcome back").await;
    let sync = s.sync(bt, Some(&since), &timeline_filter(100)).await;
    // Joined now: the room is in `join`, not in `leave`, and shows the latest message.
    assert!(sync["rooms"]["join"][&room].is_object(), "{sync}");
    assert!(sync["rooms"]["leave"].get(&room).is_none(), "{sync}");
    let seen = bodies(room_events(&sync, "join", &room, "timeline"));
    assert_eq!(seen.last().map(String::as_str), Some("welcome back"), "{sync}");
    assert_eq!(seen.iter().filter(|b| *b == "welcome back").count(), 1);
}

async fn sync_tokens_and_transactions_survive_a_restart(b: Backend) {
    let (mut s, alice, bob, room) = room_with_two(b).await;
    let since = next_batch(&s.sync(&bob.access_token, None, "").await);
    let before = s
        .send_event(
            &alice.access_token,
            &room,
            "m.room.message",
            "pre-restart",
            json!({ "msgtype": "m.text", "body": "before" }),
        )
        .await;
    let before = before.ok()["event_id"].as_str().unwrap().to_owned();
    s.stop();
    s.start().await;
    // A retransmission after the restart is still recognised.
    let again = s
        .send_event(
            &alice.access_token,
            &room,
            "m.room.message",
            "pre-restart",
            json!({ "msgtype": "m.text", "body": "before" }),
        )
        .await;
    assert_eq!(again.ok()["event_id"], before.as_str());
    s.send_text(&alice.access_token, &room, "after").await;
    // The pre-restart token still yields exactly what happened since.
    let sync = s.sync(&bob.access_token, Some(&since), "").await;
    assert_eq!(bodies(room_events(&sync, "join", &room, "timeline")), vec!["before", "after"]);
    let next = next_batch(&sync);
    s.send_text(&alice.access_token, &room, "later").await;
    let sync = s.sync(&bob.access_token, Some(&next), "timeout=10000").await;
    assert_eq!(bodies(room_events(&sync, "join", &room, "timeline")), vec!["later"]);
    assert_eq!(bodies(&s.all_messages(&bob.access_token, &room).await), vec!["before", "after", "later"]);
}

/// Spec (ClientEvent `unsigned.transaction_id`): present when the client being given the
/// event is the one that sent it — how clients match their local echo.
async fn own_events_carry_their_transaction_id(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let since = next_batch(&s.sync(a, None, "").await);
    let content = json!({ "msgtype": "m.text", "body": "echo" });
    s.send_event(a, &room, "m.room.message", "echo-txn-1", content).await.ok();
    let sync = s.sync(a, Some(&since), "").await;
    let timeline = room_events(&sync, "join", &room, "timeline");
    let mine = timeline.iter().find(|e| e["content"]["body"] == "echo").unwrap_or_else(|| panic!("{sync}"));
    assert_eq!(mine["unsigned"]["transaction_id"], "echo-txn-1", "{mine}");
    // Not for other users.
    let theirs = s.sync(&bob.access_token, None, "").await;
    let timeline = room_events(&theirs, "join", &room, "timeline");
    let seen = timeline.iter().find(|e| e["content"]["body"] == "echo").unwrap();
    assert!(seen["unsigned"].get("transaction_id").is_none(), "{seen}");
}

async fn rejected_invites_and_accepted_knocks_in_sync(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let carol = s.register("carol", "pw").await;
    let ct = &carol.access_token;
    s.invite(a, &room, &carol.user_id).await;
    let since = next_batch(&s.sync(ct, None, "").await);
    s.room_action(ct, &room, "leave", json!({ "reason": "no" })).await.ok();
    let sync = s.sync(ct, Some(&since), "").await;
    assert!(sync["rooms"]["invite"].get(&room).is_none(), "{sync}");
    assert!(sync["rooms"]["leave"][&room].is_object(), "rejection not in leave: {sync}");
    let initial = s.sync(ct, None, "").await;
    assert!(initial["rooms"]["invite"].get(&room).is_none(), "rejected invite still offered: {initial}");
    // Knock, then be let in: knock section, then invite section.
    let knock_room = s
        .create_room(
            a,
            json!({ "initial_state": [
                { "type": "m.room.join_rules", "state_key": "", "content": { "join_rule": "knock" } },
            ] }),
        )
        .await;
    let since = next_batch(&s.sync(ct, None, "").await);
    s.post(&format!("{V3}/knock/{}", enc(&knock_room)), Some(ct), json!({})).await.ok();
    let sync = s.sync(ct, Some(&since), "").await;
    assert!(sync["rooms"]["knock"][&knock_room]["knock_state"]["events"].is_array(), "{sync}");
    let since = next_batch(&sync);
    s.invite(a, &knock_room, &carol.user_id).await;
    let sync = s.sync(ct, Some(&since), "timeout=10000").await;
    assert!(sync["rooms"]["invite"][&knock_room].is_object(), "{sync}");
    assert!(sync["rooms"]["knock"].get(&knock_room).is_none(), "{sync}");
}

async fn v12_create_event_has_a_room_id_for_clients(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({ "room_version": "12" })).await;
    let sync = s.sync(a, None, &timeline_filter(100)).await;
    let mut all = room_events(&sync, "join", &room, "timeline");
    all.extend(room_events(&sync, "join", &room, "state"));
    let create = all.iter().find(|e| e["type"] == "m.room.create").unwrap_or_else(|| panic!("{sync}"));
    let id = create["event_id"].as_str().unwrap();
    // The v12 room ID is the create event's ID with `!` for `$`.
    assert_eq!(&room[1..], &id[1..], "room {room} vs create event {id}");
    let got = s.get(&format!("{V3}/rooms/{}/event/{}", enc(&room), enc(id)), Some(a)).await;
    assert_eq!(got.ok()["room_id"], room.as_str());
    let history = s.all_messages(a, &room).await;
    assert_eq!(history[0]["type"], "m.room.create");
    assert_eq!(history[0]["room_id"], room.as_str());
}

/// The largest timeout a Matrix integer allows is accepted (and clamped by the server).
async fn huge_sync_timeout_is_clamped(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({})).await;
    let since = s.sync(a, None, "").await["next_batch"].as_str().unwrap().to_owned();
    let (sync, _) = tokio::join!(s.sync(a, Some(&since), "timeout=9007199254740991"), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        s.send_text(a, &room, "wake").await
    });
    assert_eq!(bodies(room_events(&sync, "join", &room, "timeline")), vec!["wake"]);
}

async fn long_polls_see_only_their_own_rooms(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let carol = s.register("carol", "pw").await;
    let carols_room = s.create_room(&carol.access_token, json!({})).await;
    let carol_since = next_batch(&s.sync(&carol.access_token, None, "").await);
    // Two devices of bob both wake.
    let bob2 = s.login("bob", "pw").await;
    let since1 = next_batch(&s.sync(&bob.access_token, None, "").await);
    let since2 = next_batch(&s.sync(&bob2.access_token, None, "").await);
    let started = Instant::now();
    let (d1, d2, c, _) = tokio::join!(
        s.sync(&bob.access_token, Some(&since1), "timeout=10000"),
        s.sync(&bob2.access_token, Some(&since2), "timeout=10000"),
        s.sync(&carol.access_token, Some(&carol_since), "timeout=2000"),
        async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            s.send_text(a, &room, "for bob").await
        }
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    for sync in [&d1, &d2] {
        assert_eq!(bodies(room_events(sync, "join", &room, "timeline")), vec!["for bob"]);
    }
    // Carol is not in the room: whenever her poll ends, it carries nothing of it.
    assert!(c["rooms"]["join"].get(&room).is_none(), "{c}");
    assert!(c["rooms"]["join"].get(&carols_room).is_none(), "{c}");
}

async fn limited_incremental_sync_covers_the_gap(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    s.send_text(a, &room, "seen").await;
    let since = next_batch(&s.sync(bt, None, "").await);
    s.put_state(a, &room, "m.room.name", "", json!({ "name": "Renamed in the gap" })).await.ok();
    for i in 0..8 {
        s.send_text(a, &room, &format!("g{i}")).await;
    }
    let sync = s.sync(bt, Some(&since), &timeline_filter(3)).await;
    let entry = &sync["rooms"]["join"][&room];
    assert_eq!(entry["timeline"]["limited"], true, "{entry}");
    assert_eq!(bodies(room_events(&sync, "join", &room, "timeline")), vec!["g5", "g6", "g7"]);
    // The state at the start of the timeline includes the rename made in the gap.
    let state = room_events(&sync, "join", &room, "state");
    let name = state.iter().find(|e| e["type"] == "m.room.name").unwrap_or_else(|| panic!("{entry}"));
    assert_eq!(name["content"]["name"], "Renamed in the gap");
    // prev_batch fills the gap backwards, down to what bob had already seen.
    let prev = entry["timeline"]["prev_batch"].as_str().expect("prev_batch");
    let page = s.messages(bt, &room, &format!("dir=b&limit=6&from={}", enc(prev))).await;
    let chunk = page.ok()["chunk"].as_array().unwrap();
    assert_eq!(bodies(chunk), vec!["g4", "g3", "g2", "g1", "g0"]);
    assert_eq!(chunk[5]["type"], "m.room.name");
}

crate::per_backend!(
    initial_sync_shows_joined_rooms,
    incremental_sync_returns_only_new_events,
    full_state_and_stored_filters,
    long_poll_wakes_on_a_message,
    long_poll_wakes_on_an_invite,
    chain_of_incremental_syncs_loses_nothing,
    concurrent_senders_and_long_polling_receivers,
    leave_appears_in_the_leave_section,
    account_data_appears_once,
    long_poll_wakes_on_account_data,
    invalid_since_tokens_are_refused,
    state_changes_and_redactions_reach_sync,
    rejoining_within_one_sync_window,
    sync_tokens_and_transactions_survive_a_restart,
    rejected_invites_and_accepted_knocks_in_sync,
    v12_create_event_has_a_room_id_for_clients,
    huge_sync_timeout_is_clamped,
    long_polls_see_only_their_own_rooms,
    limited_incremental_sync_covers_the_gap,
    own_events_carry_their_transaction_id,
);
