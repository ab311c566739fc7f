//! [`Transactions`]: prepare, commit, rollback, and the background check-back.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mq_model::{
    Clock, DecidedBy, Page, Paged, Placement, Transaction, TransactionEvent, TransactionState,
};
use mq_repo::{
    HalfMessageStore, NewRecord, Original, TopicRef, TransactionFilter, TransactionRepository,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::checker::check_url;
use crate::{CheckDecision, FinalAction, HttpChecker, TransactionChecker, TxnConfig};
use crate::{TxnError, TxnResult};

/// Most transactions one round checks back or applies.
const ROUND_LIMIT: usize = 100;
/// How long a repeated decision waits for the first one's effect, to answer with its offset.
const APPLIED_WAIT: Duration = Duration::from_secs(2);

/// A half message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    /// The topic.
    pub topic: String,
    /// The topic's placement, which says where its partitions (and so the half message) are
    /// stored; kept with the record.
    pub placement: Placement,
    /// The partition the message is held for (and appended to on commit).
    pub partition: u32,
    /// The message; its `message_id` is the id it has once committed.
    pub record: NewRecord,
    /// For HTTP producers: where to ask about it if it stays undecided.
    pub checkback_url: Option<String>,
    /// How long it may stay undecided before the first check-back (default from config).
    pub timeout: Option<Duration>,
}

/// What `prepare` did: the transaction, and whether it was a repeat of an idempotency key (then
/// the transaction is the first one, prepared earlier).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The transaction.
    pub transaction: Transaction,
    /// True for a repeat: nothing new was stored.
    pub duplicate: bool,
}

/// A transaction's id, derived from its message's (`msg_<uuid>` → `txn_<uuid>`), so that a
/// repeat of an idempotency key, which finds the first message id, finds its transaction too.
pub fn transaction_id_of(message_id: &str) -> String {
    format!("txn_{}", message_id.strip_prefix("msg_").unwrap_or(message_id))
}

/// Called with the topic, partition and outcome of each decision that took effect here
/// (committed: appended; rolled back: discarded), to wake long polls and count.
pub type OnApplied = Arc<dyn Fn(&str, u32, TransactionState) + Send + Sync>;

/// The transactions of one broker: its stores, config and checkers. Cheap to clone.
#[derive(Clone)]
pub struct Transactions {
    inner: Arc<Inner>,
}

struct Inner {
    half: Arc<dyn HalfMessageStore>,
    repo: Arc<dyn TransactionRepository>,
    clock: Arc<dyn Clock>,
    cfg: TxnConfig,
    checker: RwLock<Option<Arc<dyn TransactionChecker>>>,
    http: HttpChecker,
    on_applied: OnApplied,
}

impl fmt::Debug for Transactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transactions").field("cfg", &self.inner.cfg).finish_non_exhaustive()
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn event(at: DateTime<Utc>, kind: &str, detail: impl Into<String>) -> TransactionEvent {
    TransactionEvent { at, kind: kind.to_owned(), detail: detail.into() }
}

impl Transactions {
    /// Transactions over these stores; `cfg` is assumed valid ([`TxnConfig::validate`]).
    pub fn new(
        half: Arc<dyn HalfMessageStore>,
        repo: Arc<dyn TransactionRepository>,
        clock: Arc<dyn Clock>,
        cfg: TxnConfig,
        on_applied: OnApplied,
    ) -> Self {
        let http = HttpChecker::new(Duration::from_millis(cfg.checkback_timeout_ms));
        Self {
            inner: Arc::new(Inner {
                half,
                repo,
                clock,
                cfg,
                checker: RwLock::new(None),
                http,
                on_applied,
            }),
        }
    }

    /// The config in use.
    pub fn config(&self) -> &TxnConfig {
        &self.inner.cfg
    }

    /// Registers the checker that answers check-backs of transactions without a
    /// `checkbackUrl` (library producers). Register the same on every instance: whichever
    /// instance checks a transaction back asks its own.
    pub fn set_checker(&self, checker: Arc<dyn TransactionChecker>) {
        *self.inner.checker.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(checker);
    }

    fn checker(&self) -> Option<Arc<dyn TransactionChecker>> {
        self.inner.checker.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Stores a half message and its record (state `prepared`): durable, invisible to every
    /// consumer until committed. `InvalidRequest` for a check-back URL that is not allowed or
    /// a timeout out of range.
    pub async fn prepare(&self, prepare: Prepare) -> TxnResult<Prepared> {
        let cfg = &self.inner.cfg;
        if let Some(url) = &prepare.checkback_url {
            check_url(url, &cfg.checkback_allowlist)
                .map_err(|reason| TxnError::InvalidRequest { field: "checkbackUrl", reason })?;
        }
        let timeout = prepare.timeout.unwrap_or(Duration::from_secs(cfg.default_timeout_secs));
        if timeout.is_zero() || timeout > Duration::from_secs(cfg.max_timeout_secs) {
            return Err(TxnError::InvalidRequest {
                field: "transactionTimeoutSeconds",
                reason: format!(
                    "must be more than 0 and at most {} (message_queue.transactions.max_timeout_secs)",
                    cfg.max_timeout_secs
                ),
            });
        }
        let now = self.inner.clock.now();
        let record = prepare.record;
        let txn = Transaction {
            transaction_id: transaction_id_of(&record.message_id),
            message_id: record.message_id.clone(),
            topic_name: prepare.topic,
            partition: prepare.partition,
            key: record.key.clone(),
            headers: record.headers.clone(),
            producer_id: record.producer_id.clone(),
            state: TransactionState::Prepared,
            checkback_url: prepare.checkback_url,
            timeout_ms: millis(timeout),
            check_at: now + chrono::Duration::milliseconds(millis(timeout)),
            check_count: 0,
            lease_until: None,
            decided_by: None,
            reason: None,
            applied: false,
            offset: None,
            history: vec![event(now, "prepared", "half message stored")],
            created_at: now,
            updated_at: now,
            placement: prepare.placement,
        };
        // The record first: a half message never exists without one, so every half message
        // is eventually decided. A crash before the half message is written leaves a record
        // whose check-back finds nothing held and rolls it back.
        let txn = self.inner.repo.insert(txn).await?;
        let held = self.inner.half.prepare(held_in(&txn), txn.partition, record).await;
        let original = match held {
            Ok(original) => original,
            Err(error) => {
                let reason = format!("the half message could not be stored: {error}");
                self.drop_prepared(&txn.transaction_id, reason).await;
                return Err(error.into());
            }
        };
        match original {
            None => {
                tracing::debug!(txn = %txn.transaction_id, topic = %txn.topic_name, partition = txn.partition, "transaction prepared");
                Ok(Prepared { transaction: txn, duplicate: false })
            }
            // A repeat of an idempotency key: this record goes, the first transaction answers.
            Some(Original::Held { message_id }) => {
                let first = transaction_id_of(&message_id);
                let reason = format!("a repeat of the idempotency key of {first}");
                self.drop_prepared(&txn.transaction_id, reason).await;
                Ok(Prepared { transaction: self.get(&first).await?, duplicate: true })
            }
            Some(
                Original::Appended { message_id, .. } | Original::Scheduled { message_id, .. },
            ) => {
                let reason = format!("its idempotency key was used by {message_id}");
                self.drop_prepared(&txn.transaction_id, reason).await;
                Err(TxnError::InvalidRequest {
                    field: "idempotencyKey",
                    reason: format!(
                        "was used within the window by message {message_id}, which is not \
                         transactional; use another key"
                    ),
                })
            }
        }
    }

    /// Rolls back a record whose half message was not stored; a failure leaves it to the
    /// check-back, which rolls back a record without its half message.
    async fn drop_prepared(&self, id: &str, reason: String) {
        let decided =
            self.decide(id, TransactionState::RolledBack, DecidedBy::Producer, Some(reason)).await;
        if let Err(error) = decided {
            tracing::warn!(txn = id, %error, "could not roll back at once; the check-back will");
        }
    }

    /// Commits: the message is appended to its partition (once, whoever else commits it) and
    /// the record says where. Repeating a commit answers the same; a commit after a rollback
    /// is `Conflict`; an unknown id `NotFound`.
    pub async fn commit(&self, id: &str) -> TxnResult<Transaction> {
        self.decide(id, TransactionState::Committed, DecidedBy::Producer, None).await
    }

    /// Rolls back: the half message is discarded. Repeating answers the same; a rollback after
    /// a commit is `Conflict`; an unknown id `NotFound`.
    pub async fn rollback(&self, id: &str) -> TxnResult<Transaction> {
        self.decide(id, TransactionState::RolledBack, DecidedBy::Producer, None).await
    }

    /// One transaction. `NotFound`.
    pub async fn get(&self, id: &str) -> TxnResult<Transaction> {
        self.inner.repo.get(id).await?.ok_or_else(|| TxnError::NotFound { id: id.to_owned() })
    }

    /// Transactions matching the filter, newest first.
    pub async fn list(
        &self,
        filter: &TransactionFilter,
        page: Page,
    ) -> TxnResult<Paged<Transaction>> {
        Ok(self.inner.repo.list(filter, page).await?)
    }

    /// Records a decision (if the transaction is still prepared) and applies it.
    async fn decide(
        &self,
        id: &str,
        state: TransactionState,
        by: DecidedBy,
        reason: Option<String>,
    ) -> TxnResult<Transaction> {
        let now = self.inner.clock.now();
        let by_text = match by {
            DecidedBy::Producer => "by the producer",
            DecidedBy::Checkback => "by a check-back",
            DecidedBy::FinalAction => "by the final action",
        };
        let detail = match &reason {
            Some(reason) => format!("{by_text}: {reason}"),
            None => by_text.to_owned(),
        };
        let decided = self
            .inner
            .repo
            .decide(id, state, by, reason, event(now, state.as_str(), detail))
            .await?;
        if let Some(txn) = decided {
            tracing::info!(txn = %id, state = state.as_str(), by = by_text, "transaction decided");
            return self.apply(txn).await;
        }
        // Decided already (or unknown): the same decision answers as the first did.
        let txn = self.get(id).await?;
        if txn.state != state {
            return Err(TxnError::Conflict {
                id: id.to_owned(),
                state: txn.state,
                wanted: match state {
                    TransactionState::Committed => "committed",
                    _ => "rolled back",
                },
            });
        }
        self.wait_applied(txn).await
    }

    /// Makes a decision take effect in the message store and records that it did.
    async fn apply(&self, mut txn: Transaction) -> TxnResult<Transaction> {
        let (topic, partition, message) = (&txn.topic_name, txn.partition, &txn.message_id);
        let held = held_in(&txn);
        let now = self.inner.clock.now();
        let (offset, detail) = match txn.state {
            TransactionState::Committed => {
                match self.inner.half.commit(held, partition, message).await? {
                    Some(appended) => {
                        (self.inner.on_applied)(topic, partition, TransactionState::Committed);
                        (Some(appended.offset), format!("appended at offset {}", appended.offset))
                    }
                    // Committed by another instance meanwhile: it records the offset.
                    None => return self.wait_applied(txn).await,
                }
            }
            TransactionState::RolledBack => {
                if self.inner.half.rollback(held, partition, message).await? {
                    (self.inner.on_applied)(topic, partition, TransactionState::RolledBack);
                }
                (None, "half message discarded".to_owned())
            }
            TransactionState::Prepared => return Ok(txn),
        };
        let applied = event(now, "applied", detail);
        if self.inner.repo.mark_applied(&txn.transaction_id, offset, applied.clone()).await? {
            txn.applied = true;
            txn.offset = offset;
            txn.history.push(applied);
        }
        Ok(txn)
    }

    /// The transaction once its decision took effect, waiting briefly for another caller that
    /// is applying it; as it is if that takes longer.
    async fn wait_applied(&self, txn: Transaction) -> TxnResult<Transaction> {
        let deadline = tokio::time::Instant::now() + APPLIED_WAIT;
        let mut txn = txn;
        while !txn.applied && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            txn = self.get(&txn.transaction_id).await?;
        }
        Ok(txn)
    }

    /// One round of background work: check back the transactions that are due, and apply
    /// decisions a crash left unapplied. Returns how many transactions it handled.
    pub async fn run_once(&self) -> TxnResult<usize> {
        let mut handled = 0;
        let now = self.inner.clock.now();
        for txn in self.inner.repo.due_checks(now, ROUND_LIMIT).await? {
            if self.check_back(txn).await? {
                handled += 1;
            }
        }
        let grace = chrono::Duration::milliseconds(
            i64::try_from(self.inner.cfg.apply_grace_ms).unwrap_or(i64::MAX),
        );
        for txn in self.inner.repo.unapplied(now - grace, ROUND_LIMIT).await? {
            self.recover(txn).await?;
            handled += 1;
        }
        Ok(handled)
    }

    /// Checks one due transaction back, if this instance wins its lease.
    async fn check_back(&self, txn: Transaction) -> TxnResult<bool> {
        let cfg = &self.inner.cfg;
        let now = self.inner.clock.now();
        let until =
            now + chrono::Duration::milliseconds(i64::try_from(cfg.lease_ms).unwrap_or(i64::MAX));
        let id = txn.transaction_id.clone();
        if !self.inner.repo.lease_check(&id, txn.check_count, now, until).await? {
            return Ok(false);
        }
        let count = txn.check_count + 1;
        if !self.inner.half.holds(held_in(&txn), txn.partition, &txn.message_id).await? {
            let reason = "the half message is missing: its prepare did not complete".to_owned();
            self.settle(&id, TransactionState::RolledBack, DecidedBy::FinalAction, reason).await?;
            return Ok(true);
        }
        let answer = match (&txn.checkback_url, self.checker()) {
            (Some(url), _) => self.inner.http.check(url, &txn).await,
            (None, Some(checker)) => checker.check(&txn).await,
            (None, None) => Err("no TransactionChecker is registered on this broker".to_owned()),
        };
        let detail = match answer {
            Ok(CheckDecision::Commit) => {
                let reason = format!("check-back {count} answered commit");
                self.settle(&id, TransactionState::Committed, DecidedBy::Checkback, reason).await?;
                return Ok(true);
            }
            Ok(CheckDecision::Rollback) => {
                let reason = format!("check-back {count} answered rollback");
                self.settle(&id, TransactionState::RolledBack, DecidedBy::Checkback, reason)
                    .await?;
                return Ok(true);
            }
            Ok(CheckDecision::Unknown) => format!("check-back {count} answered unknown"),
            Err(error) => format!("check-back {count} failed: {error}"),
        };
        tracing::info!(txn = %id, check = count, %detail, "transaction still undecided");
        if count >= cfg.max_checks {
            let state = match cfg.final_action {
                FinalAction::Rollback => TransactionState::RolledBack,
                FinalAction::Commit => TransactionState::Committed,
            };
            let reason = format!("no decision after {count} check-backs (last: {detail})");
            self.settle(&id, state, DecidedBy::FinalAction, reason).await?;
        } else {
            let next = now + chrono::Duration::milliseconds(self.check_backoff_ms(count));
            let note = event(now, "check", detail);
            self.inner.repo.check_inconclusive(&id, count, next, note).await?;
        }
        Ok(true)
    }

    /// A decision made in the background; a producer deciding first is not an error here.
    async fn settle(
        &self,
        id: &str,
        state: TransactionState,
        by: DecidedBy,
        reason: String,
    ) -> TxnResult<()> {
        match self.decide(id, state, by, Some(reason)).await {
            Ok(_) | Err(TxnError::Conflict { .. }) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// The pause after check-back `count` (1 for the first): doubling from `check_backoff_ms`.
    fn check_backoff_ms(&self, count: u32) -> i64 {
        let cfg = &self.inner.cfg;
        let factor = 1u64.checked_shl(count.saturating_sub(1)).unwrap_or(u64::MAX);
        let ms = cfg.check_backoff_ms.saturating_mul(factor).min(cfg.max_check_backoff_ms);
        i64::try_from(ms).unwrap_or(i64::MAX)
    }

    /// Applies a decision whose effect a crash cut off.
    async fn recover(&self, txn: Transaction) -> TxnResult<()> {
        let (topic, partition, message) = (&txn.topic_name, txn.partition, &txn.message_id);
        let held = held_in(&txn);
        let now = self.inner.clock.now();
        let (offset, detail) = match txn.state {
            TransactionState::Committed => {
                match self.inner.half.commit(held, partition, message).await? {
                    Some(appended) => {
                        (self.inner.on_applied)(topic, partition, TransactionState::Committed);
                        (
                            Some(appended.offset),
                            format!("appended at offset {} on recovery", appended.offset),
                        )
                    }
                    None => {
                        (None, "appended before a stop that left its offset unrecorded".to_owned())
                    }
                }
            }
            TransactionState::RolledBack => {
                self.inner.half.rollback(held, partition, message).await?;
                (None, "half message discarded on recovery".to_owned())
            }
            TransactionState::Prepared => return Ok(()),
        };
        tracing::warn!(txn = %txn.transaction_id, %detail, "applied a decision a stop had left unapplied");
        self.inner
            .repo
            .mark_applied(&txn.transaction_id, offset, event(now, "applied", detail))
            .await?;
        Ok(())
    }

    /// Runs [`run_once`](Self::run_once) every `check_interval_ms` until `shutdown` turns true.
    /// Errors are logged and retried next round.
    pub fn spawn(&self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let this = self.clone();
        let interval = Duration::from_millis(self.inner.cfg.check_interval_ms);
        tokio::spawn(async move {
            loop {
                if *shutdown.borrow() {
                    break;
                }
                if let Err(error) = this.run_once().await {
                    tracing::warn!(%error, "transaction check-back round failed; retrying");
                }
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = shutdown.changed() => {}
                }
            }
        })
    }
}

/// The topic whose partition holds `txn`'s half message: its name and the placement it had
/// when the transaction was prepared.
fn held_in(txn: &Transaction) -> TopicRef<'_> {
    TopicRef::spread(&txn.topic_name, &txn.placement.generations)
}
