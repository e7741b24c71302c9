//! Per-user account data and its change log in the embedded store.
//!
//! `account_data`: user ID, room ID (empty for global data; real room IDs are never
//! empty), event type → position of the entry's latest change (u64 big-endian).
//! `account_data_log`: user ID, position, room ID, event type → content. Each entry has
//! exactly one log row, at its latest position: a write deletes the row of the previous
//! position in the same batch. So "what changed for this user in (since, upto]" is one
//! forward range scan over that user's rows, bounded by `limit`, already deduplicated,
//! and never touches other users' data.

use async_trait::async_trait;
use ruma::{OwnedRoomId, RoomId, UserId};

use super::EmbeddedStore;
use super::codec::{
    SEPARATOR, compound_key, decode_text, decode_u64, encode_u64, key_prefix, split_first_component,
};
use super::engine::{Batch, Direction, KeyRange, KvEngine, Table};
use crate::storage::{AccountDataChange, AccountDataStore, Error, Position};

fn entry_key(user_id: &UserId, room_id: Option<&RoomId>, event_type: &str) -> Vec<u8> {
    let room = room_id.map(|room_id| room_id.as_bytes()).unwrap_or_default();
    compound_key(&[user_id.as_bytes(), room, event_type.as_bytes()])
}

/// The prefix of every log row of `user_id`.
fn log_prefix(user_id: &UserId) -> Vec<u8> {
    key_prefix(&[user_id.as_bytes()])
}

/// The prefix of `user_id`'s log rows at `position`; rows at later positions sort after.
fn log_position_key(user_id: &UserId, position: u64) -> Vec<u8> {
    let mut key = log_prefix(user_id);
    key.extend_from_slice(&encode_u64(position));
    key
}

fn log_key(user_id: &UserId, position: u64, room_id: Option<&RoomId>, event_type: &str) -> Vec<u8> {
    let room = room_id.map(|room_id| room_id.as_bytes()).unwrap_or_default();
    let mut key = log_position_key(user_id, position);
    key.push(SEPARATOR);
    key.extend_from_slice(&compound_key(&[room, event_type.as_bytes()]));
    key
}

/// Reads a log row's key (after the user prefix) back into position, room and type.
fn parse_log_key(after_user: &[u8]) -> Result<(u64, Option<OwnedRoomId>, String), Error> {
    let corrupt = || Error::Corrupt("malformed account-data log key".to_owned());
    let (position, rest) = after_user.split_at_checked(8).ok_or_else(corrupt)?;
    let rest = rest.strip_prefix(&[SEPARATOR]).ok_or_else(corrupt)?;
    let (room, event_type) = split_first_component(rest)?;
    let room_id = if room.is_empty() {
        None
    } else {
        Some(
            OwnedRoomId::try_from(decode_text(room)?)
                .map_err(|error| Error::Corrupt(format!("stored room ID is invalid: {error}")))?,
        )
    };
    Ok((decode_u64(position)?, room_id, decode_text(event_type)?))
}

fn load_position(engine: &dyn KvEngine, entry_key: &[u8]) -> Result<Option<u64>, Error> {
    engine.get(Table::AccountData, entry_key)?.map(|bytes| decode_u64(&bytes)).transpose()
}

#[async_trait]
impl AccountDataStore for EmbeddedStore {
    async fn put_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
        content: &str,
        position: Position,
    ) -> Result<(), Error> {
        let (user_id, room_id, event_type) =
            (user_id.to_owned(), room_id.map(ToOwned::to_owned), event_type.to_owned());
        let content = content.as_bytes().to_vec();
        self.run_locked(self.locks.account_data(user_id.as_str()), move |engine| {
            let entry = entry_key(&user_id, room_id.as_deref(), &event_type);
            let mut batch = Batch::new();
            if let Some(old_position) = load_position(engine, &entry)? {
                batch.delete(
                    Table::AccountDataLog,
                    log_key(&user_id, old_position, room_id.as_deref(), &event_type),
                );
            }
            batch.put(
                Table::AccountDataLog,
                log_key(&user_id, position.0, room_id.as_deref(), &event_type),
                content,
            );
            batch.put(Table::AccountData, entry, encode_u64(position.0).to_vec());
            engine.write(batch)
        })
        .await
    }

    async fn get_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
    ) -> Result<Option<String>, Error> {
        let (user_id, room_id, event_type) =
            (user_id.to_owned(), room_id.map(ToOwned::to_owned), event_type.to_owned());
        self.run(move |engine| read_latest_content(engine, &user_id, room_id.as_deref(), &event_type)).await
    }

    async fn account_data_changes(
        &self,
        user_id: &UserId,
        since: Position,
        upto: Position,
        limit: usize,
    ) -> Result<Vec<AccountDataChange>, Error> {
        if upto <= since || limit == 0 {
            return Ok(Vec::new());
        }
        let user_id = user_id.to_owned();
        self.run(move |engine| {
            let prefix = log_prefix(&user_id);
            // Row keys at position p start with log_position_key(p): [since + 1, upto + 1).
            let from = log_position_key(&user_id, since.0.saturating_add(1));
            let range = match upto.0.checked_add(1) {
                Some(end) => KeyRange::between(from, log_position_key(&user_id, end)),
                None => KeyRange { from, to: KeyRange::prefix(prefix.clone()).to },
            };
            let rows = engine.scan(Table::AccountDataLog, &range, Direction::Forward, limit)?;
            rows.into_iter()
                .map(|(key, content)| {
                    let after_user = key.get(prefix.len()..).unwrap_or_default();
                    let (position, room_id, event_type) = parse_log_key(after_user)?;
                    Ok(AccountDataChange {
                        room_id,
                        event_type,
                        content: decode_text(&content)?,
                        position: Position(position),
                    })
                })
                .collect()
        })
        .await
    }
}

/// Reads an entry's content: its position, then the log row there. A concurrent write
/// may move the row between the two reads (the row is then gone and the new position has
/// the newer content), so a missing row means "read the position again", a few times.
fn read_latest_content(
    engine: &dyn KvEngine,
    user_id: &UserId,
    room_id: Option<&RoomId>,
    event_type: &str,
) -> Result<Option<String>, Error> {
    const ATTEMPTS: usize = 3;
    for _ in 0..ATTEMPTS {
        let Some(position) = load_position(engine, &entry_key(user_id, room_id, event_type))? else {
            return Ok(None);
        };
        if let Some(content) =
            engine.get(Table::AccountDataLog, &log_key(user_id, position, room_id, event_type))?
        {
            return Ok(Some(decode_text(&content)?));
        }
    }
    Err(Error::Corrupt(format!("account data {event_type} of {user_id} has no log row")))
}
