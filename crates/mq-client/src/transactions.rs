//! Transactions: commit, roll back, show and list (prepare is
//! [`Client::prepare_transaction`]).

use mq_model::{Transaction, TransactionState};
use reqwest::Method;

use crate::error::Result;
use crate::{Client, Paged};

/// Which transactions to list (`GET /transactions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionQuery {
    /// Of this topic.
    pub topic_name: Option<String>,
    /// In this state.
    pub state: Option<TransactionState>,
    /// The page, from 1.
    pub page: Option<u64>,
    /// Items per page (server default 20, at most 1000).
    pub page_size: Option<u64>,
}

impl Client {
    /// `POST /transactions/{id}/commit`: the half message is appended once and becomes
    /// visible; returns the record with its offset. A 409 when it was rolled back. Retried:
    /// committing twice answers alike.
    pub async fn commit_transaction(&self, id: &str) -> Result<Transaction> {
        let call = self.api(Method::POST, &["transactions", id, "commit"]).idempotent();
        self.data(call).await
    }

    /// `POST /transactions/{id}/rollback`: the half message is dropped. A 409 when it was
    /// committed. Retried: rolling back twice answers alike.
    pub async fn rollback_transaction(&self, id: &str) -> Result<Transaction> {
        let call = self.api(Method::POST, &["transactions", id, "rollback"]).idempotent();
        self.data(call).await
    }

    /// `GET /transactions/{id}`: the record, with its state and history.
    pub async fn get_transaction(&self, id: &str) -> Result<Transaction> {
        self.data(self.api(Method::GET, &["transactions", id])).await
    }

    /// `GET /transactions`: a page of transaction records.
    pub async fn list_transactions(&self, query: &TransactionQuery) -> Result<Paged<Transaction>> {
        let call = self
            .api(Method::GET, &["transactions"])
            .query("topicName", query.topic_name.as_deref())
            .query("state", query.state.map(TransactionState::as_str))
            .query("page", query.page)
            .query("pageSize", query.page_size);
        self.data(call).await
    }
}
