//! Cross-signing: `/keys/device_signing/upload` (first upload without UIA, replacement
//! behind it) and `/keys/signatures/upload` (each signature verified; per-key failures).

use serde_json::{Value, json};
use vodozemac::olm::Account;

use crate::e2ee_client::{Device, sign_with};
use crate::harness::{Backend, Server, V3, password_auth};

const SIGNING_UPLOAD: &str = "/_matrix/client/v3/keys/device_signing/upload";
const SIGNATURES_UPLOAD: &str = "/_matrix/client/v3/keys/signatures/upload";

/// A cross-signing key pair (vodozemac accounts are handy ed25519 key pairs).
struct Key(Account);

impl Key {
    fn new() -> Key {
        Key(Account::new())
    }
    fn public(&self) -> String {
        self.0.ed25519_key().to_base64()
    }
    fn id(&self) -> String {
        format!("ed25519:{}", self.public())
    }
    fn sign(&self, value: &mut Value, user: &str) {
        sign_with(value, user, &self.id(), |bytes| self.0.sign(bytes).to_base64());
    }
    /// The key's JSON for `user` with `usage`, signed by `signer` when given.
    fn json(&self, user: &str, usage: &str, signer: Option<&Key>) -> Value {
        let mut value = json!({ "user_id": user, "usage": [usage], "keys": { self.id(): self.public() } });
        if let Some(signer) = signer {
            signer.sign(&mut value, user);
        }
        value
    }
}

/// Master, self-signing and user-signing keys of `user`, properly signed.
fn key_set(user: &str) -> (Key, Key, Key, Value) {
    let (master, ssk, usk) = (Key::new(), Key::new(), Key::new());
    let body = json!({
        "master_key": master.json(user, "master", None),
        "self_signing_key": ssk.json(user, "self_signing", Some(&master)),
        "user_signing_key": usk.json(user, "user_signing", Some(&master)),
    });
    (master, ssk, usk, body)
}

async fn query(s: &Server, asker: &Device, user: &str) -> Value {
    s.post(&format!("{V3}/keys/query"), asker.token(), json!({ "device_keys": { user: [] } }))
        .await
        .ok()
        .clone()
}

async fn signing_keys_upload_and_replace(b: Backend) {
    let s = Server::start_default(b).await;
    let mut alice = Device::new(
        s.register_with(json!({ "username": "alice", "password": "pw", "device_id": "ADEV" })).await,
    );
    let bob = Device::new(
        s.register_with(json!({ "username": "bob", "password": "pw", "device_id": "BDEV" })).await,
    );
    alice.upload_keys(&s, 1).await;
    let (master, _ssk, _usk, body) = key_set(alice.user());
    s.post(SIGNING_UPLOAD, alice.token(), body.clone()).await.ok();
    s.post(SIGNING_UPLOAD, alice.token(), body.clone()).await.ok();
    let seen_by_bob = query(&s, &bob, alice.user()).await;
    assert_eq!(
        seen_by_bob["master_keys"][alice.user()]["keys"][master.id()],
        json!(master.public()),
        "{seen_by_bob}"
    );
    assert!(seen_by_bob["self_signing_keys"][alice.user()].is_object(), "{seen_by_bob}");
    assert!(
        seen_by_bob["user_signing_keys"][alice.user()].is_null(),
        "only the owner sees it: {seen_by_bob}"
    );
    assert!(query(&s, &alice, alice.user()).await["user_signing_keys"][alice.user()].is_object());

    // Bad keys are refused and change nothing.
    let (_, _, _, mut forged) = key_set(alice.user());
    forged["self_signing_key"] = Key::new().json(alice.user(), "self_signing", Some(&Key::new()));
    forged.as_object_mut().expect("object").remove("master_key");
    s.post(SIGNING_UPLOAD, alice.token(), forged).await.err(400, "M_INVALID_SIGNATURE");
    let other_user = json!({ "master_key": Key::new().json(bob.user(), "master", None) });
    s.post(SIGNING_UPLOAD, alice.token(), other_user).await.err(400, "M_INVALID_PARAM");
    let bob_ssk_alone = json!({ "self_signing_key": Key::new().json(bob.user(), "self_signing", None) });
    s.post(SIGNING_UPLOAD, bob.token(), bob_ssk_alone).await.err(400, "M_INVALID_PARAM");
    assert!(query(&s, &alice, bob.user()).await["self_signing_keys"][bob.user()].is_null());
    s.post(SIGNING_UPLOAD, None, json!({})).await.err(401, "M_MISSING_TOKEN");

    // Replacing the keys needs the password.
    let (new_master, _, _, replacement) = key_set(alice.user());
    let session = s.post(SIGNING_UPLOAD, alice.token(), replacement.clone()).await.uia();
    let mut with_auth = replacement.clone();
    with_auth["auth"] = password_auth("alice", "wrong", &session);
    s.post(SIGNING_UPLOAD, alice.token(), with_auth).await.err(401, "M_FORBIDDEN");
    assert_eq!(
        query(&s, &bob, alice.user()).await["master_keys"][alice.user()]["keys"][master.id()],
        json!(master.public())
    );
    let mut with_auth = replacement;
    with_auth["auth"] = password_auth("alice", "pw", &session);
    s.post(SIGNING_UPLOAD, alice.token(), with_auth).await.ok();
    let now = query(&s, &bob, alice.user()).await;
    assert_eq!(
        now["master_keys"][alice.user()]["keys"][new_master.id()],
        json!(new_master.public()),
        "{now}"
    );
}

async fn signatures_upload_verifies_each(b: Backend) {
    let s = Server::start_default(b).await;
    let mut alice = Device::new(
        s.register_with(json!({ "username": "alice", "password": "pw", "device_id": "ADEV" })).await,
    );
    let mut bob = Device::new(
        s.register_with(json!({ "username": "bob", "password": "pw", "device_id": "BDEV" })).await,
    );
    alice.upload_keys(&s, 1).await;
    bob.upload_keys(&s, 1).await;
    let (alice_master, alice_ssk, _, body) = key_set(alice.user());
    s.post(SIGNING_UPLOAD, alice.token(), body).await.ok();
    let (_, _, bob_usk, body) = key_set(bob.user());
    s.post(SIGNING_UPLOAD, bob.token(), body).await.ok();

    // Alice's self-signing key signs her device; a forged signature is a per-key failure.
    let mut device_keys = alice.device_keys();
    alice_ssk.sign(&mut device_keys, alice.user());
    let mut forged_master = alice_master.json(alice.user(), "master", None);
    Key::new().sign(&mut forged_master, alice.user());
    forged_master["signatures"][alice.user()]["ed25519:ADEV"] = json!("AAAA");
    let upload = json!({ alice.user(): { "ADEV": device_keys, alice_master.public(): forged_master } });
    let answer = s.post(SIGNATURES_UPLOAD, alice.token(), upload).await.ok().clone();
    assert_eq!(
        answer["failures"][alice.user()][alice_master.public()]["errcode"],
        json!("M_INVALID_SIGNATURE"),
        "{answer}"
    );
    assert!(answer["failures"][alice.user()]["ADEV"].is_null(), "{answer}");
    let seen = query(&s, &bob, alice.user()).await;
    assert!(
        seen["device_keys"][alice.user()]["ADEV"]["signatures"][alice.user()][alice_ssk.id()].is_string(),
        "{seen}"
    );

    // Alice's device signs her master key.
    let mut master_json = alice_master.json(alice.user(), "master", None);
    alice.sign(&mut master_json);
    let answer = s
        .post(
            SIGNATURES_UPLOAD,
            alice.token(),
            json!({ alice.user(): { alice_master.public(): master_json } }),
        )
        .await;
    assert_eq!(answer.ok()["failures"], json!({}), "{}", answer.text);

    // Bob's user-signing key signs Alice's master key: Bob sees it.
    let mut alice_master_for_bob = alice_master.json(alice.user(), "master", None);
    bob_usk.sign(&mut alice_master_for_bob, bob.user());
    let answer = s
        .post(
            SIGNATURES_UPLOAD,
            bob.token(),
            json!({ alice.user(): { alice_master.public(): alice_master_for_bob } }),
        )
        .await;
    assert_eq!(answer.ok()["failures"], json!({}), "{}", answer.text);
    let seen = query(&s, &bob, alice.user()).await;
    assert!(seen["master_keys"][alice.user()]["signatures"][bob.user()][bob_usk.id()].is_string(), "{seen}");
    assert!(
        seen["master_keys"][alice.user()]["signatures"][alice.user()]["ed25519:ADEV"].is_string(),
        "{seen}"
    );
    // Bob cannot sign Alice's device with his keys.
    let mut device_keys = alice.device_keys();
    bob_usk.sign(&mut device_keys, bob.user());
    let answer =
        s.post(SIGNATURES_UPLOAD, bob.token(), json!({ alice.user(): { "ADEV": device_keys } })).await;
    assert!(answer.ok()["failures"][alice.user()]["ADEV"]["errcode"].is_string(), "{}", answer.text);
}

crate::per_backend!(signing_keys_upload_and_replace, signatures_upload_verifies_each);
