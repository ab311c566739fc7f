//! `delay`: how late delayed messages reach consumers that are waiting for them, through the
//! library. 10,000 messages (by default) due evenly over 3 s, starting 2 s after publishing
//! begins; `--consumers` consumers long-poll `fetch` and ack. The lateness of each message runs
//! from its due time to the return of the fetch that handed it over. Beside it: the
//! scheduler's own due -> appended figures (`Broker::delay_stats`), and a baseline measured in
//! the same run by the same consumers: publish -> fetched of normal messages published at the
//! same pace.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use mq_broker::{Broker, FetchRequest, OutgoingMessage};
use tokio::task::JoinSet;

use super::{join_all, lib_topic, GROUP};
use crate::report::{Figure, Outcome};
use crate::setup::Env;
use crate::stats::{now_us, Percentiles};

/// Messages per publish call.
const BATCH: usize = 1_000;
/// A phase that has not seen every message by then is reported as incomplete.
const PHASE_TIMEOUT: Duration = Duration::from_secs(90);
/// The header carrying each message's reference time, in microseconds since the epoch: its due
/// time, or for the baseline the moment its publish call started.
const REFERENCE: &str = "reference_us";

/// What a publisher reports: a note for the reader, and how many messages it scheduled.
type Published = (Option<String>, u64);

/// When delayed messages fall due: the first `lead_ms` after publishing starts (so that all
/// are scheduled before any is due), the rest evenly over `spread_ms`.
#[derive(Debug, Clone, Copy)]
struct Timing {
    lead_ms: i64,
    spread_ms: i64,
}

pub async fn run(env: &mut Env) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::new("delay");
    let count = env.options.count(10_000, 200) as usize;
    let timing = if env.options.smoke {
        Timing { lead_ms: 1_000, spread_ms: 500 }
    } else {
        Timing { lead_ms: 2_000, spread_ms: 3_000 }
    };
    let broker = env.broker().await?;
    let consumers = env.options.consumers;

    let topic = lib_topic(env, &broker, "baseline").await?;
    let baseline = phase(
        &broker,
        &topic,
        count,
        consumers,
        publish_normal(broker.clone(), topic.clone(), count, timing),
    )
    .await?;
    broker.delete_topic(&topic).await?;
    let topic = lib_topic(env, &broker, "delayed").await?;
    let ((note, scheduled), delayed) = phase(
        &broker,
        &topic,
        count,
        consumers,
        publish_delayed(broker.clone(), topic.clone(), count, timing),
    )
    .await?;
    broker.delete_topic(&topic).await?;
    let stats = broker.delay_stats();
    broker.shutdown().await;

    let d = Percentiles::of(delayed);
    outcome.figures.push(Figure::ms("delayed: due -> fetched p50", d.p50));
    outcome.figures.push(Figure::ms("delayed: due -> fetched p99", d.p99));
    outcome.figures.push(Figure::ms("delayed: due -> fetched max", d.max));
    let l = stats.lateness_ms;
    outcome.figures.push(Figure::ms("scheduler: due -> appended p50", l.p50 as f64));
    outcome.figures.push(Figure::ms("scheduler: due -> appended p99", l.p99 as f64));
    outcome.figures.push(Figure::ms("scheduler: due -> appended max", l.max as f64));
    let b = Percentiles::of(baseline.1);
    outcome.figures.push(Figure::ms("baseline: publish -> fetched p50", b.p50));
    outcome.figures.push(Figure::ms("baseline: publish -> fetched p99", b.p99));
    outcome.figures.push(Figure::ms("baseline: publish -> fetched max", b.max));
    outcome.count("delayed.published", count as u64);
    outcome.count("delayed.delivered", d.count as u64);
    // Messages whose due time had passed by the time they were published (a stalled machine)
    // are appended at once, not scheduled: the scheduler fires exactly the scheduled ones.
    outcome.count("delayed.scheduled", scheduled);
    outcome.count("delayed.fired", stats.fired_total);
    outcome.count("baseline.published", count as u64);
    outcome.count("baseline.delivered", b.count as u64);
    for (what, got) in [("baseline", b.count), ("delayed", d.count)] {
        if got < count {
            outcome.notes.push(format!(
                "{what}: only {got} of {count} messages arrived within {PHASE_TIMEOUT:?}"
            ));
        }
    }
    if let Some(note) = note {
        outcome.notes.push(note);
    }
    Ok(outcome)
}

/// Consumers on `topic` while `publish` runs; what the publisher reports (a note, how many
/// messages were scheduled), and the latencies the
/// consumers saw, in milliseconds.
async fn phase(
    broker: &Broker,
    topic: &str,
    count: usize,
    consumers: usize,
    publish: impl std::future::Future<Output = anyhow::Result<Published>>,
) -> anyhow::Result<(Published, Vec<f64>)> {
    let received = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let deadline = Instant::now() + PHASE_TIMEOUT;
    let mut tasks = JoinSet::new();
    for n in 0..consumers {
        let (broker, received, samples) = (broker.clone(), received.clone(), samples.clone());
        let request = FetchRequest {
            topic_name: topic.to_owned(),
            group_id: GROUP.to_owned(),
            consumer_id: format!("consumer-{n}"),
            max_messages: 1_000,
            wait: Duration::from_secs(1),
        };
        tasks.spawn(async move {
            while received.load(Ordering::Relaxed) < count && Instant::now() < deadline {
                let batch = broker.fetch(&request).await?;
                // Every message of a batch became available to this consumer when the fetch
                // returned.
                let now = now_us();
                let late: Vec<f64> = batch
                    .iter()
                    .filter_map(|m| m.message.headers.get(REFERENCE)?.parse::<i64>().ok())
                    .map(|reference| (now - reference) as f64 / 1_000.0)
                    .collect();
                received.fetch_add(batch.len(), Ordering::Relaxed);
                lock(&samples).extend(late);
                let receipts: Vec<String> = batch.into_iter().map(|m| m.receipt).collect();
                if !receipts.is_empty() {
                    broker.ack(&request.topic_name, GROUP, &receipts).await?;
                }
            }
            anyhow::Ok(())
        });
    }
    let note = publish.await?;
    join_all(tasks).await?;
    let samples = std::mem::take(&mut *lock(&samples));
    Ok((note, samples))
}

/// Normal messages at the pace the delayed ones fall due: a batch of 100 every few ms.
async fn publish_normal(
    broker: Broker,
    topic: String,
    count: usize,
    timing: Timing,
) -> anyhow::Result<Published> {
    let batch = 100;
    let batches = count.div_ceil(batch);
    let pause = Duration::from_millis(timing.spread_ms as u64 / batches.max(1) as u64);
    for b in 0..batches {
        let start = now_us();
        let messages = (b * batch..((b + 1) * batch).min(count))
            .map(|i| {
                let mut message = OutgoingMessage::new(i.to_string());
                message.headers.insert(REFERENCE.to_owned(), start.to_string());
                message
            })
            .collect();
        broker.publish_batch(&topic, messages).await?;
        tokio::time::sleep(pause).await;
    }
    Ok((None, 0))
}

/// Delayed messages due evenly over the spread, from the lead on.
async fn publish_delayed(
    broker: Broker,
    topic: String,
    count: usize,
    timing: Timing,
) -> anyhow::Result<Published> {
    let started = Instant::now();
    let first_ms = Utc::now().timestamp_millis() + timing.lead_ms;
    let mut scheduled = 0;
    let bar = crate::progress::bar(count as u64, "scheduling delayed messages");
    for chunk in (0..count).collect::<Vec<_>>().chunks(BATCH) {
        let messages = chunk
            .iter()
            .map(|&i| {
                let due_ms = first_ms + (i as i64) * timing.spread_ms / (count as i64).max(1);
                let mut message = OutgoingMessage::new(i.to_string()).deliver_at(time(due_ms));
                message.headers.insert(REFERENCE.to_owned(), (due_ms * 1_000).to_string());
                message
            })
            .collect();
        let published = broker.publish_batch(&topic, messages).await?;
        scheduled += published.iter().filter(|p| p.is_scheduled()).count() as u64;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let took = started.elapsed();
    let note = (took > Duration::from_millis(timing.lead_ms as u64)).then(|| {
        format!("scheduling took {took:?}, more than the {} ms lead: early messages were due before they were scheduled", timing.lead_ms)
    });
    Ok((note, scheduled))
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
