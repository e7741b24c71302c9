//! Power levels as the rooms domain reads them (the auth rules enforce them on every
//! event; this is for decisions auth cannot make, such as redacting others' events).

use ruma::UserId;
use serde_json::Value;

/// Enough of a room's power levels and creators to answer "may this user …?".
pub struct PowerLevels {
    content: Value,
    creators: Vec<String>,
    creators_infinite: bool,
}

impl PowerLevels {
    /// From the `m.room.power_levels` content (absent: spec defaults) and the create
    /// event's sender and `additional_creators` (room version 12 gives them infinite power).
    pub fn new(content: Option<Value>, creators: Vec<String>, creators_infinite: bool) -> Self {
        PowerLevels { content: content.unwrap_or(Value::Null), creators, creators_infinite }
    }

    pub fn user_level(&self, user_id: &UserId) -> i64 {
        if self.creators_infinite && self.creators.iter().any(|c| c == user_id.as_str()) {
            return i64::MAX;
        }
        if self.content.is_null() {
            // Without power levels the creator has 100 and everyone else 0.
            return if self.creators.iter().any(|c| c == user_id.as_str()) { 100 } else { 0 };
        }
        self.content
            .get("users")
            .and_then(|users| users.get(user_id.as_str()))
            .and_then(Value::as_i64)
            .or_else(|| self.content.get("users_default").and_then(Value::as_i64))
            .unwrap_or(0)
    }

    /// The level needed to send an event of `event_type` (state or not).
    pub fn event_level(&self, event_type: &str, is_state: bool) -> i64 {
        let default_key = if is_state { "state_default" } else { "events_default" };
        let fallback = if self.content.is_null() && is_state { 50 } else { 0 };
        self.content
            .get("events")
            .and_then(|events| events.get(event_type))
            .and_then(Value::as_i64)
            .or_else(|| self.content.get(default_key).and_then(Value::as_i64))
            .unwrap_or(fallback)
    }

    /// The level an action (`ban`, `kick`, `redact`, `invite`) needs.
    pub fn action_level(&self, action: &str) -> i64 {
        let default = if action == "invite" { 0 } else { 50 };
        self.content.get(action).and_then(Value::as_i64).unwrap_or(default)
    }
}
