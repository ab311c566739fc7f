//! Dead letters through the broker: listing, inspecting, deleting, purging, and retrying them
//! (redriving each back to its group with a fresh retry budget).

use std::collections::HashMap;

use mq_dlq::Redriven;
use mq_model::{DeadLetterMessage, Page, Paged, Topic};
use mq_repo::{DeadLetterFilter, TopicRef};

use crate::{Broker, BrokerError, BrokerResult};

/// Most ids one retry request may name.
pub const MAX_RETRY_IDS: usize = 1000;
/// Most dead letters one retry-by-group request redrives; a larger set takes several requests.
pub const MAX_RETRY_MATCHING: usize = 100_000;
/// Highest `ratePerSecond` of a retry.
pub const MAX_RETRY_RATE: f64 = 100_000.0;

/// Which dead letters to retry.
#[derive(Debug, Clone, PartialEq)]
pub enum RetrySelection {
    /// These, by id.
    Ids(Vec<String>),
    /// All of one group of one topic, optionally only those that failed in a time range.
    Group {
        /// The topic.
        topic_name: String,
        /// The group.
        group_id: String,
        /// Only those that failed at or after this time.
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Only those that failed before this time.
        to: Option<chrono::DateTime<chrono::Utc>>,
    },
}

/// A retry of dead letters.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryRequest {
    /// Which.
    pub selection: RetrySelection,
    /// At most this many redeliveries per second (spread through the durable schedule, so the
    /// pace holds across restarts); all at once when `None`.
    pub rate_per_second: Option<f64>,
}

/// What a retry did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryReport {
    /// Dead letters sent back to their group, now or at the pace asked for.
    pub retried: u64,
    /// Dead letters another request is retrying or has retried (a repeated or racing request).
    pub already_retried: u64,
    /// Ids that name no dead letter.
    pub not_found: Vec<String>,
    /// Dead letters that cannot go back, with the reason (their topic or group is gone).
    pub failed: Vec<(String, String)>,
    /// When the last of them is due, in ms since the epoch.
    pub last_due_ms: Option<i64>,
}

impl Broker {
    /// Dead letters matching the filter, newest first, their content in plaintext. A page
    /// holding an undecryptable one is `Undecryptable` (purge or delete it by id).
    pub async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> BrokerResult<Paged<DeadLetterMessage>> {
        let mut listed = self.inner.dead_letters.list(filter, page).await?;
        let mut items = Vec::with_capacity(listed.items.len());
        for dead in listed.items {
            items.push(self.open_dead_letter(dead).await?);
        }
        listed.items = items;
        Ok(listed)
    }

    /// One dead letter, its content in plaintext. `DeadLetterNotFound`, `Undecryptable`.
    pub async fn get_dead_letter(&self, id: &str) -> BrokerResult<DeadLetterMessage> {
        let dead = self
            .inner
            .dead_letters
            .get(id)
            .await?
            .ok_or_else(|| BrokerError::DeadLetterNotFound { id: id.to_owned() })?;
        // Redrives (`retry_dead_letters`) read the stored copy, so they keep the envelope.
        self.open_dead_letter(dead).await
    }

    /// Deletes one dead letter. `DeadLetterNotFound`.
    pub async fn delete_dead_letter(&self, id: &str) -> BrokerResult<()> {
        if self.inner.dead_letters.delete(id).await? {
            tracing::info!(id, "dead letter deleted");
            Ok(())
        } else {
            Err(BrokerError::DeadLetterNotFound { id: id.to_owned() })
        }
    }

    /// Deletes every dead letter matching the filter; returns how many.
    pub async fn purge_dead_letters(&self, filter: &DeadLetterFilter) -> BrokerResult<u64> {
        let purged = self.inner.dead_letters.purge(filter).await?;
        tracing::info!(?filter, purged, "dead letters purged");
        Ok(purged)
    }

    /// Sends dead letters back to the group that failed them, each with a fresh retry budget
    /// and the headers `x-mq-redriven-from` and `x-mq-original-failure`; other groups of the
    /// topic never see them. Each is redriven once however often the request is repeated or
    /// however many requests race. `InvalidRequest` for a bad selection or rate;
    /// `TopicNotFound`, `GroupNotFound` for a group selection.
    pub async fn retry_dead_letters(&self, request: &RetryRequest) -> BrokerResult<RetryReport> {
        self.refuse_if_shutting_down()?;
        let step_ms = match request.rate_per_second {
            None => 0.0,
            Some(rate) if rate > 0.0 && rate <= MAX_RETRY_RATE => 1000.0 / rate,
            Some(rate) => {
                return Err(BrokerError::invalid(
                    "ratePerSecond",
                    format!("must be greater than 0 and at most {MAX_RETRY_RATE}, got {rate}"),
                ))
            }
        };
        let mut report = RetryReport::default();
        let selected = self.select_dead_letters(&request.selection, &mut report).await?;
        let start_ms = self.inner.clock.now_ms();
        let mut topics: HashMap<String, Option<Topic>> = HashMap::new();
        for dead in selected {
            if let Err(why) = self.check_redrivable(&dead, &mut topics).await? {
                report.failed.push((dead.id, why));
                continue;
            }
            let due_ms = start_ms + (report.retried as f64 * step_ms) as i64;
            // Checked just above: the topic exists.
            let Some(Some(topic)) = topics.get(&dead.original_topic_name) else { continue };
            let topic = TopicRef::from(topic);
            match self.inner.dead_letters.redrive(topic, &dead, due_ms).await? {
                Redriven::Scheduled { message_id, due_ms } => {
                    self.inner.delay.track(topic, dead.partition, &message_id, due_ms);
                    report.retried += 1;
                    report.last_due_ms = Some(due_ms);
                }
                Redriven::AlreadyRedriven => report.already_retried += 1,
            }
        }
        tracing::info!(
            retried = report.retried,
            already_retried = report.already_retried,
            not_found = report.not_found.len(),
            failed = report.failed.len(),
            "dead letters retried"
        );
        Ok(report)
    }

    async fn select_dead_letters(
        &self,
        selection: &RetrySelection,
        report: &mut RetryReport,
    ) -> BrokerResult<Vec<DeadLetterMessage>> {
        match selection {
            RetrySelection::Ids(ids) => {
                if ids.is_empty() || ids.len() > MAX_RETRY_IDS {
                    return Err(BrokerError::invalid(
                        "ids",
                        format!("give 1 to {MAX_RETRY_IDS} ids, got {}", ids.len()),
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                let mut found = Vec::new();
                for id in ids.iter().filter(|id| seen.insert(id.as_str())) {
                    match self.inner.dead_letters.get(id).await? {
                        Some(dead) => found.push(dead),
                        None => report.not_found.push(id.clone()),
                    }
                }
                Ok(found)
            }
            RetrySelection::Group { topic_name, group_id, from, to } => {
                self.existing_topic(topic_name).await?;
                self.get_group(topic_name, group_id).await?;
                let filter = DeadLetterFilter {
                    topic_name: Some(topic_name.clone()),
                    group_id: Some(group_id.clone()),
                    from: *from,
                    to: *to,
                };
                // Collected before any is redriven: redriving deletes them, which would shift
                // the pages under a listing in progress.
                let mut found = Vec::new();
                for page in 1.. {
                    let listed =
                        self.inner.dead_letters.list(&filter, Page::new(page, 500)).await?;
                    let done = listed.items.len() < 500;
                    found.extend(listed.items);
                    if done || found.len() >= MAX_RETRY_MATCHING {
                        break;
                    }
                }
                found.truncate(MAX_RETRY_MATCHING);
                // Oldest failures first, so a paced redrive keeps their order (and within one
                // instant, the order of the log).
                found.sort_by(|a, b| {
                    (a.failed_at, a.partition, a.offset).cmp(&(b.failed_at, b.partition, b.offset))
                });
                Ok(found)
            }
        }
    }

    /// `Ok(Err(why))` when the dead letter's topic, partition or group is gone.
    async fn check_redrivable(
        &self,
        dead: &DeadLetterMessage,
        topics: &mut HashMap<String, Option<Topic>>,
    ) -> BrokerResult<Result<(), String>> {
        let name = &dead.original_topic_name;
        if !topics.contains_key(name) {
            topics.insert(name.clone(), self.cached_topic(name).await?);
        }
        let Some(topic) = topics.get(name).and_then(Option::as_ref) else {
            return Ok(Err(format!("topic {name:?} no longer exists")));
        };
        if dead.partition >= topic.partitions {
            return Ok(Err(format!("topic {name:?} has no partition {}", dead.partition)));
        }
        match self.existing_group(name, &dead.consumer_group_id).await {
            Ok(_) => Ok(Ok(())),
            Err(BrokerError::GroupNotFound { .. }) => Ok(Err(format!(
                "consumer group {:?} no longer exists on topic {name:?}",
                dead.consumer_group_id
            ))),
            Err(other) => Err(other),
        }
    }
}
