//! `/keys/upload`, `/keys/query`, `/keys/claim`, `/keys/changes`: happy paths, bad input
//! (each refused with the spec's error and nothing stored), concurrent claims, device
//! lists in `/sync`, and device deletion taking its keys along.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::e2ee_client::Device;
use crate::harness::{Backend, Server, Session, V3, enc, password_auth};

const UPLOAD: &str = "/_matrix/client/v3/keys/upload";

async fn device(s: &Server, user: &str, device: &str) -> Device {
    Device::new(s.register_with(json!({ "username": user, "password": "pw", "device_id": device })).await)
}

async fn login(s: &Server, user: &str, device: &str) -> Device {
    let body = json!({
        "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user },
        "password": "pw", "device_id": device, "initial_device_display_name": format!("{device} name"),
    });
    Device::new(Session::from_json(s.login_body(body).await.ok()))
}

async fn query(s: &Server, asker: &Device, wanted: Value) -> Value {
    s.post(&format!("{V3}/keys/query"), asker.token(), json!({ "device_keys": wanted })).await.ok().clone()
}

async fn claim(s: &Server, asker: &Device, wanted: Value) -> Value {
    s.post(&format!("{V3}/keys/claim"), asker.token(), json!({ "one_time_keys": wanted })).await.ok().clone()
}

async fn upload_and_query(b: Backend) {
    let s = Server::start_default(b).await;
    let mut alice = device(&s, "alice", "ADEV").await;
    let bob = device(&s, "bob", "BDEV").await;
    let fallback = alice.fallback_key();
    let body = json!({
        "device_keys": alice.device_keys(), "one_time_keys": alice.one_time_keys(3), "fallback_keys": fallback,
    });
    let counts = s.post(UPLOAD, alice.token(), body).await.ok().clone();
    assert_eq!(counts["one_time_key_counts"]["signed_curve25519"], json!(3), "{counts}");
    // Uploading nothing reports the counts; uploading the same device keys is harmless.
    let again = s.post(UPLOAD, alice.token(), json!({ "device_keys": alice.device_keys() })).await;
    assert_eq!(again.ok()["one_time_key_counts"]["signed_curve25519"], json!(3));

    let all = query(&s, &bob, json!({ alice.user(): [], "@nobody:localhost": [] })).await;
    let keys = &all["device_keys"][alice.user()]["ADEV"];
    assert_eq!(keys["keys"]["ed25519:ADEV"], json!(alice.ed25519()), "{all}");
    assert_eq!(keys["signatures"], alice.device_keys()["signatures"]);
    assert_eq!(all["device_keys"]["@nobody:localhost"], json!({}), "unknown users have no devices: {all}");
    let one = query(&s, &bob, json!({ alice.user(): ["ADEV", "NOPE"] })).await;
    assert_eq!(one["device_keys"][alice.user()].as_object().map(|o| o.len()), Some(1), "{one}");
    let remote = query(&s, &bob, json!({ "@carol:elsewhere.example": [] })).await;
    assert!(remote["failures"]["elsewhere.example"].is_object(), "{remote}");
    s.post(&format!("{V3}/keys/query"), None, json!({ "device_keys": {} })).await.err(401, "M_MISSING_TOKEN");

    // The sync extensions show the counts and the unused fallback key.
    let sync = s.sync(&alice.session.access_token, None, "").await;
    assert_eq!(sync["device_one_time_keys_count"]["signed_curve25519"], json!(3), "{sync}");
    assert_eq!(sync["device_unused_fallback_key_types"], json!(["signed_curve25519"]), "{sync}");
}

/// Every refused upload leaves the store as it was: no device keys, no one-time keys.
async fn bad_uploads_store_nothing(b: Backend) {
    let s = Server::start_default(b).await;
    let mut alice = device(&s, "alice", "ADEV").await;
    let mallory = Device::new(alice.session.clone());
    let bob = device(&s, "bob", "BDEV").await;

    let mut forged = alice.device_keys();
    forged["keys"]["ed25519:ADEV"] = json!(mallory.ed25519());
    s.post(UPLOAD, alice.token(), json!({ "device_keys": forged })).await.err(400, "M_INVALID_SIGNATURE");
    let mut tampered = alice.device_keys();
    tampered["algorithms"] = json!(["m.olm.v1.curve25519-aes-sha2"]);
    s.post(UPLOAD, alice.token(), json!({ "device_keys": tampered })).await.err(400, "M_INVALID_SIGNATURE");
    let mut other_user = bob.device_keys();
    other_user["device_id"] = json!("ADEV");
    s.post(UPLOAD, alice.token(), json!({ "device_keys": other_user })).await.err(400, "M_INVALID_PARAM");
    s.post(UPLOAD, alice.token(), json!({ "device_keys": bob.device_keys() }))
        .await
        .err(400, "M_INVALID_PARAM");
    let mut bad_curve = json!({
        "user_id": alice.user(), "device_id": "ADEV", "algorithms": [],
        "keys": { "curve25519:ADEV": "not*base64", "ed25519:ADEV": alice.ed25519() },
    });
    alice.sign(&mut bad_curve);
    s.post(UPLOAD, alice.token(), json!({ "device_keys": bad_curve })).await.err(400, "M_INVALID_PARAM");
    let mut short_curve = bad_curve.clone();
    short_curve["keys"]["curve25519:ADEV"] = json!("AAAA");
    alice.sign(&mut short_curve);
    s.post(UPLOAD, alice.token(), json!({ "device_keys": short_curve })).await.err(400, "M_INVALID_PARAM");
    s.post(UPLOAD, alice.token(), json!({ "device_keys": "nope" })).await.err(400, "M_BAD_JSON");
    // A forged one-time key in an otherwise valid upload: the device keys are not stored either.
    let mut otks = alice.one_time_keys(2);
    let forged_otk =
        json!({ "key": alice.curve25519(), "signatures": { alice.user(): { "ed25519:ADEV": "AAAA" } } });
    otks["signed_curve25519:FORGED"] = forged_otk;
    let upload = json!({ "device_keys": alice.device_keys(), "one_time_keys": otks });
    s.post(UPLOAD, alice.token(), upload).await.err(400, "M_INVALID_SIGNATURE");
    let oversize: serde_json::Map<String, Value> =
        (0..1001).map(|i| (format!("curve25519:K{i}"), json!(alice.curve25519()))).collect();
    s.post(UPLOAD, alice.token(), json!({ "one_time_keys": oversize })).await.err(413, "M_TOO_LARGE");
    let big_key = json!({ "key": alice.curve25519(), "pad": "x".repeat(10_000) });
    let big = json!({ "one_time_keys": { "signed_curve25519:BIG": big_key } });
    s.post(UPLOAD, alice.token(), big).await.err(413, "M_TOO_LARGE");
    s.post(UPLOAD, None, json!({ "device_keys": alice.device_keys() })).await.err(401, "M_MISSING_TOKEN");

    let found = query(&s, &bob, json!({ alice.user(): [] })).await;
    assert_eq!(found["device_keys"][alice.user()], json!({}), "nothing was stored: {found}");
    assert_eq!(
        claim(&s, &bob, json!({ alice.user(): { "ADEV": "signed_curve25519" } })).await["one_time_keys"],
        json!({})
    );

    // Once the device has keys, it can never switch to other identity keys.
    s.post(UPLOAD, alice.token(), json!({ "device_keys": alice.device_keys() })).await.ok();
    let impostor = Device::new(alice.session.clone());
    s.post(UPLOAD, alice.token(), json!({ "device_keys": impostor.device_keys() }))
        .await
        .err(400, "M_INVALID_PARAM");
    let found = query(&s, &bob, json!({ alice.user(): [] })).await;
    assert_eq!(found["device_keys"][alice.user()]["ADEV"]["keys"]["ed25519:ADEV"], json!(alice.ed25519()));
    // A one-time key ID reused with other content is refused.
    let mut first = json!({ "key": alice.curve25519() });
    alice.sign(&mut first);
    s.post(UPLOAD, alice.token(), json!({ "one_time_keys": { "signed_curve25519:X": first } })).await.ok();
    let mut second = json!({ "key": impostor.curve25519() });
    alice.sign(&mut second);
    s.post(UPLOAD, alice.token(), json!({ "one_time_keys": { "signed_curve25519:X": second } }))
        .await
        .err(400, "M_INVALID_PARAM");
}

async fn claims_fall_back_and_skip_unknown_devices(b: Backend) {
    let s = Server::start_default(b).await;
    let mut alice = device(&s, "alice", "ADEV").await;
    let bob = device(&s, "bob", "BDEV").await;
    let fallback = alice.fallback_key();
    let body = json!({ "device_keys": alice.device_keys(), "one_time_keys": alice.one_time_keys(2), "fallback_keys": fallback });
    s.post(UPLOAD, alice.token(), body).await.ok();
    let wanted = json!({ alice.user(): { "ADEV": "signed_curve25519", "NOPE": "signed_curve25519" } });
    let mut handed_out = HashSet::new();
    for _ in 0..2 {
        let claimed = claim(&s, &bob, wanted.clone()).await;
        let keys = claimed["one_time_keys"][alice.user()].as_object().expect("claimed").clone();
        assert_eq!(keys.len(), 1, "unknown devices are left out: {claimed}");
        let (id, key) = keys["ADEV"].as_object().and_then(|k| k.iter().next()).expect("a key");
        assert!(key.get("fallback").is_none(), "a one-time key first: {claimed}");
        assert!(handed_out.insert(id.clone()), "handed out twice: {id}");
    }
    let sync = s.sync(&alice.session.access_token, None, "").await;
    assert_eq!(sync["device_one_time_keys_count"]["signed_curve25519"], json!(0), "{sync}");
    for _ in 0..2 {
        let claimed = claim(&s, &bob, wanted.clone()).await;
        let keys = &claimed["one_time_keys"][alice.user()]["ADEV"];
        let key = keys.as_object().and_then(|k| k.values().next()).expect("the fallback key");
        assert_eq!(key["fallback"], json!(true), "{claimed}");
    }
    let sync = s.sync(&alice.session.access_token, None, "").await;
    assert_eq!(sync["device_unused_fallback_key_types"], json!([]), "the fallback key is used: {sync}");
    let remote = claim(&s, &bob, json!({ "@carol:elsewhere.example": { "D": "signed_curve25519" } })).await;
    assert!(remote["failures"]["elsewhere.example"].is_object(), "{remote}");
    s.post(&format!("{V3}/keys/claim"), None, json!({ "one_time_keys": {} }))
        .await
        .err(401, "M_MISSING_TOKEN");
}

async fn fifty_parallel_claims_hand_out_ten_keys_once(b: Backend) {
    let s = std::sync::Arc::new(Server::start_default(b).await);
    let mut alice = device(&s, "alice", "ADEV").await;
    alice.upload_keys(&s, 10).await;
    let bob = device(&s, "bob", "BDEV").await;
    let token = bob.session.access_token.clone();
    let wanted = json!({ "one_time_keys": { alice.user(): { "ADEV": "signed_curve25519" } } });
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (s, token, wanted, user) =
                (s.clone(), token.clone(), wanted.clone(), alice.user().to_owned());
            tokio::spawn(async move {
                let claimed = s.post(&format!("{V3}/keys/claim"), Some(&token), wanted).await.ok().clone();
                claimed["one_time_keys"][user.as_str()]["ADEV"]
                    .as_object()
                    .and_then(|k| k.keys().next().cloned())
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        if let Some(id) = task.await.expect("task") {
            assert!(seen.insert(id.clone()), "{id} handed out twice");
        }
    }
    assert_eq!(seen.len(), 10, "every key handed out exactly once");
}

async fn device_list_changes_reach_room_members(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = device(&s, "alice", "ADEV").await;
    let bob = device(&s, "bob", "BDEV").await;
    let carol = device(&s, "carol", "CDEV").await;
    let room = s.create_room(&alice.session.access_token, json!({ "preset": "public_chat" })).await;
    s.join(&bob.session.access_token, &room).await;
    let bob_token = bob.session.access_token.clone();
    let since = s.sync(&bob_token, None, "").await["next_batch"].as_str().expect("since").to_owned();
    let carol_since =
        s.sync(&carol.session.access_token, None, "").await["next_batch"].as_str().expect("c").to_owned();
    // Bob's long-poll wakes when Alice's new device publishes its keys.
    let waiting = {
        let (s2, since) = (s.base.clone(), since.clone());
        let token = bob_token.clone();
        tokio::spawn(async move {
            let url = format!("{s2}{V3}/sync?since={}&timeout=20000", enc(&since));
            let client = reqwest::Client::new();
            let started = std::time::Instant::now();
            let body: Value =
                client.get(url).bearer_auth(token).send().await.expect("sync").json().await.expect("json");
            (body, started.elapsed())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut laptop = login(&s, "alice", "LAPTOP").await;
    laptop.upload_keys(&s, 1).await;
    let (body, waited) = waiting.await.expect("sync task");
    assert!(waited < std::time::Duration::from_secs(15), "the long-poll was not woken");
    assert_eq!(body["device_lists"]["changed"], json!([alice.user()]), "{body}");
    let carol_body = s.sync(&carol.session.access_token, Some(&carol_since), "").await;
    assert_eq!(carol_body["device_lists"]["changed"], json!([]), "no shared room: {carol_body}");
    let to = body["next_batch"].as_str().expect("next_batch");
    let changes = s.get(&format!("{V3}/keys/changes?from={}&to={}", enc(&since), enc(to)), bob.token()).await;
    assert_eq!(changes.ok()["changed"], json!([alice.user()]));
    s.get(&format!("{V3}/keys/changes?from=garbage&to={}", enc(to)), bob.token())
        .await
        .err(400, "M_INVALID_PARAM");

    // Bob leaves: he no longer shares a room with Alice.
    s.leave(&bob_token, &room).await;
    let bob_after = s.sync(&bob_token, Some(to), "").await;
    assert_eq!(bob_after["device_lists"]["left"], json!([alice.user()]), "{bob_after}");
}

async fn memberships_drive_device_lists(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = device(&s, "alice", "ADEV").await;
    let bob = device(&s, "bob", "BDEV").await;
    let room = s.create_room(&alice.session.access_token, json!({ "preset": "public_chat" })).await;
    let since =
        s.sync(&alice.session.access_token, None, "").await["next_batch"].as_str().expect("s").to_owned();
    s.join(&bob.session.access_token, &room).await;
    let body = s.sync(&alice.session.access_token, Some(&since), "").await;
    assert_eq!(body["device_lists"]["changed"], json!([bob.user()]), "a new member: {body}");
    let since = body["next_batch"].as_str().expect("next");
    s.leave(&bob.session.access_token, &room).await;
    let body = s.sync(&alice.session.access_token, Some(since), "").await;
    assert_eq!(body["device_lists"]["left"], json!([bob.user()]), "no shared room any more: {body}");
    assert_eq!(body["device_lists"]["changed"], json!([]), "{body}");
}

async fn deleting_a_device_deletes_its_keys(b: Backend) {
    let s = Server::start_default(b).await;
    let mut alice = device(&s, "alice", "ADEV").await;
    let mut laptop = login(&s, "alice", "LAPTOP").await;
    alice.upload_keys(&s, 1).await;
    laptop.upload_keys(&s, 3).await;
    let bob = device(&s, "bob", "BDEV").await;
    let room = s.create_room(&alice.session.access_token, json!({ "preset": "public_chat" })).await;
    s.join(&bob.session.access_token, &room).await;
    let since =
        s.sync(&bob.session.access_token, None, "").await["next_batch"].as_str().expect("s").to_owned();
    laptop.send_to_device(&s, "m.test", json!({ alice.user(): { "LAPTOP": { "note": "to self" } } })).await;

    let path = format!("{V3}/devices/LAPTOP");
    let session = s.delete(&path, alice.token(), Some(json!({}))).await.uia();
    s.delete(&path, alice.token(), Some(json!({ "auth": password_auth("alice", "pw", &session) })))
        .await
        .ok();
    let found = query(&s, &bob, json!({ alice.user(): [] })).await;
    let devices: Vec<&String> =
        found["device_keys"][alice.user()].as_object().expect("devices").keys().collect();
    assert_eq!(devices, ["ADEV"], "{found}");
    assert_eq!(
        claim(&s, &bob, json!({ alice.user(): { "LAPTOP": "signed_curve25519" } })).await["one_time_keys"],
        json!({})
    );
    let body = s.sync(&bob.session.access_token, Some(&since), "").await;
    assert_eq!(body["device_lists"]["changed"], json!([alice.user()]), "{body}");
    // A new login reusing the ID starts with an empty queue and no keys.
    let again = login(&s, "alice", "LAPTOP").await;
    let body = s.sync(&again.session.access_token, None, "").await;
    assert_eq!(body["to_device"]["events"], json!([]), "{body}");
    // Logging out does the same.
    let sync = s.sync(&bob.session.access_token, None, "").await;
    let since = sync["next_batch"].as_str().expect("s");
    s.post(&format!("{V3}/logout"), alice.token(), json!({})).await.ok();
    let found = query(&s, &bob, json!({ alice.user(): [] })).await;
    assert_eq!(found["device_keys"][alice.user()], json!({}), "{found}");
    let body = s.sync(&bob.session.access_token, Some(since), "").await;
    assert_eq!(body["device_lists"]["changed"], json!([alice.user()]), "{body}");
}

crate::per_backend!(
    upload_and_query,
    bad_uploads_store_nothing,
    claims_fall_back_and_skip_unknown_devices,
    fifty_parallel_claims_hand_out_ten_keys_once,
    device_list_changes_reach_room_members,
    memberships_drive_device_lists,
    deleting_a_device_deletes_its_keys,
);
