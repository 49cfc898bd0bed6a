//! The agreement's life after signing (issue 6): the customer's written notices (and the
//! record of their reading), maintenance windows, breach notices, cure and termination,
//! and the low-balance threshold.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};
use tongdao_domain::clock::{parse_rfc3339, rfc3339};
use tongdao_domain::{Money, Rejection};
use tongdao_pipeline::lifecycle::MaintenanceRequest;
use tongdao_store::{Breach, MaintenanceWindow, Notice, Termination};

use crate::AppState;
use crate::admin::created;
use crate::customer::page_limit;
use crate::error::ApiResult;
use crate::extract::{CustomerAuth, JsonBody, MaybeJson, OperatorAuth};
use crate::views::{CustomerView, opt_time};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/notices", get(notices))
        .route("/v1/notices/{id}", get(read_notice))
        .route("/admin/v1/customers/{customer}/notices", get(operator_notices))
        .route("/admin/v1/customers/{customer}/low-balance", put(set_low_balance))
        .route("/admin/v1/customers/{customer}/notice-email", put(set_notice_email))
        .route("/admin/v1/customers/{customer}/breaches", post(issue_breach))
        .route("/admin/v1/breaches", get(breaches))
        .route("/admin/v1/breaches/{id}", get(get_breach))
        .route("/admin/v1/breaches/{id}/cure", post(cure))
        .route("/admin/v1/breaches/{id}/terminate", post(terminate))
        .route("/admin/v1/maintenance", post(schedule).get(windows))
        .route("/admin/v1/maintenance/{id}", get(get_window))
        .route("/admin/v1/maintenance/{id}/cancel", post(cancel_window))
}

fn notice_view(n: &Notice) -> Value {
    json!({
        "id": n.id,
        "kind": n.notice.kind,
        "subject": n.notice.subject,
        "body": n.notice.body,
        "created_at": rfc3339(n.created_at),
        "read_at": opt_time(n.read_at),
    })
}

#[derive(Debug, Deserialize)]
struct NoticeQuery {
    before: Option<String>,
    limit: Option<String>,
    unread: Option<String>,
}

impl NoticeQuery {
    fn unread(&self) -> Result<bool, Rejection> {
        match self.unread.as_deref() {
            None | Some("" | "false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(Rejection::invalid("unread", "unread is true or false")),
        }
    }
}

async fn list_notices(state: &AppState, customer_id: &str, query: &NoticeQuery) -> ApiResult<Response> {
    let limit = page_limit(query.limit.as_deref().filter(|l| !l.is_empty()))?;
    let before = query.before.as_deref().filter(|b| !b.is_empty());
    let list = state.platform.notices(Some(customer_id), before, query.unread()?, limit).await?;
    let next = (list.len() == limit as usize).then(|| list.last().map(|n| n.id.clone())).flatten();
    let views: Vec<Value> = list.iter().map(notice_view).collect();
    Ok(Json(json!({ "notices": views, "next_before": next })).into_response())
}

/// The customer's notices, newest first; listing does not mark them read.
async fn notices(
    State(state): State<AppState>,
    CustomerAuth(customer_id): CustomerAuth,
    Query(query): Query<NoticeQuery>,
) -> ApiResult<Response> {
    list_notices(&state, &customer_id, &query).await
}

/// One notice, in full: fetching it records its reading (the first one counts).
async fn read_notice(
    State(state): State<AppState>,
    CustomerAuth(customer_id): CustomerAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let notice = state.platform.read_notice(&customer_id, &id).await?;
    Ok(Json(notice_view(&notice)).into_response())
}

async fn operator_notices(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> ApiResult<Response> {
    let customer = state.platform.customer(&customer).await?;
    list_notices(&state, &customer.id, &query).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LowBalance {
    /// `null` turns the warning off.
    threshold: Option<Money>,
}

async fn set_low_balance(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    JsonBody(body): JsonBody<LowBalance>,
) -> ApiResult<Response> {
    let customer = state.platform.set_low_balance_threshold(&customer, body.threshold).await?;
    Ok(Json(CustomerView::from(customer)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticeEmail {
    /// `null` stops emailing.
    email: Option<String>,
}

async fn set_notice_email(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    JsonBody(body): JsonBody<NoticeEmail>,
) -> ApiResult<Response> {
    let customer = state.platform.set_notice_email(&customer, body.email.as_deref()).await?;
    Ok(Json(CustomerView::from(customer)).into_response())
}

// ---- breach --------------------------------------------------------------------------------

fn breach_view(b: &Breach) -> Value {
    let status = b.status();
    json!({
        "id": b.id,
        "customer_id": b.customer_id,
        "agreement_id": b.agreement_id,
        "clause": b.clause,
        "facts": b.facts,
        "status": status,
        "noticed_at": rfc3339(b.noticed_at),
        "cure_deadline": rfc3339(b.cure_deadline),
        "cured_at": opt_time(b.cured_at),
        "cure_note": b.cure_note,
        "terminated_at": opt_time(b.terminated_at),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBreach {
    clause: String,
    facts: String,
}

async fn issue_breach(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    JsonBody(body): JsonBody<NewBreach>,
) -> ApiResult<Response> {
    let breach = state.platform.issue_breach(&customer, &body.clause, &body.facts).await?;
    Ok(created(breach_view(&breach)))
}

#[derive(Debug, Deserialize)]
struct BreachQuery {
    customer: Option<String>,
    limit: Option<String>,
}

async fn breaches(
    State(state): State<AppState>,
    _: OperatorAuth,
    Query(query): Query<BreachQuery>,
) -> ApiResult<Response> {
    let limit = page_limit(query.limit.as_deref().filter(|l| !l.is_empty()))?;
    let list = state.platform.breaches(query.customer.as_deref().filter(|c| !c.is_empty()), limit).await?;
    let views: Vec<Value> = list.iter().map(breach_view).collect();
    Ok(Json(json!({ "breaches": views })).into_response())
}

async fn get_breach(State(state): State<AppState>, _: OperatorAuth, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(breach_view(&state.platform.breach(&id).await?)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cure {
    note: String,
}

async fn cure(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Cure>,
) -> ApiResult<Response> {
    Ok(Json(breach_view(&state.platform.cure_breach(&id, &body.note).await?)).into_response())
}

fn termination_view(t: &Termination) -> Value {
    json!({
        "agreements_terminated": t.agreements,
        "keys_revoked": t.keys_revoked,
        "smpp_accounts_removed": t.smpp_accounts_removed,
        "messages_cancelled": t.messages_cancelled,
        "settled": t.settled,
    })
}

async fn terminate(State(state): State<AppState>, _: OperatorAuth, Path(id): Path<String>) -> ApiResult<Response> {
    let (breach, termination) = state.platform.terminate_for_breach(&id).await?;
    let mut view = breach_view(&breach);
    view["termination"] = termination_view(&termination);
    Ok(Json(view).into_response())
}

// ---- maintenance ---------------------------------------------------------------------------

fn window_view(w: &MaintenanceWindow) -> Value {
    json!({
        "id": w.id,
        "starts_at": rfc3339(w.starts_at),
        "ends_at": rfc3339(w.ends_at),
        "carriers": w.carriers,
        "services": w.services,
        "description": w.description,
        "emergency": w.emergency_reason.is_some(),
        "emergency_reason": w.emergency_reason,
        "customers": w.customers,
        "created_at": rfc3339(w.created_at),
        "cancelled_at": opt_time(w.cancelled_at),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWindow {
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    carriers: Vec<String>,
    #[serde(default)]
    services: Vec<String>,
    description: String,
    #[serde(default)]
    customers: Vec<String>,
    #[serde(default)]
    emergency: bool,
    #[serde(default)]
    emergency_reason: Option<String>,
}

fn time_field(field: &str, value: &str) -> Result<i64, Rejection> {
    parse_rfc3339(value).ok_or_else(|| Rejection::invalid(field, format!("{field} must be an RFC 3339 time")))
}

async fn schedule(
    State(state): State<AppState>,
    _: OperatorAuth,
    JsonBody(body): JsonBody<NewWindow>,
) -> ApiResult<Response> {
    if body.carriers.len() > 100 || body.services.len() > 100 {
        return Err(Rejection::invalid("carriers", "at most 100 carriers and 100 services").into());
    }
    let emergency_reason = match (body.emergency, body.emergency_reason) {
        (true, None) => {
            return Err(Rejection::invalid("emergency_reason", "an emergency needs its reason").into());
        }
        (false, Some(_)) => {
            return Err(Rejection::invalid("emergency", "a reason is given only with emergency: true").into());
        }
        (_, reason) => reason,
    };
    let request = MaintenanceRequest {
        starts_at: time_field("starts_at", &body.starts_at)?,
        ends_at: time_field("ends_at", &body.ends_at)?,
        carriers: body.carriers,
        services: body.services,
        description: body.description,
        customers: body.customers,
        emergency_reason,
    };
    let window = state.platform.schedule_maintenance(request).await?;
    Ok(created(window_view(&window)))
}

#[derive(Debug, Deserialize)]
struct WindowQuery {
    past_days: Option<String>,
    limit: Option<String>,
}

async fn windows(
    State(state): State<AppState>,
    _: OperatorAuth,
    Query(query): Query<WindowQuery>,
) -> ApiResult<Response> {
    let limit = page_limit(query.limit.as_deref().filter(|l| !l.is_empty()))?;
    let past_days = match query.past_days.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => d
            .parse::<u32>()
            .ok()
            .filter(|d| *d <= 3660)
            .ok_or_else(|| Rejection::invalid("past_days", "past_days must be 0-3660"))?,
        None => 0,
    };
    let list = state.platform.maintenance_windows(past_days, limit).await?;
    let views: Vec<Value> = list.iter().map(window_view).collect();
    Ok(Json(json!({ "windows": views })).into_response())
}

/// A window with each affected customer's notice and when it was read.
async fn get_window(State(state): State<AppState>, _: OperatorAuth, Path(id): Path<String>) -> ApiResult<Response> {
    let (window, notices) = state.platform.maintenance_window(&id).await?;
    let mut view = window_view(&window);
    view["notices"] = notices
        .iter()
        .map(|n| {
            json!({
                "customer_id": n.notice.customer_id,
                "notice_id": n.id,
                "created_at": rfc3339(n.created_at),
                "read_at": opt_time(n.read_at),
            })
        })
        .collect();
    Ok(Json(view).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cancel {
    #[serde(default)]
    reason: Option<String>,
}

async fn cancel_window(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    MaybeJson(body): MaybeJson<Cancel>,
) -> ApiResult<Response> {
    let window = state.platform.cancel_maintenance(&id, body.unwrap_or_default().reason).await?;
    Ok(Json(window_view(&window)).into_response())
}
