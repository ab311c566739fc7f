//! The `e` field of a stream entry: a record's message fields, bincode-encoded behind a version
//! tag so that a later format can be told apart from this one instead of misread.

use std::collections::BTreeMap;

use mq_model::MessageType;
use serde::{Deserialize, Serialize};

use crate::{NewRecord, Record, RepoError, RepoResult};

/// What a stream entry stores besides its ID and timestamp. Bincode writes the variant index
/// first, so a new format is a new variant and old entries keep decoding as `V1`.
#[derive(Debug, Serialize, Deserialize)]
enum Envelope {
    V1(EnvelopeV1),
}

#[derive(Debug, Serialize, Deserialize)]
struct EnvelopeV1 {
    message_id: String,
    key: Option<String>,
    /// Written and read as one byte string rather than a sequence of `u8`s (see
    /// [`byte_string`]): the same bytes in bincode, without a call per byte.
    #[serde(with = "byte_string")]
    value: Vec<u8>,
    headers: BTreeMap<String, String>,
    producer_id: Option<String>,
    /// A code of our own rather than the model enum's serde form, so that reordering the
    /// model's variants cannot change what stored bytes mean.
    message_type: u8,
}

/// The leading fields of an [`Envelope`], in the same order: bincode writes fields one after
/// the other, so decoding this from an envelope's bytes reads its id and key and stops there,
/// without copying the value. Listing a schedule needs no more.
#[derive(Debug, Deserialize)]
enum EnvelopeHead {
    V1(EnvelopeHeadV1),
}

#[derive(Debug, Deserialize)]
struct EnvelopeHeadV1 {
    message_id: String,
    key: Option<String>,
}

/// The value field as serde bytes. Bincode writes a sequence of `u8` and a byte string alike (a
/// varint length, then the raw bytes), so stored entries read back unchanged; but serde drives
/// a `Vec<u8>` one element at a time, a visitor call and a push per byte, where bytes are one
/// length check and one copy. The visitor still accepts a sequence, as any serde format may
/// hand one.
mod byte_string {
    use std::fmt;

    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(Bytes)
    }

    struct Bytes;

    impl<'de> Visitor<'de> for Bytes {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // Capped: a damaged size hint must not reserve much.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(byte) = seq.next_element()? {
                out.push(byte);
            }
            Ok(out)
        }
    }
}

/// Bounds how much a damaged length prefix can make the decoder allocate: a Redis string is
/// at most 512 MiB.
const LIMIT: usize = 512 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<LIMIT>()
}

/// Encodes a record's message fields for the `e` field.
pub(crate) fn encode(record: NewRecord) -> RepoResult<Vec<u8>> {
    let envelope = Envelope::V1(EnvelopeV1 {
        message_id: record.message_id,
        key: record.key,
        value: record.value,
        headers: record.headers,
        producer_id: record.producer_id,
        message_type: type_code(record.message_type),
    });
    // Encoding owned strings, bytes and maps into a Vec cannot fail short of running out of
    // memory; the error is mapped anyway rather than unwrapped.
    bincode::serde::encode_to_vec(&envelope, config())
        .map_err(|e| corrupt(format!("cannot encode: {e}")))
}

/// Decodes the `e` field of the entry at `offset`, appended at `timestamp_ms`.
pub(crate) fn decode(bytes: &[u8], offset: u64, timestamp_ms: i64) -> RepoResult<Record> {
    let (envelope, read): (Envelope, usize) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| corrupt(format!("offset {offset}: {e}")))?;
    if read != bytes.len() {
        return Err(corrupt(format!("offset {offset}: {} trailing bytes", bytes.len() - read)));
    }
    let Envelope::V1(v1) = envelope;
    Ok(Record {
        offset,
        timestamp_ms,
        message_id: v1.message_id,
        key: v1.key,
        value: v1.value,
        headers: v1.headers,
        producer_id: v1.producer_id,
        message_type: type_from_code(v1.message_type)
            .ok_or_else(|| corrupt(format!("offset {offset}: message type {}", v1.message_type)))?,
    })
}

/// The message id and key of an encoded envelope (a scheduled message's payload).
pub(super) fn decode_head(bytes: &[u8]) -> RepoResult<(String, Option<String>)> {
    let (head, _read): (EnvelopeHead, usize) =
        bincode::serde::decode_from_slice(bytes, config())
            .map_err(|e| corrupt(format!("scheduled message: {e}")))?;
    let EnvelopeHead::V1(v1) = head;
    Ok((v1.message_id, v1.key))
}

fn type_code(message_type: MessageType) -> u8 {
    match message_type {
        MessageType::Normal => 0,
        MessageType::Delay => 1,
        MessageType::Transaction => 2,
    }
}

fn type_from_code(code: u8) -> Option<MessageType> {
    match code {
        0 => Some(MessageType::Normal),
        1 => Some(MessageType::Delay),
        2 => Some(MessageType::Transaction),
        _ => None,
    }
}

fn corrupt(detail: String) -> RepoError {
    RepoError::Corrupt { what: "message envelope", detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(message_type: MessageType) -> NewRecord {
        NewRecord {
            message_id: "m-1".into(),
            key: Some("k".into()),
            value: vec![0, 159, 146, 150, 255],
            headers: BTreeMap::from([("a".into(), "b".into())]),
            producer_id: None,
            message_type,
            dedup: None,
        }
    }

    #[test]
    fn round_trips_every_message_type() {
        for message_type in [MessageType::Normal, MessageType::Delay, MessageType::Transaction] {
            let new = sample(message_type);
            let bytes = encode(new.clone()).unwrap();
            let record = decode(&bytes, 7, 1_700_000_000_000).unwrap();
            assert_eq!(record.offset, 7);
            assert_eq!(record.timestamp_ms, 1_700_000_000_000);
            assert_eq!(record.message_id, new.message_id);
            assert_eq!(record.key, new.key);
            assert_eq!(record.value, new.value);
            assert_eq!(record.headers, new.headers);
            assert_eq!(record.producer_id, new.producer_id);
            assert_eq!(record.message_type, message_type);
        }
    }

    #[test]
    fn head_reads_id_and_key_of_a_full_envelope() {
        for key in [Some("k".to_owned()), None] {
            let bytes =
                encode(NewRecord { key: key.clone(), ..sample(MessageType::Delay) }).unwrap();
            assert_eq!(decode_head(&bytes).unwrap(), ("m-1".to_owned(), key));
        }
        assert!(matches!(decode_head(b"\x09"), Err(RepoError::Corrupt { .. })));
        assert!(matches!(decode_head(&[]), Err(RepoError::Corrupt { .. })));
    }

    /// The format before the value was written as a byte string: a plain `Vec<u8>` field.
    #[derive(Serialize)]
    enum OldEnvelope {
        V1(OldEnvelopeV1),
    }

    #[derive(Serialize)]
    struct OldEnvelopeV1 {
        message_id: String,
        key: Option<String>,
        value: Vec<u8>,
        headers: BTreeMap<String, String>,
        producer_id: Option<String>,
        message_type: u8,
    }

    #[test]
    fn byte_string_value_keeps_the_stored_format() {
        // Lengths around the varint steps (250: one byte; 251+: a marker and two bytes).
        for len in [0usize, 1, 5, 250, 251, 300, 70_000] {
            let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let new = NewRecord { value: value.clone(), ..sample(MessageType::Delay) };
            let old = OldEnvelope::V1(OldEnvelopeV1 {
                message_id: new.message_id.clone(),
                key: new.key.clone(),
                value: value.clone(),
                headers: new.headers.clone(),
                producer_id: new.producer_id.clone(),
                message_type: 1,
            });
            let old_bytes = bincode::serde::encode_to_vec(&old, config()).unwrap();
            assert_eq!(encode(new).unwrap(), old_bytes, "same bytes at {len}");
            assert_eq!(decode(&old_bytes, 0, 0).unwrap().value, value, "old entry reads at {len}");
        }
    }

    #[test]
    fn rejects_damaged_or_unknown_bytes() {
        let good = encode(sample(MessageType::Normal)).unwrap();
        let mut unknown_version = good.clone();
        unknown_version[0] = 9;
        let mut trailing = good.clone();
        trailing.push(0);
        for bad in [&[][..], &good[..good.len() - 1], &unknown_version, &trailing, b"\x00\xff"] {
            assert!(matches!(decode(bad, 0, 0), Err(RepoError::Corrupt { .. })), "{bad:?}");
        }
    }
}
