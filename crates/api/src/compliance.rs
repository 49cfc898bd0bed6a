//! Clause 2 resources: the contact directory (`/v1/contacts`), opt-outs
//! (`/v1/suppressions`, and the operator's copy under each customer), the operator's
//! blocklist (`/admin/v1/blocklist`), and the out-of-scope report.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tongdao_domain::Rejection;
use tongdao_domain::clock::{parse_rfc3339, rfc3339};
use tongdao_pipeline::compliance::ContactInput;
use tongdao_store::{BlockedNumber, Contact, Suppression, SuppressionSource};

use crate::AppState;
use crate::admin::created;
use crate::customer::page_limit;
use crate::error::ApiResult;
use crate::extract::{CsvBody, CustomerAuth, JsonBody, OperatorAuth};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/contacts", post(put_contact).get(list_contacts))
        .route("/v1/contacts/import", post(import_contacts))
        .route("/v1/contacts/export", get(export_contacts))
        .route("/v1/contacts/{number}", get(get_contact).delete(delete_contact))
        .route("/v1/suppressions", post(suppress).get(list_suppressions))
        .route("/v1/suppressions/{number}", delete(unsuppress))
        .route("/v1/reports/out-of-scope", get(out_of_scope))
        .route("/admin/v1/customers/{customer}/contacts", get(operator_list_contacts))
        .route("/admin/v1/customers/{customer}/suppressions", post(operator_suppress).get(operator_list_suppressions))
        .route("/admin/v1/customers/{customer}/suppressions/{number}", delete(operator_unsuppress))
        .route("/admin/v1/customers/{customer}/out-of-scope", get(operator_out_of_scope))
        .route("/admin/v1/blocklist", post(block).get(list_blocked))
        .route("/admin/v1/blocklist/{number}", delete(unblock))
}

fn contact_view(c: &Contact) -> Value {
    json!({
        "number": c.number,
        "name": c.name,
        "kind": c.kind,
        "tags": c.tags,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    })
}

fn suppression_view(s: &Suppression) -> Value {
    json!({ "number": s.number, "source": s.source, "reason": s.reason, "created_at": rfc3339(s.created_at) })
}

fn blocked_view(b: &BlockedNumber) -> Value {
    json!({ "number": b.number, "reason": b.reason, "created_at": rfc3339(b.created_at) })
}

/// Pages by number: `after` is the last number of the previous page.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    after: Option<String>,
    limit: Option<String>,
}

impl PageQuery {
    fn parts(&self) -> Result<(Option<&str>, u32), Rejection> {
        let limit = page_limit(self.limit.as_deref().filter(|l| !l.is_empty()))?;
        Ok((self.after.as_deref().filter(|a| !a.is_empty()), limit))
    }
}

/// A page of `items` under `name`, with the cursor of the next page when it may exist.
fn page<T>(name: &str, items: &[T], limit: u32, view: impl Fn(&T) -> Value, number: impl Fn(&T) -> &str) -> Response {
    let next = (items.len() == limit as usize).then(|| items.last().map(&number)).flatten();
    let list: Vec<Value> = items.iter().map(view).collect();
    Json(json!({ name: list, "next_after": next })).into_response()
}

async fn put_contact(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    JsonBody(body): JsonBody<ContactInput>,
) -> ApiResult<Response> {
    let contact = state.platform.put_contact(&customer, body).await?;
    Ok(created(contact_view(&contact)))
}

async fn list_contacts(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    contacts_page(&state, &customer, &query).await
}

async fn operator_list_contacts(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    contacts_page(&state, &customer, &query).await
}

async fn contacts_page(state: &AppState, customer: &str, query: &PageQuery) -> ApiResult<Response> {
    let (after, limit) = query.parts()?;
    let contacts = state.platform.contacts(customer, after, limit).await?;
    Ok(page("contacts", &contacts, limit, contact_view, |c| &c.number))
}

async fn get_contact(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(number): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(contact_view(&state.platform.contact(&customer, &number).await?)).into_response())
}

async fn delete_contact(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(number): Path<String>,
) -> ApiResult<StatusCode> {
    state.platform.delete_contact(&customer, &number).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn import_contacts(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    CsvBody(csv): CsvBody,
) -> ApiResult<Response> {
    let report = state.platform.import_contacts(&customer, &csv).await?;
    Ok(Json(report).into_response())
}

async fn export_contacts(State(state): State<AppState>, CustomerAuth(customer): CustomerAuth) -> ApiResult<Response> {
    let csv = state.platform.export_contacts(&customer).await?;
    let mut response = csv.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    response
        .headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"contacts.csv\""));
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberWithReason {
    number: String,
    reason: Option<String>,
}

async fn suppress(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    JsonBody(body): JsonBody<NumberWithReason>,
) -> ApiResult<Response> {
    let s = state.platform.suppress(&customer, &body.number, SuppressionSource::Customer, body.reason).await?;
    Ok(created(suppression_view(&s)))
}

async fn operator_suppress(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    JsonBody(body): JsonBody<NumberWithReason>,
) -> ApiResult<Response> {
    let s = state.platform.suppress(&customer, &body.number, SuppressionSource::Operator, body.reason).await?;
    state.platform.audit("suppression.add", &s.number, Some(format!("customer {customer}: {}", s.reason))).await?;
    Ok(created(suppression_view(&s)))
}

async fn list_suppressions(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    suppressions_page(&state, &customer, &query).await
}

async fn operator_list_suppressions(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    suppressions_page(&state, &customer, &query).await
}

async fn suppressions_page(state: &AppState, customer: &str, query: &PageQuery) -> ApiResult<Response> {
    let (after, limit) = query.parts()?;
    let list = state.platform.suppressions(customer, after, limit).await?;
    Ok(page("suppressions", &list, limit, suppression_view, |s| &s.number))
}

async fn unsuppress(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(number): Path<String>,
) -> ApiResult<StatusCode> {
    state.platform.unsuppress(&customer, &number).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn operator_unsuppress(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path((customer, number)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.platform.unsuppress(&customer, &number).await?;
    state.platform.audit("suppression.remove", &number, Some(format!("customer {customer}"))).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn block(
    State(state): State<AppState>,
    _: OperatorAuth,
    JsonBody(body): JsonBody<NumberWithReason>,
) -> ApiResult<Response> {
    let blocked = state.platform.block(&body.number, body.reason).await?;
    state.platform.audit("blocklist.add", &blocked.number, Some(blocked.reason.clone())).await?;
    Ok(created(blocked_view(&blocked)))
}

async fn list_blocked(
    State(state): State<AppState>,
    _: OperatorAuth,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    let (after, limit) = query.parts()?;
    let list = state.platform.blocked(after, limit).await?;
    Ok(page("blocklist", &list, limit, blocked_view, |b| &b.number))
}

async fn unblock(State(state): State<AppState>, _: OperatorAuth, Path(number): Path<String>) -> ApiResult<StatusCode> {
    state.platform.unblock(&number).await?;
    state.platform.audit("blocklist.remove", &number, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A time range, RFC 3339; by default the last 30 days.
#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
}

const DEFAULT_REPORT_DAYS: i64 = 30;

async fn out_of_scope(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Query(query): Query<RangeQuery>,
) -> ApiResult<Response> {
    out_of_scope_report(&state, &customer, query).await
}

async fn operator_out_of_scope(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    Query(query): Query<RangeQuery>,
) -> ApiResult<Response> {
    out_of_scope_report(&state, &customer, query).await
}

async fn out_of_scope_report(state: &AppState, customer: &str, query: RangeQuery) -> ApiResult<Response> {
    let time = |field: &'static str, value: Option<String>| -> Result<Option<i64>, Rejection> {
        value
            .filter(|v| !v.is_empty())
            .map(|v| {
                parse_rfc3339(&v).ok_or_else(|| Rejection::invalid(field, format!("{field} must be an RFC 3339 time")))
            })
            .transpose()
    };
    let now = state.platform.now_ms();
    let to = time("to", query.to)?.unwrap_or(now + 1);
    let from = time("from", query.from)?.unwrap_or(to.saturating_sub(DEFAULT_REPORT_DAYS * 86_400_000));
    let limit = page_limit(query.limit.as_deref().filter(|l| !l.is_empty()))?;
    let (count, sends) = state.platform.out_of_scope(customer, from, to, limit).await?;
    let messages: Vec<Value> = sends
        .iter()
        .map(|s| json!({ "message_id": s.message_id, "to": s.recipient, "created_at": rfc3339(s.created_at) }))
        .collect();
    Ok(Json(json!({ "from": rfc3339(from), "to": rfc3339(to), "count": count, "messages": messages })).into_response())
}
