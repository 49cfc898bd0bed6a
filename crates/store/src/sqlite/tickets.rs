//! Customer-service tickets (clause 3.6) and the adjustments that settle billing disputes
//! (clause 3.8). A ticket's status moves by the rules of `tongdao_domain::ticket`, checked
//! and written in the transaction that reads it; every operator action writes its audit
//! entry in that transaction too.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};
use tongdao_domain::ticket::{MAX_REPLIES, TicketKind, TicketParty, TicketStatus};
use tongdao_domain::{ErrorCode, Rejection};

use super::moderation::append_audit;
use super::{LEDGER_COLUMNS, conversion_error, ledger_row, post_entry};
use crate::model::*;
use crate::{StoreError, StoreResult};

/// Adjustments shown on one ticket, at most.
const MAX_ADJUSTMENTS_SHOWN: u32 = 1000;

const TICKET_COLUMNS: &str = "id, customer_id, kind, status, subject, body, message_ids, statement_lines, opened_at, \
     answer_due_at, answered_at, resolved_at, closed_at, updated_at";

fn ticket_row(r: &Row<'_>) -> rusqlite::Result<Ticket> {
    let kind: String = r.get(2)?;
    let status: String = r.get(3)?;
    Ok(Ticket {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        kind: TicketKind::parse(&kind).ok_or_else(|| conversion_error(2, "bad ticket kind"))?,
        status: TicketStatus::parse(&status).ok_or_else(|| conversion_error(3, "bad ticket status"))?,
        subject: r.get(4)?,
        body: r.get(5)?,
        message_ids: super::string_list(r, 6)?,
        statement_lines: super::string_list(r, 7)?,
        opened_at: r.get(8)?,
        answer_due_at: r.get(9)?,
        answered_at: r.get(10)?,
        resolved_at: r.get(11)?,
        closed_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

fn reply_row(r: &Row<'_>) -> rusqlite::Result<TicketReply> {
    let author: String = r.get(2)?;
    Ok(TicketReply {
        id: r.get(0)?,
        ticket_id: r.get(1)?,
        author: TicketParty::parse(&author).ok_or_else(|| conversion_error(2, "bad reply author"))?,
        body: r.get(3)?,
        created_at: r.get(4)?,
    })
}

/// What the audit trail shows of a ticket: where it stands, not what it says.
pub(crate) fn snapshot(t: &Ticket) -> Option<String> {
    Some(
        serde_json::json!({
            "id": t.id,
            "customer_id": t.customer_id,
            "kind": t.kind,
            "status": t.status,
            "answer_due_at": t.answer_due_at,
            "answered_at": t.answered_at,
            "resolved_at": t.resolved_at,
            "closed_at": t.closed_at,
        })
        .to_string(),
    )
}

pub(crate) fn json_array(items: &[String]) -> StoreResult<String> {
    serde_json::to_string(items).map_err(|e| StoreError::Backend(e.to_string()))
}

/// The ticket, of `customer_id` only when given.
pub(super) fn find(conn: &Connection, customer_id: Option<&str>, id: &str) -> StoreResult<Ticket> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?1 AND (?2 IS NULL OR customer_id = ?2)");
    conn.prepare_cached(&sql)?.query_row(params![id, customer_id], ticket_row).optional()?.ok_or(StoreError::NotFound)
}

/// The ticket with its replies and the adjustments naming it.
pub(super) fn thread(conn: &Connection, ticket: Ticket) -> StoreResult<TicketThread> {
    let replies = conn
        .prepare_cached(
            "SELECT id, ticket_id, author, body, created_at FROM ticket_replies WHERE ticket_id = ?1 \
             ORDER BY created_at, id",
        )?
        .query_map([&ticket.id], reply_row)?
        .collect::<Result<_, _>>()?;
    let sql = format!(
        "SELECT {LEDGER_COLUMNS} FROM ledger WHERE customer_id = ?1 AND kind = 'adjustment' AND reference = ?2 \
         ORDER BY seq LIMIT ?3"
    );
    let adjustments = conn
        .prepare_cached(&sql)?
        .query_map(params![ticket.customer_id, ticket.id, MAX_ADJUSTMENTS_SHOWN], ledger_row)?
        .collect::<Result<_, _>>()?;
    Ok(TicketThread { ticket, replies, adjustments })
}

/// Reads a thread in one read transaction, so replies and status agree.
pub(super) fn read_thread(conn: &Connection, customer_id: Option<&str>, id: &str) -> StoreResult<TicketThread> {
    conn.execute_batch("BEGIN")?;
    let result = find(conn, customer_id, id).and_then(|ticket| thread(conn, ticket));
    conn.execute_batch("COMMIT")?;
    result
}

pub(super) fn open(conn: &Connection, t: &NewTicket) -> StoreResult<Ticket> {
    super::find_customer(conn, &t.customer_id)?;
    let mut own = conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE customer_id = ?1 AND id = ?2)")?;
    for (i, message_id) in t.message_ids.iter().enumerate() {
        let exists: bool = own.query_row(params![t.customer_id, message_id], |r| r.get(0))?;
        if !exists {
            return Err(StoreError::Refused(Rejection::field(
                ErrorCode::InvalidReference,
                format!("message_ids[{i}]"),
                format!("{message_id} is not one of your messages"),
            )));
        }
    }
    conn.prepare_cached(
        "INSERT INTO tickets (id, customer_id, kind, status, subject, body, message_ids, statement_lines, opened_at, \
         answer_due_at, updated_at) VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?6, ?7, ?8, ?9, ?8)",
    )?
    .execute(params![
        t.id,
        t.customer_id,
        t.kind.as_str(),
        t.subject,
        t.body,
        json_array(&t.message_ids)?,
        json_array(&t.statement_lines)?,
        t.opened_at,
        t.answer_due_at,
    ])?;
    find(conn, None, &t.id)
}

pub(super) fn list(conn: &Connection, filter: &TicketFilter) -> StoreResult<Vec<Ticket>> {
    // Only the conditions asked for, so each variant gets the plan its index allows.
    let mut sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE 1 = 1");
    let mut values: Vec<Value> = Vec::new();
    let mut condition = |clause: &str, value: Value| {
        sql.push_str(clause);
        values.push(value);
    };
    if let Some(customer_id) = &filter.customer_id {
        condition(" AND customer_id = ?", Value::Text(customer_id.clone()));
    }
    if let Some(status) = filter.status {
        condition(" AND status = ?", Value::Text(status.as_str().to_owned()));
    }
    if let Some(kind) = filter.kind {
        condition(" AND kind = ?", Value::Text(kind.as_str().to_owned()));
    }
    if let Some(now) = filter.overdue_at {
        // As `tongdao_domain::ticket::is_overdue` says.
        condition(
            " AND answer_due_at IS NOT NULL AND answered_at IS NULL AND status = 'open' AND answer_due_at < ?",
            Value::Integer(now),
        );
    }
    if let Some(before) = &filter.before {
        condition(" AND id < ?", Value::Text(before.clone()));
    }
    condition(" ORDER BY id DESC LIMIT ?", Value::Integer(i64::from(filter.limit)));
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(values), ticket_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn reply(
    conn: &Connection,
    customer_id: Option<&str>,
    reply: &TicketReply,
    audit: Option<&AuditEntry>,
) -> StoreResult<TicketThread> {
    let before = find(conn, customer_id, &reply.ticket_id)?;
    let status =
        before.status.after_reply(reply.author, before.resolved_at, reply.created_at).map_err(StoreError::Refused)?;
    let replies: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM ticket_replies WHERE ticket_id = ?1")?
        .query_row([&reply.ticket_id], |r| r.get(0))?;
    if replies >= MAX_REPLIES as i64 {
        return Err(StoreError::Refused(Rejection::new(
            ErrorCode::Conflict,
            format!("the ticket has {MAX_REPLIES} replies, as many as one ticket takes; open a new ticket"),
        )));
    }
    conn.prepare_cached(
        "INSERT INTO ticket_replies (id, ticket_id, author, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![reply.id, reply.ticket_id, reply.author.as_str(), reply.body, reply.created_at])?;
    conn.prepare_cached(
        "UPDATE tickets SET status = ?2, updated_at = ?3, \
         answered_at = CASE WHEN ?4 = 'operator' THEN ?3 ELSE answered_at END WHERE id = ?1",
    )?
    .execute(params![reply.ticket_id, status.as_str(), reply.created_at, reply.author.as_str()])?;
    let after = find(conn, None, &reply.ticket_id)?;
    if let Some(audit) = audit {
        append_audit(conn, &AuditEntry { before: snapshot(&before), after: snapshot(&after), ..audit.clone() })?;
    }
    thread(conn, after)
}

pub(super) fn set_status(
    conn: &Connection,
    id: &str,
    to: TicketStatus,
    audit: &AuditEntry,
) -> StoreResult<TicketThread> {
    let before = find(conn, None, id)?;
    before.status.operator_may_set(to).map_err(StoreError::Refused)?;
    conn.prepare_cached(
        "UPDATE tickets SET status = ?2, updated_at = ?3, \
         resolved_at = CASE WHEN ?2 = 'resolved' THEN ?3 ELSE resolved_at END, \
         closed_at = CASE WHEN ?2 = 'closed' THEN ?3 ELSE closed_at END WHERE id = ?1",
    )?
    .execute(params![id, to.as_str(), audit.at])?;
    let after = find(conn, None, id)?;
    append_audit(conn, &AuditEntry { before: snapshot(&before), after: snapshot(&after), ..audit.clone() })?;
    thread(conn, after)
}

pub(super) fn settle(
    conn: &Connection,
    ticket_id: &str,
    entry: NewLedgerEntry,
    audit: &AuditEntry,
) -> StoreResult<LedgerEntry> {
    let owner: Option<String> = conn
        .prepare_cached("SELECT customer_id FROM tickets WHERE id = ?1")?
        .query_row([ticket_id], |r| r.get(0))
        .optional()?;
    if owner.as_deref() != Some(entry.customer_id.as_str()) {
        return Err(StoreError::Refused(Rejection::field(
            ErrorCode::InvalidReference,
            "ticket",
            format!("the customer has no ticket {ticket_id}"),
        )));
    }
    let posted = post_entry(conn, NewLedgerEntry { reference: Some(ticket_id.to_owned()), ..entry })?;
    let after = serde_json::json!({
        "seq": posted.seq,
        "amount": posted.amount,
        "balance_after": posted.balance_after,
    });
    append_audit(conn, &AuditEntry { after: Some(after.to_string()), ..audit.clone() })?;
    Ok(posted)
}
