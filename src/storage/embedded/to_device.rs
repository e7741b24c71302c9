//! To-device queues and device-list changes in the embedded store.
//!
//! `to_device`: user, device, position, index → message, so a device's queue is one
//! forward scan and an acknowledgement deletes a prefix of it. `to_device_counts` keeps
//! each queue's length so the cap needs no scan; `to_device_txns` remembers senders'
//! transactions. All writes hold the one to-device lock: one send touches many queues.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use super::EmbeddedStore;
use super::codec::{SEPARATOR, compound_key, decode_text, decode_u64, encode_u64, key_prefix};
use super::e2ee_keys::scan_all;
use super::engine::{Batch, Direction, KeyRange, KvEngine, Table};
use crate::storage::{Error, Position, ToDeviceMessage, ToDeviceQueued, ToDeviceStore, ToDeviceTxn};

fn queue_prefix(user_id: &UserId, device_id: &DeviceId) -> Vec<u8> {
    key_prefix(&[user_id.as_bytes(), device_id.as_bytes()])
}

fn message_key(user_id: &UserId, device_id: &DeviceId, position: u64, index: u32) -> Vec<u8> {
    let mut key = queue_prefix(user_id, device_id);
    key.extend_from_slice(&encode_u64(position));
    key.push(SEPARATOR);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

fn position_bound(user_id: &UserId, device_id: &DeviceId, position: u64) -> Vec<u8> {
    let mut key = queue_prefix(user_id, device_id);
    key.extend_from_slice(&encode_u64(position));
    key
}

fn count_key(user_id: &UserId, device_id: &DeviceId) -> Vec<u8> {
    compound_key(&[user_id.as_bytes(), device_id.as_bytes()])
}

fn load_count(engine: &dyn KvEngine, key: &[u8]) -> Result<u64, Error> {
    engine.get(Table::ToDeviceCounts, key)?.map_or(Ok(0), |bytes| decode_u64(&bytes))
}

fn write_count(batch: &mut Batch, key: Vec<u8>, count: u64) {
    if count == 0 {
        batch.delete(Table::ToDeviceCounts, key);
    } else {
        batch.put(Table::ToDeviceCounts, key, encode_u64(count).to_vec());
    }
}

/// Queues the messages; per device, drops the oldest beyond `cap`.
fn queue(
    engine: &dyn KvEngine,
    txn_key: Vec<u8>,
    position: u64,
    messages: &[ToDeviceMessage],
    cap: u64,
) -> Result<ToDeviceQueued, Error> {
    if engine.get(Table::ToDeviceTxns, &txn_key)?.is_some() {
        return Ok(ToDeviceQueued { queued: false, dropped: Vec::new() });
    }
    let mut batch = Batch::new();
    batch.put(Table::ToDeviceTxns, txn_key, encode_u64(position).to_vec());
    let mut added: BTreeMap<(OwnedUserId, OwnedDeviceId), u64> = BTreeMap::new();
    for (index, message) in messages.iter().enumerate() {
        let index =
            u32::try_from(index).map_err(|_| Error::Backend("too many to-device messages".to_owned()))?;
        let key = message_key(&message.recipient, &message.device_id, position, index);
        batch.put(Table::ToDevice, key, message.json.as_bytes().to_vec());
        *added.entry((message.recipient.clone(), message.device_id.clone())).or_insert(0) += 1;
    }
    let mut dropped = Vec::new();
    for ((user_id, device_id), new) in added {
        let counter = count_key(&user_id, &device_id);
        let total = load_count(engine, &counter)?.saturating_add(new);
        let excess = total.saturating_sub(cap);
        if excess > 0 {
            // The new messages sort last, so the oldest `excess` stored ones go (if the
            // batch alone exceeds the cap, its own first messages go too).
            let limit = usize::try_from(excess).unwrap_or(usize::MAX);
            let range = KeyRange::prefix(queue_prefix(&user_id, &device_id));
            let old = engine.scan(Table::ToDevice, &range, Direction::Forward, limit)?;
            let from_batch = excess.saturating_sub(old.len() as u64);
            for (key, _) in old {
                batch.delete(Table::ToDevice, key);
            }
            drop_from_batch(&mut batch, &user_id, &device_id, position, from_batch);
            dropped.push((user_id.clone(), device_id.clone(), excess));
        }
        write_count(&mut batch, counter, total.min(cap));
    }
    engine.write(batch)?;
    Ok(ToDeviceQueued { queued: true, dropped })
}

/// Deletes the first `count` messages this batch queues for one device.
fn drop_from_batch(batch: &mut Batch, user_id: &UserId, device_id: &DeviceId, position: u64, count: u64) {
    let prefix = position_bound(user_id, device_id, position);
    let doomed: Vec<Vec<u8>> = batch
        .ops
        .iter()
        .filter_map(|op| match op {
            super::engine::BatchOp::Put { table: Table::ToDevice, key, .. } if key.starts_with(&prefix) => {
                Some(key.clone())
            }
            _ => None,
        })
        .take(usize::try_from(count).unwrap_or(usize::MAX))
        .collect();
    for key in doomed {
        batch.delete(Table::ToDevice, key);
    }
}

#[async_trait]
impl ToDeviceStore for EmbeddedStore {
    async fn queue_to_device(
        &self,
        txn: &ToDeviceTxn,
        position: Position,
        messages: &[ToDeviceMessage],
        cap: u64,
    ) -> Result<ToDeviceQueued, Error> {
        let txn_key =
            compound_key(&[txn.sender.as_bytes(), txn.sender_device.as_bytes(), txn.txn_id.as_bytes()]);
        let messages = messages.to_vec();
        self.run_locked(self.locks.to_device(), move |engine| {
            queue(engine, txn_key, position.0, &messages, cap)
        })
        .await
    }

    async fn to_device_messages(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        after: Position,
        upto: Position,
        limit: usize,
    ) -> Result<Vec<(Position, String)>, Error> {
        if upto <= after || limit == 0 {
            return Ok(Vec::new());
        }
        let prefix_len = queue_prefix(user_id, device_id).len();
        let from = position_bound(user_id, device_id, after.0.saturating_add(1));
        let to = match upto.0.checked_add(1) {
            Some(end) => Some(position_bound(user_id, device_id, end)),
            None => KeyRange::prefix(queue_prefix(user_id, device_id)).to,
        };
        self.run(move |engine| {
            let rows = engine.scan(Table::ToDevice, &KeyRange { from, to }, Direction::Forward, limit)?;
            rows.into_iter()
                .map(|(key, value)| {
                    let position = key.get(prefix_len..prefix_len + 8).unwrap_or_default();
                    Ok((Position(decode_u64(position)?), decode_text(&value)?))
                })
                .collect()
        })
        .await
    }

    async fn ack_to_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        upto: Position,
    ) -> Result<(), Error> {
        let prefix = queue_prefix(user_id, device_id);
        let end = position_bound(user_id, device_id, upto.0.saturating_add(1));
        let counter = count_key(user_id, device_id);
        self.run_locked(self.locks.to_device(), move |engine| {
            let range = KeyRange::between(prefix, end);
            let acked = engine.scan(Table::ToDevice, &range, Direction::Forward, usize::MAX)?;
            if acked.is_empty() {
                return Ok(());
            }
            let mut batch = Batch::new();
            let remaining = load_count(engine, &counter)?.saturating_sub(acked.len() as u64);
            for (key, _) in acked {
                batch.delete(Table::ToDevice, key);
            }
            write_count(&mut batch, counter, remaining);
            engine.write(batch)
        })
        .await
    }

    async fn delete_to_device_queue(&self, user_id: &UserId, device_id: &DeviceId) -> Result<(), Error> {
        let prefix = queue_prefix(user_id, device_id);
        let counter = count_key(user_id, device_id);
        self.run_locked(self.locks.to_device(), move |engine| {
            let mut batch = Batch::new();
            for (key, _) in scan_all(engine, Table::ToDevice, prefix)? {
                batch.delete(Table::ToDevice, key);
            }
            batch.delete(Table::ToDeviceCounts, counter);
            engine.write(batch)
        })
        .await
    }
}
