//! `POST /keys/upload`: a device publishes its identity keys (once; they never change),
//! one-time keys and fallback keys. Everything is checked before anything is stored.

use std::collections::BTreeMap;

use serde_json::Value;

use super::signatures::{check_device_keys, check_one_time_key, identity_of};
use super::{E2ee, E2eeError};
use crate::accounts::Requester;
use crate::storage::OneTimeKeyRecord;

/// Most one-time keys one upload may carry (clients upload a few dozen at a time).
pub const MAX_ONE_TIME_KEYS_PER_UPLOAD: usize = 1000;
/// Largest single key object, in bytes.
const MAX_KEY_BYTES: usize = 4096;

/// What a device uploads, as the JSON texts it sent.
#[derive(Debug, Default)]
pub struct KeyUpload<'a> {
    pub device_keys: Option<&'a str>,
    pub one_time_keys: Vec<(String, &'a str)>,
    pub fallback_keys: Vec<(String, &'a str)>,
}

fn parse(text: &str) -> Result<Value, E2eeError> {
    if text.len() > MAX_KEY_BYTES * 4 {
        return Err(E2eeError::TooLarge("a key object is too large".to_owned()));
    }
    serde_json::from_str(text).map_err(|error| E2eeError::BadJson(error.to_string()))
}

/// Checks every key of a map and turns it into records.
fn checked_keys(
    keys: &[(String, &str)],
    requester: &Requester,
    ed25519: Option<&str>,
) -> Result<Vec<OneTimeKeyRecord>, E2eeError> {
    let mut records = Vec::with_capacity(keys.len());
    for (key_id, text) in keys {
        if text.len() > MAX_KEY_BYTES {
            return Err(E2eeError::TooLarge(format!("{key_id} is too large")));
        }
        let value = parse(text)?;
        check_one_time_key(key_id, &value, &requester.user_id, &requester.device_id, ed25519)?;
        records.push(OneTimeKeyRecord { key_id: key_id.clone(), json: (*text).to_owned() });
    }
    Ok(records)
}

impl E2ee {
    /// Stores the requester's device's keys; returns its unclaimed one-time key counts.
    pub async fn upload_keys(
        &self,
        requester: &Requester,
        upload: &KeyUpload<'_>,
    ) -> Result<BTreeMap<String, u64>, E2eeError> {
        let (user_id, device_id) = (&requester.user_id, &requester.device_id);
        if upload.one_time_keys.len() > MAX_ONE_TIME_KEYS_PER_UPLOAD {
            return Err(E2eeError::TooLarge("too many one-time keys in one upload".to_owned()));
        }
        let keys = self.stores().e2ee_keys.clone();
        let stored = keys.get_device_keys(user_id, device_id).await?;
        let stored_identity = stored.as_deref().and_then(|json| identity_of(json, device_id));
        let new_identity = match upload.device_keys {
            Some(text) => Some(check_device_keys(&parse(text)?, user_id, device_id)?),
            None => None,
        };
        if let (Some(old), Some(new)) = (&stored_identity, &new_identity)
            && old != new
        {
            return Err(E2eeError::InvalidParam(
                "this device already has different identity keys".to_owned(),
            ));
        }
        let ed25519 =
            new_identity.as_ref().or(stored_identity.as_ref()).map(|identity| identity.ed25519.as_str());
        let one_time = checked_keys(&upload.one_time_keys, requester, ed25519)?;
        let fallback = checked_keys(&upload.fallback_keys, requester, ed25519)?;
        if !one_time.is_empty() {
            let conflicts = keys.add_one_time_keys(user_id, device_id, &one_time).await?;
            if !conflicts.is_empty() {
                return Err(E2eeError::InvalidParam(format!(
                    "one-time keys already uploaded with other content: {}",
                    conflicts.join(", ")
                )));
            }
        }
        for key in &fallback {
            keys.put_fallback_key(user_id, device_id, key).await?;
        }
        if let Some(text) = upload.device_keys
            && stored.as_deref() != Some(text)
        {
            keys.put_device_keys(user_id, device_id, text).await?;
            self.announce_device_change(user_id).await?;
        }
        self.inner.sync_memo.keys_changed(user_id, device_id);
        self.one_time_key_counts(requester).await
    }

    /// The device's unclaimed one-time keys per algorithm; `signed_curve25519` is always
    /// listed, as clients expect.
    pub async fn one_time_key_counts(
        &self,
        requester: &Requester,
    ) -> Result<BTreeMap<String, u64>, E2eeError> {
        self.one_time_key_counts_of(&requester.user_id, &requester.device_id).await
    }

    /// [`E2ee::one_time_key_counts`] of any device.
    pub async fn one_time_key_counts_of(
        &self,
        user_id: &ruma::UserId,
        device_id: &ruma::DeviceId,
    ) -> Result<BTreeMap<String, u64>, E2eeError> {
        let mut counts = self.stores().e2ee_keys.one_time_key_counts(user_id, device_id).await?;
        counts.entry("signed_curve25519".to_owned()).or_insert(0);
        Ok(counts)
    }

    /// The device's one-time key counts and unused fallback key types, for `/sync`
    /// (remembered between syncs until the device's keys change).
    pub async fn key_counts_for_sync(
        &self,
        user_id: &ruma::UserId,
        device_id: &ruma::DeviceId,
    ) -> Result<super::sync_memo::KeyCounts, E2eeError> {
        let memo = &self.inner.sync_memo;
        if let Some(counts) = memo.key_counts(user_id, device_id) {
            return Ok(counts);
        }
        let epoch = memo.key_epoch();
        let counts = (
            self.one_time_key_counts_of(user_id, device_id).await?,
            self.unused_fallback_key_types(user_id, device_id).await?,
        );
        memo.remember_key_counts(user_id, device_id, counts.clone(), epoch);
        Ok(counts)
    }

    /// Algorithms of the device's fallback keys not yet handed out.
    pub async fn unused_fallback_key_types(
        &self,
        user_id: &ruma::UserId,
        device_id: &ruma::DeviceId,
    ) -> Result<Vec<String>, E2eeError> {
        Ok(self.stores().e2ee_keys.unused_fallback_key_algorithms(user_id, device_id).await?)
    }
}
