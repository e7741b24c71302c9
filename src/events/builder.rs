//! Building a new local event: the PDU's fields, its content hash and signature, and
//! its event ID (and, for a room version 12 create event, the room ID).

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use serde_json::{Map, Value, json};
use stoa_federation::{RoomVersion, ServerSigningKey};

use super::pdu::{Pdu, PduError};

/// The parts of a new event; `build` turns them into a signed PDU.
#[derive(Debug, Clone)]
pub struct EventBuilder {
    pub version: RoomVersion,
    /// `None` only for a room version 12 create event.
    pub room_id: Option<OwnedRoomId>,
    pub sender: OwnedUserId,
    pub event_type: String,
    pub state_key: Option<String>,
    pub content: Value,
    pub prev_events: Vec<OwnedEventId>,
    pub auth_events: Vec<OwnedEventId>,
    pub depth: u64,
    pub origin_server_ts: u64,
    pub redacts: Option<OwnedEventId>,
}

impl EventBuilder {
    /// Hashes, signs and validates the event.
    pub fn build(&self, server_name: &str, key: &ServerSigningKey) -> Result<Pdu, PduError> {
        let mut event = Map::new();
        event.insert("auth_events".to_owned(), json!(self.auth_events));
        let mut content = self.content.clone();
        if let Some(redacts) = &self.redacts {
            if self.version.rules().redacts_in_content {
                if let Some(object) = content.as_object_mut() {
                    object.insert("redacts".to_owned(), json!(redacts));
                }
            } else {
                event.insert("redacts".to_owned(), json!(redacts));
            }
        }
        event.insert("content".to_owned(), content);
        event.insert("depth".to_owned(), json!(self.depth));
        event.insert("origin_server_ts".to_owned(), json!(self.origin_server_ts));
        event.insert("prev_events".to_owned(), json!(self.prev_events));
        if let Some(room_id) = &self.room_id {
            event.insert("room_id".to_owned(), json!(room_id));
        }
        event.insert("sender".to_owned(), json!(self.sender));
        if let Some(state_key) = &self.state_key {
            event.insert("state_key".to_owned(), json!(state_key));
        }
        event.insert("type".to_owned(), json!(self.event_type));
        let mut event = Value::Object(event);
        stoa_federation::hash_and_sign_event(&mut event, self.version, server_name, key)
            .map_err(|e| PduError::Invalid(e.to_string()))?;
        Pdu::from_value(event, self.version)
    }
}
