//! A fresh store with one customer, `cus_a`, and its first top-up.

use tongdao_domain::Money;
use tongdao_store::sqlite::SqliteStore;
use tongdao_store::*;

#[allow(dead_code)] // not every test binary uses it
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

/// A queued one-segment message of `cus_a` to `recipient`, priced `micros`; tests change
/// what they need with struct update syntax.
#[allow(dead_code)] // not every test binary uses it
pub fn message(id: &str, recipient: &str, micros: i64) -> NewMessage {
    NewMessage {
        id: id.into(),
        recipient: recipient.into(),
        carrier: None,
        sender: None,
        text: "hi".into(),
        encoding: "gsm7".into(),
        segments: 1,
        price: Money::from_micros(micros),
        status: tongdao_domain::MessageStatus::Queued,
        client_ref: None,
        callback_url: None,
        send_at: None,
        valid_until: None,
        charge_on: tongdao_domain::agreement::ChargeOn::Submit,
        concat: None,
        receipt: Default::default(),
        out_of_scope: false,
        screening: None,
        source: None,
    }
}

/// One batch of `cus_a` without idempotency or frequency limits.
#[allow(dead_code)]
pub fn batch_of(messages: Vec<NewMessage>, now_ms: i64) -> AcceptBatch {
    AcceptBatch {
        customer_id: "cus_a".into(),
        messages,
        idempotency: None,
        frequency: tongdao_domain::FrequencyLimits::NONE,
        now_ms,
    }
}
