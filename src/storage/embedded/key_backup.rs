//! Key backups in the embedded store.
//!
//! `backup_versions`: user, version → record (algorithm, auth data, etag, count, deleted
//! mark; deleted versions stay so their numbers are never handed out again).
//! `backup_keys`: user, version, room, session → session key JSON. Every write holds the
//! user's e2ee lock and rewrites the version record (etag, count) in the same batch.

use async_trait::async_trait;
use ruma::{OwnedRoomId, RoomId, UserId};
use serde::{Deserialize, Serialize};

use super::EmbeddedStore;
use super::codec::{SEPARATOR, decode_record, decode_text, encode_record, encode_u64, key_prefix};
use super::e2ee_keys::scan_all;
use super::engine::{Batch, Direction, KeyRange, KvEngine, Table};
use crate::storage::key_backup::backup_key_replaces;
use crate::storage::{BackupKey, BackupState, BackupVersion, Error, KeyBackupStore};

#[derive(Serialize, Deserialize)]
struct StoredVersion {
    algorithm: String,
    auth_data: String,
    etag: u64,
    count: u64,
    deleted: bool,
}

fn version_key(user_id: &UserId, version: u64) -> Vec<u8> {
    let mut key = key_prefix(&[user_id.as_bytes()]);
    key.extend_from_slice(&encode_u64(version));
    key
}

/// Prefix of a version's keys, of one room, or the key of one session.
fn keys_prefix(
    user_id: &UserId,
    version: u64,
    room_id: Option<&RoomId>,
    session_id: Option<&str>,
) -> Vec<u8> {
    let mut key = version_key(user_id, version);
    key.push(SEPARATOR);
    if let Some(room_id) = room_id {
        key.extend_from_slice(room_id.as_bytes());
        key.push(SEPARATOR);
        if let Some(session_id) = session_id {
            key.extend_from_slice(session_id.as_bytes());
        }
    }
    key
}

fn load_version(
    engine: &dyn KvEngine,
    user_id: &UserId,
    version: u64,
) -> Result<Option<StoredVersion>, Error> {
    let stored = engine.get(Table::BackupVersions, &version_key(user_id, version))?;
    Ok(stored.map(|bytes| decode_record::<StoredVersion>(&bytes)).transpose()?.filter(|v| !v.deleted))
}

fn parse_backup_key(prefix_len: usize, key: &[u8], value: &[u8]) -> Result<BackupKey, Error> {
    let rest = key.get(prefix_len..).unwrap_or_default();
    let (room, session) = super::codec::split_first_component(rest)?;
    let room_id = OwnedRoomId::try_from(decode_text(room)?)
        .map_err(|error| Error::Corrupt(format!("stored room ID is invalid: {error}")))?;
    Ok(BackupKey { room_id, session_id: decode_text(session)?, json: decode_text(value)? })
}

fn into_version(version: u64, stored: StoredVersion) -> BackupVersion {
    BackupVersion {
        version,
        algorithm: stored.algorithm,
        auth_data: stored.auth_data,
        etag: stored.etag,
        count: stored.count,
    }
}

fn latest_version(engine: &dyn KvEngine, user_id: &UserId) -> Result<Option<BackupVersion>, Error> {
    let prefix = key_prefix(&[user_id.as_bytes()]);
    let mut range = KeyRange::prefix(prefix.clone());
    loop {
        let page = engine.scan(Table::BackupVersions, &range, Direction::Reverse, 64)?;
        let full = page.len() == 64;
        for (key, value) in &page {
            let stored: StoredVersion = decode_record(value)?;
            if !stored.deleted {
                let number = super::codec::decode_u64(key.get(prefix.len()..).unwrap_or_default())?;
                return Ok(Some(into_version(number, stored)));
            }
            range.to = Some(key.clone());
        }
        if !full {
            return Ok(None);
        }
    }
}

fn put_keys(
    engine: &dyn KvEngine,
    user_id: &UserId,
    version: u64,
    keys: &[BackupKey],
) -> Result<Option<BackupState>, Error> {
    let Some(mut stored) = load_version(engine, user_id, version)? else {
        return Ok(None);
    };
    let mut batch = Batch::new();
    for key in keys {
        let row = keys_prefix(user_id, version, Some(&key.room_id), Some(&key.session_id));
        match engine.get(Table::BackupKeys, &row)? {
            Some(old) if !backup_key_replaces(&decode_text(&old)?, &key.json) => continue,
            Some(_) => {}
            None => stored.count = stored.count.saturating_add(1),
        }
        batch.put(Table::BackupKeys, row, key.json.as_bytes().to_vec());
    }
    if !batch.is_empty() {
        stored.etag = stored.etag.saturating_add(1);
        batch.put(Table::BackupVersions, version_key(user_id, version), encode_record(&stored)?);
        engine.write(batch)?;
    }
    Ok(Some((stored.etag, stored.count)))
}

#[async_trait]
impl KeyBackupStore for EmbeddedStore {
    async fn create_backup_version(
        &self,
        user_id: &UserId,
        algorithm: &str,
        auth_data: &str,
    ) -> Result<u64, Error> {
        let user = user_id.to_owned();
        let record = StoredVersion {
            algorithm: algorithm.to_owned(),
            auth_data: auth_data.to_owned(),
            etag: 0,
            count: 0,
            deleted: false,
        };
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            let prefix = key_prefix(&[user.as_bytes()]);
            let last = engine.scan(
                Table::BackupVersions,
                &KeyRange::prefix(prefix.clone()),
                Direction::Reverse,
                1,
            )?;
            let version = match last.first() {
                Some((key, _)) => {
                    super::codec::decode_u64(key.get(prefix.len()..).unwrap_or_default())?.saturating_add(1)
                }
                None => 1,
            };
            let mut batch = Batch::new();
            batch.put(Table::BackupVersions, version_key(&user, version), encode_record(&record)?);
            engine.write(batch)?;
            Ok(version)
        })
        .await
    }

    async fn backup_version(
        &self,
        user_id: &UserId,
        version: Option<u64>,
    ) -> Result<Option<BackupVersion>, Error> {
        let user = user_id.to_owned();
        self.run(move |engine| match version {
            Some(number) => {
                Ok(load_version(engine, &user, number)?.map(|stored| into_version(number, stored)))
            }
            None => latest_version(engine, &user),
        })
        .await
    }

    async fn update_backup_auth_data(
        &self,
        user_id: &UserId,
        version: u64,
        auth_data: &str,
    ) -> Result<bool, Error> {
        let (user, auth_data) = (user_id.to_owned(), auth_data.to_owned());
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            let Some(mut stored) = load_version(engine, &user, version)? else {
                return Ok(false);
            };
            stored.auth_data = auth_data;
            let mut batch = Batch::new();
            batch.put(Table::BackupVersions, version_key(&user, version), encode_record(&stored)?);
            engine.write(batch)?;
            Ok(true)
        })
        .await
    }

    async fn delete_backup_version(&self, user_id: &UserId, version: u64) -> Result<bool, Error> {
        let user = user_id.to_owned();
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            let Some(mut stored) = load_version(engine, &user, version)? else {
                return Ok(false);
            };
            let mut batch = Batch::new();
            for (key, _) in scan_all(engine, Table::BackupKeys, keys_prefix(&user, version, None, None))? {
                batch.delete(Table::BackupKeys, key);
            }
            stored.deleted = true;
            stored.count = 0;
            batch.put(Table::BackupVersions, version_key(&user, version), encode_record(&stored)?);
            engine.write(batch)?;
            Ok(true)
        })
        .await
    }

    async fn put_backup_keys(
        &self,
        user_id: &UserId,
        version: u64,
        keys: &[BackupKey],
    ) -> Result<Option<BackupState>, Error> {
        let (user, keys) = (user_id.to_owned(), keys.to_vec());
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            put_keys(engine, &user, version, &keys)
        })
        .await
    }

    async fn backup_keys(
        &self,
        user_id: &UserId,
        version: u64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Vec<BackupKey>, Error> {
        let user = user_id.to_owned();
        let prefix_len = keys_prefix(user_id, version, None, None).len();
        let scope = keys_prefix(user_id, version, room_id, session_id);
        let single = session_id.is_some() && room_id.is_some();
        self.run(move |engine| {
            if load_version(engine, &user, version)?.is_none() {
                return Ok(Vec::new());
            }
            if single {
                return match engine.get(Table::BackupKeys, &scope)? {
                    Some(value) => Ok(vec![parse_backup_key(prefix_len, &scope, &value)?]),
                    None => Ok(Vec::new()),
                };
            }
            scan_all(engine, Table::BackupKeys, scope)?
                .into_iter()
                .map(|(key, value)| parse_backup_key(prefix_len, &key, &value))
                .collect()
        })
        .await
    }

    async fn delete_backup_keys(
        &self,
        user_id: &UserId,
        version: u64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Option<BackupState>, Error> {
        let user = user_id.to_owned();
        let scope = keys_prefix(user_id, version, room_id, session_id);
        let single = session_id.is_some() && room_id.is_some();
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            let Some(mut stored) = load_version(engine, &user, version)? else {
                return Ok(None);
            };
            let doomed: Vec<Vec<u8>> = if single {
                engine.get(Table::BackupKeys, &scope)?.map(|_| scope.clone()).into_iter().collect()
            } else {
                scan_all(engine, Table::BackupKeys, scope)?.into_iter().map(|(key, _)| key).collect()
            };
            if doomed.is_empty() {
                return Ok(Some((stored.etag, stored.count)));
            }
            let mut batch = Batch::new();
            stored.count = stored.count.saturating_sub(doomed.len() as u64);
            stored.etag = stored.etag.saturating_add(1);
            for key in doomed {
                batch.delete(Table::BackupKeys, key);
            }
            batch.put(Table::BackupVersions, version_key(&user, version), encode_record(&stored)?);
            engine.write(batch)?;
            Ok(Some((stored.etag, stored.count)))
        })
        .await
    }
}
