//! Event authorization: the spec's authorisation rules for each supported room version, run by
//! ruma-state-res, and the auth events selection that says which state an event must cite.
//!
//! The rules are split the way the spec's "checks performed on receipt of a PDU" need them: the
//! state-independent part (create events, and the shape of an event's `auth_events`) runs once;
//! the state-dependent part runs against the auth events, the state before the event and the
//! current state. Both take the event through ruma's [`Event`] trait so the server's own PDU type
//! is checked directly, without conversion.

use ruma::events::{StateEventType, TimelineEventType};
use ruma::room_version_rules::AuthorizationRules;
use ruma::state_res::{self, Event};
use ruma::{EventId, UserId};
use serde_json::value::RawValue;

use crate::room_version::RoomVersion;

/// Why an event is not authorized. Either way the event must be rejected (or soft-failed when the
/// check was against the current state); the message says which rule failed, for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The event breaks a rule that needs no room state: a malformed create event, or
    /// `auth_events` that are missing, duplicated, rejected, from another room or not the ones
    /// the auth events selection asks for.
    #[error("event fails the state-independent authorization rules: {0}")]
    StateIndependent(String),
    /// The event is not allowed by the room state it was checked against.
    #[error("event fails the authorization rules against the room state: {0}")]
    StateDependent(String),
    /// The event's content is too malformed to tell which state authorizes it.
    #[error("cannot select auth events: {0}")]
    Selection(String),
}

/// The authorization rules ruma applies for `version`.
pub fn authorization_rules(version: RoomVersion) -> AuthorizationRules {
    match version {
        RoomVersion::V10 => AuthorizationRules::V10,
        RoomVersion::V11 => AuthorizationRules::V11,
        RoomVersion::V12 => AuthorizationRules::V12,
    }
}

/// Runs the rules that depend only on the event and its own `auth_events` (looked up with
/// `fetch_event`; in room version 12 the create event is looked up through the room ID). Call it
/// once when an event is received or built.
pub fn check_auth_events<E: Event>(
    version: RoomVersion,
    event: &E,
    fetch_event: impl Fn(&EventId) -> Option<E>,
) -> Result<(), AuthError> {
    state_res::check_state_independent_auth_rules(&authorization_rules(version), event, fetch_event)
        .map_err(AuthError::StateIndependent)
}

/// Runs the rules that depend on room state, with `fetch_state(type, state_key)` returning the
/// state event for that key in the state being checked against (the auth events, the state before
/// the event, or the current state).
pub fn check_against_state<E: Event>(
    version: RoomVersion,
    event: &E,
    fetch_state: impl Fn(&StateEventType, &str) -> Option<E>,
) -> Result<(), AuthError> {
    state_res::check_state_dependent_auth_rules(&authorization_rules(version), event, fetch_state)
        .map_err(AuthError::StateDependent)
}

/// Authorizes an event completely against one room state: first the state-independent rules
/// (with `fetch_event` resolving its `auth_events` by ID), then the state-dependent rules against
/// `fetch_state`. This is what a server runs on an event it builds itself.
pub fn authorize_event<E: Event>(
    version: RoomVersion,
    event: &E,
    fetch_event: impl Fn(&EventId) -> Option<E>,
    fetch_state: impl Fn(&StateEventType, &str) -> Option<E>,
) -> Result<(), AuthError> {
    check_auth_events(version, event, fetch_event)?;
    check_against_state(version, event, fetch_state)
}

/// The auth events selection: the `(type, state_key)` pairs of the room state that an event's
/// `auth_events` must be drawn from. Empty for a create event; never includes the create event
/// in room version 12, whose room ID names it instead.
pub fn auth_types_for_event(
    version: RoomVersion,
    event_type: &str,
    sender: &UserId,
    state_key: Option<&str>,
    content: &RawValue,
) -> Result<Vec<(StateEventType, String)>, AuthError> {
    let event_type = TimelineEventType::from(event_type);
    state_res::auth_types_for_event(&event_type, sender, state_key, content, &authorization_rules(version))
        .map_err(AuthError::Selection)
}

#[cfg(test)]
#[path = "event_auth_tests.rs"]
mod tests;
