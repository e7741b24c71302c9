//! [`Pdu`]: an immutable, validated room event in federation format, made only by
//! [`Pdu::parse`] / [`Pdu::from_value`] or by the [`EventBuilder`](super::EventBuilder).
//!
//! Holding a `Pdu` means the JSON is strict canonical JSON within the size limits, has the format
//! of its room version, and its event ID (and, for a version 12 create event, room ID) was
//! computed here from its content — never taken from the sender. Signatures, hashes and
//! authorization are separate checks; a `Pdu` is not yet an *accepted* event.
//! [`Pdu::from_stored`] re-reads an event this server already checked and stored under
//! its ID: it trusts the text and the ID instead of recomputing them on every read.

use std::fmt;

use ruma::events::TimelineEventType;
use ruma::state_res::Event;
use ruma::{EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, RoomId, UserId};
use serde_json::Value;
use serde_json::value::RawValue;
use stoa_federation::{
    CanonicalJsonError, EventIdError, PduSizeError, RoomVersion, check_pdu_size, parse_canonical_str,
    room_id_for_create_event, to_canonical_string,
};

use super::format::{self, Fields, FormatError};
use super::nesting::{self, MAX_EVENT_NESTING, TooDeep};
use super::recovery;

/// Why JSON is not a valid PDU of its room version. The event must be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// Not strict canonical JSON: floats, out-of-range integers, duplicate keys, bad syntax.
    #[error("event is not canonical JSON: {0}")]
    NotCanonical(#[from] CanonicalJsonError),
    /// Over 65,536 bytes, or an identifier field over 255 bytes.
    #[error("event exceeds PDU size limits: {0}")]
    TooLarge(#[from] PduSizeError),
    /// Content (or another field) nests deeper than [`MAX_NESTING`](super::MAX_NESTING).
    #[error("event nests too deeply: {0}")]
    TooDeep(#[from] TooDeep),
    /// The JSON is not an object.
    #[error("event is not a JSON object")]
    NotAnObject,
    /// The object does not have the PDU format of its room version.
    #[error("event does not have the PDU format of its room version: {0}")]
    Format(#[from] FormatError),
    /// The event or room ID could not be computed.
    #[error("cannot compute the event's identifiers: {0}")]
    Identifiers(#[from] EventIdError),
    /// The event names an `event_id` other than its reference hash.
    #[error("event claims ID {claimed:?} but its reference hash gives {computed}")]
    EventIdMismatch {
        /// What the JSON said.
        claimed: String,
        /// What the reference hash says.
        computed: OwnedEventId,
    },
}

/// An immutable, format-checked PDU. See the module docs for what that guarantees.
#[derive(Clone)]
pub struct Pdu {
    version: RoomVersion,
    event_id: OwnedEventId,
    room_id: OwnedRoomId,
    /// False only for a version 12 create event, whose room ID is derived, not carried.
    room_id_in_event: bool,
    fields: Fields,
    event_type: TimelineEventType,
    content: Box<RawValue>,
    value: Value,
    json: String,
    rejected: bool,
}

impl Pdu {
    /// Parses PDU text received from the network (or read from storage) as an event of room
    /// `version`, refusing anything that is not strict canonical JSON.
    pub fn parse(json: &str, version: RoomVersion) -> Result<Self, PduError> {
        // Measured before parsing, so too deep is told apart from malformed.
        nesting::within(nesting::text_depth(json.as_bytes()), MAX_EVENT_NESTING)?;
        Self::from_value(parse_canonical_str(json)?, version)
    }

    /// Validates an already-parsed event of room `version`. Prefer [`Pdu::parse`] for network
    /// input: a `Value` can no longer show duplicate keys. A top-level `event_id` is accepted
    /// only if it equals the computed one, and is not kept.
    pub fn from_value(mut value: Value, version: RoomVersion) -> Result<Self, PduError> {
        // Every event enters through here (built locally or parsed from the network), so
        // nothing nesting deeper than every read path can parse is ever accepted.
        nesting::within(nesting::value_depth(&value), MAX_EVENT_NESTING)?;
        check_pdu_size(&value)?;
        let object = value.as_object_mut().ok_or(PduError::NotAnObject)?;
        let claimed_id = object.remove("event_id");
        let fields = format::check(object, version)?;
        let event_id = stoa_federation::event_id(&value, version)?;
        let event_id = format::event_id("event_id", &event_id)?;
        if let Some(claimed) = claimed_id
            && claimed.as_str() != Some(event_id.as_str())
        {
            return Err(PduError::EventIdMismatch { claimed: claimed.to_string(), computed: event_id });
        }
        let (room_id, room_id_in_event) = match &fields.room_id {
            Some(room_id) => (room_id.clone(), true),
            None => (derived_room_id(&value, version)?, false),
        };
        let content = value.get("content").ok_or(FormatError::Missing("content"))?;
        let content = RawValue::from_string(to_canonical_string(content)?)
            .map_err(|error| CanonicalJsonError::MalformedJson(error.to_string()))?;
        let json = to_canonical_string(&value)?;
        Ok(Self {
            version,
            event_id,
            room_id,
            room_id_in_event,
            event_type: fields.kind.as_str().into(),
            fields,
            content,
            value,
            json,
            rejected: false,
        })
    }

    /// Re-reads an event from this server's own store, where it was kept as canonical
    /// text under `event_id` after [`Pdu::parse`] or the builder checked it. The format is
    /// read again (it yields the fields), but the reference hash, size checks and
    /// canonical re-serialization — the costly part, once per reader — are not repeated.
    ///
    /// An event stored before the nesting limit existed that nests deeper than it is read
    /// in its redacted form (see the `recovery` module), so it can neither fail a reader
    /// nor reach a client that cannot parse it.
    pub fn from_stored(json: &str, event_id: &EventId, version: RoomVersion) -> Result<Self, PduError> {
        let (mut value, json) = if recovery::needs_recovery(json) {
            let value = recovery::redacted(json, version)?;
            tracing::warn!(%event_id, "stored event nests too deeply; serving its redacted form");
            let text = to_canonical_string(&value)?;
            (value, std::borrow::Cow::Owned(text))
        } else {
            let value: Value = serde_json::from_str(json)
                .map_err(|error| CanonicalJsonError::MalformedJson(error.to_string()))?;
            (value, std::borrow::Cow::Borrowed(json))
        };
        let object = value.as_object_mut().ok_or(PduError::NotAnObject)?;
        object.remove("event_id");
        let fields = format::check(object, version)?;
        let (room_id, room_id_in_event) = match &fields.room_id {
            Some(room_id) => (room_id.clone(), true),
            None => (stored_create_room_id(event_id, version)?, false),
        };
        let content = value.get("content").ok_or(FormatError::Missing("content"))?;
        let content = RawValue::from_string(to_canonical_string(content)?)
            .map_err(|error| CanonicalJsonError::MalformedJson(error.to_string()))?;
        Ok(Self {
            version,
            event_id: event_id.to_owned(),
            room_id,
            room_id_in_event,
            event_type: fields.kind.as_str().into(),
            fields,
            content,
            value,
            json: json.into_owned(),
            rejected: false,
        })
    }

    /// The same event marked as rejected by the checks on receipt, so state resolution and auth
    /// treat it as such.
    pub fn into_rejected(self) -> Self {
        Self { rejected: true, ..self }
    }

    /// The room version whose rules this event was checked against.
    pub fn version(&self) -> RoomVersion {
        self.version
    }

    /// The event ID: `$` + the event's reference hash.
    pub fn event_id(&self) -> &EventId {
        &self.event_id
    }

    /// The room this event belongs to. For a room version 12 create event this is the derived
    /// room ID, although the event itself carries none (and [`Event::room_id`] returns `None`,
    /// as the auth rules require).
    pub fn room_id(&self) -> &RoomId {
        &self.room_id
    }

    /// The user who sent the event.
    pub fn sender(&self) -> &UserId {
        &self.fields.sender
    }

    /// The event type, e.g. `m.room.message`.
    pub fn kind(&self) -> &str {
        &self.fields.kind
    }

    /// The state key; `Some` exactly for state events.
    pub fn state_key(&self) -> Option<&str> {
        self.fields.state_key.as_deref()
    }

    /// The content as canonical JSON text.
    pub fn content(&self) -> &RawValue {
        &self.content
    }

    /// The content as a JSON value.
    pub fn content_value(&self) -> Option<&Value> {
        self.value.get("content")
    }

    /// The latest events the sender knew of when creating this one.
    pub fn prev_events(&self) -> &[OwnedEventId] {
        &self.fields.prev_events
    }

    /// The state events that authorize this one.
    pub fn auth_events(&self) -> &[OwnedEventId] {
        &self.fields.auth_events
    }

    /// One more than the largest depth among `prev_events`.
    pub fn depth(&self) -> u64 {
        self.fields.depth
    }

    /// When the origin server says it created the event.
    pub fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.fields.origin_server_ts
    }

    /// For a redaction, the event it redacts (top-level in version 10, in content from 11).
    pub fn redacts(&self) -> Option<&EventId> {
        self.fields.redacts.as_deref()
    }

    /// The unsigned data the origin attached; not covered by signatures, so not to be trusted.
    pub fn unsigned(&self) -> Option<&Value> {
        self.value.get("unsigned")
    }

    /// Whether this event was rejected by the checks on receipt.
    pub fn is_rejected(&self) -> bool {
        self.rejected
    }

    /// The whole event as a JSON value (federation format, signatures included).
    pub fn as_value(&self) -> &Value {
        &self.value
    }

    /// The whole event as canonical JSON text: what is stored and sent over federation.
    pub fn json(&self) -> &str {
        &self.json
    }
}

/// The room ID a version 12 create event defines.
/// The room ID of a stored create event without one (version 12 on): `!` and the
/// reference hash, which its stored event ID already is (`$` and the same hash), so the
/// event is not hashed again, and a create event served in a recovered form (see the
/// `recovery` module) keeps its room.
fn stored_create_room_id(event_id: &EventId, version: RoomVersion) -> Result<OwnedRoomId, PduError> {
    let invalid = || FormatError::InvalidId { field: "room_id", value: event_id.to_string() };
    if !version.rules().room_id_from_create_event {
        return Err(invalid().into());
    }
    let hash = event_id.as_str().strip_prefix('$').ok_or_else(invalid)?;
    RoomId::parse(format!("!{hash}")).map_err(|_| invalid().into())
}

fn derived_room_id(value: &Value, version: RoomVersion) -> Result<OwnedRoomId, PduError> {
    let room_id = room_id_for_create_event(value, version)?;
    RoomId::parse(&room_id)
        .map_err(|_| FormatError::InvalidId { field: "room_id", value: room_id.clone() }.into())
}

impl fmt::Debug for Pdu {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Pdu")
            .field("event_id", &self.event_id)
            .field("room_id", &self.room_id)
            .field("kind", &self.fields.kind)
            .field("state_key", &self.fields.state_key)
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

/// Two PDUs are equal when they are the same bytes with the same rejection status.
impl PartialEq for Pdu {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json && self.rejected == other.rejected && self.version == other.version
    }
}

impl Eq for Pdu {}

impl Event for Pdu {
    type Id = OwnedEventId;

    fn event_id(&self) -> &OwnedEventId {
        &self.event_id
    }

    fn room_id(&self) -> Option<&RoomId> {
        self.room_id_in_event.then_some(self.room_id.as_ref())
    }

    fn sender(&self) -> &UserId {
        &self.fields.sender
    }

    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.fields.origin_server_ts
    }

    fn event_type(&self) -> &TimelineEventType {
        &self.event_type
    }

    fn content(&self) -> &RawValue {
        &self.content
    }

    fn state_key(&self) -> Option<&str> {
        self.fields.state_key.as_deref()
    }

    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &OwnedEventId> + '_> {
        Box::new(self.fields.prev_events.iter())
    }

    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &OwnedEventId> + '_> {
        Box::new(self.fields.auth_events.iter())
    }

    fn redacts(&self) -> Option<&OwnedEventId> {
        self.fields.redacts.as_ref()
    }

    fn rejected(&self) -> bool {
        self.rejected
    }
}

#[cfg(test)]
#[path = "pdu_tests.rs"]
mod tests;
