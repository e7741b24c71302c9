//! Checks on the keys clients upload: shape, key encodings, and ed25519 signatures over
//! canonical JSON (the same rules as server signatures, with a user ID as the signer).

use ruma::{DeviceId, UserId};
use serde_json::Value;
use stoa_federation::unpadded_base64;

use super::E2eeError;
use crate::storage::CrossSigningKind;

/// The two identity keys of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub ed25519: String,
    pub curve25519: String,
}

/// Whether `text` is unpadded base64 of exactly 32 bytes (a curve25519 or ed25519 key).
pub fn is_key(text: &str) -> bool {
    unpadded_base64::decode(text).is_ok_and(|bytes| bytes.len() == 32)
}

/// Checks that `object` carries a valid signature by `signer` with `key_id`, whose public
/// key is `public_key` (unpadded base64).
pub fn verify(object: &Value, signer: &UserId, key_id: &str, public_key: &str) -> Result<(), E2eeError> {
    let key = unpadded_base64::decode(public_key)
        .map_err(|_| E2eeError::InvalidParam(format!("{key_id} is not valid base64")))?;
    stoa_federation::verify_json(object, signer.as_str(), key_id, &key)
        .map_err(|error| E2eeError::InvalidSignature(error.to_string()))
}

fn string_field<'a>(object: &'a Value, name: &str) -> Result<&'a str, E2eeError> {
    object
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| E2eeError::BadJson(format!("`{name}` must be a string")))
}

/// Checks a device-keys object: it names `user_id` and `device_id`, lists its algorithms,
/// holds well-formed ed25519 and curve25519 keys for the device, and is signed by the
/// device's own ed25519 key. Returns the identity keys.
pub fn check_device_keys(
    keys: &Value,
    user_id: &UserId,
    device_id: &DeviceId,
) -> Result<DeviceIdentity, E2eeError> {
    if !keys.is_object() {
        return Err(E2eeError::BadJson("device_keys must be an object".to_owned()));
    }
    if string_field(keys, "user_id")? != user_id.as_str()
        || string_field(keys, "device_id")? != device_id.as_str()
    {
        return Err(E2eeError::InvalidParam(
            "device_keys are not for the requesting user and device".to_owned(),
        ));
    }
    if !keys.get("algorithms").is_some_and(|a| a.as_array().is_some_and(|a| a.iter().all(Value::is_string))) {
        return Err(E2eeError::BadJson("device_keys.algorithms must be an array of strings".to_owned()));
    }
    let key_map = keys
        .get("keys")
        .and_then(Value::as_object)
        .ok_or_else(|| E2eeError::BadJson("device_keys.keys must be an object".to_owned()))?;
    for (key_id, key) in key_map {
        if !key.as_str().is_some_and(is_key) {
            return Err(E2eeError::InvalidParam(format!("{key_id} is not a valid key")));
        }
    }
    let named = |algorithm: &str| {
        key_map
            .get(&format!("{algorithm}:{device_id}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| E2eeError::InvalidParam(format!("device_keys lack the device's {algorithm} key")))
    };
    let identity = DeviceIdentity { ed25519: named("ed25519")?, curve25519: named("curve25519")? };
    verify(keys, user_id, &format!("ed25519:{device_id}"), &identity.ed25519)?;
    Ok(identity)
}

/// The identity keys in stored device-keys JSON.
pub fn identity_of(json: &str, device_id: &DeviceId) -> Option<DeviceIdentity> {
    let value: Value = serde_json::from_str(json).ok()?;
    let key = |algorithm: &str| {
        value.get("keys")?.get(format!("{algorithm}:{device_id}"))?.as_str().map(str::to_owned)
    };
    Some(DeviceIdentity { ed25519: key("ed25519")?, curve25519: key("curve25519")? })
}

/// Checks a one-time or fallback key: an unsigned `curve25519` key is a bare key
/// string; a signed one is an object whose `key` is well-formed and which, when the
/// device's ed25519 key is known, carries the device's valid signature.
pub fn check_one_time_key(
    key_id: &str,
    key: &Value,
    user_id: &UserId,
    device_id: &DeviceId,
    ed25519: Option<&str>,
) -> Result<(), E2eeError> {
    let Some((algorithm, id)) = key_id.split_once(':') else {
        return Err(E2eeError::InvalidParam(format!("key ID {key_id} is not algorithm:id")));
    };
    if algorithm.is_empty() || id.is_empty() || key_id.len() > 255 {
        return Err(E2eeError::InvalidParam(format!("key ID {key_id} is malformed")));
    }
    match key {
        Value::String(text) if is_key(text) => Ok(()),
        Value::Object(object) => {
            if !object.get("key").and_then(Value::as_str).is_some_and(is_key) {
                return Err(E2eeError::InvalidParam(format!("{key_id} has no valid `key`")));
            }
            match ed25519 {
                Some(public) => verify(key, user_id, &format!("ed25519:{device_id}"), public),
                None => Ok(()),
            }
        }
        _ => Err(E2eeError::InvalidParam(format!("{key_id} is not a valid key"))),
    }
}

/// Checks a cross-signing key's shape (`user_id`, `usage`, exactly one ed25519 key) and
/// returns its public key.
pub fn check_cross_signing_key(
    key: &Value,
    user_id: &UserId,
    kind: CrossSigningKind,
) -> Result<String, E2eeError> {
    if string_field(key, "user_id")? != user_id.as_str() {
        return Err(E2eeError::InvalidParam("a cross-signing key names another user".to_owned()));
    }
    let usage_ok = key
        .get("usage")
        .and_then(Value::as_array)
        .is_some_and(|usage| usage.iter().any(|u| u.as_str() == Some(kind.name())));
    if !usage_ok {
        return Err(E2eeError::InvalidParam(format!("the {} key lacks its usage", kind.name())));
    }
    let keys = key
        .get("keys")
        .and_then(Value::as_object)
        .ok_or_else(|| E2eeError::BadJson("keys must be an object".to_owned()))?;
    let mut entries = keys.iter();
    let (Some((key_id, public)), None) = (entries.next(), entries.next()) else {
        return Err(E2eeError::InvalidParam("a cross-signing key holds exactly one key".to_owned()));
    };
    let public = public
        .as_str()
        .filter(|p| is_key(p))
        .ok_or_else(|| E2eeError::InvalidParam("malformed cross-signing key".to_owned()))?;
    if key_id != &format!("ed25519:{public}") {
        return Err(E2eeError::InvalidParam(
            "a cross-signing key's ID must be ed25519:<public key>".to_owned(),
        ));
    }
    Ok(public.to_owned())
}

/// The public key of stored cross-signing key JSON.
pub fn cross_signing_public_key(json: &str) -> Option<String> {
    let value: Value = serde_json::from_str(json).ok()?;
    let keys = value.get("keys")?.as_object()?;
    keys.values().next()?.as_str().map(str::to_owned)
}
