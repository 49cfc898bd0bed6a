//! TODO(port): module doc.

#![allow(unused_variables, unused_imports, clippy::todo)]

use tongdao_domain::agreement::{Agreement, AgreementChange};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Money, Tariff};

use super::PgStore;
use crate::StoreResult;
use crate::model::*;

pub(super) async fn create_smpp_account(store: &PgStore, account: SmppAccount) -> StoreResult<SmppAccount> {
    todo!()
}

pub(super) async fn update_smpp_account(store: &PgStore, account: SmppAccount) -> StoreResult<SmppAccount> {
    todo!()
}

pub(super) async fn delete_smpp_account(store: &PgStore, customer_id: &str, system_id: &str) -> StoreResult<()> {
    todo!()
}

pub(super) async fn find_smpp_account(store: &PgStore, system_id: &str) -> StoreResult<Option<SmppAccount>> {
    todo!()
}

pub(super) async fn list_smpp_accounts(store: &PgStore, customer_id: &str) -> StoreResult<Vec<SmppAccount>> {
    todo!()
}

pub(super) async fn smpp_pending(
    store: &PgStore,
    customer_id: &str,
    after_id: i64,
    limit: u32,
) -> StoreResult<Vec<SmppDelivery>> {
    todo!()
}

pub(super) async fn smpp_delivered(store: &PgStore, customer_id: &str, ids: Vec<i64>) -> StoreResult<()> {
    todo!()
}

pub(super) async fn expire_smpp_outbox(store: &PgStore, before_ms: i64, limit: u32) -> StoreResult<u64> {
    todo!()
}

pub(super) async fn smpp_outbox_depth(store: &PgStore) -> StoreResult<u64> {
    todo!()
}
