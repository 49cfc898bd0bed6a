//! Sending and what was sent: the send form with its live quote, the message log with
//! its filters and each message's timeline, contacts with CSV import, signatures and
//! templates.
//!
//! Every handler passes the session's customer to the platform, never one from the URL
//! or the form: another customer's message, contact or template is simply not found.

mod contacts;
mod messages;
mod send;
mod templates;

use axum::Router;
use axum::routing::{get, post};
use tongdao_api::AppState;
use tongdao_domain::Rejection;

use crate::i18n::Lang;
use crate::page::{Problem, Problems};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/send", get(send::page).post(send::submit))
        .route("/console/send/quote", post(send::quote))
        .route("/console/messages", get(messages::list))
        .route("/console/messages/{id}", get(messages::detail))
        .route("/console/messages/{id}/live", get(messages::live))
        .route("/console/messages/{id}/cancel", post(messages::cancel))
        .route("/console/contacts", get(contacts::page).post(contacts::add))
        .route("/console/contacts/import", post(contacts::import))
        .route("/console/contacts/export", get(contacts::export))
        .route("/console/contacts/{number}/delete", post(contacts::delete))
        .route("/console/suppressions", post(contacts::suppress))
        .route("/console/suppressions/{number}/delete", post(contacts::unsuppress))
        .route("/console/templates", get(templates::page))
        .route("/console/templates/signatures", post(templates::submit_signature))
        .route("/console/templates/signatures/{id}/delete", post(templates::delete_signature))
        .route("/console/templates/templates", post(templates::submit_template))
        .route("/console/templates/templates/{id}/delete", post(templates::delete_template))
}

/// A refusal shown on a form whose inputs are not named as the API's fields: the API's
/// `from` field (e.g. `to[3]`, a recipient by index) shows at the input `to`.
fn problems_at(rejection: &Rejection, lang: Lang, rename: &[(&str, &str)]) -> Problems {
    let mut problems = Problems::of(rejection, lang);
    if let Some(Problem { field: Some(field), .. }) = &mut problems.0 {
        let base = field.split('[').next().unwrap_or(field.as_str()).to_owned();
        if let Some((_, to)) = rename.iter().find(|(from, _)| *from == base) {
            *field = (*to).to_owned();
        } else {
            *field = base;
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use tongdao_domain::ErrorCode;

    #[test]
    fn a_recipient_refusal_shows_at_the_recipients_input() {
        let refusal = Rejection::field(ErrorCode::InvalidNumber, "to[2]", "not a number");
        assert!(problems_at(&refusal, Lang::En, &[]).at("to").is_some());
        let body = Rejection::invalid("body", "not CSV");
        assert!(problems_at(&body, Lang::En, &[("body", "csv")]).at("csv").is_some());
    }
}
