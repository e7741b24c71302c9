//! A room's current state and forward extremities in the embedded store, kept ready so
//! neither is ever computed from state groups on a read.
//!
//! `current_state`: room ID, event type, state key → event ID; the whole state is one
//! prefix scan, one entry one point read. `forward_extremities`: room ID → the list of
//! extremities, replaced as a whole (it is short and always read and written whole).

use ruma::{OwnedEventId, RoomId};

use super::super::codec::{
    compound_key, decode_record, decode_text, encode_record, key_prefix, split_first_component,
};
use super::super::engine::{Batch, KeyRange, KvEngine, Table};
use super::scan_all;
use crate::storage::{Error, StateKey, StateMap};

fn state_key(room_id: &RoomId, event_type: &str, state_key: &str) -> Vec<u8> {
    compound_key(&[room_id.as_bytes(), event_type.as_bytes(), state_key.as_bytes()])
}

fn parse_event_id(bytes: &[u8]) -> Result<OwnedEventId, Error> {
    OwnedEventId::try_from(decode_text(bytes)?)
        .map_err(|error| Error::Corrupt(format!("stored event ID is invalid: {error}")))
}

/// Adds the changes to the room's current state to `batch` (`None` removes a key).
pub(super) fn apply_delta(batch: &mut Batch, room_id: &RoomId, delta: &[(StateKey, Option<OwnedEventId>)]) {
    for ((event_type, key), event_id) in delta {
        let key = state_key(room_id, event_type, key);
        match event_id {
            Some(event_id) => batch.put(Table::CurrentState, key, event_id.as_bytes().to_vec()),
            None => batch.delete(Table::CurrentState, key),
        }
    }
}

pub(super) fn event(
    engine: &dyn KvEngine,
    room_id: &RoomId,
    event_type: &str,
    key: &str,
) -> Result<Option<OwnedEventId>, Error> {
    engine
        .get(Table::CurrentState, &state_key(room_id, event_type, key))?
        .map(|bytes| parse_event_id(&bytes))
        .transpose()
}

pub(super) fn whole(engine: &dyn KvEngine, room_id: &RoomId) -> Result<StateMap, Error> {
    let prefix = key_prefix(&[room_id.as_bytes()]);
    let mut state = StateMap::new();
    for (key, value) in scan_all(engine, Table::CurrentState, KeyRange::prefix(prefix.clone()))? {
        let rest = key.get(prefix.len()..).unwrap_or_default();
        // Neither the event type nor the state key can hold the separator (UTF-8), so
        // the first separator splits them.
        let (event_type, state_key) = split_first_component(rest)?;
        state.insert((decode_text(event_type)?, decode_text(state_key)?), parse_event_id(&value)?);
    }
    Ok(state)
}

pub(super) fn put_extremities(
    batch: &mut Batch,
    room_id: &RoomId,
    extremities: &[OwnedEventId],
) -> Result<(), Error> {
    batch.put(Table::ForwardExtremities, room_id.as_bytes().to_vec(), encode_record(&extremities)?);
    Ok(())
}

pub(super) fn extremities(engine: &dyn KvEngine, room_id: &RoomId) -> Result<Vec<OwnedEventId>, Error> {
    match engine.get(Table::ForwardExtremities, room_id.as_bytes())? {
        Some(bytes) => decode_record(&bytes),
        None => Ok(Vec::new()),
    }
}
