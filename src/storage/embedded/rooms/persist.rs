//! The write side of the embedded rooms store: one [`PersistBatch`] becomes one atomic,
//! durable engine batch.
//!
//! The caller holds the rooms write lock, so nothing changes between the reads here
//! (which event IDs exist, pending redactions, previous memberships) and the write.
//!
//! # Re-persisting
//!
//! Persisting is idempotent per record, so a batch retried after an unknown outcome
//! cannot damage what the first attempt wrote:
//! - an event whose ID is already stored (or appears earlier in the same batch) is
//!   skipped with everything that belongs to it: its row (JSON, status, position), its
//!   state-group pointers, its timeline entry, its transaction ID, the redaction it
//!   carries, every membership record of the batch that names it, and its relation
//!   (so relation counts never count one event twice);
//! - a state group whose ID exists, a room that exists, and a transaction ID that
//!   already names an event are left as they are;
//! - the current-state delta and the forward extremities are not per event: they are
//!   always applied, because the room's persist queue computes them from the store.

use std::collections::{HashMap, HashSet};

use ruma::{OwnedEventId, RoomId};

use super::super::codec::{compound_key, decode_text, encode_record, key_prefix};
use super::super::engine::{Batch, KeyRange, KvEngine, Table};
use super::super::relations;
use super::events::{EventRow, StoredStatus, load_event, put_event, put_state_groups};
use super::{StoredRoom, current_state, memberships, scan_all, state_groups, timeline, txn_key};
use crate::storage::relations::{relations_to_index, relations_to_remove};
use crate::storage::{Error, EventStatus, NewEvent, PersistBatch, RoomRecord};

/// Writes `batch` atomically; see the module documentation for what is skipped.
pub(super) fn persist(engine: &dyn KvEngine, batch: &PersistBatch) -> Result<(), Error> {
    let mut writes = Batch::new();
    if let Some(room) = &batch.new_room {
        add_room(engine, &mut writes, room)?;
    }
    state_groups::add_groups(engine, &mut writes, &batch.new_state_groups)?;
    let room_id = batch.room_id.as_deref().or(batch.new_room.as_ref().map(|room| room.room_id.as_ref()));
    let needs_room = !batch.events.is_empty()
        || !batch.current_state_delta.is_empty()
        || batch.forward_extremities.is_some();
    let skipped = match room_id {
        Some(room_id) => {
            let skipped = add_events(engine, &mut writes, room_id, &batch.events)?;
            let relations = relations_to_index(batch, |event_id| !skipped.contains(event_id));
            relations::add_relations(engine, &mut writes, room_id, &relations)?;
            let removed = relations_to_remove(batch, |event_id| !skipped.contains(event_id));
            relations::remove_relations(engine, &mut writes, room_id, &removed)?;
            current_state::apply_delta(&mut writes, room_id, &batch.current_state_delta);
            if let Some(extremities) = &batch.forward_extremities {
                current_state::put_extremities(&mut writes, room_id, extremities)?;
            }
            skipped
        }
        None if needs_room => {
            return Err(Error::Backend("a persist batch with events or room state names no room".to_owned()));
        }
        None => HashSet::new(),
    };
    let records = batch.memberships.iter().filter(|record| !skipped.contains(&record.event_id));
    memberships::add_records(engine, &mut writes, records)?;
    engine.write(writes)
}

fn add_room(engine: &dyn KvEngine, writes: &mut Batch, room: &RoomRecord) -> Result<(), Error> {
    if engine.get(Table::Rooms, room.room_id.as_bytes())?.is_some() {
        return Ok(());
    }
    let stored = StoredRoom::from(room);
    writes.put(Table::Rooms, room.room_id.as_bytes().to_vec(), encode_record(&stored)?);
    Ok(())
}

/// An event row this batch writes, or one it read to redact.
struct Pending {
    row: EventRow,
    /// Whether the row must be written (new, or newly redacted).
    dirty: bool,
}

/// Adds the batch's new events to `writes`; returns the IDs skipped as already stored.
fn add_events(
    engine: &dyn KvEngine,
    writes: &mut Batch,
    room_id: &RoomId,
    events: &[NewEvent],
) -> Result<HashSet<OwnedEventId>, Error> {
    let mut rows: HashMap<OwnedEventId, Pending> = HashMap::new();
    let mut skipped = HashSet::new();
    let mut fresh = Vec::new();
    let mut txns = HashSet::new();
    for event in events {
        if rows.contains_key(&event.event_id) {
            continue;
        }
        if load_event(engine, event.event_id.as_str())?.is_some() {
            skipped.insert(event.event_id.clone());
            continue;
        }
        let mut row = EventRow::new(room_id.to_owned(), event);
        row.redacted_by = take_pending_redaction(engine, writes, &event.event_id, room_id)?;
        add_event_parts(engine, writes, room_id, event, &mut txns)?;
        rows.insert(event.event_id.clone(), Pending { row, dirty: true });
        fresh.push(event);
    }
    // After every new row is known, so a redaction and its target may come in either
    // order within the batch.
    for event in fresh {
        apply_redaction(engine, writes, &mut rows, room_id, event)?;
    }
    for (event_id, pending) in rows {
        if pending.dirty {
            put_event(writes, event_id.as_str(), &pending.row)?;
        }
    }
    Ok(skipped)
}

/// The per-event rows besides the event itself: state groups, timeline entry, txn ID.
fn add_event_parts(
    engine: &dyn KvEngine,
    writes: &mut Batch,
    room_id: &RoomId,
    event: &NewEvent,
    txns: &mut HashSet<Vec<u8>>,
) -> Result<(), Error> {
    put_state_groups(writes, event.event_id.as_str(), event.state_before, event.state_after);
    if let (EventStatus::Accepted, Some(position)) = (event.status, event.position) {
        timeline::put_entry(writes, room_id, position, event.event_id.as_str());
    }
    if let Some(txn) = &event.txn {
        let key = txn_key(txn);
        // The first event of a transaction ID stays its event.
        if !txns.contains(&key) && engine.get(Table::Txns, &key)?.is_none() {
            writes.put(Table::Txns, key.clone(), event.event_id.as_bytes().to_vec());
            let reverse =
                serde_json::to_vec(&[txn.user_id.as_str(), txn.device_id.as_str(), txn.txn_id.as_str()])
                    .map_err(|e| Error::Backend(e.to_string()))?;
            writes.put(Table::EventTxns, event.event_id.as_bytes().to_vec(), reverse);
            txns.insert(key);
        }
    }
    Ok(())
}

/// If `event` is an accepted redaction, marks its target redacted (keeping an earlier
/// redaction), or records it as pending when the target is not stored yet. A target in
/// another room is never marked: a redaction only applies within its room.
fn apply_redaction(
    engine: &dyn KvEngine,
    writes: &mut Batch,
    rows: &mut HashMap<OwnedEventId, Pending>,
    room_id: &RoomId,
    event: &NewEvent,
) -> Result<(), Error> {
    let Some(target) = event.redacts.as_ref().filter(|_| event.status == EventStatus::Accepted) else {
        return Ok(());
    };
    if !rows.contains_key(target)
        && let Some(row) = load_event(engine, target.as_str())?
    {
        rows.insert(target.clone(), Pending { row, dirty: false });
    }
    match rows.get_mut(target) {
        Some(pending) => {
            if pending.row.room_id == room_id && pending.row.redacted_by.is_none() {
                pending.row.redacted_by = Some(event.event_id.clone());
                pending.dirty = true;
            }
        }
        None => writes.put(
            Table::PendingRedactions,
            compound_key(&[target.as_bytes(), event.event_id.as_bytes()]),
            Vec::new(),
        ),
    }
    Ok(())
}

/// Removes the pending redactions of `event_id` and returns the first one from the
/// event's own room, which redacts it.
fn take_pending_redaction(
    engine: &dyn KvEngine,
    writes: &mut Batch,
    event_id: &OwnedEventId,
    room_id: &RoomId,
) -> Result<Option<OwnedEventId>, Error> {
    let prefix = key_prefix(&[event_id.as_bytes()]);
    let mut redacted_by = None;
    for (key, _) in scan_all(engine, Table::PendingRedactions, KeyRange::prefix(prefix.clone()))? {
        let redaction_id = OwnedEventId::try_from(decode_text(key.get(prefix.len()..).unwrap_or_default())?)
            .map_err(|error| {
                Error::Corrupt(format!("a pending redaction names an invalid event: {error}"))
            })?;
        writes.delete(Table::PendingRedactions, key);
        let Some(redaction) = load_event(engine, redaction_id.as_str())? else {
            continue;
        };
        if redacted_by.is_none() && redaction.room_id == room_id && redaction.status == StoredStatus::Accepted
        {
            redacted_by = Some(redaction_id);
        }
    }
    Ok(redacted_by)
}
