//! Compliance tables on PostgreSQL (issue 5, clauses 3.4, 3.5): contacts, suppressions, the
//! blocklist, the out-of-scope report, violations and the audit trail.

use std::collections::{BTreeMap, HashSet};

use deadpool_postgres::GenericClient;
use tokio_postgres::{IsolationLevel, Row};

use super::{PgStore, Tx, exec, row, row_opt, rows};
use crate::model::*;
use crate::{StoreError, StoreResult};

/// A count read from a BIGINT column.
fn count(r: &Row, column: usize) -> StoreResult<u64> {
    let n: i64 = r.try_get(column)?;
    u64::try_from(n).map_err(|_| super::bad_column(column, "negative count"))
}

/// `NotFound` unless a customer has this id or name (like the SQLite backend's `find_customer`
/// check before a write).
pub(super) async fn customer_exists<C: GenericClient>(c: &C, id_or_name: &str) -> StoreResult<()> {
    row(c, "SELECT 1 FROM customers WHERE id = $1 OR name = $1 LIMIT 1", &[&id_or_name]).await?;
    Ok(())
}

// ---- contacts --------------------------------------------------------------------------

const CONTACT_COLUMNS: &str = "number, name, kind, tags, created_at, updated_at";

fn contact_row(r: &Row) -> StoreResult<Contact> {
    let kind: String = r.try_get(2)?;
    let tags: String = r.try_get(3)?;
    Ok(Contact {
        number: r.try_get(0)?,
        name: r.try_get(1)?,
        kind: ContactKind::parse(&kind).unwrap_or(ContactKind::Customer),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
    })
}

pub(super) async fn upsert_contacts(store: &PgStore, customer_id: &str, contacts: Vec<Contact>) -> StoreResult<u64> {
    let total = u64::try_from(contacts.len()).map_err(|_| StoreError::Backend("too many contacts".into()))?;
    // SQLite writes them one by one: a number repeated in the batch is created by its first
    // occurrence (created_at is that one's updated_at) and left as its last says. One INSERT
    // may not touch a row twice, so fold the repeats first (in number order, so that
    // concurrent upserts lock the rows in the same order).
    let mut folded: BTreeMap<&str, (i64, &Contact)> = BTreeMap::new();
    for c in &contacts {
        folded.entry(c.number.as_str()).and_modify(|(_, last)| *last = c).or_insert((c.updated_at, c));
    }
    let mut numbers = Vec::with_capacity(folded.len());
    let mut names = Vec::with_capacity(folded.len());
    let mut kinds = Vec::with_capacity(folded.len());
    let mut tags = Vec::with_capacity(folded.len());
    let mut created = Vec::with_capacity(folded.len());
    let mut updated = Vec::with_capacity(folded.len());
    for (number, (first_at, c)) in folded {
        numbers.push(number);
        names.push(c.name.as_str());
        kinds.push(c.kind.as_str());
        tags.push(serde_json::to_string(&c.tags).map_err(|e| StoreError::Backend(e.to_string()))?);
        created.push(first_at);
        updated.push(c.updated_at);
    }
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    customer_exists(&tx.t, customer_id).await?;
    if !numbers.is_empty() {
        exec(
            &tx.t,
            "INSERT INTO contacts (customer_id, number, name, kind, tags, created_at, updated_at) \
             SELECT $1, u.number, u.name, u.kind, u.tags, u.created, u.updated \
             FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::BIGINT[], $7::BIGINT[]) \
             AS u (number, name, kind, tags, created, updated) \
             ON CONFLICT (customer_id, number) DO UPDATE SET \
             name = excluded.name, kind = excluded.kind, tags = excluded.tags, updated_at = excluded.updated_at",
            &[&customer_id, &numbers, &names, &kinds, &tags, &created, &updated],
        )
        .await?;
    }
    tx.commit(store).await?;
    Ok(total)
}

pub(super) async fn find_contact(store: &PgStore, customer_id: &str, number: &str) -> StoreResult<Contact> {
    let c = store.client().await?;
    let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE customer_id = $1 AND number = $2");
    contact_row(&row(&c, &sql, &[&customer_id, &number]).await?)
}

pub(super) async fn delete_contact(store: &PgStore, customer_id: &str, number: &str) -> StoreResult<()> {
    let c = store.client().await?;
    let removed =
        exec(&c, "DELETE FROM contacts WHERE customer_id = $1 AND number = $2", &[&customer_id, &number]).await?;
    if removed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub(super) async fn list_contacts(
    store: &PgStore,
    customer_id: &str,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<Contact>> {
    let c = store.client().await?;
    let sql = format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE customer_id = $1 AND number > $2 ORDER BY number LIMIT $3"
    );
    rows(&c, &sql, &[&customer_id, &after, &i64::from(limit)]).await?.iter().map(contact_row).collect()
}

pub(super) async fn lists_in_use(store: &PgStore, customer_id: &str) -> StoreResult<ListsInUse> {
    let c = store.client().await?;
    let r = row(
        &c,
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE customer_id = $1), \
         EXISTS (SELECT 1 FROM suppressions WHERE customer_id = $1), EXISTS (SELECT 1 FROM blocklist)",
        &[&customer_id],
    )
    .await?;
    Ok(ListsInUse { contacts: r.try_get(0)?, suppressions: r.try_get(1)?, blocked: r.try_get(2)? })
}

pub(super) async fn recipient_flags(
    store: &PgStore,
    customer_id: &str,
    numbers: Vec<String>,
) -> StoreResult<Vec<RecipientFlags>> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let c = store.client().await?;
    // One round trip for the whole batch: which of the numbers are on which list.
    let found = rows(
        &c,
        "SELECT 0::BIGINT, number FROM contacts WHERE customer_id = $1 AND number = ANY($2) \
         UNION ALL SELECT 1::BIGINT, number FROM suppressions WHERE customer_id = $1 AND number = ANY($2) \
         UNION ALL SELECT 2::BIGINT, number FROM blocklist WHERE number = ANY($2)",
        &[&customer_id, &numbers],
    )
    .await?;
    let mut lists: [HashSet<String>; 3] = Default::default();
    for r in &found {
        let list: i64 = r.try_get(0)?;
        let set = usize::try_from(list)
            .ok()
            .and_then(|i| lists.get_mut(i))
            .ok_or_else(|| super::bad_column(0, "bad list"))?;
        set.insert(r.try_get(1)?);
    }
    let [contacts, suppressed, blocked] = &lists;
    Ok(numbers
        .iter()
        .map(|n| RecipientFlags {
            contact: contacts.contains(n),
            opted_out: suppressed.contains(n),
            blocked: blocked.contains(n),
        })
        .collect())
}

// ---- suppressions and the blocklist ------------------------------------------------------

fn suppression_row(r: &Row) -> StoreResult<Suppression> {
    let source: String = r.try_get(1)?;
    Ok(Suppression {
        number: r.try_get(0)?,
        source: SuppressionSource::parse(&source).unwrap_or(SuppressionSource::Operator),
        reason: r.try_get(2)?,
        created_at: r.try_get(3)?,
    })
}

pub(super) async fn add_suppression(
    store: &PgStore,
    customer_id: &str,
    suppression: Suppression,
) -> StoreResult<Suppression> {
    let s = suppression;
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    customer_exists(&tx.t, customer_id).await?;
    exec(
        &tx.t,
        "INSERT INTO suppressions (customer_id, number, source, reason, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (customer_id, number) DO NOTHING",
        &[&customer_id, &s.number, &s.source.as_str(), &s.reason, &s.created_at],
    )
    .await?;
    // A statement of its own: it sees the row a concurrent first addition committed.
    let found = suppression_row(
        &row(
            &tx.t,
            "SELECT number, source, reason, created_at FROM suppressions WHERE customer_id = $1 AND number = $2",
            &[&customer_id, &s.number],
        )
        .await?,
    )?;
    tx.commit(store).await?;
    Ok(found)
}

pub(super) async fn remove_suppression(store: &PgStore, customer_id: &str, number: &str) -> StoreResult<()> {
    let c = store.client().await?;
    let removed =
        exec(&c, "DELETE FROM suppressions WHERE customer_id = $1 AND number = $2", &[&customer_id, &number]).await?;
    if removed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub(super) async fn list_suppressions(
    store: &PgStore,
    customer_id: &str,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<Suppression>> {
    let c = store.client().await?;
    rows(
        &c,
        "SELECT number, source, reason, created_at FROM suppressions \
         WHERE customer_id = $1 AND number > $2 ORDER BY number LIMIT $3",
        &[&customer_id, &after, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(suppression_row)
    .collect()
}

fn blocked_row(r: &Row) -> StoreResult<BlockedNumber> {
    Ok(BlockedNumber { number: r.try_get(0)?, reason: r.try_get(1)?, created_at: r.try_get(2)? })
}

pub(super) async fn add_blocked(store: &PgStore, blocked: BlockedNumber) -> StoreResult<BlockedNumber> {
    let b = blocked;
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    exec(
        &tx.t,
        "INSERT INTO blocklist (number, reason, created_at) VALUES ($1, $2, $3) ON CONFLICT (number) DO NOTHING",
        &[&b.number, &b.reason, &b.created_at],
    )
    .await?;
    let found = blocked_row(
        &row(&tx.t, "SELECT number, reason, created_at FROM blocklist WHERE number = $1", &[&b.number]).await?,
    )?;
    tx.commit(store).await?;
    Ok(found)
}

pub(super) async fn remove_blocked(store: &PgStore, number: &str) -> StoreResult<()> {
    let c = store.client().await?;
    let removed = exec(&c, "DELETE FROM blocklist WHERE number = $1", &[&number]).await?;
    if removed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub(super) async fn list_blocked(store: &PgStore, after: &str, limit: u32) -> StoreResult<Vec<BlockedNumber>> {
    let c = store.client().await?;
    rows(
        &c,
        "SELECT number, reason, created_at FROM blocklist WHERE number > $1 ORDER BY number LIMIT $2",
        &[&after, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(blocked_row)
    .collect()
}

pub(super) async fn out_of_scope_sends(
    store: &PgStore,
    customer_id: &str,
    from_ms: i64,
    to_ms: i64,
    limit: u32,
) -> StoreResult<(u64, Vec<OutOfScopeSend>)> {
    let mut client = store.client().await?;
    // One snapshot for the count and the page.
    let t = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
    let total = count(
        &row(
            &t,
            "SELECT COUNT(*) FROM messages WHERE customer_id = $1 AND out_of_scope = 1 \
             AND created_at >= $2 AND created_at < $3",
            &[&customer_id, &from_ms, &to_ms],
        )
        .await?,
        0,
    )?;
    let page = rows(
        &t,
        "SELECT id, recipient, created_at FROM messages WHERE customer_id = $1 AND out_of_scope = 1 \
         AND created_at >= $2 AND created_at < $3 ORDER BY created_at DESC, id DESC LIMIT $4",
        &[&customer_id, &from_ms, &to_ms, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(|r| Ok(OutOfScopeSend { message_id: r.try_get(0)?, recipient: r.try_get(1)?, created_at: r.try_get(2)? }))
    .collect::<StoreResult<Vec<_>>>()?;
    t.commit().await?;
    Ok((total, page))
}

// ---- violations and the audit trail --------------------------------------------------------

/// Inserts a violation; the caller holds the customer's row lock (see [`record_violation`]).
pub(super) async fn insert_violation<C: GenericClient>(c: &C, v: &NewViolation) -> StoreResult<()> {
    exec(
        c,
        "INSERT INTO violations (customer_id, at, category, kind, message_id, text) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&v.customer_id, &v.at, &v.category, &v.kind.as_str(), &v.message_id, &v.text],
    )
    .await?;
    Ok(())
}

pub(super) async fn record_violation(store: &PgStore, violation: NewViolation, since_ms: i64) -> StoreResult<u64> {
    let v = violation;
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    // The count decides a suspension at the agreement's limit: violations of one customer
    // recorded at once on several nodes are counted one after the other (SQLite's single
    // writer did that), under the customer's row lock, which moderation's deletions take too.
    // No row: the INSERT's foreign key refuses it, as in SQLite.
    row_opt(&tx.t, "SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", &[&v.customer_id]).await?;
    insert_violation(&tx.t, &v).await?;
    let total = count(
        &row(
            &tx.t,
            "SELECT COUNT(*) FROM violations WHERE customer_id = $1 AND at >= $2",
            &[&v.customer_id, &since_ms],
        )
        .await?,
        0,
    )?;
    tx.commit(store).await?;
    Ok(total)
}

pub(super) async fn list_violations(
    store: &PgStore,
    customer_id: Option<&str>,
    before_id: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Violation>> {
    let c = store.client().await?;
    rows(
        &c,
        "SELECT id, customer_id, at, category, kind, message_id, text FROM violations \
         WHERE ($1::TEXT IS NULL OR customer_id = $1) AND ($2::BIGINT IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        &[&customer_id, &before_id, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(|r| {
        let kind: String = r.try_get(4)?;
        Ok(Violation {
            id: r.try_get(0)?,
            violation: NewViolation {
                customer_id: r.try_get(1)?,
                at: r.try_get(2)?,
                category: r.try_get(3)?,
                kind: if kind == "deleted" { ViolationKind::Deleted } else { ViolationKind::Rejected },
                message_id: r.try_get(5)?,
                text: r.try_get(6)?,
            },
        })
    })
    .collect()
}

/// Writes an audit entry in the caller's transaction.
pub(super) async fn insert_audit<C: GenericClient>(c: &C, e: &AuditEntry) -> StoreResult<()> {
    exec(
        c,
        "INSERT INTO audit_log (at, actor, action, target, reason, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&e.at, &e.actor, &e.action, &e.target, &e.reason, &e.before, &e.after],
    )
    .await?;
    Ok(())
}

pub(super) async fn append_audit(store: &PgStore, entry: AuditEntry) -> StoreResult<()> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    insert_audit(&tx.t, &entry).await?;
    tx.commit(store).await?;
    Ok(())
}

pub(super) async fn list_audit(store: &PgStore, before_id: Option<i64>, limit: u32) -> StoreResult<Vec<AuditRecord>> {
    let c = store.client().await?;
    rows(
        &c,
        "SELECT id, at, actor, action, target, reason, before, after FROM audit_log \
         WHERE ($1::BIGINT IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        &[&before_id, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(AuditRecord {
            id: r.try_get(0)?,
            entry: AuditEntry {
                at: r.try_get(1)?,
                actor: r.try_get(2)?,
                action: r.try_get(3)?,
                target: r.try_get(4)?,
                reason: r.try_get(5)?,
                before: r.try_get(6)?,
                after: r.try_get(7)?,
            },
        })
    })
    .collect()
}
