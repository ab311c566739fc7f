//! The transactions config (`message_queue.transactions`).

use serde::{Deserialize, Serialize};

use crate::TxnError;

/// What happens to a transaction still undecided after its last check-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalAction {
    /// Discard the message (RocketMQ's behaviour too).
    #[default]
    Rollback,
    /// Deliver it.
    Commit,
}

/// Transaction settings; every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TxnConfig {
    /// How long after preparing an undecided transaction is first checked back, when the
    /// producer gives no `transactionTimeoutSeconds` (default 60).
    pub default_timeout_secs: u64,
    /// The longest `transactionTimeoutSeconds` a producer may give (default 86,400: a day).
    pub max_timeout_secs: u64,
    /// Check-backs before the final action (default 15).
    pub max_checks: u32,
    /// Pause before the second check-back, in ms (default 5,000); doubles per check.
    pub check_backoff_ms: u64,
    /// Longest pause between check-backs, in ms (default 300,000: five minutes).
    pub max_check_backoff_ms: u64,
    /// `rollback` (default) or `commit`.
    pub final_action: FinalAction,
    /// How often each server looks for transactions due for a check-back, in ms (default
    /// 1,000).
    pub check_interval_ms: u64,
    /// How long a check-back may take, HTTP call included, before another instance may take
    /// the transaction over, in ms (default 30,000).
    pub lease_ms: u64,
    /// Timeout of one HTTP check-back, in ms (default 5,000).
    pub checkback_timeout_ms: u64,
    /// The URL prefixes a `checkbackUrl` must start with (default none: HTTP check-backs are
    /// refused until configured). A check-back is a request the server makes on a client's
    /// behalf, so only known producer endpoints belong here, each ending with `/` or the
    /// port's `:` so that no longer host name matches, e.g. `https://payments.internal/`.
    pub checkback_allowlist: Vec<String>,
    /// How long a decision may stay unapplied (a crash between deciding and applying) before
    /// the background task applies it, in ms (default 10,000).
    pub apply_grace_ms: u64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        Self {
            default_timeout_secs: 60,
            max_timeout_secs: 86_400,
            max_checks: 15,
            check_backoff_ms: 5_000,
            max_check_backoff_ms: 300_000,
            final_action: FinalAction::Rollback,
            check_interval_ms: 1_000,
            lease_ms: 30_000,
            checkback_timeout_ms: 5_000,
            checkback_allowlist: Vec::new(),
            apply_grace_ms: 10_000,
        }
    }
}

impl TxnConfig {
    /// Checks the values that could not work; the error names the key.
    pub fn validate(&self) -> Result<(), TxnError> {
        let invalid =
            |field, reason: &str| Err(TxnError::InvalidConfig { field, reason: reason.to_owned() });
        if !(1..=self.max_timeout_secs).contains(&self.default_timeout_secs) {
            return invalid(
                "message_queue.transactions.default_timeout_secs",
                "must be between 1 and max_timeout_secs",
            );
        }
        if self.max_checks == 0 {
            return invalid("message_queue.transactions.max_checks", "must be at least 1");
        }
        if self.check_backoff_ms == 0 || self.check_backoff_ms > self.max_check_backoff_ms {
            return invalid(
                "message_queue.transactions.check_backoff_ms",
                "must be between 1 and max_check_backoff_ms",
            );
        }
        if self.check_interval_ms == 0 {
            return invalid("message_queue.transactions.check_interval_ms", "must be at least 1");
        }
        if self.checkback_timeout_ms == 0 || self.lease_ms <= self.checkback_timeout_ms {
            return invalid(
                "message_queue.transactions.lease_ms",
                "must be more than checkback_timeout_ms, or a slow check-back loses its lease",
            );
        }
        for prefix in &self.checkback_allowlist {
            if !(prefix.starts_with("http://") || prefix.starts_with("https://")) {
                return invalid(
                    "message_queue.transactions.checkback_allowlist",
                    "entries must be http:// or https:// URL prefixes",
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        assert!(TxnConfig::default().validate().is_ok());
        let cases = [
            (TxnConfig { max_checks: 0, ..TxnConfig::default() }, "max_checks"),
            (TxnConfig { default_timeout_secs: 0, ..TxnConfig::default() }, "default_timeout_secs"),
            (TxnConfig { check_backoff_ms: 0, ..TxnConfig::default() }, "check_backoff_ms"),
            (TxnConfig { lease_ms: 10, ..TxnConfig::default() }, "lease_ms"),
            (
                TxnConfig { checkback_allowlist: vec!["ftp://x/".into()], ..TxnConfig::default() },
                "checkback_allowlist",
            ),
        ];
        for (cfg, key) in cases {
            let error = cfg.validate().unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
    }
}
