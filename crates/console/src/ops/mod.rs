//! The operator console (`/ops/`): every customer, the carriers, moderation, money,
//! tickets, maintenance, breaches and the audit trail, each behind its role.

mod customers;
mod dashboard;
mod work;

use axum::Router;
use axum::routing::get;
use tongdao_api::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ops/", get(dashboard::page)).merge(customers::routes()).merge(work::routes())
}
