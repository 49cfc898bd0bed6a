//! The daily work: carrier links with their live state, the moderation queue and
//! violations, tickets with their deadlines, maintenance, breach notices and the audit
//! trail.
//!
//! Every write is done [`acting_as`](tongdao_pipeline::users::acting_as) the console user,
//! so that the audit trail names the person rather than the bare `operator` of the API.

mod audit;
mod breaches;
pub(crate) mod carriers;
mod maintenance;
mod moderation;
mod tickets;

use axum::Router;
use axum::routing::{get, post};
use tongdao_api::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops/carriers", get(carriers::page))
        .route("/ops/carriers/live", get(carriers::live))
        .route("/ops/moderation", get(moderation::page))
        .route("/ops/moderation/held/{id}/approve", post(moderation::approve))
        .route("/ops/moderation/held/{id}/delete", post(moderation::delete))
        .route("/ops/moderation/{kind}/{id}/approve", post(moderation::approve_reviewed))
        .route("/ops/moderation/{kind}/{id}/reject", post(moderation::reject_reviewed))
        .route("/ops/tickets", get(tickets::list))
        .route("/ops/tickets/{id}", get(tickets::page))
        .route("/ops/tickets/{id}/answer", post(tickets::answer))
        .route("/ops/tickets/{id}/status", post(tickets::set_status))
        .route("/ops/tickets/{id}/settle", post(tickets::settle))
        .route("/ops/maintenance", get(maintenance::page).post(maintenance::schedule))
        .route("/ops/maintenance/{id}/cancel", post(maintenance::cancel))
        .route("/ops/breaches", get(breaches::page).post(breaches::issue))
        .route("/ops/breaches/{id}/cure", post(breaches::cure))
        .route("/ops/breaches/{id}/terminate", post(breaches::terminate))
        .route("/ops/audit", get(audit::page))
}
