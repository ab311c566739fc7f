//! Micro-benchmark of the timing wheel: insert 10,000 items due over 3 s (10 ms ticks), then
//! advance tick by tick until all have come out. `cargo bench -p mq-delay`.
//!
//! Baseline in the same run: the same work on std's `BinaryHeap` (a min-heap on due time and
//! insertion order), the obvious alternative.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mq_delay::TimingWheel;

const TICK_MS: u64 = 10;
const SPAN_MS: i64 = 3_000;

/// Due times spread over the span in a scrambled order (a multiplicative hash of the index).
fn dues(n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| (i * 7_919) % SPAN_MS).collect()
}

fn wheel(c: &mut Criterion) {
    let mut group = c.benchmark_group("delay");
    for n in [1_000usize, 10_000] {
        let dues = dues(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("wheel_insert_drain", n), &dues, |b, dues| {
            b.iter(|| {
                let mut wheel = TimingWheel::new(TICK_MS, 0);
                for (i, due) in dues.iter().enumerate() {
                    wheel.insert(*due, i);
                }
                let mut out = 0;
                let mut now = 0;
                while !wheel.is_empty() {
                    now += TICK_MS as i64;
                    out += wheel.advance(now).len();
                }
                black_box(out)
            });
        });
        group.bench_with_input(BenchmarkId::new("baseline_heap", n), &dues, |b, dues| {
            b.iter(|| {
                let mut heap = BinaryHeap::with_capacity(dues.len());
                for (i, due) in dues.iter().enumerate() {
                    heap.push(Reverse((*due, i)));
                }
                let mut out = 0;
                let mut now = 0;
                while !heap.is_empty() {
                    now += TICK_MS as i64;
                    let mut fired = Vec::new();
                    while heap.peek().is_some_and(|Reverse((due, _))| *due <= now) {
                        if let Some(Reverse(entry)) = heap.pop() {
                            fired.push(entry);
                        }
                    }
                    out += fired.len();
                }
                black_box(out)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, wheel);
criterion_main!(benches);
