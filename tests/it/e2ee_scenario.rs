//! End to end with real cryptography: Alice and Bob, two devices each, vodozemac clients.
//! Keys are uploaded, queried and claimed; Olm sessions carry a Megolm room key by
//! to-device; Alice's `m.room.encrypted` message decrypts to the exact plaintext on both
//! of Bob's devices; a device added later gets the key forwarded by to-device.

use serde_json::{Value, json};
use vodozemac::megolm::{GroupSession, SessionConfig};

use crate::e2ee_client::{Device, MEGOLM, megolm_decrypt, megolm_encrypt, room_key_event};
use crate::harness::{Backend, Server, Session, V3, room_events};

async fn login(s: &Server, user: &str, device: &str) -> Device {
    let body = json!({
        "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user },
        "password": "pw", "device_id": device,
    });
    Device::new(Session::from_json(s.login_body(body).await.ok()))
}

/// `(user, device, curve25519, ed25519)` of every device of `user`, from `/keys/query`,
/// each device's self-signature checked with vodozemac.
async fn query_devices(s: &Server, asker: &Device, user: &str) -> Vec<(String, String, String, String)> {
    let body =
        s.post(&format!("{V3}/keys/query"), asker.token(), json!({ "device_keys": { user: [] } })).await;
    let devices = body.ok()["device_keys"][user].as_object().expect("devices").clone();
    devices
        .iter()
        .map(|(device, keys)| {
            let ed = keys["keys"][format!("ed25519:{device}")].as_str().expect("ed25519").to_owned();
            let curve = keys["keys"][format!("curve25519:{device}")].as_str().expect("curve25519").to_owned();
            verify_self_signature(keys, user, device, &ed);
            (user.to_owned(), device.clone(), curve, ed)
        })
        .collect()
}

fn verify_self_signature(keys: &Value, user: &str, device: &str, ed: &str) {
    let mut unsigned = keys.clone();
    let object = unsigned.as_object_mut().expect("object");
    object.remove("signatures");
    object.remove("unsigned");
    let canonical = stoa_federation::canonical_json::to_canonical_string(&unsigned).expect("canonical");
    let signature = keys["signatures"][user][format!("ed25519:{device}")].as_str().expect("self-signature");
    let key = vodozemac::Ed25519PublicKey::from_base64(ed).expect("key");
    let signature = vodozemac::Ed25519Signature::from_base64(signature).expect("signature");
    key.verify(canonical.as_bytes(), &signature).expect("the served device keys verify");
}

/// Syncs `device` from `since`; returns the body.
async fn sync(s: &Server, device: &Device, since: Option<&str>) -> Value {
    s.sync(&device.session.access_token, since, "timeout=0").await
}

fn to_device_of(sync: &Value, kind: &str) -> Vec<Value> {
    let events = sync["to_device"]["events"].as_array().cloned().unwrap_or_default();
    events.into_iter().filter(|e| e["type"] == kind).collect()
}

async fn two_users_two_devices_each_talk_encrypted(b: Backend) {
    let s = Server::start_default(b).await;
    let mut a1 = Device::new(
        s.register_with(json!({ "username": "alice", "password": "pw", "device_id": "A1" })).await,
    );
    let mut a2 = login(&s, "alice", "A2").await;
    let mut b1 =
        Device::new(s.register_with(json!({ "username": "bob", "password": "pw", "device_id": "B1" })).await);
    let mut b2 = login(&s, "bob", "B2").await;
    for device in [&mut a1, &mut a2, &mut b1, &mut b2] {
        let counts = device.upload_keys(&s, 5).await;
        assert_eq!(counts["one_time_key_counts"]["signed_curve25519"], json!(5), "{counts}");
    }
    let room = s
        .create_room(
            &a1.session.access_token,
            json!({ "preset": "private_chat", "invite": [b1.user()], "initial_state": [
                { "type": "m.room.encryption", "state_key": "", "content": { "algorithm": MEGOLM } },
            ] }),
        )
        .await;
    s.join(&b1.session.access_token, &room).await;
    let bob_since = [sync(&s, &b1, None).await, sync(&s, &b2, None).await];

    // Alice's first device shares a Megolm session with every other device in the room.
    let mut targets = query_devices(&s, &a1, b1.user()).await;
    targets.extend(query_devices(&s, &a1, a1.user()).await.into_iter().filter(|t| t.1 != a1.id()));
    assert_eq!(targets.len(), 3, "{targets:?}");
    let claims: Vec<(&str, &str, String)> =
        targets.iter().map(|t| (t.0.as_str(), t.1.as_str(), t.2.clone())).collect();
    let mut sessions = a1.open_sessions(&s, &claims).await;
    let mut group = GroupSession::new(SessionConfig::version_1());
    let room_key = room_key_event(&room, &group);
    let mut messages = json!({});
    for ((user, device, curve, ed), session) in targets.iter().zip(sessions.iter_mut()) {
        messages[user][device] = a1.olm_encrypt(session, (user, curve, ed), room_key.clone());
    }
    a1.send_to_device(&s, "m.room.encrypted", messages).await;
    let plaintext = json!({ "msgtype": "m.text", "body": "the eagle lands at noon ✓" });
    let content = megolm_encrypt(&a1, &mut group, &room, &plaintext);
    let event_id = s.send_event(&a1.session.access_token, &room, "m.room.encrypted", "enc-1", content).await;
    let event_id = event_id.ok()["event_id"].as_str().expect("event_id").to_owned();

    for (bob, since) in [&mut b1, &mut b2].into_iter().zip(bob_since.iter()) {
        let since = since["next_batch"].as_str().expect("next_batch");
        let body = sync(&s, bob, Some(since)).await;
        let received = to_device_of(&body, "m.room.encrypted");
        assert_eq!(received.len(), 1, "one to-device message for {}: {body}", bob.id());
        assert_eq!(received[0]["sender"], json!(a1.user()));
        let decrypted_key = bob.olm_decrypt(&received[0]);
        assert_eq!(decrypted_key["type"], json!("m.room_key"));
        assert_eq!(decrypted_key["recipient"], json!(bob.user()));
        // Bob's second device joined no room itself, but its user did: the room is in its sync.
        let timeline = room_events(&body, "join", &room, "timeline");
        let encrypted =
            timeline.iter().find(|e| e["event_id"] == json!(event_id)).expect("the encrypted event");
        let decrypted = megolm_decrypt(&decrypted_key, &encrypted["content"]);
        assert_eq!(decrypted["content"], plaintext, "{} decrypts the exact plaintext", bob.id());
        assert_eq!(decrypted["room_id"], json!(room));
        // Delivered exactly once: a later since no longer carries it.
        let next = body["next_batch"].as_str().expect("next_batch");
        let again = sync(&s, bob, Some(next)).await;
        assert!(to_device_of(&again, "m.room.encrypted").is_empty(), "redelivered: {again}");
    }

    // A device Bob adds later gets the session forwarded by his first device.
    let mut b3 = login(&s, "bob", "B3").await;
    b3.upload_keys(&s, 2).await;
    let b3_since = sync(&s, &b3, None).await;
    let b3_keys = query_devices(&s, &b1, b1.user()).await.into_iter().find(|t| t.1 == "B3").expect("B3 keys");
    let mut to_b3 = b1.open_sessions(&s, &[(b1.user(), "B3", b3_keys.2.clone())]).await;
    let forwarded = json!({ "type": "m.forwarded_room_key", "content": {
        "algorithm": MEGOLM, "room_id": room, "session_id": group.session_id(),
        "session_key": room_key["content"]["session_key"], "sender_key": a1.curve25519(),
        "forwarding_curve25519_key_chain": [],
    } });
    let mut session = to_b3.remove(0);
    let content = b1.olm_encrypt(&mut session, (b1.user(), &b3_keys.2, &b3_keys.3), forwarded);
    b1.send_to_device(&s, "m.room.encrypted", json!({ b1.user(): { "B3": content } })).await;
    let body = sync(&s, &b3, b3_since["next_batch"].as_str()).await;
    let received = to_device_of(&body, "m.room.encrypted");
    assert_eq!(received.len(), 1, "{body}");
    let key = b3.olm_decrypt(&received[0]);
    assert_eq!(key["type"], json!("m.forwarded_room_key"));
    let messages = s.all_messages(&b3.session.access_token, &room).await;
    let encrypted =
        messages.iter().find(|e| e["event_id"] == json!(event_id)).expect("history has the event");
    assert_eq!(megolm_decrypt(&key, &encrypted["content"])["content"], plaintext);
}

crate::per_backend!(two_users_two_devices_each_talk_encrypted);
