//! Discovery: /versions, .well-known, capabilities and the server key endpoint.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

async fn versions_lists_recent_spec_versions_without_auth(b: Backend) {
    let s = Server::start_default(b).await;
    let resp = s.get("/_matrix/client/versions", None).await;
    let body = resp.ok();
    let versions = body["versions"].as_array().expect("versions array");
    assert!(versions.iter().all(Value::is_string), "versions: {body}");
    let newest_minor = versions
        .iter()
        .filter_map(|v| v.as_str()?.strip_prefix("v1.")?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    assert!(newest_minor >= 11, "no recent v1.x version advertised: {body}");
    if let Some(unstable) = body.get("unstable_features") {
        assert!(unstable.is_object(), "unstable_features must be an object: {body}");
    }
    // A token, even an invalid one, must not break this endpoint.
    let resp = s.get("/_matrix/client/versions", Some("garbage")).await;
    assert!(resp.status == 200 || resp.status == 401, "versions with bad token -> {}", resp.status);
}

async fn well_known_client_is_404_without_public_baseurl(b: Backend) {
    let s = Server::start_default(b).await;
    let resp = s.get("/.well-known/matrix/client", None).await;
    assert_eq!(resp.status, 404, "{}", resp.text);
}

async fn well_known_client_advertises_public_baseurl(b: Backend) {
    let s = Server::builder(b).set("server.public_baseurl", "https://matrix.example.org/").start().await;
    let resp = s.get("/.well-known/matrix/client", None).await;
    let body = resp.ok();
    let base = body["m.homeserver"]["base_url"].as_str().expect("m.homeserver.base_url");
    assert_eq!(base.trim_end_matches('/'), "https://matrix.example.org", "{body}");
    let acao = resp.header("access-control-allow-origin");
    assert_eq!(acao.as_deref(), Some("*"), "well-known must be CORS-readable");
}

async fn well_known_server_is_404_without_delegate(b: Backend) {
    let s = Server::start_default(b).await;
    let resp = s.get("/.well-known/matrix/server", None).await;
    assert_eq!(resp.status, 404, "{}", resp.text);
}

async fn well_known_server_advertises_delegate(b: Backend) {
    let s = Server::builder(b).set("server.federation_delegate", "fed.example.org:443").start().await;
    let body = s.get("/.well-known/matrix/server", None).await.ok().clone();
    assert_eq!(body, json!({ "m.server": "fed.example.org:443" }));
}

async fn capabilities_require_auth_and_describe_the_server(b: Backend) {
    let s = Server::start_default(b).await;
    s.get(&format!("{V3}/capabilities"), None).await.err(401, "M_MISSING_TOKEN");
    s.get(&format!("{V3}/capabilities"), Some("nope")).await.err(401, "M_UNKNOWN_TOKEN");
    let alice = s.register("alice", "pw").await;
    let resp = s.get(&format!("{V3}/capabilities"), alice.token()).await;
    let caps = &resp.ok()["capabilities"];
    assert_eq!(caps["m.change_password"]["enabled"], json!(true), "{caps}");
    let rv = &caps["m.room_versions"];
    assert_eq!(rv["default"], json!("12"), "{caps}");
    for v in ["10", "11", "12"] {
        assert_eq!(rv["available"][v], json!("stable"), "room version {v}: {caps}");
    }
    assert_eq!(caps["m.set_displayname"]["enabled"], json!(true), "{caps}");
    assert_eq!(caps["m.set_avatar_url"]["enabled"], json!(true), "{caps}");
    assert_eq!(caps["m.3pid_changes"]["enabled"], json!(false), "{caps}");
}

async fn get_server_keys(s: &Server) -> Value {
    s.get("/_matrix/key/v2/server", None).await.ok().clone()
}

fn key_ids(keys: &Value) -> Vec<String> {
    keys["verify_keys"].as_object().expect("verify_keys object").keys().cloned().collect()
}

async fn key_server_publishes_a_signed_ed25519_key(b: Backend) {
    let s = Server::start_default(b).await;
    let keys = get_server_keys(&s).await;
    assert_eq!(keys["server_name"], json!("localhost"), "{keys}");
    let ids = key_ids(&keys);
    assert!(!ids.is_empty(), "no verify keys: {keys}");
    for id in &ids {
        assert!(id.starts_with("ed25519:"), "key id {id}");
        let key = keys["verify_keys"][id]["key"].as_str().expect("key string");
        assert!(!key.contains('=') && key.len() == 43, "unpadded base64 ed25519 key expected: {key}");
    }
    let until = keys["valid_until_ts"].as_i64().expect("valid_until_ts integer");
    assert!(until > now_ms(), "valid_until_ts {until} is not in the future");
    assert!(keys["old_verify_keys"].is_object(), "old_verify_keys must be an object: {keys}");
    let sigs = keys["signatures"]["localhost"].as_object().expect("signatures.localhost");
    assert!(ids.iter().any(|id| sigs.get(id).is_some_and(Value::is_string)), "not signed by its key: {keys}");
    for id in ids.iter().filter(|id| sigs.contains_key(*id)) {
        let key = keys["verify_keys"][id]["key"].as_str().expect("key");
        let sig = sigs[id].as_str().expect("signature string");
        assert!(verify_self_signature(&keys, key, sig), "signature by {id} does not verify: {keys}");
    }
}

/// Matrix canonical JSON: sorted keys, no insignificant whitespace.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn verify_self_signature(keys: &Value, key_b64: &str, sig_b64: &str) -> bool {
    use base64::Engine;
    use ed25519_dalek::{Signature, VerifyingKey};
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let (Ok(key), Ok(sig)) = (b64.decode(key_b64), b64.decode(sig_b64)) else { return false };
    let (Ok(key), Ok(sig)) = (<[u8; 32]>::try_from(key), <[u8; 64]>::try_from(sig)) else { return false };
    let Ok(key) = VerifyingKey::from_bytes(&key) else { return false };
    let mut unsigned = keys.clone();
    if let Some(obj) = unsigned.as_object_mut() {
        obj.remove("signatures");
        obj.remove("unsigned");
    }
    key.verify_strict(canonical(&unsigned).as_bytes(), &Signature::from_bytes(&sig)).is_ok()
}

async fn key_survives_restart(b: Backend) {
    let mut s = Server::start_default(b).await;
    let before = get_server_keys(&s).await;
    s.stop();
    s.start().await;
    let after = get_server_keys(&s).await;
    assert_eq!(key_ids(&before), key_ids(&after));
    assert_eq!(before["verify_keys"], after["verify_keys"]);
}

/// The verifier above, checked on a document signed here.
#[test]
fn canonical_json_and_signature_check_agree() {
    use base64::Engine;
    use ed25519_dalek::{Signer, SigningKey};
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let key = SigningKey::from_bytes(&[7; 32]);
    let mut doc = json!({ "b": 1, "a": { "d": [1, "x"], "c": null }, "unsigned": { "age": 5 } });
    let mut to_sign = doc.clone();
    to_sign.as_object_mut().expect("object").remove("unsigned");
    assert_eq!(canonical(&to_sign), r#"{"a":{"c":null,"d":[1,"x"]},"b":1}"#);
    let sig = b64.encode(key.sign(canonical(&to_sign).as_bytes()).to_bytes());
    let public = b64.encode(key.verifying_key().to_bytes());
    doc["signatures"] = json!({ "localhost": { "ed25519:t": sig.clone() } });
    assert!(verify_self_signature(&doc, &public, &sig));
    doc["b"] = json!(2);
    assert!(!verify_self_signature(&doc, &public, &sig));
}

crate::per_backend!(
    versions_lists_recent_spec_versions_without_auth,
    well_known_client_is_404_without_public_baseurl,
    well_known_client_advertises_public_baseurl,
    well_known_server_is_404_without_delegate,
    well_known_server_advertises_delegate,
    capabilities_require_auth_and_describe_the_server,
    key_server_publishes_a_signed_ed25519_key,
    key_survives_restart,
);
