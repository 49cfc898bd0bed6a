//! The account: API keys, SMPP credentials and webhooks, statements, tickets, notices,
//! the agreement and its acceptance, and the customer's console users.
//!
//! Every Platform call passes the session's customer (`customer.customer_id`), never an id
//! taken alone from the URL or a form: another customer's key, ticket, notice or user is
//! `not_found` because the Platform looks it up within this customer.

mod agreement;
mod integration;
mod notices;
mod statements;
mod tickets;
mod users;

use axum::Router;
use axum::routing::{get, post};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::Rejection;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/integration", get(integration::page))
        .route("/console/integration/keys", post(integration::create_key))
        .route("/console/integration/keys/{id}/revoke", post(integration::revoke_key))
        .route("/console/integration/webhook", post(integration::set_webhook))
        .route("/console/integration/webhook-secret", post(integration::rotate_secret))
        .route("/console/statements", get(statements::page))
        .route("/console/statements/{month}/csv", get(statements::csv))
        .route("/console/tickets", get(tickets::list).post(tickets::open))
        .route("/console/tickets/{id}", get(tickets::page))
        .route("/console/tickets/{id}/replies", post(tickets::reply))
        .route("/console/notices", get(notices::list))
        .route("/console/notices/{id}", get(notices::page))
        .route("/console/agreement", get(agreement::page))
        .route("/console/agreement/accept", post(agreement::accept))
        .route("/console/users", get(users::list).post(users::create))
        .route("/console/users/{id}", post(users::change))
}

/// `?done=…`: what the last form did, for a confirmation after its redirect.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

/// A refusal naming an item of a list field (`message_ids[2]`) shown under that list's
/// input (`message_ids`); the message keeps the item's place.
pub fn at_list_field(mut rejection: Rejection) -> Rejection {
    if let Some(field) = &rejection.field
        && let Some((base, _)) = field.split_once('[')
    {
        rejection.message = format!("{field}: {}", rejection.message);
        rejection.field = Some(base.to_owned());
    }
    rejection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_are_refused_at_their_list() {
        let r = at_list_field(Rejection::invalid("message_ids[1]", "not a message id"));
        assert_eq!(r.field.as_deref(), Some("message_ids"));
        assert_eq!(r.message, "message_ids[1]: not a message id");
        let r = at_list_field(Rejection::invalid("subject", "too long"));
        assert_eq!(r.field.as_deref(), Some("subject"));
    }
}
