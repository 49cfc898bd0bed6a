//! TODO(port): module doc.

#![allow(unused_variables, unused_imports, clippy::todo)]

use tongdao_domain::agreement::{Agreement, AgreementChange};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Money, Tariff};

use super::PgStore;
use crate::StoreResult;
use crate::model::*;

pub(super) async fn held_messages(store: &PgStore, after: &str, limit: u32) -> StoreResult<Vec<HeldMessage>> {
    todo!()
}

pub(super) async fn moderate(
    store: &PgStore,
    message_id: &str,
    decision: Moderation,
    audit: AuditEntry,
) -> StoreResult<StoredMessage> {
    todo!()
}

pub(super) async fn create_reviewed(store: &PgStore, kind: ReviewKind, item: Reviewed) -> StoreResult<Reviewed> {
    todo!()
}

pub(super) async fn find_reviewed(store: &PgStore, kind: ReviewKind, id: &str) -> StoreResult<Reviewed> {
    todo!()
}

pub(super) async fn list_reviewed(
    store: &PgStore,
    kind: ReviewKind,
    customer_id: Option<&str>,
    status: Option<ReviewStatus>,
) -> StoreResult<Vec<Reviewed>> {
    todo!()
}

pub(super) async fn decide_reviewed(
    store: &PgStore,
    kind: ReviewKind,
    id: &str,
    status: ReviewStatus,
    reason: Option<String>,
    audit: AuditEntry,
) -> StoreResult<Reviewed> {
    todo!()
}

pub(super) async fn delete_reviewed(store: &PgStore, kind: ReviewKind, customer_id: &str, id: &str) -> StoreResult<()> {
    todo!()
}
