//! `subscribe`: run an async handler for each message of a group, acking on `Ok` and nacking on
//! `Err` (retried after the group's backoff, or dead-lettered when the handler says so), with
//! bounded concurrency and a clean stop.
//!
//! In shared groups acks are coalesced: a handler that succeeds hands its receipt to one acker
//! task per subscription, which acks whatever has gathered in one call (up to [`crate::MAX_FETCH`]
//! receipts), so a busy subscription costs one store round trip per batch rather than per
//! message. The acker drains before the subscription leaves the group; an ack that fails or
//! never happens (a crash) only means the message is delivered again after its ack timeout.
//! Ordered groups ack each message before the next of its partition runs, since the broker
//! delivers nothing past an offset still in flight.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mq_model::DeliveryMode;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::{Broker, BrokerError, FetchRequest, Nack, ReceivedMessage};

/// What a handler returns when it could not process a message; its text becomes the nack
/// reason. The message is retried after the group's backoff, unless the error is a
/// [`DoNotRetry`] (straight to the dead letters) or a [`RetryAfter`] (retried after the pause
/// it names).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// A handler error saying the message can never be processed (a malformed payload, say): it
/// becomes a dead letter at once instead of being retried.
///
/// ```
/// # use mq_broker::{DoNotRetry, HandlerError};
/// fn check(value: &[u8]) -> Result<(), HandlerError> {
///     if value.is_empty() {
///         return Err(DoNotRetry::new("empty payload").into());
///     }
///     Ok(())
/// }
/// assert!(check(b"").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DoNotRetry {
    /// Why; the dead letter's `failureReason`.
    pub reason: String,
}

impl DoNotRetry {
    /// An error with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into() }
    }
}

/// A handler error asking for a retry after `delay` instead of the group's backoff (a
/// downstream service said when to come back, say). The retry still counts against
/// `maxRetries`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RetryAfter {
    /// How long to wait.
    pub delay: Duration,
    /// Why.
    pub reason: String,
}

impl RetryAfter {
    /// An error asking for a retry after `delay`.
    pub fn new(delay: Duration, reason: impl Into<String>) -> Self {
        Self { delay, reason: reason.into() }
    }
}

/// The nack a handler error asks for.
fn nack_for(error: &HandlerError) -> Nack {
    if error.downcast_ref::<DoNotRetry>().is_some() {
        return Nack { reason: Some(error.to_string()), delay: None, dead_letter: true };
    }
    let delay = error.downcast_ref::<RetryAfter>().map(|retry| retry.delay);
    Nack { reason: Some(error.to_string()), delay, dead_letter: false }
}

/// How a subscription fetches and runs its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// This consumer's id within the group.
    pub consumer_id: String,
    /// Most handlers running at once (default 16). In an `ordered` group the messages of one
    /// partition still run one after another.
    pub concurrency: usize,
    /// Long-poll wait of each fetch (default 5 s).
    pub wait: Duration,
    /// Pause after a failed fetch before the next (default 1 s).
    pub retry_after: Duration,
}

impl SubscribeOptions {
    /// Defaults for a consumer with this id.
    pub fn new(consumer_id: impl Into<String>) -> Self {
        Self {
            consumer_id: consumer_id.into(),
            concurrency: 16,
            wait: Duration::from_secs(5),
            retry_after: Duration::from_secs(1),
        }
    }
}

/// A running subscription; [`stop`](Self::stop) ends it cleanly.
#[derive(Debug)]
pub struct Subscription {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Subscription {
    /// Stops fetching, waits for running handlers to finish and settle their messages, and
    /// leaves the group.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "subscription task ended abnormally");
        }
    }
}

impl Broker {
    /// Runs `handler` for every message the group delivers to `options.consumer_id`: `Ok`
    /// acks; `Err` nacks, so the message is delivered again after the group's backoff until
    /// its retries run out and it becomes a dead letter ([`DoNotRetry`] makes it one at once;
    /// [`RetryAfter`] picks the pause). Ends on [`Subscription::stop`] or broker shutdown.
    pub fn subscribe<H, Fut>(
        &self,
        topic: &str,
        group: &str,
        options: SubscribeOptions,
        handler: H,
    ) -> Subscription
    where
        H: Fn(ReceivedMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let runner = Runner {
            broker: self.clone(),
            topic: topic.to_owned(),
            group: group.to_owned(),
            options,
            handler: Arc::new(handler),
        };
        Subscription { stop, task: tokio::spawn(runner.run(stopped)) }
    }
}

struct Runner<H> {
    broker: Broker,
    topic: String,
    group: String,
    options: SubscribeOptions,
    handler: Arc<H>,
}

impl<H, Fut> Runner<H>
where
    H: Fn(ReceivedMessage) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let concurrency = self.options.concurrency.max(1);
        let permits = Arc::new(Semaphore::new(concurrency));
        // Room for a few fetches' worth of receipts; a full queue holds handlers back.
        let (acks, queued) = mpsc::channel(crate::MAX_FETCH.max(concurrency) * 2);
        let acker = tokio::spawn(ack_batches(
            self.broker.clone(),
            self.topic.clone(),
            self.group.clone(),
            queued,
        ));
        let mut running = JoinSet::new();
        let mut broker_down = self.broker.shutdown_signal();
        let ordered = matches!(
            self.broker.get_group(&self.topic, &self.group).await.map(|g| g.delivery_mode),
            Ok(DeliveryMode::Ordered)
        );
        loop {
            if *stopped.borrow() || self.broker.is_shutting_down() {
                break;
            }
            // Reap finished handlers so the set does not grow.
            while running.try_join_next().is_some() {}
            let free = permits.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = running.join_next() => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            let request = FetchRequest {
                topic_name: self.topic.clone(),
                group_id: self.group.clone(),
                consumer_id: self.options.consumer_id.clone(),
                max_messages: free.min(crate::MAX_FETCH),
                wait: self.options.wait,
            };
            let fetched = tokio::select! {
                result = self.broker.fetch(&request) => result,
                _ = stopped.changed() => break,
                _ = broker_down.changed() => break,
            };
            let messages = match fetched {
                Ok(messages) => messages,
                Err(BrokerError::ShuttingDown) => break,
                Err(error) => {
                    tracing::warn!(%error, topic = %self.topic, group = %self.group, "subscription fetch failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(self.options.retry_after) => {}
                        _ = stopped.changed() => {}
                    }
                    continue;
                }
            };
            // In an ordered group one partition's messages run in order, one task each.
            let mut lanes: BTreeMap<u32, Vec<ReceivedMessage>> = BTreeMap::new();
            let mut singles = Vec::new();
            for message in messages {
                if ordered {
                    lanes.entry(message.message.partition).or_default().push(message);
                } else {
                    singles.push(vec![message]);
                }
            }
            for lane in lanes.into_values().chain(singles) {
                let Ok(permit) = permits.clone().acquire_many_owned(1).await else { break };
                let (broker, topic, group, handler, acks) = (
                    self.broker.clone(),
                    self.topic.clone(),
                    self.group.clone(),
                    self.handler.clone(),
                    // Ordered: a deferred ack would hold back the partition's next fetch.
                    (!ordered).then(|| acks.clone()),
                );
                running.spawn(async move {
                    let mut lane = lane.into_iter();
                    while let Some(message) = lane.next() {
                        if !settle(&broker, &topic, &group, &*handler, acks.as_ref(), message).await
                        {
                            // In an ordered partition nothing may overtake a failed message:
                            // the rest of the batch goes back, to come after its retry.
                            let rest: Vec<String> = lane.map(|m| m.receipt).collect();
                            give_back(&broker, &topic, &group, &rest).await;
                            break;
                        }
                    }
                    drop(permit);
                });
            }
        }
        while running.join_next().await.is_some() {}
        // Every handler is done: the acker drains what they queued and ends.
        drop(acks);
        if let Err(error) = acker.await {
            tracing::warn!(%error, "the acker of a subscription failed; unacked messages are redelivered");
        }
        if let Err(error) =
            self.broker.leave(&self.topic, &self.group, &self.options.consumer_id).await
        {
            tracing::warn!(%error, "could not leave the group; it is dropped after its session timeout");
        }
    }
}

/// Runs the handler on one message and settles it: on `Ok` queues its receipt for the acker
/// (`acks`) or, without one, acks it at once; on `Err` nacks it at once. Returns whether the
/// handler succeeded.
async fn settle<H, Fut>(
    broker: &Broker,
    topic: &str,
    group: &str,
    handler: &H,
    acks: Option<&mpsc::Sender<String>>,
    message: ReceivedMessage,
) -> bool
where
    H: Fn(ReceivedMessage) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    let receipt = message.receipt.clone();
    let outcome = handler(message).await;
    let settled = match (&outcome, acks) {
        (Ok(()), Some(acks)) => {
            // The acker outlives every handler, so the queue is open; were it not, the
            // message would come back after its ack timeout.
            let _ = acks.send(receipt).await;
            return true;
        }
        (Ok(()), None) => broker.ack(topic, group, &[receipt]).await,
        (Err(error), _) => broker.nack(topic, group, &[receipt], &nack_for(error)).await,
    };
    // An unsettled message is delivered again after the ack timeout, so nothing is lost.
    if let Err(error) = settled {
        tracing::warn!(%error, topic, group, "could not settle a message; it will be redelivered");
    }
    outcome.is_ok()
}

/// The acker of a subscription: acks the receipts handlers queue, as many per call as have
/// gathered (up to [`crate::MAX_FETCH`]), until every sender is gone and the queue is empty.
async fn ack_batches(
    broker: Broker,
    topic: String,
    group: String,
    mut queued: mpsc::Receiver<String>,
) {
    let mut batch = Vec::new();
    while queued.recv_many(&mut batch, crate::MAX_FETCH).await > 0 {
        // An unacked message is delivered again after the ack timeout: nothing is lost.
        if let Err(error) = broker.ack(&topic, &group, &batch).await {
            tracing::warn!(%error, topic, group, count = batch.len(), "could not ack messages; they will be redelivered");
        }
        batch.clear();
    }
}

/// Releases deliveries the subscription will not process.
async fn give_back(broker: &Broker, topic: &str, group: &str, receipts: &[String]) {
    if receipts.is_empty() {
        return;
    }
    if let Err(error) = broker.release(topic, group, receipts).await {
        tracing::warn!(%error, topic, group, "could not release messages; they come back after the ack timeout");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_errors_choose_the_nack() {
        let plain: HandlerError = "boom".into();
        assert_eq!(nack_for(&plain), Nack::because("boom"));
        let never: HandlerError = DoNotRetry::new("bad json").into();
        assert_eq!(
            nack_for(&never),
            Nack { reason: Some("bad json".into()), delay: None, dead_letter: true }
        );
        let later: HandlerError = RetryAfter::new(Duration::from_secs(3), "busy").into();
        assert_eq!(
            nack_for(&later),
            Nack {
                reason: Some("busy".into()),
                delay: Some(Duration::from_secs(3)),
                dead_letter: false
            }
        );
    }
}
