//! How deeply JSON nests, and the one limit on it: [`MAX_NESTING`] levels of objects and
//! arrays in event content and in every client request body.
//!
//! Both measurements here are iterative, so measuring can never hit a recursion limit or
//! overflow the stack, whatever the input: [`text_depth`] scans raw bytes (it runs before
//! any parser sees a request body or a stored event), [`value_depth`] walks a parsed value
//! with an explicit stack.

use serde_json::Value;

/// The deepest nesting of objects and arrays allowed in an event's `content` (the content
/// object itself is level 1) and in a client request body.
///
/// Every read path must be able to parse what was accepted, with room to spare. The
/// tightest parser is serde_json's default recursion limit of 128, used by this server to
/// re-read stored events and by Rust clients to read responses. A stored PDU holds content
/// one level below the event object (65 at most). A `/sync` response holds it deepest:
/// `rooms.join.{room}.timeline.events[].unsigned.m.relations.m.thread.latest_event.content`
/// puts a bundled event's content 11 levels down, so content of 64 levels ends at level 75
/// — comfortably below 128, and leaving room for new response envelopes. Legitimate
/// content rarely nests beyond 10 levels.
pub const MAX_NESTING: usize = 64;

/// The deepest nesting allowed in a whole PDU: [`MAX_NESTING`] under its top level, so
/// `content` (and `unsigned`, `signatures` …) nest at most [`MAX_NESTING`] levels.
pub const MAX_EVENT_NESTING: usize = MAX_NESTING + 1;

/// JSON that nests deeper than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("JSON nests {depth} levels of objects and arrays deep; at most {limit} are allowed")]
pub struct TooDeep {
    /// How deep the JSON nests.
    pub depth: usize,
    /// The limit it broke.
    pub limit: usize,
}

/// How many levels of objects and arrays JSON text nests at its deepest point (`0` for a
/// scalar, `1` for `{}`), counting brackets outside string literals. Invalid JSON gets
/// some count; parsing it fails later anyway. Linear in the input, no allocation.
pub fn text_depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0_usize, 0_usize);
    let (mut in_string, mut escaped) = (false, false);
    // Multi-byte UTF-8 sequences hold no ASCII bytes, so a byte-wise scan is exact.
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// How many levels of objects and arrays a parsed value nests (`0` for a scalar).
pub fn value_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 1_usize)];
    while let Some((value, level)) = pending.pop() {
        match value {
            Value::Array(items) => {
                deepest = deepest.max(level);
                pending.extend(items.iter().map(|item| (item, level + 1)));
            }
            Value::Object(map) => {
                deepest = deepest.max(level);
                pending.extend(map.values().map(|item| (item, level + 1)));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
    deepest
}

/// Refuses JSON text (a client request body) nesting deeper than [`MAX_NESTING`].
pub fn check_body(json: &[u8]) -> Result<(), TooDeep> {
    within(text_depth(json), MAX_NESTING)
}

/// Refuses a depth over `limit`.
pub(super) fn within(depth: usize, limit: usize) -> Result<(), TooDeep> {
    if depth > limit { Err(TooDeep { depth, limit }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn counts_containers_not_brackets_in_strings() {
        assert_eq!(text_depth(b"1"), 0);
        assert_eq!(text_depth(b"{}"), 1);
        assert_eq!(text_depth(br#"{"a":[{"b":[]}],"c":{}}"#), 4);
        assert_eq!(text_depth(br#"{"a":"[[[{{{"}"#), 1);
        assert_eq!(text_depth(br#"{"a":"\"[[[","b":"\\","c":[]}"#), 2);
        assert_eq!(text_depth("{\"é[\":[\"ü\"]}".as_bytes()), 2);
    }

    #[test]
    fn text_and_value_agree() {
        for text in [r#"{"a":[{"b":[]}],"c":{}}"#, "[]", "7", r#"{"x":[[1,[2]],{"y":{"z":{}}}]}"#] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(text_depth(text.as_bytes()), value_depth(&value), "{text}");
        }
        assert_eq!(value_depth(&json!({"d": [[[]]]})), 4);
    }

    #[test]
    fn measures_far_beyond_any_parser_limit() {
        assert_eq!(text_depth(nested(100_000).as_bytes()), 100_000);
        assert_eq!(
            check_body(nested(100_000).as_bytes()),
            Err(TooDeep { depth: 100_000, limit: MAX_NESTING })
        );
    }

    #[test]
    fn the_limit_itself_is_allowed() {
        assert_eq!(check_body(nested(MAX_NESTING).as_bytes()), Ok(()));
        assert_eq!(
            check_body(nested(MAX_NESTING + 1).as_bytes()),
            Err(TooDeep { depth: MAX_NESTING + 1, limit: MAX_NESTING })
        );
    }
}
