//! The customer portal (`/console/`): what a customer's users see and do of their own
//! account, and nothing of any other customer's (every call passes the session's customer).

mod account;
mod dashboard;
mod messaging;

use axum::Router;
use axum::routing::get;
use tongdao_api::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/", get(dashboard::page))
        .route("/console/suspended", get(dashboard::suspended))
        .merge(messaging::routes())
        .merge(account::routes())
}
