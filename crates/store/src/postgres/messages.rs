//! TODO(port): module doc.

#![allow(unused_variables, unused_imports, clippy::todo)]

use tongdao_domain::agreement::{Agreement, AgreementChange};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Money, Tariff};

use super::PgStore;
use crate::StoreResult;
use crate::model::*;

pub(super) async fn idempotent_answer(
    store: &PgStore,
    customer_id: &str,
    key: &str,
    now_ms: i64,
) -> StoreResult<Option<KeptAnswer>> {
    todo!()
}

pub(super) async fn accept(store: &PgStore, batch: AcceptBatch) -> StoreResult<AcceptOutcome> {
    todo!()
}

pub(super) async fn accept_many(
    store: &PgStore,
    batches: Vec<AcceptBatch>,
) -> StoreResult<Vec<StoreResult<AcceptOutcome>>> {
    todo!()
}

pub(super) async fn find_message(
    store: &PgStore,
    customer_id: &str,
    id: &str,
) -> StoreResult<(StoredMessage, Vec<MessageEvent>)> {
    todo!()
}

pub(super) async fn list_messages(
    store: &PgStore,
    customer_id: &str,
    filter: MessageFilter,
) -> StoreResult<Vec<StoredMessage>> {
    todo!()
}

pub(super) async fn cancel_message(
    store: &PgStore,
    customer_id: &str,
    id: &str,
    now_ms: i64,
) -> StoreResult<StoredMessage> {
    todo!()
}

pub(super) async fn sweep(store: &PgStore, now_ms: i64, limit: u32) -> StoreResult<SweepReport> {
    todo!()
}

pub(super) async fn message_records(
    store: &PgStore,
    customer_id: &str,
    from_ms: i64,
    to_ms: i64,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<MessageRecord>> {
    todo!()
}

pub(super) async fn purge_content(
    store: &PgStore,
    customer_id: &str,
    before_ms: i64,
    limit: u32,
    audit: AuditEntry,
) -> StoreResult<PurgeReport> {
    todo!()
}

pub(super) async fn message_timings(store: &PgStore, customer_id: &str, limit: u32) -> StoreResult<Vec<MessageTiming>> {
    todo!()
}
