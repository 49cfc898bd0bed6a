//! The ledger's hash chain (clause 3.8): entry n's `hash` is SHA-256 over entry n−1's hash
//! and entry n's fields in a canonical form (a JSON array), the first entry's predecessor
//! being 64 zeros. Every charge and refund names its message, so the chain covers the
//! billing record of every message as well as top-ups and adjustments. Any change to an
//! entry, a removed entry or two swapped entries shows at the first one affected.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::model::{ChainBreak, ChainReport};
use crate::{StoreError, StoreResult};

/// The predecessor of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of an entry that its hash covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub customer_id: &'a str,
    pub kind: &'a str,
    pub amount: i64,
    pub balance_after: i64,
    pub message_id: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub created_at: i64,
}

/// The hash of an entry with these fields after `previous`.
pub(crate) fn entry_hash(previous: &str, f: &Fields<'_>) -> String {
    let canonical = serde_json::json!([
        f.customer_id,
        f.kind,
        f.amount,
        f.balance_after,
        f.message_id,
        f.reference,
        f.reason,
        f.created_at
    ]);
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// The hash of the newest entry: what the next entry chains to.
pub(super) fn head(conn: &Connection) -> StoreResult<String> {
    let newest: Option<Option<String>> = conn
        .prepare_cached("SELECT hash FROM ledger ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(newest.flatten().unwrap_or_else(|| GENESIS.to_owned()))
}

type Row = (i64, String, String, i64, i64, Option<String>, Option<String>, Option<String>, i64, Option<String>);

const ROW_COLUMNS: &str =
    "seq, customer_id, kind, amount, balance_after, message_id, reference, reason, created_at, hash";

fn fields(r: &Row) -> Fields<'_> {
    Fields {
        customer_id: &r.1,
        kind: &r.2,
        amount: r.3,
        balance_after: r.4,
        message_id: r.5.as_deref(),
        reference: r.6.as_deref(),
        reason: r.7.as_deref(),
        created_at: r.8,
    }
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?))
}

/// Walks the whole chain in order.
pub fn verify(conn: &Connection) -> StoreResult<Result<ChainReport, ChainBreak>> {
    let mut statement = conn.prepare(&format!("SELECT {ROW_COLUMNS} FROM ledger ORDER BY seq"))?;
    let mut rows = statement.query([])?;
    let mut previous = GENESIS.to_owned();
    let mut entries = 0;
    while let Some(row) = rows.next()? {
        let row = read_row(row)?;
        let expected = entry_hash(&previous, &fields(&row));
        if row.9.as_deref() != Some(expected.as_str()) {
            return Ok(Err(ChainBreak { seq: row.0, expected, found: row.9 }));
        }
        previous = expected;
        entries += 1;
    }
    Ok(Ok(ChainReport { entries, head: previous }))
}

/// Chains the entries a database had before the chain existed (migration 5): the ledger's
/// no-update trigger is lifted for this one transaction.
pub(super) fn backfill(conn: &Connection) -> StoreResult<()> {
    let rows: Vec<Row> = conn
        .prepare(&format!("SELECT {ROW_COLUMNS} FROM ledger ORDER BY seq"))?
        .query_map([], read_row)?
        .collect::<Result<_, _>>()?;
    if rows.is_empty() {
        return Ok(());
    }
    conn.execute_batch("DROP TRIGGER ledger_no_update")?;
    let mut update = conn.prepare("UPDATE ledger SET hash = ?2 WHERE seq = ?1")?;
    let mut previous = GENESIS.to_owned();
    for row in &rows {
        previous = entry_hash(&previous, &fields(row));
        update.execute(params![row.0, previous])?;
    }
    conn.execute_batch(
        "CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;",
    )
    .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(())
}
