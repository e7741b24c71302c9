//! [`EventBuilder`]: turns the parts of a new event into a hashed, signed, validated [`Pdu`].
//!
//! The builder does not choose `prev_events`, `auth_events` or `depth` (that needs the room's
//! state and extremities; see [`select_auth_events`](super::select_auth_events)) and does not
//! authorize: it only makes a well-formed PDU out of what it is given.
//!
//! # Unique room version 12 create events
//!
//! From room version 12 the room ID is the create event's hash, so two identical createRoom
//! requests in the same millisecond would produce the same create event and collide on one room.
//! The builder therefore adds a random [`CREATE_NONCE_FIELD`] (128 bits) to every version 12
//! create event's content, unless the caller set one. Custom namespaced keys in event content are
//! allowed and ignored by everyone else; MSC4291 (which made room IDs hashes) names exactly this
//! as the way to add entropy, and since version 11 redaction keeps all of a create event's
//! content, the nonce is covered by the room ID. Bumping `origin_server_ts` on a detected
//! collision would also work, but needs a storage lookup and is racy across workers; a nonce
//! needs neither.

use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId};
use serde_json::{Map, Value};
use stoa_federation::{
    EventSigningError, RoomVersion, ServerSigningKey, hash_and_sign_event, unpadded_base64,
};

use super::pdu::{Pdu, PduError};

/// The create event content key holding the builder's random uniqueness value.
pub const CREATE_NONCE_FIELD: &str = "org.stoa.create_nonce";

/// Why an event could not be built. Nothing was signed that could leave the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A room version 12 create event defines the room ID, so it cannot be given one.
    #[error("a room version {0} create event must not be given a room ID")]
    RoomIdForbidden(RoomVersion),
    /// Every other event must name its room.
    #[error("the event needs a room ID")]
    RoomIdRequired,
    /// The sender belongs to another server; a server only builds and signs its own users' events.
    #[error("sender {sender} is not a user of {server_name}")]
    ForeignSender {
        /// The event's sender.
        sender: OwnedUserId,
        /// The server asked to sign.
        server_name: String,
    },
    /// `content` must be a JSON object.
    #[error("event content must be a JSON object")]
    ContentNotAnObject,
    /// No randomness for the create event nonce.
    #[error("no randomness available for the create event nonce: {0}")]
    Randomness(String),
    /// Hashing or signing failed, or the signed event is over the size limits.
    #[error("cannot hash and sign the event: {0}")]
    Signing(#[from] EventSigningError),
    /// The result is not a valid PDU of its version (e.g. an invalid ID or too many references).
    #[error("the built event is not a valid PDU: {0}")]
    Invalid(#[from] PduError),
}

/// The parts of a new event. Fields are public: fill them in, then [`EventBuilder::build`].
#[derive(Debug, Clone, PartialEq)]
pub struct EventBuilder {
    /// The room's version, which fixes the event format.
    pub version: RoomVersion,
    /// The room; `None` only for a room version 12 create event.
    pub room_id: Option<OwnedRoomId>,
    /// The sending user (local to the signing server).
    pub sender: OwnedUserId,
    /// The event type, e.g. `m.room.message`.
    pub event_type: String,
    /// `Some` for state events.
    pub state_key: Option<String>,
    /// The event content, a JSON object.
    pub content: Value,
    /// The room's forward extremities the event follows (empty only for a create event).
    pub prev_events: Vec<OwnedEventId>,
    /// The state events authorizing the event.
    pub auth_events: Vec<OwnedEventId>,
    /// One more than the largest depth among `prev_events`.
    pub depth: u64,
    /// Creation time on this server.
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    /// For a redaction: the redacted event (placed where the room version wants it).
    pub redacts: Option<OwnedEventId>,
}

impl EventBuilder {
    /// A builder for an event of `event_type` with `content`, timestamped now; the DAG fields
    /// start empty and depth at 1.
    pub fn new(
        version: RoomVersion,
        room_id: Option<OwnedRoomId>,
        sender: OwnedUserId,
        event_type: impl Into<String>,
        content: Value,
    ) -> Self {
        Self {
            version,
            room_id,
            sender,
            event_type: event_type.into(),
            state_key: None,
            content,
            prev_events: Vec::new(),
            auth_events: Vec::new(),
            depth: 1,
            origin_server_ts: MilliSecondsSinceUnixEpoch::now(),
            redacts: None,
        }
    }

    /// Hashes and signs the event as `server_name` (which must be the sender's server) with
    /// `key`, and validates the result. For a
    /// room version 12 create event the room ID comes out of the returned [`Pdu::room_id`].
    pub fn build(self, server_name: &str, key: &ServerSigningKey) -> Result<Pdu, BuildError> {
        if self.sender.server_name() != server_name {
            return Err(BuildError::ForeignSender {
                sender: self.sender,
                server_name: server_name.to_owned(),
            });
        }
        let version = self.version;
        let mut event = self.into_json()?;
        hash_and_sign_event(&mut event, version, server_name, key)?;
        Ok(Pdu::from_value(event, version)?)
    }

    /// The unsigned event in federation format.
    fn into_json(self) -> Result<Value, BuildError> {
        let rules = self.version.rules();
        let is_create = self.event_type == "m.room.create";
        let derives_room_id = is_create && rules.room_id_from_create_event;
        let Value::Object(mut content) = self.content else {
            return Err(BuildError::ContentNotAnObject);
        };
        if derives_room_id && !content.contains_key(CREATE_NONCE_FIELD) {
            content.insert(CREATE_NONCE_FIELD.to_owned(), Value::String(create_nonce()?));
        }
        let mut event = Map::new();
        match (self.room_id, derives_room_id) {
            (Some(_), true) => return Err(BuildError::RoomIdForbidden(self.version)),
            (None, false) => return Err(BuildError::RoomIdRequired),
            (Some(room_id), false) => {
                event.insert("room_id".to_owned(), Value::String(room_id.into()));
            }
            (None, true) => {}
        }
        if let Some(redacts) = self.redacts {
            if rules.redacts_in_content {
                content.insert("redacts".to_owned(), Value::String(redacts.into()));
            } else {
                event.insert("redacts".to_owned(), Value::String(redacts.into()));
            }
        }
        if let Some(state_key) = self.state_key {
            event.insert("state_key".to_owned(), Value::String(state_key));
        }
        let ids =
            |ids: Vec<OwnedEventId>| Value::Array(ids.into_iter().map(|id| id.to_string().into()).collect());
        event.insert("type".to_owned(), Value::String(self.event_type));
        event.insert("sender".to_owned(), Value::String(self.sender.into()));
        event.insert("content".to_owned(), Value::Object(content));
        event.insert("prev_events".to_owned(), ids(self.prev_events));
        event.insert("auth_events".to_owned(), ids(self.auth_events));
        event.insert("depth".to_owned(), Value::from(self.depth));
        event.insert("origin_server_ts".to_owned(), Value::from(u64::from(self.origin_server_ts.0)));
        Ok(Value::Object(event))
    }
}

/// 128 random bits, unpadded Base64: enough that no two create events ever share one.
fn create_nonce() -> Result<String, BuildError> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| BuildError::Randomness(error.to_string()))?;
    Ok(unpadded_base64::encode(bytes))
}

#[cfg(test)]
#[path = "builder_tests.rs"]
mod tests;
