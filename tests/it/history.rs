//! `/messages` pagination over a long history and history visibility: `joined`,
//! `shared`, `invited`, `world_readable`, and what a user who left may still see.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, Session, V3, bodies, enc};

fn visibility_state(visibility: &str) -> Value {
    json!({
        "type": "m.room.history_visibility",
        "state_key": "",
        "content": { "history_visibility": visibility },
    })
}

async fn event(s: &Server, token: &str, room: &str, event_id: &str) -> crate::harness::Resp {
    s.get(&format!("{V3}/rooms/{}/event/{}", enc(room), enc(event_id)), Some(token)).await
}

/// Pages through /messages in `dir` from `from` with `limit`, checking each page's
/// shape; returns the events in page order.
async fn page_all(
    s: &Server,
    token: &str,
    room: &str,
    dir: &str,
    from: Option<String>,
    limit: usize,
) -> Vec<Value> {
    let mut events = Vec::new();
    let mut from = from;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 1000, "pagination does not end");
        let mut query = format!("dir={dir}&limit={limit}");
        if let Some(f) = &from {
            query.push_str(&format!("&from={}", enc(f)));
        }
        let resp = s.messages(token, room, &query).await;
        let body = resp.ok();
        let chunk = body["chunk"].as_array().expect("chunk array");
        assert!(chunk.len() <= limit, "page of {} > limit {limit}", chunk.len());
        assert!(body["start"].is_string(), "no start: {}", resp.text);
        if let Some(f) = &from {
            assert_eq!(body["start"], f.as_str(), "start is not the from token");
        }
        events.extend(chunk.iter().cloned());
        match body["end"].as_str() {
            Some(end) => {
                assert!(!chunk.is_empty(), "empty page with an end token: {}", resp.text);
                from = Some(end.to_owned());
            }
            None => return events,
        }
    }
}

async fn paging_a_thousand_events(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({ "preset": "private_chat" })).await;
    const N: usize = 1000;
    let mut sent = Vec::with_capacity(N);
    for i in 0..N {
        sent.push(s.send_text(a, &room, &format!("m{i}")).await);
    }
    let expected: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    let message_ids = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["type"] == "m.room.message")
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Backwards from the end, 100 at a time: newest first, each exactly once.
    let backwards = page_all(&s, a, &room, "b", None, 100).await;
    let mut back_bodies = bodies(&backwards);
    back_bodies.reverse();
    assert_eq!(back_bodies, expected, "backward pagination lost, repeated or reordered messages");
    let mut back_ids = message_ids(&backwards);
    back_ids.reverse();
    assert_eq!(back_ids, sent);
    // The room's first event is the create event, reached last.
    assert_eq!(backwards.last().unwrap()["type"], "m.room.create");
    // Forwards from the start: oldest first, the same events in the opposite order.
    let forwards = page_all(&s, a, &room, "f", None, 100).await;
    assert_eq!(bodies(&forwards), expected, "forward pagination lost, repeated or reordered messages");
    assert_eq!(message_ids(&forwards), sent);
    assert_eq!(forwards.len(), backwards.len());
    let fwd_all: Vec<&Value> = forwards.iter().map(|e| &e["event_id"]).collect();
    let mut back_all: Vec<&Value> = backwards.iter().map(|e| &e["event_id"]).collect();
    back_all.reverse();
    assert_eq!(fwd_all, back_all);
    // Odd page sizes give the same sequence.
    let odd = page_all(&s, a, &room, "f", None, 37).await;
    assert_eq!(bodies(&odd), expected);
    // Paging forwards from a backward page's `end` continues after that point.
    let first = s.messages(a, &room, "dir=b&limit=10").await;
    let end = first.ok()["end"].as_str().expect("end after 10 of many").to_owned();
    assert_eq!(
        bodies(first.json["chunk"].as_array().unwrap()),
        (990..N).rev().map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    let next = s.messages(a, &room, &format!("dir=b&limit=5&from={}", enc(&end))).await;
    assert_eq!(bodies(next.ok()["chunk"].as_array().unwrap()), vec!["m989", "m988", "m987", "m986", "m985"]);
    // `to` stops a page early, without an error.
    let to_page = s.messages(a, &room, &format!("dir=b&limit=100&to={}", enc(&end))).await;
    let stopped = bodies(to_page.ok()["chunk"].as_array().unwrap());
    // Whether the event at the `to` token itself is included is up to the server.
    let newest: Vec<String> = (990..N).rev().map(|i| format!("m{i}")).collect();
    assert!(stopped == newest || stopped == newest[..9], "`to` did not stop the page at m990: {stopped:?}");
}

async fn bad_pagination_requests(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({})).await;
    s.send_text(a, &room, "one").await;
    s.messages(a, &room, "dir=b&from=garbage")
        .await
        .err_one_of(&[(400, "M_INVALID_PARAM"), (400, "M_BAD_JSON")]);
    s.messages(a, &room, "dir=sideways").await.err_one_of(&[(400, "M_INVALID_PARAM"), (400, "M_BAD_JSON")]);
    s.messages(a, &room, "dir=b&limit=-1").await.err_one_of(&[(400, "M_INVALID_PARAM"), (400, "M_BAD_JSON")]);
    s.messages(a, "!nowhere:localhost", "dir=b")
        .await
        .err_one_of(&[(404, "M_NOT_FOUND"), (403, "M_FORBIDDEN")]);
    s.get(&format!("{V3}/rooms/{}/messages?dir=b", enc(&room)), None).await.err(401, "M_MISSING_TOKEN");
    // A page past the end is empty, with no `end`.
    let page = s.messages(a, &room, "dir=f&from=t999999").await;
    assert_eq!(page.ok()["chunk"], json!([]));
    assert!(page.json.get("end").is_none(), "{}", page.text);
    let page = s.messages(a, &room, "dir=b&from=t0").await;
    assert_eq!(page.ok()["chunk"], json!([]));
    assert!(page.json.get("end").is_none(), "{}", page.text);
}

struct Visibility {
    s: Server,
    alice: Session,
    bob: Session,
    room: String,
    before: String,
}

/// A public room with the given history visibility and one message from alice.
async fn public_room_with(b: Backend, visibility: &str) -> Visibility {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s
        .create_room(
            &alice.access_token,
            json!({ "preset": "public_chat", "initial_state": [visibility_state(visibility)] }),
        )
        .await;
    let before = s.send_text(&alice.access_token, &room, "before bob").await;
    Visibility { s, alice, bob, room, before }
}

async fn joined_visibility_hides_earlier_history(b: Backend) {
    let Visibility { s, alice, bob, room, before } = public_room_with(b, "joined").await;
    let bt = &bob.access_token;
    // Not joined yet: nothing readable.
    s.messages(bt, &room, "dir=b").await.err(403, "M_FORBIDDEN");
    event(&s, bt, &room, &before).await.err(404, "M_NOT_FOUND");
    s.join(bt, &room).await;
    let after = s.send_text(&alice.access_token, &room, "after bob").await;
    let seen = s.all_messages(bt, &room).await;
    assert_eq!(bodies(&seen), vec!["after bob"]);
    // His own join is there, before the message.
    assert!(seen.iter().any(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str()));
    event(&s, bt, &room, &before).await.err(404, "M_NOT_FOUND");
    assert_eq!(event(&s, bt, &room, &after).await.ok()["content"]["body"], "after bob");
    // Forward paging agrees.
    let forward = s.messages(bt, &room, "dir=f&limit=100").await;
    assert_eq!(bodies(forward.ok()["chunk"].as_array().unwrap()), vec!["after bob"]);
    // Alice, there all along, sees both.
    assert_eq!(bodies(&s.all_messages(&alice.access_token, &room).await), vec!["before bob", "after bob"]);
}

async fn shared_visibility_shows_earlier_history(b: Backend) {
    let Visibility { s, alice, bob, room, before } = public_room_with(b, "shared").await;
    let bt = &bob.access_token;
    s.messages(bt, &room, "dir=b").await.err(403, "M_FORBIDDEN");
    event(&s, bt, &room, &before).await.err(404, "M_NOT_FOUND");
    s.join(bt, &room).await;
    s.send_text(&alice.access_token, &room, "after bob").await;
    assert_eq!(bodies(&s.all_messages(bt, &room).await), vec!["before bob", "after bob"]);
    assert_eq!(event(&s, bt, &room, &before).await.ok()["content"]["body"], "before bob");
}

async fn invited_visibility_starts_at_the_invite(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let room = s
        .create_room(a, json!({ "preset": "private_chat", "initial_state": [visibility_state("invited")] }))
        .await;
    let before = s.send_text(a, &room, "before invite").await;
    s.invite(a, &room, &bob.user_id).await;
    let during = s.send_text(a, &room, "while invited").await;
    s.join(bt, &room).await;
    s.send_text(a, &room, "after join").await;
    assert_eq!(bodies(&s.all_messages(bt, &room).await), vec!["while invited", "after join"]);
    event(&s, bt, &room, &before).await.err(404, "M_NOT_FOUND");
    assert_eq!(event(&s, bt, &room, &during).await.ok()["content"]["body"], "while invited");
}

async fn world_readable_lets_anyone_read(b: Backend) {
    let Visibility { s, alice, bob, room, before } = public_room_with(b, "world_readable").await;
    let bt = &bob.access_token;
    s.send_text(&alice.access_token, &room, "second").await;
    // Bob never joins, yet reads history, single events and state.
    assert_eq!(bodies(&s.all_messages(bt, &room).await), vec!["before bob", "second"]);
    assert_eq!(event(&s, bt, &room, &before).await.ok()["content"]["body"], "before bob");
    assert_eq!(
        s.get_state(bt, &room, "m.room.history_visibility", "").await.ok()["history_visibility"],
        "world_readable"
    );
    // Reading grants nothing else: no sending, no membership.
    s.send_event(bt, &room, "m.room.message", "nope", json!({ "msgtype": "m.text", "body": "x" }))
        .await
        .err(403, "M_FORBIDDEN");
    let joined = s.get(&format!("{V3}/joined_rooms"), Some(bt)).await;
    assert_eq!(joined.ok()["joined_rooms"], json!([]));
    // Once the room stops being world-readable, a non-member is shut out again.
    s.put_state(
        &alice.access_token,
        &room,
        "m.room.history_visibility",
        "",
        json!({ "history_visibility": "shared" }),
    )
    .await
    .ok();
    s.messages(bt, &room, "dir=b").await.err(403, "M_FORBIDDEN");
}

async fn left_user_sees_nothing_after_leaving(b: Backend) {
    let Visibility { s, alice, bob, room, .. } = public_room_with(b, "shared").await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    s.join(bt, &room).await;
    let while_member = s.send_text(a, &room, "while bob is here").await;
    s.leave(bt, &room).await;
    let after = s.send_text(a, &room, "after bob left").await;
    s.put_state(a, &room, "m.room.topic", "", json!({ "topic": "new topic" })).await.ok();
    let seen = s.all_messages(bt, &room).await;
    let seen_bodies = bodies(&seen);
    assert!(seen_bodies.contains(&"while bob is here".to_owned()), "{seen_bodies:?}");
    assert!(!seen_bodies.contains(&"after bob left".to_owned()), "{seen_bodies:?}");
    // His own leave is the last thing he sees.
    let last = seen.last().unwrap();
    assert_eq!(last["type"], "m.room.member");
    assert_eq!(last["state_key"], bob.user_id.as_str());
    assert_eq!(last["content"]["membership"], "leave");
    assert_eq!(event(&s, bt, &room, &while_member).await.ok()["content"]["body"], "while bob is here");
    event(&s, bt, &room, &after).await.err(404, "M_NOT_FOUND");
    // State as of leaving: no topic.
    s.get_state(bt, &room, "m.room.topic", "").await.err(404, "M_NOT_FOUND");
    // Back in: the gap becomes visible again (shared).
    s.join(bt, &room).await;
    assert_eq!(
        bodies(&s.all_messages(bt, &room).await),
        vec!["before bob", "while bob is here", "after bob left"]
    );
}

/// Spec (history visibility, `shared`): an event is visible if the user "joined the
/// room at any point after the event was sent" — also once they have left again.
async fn left_user_keeps_shared_history_from_before_joining(b: Backend) {
    let Visibility { s, alice, bob, room, before } = public_room_with(b, "shared").await;
    let bt = &bob.access_token;
    s.join(bt, &room).await;
    s.send_text(&alice.access_token, &room, "while bob is here").await;
    s.leave(bt, &room).await;
    assert_eq!(bodies(&s.all_messages(bt, &room).await), vec!["before bob", "while bob is here"]);
    assert_eq!(event(&s, bt, &room, &before).await.ok()["content"]["body"], "before bob");
}

async fn kicked_and_banned_users_lose_sight(b: Backend) {
    let Visibility { s, alice, bob, room, .. } = public_room_with(b, "joined").await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    s.join(bt, &room).await;
    s.send_text(a, &room, "one").await;
    s.room_action(a, &room, "ban", json!({ "user_id": bob.user_id })).await.ok();
    let hidden = s.send_text(a, &room, "two").await;
    assert_eq!(bodies(&s.all_messages(bt, &room).await), vec!["one"]);
    event(&s, bt, &room, &hidden).await.err(404, "M_NOT_FOUND");
}

async fn visibility_is_judged_per_event(b: Backend) {
    let Visibility { s, alice, bob, room, .. } = public_room_with(b, "shared").await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    s.put_state(a, &room, "m.room.history_visibility", "", json!({ "history_visibility": "joined" }))
        .await
        .ok();
    s.send_text(a, &room, "under joined").await;
    s.put_state(a, &room, "m.room.history_visibility", "", json!({ "history_visibility": "shared" }))
        .await
        .ok();
    s.send_text(a, &room, "shared again").await;
    s.join(bt, &room).await;
    s.send_text(a, &room, "after join").await;
    // "before bob" (shared) and "shared again" are visible; "under joined" is not.
    assert_eq!(bodies(&s.all_messages(bt, &room).await), vec!["before bob", "shared again", "after join"]);
    // Sync's timeline applies the same rules.
    let sync = s.sync(bt, None, &crate::harness::timeline_filter(100)).await;
    let timeline = crate::harness::room_events(&sync, "join", &room, "timeline");
    assert_eq!(bodies(timeline.iter().copied()), vec!["before bob", "shared again", "after join"]);
}

async fn sync_tokens_work_as_pagination_tokens(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({})).await;
    for i in 0..5 {
        s.send_text(a, &room, &format!("p{i}")).await;
    }
    let sync = s.sync(a, None, "").await;
    let next = sync["next_batch"].as_str().unwrap().to_owned();
    s.send_text(a, &room, "after the token").await;
    // Backwards from a next_batch: the events up to that point, newest first.
    let page = s.messages(a, &room, &format!("dir=b&limit=3&from={}", enc(&next))).await;
    assert_eq!(bodies(page.ok()["chunk"].as_array().unwrap()), vec!["p4", "p3", "p2"]);
}

/// Spec: `from` may be a /sync next_batch; forwards from it come the events after it.
async fn forward_pagination_from_a_sync_token(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({})).await;
    s.send_text(a, &room, "before the token").await;
    let next = s.sync(a, None, "").await["next_batch"].as_str().unwrap().to_owned();
    s.send_text(a, &room, "first after").await;
    s.send_text(a, &room, "second after").await;
    let page = s.messages(a, &room, &format!("dir=f&limit=10&from={}", enc(&next))).await;
    assert_eq!(bodies(page.ok()["chunk"].as_array().unwrap()), vec!["first after", "second after"]);
}

/// Spec: /messages `filter` is a RoomEventFilter applied to the returned events.
async fn messages_filter_applies(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({})).await;
    s.send_text(a, &room, "keep").await;
    s.send_event(a, &room, "org.example.noise", "n1", json!({})).await.ok();
    let filter = enc(&json!({ "types": ["m.room.message"] }).to_string());
    let page = s.messages(a, &room, &format!("dir=b&limit=50&filter={filter}")).await;
    let chunk = page.ok()["chunk"].as_array().unwrap();
    assert!(chunk.iter().all(|e| e["type"] == "m.room.message"), "filter ignored: {}", page.text);
    assert_eq!(bodies(chunk), vec!["keep"]);
}

crate::per_backend!(
    paging_a_thousand_events,
    bad_pagination_requests,
    joined_visibility_hides_earlier_history,
    shared_visibility_shows_earlier_history,
    invited_visibility_starts_at_the_invite,
    world_readable_lets_anyone_read,
    left_user_sees_nothing_after_leaving,
    kicked_and_banned_users_lose_sight,
    visibility_is_judged_per_event,
    sync_tokens_work_as_pagination_tokens,
    left_user_keeps_shared_history_from_before_joining,
    messages_filter_applies,
    forward_pagination_from_a_sync_token,
);
