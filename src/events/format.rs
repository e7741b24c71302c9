//! The PDU format check for each room version: required keys and their JSON types, identifier
//! grammar and reference counts — step 1 of the checks on receipt of a PDU (failures are dropped).
//!
//! Sizes (65,536 bytes of canonical JSON, 255-byte identifiers) are checked by
//! [`stoa_federation::check_pdu_size`] before this runs.

use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UInt, UserId};
use serde_json::{Map, Value};
use stoa_federation::RoomVersion;

/// The most `prev_events` a PDU may cite (room version format).
pub const MAX_PREV_EVENTS: usize = 20;

/// The most `auth_events` a PDU may cite (room version format).
pub const MAX_AUTH_EVENTS: usize = 10;

/// Length of an unpadded Base64 SHA-256 reference hash, the body of event IDs and v12 room IDs.
const REFERENCE_HASH_CHARS: usize = 43;

/// Why a JSON object is not a PDU of its room version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A required key is absent.
    #[error("missing required key `{0}`")]
    Missing(&'static str),
    /// A key holds the wrong JSON type or an out-of-range value.
    #[error("key `{field}` must be {expected}")]
    WrongType {
        /// The offending key.
        field: &'static str,
        /// What the format requires there.
        expected: &'static str,
    },
    /// An identifier does not follow its grammar for this room version.
    #[error("key `{field}` holds an invalid identifier {value:?}")]
    InvalidId {
        /// The offending key.
        field: &'static str,
        /// The identifier as received.
        value: String,
    },
    /// `prev_events` or `auth_events` cites too many events.
    #[error("key `{field}` cites more than {max} events")]
    TooManyReferences {
        /// The offending key.
        field: &'static str,
        /// The format's limit.
        max: usize,
    },
    /// A room version 12 create event carries a `room_id`; its room ID is its own hash.
    #[error("a room version 12 create event must not have a `room_id`")]
    CreateHasRoomId,
    /// A room version 12 event cites the create event in `auth_events`.
    #[error("the create event must not be cited in `auth_events` in this room version")]
    CreateInAuthEvents,
    /// A create event declares a different room version than the one it is parsed as.
    #[error("create event declares room version {found:?}, expected {expected}")]
    RoomVersionMismatch {
        /// The version the event was parsed as.
        expected: RoomVersion,
        /// `content.room_version` (`"1"` when absent, as the spec defaults it).
        found: String,
    },
}

/// The typed fields of a PDU that passed the format check.
#[derive(Debug, Clone)]
pub struct Fields {
    pub sender: OwnedUserId,
    pub kind: String,
    pub state_key: Option<String>,
    /// `None` only for a room version 12 create event.
    pub room_id: Option<OwnedRoomId>,
    pub prev_events: Vec<OwnedEventId>,
    pub auth_events: Vec<OwnedEventId>,
    pub depth: u64,
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    pub redacts: Option<OwnedEventId>,
}

/// Checks `event` against the PDU format of room `version` and extracts its typed fields.
pub fn check(event: &Map<String, Value>, version: RoomVersion) -> Result<Fields, FormatError> {
    let rules = version.rules();
    let kind = required_str(event, "type")?.to_owned();
    let sender = required_str(event, "sender")?;
    let sender = UserId::parse(sender).map_err(|_| invalid("sender", sender))?;
    let state_key = optional_str(event, "state_key")?.map(str::to_owned);
    let content = object(event, "content")?.ok_or(FormatError::Missing("content"))?;
    check_hashes_and_signatures(event)?;
    // `unsigned` is optional, but must be an object when present.
    object(event, "unsigned")?;
    let is_create = kind == "m.room.create";
    let room_id = if is_create && rules.room_id_from_create_event {
        if event.contains_key("room_id") {
            return Err(FormatError::CreateHasRoomId);
        }
        None
    } else {
        Some(room_id(required_str(event, "room_id")?, version)?)
    };
    let prev_events = event_ids(event, "prev_events", MAX_PREV_EVENTS)?;
    let auth_events = event_ids(event, "auth_events", MAX_AUTH_EVENTS)?;
    if let Some(room_id) = &room_id
        && !rules.create_in_auth_events
        && auth_events.iter().any(|id| id.as_str().get(1..) == room_id.as_str().get(1..))
    {
        return Err(FormatError::CreateInAuthEvents);
    }
    if is_create {
        check_create_version(content, version)?;
    }
    let redacts = redacts(event, content, &kind, version)?;
    Ok(Fields {
        sender,
        kind,
        state_key,
        room_id,
        prev_events,
        auth_events,
        depth: non_negative(event, "depth")?,
        origin_server_ts: MilliSecondsSinceUnixEpoch(
            UInt::try_from(non_negative(event, "origin_server_ts")?)
                .map_err(|_| wrong("origin_server_ts", "a non-negative integer"))?,
        ),
        redacts,
    })
}

/// `hashes.sha256` must be a string and `signatures` a map of server to key ID to string.
fn check_hashes_and_signatures(event: &Map<String, Value>) -> Result<(), FormatError> {
    let hashes = object(event, "hashes")?.ok_or(FormatError::Missing("hashes"))?;
    if !hashes.get("sha256").is_some_and(Value::is_string) {
        return Err(wrong("hashes", "an object with a string `sha256`"));
    }
    let signatures = object(event, "signatures")?.ok_or(FormatError::Missing("signatures"))?;
    let well_formed = signatures
        .values()
        .all(|by_key| by_key.as_object().is_some_and(|keys| keys.values().all(Value::is_string)));
    if !well_formed {
        return Err(wrong("signatures", "an object of objects of strings"));
    }
    Ok(())
}

/// The create event's declared version must be the one the event is being parsed as.
fn check_create_version(content: &Map<String, Value>, version: RoomVersion) -> Result<(), FormatError> {
    let found = match content.get("room_version") {
        None => "1",
        Some(Value::String(found)) => found.as_str(),
        Some(_) => return Err(wrong("content.room_version", "a string")),
    };
    if found != version.as_str() {
        return Err(FormatError::RoomVersionMismatch { expected: version, found: found.to_owned() });
    }
    Ok(())
}

/// The event a redaction redacts: top-level `redacts` up to version 10, `content.redacts` after
/// (where a top-level key would not be covered by the signature).
fn redacts(
    event: &Map<String, Value>,
    content: &Map<String, Value>,
    kind: &str,
    version: RoomVersion,
) -> Result<Option<OwnedEventId>, FormatError> {
    if kind != "m.room.redaction" {
        return Ok(None);
    }
    let (field, value) = if version.rules().redacts_in_content {
        ("content.redacts", content.get("redacts"))
    } else {
        ("redacts", event.get("redacts"))
    };
    match value {
        None => Ok(None),
        Some(Value::String(id)) => event_id(field, id).map(Some),
        Some(_) => Err(wrong(field, "an event ID string")),
    }
}

/// A room ID in the grammar of `version`: `!` + reference hash from version 12, `!opaque:server`
/// before.
fn room_id(text: &str, version: RoomVersion) -> Result<OwnedRoomId, FormatError> {
    let well_formed = if version.rules().room_id_from_create_event {
        text.strip_prefix('!').is_some_and(is_reference_hash)
    } else {
        RoomId::parse(text).is_ok_and(|id| id.server_name().is_some())
    };
    if !well_formed {
        return Err(invalid("room_id", text));
    }
    RoomId::parse(text).map_err(|_| invalid("room_id", text))
}

/// An event ID in the format of room versions 4 and later: `$` + reference hash.
pub fn event_id(field: &'static str, text: &str) -> Result<OwnedEventId, FormatError> {
    if !text.strip_prefix('$').is_some_and(is_reference_hash) {
        return Err(invalid(field, text));
    }
    OwnedEventId::try_from(text).map_err(|_| invalid(field, text))
}

/// Whether `text` is an unpadded URL-safe Base64 SHA-256 hash.
fn is_reference_hash(text: &str) -> bool {
    text.len() == REFERENCE_HASH_CHARS
        && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

fn event_ids(
    event: &Map<String, Value>,
    field: &'static str,
    max: usize,
) -> Result<Vec<OwnedEventId>, FormatError> {
    let Some(value) = event.get(field) else {
        return Err(FormatError::Missing(field));
    };
    let Value::Array(items) = value else {
        return Err(wrong(field, "an array of event IDs"));
    };
    if items.len() > max {
        return Err(FormatError::TooManyReferences { field, max });
    }
    items
        .iter()
        .map(|item| item.as_str().ok_or_else(|| wrong(field, "an array of event IDs")))
        .map(|text| text.and_then(|text| event_id(field, text)))
        .collect()
}

fn required_str<'a>(event: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, FormatError> {
    optional_str(event, field)?.ok_or(FormatError::Missing(field))
}

fn optional_str<'a>(
    event: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, FormatError> {
    match event.get(field) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(wrong(field, "a string")),
    }
}

fn object<'a>(
    event: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a Map<String, Value>>, FormatError> {
    match event.get(field) {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(wrong(field, "an object")),
    }
}

fn non_negative(event: &Map<String, Value>, field: &'static str) -> Result<u64, FormatError> {
    event
        .get(field)
        .ok_or(FormatError::Missing(field))?
        .as_u64()
        .ok_or_else(|| wrong(field, "a non-negative integer"))
}

fn wrong(field: &'static str, expected: &'static str) -> FormatError {
    FormatError::WrongType { field, expected }
}

fn invalid(field: &'static str, value: &str) -> FormatError {
    FormatError::InvalidId { field, value: value.to_owned() }
}
