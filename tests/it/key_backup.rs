//! Server-side key backup: versions (create, latest, get, update, delete) and session
//! keys at the three levels, the replacement rule, etag/count and wrong versions.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, enc};

const ALGORITHM: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

fn session(index: u64, verified: bool, data: &str) -> Value {
    json!({
        "first_message_index": index, "forwarded_count": 0, "is_verified": verified,
        "session_data": { "ephemeral": data, "ciphertext": data, "mac": data },
    })
}

fn keys_path(room: Option<&str>, session: Option<&str>, version: &str) -> String {
    let mut path = format!("{V3}/room_keys/keys");
    if let Some(room) = room {
        path.push_str(&format!("/{}", enc(room)));
    }
    if let Some(session) = session {
        path.push_str(&format!("/{}", enc(session)));
    }
    format!("{path}?version={version}")
}

async fn versions_lifecycle(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let latest = format!("{V3}/room_keys/version");
    s.get(&latest, alice.token()).await.err(404, "M_NOT_FOUND");
    let body = json!({ "algorithm": ALGORITHM, "auth_data": { "public_key": "abc" } });
    let created = s.post(&latest, alice.token(), body.clone()).await.ok()["version"].clone();
    assert_eq!(created, json!("1"));
    let info = s.get(&latest, alice.token()).await.ok().clone();
    assert_eq!(info["algorithm"], json!(ALGORITHM));
    assert_eq!(info["auth_data"], json!({ "public_key": "abc" }));
    assert_eq!((info["count"].clone(), info["version"].clone()), (json!(0), json!("1")));
    assert!(info["etag"].is_string(), "{info}");
    s.get(&latest, bob.token()).await.err(404, "M_NOT_FOUND");
    let v1 = format!("{V3}/room_keys/version/1");
    s.get(&v1, bob.token()).await.err(404, "M_NOT_FOUND");
    let update = json!({ "algorithm": ALGORITHM, "auth_data": { "public_key": "def" }, "version": "1" });
    s.put(&v1, alice.token(), update).await.ok();
    assert_eq!(s.get(&v1, alice.token()).await.ok()["auth_data"]["public_key"], json!("def"));
    let other_algorithm = json!({ "algorithm": "m.other", "auth_data": {} });
    s.put(&v1, alice.token(), other_algorithm).await.err(400, "M_INVALID_PARAM");
    let wrong_version = json!({ "algorithm": ALGORITHM, "auth_data": {}, "version": "2" });
    s.put(&v1, alice.token(), wrong_version).await.err(400, "M_INVALID_PARAM");
    s.post(&latest, alice.token(), json!({ "auth_data": {} })).await.err(400, "M_BAD_JSON");
    s.post(&latest, None, body.clone()).await.err(401, "M_MISSING_TOKEN");
    s.delete(&v1, alice.token(), None).await.ok();
    s.delete(&v1, alice.token(), None).await.err(404, "M_NOT_FOUND");
    s.get(&latest, alice.token()).await.err(404, "M_NOT_FOUND");
    s.get(&format!("{V3}/room_keys/version/abc"), alice.token()).await.err(404, "M_NOT_FOUND");
    assert_eq!(s.post(&latest, alice.token(), body).await.ok()["version"], json!("2"), "never reused");
}

async fn keys_at_three_levels(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let body = json!({ "algorithm": ALGORITHM, "auth_data": {} });
    let latest = format!("{V3}/room_keys/version");
    s.post(&latest, alice.token(), body.clone()).await.ok();
    let (room, other) = ("!room:localhost", "!other:localhost");
    let put = s.put(&keys_path(Some(room), Some("s1"), "1"), alice.token(), session(5, false, "first")).await;
    assert_eq!(put.ok()["count"], json!(1));
    let etag = put.json["etag"].clone();
    let room_body =
        json!({ "sessions": { "s2": session(0, false, "two"), "s1": session(9, false, "worse") } });
    let put = s.put(&keys_path(Some(room), None, "1"), alice.token(), room_body).await;
    assert_eq!(put.ok()["count"], json!(2));
    assert_ne!(put.json["etag"], etag);
    let all_body = json!({ "rooms": { other: { "sessions": { "s1": session(0, true, "other") } } } });
    assert_eq!(s.put(&keys_path(None, None, "1"), alice.token(), all_body).await.ok()["count"], json!(3));
    // The worse key did not replace; a verified one does.
    let one = s.get(&keys_path(Some(room), Some("s1"), "1"), alice.token()).await.ok().clone();
    assert_eq!(one["session_data"]["ciphertext"], json!("first"), "{one}");
    s.put(&keys_path(Some(room), Some("s1"), "1"), alice.token(), session(7, true, "verified")).await.ok();
    let one = s.get(&keys_path(Some(room), Some("s1"), "1"), alice.token()).await.ok().clone();
    assert_eq!(one, session(7, true, "verified"), "round-trips exactly");
    let room_keys = s.get(&keys_path(Some(room), None, "1"), alice.token()).await.ok().clone();
    assert_eq!(room_keys["sessions"].as_object().map(|o| o.len()), Some(2), "{room_keys}");
    let all = s.get(&keys_path(None, None, "1"), alice.token()).await.ok().clone();
    assert_eq!(all["rooms"][other]["sessions"]["s1"], session(0, true, "other"), "{all}");
    assert_eq!(s.get(&latest, alice.token()).await.ok()["count"], json!(3));
    s.get(&keys_path(Some(room), Some("nope"), "1"), alice.token()).await.err(404, "M_NOT_FOUND");
    s.get(&keys_path(None, None, "9"), alice.token()).await.err(404, "M_NOT_FOUND");

    // Only the current version takes keys.
    s.post(&latest, alice.token(), body).await.ok();
    let stale = s.put(&keys_path(Some(room), Some("s3"), "1"), alice.token(), session(0, false, "x")).await;
    assert_eq!(stale.err(403, "M_WRONG_ROOM_KEYS_VERSION")["current_version"], json!("2"));
    let bad = s.put(&keys_path(Some(room), Some("s3"), "2"), alice.token(), json!([1])).await;
    bad.err_one_of(&[(400, "M_BAD_JSON"), (400, "M_NOT_JSON")]);

    let deleted = s.delete(&keys_path(Some(room), Some("s1"), "1"), alice.token(), None).await;
    assert_eq!(deleted.ok()["count"], json!(2));
    assert_eq!(
        s.delete(&keys_path(Some(room), None, "1"), alice.token(), None).await.ok()["count"],
        json!(1)
    );
    assert_eq!(s.delete(&keys_path(None, None, "1"), alice.token(), None).await.ok()["count"], json!(0));
    assert_eq!(s.get(&keys_path(None, None, "1"), alice.token()).await.ok()["rooms"], json!({}));
}

crate::per_backend!(versions_lifecycle, keys_at_three_levels);
