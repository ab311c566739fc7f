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

    /// Stores a dead letter. Returns false if one with its id is stored already: ids derive
    /// from where the message failed, so that is the same failure recorded twice.
    pub async fn record(&self, dead: DeadLetterMessage) -> RepoResult<bool> {
        match self.repo.insert(dead).await {
            Ok(_) => Ok(true),
            Err(RepoError::AlreadyExists { .. }) => Ok(false),
            Err(other) => Err(other),
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
