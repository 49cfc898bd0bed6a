//! Operations on the agreement's life (issue 6): written notices and their reading,
//! maintenance windows (clause 3.2), breach notices, cure and termination (clause 6),
//! low-balance warnings, and erasing a terminated customer's data after its retention.

use rusqlite::{Connection, OptionalExtension, Row, params};
use tongdao_domain::Money;
use tongdao_domain::agreement::AgreementChange;

use super::{LedgerRow, agreement_row, append_ledger, balance_of, carrier, moderation, set_balance};
use crate::model::*;
use crate::{StoreError, StoreResult};

// ---- notices -------------------------------------------------------------------------------

const NOTICE_COLUMNS: &str = "id, customer_id, kind, reference, subject, body, created_at, read_at";

fn notice_row(r: &Row<'_>) -> rusqlite::Result<Notice> {
    Ok(Notice {
        id: r.get(0)?,
        notice: NewNotice {
            customer_id: r.get(1)?,
            kind: r.get(2)?,
            reference: r.get(3)?,
            subject: r.get(4)?,
            body: r.get(5)?,
        },
        created_at: r.get(6)?,
        read_at: r.get(7)?,
    })
}

/// Stores a notice unless the customer already has one about the same event, and queues a
/// `notice.created` webhook event with it; `None` when it was already there.
pub(super) fn post_notice(conn: &Connection, n: &NewNotice, at: i64) -> StoreResult<Option<Notice>> {
    let id = tongdao_domain::id::new_id("ntc");
    let inserted = conn
        .prepare_cached(
            "INSERT INTO notices (id, customer_id, kind, reference, subject, body, created_at, email_next_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, \
             (SELECT CASE WHEN notice_email IS NOT NULL THEN ?7 END FROM customers WHERE id = ?2)) \
             ON CONFLICT (customer_id, reference) DO NOTHING",
        )?
        .execute(params![id, n.customer_id, n.kind, n.reference, n.subject, n.body, at])?;
    if inserted == 0 {
        return Ok(None);
    }
    let url: Option<String> = conn
        .prepare_cached("SELECT webhook_url FROM customers WHERE id = ?1")?
        .query_row([&n.customer_id], |r| r.get(0))
        .optional()?
        .flatten();
    if let Some(url) = url {
        let body = serde_json::json!({
            "id": tongdao_domain::id::new_id("evt"),
            "type": "notice.created",
            "notice_id": id,
            "kind": n.kind,
            "subject": n.subject,
            "body": n.body,
            "at": tongdao_domain::clock::rfc3339(at),
        });
        carrier::enqueue_webhook(conn, &n.customer_id, &url, &body.to_string(), at)?;
    }
    Ok(Some(Notice { id, notice: n.clone(), created_at: at, read_at: None }))
}

pub(super) fn post_notices(conn: &Connection, notices: &[NewNotice], at: i64) -> StoreResult<u64> {
    let mut posted = 0;
    for n in notices {
        posted += u64::from(post_notice(conn, n, at)?.is_some());
    }
    Ok(posted)
}

/// Newest first, of one customer or all, before the notice id `before`.
pub(super) fn list_notices(
    conn: &Connection,
    customer_id: Option<&str>,
    before: Option<&str>,
    unread_only: bool,
    limit: u32,
) -> StoreResult<Vec<Notice>> {
    let sql = format!(
        "SELECT {NOTICE_COLUMNS} FROM notices WHERE (?1 IS NULL OR customer_id = ?1) AND (?2 IS NULL OR id < ?2) \
         AND (?3 = 0 OR read_at IS NULL) ORDER BY id DESC LIMIT ?4"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![customer_id, before, unread_only, limit], notice_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every customer's notice about one event (who was told, and who read it).
pub(super) fn notices_about(conn: &Connection, reference: &str, limit: u32) -> StoreResult<Vec<Notice>> {
    let sql = format!("SELECT {NOTICE_COLUMNS} FROM notices WHERE reference = ?1 ORDER BY customer_id LIMIT ?2");
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![reference, limit], notice_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn find_notice(conn: &Connection, customer_id: &str, id: &str) -> StoreResult<Notice> {
    let sql = format!("SELECT {NOTICE_COLUMNS} FROM notices WHERE customer_id = ?1 AND id = ?2");
    conn.prepare_cached(&sql)?.query_row([customer_id, id], notice_row).optional()?.ok_or(StoreError::NotFound)
}

/// Records that the customer read the notice (the first reading is kept).
pub(super) fn read_notice(conn: &Connection, customer_id: &str, id: &str, at: i64) -> StoreResult<Notice> {
    conn.prepare_cached("UPDATE notices SET read_at = ?3 WHERE customer_id = ?1 AND id = ?2 AND read_at IS NULL")?
        .execute(params![customer_id, id, at])?;
    find_notice(conn, customer_id, id)
}

/// Notices due to be emailed now, oldest due first.
pub(super) fn notices_to_email(conn: &Connection, now: i64, limit: u32) -> StoreResult<Vec<NoticeEmail>> {
    let columns = NOTICE_COLUMNS.split(", ").map(|c| format!("n.{c}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT {columns}, c.notice_email, n.email_attempts FROM notices n JOIN customers c ON c.id = n.customer_id \
         WHERE n.emailed_at IS NULL AND n.email_next_at IS NOT NULL AND n.email_next_at <= ?1 \
         AND c.notice_email IS NOT NULL ORDER BY n.email_next_at LIMIT ?2"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![now, limit], |r| {
        Ok(NoticeEmail { notice: notice_row(r)?, to: r.get(8)?, attempts: r.get(9)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn notice_emailed(conn: &Connection, id: &str, outcome: &EmailOutcome) -> StoreResult<()> {
    match outcome {
        EmailOutcome::Sent { at } => conn
            .prepare_cached(
                "UPDATE notices SET emailed_at = ?2, email_next_at = NULL, email_error = NULL, \
                 email_attempts = email_attempts + 1 WHERE id = ?1",
            )?
            .execute(params![id, at])?,
        EmailOutcome::Failed { error, retry_at } => conn
            .prepare_cached(
                "UPDATE notices SET email_next_at = ?2, email_error = ?3, email_attempts = email_attempts + 1 \
                 WHERE id = ?1",
            )?
            .execute(params![id, retry_at, error])?,
    };
    Ok(())
}

pub(super) fn set_notice_email(
    conn: &Connection,
    customer_id: &str,
    email: Option<&str>,
    audit: &AuditEntry,
) -> StoreResult<Customer> {
    change_customer(
        conn,
        customer_id,
        "UPDATE customers SET notice_email = ?2 WHERE id = ?1",
        &email,
        audit,
        |c| serde_json::json!({ "notice_email": c.notice_email }),
    )
}

/// Runs `sql` (`?1` the customer's id, `?2` `value`) and audits the change with the
/// customer's `snapshot` before and after.
fn change_customer(
    conn: &Connection,
    customer_id: &str,
    sql: &str,
    value: &dyn rusqlite::ToSql,
    audit: &AuditEntry,
    snapshot: impl Fn(&Customer) -> serde_json::Value,
) -> StoreResult<Customer> {
    let before = super::find_customer(conn, customer_id)?;
    conn.prepare_cached(sql)?.execute(params![before.id, value])?;
    let after = super::find_customer(conn, &before.id)?;
    let entry = AuditEntry {
        before: Some(snapshot(&before).to_string()),
        after: Some(snapshot(&after).to_string()),
        ..audit.clone()
    };
    moderation::append_audit(conn, &entry)?;
    Ok(after)
}

// ---- maintenance ---------------------------------------------------------------------------

const WINDOW_COLUMNS: &str =
    "id, starts_at, ends_at, carriers, services, description, emergency_reason, customers, created_at, cancelled_at";

fn window_row(r: &Row<'_>) -> rusqlite::Result<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: r.get(0)?,
        starts_at: r.get(1)?,
        ends_at: r.get(2)?,
        carriers: super::string_list(r, 3)?,
        services: super::string_list(r, 4)?,
        description: r.get(5)?,
        emergency_reason: r.get(6)?,
        customers: super::string_list(r, 7)?,
        created_at: r.get(8)?,
        cancelled_at: r.get(9)?,
    })
}

fn to_json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

/// Stores the window with a notice to each customer it names and its audit entry.
pub(super) fn create_maintenance(
    conn: &Connection,
    w: &MaintenanceWindow,
    notices: &[NewNotice],
    audit: &AuditEntry,
) -> StoreResult<MaintenanceWindow> {
    conn.prepare_cached(
        "INSERT INTO maintenance_windows (id, starts_at, ends_at, carriers, services, description, emergency_reason, \
         customers, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        w.id,
        w.starts_at,
        w.ends_at,
        to_json(&w.carriers),
        to_json(&w.services),
        w.description,
        w.emergency_reason,
        to_json(&w.customers),
        w.created_at
    ])?;
    post_notices(conn, notices, w.created_at)?;
    let after = window_snapshot(w);
    moderation::append_audit(conn, &AuditEntry { after: Some(after.to_string()), ..audit.clone() })?;
    find_maintenance(conn, &w.id)
}

pub(crate) fn window_snapshot(w: &MaintenanceWindow) -> serde_json::Value {
    serde_json::json!({
        "id": w.id,
        "starts_at": w.starts_at,
        "ends_at": w.ends_at,
        "carriers": w.carriers,
        "services": w.services,
        "emergency_reason": w.emergency_reason,
        "customers": w.customers.len(),
        "cancelled_at": w.cancelled_at,
    })
}

pub(super) fn find_maintenance(conn: &Connection, id: &str) -> StoreResult<MaintenanceWindow> {
    let sql = format!("SELECT {WINDOW_COLUMNS} FROM maintenance_windows WHERE id = ?1");
    conn.prepare_cached(&sql)?.query_row([id], window_row).optional()?.ok_or(StoreError::NotFound)
}

/// Cancels a window that has not ended, noticing the customers it named.
pub(super) fn cancel_maintenance(
    conn: &Connection,
    id: &str,
    at: i64,
    notices: &[NewNotice],
    audit: &AuditEntry,
) -> StoreResult<MaintenanceWindow> {
    let before = find_maintenance(conn, id)?;
    if before.cancelled_at.is_some() || before.ends_at <= at {
        return Err(StoreError::Conflict("the window has ended or was cancelled".into()));
    }
    conn.prepare_cached("UPDATE maintenance_windows SET cancelled_at = ?2 WHERE id = ?1")?.execute(params![id, at])?;
    post_notices(conn, notices, at)?;
    let after = find_maintenance(conn, id)?;
    moderation::append_audit(
        conn,
        &AuditEntry {
            before: Some(window_snapshot(&before).to_string()),
            after: Some(window_snapshot(&after).to_string()),
            ..audit.clone()
        },
    )?;
    Ok(after)
}

/// Windows not cancelled that end after `ending_after`, soonest first, at most `limit`.
pub(super) fn list_maintenance(
    conn: &Connection,
    ending_after: i64,
    include_cancelled: bool,
    limit: u32,
) -> StoreResult<Vec<MaintenanceWindow>> {
    let sql = format!(
        "SELECT {WINDOW_COLUMNS} FROM maintenance_windows WHERE ends_at > ?1 AND (?2 OR cancelled_at IS NULL) \
         ORDER BY starts_at, id LIMIT ?3"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![ending_after, include_cancelled, limit], window_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- breach and termination ----------------------------------------------------------------

const BREACH_COLUMNS: &str =
    "id, customer_id, agreement_id, clause, facts, noticed_at, cure_deadline, cured_at, cure_note, terminated_at";

fn breach_row(r: &Row<'_>) -> rusqlite::Result<Breach> {
    Ok(Breach {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        agreement_id: r.get(2)?,
        clause: r.get(3)?,
        facts: r.get(4)?,
        noticed_at: r.get(5)?,
        cure_deadline: r.get(6)?,
        cured_at: r.get(7)?,
        cure_note: r.get(8)?,
        terminated_at: r.get(9)?,
    })
}

pub(crate) fn breach_snapshot(b: &Breach) -> String {
    serde_json::json!({
        "id": b.id,
        "clause": b.clause,
        "cure_deadline": b.cure_deadline,
        "cured_at": b.cured_at,
        "terminated_at": b.terminated_at,
    })
    .to_string()
}

pub(super) fn find_breach(conn: &Connection, id: &str) -> StoreResult<Breach> {
    let sql = format!("SELECT {BREACH_COLUMNS} FROM breaches WHERE id = ?1");
    conn.prepare_cached(&sql)?.query_row([id], breach_row).optional()?.ok_or(StoreError::NotFound)
}

/// Of one customer or all, newest first.
pub(super) fn list_breaches(conn: &Connection, customer_id: Option<&str>, limit: u32) -> StoreResult<Vec<Breach>> {
    let sql = format!(
        "SELECT {BREACH_COLUMNS} FROM breaches WHERE (?1 IS NULL OR customer_id = ?1) ORDER BY noticed_at DESC, id DESC \
         LIMIT ?2"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![customer_id, limit], breach_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn issue_breach(
    conn: &Connection,
    b: &Breach,
    notice: &NewNotice,
    audit: &AuditEntry,
) -> StoreResult<Breach> {
    conn.prepare_cached(
        "INSERT INTO breaches (id, customer_id, agreement_id, clause, facts, noticed_at, cure_deadline) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![b.id, b.customer_id, b.agreement_id, b.clause, b.facts, b.noticed_at, b.cure_deadline])?;
    post_notice(conn, notice, b.noticed_at)?;
    moderation::append_audit(conn, &AuditEntry { after: Some(breach_snapshot(b)), ..audit.clone() })?;
    find_breach(conn, &b.id)
}

fn open_breach(conn: &Connection, id: &str) -> StoreResult<Breach> {
    let breach = find_breach(conn, id)?;
    if breach.cured_at.is_some() || breach.terminated_at.is_some() {
        return Err(StoreError::Conflict("the breach is closed (cured or terminated)".into()));
    }
    Ok(breach)
}

pub(super) fn cure_breach(
    conn: &Connection,
    id: &str,
    note: &str,
    at: i64,
    notice: &NewNotice,
    audit: &AuditEntry,
) -> StoreResult<Breach> {
    let before = open_breach(conn, id)?;
    conn.prepare_cached("UPDATE breaches SET cured_at = ?2, cure_note = ?3 WHERE id = ?1")?
        .execute(params![id, at, note])?;
    let after = find_breach(conn, id)?;
    post_notice(conn, notice, at)?;
    moderation::append_audit(
        conn,
        &AuditEntry { before: Some(breach_snapshot(&before)), after: Some(breach_snapshot(&after)), ..audit.clone() },
    )?;
    Ok(after)
}

/// Clause 6: ends the service of the breach's customer, in one transaction — every live
/// agreement terminated, API keys revoked, SMPP accounts removed, waiting messages cancelled
/// and refunded, and what is left of the prepaid balance paid back by a refund entry.
/// Refused while the breach is cured, closed, or still within its cure period.
pub(super) fn terminate(
    conn: &Connection,
    breach_id: &str,
    at: i64,
    notice: &NewNotice,
    audit: &AuditEntry,
) -> StoreResult<(Breach, Termination)> {
    let breach = open_breach(conn, breach_id)?;
    if at < breach.cure_deadline {
        return Err(StoreError::Refused(tongdao_domain::Rejection::new(
            tongdao_domain::ErrorCode::CurePeriodRunning,
            "the cure period has not ended; terminate after the deadline",
        )));
    }
    let customer_id = breach.customer_id.as_str();
    let reason = format!("breach {} of clause {} not cured by the deadline", breach.id, breach.clause);
    let mut report = Termination::default();
    let sql =
        format!("SELECT {} FROM agreements WHERE customer_id = ?1 AND terminated_at IS NULL", super::AGREEMENT_COLUMNS);
    let live = conn.prepare_cached(&sql)?.query_map([customer_id], agreement_row)?.collect::<Result<Vec<_>, _>>()?;
    for mut agreement in live {
        agreement.apply(&AgreementChange::Terminate { reason: reason.clone() }, at).map_err(StoreError::Refused)?;
        conn.prepare_cached("UPDATE agreements SET terminated_at = ?2, termination_reason = ?3 WHERE id = ?1")?
            .execute(params![agreement.id, at, reason])?;
        report.agreements += 1;
    }
    report.keys_revoked = conn
        .prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE customer_id = ?1 AND revoked_at IS NULL")?
        .execute(params![customer_id, at])? as u64;
    report.smpp_accounts_removed =
        conn.prepare_cached("DELETE FROM smpp_accounts WHERE customer_id = ?1")?.execute([customer_id])? as u64;
    report.messages_cancelled =
        moderation::cancel_waiting(conn, customer_id, at, "cancelled: the service was terminated")?;
    let balance = balance_of(conn, customer_id)?;
    if balance > 0 {
        set_balance(conn, customer_id, 0)?;
        append_ledger(
            conn,
            LedgerRow {
                customer_id,
                kind: LedgerKind::Refund,
                amount: -balance,
                balance_after: 0,
                message_id: None,
                reference: Some(&format!("settlement:{}", breach.id)),
                reason: Some("the prepaid balance paid back on termination (clause 6)"),
                now_ms: at,
            },
        )?;
        report.settled = Money::from_micros(balance);
    }
    conn.prepare_cached("UPDATE customers SET terminated_at = ?2 WHERE id = ?1")?.execute(params![customer_id, at])?;
    conn.prepare_cached("UPDATE breaches SET terminated_at = ?2 WHERE id = ?1")?.execute(params![breach.id, at])?;
    post_notice(conn, notice, at)?;
    let after = find_breach(conn, breach_id)?;
    let summary = serde_json::json!({
        "breach": breach.id,
        "agreements": report.agreements,
        "keys_revoked": report.keys_revoked,
        "smpp_accounts_removed": report.smpp_accounts_removed,
        "messages_cancelled": report.messages_cancelled,
        "settled": report.settled.to_string(),
    });
    moderation::append_audit(
        conn,
        &AuditEntry { before: Some(breach_snapshot(&breach)), after: Some(summary.to_string()), ..audit.clone() },
    )?;
    Ok((after, report))
}

/// Deletes what a terminated customer's service left about people — messages and their
/// events, replies, contacts, suppressions, evidence, notices, tickets, outboxes, console users
/// and their sessions — and blanks its contact details; the ledger (the hash-chained billing
/// record), agreements and the audit trail stay. Refused for a customer not terminated.
pub(super) fn erase_customer(conn: &Connection, customer_id: &str, at: i64, audit: &AuditEntry) -> StoreResult<u64> {
    let terminated: Option<Option<i64>> = conn
        .prepare_cached("SELECT terminated_at FROM customers WHERE id = ?1")?
        .query_row([customer_id], |r| r.get(0))
        .optional()?;
    match terminated {
        None => return Err(StoreError::NotFound),
        Some(None) => return Err(StoreError::Conflict("only a terminated customer's data is erased".into())),
        Some(Some(_)) => {}
    }
    let mut rows = conn
        .prepare_cached(
            "DELETE FROM message_events WHERE message_id IN (SELECT id FROM messages WHERE customer_id = ?1)",
        )?
        .execute([customer_id])? as u64;
    rows += conn
        .prepare_cached(
            "DELETE FROM ticket_replies WHERE ticket_id IN (SELECT id FROM tickets WHERE customer_id = ?1)",
        )?
        .execute([customer_id])? as u64;
    // Explicitly, not by the foreign key's cascade, so that they count among the rows deleted.
    rows += conn
        .prepare_cached(
            "DELETE FROM console_sessions WHERE user_id IN (SELECT id FROM console_users WHERE customer_id = ?1)",
        )?
        .execute([customer_id])? as u64;
    for table in [
        "console_users",
        "tickets",
        "message_parts",
        "messages",
        "inbound_messages",
        "contacts",
        "suppressions",
        "violations",
        "notices",
        "webhook_outbox",
        "webhook_endpoints",
        "webhook_deliveries",
        "smpp_outbox",
        "idempotency_keys",
        "customer_numbers",
        "signatures",
        "templates",
    ] {
        rows += conn.execute(&format!("DELETE FROM {table} WHERE customer_id = ?1"), [customer_id])? as u64;
    }
    conn.prepare_cached(
        "UPDATE customers SET address = '', contact = '', webhook_url = NULL, webhook_secret = NULL, erased_at = ?2 \
         WHERE id = ?1",
    )?
    .execute(params![customer_id, at])?;
    let after = serde_json::json!({ "rows_deleted": rows }).to_string();
    moderation::append_audit(conn, &AuditEntry { after: Some(after), ..audit.clone() })?;
    Ok(rows)
}

// ---- low balance ---------------------------------------------------------------------------

pub(super) fn set_low_balance_threshold(
    conn: &Connection,
    customer_id: &str,
    threshold: Option<Money>,
    audit: &AuditEntry,
) -> StoreResult<Customer> {
    let sql = "UPDATE customers SET low_balance_threshold = ?2, low_balance_warned_at = NULL WHERE id = ?1";
    change_customer(
        conn,
        customer_id,
        sql,
        &threshold.map(Money::micros),
        audit,
        |c| serde_json::json!({ "low_balance_threshold": c.low_balance_threshold.map(|m| m.to_string()) }),
    )
}

/// Customers whose balance fell under their threshold and who were not yet warned: each
/// gets the notice `make` writes, once until its balance is back at or over the threshold.
pub(super) fn low_balance_warnings(
    conn: &Connection,
    at: i64,
    make: &(dyn Fn(&str, Money, Money) -> NewNotice + Send + Sync),
) -> StoreResult<u64> {
    conn.prepare_cached(
        "UPDATE customers SET low_balance_warned_at = NULL \
         WHERE low_balance_warned_at IS NOT NULL AND (low_balance_threshold IS NULL OR balance >= low_balance_threshold)",
    )?
    .execute([])?;
    let due: Vec<(String, i64, i64)> = conn
        .prepare_cached(
            "SELECT id, balance, low_balance_threshold FROM customers WHERE low_balance_threshold IS NOT NULL \
             AND balance < low_balance_threshold AND low_balance_warned_at IS NULL AND terminated_at IS NULL",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (id, balance, threshold) in &due {
        let notice = make(id, Money::from_micros(*balance), Money::from_micros(*threshold));
        // One notice per fall under the threshold: the reference carries the time.
        post_notice(conn, &NewNotice { reference: format!("{}:{at}", notice.reference), ..notice }, at)?;
        conn.prepare_cached("UPDATE customers SET low_balance_warned_at = ?2 WHERE id = ?1")?
            .execute(params![id, at])?;
    }
    Ok(due.len() as u64)
}
