//! The seed's payment scenario (§1.3) with transactional messages: the payment service marks an
//! order paid in its own database and publishes "payment succeeded" for the wallet and order
//! services, and the two must agree even if the service crashes at any step.
//!
//! `cargo run -p mq-broker --example payment`
//!
//! The local database is a file (one line per paid order, with the transaction id), written
//! atomically. Each run injects a crash at one step: the broker instance stops without a
//! decision, and a fresh instance over the same stores (as after a restart; here the embedded
//! in-memory stores stand in for Redis and MongoDB) resolves the transaction by check-back,
//! asking a checker that looks the transaction id up in the file. The example then checks that
//! the message was delivered exactly when the file says the order is paid, and exits non-zero
//! otherwise.
// An example talks to the person running it.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mq_broker::{
    Broker, CheckDecision, FetchRequest, GroupSpec, MessageQueueConfig, OutgoingMessage,
    TransactionChecker, TxnConfig, TxnOptions,
};
use mq_model::{StartFrom, SystemClock, Transaction, TransactionState};
use mq_repo::{MemoryMessageLog, MemoryMetadata, MessageStores, MetadataStores};

/// Where the payment service stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    /// It does not: commit (or rollback) as planned.
    Never,
    /// After the half message is prepared, before the local write.
    AfterPrepare,
    /// After the local write, before the commit reaches the broker.
    AfterLocalCommit,
}

/// The payment service's own database: paid orders with the transaction that paid them.
#[derive(Debug, Clone)]
struct Ledger {
    path: PathBuf,
}

impl Ledger {
    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.path).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    /// Records an order as paid by a transaction, atomically (write aside, then rename).
    fn mark_paid(&self, order: u32, txn: &str) -> std::io::Result<()> {
        let mut lines = self.lines();
        lines.push(format!("{order} {txn}"));
        let aside = self.path.with_extension("tmp");
        std::fs::write(&aside, lines.join("\n") + "\n")?;
        std::fs::rename(&aside, &self.path)
    }

    fn paid_by(&self, txn: &str) -> bool {
        self.lines().iter().any(|l| l.split_whitespace().nth(1) == Some(txn))
    }

    fn is_paid(&self, order: u32) -> bool {
        self.lines().iter().any(|l| l.split_whitespace().next() == Some(&order.to_string()))
    }
}

/// The check-back: the transaction committed exactly when the ledger has it.
#[derive(Debug)]
struct LedgerChecker(Ledger);

#[async_trait]
impl TransactionChecker for LedgerChecker {
    async fn check(&self, txn: &Transaction) -> Result<CheckDecision, String> {
        Ok(if self.0.paid_by(&txn.transaction_id) {
            CheckDecision::Commit
        } else {
            CheckDecision::Rollback
        })
    }
}

/// A broker instance over shared stores, as one server process over Redis and MongoDB.
fn instance(messages: &MessageStores, meta: &MetadataStores, ledger: &Ledger) -> Broker {
    let transactions = TxnConfig { check_interval_ms: 50, ..TxnConfig::default() };
    let cfg = MessageQueueConfig { transactions, ..MessageQueueConfig::default() };
    let broker = Broker::new(messages.clone(), meta.clone(), cfg, Arc::new(SystemClock));
    broker.set_transaction_checker(Arc::new(LedgerChecker(ledger.clone())));
    broker.start_background();
    broker
}

/// Runs one payment with a crash at `crash`; returns (order paid locally, message delivered).
async fn pay(order: u32, crash: Crash, local_ok: bool, dir: &Path) -> anyhow::Result<(bool, bool)> {
    let ledger = Ledger { path: dir.join(format!("ledger-{order}.txt")) };
    let messages = MessageStores::from_shared(Arc::new(MemoryMessageLog::default()));
    let meta = MemoryMetadata::stores();
    let service = instance(&messages, &meta, &ledger);
    service.create_topic(service.topic_defaults("payments"), "example").await?;
    let spec =
        GroupSpec { start_from: StartFrom::Earliest, ..GroupSpec::new("payments", "wallet") };
    service.create_group(spec).await?;

    let message = OutgoingMessage::new(format!(r#"{{"orderId":{order},"paid":true}}"#))
        .with_key(format!("order-{order}"));
    // Checked back 300 ms after preparing if undecided by then.
    let options = TxnOptions { timeout: Some(Duration::from_millis(300)), ..TxnOptions::default() };
    let txn_id = if crash == Crash::Never {
        // The library helper: prepare, local work, then commit on Ok or roll back on Err.
        let result = service
            .send_in_transaction("payments", message, options, |ctx| {
                let ledger = ledger.clone();
                async move {
                    if !local_ok {
                        return Err("card declined".to_owned());
                    }
                    ledger.mark_paid(order, &ctx.transaction_id).map_err(|e| e.to_string())?;
                    Ok(ctx.transaction_id)
                }
            })
            .await;
        match result {
            Ok((id, _)) => id,
            Err(failure) => {
                println!("  order {order}: {failure}");
                let listed = service
                    .list_transactions(&Default::default(), mq_model::Page::new(1, 1))
                    .await?;
                listed.items[0].transaction_id.clone()
            }
        }
    } else {
        // The same steps by hand, to stop between them.
        let prepared = service.prepare_transaction("payments", message, options).await?.transaction;
        if crash == Crash::AfterLocalCommit {
            ledger.mark_paid(order, &prepared.transaction_id)?;
        }
        println!("  order {order}: the payment service crashes ({crash:?})");
        service.shutdown().await;
        prepared.transaction_id
    };

    // After the crash (or not), a fresh instance over the same stores.
    let restarted = instance(&messages, &meta, &ledger);
    let started = Instant::now();
    let txn = loop {
        let txn = restarted.get_transaction(&txn_id).await?;
        if txn.state != TransactionState::Prepared && txn.applied {
            break txn;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "{txn_id} stayed undecided");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let request = FetchRequest {
        topic_name: "payments".into(),
        group_id: "wallet".into(),
        consumer_id: "wallet-1".into(),
        max_messages: 10,
        wait: Duration::from_millis(300),
    };
    let delivered = restarted.fetch(&request).await?;
    println!(
        "  order {order}: transaction {} by {:?}; ledger paid: {}; messages delivered: {}",
        txn.state.as_str(),
        txn.decided_by,
        ledger.is_paid(order),
        delivered.len()
    );
    restarted.shutdown().await;
    if !service.is_shutting_down() {
        service.shutdown().await;
    }
    anyhow::ensure!(delivered.len() <= 1, "order {order}: delivered {} times", delivered.len());
    Ok((ledger.is_paid(order), delivered.len() == 1))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cases = [
        (1, Crash::Never, true, "no crash, local commit"),
        (2, Crash::Never, false, "no crash, local failure"),
        (3, Crash::AfterPrepare, true, "crash after prepare"),
        (4, Crash::AfterLocalCommit, true, "crash after the local commit"),
    ];
    let mut all_agree = true;
    for (order, crash, local_ok, what) in cases {
        println!("{what}:");
        let (paid, delivered) = pay(order, crash, local_ok, dir.path()).await?;
        let agree = paid == delivered;
        all_agree &= agree;
        println!("  -> {}", if agree { "message and local state agree" } else { "DISAGREE" });
    }
    anyhow::ensure!(all_agree, "the message and the local state disagreed");
    Ok(())
}
