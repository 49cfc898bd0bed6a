//! Customers and their agreements, tariffs, money (top-ups, adjustments, ledger,
//! statements, reconciliation), keys, numbers, SMPP accounts, suspension and resumption,
//! and the console users of both kinds.
//!
//! Every write is done through [`forms::act`], so the audit trail names the console user.

mod detail;
mod forms;
mod list;
mod money;
mod users;

use axum::Router;
use axum::routing::{get, post};
use tongdao_api::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops/customers", get(list::page).post(list::create))
        .route("/ops/customers/{id}", get(detail::page))
        .route("/ops/customers/{id}/ledger", get(detail::ledger))
        .route("/ops/customers/{id}/{action}", post(detail::act_on))
        .route("/ops/money", get(money::page))
        .route("/ops/money/statements/{customer}/{month}", get(money::download))
        .route("/ops/users", get(users::page).post(users::create))
        .route("/ops/users/{id}/{action}", post(users::change))
}
