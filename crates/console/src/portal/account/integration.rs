//! API and SMPP: the customer's API keys (created here, the secret shown once; revoked),
//! its SMPP credentials (the operator creates them: shown read-only), the webhook URL and
//! signing secret (rotated here, shown once), and the recent webhook deliveries.
//!
//! The deliveries are the notifier's log of its attempts at the customer's endpoints (the
//! account's URL and messages' own ones), newest first: when, the URL, how many events and
//! the outcome — delivered, or the error. The store keeps a customer's newest 100; the page
//! shows the newest `RECENT_DELIVERIES`.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::Rejection;
use tongdao_domain::clock::parse_rfc3339;
use tongdao_domain::console::PortalArea;
use tongdao_pipeline::smpp::SmppAccountView;
use tongdao_pipeline::users::acting_as;
use tongdao_store::WebhookDelivery;

use super::Done;
use crate::forms::optional;
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Customer;

/// Recent webhook deliveries listed.
const RECENT_DELIVERIES: u32 = 20;

pub struct KeyRow {
    pub id: String,
    pub label: String,
    pub rps: u32,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// An SMPP account as listed; `updated` in China time (the view's is RFC 3339 UTC).
pub struct SmppRow {
    pub account: SmppAccountView,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "portal/integration.html")]
struct IntegrationPage {
    c: Chrome,
    may_write: bool,
    done: Option<&'static str>,
    keys: Vec<KeyRow>,
    new_key: Option<(String, String)>,
    label: String,
    rps: String,
    key_problems: Problems,
    smpp: Vec<SmppRow>,
    webhook_url: String,
    webhook_problems: Problems,
    secret_end: Option<String>,
    new_secret: Option<String>,
    deliveries: Vec<WebhookDelivery>,
}

/// What a form adds to the page: a secret to show once, or a refusal with what was typed.
#[derive(Default)]
struct Outcome {
    new_key: Option<(String, String)>,
    key_form: Option<(String, String, Problems)>,
    webhook_form: Option<(String, Problems)>,
    new_secret: Option<String>,
}

fn done_text(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "revoked" => Some("The key was revoked; requests with it are refused from now on."),
        "webhook" => Some("The webhook URL was saved."),
        _ => None,
    }
}

async fn render(state: &AppState, customer: &Customer, done: Option<&str>, outcome: Outcome) -> PageResult {
    let visit = &customer.visit;
    let platform = &state.platform;
    let id = customer.customer_id.as_str();
    let keys = platform
        .api_keys(id)
        .await
        .or_page(visit)?
        .into_iter()
        .map(|k| KeyRow { id: k.id, label: k.label, rps: k.rps, created_at: k.created_at, revoked_at: k.revoked_at })
        .collect();
    let smpp = platform
        .smpp_accounts(id)
        .await
        .or_page(visit)?
        .into_iter()
        .map(|account| SmppRow {
            updated: parse_rfc3339(&account.updated_at).map_or_else(|| account.updated_at.clone(), page::when),
            account,
        })
        .collect();
    let settings = platform.webhook_settings(id).await.or_page(visit)?;
    let deliveries = platform.webhook_deliveries(id, RECENT_DELIVERIES).await.or_page(visit)?;
    let (label, rps, key_problems) = outcome.key_form.unwrap_or_default();
    let (webhook_url, webhook_problems) =
        outcome.webhook_form.unwrap_or_else(|| (settings.url.clone().unwrap_or_default(), Problems::default()));
    let status = if key_problems.0.is_some() { key_problems.status() } else { webhook_problems.status() };
    // Only the end of the secret: enough to tell which one a receiver holds.
    let secret_end: Option<String> =
        settings.secret.as_deref().map(|s| s.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect());
    let page = IntegrationPage {
        c: customer.chrome("API and SMPP"),
        may_write: customer.write(PortalArea::Integration).is_ok(),
        done: done_text(done),
        keys,
        new_key: outcome.new_key,
        label,
        rps,
        key_problems,
        smpp,
        webhook_url,
        webhook_problems,
        secret_end,
        new_secret: outcome.new_secret,
        deliveries,
    };
    Ok(page::render_with(status, &page))
}

pub async fn page(State(state): State<AppState>, customer: Customer, Query(done): Query<Done>) -> PageResult {
    customer.read(PortalArea::Integration).or_page(&customer.visit)?;
    render(&state, &customer, done.done.as_deref(), Outcome::default()).await
}

#[derive(Debug, Deserialize)]
pub struct NewKey {
    #[serde(default)]
    label: String,
    #[serde(default)]
    rps: Option<String>,
}

fn parse_rps(rps: Option<&str>) -> Result<u32, Rejection> {
    match rps.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(0),
        Some(r) => r.parse().map_err(|_| Rejection::invalid("rps", "rps must be a whole number; 0: no limit")),
    }
}

/// A new key: its secret is on this answer only (no redirect, which would lose it).
pub async fn create_key(State(state): State<AppState>, customer: Customer, Form(form): Form<NewKey>) -> PageResult {
    customer.write(PortalArea::Integration).or_page(&customer.visit)?;
    let created = match parse_rps(form.rps.as_deref()) {
        // In the customer user's name in the audit trail, not the operator's.
        Ok(rps) => {
            acting_as(&customer.identity, state.platform.create_api_key(&customer.customer_id, &form.label, rps)).await
        }
        Err(rejection) => Err(rejection),
    };
    let outcome = match created {
        Ok(key) => Outcome { new_key: Some((key.record.id, key.secret)), ..Outcome::default() },
        Err(rejection) => {
            let problems = Problems::of(&rejection, customer.visit.lang);
            Outcome { key_form: Some((form.label, form.rps.unwrap_or_default(), problems)), ..Outcome::default() }
        }
    };
    render(&state, &customer, None, outcome).await
}

pub async fn revoke_key(State(state): State<AppState>, customer: Customer, Path(id): Path<String>) -> PageResult {
    customer.write(PortalArea::Integration).or_page(&customer.visit)?;
    acting_as(&customer.identity, state.platform.revoke_api_key(&customer.customer_id, &id))
        .await
        .or_page(&customer.visit)?;
    Ok(Redirect::to("/console/integration?done=revoked").into_response())
}

#[derive(Debug, Deserialize)]
pub struct WebhookForm {
    url: Option<String>,
}

/// Sets the webhook URL; an empty one clears it.
pub async fn set_webhook(
    State(state): State<AppState>,
    customer: Customer,
    Form(form): Form<WebhookForm>,
) -> PageResult {
    customer.write(PortalArea::Integration).or_page(&customer.visit)?;
    let url = optional(&form.url);
    match state.platform.set_webhook_url(&customer.customer_id, url.as_deref()).await {
        Ok(_) => Ok(Redirect::to("/console/integration?done=webhook").into_response()),
        Err(rejection) => {
            let problems = Problems::of(&rejection, customer.visit.lang);
            let outcome = Outcome { webhook_form: Some((url.unwrap_or_default(), problems)), ..Outcome::default() };
            render(&state, &customer, None, outcome).await
        }
    }
}

/// A new signing secret, shown on this answer only.
pub async fn rotate_secret(State(state): State<AppState>, customer: Customer) -> PageResult {
    customer.write(PortalArea::Integration).or_page(&customer.visit)?;
    let settings = state.platform.rotate_webhook_secret(&customer.customer_id).await.or_page(&customer.visit)?;
    render(&state, &customer, None, Outcome { new_secret: settings.secret, ..Outcome::default() }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_rate_is_no_limit_and_a_word_is_refused_at_its_field() {
        assert_eq!(parse_rps(None), Ok(0));
        assert_eq!(parse_rps(Some(" ")), Ok(0));
        assert_eq!(parse_rps(Some("25")), Ok(25));
        assert_eq!(parse_rps(Some("fast")).map_err(|r| r.field), Err(Some("rps".to_owned())));
    }
}
