//! A minimal E2EE client on vodozemac: a device's Olm account, its signed device and
//! one-time keys, Olm-encrypted to-device messages and Megolm room messages, as real
//! clients build them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde_json::{Value, json};
use vodozemac::Curve25519PublicKey;
use vodozemac::megolm::{GroupSession, InboundGroupSession, MegolmMessage, SessionKey};
use vodozemac::olm::{Account, OlmMessage, Session as OlmSession, SessionConfig};

use crate::harness::{Server, Session, V3, enc, next_txn};

pub const OLM: &str = "m.olm.v1.curve25519-aes-sha2";
pub const MEGOLM: &str = "m.megolm.v1.aes-sha2";

/// One logged-in device with its own Olm account.
pub struct Device {
    pub session: Session,
    pub account: Account,
}

/// Signs `value` as `user` with `key_id`, as the spec's "Signing JSON" says.
pub fn sign_with(value: &mut Value, user: &str, key_id: &str, sign: impl Fn(&[u8]) -> String) {
    let mut unsigned = value.clone();
    let object = unsigned.as_object_mut().expect("an object");
    object.remove("signatures");
    object.remove("unsigned");
    let canonical = stoa_federation::canonical_json::to_canonical_string(&unsigned).expect("canonical");
    let signature = sign(canonical.as_bytes());
    if !value["signatures"].is_object() {
        value["signatures"] = json!({});
    }
    if !value["signatures"][user].is_object() {
        value["signatures"][user] = json!({});
    }
    value["signatures"][user][key_id] = json!(signature);
}

impl Device {
    pub fn new(session: Session) -> Device {
        Device { session, account: Account::new() }
    }

    pub fn user(&self) -> &str {
        &self.session.user_id
    }

    pub fn id(&self) -> &str {
        &self.session.device_id
    }

    pub fn token(&self) -> Option<&str> {
        self.session.token()
    }

    pub fn curve25519(&self) -> String {
        self.account.curve25519_key().to_base64()
    }

    pub fn ed25519(&self) -> String {
        self.account.ed25519_key().to_base64()
    }

    /// Signs with this device's ed25519 key.
    pub fn sign(&self, value: &mut Value) {
        let (user, key_id) = (self.user().to_owned(), format!("ed25519:{}", self.id()));
        sign_with(value, &user, &key_id, |bytes| self.account.sign(bytes).to_base64());
    }

    /// The device's signed identity keys.
    pub fn device_keys(&self) -> Value {
        let mut keys = json!({
            "user_id": self.user(),
            "device_id": self.id(),
            "algorithms": [OLM, MEGOLM],
            "keys": {
                format!("curve25519:{}", self.id()): self.curve25519(),
                format!("ed25519:{}", self.id()): self.ed25519(),
            },
        });
        self.sign(&mut keys);
        keys
    }

    /// `count` fresh signed one-time keys, marked published.
    pub fn one_time_keys(&mut self, count: usize) -> Value {
        self.account.generate_one_time_keys(count);
        let mut keys = json!({});
        for (id, key) in self.account.one_time_keys() {
            let mut signed = json!({ "key": key.to_base64() });
            self.sign(&mut signed);
            keys[format!("signed_curve25519:{}", id.to_base64())] = signed;
        }
        self.account.mark_keys_as_published();
        keys
    }

    /// A fresh signed fallback key (`{key ID: key}`), marked published.
    pub fn fallback_key(&mut self) -> Value {
        self.account.generate_fallback_key();
        let mut keys = json!({});
        for (id, key) in self.account.fallback_key() {
            let mut signed = json!({ "key": key.to_base64(), "fallback": true });
            self.sign(&mut signed);
            keys[format!("signed_curve25519:{}", id.to_base64())] = signed;
        }
        self.account.mark_keys_as_published();
        keys
    }

    /// Uploads identity keys and `count` one-time keys; returns the response body.
    pub async fn upload_keys(&mut self, s: &Server, count: usize) -> Value {
        let body = json!({ "device_keys": self.device_keys(), "one_time_keys": self.one_time_keys(count) });
        s.post(&format!("{V3}/keys/upload"), self.token(), body).await.ok().clone()
    }

    /// Claims one key of each `(user, device)` and opens an outbound Olm session to each.
    pub async fn open_sessions(&self, s: &Server, targets: &[(&str, &str, String)]) -> Vec<OlmSession> {
        let mut wanted = json!({});
        for (user, device, _) in targets {
            wanted[*user][*device] = json!("signed_curve25519");
        }
        let claimed =
            s.post(&format!("{V3}/keys/claim"), self.token(), json!({ "one_time_keys": wanted })).await;
        let claimed = claimed.ok().clone();
        targets
            .iter()
            .map(|(user, device, curve)| {
                let keys = claimed["one_time_keys"][*user][*device].as_object().expect("a claimed key");
                let (_, key) = keys.iter().next().expect("one key");
                let one_time =
                    Curve25519PublicKey::from_base64(key["key"].as_str().expect("key")).expect("otk");
                let identity = Curve25519PublicKey::from_base64(curve).expect("identity key");
                self.account.create_outbound_session(SessionConfig::version_2(), identity, one_time)
            })
            .collect()
    }

    /// An `m.room.encrypted` to-device content carrying `event` (type + content) for one
    /// recipient device through `session`.
    pub fn olm_encrypt(
        &self,
        session: &mut OlmSession,
        recipient: (&str, &str, &str),
        event: Value,
    ) -> Value {
        let (user, curve, ed25519) = recipient;
        let mut payload = event;
        payload["sender"] = json!(self.user());
        payload["sender_device"] = json!(self.id());
        payload["recipient"] = json!(user);
        payload["recipient_keys"] = json!({ "ed25519": ed25519 });
        payload["keys"] = json!({ "ed25519": self.ed25519() });
        let (kind, bytes) = session.encrypt(payload.to_string()).to_parts();
        json!({
            "algorithm": OLM,
            "sender_key": self.curve25519(),
            "ciphertext": { curve: { "type": kind, "body": STANDARD_NO_PAD.encode(bytes) } },
        })
    }

    /// Decrypts an Olm pre-key to-device event sent to this device.
    pub fn olm_decrypt(&mut self, event: &Value) -> Value {
        let content = &event["content"];
        let sender_key =
            Curve25519PublicKey::from_base64(content["sender_key"].as_str().expect("sender_key"))
                .expect("sender key");
        let mine = &content["ciphertext"][self.curve25519()];
        let kind = usize::try_from(mine["type"].as_u64().expect("type")).expect("small");
        let bytes = STANDARD_NO_PAD.decode(mine["body"].as_str().expect("body")).expect("base64");
        let OlmMessage::PreKey(message) = OlmMessage::from_parts(kind, &bytes).expect("an Olm message")
        else {
            panic!("expected a pre-key message");
        };
        let result = self.account.create_inbound_session(sender_key, &message).expect("inbound session");
        serde_json::from_slice(&result.plaintext).expect("plaintext JSON")
    }

    pub async fn send_to_device(&self, s: &Server, event_type: &str, messages: Value) {
        let path = format!("{V3}/sendToDevice/{}/{}", enc(event_type), next_txn());
        s.put(&path, self.token(), json!({ "messages": messages })).await.ok();
    }
}

/// An outbound Megolm session's room-key event for `room`.
pub fn room_key_event(room: &str, group: &GroupSession) -> Value {
    json!({
        "type": "m.room_key",
        "content": {
            "algorithm": MEGOLM,
            "room_id": room,
            "session_id": group.session_id(),
            "session_key": group.session_key().to_base64(),
        },
    })
}

/// The `m.room.encrypted` content of a Megolm-encrypted room message.
pub fn megolm_encrypt(sender: &Device, group: &mut GroupSession, room: &str, plaintext: &Value) -> Value {
    let event = json!({ "type": "m.room.message", "content": plaintext, "room_id": room });
    json!({
        "algorithm": MEGOLM,
        "sender_key": sender.curve25519(),
        "device_id": sender.id(),
        "session_id": group.session_id(),
        "ciphertext": group.encrypt(event.to_string()).to_base64(),
    })
}

/// Decrypts a room event's Megolm content with the session key from a room-key event.
pub fn megolm_decrypt(room_key: &Value, encrypted: &Value) -> Value {
    let key = SessionKey::from_base64(room_key["content"]["session_key"].as_str().expect("session_key"))
        .expect("session key");
    let mut inbound = InboundGroupSession::new(&key, vodozemac::megolm::SessionConfig::version_1());
    assert_eq!(encrypted["session_id"], json!(inbound.session_id()));
    let message =
        MegolmMessage::from_base64(encrypted["ciphertext"].as_str().expect("ciphertext")).expect("message");
    let decrypted = inbound.decrypt(&message).expect("decrypts");
    serde_json::from_slice(&decrypted.plaintext).expect("plaintext JSON")
}
