//! Tests for event hashing and signing: the spec's appendix vectors, full v12 and v10 round trips,
//! tampering, redaction and the PDU size limit.

use serde_json::{Value, json};

use super::*;
use crate::canonical_json::MAX_PDU_BYTES;
use crate::event_id::{event_id, room_id_for_create_event};
use crate::redaction::redact;
use crate::unpadded_base64;

/// The signing key from the spec's appendix, whose signatures the appendix publishes.
fn spec_key() -> ServerSigningKey {
    let seed: [u8; 32] =
        unpadded_base64::decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1").unwrap().try_into().unwrap();
    ServerSigningKey::from_seed("1", seed).unwrap()
}

#[test]
fn spec_vector_minimal_event() {
    let mut event = json!({
        "room_id": "!x:domain",
        "sender": "@a:domain",
        "origin": "domain",
        "origin_server_ts": 1000000,
        "signatures": {},
        "hashes": {},
        "type": "X",
        "content": {},
        "prev_events": [],
        "auth_events": [],
        "depth": 3,
        "unsigned": {"age_ts": 1000000}
    });
    hash_and_sign_event(&mut event, RoomVersion::V10, "domain", &spec_key()).unwrap();
    assert_eq!(event["hashes"], json!({"sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"}));
    assert_eq!(
        event["signatures"],
        json!({"domain": {"ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"}})
    );
    assert_eq!(event["unsigned"], json!({"age_ts": 1000000}));
}

#[test]
fn spec_vector_redactable_event() {
    // The appendix signs with the pre-v11 algorithm, which keeps `origin`; room version 10 uses it.
    let mut event = json!({
        "content": {"body": "Here is the message content"},
        "event_id": "$0:domain",
        "origin": "domain",
        "origin_server_ts": 1000000,
        "type": "m.room.message",
        "room_id": "!r:domain",
        "sender": "@u:domain",
        "signatures": {},
        "unsigned": {"age_ts": 1000000}
    });
    hash_and_sign_event(&mut event, RoomVersion::V10, "domain", &spec_key()).unwrap();
    assert_eq!(
        event,
        json!({
            "content": {"body": "Here is the message content"},
            "event_id": "$0:domain",
            "hashes": {"sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"},
            "origin": "domain",
            "origin_server_ts": 1000000,
            "type": "m.room.message",
            "room_id": "!r:domain",
            "sender": "@u:domain",
            "signatures": {
                "domain": {
                    "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"
                }
            },
            "unsigned": {"age_ts": 1000000}
        })
    );
}

#[test]
fn v12_round_trip_create_then_join() {
    let key = ServerSigningKey::generate().unwrap();
    let public = key.public_key();
    let version = RoomVersion::V12;
    let mut create = json!({
        "type": "m.room.create",
        "state_key": "",
        "sender": "@alice:example.org",
        "content": {"room_version": "12", "additional_creators": ["@bob:example.org"]},
        "origin_server_ts": 1_700_000_000_000_i64,
        "depth": 1,
        "auth_events": [],
        "prev_events": [],
    });
    hash_and_sign_event(&mut create, version, "example.org", &key).unwrap();
    assert_eq!(check_content_hash(&create), Ok(()));
    assert_eq!(verify_event_signature(&create, version, "example.org", key.key_id(), &public), Ok(()));

    let room_id = room_id_for_create_event(&create, version).unwrap();
    let create_id = event_id(&create, version).unwrap();
    assert_eq!(room_id.get(1..), create_id.get(1..));

    // The first join cites the create event only through `prev_events`; its room ID names it.
    let mut join = json!({
        "type": "m.room.member",
        "state_key": "@alice:example.org",
        "sender": "@alice:example.org",
        "room_id": room_id,
        "content": {"membership": "join", "displayname": "Alice"},
        "origin_server_ts": 1_700_000_000_001_i64,
        "depth": 2,
        "auth_events": [],
        "prev_events": [create_id],
    });
    hash_and_sign_event(&mut join, version, "example.org", &key).unwrap();
    assert_eq!(verify_event_signature(&join, version, "example.org", key.key_id(), &public), Ok(()));
    assert_eq!(check_content_hash(&join), Ok(()));

    // Its redacted copy keeps the event ID and still verifies.
    let join_id = event_id(&join, version).unwrap();
    let redacted = redact(&join, version).unwrap();
    assert_eq!(redacted["content"], json!({"membership": "join"}));
    assert_eq!(event_id(&redacted, version).unwrap(), join_id);
    assert_eq!(verify_event_signature(&redacted, version, "example.org", key.key_id(), &public), Ok(()));
}

/// A signed room version 10 message event.
fn signed_v10_message(key: &ServerSigningKey) -> Value {
    let mut event = json!({
        "type": "m.room.message",
        "room_id": "!room:example.org",
        "sender": "@alice:example.org",
        "origin": "example.org",
        "content": {"body": "original", "msgtype": "m.text"},
        "origin_server_ts": 5,
        "depth": 7,
        "auth_events": ["$create", "$power", "$member"],
        "prev_events": ["$prev"],
        "unsigned": {"age": 3},
    });
    hash_and_sign_event(&mut event, RoomVersion::V10, "example.org", key).unwrap();
    event
}

#[test]
fn v10_tampered_content_fails_hash_but_signature_holds() {
    let key = ServerSigningKey::generate().unwrap();
    let version = RoomVersion::V10;
    let original = signed_v10_message(&key);
    let original_id = event_id(&original, version).unwrap();

    let mut tampered = original.clone();
    tampered["content"]["body"] = json!("altered in transit");
    assert_eq!(check_content_hash(&tampered), Err(ContentHashError::HashMismatch));
    assert_eq!(
        verify_event_signature(&tampered, version, "example.org", key.key_id(), &key.public_key()),
        Ok(())
    );
    assert_eq!(event_id(&tampered, version).unwrap(), original_id);

    // The receiver then continues with the redacted copy, which verifies and keeps the ID.
    let redacted = redact(&tampered, version).unwrap();
    assert_eq!(redacted, redact(&original, version).unwrap());
    assert_eq!(
        verify_event_signature(&redacted, version, "example.org", key.key_id(), &key.public_key()),
        Ok(())
    );
    assert_eq!(event_id(&redacted, version).unwrap(), original_id);
}

#[test]
fn tampering_with_essential_fields_breaks_the_signature() {
    let key = ServerSigningKey::generate().unwrap();
    let public = key.public_key();
    for (field, value) in [
        ("sender", json!("@mallory:example.org")),
        ("depth", json!(8)),
        ("prev_events", json!(["$other"])),
        ("hashes", json!({"sha256": "forged"})),
        ("origin", json!("evil.example")),
    ] {
        let mut event = signed_v10_message(&key);
        event[field] = value;
        assert!(
            matches!(
                verify_event_signature(&event, RoomVersion::V10, "example.org", key.key_id(), &public),
                Err(EventVerifyError::SignatureInvalid(VerifyError::BadSignature { .. }))
            ),
            "{field}"
        );
    }
}

#[test]
fn v11_signatures_do_not_cover_origin() {
    let key = ServerSigningKey::generate().unwrap();
    let mut event = json!({
        "type": "m.room.message",
        "room_id": "!room:example.org",
        "sender": "@alice:example.org",
        "origin": "example.org",
        "content": {"body": "hi"},
        "origin_server_ts": 5,
        "depth": 7,
        "auth_events": [],
        "prev_events": [],
    });
    hash_and_sign_event(&mut event, RoomVersion::V11, "example.org", &key).unwrap();
    // `origin` is still hashed as content, but the v11 signature no longer covers it.
    event["origin"] = json!("elsewhere.example");
    assert_eq!(
        verify_event_signature(&event, RoomVersion::V11, "example.org", key.key_id(), &key.public_key()),
        Ok(())
    );
    assert_eq!(check_content_hash(&event), Err(ContentHashError::HashMismatch));
}

#[test]
fn signing_keeps_existing_signatures() {
    let first = ServerSigningKey::generate().unwrap();
    let second = ServerSigningKey::from_seed("other", [7; 32]).unwrap();
    let mut event = signed_v10_message(&first);
    hash_and_sign_event(&mut event, RoomVersion::V10, "second.example", &second).unwrap();
    let version = RoomVersion::V10;
    assert_eq!(
        verify_event_signature(&event, version, "example.org", first.key_id(), &first.public_key()),
        Ok(())
    );
    assert_eq!(
        verify_event_signature(&event, version, "second.example", second.key_id(), &second.public_key()),
        Ok(())
    );
}

#[test]
fn verification_reports_missing_and_wrong_keys() {
    let key = ServerSigningKey::generate().unwrap();
    let other = ServerSigningKey::generate().unwrap();
    let event = signed_v10_message(&key);
    let version = RoomVersion::V10;
    assert!(matches!(
        verify_event_signature(&event, version, "other.example", key.key_id(), &key.public_key()),
        Err(EventVerifyError::SignatureInvalid(VerifyError::MissingSignature { .. }))
    ));
    assert!(matches!(
        verify_event_signature(&event, version, "example.org", key.key_id(), &other.public_key()),
        Err(EventVerifyError::SignatureInvalid(VerifyError::BadSignature { .. }))
    ));
    assert_eq!(
        verify_event_signature(
            &json!({"type": "m.x"}),
            version,
            "example.org",
            key.key_id(),
            &key.public_key()
        ),
        Err(EventVerifyError::Unredactable(RedactionError::MissingContent))
    );
}

#[test]
fn oversized_events_are_refused_and_left_untouched() {
    let key = ServerSigningKey::generate().unwrap();
    let mut event = json!({
        "type": "m.room.message",
        "room_id": "!room:example.org",
        "sender": "@alice:example.org",
        "content": {"body": "x".repeat(MAX_PDU_BYTES)},
        "origin_server_ts": 5,
        "depth": 7,
        "auth_events": [],
        "prev_events": [],
    });
    let before = event.clone();
    assert!(matches!(
        hash_and_sign_event(&mut event, RoomVersion::V11, "example.org", &key),
        Err(EventSigningError::ExceedsPduLimits(PduSizeError::EventTooLarge { .. }))
    ));
    assert_eq!(event, before);
}

#[test]
fn unsignable_events_are_refused() {
    let key = ServerSigningKey::generate().unwrap();
    let mut no_content = json!({"type": "m.room.message"});
    assert_eq!(
        hash_and_sign_event(&mut no_content, RoomVersion::V12, "example.org", &key),
        Err(EventSigningError::Unredactable(RedactionError::MissingContent))
    );
    let mut float = json!({"type": "m.room.message", "content": {"n": 1.5}});
    assert!(matches!(
        hash_and_sign_event(&mut float, RoomVersion::V12, "example.org", &key),
        Err(EventSigningError::Unsignable(SigningError::NotCanonical(_)))
    ));
    let mut bad_signatures = json!({"type": "m.room.message", "content": {}, "signatures": []});
    assert_eq!(
        hash_and_sign_event(&mut bad_signatures, RoomVersion::V12, "example.org", &key),
        Err(EventSigningError::Unsignable(SigningError::SignaturesMalformed))
    );
}

#[test]
fn content_hash_must_be_present() {
    let event = json!({"type": "m.room.message", "content": {}});
    assert_eq!(check_content_hash(&event), Err(ContentHashError::MissingHash));
}
