//! [`DirectoryStore`] in the embedded store: room aliases and the public room directory.
//!
//! `room_aliases`: alias → [`StoredAlias`]. `room_aliases_by_room`: room ID, alias → the
//! same record, so a room's aliases are one prefix scan in alias order. `public_rooms`:
//! room ID → nothing, so a directory page is one bounded range scan after the last room
//! returned. The number of public rooms lives in `meta` under [`PUBLIC_ROOM_COUNT_KEY`],
//! changed in the same batch as `public_rooms`, so counting never scans the directory.
//!
//! Every write reads first (is the alias taken? is the room already public?), so writes
//! run under the directory lock: the check and the batch are one step for this process.

use async_trait::async_trait;
use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId};
use serde::{Deserialize, Serialize};

use super::EmbeddedStore;
use super::codec::{
    compound_key, decode_record, decode_text, decode_u64, encode_record, encode_u64, key_prefix,
    split_first_component,
};
use super::engine::{Batch, Direction, KeyRange, KvEngine, Table, key_after};
use super::rooms::scan_all;
use crate::storage::{AliasRecord, DirectoryStore, Error};

/// Meta-table key of the number of rows in `public_rooms` (u64 big-endian; absent = 0).
const PUBLIC_ROOM_COUNT_KEY: &[u8] = b"public_room_count";

/// An alias as stored; the alias itself is (part of) the key.
#[derive(Serialize, Deserialize)]
struct StoredAlias {
    room_id: OwnedRoomId,
    creator: OwnedUserId,
}

impl StoredAlias {
    fn into_record(self, alias: OwnedRoomAliasId) -> AliasRecord {
        AliasRecord { alias, room_id: self.room_id, creator: self.creator }
    }
}

/// `room_aliases_by_room` key: room ID, alias (neither can hold the separator).
fn by_room_key(room_id: &RoomId, alias: &RoomAliasId) -> Vec<u8> {
    compound_key(&[room_id.as_bytes(), alias.as_bytes()])
}

fn parse_alias(bytes: &[u8]) -> Result<OwnedRoomAliasId, Error> {
    OwnedRoomAliasId::try_from(decode_text(bytes)?)
        .map_err(|error| Error::Corrupt(format!("stored room alias is invalid: {error}")))
}

fn parse_room_id(bytes: &[u8]) -> Result<OwnedRoomId, Error> {
    OwnedRoomId::try_from(decode_text(bytes)?)
        .map_err(|error| Error::Corrupt(format!("stored room ID is invalid: {error}")))
}

fn load_alias(engine: &dyn KvEngine, alias: &[u8]) -> Result<Option<StoredAlias>, Error> {
    engine.get(Table::RoomAliases, alias)?.map(|bytes| decode_record(&bytes)).transpose()
}

fn load_public_room_count(engine: &dyn KvEngine) -> Result<u64, Error> {
    match engine.get(Table::Meta, PUBLIC_ROOM_COUNT_KEY)? {
        Some(bytes) => decode_u64(&bytes),
        None => Ok(0),
    }
}

/// Adds the room to (or removes it from) `public_rooms` and moves the count with it; a
/// no-op when the room already is where it should be, so repeating never miscounts.
/// The caller holds the directory lock.
fn write_room_public(engine: &dyn KvEngine, room_id: &[u8], public: bool) -> Result<(), Error> {
    let is_public = engine.get(Table::PublicRooms, room_id)?.is_some();
    if is_public == public {
        return Ok(());
    }
    let count = load_public_room_count(engine)?;
    let mut batch = Batch::new();
    let count = if public {
        batch.put(Table::PublicRooms, room_id.to_vec(), Vec::new());
        count.saturating_add(1)
    } else {
        batch.delete(Table::PublicRooms, room_id.to_vec());
        count.saturating_sub(1)
    };
    batch.put(Table::Meta, PUBLIC_ROOM_COUNT_KEY.to_vec(), encode_u64(count).to_vec());
    engine.write(batch)
}

#[async_trait]
impl DirectoryStore for EmbeddedStore {
    async fn create_alias(&self, record: &AliasRecord) -> Result<bool, Error> {
        let key = record.alias.as_bytes().to_vec();
        let index_key = by_room_key(&record.room_id, &record.alias);
        let value =
            encode_record(&StoredAlias { room_id: record.room_id.clone(), creator: record.creator.clone() })?;
        self.run_locked(self.locks.directory(), move |engine| {
            if engine.get(Table::RoomAliases, &key)?.is_some() {
                return Ok(false);
            }
            let mut batch = Batch::new();
            batch.put(Table::RoomAliases, key, value.clone());
            batch.put(Table::RoomAliasesByRoom, index_key, value);
            engine.write(batch)?;
            Ok(true)
        })
        .await
    }

    async fn get_alias(&self, alias: &RoomAliasId) -> Result<Option<AliasRecord>, Error> {
        let alias = alias.to_owned();
        self.run(move |engine| {
            Ok(load_alias(engine, alias.as_bytes())?.map(|stored| stored.into_record(alias)))
        })
        .await
    }

    async fn delete_alias(&self, alias: &RoomAliasId) -> Result<bool, Error> {
        let alias = alias.to_owned();
        self.run_locked(self.locks.directory(), move |engine| {
            // The record names the room, and so the index row to remove with it.
            let Some(stored) = load_alias(engine, alias.as_bytes())? else {
                return Ok(false);
            };
            let mut batch = Batch::new();
            batch.delete(Table::RoomAliases, alias.as_bytes().to_vec());
            batch.delete(Table::RoomAliasesByRoom, by_room_key(&stored.room_id, &alias));
            engine.write(batch)?;
            Ok(true)
        })
        .await
    }

    async fn room_aliases(&self, room_id: &RoomId) -> Result<Vec<AliasRecord>, Error> {
        let prefix = key_prefix(&[room_id.as_bytes()]);
        self.run(move |engine| {
            let rows = scan_all(engine, Table::RoomAliasesByRoom, KeyRange::prefix(prefix))?;
            rows.into_iter()
                .map(|(key, value)| {
                    let (_room, alias) = split_first_component(&key)?;
                    Ok(decode_record::<StoredAlias>(&value)?.into_record(parse_alias(alias)?))
                })
                .collect()
        })
        .await
    }

    async fn set_room_public(&self, room_id: &RoomId, public: bool) -> Result<(), Error> {
        let key = room_id.as_bytes().to_vec();
        self.run_locked(self.locks.directory(), move |engine| write_room_public(engine, &key, public)).await
    }

    async fn is_room_public(&self, room_id: &RoomId) -> Result<bool, Error> {
        let key = room_id.as_bytes().to_vec();
        self.run(move |engine| Ok(engine.get(Table::PublicRooms, &key)?.is_some())).await
    }

    async fn public_rooms(&self, after: Option<&RoomId>, limit: usize) -> Result<Vec<OwnedRoomId>, Error> {
        let from = after.map(|room_id| key_after(room_id.as_bytes())).unwrap_or_default();
        self.run(move |engine| {
            let range = KeyRange { from, to: None };
            let rows = engine.scan(Table::PublicRooms, &range, Direction::Forward, limit)?;
            rows.iter().map(|(key, _)| parse_room_id(key)).collect()
        })
        .await
    }

    async fn public_room_count(&self) -> Result<u64, Error> {
        self.run(load_public_room_count).await
    }
}
