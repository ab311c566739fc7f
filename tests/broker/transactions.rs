//! Transaction scenarios through the library (issue 6), each over a [`BrokerUnderTest`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mq_broker::{
    Broker, BrokerError, CheckDecision, OutgoingMessage, TransactionChecker, TxnFailure, TxnOptions,
};
use mq_model::{DecidedBy, DeliveryMode, Transaction, TransactionEvent, TransactionState};
use mq_tests::BrokerUnderTest;

use crate::scenarios::{ack_all, fetch, fetch_req, text, topic};

async fn wide_group(b: &Broker, topic: &str) {
    let spec = mq_broker::GroupSpec {
        start_from: mq_model::StartFrom::Earliest,
        delivery_mode: DeliveryMode::Shared,
        ..mq_broker::GroupSpec::new(topic, "g")
    };
    b.create_group(spec).await.unwrap();
}

/// Everything the group receives within `within`, acked.
async fn drain(b: &Broker, topic: &str, within: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut got = Vec::new();
    while started.elapsed() < within {
        let more = b.fetch(&fetch_req(topic, "g", "c", 100, 100)).await.unwrap();
        if !more.is_empty() {
            ack_all(b, topic, "g", &more).await;
        }
        got.extend(more.iter().map(text));
    }
    got
}

async fn wait_applied(b: &Broker, id: &str, within: Duration) -> Transaction {
    let started = Instant::now();
    loop {
        let txn = b.get_transaction(id).await.unwrap();
        if (txn.state != TransactionState::Prepared && txn.applied) || started.elapsed() > within {
            return txn;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn commit_and_rollback_decide_once(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "wallet", 2).await;
    wide_group(b, "wallet").await;
    let message = || OutgoingMessage::new("credit").with_key("user-1");
    let kept = b
        .prepare_transaction("wallet", message(), TxnOptions::default())
        .await
        .unwrap()
        .transaction;
    let dropped = b
        .prepare_transaction("wallet", message(), TxnOptions::default())
        .await
        .unwrap()
        .transaction;
    assert_eq!(kept.state, TransactionState::Prepared);
    assert!(fetch(b, "wallet", "g", "c", 10).await.is_empty(), "half messages are invisible");

    let committed = b.commit_transaction(&kept.transaction_id).await.unwrap();
    assert_eq!(committed.state, TransactionState::Committed);
    assert_eq!(committed.decided_by, Some(DecidedBy::Producer));
    assert!(committed.applied);
    let again = b.commit_transaction(&kept.transaction_id).await.unwrap();
    assert_eq!(again.offset, committed.offset, "a repeated commit answers the same");
    b.rollback_transaction(&dropped.transaction_id).await.unwrap();
    let err = b.commit_transaction(&dropped.transaction_id).await.unwrap_err();
    assert!(matches!(err, BrokerError::TransactionConflict(_)), "{err:?}");
    let err = b.rollback_transaction(&kept.transaction_id).await.unwrap_err();
    assert!(matches!(err, BrokerError::TransactionConflict(_)), "{err:?}");
    let err = b.get_transaction("txn_missing").await.unwrap_err();
    assert!(matches!(err, BrokerError::TransactionNotFound { .. }), "{err:?}");

    let got = b.fetch(&fetch_req("wallet", "g", "c", 10, 500)).await.unwrap();
    assert_eq!(got.len(), 1, "exactly the committed message");
    assert_eq!(got[0].message.message_id, kept.message_id);
    assert_eq!(got[0].message.offset, committed.offset.unwrap());
    assert_eq!(got[0].message.message_type, mq_model::MessageType::Transaction);
    ack_all(b, "wallet", "g", &got).await;
    assert!(drain(b, "wallet", Duration::from_millis(300)).await.is_empty());
}

pub async fn send_in_transaction_follows_the_local_work(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "orders-lib", 1).await;
    wide_group(b, "orders-lib").await;
    let (value, txn) = b
        .send_in_transaction(
            "orders-lib",
            OutgoingMessage::new("paid"),
            TxnOptions::default(),
            |ctx| async move { Ok::<_, String>(ctx.transaction_id) },
        )
        .await
        .unwrap();
    assert_eq!(value, txn.transaction_id, "the work saw the transaction id");
    assert_eq!(txn.state, TransactionState::Committed);
    let failed = b
        .send_in_transaction(
            "orders-lib",
            OutgoingMessage::new("not paid"),
            TxnOptions::default(),
            |_ctx| async { Err::<(), _>("card declined") },
        )
        .await
        .unwrap_err();
    assert!(matches!(failed, TxnFailure::Local("card declined")), "{failed:?}");
    let rolled_back = b
        .list_transactions(
            &mq_repo::TransactionFilter {
                topic_name: Some("orders-lib".into()),
                state: Some(TransactionState::RolledBack),
            },
            mq_model::Page::new(1, 10),
        )
        .await
        .unwrap();
    assert_eq!(rolled_back.total, 1);
    assert_eq!(drain(b, "orders-lib", Duration::from_millis(500)).await, ["paid"]);
}

/// Answers from a script per message value: `unknown` until the n-th ask, then the decision.
#[derive(Debug, Default)]
struct ScriptedChecker {
    asked: Mutex<BTreeMap<String, u32>>,
}

#[async_trait]
impl TransactionChecker for ScriptedChecker {
    async fn check(&self, txn: &Transaction) -> Result<CheckDecision, String> {
        let mut asked = self.asked.lock().unwrap();
        let n = asked.entry(txn.message_id.clone()).or_default();
        *n += 1;
        match (txn.key.as_deref(), *n) {
            (Some("commit-on-2"), 1) => Ok(CheckDecision::Unknown),
            (Some("commit-on-2"), _) => Ok(CheckDecision::Commit),
            (Some("rollback"), _) => Ok(CheckDecision::Rollback),
            _ => Err("the local database is down".into()),
        }
    }
}

pub async fn a_library_checker_resolves_undecided_transactions(t: &BrokerUnderTest) {
    let b = &t.broker;
    b.set_transaction_checker(Arc::new(ScriptedChecker::default()));
    topic(b, "abandoned", 1).await;
    wide_group(b, "abandoned").await;
    let options = TxnOptions { timeout: Some(Duration::from_millis(200)), ..TxnOptions::default() };
    let mut ids = BTreeMap::new();
    for key in ["commit-on-2", "rollback", "down"] {
        let message = OutgoingMessage::new(key).with_key(key);
        let txn =
            b.prepare_transaction("abandoned", message, options.clone()).await.unwrap().transaction;
        ids.insert(key, txn.transaction_id);
    }
    let committed = wait_applied(b, &ids["commit-on-2"], Duration::from_secs(10)).await;
    assert_eq!(committed.state, TransactionState::Committed);
    assert_eq!(committed.decided_by, Some(DecidedBy::Checkback));
    assert_eq!(committed.check_count, 2);
    let rolled = wait_applied(b, &ids["rollback"], Duration::from_secs(10)).await;
    assert_eq!((rolled.state, rolled.check_count), (TransactionState::RolledBack, 1));
    // The checker keeps failing: the final action (rollback) after max_checks (3).
    let down = wait_applied(b, &ids["down"], Duration::from_secs(10)).await;
    assert_eq!(down.state, TransactionState::RolledBack);
    assert_eq!(down.decided_by, Some(DecidedBy::FinalAction));
    assert_eq!(down.check_count, 3);
    let reason = down.reason.clone().unwrap();
    assert!(reason.contains("local database is down"), "{reason}");
    assert_eq!(drain(b, "abandoned", Duration::from_millis(500)).await, ["commit-on-2"]);
}

pub async fn a_decision_cut_short_by_a_crash_is_applied_later(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "cut", 1).await;
    wide_group(b, "cut").await;
    let txn = b
        .prepare_transaction("cut", OutgoingMessage::new("x"), TxnOptions::default())
        .await
        .unwrap()
        .transaction;
    // An instance decided and stopped before appending: the record says committed.
    let meta = t.metadata().await;
    let event = TransactionEvent {
        at: chrono::Utc::now(),
        kind: "committed".into(),
        detail: "by the producer".into(),
    };
    let decided = meta
        .transactions
        .decide(&txn.transaction_id, TransactionState::Committed, DecidedBy::Producer, None, event)
        .await
        .unwrap();
    assert!(decided.is_some());
    let applied = wait_applied(b, &txn.transaction_id, Duration::from_secs(10)).await;
    assert!(applied.applied, "{applied:?}");
    assert_eq!(applied.offset, Some(0));
    assert_eq!(drain(b, "cut", Duration::from_millis(400)).await, ["x"]);
}

pub async fn a_record_without_its_half_message_is_rolled_back(t: &BrokerUnderTest) {
    let b = &t.broker;
    topic(b, "half-lost", 1).await;
    wide_group(b, "half-lost").await;
    // An instance wrote the record and stopped before the half message.
    let now = chrono::Utc::now();
    let record = Transaction {
        transaction_id: mq_model::new_id(mq_model::IdKind::Transaction),
        message_id: mq_model::new_id(mq_model::IdKind::Message),
        topic_name: "half-lost".into(),
        partition: 0,
        key: None,
        headers: BTreeMap::new(),
        producer_id: None,
        state: TransactionState::Prepared,
        checkback_url: None,
        timeout_ms: 0,
        check_at: now,
        check_count: 0,
        lease_until: None,
        decided_by: None,
        reason: None,
        applied: false,
        offset: None,
        history: Vec::new(),
        created_at: now,
        updated_at: now,
        placement: mq_model::Placement::spread(1),
    };
    t.metadata().await.transactions.insert(record.clone()).await.unwrap();
    let settled = wait_applied(b, &record.transaction_id, Duration::from_secs(10)).await;
    assert_eq!(settled.state, TransactionState::RolledBack);
    assert!(settled.reason.unwrap().contains("half message is missing"));
    assert!(drain(b, "half-lost", Duration::from_millis(300)).await.is_empty());
}

pub async fn two_instances_commit_each_message_once(t: &BrokerUnderTest) {
    let a = &t.broker;
    let b = t.second_instance().await;
    topic(a, "racing", 1).await;
    wide_group(a, "racing").await;
    let mut txns = Vec::new();
    for i in 0..50 {
        let message = OutgoingMessage::new(format!("m{i}"));
        txns.push(
            a.prepare_transaction("racing", message, TxnOptions::default())
                .await
                .unwrap()
                .transaction,
        );
    }
    for txn in &txns {
        let id = txn.transaction_id.as_str();
        let (x, y) = tokio::join!(a.commit_transaction(id), b.commit_transaction(id));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x.offset, y.offset, "{x:?} {y:?}");
    }
    let mut got = drain(a, "racing", Duration::from_secs(1)).await;
    got.sort();
    let mut expected: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(got, expected, "each exactly once");
    b.shutdown().await;
}
