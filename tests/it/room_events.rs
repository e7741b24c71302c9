//! Events in a room: sending messages (idempotent per device and transaction), state
//! put and get, power checks, malformed content, redaction and single-event reads.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, Session, V3, bodies, enc};

fn text(body: &str) -> Value {
    json!({ "msgtype": "m.text", "body": body })
}

/// Alice's public room with bob joined.
async fn room_with_two(b: Backend) -> (Server, Session, Session, String) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.access_token, json!({ "preset": "public_chat" })).await;
    s.join(&bob.access_token, &room).await;
    (s, alice, bob, room)
}

async fn event(s: &Server, token: &str, room: &str, event_id: &str) -> crate::harness::Resp {
    s.get(&format!("{V3}/rooms/{}/event/{}", enc(room), enc(event_id)), Some(token)).await
}

async fn send_message_is_idempotent_per_device(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let first = s.send_event(a, &room, "m.room.message", "txn1", text("hello")).await;
    let id = first.ok()["event_id"].as_str().expect("event_id").to_owned();
    assert!(id.starts_with('$'), "{id}");
    // The same transaction again: the same event, nothing new (even with other content).
    for content in [text("hello"), text("something else")] {
        let again = s.send_event(a, &room, "m.room.message", "txn1", content).await;
        assert_eq!(again.ok()["event_id"], id.as_str());
    }
    // The same transaction ID from another device of the same user is a new event.
    let other_device = s.login("alice", "pw").await;
    let other =
        s.send_event(&other_device.access_token, &room, "m.room.message", "txn1", text("hello")).await;
    let other_id = other.ok()["event_id"].as_str().unwrap().to_owned();
    assert_ne!(other_id, id);
    // And from another user.
    let bobs = s.send_event(&bob.access_token, &room, "m.room.message", "txn1", text("hello")).await;
    let bobs_id = bobs.ok()["event_id"].as_str().unwrap().to_owned();
    assert!(bobs_id != id && bobs_id != other_id);
    let history = s.all_messages(a, &room).await;
    assert_eq!(bodies(&history), vec!["hello", "hello", "hello"]);
    let ids: Vec<&str> = history
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(ids, vec![id.as_str(), other_id.as_str(), bobs_id.as_str()]);
    // The event as stored.
    let got = event(&s, &bob.access_token, &room, &id).await;
    let got = got.ok();
    assert_eq!(got["content"], text("hello"));
    assert_eq!(got["sender"], alice.user_id.as_str());
    assert_eq!(got["type"], "m.room.message");
    assert_eq!(got["room_id"], room.as_str());
    assert!(got["origin_server_ts"].is_u64() && got.get("state_key").is_none(), "{got}");
}

async fn custom_event_types_and_unicode(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let content = json!({ "nested": { "list": [1, -2, null, true], "s": "héllo ✓ \u{1F600}" } });
    let resp = s.send_event(a, &room, "org.example.custom", "t-custom", content.clone()).await;
    let id = resp.ok()["event_id"].as_str().unwrap().to_owned();
    let got = event(&s, a, &room, &id).await;
    assert_eq!(got.ok()["content"], content);
    assert_eq!(got.json["type"], "org.example.custom");
    // Canonical JSON (room versions 6+) has no floats and no integers beyond 2^53.
    let before = s.all_messages(a, &room).await.len();
    for bad in [json!({ "f": 2.5 }), json!({ "big": 9_007_199_254_740_992_u64 })] {
        s.send_event(a, &room, "org.example.custom", "t-bad", bad.clone()).await.err(400, "M_BAD_JSON");
        s.put_state(a, &room, "org.example.custom", "", bad).await.err(400, "M_BAD_JSON");
    }
    assert_eq!(s.all_messages(a, &room).await.len(), before);
}

async fn non_member_cannot_send(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let carol = s.register("carol", "pw").await;
    let ct = &carol.access_token;
    let before = s.all_messages(&alice.access_token, &room).await.len();
    s.send_event(ct, &room, "m.room.message", "c1", text("intruder")).await.err(403, "M_FORBIDDEN");
    s.put_state(ct, &room, "org.example.state", "", json!({ "x": 1 })).await.err(403, "M_FORBIDDEN");
    // Unknown room.
    s.send_event(ct, "!nowhere:localhost", "m.room.message", "c2", text("x")).await.err(404, "M_NOT_FOUND");
    s.put_state(ct, "!nowhere:localhost", "org.example.state", "", json!({})).await.err(404, "M_NOT_FOUND");
    // No token.
    let path = format!("{V3}/rooms/{}/send/m.room.message/c3", enc(&room));
    s.put(&path, None, text("anon")).await.err(401, "M_MISSING_TOKEN");
    let after = s.all_messages(&alice.access_token, &room).await;
    assert_eq!(after.len(), before, "a refused event was persisted");
    assert!(bodies(&after).is_empty());
    s.get_state(&alice.access_token, &room, "org.example.state", "").await.err(404, "M_NOT_FOUND");
    // A refused transaction ID is not burnt: after joining, carol may use it.
    s.join(ct, &room).await;
    s.send_event(ct, &room, "m.room.message", "c1", text("now a member")).await.ok();
    assert_eq!(bodies(&s.all_messages(&alice.access_token, &room).await), vec!["now a member"]);
}

async fn state_put_and_get(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let r = enc(&room);
    // Keyed state.
    let put = s.put_state(a, &room, "org.example.keyed", "key/with:odd chars", json!({ "v": 1 })).await;
    assert!(put.ok()["event_id"].as_str().is_some_and(|id| id.starts_with('$')));
    assert_eq!(
        s.get_state(bt, &room, "org.example.keyed", "key/with:odd chars").await.ok(),
        &json!({ "v": 1 })
    );
    s.get_state(bt, &room, "org.example.keyed", "other").await.err(404, "M_NOT_FOUND");
    // Empty state key: written without the trailing slash, read with it, and back.
    let no_slash = format!("{V3}/rooms/{r}/state/org.example.empty");
    let slash = format!("{V3}/rooms/{r}/state/org.example.empty/");
    s.put(&no_slash, Some(a), json!({ "v": "no slash" })).await.ok();
    assert_eq!(s.get(&slash, Some(bt)).await.ok(), &json!({ "v": "no slash" }));
    assert_eq!(s.get(&no_slash, Some(bt)).await.ok(), &json!({ "v": "no slash" }));
    s.put(&slash, Some(a), json!({ "v": "slash" })).await.ok();
    assert_eq!(s.get(&no_slash, Some(bt)).await.ok(), &json!({ "v": "slash" }));
    // Overwriting replaces; the full state lists each (type, key) once.
    s.put_state(a, &room, "org.example.keyed", "key/with:odd chars", json!({ "v": 2 })).await.ok();
    assert_eq!(
        s.get_state(bt, &room, "org.example.keyed", "key/with:odd chars").await.ok(),
        &json!({ "v": 2 })
    );
    let all = s.get(&format!("{V3}/rooms/{r}/state"), Some(bt)).await;
    let all = all.ok().as_array().unwrap().clone();
    let keyed: Vec<&Value> = all.iter().filter(|e| e["type"] == "org.example.keyed").collect();
    assert_eq!(keyed.len(), 1);
    assert_eq!(keyed[0]["content"], json!({ "v": 2 }));
    assert_eq!(keyed[0]["state_key"], "key/with:odd chars");
    let empty: Vec<&Value> = all.iter().filter(|e| e["type"] == "org.example.empty").collect();
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0]["state_key"], "");
    // A state event shows in the timeline with its state key.
    let history = s.all_messages(bt, &room).await;
    let states: Vec<&Value> = history.iter().filter(|e| e["type"] == "org.example.keyed").collect();
    assert_eq!(states.len(), 2);
    assert_eq!(states[1]["state_key"], "key/with:odd chars");
    // Unknown room and non-member reads.
    s.get_state(bt, "!nowhere:localhost", "m.room.name", "").await.err(404, "M_NOT_FOUND");
    let carol = s.register("carol", "pw").await;
    s.get_state(&carol.access_token, &room, "org.example.empty", "").await.err(403, "M_FORBIDDEN");
    s.get(&format!("{V3}/rooms/{r}/state"), Some(&carol.access_token)).await.err(403, "M_FORBIDDEN");
}

async fn state_needs_power(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let power_before = s.get_state(a, &room, "m.room.power_levels", "").await.ok().clone();
    let mut raised = power_before.clone();
    raised["users"][&bob.user_id] = json!(100);
    s.put_state(bt, &room, "m.room.power_levels", "", raised).await.err(403, "M_FORBIDDEN");
    s.put_state(bt, &room, "m.room.name", "", json!({ "name": "bob's room" })).await.err(403, "M_FORBIDDEN");
    s.put_state(bt, &room, "org.example.state", "", json!({ "x": 1 })).await.err(403, "M_FORBIDDEN");
    s.put_state(bt, &room, "m.room.join_rules", "", json!({ "join_rule": "invite" }))
        .await
        .err(403, "M_FORBIDDEN");
    // Bob may not write another user's member event either.
    s.put_state(bt, &room, "m.room.member", &alice.user_id, json!({ "membership": "leave" }))
        .await
        .err(403, "M_FORBIDDEN");
    assert_eq!(s.get_state(a, &room, "m.room.power_levels", "").await.ok(), &power_before);
    s.get_state(a, &room, "m.room.name", "").await.err(404, "M_NOT_FOUND");
    s.get_state(a, &room, "org.example.state", "").await.err(404, "M_NOT_FOUND");
    assert_eq!(s.get_state(a, &room, "m.room.join_rules", "").await.ok()["join_rule"], "public");
    // Messages are fine (events_default 0); once alice raises bob, state works too.
    s.send_text(bt, &room, "still talking").await;
    let mut raised = power_before.clone();
    raised["users"][&bob.user_id] = json!(50);
    s.put_state(a, &room, "m.room.power_levels", "", raised).await.ok();
    s.put_state(bt, &room, "m.room.name", "", json!({ "name": "bob's room" })).await.ok();
    assert_eq!(s.get_state(a, &room, "m.room.name", "").await.ok()["name"], "bob's room");
    // 50 is still below power_levels' 100.
    let mut again = s.get_state(a, &room, "m.room.power_levels", "").await.ok().clone();
    again["users"][&bob.user_id] = json!(100);
    s.put_state(bt, &room, "m.room.power_levels", "", again).await.err(403, "M_FORBIDDEN");
    assert_eq!(s.get_state(a, &room, "m.room.power_levels", "").await.ok()["users"][&bob.user_id], 50);
    // m.room.create can never be sent again.
    s.put_state(a, &room, "m.room.create", "", json!({ "room_version": "11" })).await.err(403, "M_FORBIDDEN");
}

async fn oversized_types_and_keys(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let before = s.all_messages(a, &room).await.len();
    let long = "x".repeat(256);
    let bad = [(400, "M_TOO_LARGE"), (413, "M_TOO_LARGE"), (400, "M_BAD_JSON"), (400, "M_INVALID_PARAM")];
    s.send_event(a, &room, &long, "big-type", json!({})).await.err_one_of(&bad);
    s.put_state(a, &room, &long, "", json!({})).await.err_one_of(&bad);
    s.put_state(a, &room, "org.example.state", &long, json!({})).await.err_one_of(&bad);
    // Multi-byte: 128 two-byte characters are 256 bytes.
    s.send_event(a, &room, &"é".repeat(128), "big-type-2", json!({})).await.err_one_of(&bad);
    assert_eq!(s.all_messages(a, &room).await.len(), before, "an oversized event was persisted");
    // 255 bytes exactly is fine.
    let max = "y".repeat(255);
    s.send_event(a, &room, &max, "max-type", json!({})).await.ok();
    s.put_state(a, &room, "org.example.state", &max, json!({ "ok": 1 })).await.ok();
    assert_eq!(s.get_state(a, &room, "org.example.state", &max).await.ok(), &json!({ "ok": 1 }));
}

async fn content_must_be_an_object(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let before = s.all_messages(a, &room).await.len();
    for content in [json!([1, 2]), json!("text"), json!(42), json!(null)] {
        s.send_event(a, &room, "m.room.message", "bad-content", content.clone()).await.err(400, "M_BAD_JSON");
        s.put_state(a, &room, "org.example.state", "", content).await.err(400, "M_BAD_JSON");
    }
    // Not JSON at all.
    let path = format!("{V3}/rooms/{}/send/m.room.message/not-json", enc(&room));
    s.raw(reqwest::Method::PUT, &path, Some(a), Some(b"{oops".to_vec())).await.err(400, "M_NOT_JSON");
    assert_eq!(s.all_messages(a, &room).await.len(), before);
    s.get_state(a, &room, "org.example.state", "").await.err(404, "M_NOT_FOUND");
    // The refused transaction ID is still free.
    s.send_event(a, &room, "m.room.message", "bad-content", text("fine")).await.ok();
    assert_eq!(bodies(&s.all_messages(a, &room).await), vec!["fine"]);
}

async fn redact_own_event(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let bt = &bob.access_token;
    let target = s.send_text(bt, &room, "oops, secret").await;
    let resp = s
        .put(
            &format!("{V3}/rooms/{}/redact/{}/r1", enc(&room), enc(&target)),
            Some(bt),
            json!({ "reason": "typo" }),
        )
        .await;
    let redaction = resp.ok()["event_id"].as_str().unwrap().to_owned();
    // Idempotent per transaction.
    let again =
        s.put(&format!("{V3}/rooms/{}/redact/{}/r1", enc(&room), enc(&target)), Some(bt), json!({})).await;
    assert_eq!(again.ok()["event_id"], redaction.as_str());
    for viewer in [bt, &alice.access_token] {
        let got = event(&s, viewer, &room, &target).await;
        let got = got.ok();
        assert_eq!(got["content"], json!({}), "redacted content kept: {got}");
        assert_eq!(got["type"], "m.room.message");
        assert_eq!(got["sender"], bob.user_id.as_str());
        assert_eq!(got["unsigned"]["redacted_because"]["event_id"], redaction.as_str(), "{got}");
    }
    let history = s.all_messages(&alice.access_token, &room).await;
    assert!(bodies(&history).is_empty(), "redacted body still in history");
    let redaction_event =
        history.iter().find(|e| e["event_id"] == redaction.as_str()).expect("redaction in history");
    assert_eq!(redaction_event["type"], "m.room.redaction");
    assert_eq!(redaction_event["content"]["reason"], "typo");
    // v11+: `redacts` is in the content (and clients may also see the top-level key).
    let redacts = redaction_event["content"]["redacts"].as_str().or(redaction_event["redacts"].as_str());
    assert_eq!(redacts, Some(target.as_str()), "{redaction_event}");
}

/// The spec: `unsigned.redacted_because` is the redaction event itself (a ClientEvent).
async fn redacted_because_is_the_whole_redaction_event(b: Backend) {
    let (s, _alice, bob, room) = room_with_two(b).await;
    let bt = &bob.access_token;
    let target = s.send_text(bt, &room, "gone soon").await;
    let path = format!("{V3}/rooms/{}/redact/{}/r2", enc(&room), enc(&target));
    s.put(&path, Some(bt), json!({ "reason": "why" })).await.ok();
    let got = event(&s, bt, &room, &target).await;
    let because = &got.ok()["unsigned"]["redacted_because"];
    assert_eq!(because["type"], "m.room.redaction", "redacted_because is not the event: {because}");
    assert_eq!(because["sender"], bob.user_id.as_str(), "{because}");
    assert_eq!(because["content"]["reason"], "why", "{because}");
}

async fn redaction_needs_power_for_others_events(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let carol = s.register("carol", "pw").await;
    s.join(&carol.access_token, &room).await;
    let alices = s.send_text(&alice.access_token, &room, "alice speaks").await;
    let carols = s.send_text(&carol.access_token, &room, "carol speaks").await;
    let before = s.all_messages(&alice.access_token, &room).await.len();
    let redact = |room: &str, target: &str, txn: &str| {
        format!("{V3}/rooms/{}/redact/{}/{txn}", enc(room), enc(target))
    };
    s.put(&redact(&room, &alices, "b1"), Some(&bob.access_token), json!({})).await.err(403, "M_FORBIDDEN");
    s.put(&redact(&room, &carols, "b2"), Some(&bob.access_token), json!({})).await.err(403, "M_FORBIDDEN");
    assert_eq!(event(&s, &bob.access_token, &room, &alices).await.ok()["content"]["body"], "alice speaks");
    assert_eq!(s.all_messages(&alice.access_token, &room).await.len(), before, "refused redaction persisted");
    // Unknown event, and an event of another room.
    s.put(&redact(&room, "$doesnotexist", "b3"), Some(&bob.access_token), json!({}))
        .await
        .err(404, "M_NOT_FOUND");
    let elsewhere = s.create_room(&bob.access_token, json!({})).await;
    s.put(&redact(&elsewhere, &alices, "b4"), Some(&bob.access_token), json!({}))
        .await
        .err(404, "M_NOT_FOUND");
    // A non-member cannot redact even their own old event.
    s.leave(&carol.access_token, &room).await;
    s.put(&redact(&room, &carols, "c1"), Some(&carol.access_token), json!({})).await.err(403, "M_FORBIDDEN");
    assert_eq!(event(&s, &alice.access_token, &room, &carols).await.ok()["content"]["body"], "carol speaks");
    // The creator (power 100 ≥ redact 50) may redact anyone's.
    s.put(&redact(&room, &carols, "a1"), Some(&alice.access_token), json!({ "reason": "moderation" }))
        .await
        .ok();
    assert_eq!(event(&s, &alice.access_token, &room, &carols).await.ok()["content"], json!({}));
    assert_eq!(bodies(&s.all_messages(&alice.access_token, &room).await), vec!["alice speaks"]);
}

async fn get_unknown_event(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    event(&s, a, &room, "$doesnotexist").await.err(404, "M_NOT_FOUND");
    // An event of another room, asked for under this room.
    let other = s.create_room(a, json!({})).await;
    let there = s.send_text(a, &other, "elsewhere").await;
    event(&s, a, &room, &there).await.err(404, "M_NOT_FOUND");
    // Bob is not in the other (private) room: indistinguishable from missing.
    event(&s, &bob.access_token, &other, &there).await.err(404, "M_NOT_FOUND");
    event(&s, a, "!nowhere:localhost", &there).await.err(404, "M_NOT_FOUND");
    assert_eq!(event(&s, a, &other, &there).await.ok()["content"]["body"], "elsewhere");
}

async fn transaction_ids_are_scoped_to_the_request_path(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let other = s.create_room(a, json!({})).await;
    let first = s.send_event(a, &room, "m.room.message", "scoped", text("room one")).await;
    let first = first.ok()["event_id"].as_str().unwrap().to_owned();
    // The same txnId on another path (another room, another type) is a new request.
    let elsewhere = s.send_event(a, &other, "m.room.message", "scoped", text("room two")).await;
    let elsewhere = elsewhere.ok()["event_id"].as_str().unwrap().to_owned();
    assert_ne!(elsewhere, first, "a txnId in another room returned the first room's event");
    let got = event(&s, a, &other, &elsewhere).await;
    assert_eq!(got.ok()["content"]["body"], "room two");
    let typed = s.send_event(a, &room, "org.example.other", "scoped", json!({ "k": 1 })).await;
    let typed = typed.ok()["event_id"].as_str().unwrap().to_owned();
    assert_ne!(typed, first, "a txnId with another event type returned the first event");
    assert_eq!(bodies(&s.all_messages(a, &other).await), vec!["room two"]);
    let types: Vec<String> = s
        .all_messages(a, &room)
        .await
        .iter()
        .filter(|e| e["type"] == "org.example.other")
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, vec![typed]);
}

async fn send_and_redact_txn_ids_are_distinct(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let message = s.send_event(a, &room, "m.room.message", "shared-txn", text("to redact")).await;
    let message = message.ok()["event_id"].as_str().unwrap().to_owned();
    let path = format!("{V3}/rooms/{}/redact/{}/shared-txn", enc(&room), enc(&message));
    let redaction = s.put(&path, Some(a), json!({})).await;
    let redaction = redaction.ok()["event_id"].as_str().unwrap().to_owned();
    assert_ne!(redaction, message);
    assert_eq!(event(&s, a, &room, &message).await.ok()["content"], json!({}));
}

async fn events_over_64_kib_are_refused(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let before = s.all_messages(a, &room).await.len();
    let big = "x".repeat(70_000);
    let too_large = [(400, "M_TOO_LARGE"), (413, "M_TOO_LARGE")];
    s.send_event(a, &room, "m.room.message", "huge", text(&big)).await.err_one_of(&too_large);
    s.put_state(a, &room, "org.example.huge", "", json!({ "v": big })).await.err_one_of(&too_large);
    assert_eq!(s.all_messages(a, &room).await.len(), before, "an oversized event was persisted");
    s.get_state(a, &room, "org.example.huge", "").await.err(404, "M_NOT_FOUND");
    // Comfortably below the limit is fine.
    let fine = "y".repeat(60_000);
    s.send_event(a, &room, "m.room.message", "big-but-fine", text(&fine)).await.ok();
    assert_eq!(bodies(&s.all_messages(a, &room).await), vec![fine]);
}

async fn redacting_state_keeps_it_in_state_without_content(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let name = s.put_state(a, &room, "m.room.name", "", json!({ "name": "rude name" })).await;
    let name = name.ok()["event_id"].as_str().unwrap().to_owned();
    s.put(&format!("{V3}/rooms/{}/redact/{}/rs1", enc(&room), enc(&name)), Some(a), json!({})).await.ok();
    assert_eq!(s.get_state(&bob.access_token, &room, "m.room.name", "").await.ok(), &json!({}));
    let all = s.get(&format!("{V3}/rooms/{}/state", enc(&room)), Some(a)).await;
    let named: Vec<Value> =
        all.ok().as_array().unwrap().iter().filter(|e| e["type"] == "m.room.name").cloned().collect();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0]["content"], json!({}));
    // Redacting join rules keeps the keys the redaction algorithm preserves.
    let rules = s.get_state(a, &room, "m.room.join_rules", "").await.ok().clone();
    assert_eq!(rules["join_rule"], "public");
    let all = s.get(&format!("{V3}/rooms/{}/state", enc(&room)), Some(a)).await;
    let rules_id =
        all.ok().as_array().unwrap().iter().find(|e| e["type"] == "m.room.join_rules").unwrap()["event_id"]
            .as_str()
            .unwrap()
            .to_owned();
    s.put(&format!("{V3}/rooms/{}/redact/{}/rs2", enc(&room), enc(&rules_id)), Some(a), json!({})).await.ok();
    assert_eq!(s.get_state(a, &room, "m.room.join_rules", "").await.ok()["join_rule"], "public");
}

async fn v12_power_levels_may_not_list_creators(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let before = s.get_state(a, &room, "m.room.power_levels", "").await.ok().clone();
    let mut listed = before.clone();
    listed["users"][&alice.user_id] = json!(100);
    s.put_state(a, &room, "m.room.power_levels", "", listed).await.err_one_of(&[
        (403, "M_FORBIDDEN"),
        (400, "M_BAD_JSON"),
        (400, "M_INVALID_PARAM"),
    ]);
    assert_eq!(s.get_state(a, &room, "m.room.power_levels", "").await.ok(), &before);
    // Listing someone else is fine.
    let mut bobs = before.clone();
    bobs["users"][&bob.user_id] = json!(40);
    s.put_state(a, &room, "m.room.power_levels", "", bobs).await.ok();
}

async fn concurrent_retransmissions_make_one_event(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let send = || s.send_event(a, &room, "m.room.message", "racing", text("once"));
    let (r1, r2, r3, r4) = tokio::join!(send(), send(), send(), send());
    let ids: Vec<String> =
        [r1, r2, r3, r4].iter().map(|r| r.ok()["event_id"].as_str().unwrap().to_owned()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "retransmissions gave different events: {ids:?}");
    assert_eq!(bodies(&s.all_messages(a, &room).await), vec!["once"]);
}

async fn redaction_in_each_room_version(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    for version in ["10", "11", "12"] {
        let room = s.create_room(a, json!({ "room_version": version })).await;
        let target = s.send_text(a, &room, "to go").await;
        let path = format!("{V3}/rooms/{}/redact/{}/v{version}", enc(&room), enc(&target));
        let redaction = s.put(&path, Some(a), json!({ "reason": "v" })).await;
        let redaction = redaction.ok()["event_id"].as_str().unwrap().to_owned();
        let got = event(&s, a, &room, &target).await;
        assert_eq!(got.ok()["content"], json!({}), "v{version}: {}", got.text);
        let r = event(&s, a, &room, &redaction).await;
        let r = r.ok();
        assert_eq!(r["type"], "m.room.redaction");
        let redacts = if version == "10" { &r["redacts"] } else { &r["content"]["redacts"] };
        assert_eq!(redacts, target.as_str(), "v{version} redaction: {r}");
    }
}

crate::per_backend!(
    send_message_is_idempotent_per_device,
    custom_event_types_and_unicode,
    non_member_cannot_send,
    state_put_and_get,
    state_needs_power,
    oversized_types_and_keys,
    content_must_be_an_object,
    redact_own_event,
    redaction_needs_power_for_others_events,
    get_unknown_event,
    send_and_redact_txn_ids_are_distinct,
    events_over_64_kib_are_refused,
    redacting_state_keeps_it_in_state_without_content,
    v12_power_levels_may_not_list_creators,
    concurrent_retransmissions_make_one_event,
    redaction_in_each_room_version,
    redacted_because_is_the_whole_redaction_event,
    transaction_ids_are_scoped_to_the_request_path,
);
