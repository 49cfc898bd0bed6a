//! Balances and the ledger on PostgreSQL: row locks on customers, and the hash chain written
//! at commit under the `ledger_head` lock (see the module rules in `postgres.rs`).

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::types::ToSql;

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
    // The seq numbers are drawn row by row in the entries' order, under the head's lock, so
    // seq order is the chain's order; the new head goes out in the same round trip.
    let entry_params: [&(dyn ToSql + Sync); 9] =
        [&customer_ids, &kinds, &amounts, &balances, &message_ids, &references, &reasons, &times, &hashes];
    let head_params: [&(dyn ToSql + Sync); 1] = [&previous];
    let (inserted, _) = tokio::try_join!(
        rows(
            t,
            "INSERT INTO ledger (customer_id, kind, amount, balance_after, message_id, reference, reason, \
             created_at, hash) \
             SELECT e.customer_id, e.kind, e.amount, e.balance_after, e.message_id, e.reference, e.reason, \
             e.created_at, e.hash \
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], \
             $8::BIGINT[], $9::TEXT[]) WITH ORDINALITY \
             AS e(customer_id, kind, amount, balance_after, message_id, reference, reason, created_at, hash, place) \
             ORDER BY e.place \
             RETURNING seq, hash",
            &entry_params,
        ),
        exec(t, "UPDATE ledger_head SET hash = $1 WHERE id = 1", &head_params),
    )?;
    // Each hash is unique (it chains the one before), so it says which entry got which seq.
    let by_hash: std::collections::HashMap<String, i64> =
        inserted.iter().map(|r| Ok((r.try_get(1)?, r.try_get(0)?))).collect::<StoreResult<_>>()?;
    let seqs: Vec<i64> = hashes.iter().filter_map(|h| by_hash.get(h).copied()).collect();
    if seqs.len() != entries.len() || seqs.windows(2).any(|w| w[0] >= w[1]) {
        return Err(StoreError::Backend("the ledger's seq numbers do not follow its chain".into()));
    }
    Ok(seqs)
}

/// Entries read per query by [`verify`].
const VERIFY_PAGE: i64 = 10_000;

/// Walks the whole chain in seq order (clause 3.8), like the SQLite backend's `verify`, a
/// page of entries at a time (memory stays bounded however long the ledger). Call it in a
/// REPEATABLE READ transaction for the chain as of one instant.
pub(crate) async fn verify<C: GenericClient>(c: &C) -> StoreResult<Result<ChainReport, ChainBreak>> {
    verify_in_pages(c, VERIFY_PAGE).await
}

async fn verify_in_pages<C: GenericClient>(c: &C, page: i64) -> StoreResult<Result<ChainReport, ChainBreak>> {
    let page = page.max(1);
    let page_len = usize::try_from(page).map_err(|_| StoreError::Backend("bad page size".into()))?;
    let mut previous = chain::GENESIS.to_owned();
    let mut entries = 0;
    let mut after = i64::MIN;
    loop {
        let page_rows = rows(
            c,
            "SELECT seq, customer_id, kind, amount, balance_after, message_id, reference, reason, created_at, hash \
             FROM ledger WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&after, &page],
        )
        .await?;
        for r in &page_rows {
            let seq: i64 = r.try_get(0)?;
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
                return Ok(Err(ChainBreak { seq, expected, found }));
            }
            previous = expected;
            entries += 1;
            after = seq;
        }
        if page_rows.len() < page_len {
            return Ok(Ok(ChainReport { entries, head: previous }));
        }
    }
}

#[cfg(test)]
mod tests {
    //! The paging of [`verify`], on the database `TONGDAO_TEST_DATABASE_URL` names (skipped
    //! without one): every page size walks the same chain and finds the same break.

    use tongdao_domain::Money;

    use super::*;
    use crate::Store;
    use crate::model::NewLedgerEntry;
    use crate::postgres::PgStore;

    async fn store(name: &str) -> Option<PgStore> {
        let url = std::env::var("TONGDAO_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
        let schema = format!("ledger_{name}_{}", std::process::id());
        let url = crate::postgres::scratch_schema(&url, &schema).await.expect("schema");
        Some(PgStore::connect(&url).await.expect("connect"))
    }

    /// A customer with seven entries; their seqs.
    async fn seven_entries(store: &PgStore) -> Vec<i64> {
        let customer = crate::model::NewCustomer {
            id: "cus_a".into(),
            name: "a".into(),
            address: "x".into(),
            contact: "y".into(),
            created_at: 0,
        };
        store.create_customer(customer).await.expect("customer");
        let mut seqs = Vec::new();
        for n in 0..7 {
            let entry = NewLedgerEntry {
                customer_id: "cus_a".into(),
                kind: if n % 2 == 0 { LedgerKind::Topup } else { LedgerKind::Adjustment },
                amount: Money::from_micros(if n % 2 == 0 { 1_000 } else { -10 }),
                reference: None,
                reason: Some(format!("entry {n}")),
                created_at: n,
            };
            seqs.push(store.post_ledger_entry(entry).await.expect("posted").seq);
        }
        seqs
    }

    #[tokio::test]
    async fn every_page_size_walks_the_same_chain_and_finds_the_same_break() {
        let Some(store) = store("pages").await else { return };
        let seqs = seven_entries(&store).await;
        let client = store.client().await.expect("client");
        let whole = verify_in_pages(&client, 1_000).await.expect("read").expect("whole");
        assert_eq!(whole.entries, 7);
        for page in [0, 1, 2, 3, 6, 7, 8] {
            assert_eq!(verify_in_pages(&client, page).await.expect("read"), Ok(whole.clone()), "page {page}");
        }
        client
            .batch_execute(&format!(
                "ALTER TABLE ledger DISABLE TRIGGER ledger_no_delete; DELETE FROM ledger WHERE seq = {}; \
                 ALTER TABLE ledger ENABLE TRIGGER ledger_no_delete",
                seqs[3]
            ))
            .await
            .expect("tampered");
        for page in [1, 2, 3, 4, 100] {
            let broken = verify_in_pages(&client, page).await.expect("read").expect_err("broken");
            assert_eq!(broken.seq, seqs[4], "page {page}: at the entry after the one removed");
        }
    }
}
