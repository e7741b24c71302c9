//! Reading back a stored event that nests deeper than [`MAX_EVENT_NESTING`]: servers
//! that accepted such events before the limit existed serve them in their room version's
//! redacted form instead of failing on them.
//!
//! Redaction keeps an event's ID valid (the reference hash is computed over the redacted
//! form) and what the auth rules need of it (a member event keeps its `membership`), so
//! the room keeps working. The text is never parsed as a whole: the top level and the
//! content are split into raw values (serde_json skips raw values iteratively, without a
//! recursion limit); values within the limit are parsed, deeper ones are replaced by an
//! empty object before the redaction algorithm runs.
//!
//! If redaction keeps one of those (from version 11 a create event keeps all its content,
//! a member event its `third_party_invite.signed`), the true redacted form would nest too
//! deeply itself: the event is then served with that value emptied and a warning. Its
//! reference hash no longer matches that form, but nothing reads it back from a stored
//! event: the event ID is the stored one, and a version 12 room ID is derived from it
//! (see `Pdu::from_stored`). So such an event still authorizes and serves as it did
//! (what the auth rules read of it is shallow), and no room is left unusable.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use stoa_federation::{CanonicalJsonError, RoomVersion, redact};

use super::nesting::{MAX_EVENT_NESTING, MAX_NESTING, text_depth};
use super::pdu::PduError;

/// Whether stored text nests too deeply to be served as it is.
pub(super) fn needs_recovery(json: &str) -> bool {
    text_depth(json.as_bytes()) > MAX_EVENT_NESTING
}

/// The redacted form of a stored event that nests too deeply, nesting within the limits.
pub(super) fn redacted(json: &str, version: RoomVersion) -> Result<Value, PduError> {
    let mut placeholders = Placeholders::default();
    let mut event = Map::new();
    for (key, raw) in split(json)? {
        let value = if key == "content" {
            let mut content = Map::new();
            for (content_key, raw) in split(raw.get())? {
                // Content keys nest one level below the content object.
                let value = placeholders.shallow(&raw, MAX_NESTING - 1, Path::Content(&content_key))?;
                content.insert(content_key, value);
            }
            Value::Object(content)
        } else {
            placeholders.shallow(&raw, MAX_NESTING, Path::Top(&key))?
        };
        event.insert(key, value);
    }
    let redacted = redact(&Value::Object(event), version).map_err(|error| malformed(error.to_string()))?;
    placeholders.warn_if_kept(&redacted);
    Ok(redacted)
}

/// Where a value sits: a top-level key, or a key of `content`.
#[derive(Clone, Copy)]
enum Path<'a> {
    Top(&'a str),
    Content(&'a str),
}

/// The deep values replaced before redaction: (in content?, key).
#[derive(Default)]
struct Placeholders {
    paths: Vec<(bool, String)>,
}

impl Placeholders {
    /// The parsed value if it nests at most `limit` levels, else an empty object noted
    /// as sitting at `path`.
    fn shallow(&mut self, raw: &RawValue, limit: usize, path: Path<'_>) -> Result<Value, PduError> {
        let depth = text_depth(raw.get().as_bytes());
        if depth <= limit {
            return serde_json::from_str(raw.get()).map_err(|error| malformed(error.to_string()));
        }
        self.paths.push(match path {
            Path::Top(key) => (false, key.to_owned()),
            Path::Content(key) => (true, key.to_owned()),
        });
        // An object, so a rule keeping part of the value (a key inside it) shows too.
        Ok(Value::Object(Map::new()))
    }

    /// Logs the replaced values that redaction kept: the served form is then not the
    /// event's true redacted form, only the nearest one that can be read.
    fn warn_if_kept(&self, redacted: &Value) {
        for (in_content, key) in &self.paths {
            let parent = if *in_content { redacted.get("content") } else { Some(redacted) };
            if parent.and_then(|parent| parent.get(key)).is_some() {
                let place = if *in_content { "content." } else { "" };
                tracing::warn!(key = %format!("{place}{key}"), "a value redaction keeps nests too deeply; served emptied");
            }
        }
    }
}

/// The members of a JSON object as raw text, without parsing them.
fn split(json: &str) -> Result<BTreeMap<String, Box<RawValue>>, PduError> {
    serde_json::from_str(json).map_err(|error| malformed(error.to_string()))
}

fn malformed(why: String) -> PduError {
    PduError::NotCanonical(CanonicalJsonError::MalformedJson(why))
}

#[cfg(test)]
#[path = "recovery_tests.rs"]
mod tests;
