//! Tests for the event builder: room ID rules, redacts placement, the create nonce, and that the
//! result is hashed and signed verifiably.

use ruma::{EventId, RoomId, UserId};
use serde_json::json;
use stoa_federation::{check_content_hash, verify_event_signature};

use super::*;
use crate::events::room_tests::key;

fn alice() -> OwnedUserId {
    UserId::parse("@alice:example.org").unwrap()
}

fn room() -> Option<OwnedRoomId> {
    Some(RoomId::parse("!room:example.org").unwrap())
}

fn create(version: RoomVersion, room_id: Option<OwnedRoomId>) -> EventBuilder {
    let content = json!({"room_version": version.as_str(), "creator": "@alice:example.org"});
    let mut builder = EventBuilder::new(version, room_id, alice(), "m.room.create", content);
    builder.state_key = Some(String::new());
    builder
}

#[test]
fn built_events_are_hashed_and_signed() {
    let key = key();
    for version in RoomVersion::ALL {
        let builder = EventBuilder::new(version, room(), alice(), "m.room.message", json!({"body": "hi"}));
        let builder = if version == RoomVersion::V12 {
            EventBuilder { room_id: Some(RoomId::parse(format!("!{}", "c".repeat(43))).unwrap()), ..builder }
        } else {
            builder
        };
        let pdu = builder.build("example.org", &key).unwrap();
        check_content_hash(pdu.as_value()).unwrap();
        verify_event_signature(pdu.as_value(), version, "example.org", key.key_id(), &key.public_key())
            .unwrap();
    }
}

#[test]
fn only_our_own_users_events_are_signed() {
    let builder = EventBuilder::new(RoomVersion::V11, room(), alice(), "m.room.message", json!({}));
    assert!(matches!(builder.build("elsewhere.org", &key()), Err(BuildError::ForeignSender { .. })));
}

#[test]
fn room_id_is_required_except_for_v12_create() {
    let key = key();
    assert!(create(RoomVersion::V12, None).build("example.org", &key).is_ok());
    assert_eq!(
        create(RoomVersion::V12, room()).build("example.org", &key),
        Err(BuildError::RoomIdForbidden(RoomVersion::V12))
    );
    assert_eq!(create(RoomVersion::V11, None).build("example.org", &key), Err(BuildError::RoomIdRequired));
    let message = EventBuilder::new(RoomVersion::V12, None, alice(), "m.room.message", json!({}));
    assert_eq!(message.build("example.org", &key), Err(BuildError::RoomIdRequired));
}

#[test]
fn only_v12_create_events_get_a_nonce() {
    let key = key();
    let v12 = create(RoomVersion::V12, None).build("example.org", &key).unwrap();
    let nonce = v12.content_value().and_then(|content| content.get(CREATE_NONCE_FIELD));
    assert!(nonce.and_then(|nonce| nonce.as_str()).is_some_and(|nonce| nonce.len() == 22));
    for version in [RoomVersion::V10, RoomVersion::V11] {
        let pdu = create(version, room()).build("example.org", &key).unwrap();
        assert!(pdu.content_value().and_then(|content| content.get(CREATE_NONCE_FIELD)).is_none());
    }
}

#[test]
fn redacts_goes_where_the_version_wants_it() {
    let target = EventId::parse(format!("${}", "d".repeat(43))).unwrap();
    for version in [RoomVersion::V10, RoomVersion::V11] {
        let mut builder = EventBuilder::new(version, room(), alice(), "m.room.redaction", json!({}));
        builder.redacts = Some(target.clone());
        let pdu = builder.build("example.org", &key()).unwrap();
        assert_eq!(pdu.redacts(), Some(target.as_ref()));
        let top_level = pdu.as_value().get("redacts").is_some();
        assert_eq!(top_level, !version.rules().redacts_in_content, "v{version}");
    }
}

#[test]
fn content_must_be_an_object_and_the_result_valid() {
    let key = key();
    let builder = EventBuilder::new(RoomVersion::V11, room(), alice(), "m.room.message", json!("hi"));
    assert_eq!(builder.build("example.org", &key), Err(BuildError::ContentNotAnObject));
    let mut builder = EventBuilder::new(RoomVersion::V11, room(), alice(), "m.room.message", json!({}));
    builder.prev_events = vec![EventId::parse(format!("${}", "e".repeat(43))).unwrap(); MAX_PREV + 1];
    assert!(matches!(builder.build("example.org", &key), Err(BuildError::Invalid(_))));
    let mut builder = EventBuilder::new(RoomVersion::V11, room(), alice(), "m.room.message", json!({}));
    builder.content = json!({"body": "x".repeat(70_000)});
    assert!(matches!(builder.build("example.org", &key), Err(BuildError::Signing(_))));
}

const MAX_PREV: usize = crate::events::MAX_PREV_EVENTS;
