//! The agreement: the version in force and its terms (as `GET /v1/agreement` shows them),
//! the earlier versions, and accepting the current terms (clauses 3.3 and 9; as
//! `POST /v1/agreement/accept`, customer admins only). Open while suspended.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::agreement::{Agreement, ChargeOn, ScopePolicy};
use tongdao_domain::console::PortalArea;
use tongdao_domain::{ErrorCode, Rejection};

use super::Done;
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Customer;

/// A version as listed: its number, state and marks.
pub struct Version {
    pub version: u32,
    pub state: &'static str,
    pub terms_version: String,
    pub effective_from: String,
    pub signed_at: Option<i64>,
    pub accepted_at: Option<i64>,
}

#[derive(Template)]
#[template(path = "portal/agreement.html")]
struct AgreementPage {
    c: Chrome,
    may_accept: bool,
    done: bool,
    current: Option<Agreement>,
    state: &'static str,
    accepted: bool,
    versions: Vec<Version>,
    problems: Problems,
}

impl AgreementPage {
    fn scope(&self, policy: &ScopePolicy) -> &'static str {
        match policy {
            ScopePolicy::Enforce => "Recipients outside your contacts are refused",
            ScopePolicy::Audit => "Recipients outside your contacts are accepted and flagged",
        }
    }
    fn charge_on(&self, on: &ChargeOn) -> &'static str {
        match on {
            ChargeOn::Submit => "Charged when a carrier accepts the message",
            ChargeOn::Delivery => "Charged when the message is delivered",
        }
    }
}

async fn render(state: &AppState, customer: &Customer, done: bool, problems: Problems) -> PageResult {
    let visit = &customer.visit;
    let platform = &state.platform;
    let now = platform.now_ms();
    let current = match platform.current_agreement(&customer.customer_id).await {
        Ok(agreement) => Some(agreement),
        Err(rejection) if rejection.code == ErrorCode::NotFound => None,
        Err(rejection) => return Err(page::PageError(visit.clone(), rejection)),
    };
    let mut versions: Vec<Version> = platform
        .agreements(&customer.customer_id)
        .await
        .or_page(visit)?
        .into_iter()
        .map(|a| Version {
            version: a.version,
            state: a.state(now).as_str(),
            terms_version: a.terms.terms_version.clone(),
            effective_from: a.terms.effective_from.to_string(),
            signed_at: a.signed_at,
            accepted_at: a.accepted_at,
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    let page = AgreementPage {
        c: customer.chrome("Agreement"),
        may_accept: customer.write(PortalArea::Account).is_ok(),
        done,
        state: current.as_ref().map_or("draft", |a| a.state(now).as_str()),
        accepted: current.as_ref().is_some_and(Agreement::is_accepted),
        current,
        versions,
        problems,
    };
    Ok(page::render_with(page.problems.status(), &page))
}

pub async fn page(State(state): State<AppState>, customer: Customer, Query(done): Query<Done>) -> PageResult {
    customer.read(PortalArea::Overview).or_page(&customer.visit)?;
    render(&state, &customer, done.done.is_some(), Problems::default()).await
}

#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    terms_version: String,
    /// The box "I have read and accept these terms".
    agree: Option<String>,
}

pub async fn accept(State(state): State<AppState>, customer: Customer, Form(form): Form<AcceptForm>) -> PageResult {
    customer.write(PortalArea::Account).or_page(&customer.visit)?;
    let accepted = if form.agree.is_none() {
        Err(Rejection::invalid("agree", "tick the box to confirm you have read and accept the terms"))
    } else {
        state.platform.accept_agreement(&customer.customer_id, &form.terms_version).await
    };
    match accepted {
        Ok(_) => Ok(Redirect::to("/console/agreement?done=accepted").into_response()),
        Err(rejection) => render(&state, &customer, false, Problems::of(&rejection, customer.visit.lang)).await,
    }
}
