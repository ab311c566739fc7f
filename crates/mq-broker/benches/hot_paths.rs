//! Micro-benchmarks of the broker's per-message pure code: the keyed partitioner (Kafka's
//! murmur2) and receipt encoding. `cargo bench -p mq-broker`.
//!
//! Baselines in the same run: std's `DefaultHasher` (SipHash-1-3) of the same key, the usual
//! choice for a hash, and a decimal `format!` of the receipt's three numbers, the simplest
//! text form of a receipt.

use std::hash::{DefaultHasher, Hash, Hasher};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mq_broker::__bench::{decode_receipt, encode_receipt};
use mq_broker::partition_for_key;
use std::hint::black_box;

fn partitioning(c: &mut Criterion) {
    let mut group = c.benchmark_group("partition");
    for key in ["user_123456", "0190b6a4-8c1e-7d2a-9f3b-1a2b3c4d5e6f", &"k".repeat(256)] {
        group.throughput(Throughput::Bytes(key.len() as u64));
        group.bench_with_input(BenchmarkId::new("murmur2", key.len()), key, |b, key| {
            b.iter(|| partition_for_key(black_box(key.as_bytes()), black_box(12)));
        });
        group.bench_with_input(BenchmarkId::new("baseline_siphash", key.len()), key, |b, key| {
            b.iter(|| {
                let mut hasher = DefaultHasher::new();
                black_box(key.as_bytes()).hash(&mut hasher);
                (hasher.finish() % 12) as u32
            });
        });
    }
    group.finish();
}

fn receipts(c: &mut Criterion) {
    let mut group = c.benchmark_group("receipt");
    let (partition, offset, count) = (5, 1_234_567_890_123, 3);
    let text = encode_receipt(partition, offset, count);
    group.bench_function("encode", |b| {
        b.iter(|| encode_receipt(black_box(partition), black_box(offset), black_box(count)));
    });
    group.bench_function("decode", |b| b.iter(|| decode_receipt(black_box(&text))));
    group.bench_function("baseline_decimal_encode", |b| {
        b.iter(|| format!("{}.{}.{}", black_box(partition), black_box(offset), black_box(count)));
    });
    group.finish();
}

criterion_group!(benches, partitioning, receipts);
criterion_main!(benches);
