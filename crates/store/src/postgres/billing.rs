//! TODO(port): module doc.

#![allow(unused_variables, unused_imports, clippy::todo)]

use tongdao_domain::agreement::{Agreement, AgreementChange};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Money, Tariff};

use super::PgStore;
use crate::StoreResult;
use crate::model::*;

pub(super) async fn statement(
    store: &PgStore,
    customer_id: &str,
    from_ms: i64,
    to_ms: i64,
    list_limit: u32,
) -> StoreResult<StatementData> {
    todo!()
}

pub(super) async fn reconciliation(store: &PgStore, from_ms: i64, to_ms: i64) -> StoreResult<Vec<ReconciliationRow>> {
    todo!()
}
