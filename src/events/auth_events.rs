//! Choosing a new event's `auth_events` from the room's current state, per the spec's "auth
//! events selection".
//!
//! The `(type, state_key)` pairs come from the same selection the auth rules enforce
//! ([`stoa_federation::auth_types_for_event`]), so an event built with these auth events can
//! never fail the rule against unexpected auth events. In room version 12 the create event is
//! not among them: the room ID names it.

use ruma::{OwnedEventId, UserId};
use serde_json::Value;
use stoa_federation::{AuthError, RoomVersion, auth_types_for_event};

/// Why auth events could not be selected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthEventsError {
    /// The content is too malformed to tell which state authorizes it (e.g. a member event
    /// without `membership`).
    #[error("cannot select auth events: {0}")]
    Selection(#[from] AuthError),
    /// The content could not be turned into JSON text.
    #[error("event content is not serializable: {0}")]
    Content(String),
}

/// The `auth_events` for a new event: for each selected `(type, state_key)`, the event
/// `current_state` holds for it, if any (power levels and the create event first).
pub fn select_auth_events(
    version: RoomVersion,
    event_type: &str,
    state_key: Option<&str>,
    sender: &UserId,
    content: &Value,
    current_state: impl Fn(&str, &str) -> Option<OwnedEventId>,
) -> Result<Vec<OwnedEventId>, AuthEventsError> {
    let content = serde_json::value::to_raw_value(content)
        .map_err(|error| AuthEventsError::Content(error.to_string()))?;
    let mut selected: Vec<OwnedEventId> = Vec::new();
    for (kind, key) in auth_types_for_event(version, event_type, sender, state_key, &content)? {
        if let Some(event_id) = current_state(&kind.to_string(), &key)
            && !selected.contains(&event_id)
        {
            selected.push(event_id);
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ruma::{EventId, UserId};
    use serde_json::json;

    use super::*;

    fn id(name: &str) -> OwnedEventId {
        EventId::parse(format!("${name}")).unwrap()
    }

    fn state() -> HashMap<(String, String), OwnedEventId> {
        [
            (("m.room.create", ""), "create"),
            (("m.room.power_levels", ""), "power"),
            (("m.room.join_rules", ""), "rules"),
            (("m.room.member", "@alice:example.org"), "alice"),
            (("m.room.member", "@bob:example.org"), "bob"),
            (("m.room.third_party_invite", "tok"), "3pid"),
        ]
        .into_iter()
        .map(|((kind, key), name)| ((kind.to_owned(), key.to_owned()), id(name)))
        .collect()
    }

    fn select(
        version: RoomVersion,
        kind: &str,
        state_key: Option<&str>,
        sender: &str,
        content: Value,
    ) -> Vec<String> {
        let state = state();
        let sender = UserId::parse(sender).unwrap();
        let lookup = |kind: &str, key: &str| state.get(&(kind.to_owned(), key.to_owned())).cloned();
        let mut names: Vec<String> = select_auth_events(version, kind, state_key, &sender, &content, lookup)
            .unwrap()
            .into_iter()
            .map(|id| id.as_str().trim_start_matches('$').to_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn message_cites_power_sender_and_create_before_v12() {
        let message =
            |version| select(version, "m.room.message", None, "@alice:example.org", json!({"body": "x"}));
        assert_eq!(message(RoomVersion::V10), ["alice", "create", "power"]);
        assert_eq!(message(RoomVersion::V11), ["alice", "create", "power"]);
        assert_eq!(message(RoomVersion::V12), ["alice", "power"]);
    }

    #[test]
    fn joins_cite_join_rules_and_the_authorising_user() {
        let join = json!({"membership": "join", "join_authorised_via_users_server": "@bob:example.org"});
        let names =
            select(RoomVersion::V12, "m.room.member", Some("@carol:example.org"), "@carol:example.org", join);
        assert_eq!(names, ["bob", "power", "rules"]);
    }

    #[test]
    fn invites_cite_target_join_rules_and_third_party_invite() {
        let invite = json!({"membership": "invite", "third_party_invite": {"signed": {"token": "tok"}}});
        let names =
            select(RoomVersion::V11, "m.room.member", Some("@bob:example.org"), "@alice:example.org", invite);
        assert_eq!(names, ["3pid", "alice", "bob", "create", "power", "rules"]);
    }

    #[test]
    fn leaves_do_not_cite_join_rules() {
        let leave = json!({"membership": "leave"});
        let names =
            select(RoomVersion::V12, "m.room.member", Some("@bob:example.org"), "@alice:example.org", leave);
        assert_eq!(names, ["alice", "bob", "power"]);
    }

    #[test]
    fn absent_state_is_skipped_and_create_has_none() {
        let sender = UserId::parse("@alice:example.org").unwrap();
        let none = |_: &str, _: &str| None;
        let content = json!({"membership": "join"});
        let selected = select_auth_events(
            RoomVersion::V12,
            "m.room.member",
            Some("@alice:example.org"),
            &sender,
            &content,
            none,
        );
        assert_eq!(selected, Ok(vec![]));
        let create = json!({"room_version": "11"});
        let all = |_: &str, _: &str| Some(id("x"));
        assert_eq!(
            select_auth_events(RoomVersion::V11, "m.room.create", Some(""), &sender, &create, all),
            Ok(vec![])
        );
    }

    #[test]
    fn member_event_without_membership_is_refused() {
        let sender = UserId::parse("@alice:example.org").unwrap();
        let result = select_auth_events(
            RoomVersion::V12,
            "m.room.member",
            Some("@alice:example.org"),
            &sender,
            &json!({}),
            |_, _| None,
        );
        assert!(matches!(result, Err(AuthEventsError::Selection(_))));
    }
}
