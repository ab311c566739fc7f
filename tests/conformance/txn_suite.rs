//! The transaction-record suite: round trips, listings, and the conditional changes that let
//! several broker instances agree on a transaction's outcome.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use mq_model::{
    new_id, DecidedBy, IdKind, ModelError, Page, Transaction, TransactionEvent, TransactionState,
};
use mq_repo::{MetadataStores, RepoError, TransactionFilter, TransactionRepository};

/// A fixed, millisecond-precise instant (BSON dates keep milliseconds).
fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 15, 10, 0, 0).unwrap()
        + Duration::minutes(minute)
        + Duration::milliseconds(123)
}

fn event(minute: i64, kind: &str) -> TransactionEvent {
    TransactionEvent { at: at(minute), kind: kind.into(), detail: format!("{kind} at {minute}") }
}

/// A just-prepared transaction created at `minute`, first checked a minute later.
fn prepared(topic: &str, minute: i64) -> Transaction {
    Transaction {
        transaction_id: new_id(IdKind::Transaction),
        message_id: new_id(IdKind::Message),
        topic_name: topic.into(),
        partition: 0,
        key: None,
        headers: BTreeMap::new(),
        producer_id: None,
        state: TransactionState::Prepared,
        checkback_url: None,
        timeout_ms: 60_000,
        check_at: at(minute + 1),
        check_count: 0,
        lease_until: None,
        decided_by: None,
        reason: None,
        applied: false,
        offset: None,
        history: vec![event(minute, "prepared")],
        created_at: at(minute),
        updated_at: at(minute),
        placement: mq_model::Placement::spread(4),
    }
}

/// A transaction with every optional field set.
fn in_full(topic: &str, minute: i64) -> Transaction {
    Transaction {
        partition: 5,
        key: Some("user_123456".into()),
        headers: BTreeMap::from([("trace".into(), "t-1".into()), ("来源".into(), "测试".into())]),
        producer_id: Some("producer-1".into()),
        state: TransactionState::Committed,
        checkback_url: Some("http://producer.internal/txn/check".into()),
        timeout_ms: 6_000,
        check_count: 2,
        lease_until: Some(at(minute + 3)),
        decided_by: Some(DecidedBy::Checkback),
        reason: Some("checker answered commit".into()),
        applied: true,
        offset: Some(1 << 40),
        history: vec![
            event(minute, "prepared"),
            event(minute + 1, "check"),
            TransactionEvent { detail: "库存不足".into(), ..event(minute + 2, "check") },
            event(minute + 3, "committed"),
            event(minute + 4, "applied"),
        ],
        updated_at: at(minute + 4),
        ..prepared(topic, minute)
    }
}

async fn insert(s: &MetadataStores, txn: Transaction) -> Transaction {
    s.transactions.insert(txn).await.unwrap()
}

async fn get(s: &MetadataStores, id: &str) -> Transaction {
    s.transactions.get(id).await.unwrap().unwrap()
}

async fn commit(s: &MetadataStores, id: &str, minute: i64) -> Transaction {
    let decided = s
        .transactions
        .decide(
            id,
            TransactionState::Committed,
            DecidedBy::Producer,
            None,
            event(minute, "committed"),
        )
        .await
        .unwrap();
    decided.unwrap()
}

fn with_id(txn: Transaction, id: &str) -> Transaction {
    Transaction { transaction_id: id.to_owned(), ..txn }
}

fn ids(items: &[Transaction]) -> Vec<&str> {
    items.iter().map(|t| t.transaction_id.as_str()).collect()
}

pub async fn txn_insert_and_get_round_trip_every_field(s: MetadataStores) {
    for txn in [prepared("orders", 0), in_full("orders", 1)] {
        assert_eq!(insert(&s, txn.clone()).await, txn);
        assert_eq!(get(&s, &txn.transaction_id).await, txn);
    }
    assert_eq!(s.transactions.get("txn_missing").await.unwrap(), None);

    let taken = insert(&s, prepared("orders", 2)).await;
    let err = s
        .transactions
        .insert(with_id(prepared("other", 3), &taken.transaction_id))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RepoError::AlreadyExists { kind: "transaction", id } if *id == taken.transaction_id),
        "{err}"
    );
    assert_eq!(get(&s, &taken.transaction_id).await, taken, "the first record is kept");
}

pub async fn txn_times_are_kept_to_the_millisecond(s: MetadataStores) {
    let sub_ms = Duration::nanoseconds(456_789);
    let whole = in_full("orders", 0);
    let mut txn = whole.clone();
    txn.check_at += sub_ms;
    txn.lease_until = txn.lease_until.map(|t| t + sub_ms);
    txn.created_at += sub_ms;
    txn.updated_at += sub_ms;
    txn.history[0].at += sub_ms;
    let stored = insert(&s, txn.clone()).await;
    assert_eq!(stored, whole, "stored floored to the millisecond");
    assert_eq!(get(&s, &txn.transaction_id).await, whole);

    // Conditions compare whole milliseconds: `check_at` (stored at X ms) is due at
    // X + 0.99 ms but not at X - 1 ns.
    let id = insert(&s, prepared("orders", 10)).await.transaction_id;
    let check_at = at(11);
    let due = s.transactions.due_checks(check_at + Duration::microseconds(990), 10).await.unwrap();
    assert_eq!(ids(&due), [id.as_str()]);
    let due = s.transactions.due_checks(check_at - Duration::nanoseconds(1), 10).await.unwrap();
    assert!(due.is_empty(), "{due:?}");
}

pub async fn txn_listing_filters_pages_and_sorts_newest_first(s: MetadataStores) {
    let o1 = insert(&s, prepared("orders", 1)).await;
    let o2 = insert(&s, prepared("orders", 2)).await;
    let p3 = insert(&s, prepared("payments", 3)).await;
    // Two created at the same time: the larger id comes first.
    let tie_a = insert(&s, with_id(prepared("orders", 4), "txn_tie_a")).await;
    let tie_b = insert(&s, with_id(prepared("orders", 4), "txn_tie_b")).await;
    commit(&s, &o2.transaction_id, 5).await;

    let list = |filter: TransactionFilter, page: Page| {
        let s = s.clone();
        async move { s.transactions.list(&filter, page).await.unwrap() }
    };
    let all = list(TransactionFilter::default(), Page::new(1, 10)).await;
    assert_eq!(all.total, 5);
    assert_eq!(
        ids(&all.items),
        [
            tie_b.transaction_id.as_str(),
            tie_a.transaction_id.as_str(),
            p3.transaction_id.as_str(),
            o2.transaction_id.as_str(),
            o1.transaction_id.as_str(),
        ]
    );
    assert_eq!(all.items[3].state, TransactionState::Committed);

    let orders = TransactionFilter { topic_name: Some("orders".into()), state: None };
    let page2 = list(orders.clone(), Page::new(2, 2)).await;
    assert_eq!((page2.total, page2.page, page2.page_size), (4, 2, 2));
    assert_eq!(ids(&page2.items), [o2.transaction_id.as_str(), o1.transaction_id.as_str()]);
    let page3 = list(orders.clone(), Page::new(3, 2)).await;
    assert_eq!((page3.total, page3.items.len()), (4, 0));

    let prepared_orders =
        TransactionFilter { state: Some(TransactionState::Prepared), ..orders.clone() };
    let found = list(prepared_orders, Page::new(1, 10)).await;
    assert_eq!(found.total, 3);
    assert_eq!(
        ids(&found.items),
        [tie_b.transaction_id.as_str(), tie_a.transaction_id.as_str(), o1.transaction_id.as_str()]
    );
    let committed = TransactionFilter { state: Some(TransactionState::Committed), ..orders };
    assert_eq!(ids(&list(committed, Page::new(1, 10)).await.items), [o2.transaction_id.as_str()]);
    let none = TransactionFilter {
        topic_name: Some("payments".into()),
        state: Some(TransactionState::RolledBack),
    };
    let empty = list(none, Page::new(1, 10)).await;
    assert_eq!((empty.total, empty.items.len()), (0, 0));
}

pub async fn txn_decide_only_from_prepared(s: MetadataStores) {
    let mut txn = prepared("orders", 0);
    txn.lease_until = Some(at(2));
    txn.check_count = 1;
    let txn = insert(&s, txn).await;
    let id = txn.transaction_id.clone();

    let decided = s
        .transactions
        .decide(
            &id,
            TransactionState::RolledBack,
            DecidedBy::FinalAction,
            Some("unknown after the last check".into()),
            event(3, "rolled_back"),
        )
        .await
        .unwrap()
        .expect("a prepared transaction is decided");
    let mut expected = txn.clone();
    expected.state = TransactionState::RolledBack;
    expected.decided_by = Some(DecidedBy::FinalAction);
    expected.reason = Some("unknown after the last check".into());
    expected.lease_until = None;
    expected.updated_at = at(3);
    expected.history.push(event(3, "rolled_back"));
    assert_eq!(decided, expected);
    assert_eq!(get(&s, &id).await, expected);

    // Decided already: neither a second decision nor the same one again changes anything.
    for state in [TransactionState::Committed, TransactionState::RolledBack] {
        let again = s
            .transactions
            .decide(&id, state, DecidedBy::Producer, None, event(4, "committed"))
            .await
            .unwrap();
        assert_eq!(again, None);
    }
    assert_eq!(get(&s, &id).await, expected);

    let unknown = s
        .transactions
        .decide(
            "txn_missing",
            TransactionState::Committed,
            DecidedBy::Producer,
            None,
            event(4, "x"),
        )
        .await
        .unwrap();
    assert_eq!(unknown, None);

    // `prepared` is not a decision.
    let other = insert(&s, prepared("orders", 5)).await;
    let err = s
        .transactions
        .decide(
            &other.transaction_id,
            TransactionState::Prepared,
            DecidedBy::Producer,
            None,
            event(6, "prepared"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::Model(ModelError::Invalid { field: "state", .. })), "{err}");
    assert_eq!(get(&s, &other.transaction_id).await, other);

    // A commit without a reason stores none.
    let committed = commit(&s, &other.transaction_id, 7).await;
    assert_eq!(
        (committed.state, committed.decided_by, committed.reason),
        (TransactionState::Committed, Some(DecidedBy::Producer), None)
    );
}

pub async fn txn_racing_decisions_have_exactly_one_winner(s: MetadataStores) {
    let id = insert(&s, prepared("orders", 0)).await.transaction_id;
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (transactions, id) = (s.transactions.clone(), id.clone());
            let state =
                if i % 2 == 0 { TransactionState::Committed } else { TransactionState::RolledBack };
            tokio::spawn(async move {
                let decided = transactions
                    .decide(
                        &id,
                        state,
                        DecidedBy::Checkback,
                        Some(format!("racer {i}")),
                        event(1, "x"),
                    )
                    .await
                    .unwrap();
                decided.map(|t| (t.state, t.reason))
            })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        winners.extend(racer.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "exactly one of eight racing decisions wins: {winners:?}");
    let stored = get(&s, &id).await;
    assert_eq!((stored.state, stored.reason), winners.remove(0));
    assert_eq!(stored.history.len(), 2, "only the winner's event is recorded");
}

pub async fn txn_mark_applied_only_once_and_only_when_decided(s: MetadataStores) {
    let txn = insert(&s, prepared("orders", 0)).await;
    let id = txn.transaction_id.clone();
    assert!(!s.transactions.mark_applied(&id, Some(7), event(1, "applied")).await.unwrap());
    assert_eq!(get(&s, &id).await, txn, "a prepared transaction is not applied");

    let decided = commit(&s, &id, 2).await;
    assert!(s.transactions.mark_applied(&id, Some(7), event(3, "applied")).await.unwrap());
    let mut expected = decided.clone();
    expected.applied = true;
    expected.offset = Some(7);
    expected.updated_at = at(3);
    expected.history.push(event(3, "applied"));
    assert_eq!(get(&s, &id).await, expected);

    assert!(!s.transactions.mark_applied(&id, Some(8), event(4, "applied")).await.unwrap());
    assert_eq!(get(&s, &id).await, expected, "applied once only");
    assert!(!s.transactions.mark_applied("txn_missing", None, event(4, "applied")).await.unwrap());

    // A rollback takes effect without an offset.
    let rolled = insert(&s, prepared("orders", 5)).await.transaction_id;
    s.transactions
        .decide(&rolled, TransactionState::RolledBack, DecidedBy::Producer, None, event(6, "rb"))
        .await
        .unwrap()
        .unwrap();
    assert!(s.transactions.mark_applied(&rolled, None, event(7, "applied")).await.unwrap());
    let stored = get(&s, &rolled).await;
    assert_eq!((stored.applied, stored.offset), (true, None));

    // Of racing appliers exactly one wins.
    let raced = insert(&s, prepared("orders", 8)).await.transaction_id;
    commit(&s, &raced, 9).await;
    let (a, b) = tokio::join!(
        s.transactions.mark_applied(&raced, Some(1), event(10, "applied")),
        s.transactions.mark_applied(&raced, Some(2), event(10, "applied")),
    );
    assert!(a.unwrap() != b.unwrap(), "exactly one of two racing appliers wins");
}

pub async fn txn_due_checks_respect_check_at_lease_and_state(s: MetadataStores) {
    // check_at: minute + 1.
    let late = insert(&s, prepared("orders", 5)).await;
    let early = insert(&s, prepared("orders", 0)).await;
    let middle = insert(&s, prepared("payments", 2)).await;
    let leased =
        insert(&s, Transaction { lease_until: Some(at(20)), ..prepared("orders", 1) }).await;
    let lease_over =
        insert(&s, Transaction { lease_until: Some(at(4)), ..prepared("orders", 3) }).await;
    let decided = insert(&s, prepared("orders", 0)).await;
    commit(&s, &decided.transaction_id, 1).await;
    let future = insert(&s, prepared("orders", 30)).await;

    let due = s.transactions.due_checks(at(10), 10).await.unwrap();
    assert_eq!(
        ids(&due),
        [
            early.transaction_id.as_str(),
            middle.transaction_id.as_str(),
            lease_over.transaction_id.as_str(),
            late.transaction_id.as_str(),
        ]
    );
    assert_eq!(due[0], early, "due records are returned whole");

    // `check_at == now` is due; the limit keeps the earliest.
    let due = s.transactions.due_checks(at(3), 10).await.unwrap();
    assert_eq!(ids(&due), [early.transaction_id.as_str(), middle.transaction_id.as_str()]);
    let due = s.transactions.due_checks(at(10), 2).await.unwrap();
    assert_eq!(ids(&due), [early.transaction_id.as_str(), middle.transaction_id.as_str()]);
    assert!(s.transactions.due_checks(at(10), 0).await.unwrap().is_empty());

    // A lease held until `now` is over at `now`.
    let due = s.transactions.due_checks(at(20), 10).await.unwrap();
    assert!(ids(&due).contains(&leased.transaction_id.as_str()), "{due:?}");
    assert!(!ids(&due).contains(&future.transaction_id.as_str()));
    assert!(s.transactions.due_checks(at(-10), 10).await.unwrap().is_empty());
}

pub async fn txn_lease_check_has_exactly_one_winner(s: MetadataStores) {
    let id = insert(&s, prepared("orders", 0)).await.transaction_id;
    let (now, until) = (at(1), at(2));
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (transactions, id) = (s.transactions.clone(), id.clone());
            tokio::spawn(async move { transactions.lease_check(&id, 0, now, until).await })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.unwrap().unwrap());
    }
    assert_eq!(won, 1, "exactly one of eight concurrent leases wins");
    let leased = get(&s, &id).await;
    assert_eq!((leased.check_count, leased.lease_until), (1, Some(until)));
    assert_eq!(leased.updated_at, at(0), "a lease is no step in the history");
    assert_eq!(leased.history.len(), 1);
    assert!(s.transactions.due_checks(at(1), 10).await.unwrap().is_empty(), "leased");

    // While held, no lease is taken, with the old count or the new.
    let mid_lease = now + Duration::seconds(30);
    assert!(!s.transactions.lease_check(&id, 1, mid_lease, at(3)).await.unwrap());
    assert!(!s.transactions.lease_check(&id, 0, mid_lease, at(3)).await.unwrap());
    assert_eq!(get(&s, &id).await, leased);

    // Once it runs out (at `until` itself) the next check takes it with the new count only.
    assert!(!s.transactions.lease_check(&id, 0, until, at(3)).await.unwrap());
    assert!(s.transactions.lease_check(&id, 1, until, at(3)).await.unwrap());
    let again = get(&s, &id).await;
    assert_eq!((again.check_count, again.lease_until), (2, Some(at(3))));

    // Two racers through `join!` on one task, too.
    let other = insert(&s, prepared("orders", 10)).await.transaction_id;
    let (a, b) = tokio::join!(
        s.transactions.lease_check(&other, 0, at(11), at(12)),
        s.transactions.lease_check(&other, 0, at(11), at(12)),
    );
    assert!(a.unwrap() != b.unwrap(), "exactly one of two racing leases wins");

    // Decided or unknown transactions are not leased.
    commit(&s, &other, 13).await;
    assert!(!s.transactions.lease_check(&other, 1, at(20), at(21)).await.unwrap());
    assert!(!s.transactions.lease_check("txn_missing", 0, at(20), at(21)).await.unwrap());
}

pub async fn txn_check_inconclusive_needs_the_current_count(s: MetadataStores) {
    let txn = insert(&s, prepared("orders", 0)).await;
    let id = txn.transaction_id.clone();
    assert!(s.transactions.lease_check(&id, 0, at(1), at(2)).await.unwrap());
    let leased = get(&s, &id).await;

    // A checker that lost its lease to a later check (count moved on) changes nothing.
    assert!(!s.transactions.check_inconclusive(&id, 0, at(5), event(1, "check")).await.unwrap());
    assert!(!s.transactions.check_inconclusive(&id, 2, at(5), event(1, "check")).await.unwrap());
    assert_eq!(get(&s, &id).await, leased);

    let unknown =
        TransactionEvent { detail: "checker answered unknown".into(), ..event(1, "check") };
    assert!(s.transactions.check_inconclusive(&id, 1, at(5), unknown.clone()).await.unwrap());
    let mut expected = leased.clone();
    expected.check_at = at(5);
    expected.lease_until = None;
    expected.updated_at = at(1);
    expected.history.push(unknown);
    assert_eq!(get(&s, &id).await, expected);

    // Not due before the new time, due at it, and free to lease with the count it has.
    assert!(s.transactions.due_checks(at(4), 10).await.unwrap().is_empty());
    assert_eq!(ids(&s.transactions.due_checks(at(5), 10).await.unwrap()), [id.as_str()]);
    assert!(s.transactions.lease_check(&id, 1, at(5), at(6)).await.unwrap());

    // Once decided, an inconclusive check no longer applies.
    commit(&s, &id, 6).await;
    assert!(!s.transactions.check_inconclusive(&id, 2, at(9), event(7, "check")).await.unwrap());
    assert_eq!(get(&s, &id).await.check_at, at(5));
    assert!(!s
        .transactions
        .check_inconclusive("txn_missing", 0, at(9), event(7, "check"))
        .await
        .unwrap());
}

pub async fn txn_unapplied_lists_decided_records_older_than_before(s: MetadataStores) {
    let decide = |id: String, minute: i64, state: TransactionState| {
        let transactions: Arc<dyn TransactionRepository> = s.transactions.clone();
        async move {
            transactions
                .decide(&id, state, DecidedBy::Producer, None, event(minute, state.as_str()))
                .await
                .unwrap()
                .unwrap()
        }
    };
    let still_prepared = insert(&s, prepared("orders", 0)).await;
    let committed_late = insert(&s, prepared("orders", 0)).await.transaction_id;
    decide(committed_late.clone(), 8, TransactionState::Committed).await;
    let committed_early = insert(&s, prepared("orders", 0)).await.transaction_id;
    decide(committed_early.clone(), 2, TransactionState::Committed).await;
    let rolled_back = insert(&s, prepared("payments", 0)).await.transaction_id;
    decide(rolled_back.clone(), 4, TransactionState::RolledBack).await;
    let applied = insert(&s, prepared("orders", 0)).await.transaction_id;
    decide(applied.clone(), 1, TransactionState::Committed).await;
    assert!(s.transactions.mark_applied(&applied, Some(3), event(1, "applied")).await.unwrap());
    let too_new = insert(&s, prepared("orders", 0)).await.transaction_id;
    decide(too_new.clone(), 20, TransactionState::Committed).await;

    let found = s.transactions.unapplied(at(8), 10).await.unwrap();
    assert_eq!(
        ids(&found),
        [committed_early.as_str(), rolled_back.as_str(), committed_late.as_str()],
        "oldest decision first, `updated_at == before` included"
    );
    assert!(found.iter().all(|t| !t.applied && t.state != TransactionState::Prepared));
    assert!(!ids(&found).contains(&still_prepared.transaction_id.as_str()));

    let found = s.transactions.unapplied(at(8), 2).await.unwrap();
    assert_eq!(ids(&found), [committed_early.as_str(), rolled_back.as_str()]);
    assert!(s.transactions.unapplied(at(8), 0).await.unwrap().is_empty());
    assert!(s.transactions.unapplied(at(1), 10).await.unwrap().is_empty());
    let everything = s.transactions.unapplied(at(30), 10).await.unwrap();
    assert_eq!(everything.len(), 4);
    assert_eq!(everything[3].transaction_id, too_new);
}
