//! Tests for the nesting limit at the PDU level and for reading back stored events that
//! nest deeper than it: redacted, with their event ID still their reference hash.

use ruma::{EventId, OwnedEventId};
use serde_json::{Value, json};
use stoa_federation::{RoomVersion, hash_and_sign_event, to_canonical_string};

use crate::events::nesting::{MAX_NESTING, TooDeep, text_depth};
use crate::events::{BuildError, EventBuilder, Pdu, PduError};

const SERVER: &str = "example.org";

fn key() -> stoa_federation::ServerSigningKey {
    stoa_federation::ServerSigningKey::from_seed("1", [7; 32]).unwrap()
}

/// `levels` nested arrays (`levels` ≥ 1).
fn arrays(levels: usize) -> Value {
    (1..levels).fold(json!([]), |inner, _| json!([inner]))
}

/// A signed event with `content`, as canonical text, and its event ID — built as the
/// server did before the limit, without any nesting check.
fn signed(
    version: RoomVersion,
    kind: &str,
    state_key: Option<&str>,
    content: Value,
) -> (String, OwnedEventId) {
    let mut event = json!({
        "room_id": room_for(version), "sender": "@alice:example.org", "type": kind,
        "content": content, "prev_events": ["$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
        "auth_events": [], "depth": 5, "origin_server_ts": 1_700_000_000_000_u64,
    });
    if let Some(key) = state_key {
        event["state_key"] = json!(key);
    }
    hash_and_sign_event(&mut event, version, SERVER, &key()).unwrap();
    let id = EventId::parse(stoa_federation::event_id(&event, version).unwrap()).unwrap();
    (to_canonical_string(&event).unwrap(), id)
}

/// A room ID of the form `version` wants (a hash from version 12).
fn room_for(version: RoomVersion) -> String {
    if version == RoomVersion::V12 { format!("!{}", "c".repeat(43)) } else { "!room:example.org".to_owned() }
}

/// The reference hash of what was read must still give the stored event ID.
fn assert_id_holds(pdu: &Pdu, id: &EventId, version: RoomVersion) {
    assert_eq!(stoa_federation::event_id(pdu.as_value(), version).unwrap(), id.as_str());
    assert_eq!(pdu.event_id(), id);
    assert!(text_depth(pdu.json().as_bytes()) <= MAX_NESTING + 1);
    serde_json::from_str::<Value>(pdu.json()).expect("what is read back parses with default limits");
}

#[test]
fn built_content_may_nest_to_the_limit_and_no_further() {
    let build = |levels: usize| {
        let content = json!({ "body": "x", "d": arrays(levels - 1) });
        EventBuilder::new(
            RoomVersion::V11,
            Some("!room:example.org".try_into().unwrap()),
            "@alice:example.org".try_into().unwrap(),
            "m.room.message",
            content,
        )
        .build(SERVER, &key())
    };
    let pdu = build(MAX_NESTING).unwrap();
    let read = Pdu::from_stored(pdu.json(), pdu.event_id(), RoomVersion::V11).unwrap();
    assert_eq!(read.content_value(), pdu.content_value());
    let too_deep = TooDeep { depth: MAX_NESTING + 2, limit: MAX_NESTING + 1 };
    assert_eq!(build(MAX_NESTING + 1).unwrap_err(), BuildError::Invalid(PduError::TooDeep(too_deep)));
}

#[test]
fn parsing_refuses_deep_events_as_too_deep() {
    let (json, _) = signed(RoomVersion::V11, "m.room.message", None, json!({ "d": arrays(126) }));
    assert!(matches!(Pdu::parse(&json, RoomVersion::V11), Err(PduError::TooDeep(_))));
    let (json, _) = signed(RoomVersion::V11, "m.room.message", None, json!({ "d": arrays(MAX_NESTING - 1) }));
    Pdu::parse(&json, RoomVersion::V11).unwrap();
}

#[test]
fn a_deep_stored_message_reads_back_redacted_under_its_id() {
    for version in RoomVersion::ALL {
        let content = json!({ "msgtype": "m.text", "body": "hi", "d": arrays(126) });
        let (json, id) = signed(version, "m.room.message", None, content);
        let pdu = Pdu::from_stored(&json, &id, version).unwrap();
        assert_eq!(pdu.content_value(), Some(&json!({})), "{version:?}");
        assert_eq!(pdu.kind(), "m.room.message");
        assert_id_holds(&pdu, &id, version);
    }
}

#[test]
fn a_deep_stored_member_event_keeps_its_membership() {
    let content = json!({ "membership": "join", "displayname": "A", "x": { "y": arrays(126) } });
    let (json, id) = signed(RoomVersion::V11, "m.room.member", Some("@alice:example.org"), content);
    let pdu = Pdu::from_stored(&json, &id, RoomVersion::V11).unwrap();
    assert_eq!(pdu.content_value(), Some(&json!({ "membership": "join" })));
    assert_eq!(pdu.state_key(), Some("@alice:example.org"));
    assert_id_holds(&pdu, &id, RoomVersion::V11);
}

#[test]
fn nesting_far_beyond_any_parser_limit_is_recovered_without_recursion() {
    let (json, id) = signed(RoomVersion::V11, "m.room.message", None, json!({ "body": "x", "d": [] }));
    let levels = 100_000;
    let deep = json.replace("\"d\":[]", &format!("\"d\":{}{}", "[".repeat(levels), "]".repeat(levels)));
    assert!(text_depth(deep.as_bytes()) > levels);
    let pdu = Pdu::from_stored(&deep, &id, RoomVersion::V11).unwrap();
    assert_eq!(pdu.content_value(), Some(&json!({})));
    assert_id_holds(&pdu, &id, RoomVersion::V11);
}

#[test]
fn deep_unsigned_data_is_dropped_and_content_kept_whole() {
    let (json, id) =
        signed(RoomVersion::V11, "m.room.power_levels", Some(""), json!({ "ban": 50, "users": {} }));
    let deep = json.replacen(
        '{',
        &format!("{{\"unsigned\":{{\"x\":{}}},", serde_json::to_string(&arrays(126)).unwrap()),
        1,
    );
    let pdu = Pdu::from_stored(&deep, &id, RoomVersion::V11).unwrap();
    assert_eq!(pdu.content_value(), Some(&json!({ "ban": 50, "users": {} })));
    assert_eq!(pdu.unsigned(), None);
    assert_id_holds(&pdu, &id, RoomVersion::V11);
}

#[test]
fn a_deep_value_that_redaction_keeps_is_served_emptied() {
    // From version 11 a create event keeps all its content when redacted: the deep value
    // is emptied, the rest (what auth reads) kept.
    for version in [RoomVersion::V11, RoomVersion::V12] {
        let mut content = json!({ "room_version": version.as_str(), "d": arrays(126) });
        if version == RoomVersion::V11 {
            content["creator"] = json!("@alice:example.org");
        }
        let (json, id) = if version == RoomVersion::V12 {
            // A version 12 create event has no room ID: the room's is its reference hash.
            let mut event = json!({
                "sender": "@alice:example.org", "type": "m.room.create", "state_key": "",
                "content": content, "prev_events": [], "auth_events": [], "depth": 1,
                "origin_server_ts": 1_700_000_000_000_u64,
            });
            hash_and_sign_event(&mut event, version, SERVER, &key()).unwrap();
            let id = EventId::parse(stoa_federation::event_id(&event, version).unwrap()).unwrap();
            (to_canonical_string(&event).unwrap(), id)
        } else {
            signed(version, "m.room.create", Some(""), content)
        };
        let pdu = Pdu::from_stored(&json, &id, version).expect("served emptied");
        assert_eq!(pdu.event_id(), id);
        let content: Value = serde_json::from_str(pdu.content().get()).unwrap();
        assert_eq!(content["d"], json!({}), "{version:?}");
        assert_eq!(content["room_version"], json!(version.as_str()));
        assert!(text_depth(pdu.json().as_bytes()) <= MAX_NESTING + 1);
        if version == RoomVersion::V12 {
            assert_eq!(pdu.room_id().as_str(), format!("!{}", &id.as_str()[1..]), "room ID still the hash");
        }
    }
    // So does a member event's `third_party_invite.signed`: the membership stays.
    let content = json!({ "membership": "join", "third_party_invite": { "signed": arrays(126) } });
    let (json, id) = signed(RoomVersion::V11, "m.room.member", Some("@bob:example.org"), content);
    let pdu = Pdu::from_stored(&json, &id, RoomVersion::V11).expect("served emptied");
    let content: Value = serde_json::from_str(pdu.content().get()).unwrap();
    assert_eq!(content["membership"], json!("join"));
    assert!(text_depth(pdu.json().as_bytes()) <= MAX_NESTING + 1);
}

#[test]
fn corrupt_stored_text_is_an_error_not_a_panic() {
    let id = EventId::parse("$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
    for text in
        ["", "{", "[[[[", "{\"content\":", &"[".repeat(1000), "{\"type\":\"m.room.message\",\"content\":[]}"]
    {
        assert!(Pdu::from_stored(text, &id, RoomVersion::V11).is_err(), "{text}");
    }
}
