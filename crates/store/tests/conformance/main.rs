//! The store's contract, through the `Store` trait only: what every backend must do the
//! same way. Each test runs on every backend [`backends`] gives: SQLite always, and
//! PostgreSQL when `TONGDAO_TEST_DATABASE_URL` names a database (each test gets a schema of
//! its own there). `.ci/run` creates a database for its run and drops it after.

#[path = "../common/mod.rs"]
mod common;

mod billing;
mod carrier;
mod cluster;
mod compliance;
mod console;
mod core;
mod lifecycle;
mod messages;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::message;
use tongdao_domain::agreement::{Agreement, AgreementChange, AgreementTerms};
use tongdao_domain::{MessageStatus, Money};
use tongdao_store::postgres::{PgOptions, PgStore};
use tongdao_store::sqlite::SqliteStore;
use tongdao_store::*;

const DAY: i64 = 86_400_000;
/// 2026-06-01 12:00 CST.
const NOW: i64 = 1_780_286_400_000;

/// The PostgreSQL database the suite also runs on, if any.
const DATABASE_URL: &str = "TONGDAO_TEST_DATABASE_URL";

struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the URL of this store's schema, for a second node on the same data.
    url: Option<String>,
}

impl Backend {
    /// Another store on the same data, as a second node would open it (PostgreSQL only).
    async fn second_node(&self) -> Option<Arc<dyn Store>> {
        let url = self.url.as_ref()?;
        let options = PgOptions { connections: 4, ..PgOptions::default() };
        Some(Arc::new(PgStore::connect_with(url, options).await.expect("second node")))
    }
}

/// A fresh store of each backend.
async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = SqliteStore::open(&dir.path().join("conformance.db")).expect("open");
    let mut all = vec![Backend { name: "sqlite", store: Arc::new(sqlite), _dir: Some(dir), url: None }];
    match std::env::var(DATABASE_URL) {
        Ok(url) if !url.is_empty() => {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let schema = format!("conformance_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
            let url = tongdao_store::postgres::scratch_schema(&url, &schema).await.expect("schema");
            let options = PgOptions { connections: 4, ..PgOptions::default() };
            let pg = PgStore::connect_with(&url, options).await.expect("connect to PostgreSQL");
            all.push(Backend { name: "postgres", store: Arc::new(pg), _dir: None, url: Some(url) });
        }
        _ => {
            static SAID: std::sync::Once = std::sync::Once::new();
            // Straight to stderr: the test harness captures print! but not this, so the
            // line shows in every run.
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "conformance: the PostgreSQL suite was NOT run ({DATABASE_URL} is not set); SQLite only"
                );
            });
        }
    }
    all
}

async fn customer(store: &dyn Store, name: &str, balance: i64) -> String {
    let id = format!("cus_{name}");
    let new =
        NewCustomer { id: id.clone(), name: name.into(), address: "x".into(), contact: "y".into(), created_at: 0 };
    store.create_customer(new).await.expect("customer");
    if balance > 0 {
        store.post_ledger_entry(entry(&id, LedgerKind::Topup, balance, None)).await.expect("top-up");
    }
    id
}

fn entry(customer_id: &str, kind: LedgerKind, micros: i64, reference: Option<&str>) -> NewLedgerEntry {
    NewLedgerEntry {
        customer_id: customer_id.into(),
        kind,
        amount: Money::from_micros(micros),
        reference: reference.map(str::to_owned),
        reason: (kind == LedgerKind::Adjustment).then(|| "correction".to_owned()),
        created_at: NOW,
    }
}

fn batch(customer_id: &str, messages: Vec<NewMessage>, idempotency: Option<IdempotencyRecord>) -> AcceptBatch {
    AcceptBatch {
        customer_id: customer_id.into(),
        messages,
        idempotency,
        frequency: tongdao_domain::FrequencyLimits::NONE,
        now_ms: NOW,
    }
}

async fn consistent_balance(store: &dyn Store, customer_id: &str) -> i64 {
    let check = store.balance(customer_id).await.expect("balance");
    assert_eq!(check.balance, check.ledger_sum, "the balance is the sum of the ledger");
    check.balance.micros()
}

#[tokio::test]
async fn customers_are_unique_by_name_and_found_by_id_or_name() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        assert_eq!(store.find_customer(&id).await.expect("by id").name, "acme", "{}", b.name);
        assert_eq!(store.find_customer("acme").await.expect("by name").id, id, "{}", b.name);
        let again = NewCustomer {
            id: "cus_other".into(),
            name: "acme".into(),
            address: "".into(),
            contact: "".into(),
            created_at: 0,
        };
        assert!(matches!(store.create_customer(again).await, Err(StoreError::Conflict(_))), "{}", b.name);
        assert_eq!(store.find_customer("nobody").await, Err(StoreError::NotFound), "{}", b.name);
    }
}

#[tokio::test]
async fn a_top_up_reference_counts_once_and_the_balance_never_goes_negative() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        let first = store.post_ledger_entry(entry(&id, LedgerKind::Topup, 5_000_000, Some("bank-1"))).await;
        let again = store.post_ledger_entry(entry(&id, LedgerKind::Topup, 5_000_000, Some("bank-1"))).await;
        assert_eq!(first.expect("first").seq, again.expect("again").seq, "{}: the same entry", b.name);
        let other = store.post_ledger_entry(entry(&id, LedgerKind::Topup, 6_000_000, Some("bank-1"))).await;
        assert!(matches!(other, Err(StoreError::Conflict(_))), "{}: {other:?}", b.name);
        let overdraw = store.post_ledger_entry(entry(&id, LedgerKind::Adjustment, -5_000_001, None)).await;
        assert!(matches!(overdraw, Err(StoreError::InsufficientBalance { .. })), "{}: {overdraw:?}", b.name);
        assert_eq!(consistent_balance(store, &id).await, 5_000_000, "{}", b.name);
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{}", b.name);
    }
}

#[tokio::test]
async fn a_batch_is_charged_once_refused_whole_when_unpaid_and_answered_again_by_its_key() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 100_000).await;
        let key = IdempotencyRecord {
            key: "k1".into(),
            request_hash: "h1".into(),
            status: 202,
            response: "{\"first\":true}".into(),
        };
        let hello = |id: &str, to: &str| NewMessage { text: "hello".into(), ..message(id, to, 45_000) };
        let messages = vec![hello("msg_1", "+8613800138000"), hello("msg_2", "+8613800138001")];
        let outcome = store.accept(batch(&id, messages.clone(), Some(key.clone()))).await.expect("accept");
        assert_eq!(outcome, AcceptOutcome::Stored { balance_after: Money::from_micros(10_000) }, "{}", b.name);
        // The same key and request: the first answer, nothing charged again.
        let replay = store.accept(batch(&id, messages, Some(key.clone()))).await.expect("replay");
        assert_eq!(replay, AcceptOutcome::Replayed { status: 202, response: key.response.clone() }, "{}", b.name);
        // The same key, another request: refused.
        let other = IdempotencyRecord { request_hash: "h2".into(), ..key };
        let third = vec![message("msg_3", "+8613800138002", 1)];
        assert_eq!(store.accept(batch(&id, third, Some(other))).await, Err(StoreError::IdempotencyConflict));
        // More than the balance: nothing of it is stored.
        let unpaid = vec![message("msg_4", "+8613800138003", 5_000), message("msg_5", "+8613800138004", 5_001)];
        let refused = store.accept(batch(&id, unpaid, None)).await;
        assert!(matches!(refused, Err(StoreError::InsufficientBalance { .. })), "{}: {refused:?}", b.name);
        assert_eq!(store.find_message(&id, "msg_4").await.map(|_| ()), Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(consistent_balance(store, &id).await, 10_000, "{}", b.name);
        let (stored, _) = store.find_message(&id, "msg_1").await.expect("stored");
        assert_eq!((stored.status, stored.text.as_str()), (MessageStatus::Queued, "hello"), "{}", b.name);
    }
}

#[tokio::test]
async fn a_cancelled_scheduled_message_is_refunded_once_and_another_customer_cannot_touch_it() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 100_000).await;
        let other = customer(store, "other", 100_000).await;
        let scheduled = NewMessage {
            status: MessageStatus::Scheduled,
            send_at: Some(NOW + DAY),
            ..message("msg_s", "+8613800138000", 45_000)
        };
        store.accept(batch(&id, vec![scheduled], None)).await.expect("accept");
        assert_eq!(
            store.cancel_message(&other, "msg_s", NOW).await.map(|_| ()),
            Err(StoreError::NotFound),
            "{}",
            b.name
        );
        let cancelled = store.cancel_message(&id, "msg_s", NOW).await.expect("cancel");
        assert_eq!(cancelled.status, MessageStatus::Cancelled, "{}", b.name);
        assert!(store.cancel_message(&id, "msg_s", NOW).await.is_err(), "{}: once", b.name);
        assert_eq!(consistent_balance(store, &id).await, 100_000, "{}", b.name);
        let refunds = store.list_ledger(&id, 0, 100).await.expect("ledger");
        assert_eq!(refunds.iter().filter(|e| e.kind == LedgerKind::Refund).count(), 1, "{}", b.name);
    }
}

#[tokio::test]
async fn a_notice_is_posted_once_per_event_and_its_first_reading_is_kept() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        let notice = NewNotice {
            customer_id: id.clone(),
            kind: "maintenance".into(),
            reference: "maintenance:mnt_1".into(),
            subject: "s".into(),
            body: "b".into(),
        };
        assert_eq!(store.post_notices(vec![notice.clone(), notice.clone()], NOW).await, Ok(1), "{}", b.name);
        assert_eq!(store.post_notices(vec![notice], NOW + 1).await, Ok(0), "{}", b.name);
        let unread = store.list_notices(Some(&id), None, true, 10).await.expect("list");
        assert_eq!(unread.len(), 1, "{}", b.name);
        let read = store.read_notice(&id, &unread[0].id, NOW + 5).await.expect("read");
        let again = store.read_notice(&id, &unread[0].id, NOW + 9).await.expect("read again");
        assert_eq!((read.read_at, again.read_at), (Some(NOW + 5), Some(NOW + 5)), "{}", b.name);
        assert!(store.list_notices(Some(&id), None, true, 10).await.expect("list").is_empty(), "{}", b.name);
        assert_eq!(store.read_notice("cus_nobody", &unread[0].id, NOW).await.map(|_| ()), Err(StoreError::NotFound));
    }
}

fn terms() -> AgreementTerms {
    serde_json::from_value(serde_json::json!({
        "provider_name": "P", "provider_address": "A", "customer_name": "C", "customer_address": "B",
        "effective_from": "2026-01-01", "term_years": 1, "maintenance_notice_days": 3,
        "log_retention_months": 6, "cure_days": 15, "scope_policy": "audit", "charge_on": "submit",
        "terms_version": "v1"
    }))
    .expect("terms")
}

fn audit(action: &str) -> AuditEntry {
    AuditEntry {
        at: NOW,
        actor: "operator".into(),
        action: action.into(),
        target: "t".into(),
        reason: None,
        before: None,
        after: None,
    }
}

#[tokio::test]
async fn termination_waits_for_the_cure_deadline_then_settles_the_balance_to_zero() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 100_000).await;
        let agreement = store.create_agreement(Agreement::draft(&id, terms(), 0)).await.expect("agreement");
        store.change_agreement(&agreement.id, AgreementChange::Sign, 0, None).await.expect("sign");
        let queued = message("msg_q", "+8613800138000", 45_000);
        store.accept(batch(&id, vec![queued], None)).await.expect("accept");
        let breach = Breach {
            id: "brc_1".into(),
            customer_id: id.clone(),
            agreement_id: agreement.id.clone(),
            clause: "2.3".into(),
            facts: "ads".into(),
            noticed_at: NOW,
            cure_deadline: NOW + 15 * DAY,
            cured_at: None,
            cure_note: None,
            terminated_at: None,
        };
        let notice = |kind: &str| NewNotice {
            customer_id: id.clone(),
            kind: kind.into(),
            reference: kind.into(),
            subject: "s".into(),
            body: "b".into(),
        };
        store.issue_breach(breach, notice("breach"), audit("breach.notice")).await.expect("breach");
        let early = store.terminate("brc_1", NOW + 15 * DAY - 1, notice("termination"), audit("t")).await;
        assert!(matches!(early, Err(StoreError::Refused(_))), "{}: {early:?}", b.name);
        let (ended, report) =
            store.terminate("brc_1", NOW + 15 * DAY, notice("termination"), audit("t")).await.expect("terminate");
        assert_eq!(ended.terminated_at, Some(NOW + 15 * DAY), "{}", b.name);
        assert_eq!((report.agreements, report.messages_cancelled), (1, 1), "{}", b.name);
        assert_eq!(
            report.settled,
            Money::from_micros(100_000),
            "{}: the refund of the queued message included",
            b.name
        );
        assert_eq!(consistent_balance(store, &id).await, 0, "{}", b.name);
        assert!(store.find_customer(&id).await.expect("customer").terminated_at.is_some(), "{}", b.name);
        let again = store.terminate("brc_1", NOW + 16 * DAY, notice("termination"), audit("t")).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{}: {again:?}", b.name);
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{}", b.name);
    }
}
