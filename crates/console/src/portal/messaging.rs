//! Sending and what was sent: the send form with its live quote, the message log with
//! its filters and each message's timeline, contacts with CSV import, signatures and
//! templates.

use axum::Router;
use tongdao_api::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
