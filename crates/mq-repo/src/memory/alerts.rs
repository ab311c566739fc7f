//! The in-memory alert repository: active alerts and the history in the metadata store's state
//! maps.
//!
//! Opening and closing check and write under the one lock, so racing callers see the same
//! single winner as with MongoDB's duplicate `_id` and `findOneAndDelete`. Times are kept at
//! the millisecond, floored, as MongoDB stores them, so an alert reads back the same from both
//! stores. Like `crate::mongo`'s, the history is never trimmed.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use mq_model::Alert;

use super::metadata::MemoryMetadata;
use crate::metadata::AlertRepository;
use crate::{RepoError, RepoResult};

/// A time as stored: floored to the millisecond.
fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

#[async_trait]
impl AlertRepository for MemoryMetadata {
    async fn open(&self, alert: Alert) -> RepoResult<bool> {
        // An active alert has no `resolved_at`, whatever the caller passed.
        let alert = Alert { fired_at: ms(alert.fired_at), resolved_at: None, ..alert };
        let mut state = self.state();
        if state.active_alerts.contains_key(&alert.key) {
            return Ok(false);
        }
        state.active_alerts.insert(alert.key.clone(), alert);
        Ok(true)
    }

    async fn close(&self, key: &str, resolved_at: DateTime<Utc>) -> RepoResult<Option<Alert>> {
        let mut state = self.state();
        let Some(alert) = state.active_alerts.remove(key) else { return Ok(None) };
        let alert = Alert { resolved_at: Some(ms(resolved_at)), ..alert };
        // As in MongoDB, whose history is keyed by alert id: an id resolved before is refused,
        // after the alert has stopped being active.
        if state.alert_history.contains_key(&alert.id) {
            return Err(RepoError::AlreadyExists { kind: "alert", id: alert.id });
        }
        state.alert_history.insert(alert.id.clone(), alert.clone());
        Ok(Some(alert))
    }

    async fn active(&self) -> RepoResult<Vec<Alert>> {
        let mut active: Vec<Alert> = self.state().active_alerts.values().cloned().collect();
        // Keyed by key, so a stable sort by time leaves ties in key order, as in MongoDB.
        active.sort_by_key(|a| a.fired_at);
        Ok(active)
    }

    async fn history(&self, limit: usize) -> RepoResult<Vec<Alert>> {
        let mut history: Vec<Alert> = self.state().alert_history.values().cloned().collect();
        history.sort_by(|a, b| b.resolved_at.cmp(&a.resolved_at).then_with(|| b.id.cmp(&a.id)));
        history.truncate(limit);
        Ok(history)
    }
}
