//! A fresh store with one customer, `cus_a`, and its first top-up.

use tongdao_domain::Money;
use tongdao_store::sqlite::SqliteStore;
use tongdao_store::*;

pub async fn store_with_balance(micros: i64) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(&dir.path().join("t.db")).expect("open");
    let customer =
        NewCustomer { id: "cus_a".into(), name: "a".into(), address: "x".into(), contact: "y".into(), created_at: 0 };
    store.create_customer(customer).await.expect("customer");
    let topup = NewLedgerEntry {
        customer_id: "cus_a".into(),
        kind: LedgerKind::Topup,
        amount: Money::from_micros(micros),
        reference: None,
        reason: None,
        created_at: 0,
    };
    store.post_ledger_entry(topup).await.expect("topup");
    (dir, store)
}
