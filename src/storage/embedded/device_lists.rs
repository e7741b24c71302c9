//! Device-list changes in the embedded store.
//!
//! `device_list_latest`: user → position of their latest change; `device_list_log`:
//! position, user → nothing, one row per user at that latest position (a new change
//! deletes the old row in the same batch), so "who changed in (since, upto]" is one
//! bounded forward scan, already deduplicated.

use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use super::EmbeddedStore;
use super::codec::{decode_text, decode_u64, encode_u64};
use super::engine::{Batch, Direction, KeyRange, Table};
use crate::storage::{DeviceListStore, Error, Position};

fn log_key(position: u64, user_id: &[u8]) -> Vec<u8> {
    let mut key = encode_u64(position).to_vec();
    key.extend_from_slice(user_id);
    key
}

#[async_trait]
impl DeviceListStore for EmbeddedStore {
    async fn record_device_list_change(&self, user_id: &UserId, position: Position) -> Result<(), Error> {
        let user = user_id.as_bytes().to_vec();
        self.run_locked(self.locks.device_lists(), move |engine| {
            let mut batch = Batch::new();
            if let Some(old) = engine.get(Table::DeviceListLatest, &user)? {
                let old = decode_u64(&old)?;
                if old >= position.0 {
                    return Ok(());
                }
                batch.delete(Table::DeviceListLog, log_key(old, &user));
            }
            batch.put(Table::DeviceListLog, log_key(position.0, &user), Vec::new());
            batch.put(Table::DeviceListLatest, user, encode_u64(position.0).to_vec());
            engine.write(batch)
        })
        .await
    }

    async fn device_list_changes(
        &self,
        since: Position,
        upto: Position,
        limit: usize,
    ) -> Result<Vec<(OwnedUserId, Position)>, Error> {
        if upto <= since || limit == 0 {
            return Ok(Vec::new());
        }
        let from = encode_u64(since.0.saturating_add(1)).to_vec();
        let to = upto.0.checked_add(1).map(|end| encode_u64(end).to_vec());
        self.run(move |engine| {
            let rows =
                engine.scan(Table::DeviceListLog, &KeyRange { from, to }, Direction::Forward, limit)?;
            rows.into_iter()
                .map(|(key, _)| {
                    let (position, user) = key
                        .split_at_checked(8)
                        .ok_or_else(|| Error::Corrupt("malformed device-list log key".to_owned()))?;
                    let user = OwnedUserId::try_from(decode_text(user)?)
                        .map_err(|error| Error::Corrupt(format!("stored user ID is invalid: {error}")))?;
                    Ok((user, Position(decode_u64(position)?)))
                })
                .collect()
        })
        .await
    }
}
