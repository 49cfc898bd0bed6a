//! Customer-service tickets (clause 3.6) and the adjustments that settle billing disputes
//! (clause 3.8) on PostgreSQL: a ticket's row is locked while its status is checked and moved,
//! so replies and operator actions from several nodes apply one after the other.

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use tongdao_domain::ticket::{MAX_REPLIES, TicketKind, TicketParty, TicketStatus};
use tongdao_domain::{ErrorCode, Rejection};

// To be imported from `super::core` at merge (see the end of `lifecycle.rs`).
use super::core::{LEDGER_COLUMNS, find_customer, insert_audit, ledger_row, post_entry};
use super::{PgStore, Tx, bad_column, exec, row, row_opt, rows, string_list};
use crate::model::*;
use crate::sqlite::tickets::json_array;
use crate::sqlite::tickets::snapshot;
use crate::{StoreError, StoreResult};

/// Adjustments shown on one ticket, at most.
const MAX_ADJUSTMENTS_SHOWN: i64 = 1000;

const TICKET_COLUMNS: &str = "id, customer_id, kind, status, subject, body, message_ids, statement_lines, opened_at, \
     answer_due_at, answered_at, resolved_at, closed_at, updated_at";

fn ticket_row(r: &Row) -> StoreResult<Ticket> {
    let kind: String = r.try_get(2)?;
    let status: String = r.try_get(3)?;
    Ok(Ticket {
        id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        kind: TicketKind::parse(&kind).ok_or_else(|| bad_column(2, "bad ticket kind"))?,
        status: TicketStatus::parse(&status).ok_or_else(|| bad_column(3, "bad ticket status"))?,
        subject: r.try_get(4)?,
        body: r.try_get(5)?,
        message_ids: string_list(r, 6)?,
        statement_lines: string_list(r, 7)?,
        opened_at: r.try_get(8)?,
        answer_due_at: r.try_get(9)?,
        answered_at: r.try_get(10)?,
        resolved_at: r.try_get(11)?,
        closed_at: r.try_get(12)?,
        updated_at: r.try_get(13)?,
    })
}

fn reply_row(r: &Row) -> StoreResult<TicketReply> {
    let author: String = r.try_get(2)?;
    Ok(TicketReply {
        id: r.try_get(0)?,
        ticket_id: r.try_get(1)?,
        author: TicketParty::parse(&author).ok_or_else(|| bad_column(2, "bad reply author"))?,
        body: r.try_get(3)?,
        created_at: r.try_get(4)?,
    })
}

/// The ticket, of `customer_id` only when given.
async fn find<C: GenericClient>(c: &C, customer_id: Option<&str>, id: &str) -> StoreResult<Ticket> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1 AND ($2::TEXT IS NULL OR customer_id = $2)");
    ticket_row(&row(c, &sql, &[&id, &customer_id]).await?)
}

/// The ticket, locked until the transaction ends: its status is checked and moved under it.
async fn lock(t: &Transaction<'_>, customer_id: Option<&str>, id: &str) -> StoreResult<Ticket> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1 AND ($2::TEXT IS NULL OR customer_id = $2) FOR UPDATE"
    );
    ticket_row(&row(t, &sql, &[&id, &customer_id]).await?)
}

/// The ticket with its replies and the adjustments naming it.
async fn thread<C: GenericClient>(c: &C, ticket: Ticket) -> StoreResult<TicketThread> {
    let replies = rows(
        c,
        "SELECT id, ticket_id, author, body, created_at FROM ticket_replies WHERE ticket_id = $1 \
         ORDER BY created_at, id",
        &[&ticket.id],
    )
    .await?
    .iter()
    .map(reply_row)
    .collect::<StoreResult<_>>()?;
    let sql = format!(
        "SELECT {LEDGER_COLUMNS} FROM ledger WHERE customer_id = $1 AND kind = 'adjustment' AND reference = $2 \
         ORDER BY seq LIMIT $3"
    );
    let adjustments = rows(c, &sql, &[&ticket.customer_id, &ticket.id, &MAX_ADJUSTMENTS_SHOWN])
        .await?
        .iter()
        .map(ledger_row)
        .collect::<StoreResult<_>>()?;
    Ok(TicketThread { ticket, replies, adjustments })
}

pub(super) async fn open_ticket(store: &PgStore, t: NewTicket) -> StoreResult<Ticket> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    find_customer(&tx.t, &t.customer_id).await?;
    let own: Vec<String> = rows(
        &tx.t,
        "SELECT id FROM messages WHERE customer_id = $1 AND id = ANY($2)",
        &[&t.customer_id, &t.message_ids],
    )
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    if let Some((i, message_id)) = t.message_ids.iter().enumerate().find(|(_, id)| !own.contains(id)) {
        return Err(StoreError::Refused(Rejection::field(
            ErrorCode::InvalidReference,
            format!("message_ids[{i}]"),
            format!("{message_id} is not one of your messages"),
        )));
    }
    exec(
        &tx.t,
        "INSERT INTO tickets (id, customer_id, kind, status, subject, body, message_ids, statement_lines, opened_at, \
         answer_due_at, updated_at) VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $8)",
        &[
            &t.id,
            &t.customer_id,
            &t.kind.as_str(),
            &t.subject,
            &t.body,
            &json_array(&t.message_ids)?,
            &json_array(&t.statement_lines)?,
            &t.opened_at,
            &t.answer_due_at,
        ],
    )
    .await?;
    let ticket = find(&tx.t, None, &t.id).await?;
    tx.commit(store).await?;
    Ok(ticket)
}

/// Reads the thread in one REPEATABLE READ transaction, so replies and status agree.
pub(super) async fn find_ticket(store: &PgStore, customer_id: Option<&str>, id: &str) -> StoreResult<TicketThread> {
    let mut client = store.client().await?;
    let t = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let ticket = find(&t, customer_id, id).await?;
    let thread = thread(&t, ticket).await?;
    t.commit().await?;
    Ok(thread)
}

pub(super) async fn list_tickets(store: &PgStore, filter: TicketFilter) -> StoreResult<Vec<Ticket>> {
    // Only the conditions asked for, so each variant gets the plan its index allows.
    let mut sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE 1 = 1");
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut condition = |clause: &str, value: Box<dyn ToSql + Sync + Send>| {
        values.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", values.len())));
    };
    if let Some(customer_id) = &filter.customer_id {
        condition(" AND customer_id = ?", Box::new(customer_id.clone()));
    }
    if let Some(status) = filter.status {
        condition(" AND status = ?", Box::new(status.as_str()));
    }
    if let Some(kind) = filter.kind {
        condition(" AND kind = ?", Box::new(kind.as_str()));
    }
    if let Some(now) = filter.overdue_at {
        // As `tongdao_domain::ticket::is_overdue` says.
        condition(
            " AND answer_due_at IS NOT NULL AND answered_at IS NULL AND status = 'open' AND answer_due_at < ?",
            Box::new(now),
        );
    }
    if let Some(before) = &filter.before {
        condition(" AND id < ?", Box::new(before.clone()));
    }
    condition(" ORDER BY id DESC LIMIT ?", Box::new(i64::from(filter.limit)));
    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
    let c = store.client().await?;
    rows(&c, &sql, &params).await?.iter().map(ticket_row).collect()
}

pub(super) async fn reply_ticket(
    store: &PgStore,
    customer_id: Option<&str>,
    reply: TicketReply,
    audit: Option<AuditEntry>,
) -> StoreResult<TicketThread> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let before = lock(&tx.t, customer_id, &reply.ticket_id).await?;
    let status =
        before.status.after_reply(reply.author, before.resolved_at, reply.created_at).map_err(StoreError::Refused)?;
    let replies: i64 = row(&tx.t, "SELECT COUNT(*) FROM ticket_replies WHERE ticket_id = $1", &[&reply.ticket_id])
        .await?
        .try_get(0)?;
    if usize::try_from(replies).is_ok_and(|n| n >= MAX_REPLIES) {
        return Err(StoreError::Refused(Rejection::new(
            ErrorCode::Conflict,
            format!("the ticket has {MAX_REPLIES} replies, as many as one ticket takes; open a new ticket"),
        )));
    }
    exec(
        &tx.t,
        "INSERT INTO ticket_replies (id, ticket_id, author, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&reply.id, &reply.ticket_id, &reply.author.as_str(), &reply.body, &reply.created_at],
    )
    .await?;
    exec(
        &tx.t,
        "UPDATE tickets SET status = $2, updated_at = $3, \
         answered_at = CASE WHEN $4::TEXT = 'operator' THEN $3 ELSE answered_at END WHERE id = $1",
        &[&reply.ticket_id, &status.as_str(), &reply.created_at, &reply.author.as_str()],
    )
    .await?;
    let after = find(&tx.t, None, &reply.ticket_id).await?;
    if let Some(audit) = audit {
        insert_audit(&tx.t, &AuditEntry { before: snapshot(&before), after: snapshot(&after), ..audit }).await?;
    }
    let thread = thread(&tx.t, after).await?;
    tx.commit(store).await?;
    Ok(thread)
}

pub(super) async fn set_ticket_status(
    store: &PgStore,
    id: &str,
    to: TicketStatus,
    audit: AuditEntry,
) -> StoreResult<TicketThread> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let before = lock(&tx.t, None, id).await?;
    before.status.operator_may_set(to).map_err(StoreError::Refused)?;
    exec(
        &tx.t,
        "UPDATE tickets SET status = $2, updated_at = $3, \
         resolved_at = CASE WHEN $2 = 'resolved' THEN $3 ELSE resolved_at END, \
         closed_at = CASE WHEN $2 = 'closed' THEN $3 ELSE closed_at END WHERE id = $1",
        &[&id, &to.as_str(), &audit.at],
    )
    .await?;
    let after = find(&tx.t, None, id).await?;
    insert_audit(&tx.t, &AuditEntry { before: snapshot(&before), after: snapshot(&after), ..audit }).await?;
    let thread = thread(&tx.t, after).await?;
    tx.commit(store).await?;
    Ok(thread)
}

/// Posts the adjustment settling the ticket, with its audit entry naming the entry's seq. The
/// seq is drawn when the transaction's ledger entries are written, so they are written here,
/// before the audit entry, rather than by the commit (which then has none left to write).
pub(super) async fn settle_ticket(
    store: &PgStore,
    ticket_id: &str,
    entry: NewLedgerEntry,
    audit: AuditEntry,
) -> StoreResult<LedgerEntry> {
    let mut client = store.client().await?;
    let mut tx = Tx::begin(&mut client).await?;
    let owner: Option<String> = row_opt(&tx.t, "SELECT customer_id FROM tickets WHERE id = $1", &[&ticket_id])
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    if owner.as_deref() != Some(entry.customer_id.as_str()) {
        return Err(StoreError::Refused(Rejection::field(
            ErrorCode::InvalidReference,
            "ticket",
            format!("the customer has no ticket {ticket_id}"),
        )));
    }
    let posted = post_entry(&mut tx, NewLedgerEntry { reference: Some(ticket_id.to_owned()), ..entry }).await?;
    let written = super::ledger::flush(&tx.t, std::mem::take(&mut tx.ledger)).await?;
    let posted = posted.committed(&written)?;
    let after = serde_json::json!({
        "seq": posted.seq,
        "amount": posted.amount,
        "balance_after": posted.balance_after,
    });
    insert_audit(&tx.t, &AuditEntry { after: Some(after.to_string()), ..audit }).await?;
    tx.commit(store).await?;
    Ok(posted)
}
