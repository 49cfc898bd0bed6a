//! Balances and the ledger on PostgreSQL: row locks on customers, and the hash chain written
//! at commit under the `ledger_head` lock (see the module rules in `postgres.rs`).

use deadpool_postgres::{GenericClient, Transaction};

use super::{exec, row, rows};
use crate::model::{ChainBreak, ChainReport, LedgerKind};
use crate::sqlite::chain::{self, Fields};
use crate::{StoreError, StoreResult};

/// One ledger row as it will be written; `amount` is signed and `balance_after` already
/// checked against the locked balance.
#[derive(Debug, Clone)]
pub(crate) struct LedgerRow {
    pub customer_id: String,
    pub kind: LedgerKind,
    pub amount: i64,
    pub balance_after: i64,
    pub message_id: Option<String>,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub now_ms: i64,
}

impl LedgerRow {
    fn fields(&self) -> Fields<'_> {
        Fields {
            customer_id: &self.customer_id,
            kind: self.kind.as_str(),
            amount: self.amount,
            balance_after: self.balance_after,
            message_id: self.message_id.as_deref(),
            reference: self.reference.as_deref(),
            reason: self.reason.as_deref(),
            created_at: self.now_ms,
        }
    }
}

/// Locks the customer's row until the transaction ends and returns its balance: every
/// transaction that changes a balance starts here, so charges from any node are serialized
/// per customer.
pub(crate) async fn lock_balance(t: &Transaction<'_>, customer_id: &str) -> StoreResult<i64> {
    Ok(row(t, "SELECT balance FROM customers WHERE id = $1 FOR UPDATE", &[&customer_id]).await?.try_get(0)?)
}

/// Locks several customers' rows, in id order (so that two transactions locking the same
/// customers cannot deadlock); returns their balances by id.
pub(crate) async fn lock_customers(
    t: &Transaction<'_>,
    customer_ids: &[&str],
) -> StoreResult<std::collections::HashMap<String, i64>> {
    let mut ids: Vec<&str> = customer_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let found = rows(t, "SELECT id, balance FROM customers WHERE id = ANY($1) ORDER BY id FOR UPDATE", &[&ids]).await?;
    found.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

pub(crate) async fn set_balance(t: &Transaction<'_>, customer_id: &str, balance: i64) -> StoreResult<()> {
    exec(t, "UPDATE customers SET balance = $2 WHERE id = $1", &[&customer_id, &balance]).await?;
    Ok(())
}

/// Writes a transaction's ledger entries, chained after the head, in one statement; returns
/// their seq numbers. Called by `Tx::commit` just before COMMIT: the head's row lock is the
/// last lock the transaction takes, and it is held only until the commit.
pub(crate) async fn flush(t: &Transaction<'_>, entries: Vec<LedgerRow>) -> StoreResult<Vec<i64>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let mut previous: String = row(t, "SELECT hash FROM ledger_head WHERE id = 1 FOR UPDATE", &[]).await?.try_get(0)?;
    let count = i64::try_from(entries.len()).map_err(|_| StoreError::Backend("too many ledger entries".into()))?;
    // Numbers taken under the head's lock follow the chain's order.
    let seqs: Vec<i64> =
        rows(t, "SELECT nextval(pg_get_serial_sequence('ledger', 'seq')) FROM generate_series(1, $1::BIGINT)", &[&count])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
    let mut hashes = Vec::with_capacity(entries.len());
    for e in &entries {
        previous = chain::entry_hash(&previous, &e.fields());
        hashes.push(previous.clone());
    }
    let customer_ids: Vec<&str> = entries.iter().map(|e| e.customer_id.as_str()).collect();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    let amounts: Vec<i64> = entries.iter().map(|e| e.amount).collect();
    let balances: Vec<i64> = entries.iter().map(|e| e.balance_after).collect();
    let message_ids: Vec<Option<&str>> = entries.iter().map(|e| e.message_id.as_deref()).collect();
    let references: Vec<Option<&str>> = entries.iter().map(|e| e.reference.as_deref()).collect();
    let reasons: Vec<Option<&str>> = entries.iter().map(|e| e.reason.as_deref()).collect();
    let times: Vec<i64> = entries.iter().map(|e| e.now_ms).collect();
    exec(
        t,
        "INSERT INTO ledger (seq, customer_id, kind, amount, balance_after, message_id, reference, reason, \
         created_at, hash) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::TEXT[], \
         $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::TEXT[])",
        &[&seqs, &customer_ids, &kinds, &amounts, &balances, &message_ids, &references, &reasons, &times, &hashes],
    )
    .await?;
    exec(t, "UPDATE ledger_head SET hash = $1 WHERE id = 1", &[&previous]).await?;
    Ok(seqs)
}

/// Walks the whole chain in seq order (clause 3.8), like the SQLite backend's `verify`.
pub(crate) async fn verify<C: GenericClient>(c: &C) -> StoreResult<Result<ChainReport, ChainBreak>> {
    let all = rows(
        c,
        "SELECT seq, customer_id, kind, amount, balance_after, message_id, reference, reason, created_at, hash \
         FROM ledger ORDER BY seq",
        &[],
    )
    .await?;
    let mut previous = chain::GENESIS.to_owned();
    let mut entries = 0;
    for r in &all {
        let kind: String = r.try_get(2)?;
        let customer_id: String = r.try_get(1)?;
        let message_id: Option<String> = r.try_get(5)?;
        let reference: Option<String> = r.try_get(6)?;
        let reason: Option<String> = r.try_get(7)?;
        let fields = Fields {
            customer_id: &customer_id,
            kind: &kind,
            amount: r.try_get(3)?,
            balance_after: r.try_get(4)?,
            message_id: message_id.as_deref(),
            reference: reference.as_deref(),
            reason: reason.as_deref(),
            created_at: r.try_get(8)?,
        };
        let expected = chain::entry_hash(&previous, &fields);
        let found: Option<String> = r.try_get(9)?;
        if found.as_deref() != Some(expected.as_str()) {
            return Ok(Err(ChainBreak { seq: r.try_get(0)?, expected, found }));
        }
        previous = expected;
        entries += 1;
    }
    Ok(Ok(ChainReport { entries, head: previous }))
}
