//! Failed deliveries: retries after the group's backoff, and dead letters once a message has
//! been delivered `maxRetries + 1` times.
//!
//! A delivery fails when it is nacked or its ack timeout runs out. The failure is recorded in
//! the log ([`MessageLog::fail`](mq_repo::MessageLog::fail)): the record stays in the group's
//! pending list, held by the same consumer, waiting until its retry time; fetches then deliver
//! it again (`redeliver`). Nothing leaves the group, so other groups are not affected, and an
//! `ordered` group's partition waits for it, since an ordered partition gets new messages only
//! when nothing of it is pending.
//!
//! When the last allowed delivery fails, the record is first marked as failed with a grace
//! period ([`DEAD_LETTER_GRACE`]) before its retry, then stored as a dead letter, then
//! acknowledged. A crash in between leaves it pending: it is delivered again after the grace,
//! arrives with a delivery count over the limit, and is dead-lettered then instead of being
//! handed out. Dead-letter ids derive from the failure's place, so recording twice is harmless.

use std::collections::BTreeMap;
use std::time::Duration;

use mq_dlq::REDRIVE_GROUP_HEADER;
use mq_model::{ConsumerGroup, Topic};
use mq_repo::{Delivery, Failure, PendingEntry, TopicRef};

use crate::{Broker, BrokerError, BrokerResult};

/// How long a record whose last delivery failed waits before it would be delivered again, in
/// case the broker stops between marking it and storing its dead letter.
pub const DEAD_LETTER_GRACE: Duration = Duration::from_secs(60);

/// Longest reason kept per failed attempt; longer ones are cut (at a character boundary).
pub const MAX_REASON_LEN: usize = 1024;

/// Most milliseconds a nack may ask a redelivery to wait: seven days, as retry policies.
pub const MAX_NACK_DELAY: Duration = Duration::from_millis(mq_model::MAX_BACKOFF_LIMIT_MS as u64);

/// How a negative acknowledgement asks for the message to be handled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nack {
    /// Why processing failed; kept in the message's attempt history and, if it becomes a dead
    /// letter, as its `failureReason`.
    pub reason: Option<String>,
    /// Deliver it again after this long instead of after the group's backoff.
    pub delay: Option<Duration>,
    /// Do not retry: make it a dead letter now.
    pub dead_letter: bool,
}

impl Nack {
    /// A nack with this reason and the group's backoff.
    pub fn because(reason: impl Into<String>) -> Self {
        Self { reason: Some(reason.into()), ..Self::default() }
    }
}

/// What to do after a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// After the group's backoff for this delivery number.
    Policy,
    /// After this long.
    After(Duration),
    /// Never: dead-letter it.
    Never,
}

/// One failed delivery of one partition.
#[derive(Debug, Clone)]
pub(crate) struct Failed {
    pub(crate) offset: u64,
    pub(crate) delivery_count: u32,
    pub(crate) reason: String,
    pub(crate) retry: Retry,
}

fn cut(mut reason: String) -> String {
    if reason.len() > MAX_REASON_LEN {
        let mut end = MAX_REASON_LEN;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

impl Broker {
    /// Records failed deliveries of one partition: each is retried after its backoff or, when
    /// it was the last allowed delivery (or must not be retried), dead-lettered. Returns how
    /// many were still outstanding with the delivery count given.
    pub(crate) async fn fail_deliveries(
        &self,
        topic: &Topic,
        group: &ConsumerGroup,
        partition: u32,
        failed: Vec<Failed>,
    ) -> BrokerResult<u64> {
        let now_ms = self.inner.clock.now_ms();
        let limit = group.retry_policy.max_deliveries();
        let mut retries = Vec::new();
        let mut last = Vec::new();
        for f in failed {
            let reason = cut(f.reason);
            let delay = match f.retry {
                Retry::Never => None,
                _ if f.delivery_count >= limit => None,
                Retry::After(delay) => Some(delay),
                Retry::Policy => Some(mq_dlq::retry_delay(&group.retry_policy, f.delivery_count)),
            };
            let failure = |delay: Duration| Failure {
                offset: f.offset,
                delivery_count: f.delivery_count,
                failed_at_ms: now_ms,
                retry_at_ms: now_ms.saturating_add(millis(delay)),
                reason: reason.clone(),
            };
            match delay {
                Some(delay) => retries.push(failure(delay)),
                None => last.push(failure(DEAD_LETTER_GRACE)),
            }
        }
        let (t, g) = (topic.name.as_str(), group.group_id.as_str());
        let at = TopicRef::from(topic);
        let mut recorded = self.inner.log.fail(at, partition, g, &retries).await?;
        self.inner.metrics.retried.with_label_values(&[t, g]).inc_by(recorded);
        for failure in last {
            // One at a time: only a failure the log took (still outstanding with that count)
            // may be dead-lettered.
            if self.inner.log.fail(at, partition, g, std::slice::from_ref(&failure)).await? == 1 {
                recorded += 1;
                self.bury(topic, group, partition, failure.offset, failure.delivery_count, None)
                    .await?;
            }
        }
        if !retries.is_empty() {
            tracing::debug!(
                topic = t,
                group = g,
                partition,
                retries = retries.len(),
                "deliveries failed; retrying after backoff"
            );
            // A zero backoff makes a message available at once.
            self.inner.published.notify_waiters();
        }
        Ok(recorded)
    }

    /// Stores the pending record at `offset` (delivered `delivery_count` times) as a dead
    /// letter with its attempt history and acknowledges it, so the group moves on.
    async fn bury(
        &self,
        topic: &Topic,
        group: &ConsumerGroup,
        partition: u32,
        offset: u64,
        delivery_count: u32,
        reason: Option<&str>,
    ) -> BrokerResult<()> {
        let (t, g) = (topic.name.as_str(), group.group_id.as_str());
        let at = TopicRef::from(topic);
        let log = self.inner.log.as_ref();
        let record = log.read_range(at, partition, offset, 1).await?.into_iter().next();
        let Some(record) = record.filter(|r| r.offset == offset) else {
            // Trimmed away by retention meanwhile: nothing left to keep.
            tracing::warn!(
                topic = t,
                group = g,
                partition,
                offset,
                "a failed message was trimmed before it could be dead-lettered"
            );
            log.ack_deliveries(at, partition, g, &[(offset, delivery_count)]).await?;
            return Ok(());
        };
        let attempts = log.attempts(at, partition, g, offset).await?;
        let dead = mq_dlq::dead_letter(
            t,
            partition,
            g,
            &record,
            delivery_count,
            &attempts,
            reason,
            self.inner.clock.now(),
        );
        let (id, why) = (dead.id.clone(), dead.failure_reason.clone());
        if let mq_dlq::Recorded::Reduced { why: refusal } =
            self.inner.dead_letters.record(dead).await?
        {
            self.inner.metrics.dead_letters_reduced.with_label_values(&[t, g]).inc();
            tracing::error!(
                topic = t,
                group = g,
                partition,
                offset,
                message_id = %record.message_id,
                dead_letter_id = %id,
                error = %refusal,
                "the dead-letter store refused this message whole; its dead letter was stored \
                 without its headers (the whole message stays in the log until retention)"
            );
        }
        if log.ack_deliveries(at, partition, g, &[(offset, delivery_count)]).await? > 0 {
            self.inner.metrics.dead_lettered.with_label_values(&[t, g]).inc();
        }
        tracing::warn!(
            topic = t,
            group = g,
            partition,
            offset,
            message_id = %record.message_id,
            dead_letter_id = %id,
            deliveries = delivery_count,
            reason = %why,
            "message dead-lettered"
        );
        Ok(())
    }

    /// Ack-timed-out deliveries found by a fetch: each is a failed attempt.
    pub(crate) async fn expire(
        &self,
        topic: &Topic,
        group: &ConsumerGroup,
        partition: u32,
        expired: Vec<PendingEntry>,
    ) -> BrokerResult<()> {
        if expired.is_empty() {
            return Ok(());
        }
        let reason =
            format!("not acknowledged within the ack timeout ({} ms)", group.ack_timeout_ms);
        let failed = expired
            .into_iter()
            .map(|p| Failed {
                offset: p.offset,
                delivery_count: p.delivery_count,
                reason: reason.clone(),
                retry: Retry::Policy,
            })
            .collect();
        self.fail_deliveries(topic, group, partition, failed).await.map(drop)
    }

    /// Deliveries about to be handed out, minus those that must not be: a message redriven
    /// from another group's dead letters is acknowledged unseen, and one delivered more often
    /// than the retry policy allows (after a crash mid-dead-lettering, a lowered `maxRetries`,
    /// or a takeover) is dead-lettered instead.
    pub(crate) async fn screen(
        &self,
        topic: &Topic,
        group: &ConsumerGroup,
        partition: u32,
        deliveries: Vec<Delivery>,
    ) -> BrokerResult<Vec<Delivery>> {
        let limit = group.retry_policy.max_deliveries();
        let mut keep = Vec::with_capacity(deliveries.len());
        let mut foreign = Vec::new();
        for delivery in deliveries {
            let target = delivery.record.headers.get(REDRIVE_GROUP_HEADER);
            if target.is_some_and(|target| *target != group.group_id) {
                foreign.push((delivery.record.offset, delivery.delivery_count));
            } else if delivery.delivery_count > limit {
                let reason = format!(
                    "delivered {} times, more than maxRetries + 1 = {limit} allows",
                    delivery.delivery_count
                );
                let (offset, count) = (delivery.record.offset, delivery.delivery_count);
                self.bury(topic, group, partition, offset, count, Some(&reason)).await?;
            } else {
                keep.push(delivery);
            }
        }
        if !foreign.is_empty() {
            self.inner
                .log
                .ack_deliveries(topic.into(), partition, &group.group_id, &foreign)
                .await?;
        }
        Ok(keep)
    }

    /// Negatively acknowledges deliveries: each counts as a failed attempt and is delivered
    /// again to the same group after the group's backoff (or `nack.delay`), or becomes a dead
    /// letter when it was the last allowed delivery or `nack.dead_letter` is set. Returns how
    /// many were outstanding; the receipt of an earlier delivery of a message now delivered
    /// again, or of one already failed, settles nothing.
    pub async fn nack(
        &self,
        topic: &str,
        group: &str,
        receipts: &[String],
        nack: &Nack,
    ) -> BrokerResult<u64> {
        if let Some(delay) = nack.delay {
            if delay > MAX_NACK_DELAY {
                return Err(BrokerError::invalid(
                    "delayMs",
                    format!(
                        "must be at most {} ms, got {}",
                        MAX_NACK_DELAY.as_millis(),
                        delay.as_millis()
                    ),
                ));
            }
        }
        let (found_topic, by_partition) = self.decode_receipts(topic, group, receipts).await?;
        let found_group = self.existing_group(topic, group).await?;
        let retry = match (nack.dead_letter, nack.delay) {
            (true, _) => Retry::Never,
            (false, Some(delay)) => Retry::After(delay),
            (false, None) => Retry::Policy,
        };
        let reason = nack.reason.clone().unwrap_or_else(|| "nacked".to_owned());
        let mut nacked = 0;
        for (partition, deliveries) in by_partition {
            let failed = dedup(deliveries)
                .into_iter()
                .map(|(offset, delivery_count)| Failed {
                    offset,
                    delivery_count,
                    reason: reason.clone(),
                    retry,
                })
                .collect();
            nacked += self.fail_deliveries(&found_topic, &found_group, partition, failed).await?;
        }
        self.inner.metrics.nacked.with_label_values(&[topic, group]).inc_by(nacked);
        if nacked > 0 {
            tracing::debug!(topic, group, nacked, reason = %reason, "nacked");
        }
        Ok(nacked)
    }
}

impl Broker {
    /// Extends the leases of in-flight deliveries (a long job): each is redelivered only if
    /// it is still unacknowledged `extend` from now, instead of at its original ack timeout.
    /// `extend` is 1 ms to the group's `ackTimeoutMs`; call again to extend further. Returns
    /// how many were extended; a stale receipt, or a delivery that already timed out or was
    /// nacked, extends nothing.
    pub async fn extend(
        &self,
        topic: &str,
        group: &str,
        receipts: &[String],
        extend: Duration,
    ) -> BrokerResult<u64> {
        let (found, by_partition) = self.decode_receipts(topic, group, receipts).await?;
        let ack_timeout = Duration::from_millis(
            u64::try_from(self.existing_group(topic, group).await?.ack_timeout_ms).unwrap_or(0),
        );
        if extend.is_zero() || extend > ack_timeout {
            return Err(BrokerError::invalid(
                "extendMs",
                format!(
                    "must be between 1 and the group's ackTimeoutMs ({}), got {}",
                    ack_timeout.as_millis(),
                    extend.as_millis()
                ),
            ));
        }
        // Idle for `ack_timeout - extend`: the ack timeout then runs out `extend` from now.
        let idle = ack_timeout - extend;
        let mut extended = 0;
        for (partition, deliveries) in by_partition {
            let at = TopicRef::from(&found);
            extended += self.inner.log.touch(at, partition, group, &deliveries, idle).await?;
        }
        Ok(extended)
    }

    /// Gives deliveries back unprocessed: they are delivered again at once (in an `ordered`
    /// group, after any earlier message of their partition) and the delivery does not count
    /// as a failed attempt. For a consumer that stops early, or that must not process the rest
    /// of an ordered batch after a failure. Returns how many were outstanding.
    pub async fn release(
        &self,
        topic: &str,
        group: &str,
        receipts: &[String],
    ) -> BrokerResult<u64> {
        let (found, by_partition) = self.decode_receipts(topic, group, receipts).await?;
        let now_ms = self.inner.clock.now_ms();
        let mut released = 0;
        for (partition, deliveries) in by_partition {
            let at = TopicRef::from(&found);
            released += self.inner.log.defer(at, partition, group, &deliveries, now_ms).await?;
        }
        if released > 0 {
            self.inner.published.notify_waiters();
        }
        Ok(released)
    }
}

/// Deliveries with each offset once (its first count), so a repeated receipt counts once.
fn dedup(deliveries: Vec<(u64, u32)>) -> Vec<(u64, u32)> {
    let mut seen = BTreeMap::new();
    for (offset, count) in deliveries {
        seen.entry(offset).or_insert(count);
    }
    seen.into_iter().collect()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
