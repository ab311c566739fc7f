//! Micro-benchmarks of the REST API's JSON shapes on the hot paths. `cargo bench -p mq-api`.
//!
//! - `parse_batch`: a `POST /messages/batch` body of 100 messages (200-byte values) read as the
//!   extractor does (syntax check, shape, messages to publish); baseline: the same with the
//!   field path tracked on every field (`serde_path_to_error`), as before the fast path.
//! - `render_consumed`: the `data` of a `POST /consume` answer with 100 deliveries; baseline:
//!   the same messages as a `serde_json::Value` tree, the generic way.

use std::collections::BTreeMap;
use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mq_api::__bench::{parse_batch, parse_batch_tracked, render_consumed};
use mq_broker::{ReceivedMessage, StoredMessage};
use mq_model::MessageType;

const MESSAGES: usize = 100;

fn batch_body() -> Vec<u8> {
    let value = format!("{{\"order\":\"{}\",\"amount\":12.5}}", "x".repeat(170));
    let messages: Vec<String> = (0..MESSAGES)
        .map(|i| {
            format!(
                "{{\"key\":\"user_{i}\",\"value\":{value},\"headers\":{{\"source\":\"checkout\"}}}}"
            )
        })
        .collect();
    format!("{{\"topicName\":\"orders\",\"messages\":[{}]}}", messages.join(",")).into_bytes()
}

fn deliveries() -> Vec<ReceivedMessage> {
    let value = format!("{{\"order\":\"{}\",\"amount\":12.5}}", "x".repeat(170)).into_bytes();
    (0..MESSAGES as u64)
        .map(|i| ReceivedMessage {
            message: StoredMessage {
                message_id: format!("msg_0190b6a48c1e7d2a9f3b1a2b3c4d{i:04}"),
                topic_name: "orders".to_owned(),
                partition: 3,
                offset: 1_000 + i,
                key: Some(format!("user_{i}")),
                value: value.clone(),
                headers: BTreeMap::from([("source".to_owned(), "checkout".to_owned())]),
                timestamp: Utc.timestamp_millis_opt(1_700_000_000_000).single().unwrap_or_default(),
                producer_id: None,
                message_type: MessageType::Normal,
            },
            receipt: "AQXL4eDs7ZAjAw".to_owned(),
            delivery_count: 1,
        })
        .collect()
}

/// The baseline of `render_consumed`: each message built as a `serde_json::Value` first.
fn render_as_values(messages: Vec<ReceivedMessage>) -> Vec<u8> {
    let values: Vec<serde_json::Value> = messages
        .into_iter()
        .map(|r| {
            let m = r.message;
            let value: serde_json::Value = serde_json::from_slice(&m.value).unwrap_or_default();
            serde_json::json!({
                "messageId": m.message_id, "receipt": r.receipt, "topicName": m.topic_name,
                "partition": m.partition, "offset": m.offset, "key": m.key, "value": value,
                "headers": m.headers, "timestamp": m.timestamp,
                "deliveryCount": r.delivery_count, "messageType": m.message_type,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "messages": values })).unwrap_or_default()
}

fn json(c: &mut Criterion) {
    let body = batch_body();
    assert_eq!(parse_batch(&body), Some(MESSAGES), "the body is a valid batch");
    let mut group = c.benchmark_group("api");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function("parse_batch", |b| b.iter(|| parse_batch(black_box(&body))));
    group.bench_function("baseline_parse_batch_tracked", |b| {
        b.iter(|| parse_batch_tracked(black_box(&body)));
    });
    let messages = deliveries();
    group.bench_function("render_consumed", |b| {
        b.iter_batched(
            || messages.clone(),
            |m| render_consumed(black_box(m)),
            criterion::BatchSize::SmallInput,
        );
    });
    group.bench_function("baseline_render_as_values", |b| {
        b.iter_batched(
            || messages.clone(),
            |m| render_as_values(black_box(m)),
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, json);
criterion_main!(benches);
