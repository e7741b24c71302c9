//! The conditions of the spec's event filters (types, senders, rooms, `contains_url`)
//! applied to events as clients see them, and the `event_fields` projection.
//!
//! One matcher serves `/sync` sections and `/messages`, so both read a filter alike.

use std::collections::HashSet;

use ruma::api::client::filter::{Filter, RoomEventFilter, UrlFilter};
use serde_json::{Map, Value};

/// The type, sender, room and URL conditions of one filter.
#[derive(Debug, Clone, Default)]
pub struct EventMatcher {
    types: Option<Vec<String>>,
    not_types: Vec<String>,
    senders: Option<HashSet<String>>,
    not_senders: HashSet<String>,
    rooms: Option<HashSet<String>>,
    not_rooms: HashSet<String>,
    contains_url: Option<bool>,
    /// The filter's `limit`, if it set one.
    pub limit: Option<usize>,
}

impl EventMatcher {
    pub fn from_room_event_filter(filter: &RoomEventFilter) -> Self {
        EventMatcher {
            types: filter.types.clone(),
            not_types: filter.not_types.clone(),
            senders: filter.senders.as_ref().map(|s| s.iter().map(|u| u.to_string()).collect()),
            not_senders: filter.not_senders.iter().map(|u| u.to_string()).collect(),
            rooms: filter.rooms.as_ref().map(|r| r.iter().map(|r| r.to_string()).collect()),
            not_rooms: filter.not_rooms.iter().map(|r| r.to_string()).collect(),
            contains_url: filter.url_filter.as_ref().map(|f| matches!(f, UrlFilter::EventsWithUrl)),
            limit: filter.limit.map(|n| usize::try_from(u64::from(n)).unwrap_or(usize::MAX)),
        }
    }

    pub fn from_filter(filter: &Filter) -> Self {
        EventMatcher {
            types: filter.types.clone(),
            not_types: filter.not_types.clone(),
            senders: filter.senders.as_ref().map(|s| s.iter().map(|u| u.to_string()).collect()),
            not_senders: filter.not_senders.iter().map(|u| u.to_string()).collect(),
            limit: filter.limit.map(|n| usize::try_from(u64::from(n)).unwrap_or(usize::MAX)),
            ..EventMatcher::default()
        }
    }

    /// Sets the room conditions (for the top-level `room.rooms` / `room.not_rooms`).
    pub fn restrict_rooms(&mut self, rooms: Option<&[ruma::OwnedRoomId]>, not_rooms: &[ruma::OwnedRoomId]) {
        self.rooms = rooms.map(|r| r.iter().map(|r| r.to_string()).collect());
        self.not_rooms = not_rooms.iter().map(|r| r.to_string()).collect();
    }

    /// Whether events of `room_id` may pass at all.
    pub fn allows_room(&self, room_id: &str) -> bool {
        !self.not_rooms.contains(room_id) && self.rooms.as_ref().is_none_or(|rooms| rooms.contains(room_id))
    }

    /// Whether an event (client or account-data shape) passes the type, sender and URL
    /// conditions. The `not_` lists win over the allow lists.
    pub fn matches(&self, event: &Value) -> bool {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        if self.not_types.iter().any(|pattern| glob_matches(pattern, kind)) {
            return false;
        }
        if self.types.as_ref().is_some_and(|types| !types.iter().any(|pattern| glob_matches(pattern, kind))) {
            return false;
        }
        let sender = event.get("sender").and_then(Value::as_str);
        if let Some(sender) = sender {
            if self.not_senders.contains(sender) {
                return false;
            }
            if self.senders.as_ref().is_some_and(|senders| !senders.contains(sender)) {
                return false;
            }
        }
        match self.contains_url {
            Some(wanted) => event.pointer("/content/url").is_some_and(Value::is_string) == wanted,
            None => true,
        }
    }

    /// Whether the type, sender and URL conditions let every event through.
    pub fn passes_everything(&self) -> bool {
        self.types.is_none()
            && self.not_types.is_empty()
            && self.senders.is_none()
            && self.not_senders.is_empty()
            && self.contains_url.is_none()
    }

    /// The filter's limit, or `default`, within `1..=max`.
    pub fn limit_or(&self, default: usize, max: usize) -> usize {
        self.limit.unwrap_or(default).clamp(1, max)
    }
}

/// Matches `text` against a pattern where `*` stands for any run of characters.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else { return text.is_empty() };
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let mut pieces: Vec<&str> = parts.collect();
    let Some(last) = pieces.pop() else { return rest.is_empty() };
    for piece in pieces {
        match rest.find(piece) {
            Some(at) => rest = rest.get(at + piece.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Keeps only the listed fields of `event` (dot-separated paths; `\.` is a literal dot
/// and `\\` a literal backslash). Paths that do not exist are skipped.
pub fn project_fields(event: &Value, fields: &[String]) -> Value {
    let mut projected = Map::new();
    for field in fields {
        let path = split_path(field);
        if let Some(value) = lookup(event, &path) {
            insert_path(&mut projected, &path, value.clone());
        }
    }
    Value::Object(projected)
}

fn split_path(field: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(part)) = (chars.next(), parts.last_mut()) {
                    part.push(next);
                }
            }
            '.' => parts.push(String::new()),
            other => {
                if let Some(part) = parts.last_mut() {
                    part.push(other);
                }
            }
        }
    }
    parts
}

fn lookup<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |node, key| node.as_object()?.get(key))
}

fn insert_path(target: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = target;
    for key in parents {
        let entry = node.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
        match entry.as_object_mut() {
            Some(object) => node = object,
            None => return,
        }
    }
    node.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn globs_match_anywhere() {
        assert!(glob_matches("m.room.*", "m.room.message"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("m.*.member", "m.room.member"));
        assert!(glob_matches("m.room.message", "m.room.message"));
        assert!(!glob_matches("m.room.message", "m.room.messages"));
        assert!(!glob_matches("m.room.*", "m.reaction"));
        assert!(!glob_matches("*.member*x", "m.room.member"));
        assert!(glob_matches("a*a", "aa"));
        assert!(!glob_matches("ab*ba", "aba"));
    }

    #[test]
    fn not_lists_win_and_urls_filter() {
        let filter: RoomEventFilter = serde_json::from_value(json!({
            "types": ["m.room.*"], "not_types": ["m.room.member"],
            "not_senders": ["@eve:x"], "contains_url": true,
        }))
        .unwrap();
        let matcher = EventMatcher::from_room_event_filter(&filter);
        let image = json!({"type": "m.room.message", "sender": "@a:x", "content": {"url": "mxc://x/y"}});
        assert!(matcher.matches(&image));
        assert!(!matcher.matches(&json!({"type": "m.room.message", "sender": "@a:x", "content": {}})));
        assert!(
            !matcher.matches(&json!({"type": "m.room.member", "sender": "@a:x", "content": {"url": "u"}}))
        );
        assert!(
            !matcher.matches(&json!({"type": "m.room.message", "sender": "@eve:x", "content": {"url": "u"}}))
        );
    }

    #[test]
    fn projects_nested_and_escaped_fields() {
        let event = json!({"type": "t", "content": {"body": "hi", "a.b": 1, "x": 2}, "sender": "@a:x"});
        let fields =
            ["type".to_owned(), "content.body".to_owned(), "content.a\\.b".to_owned(), "nope.z".to_owned()];
        assert_eq!(
            project_fields(&event, &fields),
            json!({"type": "t", "content": {"body": "hi", "a.b": 1}})
        );
    }
}
