//! The daily work: carrier links with their live state, the moderation queue and
//! violations, tickets with their deadlines, maintenance, breach notices and the audit
//! trail.

use axum::Router;
use tongdao_api::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
