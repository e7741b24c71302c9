//! Tests for the redaction algorithm of each supported room version, event type by event type.

use serde_json::{Value, json};

use super::*;

/// A state event of `event_type` carrying every top-level key any version might keep or drop.
fn event(event_type: &str, content: Value) -> Value {
    json!({
        "auth_events": ["$auth"],
        "content": content,
        "depth": 12,
        "event_id": "$event",
        "hashes": {"sha256": "hash"},
        "membership": "join",
        "origin": "example.org",
        "origin_server_ts": 1_000_000,
        "prev_events": ["$prev"],
        "prev_state": [],
        "room_id": "!room:example.org",
        "sender": "@alice:example.org",
        "signatures": {"example.org": {"ed25519:1": "sig"}},
        "state_key": "",
        "type": event_type,
        "unsigned": {"age_ts": 1_000_000, "redacted_because": {}},
        "extra": "dropped",
        "age_ts": 5,
    })
}

/// The content left after redacting `content` of `event_type` under `version`.
fn redacted_content(event_type: &str, content: Value, version: RoomVersion) -> Value {
    redact(&event(event_type, content), version).unwrap()["content"].clone()
}

#[test]
fn top_level_keys_v10() {
    let redacted = redact(&event("m.room.message", json!({"body": "hi"})), RoomVersion::V10).unwrap();
    assert_eq!(
        redacted,
        json!({
            "auth_events": ["$auth"],
            "content": {},
            "depth": 12,
            "event_id": "$event",
            "hashes": {"sha256": "hash"},
            "membership": "join",
            "origin": "example.org",
            "origin_server_ts": 1_000_000,
            "prev_events": ["$prev"],
            "prev_state": [],
            "room_id": "!room:example.org",
            "sender": "@alice:example.org",
            "signatures": {"example.org": {"ed25519:1": "sig"}},
            "state_key": "",
            "type": "m.room.message",
        })
    );
}

#[test]
fn top_level_keys_v11_and_v12_drop_origin_membership_prev_state() {
    for version in [RoomVersion::V11, RoomVersion::V12] {
        let redacted = redact(&event("m.room.message", json!({"body": "hi"})), version).unwrap();
        assert_eq!(
            redacted,
            json!({
                "auth_events": ["$auth"],
                "content": {},
                "depth": 12,
                "event_id": "$event",
                "hashes": {"sha256": "hash"},
                "origin_server_ts": 1_000_000,
                "prev_events": ["$prev"],
                "room_id": "!room:example.org",
                "sender": "@alice:example.org",
                "signatures": {"example.org": {"ed25519:1": "sig"}},
                "state_key": "",
                "type": "m.room.message",
            })
        );
    }
}

#[test]
fn absent_optional_keys_stay_absent() {
    // A v12 create event has no `room_id`, and message events no `state_key`.
    let create = json!({"type": "m.room.create", "content": {"room_version": "12"}, "sender": "@a:b"});
    assert_eq!(redact(&create, RoomVersion::V12).unwrap(), create);
}

#[test]
fn member_keeps_membership_and_authorising_user() {
    let content = json!({
        "membership": "join",
        "join_authorised_via_users_server": "@bob:example.org",
        "displayname": "Alice",
        "avatar_url": "mxc://example.org/a",
        "reason": "because",
    });
    for version in RoomVersion::ALL {
        assert_eq!(
            redacted_content("m.room.member", content.clone(), version),
            json!({"membership": "join", "join_authorised_via_users_server": "@bob:example.org"})
        );
    }
}

#[test]
fn member_third_party_invite_v10_drops_it_entirely() {
    let content = json!({
        "membership": "invite",
        "third_party_invite": {"display_name": "alice", "signed": {"mxid": "@a:b", "token": "t"}},
    });
    assert_eq!(redacted_content("m.room.member", content, RoomVersion::V10), json!({"membership": "invite"}));
}

#[test]
fn member_third_party_invite_v11_keeps_only_signed() {
    let content = json!({
        "membership": "invite",
        "third_party_invite": {
            "display_name": "alice",
            "signed": {"mxid": "@a:b", "token": "t", "signatures": {"id.example": {"ed25519:0": "s"}}},
        },
    });
    for version in [RoomVersion::V11, RoomVersion::V12] {
        assert_eq!(
            redacted_content("m.room.member", content.clone(), version),
            json!({
                "membership": "invite",
                "third_party_invite": {
                    "signed": {"mxid": "@a:b", "token": "t", "signatures": {"id.example": {"ed25519:0": "s"}}},
                },
            })
        );
    }
}

#[test]
fn member_third_party_invite_v11_edge_cases() {
    // An invite object without `signed` survives as an empty object; a non-object does not.
    let without_signed = json!({"membership": "invite", "third_party_invite": {"display_name": "x"}});
    assert_eq!(
        redacted_content("m.room.member", without_signed, RoomVersion::V11),
        json!({"membership": "invite", "third_party_invite": {}})
    );
    let not_object = json!({"membership": "invite", "third_party_invite": "x"});
    assert_eq!(
        redacted_content("m.room.member", not_object, RoomVersion::V11),
        json!({"membership": "invite"})
    );
}

#[test]
fn create_v10_keeps_only_creator() {
    let content = json!({"creator": "@alice:example.org", "room_version": "10", "m.federate": false});
    assert_eq!(
        redacted_content("m.room.create", content, RoomVersion::V10),
        json!({"creator": "@alice:example.org"})
    );
}

#[test]
fn create_v11_and_v12_keep_whole_content() {
    let content = json!({
        "room_version": "12",
        "m.federate": false,
        "predecessor": {"room_id": "!old:example.org"},
        "additional_creators": ["@bob:example.org"],
        "type": "m.space",
        "anything": {"nested": [1, 2]},
    });
    for version in [RoomVersion::V11, RoomVersion::V12] {
        assert_eq!(redacted_content("m.room.create", content.clone(), version), content);
    }
}

#[test]
fn join_rules_keep_join_rule_and_allow() {
    let content = json!({
        "join_rule": "restricted",
        "allow": [{"type": "m.room_membership", "room_id": "!space:example.org"}],
        "other": true,
    });
    for version in RoomVersion::ALL {
        assert_eq!(
            redacted_content("m.room.join_rules", content.clone(), version),
            json!({
                "join_rule": "restricted",
                "allow": [{"type": "m.room_membership", "room_id": "!space:example.org"}],
            })
        );
    }
}

/// Power levels content with every key the algorithm mentions plus some it does not.
fn power_levels_content() -> Value {
    json!({
        "ban": 50,
        "events": {"m.room.name": 50},
        "events_default": 0,
        "invite": 0,
        "kick": 50,
        "redact": 50,
        "state_default": 50,
        "users": {"@alice:example.org": 100},
        "users_default": 0,
        "notifications": {"room": 50},
        "historical": 100,
    })
}

#[test]
fn power_levels_v10_drop_invite_and_notifications() {
    assert_eq!(
        redacted_content("m.room.power_levels", power_levels_content(), RoomVersion::V10),
        json!({
            "ban": 50,
            "events": {"m.room.name": 50},
            "events_default": 0,
            "kick": 50,
            "redact": 50,
            "state_default": 50,
            "users": {"@alice:example.org": 100},
            "users_default": 0,
        })
    );
}

#[test]
fn power_levels_v11_and_v12_keep_invite() {
    for version in [RoomVersion::V11, RoomVersion::V12] {
        assert_eq!(
            redacted_content("m.room.power_levels", power_levels_content(), version),
            json!({
                "ban": 50,
                "events": {"m.room.name": 50},
                "events_default": 0,
                "invite": 0,
                "kick": 50,
                "redact": 50,
                "state_default": 50,
                "users": {"@alice:example.org": 100},
                "users_default": 0,
            })
        );
    }
}

#[test]
fn history_visibility_keeps_its_key() {
    for version in RoomVersion::ALL {
        assert_eq!(
            redacted_content(
                "m.room.history_visibility",
                json!({"history_visibility": "shared", "x": 1}),
                version
            ),
            json!({"history_visibility": "shared"})
        );
    }
}

#[test]
fn redaction_redacts_kept_in_content_from_v11() {
    let content = json!({"redacts": "$target", "reason": "spam"});
    assert_eq!(redacted_content("m.room.redaction", content.clone(), RoomVersion::V10), json!({}));
    for version in [RoomVersion::V11, RoomVersion::V12] {
        assert_eq!(
            redacted_content("m.room.redaction", content.clone(), version),
            json!({"redacts": "$target"})
        );
    }
}

#[test]
fn v10_redaction_event_keeps_no_top_level_redacts() {
    // `redacts` is not a protected top-level key in any supported version.
    let mut redaction = event("m.room.redaction", json!({"reason": "spam"}));
    redaction["redacts"] = json!("$target");
    for version in RoomVersion::ALL {
        assert!(redact(&redaction, version).unwrap().get("redacts").is_none());
    }
}

#[test]
fn other_event_types_lose_all_content() {
    for (event_type, content) in [
        ("m.room.message", json!({"body": "hi", "msgtype": "m.text"})),
        ("m.room.name", json!({"name": "Room"})),
        ("m.room.topic", json!({"topic": "t"})),
        ("m.room.aliases", json!({"aliases": ["#a:b"]})),
        ("m.room.third_party_invite", json!({"public_key": "k", "display_name": "d"})),
        ("m.room.encrypted", json!({"ciphertext": "c"})),
    ] {
        for version in RoomVersion::ALL {
            assert_eq!(redacted_content(event_type, content.clone(), version), json!({}), "{event_type}");
        }
    }
}

#[test]
fn redaction_is_idempotent() {
    for version in RoomVersion::ALL {
        for (event_type, content) in [
            ("m.room.power_levels", power_levels_content()),
            ("m.room.member", json!({"membership": "invite", "third_party_invite": {"signed": {}}})),
            ("m.room.message", json!({"body": "hi"})),
        ] {
            let once = redact(&event(event_type, content), version).unwrap();
            assert_eq!(redact(&once, version).unwrap(), once);
        }
    }
}

#[test]
fn malformed_events_are_refused() {
    let version = RoomVersion::V11;
    assert_eq!(redact(&json!([]), version), Err(RedactionError::NotAnObject));
    assert_eq!(redact(&json!({"content": {}}), version), Err(RedactionError::MissingType));
    assert_eq!(redact(&json!({"type": 1, "content": {}}), version), Err(RedactionError::TypeNotAString));
    assert_eq!(redact(&json!({"type": "m.x"}), version), Err(RedactionError::MissingContent));
    assert_eq!(
        redact(&json!({"type": "m.x", "content": "x"}), version),
        Err(RedactionError::ContentNotAnObject)
    );
}
