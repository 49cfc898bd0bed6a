//! TODO(port): module doc.

#![allow(unused_variables, unused_imports, clippy::todo)]

use tongdao_domain::agreement::{Agreement, AgreementChange};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Money, Tariff};

use super::PgStore;
use crate::StoreResult;
use crate::model::*;

pub(super) async fn ping(store: &PgStore) -> StoreResult<()> {
    super::exec(&store.client().await?, "SELECT 1", &[]).await.map(|_| ())
}

pub(super) async fn create_customer(store: &PgStore, customer: NewCustomer) -> StoreResult<Customer> {
    todo!()
}

pub(super) async fn find_customer(store: &PgStore, id_or_name: &str) -> StoreResult<Customer> {
    todo!()
}

pub(super) async fn list_customers(store: &PgStore) -> StoreResult<Vec<Customer>> {
    todo!()
}

pub(super) async fn create_agreement(store: &PgStore, agreement: Agreement) -> StoreResult<Agreement> {
    todo!()
}

pub(super) async fn find_agreement(store: &PgStore, id: &str) -> StoreResult<Agreement> {
    todo!()
}

pub(super) async fn current_agreement(store: &PgStore, customer_id: &str) -> StoreResult<Option<Agreement>> {
    todo!()
}

pub(super) async fn list_agreements(store: &PgStore, customer_id: &str) -> StoreResult<Vec<Agreement>> {
    todo!()
}

pub(super) async fn change_agreement(
    store: &PgStore,
    id: &str,
    change: AgreementChange,
    now_ms: i64,
    audit: Option<AuditEntry>,
) -> StoreResult<Agreement> {
    todo!()
}

pub(super) async fn put_tariff(store: &PgStore, customer_id: &str, tariff: Tariff, now_ms: i64) -> StoreResult<()> {
    todo!()
}

pub(super) async fn tariff(store: &PgStore, customer_id: &str) -> StoreResult<Option<Tariff>> {
    todo!()
}

pub(super) async fn create_api_key(store: &PgStore, key: ApiKeyRecord) -> StoreResult<()> {
    todo!()
}

pub(super) async fn list_api_keys(store: &PgStore, customer_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
    todo!()
}

pub(super) async fn revoke_api_key(
    store: &PgStore,
    customer_id: &str,
    key_id: &str,
    now_ms: i64,
) -> StoreResult<ApiKeyRecord> {
    todo!()
}

pub(super) async fn find_api_key(store: &PgStore, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
    todo!()
}

pub(super) async fn rotate_operator_token(store: &PgStore, id: &str, hash: &str, now_ms: i64) -> StoreResult<()> {
    todo!()
}

pub(super) async fn operator_token_valid(store: &PgStore, hash: &str) -> StoreResult<bool> {
    todo!()
}

pub(super) async fn post_ledger_entry(store: &PgStore, entry: NewLedgerEntry) -> StoreResult<LedgerEntry> {
    todo!()
}

pub(super) async fn list_ledger(
    store: &PgStore,
    customer_id: &str,
    after_seq: i64,
    limit: u32,
) -> StoreResult<Vec<LedgerEntry>> {
    todo!()
}

pub(super) async fn balance(store: &PgStore, customer_id: &str) -> StoreResult<BalanceCheck> {
    todo!()
}

pub(super) async fn verify_ledger(store: &PgStore) -> StoreResult<Result<ChainReport, ChainBreak>> {
    todo!()
}
