//! The account: API keys, SMPP credentials and webhooks, statements, tickets, notices,
//! the agreement and its acceptance, and the customer's console users.

use axum::Router;
use tongdao_api::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
