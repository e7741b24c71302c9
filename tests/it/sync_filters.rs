//! Sync filters as applied: rooms, timeline types/senders/URLs, state types, lazy-loaded
//! members (and their redundancy), account data, `include_leave`, `event_fields`; and
//! `/members?at=`, which reads members at a point in history.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, Session, V3, bodies, enc, room_events};

fn filter(value: Value) -> String {
    format!("filter={}", enc(&value.to_string()))
}

fn next_batch(sync: &Value) -> String {
    sync["next_batch"].as_str().expect("next_batch").to_owned()
}

fn kinds(events: &[&Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap_or("").to_owned()).collect()
}

async fn room_with_two(b: Backend) -> (Server, Session, Session, String) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room =
        s.create_room(&alice.access_token, json!({ "preset": "public_chat", "name": "Filtered" })).await;
    s.join(&bob.access_token, &room).await;
    (s, alice, bob, room)
}

async fn timeline_types_senders_and_urls(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    s.send_text(a, &room, "from alice").await;
    s.send_text(bt, &room, "from bob").await;
    s.send_event(
        bt,
        &room,
        "m.room.message",
        "img",
        json!({"msgtype": "m.image", "body": "pic", "url": "mxc://x/y"}),
    )
    .await
    .ok();
    s.send_event(bt, &room, "org.example.custom", "c1", json!({"n": 1})).await.ok();
    let only_bob_messages = filter(
        json!({"room": {"timeline": {"types": ["m.room.*"], "not_types": ["m.room.member"], "senders": [bob.user_id]}}}),
    );
    let sync = s.sync(a, None, &only_bob_messages).await;
    let timeline = room_events(&sync, "join", &room, "timeline");
    assert_eq!(bodies(timeline.iter().copied()), vec!["from bob", "pic"], "{sync}");
    assert!(timeline.iter().all(|e| e["sender"] == bob.user_id.as_str()), "{sync}");
    // The state still describes the room, though the timeline hides state events.
    let state = room_events(&sync, "join", &room, "state");
    assert!(kinds(&state).contains(&"m.room.name".to_owned()), "{sync}");
    // contains_url, and wildcard types.
    let with_url = filter(json!({"room": {"timeline": {"contains_url": true}}}));
    let sync = s.sync(a, None, &with_url).await;
    assert_eq!(bodies(room_events(&sync, "join", &room, "timeline")), vec!["pic"], "{sync}");
    let without = filter(json!({"room": {"timeline": {"contains_url": false, "types": ["org.*"]}}}));
    let sync = s.sync(a, None, &without).await;
    assert_eq!(kinds(&room_events(&sync, "join", &room, "timeline")), vec!["org.example.custom"], "{sync}");
    // A limit with a filter counts only matching events.
    let one = filter(json!({"room": {"timeline": {"limit": 1, "types": ["m.room.message"]}}}));
    let sync = s.sync(a, None, &one).await;
    assert_eq!(bodies(room_events(&sync, "join", &room, "timeline")), vec!["pic"], "{sync}");
    assert_eq!(sync["rooms"]["join"][&room]["timeline"]["limited"], true, "{sync}");
    // /messages applies the same conditions.
    let query = format!(
        "dir=b&filter={}",
        enc(&json!({"not_senders": [bob.user_id], "types": ["m.room.message"]}).to_string())
    );
    let chunk = s.messages(a, &room, &query).await.ok()["chunk"].clone();
    let chunk: Vec<&Value> = chunk.as_array().unwrap().iter().collect();
    assert_eq!(bodies(chunk), vec!["from alice"]);
}

async fn room_lists_and_include_leave(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let other = s.create_room(a, json!({"name": "Other"})).await;
    let left = s.create_room(a, json!({"name": "Left"})).await;
    s.send_text(a, &left, "before leaving").await;
    s.leave(a, &left).await;
    let only = s.sync(a, None, &filter(json!({"room": {"rooms": [room]}}))).await;
    let joined: Vec<&String> = only["rooms"]["join"].as_object().unwrap().keys().collect();
    assert_eq!(joined, vec![&room], "{only}");
    let not = s.sync(a, None, &filter(json!({"room": {"not_rooms": [room]}}))).await;
    let joined: Vec<&String> = not["rooms"]["join"].as_object().unwrap().keys().collect();
    assert_eq!(joined, vec![&other], "{not}");
    // Left rooms come back in an initial sync only when asked for.
    let plain = s.sync(a, None, "").await;
    assert!(plain["rooms"]["leave"].get(&left).is_none(), "{plain}");
    let with_leave = s.sync(a, None, &filter(json!({"room": {"include_leave": true}}))).await;
    let entry = &with_leave["rooms"]["leave"][&left];
    let timeline = room_events(&with_leave, "leave", &left, "timeline");
    assert!(bodies(timeline.iter().copied()).contains(&"before leaving".to_owned()), "{entry}");
    assert_eq!(timeline.last().unwrap()["content"]["membership"], "leave", "{entry}");
    // …and an incremental sync with include_leave does not repeat them forever.
    let since = next_batch(&with_leave);
    let again = s
        .sync(a, Some(&since), &format!("timeout=0&{}", filter(json!({"room": {"include_leave": true}}))))
        .await;
    assert!(again["rooms"]["leave"].get(&left).is_none(), "{again}");
    let _ = bob;
}

async fn state_types_and_event_fields(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    s.put_state(a, &room, "m.room.topic", "", json!({"topic": "t"})).await.ok();
    s.send_text(a, &room, "hello").await;
    let sync = s
        .sync(a, None, &filter(json!({"room": {"timeline": {"limit": 1}, "state": {"types": ["m.room.name", "m.room.topic"]}}})))
        .await;
    let mut state = kinds(&room_events(&sync, "join", &room, "state"));
    state.sort();
    assert_eq!(state, vec!["m.room.name", "m.room.topic"], "{sync}");
    let sync = s.sync(a, None, &filter(json!({"event_fields": ["type", "content.body"]}))).await;
    let timeline = room_events(&sync, "join", &room, "timeline");
    let last = timeline.last().unwrap();
    assert_eq!(**last, json!({"type": "m.room.message", "content": {"body": "hello"}}), "{sync}");
    for event in room_events(&sync, "join", &room, "state") {
        let keys: Vec<&String> = event.as_object().unwrap().keys().collect();
        assert!(keys.iter().all(|k| *k == "type" || *k == "content"), "{event}");
    }
}

async fn federation_format_serves_pdus(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    s.send_text(a, &room, "as a pdu").await;
    let sync = s.sync(a, None, &filter(json!({"event_format": "federation"}))).await;
    let timeline = room_events(&sync, "join", &room, "timeline");
    let last = timeline.last().unwrap();
    assert_eq!(last["content"]["body"], "as a pdu", "{sync}");
    for field in ["auth_events", "prev_events", "depth", "hashes", "signatures", "event_id"] {
        assert!(last.get(field).is_some(), "PDU lacks {field}: {last}");
    }
    let state = room_events(&sync, "join", &room, "state");
    assert!(state.iter().chain(timeline.iter()).all(|e| e.get("signatures").is_some()), "{sync}");
}

async fn hidden_state_changes_reach_the_state_section(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let messages_only = filter(json!({"room": {"timeline": {"types": ["m.room.message"]}}}));
    let since = next_batch(&s.sync(bt, None, &messages_only).await);
    s.put_state(a, &room, "m.room.topic", "", json!({"topic": "changed quietly"})).await.ok();
    s.send_text(a, &room, "after the topic").await;
    let sync = s.sync(bt, Some(&since), &format!("timeout=0&{messages_only}")).await;
    assert_eq!(bodies(room_events(&sync, "join", &room, "timeline")), vec!["after the topic"], "{sync}");
    let state = room_events(&sync, "join", &room, "state");
    assert!(
        state.iter().any(|e| e["type"] == "m.room.topic" && e["content"]["topic"] == "changed quietly"),
        "{sync}"
    );
    // Only a hidden state change: the room still shows up, with the change in state.
    let since = next_batch(&sync);
    s.put_state(a, &room, "m.room.topic", "", json!({"topic": "again"})).await.ok();
    let sync = s.sync(bt, Some(&since), &format!("timeout=5000&{messages_only}")).await;
    let state = room_events(&sync, "join", &room, "state");
    assert!(state.iter().any(|e| e["content"]["topic"] == "again"), "{sync}");
}

async fn lazy_members_once_unless_redundant_requested(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let carol = s.register("carol", "pw").await;
    s.join(&carol.access_token, &room).await;
    s.send_text(a, &room, "alice speaks").await;
    let lazy = filter(json!({"room": {"timeline": {"limit": 1}, "state": {"lazy_load_members": true}}}));
    let sync = s.sync(bt, None, &lazy).await;
    let members: Vec<String> = room_events(&sync, "join", &room, "state")
        .iter()
        .filter(|e| e["type"] == "m.room.member")
        .map(|e| e["state_key"].as_str().unwrap().to_owned())
        .collect();
    assert!(members.contains(&alice.user_id) && members.contains(&bob.user_id), "{sync}");
    assert!(!members.contains(&carol.user_id), "carol has not spoken: {sync}");
    // Carol speaks: her member event arrives once, with her first message.
    let since = next_batch(&sync);
    s.send_text(&carol.access_token, &room, "carol speaks").await;
    let sync = s.sync(bt, Some(&since), &format!("timeout=0&{lazy}")).await;
    let state = room_events(&sync, "join", &room, "state");
    assert!(state.iter().any(|e| e["state_key"] == carol.user_id.as_str()), "{sync}");
    let since = next_batch(&sync);
    s.send_text(&carol.access_token, &room, "carol again").await;
    let sync = s.sync(bt, Some(&since), &format!("timeout=0&{lazy}")).await;
    assert!(room_events(&sync, "join", &room, "state").is_empty(), "already sent: {sync}");
    // With include_redundant_members it is sent every time.
    let redundant = filter(
        json!({"room": {"timeline": {"limit": 1}, "state": {"lazy_load_members": true, "include_redundant_members": true}}}),
    );
    let since = next_batch(&sync);
    s.send_text(&carol.access_token, &room, "carol thrice").await;
    let sync = s.sync(bt, Some(&since), &format!("timeout=0&{redundant}")).await;
    let state = room_events(&sync, "join", &room, "state");
    assert!(state.iter().any(|e| e["state_key"] == carol.user_id.as_str()), "{sync}");
}

async fn account_data_filters(b: Backend) {
    let (s, alice, _bob, room) = room_with_two(b).await;
    let a = &alice.access_token;
    let user = enc(&alice.user_id);
    for kind in ["org.example.a", "org.example.b", "com.other.c"] {
        s.put(&format!("{V3}/user/{user}/account_data/{kind}"), Some(a), json!({"k": kind})).await.ok();
    }
    for kind in ["org.example.room1", "com.other.room2"] {
        s.put(&format!("{V3}/user/{user}/rooms/{}/account_data/{kind}", enc(&room)), Some(a), json!({}))
            .await
            .ok();
    }
    let f = filter(json!({
        "account_data": {"types": ["org.example.*"], "not_types": ["org.example.b"]},
        "room": {"account_data": {"types": ["com.*"]}},
    }));
    let sync = s.sync(a, None, &f).await;
    let global: Vec<&str> = sync["account_data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(global, vec!["org.example.a"], "{sync}");
    assert_eq!(kinds(&room_events(&sync, "join", &room, "account_data")), vec!["com.other.room2"], "{sync}");
    let limited = s.sync(a, None, &filter(json!({"account_data": {"limit": 1}}))).await;
    assert_eq!(limited["account_data"]["events"].as_array().unwrap().len(), 1, "{limited}");
}

async fn malformed_filters_are_refused(b: Backend) {
    let (s, alice, _bob, _room) = room_with_two(b).await;
    let a = &alice.access_token;
    for bad in [
        json!({"room": {"timeline": {"limit": "ten"}}}),
        json!({"room": {"rooms": "not-a-list"}}),
        json!({"event_fields": "type"}),
    ] {
        let resp = s.sync_resp(a, None, &filter(bad.clone())).await;
        assert_eq!(resp.status, 400, "{bad}: {}", resp.text);
        resp.assert_error_body();
    }
    let resp = s.sync_resp(a, None, "filter=unknownfilterid").await;
    assert_eq!(resp.status, 404, "{}", resp.text);
}

async fn members_at_a_point_in_history(b: Backend) {
    let (s, alice, bob, room) = room_with_two(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let before_carol = next_batch(&s.sync(a, None, "").await);
    let carol = s.register("carol", "pw").await;
    s.join(&carol.access_token, &room).await;
    let members = |resp: &Value| -> Vec<String> {
        let mut users: Vec<String> = resp["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["state_key"].as_str().unwrap().to_owned())
            .collect();
        users.sort();
        users
    };
    let path = format!("{V3}/rooms/{}/members", enc(&room));
    let now = s.get(&path, Some(a)).await;
    assert!(members(now.ok()).contains(&carol.user_id), "{}", now.text);
    let then = s.get(&format!("{path}?at={}", enc(&before_carol)), Some(a)).await;
    let mut expected = vec![alice.user_id.clone(), bob.user_id.clone()];
    expected.sort();
    assert_eq!(members(then.ok()), expected, "{}", then.text);
    // A prev_batch token works too, combined with a membership filter.
    let sync = s.sync(a, None, &filter(json!({"room": {"timeline": {"limit": 1}}}))).await;
    let prev_batch = sync["rooms"]["join"][&room]["timeline"]["prev_batch"].as_str().unwrap().to_owned();
    let resp = s.get(&format!("{path}?at={}&membership=join", enc(&prev_batch)), Some(a)).await;
    assert_eq!(members(resp.ok()), expected, "state before carol's join: {}", resp.text);
    // Someone who left never sees past their leave, whatever `at` says.
    s.leave(bt, &room).await;
    let dave = s.register("dave", "pw").await;
    s.join(&dave.access_token, &room).await;
    let latest = next_batch(&s.sync(a, None, "").await);
    let resp = s.get(&format!("{path}?at={}", enc(&latest)), Some(bt)).await;
    assert!(!members(resp.ok()).contains(&dave.user_id), "{}", resp.text);
    let bad = s.get(&format!("{path}?at=garbage"), Some(a)).await;
    bad.err(400, "M_INVALID_PARAM");
}

crate::per_backend!(
    timeline_types_senders_and_urls,
    room_lists_and_include_leave,
    state_types_and_event_fields,
    federation_format_serves_pdus,
    hidden_state_changes_reach_the_state_section,
    lazy_members_once_unless_redundant_requested,
    account_data_filters,
    malformed_filters_are_refused,
    members_at_a_point_in_history,
);
