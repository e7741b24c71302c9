//! Tests for event authorization on small rooms of every supported version.

use serde_json::json;

use super::*;
use crate::state_resolution::StateMap;
use crate::test_room::{Spec, TestRoom, key, user};

use ruma::OwnedEventId;

/// A public room with alice (creator) and bob joined, bob at power level 0.
fn public_room(version: RoomVersion) -> (TestRoom, StateMap<OwnedEventId>) {
    TestRoom::public(version, 0)
}

fn spec<'a>(id: &'a str, sender: &'a str, kind: &'a str, state_key: Option<&'a str>) -> Spec<'a> {
    Spec { id, sender, kind, state_key, content: json!({}), prev: &[] }
}

#[test]
fn members_may_talk_and_the_creator_may_change_power() {
    for version in RoomVersion::ALL {
        let (mut room, mut state) = public_room(version);
        let message = Spec { content: json!({"body": "hi"}), ..spec("hi", "bob", "m.room.message", None) };
        room.add(&message, &mut state);
        let bob = user("bob").to_string();
        let promote = Spec {
            content: json!({"users": {bob: 50}}),
            ..spec("promote", "alice", "m.room.power_levels", Some(""))
        };
        room.add(&promote, &mut state);
    }
}

#[test]
fn non_member_message_is_refused() {
    for version in RoomVersion::ALL {
        let (mut room, state) = public_room(version);
        let message =
            Spec { content: json!({"body": "hi"}), ..spec("hi", "mallory", "m.room.message", None) };
        let event = room.make(&message, &state);
        assert!(matches!(room.authorize(&event, &state), Err(AuthError::StateDependent(_))), "v{version}");
    }
}

#[test]
fn member_without_power_cannot_change_power_levels() {
    for version in RoomVersion::ALL {
        let (mut room, state) = public_room(version);
        let bob = user("bob").to_string();
        let grab = Spec {
            content: json!({"users": {bob: 100}}),
            ..spec("grab", "bob", "m.room.power_levels", Some(""))
        };
        let event = room.make(&grab, &state);
        assert!(matches!(room.authorize(&event, &state), Err(AuthError::StateDependent(_))), "v{version}");
    }
}

#[test]
fn v12_creator_cannot_be_listed_in_power_levels() {
    let (mut room, state) = public_room(RoomVersion::V12);
    let alice = user("alice").to_string();
    let listed = Spec {
        content: json!({"users": {alice: 100}}),
        ..spec("listed", "alice", "m.room.power_levels", Some(""))
    };
    let event = room.make(&listed, &state);
    assert!(room.authorize(&event, &state).is_err());
}

#[test]
fn unexpected_auth_events_are_refused() {
    for version in RoomVersion::ALL {
        let (mut room, state) = public_room(version);
        let message = Spec { content: json!({"body": "hi"}), ..spec("hi", "bob", "m.room.message", None) };
        let mut event = room.make(&message, &state);
        // Join rules do not authorize messages, so citing them breaks the selection rules.
        event.auth_events.push(state[&key("m.room.join_rules", "")].clone());
        assert!(matches!(room.authorize(&event, &state), Err(AuthError::StateIndependent(_))), "v{version}");
    }
}

#[test]
fn auth_events_from_another_room_are_refused() {
    let (mut room, state) = public_room(RoomVersion::V11);
    let message = Spec { content: json!({"body": "hi"}), ..spec("hi", "bob", "m.room.message", None) };
    let event = room.make(&message, &state);
    let power_id = state[&key("m.room.power_levels", "")].clone();
    room.events.get_mut(&power_id).unwrap().room_id =
        Some(ruma::RoomId::parse("!other:example.org").unwrap());
    assert!(matches!(room.authorize(&event, &state), Err(AuthError::StateIndependent(_))));
}

#[test]
fn v12_create_event_must_not_have_a_room_id() {
    let mut state = StateMap::new();
    let room = TestRoom::new(RoomVersion::V12, &mut state);
    let mut create = room.events[&room.create_id].clone();
    assert!(check_auth_events(RoomVersion::V12, &create, room.fetch()).is_ok());
    create.room_id = Some(room.room_id.clone());
    assert!(check_auth_events(RoomVersion::V12, &create, room.fetch()).is_err());
}

#[test]
fn v10_create_event_needs_a_creator() {
    let mut state = StateMap::new();
    let room = TestRoom::new(RoomVersion::V10, &mut state);
    let mut create = room.events[&room.create_id].clone();
    assert!(check_auth_events(RoomVersion::V10, &create, room.fetch()).is_ok());
    create.content = serde_json::value::to_raw_value(&json!({"room_version": "10"})).unwrap();
    assert!(check_auth_events(RoomVersion::V10, &create, room.fetch()).is_err());
    // From version 11 the creator is the sender.
    assert!(check_auth_events(RoomVersion::V11, &create, room.fetch()).is_ok());
}

#[test]
fn selection_cites_the_create_event_only_before_v12() {
    let alice = user("alice");
    let content = serde_json::value::to_raw_value(&json!({"membership": "join"})).unwrap();
    for version in RoomVersion::ALL {
        let types =
            auth_types_for_event(version, "m.room.member", &alice, Some(alice.as_str()), &content).unwrap();
        let has_create = types.contains(&key("m.room.create", ""));
        assert_eq!(has_create, version.rules().create_in_auth_events, "v{version}");
        assert!(types.contains(&key("m.room.power_levels", "")));
        assert!(types.contains(&key("m.room.member", alice.as_str())));
        assert!(types.contains(&key("m.room.join_rules", "")));
    }
    let create = serde_json::value::to_raw_value(&json!({"room_version": "12"})).unwrap();
    assert!(
        auth_types_for_event(RoomVersion::V12, "m.room.create", &alice, Some(""), &create)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn selection_follows_restricted_joins_and_third_party_invites() {
    let alice = user("alice");
    let bob = user("bob");
    let content = serde_json::value::to_raw_value(&json!({
        "membership": "join",
        "join_authorised_via_users_server": bob.as_str(),
    }))
    .unwrap();
    let types =
        auth_types_for_event(RoomVersion::V12, "m.room.member", &alice, Some(alice.as_str()), &content)
            .unwrap();
    assert!(types.contains(&key("m.room.member", bob.as_str())));
    let invite = serde_json::value::to_raw_value(&json!({
        "membership": "invite",
        "third_party_invite": {"display_name": "b", "signed": {"mxid": bob.as_str(), "token": "tok", "signatures": {}}},
    }))
    .unwrap();
    let types =
        auth_types_for_event(RoomVersion::V11, "m.room.member", &alice, Some(bob.as_str()), &invite).unwrap();
    assert!(types.contains(&key("m.room.third_party_invite", "tok")));
}

#[test]
fn selection_refuses_member_events_without_membership() {
    let alice = user("alice");
    let content = serde_json::value::to_raw_value(&json!({})).unwrap();
    assert!(matches!(
        auth_types_for_event(RoomVersion::V11, "m.room.member", &alice, Some(alice.as_str()), &content),
        Err(AuthError::Selection(_))
    ));
}

#[test]
fn ruma_rules_agree_with_our_version_table() {
    for version in RoomVersion::ALL {
        let ours = version.rules();
        let theirs = authorization_rules(version);
        assert_eq!(ours.create_in_auth_events, !theirs.room_create_event_id_as_room_id);
        assert_eq!(ours.create_requires_creator, !theirs.use_room_create_sender);
        assert_eq!(ours.additional_creators, theirs.additional_room_creators);
        assert_eq!(ours.creators_have_infinite_power, theirs.explicitly_privilege_room_creators);
        assert_eq!(ours.knock_restricted_join_rule, theirs.knock_restricted_join_rule);
        assert_eq!(ours.integer_power_levels, theirs.integer_power_levels);
        assert!(theirs.strict_canonical_json);
    }
}
