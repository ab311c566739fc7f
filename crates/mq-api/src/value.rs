//! Message values between JSON and stored bytes.
//!
//! A value arrives as any JSON value and is stored as its JSON text without insignificant
//! whitespace: for what serde_json writes that is byte for byte `serde_json::to_vec`, and for any
//! input numbers keep their digits and objects their key order, so the value comes back exactly.
//! Stored bytes that are not JSON (published through the Rust library) are shown as a string:
//! the text itself when it is UTF-8, else base64 with `valueEncoding: "base64"`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// A present JSON value, `null` included: with `#[serde(default)]` a missing field stays `None`
/// while `"value": null` becomes `Some(null)`, which plain `Option` would not tell apart.
pub(crate) fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(deserializer).map(Some)
}

/// Default [`ApiConfig::max_value_depth`](crate::ApiConfig::max_value_depth): how deeply arrays
/// and objects may nest in a value. Well within what common JSON parsers read (serde_json stops
/// at 128 levels for a whole document, and a consumed value sits 3 levels down in the answer).
pub const DEFAULT_MAX_VALUE_DEPTH: usize = 64;

/// Largest accepted `max_value_depth`: a value nested deeper could not be read back by mq-client
/// (serde_json's 128 levels, less the answer's own 3), nor by many other parsers.
pub const MAX_VALUE_DEPTH_LIMIT: usize = 100;

/// The stored bytes of a JSON value: its text without whitespace outside strings. Fails with
/// the nesting depth reached when arrays and objects nest deeper than `max_depth`.
pub(crate) fn to_stored(value: &RawValue, max_depth: usize) -> Result<Vec<u8>, usize> {
    let text = value.get().as_bytes();
    let mut out = Vec::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut depth = 0usize;
    for &byte in text {
        if in_string {
            out.push(byte);
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            match byte {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > max_depth {
                        return Err(depth);
                    }
                }
                // The text is valid JSON (a parsed RawValue), so brackets balance.
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            out.push(byte);
        }
    }
    Ok(out)
}

/// A stored value as a response shows it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum ValueOut {
    /// Stored JSON text, passed through as it is.
    Json(Box<RawValue>),
    /// Bytes that are not JSON, as a string (UTF-8 text, or base64).
    Text(String),
}

/// A stored value and, when it is base64, the `valueEncoding` that says so.
pub(crate) fn render(bytes: Vec<u8>) -> (ValueOut, Option<&'static str>) {
    if let Ok(json) = serde_json::from_slice::<Box<RawValue>>(&bytes) {
        return (ValueOut::Json(json), None);
    }
    match String::from_utf8(bytes) {
        Ok(text) => (ValueOut::Text(text), None),
        Err(not_text) => (ValueOut::Text(STANDARD.encode(not_text.as_bytes())), Some("base64")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(json: &str) -> String {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        String::from_utf8(to_stored(&raw, DEFAULT_MAX_VALUE_DEPTH).unwrap()).unwrap()
    }

    #[test]
    fn nesting_is_bounded_outside_strings_only() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let raw = |text: &str| serde_json::from_str::<Box<RawValue>>(text).unwrap();
        assert!(to_stored(&raw(&nested(64)), 64).is_ok());
        assert_eq!(to_stored(&raw(&nested(65)), 64), Err(65));
        let objects = format!("{}1{}", "{\"a\":".repeat(65), "}".repeat(65));
        assert_eq!(to_stored(&raw(&objects), 64), Err(65));
        // Brackets inside strings do not nest, and siblings do not add up.
        let text = format!("[\"{}\",{},{}]", "[".repeat(500), nested(63), nested(63));
        assert!(to_stored(&raw(&text), 64).is_ok());
    }

    #[test]
    fn stored_text_is_compact_and_exact() {
        for (input, want) in [
            ("null", "null"),
            (" true ", "true"),
            ("-1.50e3", "-1.50e3"),
            ("123456789012345678901234567890", "123456789012345678901234567890"),
            ("\"a b\\\" \\\\ \\n é\"", "\"a b\\\" \\\\ \\n é\""),
            ("[ 1 ,\n\t2 , [ ] ]", "[1,2,[]]"),
            ("{ \"z\" : 1 , \"a\" : { \"k\" : \" v \" } }", "{\"z\":1,\"a\":{\"k\":\" v \"}}"),
            ("\"\\\\\"", "\"\\\\\""),
        ] {
            assert_eq!(stored(input), want, "{input:?}");
        }
        let value =
            serde_json::json!({"b": [1, 2.5, null, true, "x y"], "a": {"c": "\"quoted\" \\ "}});
        assert_eq!(
            stored(&serde_json::to_string_pretty(&value).unwrap()).into_bytes(),
            serde_json::to_vec(&value).unwrap()
        );
    }

    fn shown(bytes: &[u8]) -> (String, Option<&'static str>) {
        let (value, encoding) = render(bytes.to_vec());
        (serde_json::to_string(&value).unwrap(), encoding)
    }

    #[test]
    fn stored_bytes_render_as_json_text_or_base64() {
        assert_eq!(shown(b"{\"a\":1}"), ("{\"a\":1}".into(), None));
        assert_eq!(shown(b"null"), ("null".into(), None));
        assert_eq!(shown(b"hello world"), ("\"hello world\"".into(), None));
        assert_eq!(shown(b""), ("\"\"".into(), None));
        assert_eq!(shown(&[0xff, 0x00, 0x01]), ("\"/wAB\"".into(), Some("base64")));
    }
}
