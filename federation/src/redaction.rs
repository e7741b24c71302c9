//! The spec's redaction algorithm: which keys of an event survive redaction, per room version.
//!
//! Redaction is also the first step of computing event IDs and of signing and verifying events,
//! so this must agree exactly with every other server. Per the spec, everything not listed is
//! dropped, `unsigned` included; a server may re-add `unsigned.redacted_because` when serving the
//! redacted event to clients.

use serde_json::{Map, Value};

use crate::room_version::{RedactionRules, RoomVersion};

/// Top-level keys every supported room version keeps.
const KEPT_TOP_LEVEL_KEYS: [&str; 12] = [
    "event_id",
    "type",
    "room_id",
    "sender",
    "state_key",
    "content",
    "hashes",
    "signatures",
    "depth",
    "prev_events",
    "auth_events",
    "origin_server_ts",
];

/// Top-level keys kept only until room version 11 stopped protecting them.
const LEGACY_TOP_LEVEL_KEYS: [&str; 3] = ["origin", "membership", "prev_state"];

/// `m.room.power_levels` content keys kept by the room version 9 algorithm.
const POWER_LEVELS_KEYS_V9: &[&str] =
    &["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"];

/// `m.room.power_levels` content keys kept from room version 11 on (adds `invite`).
const POWER_LEVELS_KEYS_V11: &[&str] = &[
    "ban",
    "events",
    "events_default",
    "invite",
    "kick",
    "redact",
    "state_default",
    "users",
    "users_default",
];

/// Why an event could not be redacted: it is too malformed for the algorithm to apply, and so
/// cannot be a valid PDU either.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactionError {
    /// Events are JSON objects.
    #[error("an event must be a JSON object")]
    NotAnObject,
    /// Without a `type` the content rules cannot be chosen.
    #[error("event has no `type`")]
    MissingType,
    /// `type` must be a string.
    #[error("event `type` is not a string")]
    TypeNotAString,
    /// Every event has a `content` object.
    #[error("event has no `content`")]
    MissingContent,
    /// `content` must be an object.
    #[error("event `content` is not an object")]
    ContentNotAnObject,
}

/// Redacts an event as room `version` prescribes, returning the stripped copy.
///
/// Redacting an already redacted event changes nothing, so a redacted event keeps its event ID
/// and its signatures.
pub fn redact(event: &Value, version: RoomVersion) -> Result<Value, RedactionError> {
    redact_object(event, &version.rules().redaction).map(Value::Object)
}

/// Redacts an event with explicit rules, returning the stripped object; shared by event IDs and
/// event signing, which need the map itself.
pub(crate) fn redact_object(
    event: &Value,
    rules: &RedactionRules,
) -> Result<Map<String, Value>, RedactionError> {
    let Value::Object(object) = event else {
        return Err(RedactionError::NotAnObject);
    };
    let event_type = match object.get("type") {
        Some(Value::String(event_type)) => event_type,
        Some(_) => return Err(RedactionError::TypeNotAString),
        None => return Err(RedactionError::MissingType),
    };
    let content = match object.get("content") {
        Some(Value::Object(content)) => content,
        Some(_) => return Err(RedactionError::ContentNotAnObject),
        None => return Err(RedactionError::MissingContent),
    };
    let mut redacted: Map<String, Value> = object
        .iter()
        .filter(|(key, _)| keeps_top_level_key(key, rules))
        .map(|(key, item)| (key.clone(), item.clone()))
        .collect();
    redacted.insert("content".to_owned(), Value::Object(redact_content(event_type, content, rules)));
    Ok(redacted)
}

/// Whether a top-level key survives redaction.
fn keeps_top_level_key(key: &str, rules: &RedactionRules) -> bool {
    KEPT_TOP_LEVEL_KEYS.contains(&key)
        || (rules.keep_origin_membership_prev_state && LEGACY_TOP_LEVEL_KEYS.contains(&key))
}

/// The part of an event's content that survives redaction, chosen by event type.
fn redact_content(
    event_type: &str,
    content: &Map<String, Value>,
    rules: &RedactionRules,
) -> Map<String, Value> {
    let kept_keys: &[&str] = match event_type {
        "m.room.member" => &["membership", "join_authorised_via_users_server"],
        "m.room.create" if rules.keep_all_create_content => return content.clone(),
        "m.room.create" => &["creator"],
        "m.room.join_rules" => &["join_rule", "allow"],
        "m.room.power_levels" if rules.keep_power_levels_invite => POWER_LEVELS_KEYS_V11,
        "m.room.power_levels" => POWER_LEVELS_KEYS_V9,
        "m.room.history_visibility" => &["history_visibility"],
        "m.room.redaction" if rules.keep_redaction_redacts => &["redacts"],
        _ => &[],
    };
    let mut kept = pick(content, kept_keys);
    if event_type == "m.room.member"
        && rules.keep_member_third_party_invite_signed
        && let Some(Value::Object(invite)) = content.get("third_party_invite")
    {
        // The invite object itself survives, holding only `signed` (if it had one), as the auth
        // rules need `signed` to check a redacted third-party invite.
        kept.insert("third_party_invite".to_owned(), Value::Object(pick(invite, &["signed"])));
    }
    kept
}

/// Copies the listed keys that are present in `object`.
fn pick(object: &Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    keys.iter().filter_map(|key| object.get(*key).map(|item| ((*key).to_owned(), item.clone()))).collect()
}

#[cfg(test)]
#[path = "redaction_tests.rs"]
mod tests;
