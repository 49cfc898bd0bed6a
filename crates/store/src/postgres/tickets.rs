//! TODO(port): module doc.

#![allow(unused_variables, unused_imports, clippy::todo)]

use tongdao_domain::agreement::{Agreement, AgreementChange};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Money, Tariff};

use super::PgStore;
use crate::StoreResult;
use crate::model::*;

pub(super) async fn open_ticket(store: &PgStore, ticket: NewTicket) -> StoreResult<Ticket> {
    todo!()
}

pub(super) async fn find_ticket(store: &PgStore, customer_id: Option<&str>, id: &str) -> StoreResult<TicketThread> {
    todo!()
}

pub(super) async fn list_tickets(store: &PgStore, filter: TicketFilter) -> StoreResult<Vec<Ticket>> {
    todo!()
}

pub(super) async fn reply_ticket(
    store: &PgStore,
    customer_id: Option<&str>,
    reply: TicketReply,
    audit: Option<AuditEntry>,
) -> StoreResult<TicketThread> {
    todo!()
}

pub(super) async fn set_ticket_status(
    store: &PgStore,
    id: &str,
    status: TicketStatus,
    audit: AuditEntry,
) -> StoreResult<TicketThread> {
    todo!()
}

pub(super) async fn settle_ticket(
    store: &PgStore,
    ticket_id: &str,
    entry: NewLedgerEntry,
    audit: AuditEntry,
) -> StoreResult<LedgerEntry> {
    todo!()
}
