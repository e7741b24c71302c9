//! Devices and their token indexes in the embedded store.
//!
//! `devices`: user ID, device ID → [`StoredDevice`], which also holds the device's token
//! hashes so that replacing or deleting a device knows which index rows to remove.
//! `access_tokens` / `refresh_tokens`: token hash → user ID, device ID; one point lookup
//! per authenticated request. Index rows are changed in the same batch as the device,
//! and every lookup re-checks the device record, so a stale index row never
//! authenticates anyone.

use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use super::EmbeddedStore;
use super::codec::{
    compound_key, decode_record, decode_text, encode_record, key_prefix, split_first_component,
};
use super::engine::{Batch, Direction, KeyRange, KvEngine, Table};
use crate::storage::{
    AccessTokenOwner, DeviceRecord, DeviceStore, DeviceTokens, Error, NewDevice, RefreshTokenOwner, TokenHash,
};

/// A device as stored; user and device ID are the key.
#[derive(Clone, Serialize, Deserialize)]
struct StoredDevice {
    display_name: Option<String>,
    last_seen_ip: Option<String>,
    last_seen_ts_ms: Option<u64>,
    created_at_ms: u64,
    access_token: [u8; 32],
    access_expires_at_ms: Option<u64>,
    refresh_token: Option<[u8; 32]>,
    /// The refresh token the last refresh replaced, still accepted until retired.
    previous_refresh_token: Option<[u8; 32]>,
}

impl StoredDevice {
    fn into_record(self, user_id: OwnedUserId, device_id: OwnedDeviceId) -> DeviceRecord {
        DeviceRecord {
            user_id,
            device_id,
            display_name: self.display_name,
            last_seen_ip: self.last_seen_ip,
            last_seen_ts_ms: self.last_seen_ts_ms,
            created_at_ms: self.created_at_ms,
        }
    }

    fn set_tokens(&mut self, tokens: &DeviceTokens) {
        self.access_token = tokens.access_token.0;
        self.access_expires_at_ms = tokens.access_expires_at_ms;
        self.refresh_token = tokens.refresh_token.map(|hash| hash.0);
    }

    fn refresh_hashes(&self) -> impl Iterator<Item = [u8; 32]> {
        self.refresh_token.into_iter().chain(self.previous_refresh_token)
    }
}

/// Key of a device row, and the value of its index rows.
fn device_key(user_id: &[u8], device_id: &[u8]) -> Vec<u8> {
    compound_key(&[user_id, device_id])
}

fn parse_device_key(key: &[u8]) -> Result<(OwnedUserId, OwnedDeviceId), Error> {
    let (user_id, device_id) = split_first_component(key)?;
    let user_id = OwnedUserId::try_from(decode_text(user_id)?)
        .map_err(|error| Error::Corrupt(format!("stored user ID is invalid: {error}")))?;
    Ok((user_id, OwnedDeviceId::from(decode_text(device_id)?)))
}

fn load_device(engine: &dyn KvEngine, key: &[u8]) -> Result<Option<StoredDevice>, Error> {
    engine.get(Table::Devices, key)?.map(|bytes| decode_record(&bytes)).transpose()
}

/// Adds to `batch` the index changes that take the device at `key` from `old` to `new`
/// (`None` = no device): rows of hashes it no longer has go, rows of its current hashes
/// are (re)written. Deletes come first so a hash kept across the change survives.
fn reindex(batch: &mut Batch, key: &[u8], old: Option<&StoredDevice>, new: Option<&StoredDevice>) {
    let new_access = new.map(|device| device.access_token);
    let new_refresh: Vec<[u8; 32]> = new.map(|device| device.refresh_hashes().collect()).unwrap_or_default();
    if let Some(old) = old {
        if Some(old.access_token) != new_access {
            batch.delete(Table::AccessTokens, old.access_token.to_vec());
        }
        for hash in old.refresh_hashes().filter(|hash| !new_refresh.contains(hash)) {
            batch.delete(Table::RefreshTokens, hash.to_vec());
        }
    }
    if let Some(access) = new_access {
        batch.put(Table::AccessTokens, access.to_vec(), key.to_vec());
    }
    for hash in new_refresh {
        batch.put(Table::RefreshTokens, hash.to_vec(), key.to_vec());
    }
}

/// Writes `new` (or deletes the device when `None`) with its index changes, atomically.
fn store_device(
    engine: &dyn KvEngine,
    key: Vec<u8>,
    old: Option<&StoredDevice>,
    new: Option<&StoredDevice>,
) -> Result<(), Error> {
    let mut batch = Batch::new();
    reindex(&mut batch, &key, old, new);
    match new {
        Some(device) => batch.put(Table::Devices, key, encode_record(device)?),
        None => batch.delete(Table::Devices, key),
    }
    engine.write(batch)
}

/// Follows an index row to the device it names: `(key, device)`, or `None` when the row
/// is missing or the device no longer exists.
fn follow_index(
    engine: &dyn KvEngine,
    index: Table,
    hash: &TokenHash,
) -> Result<Option<(Vec<u8>, StoredDevice)>, Error> {
    let Some(key) = engine.get(index, &hash.0)? else {
        return Ok(None);
    };
    Ok(load_device(engine, &key)?.map(|device| (key, device)))
}

/// How many device rows one scan step reads when a method needs all of a user's devices.
const DEVICE_PAGE: usize = 256;

/// Every device of the user whose devices all start with `prefix`, in device-ID order.
fn all_user_devices(engine: &dyn KvEngine, prefix: Vec<u8>) -> Result<Vec<(Vec<u8>, StoredDevice)>, Error> {
    let mut range = KeyRange::prefix(prefix);
    let mut devices = Vec::new();
    loop {
        let page = engine.scan(Table::Devices, &range, Direction::Forward, DEVICE_PAGE)?;
        let full_page = page.len() == DEVICE_PAGE;
        for (key, value) in page {
            range.from = super::engine::key_after(&key);
            devices.push((key, decode_record(&value)?));
        }
        if !full_page {
            return Ok(devices);
        }
    }
}

#[async_trait]
impl DeviceStore for EmbeddedStore {
    async fn upsert_device(&self, device: &NewDevice, tokens: &DeviceTokens) -> Result<(), Error> {
        let key = device_key(device.user_id.as_bytes(), device.device_id.as_bytes());
        let device = device.clone();
        let tokens = tokens.clone();
        self.run_locked(self.locks.devices(device.user_id.as_str()), move |engine| {
            let old = load_device(engine, &key)?;
            let mut new = match old.clone() {
                Some(mut existing) => {
                    if device.display_name.is_some() {
                        existing.display_name = device.display_name;
                    }
                    existing.last_seen_ip = device.ip.or(existing.last_seen_ip);
                    existing.last_seen_ts_ms = Some(device.now_ms);
                    existing
                }
                None => StoredDevice {
                    display_name: device.display_name,
                    last_seen_ip: device.ip,
                    last_seen_ts_ms: Some(device.now_ms),
                    created_at_ms: device.now_ms,
                    access_token: tokens.access_token.0,
                    access_expires_at_ms: None,
                    refresh_token: None,
                    previous_refresh_token: None,
                },
            };
            new.set_tokens(&tokens);
            new.previous_refresh_token = None;
            store_device(engine, key, old.as_ref(), Some(&new))
        })
        .await
    }

    async fn get_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Option<DeviceRecord>, Error> {
        let (user_id, device_id) = (user_id.to_owned(), device_id.to_owned());
        self.run(move |engine| {
            let key = device_key(user_id.as_bytes(), device_id.as_bytes());
            Ok(load_device(engine, &key)?.map(|device| device.into_record(user_id, device_id)))
        })
        .await
    }

    async fn list_devices(&self, user_id: &UserId) -> Result<Vec<DeviceRecord>, Error> {
        let prefix = key_prefix(&[user_id.as_bytes()]);
        self.run(move |engine| {
            all_user_devices(engine, prefix)?
                .into_iter()
                .map(|(key, device)| {
                    let (user_id, device_id) = parse_device_key(&key)?;
                    Ok(device.into_record(user_id, device_id))
                })
                .collect()
        })
        .await
    }

    async fn set_device_display_name(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<&str>,
    ) -> Result<bool, Error> {
        let key = device_key(user_id.as_bytes(), device_id.as_bytes());
        let display_name = display_name.map(str::to_owned);
        self.run_locked(self.locks.devices(user_id.as_str()), move |engine| {
            let Some(mut device) = load_device(engine, &key)? else {
                return Ok(false);
            };
            device.display_name = display_name;
            let mut batch = Batch::new();
            batch.put(Table::Devices, key, encode_record(&device)?);
            engine.write(batch)?;
            Ok(true)
        })
        .await
    }

    async fn touch_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        ip: &str,
        now_ms: u64,
    ) -> Result<(), Error> {
        let key = device_key(user_id.as_bytes(), device_id.as_bytes());
        let ip = ip.to_owned();
        self.run_locked(self.locks.devices(user_id.as_str()), move |engine| {
            let Some(mut device) = load_device(engine, &key)? else {
                return Ok(());
            };
            device.last_seen_ip = Some(ip);
            device.last_seen_ts_ms = Some(now_ms);
            let mut batch = Batch::new();
            batch.put(Table::Devices, key, encode_record(&device)?);
            engine.write(batch)
        })
        .await
    }

    async fn delete_device(&self, user_id: &UserId, device_id: &DeviceId) -> Result<bool, Error> {
        let key = device_key(user_id.as_bytes(), device_id.as_bytes());
        self.run_locked(self.locks.devices(user_id.as_str()), move |engine| {
            let Some(device) = load_device(engine, &key)? else {
                return Ok(false);
            };
            store_device(engine, key, Some(&device), None)?;
            Ok(true)
        })
        .await
    }

    async fn delete_devices_except(
        &self,
        user_id: &UserId,
        keep: Option<&DeviceId>,
    ) -> Result<Vec<OwnedDeviceId>, Error> {
        let prefix = key_prefix(&[user_id.as_bytes()]);
        let keep = keep.map(|device_id| device_key(user_id.as_bytes(), device_id.as_bytes()));
        self.run_locked(self.locks.devices(user_id.as_str()), move |engine| {
            let mut batch = Batch::new();
            let mut deleted = Vec::new();
            for (key, device) in all_user_devices(engine, prefix)? {
                if keep.as_ref() == Some(&key) {
                    continue;
                }
                reindex(&mut batch, &key, Some(&device), None);
                deleted.push(parse_device_key(&key)?.1);
                batch.delete(Table::Devices, key);
            }
            engine.write(batch)?;
            Ok(deleted)
        })
        .await
    }

    async fn find_access_token(&self, token: &TokenHash) -> Result<Option<AccessTokenOwner>, Error> {
        let token = *token;
        self.run(move |engine| {
            let Some((key, device)) = follow_index(engine, Table::AccessTokens, &token)? else {
                return Ok(None);
            };
            if device.access_token != token.0 {
                return Ok(None);
            }
            let (user_id, device_id) = parse_device_key(&key)?;
            Ok(Some(AccessTokenOwner {
                user_id,
                device_id,
                expires_at_ms: device.access_expires_at_ms,
                token: TokenHash(device.access_token),
                has_previous_refresh_token: device.previous_refresh_token.is_some(),
            }))
        })
        .await
    }

    async fn find_refresh_token(&self, token: &TokenHash) -> Result<Option<RefreshTokenOwner>, Error> {
        let token = *token;
        self.run(move |engine| {
            let Some((key, device)) = follow_index(engine, Table::RefreshTokens, &token)? else {
                return Ok(None);
            };
            if !device.refresh_hashes().any(|hash| hash == token.0) {
                return Ok(None);
            }
            let (user_id, device_id) = parse_device_key(&key)?;
            Ok(Some(RefreshTokenOwner { user_id, device_id, token }))
        })
        .await
    }

    async fn refresh_tokens(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        used_refresh: &TokenHash,
        new_tokens: &DeviceTokens,
    ) -> Result<bool, Error> {
        let key = device_key(user_id.as_bytes(), device_id.as_bytes());
        let (used, new_tokens) = (used_refresh.0, new_tokens.clone());
        self.run_locked(self.locks.devices(user_id.as_str()), move |engine| {
            let Some(old) = load_device(engine, &key)? else {
                return Ok(false);
            };
            let mut new = old.clone();
            if old.refresh_token == Some(used) {
                // The used token stays accepted as "previous" until the new access token
                // is first used, so a client that lost this response can retry.
                new.previous_refresh_token = Some(used);
            } else if old.previous_refresh_token != Some(used) {
                return Ok(false);
            }
            new.set_tokens(&new_tokens);
            store_device(engine, key, Some(&old), Some(&new))?;
            Ok(true)
        })
        .await
    }

    async fn retire_previous_refresh_token(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<(), Error> {
        let key = device_key(user_id.as_bytes(), device_id.as_bytes());
        self.run_locked(self.locks.devices(user_id.as_str()), move |engine| {
            let Some(old) = load_device(engine, &key)? else {
                return Ok(());
            };
            if old.previous_refresh_token.is_none() {
                return Ok(());
            }
            let mut new = old.clone();
            new.previous_refresh_token = None;
            store_device(engine, key, Some(&old), Some(&new))
        })
        .await
    }
}
