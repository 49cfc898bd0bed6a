//! TODO(port): module doc.

#![allow(unused_variables, unused_imports, clippy::todo)]

use tongdao_domain::agreement::{Agreement, AgreementChange};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Money, Tariff};

use super::PgStore;
use crate::StoreResult;
use crate::model::*;

pub(super) async fn queued_after(store: &PgStore, after_seq: i64, limit: u32) -> StoreResult<Vec<QueuedMessage>> {
    todo!()
}

pub(super) async fn mark_dispatched(
    store: &PgStore,
    after_seq: i64,
    queue_seq: i64,
    read: usize,
) -> StoreResult<Option<Vec<String>>> {
    todo!()
}

pub(super) async fn record_progress(store: &PgStore, progress: Vec<Progress>) -> StoreResult<Vec<Recorded>> {
    todo!()
}

pub(super) async fn forget_early_receipts(store: &PgStore, older_than_ms: i64) -> StoreResult<u64> {
    todo!()
}

pub(super) async fn add_number(store: &PgStore, number: CustomerNumber) -> StoreResult<CustomerNumber> {
    todo!()
}

pub(super) async fn remove_number(store: &PgStore, customer_id: &str, number: &str) -> StoreResult<()> {
    todo!()
}

pub(super) async fn list_numbers(store: &PgStore, customer_id: &str) -> StoreResult<Vec<CustomerNumber>> {
    todo!()
}

pub(super) async fn record_inbound(store: &PgStore, inbound: NewInbound) -> StoreResult<Option<InboundMessage>> {
    todo!()
}

pub(super) async fn list_inbound(
    store: &PgStore,
    customer_id: &str,
    before: Option<String>,
    limit: u32,
) -> StoreResult<Vec<InboundMessage>> {
    todo!()
}

pub(super) async fn webhook_settings(store: &PgStore, customer_id: &str) -> StoreResult<WebhookSettings> {
    todo!()
}

pub(super) async fn set_webhook_url(
    store: &PgStore,
    customer_id: &str,
    url: Option<String>,
) -> StoreResult<WebhookSettings> {
    todo!()
}

pub(super) async fn set_webhook_secret(
    store: &PgStore,
    customer_id: &str,
    secret: &str,
    only_if_unset: bool,
) -> StoreResult<WebhookSettings> {
    todo!()
}

pub(super) async fn due_endpoints(store: &PgStore, now_ms: i64, limit: u32) -> StoreResult<Vec<DueEndpoint>> {
    todo!()
}

pub(super) async fn endpoint_events(
    store: &PgStore,
    customer_id: &str,
    url: &str,
    after_id: i64,
    limit: u32,
) -> StoreResult<Vec<OutboxEvent>> {
    todo!()
}

pub(super) async fn webhook_delivered(store: &PgStore, customer_id: &str, url: &str, ids: Vec<i64>) -> StoreResult<()> {
    todo!()
}

pub(super) async fn webhook_failed(
    store: &PgStore,
    customer_id: &str,
    url: &str,
    next_attempt_at: i64,
    error: &str,
    give_up_before_ms: i64,
) -> StoreResult<u64> {
    todo!()
}

pub(super) async fn outbox_depth(store: &PgStore) -> StoreResult<u64> {
    todo!()
}
