//! Matrix canonical JSON: strict encoding, strict parsing of network input, and PDU size limits.
//!
//! Canonical JSON is the byte form that signatures and hashes cover, so every server must produce
//! exactly the same bytes for the same value. Anything that could be encoded in more than one way
//! (floats, integers beyond what an IEEE double holds exactly, duplicate object keys) is refused
//! rather than quietly normalised.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The largest integer canonical JSON allows, `2^53 - 1`, beyond which doubles lose precision.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The smallest integer canonical JSON allows, `-(2^53 - 1)`.
pub const MIN_SAFE_INTEGER: i64 = -MAX_SAFE_INTEGER;

/// The spec's ceiling on a whole PDU in canonical JSON, signatures included; exactly this many
/// bytes is still allowed.
pub const MAX_PDU_BYTES: usize = 65_536;

/// The spec's ceiling on each of a PDU's identifier fields (`type`, `state_key`, `sender`,
/// `room_id`, `event_id`), measured in bytes.
pub const MAX_PDU_FIELD_BYTES: usize = 255;

/// The PDU fields whose length the spec limits to [`MAX_PDU_FIELD_BYTES`].
const LIMITED_PDU_FIELDS: [&str; 5] = ["type", "state_key", "sender", "room_id", "event_id"];

/// Why a value cannot be represented as canonical JSON, or why network input was not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalJsonError {
    /// The value holds a number with a fraction or exponent; canonical JSON has integers only.
    #[error("number {0} is not an integer; canonical JSON forbids floats")]
    FloatNotAllowed(String),
    /// The value holds an integer that an IEEE double cannot represent exactly.
    #[error("integer {0} is outside canonical JSON's range of ±(2^53 - 1)")]
    IntegerOutOfRange(String),
    /// The input names the same object key twice, which would make its meaning ambiguous.
    #[error("object key {0:?} appears more than once")]
    DuplicateKey(String),
    /// The input is not well-formed JSON at all.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
}

/// Why an event may not be accepted or sent as a PDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduSizeError {
    /// The event cannot be encoded canonically, so its size is not even defined.
    #[error("event is not valid canonical JSON: {0}")]
    NotCanonical(#[from] CanonicalJsonError),
    /// The canonical encoding of the whole event exceeds [`MAX_PDU_BYTES`].
    #[error("event is {size} bytes in canonical JSON; the limit is {MAX_PDU_BYTES}")]
    EventTooLarge {
        /// The canonical size in bytes.
        size: usize,
    },
    /// One of the size-limited identifier fields exceeds [`MAX_PDU_FIELD_BYTES`].
    #[error("event field `{field}` is {size} bytes; the limit is {MAX_PDU_FIELD_BYTES}")]
    FieldTooLong {
        /// The name of the offending field.
        field: &'static str,
        /// Its length in bytes.
        size: usize,
    },
}

/// Encodes a value as canonical JSON text, the form that gets signed and hashed.
pub fn to_canonical_string(value: &Value) -> Result<String, CanonicalJsonError> {
    let mut out = String::new();
    write_value(&mut out, value)?;
    Ok(out)
}

/// Encodes a value as canonical JSON bytes, ready to be signed, hashed or measured.
pub fn to_canonical_bytes(value: &Value) -> Result<Vec<u8>, CanonicalJsonError> {
    to_canonical_string(value).map(String::into_bytes)
}

/// Checks that a value could be encoded canonically, without building the encoding.
pub fn check_canonical(value: &Value) -> Result<(), CanonicalJsonError> {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        Value::Number(number) => check_number(number).map(|_| ()),
        Value::Array(items) => items.iter().try_for_each(check_canonical),
        Value::Object(map) => map.values().try_for_each(check_canonical),
    }
}

/// Parses JSON received from the network, refusing floats, out-of-range integers and duplicate
/// keys instead of coercing them, so what we store is exactly what the sender signed.
///
/// Insignificant whitespace and key order in the input are accepted; only values that have no
/// canonical form are refused.
pub fn parse_canonical(input: &[u8]) -> Result<Value, CanonicalJsonError> {
    let mut fault = None;
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let parsed = StrictSeed { fault: &mut fault }.deserialize(&mut deserializer);
    let value = match parsed {
        Ok(value) => value,
        Err(error) => {
            return Err(fault.unwrap_or_else(|| CanonicalJsonError::MalformedJson(error.to_string())));
        }
    };
    deserializer.end().map_err(|error| CanonicalJsonError::MalformedJson(error.to_string()))?;
    Ok(value)
}

/// Parses JSON text received from the network; see [`parse_canonical`].
pub fn parse_canonical_str(input: &str) -> Result<Value, CanonicalJsonError> {
    parse_canonical(input.as_bytes())
}

/// Checks an event against the spec's PDU size limits: at most [`MAX_PDU_BYTES`] of canonical
/// JSON for the event as given (signatures included), and at most [`MAX_PDU_FIELD_BYTES`] for
/// each of `type`, `state_key`, `sender`, `room_id` and `event_id` where present.
pub fn check_pdu_size(event: &Value) -> Result<(), PduSizeError> {
    if let Value::Object(map) = event {
        for field in LIMITED_PDU_FIELDS {
            if let Some(Value::String(text)) = map.get(field)
                && text.len() > MAX_PDU_FIELD_BYTES
            {
                return Err(PduSizeError::FieldTooLong { field, size: text.len() });
            }
        }
    }
    let size = to_canonical_string(event)?.len();
    if size > MAX_PDU_BYTES {
        return Err(PduSizeError::EventTooLarge { size });
    }
    Ok(())
}

/// Appends the canonical encoding of `value` to `out`.
fn write_value(out: &mut String, value: &Value) -> Result<(), CanonicalJsonError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => out.push_str(&check_number(number)?.to_string()),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sorted explicitly: serde_json's map keeps insertion order when another crate in
            // the build turns on `preserve_order`. Byte order of UTF-8 equals codepoint order.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|left, right| left.0.cmp(right.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Appends a JSON string literal using the shortest escapes the canonical grammar allows.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if u32::from(control) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

/// Returns the integer a number holds if canonical JSON can carry it.
fn check_number(number: &Number) -> Result<i64, CanonicalJsonError> {
    if let Some(integer) = number.as_i64() {
        check_integer(integer)
    } else if number.is_u64() {
        Err(CanonicalJsonError::IntegerOutOfRange(number.to_string()))
    } else {
        Err(CanonicalJsonError::FloatNotAllowed(number.to_string()))
    }
}

/// Refuses integers outside `±(2^53 - 1)`.
fn check_integer(integer: i64) -> Result<i64, CanonicalJsonError> {
    if (MIN_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&integer) {
        Ok(integer)
    } else {
        Err(CanonicalJsonError::IntegerOutOfRange(integer.to_string()))
    }
}

/// Builds a [`Value`] from serde_json's token stream while enforcing canonical JSON's rules.
///
/// The typed reason for a refusal is left in `fault`, because serde's error channel only carries
/// text.
struct StrictSeed<'a> {
    fault: &'a mut Option<CanonicalJsonError>,
}

impl StrictSeed<'_> {
    /// Records why parsing stopped and returns a serde error to unwind the parser.
    fn refuse<E: de::Error>(self, reason: CanonicalJsonError) -> E {
        let error = E::custom(&reason);
        *self.fault = Some(reason);
        error
    }
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value with canonical-JSON-safe numbers")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        match check_integer(value) {
            Ok(integer) => Ok(Value::from(integer)),
            Err(reason) => Err(self.refuse(reason)),
        }
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        match i64::try_from(value) {
            Ok(signed) => self.visit_i64(signed),
            Err(_) => Err(self.refuse(CanonicalJsonError::IntegerOutOfRange(value.to_string()))),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        // serde_json reports `-0`, fractions, exponents and overflowing integers as floats.
        Err(self.refuse(CanonicalJsonError::FloatNotAllowed(value.to_string())))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictSeed { fault: &mut *self.fault })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        let mut seen = BTreeSet::new();
        while let Some(key) = access.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(self.refuse(CanonicalJsonError::DuplicateKey(key)));
            }
            let item = access.next_value_seed(StrictSeed { fault: &mut *self.fault })?;
            map.insert(key, item);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Parses loosely (as any JSON) then encodes canonically.
    fn canon(input: &str) -> String {
        to_canonical_string(&serde_json::from_str(input).unwrap()).unwrap()
    }

    #[test]
    fn spec_appendix_examples() {
        assert_eq!(canon("{}"), "{}");
        assert_eq!(canon("{\n    \"one\": 1,\n    \"two\": \"Two\"\n}"), r#"{"one":1,"two":"Two"}"#);
        assert_eq!(canon("{\n    \"b\": \"2\",\n    \"a\": \"1\"\n}"), r#"{"a":"1","b":"2"}"#);
        assert_eq!(canon(r#"{"b":"2","a":"1"}"#), r#"{"a":"1","b":"2"}"#);
        let nested = r#"{
            "auth": {
                "success": true,
                "mxid": "@john.doe:example.com",
                "profile": {
                    "display_name": "John Doe",
                    "three_pids": [
                        {"medium": "email", "address": "john.doe@example.org"},
                        {"medium": "msisdn", "address": "123456789"}
                    ]
                }
            }
        }"#;
        assert_eq!(
            canon(nested),
            r#"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"#
        );
        assert_eq!(canon(r#"{"a": "日本語"}"#), r#"{"a":"日本語"}"#);
        assert_eq!(canon(r#"{"本": 2, "日": 1}"#), r#"{"日":1,"本":2}"#);
        assert_eq!(canon(r#"{"a": "\u65E5"}"#), r#"{"a":"日"}"#);
        assert_eq!(canon(r#"{"a": null}"#), r#"{"a":null}"#);
    }

    #[test]
    fn spec_float_example_is_refused_not_coerced() {
        // The appendix shows `1e10` normalised to an integer; Stoa refuses exponent forms instead.
        let value: Value = serde_json::from_str(r#"{"a": -0, "b": 1e10}"#).unwrap();
        assert!(matches!(to_canonical_string(&value), Err(CanonicalJsonError::FloatNotAllowed(_))));
        assert!(matches!(
            parse_canonical_str(r#"{"a": 0, "b": 1e10}"#),
            Err(CanonicalJsonError::FloatNotAllowed(_))
        ));
    }

    #[test]
    fn integer_bounds() {
        let max = json!(MAX_SAFE_INTEGER);
        assert_eq!(to_canonical_string(&max).unwrap(), "9007199254740991");
        assert_eq!(to_canonical_string(&json!(MIN_SAFE_INTEGER)).unwrap(), "-9007199254740991");
        assert_eq!(
            to_canonical_string(&json!(MAX_SAFE_INTEGER + 1)),
            Err(CanonicalJsonError::IntegerOutOfRange("9007199254740992".into()))
        );
        assert!(matches!(
            to_canonical_string(&json!(MIN_SAFE_INTEGER - 1)),
            Err(CanonicalJsonError::IntegerOutOfRange(_))
        ));
        assert!(matches!(
            to_canonical_string(&json!(u64::MAX)),
            Err(CanonicalJsonError::IntegerOutOfRange(_))
        ));

        assert_eq!(parse_canonical_str("9007199254740991").unwrap(), json!(MAX_SAFE_INTEGER));
        assert_eq!(parse_canonical_str("-9007199254740991").unwrap(), json!(MIN_SAFE_INTEGER));
        assert_eq!(
            parse_canonical_str("9007199254740992"),
            Err(CanonicalJsonError::IntegerOutOfRange("9007199254740992".into()))
        );
        assert!(matches!(
            parse_canonical_str("-9007199254740992"),
            Err(CanonicalJsonError::IntegerOutOfRange(_))
        ));
        assert!(matches!(
            parse_canonical_str("18446744073709551615"),
            Err(CanonicalJsonError::IntegerOutOfRange(_))
        ));
        assert!(matches!(
            parse_canonical_str("[1, {\"deep\": [99999999999999999999]}]"),
            Err(CanonicalJsonError::FloatNotAllowed(_) | CanonicalJsonError::IntegerOutOfRange(_))
        ));
    }

    #[test]
    fn floats_refused() {
        for float in [1.0, 0.5, -2.25, 1e10] {
            assert!(matches!(
                to_canonical_string(&json!({ "n": float })),
                Err(CanonicalJsonError::FloatNotAllowed(_))
            ));
        }
        for text in ["1.0", "0.5", "1e3", "1E3", "-1e-3", "-0", "[2.0]", "{\"a\":{\"b\":3.5}}"] {
            assert!(
                matches!(parse_canonical_str(text), Err(CanonicalJsonError::FloatNotAllowed(_))),
                "{text} should be refused"
            );
        }
    }

    #[test]
    fn escapes_are_shortest() {
        let value =
            json!("quote\" backslash\\ slash/ \u{08}\u{0C}\n\r\t \u{00}\u{01}\u{1f} \u{7f} é 😀 \u{2028}");
        assert_eq!(
            to_canonical_string(&value).unwrap(),
            "\"quote\\\" backslash\\\\ slash/ \\b\\f\\n\\r\\t \\u0000\\u0001\\u001f \u{7f} é 😀 \u{2028}\""
        );
        // Escaped input is decoded and re-emitted raw.
        assert_eq!(
            to_canonical_string(&parse_canonical_str(r#""\u00e9\ud83d\ude00\/""#).unwrap()).unwrap(),
            "\"é😀/\""
        );
    }

    #[test]
    fn keys_sort_by_codepoint() {
        let value = json!({"b": 1, "a": 2, "B": 3, "é": 4, "z": 5, "日": 6, "": 7, "😀": 8});
        assert_eq!(
            to_canonical_string(&value).unwrap(),
            r#"{"":7,"B":3,"a":2,"b":1,"z":5,"é":4,"日":6,"😀":8}"#
        );
    }

    #[test]
    fn duplicate_keys_refused() {
        assert_eq!(
            parse_canonical_str(r#"{"a": 1, "a": 2}"#),
            Err(CanonicalJsonError::DuplicateKey("a".into()))
        );
        assert_eq!(
            parse_canonical_str(r#"{"x": [{"k": 1, "j": 2, "k": 3}]}"#),
            Err(CanonicalJsonError::DuplicateKey("k".into()))
        );
        // The same key in different objects is fine.
        assert!(parse_canonical_str(r#"{"a": {"a": 1}, "b": {"a": 2}}"#).is_ok());
    }

    #[test]
    fn parse_accepts_ordinary_json_and_round_trips() {
        let text = " { \"b\" : [true, false, null, -5, \"s\"], \"a\" : {} } ";
        let value = parse_canonical_str(text).unwrap();
        assert_eq!(value, json!({"a": {}, "b": [true, false, null, -5, "s"]}));
        assert_eq!(to_canonical_string(&value).unwrap(), r#"{"a":{},"b":[true,false,null,-5,"s"]}"#);
    }

    #[test]
    fn parse_refuses_malformed_input() {
        for text in ["", "{", "{\"a\":1}x", "[1,]", "\"\\ud800\"", "nul"] {
            assert!(
                matches!(parse_canonical_str(text), Err(CanonicalJsonError::MalformedJson(_))),
                "{text:?} should be malformed"
            );
        }
        assert!(matches!(parse_canonical(b"\"\xff\""), Err(CanonicalJsonError::MalformedJson(_))));
    }

    #[test]
    fn check_canonical_finds_nested_floats() {
        assert!(check_canonical(&json!({"a": [1, {"b": "c"}]})).is_ok());
        assert!(matches!(
            check_canonical(&json!({"a": [1, {"b": 0.1}]})),
            Err(CanonicalJsonError::FloatNotAllowed(_))
        ));
    }

    /// Builds an event whose canonical encoding is exactly `size` bytes.
    fn event_of_size(size: usize) -> Value {
        let mut event = json!({
            "type": "m.room.message",
            "sender": "@a:example.org",
            "content": {"body": ""},
            "signatures": {"example.org": {"ed25519:1": "sig"}},
        });
        let base = to_canonical_string(&event).unwrap().len();
        event["content"]["body"] = Value::String("x".repeat(size - base));
        assert_eq!(to_canonical_string(&event).unwrap().len(), size);
        event
    }

    #[test]
    fn pdu_size_boundary() {
        assert_eq!(check_pdu_size(&event_of_size(MAX_PDU_BYTES)), Ok(()));
        assert_eq!(
            check_pdu_size(&event_of_size(MAX_PDU_BYTES + 1)),
            Err(PduSizeError::EventTooLarge { size: MAX_PDU_BYTES + 1 })
        );
    }

    #[test]
    fn pdu_size_counts_signatures() {
        let mut event = event_of_size(MAX_PDU_BYTES);
        event["signatures"]["other.example"] = json!({"ed25519:x": "y"});
        assert!(matches!(check_pdu_size(&event), Err(PduSizeError::EventTooLarge { .. })));
    }

    #[test]
    fn pdu_field_limits() {
        let ok = "t".repeat(MAX_PDU_FIELD_BYTES);
        assert_eq!(check_pdu_size(&json!({"type": ok, "state_key": ok, "sender": "@a:b"})), Ok(()));
        let long = "t".repeat(MAX_PDU_FIELD_BYTES + 1);
        assert_eq!(
            check_pdu_size(&json!({"type": long})),
            Err(PduSizeError::FieldTooLong { field: "type", size: 256 })
        );
        // Bytes, not characters: 128 two-byte characters are 256 bytes.
        let wide = "é".repeat(128);
        assert_eq!(
            check_pdu_size(&json!({"type": "m.x", "state_key": wide})),
            Err(PduSizeError::FieldTooLong { field: "state_key", size: 256 })
        );
    }

    #[test]
    fn pdu_with_float_is_not_canonical() {
        assert!(matches!(
            check_pdu_size(&json!({"type": "m.x", "content": {"n": 1.5}})),
            Err(PduSizeError::NotCanonical(CanonicalJsonError::FloatNotAllowed(_)))
        ));
    }
}
