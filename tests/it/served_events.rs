//! What served client events carry beyond the PDU: `redacts` at the top level of
//! redactions in every room version, and `unsigned.membership` (the requester's
//! membership at the event) on `/event`, `/messages`, `/context` and `/sync`.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, enc, room_events};

fn event_path(room: &str, id: &str) -> String {
    format!("{V3}/rooms/{}/event/{}", enc(room), enc(id))
}

fn find<'a>(events: impl IntoIterator<Item = &'a Value>, id: &str) -> Option<&'a Value> {
    events.into_iter().find(|event| event["event_id"] == id)
}

async fn redactions_carry_redacts_at_the_top_level(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    for version in ["10", "11", "12"] {
        let room = s.create_room(a, json!({ "room_version": version })).await;
        let since = s.sync(a, None, "").await["next_batch"].as_str().unwrap_or_default().to_owned();
        let target = s.send_text(a, &room, "to go").await;
        let path = format!("{V3}/rooms/{}/redact/{}/t{version}", enc(&room), enc(&target));
        let redaction = s.put(&path, Some(a), json!({ "reason": "r" })).await.ok()["event_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let served = s.get(&event_path(&room, &redaction), Some(a)).await.ok().clone();
        assert_eq!(served["redacts"], json!(target), "v{version} /event: {served}");
        if version != "10" {
            assert_eq!(served["content"]["redacts"], json!(target), "v{version} /event: {served}");
        }
        let messages = s.all_messages(a, &room).await;
        let served = find(&messages, &redaction).unwrap_or_else(|| panic!("v{version}: no redaction"));
        assert_eq!(served["redacts"], json!(target), "v{version} /messages: {served}");
        let sync = s.sync(a, Some(&since), "").await;
        let timeline = room_events(&sync, "join", &room, "timeline");
        let served = find(timeline, &redaction).unwrap_or_else(|| panic!("v{version}: not in {sync}"));
        assert_eq!(served["redacts"], json!(target), "v{version} /sync: {served}");
    }
}

async fn events_carry_the_requesters_membership(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let room = s.create_room(a, json!({ "preset": "public_chat" })).await;
    let before = s.send_text(a, &room, "before bob").await;
    s.invite(a, &room, &bob.user_id).await;
    s.join(bt, &room).await;
    let since = s.sync(bt, None, "").await["next_batch"].as_str().unwrap_or_default().to_owned();
    let during = s.send_text(a, &room, "while bob is here").await;
    let own = s.send_text(bt, &room, "bob speaks").await;
    // In /sync: a message sent while joined, and bob's own message.
    let sync = s.sync(bt, Some(&since), "").await;
    let timeline = room_events(&sync, "join", &room, "timeline");
    for id in [&during, &own] {
        let served = find(timeline.iter().copied(), id).unwrap_or_else(|| panic!("{id} not in {sync}"));
        assert_eq!(served["unsigned"]["membership"], "join", "{served}");
    }
    s.leave(bt, &room).await;
    let after = s.send_text(a, &room, "after bob").await;
    // /messages: before bob had any membership, while joined, his leave. (The room's
    // history is shared, so he may still read what came before his leave.)
    let messages = s.all_messages(bt, &room).await;
    let membership_of = |id: &str| find(&messages, id).map(|e| e["unsigned"]["membership"].clone());
    assert_eq!(membership_of(&before), Some(json!("leave")), "{messages:?}");
    assert_eq!(membership_of(&during), Some(json!("join")));
    assert_eq!(membership_of(&after), None, "bob sees what was sent after he left");
    let member_events: Vec<&Value> = messages
        .iter()
        .filter(|e| e["type"] == "m.room.member" && e["state_key"] == json!(bob.user_id))
        .collect();
    let memberships: Vec<Value> = member_events.iter().map(|e| e["unsigned"]["membership"].clone()).collect();
    assert_eq!(memberships, [json!("invite"), json!("join"), json!("leave")], "{member_events:?}");
    // Alice, joined throughout, sees "join" everywhere (/event, /context).
    let served = s.get(&event_path(&room, &during), Some(a)).await.ok().clone();
    assert_eq!(served["unsigned"]["membership"], "join", "{served}");
    let served = s.get(&event_path(&room, &during), Some(bt)).await.ok().clone();
    assert_eq!(served["unsigned"]["membership"], "join", "bob at the event: {served}");
    let context = format!("{V3}/rooms/{}/context/{}?limit=4", enc(&room), enc(&during));
    let context = s.get(&context, Some(a)).await.ok().clone();
    assert_eq!(context["event"]["unsigned"]["membership"], "join", "{context}");
    let around = context["events_before"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(context["events_after"].as_array().into_iter().flatten());
    for event in around {
        assert_eq!(event["unsigned"]["membership"], "join", "{event}");
    }
}

crate::per_backend!(redactions_carry_redacts_at_the_top_level, events_carry_the_requesters_membership);
