//! Turning Redis replies (stream entries, pending lists, script results) into the log's types.
//!
//! Replies are taken as raw [`Value`]s and checked shape by shape, so that anything unexpected
//! becomes a [`RepoError::Corrupt`] naming what was wrong instead of a panic or a silent skip.

use fred::prelude::Value;

use super::{envelope, keys};
use crate::{Attempt, Delivery, Original, PendingEntry, Record, Redelivery, RepoError, RepoResult};

/// The elements of an array reply; nil counts as empty (XREADGROUP answers nil for nothing).
pub(super) fn array(value: Value, what: &'static str) -> RepoResult<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(shape(what, format!("expected an array, got {:?}", other.kind()))),
    }
}

/// A non-negative integer reply (or a decimal string, as Lua and hashes give numbers).
pub(super) fn uint(value: &Value, what: &'static str) -> RepoResult<u64> {
    value.as_u64().ok_or_else(|| shape(what, format!("expected a count, got {value:?}")))
}

/// A text reply, such as an entry ID.
pub(super) fn text(value: &Value, what: &'static str) -> RepoResult<String> {
    value.as_string().ok_or_else(|| shape(what, format!("expected text, got {value:?}")))
}

/// The offset of an entry ID reply.
pub(super) fn offset(value: &Value, what: &'static str) -> RepoResult<u64> {
    let id = text(value, what)?;
    keys::offset_of(&id).ok_or_else(|| shape(what, format!("not an entry ID: {id:?}")))
}

/// Stream entries as XRANGE gives them: `[[id, [field, value, ...]], ...]`.
pub(super) fn entries(value: Value) -> RepoResult<Vec<Record>> {
    let mut records = Vec::new();
    for entry in array(value, "stream entries")? {
        if let Some(record) = entry_record(entry)? {
            records.push(record);
        }
    }
    Ok(records)
}

/// The entries of an XREADGROUP reply over one stream: `[[key, [entry, ...]]]`, or nil.
pub(super) fn group_read(value: Value) -> RepoResult<Vec<Delivery>> {
    let mut deliveries = Vec::new();
    for stream in array(value, "xreadgroup reply")? {
        let mut parts = array(stream, "xreadgroup stream")?.into_iter();
        let (Some(_key), Some(stream_entries)) = (parts.next(), parts.next()) else {
            return Err(shape("xreadgroup stream", "expected [key, entries]".into()));
        };
        for record in entries(stream_entries)? {
            deliveries.push(Delivery { record, delivery_count: 1 });
        }
    }
    Ok(deliveries)
}

/// The rows of `pending.lua`: `[[id, consumer, idle ms, delivery count, retry-at ms or nil],
/// ...]`, XPENDING's extended rows with the retry time of each.
pub(super) fn pending(value: Value) -> RepoResult<Vec<PendingEntry>> {
    array(value, "pending reply")?
        .into_iter()
        .map(|row| {
            let row = array(row, "pending row")?;
            let [id, consumer, idle, count, retry_at] = row.as_slice() else {
                return Err(shape("pending row", format!("expected 5 fields, got {}", row.len())));
            };
            let retry_at_ms = match retry_at {
                Value::Null => None,
                other => Some(
                    other
                        .as_i64()
                        .ok_or_else(|| shape("pending row", format!("retry time {other:?}")))?,
                ),
            };
            Ok(PendingEntry {
                offset: offset(id, "pending id")?,
                consumer: text(consumer, "pending consumer")?,
                delivery_count: count32(uint(count, "pending count")?),
                idle_ms: uint(idle, "pending idle")?,
                retry_at_ms,
            })
        })
        .collect()
}

/// The flat reply of a claim (`claim_entries` in `common.lua`):
/// `[id, delivery count, ts, envelope, id, ...]`.
pub(super) fn claimed(value: Value) -> RepoResult<Vec<Delivery>> {
    let items = array(value, "claim reply")?;
    if items.len() % 4 != 0 {
        return Err(shape("claim reply", format!("{} items, not groups of 4", items.len())));
    }
    items
        .chunks_exact(4)
        .map(|item| {
            let [id, count, ts, envelope] = item else {
                return Err(shape("claim reply", "not a group of 4".into()));
            };
            Ok(Delivery {
                record: record(offset(id, "claimed id")?, ts, envelope)?,
                delivery_count: count32(uint(count, "claimed count")?),
            })
        })
        .collect()
}

/// The reply of `redeliver.lua`: `[claimed, expired]`, a claim reply and pending rows.
pub(super) fn redelivery(value: Value) -> RepoResult<Redelivery> {
    let parts = array(value, "redeliver reply")?;
    let Ok([claimed_part, expired]) = <[Value; 2]>::try_from(parts) else {
        return Err(shape("redeliver reply", "expected [claimed, expired]".into()));
    };
    Ok(Redelivery { deliveries: claimed(claimed_part)?, expired: pending(expired)? })
}

/// One line of a failure history, as `fail.lua` writes it.
#[derive(serde::Deserialize)]
struct HistoryLine {
    n: u64,
    at: i64,
    c: String,
    r: String,
}

/// A failure history (a history hash's value, or nil for none): one JSON line per failed
/// delivery, oldest first.
pub(super) fn attempts(value: Value) -> RepoResult<Vec<Attempt>> {
    if value.is_null() {
        return Ok(Vec::new());
    }
    let history = text(&value, "failure history")?;
    history
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let parsed: HistoryLine = serde_json::from_str(line)
                .map_err(|error| shape("failure history", format!("{error}: {line:?}")))?;
            Ok(Attempt {
                delivery_count: count32(parsed.n),
                failed_at_ms: parsed.at,
                consumer: parsed.c,
                reason: parsed.r,
            })
        })
        .collect()
}

/// One entry `[id, [field, value, ...]]`; `None` for an entry without fields, which Redis
/// gives for entries deleted while pending.
/// The repeats of a script's reply (`{record number, original, ...}`, numbers from 1) by
/// record number.
pub(super) fn repeats(items: &[Value]) -> RepoResult<std::collections::HashMap<usize, Original>> {
    if !items.len().is_multiple_of(2) {
        return Err(shape("repeats", format!("{} items, not pairs", items.len())));
    }
    items
        .chunks_exact(2)
        .map(|pair| {
            let at = usize::try_from(uint(&pair[0], "repeat number")?).unwrap_or(usize::MAX);
            Ok((at, original(&text(&pair[1], "idempotency original")?)?))
        })
        .collect()
}

/// What an idempotency key's first record became, as the scripts store it: `a`, message id,
/// offset, timestamp; `s`, message id, due time; `h`, message id; one per line.
pub(super) fn original(stored: &str) -> RepoResult<Original> {
    let bad = || shape("idempotency original", format!("{stored:?}"));
    let fields: Vec<&str> = stored.split('\n').collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.parse::<i64>().ok()).ok_or_else(bad);
    let message_id = fields.get(1).map(|id| (*id).to_owned()).ok_or_else(bad)?;
    match fields.first() {
        Some(&"a") if fields.len() == 4 => Ok(Original::Appended {
            message_id,
            offset: u64::try_from(number(2)?).map_err(|_| bad())?,
            timestamp_ms: number(3)?,
        }),
        Some(&"s") if fields.len() == 3 => {
            Ok(Original::Scheduled { message_id, due_ms: number(2)? })
        }
        Some(&"h") if fields.len() == 2 => Ok(Original::Held { message_id }),
        _ => Err(bad()),
    }
}

fn entry_record(entry: Value) -> RepoResult<Option<Record>> {
    let entry = array(entry, "stream entry")?;
    let [id, fields] = entry.as_slice() else {
        return Err(shape("stream entry", format!("expected [id, fields], got {}", entry.len())));
    };
    if fields.is_null() {
        return Ok(None);
    }
    let Value::Array(fields) = fields else {
        return Err(shape("stream entry", "fields are not an array".into()));
    };
    let field = |name: &str| {
        fields
            .chunks_exact(2)
            .find(|pair| pair[0].as_str().is_some_and(|n| n == name))
            .map(|pair| &pair[1])
    };
    let offset = offset(id, "entry id")?;
    match (field("ts"), field("e")) {
        (Some(ts), Some(envelope)) => record(offset, ts, envelope).map(Some),
        _ => Err(RepoError::Corrupt {
            what: "stream entry",
            detail: format!("offset {offset}: missing field ts or e"),
        }),
    }
}

/// A record from its offset and the values of its `ts` and `e` fields.
fn record(offset: u64, ts: &Value, envelope: &Value) -> RepoResult<Record> {
    let timestamp_ms = ts.as_i64().ok_or_else(|| RepoError::Corrupt {
        what: "stream entry",
        detail: format!("offset {offset}: timestamp {ts:?}"),
    })?;
    let bytes = envelope.as_bytes().ok_or_else(|| RepoError::Corrupt {
        what: "stream entry",
        detail: format!("offset {offset}: envelope is {:?}", envelope.kind()),
    })?;
    envelope::decode(bytes, offset, timestamp_ms)
}

/// Delivery counts are u32 in the model; a count beyond that is saturated, not wrapped.
fn count32(count: u64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

fn shape(what: &'static str, detail: String) -> RepoError {
    RepoError::Corrupt { what, detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewRecord;
    use mq_model::MessageType;

    fn env(id: &str) -> Value {
        let bytes = envelope::encode(NewRecord {
            message_id: id.into(),
            key: None,
            value: b"v".to_vec(),
            headers: Default::default(),
            producer_id: None,
            message_type: MessageType::Normal,
            dedup: None,
        })
        .unwrap();
        Value::Bytes(bytes.into())
    }

    fn entry(id: &str, ts: &str, message: &str) -> Value {
        Value::Array(vec![
            id.into(),
            Value::Array(vec!["ts".into(), ts.into(), "e".into(), env(message)]),
        ])
    }

    #[test]
    fn parses_entries_and_group_reads() {
        let reply = Value::Array(vec![entry("3-1", "100", "a"), entry("4-1", "101", "b")]);
        let records = entries(reply.clone()).unwrap();
        assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(records[1].timestamp_ms, 101);
        assert_eq!(records[1].message_id, "b");

        let read = Value::Array(vec![Value::Array(vec!["key".into(), reply])]);
        let deliveries = group_read(read).unwrap();
        assert_eq!(deliveries.len(), 2);
        assert!(deliveries.iter().all(|d| d.delivery_count == 1));
        assert!(group_read(Value::Null).unwrap().is_empty());
    }

    fn pending_row(id: &str, retry_at: Value) -> Value {
        Value::Array(vec![
            id.into(),
            "c1".into(),
            Value::Integer(1500),
            Value::Integer(2),
            retry_at,
        ])
    }

    #[test]
    fn parses_pending_and_claims() {
        let reply = Value::Array(vec![
            pending_row("5-1", Value::Null),
            pending_row("6-1", Value::Integer(1_700_000_000_123)),
        ]);
        let entry = |offset, retry_at_ms| PendingEntry {
            offset,
            consumer: "c1".into(),
            delivery_count: 2,
            idle_ms: 1500,
            retry_at_ms,
        };
        assert_eq!(pending(reply).unwrap(), [entry(5, None), entry(6, Some(1_700_000_000_123))]);
        let claim = Value::Array(vec!["6-1".into(), Value::Integer(3), "200".into(), env("x")]);
        let deliveries = claimed(claim).unwrap();
        assert_eq!(deliveries[0].record.offset, 6);
        assert_eq!(deliveries[0].delivery_count, 3);
    }

    #[test]
    fn rejects_malformed_replies() {
        for bad in [
            Value::Integer(1),
            Value::Array(vec![Value::Array(vec!["x-1".into(), Value::Array(vec![])])]),
            Value::Array(vec![Value::Array(vec!["1-1".into(), Value::Array(vec![])])]),
            Value::Array(vec![Value::Array(vec![
                "1-1".into(),
                Value::Array(vec!["ts".into(), "nan".into(), "e".into(), env("a")]),
            ])]),
        ] {
            assert!(matches!(entries(bad.clone()), Err(RepoError::Corrupt { .. })), "{bad:?}");
        }
        assert!(claimed(Value::Array(vec!["1-1".into()])).is_err());
        assert!(pending(Value::Array(vec![pending_row("1-1", "soon".into())])).is_err());
        assert!(redelivery(Value::Array(vec![Value::Array(vec![])])).is_err());
        assert!(attempts("{\"n\":1}\n".into()).is_err());
    }

    #[test]
    fn parses_redeliveries() {
        let claim = Value::Array(vec!["6-1".into(), Value::Integer(3), "200".into(), env("x")]);
        let expired = Value::Array(vec![pending_row("2-1", Value::Null)]);
        let parsed = redelivery(Value::Array(vec![claim, expired])).unwrap();
        assert_eq!(parsed.deliveries.len(), 1);
        assert_eq!(parsed.expired[0].offset, 2);
        let empty = redelivery(Value::Array(vec![Value::Array(vec![]), Value::Array(vec![])]));
        assert_eq!(empty.unwrap(), Redelivery::default());
    }

    #[test]
    fn parses_failure_histories() {
        // As fail.lua writes them: cjson escapes newlines, quotes and slashes in strings.
        let history = concat!(
            r#"{"n":1,"at":1700000000001,"c":"c1","r":"a \"b\"\nc\/d é"}"#,
            "\n",
            r#"{"n":2,"at":-5,"c":"c2","r":""}"#,
            "\n",
        );
        assert_eq!(
            attempts(history.into()).unwrap(),
            [
                Attempt {
                    delivery_count: 1,
                    failed_at_ms: 1_700_000_000_001,
                    consumer: "c1".into(),
                    reason: "a \"b\"\nc/d é".into(),
                },
                Attempt {
                    delivery_count: 2,
                    failed_at_ms: -5,
                    consumer: "c2".into(),
                    reason: String::new(),
                },
            ]
        );
        assert!(attempts(Value::Null).unwrap().is_empty());
    }
}
