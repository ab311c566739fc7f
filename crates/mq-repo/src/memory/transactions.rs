//! The in-memory transaction repository: records in the metadata store's state map.
//!
//! Each conditional change checks and writes under the one lock, so racing callers see the
//! same single winner as with MongoDB's conditional updates. Times are kept and compared at
//! the millisecond, floored, as MongoDB stores them: a record reads back the same from both
//! stores, and a condition such as `check_at <= now` holds in one exactly when it holds in
//! the other.
//!
//! `updated_at` is the time of the last step in the history: `decide`, `mark_applied` and
//! `check_inconclusive` set it to their event's time; `lease_check`, which records no step,
//! leaves it alone (as in `crate::mongo`).

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use mq_model::{DecidedBy, Page, Paged, Transaction, TransactionEvent, TransactionState};

use super::metadata::{matches, matches_str, MemoryMetadata};
use crate::metadata::{TransactionFilter, TransactionRepository};
use crate::{RepoError, RepoResult};

/// A time as stored: floored to the millisecond.
fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

fn stored_event(event: TransactionEvent) -> TransactionEvent {
    TransactionEvent { at: ms(event.at), ..event }
}

/// The record as stored: every time floored to the millisecond.
fn stored(txn: Transaction) -> Transaction {
    Transaction {
        check_at: ms(txn.check_at),
        lease_until: txn.lease_until.map(ms),
        history: txn.history.into_iter().map(stored_event).collect(),
        created_at: ms(txn.created_at),
        updated_at: ms(txn.updated_at),
        ..txn
    }
}

/// No lease held at `now`.
fn lease_free(txn: &Transaction, now: DateTime<Utc>) -> bool {
    txn.lease_until.is_none_or(|until| until <= ms(now))
}

/// Up to `limit` of `items`, which are sorted.
fn first(items: Vec<Transaction>, limit: usize) -> Vec<Transaction> {
    items.into_iter().take(limit).collect()
}

#[async_trait]
impl TransactionRepository for MemoryMetadata {
    async fn insert(&self, txn: Transaction) -> RepoResult<Transaction> {
        let txn = stored(txn);
        let mut state = self.state();
        if state.transactions.contains_key(&txn.transaction_id) {
            return Err(RepoError::AlreadyExists { kind: "transaction", id: txn.transaction_id });
        }
        state.transactions.insert(txn.transaction_id.clone(), txn.clone());
        Ok(txn)
    }

    async fn get(&self, id: &str) -> RepoResult<Option<Transaction>> {
        Ok(self.state().transactions.get(id).cloned())
    }

    async fn list(&self, filter: &TransactionFilter, page: Page) -> RepoResult<Paged<Transaction>> {
        let mut all: Vec<Transaction> = self
            .state()
            .transactions
            .values()
            .filter(|t| matches_str(&filter.topic_name, &t.topic_name))
            .filter(|t| matches(&filter.state, &t.state))
            .cloned()
            .collect();
        all.sort_by(|a, b| {
            b.created_at.cmp(&a.created_at).then_with(|| b.transaction_id.cmp(&a.transaction_id))
        });
        Ok(page.slice(all))
    }

    async fn decide(
        &self,
        id: &str,
        state: TransactionState,
        by: DecidedBy,
        reason: Option<String>,
        event: TransactionEvent,
    ) -> RepoResult<Option<Transaction>> {
        state.validate_decision()?;
        let event = stored_event(event);
        let mut guard = self.state();
        let Some(txn) = guard.transactions.get_mut(id) else { return Ok(None) };
        if txn.state != TransactionState::Prepared {
            return Ok(None);
        }
        txn.state = state;
        txn.decided_by = Some(by);
        txn.reason = reason;
        txn.updated_at = event.at;
        txn.lease_until = None;
        txn.history.push(event);
        Ok(Some(txn.clone()))
    }

    async fn mark_applied(
        &self,
        id: &str,
        offset: Option<u64>,
        event: TransactionEvent,
    ) -> RepoResult<bool> {
        // MongoDB stores offsets as int64; refuse the same offsets it refuses.
        if let Some(o) = offset.filter(|o| i64::try_from(*o).is_err()) {
            return Err(RepoError::Corrupt {
                what: "transaction",
                detail: format!("offset {o} does not fit a BSON int64"),
            });
        }
        let event = stored_event(event);
        let mut state = self.state();
        let Some(txn) = state.transactions.get_mut(id) else { return Ok(false) };
        if txn.state == TransactionState::Prepared || txn.applied {
            return Ok(false);
        }
        txn.applied = true;
        txn.offset = offset;
        txn.updated_at = event.at;
        txn.history.push(event);
        Ok(true)
    }

    async fn due_checks(&self, now: DateTime<Utc>, limit: usize) -> RepoResult<Vec<Transaction>> {
        let now = ms(now);
        let mut due: Vec<Transaction> = self
            .state()
            .transactions
            .values()
            .filter(|t| t.state == TransactionState::Prepared)
            .filter(|t| t.check_at <= now && lease_free(t, now))
            .cloned()
            .collect();
        due.sort_by(|a, b| {
            a.check_at.cmp(&b.check_at).then_with(|| a.transaction_id.cmp(&b.transaction_id))
        });
        Ok(first(due, limit))
    }

    async fn lease_check(
        &self,
        id: &str,
        check_count: u32,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> RepoResult<bool> {
        // A count that cannot be raised is never leased, as in `crate::mongo`.
        let Some(raised) = check_count.checked_add(1) else { return Ok(false) };
        let mut state = self.state();
        let Some(txn) = state.transactions.get_mut(id) else { return Ok(false) };
        if txn.state != TransactionState::Prepared
            || txn.check_count != check_count
            || !lease_free(txn, now)
        {
            return Ok(false);
        }
        txn.check_count = raised;
        txn.lease_until = Some(ms(until));
        Ok(true)
    }

    async fn check_inconclusive(
        &self,
        id: &str,
        check_count: u32,
        next_check_at: DateTime<Utc>,
        event: TransactionEvent,
    ) -> RepoResult<bool> {
        let event = stored_event(event);
        let mut state = self.state();
        let Some(txn) = state.transactions.get_mut(id) else { return Ok(false) };
        if txn.state != TransactionState::Prepared || txn.check_count != check_count {
            return Ok(false);
        }
        txn.check_at = ms(next_check_at);
        txn.lease_until = None;
        txn.updated_at = event.at;
        txn.history.push(event);
        Ok(true)
    }

    async fn unapplied(&self, before: DateTime<Utc>, limit: usize) -> RepoResult<Vec<Transaction>> {
        let before = ms(before);
        let mut found: Vec<Transaction> = self
            .state()
            .transactions
            .values()
            .filter(|t| t.state != TransactionState::Prepared && !t.applied)
            .filter(|t| t.updated_at <= before)
            .cloned()
            .collect();
        found.sort_by(|a, b| {
            a.updated_at.cmp(&b.updated_at).then_with(|| a.transaction_id.cmp(&b.transaction_id))
        });
        Ok(first(found, limit))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn times_floor_to_the_millisecond_as_in_mongodb() {
        let base = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        for (extra_nanos, expected_ms) in
            [(0, 1_700_000_000_123), (1, 1_700_000_000_123), (999_999, 1_700_000_000_123)]
        {
            let t = base + chrono::Duration::nanoseconds(extra_nanos);
            assert_eq!(ms(t).timestamp_millis(), expected_ms, "{t:?}");
            assert_eq!(ms(t).timestamp_subsec_nanos() % 1_000_000, 0);
        }
        let before_epoch =
            Utc.timestamp_millis_opt(-10).unwrap() + chrono::Duration::microseconds(500);
        assert_eq!(ms(before_epoch).timestamp_millis(), -10);
    }
}
