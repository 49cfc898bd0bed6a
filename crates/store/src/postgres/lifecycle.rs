//! TODO(port): module doc.

#![allow(unused_variables, unused_imports, clippy::todo)]

use tongdao_domain::agreement::{Agreement, AgreementChange};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Money, Tariff};

use super::PgStore;
use crate::StoreResult;
use crate::model::*;

pub(super) async fn post_notices(store: &PgStore, notices: Vec<NewNotice>, at: i64) -> StoreResult<u64> {
    todo!()
}

pub(super) async fn list_notices(
    store: &PgStore,
    customer_id: Option<&str>,
    before: Option<&str>,
    unread_only: bool,
    limit: u32,
) -> StoreResult<Vec<Notice>> {
    todo!()
}

pub(super) async fn find_notice(store: &PgStore, customer_id: &str, id: &str) -> StoreResult<Notice> {
    todo!()
}

pub(super) async fn notices_about(store: &PgStore, reference: &str, limit: u32) -> StoreResult<Vec<Notice>> {
    todo!()
}

pub(super) async fn read_notice(store: &PgStore, customer_id: &str, id: &str, at: i64) -> StoreResult<Notice> {
    todo!()
}

pub(super) async fn notices_to_email(store: &PgStore, now: i64, limit: u32) -> StoreResult<Vec<NoticeEmail>> {
    todo!()
}

pub(super) async fn notice_emailed(store: &PgStore, id: &str, outcome: EmailOutcome) -> StoreResult<()> {
    todo!()
}

pub(super) async fn set_notice_email(
    store: &PgStore,
    customer_id: &str,
    email: Option<String>,
    audit: AuditEntry,
) -> StoreResult<Customer> {
    todo!()
}

pub(super) async fn create_maintenance(
    store: &PgStore,
    window: MaintenanceWindow,
    notices: Vec<NewNotice>,
    audit: AuditEntry,
) -> StoreResult<MaintenanceWindow> {
    todo!()
}

pub(super) async fn find_maintenance(store: &PgStore, id: &str) -> StoreResult<MaintenanceWindow> {
    todo!()
}

pub(super) async fn cancel_maintenance(
    store: &PgStore,
    id: &str,
    at: i64,
    notices: Vec<NewNotice>,
    audit: AuditEntry,
) -> StoreResult<MaintenanceWindow> {
    todo!()
}

pub(super) async fn list_maintenance(
    store: &PgStore,
    ending_after: i64,
    include_cancelled: bool,
    limit: u32,
) -> StoreResult<Vec<MaintenanceWindow>> {
    todo!()
}

pub(super) async fn issue_breach(
    store: &PgStore,
    breach: Breach,
    notice: NewNotice,
    audit: AuditEntry,
) -> StoreResult<Breach> {
    todo!()
}

pub(super) async fn find_breach(store: &PgStore, id: &str) -> StoreResult<Breach> {
    todo!()
}

pub(super) async fn list_breaches(store: &PgStore, customer_id: Option<&str>, limit: u32) -> StoreResult<Vec<Breach>> {
    todo!()
}

pub(super) async fn cure_breach(
    store: &PgStore,
    id: &str,
    note: &str,
    at: i64,
    notice: NewNotice,
    audit: AuditEntry,
) -> StoreResult<Breach> {
    todo!()
}

pub(super) async fn terminate(
    store: &PgStore,
    breach_id: &str,
    at: i64,
    notice: NewNotice,
    audit: AuditEntry,
) -> StoreResult<(Breach, Termination)> {
    todo!()
}

pub(super) async fn erase_customer(store: &PgStore, customer_id: &str, at: i64, audit: AuditEntry) -> StoreResult<u64> {
    todo!()
}

pub(super) async fn set_low_balance_threshold(
    store: &PgStore,
    customer_id: &str,
    threshold: Option<Money>,
    audit: AuditEntry,
) -> StoreResult<Customer> {
    todo!()
}

pub(super) async fn low_balance_warnings(store: &PgStore, at: i64, make: crate::LowBalanceNotice) -> StoreResult<u64> {
    todo!()
}
