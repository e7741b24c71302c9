//! Signing and verifying JSON objects, and event content hashes, per the spec's "Signing JSON".
//!
//! A signature covers the canonical JSON of the object without its `signatures` and `unsigned`
//! members, so other servers can add their own signatures and unsigned data afterwards.

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::canonical_json::{CanonicalJsonError, to_canonical_bytes};
use crate::keys::ServerSigningKey;
use crate::unpadded_base64;

/// Why a JSON object could not be signed or hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// Only JSON objects can carry signatures and hashes.
    #[error("only JSON objects can be signed or hashed")]
    NotAnObject,
    /// The object has no canonical encoding, so there is nothing well-defined to sign.
    #[error("object is not valid canonical JSON: {0}")]
    NotCanonical(#[from] CanonicalJsonError),
    /// An existing `signatures` member (or this server's entry in it) is not an object, so a new
    /// signature cannot be added without destroying it.
    #[error("existing `signatures` member is not a map of server names to key maps")]
    SignaturesMalformed,
    /// An existing `hashes` member is not an object, so the content hash cannot be stored.
    #[error("existing `hashes` member is not an object")]
    HashesMalformed,
}

/// Why a signature check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Only JSON objects can carry signatures.
    #[error("only JSON objects carry signatures")]
    NotAnObject,
    /// The object has no signature from this server with this key.
    #[error("no signature from {server_name} with key {key_id}")]
    MissingSignature {
        /// The server whose signature was required.
        server_name: String,
        /// The key the signature should have been made with.
        key_id: String,
    },
    /// The signature is not a string of valid Base64.
    #[error("signature from {server_name} with key {key_id} is not valid base64")]
    SignatureNotBase64 {
        /// The signing server.
        server_name: String,
        /// The signing key.
        key_id: String,
    },
    /// The signature decodes to something other than 64 bytes.
    #[error("signature from {server_name} with key {key_id} is {length} bytes, expected 64")]
    WrongSignatureLength {
        /// The signing server.
        server_name: String,
        /// The signing key.
        key_id: String,
        /// The decoded length.
        length: usize,
    },
    /// The public key we were given is not a usable ed25519 key.
    #[error("public key for {key_id} is not a valid ed25519 key")]
    InvalidPublicKey {
        /// The key that was supplied.
        key_id: String,
    },
    /// The signed object has no canonical encoding, so the signature cannot cover it.
    #[error("signed object is not valid canonical JSON: {0}")]
    NotCanonical(#[from] CanonicalJsonError),
    /// The signature does not match the object: it was altered or signed by another key.
    #[error("signature from {server_name} with key {key_id} does not match the object")]
    BadSignature {
        /// The signing server.
        server_name: String,
        /// The signing key.
        key_id: String,
    },
}

/// Why an event's content hash did not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentHashError {
    /// The event cannot be hashed at all.
    #[error("cannot hash event: {0}")]
    Unhashable(#[from] SigningError),
    /// The event carries no `hashes.sha256` string.
    #[error("event has no `hashes.sha256`")]
    MissingHash,
    /// The recorded hash differs from the event's actual content: it was modified in transit.
    #[error("event content hash does not match its `hashes.sha256`")]
    HashMismatch,
}

/// Signs a JSON object as `server_name` with `key`, adding the signature under
/// `signatures.<server_name>.<key_id>` while keeping every other signature already present.
pub fn sign_json(value: &mut Value, server_name: &str, key: &ServerSigningKey) -> Result<(), SigningError> {
    let payload = signing_payload(value).map_err(|error| match error {
        PayloadError::NotAnObject => SigningError::NotAnObject,
        PayloadError::NotCanonical(inner) => SigningError::NotCanonical(inner),
    })?;
    let signature = unpadded_base64::encode(key.sign(&payload));
    let Value::Object(object) = value else {
        return Err(SigningError::NotAnObject);
    };
    let signatures = object.entry("signatures").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(by_server) = signatures else {
        return Err(SigningError::SignaturesMalformed);
    };
    let server_entry = by_server.entry(server_name).or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(by_key) = server_entry else {
        return Err(SigningError::SignaturesMalformed);
    };
    by_key.insert(key.key_id().to_owned(), Value::String(signature));
    Ok(())
}

/// Checks that a JSON object carries a valid signature from `server_name` made with the key
/// `key_id`, whose raw 32-byte public key the caller has already looked up.
pub fn verify_json(
    value: &Value,
    server_name: &str,
    key_id: &str,
    public_key: &[u8],
) -> Result<(), VerifyError> {
    let Value::Object(object) = value else {
        return Err(VerifyError::NotAnObject);
    };
    let encoded = object
        .get("signatures")
        .and_then(|signatures| signatures.get(server_name))
        .and_then(|by_key| by_key.get(key_id))
        .and_then(Value::as_str)
        .ok_or_else(|| VerifyError::MissingSignature {
            server_name: server_name.to_owned(),
            key_id: key_id.to_owned(),
        })?;
    let signature_bytes = unpadded_base64::decode(encoded).map_err(|_| VerifyError::SignatureNotBase64 {
        server_name: server_name.to_owned(),
        key_id: key_id.to_owned(),
    })?;
    let signature_array: [u8; 64] =
        signature_bytes.as_slice().try_into().map_err(|_| VerifyError::WrongSignatureLength {
            server_name: server_name.to_owned(),
            key_id: key_id.to_owned(),
            length: signature_bytes.len(),
        })?;
    let invalid_key = || VerifyError::InvalidPublicKey { key_id: key_id.to_owned() };
    let key_array: [u8; 32] = public_key.try_into().map_err(|_| invalid_key())?;
    let verifying_key = VerifyingKey::from_bytes(&key_array).map_err(|_| invalid_key())?;
    let payload = signing_payload(value).map_err(|error| match error {
        PayloadError::NotAnObject => VerifyError::NotAnObject,
        PayloadError::NotCanonical(inner) => VerifyError::NotCanonical(inner),
    })?;
    // Strict verification refuses weak keys and malleable signatures, as libsodium does.
    verifying_key.verify_strict(&payload, &Signature::from_bytes(&signature_array)).map_err(|_| {
        VerifyError::BadSignature { server_name: server_name.to_owned(), key_id: key_id.to_owned() }
    })
}

/// Computes an event's content hash: SHA-256 of its canonical JSON without `unsigned`,
/// `signatures` and `hashes`, in unpadded Base64.
pub fn content_hash(event: &Value) -> Result<String, SigningError> {
    let Value::Object(object) = event else {
        return Err(SigningError::NotAnObject);
    };
    let stripped: Map<String, Value> = object
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "unsigned" | "signatures" | "hashes"))
        .map(|(key, item)| (key.clone(), item.clone()))
        .collect();
    let bytes = to_canonical_bytes(&Value::Object(stripped))?;
    Ok(sha256_unpadded_b64(&bytes))
}

/// Computes the event's content hash and stores it under `hashes.sha256`, as must be done
/// before an event is signed.
pub fn add_content_hash(event: &mut Value) -> Result<(), SigningError> {
    let hash = content_hash(event)?;
    let Value::Object(object) = event else {
        return Err(SigningError::NotAnObject);
    };
    let hashes = object.entry("hashes").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(hashes) = hashes else {
        return Err(SigningError::HashesMalformed);
    };
    hashes.insert("sha256".to_owned(), Value::String(hash));
    Ok(())
}

/// Checks that an event's `hashes.sha256` matches its content, which tells a received event
/// that was altered (and must be redacted) from an intact one.
pub fn verify_content_hash(event: &Value) -> Result<(), ContentHashError> {
    let recorded = event
        .get("hashes")
        .and_then(|hashes| hashes.get("sha256"))
        .and_then(Value::as_str)
        .ok_or(ContentHashError::MissingHash)?;
    let actual = content_hash(event)?;
    // Compare decoded bytes so a padded but otherwise correct hash is still accepted.
    match (unpadded_base64::decode(recorded), unpadded_base64::decode(&actual)) {
        (Ok(left), Ok(right)) if left == right => Ok(()),
        _ => Err(ContentHashError::HashMismatch),
    }
}

/// SHA-256 of some bytes in unpadded Base64, the building block of content hashes and
/// reference hashes (event IDs).
pub fn sha256_unpadded_b64(bytes: &[u8]) -> String {
    unpadded_base64::encode(Sha256::digest(bytes))
}

/// Why the bytes to sign could not be produced; mapped onto each caller's own error.
enum PayloadError {
    NotAnObject,
    NotCanonical(CanonicalJsonError),
}

/// The canonical JSON of an object without `signatures` and `unsigned`: what a signature covers.
fn signing_payload(value: &Value) -> Result<Vec<u8>, PayloadError> {
    let Value::Object(object) = value else {
        return Err(PayloadError::NotAnObject);
    };
    let stripped: Map<String, Value> = object
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "signatures" | "unsigned"))
        .map(|(key, item)| (key.clone(), item.clone()))
        .collect();
    to_canonical_bytes(&Value::Object(stripped)).map_err(PayloadError::NotCanonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec_key() -> ServerSigningKey {
        let seed: [u8; 32] = unpadded_base64::decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")
            .unwrap()
            .try_into()
            .unwrap();
        ServerSigningKey::from_seed("1", seed).unwrap()
    }

    #[test]
    fn spec_vector_empty_object() {
        let mut value = json!({});
        sign_json(&mut value, "domain", &spec_key()).unwrap();
        assert_eq!(
            value,
            json!({
                "signatures": {
                    "domain": {
                        "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
                    }
                }
            })
        );
    }

    #[test]
    fn spec_vector_object_with_data() {
        let mut value = json!({"one": 1, "two": "Two"});
        sign_json(&mut value, "domain", &spec_key()).unwrap();
        assert_eq!(
            value,
            json!({
                "one": 1,
                "signatures": {
                    "domain": {
                        "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
                    }
                },
                "two": "Two"
            })
        );
    }

    #[test]
    fn spec_vector_minimal_event() {
        let mut event = json!({
            "room_id": "!x:domain",
            "sender": "@a:domain",
            "origin": "domain",
            "origin_server_ts": 1000000,
            "signatures": {},
            "hashes": {},
            "type": "X",
            "content": {},
            "prev_events": [],
            "auth_events": [],
            "depth": 3,
            "unsigned": {"age_ts": 1000000}
        });
        add_content_hash(&mut event).unwrap();
        assert_eq!(event["hashes"]["sha256"], "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos");
        // Redaction leaves this event unchanged, so signing it directly matches the vector.
        sign_json(&mut event, "domain", &spec_key()).unwrap();
        assert_eq!(
            event["signatures"]["domain"]["ed25519:1"],
            "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"
        );
        assert_eq!(event["unsigned"], json!({"age_ts": 1000000}));
        assert_eq!(verify_content_hash(&event), Ok(()));
    }

    #[test]
    fn spec_vector_redactable_event_hash() {
        let mut event = json!({
            "content": {"body": "Here is the message content"},
            "event_id": "$0:domain",
            "origin": "domain",
            "origin_server_ts": 1000000,
            "type": "m.room.message",
            "room_id": "!r:domain",
            "sender": "@u:domain",
            "signatures": {},
            "unsigned": {"age_ts": 1000000}
        });
        add_content_hash(&mut event).unwrap();
        assert_eq!(event["hashes"]["sha256"], "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g");
    }

    #[test]
    fn content_hash_detects_tampering() {
        let mut event = json!({"type": "m.room.message", "content": {"body": "hi"}});
        assert_eq!(verify_content_hash(&event), Err(ContentHashError::MissingHash));
        add_content_hash(&mut event).unwrap();
        assert_eq!(verify_content_hash(&event), Ok(()));
        event["unsigned"] = json!({"age": 5});
        event["signatures"] = json!({"x": {"ed25519:y": "z"}});
        assert_eq!(verify_content_hash(&event), Ok(()));
        event["content"]["body"] = json!("bye");
        assert_eq!(verify_content_hash(&event), Err(ContentHashError::HashMismatch));
    }

    #[test]
    fn content_hash_refuses_malformed_hashes_member() {
        let mut event = json!({"hashes": "nope"});
        assert_eq!(add_content_hash(&mut event), Err(SigningError::HashesMalformed));
    }

    #[test]
    fn sign_then_verify_round_trip_ignoring_unsigned() {
        let key = spec_key();
        let mut value = json!({"a": [1, 2], "unsigned": {"age": 3}});
        sign_json(&mut value, "example.org", &key).unwrap();
        assert_eq!(verify_json(&value, "example.org", "ed25519:1", &key.public_key()), Ok(()));
        value["unsigned"] = json!({"age": 99});
        assert_eq!(verify_json(&value, "example.org", "ed25519:1", &key.public_key()), Ok(()));
    }

    #[test]
    fn signing_keeps_other_servers_signatures() {
        let key = spec_key();
        let mut value = json!({
            "x": 1,
            "signatures": {
                "other.example": {"ed25519:z": "abc"},
                "domain": {"ed25519:old": "def"}
            }
        });
        sign_json(&mut value, "domain", &key).unwrap();
        assert_eq!(value["signatures"]["other.example"]["ed25519:z"], "abc");
        assert_eq!(value["signatures"]["domain"]["ed25519:old"], "def");
        assert!(value["signatures"]["domain"]["ed25519:1"].is_string());
        assert_eq!(verify_json(&value, "domain", "ed25519:1", &key.public_key()), Ok(()));
    }

    #[test]
    fn signing_refuses_what_it_cannot_sign() {
        let key = spec_key();
        assert_eq!(sign_json(&mut json!([1]), "d", &key), Err(SigningError::NotAnObject));
        assert!(matches!(sign_json(&mut json!({"f": 1.5}), "d", &key), Err(SigningError::NotCanonical(_))));
        assert_eq!(
            sign_json(&mut json!({"signatures": []}), "d", &key),
            Err(SigningError::SignaturesMalformed)
        );
        assert_eq!(
            sign_json(&mut json!({"signatures": {"d": "x"}}), "d", &key),
            Err(SigningError::SignaturesMalformed)
        );
    }

    #[test]
    fn verify_reports_each_failure() {
        let key = spec_key();
        let public = key.public_key();
        let mut value = json!({"one": 1});
        sign_json(&mut value, "domain", &key).unwrap();

        assert!(matches!(
            verify_json(&value, "other", "ed25519:1", &public),
            Err(VerifyError::MissingSignature { .. })
        ));
        assert!(matches!(
            verify_json(&value, "domain", "ed25519:2", &public),
            Err(VerifyError::MissingSignature { .. })
        ));
        assert!(matches!(
            verify_json(&json!("s"), "domain", "ed25519:1", &public),
            Err(VerifyError::NotAnObject)
        ));
        assert!(matches!(
            verify_json(&value, "domain", "ed25519:1", &public[..31]),
            Err(VerifyError::InvalidPublicKey { .. })
        ));

        let mut tampered = value.clone();
        tampered["one"] = json!(2);
        assert!(matches!(
            verify_json(&tampered, "domain", "ed25519:1", &public),
            Err(VerifyError::BadSignature { .. })
        ));

        let other = ServerSigningKey::generate().unwrap();
        assert!(matches!(
            verify_json(&value, "domain", "ed25519:1", &other.public_key()),
            Err(VerifyError::BadSignature { .. })
        ));

        let mut garbled = value.clone();
        garbled["signatures"]["domain"]["ed25519:1"] = json!("not base64!");
        assert!(matches!(
            verify_json(&garbled, "domain", "ed25519:1", &public),
            Err(VerifyError::SignatureNotBase64 { .. })
        ));

        let mut short = value.clone();
        short["signatures"]["domain"]["ed25519:1"] = json!("AAAA");
        assert!(matches!(
            verify_json(&short, "domain", "ed25519:1", &public),
            Err(VerifyError::WrongSignatureLength { length: 3, .. })
        ));
    }

    #[test]
    fn verify_accepts_padded_signature() {
        let key = spec_key();
        let mut value = json!({});
        sign_json(&mut value, "domain", &key).unwrap();
        let padded = format!("{}==", value["signatures"]["domain"]["ed25519:1"].as_str().unwrap());
        value["signatures"]["domain"]["ed25519:1"] = json!(padded);
        assert_eq!(verify_json(&value, "domain", "ed25519:1", &key.public_key()), Ok(()));
    }

    #[test]
    fn sha256_primitive() {
        assert_eq!(sha256_unpadded_b64(b""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
    }
}
