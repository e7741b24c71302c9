//! A PDU: parsed and validated once, immutable after, and usable by ruma's auth rules
//! and state resolution through `ruma::state_res::Event`.

use std::sync::Arc;

use ruma::events::TimelineEventType;
use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
};
use serde_json::Value;
use serde_json::value::RawValue;
use stoa_federation::RoomVersion;

/// Why a JSON text is not a valid PDU.
#[derive(Debug, thiserror::Error)]
pub enum PduError {
    #[error("not canonical JSON: {0}")]
    NotCanonical(String),
    #[error("invalid PDU: {0}")]
    Invalid(String),
}

/// A validated PDU. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct Pdu {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    json: String,
    event_id: OwnedEventId,
    room_id: OwnedRoomId,
    /// Room version 12 create events have no `room_id` key (it is their own hash).
    room_id_in_pdu: bool,
    sender: OwnedUserId,
    kind: TimelineEventType,
    kind_str: String,
    state_key: Option<String>,
    content: Box<RawValue>,
    prev_events: Vec<OwnedEventId>,
    auth_events: Vec<OwnedEventId>,
    depth: u64,
    origin_server_ts: u64,
    redacts: Option<OwnedEventId>,
}

impl Pdu {
    /// Parses and validates a PDU of a room with `version`.
    pub fn parse(json: &str, version: RoomVersion) -> Result<Pdu, PduError> {
        let value =
            stoa_federation::parse_canonical_str(json).map_err(|e| PduError::NotCanonical(e.to_string()))?;
        Self::from_value(value, version)
    }

    /// Validates a PDU given as a JSON value (strict canonical JSON is checked).
    pub fn from_value(value: Value, version: RoomVersion) -> Result<Pdu, PduError> {
        stoa_federation::check_pdu_size(&value).map_err(|e| PduError::Invalid(e.to_string()))?;
        let json = stoa_federation::to_canonical_string(&value)
            .map_err(|e| PduError::NotCanonical(e.to_string()))?;
        let event_id =
            stoa_federation::event_id(&value, version).map_err(|e| PduError::Invalid(e.to_string()))?;
        let event_id = EventId::parse(event_id).map_err(|e| PduError::Invalid(e.to_string()))?;
        let text = |key: &str| value.get(key).and_then(Value::as_str);
        let kind_str = text("type").ok_or_else(|| invalid("type"))?.to_owned();
        let room_id = match text("room_id") {
            Some(room) => RoomId::parse(room).map_err(|e| PduError::Invalid(e.to_string()))?,
            // Room version 12 create events carry no room ID: it is their own hash.
            None if kind_str == "m.room.create" && version.rules().room_id_from_create_event => {
                let id = stoa_federation::room_id_for_create_event(&value, version)
                    .map_err(|e| PduError::Invalid(e.to_string()))?;
                RoomId::parse(id).map_err(|e| PduError::Invalid(e.to_string()))?
            }
            None => return Err(invalid("room_id")),
        };
        let sender = UserId::parse(text("sender").ok_or_else(|| invalid("sender"))?)
            .map_err(|e| PduError::Invalid(e.to_string()))?;
        let content = value.get("content").filter(|c| c.is_object()).ok_or_else(|| invalid("content"))?;
        let content =
            serde_json::value::to_raw_value(content).map_err(|e| PduError::Invalid(e.to_string()))?;
        let ids = |key: &str| -> Result<Vec<OwnedEventId>, PduError> {
            value
                .get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| invalid(key))?
                .iter()
                .map(|id| id.as_str().and_then(|s| EventId::parse(s).ok()).ok_or_else(|| invalid(key)))
                .collect()
        };
        let redacts = if version.rules().redacts_in_content {
            value.pointer("/content/redacts").and_then(Value::as_str)
        } else {
            text("redacts")
        };
        let redacts =
            redacts.map(EventId::parse).transpose().map_err(|e| PduError::Invalid(e.to_string()))?;
        Ok(Pdu {
            inner: Arc::new(Inner {
                event_id,
                room_id,
                room_id_in_pdu: text("room_id").is_some(),
                sender,
                kind: TimelineEventType::from(kind_str.as_str()),
                kind_str,
                state_key: text("state_key").map(str::to_owned),
                content,
                prev_events: ids("prev_events")?,
                auth_events: ids("auth_events")?,
                depth: value.get("depth").and_then(Value::as_u64).ok_or_else(|| invalid("depth"))?,
                origin_server_ts: value
                    .get("origin_server_ts")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| invalid("origin_server_ts"))?,
                redacts,
                json,
            }),
        })
    }

    pub fn event_id(&self) -> &EventId {
        &self.inner.event_id
    }
    pub fn room_id(&self) -> &RoomId {
        &self.inner.room_id
    }
    pub fn sender(&self) -> &UserId {
        &self.inner.sender
    }
    /// The event type.
    pub fn kind(&self) -> &str {
        &self.inner.kind_str
    }
    pub fn state_key(&self) -> Option<&str> {
        self.inner.state_key.as_deref()
    }
    pub fn content(&self) -> &RawValue {
        &self.inner.content
    }
    pub fn prev_events(&self) -> &[OwnedEventId] {
        &self.inner.prev_events
    }
    pub fn auth_events(&self) -> &[OwnedEventId] {
        &self.inner.auth_events
    }
    pub fn depth(&self) -> u64 {
        self.inner.depth
    }
    pub fn origin_server_ts(&self) -> u64 {
        self.inner.origin_server_ts
    }
    pub fn redacts(&self) -> Option<&EventId> {
        self.inner.redacts.as_deref()
    }
    /// The PDU as canonical JSON text.
    pub fn json(&self) -> &str {
        &self.inner.json
    }
}

fn invalid(key: &str) -> PduError {
    PduError::Invalid(format!("missing or malformed `{key}`"))
}

impl ruma::state_res::Event for Pdu {
    type Id = OwnedEventId;

    fn event_id(&self) -> &Self::Id {
        &self.inner.event_id
    }
    fn room_id(&self) -> Option<&RoomId> {
        self.inner.room_id_in_pdu.then_some(&*self.inner.room_id)
    }
    fn sender(&self) -> &UserId {
        &self.inner.sender
    }
    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        MilliSecondsSinceUnixEpoch(UInt::new_saturating(self.inner.origin_server_ts))
    }
    fn event_type(&self) -> &TimelineEventType {
        &self.inner.kind
    }
    fn content(&self) -> &RawValue {
        &self.inner.content
    }
    fn state_key(&self) -> Option<&str> {
        self.inner.state_key.as_deref()
    }
    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.inner.prev_events.iter())
    }
    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.inner.auth_events.iter())
    }
    fn redacts(&self) -> Option<&Self::Id> {
        self.inner.redacts.as_ref()
    }
    fn rejected(&self) -> bool {
        false
    }
}
