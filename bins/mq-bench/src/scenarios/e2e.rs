//! `e2e`: publish -> delivery latency over HTTP at fixed rates. One producer publishes at
//! `rate` messages per second for `--seconds` (each millisecond what has fallen due: one
//! `POST /messages`, or one `POST /messages/batch` when several have); `--consumers` consumers
//! long-poll `POST /consume` and ack. Each message carries the time its publish request
//! started; the latency is from then to the return of the consume call that delivered it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mq_client::{Client, Consume, Publish};
use tokio::task::JoinSet;

use super::{http_topic, join_all, GROUP};
use crate::report::{Figure, Outcome};
use crate::setup::Env;
use crate::stats::{now_us, rate, Percentiles};

/// The header carrying the publish time, in microseconds since the epoch.
const SENT: &str = "sent_us";
/// How long consumers keep waiting for stragglers after the producer is done.
const GRACE: Duration = Duration::from_secs(30);

pub async fn run(env: &mut Env) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::new("e2e");
    let client = env.client().await?;
    let seconds = if env.options.smoke { 0.5 } else { env.options.seconds };
    for rate_per_s in env.options.rates.clone() {
        let total =
            env.options.messages.unwrap_or((rate_per_s as f64 * seconds).ceil() as u64).max(1);
        let topic = http_topic(env, &client, "e2e").await?;
        let (latencies, published, took) = at_rate(env, &client, &topic, rate_per_s, total).await?;
        let delivered = latencies.len() as u64;
        let p = Percentiles::of(latencies);
        let name = format!("{rate_per_s} msg/s");
        outcome.figures.push(Figure::ms(format!("{name}: publish -> delivered p50"), p.p50));
        outcome.figures.push(Figure::ms(format!("{name}: publish -> delivered p99"), p.p99));
        outcome.figures.push(Figure::ms(format!("{name}: publish -> delivered max"), p.max));
        outcome.figures.push(Figure::new(
            format!("{name}: rate achieved"),
            rate(published, took),
            "msg/s",
            crate::report::Against::Nothing,
        ));
        outcome.count(format!("rate{rate_per_s}.published"), published);
        outcome.count(format!("rate{rate_per_s}.delivered"), delivered);
        if delivered < published {
            outcome.notes.push(format!(
                "{name}: only {delivered} of {published} delivered within {GRACE:?}"
            ));
        }
        client.delete_topic(&topic).await?;
    }
    Ok(outcome)
}

/// Publishes `total` messages at `rate` while the consumers take them; the latencies, how many
/// were published and how long publishing took.
async fn at_rate(
    env: &Env,
    client: &Client,
    topic: &str,
    rate: u64,
    total: u64,
) -> anyhow::Result<(Vec<f64>, u64, Duration)> {
    let samples = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let received = Arc::new(AtomicU64::new(0));
    let publishing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut consumers = JoinSet::new();
    for c in 0..env.options.consumers {
        let (client, samples, received, publishing) =
            (client.clone(), samples.clone(), received.clone(), publishing.clone());
        let request = Consume::new(topic, GROUP, format!("consumer-{c}"))
            .max_messages(1_000)
            .wait(Duration::from_millis(500));
        consumers.spawn(async move {
            let mut stop_at: Option<Instant> = None;
            while received.load(Ordering::Relaxed) < total {
                if !publishing.load(Ordering::Relaxed) {
                    let at = *stop_at.get_or_insert_with(|| Instant::now() + GRACE);
                    if Instant::now() > at {
                        break;
                    }
                }
                let batch = client.consume(&request).await?;
                let now = now_us();
                if batch.is_empty() {
                    continue;
                }
                let late: Vec<f64> = batch
                    .iter()
                    .filter_map(|d| d.headers.get(SENT)?.parse::<i64>().ok())
                    .map(|sent| (now - sent) as f64 / 1_000.0)
                    .collect();
                received.fetch_add(batch.len() as u64, Ordering::Relaxed);
                samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(late);
                let receipts: Vec<String> = batch.into_iter().map(|d| d.receipt).collect();
                client.ack(&request.topic_name, GROUP, &receipts).await?;
            }
            anyhow::Ok(())
        });
    }
    // Let every consumer reach its long poll before the first message.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let value = env.options.json_value();
    let bar = crate::progress::bar(total, &format!("e2e at {rate} msg/s"));
    let started = Instant::now();
    let mut sent = 0_u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while sent < total {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        while sent < due {
            let take = (due - sent).min(1_000);
            let message = Publish::new(value.clone()).header(SENT, now_us().to_string());
            if take == 1 {
                client.publish(topic, &message).await?;
            } else {
                client.publish_batch(topic, &vec![message; take as usize]).await?;
            }
            sent += take;
            bar.inc(take);
        }
    }
    let took = started.elapsed();
    bar.finish_and_clear();
    publishing.store(false, Ordering::Relaxed);
    join_all(consumers).await?;
    let samples =
        std::mem::take(&mut *samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    Ok((samples, sent, took))
}
