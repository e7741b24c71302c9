//! E2EE keys in the embedded store.
//!
//! `device_keys`: user, device → JSON. `one_time_keys`: user, device, algorithm,
//! sequence → key ID and JSON, so a claim is one forward step over the device's keys of
//! that algorithm (oldest first); `one_time_key_ids`: user, device, key ID → sequence, to
//! refuse a reused key ID. `fallback_keys`: user, device, algorithm → key and used mark.
//! `cross_signing_keys`: user, kind → JSON. `key_signatures`: target user, target key,
//! signer, signer key → signature. Writers of one user's rows hold that user's e2ee lock,
//! so a claim's read and delete are one step for every other claimer.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use super::EmbeddedStore;
use super::codec::{
    compound_key, decode_record, decode_text, decode_u64, encode_record, encode_u64, key_prefix,
};
use super::engine::{Batch, Direction, KeyRange, KeyValue, KvEngine, Table, key_after};
use crate::storage::{CrossSigningKind, E2eeKeyStore, Error, KeySignature, OneTimeKeyRecord};

#[derive(Serialize, Deserialize)]
struct StoredOneTimeKey {
    key_id: String,
    json: String,
}

#[derive(Serialize, Deserialize)]
struct StoredDehydratedDevice {
    device_id: String,
    device_data: String,
}

#[derive(Serialize, Deserialize)]
struct StoredFallbackKey {
    key_id: String,
    json: String,
    used: bool,
}

/// How many rows one scan step reads when a method needs all rows under a prefix.
const PAGE: usize = 512;

/// Every row under `prefix`, page by page.
pub(super) fn scan_all(engine: &dyn KvEngine, table: Table, prefix: Vec<u8>) -> Result<Vec<KeyValue>, Error> {
    let mut range = KeyRange::prefix(prefix);
    let mut rows = Vec::new();
    loop {
        let page = engine.scan(table, &range, Direction::Forward, PAGE)?;
        let full = page.len() == PAGE;
        if let Some((last, _)) = page.last() {
            range.from = key_after(last);
        }
        rows.extend(page);
        if !full {
            return Ok(rows);
        }
    }
}

fn device_prefix(user_id: &UserId, device_id: &DeviceId) -> Vec<u8> {
    key_prefix(&[user_id.as_bytes(), device_id.as_bytes()])
}

fn algorithm_prefix(user_id: &UserId, device_id: &DeviceId, algorithm: &str) -> Vec<u8> {
    key_prefix(&[user_id.as_bytes(), device_id.as_bytes(), algorithm.as_bytes()])
}

fn otk_key(user_id: &UserId, device_id: &DeviceId, algorithm: &str, sequence: u64) -> Vec<u8> {
    let mut key = algorithm_prefix(user_id, device_id, algorithm);
    key.extend_from_slice(&encode_u64(sequence));
    key
}

fn otk_id_key(user_id: &UserId, device_id: &DeviceId, key_id: &str) -> Vec<u8> {
    compound_key(&[user_id.as_bytes(), device_id.as_bytes(), key_id.as_bytes()])
}

fn algorithm_of(key_id: &str) -> &str {
    key_id.split_once(':').map_or(key_id, |(algorithm, _)| algorithm)
}

/// The next sequence number for the device's keys of `algorithm`.
fn next_sequence(
    engine: &dyn KvEngine,
    user_id: &UserId,
    device_id: &DeviceId,
    algorithm: &str,
) -> Result<u64, Error> {
    let prefix = algorithm_prefix(user_id, device_id, algorithm);
    let last = engine.scan(Table::OneTimeKeys, &KeyRange::prefix(prefix.clone()), Direction::Reverse, 1)?;
    match last.first() {
        Some((key, _)) => Ok(decode_u64(key.get(prefix.len()..).unwrap_or_default())?.saturating_add(1)),
        None => Ok(1),
    }
}

fn add_keys(
    engine: &dyn KvEngine,
    user_id: &UserId,
    device_id: &DeviceId,
    keys: &[OneTimeKeyRecord],
) -> Result<Vec<String>, Error> {
    let mut conflicts = Vec::new();
    let mut fresh = Vec::new();
    for key in keys {
        let Some(sequence) =
            engine.get(Table::OneTimeKeyIds, &otk_id_key(user_id, device_id, &key.key_id))?
        else {
            fresh.push(key);
            continue;
        };
        let algorithm = algorithm_of(&key.key_id);
        let stored = engine
            .get(Table::OneTimeKeys, &otk_key(user_id, device_id, algorithm, decode_u64(&sequence)?))?;
        let same = match stored {
            Some(bytes) => decode_record::<StoredOneTimeKey>(&bytes)?.json == key.json,
            None => false,
        };
        if !same {
            conflicts.push(key.key_id.clone());
        }
    }
    if !conflicts.is_empty() || fresh.is_empty() {
        return Ok(conflicts);
    }
    let mut batch = Batch::new();
    let mut next: BTreeMap<&str, u64> = BTreeMap::new();
    for key in fresh {
        let algorithm = algorithm_of(&key.key_id);
        let sequence = match next.get(algorithm) {
            Some(sequence) => *sequence,
            None => next_sequence(engine, user_id, device_id, algorithm)?,
        };
        next.insert(algorithm, sequence.saturating_add(1));
        let record = StoredOneTimeKey { key_id: key.key_id.clone(), json: key.json.clone() };
        batch.put(
            Table::OneTimeKeys,
            otk_key(user_id, device_id, algorithm, sequence),
            encode_record(&record)?,
        );
        batch.put(
            Table::OneTimeKeyIds,
            otk_id_key(user_id, device_id, &key.key_id),
            encode_u64(sequence).to_vec(),
        );
    }
    engine.write(batch)?;
    Ok(Vec::new())
}

fn claim_key(
    engine: &dyn KvEngine,
    user_id: &UserId,
    device_id: &DeviceId,
    algorithm: &str,
) -> Result<Option<OneTimeKeyRecord>, Error> {
    let range = KeyRange::prefix(algorithm_prefix(user_id, device_id, algorithm));
    let Some((key, value)) =
        engine.scan(Table::OneTimeKeys, &range, Direction::Forward, 1)?.into_iter().next()
    else {
        return Ok(None);
    };
    let stored: StoredOneTimeKey = decode_record(&value)?;
    let mut batch = Batch::new();
    batch.delete(Table::OneTimeKeys, key);
    batch.delete(Table::OneTimeKeyIds, otk_id_key(user_id, device_id, &stored.key_id));
    engine.write(batch)?;
    Ok(Some(OneTimeKeyRecord { key_id: stored.key_id, json: stored.json }))
}

fn signature_prefix(target_user: &UserId) -> Vec<u8> {
    key_prefix(&[target_user.as_bytes()])
}

fn parse_signature(prefix_len: usize, key: &[u8], value: &[u8]) -> Result<KeySignature, Error> {
    let rest = key.get(prefix_len..).unwrap_or_default();
    let parts: Vec<&[u8]> = rest.split(|byte| *byte == super::codec::SEPARATOR).collect();
    let [target, signer, signer_key] = parts.as_slice() else {
        return Err(Error::Corrupt("malformed key signature row".to_owned()));
    };
    let signer = OwnedUserId::try_from(decode_text(signer)?)
        .map_err(|error| Error::Corrupt(format!("stored user ID is invalid: {error}")))?;
    Ok(KeySignature {
        target_key_id: decode_text(target)?,
        signer,
        signer_key_id: decode_text(signer_key)?,
        signature: decode_text(value)?,
    })
}

#[async_trait]
impl E2eeKeyStore for EmbeddedStore {
    async fn put_device_keys(&self, user_id: &UserId, device_id: &DeviceId, json: &str) -> Result<(), Error> {
        let key = compound_key(&[user_id.as_bytes(), device_id.as_bytes()]);
        let json = json.as_bytes().to_vec();
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            let mut batch = Batch::new();
            batch.put(Table::DeviceKeys, key, json);
            engine.write(batch)
        })
        .await
    }

    async fn get_device_keys(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Option<String>, Error> {
        let key = compound_key(&[user_id.as_bytes(), device_id.as_bytes()]);
        self.run(move |engine| {
            engine.get(Table::DeviceKeys, &key)?.map(|bytes| decode_text(&bytes)).transpose()
        })
        .await
    }

    async fn list_device_keys(&self, user_id: &UserId) -> Result<Vec<(OwnedDeviceId, String)>, Error> {
        let prefix = key_prefix(&[user_id.as_bytes()]);
        self.run(move |engine| {
            scan_all(engine, Table::DeviceKeys, prefix.clone())?
                .into_iter()
                .map(|(key, value)| {
                    let device = decode_text(key.get(prefix.len()..).unwrap_or_default())?;
                    Ok((OwnedDeviceId::from(device), decode_text(&value)?))
                })
                .collect()
        })
        .await
    }

    async fn add_one_time_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[OneTimeKeyRecord],
    ) -> Result<Vec<String>, Error> {
        let (user, device, keys) = (user_id.to_owned(), device_id.to_owned(), keys.to_vec());
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            add_keys(engine, &user, &device, &keys)
        })
        .await
    }

    async fn one_time_key_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<BTreeMap<String, u64>, Error> {
        let prefix = device_prefix(user_id, device_id);
        self.run(move |engine| {
            let mut counts = BTreeMap::new();
            for (key, _) in scan_all(engine, Table::OneTimeKeys, prefix.clone())? {
                let rest = key.get(prefix.len()..).unwrap_or_default();
                let algorithm = rest.get(..rest.len().saturating_sub(9)).unwrap_or_default();
                *counts.entry(decode_text(algorithm)?).or_insert(0) += 1;
            }
            Ok(counts)
        })
        .await
    }

    async fn claim_one_time_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> Result<Option<OneTimeKeyRecord>, Error> {
        let (user, device, algorithm) = (user_id.to_owned(), device_id.to_owned(), algorithm.to_owned());
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            claim_key(engine, &user, &device, &algorithm)
        })
        .await
    }

    async fn put_fallback_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        key: &OneTimeKeyRecord,
    ) -> Result<(), Error> {
        let row = compound_key(&[user_id.as_bytes(), device_id.as_bytes(), key.algorithm().as_bytes()]);
        let key = key.clone();
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            if let Some(bytes) = engine.get(Table::FallbackKeys, &row)? {
                let stored: StoredFallbackKey = decode_record(&bytes)?;
                if stored.key_id == key.key_id && stored.json == key.json {
                    return Ok(());
                }
            }
            let record = StoredFallbackKey { key_id: key.key_id, json: key.json, used: false };
            let mut batch = Batch::new();
            batch.put(Table::FallbackKeys, row, encode_record(&record)?);
            engine.write(batch)
        })
        .await
    }

    async fn claim_fallback_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> Result<Option<OneTimeKeyRecord>, Error> {
        let row = compound_key(&[user_id.as_bytes(), device_id.as_bytes(), algorithm.as_bytes()]);
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            let Some(bytes) = engine.get(Table::FallbackKeys, &row)? else {
                return Ok(None);
            };
            let mut stored: StoredFallbackKey = decode_record(&bytes)?;
            if !stored.used {
                stored.used = true;
                let mut batch = Batch::new();
                batch.put(Table::FallbackKeys, row, encode_record(&stored)?);
                engine.write(batch)?;
            }
            Ok(Some(OneTimeKeyRecord { key_id: stored.key_id, json: stored.json }))
        })
        .await
    }

    async fn unused_fallback_key_algorithms(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Vec<String>, Error> {
        let prefix = device_prefix(user_id, device_id);
        self.run(move |engine| {
            let mut algorithms = Vec::new();
            for (key, value) in scan_all(engine, Table::FallbackKeys, prefix.clone())? {
                if !decode_record::<StoredFallbackKey>(&value)?.used {
                    algorithms.push(decode_text(key.get(prefix.len()..).unwrap_or_default())?);
                }
            }
            Ok(algorithms)
        })
        .await
    }

    async fn delete_device_e2ee(&self, user_id: &UserId, device_id: &DeviceId) -> Result<(), Error> {
        let (user, device) = (user_id.to_owned(), device_id.to_owned());
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            let mut batch = Batch::new();
            batch.delete(Table::DeviceKeys, compound_key(&[user.as_bytes(), device.as_bytes()]));
            let prefix = device_prefix(&user, &device);
            for table in [Table::OneTimeKeys, Table::OneTimeKeyIds, Table::FallbackKeys] {
                for (key, _) in scan_all(engine, table, prefix.clone())? {
                    batch.delete(table, key);
                }
            }
            let signatures = key_prefix(&[user.as_bytes(), device.as_bytes()]);
            for (key, _) in scan_all(engine, Table::KeySignatures, signatures)? {
                batch.delete(Table::KeySignatures, key);
            }
            engine.write(batch)
        })
        .await
    }

    async fn put_cross_signing_key(
        &self,
        user_id: &UserId,
        kind: CrossSigningKind,
        json: &str,
    ) -> Result<(), Error> {
        let key = compound_key(&[user_id.as_bytes(), kind.name().as_bytes()]);
        let json = json.as_bytes().to_vec();
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            let mut batch = Batch::new();
            batch.put(Table::CrossSigningKeys, key, json);
            engine.write(batch)
        })
        .await
    }

    async fn get_cross_signing_key(
        &self,
        user_id: &UserId,
        kind: CrossSigningKind,
    ) -> Result<Option<String>, Error> {
        let key = compound_key(&[user_id.as_bytes(), kind.name().as_bytes()]);
        self.run(move |engine| {
            engine.get(Table::CrossSigningKeys, &key)?.map(|bytes| decode_text(&bytes)).transpose()
        })
        .await
    }

    async fn add_key_signatures(
        &self,
        target_user: &UserId,
        signatures: &[KeySignature],
    ) -> Result<(), Error> {
        let mut batch = Batch::new();
        for signature in signatures {
            let key = compound_key(&[
                target_user.as_bytes(),
                signature.target_key_id.as_bytes(),
                signature.signer.as_bytes(),
                signature.signer_key_id.as_bytes(),
            ]);
            batch.put(Table::KeySignatures, key, signature.signature.as_bytes().to_vec());
        }
        self.run_locked(self.locks.e2ee(target_user.as_str()), move |engine| engine.write(batch)).await
    }

    async fn key_signatures(&self, target_user: &UserId) -> Result<Vec<KeySignature>, Error> {
        let prefix = signature_prefix(target_user);
        self.run(move |engine| {
            let mut signatures = scan_all(engine, Table::KeySignatures, prefix.clone())?
                .into_iter()
                .map(|(key, value)| parse_signature(prefix.len(), &key, &value))
                .collect::<Result<Vec<_>, Error>>()?;
            signatures.sort();
            Ok(signatures)
        })
        .await
    }

    async fn put_dehydrated_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        device_data: &str,
    ) -> Result<Option<OwnedDeviceId>, Error> {
        let key = user_id.as_bytes().to_vec();
        let record =
            StoredDehydratedDevice { device_id: device_id.to_string(), device_data: device_data.to_owned() };
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            let previous = load_dehydrated(engine, &key)?;
            let mut batch = Batch::new();
            batch.put(Table::DehydratedDevices, key, encode_record(&record)?);
            engine.write(batch)?;
            Ok(previous.map(|(device_id, _)| device_id))
        })
        .await
    }

    async fn get_dehydrated_device(
        &self,
        user_id: &UserId,
    ) -> Result<Option<(OwnedDeviceId, String)>, Error> {
        let key = user_id.as_bytes().to_vec();
        self.run(move |engine| load_dehydrated(engine, &key)).await
    }

    async fn delete_dehydrated_device(&self, user_id: &UserId) -> Result<Option<OwnedDeviceId>, Error> {
        let key = user_id.as_bytes().to_vec();
        self.run_locked(self.locks.e2ee(user_id.as_str()), move |engine| {
            let previous = load_dehydrated(engine, &key)?;
            if previous.is_some() {
                let mut batch = Batch::new();
                batch.delete(Table::DehydratedDevices, key);
                engine.write(batch)?;
            }
            Ok(previous.map(|(device_id, _)| device_id))
        })
        .await
    }
}

fn load_dehydrated(engine: &dyn KvEngine, key: &[u8]) -> Result<Option<(OwnedDeviceId, String)>, Error> {
    let Some(bytes) = engine.get(Table::DehydratedDevices, key)? else {
        return Ok(None);
    };
    let stored: StoredDehydratedDevice = decode_record(&bytes)?;
    Ok(Some((OwnedDeviceId::from(stored.device_id), stored.device_data)))
}
