//! What the server remembers between requests so that a woken `/sync` costs little —
//! checked access tokens, recent events, each device's to-device queue and key counts,
//! ignore lists, stored filters — must never outlive a change: each test warms the
//! memory first, then changes the thing remembered and expects the next request to
//! see the change.

use serde_json::{Value, json};

use crate::e2ee_client::Device;
use crate::harness::{Backend, Server, Session, V3, enc, password_auth, room_events};

const UPLOAD: &str = "/_matrix/client/v3/keys/upload";

async fn login(s: &Server, user: &str, device: &str) -> Session {
    let body = json!({
        "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user },
        "password": "pw", "device_id": device,
    });
    Session::from_json(s.login_body(body).await.ok())
}

fn next_batch(sync: &Value) -> String {
    sync["next_batch"].as_str().expect("next_batch").to_owned()
}

async fn a_used_token_dies_with_its_device(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register_with(json!({ "username": "alice", "password": "pw", "device_id": "ONE" })).await;
    let token = alice.access_token.clone();
    for _ in 0..3 {
        s.assert_token_alive(&token).await;
    }
    // Logging in again on the same device replaces its token at once.
    let again = login(&s, "alice", "ONE").await;
    s.assert_token_dead(&token).await;
    s.assert_token_alive(&again.access_token).await;
    // Logout.
    s.post(&format!("{V3}/logout"), Some(&again.access_token), json!({})).await.ok();
    s.assert_token_dead(&again.access_token).await;
    // Deleting another device.
    let (phone, laptop) = (login(&s, "alice", "PHONE").await, login(&s, "alice", "LAPTOP").await);
    s.assert_token_alive(&phone.access_token).await;
    let path = format!("{V3}/devices/PHONE");
    let session = s.delete(&path, Some(&laptop.access_token), Some(json!({}))).await.uia();
    let auth = json!({ "auth": password_auth("alice", "pw", &session) });
    s.delete(&path, Some(&laptop.access_token), Some(auth)).await.ok();
    s.assert_token_dead(&phone.access_token).await;
    // Deactivation ends every token.
    s.assert_token_alive(&laptop.access_token).await;
    let session =
        s.post(&format!("{V3}/account/deactivate"), Some(&laptop.access_token), json!({})).await.uia();
    let auth = json!({ "auth": password_auth("alice", "pw", &session) });
    s.post(&format!("{V3}/account/deactivate"), Some(&laptop.access_token), auth).await.ok();
    s.assert_token_dead(&laptop.access_token).await;
}

async fn key_counts_follow_uploads_and_claims(b: Backend) {
    let s = Server::start_default(b).await;
    let mut alice = Device::new(
        s.register_with(json!({ "username": "alice", "password": "pw", "device_id": "ADEV" })).await,
    );
    let bob = s.register_with(json!({ "username": "bob", "password": "pw" })).await;
    let token = alice.session.access_token.clone();
    let count = |sync: &Value| sync["device_one_time_keys_count"]["signed_curve25519"].clone();
    let first = s.sync(&token, None, "").await;
    assert_eq!(count(&first), json!(0), "{first}");
    let body = json!({ "device_keys": alice.device_keys(), "one_time_keys": alice.one_time_keys(3) });
    s.post(UPLOAD, alice.token(), body).await.ok();
    let since = next_batch(&first);
    let after_upload = s.sync(&token, Some(&since), "").await;
    assert_eq!(count(&after_upload), json!(3), "{after_upload}");
    let again = s.sync(&token, Some(&next_batch(&after_upload)), "").await;
    assert_eq!(count(&again), json!(3), "{again}");
    let wanted = json!({ "one_time_keys": { alice.user(): { "ADEV": "signed_curve25519" } } });
    s.post(&format!("{V3}/keys/claim"), bob.token(), wanted).await.ok();
    let after_claim = s.sync(&token, Some(&next_batch(&again)), "").await;
    assert_eq!(count(&after_claim), json!(2), "a claim shows at once: {after_claim}");
    let fallback = json!({ "fallback_keys": alice.fallback_key() });
    s.post(UPLOAD, alice.token(), fallback).await.ok();
    let with_fallback = s.sync(&token, Some(&next_batch(&after_claim)), "").await;
    assert_eq!(
        with_fallback["device_unused_fallback_key_types"],
        json!(["signed_curve25519"]),
        "{with_fallback}"
    );
}

async fn to_device_after_quiet_syncs_arrives_once(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register_with(json!({ "username": "alice", "password": "pw" })).await;
    let bob = s.register_with(json!({ "username": "bob", "password": "pw", "device_id": "BDEV" })).await;
    let messages = |sync: &Value| sync["to_device"]["events"].as_array().cloned().unwrap_or_default();
    let mut since = next_batch(&s.sync(&bob.access_token, None, "").await);
    for round in 0..3 {
        // Quiet syncs first: the queue is known empty afterwards.
        for _ in 0..2 {
            let quiet = s.sync(&bob.access_token, Some(&since), "").await;
            assert!(messages(&quiet).is_empty(), "{quiet}");
            since = next_batch(&quiet);
        }
        let body = json!({ "messages": { "@bob:localhost": { "BDEV": { "round": round } } } });
        let path = format!("{V3}/sendToDevice/m.test/{}", enc(&format!("t{round}")));
        s.put(&path, alice.token(), body).await.ok();
        let got = s.sync(&bob.access_token, Some(&since), "").await;
        let rounds: Vec<Value> = messages(&got).iter().map(|m| m["content"]["round"].clone()).collect();
        assert_eq!(rounds, [json!(round)], "round {round}: {got}");
        since = next_batch(&got);
        let after = s.sync(&bob.access_token, Some(&since), "").await;
        assert!(messages(&after).is_empty(), "delivered once: {after}");
        since = next_batch(&after);
    }
}

async fn recent_events_show_edits_and_redactions_at_once(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register_with(json!({ "username": "alice", "password": "pw" })).await;
    let bob = s.register_with(json!({ "username": "bob", "password": "pw" })).await;
    let room = s.create_room(alice.token().expect("token"), json!({ "preset": "public_chat" })).await;
    s.join(bob.token().expect("token"), &room).await;
    let since = next_batch(&s.sync(&bob.access_token, None, "").await);
    let original = s.send_text(alice.token().expect("token"), &room, "first draft").await;
    // Bob's sync serves the new event from memory, with nothing bundled.
    let seen = s.sync(&bob.access_token, Some(&since), "").await;
    let events = room_events(&seen, "join", &room, "timeline");
    let served = events.iter().find(|e| e["event_id"] == json!(original)).expect("served");
    assert!(served["unsigned"].get("m.relations").is_none(), "{served}");
    let edit = json!({
        "msgtype": "m.text", "body": "* final", "m.new_content": { "msgtype": "m.text", "body": "final" },
        "m.relates_to": { "rel_type": "m.replace", "event_id": original },
    });
    let edit_id = s
        .send_event(alice.token().expect("token"), &room, "m.room.message", "edit1", edit)
        .await
        .ok()["event_id"]
        .clone();
    let path = format!("{V3}/rooms/{}/event/{}", enc(&room), enc(&original));
    let fetched = s.get(&path, bob.token()).await.ok().clone();
    assert_eq!(fetched["unsigned"]["m.relations"]["m.replace"]["event_id"], edit_id, "{fetched}");
    let later =
        s.sync(&bob.access_token, Some(&next_batch(&seen)), &crate::harness::timeline_filter(10)).await;
    let history = s.messages(bob.token().expect("token"), &room, "dir=b&limit=10").await.ok().clone();
    let in_history =
        history["chunk"].as_array().expect("chunk").iter().find(|e| e["event_id"] == json!(original));
    assert_eq!(in_history.expect("in history")["unsigned"]["m.relations"]["m.replace"]["event_id"], edit_id);
    // A redaction changes how the event is served, in every read.
    let redact = format!("{V3}/rooms/{}/redact/{}/r1", enc(&room), enc(&original));
    s.put(&redact, alice.token(), json!({ "reason": "oops" })).await.ok();
    let fetched = s.get(&path, bob.token()).await.ok().clone();
    assert_eq!(fetched["content"], json!({}), "redacted: {fetched}");
    let full = s.sync(&bob.access_token, None, &crate::harness::timeline_filter(10)).await;
    let events = room_events(&full, "join", &room, "timeline");
    let served = events.iter().find(|e| e["event_id"] == json!(original)).expect("still in the timeline");
    assert_eq!(served["content"], json!({}), "redacted in sync: {served}");
    let later_ids: Vec<&Value> =
        room_events(&later, "join", &room, "timeline").iter().map(|e| &e["event_id"]).collect();
    assert!(later_ids.contains(&&edit_id), "the edit reaches sync: {later}");
}

async fn ignoring_a_user_applies_to_the_next_sync(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register_with(json!({ "username": "alice", "password": "pw" })).await;
    let bob = s.register_with(json!({ "username": "bob", "password": "pw" })).await;
    let room = s.create_room(alice.token().expect("token"), json!({ "preset": "public_chat" })).await;
    s.join(bob.token().expect("token"), &room).await;
    let mut since = next_batch(&s.sync(&alice.access_token, None, "").await);
    let bodies_since = |sync: &Value| crate::harness::bodies(room_events(sync, "join", &room, "timeline"));
    s.send_text(bob.token().expect("token"), &room, "hello").await;
    let seen = s.sync(&alice.access_token, Some(&since), "").await;
    assert_eq!(bodies_since(&seen), ["hello"]);
    since = next_batch(&seen);
    let ignore = format!("{V3}/user/{}/account_data/m.ignored_user_list", enc(&alice.user_id));
    s.put(&ignore, alice.token(), json!({ "ignored_users": { "@bob:localhost": {} } })).await.ok();
    let ignored = s.sync(&alice.access_token, Some(&since), "").await;
    since = next_batch(&ignored);
    s.send_text(bob.token().expect("token"), &room, "ignored").await;
    s.send_text(alice.token().expect("token"), &room, "mine").await;
    let filtered = s.sync(&alice.access_token, Some(&since), "").await;
    assert_eq!(bodies_since(&filtered), ["mine"], "{filtered}");
    since = next_batch(&filtered);
    s.put(&ignore, alice.token(), json!({ "ignored_users": {} })).await.ok();
    s.send_text(bob.token().expect("token"), &room, "welcome back").await;
    let back = s.sync(&alice.access_token, Some(&since), "").await;
    assert_eq!(bodies_since(&back), ["welcome back"], "{back}");
}

async fn stored_filters_are_per_user(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register_with(json!({ "username": "alice", "password": "pw" })).await;
    let bob = s.register_with(json!({ "username": "bob", "password": "pw" })).await;
    let filter = json!({ "room": { "timeline": { "limit": 1 } } });
    let created =
        s.post(&format!("{V3}/user/{}/filter", enc(&alice.user_id)), alice.token(), filter.clone()).await;
    let id = created.ok()["filter_id"].as_str().expect("id").to_owned();
    for _ in 0..2 {
        let path = format!("{V3}/user/{}/filter/{}", enc(&alice.user_id), enc(&id));
        assert_eq!(s.get(&path, alice.token()).await.ok(), &filter);
        s.sync(&alice.access_token, None, &format!("filter={}", enc(&id))).await;
    }
    // Bob never stored it: the same ID is unknown for him, remembered or not.
    let path = format!("{V3}/user/{}/filter/{}", enc(&bob.user_id), enc(&id));
    s.get(&path, bob.token()).await.err(404, "M_NOT_FOUND");
    let resp = s.sync_resp(&bob.access_token, None, &format!("filter={}", enc(&id))).await;
    resp.assert_error_body();
}

crate::per_backend!(
    a_used_token_dies_with_its_device,
    key_counts_follow_uploads_and_claims,
    to_device_after_quiet_syncs_arrives_once,
    recent_events_show_edits_and_redactions_at_once,
    ignoring_a_user_applies_to_the_next_sync,
    stored_filters_are_per_user
);
