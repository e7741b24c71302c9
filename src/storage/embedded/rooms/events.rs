//! Event rows of the embedded store: one row per event ID, plus its state-group pointers.
//!
//! `events`: event ID → [`EventRow`]. `event_state_groups`: event ID → state group
//! before and after, 16 bytes, so state resolution's lookups never decode PDU JSON.

use ruma::{OwnedEventId, OwnedRoomId};
use serde::{Deserialize, Serialize};

use super::super::codec::{decode_record, decode_u64, encode_record, encode_u64};
use super::super::engine::{Batch, KvEngine, Table};
use crate::storage::{Error, EventStatus, NewEvent, Position, StateGroupId, StoredEvent};

/// An event as stored; its ID is the key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct EventRow {
    pub(super) room_id: OwnedRoomId,
    pub(super) json: String,
    pub(super) position: Option<u64>,
    pub(super) status: StoredStatus,
    pub(super) redacted_by: Option<OwnedEventId>,
}

/// [`EventStatus`] as stored: spelled out, so the stored form does not depend on the
/// domain enum's declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum StoredStatus {
    Accepted,
    Outlier,
    Rejected,
    SoftFailed,
}

impl From<EventStatus> for StoredStatus {
    fn from(status: EventStatus) -> Self {
        match status {
            EventStatus::Accepted => StoredStatus::Accepted,
            EventStatus::Outlier => StoredStatus::Outlier,
            EventStatus::Rejected => StoredStatus::Rejected,
            EventStatus::SoftFailed => StoredStatus::SoftFailed,
        }
    }
}

impl From<StoredStatus> for EventStatus {
    fn from(status: StoredStatus) -> Self {
        match status {
            StoredStatus::Accepted => EventStatus::Accepted,
            StoredStatus::Outlier => EventStatus::Outlier,
            StoredStatus::Rejected => EventStatus::Rejected,
            StoredStatus::SoftFailed => EventStatus::SoftFailed,
        }
    }
}

impl EventRow {
    /// The row of a newly persisted event of `room_id` (not yet redacted).
    pub(super) fn new(room_id: OwnedRoomId, event: &NewEvent) -> Self {
        EventRow {
            room_id,
            json: event.json.clone(),
            position: event.position.map(|position| position.0),
            status: event.status.into(),
            redacted_by: None,
        }
    }

    pub(super) fn into_stored(self, event_id: OwnedEventId) -> StoredEvent {
        StoredEvent {
            event_id,
            room_id: self.room_id,
            json: self.json,
            position: self.position.map(Position),
            status: self.status.into(),
            redacted_by: self.redacted_by,
        }
    }
}

pub(super) fn load_event(engine: &dyn KvEngine, event_id: &str) -> Result<Option<EventRow>, Error> {
    engine.get(Table::Events, event_id.as_bytes())?.map(|bytes| decode_record(&bytes)).transpose()
}

pub(super) fn put_event(batch: &mut Batch, event_id: &str, row: &EventRow) -> Result<(), Error> {
    batch.put(Table::Events, event_id.as_bytes().to_vec(), encode_record(row)?);
    Ok(())
}

/// The stored event `event_id`, if known.
pub(super) fn stored_event(
    engine: &dyn KvEngine,
    event_id: &OwnedEventId,
) -> Result<Option<StoredEvent>, Error> {
    Ok(load_event(engine, event_id.as_str())?.map(|row| row.into_stored(event_id.clone())))
}

pub(super) fn put_state_groups(batch: &mut Batch, event_id: &str, before: StateGroupId, after: StateGroupId) {
    let mut value = Vec::with_capacity(16);
    value.extend_from_slice(&encode_u64(before.0));
    value.extend_from_slice(&encode_u64(after.0));
    batch.put(Table::EventStateGroups, event_id.as_bytes().to_vec(), value);
}

pub(super) fn load_state_groups(
    engine: &dyn KvEngine,
    event_id: &str,
) -> Result<Option<(StateGroupId, StateGroupId)>, Error> {
    let Some(bytes) = engine.get(Table::EventStateGroups, event_id.as_bytes())? else {
        return Ok(None);
    };
    if bytes.len() != 16 {
        return Err(Error::Corrupt(format!("state groups of {event_id} are {} bytes, not 16", bytes.len())));
    }
    let (before, after) = bytes.split_at(8);
    Ok(Some((StateGroupId(decode_u64(before)?), StateGroupId(decode_u64(after)?))))
}
