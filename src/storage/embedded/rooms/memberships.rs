//! Memberships in the embedded store: each user's current membership per room, indexed
//! for every read, and a per-user log of changes.
//!
//! - `room_members`: room ID, user ID → current record (a room's members in user order);
//! - `room_members_by_membership`: room ID, membership, user ID → current record (the
//!   joined or invited members without reading the others);
//! - `user_rooms`: user ID, room ID → current record (a user's rooms in room order);
//! - `membership_log`: user ID, position, room ID → record, never rewritten: the user's
//!   changes in a position window are one bounded range scan.
//!
//! Every row holds the whole record, so each read is a single scan with no follow-up.

use std::collections::HashMap;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};

use super::super::codec::{compound_key, decode_record, encode_record, encode_u64, key_prefix};
use super::super::engine::{self, Batch, KeyRange, KvEngine, Table};
use super::scan_all;
use crate::storage::{Error, MembershipRecord, Position};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredMembership {
    room_id: OwnedRoomId,
    user_id: OwnedUserId,
    membership: String,
    event_id: OwnedEventId,
    position: u64,
}

impl From<&MembershipRecord> for StoredMembership {
    fn from(record: &MembershipRecord) -> Self {
        StoredMembership {
            room_id: record.room_id.clone(),
            user_id: record.user_id.clone(),
            membership: record.membership.clone(),
            event_id: record.event_id.clone(),
            position: record.position.0,
        }
    }
}

impl From<StoredMembership> for MembershipRecord {
    fn from(stored: StoredMembership) -> Self {
        MembershipRecord {
            room_id: stored.room_id,
            user_id: stored.user_id,
            membership: stored.membership,
            event_id: stored.event_id,
            position: Position(stored.position),
        }
    }
}

fn member_key(room_id: &RoomId, user_id: &UserId) -> Vec<u8> {
    compound_key(&[room_id.as_bytes(), user_id.as_bytes()])
}

fn by_membership_key(room_id: &RoomId, membership: &str, user_id: &UserId) -> Vec<u8> {
    compound_key(&[room_id.as_bytes(), membership.as_bytes(), user_id.as_bytes()])
}

/// Adds `records` to `batch`, in order: each replaces its user's current record in the
/// room (and that record's row in the by-membership index) and is appended to the log.
pub(super) fn add_records<'a>(
    engine: &dyn KvEngine,
    batch: &mut Batch,
    records: impl Iterator<Item = &'a MembershipRecord>,
) -> Result<(), Error> {
    // Memberships this batch already set, which the engine cannot see yet.
    let mut written: HashMap<Vec<u8>, String> = HashMap::new();
    for record in records {
        let key = member_key(&record.room_id, &record.user_id);
        let previous = match written.get(&key) {
            Some(membership) => Some(membership.clone()),
            None => engine
                .get(Table::RoomMembers, &key)?
                .map(|bytes| decode_record::<StoredMembership>(&bytes))
                .transpose()?
                .map(|stored| stored.membership),
        };
        if let Some(previous) = previous {
            batch.delete(
                Table::RoomMembersByMembership,
                by_membership_key(&record.room_id, &previous, &record.user_id),
            );
        }
        let value = encode_record(&StoredMembership::from(record))?;
        let log_key = compound_key(&[
            record.user_id.as_bytes(),
            &encode_u64(record.position.0),
            record.room_id.as_bytes(),
        ]);
        batch.put(Table::MembershipLog, log_key, value.clone());
        batch.put(
            Table::RoomMembersByMembership,
            by_membership_key(&record.room_id, &record.membership, &record.user_id),
            value.clone(),
        );
        batch.put(
            Table::UserRooms,
            compound_key(&[record.user_id.as_bytes(), record.room_id.as_bytes()]),
            value.clone(),
        );
        batch.put(Table::RoomMembers, key.clone(), value);
        written.insert(key, record.membership.clone());
    }
    Ok(())
}

fn decode_all(pairs: Vec<engine::KeyValue>) -> Result<Vec<MembershipRecord>, Error> {
    pairs.into_iter().map(|(_, value)| Ok(decode_record::<StoredMembership>(&value)?.into())).collect()
}

pub(super) fn of_user(engine: &dyn KvEngine, user_id: &UserId) -> Result<Vec<MembershipRecord>, Error> {
    decode_all(scan_all(engine, Table::UserRooms, KeyRange::prefix(key_prefix(&[user_id.as_bytes()])))?)
}

/// The user's log entries with positions in `(since, upto]`.
pub(super) fn changes(
    engine: &dyn KvEngine,
    user_id: &UserId,
    since: Position,
    upto: Position,
) -> Result<Vec<MembershipRecord>, Error> {
    let Some(first) = since.0.checked_add(1).filter(|first| *first <= upto.0) else {
        return Ok(Vec::new());
    };
    let prefix = key_prefix(&[user_id.as_bytes()]);
    let mut range = KeyRange::prefix(prefix.clone());
    range.from = [prefix.as_slice(), &encode_u64(first)].concat();
    if let Some(end) = upto.0.checked_add(1) {
        range.to = Some([prefix.as_slice(), &encode_u64(end)].concat());
    }
    decode_all(scan_all(engine, Table::MembershipLog, range)?)
}

/// Up to `limit` current members of the room (with `membership`, if given) whose user ID
/// sorts after `after`, in user-ID order.
pub(super) fn of_room(
    engine: &dyn KvEngine,
    room_id: &RoomId,
    membership: Option<&str>,
    after: Option<&UserId>,
    limit: usize,
) -> Result<Vec<MembershipRecord>, Error> {
    let (table, prefix) = match membership {
        Some(membership) => {
            (Table::RoomMembersByMembership, key_prefix(&[room_id.as_bytes(), membership.as_bytes()]))
        }
        None => (Table::RoomMembers, key_prefix(&[room_id.as_bytes()])),
    };
    let mut range = KeyRange::prefix(prefix.clone());
    if let Some(after) = after {
        range.from = engine::key_after(&[prefix.as_slice(), after.as_bytes()].concat());
    }
    decode_all(engine.scan(table, &range, engine::Direction::Forward, limit)?)
}
