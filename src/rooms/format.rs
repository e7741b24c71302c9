//! Events as clients see them: the client format, with redactions applied.

use serde_json::{Map, Value, json};
use stoa_federation::RoomVersion;

use super::visibility::VisibilityCheck;
use super::{Rooms, RoomsError};
use crate::accounts::now_ms;
use crate::events::Pdu;
use crate::storage::{StateGroupId, StoredEvent};

/// The client-format JSON of a stored event (redacted if a redaction applies).
pub fn client_event(stored: &StoredEvent, pdu: &Pdu, version: RoomVersion) -> Value {
    let redacted_copy = redacted(stored, pdu, version);
    let redacted = stored.redacted_by.is_some();
    let source = redacted_copy.as_ref().unwrap_or(pdu.as_value());
    let mut event = Map::new();
    for key in
        ["content", "event_id", "origin_server_ts", "room_id", "sender", "state_key", "type", "redacts"]
    {
        if let Some(value) = source.get(key) {
            event.insert(key.to_owned(), value.clone());
        }
    }
    // From room version 11 `redacts` lives in the content; clients (matrix-js-sdk among
    // them) read it at the top level too, so it is served in both places.
    if pdu.kind() == "m.room.redaction"
        && let Some(redacts) = pdu.redacts()
    {
        event.insert("redacts".to_owned(), json!(redacts));
    }
    // Room version 12 create events have no room_id in the PDU; clients always get one.
    event.insert("room_id".to_owned(), json!(pdu.room_id()));
    event.insert("event_id".to_owned(), json!(pdu.event_id()));
    let mut unsigned = Map::new();
    unsigned
        .insert("age".to_owned(), json!(now_ms().saturating_sub(u64::from(pdu.origin_server_ts().get()))));
    if redacted && let Some(by) = &stored.redacted_by {
        unsigned.insert("redacted_because".to_owned(), json!({ "event_id": by }));
    }
    event.insert("unsigned".to_owned(), Value::Object(unsigned));
    Value::Object(event)
}

/// Adds `unsigned.membership`: the requester's membership at the event (spec v1.11).
pub fn set_membership(event: &mut Value, membership: String) {
    if let Some(unsigned) = event.get_mut("unsigned").and_then(Value::as_object_mut) {
        unsigned.insert("membership".to_owned(), Value::String(membership));
    }
}

impl Rooms {
    /// An event as served to the requester whose visibility `check` holds: the client
    /// format with the redaction and the requester's membership at the event.
    pub async fn served_event(
        &self,
        check: &mut VisibilityCheck<'_>,
        stored: &StoredEvent,
        pdu: &Pdu,
        version: RoomVersion,
        groups: Option<(StateGroupId, StateGroupId)>,
    ) -> Result<Value, RoomsError> {
        let mut event = self.client_event_full(stored, pdu, version).await?;
        set_membership(&mut event, check.membership_at(pdu, groups).await?);
        Ok(event)
    }
}

/// The federation format of a stored event (`event_format: federation` filters): the PDU
/// itself, redacted if a redaction applies, with the event ID clients need to refer to it.
pub fn federation_event(stored: &StoredEvent, pdu: &Pdu, version: RoomVersion) -> Value {
    let mut event = redacted(stored, pdu, version).unwrap_or_else(|| pdu.as_value().clone());
    if let Some(object) = event.as_object_mut() {
        object.insert("event_id".to_owned(), json!(pdu.event_id()));
    }
    event
}

/// The redacted form of the event, when a redaction applies to it.
fn redacted(stored: &StoredEvent, pdu: &Pdu, version: RoomVersion) -> Option<Value> {
    stored.redacted_by.as_ref().and_then(|_| stoa_federation::redact(pdu.as_value(), version).ok())
}

/// Stripped state for invites: type, state key, sender and content only.
pub fn stripped_state(pdu: &Pdu) -> Value {
    let content: Value = serde_json::from_str(pdu.content().get()).unwrap_or(Value::Null);
    json!({
        "type": pdu.kind(),
        "state_key": pdu.state_key().unwrap_or(""),
        "sender": pdu.sender(),
        "content": content,
    })
}

#[cfg(test)]
#[path = "readback_tests.rs"]
mod readback_tests;
