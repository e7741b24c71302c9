//! How the embedded adapter turns domain values into engine keys and values and back.
//!
//! Keys are ordered byte strings. Text components (user, device, room IDs, event
//! types …) are UTF-8, which never contains the byte 0xFF, so [`SEPARATOR`] can join them
//! without escaping and byte order within a component is code-point order. Integers are
//! fixed-width big-endian so they sort numerically. Record values are JSON of private
//! `Stored*` structs: self-describing, so a later schema can add fields with defaults.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::storage::Error;

/// Joins the components of a compound key. Never occurs inside UTF-8 text.
pub(super) const SEPARATOR: u8 = 0xFF;

/// `parts` joined by [`SEPARATOR`].
pub(super) fn compound_key(parts: &[&[u8]]) -> Vec<u8> {
    let length = parts.iter().map(|part| part.len() + 1).sum();
    let mut key = Vec::with_capacity(length);
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            key.push(SEPARATOR);
        }
        key.extend_from_slice(part);
    }
    key
}

/// `parts` joined and terminated by [`SEPARATOR`]: the prefix of every key whose
/// leading components are exactly `parts` (the trailing separator stops `@a:b` from
/// matching `@a:bc`).
pub(super) fn key_prefix(parts: &[&[u8]]) -> Vec<u8> {
    let mut prefix = compound_key(parts);
    prefix.push(SEPARATOR);
    prefix
}

/// Splits `key` at its first [`SEPARATOR`]: `(before, after)`.
pub(super) fn split_first_component(key: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let position = key
        .iter()
        .position(|byte| *byte == SEPARATOR)
        .ok_or_else(|| Error::Corrupt("compound key without separator".to_owned()))?;
    let (before, separator_and_after) = key.split_at(position);
    Ok((before, separator_and_after.get(1..).unwrap_or_default()))
}

pub(super) fn encode_u64(value: u64) -> [u8; 8] {
    value.to_be_bytes()
}

pub(super) fn decode_u64(bytes: &[u8]) -> Result<u64, Error> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::Corrupt(format!("expected an 8-byte integer, found {} bytes", bytes.len())))?;
    Ok(u64::from_be_bytes(array))
}

pub(super) fn decode_text(bytes: &[u8]) -> Result<String, Error> {
    String::from_utf8(bytes.to_vec())
        .map_err(|error| Error::Corrupt(format!("stored text is not UTF-8: {error}")))
}

pub(super) fn encode_record<T: Serialize>(record: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(record).map_err(|error| Error::Backend(format!("cannot encode a record: {error}")))
}

pub(super) fn decode_record<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|error| Error::Corrupt(format!("cannot decode a record: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_does_not_match_longer_component() {
        let prefix = key_prefix(&[b"@a:b"]);
        let other_user_key = compound_key(&[b"@a:bc", b"DEVICE"]);
        let own_key = compound_key(&[b"@a:b", b"DEVICE"]);
        assert!(!other_user_key.starts_with(&prefix));
        assert!(own_key.starts_with(&prefix));
    }

    #[test]
    fn split_first_component_roundtrips() {
        let key = compound_key(&[b"@a:b", b"DEV"]);
        assert_eq!(split_first_component(&key).ok(), Some((&b"@a:b"[..], &b"DEV"[..])));
        assert!(split_first_component(b"nothing").is_err());
    }

    #[test]
    fn u64_sorts_numerically() {
        assert!(encode_u64(255) < encode_u64(256));
        assert_eq!(decode_u64(&encode_u64(42)).ok(), Some(42));
        assert!(decode_u64(b"short").is_err());
    }
}
