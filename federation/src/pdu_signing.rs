//! Hashing, signing and verifying events (PDUs), per the spec's "Signing Events".
//!
//! An event's signature covers its *redacted* form (which includes the content hash), so it stays
//! verifiable after redaction; the content hash covers the full event, so tampering with
//! redactable content shows up as a hash mismatch, after which the receiver must use the redacted
//! copy.

use serde_json::{Map, Value};

use crate::canonical_json::{PduSizeError, check_pdu_size};
use crate::keys::ServerSigningKey;
use crate::redaction::{RedactionError, redact_object};
use crate::room_version::RoomVersion;
use crate::signing::{
    ContentHashError, SigningError, VerifyError, add_content_hash, sign_json, verify_content_hash,
    verify_json,
};

/// Why an outgoing event could not be hashed and signed. The event is left untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventSigningError {
    /// The event is too malformed to redact, so there is no well-defined thing to sign.
    #[error("cannot redact event for signing: {0}")]
    Unredactable(#[from] RedactionError),
    /// The content hash or signature could not be computed or stored.
    #[error("cannot hash or sign event: {0}")]
    Unsignable(#[from] SigningError),
    /// The signed event breaks the PDU size limits, so no server would accept it.
    #[error("signed event exceeds PDU limits: {0}")]
    ExceedsPduLimits(#[from] PduSizeError),
}

/// Why an event's signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventVerifyError {
    /// The event is too malformed to redact, so its signed form cannot be rebuilt.
    #[error("cannot redact event for verification: {0}")]
    Unredactable(#[from] RedactionError),
    /// The redacted event's signature is missing, malformed or wrong.
    #[error("event signature check failed: {0}")]
    SignatureInvalid(#[from] VerifyError),
}

/// Prepares an outgoing event: stores its content hash under `hashes.sha256`, signs its redacted
/// form as `server_name` with `key`, and adds that signature to the full event, keeping any
/// signatures already present. Refuses (leaving `event` unchanged) if the signed event would
/// break the PDU size limits.
pub fn hash_and_sign_event(
    event: &mut Value,
    version: RoomVersion,
    server_name: &str,
    key: &ServerSigningKey,
) -> Result<(), EventSigningError> {
    let mut signed = event.clone();
    add_content_hash(&mut signed)?;
    let mut redacted = Value::Object(redact_object(&signed, &version.rules().redaction)?);
    sign_json(&mut redacted, server_name, key)?;
    let signature = redacted
        .get("signatures")
        .and_then(|signatures| signatures.get(server_name))
        .and_then(|by_key| by_key.get(key.key_id()))
        .cloned()
        .ok_or(SigningError::SignaturesMalformed)?;
    attach_signature(&mut signed, server_name, key.key_id(), signature)?;
    check_pdu_size(&signed)?;
    *event = signed;
    Ok(())
}

/// Checks that an event carries a valid signature from `server_name` with `key_id`, whose raw
/// public key the caller has looked up. The check runs on the redacted form, so it succeeds for
/// both the full event and a redacted copy of it.
pub fn verify_event_signature(
    event: &Value,
    version: RoomVersion,
    server_name: &str,
    key_id: &str,
    public_key: &[u8],
) -> Result<(), EventVerifyError> {
    let redacted = Value::Object(redact_object(event, &version.rules().redaction)?);
    verify_json(&redacted, server_name, key_id, public_key)?;
    Ok(())
}

/// Checks a received event's content hash. On [`ContentHashError::HashMismatch`] the caller must
/// carry on with the redacted event instead (the sender may have sent it redacted, or it was
/// altered); an event with no hash at all is malformed.
pub fn check_content_hash(event: &Value) -> Result<(), ContentHashError> {
    verify_content_hash(event)
}

/// Stores `signature` under `signatures.<server_name>.<key_id>`, keeping other signatures.
fn attach_signature(
    event: &mut Value,
    server_name: &str,
    key_id: &str,
    signature: Value,
) -> Result<(), SigningError> {
    let Value::Object(object) = event else {
        return Err(SigningError::NotAnObject);
    };
    let signatures = object.entry("signatures").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(by_server) = signatures else {
        return Err(SigningError::SignaturesMalformed);
    };
    let by_key = by_server.entry(server_name).or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(by_key) = by_key else {
        return Err(SigningError::SignaturesMalformed);
    };
    by_key.insert(key_id.to_owned(), signature);
    Ok(())
}

#[cfg(test)]
#[path = "pdu_signing_tests.rs"]
mod tests;
