//! Customers and their agreements, tariffs, money (top-ups, adjustments, ledger,
//! statements, reconciliation), keys, numbers, SMPP accounts, suspension and resumption,
//! and the console users of both kinds.

use axum::Router;
use tongdao_api::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
