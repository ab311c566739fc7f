//! Message values as the API shows them: any JSON value, or for stored bytes that are not JSON a
//! string (their text, or base64 with `valueEncoding: "base64"`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// How a value that is not JSON is written in its string (`valueEncoding`,
/// `contentEncoding`); absent for JSON values and for text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ValueEncoding {
    /// Standard base64 of bytes that are neither JSON nor UTF-8 text.
    Base64,
}

/// The payload bytes of a value: base64-decoded when so encoded, a string's own UTF-8 text
/// (without quotes), anything else as its JSON text.
pub(crate) fn payload(value: &Value, encoding: Option<ValueEncoding>) -> Result<Vec<u8>> {
    match (encoding, value) {
        (Some(ValueEncoding::Base64), Value::String(text)) => {
            STANDARD.decode(text).map_err(Error::Base64)
        }
        (_, Value::String(text)) => Ok(text.clone().into_bytes()),
        // Serializing a `Value` cannot fail: its map keys are strings.
        (_, other) => Ok(other.to_string().into_bytes()),
    }
}

/// A value read as `T`.
pub(crate) fn read_as<T: DeserializeOwned>(value: &Value) -> Result<T> {
    T::deserialize(value).map_err(|e| Error::Decode {
        endpoint: "message value".to_owned(),
        reason: e.to_string(),
        snippet: crate::client::snippet(value.to_string().as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn payloads_of_every_kind() {
        let check = |value: Value, encoding, want: &[u8]| {
            assert_eq!(payload(&value, encoding).unwrap(), want, "{value}");
        };
        check(json!({"a": 1}), None, br#"{"a":1}"#);
        check(json!(null), None, b"null");
        check(json!(12.5), None, b"12.5");
        check(json!("plain text"), None, b"plain text");
        check(json!("/wAB"), Some(ValueEncoding::Base64), &[0xff, 0x00, 0x01]);
        assert!(matches!(
            payload(&json!("not base64!"), Some(ValueEncoding::Base64)),
            Err(Error::Base64(_))
        ));
        let read: Vec<u8> = read_as(&json!([1, 2])).unwrap();
        assert_eq!(read, [1, 2]);
        assert!(matches!(read_as::<String>(&json!(1)), Err(Error::Decode { .. })));
    }
}
