//! Transactional messages through the broker (see `mq-txn`): prepare a half message, commit
//! or roll it back, inspect transactions, and `send_in_transaction` for library producers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mq_model::{new_id, IdKind, MessageType, Page, Paged, Transaction};
use mq_repo::{NewRecord, TransactionFilter};
use mq_txn::{Prepare, Prepared, TransactionChecker};

use crate::publish::check_message;
use crate::{Broker, BrokerError, BrokerResult, OutgoingMessage};

/// How a transaction is checked back if its producer does not decide in time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnOptions {
    /// For HTTP producers: where to ask (must match `checkback_allowlist`). Without it the
    /// broker's registered [`TransactionChecker`] is asked.
    pub checkback_url: Option<String>,
    /// How long it may stay undecided before the first check-back (default from config).
    pub timeout: Option<Duration>,
}

/// What `send_in_transaction` hands to the local work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnContext {
    /// The transaction's id: store it with the local change, so a checker can find it.
    pub transaction_id: String,
    /// The id the message gets when committed.
    pub message_id: String,
}

/// Why `send_in_transaction` did not commit.
#[derive(Debug, thiserror::Error)]
pub enum TxnFailure<E> {
    /// The local work failed; the message was rolled back (or, if the rollback itself failed,
    /// is resolved by check-back).
    #[error("local transaction failed: {0}")]
    Local(E),
    /// The broker failed to prepare or to record the decision. After a failed commit the
    /// message is resolved by check-back, so it agrees with the local state.
    #[error(transparent)]
    Broker(BrokerError),
}

impl Broker {
    /// Stores a half message: durable, invisible to every consumer until committed. Its
    /// partition is chosen now, as for any message. A repeat of an idempotency key within the
    /// topic's window stores nothing and answers the first transaction (`duplicate`).
    /// `TopicNotFound`, `MessageTooLarge`, `InvalidRequest` (check-back URL not allowed,
    /// timeout out of range, an idempotency key used by a message that is not transactional).
    pub async fn prepare_transaction(
        &self,
        topic: &str,
        message: OutgoingMessage,
        options: TxnOptions,
    ) -> BrokerResult<Prepared> {
        self.refuse_if_shutting_down()?;
        if message.delay.is_some() {
            return Err(BrokerError::invalid(
                "messageType",
                "a transactional message cannot also be delayed",
            ));
        }
        let topic = self.topic_for_publish(topic).await?;
        check_message(&topic, &message, None)?;
        let idempotency_key = message.idempotency_key.as_deref();
        let partition = self.choose_partition(&topic, message.key.as_deref().or(idempotency_key));
        let dedup = self.dedup_for(&topic, idempotency_key);
        let record = NewRecord {
            message_id: new_id(IdKind::Message),
            key: message.key,
            value: self.seal_value(&topic, message.value)?,
            headers: message.headers,
            producer_id: message.producer_id,
            message_type: MessageType::Transaction,
            dedup,
        };
        let prepare = Prepare {
            topic: topic.name,
            placement: topic.placement,
            partition,
            record,
            checkback_url: options.checkback_url,
            timeout: options.timeout,
        };
        Ok(self.inner.txns.prepare(prepare).await?)
    }

    /// Commits: the message is appended to its partition (exactly once) and the answer says
    /// where (`offset`). Repeating answers the same. `TransactionNotFound`,
    /// `TransactionConflict` after a rollback.
    pub async fn commit_transaction(&self, id: &str) -> BrokerResult<Transaction> {
        Ok(self.inner.txns.commit(id).await?)
    }

    /// Rolls back: the message is discarded. Repeating answers the same.
    /// `TransactionNotFound`, `TransactionConflict` after a commit.
    pub async fn rollback_transaction(&self, id: &str) -> BrokerResult<Transaction> {
        Ok(self.inner.txns.rollback(id).await?)
    }

    /// One transaction with its history. `TransactionNotFound`.
    pub async fn get_transaction(&self, id: &str) -> BrokerResult<Transaction> {
        Ok(self.inner.txns.get(id).await?)
    }

    /// Transactions, newest first, optionally of one topic or in one state.
    pub async fn list_transactions(
        &self,
        filter: &TransactionFilter,
        page: Page,
    ) -> BrokerResult<Paged<Transaction>> {
        Ok(self.inner.txns.list(filter, page).await?)
    }

    /// Registers the checker asked about undecided transactions without a check-back URL
    /// (library producers). Register it on every broker instance sharing the stores.
    pub fn set_transaction_checker(&self, checker: Arc<dyn TransactionChecker>) {
        self.inner.txns.set_checker(checker);
    }

    /// Sends `message` in a transaction with local work: prepares the half message, runs
    /// `work`, then commits on `Ok` or rolls back on `Err`. If the process stops between the
    /// prepare and the decision, the registered [`TransactionChecker`] is asked later, so the
    /// message and the local state still agree.
    ///
    /// ```no_run
    /// # async fn demo(broker: mq_broker::Broker) -> Result<(), Box<dyn std::error::Error>> {
    /// use mq_broker::{OutgoingMessage, TxnOptions};
    /// let message = OutgoingMessage::new(r#"{"orderId": 42, "paid": true}"#).with_key("order-42");
    /// let (_, txn) = broker
    ///     .send_in_transaction("payments", message, TxnOptions::default(), |ctx| async move {
    ///         // e.g. UPDATE orders SET paid = true, txn = ctx.transaction_id WHERE id = 42
    ///         Ok::<_, std::io::Error>(ctx.transaction_id)
    ///     })
    ///     .await?;
    /// assert_eq!(txn.state, mq_model::TransactionState::Committed);
    /// # Ok(()) }
    /// ```
    pub async fn send_in_transaction<F, Fut, T, E>(
        &self,
        topic: &str,
        message: OutgoingMessage,
        options: TxnOptions,
        work: F,
    ) -> Result<(T, Transaction), TxnFailure<E>>
    where
        F: FnOnce(TxnContext) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let prepared =
            self.prepare_transaction(topic, message, options).await.map_err(TxnFailure::Broker)?;
        if prepared.duplicate {
            // The local work ran with the first transaction; running it again is not this
            // call's to decide.
            return Err(TxnFailure::Broker(BrokerError::invalid(
                "idempotencyKey",
                format!(
                    "repeats the key of transaction {} (now {}), whose local work ran then",
                    prepared.transaction.transaction_id,
                    prepared.transaction.state.as_str()
                ),
            )));
        }
        let prepared = prepared.transaction;
        let context = TxnContext {
            transaction_id: prepared.transaction_id.clone(),
            message_id: prepared.message_id.clone(),
        };
        match work(context).await {
            Ok(value) => {
                let committed = self
                    .commit_transaction(&prepared.transaction_id)
                    .await
                    .map_err(TxnFailure::Broker)?;
                Ok((value, committed))
            }
            Err(error) => {
                if let Err(rollback) = self.rollback_transaction(&prepared.transaction_id).await {
                    tracing::warn!(txn = %prepared.transaction_id, error = %rollback, "rollback failed; the check-back resolves it");
                }
                Err(TxnFailure::Local(error))
            }
        }
    }
}
