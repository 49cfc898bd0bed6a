//! Compliance tables (issue 5): contacts, suppressions, the blocklist, the out-of-scope
//! report, and the per-recipient frequency counters the accept transaction keeps.

use rusqlite::{Connection, OptionalExtension, Row, params};
use tongdao_domain::FrequencyLimits;

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

/// One recipient's counts, each with the start of the window it belongs to.
#[derive(Debug, Clone, Copy)]
struct Counts {
    starts: [i64; 3],
    counts: [u32; 3],
}

/// Checks every message of a batch against the frequency limits, before anything is
/// written; `Ok` carries the new counts to write with [`write_counts`].
pub(super) fn check_frequency(
    conn: &Connection,
    customer_id: &str,
    messages: &[NewMessage],
    limits: &FrequencyLimits,
    now_ms: i64,
) -> StoreResult<Vec<(String, [i64; 3], [u32; 3])>> {
    if limits.is_unlimited() || messages.is_empty() {
        return Ok(Vec::new());
    }
    let windows = limits.windows();
    let starts = windows.map(|(_, length, offset)| FrequencyLimits::window_start(now_ms, length, offset));
    let mut seen: std::collections::HashMap<&str, Counts> = std::collections::HashMap::new();
    let mut read = conn.prepare_cached(
        "SELECT minute_start, minute_count, hour_start, hour_count, day_start, day_count FROM recipient_counts \
         WHERE customer_id = ?1 AND number = ?2",
    )?;
    for (index, m) in messages.iter().enumerate() {
        let counts = match seen.get(m.recipient.as_str()) {
            Some(c) => *c,
            None => {
                let stored = read
                    .query_row(params![customer_id, m.recipient], |r| {
                        Ok(Counts {
                            starts: [r.get(0)?, r.get(2)?, r.get(4)?],
                            counts: [r.get(1)?, r.get(3)?, r.get(5)?],
                        })
                    })
                    .optional()?;
                let mut fresh = Counts { starts, counts: [0; 3] };
                if let Some(stored) = stored {
                    for w in 0..3 {
                        if stored.starts[w] == starts[w] {
                            fresh.counts[w] = stored.counts[w];
                        }
                    }
                }
                fresh
            }
        };
        let mut next = counts;
        for (w, (limit, length, _)) in windows.iter().enumerate() {
            if *limit > 0 && counts.counts[w] >= *limit {
                return Err(StoreError::RateLimited { index, retry_after_ms: starts[w] + length - now_ms });
            }
            next.counts[w] = counts.counts[w].saturating_add(1);
        }
        seen.insert(m.recipient.as_str(), next);
    }
    Ok(seen.into_iter().map(|(number, c)| (number.to_owned(), c.starts, c.counts)).collect())
}

pub(super) fn write_counts(
    conn: &Connection,
    customer_id: &str,
    counts: &[(String, [i64; 3], [u32; 3])],
) -> StoreResult<()> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO recipient_counts (customer_id, number, minute_start, minute_count, hour_start, hour_count, \
         day_start, day_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (customer_id, number) DO UPDATE SET \
         minute_start = excluded.minute_start, minute_count = excluded.minute_count, \
         hour_start = excluded.hour_start, hour_count = excluded.hour_count, \
         day_start = excluded.day_start, day_count = excluded.day_count",
    )?;
    for (number, starts, counts) in counts {
        statement.execute(params![
            customer_id,
            number,
            starts[0],
            counts[0],
            starts[1],
            counts[1],
            starts[2],
            counts[2]
        ])?;
    }
    Ok(())
}
