//! Alerts (design §9.2): rules over the monitoring view, evaluated every `interval_ms` on every
//! instance. A condition must hold for `for_ms` before its alert fires, and be clear for
//! `resolve_for_ms` before it resolves, so a value hovering at a threshold does not flap. Firing
//! and resolving go through the metadata store (`AlertRepository`), one active alert per key,
//! so of several instances one fires an alert and one resolves it; that instance logs the event
//! and posts it to the webhooks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mq_model::{new_id, Alert, AlertRule, IdKind, Page};
use mq_repo::DeadLetterFilter;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broker::lock;
use crate::monitoring::{GroupMonitoring, Sections};
use crate::{Broker, BrokerError, BrokerResult};

/// Alert rules and where alerts go (`message_queue.alerts`); every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    /// Whether rules are evaluated at all (default true).
    pub enabled: bool,
    /// How often rules are evaluated, in ms (default 15,000).
    pub interval_ms: u64,
    /// How long a condition must hold before its alert fires, in ms (default 30,000).
    pub for_ms: u64,
    /// How long a condition must be clear before its alert resolves, in ms (default 60,000).
    pub resolve_for_ms: u64,
    /// `backlog`: a group's undelivered messages above this (default 1000).
    pub backlog_threshold: u64,
    /// `consumer_lag`: a group's oldest undelivered message older than this, in ms (default
    /// 60,000).
    pub lag_threshold_ms: u64,
    /// `dead_letters`: fires when a group has dead letters that failed within this window, in
    /// ms (default 300,000); resolves once the window holds none.
    pub dead_letter_window_ms: u64,
    /// Webhook URLs each fire and resolve event is POSTed to (default none).
    pub webhooks: Vec<String>,
    /// `offset_rollback`: fires when a partition lost acknowledged writes within this window,
    /// in ms (default 3,600,000); resolves once the last loss is older.
    pub offset_rollback_window_ms: u64,
    /// Attempts per webhook and event (default 3), with 0.5 s, 1 s, 2 s … between.
    pub webhook_attempts: u32,
    /// Timeout of one webhook call, in ms (default 5,000).
    pub webhook_timeout_ms: u64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_ms: 15_000,
            for_ms: 30_000,
            resolve_for_ms: 60_000,
            backlog_threshold: 1_000,
            lag_threshold_ms: 60_000,
            dead_letter_window_ms: 300_000,
            offset_rollback_window_ms: 3_600_000,
            webhooks: Vec::new(),
            webhook_attempts: 3,
            webhook_timeout_ms: 5_000,
        }
    }
}

impl AlertConfig {
    /// Checks the values that could not work; the error names the key.
    pub fn validate(&self) -> BrokerResult<()> {
        if self.interval_ms == 0 {
            return Err(BrokerError::invalid(
                "message_queue.alerts.interval_ms",
                "must be at least 1",
            ));
        }
        if self.offset_rollback_window_ms == 0 {
            return Err(BrokerError::invalid(
                "message_queue.alerts.offset_rollback_window_ms",
                "must be at least 1",
            ));
        }
        if self.webhook_attempts == 0 {
            return Err(BrokerError::invalid(
                "message_queue.alerts.webhook_attempts",
                "must be at least 1",
            ));
        }
        for url in &self.webhooks {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(BrokerError::invalid(
                    "message_queue.alerts.webhooks",
                    format!("{url:?} must be an http:// or https:// URL"),
                ));
            }
        }
        Ok(())
    }
}

/// Since when each condition has held (or been clear), per alert key, on this instance.
#[derive(Debug, Default)]
pub(crate) struct AlertState {
    holding: Mutex<HashMap<String, DateTime<Utc>>>,
    clear: Mutex<HashMap<String, DateTime<Utc>>>,
    /// The queue of the webhook worker, started with the first event.
    webhooks: Mutex<Option<tokio::sync::mpsc::UnboundedSender<serde_json::Value>>>,
}

/// One rule's verdict for one group.
struct Verdict {
    key: String,
    rule: AlertRule,
    topic: String,
    /// The group, for group rules.
    group: Option<String>,
    holds: bool,
    value: f64,
    threshold: f64,
    message: String,
}

/// The active and recently resolved alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsView {
    /// Active, oldest first.
    pub active: Vec<Alert>,
    /// Resolved, newest first.
    pub history: Vec<Alert>,
}

impl Broker {
    /// The active alerts and up to `limit` resolved ones.
    pub async fn alerts(&self, limit: usize) -> BrokerResult<AlertsView> {
        Ok(AlertsView {
            active: self.inner.meta.alerts.active().await?,
            history: self.inner.meta.alerts.history(limit).await?,
        })
    }

    /// Evaluates every rule once; fires and resolves alerts as their conditions say.
    pub async fn evaluate_alerts(&self) -> BrokerResult<()> {
        let now = self.inner.clock.now();
        let view = self
            .monitoring(None, Duration::from_secs(60), Sections { topics: true, consumers: true })
            .await?;
        let mut verdicts = Vec::new();
        for group in &view.consumers {
            verdicts.extend(self.verdicts(group, now).await?);
        }
        for topic in &view.topics {
            verdicts.extend(self.rollback_verdicts(topic, now));
        }
        let active = self.inner.meta.alerts.active().await?;
        for verdict in &verdicts {
            self.track(verdict, now, active.iter().any(|a| a.key == verdict.key)).await?;
        }
        // Alerts of groups that no longer exist end too.
        for alert in active.iter().filter(|a| !verdicts.iter().any(|v| v.key == a.key)) {
            if let Some(resolved) = self.inner.meta.alerts.close(&alert.key, now).await? {
                self.announce("resolved", resolved);
            }
        }
        Ok(())
    }

    async fn verdicts(
        &self,
        g: &GroupMonitoring,
        now: DateTime<Utc>,
    ) -> BrokerResult<Vec<Verdict>> {
        let cfg = &self.inner.cfg.alerts;
        let key = |rule: AlertRule| format!("{}:{}:{}", rule.as_str(), g.topic_name, g.group_id);
        let verdict = |rule, holds, value: f64, threshold: f64, message: String| Verdict {
            key: key(rule),
            rule,
            topic: g.topic_name.clone(),
            group: Some(g.group_id.clone()),
            holds,
            value,
            threshold,
            message,
        };
        let who = format!("group {:?} of topic {:?}", g.group_id, g.topic_name);
        let age = g.oldest_unconsumed_age_ms.unwrap_or(0);
        let window = chrono::Duration::milliseconds(
            i64::try_from(cfg.dead_letter_window_ms).unwrap_or(i64::MAX),
        );
        let filter = DeadLetterFilter {
            topic_name: Some(g.topic_name.clone()),
            group_id: Some(g.group_id.clone()),
            from: Some(now - window),
            to: None,
        };
        let recent_dead = self.inner.dead_letters.list(&filter, Page::new(1, 1)).await?.total;
        Ok(vec![
            verdict(
                AlertRule::Backlog,
                g.total_lag > cfg.backlog_threshold,
                g.total_lag as f64,
                cfg.backlog_threshold as f64,
                format!(
                    "{who} has {} undelivered messages (threshold {})",
                    g.total_lag, cfg.backlog_threshold
                ),
            ),
            verdict(
                AlertRule::ConsumerLag,
                u64::try_from(age).unwrap_or(0) > cfg.lag_threshold_ms,
                age as f64,
                cfg.lag_threshold_ms as f64,
                format!(
                    "{who}'s oldest undelivered message is {age} ms old (threshold {} ms)",
                    cfg.lag_threshold_ms
                ),
            ),
            verdict(
                AlertRule::DeadLetters,
                recent_dead > 0,
                recent_dead as f64,
                0.0,
                format!(
                    "{who} has {recent_dead} new dead letters in the last {} ms",
                    cfg.dead_letter_window_ms
                ),
            ),
            verdict(
                AlertRule::NoConsumer,
                g.consumer_count == 0 && g.total_lag > 0,
                g.total_lag as f64,
                0.0,
                format!("{who} has {} undelivered messages and no live consumer", g.total_lag),
            ),
        ])
    }

    /// `offset_rollback` of each partition of a topic: holds while the partition's last
    /// rollback is younger than `offset_rollback_window_ms`.
    fn rollback_verdicts(
        &self,
        topic: &crate::TopicMonitoring,
        now: DateTime<Utc>,
    ) -> Vec<Verdict> {
        let window =
            i64::try_from(self.inner.cfg.alerts.offset_rollback_window_ms).unwrap_or(i64::MAX);
        topic
            .partitions
            .iter()
            .map(|p| {
                let rollback = p.last_offset_rollback;
                let recent =
                    rollback.filter(|r| now.timestamp_millis().saturating_sub(r.at_ms) < window);
                let skipped = recent.map_or(0, |r| r.to.saturating_sub(r.from));
                Verdict {
                    key: format!(
                        "{}:{}:{}",
                        AlertRule::OffsetRollback.as_str(),
                        topic.name,
                        p.partition
                    ),
                    rule: AlertRule::OffsetRollback,
                    topic: topic.name.clone(),
                    group: None,
                    holds: recent.is_some(),
                    value: skipped as f64,
                    threshold: 0.0,
                    message: match recent {
                        Some(r) => format!(
                            "partition {} of topic {:?} lost acknowledged writes (a failover to a \
                             replica that lagged, or a restart that lost the last writes): it \
                             would have handed out offsets {} to {} again and skipped them; \
                             messages stored at those offsets before are gone",
                            p.partition,
                            topic.name,
                            r.from,
                            r.to.saturating_sub(1)
                        ),
                        None => String::new(),
                    },
                }
            })
            .collect()
    }

    /// Moves one condition along: fire once it has held for `for_ms`, resolve once it has been
    /// clear for `resolve_for_ms`.
    async fn track(&self, v: &Verdict, now: DateTime<Utc>, active: bool) -> BrokerResult<()> {
        let cfg = &self.inner.cfg.alerts;
        let state = &self.inner.alerts;
        let ms = |since: DateTime<Utc>| (now - since).num_milliseconds().max(0) as u64;
        if v.holds {
            lock(&state.clear).remove(&v.key);
            let since = *lock(&state.holding).entry(v.key.clone()).or_insert(now);
            if !active && ms(since) >= cfg.for_ms {
                let alert = Alert {
                    id: new_id(IdKind::Alert),
                    key: v.key.clone(),
                    rule: v.rule,
                    severity: match v.rule {
                        AlertRule::DeadLetters
                        | AlertRule::NoConsumer
                        | AlertRule::OffsetRollback => "critical",
                        _ => "warning",
                    }
                    .to_owned(),
                    topic_name: v.topic.clone(),
                    group_id: v.group.clone(),
                    message: v.message.clone(),
                    value: v.value,
                    threshold: v.threshold,
                    fired_at: now,
                    resolved_at: None,
                };
                if self.inner.meta.alerts.open(alert.clone()).await? {
                    self.announce("fired", alert);
                }
            }
        } else {
            lock(&state.holding).remove(&v.key);
            if active {
                let since = *lock(&state.clear).entry(v.key.clone()).or_insert(now);
                if ms(since) >= cfg.resolve_for_ms {
                    if let Some(resolved) = self.inner.meta.alerts.close(&v.key, now).await? {
                        self.announce("resolved", resolved);
                    }
                    lock(&state.clear).remove(&v.key);
                }
            } else {
                lock(&state.clear).remove(&v.key);
            }
        }
        Ok(())
    }

    /// Logs an alert event and posts it to the webhooks, in the background.
    fn announce(&self, event: &'static str, alert: Alert) {
        match event {
            "fired" => tracing::warn!(
                event, key = %alert.key, rule = alert.rule.as_str(), topic = %alert.topic_name,
                group = alert.group_id.as_deref().unwrap_or(""), value = alert.value,
                threshold = alert.threshold, message = %alert.message, "alert fired"
            ),
            _ => tracing::info!(
                event, key = %alert.key, rule = alert.rule.as_str(), topic = %alert.topic_name,
                group = alert.group_id.as_deref().unwrap_or(""), message = %alert.message,
                "alert resolved"
            ),
        }
        if self.inner.cfg.alerts.webhooks.is_empty() {
            return;
        }
        let body = serde_json::json!({"event": event, "alert": alert});
        let mut sender = lock(&self.inner.alerts.webhooks);
        let queue = sender.get_or_insert_with(|| {
            // One worker per broker delivers events in the order they happened, so a resolve
            // never overtakes its fire; it ends when the broker is dropped.
            let (queue, events) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(deliver_webhooks(self.inner.cfg.alerts.clone(), events));
            queue
        });
        if queue.send(body).is_err() {
            tracing::warn!("the alert webhook worker has stopped; event not sent");
        }
    }

    /// Evaluates the rules every `interval_ms` until shutdown (if enabled).
    pub(crate) fn spawn_alerts(&self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let broker = self.clone();
        tokio::spawn(async move {
            let cfg = broker.inner.cfg.alerts.clone();
            if !cfg.enabled {
                return;
            }
            let every = Duration::from_millis(cfg.interval_ms);
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    break;
                }
                if let Err(error) = broker.evaluate_alerts().await {
                    tracing::warn!(%error, "alert evaluation failed; retrying");
                }
            }
        })
    }
}

/// Posts each event to every webhook in turn, retrying with doubling pauses.
async fn deliver_webhooks(
    cfg: AlertConfig,
    mut events: tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_millis(cfg.webhook_timeout_ms))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "no HTTP client for alert webhooks");
            return;
        }
    };
    while let Some(body) = events.recv().await {
        for url in &cfg.webhooks {
            let mut pause = Duration::from_millis(500);
            for attempt in 1..=cfg.webhook_attempts {
                match client.post(url).json(&body).send().await {
                    Ok(response) if response.status().is_success() => break,
                    Ok(response) => {
                        tracing::warn!(url, attempt, status = %response.status(), "alert webhook refused")
                    }
                    Err(error) => tracing::warn!(url, attempt, %error, "alert webhook failed"),
                }
                if attempt < cfg.webhook_attempts {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
    }
}
