//! The security suite: API tokens unique by name and secret, found by the hash of their
//! secret and revoked once; the audit log's filters, order, paging and purge by age.

use chrono::{DateTime, Duration, TimeZone, Utc};
use mq_model::{new_id, ApiToken, AuditRecord, IdKind, Page, Role};
use mq_repo::{AuditFilter, MetadataStores, RepoError};

/// A fixed, millisecond-precise instant (BSON dates keep milliseconds).
fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 15, 10, 0, 0).unwrap()
        + Duration::minutes(minute)
        + Duration::milliseconds(123)
}

/// A service token named `name` whose secret hashes to a value derived from the name.
fn token(name: &str) -> ApiToken {
    ApiToken {
        name: name.into(),
        token_sha256: format!("{:0>64}", hex(name)),
        role: Role::Service,
        produce: vec![format!("{name}-*")],
        consume: vec!["*".into()],
        expires_at: None,
        created_at: at(0),
    }
}

/// The lowercase hex of a string's bytes, as a stand-in for a distinct hash per name.
fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// An audit record by `actor` of `action` at `minute`.
fn record(actor: &str, action: &str, minute: i64) -> AuditRecord {
    AuditRecord {
        id: new_id(IdKind::Audit),
        at: at(minute),
        actor: actor.into(),
        client_ip: "10.0.0.7".into(),
        action: action.into(),
        target: "orders".into(),
        outcome: "ok".into(),
        status: 200,
    }
}

fn names(tokens: &[ApiToken]) -> Vec<&str> {
    tokens.iter().map(|t| t.name.as_str()).collect()
}

fn ids(records: &[AuditRecord]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

/// Newest first, ties by the larger id: the order every listing promises.
fn newest_first(mut records: Vec<AuditRecord>) -> Vec<AuditRecord> {
    records.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
    records
}

async fn list(s: &MetadataStores, filter: &AuditFilter) -> Vec<AuditRecord> {
    let paged = s.audit.list(filter, Page::new(1, 1_000)).await.unwrap();
    assert_eq!(paged.total, paged.items.len() as u64, "{filter:?}");
    paged.items
}

pub async fn token_insert_find_list_and_revoke(s: MetadataStores) {
    assert!(s.tokens.list().await.unwrap().is_empty());
    let order = token("order-service");
    let billing = ApiToken { role: Role::Admin, ..token("billing") };
    assert_eq!(s.tokens.insert(order.clone()).await.unwrap(), order);
    assert_eq!(s.tokens.insert(billing.clone()).await.unwrap(), billing);

    let found = s.tokens.find_by_hash(&order.token_sha256).await.unwrap();
    assert_eq!(found, Some(order.clone()));
    assert_eq!(s.tokens.find_by_hash(&billing.token_sha256).await.unwrap(), Some(billing.clone()));
    assert_eq!(s.tokens.find_by_hash(&"0".repeat(64)).await.unwrap(), None);
    assert_eq!(s.tokens.list().await.unwrap(), [billing.clone(), order.clone()], "by name");

    assert!(s.tokens.revoke("order-service").await.unwrap());
    assert_eq!(s.tokens.find_by_hash(&order.token_sha256).await.unwrap(), None);
    assert!(!s.tokens.revoke("order-service").await.unwrap(), "revoked already");
    assert!(!s.tokens.revoke("never-created").await.unwrap());
    assert_eq!(names(&s.tokens.list().await.unwrap()), ["billing"]);

    // A revoked name may be used again.
    let again = ApiToken { token_sha256: "f".repeat(64), ..order };
    s.tokens.insert(again.clone()).await.unwrap();
    assert_eq!(s.tokens.find_by_hash(&again.token_sha256).await.unwrap(), Some(again));
}

pub async fn token_duplicate_name_or_secret_already_exists(s: MetadataStores) {
    let first = token("order-service");
    s.tokens.insert(first.clone()).await.unwrap();

    let same_name = ApiToken { token_sha256: "e".repeat(64), ..token("order-service") };
    let err = s.tokens.insert(same_name).await.unwrap_err();
    assert!(matches!(err, RepoError::AlreadyExists { .. }), "{err}");

    let same_secret = ApiToken { name: "copycat".into(), ..first.clone() };
    let err = s.tokens.insert(same_secret).await.unwrap_err();
    assert!(matches!(err, RepoError::AlreadyExists { .. }), "{err}");

    assert_eq!(s.tokens.list().await.unwrap(), [first], "the first token is kept unchanged");
}

pub async fn token_expiry_and_patterns_round_trip(s: MetadataStores) {
    let sub_ms = Duration::nanoseconds(456_789);
    let expiring = ApiToken {
        produce: vec!["user-*".into(), "支付".into(), "orders".into()],
        consume: vec![],
        expires_at: Some(at(60)),
        ..token("expiring")
    };
    let admin = ApiToken {
        role: Role::Admin,
        produce: vec!["*".into()],
        consume: vec!["*".into(), "audit-*".into()],
        ..token("admin")
    };
    for t in [&expiring, &admin] {
        // Sub-millisecond times are dropped, as BSON dates keep milliseconds.
        let given = ApiToken {
            created_at: t.created_at + sub_ms,
            expires_at: t.expires_at.map(|e| e + sub_ms),
            ..t.clone()
        };
        assert_eq!(s.tokens.insert(given).await.unwrap(), *t);
    }
    assert_eq!(
        s.tokens.find_by_hash(&expiring.token_sha256).await.unwrap(),
        Some(expiring.clone())
    );
    assert_eq!(s.tokens.find_by_hash(&admin.token_sha256).await.unwrap(), Some(admin.clone()));
    assert_eq!(s.tokens.list().await.unwrap(), [admin, expiring]);
}

pub async fn audit_lists_newest_first_with_every_filter(s: MetadataStores) {
    let all = vec![
        record("admin", "POST /topics", 0),
        record("anonymous", "auth", 1),
        record("order-service", "POST /topics/orders/messages", 2),
        record("admin", "DELETE /topics/orders", 3),
        record("anonymous", "auth", 3),
        record("admin", "auth", 5),
    ];
    for r in &all {
        s.audit.insert(r.clone()).await.unwrap();
    }
    let sub_ms = Duration::nanoseconds(456_789);
    let odd = AuditRecord {
        client_ip: "2001:db8::1".into(),
        target: "/admin/tokens".into(),
        outcome: "denied".into(),
        status: 403,
        ..record("order-service", "GET /admin/tokens", 4)
    };
    s.audit.insert(AuditRecord { at: odd.at + sub_ms, ..odd.clone() }).await.unwrap();
    let all: Vec<AuditRecord> = all.into_iter().chain([odd]).collect();

    let check = |filter: AuditFilter, keep: &dyn Fn(&AuditRecord) -> bool| {
        let expected = newest_first(all.iter().filter(|r| keep(r)).cloned().collect());
        (filter, expected)
    };
    let cases = [
        check(AuditFilter::default(), &|_| true),
        check(AuditFilter { from: Some(at(3)), ..Default::default() }, &|r| r.at >= at(3)),
        check(AuditFilter { to: Some(at(3)), ..Default::default() }, &|r| r.at < at(3)),
        check(AuditFilter { from: Some(at(1)), to: Some(at(4)), ..Default::default() }, &|r| {
            r.at >= at(1) && r.at < at(4)
        }),
        // Bounds between stored milliseconds: `from` just past a record leaves it out.
        check(AuditFilter { from: Some(at(3) + sub_ms), ..Default::default() }, &|r| r.at > at(3)),
        check(AuditFilter { actor: Some("admin".into()), ..Default::default() }, &|r| {
            r.actor == "admin"
        }),
        check(AuditFilter { action: Some("auth".into()), ..Default::default() }, &|r| {
            r.action == "auth"
        }),
        check(
            AuditFilter {
                from: Some(at(1)),
                to: Some(at(5)),
                actor: Some("anonymous".into()),
                action: Some("auth".into()),
            },
            &|r| r.actor == "anonymous" && r.at >= at(1) && r.at < at(5),
        ),
        check(AuditFilter { actor: Some("nobody".into()), ..Default::default() }, &|_| false),
    ];
    for (filter, expected) in cases {
        assert_eq!(ids(&list(&s, &filter).await), ids(&expected), "{filter:?}");
    }
    // Every field comes back as given, times to the millisecond.
    assert_eq!(list(&s, &AuditFilter::default()).await, newest_first(all));
}

pub async fn audit_pages_with_the_total_and_ties_by_larger_id(s: MetadataStores) {
    // Twelve records in four minutes: three share each minute.
    let mut all = Vec::new();
    for i in 0..12 {
        let r = record("admin", "auth", i / 3);
        s.audit.insert(r.clone()).await.unwrap();
        all.push(r);
    }
    let expected = newest_first(all);
    let mut paged_through = Vec::new();
    for page in 1..=3 {
        let p = s.audit.list(&AuditFilter::default(), Page::new(page, 5)).await.unwrap();
        assert_eq!((p.total, p.page, p.page_size), (12, page, 5));
        paged_through.extend(p.items);
    }
    assert_eq!(ids(&paged_through), ids(&expected));
    let past = s.audit.list(&AuditFilter::default(), Page::new(4, 5)).await.unwrap();
    assert!(past.items.is_empty());
    assert_eq!(past.total, 12);

    let filter = AuditFilter { from: Some(at(2)), ..Default::default() };
    let p = s.audit.list(&filter, Page::new(2, 4)).await.unwrap();
    assert_eq!(p.total, 6, "the total counts the filtered records");
    assert_eq!(ids(&p.items), ids(&expected[4..6]));
}

pub async fn audit_delete_before_removes_only_older_records(s: MetadataStores) {
    let all: Vec<AuditRecord> =
        [0, 1, 1, 2, 3].iter().map(|&m| record("admin", "auth", m)).collect();
    for r in &all {
        s.audit.insert(r.clone()).await.unwrap();
    }
    assert_eq!(s.audit.delete_before(at(0)).await.unwrap(), 0, "nothing is older");
    assert_eq!(s.audit.delete_before(at(2)).await.unwrap(), 3, "before is exclusive");
    assert_eq!(
        ids(&list(&s, &AuditFilter::default()).await),
        ids(&newest_first(all[3..].to_vec()))
    );
    assert_eq!(s.audit.delete_before(at(2)).await.unwrap(), 0, "deleted already");
    // A bound a nanosecond before a record's time keeps that record.
    assert_eq!(s.audit.delete_before(at(3) - Duration::nanoseconds(1)).await.unwrap(), 1);
    assert_eq!(s.audit.delete_before(at(60)).await.unwrap(), 1);
    assert!(list(&s, &AuditFilter::default()).await.is_empty());
}
