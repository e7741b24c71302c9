//! The body of `GET /_matrix/key/v2/server`: this server's published, self-signed public keys.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::keys::ServerSigningKey;
use crate::signing::{SigningError, sign_json};
use crate::unpadded_base64;

/// A key this server no longer signs with but still publishes, so others can check old events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldVerifyKey {
    /// The retired key's identifier, `ed25519:<version>`.
    pub key_id: String,
    /// The retired raw public key.
    pub public_key: [u8; 32],
    /// When the key stopped being used, in milliseconds since the Unix epoch.
    pub expired_ts: u64,
}

/// Why the key response could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyServerError {
    /// An old key reuses the current key's identifier, which would publish two keys under one ID.
    #[error("old key {key_id} has the same identifier as the current key")]
    OldKeyReusesCurrentId {
        /// The clashing identifier.
        key_id: String,
    },
    /// The same old key identifier is listed twice.
    #[error("old key {key_id} is listed more than once")]
    DuplicateOldKey {
        /// The repeated identifier.
        key_id: String,
    },
    /// The expiry time overflows, so the inputs must be nonsense.
    #[error("now + validity does not fit in a 64-bit millisecond timestamp")]
    ValidityOverflow,
    /// Signing the response failed (for example, a timestamp beyond canonical JSON's range).
    #[error("cannot sign key response: {0}")]
    Signing(#[from] SigningError),
}

/// Builds the signed `GET /_matrix/key/v2/server` response: the current key under
/// `verify_keys`, retired keys under `old_verify_keys`, valid until `now_ms + validity`.
///
/// Remote servers use the lesser of `valid_until_ts` and seven days from when they fetched it,
/// so validities beyond a week gain nothing.
pub fn server_keys_response(
    server_name: &str,
    current: &ServerSigningKey,
    old_keys: &[OldVerifyKey],
    validity: Duration,
    now_ms: u64,
) -> Result<Value, KeyServerError> {
    let validity_ms = u64::try_from(validity.as_millis()).map_err(|_| KeyServerError::ValidityOverflow)?;
    let valid_until_ts = now_ms.checked_add(validity_ms).ok_or(KeyServerError::ValidityOverflow)?;

    let mut old_verify_keys = Map::new();
    for old in old_keys {
        if old.key_id == current.key_id() {
            return Err(KeyServerError::OldKeyReusesCurrentId { key_id: old.key_id.clone() });
        }
        let entry = json!({
            "key": unpadded_base64::encode(old.public_key),
            "expired_ts": old.expired_ts,
        });
        if old_verify_keys.insert(old.key_id.clone(), entry).is_some() {
            return Err(KeyServerError::DuplicateOldKey { key_id: old.key_id.clone() });
        }
    }

    let mut verify_keys = Map::new();
    verify_keys.insert(current.key_id().to_owned(), json!({ "key": current.public_key_base64() }));

    let mut response = json!({
        "server_name": server_name,
        "valid_until_ts": valid_until_ts,
        "verify_keys": verify_keys,
        "old_verify_keys": old_verify_keys,
    });
    sign_json(&mut response, server_name, current)?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical_json::{CanonicalJsonError, MAX_SAFE_INTEGER};
    use crate::signing::verify_json;

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    const NOW: u64 = 1_700_000_000_000;

    fn old_key(version: &str, expired_ts: u64) -> OldVerifyKey {
        let key = ServerSigningKey::generate().unwrap();
        OldVerifyKey { key_id: format!("ed25519:{version}"), public_key: key.public_key(), expired_ts }
    }

    #[test]
    fn response_is_self_signed_and_complete() {
        let key = ServerSigningKey::generate().unwrap();
        let old = old_key("a_old1", 1_600_000_000_000);
        let response =
            server_keys_response("stoa.example", &key, std::slice::from_ref(&old), DAY, NOW).unwrap();

        assert_eq!(verify_json(&response, "stoa.example", key.key_id(), &key.public_key()), Ok(()));
        assert_eq!(response["server_name"], "stoa.example");
        assert_eq!(response["valid_until_ts"], NOW + 86_400_000);
        assert_eq!(response["verify_keys"], json!({ key.key_id(): { "key": key.public_key_base64() } }));
        assert_eq!(
            response["old_verify_keys"],
            json!({
                "ed25519:a_old1": {
                    "key": unpadded_base64::encode(old.public_key),
                    "expired_ts": 1_600_000_000_000u64
                }
            })
        );
        let signatures = response["signatures"].as_object().unwrap();
        assert_eq!(signatures.len(), 1);
        assert_eq!(signatures["stoa.example"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn no_old_keys_gives_empty_map() {
        let key = ServerSigningKey::generate().unwrap();
        let response = server_keys_response("s", &key, &[], DAY, NOW).unwrap();
        assert_eq!(response["old_verify_keys"], json!({}));
    }

    #[test]
    fn response_is_deterministic() {
        let key = ServerSigningKey::from_seed("1", [7; 32]).unwrap();
        let old = [old_key("x", 5)];
        let first = server_keys_response("s", &key, &old, DAY, NOW).unwrap();
        let second = server_keys_response("s", &key, &old, DAY, NOW).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn tampered_response_fails_verification() {
        let key = ServerSigningKey::generate().unwrap();
        let mut response = server_keys_response("s", &key, &[], DAY, NOW).unwrap();
        response["valid_until_ts"] = json!(NOW + 365 * 86_400_000);
        assert!(verify_json(&response, "s", key.key_id(), &key.public_key()).is_err());
    }

    #[test]
    fn clashing_key_ids_refused() {
        let key = ServerSigningKey::from_seed("1", [7; 32]).unwrap();
        assert_eq!(
            server_keys_response("s", &key, &[old_key("1", 5)], DAY, NOW),
            Err(KeyServerError::OldKeyReusesCurrentId { key_id: "ed25519:1".into() })
        );
        assert_eq!(
            server_keys_response("s", &key, &[old_key("2", 5), old_key("2", 6)], DAY, NOW),
            Err(KeyServerError::DuplicateOldKey { key_id: "ed25519:2".into() })
        );
    }

    #[test]
    fn out_of_range_timestamps_refused() {
        let key = ServerSigningKey::generate().unwrap();
        assert_eq!(
            server_keys_response("s", &key, &[], DAY, u64::MAX),
            Err(KeyServerError::ValidityOverflow)
        );
        let beyond = u64::try_from(MAX_SAFE_INTEGER).unwrap();
        assert!(matches!(
            server_keys_response("s", &key, &[], DAY, beyond),
            Err(KeyServerError::Signing(SigningError::NotCanonical(CanonicalJsonError::IntegerOutOfRange(
                _
            ))))
        ));
    }
}
