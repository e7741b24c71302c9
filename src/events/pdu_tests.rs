//! Tests for PDU parsing: the format of each room version, sizes, identifiers and strictness.

use ruma::{OwnedEventId, OwnedRoomId, UserId};
use serde_json::{Value, json};
use stoa_federation::{MAX_PDU_BYTES, PduSizeError, RoomVersion, to_canonical_string};

use super::*;
use crate::events::room_tests::key;
use crate::events::{EventBuilder, MAX_AUTH_EVENTS, MAX_PREV_EVENTS};

const HASH_A: &str = "$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn room_id(version: RoomVersion) -> OwnedRoomId {
    let text = if version.rules().room_id_from_create_event {
        "!bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    } else {
        "!room:example.org"
    };
    RoomId::parse(text).unwrap()
}

/// A signed message of room `version`, as JSON to mutate.
fn message(version: RoomVersion) -> Value {
    let sender = UserId::parse("@alice:example.org").unwrap();
    let mut builder =
        EventBuilder::new(version, Some(room_id(version)), sender, "m.room.message", json!({"body": "hi"}));
    builder.prev_events = vec![OwnedEventId::try_from(HASH_A).unwrap()];
    builder.depth = 3;
    builder.build("example.org", &key()).unwrap().as_value().clone()
}

fn parse(value: Value, version: RoomVersion) -> Result<Pdu, PduError> {
    Pdu::from_value(value, version)
}

fn format_error(value: Value, version: RoomVersion) -> FormatError {
    match parse(value, version) {
        Err(PduError::Format(error)) => error,
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn valid_message_exposes_its_fields() {
    for version in RoomVersion::ALL {
        let pdu = parse(message(version), version).unwrap();
        assert_eq!(pdu.kind(), "m.room.message");
        assert_eq!(pdu.sender(), "@alice:example.org");
        assert_eq!(pdu.room_id(), room_id(version));
        assert_eq!(Event::room_id(&pdu), Some(room_id(version).as_ref()));
        assert_eq!(pdu.state_key(), None);
        assert_eq!(pdu.depth(), 3);
        assert_eq!(pdu.prev_events().len(), 1);
        assert!(pdu.auth_events().is_empty());
        assert_eq!(pdu.content().get(), r#"{"body":"hi"}"#);
        assert_eq!(pdu.version(), version);
        assert!(!pdu.is_rejected() && pdu.clone().into_rejected().is_rejected());
        assert_eq!(pdu.json(), to_canonical_string(pdu.as_value()).unwrap());
        assert_eq!(pdu.event_id().as_str(), stoa_federation::event_id(pdu.as_value(), version).unwrap());
    }
}

#[test]
fn strict_canonical_json_is_required() {
    let version = RoomVersion::V12;
    let text = to_canonical_string(&message(version)).unwrap();
    assert!(Pdu::parse(&text, version).is_ok());
    let duplicated = text.replacen("{", r#"{"depth":3,"#, 1);
    assert!(matches!(Pdu::parse(&duplicated, version), Err(PduError::NotCanonical(_))));
    let float = text.replace(r#""depth":3"#, r#""depth":3.0"#);
    assert!(matches!(Pdu::parse(&float, version), Err(PduError::NotCanonical(_))));
    let mut huge = message(version);
    huge["content"]["n"] = json!(1_u64 << 53);
    assert!(matches!(parse(huge, version), Err(PduError::TooLarge(PduSizeError::NotCanonical(_)))));
    assert_eq!(parse(json!([1]), version), Err(PduError::NotAnObject));
}

#[test]
fn required_keys_must_be_present() {
    for version in RoomVersion::ALL {
        for field in [
            "type",
            "sender",
            "content",
            "hashes",
            "signatures",
            "room_id",
            "prev_events",
            "auth_events",
            "depth",
            "origin_server_ts",
        ] {
            let mut event = message(version);
            event.as_object_mut().unwrap().remove(field);
            assert_eq!(format_error(event, version), FormatError::Missing(field), "v{version} {field}");
        }
    }
}

#[test]
fn keys_must_have_their_types() {
    let version = RoomVersion::V11;
    for (field, value) in [
        ("state_key", json!(5)),
        ("content", json!([])),
        ("depth", json!(-1)),
        ("origin_server_ts", json!("now")),
        ("hashes", json!({"sha256": 1})),
        ("signatures", json!({"example.org": "sig"})),
        ("unsigned", json!("x")),
        ("prev_events", json!("$x")),
        ("auth_events", json!([1])),
    ] {
        let mut event = message(version);
        event[field] = value;
        assert!(
            matches!(format_error(event, version), FormatError::WrongType { field: f, .. } if f == field),
            "{field}"
        );
    }
}

#[test]
fn identifiers_follow_their_version_grammar() {
    let cases = [
        (RoomVersion::V12, "room_id", json!("!room:example.org")),
        (RoomVersion::V11, "room_id", json!("!bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")),
        (RoomVersion::V10, "room_id", json!("room:example.org")),
        (RoomVersion::V12, "sender", json!("alice")),
        (RoomVersion::V12, "prev_events", json!(["$short"])),
        (RoomVersion::V10, "prev_events", json!(["$abc:example.org"])),
        (RoomVersion::V11, "auth_events", json!(["$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa+"])),
    ];
    for (version, field, value) in cases {
        let mut event = message(version);
        event[field] = value;
        assert!(
            matches!(format_error(event, version), FormatError::InvalidId { field: f, .. } if f == field),
            "v{version} {field}"
        );
    }
}

#[test]
fn reference_counts_are_limited() {
    let version = RoomVersion::V12;
    for (field, max) in [("prev_events", MAX_PREV_EVENTS), ("auth_events", MAX_AUTH_EVENTS)] {
        let mut event = message(version);
        event[field] = json!(vec![HASH_A; max]);
        assert!(parse(event.clone(), version).is_ok(), "{field} at the limit");
        event[field] = json!(vec![HASH_A; max + 1]);
        assert_eq!(format_error(event, version), FormatError::TooManyReferences { field, max });
    }
}

#[test]
fn v12_create_event_rules() {
    let version = RoomVersion::V12;
    let mut event = message(version);
    event["type"] = json!("m.room.create");
    event["state_key"] = json!("");
    event["content"] = json!({"room_version": "12"});
    assert_eq!(format_error(event.clone(), version), FormatError::CreateHasRoomId);
    event.as_object_mut().unwrap().remove("room_id");
    let create = parse(event, version).unwrap();
    assert_eq!(create.room_id().as_str().get(1..), create.event_id().as_str().get(1..));
    assert_eq!(Event::room_id(&create), None);
    // Other events may not cite it.
    let mut cites = message(version);
    cites["room_id"] = json!(create.room_id().as_str());
    cites["auth_events"] = json!([create.event_id().as_str()]);
    assert_eq!(format_error(cites, version), FormatError::CreateInAuthEvents);
}

#[test]
fn create_event_must_declare_its_version() {
    let mut event = message(RoomVersion::V11);
    event["type"] = json!("m.room.create");
    event["state_key"] = json!("");
    event["content"] = json!({"room_version": "12"});
    let found = |error| matches!(error, FormatError::RoomVersionMismatch { found, .. } if found == "12");
    assert!(found(format_error(event.clone(), RoomVersion::V11)));
    event["content"] = json!({});
    assert!(matches!(
        format_error(event.clone(), RoomVersion::V11),
        FormatError::RoomVersionMismatch { found, .. } if found == "1"
    ));
    event["content"] = json!({"room_version": "11"});
    assert!(parse(event, RoomVersion::V11).is_ok());
}

#[test]
fn claimed_event_id_must_match() {
    let version = RoomVersion::V11;
    let event = message(version);
    let computed = parse(event.clone(), version).unwrap().event_id().to_owned();
    let mut claimed = event.clone();
    claimed["event_id"] = json!(computed.as_str());
    let pdu = parse(claimed, version).unwrap();
    assert!(pdu.as_value().get("event_id").is_none());
    let mut wrong = event;
    wrong["event_id"] = json!(HASH_A);
    assert!(matches!(parse(wrong, version), Err(PduError::EventIdMismatch { .. })));
}

#[test]
fn size_limit_is_65536_bytes_of_canonical_json() {
    let version = RoomVersion::V12;
    let mut event = message(version);
    event["content"]["body"] = json!("");
    let base = to_canonical_string(&event).unwrap().len();
    event["content"]["body"] = json!("x".repeat(MAX_PDU_BYTES - base));
    assert_eq!(to_canonical_string(&event).unwrap().len(), MAX_PDU_BYTES);
    assert!(parse(event.clone(), version).is_ok());
    event["content"]["body"] = json!("x".repeat(MAX_PDU_BYTES - base + 1));
    assert!(matches!(parse(event, version), Err(PduError::TooLarge(PduSizeError::EventTooLarge { .. }))));
}

#[test]
fn type_and_state_key_are_limited_to_255_bytes() {
    let version = RoomVersion::V12;
    for field in ["type", "state_key"] {
        let mut event = message(version);
        event[field] = json!("a".repeat(255));
        assert!(parse(event.clone(), version).is_ok(), "{field}");
        event[field] = json!("a".repeat(256));
        assert!(
            matches!(parse(event, version), Err(PduError::TooLarge(PduSizeError::FieldTooLong { .. }))),
            "{field}"
        );
    }
}

#[test]
fn redacts_moves_into_content_from_v11() {
    let redaction = |version| {
        let mut event = message(version);
        event["type"] = json!("m.room.redaction");
        event
    };
    let mut v10 = redaction(RoomVersion::V10);
    v10["redacts"] = json!(HASH_A);
    assert_eq!(parse(v10, RoomVersion::V10).unwrap().redacts().map(|id| id.as_str()), Some(HASH_A));
    let mut v11 = redaction(RoomVersion::V11);
    v11["redacts"] = json!(HASH_A);
    assert_eq!(parse(v11.clone(), RoomVersion::V11).unwrap().redacts(), None, "top level is unsigned there");
    v11["content"]["redacts"] = json!(HASH_A);
    assert_eq!(parse(v11.clone(), RoomVersion::V11).unwrap().redacts().map(|id| id.as_str()), Some(HASH_A));
    v11["content"]["redacts"] = json!(5);
    assert!(matches!(
        format_error(v11, RoomVersion::V11),
        FormatError::WrongType { field: "content.redacts", .. }
    ));
}

#[test]
fn stored_events_read_back_as_parsed() {
    for version in RoomVersion::ALL {
        let parsed = parse(message(version), version).unwrap();
        let stored = Pdu::from_stored(parsed.json(), parsed.event_id(), version).unwrap();
        assert_eq!(stored.event_id(), parsed.event_id());
        assert_eq!(stored.json(), parsed.json());
        assert_eq!(stored.as_value(), parsed.as_value());
        assert_eq!(stored.content().get(), parsed.content().get());
        assert_eq!(
            (stored.kind(), stored.sender(), stored.room_id()),
            (parsed.kind(), parsed.sender(), parsed.room_id())
        );
        assert_eq!((stored.depth(), stored.prev_events()), (parsed.depth(), parsed.prev_events()));
    }
    // A v12 create event's room ID is still derived.
    let version = RoomVersion::V12;
    let mut event = message(version);
    event["type"] = json!("m.room.create");
    event["state_key"] = json!("");
    event["content"] = json!({"room_version": "12"});
    event.as_object_mut().unwrap().remove("room_id");
    let create = parse(event, version).unwrap();
    let stored = Pdu::from_stored(create.json(), create.event_id(), version).unwrap();
    assert_eq!(stored.room_id(), create.room_id());
    // Stored text is still checked for its format.
    assert!(Pdu::from_stored("[1]", create.event_id(), version).is_err());
    assert!(Pdu::from_stored(r#"{"type":"m.room.message"}"#, create.event_id(), version).is_err());
}
