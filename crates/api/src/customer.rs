//! `/v1`: the customer API, authenticated by API key.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;
use tongdao_domain::clock::parse_rfc3339;
use tongdao_domain::text::Encoding;
use tongdao_domain::{ErrorCode, MessageStatus, Msisdn, Rejection};
use tongdao_pipeline::accept::TemplateUse;
use tongdao_pipeline::{Accepted, Submission};
use tongdao_store::MessageFilter;

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{ClientAddr, CustomerAuth, JsonBody};
use crate::views::{AgreementView, CURRENCY, InboundView, MessageView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/messages", post(send).get(list_messages))
        .route("/v1/messages/{id}", get(get_message).delete(cancel_message))
        .route("/v1/quote", post(quote))
        .route("/v1/balance", get(balance))
        .route("/v1/pricing", get(pricing))
        .route("/v1/agreement", get(agreement))
        .route("/v1/agreement/accept", post(accept_agreement))
        .route("/v1/account", get(account))
        .route("/v1/account/webhook", put(set_webhook))
        .route("/v1/account/webhook-secret/rotate", post(rotate_webhook_secret))
        .route("/v1/inbound", get(list_inbound))
}

fn account_view(customer: &tongdao_store::Customer, settings: tongdao_store::WebhookSettings) -> serde_json::Value {
    json!({
        "customer_id": customer.id,
        "name": customer.name,
        "balance": customer.balance,
        "currency": CURRENCY,
        "webhook_url": settings.url,
        "webhook_secret": settings.secret,
        "signature_header": "X-Tongdao-Signature",
    })
}

async fn account(State(state): State<AppState>, CustomerAuth(customer): CustomerAuth) -> ApiResult<Response> {
    let settings = state.platform.webhook_settings(&customer).await?;
    let customer = state.platform.customer(&customer).await?;
    Ok(Json(account_view(&customer, settings)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// `null` clears it.
    url: Option<String>,
}

async fn set_webhook(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    JsonBody(request): JsonBody<WebhookRequest>,
) -> ApiResult<Response> {
    let settings = state.platform.set_webhook_url(&customer, request.url.as_deref()).await?;
    let customer = state.platform.customer(&customer).await?;
    Ok(Json(account_view(&customer, settings)).into_response())
}

async fn rotate_webhook_secret(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
) -> ApiResult<Response> {
    let settings = state.platform.rotate_webhook_secret(&customer).await?;
    let customer = state.platform.customer(&customer).await?;
    Ok(Json(account_view(&customer, settings)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct InboundQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

async fn list_inbound(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Query(query): Query<InboundQuery>,
) -> ApiResult<Response> {
    let limit = page_limit(query.limit.as_deref().filter(|l| !l.is_empty()))?;
    let cursor = query.cursor.filter(|c| !c.is_empty());
    let inbound = state.platform.inbound(&customer, cursor, limit).await?;
    let next_cursor = (inbound.len() == limit as usize).then(|| inbound.last().map(|m| m.message.id.clone())).flatten();
    let inbound: Vec<InboundView> = inbound.into_iter().map(InboundView::from).collect();
    Ok(Json(json!({ "inbound": inbound, "next_cursor": next_cursor })).into_response())
}

pub(crate) fn page_limit(limit: Option<&str>) -> Result<u32, Rejection> {
    match limit {
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| Rejection::invalid("limit", format!("limit must be 1-{MAX_PAGE}"))),
        None => Ok(DEFAULT_PAGE),
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Recipients {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub to: Recipients,
    /// The text, or else `template_id` and `params`.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub params: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub sender: Option<String>,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub client_ref: Option<String>,
    #[serde(default)]
    pub send_at: Option<String>,
    #[serde(default)]
    pub valid_until: Option<String>,
    #[serde(default)]
    pub partial: bool,
}

fn time_field(field: &str, value: Option<String>) -> Result<Option<i64>, Rejection> {
    value
        .map(|v| {
            parse_rfc3339(&v).ok_or_else(|| Rejection::invalid(field, format!("{field} must be an RFC 3339 time")))
        })
        .transpose()
}

impl SendRequest {
    fn into_submission(self) -> Result<Submission, Rejection> {
        let (text, template) = match (self.text, self.template_id, self.params) {
            (Some(text), None, None) => (text, None),
            (None, Some(id), params) => (String::new(), Some(TemplateUse { id, params: params.unwrap_or_default() })),
            (Some(_), Some(_), _) => {
                return Err(Rejection::invalid("template_id", "send either text or template_id, not both"));
            }
            (_, None, Some(_)) => return Err(Rejection::invalid("params", "params go with a template_id")),
            (None, None, None) => return Err(Rejection::invalid("text", "send text, or template_id and params")),
        };
        Ok(Submission {
            recipients: match self.to {
                Recipients::One(one) => vec![one],
                Recipients::Many(many) => many,
            },
            text,
            sender: self.sender,
            callback_url: self.callback_url,
            client_ref: self.client_ref,
            send_at: time_field("send_at", self.send_at)?,
            valid_until: time_field("valid_until", self.valid_until)?,
            partial: self.partial,
            concat: None,
            receipt: Default::default(),
            template,
            source: None,
        })
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn send(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    JsonBody(request): JsonBody<SendRequest>,
) -> ApiResult<Response> {
    let key = match headers.get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| Rejection::invalid("Idempotency-Key", "Idempotency-Key must be visible ASCII"))?,
        ),
        None => None,
    };
    let mut submission = request.into_submission()?;
    submission.source = client.map(|addr| format!("http:{}", addr.ip()));
    match state.platform.accept(&customer, submission, key).await? {
        Accepted::Fresh { json, .. } => Ok(json_response(StatusCode::ACCEPTED, json)),
        Accepted::Replayed { status, json } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
            let mut response = json_response(status, json);
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
    }
}

async fn quote(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    JsonBody(request): JsonBody<SendRequest>,
) -> ApiResult<Response> {
    let submission = request.into_submission()?;
    let quote = state.platform.quote(&customer, &submission).await?;
    Ok(Json(quote).into_response())
}

async fn get_message(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageView>> {
    let (message, events) = state.platform.message(&customer, &id).await?;
    Ok(Json(MessageView::new(message, Some(events))))
}

async fn cancel_message(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageView>> {
    let message = state.platform.cancel_message(&customer, &id).await?;
    Ok(Json(MessageView::new(message, None)))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    to: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

impl ListQuery {
    fn without_empty(self) -> ListQuery {
        let keep = |v: Option<String>| v.filter(|v| !v.is_empty());
        ListQuery {
            status: keep(self.status),
            to: keep(self.to),
            since: keep(self.since),
            until: keep(self.until),
            cursor: keep(self.cursor),
            limit: keep(self.limit),
        }
    }
}

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;

async fn list_messages(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    // `?status=&to=` is how forms and the issue write "no filter".
    let query = query.without_empty();
    let status = match query.status.as_deref() {
        Some(s) => Some(MessageStatus::parse(s).ok_or_else(|| Rejection::invalid("status", "unknown status"))?),
        None => None,
    };
    let recipient = match query.to.as_deref() {
        Some(to) => Some(
            Msisdn::parse(to)
                .map_err(|e| Rejection::field(ErrorCode::InvalidNumber, "to", e.to_string()))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let limit = page_limit(query.limit.as_deref())?;
    if let Some(cursor) = &query.cursor
        && !tongdao_domain::id::is_id("msg", cursor)
    {
        return Err(Rejection::invalid("cursor", "cursor must be a next_cursor value from a previous page").into());
    }
    let filter = MessageFilter {
        status,
        recipient,
        since_ms: time_field("since", query.since)?,
        until_ms: time_field("until", query.until)?,
        before: query.cursor,
        limit,
    };
    let messages = state.platform.messages(&customer, filter).await?;
    let next_cursor = (messages.len() == limit as usize).then(|| messages.last().map(|m| m.id.clone())).flatten();
    let messages: Vec<MessageView> = messages.into_iter().map(|m| MessageView::new(m, None)).collect();
    Ok(Json(json!({ "messages": messages, "next_cursor": next_cursor })).into_response())
}

async fn balance(State(state): State<AppState>, CustomerAuth(customer): CustomerAuth) -> ApiResult<Response> {
    let balance = state.platform.balance(&customer).await?;
    Ok(Json(json!({ "balance": balance.balance, "currency": CURRENCY })).into_response())
}

async fn pricing(State(state): State<AppState>, CustomerAuth(customer): CustomerAuth) -> ApiResult<Response> {
    let tariff = state.platform.tariff(&customer).await?;
    let max_segments = state.platform.max_segments(&customer).await?;
    let limits = |e: Encoding| json!({ "single": e.single_limit(), "per_part": e.part_limit() });
    Ok(Json(json!({
        "currency": CURRENCY,
        "unit": "billable_segment",
        "default": tariff.default,
        "rules": tariff.rules,
        "max_segments": max_segments,
        "segments": { "gsm7": limits(Encoding::Gsm7), "ucs2": limits(Encoding::Ucs2) },
    }))
    .into_response())
}

async fn agreement(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
) -> ApiResult<Json<AgreementView>> {
    let agreement = state.platform.current_agreement(&customer).await?;
    Ok(Json(AgreementView::new(agreement, state.platform.now_ms())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    terms_version: String,
}

async fn accept_agreement(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    JsonBody(request): JsonBody<AcceptRequest>,
) -> ApiResult<Json<AgreementView>> {
    let agreement = state.platform.accept_agreement(&customer, &request.terms_version).await?;
    Ok(Json(AgreementView::new(agreement, state.platform.now_ms())))
}
