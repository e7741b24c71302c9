//! Reference hashes and the identifiers built from them: event IDs (room versions 4 and later)
//! and, from room version 12, the room ID derived from the create event.
//!
//! The reference hash is SHA-256 over the canonical JSON of the redacted event without
//! `signatures` and `unsigned`, in URL-safe unpadded Base64. Redaction already drops every other
//! non-essential key (including a top-level `age_ts`), so a redacted copy of an event has the same
//! ID as the original.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::canonical_json::{CanonicalJsonError, to_canonical_bytes};
use crate::redaction::{RedactionError, redact_object};
use crate::room_version::RoomVersion;
use crate::unpadded_base64;

/// Why an event's reference hash, event ID or room ID could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventIdError {
    /// The event is too malformed to redact.
    #[error("cannot redact event: {0}")]
    Unredactable(#[from] RedactionError),
    /// The redacted event has no canonical encoding, so it has no defined hash.
    #[error("redacted event is not valid canonical JSON: {0}")]
    NotCanonical(#[from] CanonicalJsonError),
    /// Only room versions from 12 on derive the room ID from the create event.
    #[error("room version {version} does not derive room IDs from the create event")]
    RoomIdNotDerived {
        /// The room version asked about.
        version: RoomVersion,
    },
    /// A room ID can only be derived from an `m.room.create` event.
    #[error("only an `m.room.create` event defines a room ID")]
    NotACreateEvent,
    /// A create event whose room ID is derived from it must not carry a `room_id` itself.
    #[error("create event carries a `room_id`, which its room version forbids")]
    CreateEventHasRoomId,
}

/// Computes an event's reference hash (URL-safe unpadded Base64, no sigil) under the redaction
/// rules of room `version`.
pub fn reference_hash(event: &Value, version: RoomVersion) -> Result<String, EventIdError> {
    let mut redacted = redact_object(event, &version.rules().redaction)?;
    redacted.remove("signatures");
    redacted.remove("unsigned");
    let bytes = to_canonical_bytes(&Value::Object(redacted))?;
    Ok(unpadded_base64::encode_url_safe(Sha256::digest(&bytes)))
}

/// Computes an event's ID: `$` followed by its reference hash.
pub fn event_id(event: &Value, version: RoomVersion) -> Result<String, EventIdError> {
    Ok(format!("${}", reference_hash(event, version)?))
}

/// Computes the room ID a create event defines in room versions that derive it (12 on): `!`
/// followed by the create event's reference hash. The create event must have no `room_id`.
pub fn room_id_for_create_event(event: &Value, version: RoomVersion) -> Result<String, EventIdError> {
    if !version.rules().room_id_from_create_event {
        return Err(EventIdError::RoomIdNotDerived { version });
    }
    if event.get("type").and_then(Value::as_str) != Some("m.room.create") {
        return Err(EventIdError::NotACreateEvent);
    }
    if event.get("room_id").is_some() {
        return Err(EventIdError::CreateEventHasRoomId);
    }
    Ok(format!("!{}", reference_hash(event, version)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redaction::redact;
    use serde_json::json;

    /// A real room version 5 create event published as a test vector by gomatrixserverlib
    /// (`eventversion_test.go`). Room version 10 redacts create events exactly as version 5 did.
    fn published_create_event() -> Value {
        json!({
            "auth_events": [],
            "prev_events": [],
            "type": "m.room.create",
            "room_id": "!uXDCzlYgCTHtiWCkEx:jki.re",
            "sender": "@erikj:jki.re",
            "content": {
                "room_version": "5",
                "predecessor": {
                    "room_id": "!gdRMqOrTFdOCYHNwOo:half-shot.uk",
                    "event_id": "$LP7ROBc4b+cMc1UE9haIz8q5AK2AIW4eJ90FfKLvyZI"
                },
                "creator": "@erikj:jki.re"
            },
            "depth": 1,
            "prev_state": [],
            "state_key": "",
            "origin": "jki.re",
            "origin_server_ts": 1_560_284_621_137_i64,
            "hashes": {"sha256": "IX6zuNiJpJPNf70BLleL3HSCpjKeq9Uhu7uUpyDjBmc"},
            "signatures": {
                "jki.re": {
                    "ed25519:auto": "O4IyFfF2PPtGp5uaDm8t57dZbdh8vc8Q64LgCwvzYRVItAMI0uisfiAFaxkVT7MRpzh6N2QNN5NMRXZKmgPYDA"
                }
            },
            "unsigned": {"age": 1_321_650}
        })
    }

    #[test]
    fn published_vector_event_id() {
        let event = published_create_event();
        assert_eq!(
            event_id(&event, RoomVersion::V10).unwrap(),
            "$RrGxF28UrHLmoASHndYb9Jb_1SFww2ptmtur9INS438"
        );
        // The v11 algorithm drops `origin` and `prev_state` and keeps all of the content, so the
        // same JSON hashes differently there.
        assert_ne!(event_id(&event, RoomVersion::V11).unwrap(), event_id(&event, RoomVersion::V10).unwrap());
    }

    #[test]
    fn published_vector_hash_matches_content() {
        assert_eq!(crate::signing::verify_content_hash(&published_create_event()), Ok(()));
    }

    fn message() -> Value {
        json!({
            "type": "m.room.message",
            "room_id": "!room:example.org",
            "sender": "@alice:example.org",
            "content": {"body": "hello", "msgtype": "m.text"},
            "hashes": {"sha256": "abc"},
            "origin_server_ts": 1,
            "depth": 3,
            "auth_events": [],
            "prev_events": [],
        })
    }

    #[test]
    fn event_id_is_url_safe_and_well_formed() {
        for version in RoomVersion::ALL {
            let id = event_id(&message(), version).unwrap();
            let hash = id.strip_prefix('$').unwrap();
            assert_eq!(hash.len(), 43);
            assert!(hash.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{id}");
        }
    }

    #[test]
    fn key_order_does_not_matter() {
        let text = r#"{"depth":3,"type":"m.room.message","sender":"@alice:example.org","prev_events":[],
            "origin_server_ts":1,"hashes":{"sha256":"abc"},"content":{"msgtype":"m.text","body":"hello"},
            "auth_events":[],"room_id":"!room:example.org"}"#;
        let reordered: Value = serde_json::from_str(text).unwrap();
        assert_eq!(event_id(&reordered, RoomVersion::V11), event_id(&message(), RoomVersion::V11));
    }

    #[test]
    fn unsigned_signatures_and_redactable_content_do_not_matter() {
        let version = RoomVersion::V12;
        let original = event_id(&message(), version).unwrap();
        let mut decorated = message();
        decorated["unsigned"] = json!({"age": 5, "transaction_id": "t"});
        decorated["signatures"] = json!({"example.org": {"ed25519:1": "sig"}});
        decorated["age_ts"] = json!(7);
        assert_eq!(event_id(&decorated, version).unwrap(), original);
        // Content is covered only through `hashes`, so changing the body alone keeps the ID.
        decorated["content"]["body"] = json!("changed");
        assert_eq!(event_id(&decorated, version).unwrap(), original);
        assert_eq!(event_id(&redact(&decorated, version).unwrap(), version).unwrap(), original);
    }

    #[test]
    fn essential_fields_change_the_id() {
        let version = RoomVersion::V11;
        let original = event_id(&message(), version).unwrap();
        for (key, value) in [
            ("hashes", json!({"sha256": "abd"})),
            ("depth", json!(4)),
            ("sender", json!("@bob:example.org")),
            ("prev_events", json!(["$x"])),
            ("origin_server_ts", json!(2)),
        ] {
            let mut changed = message();
            changed[key] = value;
            assert_ne!(event_id(&changed, version).unwrap(), original, "{key}");
        }
    }

    #[test]
    fn protected_content_changes_the_id() {
        let version = RoomVersion::V10;
        let mut member = message();
        member["type"] = json!("m.room.member");
        member["state_key"] = json!("@alice:example.org");
        member["content"] = json!({"membership": "join"});
        let joined = event_id(&member, version).unwrap();
        member["content"]["membership"] = json!("leave");
        assert_ne!(event_id(&member, version).unwrap(), joined);
    }

    #[test]
    fn non_canonical_events_have_no_id() {
        let mut event = message();
        event["depth"] = json!(1.5);
        assert!(matches!(event_id(&event, RoomVersion::V10), Err(EventIdError::NotCanonical(_))));
        assert_eq!(
            event_id(&json!("x"), RoomVersion::V10),
            Err(EventIdError::Unredactable(RedactionError::NotAnObject))
        );
    }

    fn v12_create() -> Value {
        json!({
            "type": "m.room.create",
            "state_key": "",
            "sender": "@alice:example.org",
            "content": {"room_version": "12"},
            "hashes": {"sha256": "abc"},
            "origin_server_ts": 1,
            "depth": 1,
            "auth_events": [],
            "prev_events": [],
        })
    }

    #[test]
    fn v12_room_id_is_the_create_event_hash() {
        let create = v12_create();
        let room_id = room_id_for_create_event(&create, RoomVersion::V12).unwrap();
        let event_id = event_id(&create, RoomVersion::V12).unwrap();
        assert!(room_id.starts_with('!'));
        assert_eq!(room_id.get(1..), event_id.get(1..));
    }

    #[test]
    fn room_id_derivation_is_refused_when_not_applicable() {
        assert_eq!(
            room_id_for_create_event(&v12_create(), RoomVersion::V11),
            Err(EventIdError::RoomIdNotDerived { version: RoomVersion::V11 })
        );
        assert_eq!(
            room_id_for_create_event(&message(), RoomVersion::V12),
            Err(EventIdError::NotACreateEvent)
        );
        let mut with_room = v12_create();
        with_room["room_id"] = json!("!x:example.org");
        assert_eq!(
            room_id_for_create_event(&with_room, RoomVersion::V12),
            Err(EventIdError::CreateEventHasRoomId)
        );
    }
}
