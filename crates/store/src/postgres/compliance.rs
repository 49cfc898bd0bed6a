//! TODO(port): module doc.

#![allow(unused_variables, unused_imports, clippy::todo)]

use tongdao_domain::agreement::{Agreement, AgreementChange};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Money, Tariff};

use super::PgStore;
use crate::StoreResult;
use crate::model::*;

pub(super) async fn upsert_contacts(store: &PgStore, customer_id: &str, contacts: Vec<Contact>) -> StoreResult<u64> {
    todo!()
}

pub(super) async fn find_contact(store: &PgStore, customer_id: &str, number: &str) -> StoreResult<Contact> {
    todo!()
}

pub(super) async fn delete_contact(store: &PgStore, customer_id: &str, number: &str) -> StoreResult<()> {
    todo!()
}

pub(super) async fn list_contacts(
    store: &PgStore,
    customer_id: &str,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<Contact>> {
    todo!()
}

pub(super) async fn lists_in_use(store: &PgStore, customer_id: &str) -> StoreResult<ListsInUse> {
    todo!()
}

pub(super) async fn recipient_flags(
    store: &PgStore,
    customer_id: &str,
    numbers: Vec<String>,
) -> StoreResult<Vec<RecipientFlags>> {
    todo!()
}

pub(super) async fn add_suppression(
    store: &PgStore,
    customer_id: &str,
    suppression: Suppression,
) -> StoreResult<Suppression> {
    todo!()
}

pub(super) async fn remove_suppression(store: &PgStore, customer_id: &str, number: &str) -> StoreResult<()> {
    todo!()
}

pub(super) async fn list_suppressions(
    store: &PgStore,
    customer_id: &str,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<Suppression>> {
    todo!()
}

pub(super) async fn add_blocked(store: &PgStore, blocked: BlockedNumber) -> StoreResult<BlockedNumber> {
    todo!()
}

pub(super) async fn remove_blocked(store: &PgStore, number: &str) -> StoreResult<()> {
    todo!()
}

pub(super) async fn list_blocked(store: &PgStore, after: &str, limit: u32) -> StoreResult<Vec<BlockedNumber>> {
    todo!()
}

pub(super) async fn out_of_scope_sends(
    store: &PgStore,
    customer_id: &str,
    from_ms: i64,
    to_ms: i64,
    limit: u32,
) -> StoreResult<(u64, Vec<OutOfScopeSend>)> {
    todo!()
}

pub(super) async fn record_violation(store: &PgStore, violation: NewViolation, since_ms: i64) -> StoreResult<u64> {
    todo!()
}

pub(super) async fn list_violations(
    store: &PgStore,
    customer_id: Option<&str>,
    before_id: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Violation>> {
    todo!()
}

pub(super) async fn append_audit(store: &PgStore, entry: AuditEntry) -> StoreResult<()> {
    todo!()
}

pub(super) async fn list_audit(store: &PgStore, before_id: Option<i64>, limit: u32) -> StoreResult<Vec<AuditRecord>> {
    todo!()
}
