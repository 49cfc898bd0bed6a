//! Moderation and measures (clauses 3.4, 3.5) and what they rest on: held messages, the
//! violations, the audit trail, the lexicons, and the signatures and templates the operator
//! reviews (customers submit them under `/v1`).

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tongdao_domain::Rejection;
use tongdao_domain::clock::rfc3339;
use tongdao_domain::msisdn::mask;
use tongdao_store::{AuditRecord, HeldMessage, ReviewKind, ReviewStatus, Reviewed, Violation};

use crate::AppState;
use crate::admin::created;
use crate::customer::page_limit;
use crate::error::ApiResult;
use crate::extract::{CustomerAuth, JsonBody, MaybeJson, OperatorAuth};
use crate::views::MessageView;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/moderation/held", get(held))
        .route("/admin/v1/messages/{id}/approve", post(approve))
        .route("/admin/v1/messages/{id}/delete", post(delete_held))
        .route("/admin/v1/violations", get(violations))
        .route("/admin/v1/audit", get(audit))
        .route("/admin/v1/lexicons", get(lexicons))
        .route("/admin/v1/lexicons/reload", post(reload_lexicons))
        .route("/admin/v1/lexicons/{file}", get(get_lexicon).put(put_lexicon).delete(delete_lexicon))
        .route("/admin/v1/signatures", get(operator_signatures))
        .route("/admin/v1/signatures/{id}/approve", post(approve_signature))
        .route("/admin/v1/signatures/{id}/reject", post(reject_signature))
        .route("/admin/v1/templates", get(operator_templates))
        .route("/admin/v1/templates/{id}/approve", post(approve_template))
        .route("/admin/v1/templates/{id}/reject", post(reject_template))
        .route("/v1/signatures", post(submit_signature).get(signatures))
        .route("/v1/signatures/{id}", get(get_signature).delete(delete_signature))
        .route("/v1/templates", post(submit_template).get(templates))
        .route("/v1/templates/{id}", get(get_template).delete(delete_template))
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    after: Option<String>,
    before: Option<String>,
    limit: Option<String>,
    customer: Option<String>,
    status: Option<String>,
}

impl PageQuery {
    fn limit(&self) -> Result<u32, Rejection> {
        page_limit(self.limit.as_deref().filter(|l| !l.is_empty()))
    }
    fn before_id(&self) -> Result<Option<i64>, Rejection> {
        self.before
            .as_deref()
            .filter(|b| !b.is_empty())
            .map(|b| b.parse::<i64>().map_err(|_| Rejection::invalid("before", "before is the id of an entry")))
            .transpose()
    }
    fn status(&self) -> Result<Option<ReviewStatus>, Rejection> {
        self.status
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                ReviewStatus::parse(s)
                    .ok_or_else(|| Rejection::invalid("status", "status is pending, approved or rejected"))
            })
            .transpose()
    }
    fn customer(&self) -> Option<&str> {
        self.customer.as_deref().filter(|c| !c.is_empty())
    }
}

/// An operator's decision, with why (required to delete or reject).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    #[serde(default)]
    reason: Option<String>,
    /// Deleting a held message: the category of the violation (default: the screening's).
    #[serde(default)]
    category: Option<String>,
}

fn held_view(h: &HeldMessage) -> Value {
    let mut view = serde_json::to_value(MessageView::new(h.message.clone(), None)).unwrap_or(Value::Null);
    view["customer_id"] = Value::from(h.message.customer_id.clone());
    view["screening"] = h.screening.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null);
    view
}

async fn held(State(state): State<AppState>, _: OperatorAuth, Query(query): Query<PageQuery>) -> ApiResult<Response> {
    let limit = query.limit()?;
    let held = state.platform.held_messages(query.after.as_deref().filter(|a| !a.is_empty()), limit).await?;
    let next = (held.len() == limit as usize).then(|| held.last().map(|h| h.message.id.clone())).flatten();
    let list: Vec<Value> = held.iter().map(held_view).collect();
    Ok(Json(json!({ "messages": list, "next_after": next })).into_response())
}

async fn approve(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    MaybeJson(body): MaybeJson<Decision>,
) -> ApiResult<Response> {
    let decision = body.unwrap_or_default();
    let message = state.platform.approve_message(&id, decision.reason).await?;
    Ok(Json(MessageView::new(message, None)).into_response())
}

async fn delete_held(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    JsonBody(decision): JsonBody<Decision>,
) -> ApiResult<Response> {
    let message = state.platform.delete_message(&id, decision.category.as_deref(), decision.reason).await?;
    Ok(Json(MessageView::new(message, None)).into_response())
}

fn violation_view(v: &Violation) -> Value {
    let v2 = &v.violation;
    json!({
        "id": v.id,
        "customer_id": v2.customer_id,
        "at": rfc3339(v2.at),
        "category": v2.category,
        "kind": v2.kind,
        "message_id": v2.message_id,
        "text": v2.text,
    })
}

async fn violations(
    State(state): State<AppState>,
    _: OperatorAuth,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    let limit = query.limit()?;
    let list = state.platform.violations(query.customer(), query.before_id()?, limit).await?;
    let next = (list.len() == limit as usize).then(|| list.last().map(|v| v.id)).flatten();
    let views: Vec<Value> = list.iter().map(violation_view).collect();
    Ok(Json(json!({ "violations": views, "next_before": next })).into_response())
}

fn audit_view(r: &AuditRecord) -> Value {
    let e = &r.entry;
    let parse = |s: &Option<String>| s.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok());
    json!({
        "id": r.id,
        "at": rfc3339(e.at),
        "actor": e.actor,
        "action": e.action,
        "target": if e.action.starts_with("blocklist.") || e.action.starts_with("suppression.") { mask(&e.target) } else { e.target.clone() },
        "reason": e.reason,
        "before": parse(&e.before),
        "after": parse(&e.after),
    })
}

async fn audit(State(state): State<AppState>, _: OperatorAuth, Query(query): Query<PageQuery>) -> ApiResult<Response> {
    let limit = query.limit()?;
    let list = state.platform.audit_trail(query.before_id()?, limit).await?;
    let next = (list.len() == limit as usize).then(|| list.last().map(|r| r.id)).flatten();
    let views: Vec<Value> = list.iter().map(audit_view).collect();
    Ok(Json(json!({ "entries": views, "next_before": next })).into_response())
}

async fn lexicons(State(state): State<AppState>, _: OperatorAuth) -> ApiResult<Response> {
    Ok(Json(state.platform.lexicon_status()).into_response())
}

async fn reload_lexicons(State(state): State<AppState>, _: OperatorAuth) -> ApiResult<Response> {
    let status = state.platform.reload_lexicons(true).map_err(|e| Rejection::invalid("lexicons", e))?;
    Ok(Json(status).into_response())
}

async fn get_lexicon(State(state): State<AppState>, _: OperatorAuth, Path(file): Path<String>) -> ApiResult<Response> {
    let text = state.platform.lexicon_text(&file)?;
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(response)
}

async fn put_lexicon(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(file): Path<String>,
    crate::extract::TextBody(text): crate::extract::TextBody,
) -> ApiResult<Response> {
    let status = state.platform.put_lexicon(&file, &text)?;
    state.platform.audit("lexicon.put", &file, None).await?;
    Ok(Json(status).into_response())
}

async fn delete_lexicon(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let status = state.platform.delete_lexicon(&file)?;
    state.platform.audit("lexicon.delete", &file, None).await?;
    Ok(Json(status).into_response())
}

fn reviewed_view(r: &Reviewed) -> Value {
    let mut view = json!({
        "id": r.id,
        "customer_id": r.customer_id,
        "text": r.text,
        "status": r.status,
        "reason": r.reason,
        "created_at": rfc3339(r.created_at),
        "decided_at": r.decided_at.map(rfc3339),
    });
    if let Some(name) = &r.name {
        view["name"] = Value::from(name.clone());
    }
    view
}

fn list_view(name: &str, items: &[Reviewed]) -> Response {
    let views: Vec<Value> = items.iter().map(reviewed_view).collect();
    Json(json!({ name: views })).into_response()
}

async fn operator_list(state: &AppState, kind: ReviewKind, query: &PageQuery, name: &str) -> ApiResult<Response> {
    let items = state.platform.reviewed(kind, query.customer(), query.status()?).await?;
    Ok(list_view(name, &items))
}

async fn operator_signatures(
    State(state): State<AppState>,
    _: OperatorAuth,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    operator_list(&state, ReviewKind::Signature, &query, "signatures").await
}

async fn operator_templates(
    State(state): State<AppState>,
    _: OperatorAuth,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    operator_list(&state, ReviewKind::Template, &query, "templates").await
}

async fn decide(
    state: &AppState,
    kind: ReviewKind,
    id: &str,
    approve: bool,
    body: Option<Decision>,
) -> ApiResult<Response> {
    let reason = body.and_then(|b| b.reason);
    let item = state.platform.decide(kind, id, approve, reason).await?;
    Ok(Json(reviewed_view(&item)).into_response())
}

async fn approve_signature(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    MaybeJson(body): MaybeJson<Decision>,
) -> ApiResult<Response> {
    decide(&state, ReviewKind::Signature, &id, true, body).await
}

async fn reject_signature(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Decision>,
) -> ApiResult<Response> {
    decide(&state, ReviewKind::Signature, &id, false, Some(body)).await
}

async fn approve_template(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    MaybeJson(body): MaybeJson<Decision>,
) -> ApiResult<Response> {
    decide(&state, ReviewKind::Template, &id, true, body).await
}

async fn reject_template(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Decision>,
) -> ApiResult<Response> {
    decide(&state, ReviewKind::Template, &id, false, Some(body)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSignature {
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    name: String,
    text: String,
}

async fn submit_signature(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    JsonBody(body): JsonBody<NewSignature>,
) -> ApiResult<Response> {
    Ok(created(reviewed_view(&state.platform.submit_signature(&customer, &body.text).await?)))
}

async fn submit_template(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    JsonBody(body): JsonBody<NewTemplate>,
) -> ApiResult<Response> {
    Ok(created(reviewed_view(&state.platform.submit_template(&customer, &body.name, &body.text).await?)))
}

async fn signatures(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    let items = state.platform.reviewed(ReviewKind::Signature, Some(&customer), query.status()?).await?;
    Ok(list_view("signatures", &items))
}

async fn templates(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    let items = state.platform.reviewed(ReviewKind::Template, Some(&customer), query.status()?).await?;
    Ok(list_view("templates", &items))
}

async fn get_signature(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(reviewed_view(&state.platform.find_reviewed(ReviewKind::Signature, Some(&customer), &id).await?))
        .into_response())
}

async fn get_template(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(reviewed_view(&state.platform.find_reviewed(ReviewKind::Template, Some(&customer), &id).await?))
        .into_response())
}

async fn delete_signature(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.platform.delete_reviewed(ReviewKind::Signature, &customer, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_template(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.platform.delete_reviewed(ReviewKind::Template, &customer, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
