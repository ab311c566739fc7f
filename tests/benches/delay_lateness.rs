//! Benchmark, not a test: how late delayed messages reach consumers that are waiting for them.
//!
//! `cargo bench -p mq-tests --bench delay_lateness` runs it on the in-memory stores and on a
//! Redis (+ MongoDB-wire metadata) started by `mq-testkit`, through the `mq_broker` library.
//! For each backend it publishes 10,000 messages due over about 3 s, lets four consumers
//! long-poll for them, and reports the lateness of each message, from its due time to the
//! moment a consumer's fetch handed it over: p50, p99 and max. Next to it stand the
//! scheduler's own figures (`delay_stats()`: due -> appended) and a baseline measured in the
//! same run with the same consumers: the latency from publish call to fetch of normal
//! messages. The ratios say how much later than a plain publish a delayed message arrives.
//!
//! Set `MQBENCH_MESSAGES` to change the count (default 10,000).
// A benchmark reports to the person running it.
#![allow(clippy::print_stdout)]
// A benchmark that cannot set up its fixtures has nothing to report: it stops with the reason.
#![allow(clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use mq_broker::{Broker, FetchRequest, GroupSpec, OutgoingMessage, ReceivedMessage};
use mq_model::{StartFrom, TopicConfig};
use tokio::task::JoinSet;

/// Consumers long-polling in each phase.
const CONSUMERS: usize = 4;
/// Partitions of each topic.
const PARTITIONS: u32 = 4;
/// Messages per publish call.
const BATCH: usize = 1_000;
/// Delayed messages fall due over this span.
const SPREAD_MS: i64 = 3_000;
/// And the first one this long after publishing starts, so that all are scheduled before any
/// is due.
const LEAD_MS: i64 = 2_000;
/// A phase that has not seen every message by then is reported as incomplete.
const PHASE_TIMEOUT: Duration = Duration::from_secs(90);
/// The header carrying each message's reference time, in microseconds since the epoch: its due
/// time, or for the baseline the moment its publish call started.
const REFERENCE: &str = "reference_us";

#[tokio::main]
async fn main() {
    let count =
        std::env::var("MQBENCH_MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000_usize);
    println!("delay lateness: {count} messages due within {SPREAD_MS} ms, {CONSUMERS} consumers with long polls, {PARTITIONS} partitions");

    let memory = mq_tests::memory_broker().await;
    memory.broker.start_background();
    run("memory", &memory.broker, count).await;
    memory.broker.shutdown().await;

    // Redis holds the schedule and the logs; metadata sits in a MongoDB-wire server, as in a
    // deployment.
    let durable = mq_tests::real_broker().await;
    run("redis", &durable.broker, count).await;
    durable.broker.shutdown().await;
}

/// Both phases on one broker, and the report.
async fn run(backend: &str, broker: &Broker, count: usize) {
    println!("\n[{backend}]");
    let baseline = phase(broker, "baseline", count, publish_normal).await;
    let delayed = phase(broker, "delayed", count, publish_delayed).await;
    let stats = broker.delay_stats();

    println!("  {:<40} {:>9} {:>9} {:>9} {:>7}", "", "p50 ms", "p99 ms", "max ms", "count");
    row("baseline: publish -> fetched (normal)", &baseline);
    row("delayed: due -> fetched", &delayed);
    let lateness = stats.lateness_ms;
    println!(
        "  {:<40} {:>9} {:>9} {:>9} {:>7}",
        "scheduler: due -> appended (delay_stats)",
        lateness.p50,
        lateness.p99,
        lateness.max,
        lateness.count
    );
    println!(
        "  ratio delayed / baseline: p50 {:.2}, p99 {:.2}, max {:.2}",
        ratio(delayed.p50, baseline.p50),
        ratio(delayed.p99, baseline.p99),
        ratio(delayed.max, baseline.max)
    );
    println!(
        "  scheduler fired {} messages; {} left in its wheel",
        stats.fired_total, stats.wheel_len
    );
}

/// One topic, its group, the consumers, and a publisher; the latencies the consumers saw.
async fn phase<F, Fut>(broker: &Broker, topic: &str, count: usize, publish: F) -> Summary
where
    F: FnOnce(Broker, String, usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    broker
        .create_topic(
            TopicConfig { partitions: PARTITIONS, ..broker.topic_defaults(topic) },
            "bench",
        )
        .await
        .expect("create the topic");
    let group = GroupSpec { start_from: StartFrom::Earliest, ..GroupSpec::new(topic, "bench") };
    broker.create_group(group).await.expect("create the group");

    let received = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let deadline = Instant::now() + PHASE_TIMEOUT;
    let mut consumers = JoinSet::new();
    for n in 0..CONSUMERS {
        let (broker, received, samples) = (broker.clone(), received.clone(), samples.clone());
        let request = FetchRequest {
            topic_name: topic.to_owned(),
            group_id: "bench".to_owned(),
            consumer_id: format!("consumer-{n}"),
            max_messages: 1_000,
            wait: Duration::from_secs(1),
        };
        consumers.spawn(async move {
            while received.load(Ordering::Relaxed) < count && Instant::now() < deadline {
                let batch = broker.fetch(&request).await.expect("fetch");
                // Every message of a batch became available to this consumer when the fetch
                // returned.
                let now_us = now_us();
                let late: Vec<f64> =
                    batch.iter().map(|m| (now_us - reference_us(m)) as f64 / 1_000.0).collect();
                received.fetch_add(batch.len(), Ordering::Relaxed);
                lock(&samples).extend(late);
                let receipts: Vec<String> = batch.into_iter().map(|m| m.receipt).collect();
                if !receipts.is_empty() {
                    broker
                        .ack(&request.topic_name, &request.group_id, &receipts)
                        .await
                        .expect("ack");
                }
            }
        });
    }
    publish(broker.clone(), topic.to_owned(), count).await;
    while let Some(joined) = consumers.join_next().await {
        joined.expect("a consumer panicked");
    }
    let samples = std::mem::take(&mut *lock(&samples));
    if samples.len() < count {
        println!(
            "  ({topic}: only {} of {count} messages arrived within {PHASE_TIMEOUT:?})",
            samples.len()
        );
    }
    Summary::of(samples)
}

/// Normal messages at the pace the delayed ones fall due: a batch every few milliseconds.
async fn publish_normal(broker: Broker, topic: String, count: usize) {
    let batch = 100;
    let batches = count.div_ceil(batch);
    let pause = Duration::from_millis(SPREAD_MS as u64 / batches.max(1) as u64);
    for b in 0..batches {
        let start = now_us();
        let messages = (b * batch..((b + 1) * batch).min(count))
            .map(|i| {
                let mut message = OutgoingMessage::new(i.to_string());
                message.headers.insert(REFERENCE.to_owned(), start.to_string());
                message
            })
            .collect();
        broker.publish_batch(&topic, messages).await.expect("publish normal messages");
        tokio::time::sleep(pause).await;
    }
}

/// Delayed messages due evenly over [`SPREAD_MS`], from [`LEAD_MS`] after the start.
async fn publish_delayed(broker: Broker, topic: String, count: usize) {
    let started = Instant::now();
    let first_ms = Utc::now().timestamp_millis() + LEAD_MS;
    for chunk in (0..count).collect::<Vec<_>>().chunks(BATCH) {
        let messages = chunk
            .iter()
            .map(|&i| {
                let due_ms = first_ms + (i as i64) * SPREAD_MS / (count as i64).max(1);
                let mut message = OutgoingMessage::new(i.to_string()).deliver_at(time(due_ms));
                message.headers.insert(REFERENCE.to_owned(), (due_ms * 1_000).to_string());
                message
            })
            .collect();
        broker.publish_batch(&topic, messages).await.expect("publish delayed messages");
    }
    let took = started.elapsed();
    println!("  (scheduled {count} messages in {took:?})");
    if took > Duration::from_millis(LEAD_MS as u64) {
        println!("  (warning: publishing outlasted the {LEAD_MS} ms lead; early messages were due before they were scheduled)");
    }
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().expect("a time in range")
}

fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

fn reference_us(message: &ReceivedMessage) -> i64 {
    message
        .message
        .headers
        .get(REFERENCE)
        .and_then(|t| t.parse().ok())
        .expect("the reference header")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Percentiles (nearest rank) of latencies in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Summary {
    count: usize,
    p50: f64,
    p99: f64,
    max: f64,
}

impl Summary {
    fn of(mut samples: Vec<f64>) -> Summary {
        samples.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index =
                ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len().max(1)) - 1;
            samples.get(index).copied().unwrap_or(f64::NAN)
        };
        Summary { count: samples.len(), p50: rank(0.50), p99: rank(0.99), max: rank(1.0) }
    }
}

fn row(label: &str, s: &Summary) {
    println!("  {label:<40} {:>9.1} {:>9.1} {:>9.1} {:>7}", s.p50, s.p99, s.max, s.count);
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}
