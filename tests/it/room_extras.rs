//! `/context`, `/upgrade`, `/timestamp_to_event`, room tags, read markers and restricted joins.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, enc, room_events};

const V1: &str = "/_matrix/client/v1";

fn event_ids(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {events}"))
        .iter()
        .map(|e| e["event_id"].as_str().expect("event_id").to_owned())
        .collect()
}

async fn joined_rooms(s: &Server, token: &str) -> Vec<String> {
    let resp = s.get(&format!("{V3}/joined_rooms"), Some(token)).await;
    resp.ok()["joined_rooms"]
        .as_array()
        .expect("joined_rooms")
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

async fn context_around_an_event(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({})).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(s.send_text(a, &room, &format!("m{i}")).await);
    }
    let path = format!("{V3}/rooms/{}/context/{}?limit=4", enc(&room), enc(&sent[2]));
    let resp = s.get(&path, Some(a)).await;
    let body = resp.ok();
    assert_eq!(body["event"]["event_id"], sent[2].as_str(), "{}", resp.text);
    assert_eq!(body["event"]["content"]["body"], "m2", "{}", resp.text);
    // events_before newest first.
    assert_eq!(event_ids(&body["events_before"]), vec![sent[1].clone(), sent[0].clone()], "{}", resp.text);
    assert_eq!(event_ids(&body["events_after"]), vec![sent[3].clone(), sent[4].clone()], "{}", resp.text);
    assert!(body["start"].is_string() && body["end"].is_string(), "{}", resp.text);
    let state = body["state"].as_array().expect("state");
    assert!(state.iter().any(|e| e["type"] == "m.room.create"), "{}", resp.text);

    // Paginating forward from `end` continues after the context.
    let after = s.messages(a, &room, &format!("dir=f&from={}", enc(body["end"].as_str().unwrap()))).await;
    let more: Vec<String> = event_ids(&after.ok()["chunk"]);
    assert!(!more.contains(&sent[4]), "forward from end repeats the context: {}", after.text);

    // Unknown event; a non-member.
    let unknown = format!("{V3}/rooms/{}/context/{}", enc(&room), enc("$nope"));
    s.get(&unknown, Some(a)).await.err(404, "M_NOT_FOUND");
    let eve = s.register("eve", "pw").await;
    let path = format!("{V3}/rooms/{}/context/{}", enc(&room), enc(&sent[2]));
    s.get(&path, Some(&eve.access_token)).await.err_one_of(&[(403, "M_FORBIDDEN"), (404, "M_NOT_FOUND")]);
}

async fn upgrade_room(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let old = s.create_room(a, json!({ "preset": "public_chat", "name": "Old", "room_version": "11" })).await;
    s.join(bt, &old).await;
    let up = format!("{V3}/rooms/{}/upgrade", enc(&old));

    // Refusals change nothing.
    s.post(&up, Some(bt), json!({ "new_version": "12" })).await.err(403, "M_FORBIDDEN");
    s.post(&up, Some(a), json!({ "new_version": "999" })).await.err(400, "M_UNSUPPORTED_ROOM_VERSION");
    s.get_state(a, &old, "m.room.tombstone", "").await.err(404, "M_NOT_FOUND");
    assert_eq!(joined_rooms(&s, a).await, vec![old.clone()]);

    let resp = s.post(&up, Some(a), json!({ "new_version": "12" })).await;
    let new = resp.ok()["replacement_room"].as_str().unwrap_or_else(|| panic!("{}", resp.text)).to_owned();
    assert_ne!(new, old);
    let tombstone = s.get_state(a, &old, "m.room.tombstone", "").await;
    assert_eq!(tombstone.ok()["replacement_room"], new.as_str(), "{}", tombstone.text);
    let create = s.get_state(a, &new, "m.room.create", "").await;
    assert_eq!(create.ok()["predecessor"]["room_id"], old.as_str(), "{}", create.text);
    assert_eq!(create.json["room_version"], "12", "{}", create.text);
    // Carried state.
    assert_eq!(s.get_state(a, &new, "m.room.name", "").await.ok()["name"], "Old");
    assert_eq!(s.get_state(a, &new, "m.room.join_rules", "").await.ok()["join_rule"], "public");
    let mut rooms = joined_rooms(&s, a).await;
    rooms.sort();
    let mut want = vec![old.clone(), new.clone()];
    want.sort();
    assert_eq!(rooms, want);
    // Bob can follow.
    s.join(bt, &new).await;
}

async fn timestamp_to_event(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({})).await;
    let mut sent = Vec::new();
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        sent.push(s.send_text(a, &room, &format!("t{i}")).await);
    }
    let all = s.all_messages(a, &room).await;
    let ts = |id: &str| {
        all.iter()
            .find(|e| e["event_id"] == id)
            .and_then(|e| e["origin_server_ts"].as_u64())
            .unwrap_or_else(|| panic!("{id} not in /messages"))
    };
    let (t0, t1, t2) = (ts(&sent[0]), ts(&sent[1]), ts(&sent[2]));
    assert!(t0 < t1 && t1 < t2, "timestamps {t0} {t1} {t2}");
    let find = |t: u64, dir: &str| {
        let path = format!("{V1}/rooms/{}/timestamp_to_event?ts={t}&dir={dir}", enc(&room));
        let s = &s;
        async move { s.get(&path, Some(a)).await }
    };
    for (t, dir, want, want_ts) in [
        (t1, "f", &sent[1], t1),
        (t1, "b", &sent[1], t1),
        (t0 + 1, "f", &sent[1], t1),
        (t2 - 1, "b", &sent[1], t1),
        (t2, "f", &sent[2], t2),
        (t2 + 1_000_000, "b", &sent[2], t2),
    ] {
        let resp = find(t, dir).await;
        assert_eq!(resp.ok()["event_id"], want.as_str(), "ts={t} dir={dir}: {}", resp.text);
        assert_eq!(resp.json["origin_server_ts"], want_ts, "ts={t} dir={dir}: {}", resp.text);
    }
    find(t2 + 1_000_000, "f").await.err(404, "M_NOT_FOUND");
    // A non-member.
    let eve = s.register("eve", "pw").await;
    let path = format!("{V1}/rooms/{}/timestamp_to_event?ts={t1}&dir=f", enc(&room));
    s.get(&path, Some(&eve.access_token)).await.err_one_of(&[(403, "M_FORBIDDEN"), (404, "M_NOT_FOUND")]);
}

async fn room_tags(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({})).await;
    let tags = format!("{V3}/user/{}/rooms/{}/tags", enc(&alice.user_id), enc(&room));
    let tag = |name: &str| format!("{tags}/{}", enc(name));
    assert_eq!(s.get(&tags, Some(a)).await.ok()["tags"], json!({}));
    s.put(&tag("u.work"), Some(a), json!({ "order": 0.25 })).await.ok();
    s.put(&tag("m.favourite"), Some(a), json!({})).await.ok();
    let got = s.get(&tags, Some(a)).await;
    assert_eq!(got.ok()["tags"], json!({ "u.work": { "order": 0.25 }, "m.favourite": {} }), "{}", got.text);

    // Another user's tags: neither readable nor writable; nothing changes.
    let bt = Some(bob.access_token.as_str());
    s.get(&tags, bt).await.err(403, "M_FORBIDDEN");
    s.put(&tag("u.evil"), bt, json!({})).await.err(403, "M_FORBIDDEN");
    s.delete(&tag("u.work"), bt, None).await.err(403, "M_FORBIDDEN");
    let got = s.get(&tags, Some(a)).await;
    assert_eq!(got.ok()["tags"], json!({ "u.work": { "order": 0.25 }, "m.favourite": {} }), "{}", got.text);

    s.delete(&tag("u.work"), Some(a), None).await.ok();
    assert_eq!(s.get(&tags, Some(a)).await.ok()["tags"], json!({ "m.favourite": {} }));
    // Tags show up as m.tag room account data in /sync.
    let sync = s.sync(a, None, "").await;
    let data = room_events(&sync, "join", &room, "account_data");
    let tag_event = data.iter().find(|e| e["type"] == "m.tag").unwrap_or_else(|| panic!("no m.tag: {sync}"));
    assert_eq!(tag_event["content"]["tags"], json!({ "m.favourite": {} }), "{tag_event}");
}

async fn read_markers_fully_read(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let eve = s.register("eve", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({})).await;
    let first = s.send_text(a, &room, "one").await;
    let path = format!("{V3}/rooms/{}/read_markers", enc(&room));
    // A non-member: refused, and nothing stored for them.
    s.post(&path, Some(&eve.access_token), json!({ "m.fully_read": first })).await.err(403, "M_FORBIDDEN");

    s.post(&path, Some(a), json!({ "m.fully_read": first })).await.ok();
    let sync = s.sync(a, None, "").await;
    let data = room_events(&sync, "join", &room, "account_data");
    let marker = data
        .iter()
        .find(|e| e["type"] == "m.fully_read")
        .unwrap_or_else(|| panic!("no m.fully_read: {sync}"));
    assert_eq!(marker["content"]["event_id"], first.as_str(), "{marker}");
    let got = s
        .get(
            &format!("{V3}/user/{}/rooms/{}/account_data/m.fully_read", enc(&alice.user_id), enc(&room)),
            Some(a),
        )
        .await;
    assert_eq!(got.ok()["event_id"], first.as_str(), "{}", got.text);

    // Moving it: an incremental sync carries the new marker.
    let since = sync["next_batch"].as_str().unwrap().to_owned();
    let second = s.send_text(a, &room, "two").await;
    s.post(&path, Some(a), json!({ "m.fully_read": second, "m.read": second })).await.ok();
    let sync = s.sync(a, Some(&since), "").await;
    let data = room_events(&sync, "join", &room, "account_data");
    let marker = data
        .iter()
        .find(|e| e["type"] == "m.fully_read")
        .unwrap_or_else(|| panic!("no m.fully_read: {sync}"));
    assert_eq!(marker["content"]["event_id"], second.as_str(), "{marker}");
}

async fn restricted_join(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let space = s.create_room(a, json!({ "preset": "private_chat" })).await;
    let room = s
        .create_room(
            a,
            json!({
                "preset": "private_chat",
                "initial_state": [{
                    "type": "m.room.join_rules", "state_key": "",
                    "content": { "join_rule": "restricted", "allow": [{ "type": "m.room_membership", "room_id": space }] },
                }],
            }),
        )
        .await;
    assert_eq!(s.get_state(a, &room, "m.room.join_rules", "").await.ok()["join_rule"], "restricted");

    // Not in the allowed room: refused.
    s.room_action(bt, &room, "join", json!({})).await.err(403, "M_FORBIDDEN");
    assert!(joined_rooms(&s, bt).await.is_empty());
    s.get_state(a, &room, "m.room.member", &bob.user_id).await.err(404, "M_NOT_FOUND");

    // In the allowed room: the join works, vouched for by Alice.
    s.invite(a, &space, &bob.user_id).await;
    s.join(bt, &space).await;
    s.join(bt, &room).await;
    let member = s.get_state(a, &room, "m.room.member", &bob.user_id).await;
    assert_eq!(member.ok()["membership"], "join", "{}", member.text);
    assert_eq!(member.json["join_authorised_via_users_server"], alice.user_id.as_str(), "{}", member.text);
}

crate::per_backend!(
    context_around_an_event,
    upgrade_room,
    timestamp_to_event,
    room_tags,
    read_markers_fully_read,
    restricted_join,
);
