//! A room's timeline in the embedded store: accepted events by stream position.
//!
//! `timeline`: room ID, position (u64 big-endian) → event ID. The position is the key's
//! last component and fixed-width, so within a room the keys sort by position and a page
//! in either direction is one bounded range scan.

use ruma::{OwnedEventId, RoomId};

use super::super::codec::{compound_key, encode_u64, key_prefix};
use super::super::engine::{self, Batch, KeyRange, KvEngine, Table};
use super::events::load_event;
use crate::storage::{Direction, Error, Position, StoredEvent};

pub(super) fn put_entry(batch: &mut Batch, room_id: &RoomId, position: Position, event_id: &str) {
    batch.put(
        Table::Timeline,
        compound_key(&[room_id.as_bytes(), &encode_u64(position.0)]),
        event_id.as_bytes().to_vec(),
    );
}

/// The keys strictly after (forward) or before (backward) `from` within the room.
fn page_range(room_id: &RoomId, from: Option<Position>, direction: Direction) -> KeyRange {
    let mut range = KeyRange::prefix(key_prefix(&[room_id.as_bytes()]));
    if let Some(from) = from {
        let key = compound_key(&[room_id.as_bytes(), &encode_u64(from.0)]);
        match direction {
            // Keys in a room have one length, so the first key after `key` + 0x00 is
            // the next position's.
            Direction::Forward => range.from = engine::key_after(&key),
            Direction::Backward => range.to = Some(key),
        }
    }
    range
}

/// Up to `limit` timeline events of the room after or before `from`, in that direction.
pub(super) fn page(
    engine: &dyn KvEngine,
    room_id: &RoomId,
    from: Option<Position>,
    direction: Direction,
    limit: usize,
) -> Result<Vec<StoredEvent>, Error> {
    let range = page_range(room_id, from, direction);
    let scan_direction = match direction {
        Direction::Forward => engine::Direction::Forward,
        Direction::Backward => engine::Direction::Reverse,
    };
    let entries = engine.scan(Table::Timeline, &range, scan_direction, limit)?;
    let mut events = Vec::with_capacity(entries.len());
    for (_, value) in entries {
        let event_id = OwnedEventId::try_from(String::from_utf8_lossy(&value).as_ref()).map_err(|error| {
            Error::Corrupt(format!("a timeline entry holds an invalid event ID: {error}"))
        })?;
        // Entries and rows are written in one batch; an entry without its row is damage.
        let row = load_event(engine, event_id.as_str())?.ok_or_else(|| {
            Error::Corrupt(format!("timeline entry for {event_id} in {room_id} has no event row"))
        })?;
        events.push(row.into_stored(event_id));
    }
    Ok(events)
}
