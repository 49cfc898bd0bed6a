//! Compliance tables (issue 5): contacts, suppressions, the blocklist and the out-of-scope
//! report.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::find_customer;
use crate::model::*;
use crate::{StoreError, StoreResult};

fn contact_row(r: &Row<'_>) -> rusqlite::Result<Contact> {
    let kind: String = r.get(2)?;
    let tags: String = r.get(3)?;
    Ok(Contact {
        number: r.get(0)?,
        name: r.get(1)?,
        kind: ContactKind::parse(&kind).unwrap_or(ContactKind::Customer),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

const CONTACT_COLUMNS: &str = "number, name, kind, tags, created_at, updated_at";

pub(super) fn upsert_contacts(conn: &Connection, customer_id: &str, contacts: &[Contact]) -> StoreResult<u64> {
    find_customer(conn, customer_id)?;
    let mut statement = conn.prepare_cached(
        "INSERT INTO contacts (customer_id, number, name, kind, tags, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (customer_id, number) DO UPDATE SET \
         name = excluded.name, kind = excluded.kind, tags = excluded.tags, updated_at = excluded.updated_at",
    )?;
    for c in contacts {
        let tags = serde_json::to_string(&c.tags).map_err(|e| StoreError::Backend(e.to_string()))?;
        statement.execute(params![customer_id, c.number, c.name, c.kind.as_str(), tags, c.updated_at])?;
    }
    Ok(contacts.len() as u64)
}

pub(super) fn find_contact(conn: &Connection, customer_id: &str, number: &str) -> StoreResult<Contact> {
    let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE customer_id = ?1 AND number = ?2");
    conn.prepare_cached(&sql)?.query_row([customer_id, number], contact_row).optional()?.ok_or(StoreError::NotFound)
}

pub(super) fn delete_contact(conn: &Connection, customer_id: &str, number: &str) -> StoreResult<()> {
    let removed = conn
        .prepare_cached("DELETE FROM contacts WHERE customer_id = ?1 AND number = ?2")?
        .execute([customer_id, number])?;
    if removed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub(super) fn list_contacts(
    conn: &Connection,
    customer_id: &str,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<Contact>> {
    let sql = format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE customer_id = ?1 AND number > ?2 ORDER BY number LIMIT ?3"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    Ok(statement.query_map(params![customer_id, after, limit], contact_row)?.collect::<Result<_, _>>()?)
}

pub(super) fn lists_in_use(conn: &Connection, customer_id: &str) -> StoreResult<ListsInUse> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM contacts WHERE customer_id = ?1), \
             EXISTS (SELECT 1 FROM suppressions WHERE customer_id = ?1), EXISTS (SELECT 1 FROM blocklist)",
        )?
        .query_row([customer_id], |r| {
            Ok(ListsInUse { contacts: r.get(0)?, suppressions: r.get(1)?, blocked: r.get(2)? })
        })?)
}

pub(super) fn recipient_flags(
    conn: &Connection,
    customer_id: &str,
    numbers: &[String],
) -> StoreResult<Vec<RecipientFlags>> {
    let mut statement = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE customer_id = ?1 AND number = ?2), \
         EXISTS (SELECT 1 FROM suppressions WHERE customer_id = ?1 AND number = ?2), \
         EXISTS (SELECT 1 FROM blocklist WHERE number = ?2)",
    )?;
    numbers
        .iter()
        .map(|n| {
            Ok(statement.query_row(params![customer_id, n], |r| {
                Ok(RecipientFlags { contact: r.get(0)?, opted_out: r.get(1)?, blocked: r.get(2)? })
            })?)
        })
        .collect()
}

fn suppression_row(r: &Row<'_>) -> rusqlite::Result<Suppression> {
    let source: String = r.get(1)?;
    Ok(Suppression {
        number: r.get(0)?,
        source: SuppressionSource::parse(&source).unwrap_or(SuppressionSource::Operator),
        reason: r.get(2)?,
        created_at: r.get(3)?,
    })
}

pub(super) fn add_suppression(conn: &Connection, customer_id: &str, s: &Suppression) -> StoreResult<Suppression> {
    find_customer(conn, customer_id)?;
    let mut statement = conn.prepare_cached(
        "INSERT INTO suppressions (customer_id, number, source, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (customer_id, number) DO NOTHING",
    )?;
    statement.execute(params![customer_id, s.number, s.source.as_str(), s.reason, s.created_at])?;
    let found = conn
        .prepare_cached(
            "SELECT number, source, reason, created_at FROM suppressions WHERE customer_id = ?1 AND number = ?2",
        )?
        .query_row([customer_id, &s.number], suppression_row)?;
    Ok(found)
}

pub(super) fn remove_suppression(conn: &Connection, customer_id: &str, number: &str) -> StoreResult<()> {
    let removed = conn
        .prepare_cached("DELETE FROM suppressions WHERE customer_id = ?1 AND number = ?2")?
        .execute([customer_id, number])?;
    if removed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub(super) fn list_suppressions(
    conn: &Connection,
    customer_id: &str,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<Suppression>> {
    let mut statement = conn.prepare_cached(
        "SELECT number, source, reason, created_at FROM suppressions \
         WHERE customer_id = ?1 AND number > ?2 ORDER BY number LIMIT ?3",
    )?;
    Ok(statement.query_map(params![customer_id, after, limit], suppression_row)?.collect::<Result<_, _>>()?)
}

fn blocked_row(r: &Row<'_>) -> rusqlite::Result<BlockedNumber> {
    Ok(BlockedNumber { number: r.get(0)?, reason: r.get(1)?, created_at: r.get(2)? })
}

pub(super) fn add_blocked(conn: &Connection, b: &BlockedNumber) -> StoreResult<BlockedNumber> {
    conn.prepare_cached(
        "INSERT INTO blocklist (number, reason, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (number) DO NOTHING",
    )?
    .execute(params![b.number, b.reason, b.created_at])?;
    Ok(conn
        .prepare_cached("SELECT number, reason, created_at FROM blocklist WHERE number = ?1")?
        .query_row([&b.number], blocked_row)?)
}

pub(super) fn remove_blocked(conn: &Connection, number: &str) -> StoreResult<()> {
    let removed = conn.prepare_cached("DELETE FROM blocklist WHERE number = ?1")?.execute([number])?;
    if removed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub(super) fn list_blocked(conn: &Connection, after: &str, limit: u32) -> StoreResult<Vec<BlockedNumber>> {
    let mut statement = conn.prepare_cached(
        "SELECT number, reason, created_at FROM blocklist WHERE number > ?1 ORDER BY number LIMIT ?2",
    )?;
    Ok(statement.query_map(params![after, limit], blocked_row)?.collect::<Result<_, _>>()?)
}

pub(super) fn out_of_scope_sends(
    conn: &Connection,
    customer_id: &str,
    from_ms: i64,
    to_ms: i64,
    limit: u32,
) -> StoreResult<(u64, Vec<OutOfScopeSend>)> {
    let count: u64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM messages WHERE customer_id = ?1 AND out_of_scope = 1 \
             AND created_at >= ?2 AND created_at < ?3",
        )?
        .query_row(params![customer_id, from_ms, to_ms], |r| r.get(0))?;
    let mut statement = conn.prepare_cached(
        "SELECT id, recipient, created_at FROM messages WHERE customer_id = ?1 AND out_of_scope = 1 \
         AND created_at >= ?2 AND created_at < ?3 ORDER BY created_at DESC, id DESC LIMIT ?4",
    )?;
    let rows = statement.query_map(params![customer_id, from_ms, to_ms, limit], |r| {
        Ok(OutOfScopeSend { message_id: r.get(0)?, recipient: r.get(1)?, created_at: r.get(2)? })
    })?;
    Ok((count, rows.collect::<Result<_, _>>()?))
}
