//! Micro-benchmark of the stored form of a message on Redis: the bincode envelope (the `e`
//! field of a stream entry) encoded and decoded. `cargo bench -p mq-repo`.
//!
//! Baselines in the same run: the same fields as a JSON object with serde_json (the value as
//! text), the format the envelope could have been; and the same bincode bytes with the value
//! driven through serde as a sequence of `u8` (`SeqEnvelope`), as the envelope did before its
//! value became a byte string.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mq_model::MessageType;
use mq_repo::__bench::{decode_envelope, encode_envelope};
use mq_repo::NewRecord;
use serde::{Deserialize, Serialize};

/// The envelope's fields as a JSON document.
#[derive(Serialize, Deserialize)]
struct JsonEnvelope {
    message_id: String,
    key: Option<String>,
    value: String,
    headers: BTreeMap<String, String>,
    producer_id: Option<String>,
    message_type: u8,
}

/// The envelope as it was declared before: the value a plain `Vec<u8>`, the same bytes.
#[derive(Serialize, Deserialize)]
enum SeqEnvelope {
    V1(SeqEnvelopeV1),
}

#[derive(Serialize, Deserialize)]
struct SeqEnvelopeV1 {
    message_id: String,
    key: Option<String>,
    value: Vec<u8>,
    headers: BTreeMap<String, String>,
    producer_id: Option<String>,
    message_type: u8,
}

fn seq_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 512 * 1024 * 1024 }>()
}

fn as_seq(record: &NewRecord) -> SeqEnvelope {
    SeqEnvelope::V1(SeqEnvelopeV1 {
        message_id: record.message_id.clone(),
        key: record.key.clone(),
        value: record.value.clone(),
        headers: record.headers.clone(),
        producer_id: record.producer_id.clone(),
        message_type: 0,
    })
}

fn record(size: usize) -> NewRecord {
    NewRecord {
        message_id: "msg_0190b6a48c1e7d2a9f3b1a2b3c4d5e6f".to_owned(),
        key: Some("user_123456".to_owned()),
        // JSON text, as the REST API stores it.
        value: format!("\"{}\"", "x".repeat(size.saturating_sub(2))).into_bytes(),
        headers: BTreeMap::from([
            ("source".to_owned(), "checkout".to_owned()),
            ("trace".to_owned(), "4bf92f3577b34da6".to_owned()),
        ]),
        producer_id: None,
        message_type: MessageType::Normal,
        dedup: None,
    }
}

fn as_json(record: &NewRecord) -> JsonEnvelope {
    JsonEnvelope {
        message_id: record.message_id.clone(),
        key: record.key.clone(),
        value: String::from_utf8_lossy(&record.value).into_owned(),
        headers: record.headers.clone(),
        producer_id: record.producer_id.clone(),
        message_type: 0,
    }
}

fn envelope(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    for size in [200usize, 4_096] {
        let record = record(size);
        let bytes = encode_envelope(record.clone()).unwrap_or_default();
        let json = serde_json::to_vec(&as_json(&record)).unwrap_or_default();
        group.throughput(Throughput::Bytes(size as u64));
        // The clone is part of both sides: encoding takes the record by value.
        group.bench_with_input(BenchmarkId::new("bincode_encode", size), &record, |b, r| {
            b.iter(|| encode_envelope(black_box(r.clone())));
        });
        group.bench_with_input(BenchmarkId::new("bincode_decode", size), &bytes, |b, bytes| {
            b.iter(|| decode_envelope(black_box(bytes)));
        });
        assert_eq!(
            bincode::serde::encode_to_vec(as_seq(&record), seq_config()).unwrap_or_default(),
            bytes,
            "the baseline writes the same bytes"
        );
        // Built from the record on each iteration, as the real encoder is.
        group.bench_with_input(BenchmarkId::new("baseline_seq_encode", size), &record, |b, r| {
            b.iter(|| bincode::serde::encode_to_vec(as_seq(black_box(r)), seq_config()));
        });
        group.bench_with_input(
            BenchmarkId::new("baseline_seq_decode", size),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    bincode::serde::decode_from_slice::<SeqEnvelope, _>(
                        black_box(bytes),
                        seq_config(),
                    )
                });
            },
        );
        let doc = as_json(&record);
        group.bench_with_input(BenchmarkId::new("baseline_json_encode", size), &doc, |b, d| {
            b.iter(|| serde_json::to_vec(black_box(d)));
        });
        group.bench_with_input(BenchmarkId::new("baseline_json_decode", size), &json, |b, j| {
            b.iter(|| serde_json::from_slice::<JsonEnvelope>(black_box(j)));
        });
    }
    group.finish();
}

criterion_group!(benches, envelope);
criterion_main!(benches);
