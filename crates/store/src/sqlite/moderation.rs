//! Moderation and measures (clauses 3.4, 3.5): violations, the audit trail, held messages,
//! the suspension cascade, and the signatures and templates the operator reviews.

use std::sync::atomic::{AtomicI64, Ordering};

use rusqlite::{Connection, OptionalExtension, Row, params};
use tongdao_domain::MessageStatus;

use super::{Change, MESSAGE_COLUMNS, carrier, change_status, find_message, message_row, refund};
use crate::model::*;
use crate::{StoreError, StoreResult};

pub(super) fn append_audit(conn: &Connection, e: &AuditEntry) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor, action, target, reason, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![e.at, e.actor, e.action, e.target, e.reason, e.before, e.after])?;
    Ok(())
}

pub(super) fn list_audit(conn: &Connection, before_id: Option<i64>, limit: u32) -> StoreResult<Vec<AuditRecord>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, at, actor, action, target, reason, before, after FROM audit_log \
         WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = statement.query_map(params![before_id, limit], |r| {
        Ok(AuditRecord {
            id: r.get(0)?,
            entry: AuditEntry {
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                reason: r.get(5)?,
                before: r.get(6)?,
                after: r.get(7)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn record_violation(conn: &Connection, v: &NewViolation, since_ms: i64) -> StoreResult<u64> {
    conn.prepare_cached(
        "INSERT INTO violations (customer_id, at, category, kind, message_id, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![v.customer_id, v.at, v.category, v.kind.as_str(), v.message_id, v.text])?;
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM violations WHERE customer_id = ?1 AND at >= ?2")?
        .query_row(params![v.customer_id, since_ms], |r| r.get(0))?)
}

pub(super) fn list_violations(
    conn: &Connection,
    customer_id: Option<&str>,
    before_id: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Violation>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, customer_id, at, category, kind, message_id, text FROM violations \
         WHERE (?1 IS NULL OR customer_id = ?1) AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = statement.query_map(params![customer_id, before_id, limit], |r| {
        let kind: String = r.get(4)?;
        Ok(Violation {
            id: r.get(0)?,
            violation: NewViolation {
                customer_id: r.get(1)?,
                at: r.get(2)?,
                category: r.get(3)?,
                kind: if kind == "deleted" { ViolationKind::Deleted } else { ViolationKind::Rejected },
                message_id: r.get(5)?,
                text: r.get(6)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn held_messages(conn: &Connection, after: &str, limit: u32) -> StoreResult<Vec<HeldMessage>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, screening FROM messages WHERE status = 'held' AND id > ?1 ORDER BY id LIMIT ?2"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement
        .query_map(params![after, limit], |r| Ok(HeldMessage { message: message_row(r)?, screening: r.get(16)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn customer_of(conn: &Connection, message_id: &str) -> StoreResult<String> {
    conn.prepare_cached("SELECT customer_id FROM messages WHERE id = ?1")?
        .query_row([message_id], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound)
}

pub(super) fn moderate(
    conn: &Connection,
    message_id: &str,
    decision: &Moderation,
    audit: &AuditEntry,
    queue_seq: &AtomicI64,
) -> StoreResult<StoredMessage> {
    let customer_id = customer_of(conn, message_id)?;
    let message = find_message(conn, &customer_id, message_id)?;
    if message.status != MessageStatus::Held {
        return Err(StoreError::Conflict(format!("the message is {}, not held", message.status.as_str())));
    }
    let now = audit.at;
    match decision {
        Moderation::Approve => {
            let status = match message.send_at {
                Some(at) if at > now => MessageStatus::Scheduled,
                _ => {
                    conn.prepare_cached("UPDATE messages SET queue_seq = ?2 WHERE id = ?1")?
                        .execute(params![message_id, queue_seq.fetch_add(1, Ordering::Relaxed)])?;
                    MessageStatus::Queued
                }
            };
            change_status(conn, &Change::new(&customer_id, message_id, status, now), &[MessageStatus::Held])?;
        }
        Moderation::Delete { category } => {
            let category = match category {
                Some(c) => c.clone(),
                None => {
                    let screening: Option<String> = conn
                        .prepare_cached("SELECT screening FROM messages WHERE id = ?1")?
                        .query_row([message_id], |r| r.get(0))?;
                    screening
                        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                        .and_then(|v| v["category"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| "other_unlawful".to_owned())
                }
            };
            let category = &category;
            refund(conn, &customer_id, message_id, message.price.micros(), "deleted by moderation", now)?;
            let change = Change {
                error: Some(category.as_str()),
                ..Change::new(&customer_id, message_id, MessageStatus::Deleted, now)
            };
            change_status(conn, &change, &[MessageStatus::Held])?;
            conn.prepare_cached(
                "INSERT INTO violations (customer_id, at, category, kind, message_id, text) \
                 VALUES (?1, ?2, ?3, 'deleted', ?4, ?5)",
            )?
            .execute(params![customer_id, now, category, message_id, message.text])?;
        }
    }
    append_audit(conn, audit)?;
    find_message(conn, &customer_id, message_id)
}

/// Cancels and refunds what a suspended customer had waiting: held and scheduled messages,
/// and queued ones no dispatcher has taken (past its mark and unclaimed; the others may be
/// at a carrier already). Returns how many.
pub(super) fn cancel_waiting(conn: &Connection, customer_id: &str, now_ms: i64, reason: &str) -> StoreResult<u64> {
    let mark = carrier::dispatch_mark(conn)?;
    let waiting: Vec<(String, i64, String)> = conn
        .prepare_cached(
            "SELECT id, price, status FROM messages WHERE customer_id = ?1 \
             AND (status IN ('held', 'scheduled') OR (status = 'queued' AND queue_seq > ?2 AND claimed_by IS NULL))",
        )?
        .query_map(params![customer_id, mark], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut cancelled = 0;
    for (id, price, status) in &waiting {
        let Some(from) = MessageStatus::parse(status) else { continue };
        if change_status(conn, &Change::new(customer_id, id, MessageStatus::Cancelled, now_ms), &[from])? {
            refund(conn, customer_id, id, *price, reason, now_ms)?;
            cancelled += 1;
        }
    }
    Ok(cancelled)
}

fn table(kind: ReviewKind) -> &'static str {
    match kind {
        ReviewKind::Signature => "signatures",
        ReviewKind::Template => "templates",
    }
}

fn name_column(kind: ReviewKind) -> &'static str {
    match kind {
        ReviewKind::Signature => "NULL",
        ReviewKind::Template => "name",
    }
}

fn reviewed_row(r: &Row<'_>) -> rusqlite::Result<Reviewed> {
    let status: String = r.get(4)?;
    Ok(Reviewed {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        name: r.get(2)?,
        text: r.get(3)?,
        status: ReviewStatus::parse(&status).unwrap_or(ReviewStatus::Pending),
        reason: r.get(5)?,
        created_at: r.get(6)?,
        decided_at: r.get(7)?,
    })
}

fn reviewed_select(kind: ReviewKind) -> String {
    format!(
        "SELECT id, customer_id, {}, text, status, reason, created_at, decided_at FROM {}",
        name_column(kind),
        table(kind)
    )
}

pub(super) fn create_reviewed(conn: &Connection, kind: ReviewKind, item: &Reviewed) -> StoreResult<Reviewed> {
    super::find_customer(conn, &item.customer_id)?;
    let inserted = match kind {
        ReviewKind::Signature => conn
            .prepare_cached(
                "INSERT INTO signatures (id, customer_id, text, status, created_at) VALUES (?1, ?2, ?3, 'pending', ?4) \
                 ON CONFLICT (customer_id, text) DO NOTHING",
            )?
            .execute(params![item.id, item.customer_id, item.text, item.created_at])?,
        ReviewKind::Template => conn
            .prepare_cached(
                "INSERT INTO templates (id, customer_id, name, text, status, created_at) \
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
            )?
            .execute(params![
                item.id,
                item.customer_id,
                item.name.as_deref().unwrap_or(""),
                item.text,
                item.created_at
            ])?,
    };
    if inserted == 0 {
        return Err(StoreError::Conflict("the customer has this signature already".into()));
    }
    find_reviewed(conn, kind, &item.id)
}

pub(super) fn find_reviewed(conn: &Connection, kind: ReviewKind, id: &str) -> StoreResult<Reviewed> {
    let sql = format!("{} WHERE id = ?1", reviewed_select(kind));
    conn.prepare_cached(&sql)?.query_row([id], reviewed_row).optional()?.ok_or(StoreError::NotFound)
}

pub(super) fn list_reviewed(
    conn: &Connection,
    kind: ReviewKind,
    customer_id: Option<&str>,
    status: Option<ReviewStatus>,
) -> StoreResult<Vec<Reviewed>> {
    let sql = format!(
        "{} WHERE (?1 IS NULL OR customer_id = ?1) AND (?2 IS NULL OR status = ?2) ORDER BY created_at, id LIMIT 10000",
        reviewed_select(kind)
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![customer_id, status.map(ReviewStatus::as_str)], reviewed_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn decide_reviewed(
    conn: &Connection,
    kind: ReviewKind,
    id: &str,
    status: ReviewStatus,
    reason: Option<&str>,
    audit: &AuditEntry,
) -> StoreResult<Reviewed> {
    let before = find_reviewed(conn, kind, id)?;
    let sql = format!("UPDATE {} SET status = ?2, reason = ?3, decided_at = ?4 WHERE id = ?1", table(kind));
    conn.prepare_cached(&sql)?.execute(params![id, status.as_str(), reason, audit.at])?;
    let after = find_reviewed(conn, kind, id)?;
    let snapshot = |r: &Reviewed| serde_json::to_string(r).ok();
    append_audit(conn, &AuditEntry { before: snapshot(&before), after: snapshot(&after), ..audit.clone() })?;
    Ok(after)
}

pub(super) fn delete_reviewed(conn: &Connection, kind: ReviewKind, customer_id: &str, id: &str) -> StoreResult<()> {
    let sql = format!("DELETE FROM {} WHERE customer_id = ?1 AND id = ?2", table(kind));
    let removed = conn.prepare_cached(&sql)?.execute([customer_id, id])?;
    if removed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}
