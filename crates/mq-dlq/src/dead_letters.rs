//! [`DeadLetters`]: recording, listing, purging and redriving dead letters.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mq_model::{new_id, Clock, DeadLetterMessage, IdKind, Page, Paged, Redrive};
use mq_repo::{
    DeadLetterFilter, DeadLetterRepository, RepoError, RepoResult, ScheduleStore, ScheduledRecord,
    TopicRef,
};

use crate::record::redrive_record;

/// A redrive that began this long ago and still has its dead letter is taken to have been
/// cut short (a crash between its steps), and a new redrive request may finish it.
pub const REDRIVE_STALE_AFTER: Duration = Duration::from_secs(60);

/// What a redrive of one dead letter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redriven {
    /// The message is in its partition's schedule, due at `due_ms`, under a new message id;
    /// the dead letter is gone.
    Scheduled {
        /// The id it is redelivered under.
        message_id: String,
        /// When it is due, in ms since the epoch.
        due_ms: i64,
    },
    /// Another redrive of it is under way or finished (a repeated or racing request).
    AlreadyRedriven,
}

/// What [`DeadLetters::record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Stored whole.
    Stored,
    /// One with its id was stored already.
    Existed,
    /// The store refused it whole (`why`); stored without its headers (and a long key).
    Reduced {
        /// The store's refusal.
        why: String,
    },
}

/// An error with its causes, `: `-separated.
fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `dead` without what made a store refuse it: its headers and, beyond
/// [`mq_model::MAX_KEY_LEN`], its key; the reason tells what was left out and where the whole
/// message still is.
fn reduced(mut dead: DeadLetterMessage, why: &str) -> DeadLetterMessage {
    let header_bytes: usize = dead.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    let mut left_out = format!("its {} headers ({header_bytes} bytes)", dead.headers.len());
    dead.headers.clear();
    if let Some(key) = dead.message_key.take_if(|key| key.len() > mq_model::MAX_KEY_LEN) {
        left_out.push_str(&format!(" and its key ({} bytes)", key.len()));
    }
    dead.failure_reason = format!(
        "{} [dead letter stored without {left_out}: the store refused it whole ({why}); the \
         whole message stays in partition {} at offset {} until retention removes it]",
        dead.failure_reason, dead.partition, dead.offset
    );
    dead
}

/// The dead letters of one metadata store, and the schedule redrives go through.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    repo: Arc<dyn DeadLetterRepository>,
    schedule: Arc<dyn ScheduleStore>,
    clock: Arc<dyn Clock>,
}

impl DeadLetters {
    /// Dead letters kept in `repo`, redriven through `schedule`.
    pub fn new(
        repo: Arc<dyn DeadLetterRepository>,
        schedule: Arc<dyn ScheduleStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { repo, schedule, clock }
    }

    /// Stores a dead letter. `Existed` if one with its id is stored already: ids derive from
    /// where the message failed, so that is the same failure recorded twice.
    ///
    /// A store that refuses the dead letter itself (not one that is unreachable: that error is
    /// returned, to be tried again) gets it again without its headers, and without its key when
    /// the key is long, the reason saying so ([`Recorded::Reduced`]): a message that cannot be
    /// dead-lettered whole (stored before mq bounded headers, say) must not stay pending for
    /// ever and stall its partition. The original stays in its partition's log, at the offset
    /// the dead letter names, until retention removes it.
    pub async fn record(&self, dead: DeadLetterMessage) -> RepoResult<Recorded> {
        let refused = match self.repo.insert(dead.clone()).await {
            Ok(_) => return Ok(Recorded::Stored),
            Err(RepoError::AlreadyExists { .. }) => return Ok(Recorded::Existed),
            Err(error) if error.is_unavailable() => return Err(error),
            Err(refused) => refused,
        };
        let why = error_text(&refused);
        match self.repo.insert(reduced(dead, &why)).await {
            Ok(_) => Ok(Recorded::Reduced { why }),
            Err(RepoError::AlreadyExists { .. }) => Ok(Recorded::Existed),
            Err(error) => Err(error),
        }
    }

    /// Dead letters matching the filter, newest first.
    pub async fn list(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> RepoResult<Paged<DeadLetterMessage>> {
        self.repo.list(filter, page).await
    }

    /// One dead letter.
    pub async fn get(&self, id: &str) -> RepoResult<Option<DeadLetterMessage>> {
        self.repo.get(id).await
    }

    /// Deletes one; false if there was none.
    pub async fn delete(&self, id: &str) -> RepoResult<bool> {
        match self.repo.delete(id).await {
            Ok(()) => Ok(true),
            Err(RepoError::NotFound { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Deletes every dead letter matching the filter; returns how many.
    pub async fn purge(&self, filter: &DeadLetterFilter) -> RepoResult<u64> {
        self.repo.delete_matching(filter).await
    }

    /// Sends `dead` back to its group, due at `due_ms`, with a fresh retry budget: marks it
    /// as being redriven (a compare-and-set, so of racing requests one proceeds), schedules
    /// the message in its partition under a new id, then deletes the dead letter. A redrive cut
    /// short for longer than [`REDRIVE_STALE_AFTER`] is finished under the id it began with.
    /// The caller checks that the topic, partition and group still exist, and passes the topic
    /// (whose placement says where its partitions are stored).
    pub async fn redrive(
        &self,
        topic: TopicRef<'_>,
        dead: &DeadLetterMessage,
        due_ms: i64,
    ) -> RepoResult<Redriven> {
        let now = self.clock.now();
        let began = Redrive {
            message_id: match &dead.redrive {
                None => new_id(IdKind::Message),
                Some(old) if is_stale(old, now) => old.message_id.clone(),
                Some(_) => return Ok(Redriven::AlreadyRedriven),
            },
            // Millisecond precision, as stores keep it, so a later compare-and-set matches.
            started_at: truncate_ms(now),
        };
        if !self.repo.swap_redrive(&dead.id, dead.redrive.as_ref(), Some(began.clone())).await? {
            return Ok(Redriven::AlreadyRedriven);
        }
        let record = ScheduledRecord { due_ms, record: redrive_record(dead, &began.message_id) };
        let scheduled = self.schedule.schedule(topic, dead.partition, vec![record]).await;
        if let Err(error) = scheduled {
            // Hand the dead letter back so that a later request can redrive it.
            if let Err(undo) = self.repo.swap_redrive(&dead.id, Some(&began), None).await {
                tracing::warn!(id = %dead.id, error = %undo, "could not unmark a failed redrive; it is retried once stale");
            }
            return Err(error);
        }
        self.delete(&dead.id).await?;
        tracing::info!(
            id = %dead.id,
            topic = %dead.original_topic_name,
            group = %dead.consumer_group_id,
            message_id = %began.message_id,
            due_ms,
            "dead letter redriven"
        );
        Ok(Redriven::Scheduled { message_id: began.message_id, due_ms })
    }
}

fn is_stale(redrive: &Redrive, now: DateTime<Utc>) -> bool {
    let age = now.signed_duration_since(redrive.started_at);
    age.to_std().is_ok_and(|age| age >= REDRIVE_STALE_AFTER)
}

fn truncate_ms(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}
