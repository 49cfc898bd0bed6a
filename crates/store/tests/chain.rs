//! The ledger's hash chain (clause 3.8): whole after every kind of entry, broken at the
//! first entry changed or removed, and made for entries older than the chain.

mod common;

use rusqlite::Connection;
use tongdao_domain::Money;
use tongdao_store::sqlite::SqliteStore;
use tongdao_store::*;

use common::{batch_of, message, store_with_balance};

/// A top-up, three charges and an adjustment: five entries.
async fn ledger_of_five() -> (tempfile::TempDir, SqliteStore) {
    let (dir, store) = store_with_balance(1_000_000).await;
    for n in 0..3 {
        let batch = batch_of(vec![message(&format!("msg_{n}"), "+8613800138000", 45_000)], 10 + n);
        store.accept(batch).await.expect("accepted");
    }
    let adjustment = NewLedgerEntry {
        customer_id: "cus_a".into(),
        kind: LedgerKind::Adjustment,
        amount: Money::from_micros(-1_000),
        reference: None,
        reason: Some("goodwill \"quoted\" | piped".into()),
        created_at: 20,
    };
    store.post_ledger_entry(adjustment).await.expect("adjusted");
    (dir, store)
}

fn tamper(dir: &tempfile::TempDir, sql: &str) {
    let conn = Connection::open(dir.path().join("t.db")).expect("open");
    conn.execute_batch(&format!(
        "DROP TRIGGER ledger_no_update; DROP TRIGGER ledger_no_delete; {sql}; \
         CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'x'); END; \
         CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger BEGIN SELECT RAISE(ABORT, 'x'); END;"
    ))
    .expect("tampered");
}

#[tokio::test]
async fn the_chain_is_whole_and_its_head_moves_with_each_entry() {
    let (_dir, store) = ledger_of_five().await;
    let report = store.verify_ledger().await.expect("read").expect("whole");
    assert_eq!(report.entries, 5);
    assert_eq!(report.head.len(), 64);
    store.accept(batch_of(vec![message("msg_9", "+8613800138000", 1)], 30)).await.expect("accepted");
    let after = store.verify_ledger().await.expect("read").expect("whole");
    assert_eq!(after.entries, 6);
    assert_ne!(after.head, report.head);
}

#[tokio::test]
async fn a_changed_entry_breaks_the_chain_there() {
    let (dir, store) = ledger_of_five().await;
    drop(store);
    tamper(&dir, "UPDATE ledger SET amount = -1 WHERE seq = 3");
    let store = SqliteStore::open(&dir.path().join("t.db")).expect("reopen");
    let broken = store.verify_ledger().await.expect("read").expect_err("broken");
    assert_eq!(broken.seq, 3);
    assert_ne!(broken.found.as_deref(), Some(broken.expected.as_str()));
}

#[tokio::test]
async fn a_removed_entry_breaks_the_chain_at_the_next_one() {
    let (dir, store) = ledger_of_five().await;
    drop(store);
    tamper(&dir, "DELETE FROM ledger WHERE seq = 2");
    let store = SqliteStore::open(&dir.path().join("t.db")).expect("reopen");
    assert_eq!(store.verify_ledger().await.expect("read").map_err(|b| b.seq), Err(3));
}

#[tokio::test]
async fn entries_made_before_the_chain_existed_are_chained_by_the_migration() {
    let (dir, store) = ledger_of_five().await;
    drop(store);
    // Back to schema 4: no hash column, the migration not applied.
    tamper(
        &dir,
        "ALTER TABLE ledger DROP COLUMN hash; ALTER TABLE messages DROP COLUMN source; DELETE FROM schema_migrations WHERE version = 5",
    );
    let store = SqliteStore::open(&dir.path().join("t.db")).expect("reopen migrates");
    let report = store.verify_ledger().await.expect("read").expect("whole");
    assert_eq!(report.entries, 5);
    store.accept(batch_of(vec![message("msg_9", "+8613800138000", 1)], 30)).await.expect("accepted");
    assert_eq!(store.verify_ledger().await.expect("read").map(|r| r.entries), Ok(6));
}
