//! Customer service (clause 3.6) and billing disputes (clause 3.8): the customer's tickets
//! (`/v1/tickets`) and the operator's desk (`/admin/v1/tickets`): lists with filters, a
//! ticket with its replies and the adjustments that settled it, answers, and status changes.
//! A dispute is settled by an adjustment naming the ticket (`ticket` on
//! `POST /admin/v1/customers/{customer}/adjustments`).

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tongdao_domain::Rejection;
use tongdao_domain::clock::rfc3339;
use tongdao_domain::ticket::{TicketKind, TicketStatus};
use tongdao_pipeline::tickets::{TicketQuery, TicketRequest};
use tongdao_store::{Ticket, TicketThread};

use crate::AppState;
use crate::admin::created;
use crate::customer::page_limit;
use crate::error::ApiResult;
use crate::extract::{CustomerAuth, JsonBody, OperatorAuth};
use crate::views::LedgerEntryView;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tickets", post(open_ticket).get(list_tickets))
        .route("/v1/tickets/{id}", get(get_ticket))
        .route("/v1/tickets/{id}/replies", post(customer_reply))
        .route("/admin/v1/tickets", get(operator_list))
        .route("/admin/v1/tickets/{id}", get(operator_get).patch(set_status))
        .route("/admin/v1/tickets/{id}/replies", post(answer))
}

/// A ticket in a list: where it stands, without its text.
fn summary_view(t: &Ticket, now_ms: i64) -> Value {
    json!({
        "id": t.id,
        "customer_id": t.customer_id,
        "kind": t.kind,
        "status": t.status,
        "subject": t.subject,
        "message_ids": t.message_ids,
        "statement_lines": t.statement_lines,
        "opened_at": rfc3339(t.opened_at),
        "answer_due_at": t.answer_due_at.map(rfc3339),
        "overdue": t.is_overdue(now_ms),
        "answered_at": t.answered_at.map(rfc3339),
        "resolved_at": t.resolved_at.map(rfc3339),
        "closed_at": t.closed_at.map(rfc3339),
        "updated_at": rfc3339(t.updated_at),
    })
}

/// A whole ticket: its text, the replies oldest first, and the adjustments that settled it.
fn thread_view(thread: TicketThread, now_ms: i64) -> Value {
    let mut view = summary_view(&thread.ticket, now_ms);
    view["body"] = Value::from(thread.ticket.body);
    view["replies"] = thread
        .replies
        .into_iter()
        .map(|r| json!({ "id": r.id, "author": r.author, "body": r.body, "created_at": rfc3339(r.created_at) }))
        .collect();
    let adjustments: Vec<LedgerEntryView> = thread.adjustments.into_iter().map(LedgerEntryView::from).collect();
    view["adjustments"] = json!(adjustments);
    view
}

fn list_view(tickets: &[Ticket], limit: u32, now_ms: i64) -> Response {
    let next = (tickets.len() == limit as usize).then(|| tickets.last().map(|t| t.id.clone())).flatten();
    let list: Vec<Value> = tickets.iter().map(|t| summary_view(t, now_ms)).collect();
    Json(json!({ "tickets": list, "next_before": next })).into_response()
}

#[derive(Debug, Deserialize)]
pub struct TicketListQuery {
    status: Option<String>,
    kind: Option<String>,
    customer: Option<String>,
    overdue: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

impl TicketListQuery {
    /// The filters both sides have; `customer` and `overdue` are the operator's.
    fn query(&self) -> Result<TicketQuery, Rejection> {
        let status = present(&self.status)
            .map(|s| {
                TicketStatus::parse(s)
                    .ok_or_else(|| Rejection::invalid("status", "status is open, answered, resolved or closed"))
            })
            .transpose()?;
        let kind = present(&self.kind)
            .map(|k| {
                TicketKind::parse(k)
                    .ok_or_else(|| Rejection::invalid("kind", "kind is inquiry, complaint or billing_dispute"))
            })
            .transpose()?;
        Ok(TicketQuery {
            customer: None,
            status,
            kind,
            overdue: false,
            before: present(&self.before).map(str::to_owned),
            limit: page_limit(present(&self.limit))?,
        })
    }

    fn operator_query(&self) -> Result<TicketQuery, Rejection> {
        let overdue = match present(&self.overdue) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(Rejection::invalid("overdue", "overdue is true or false")),
        };
        Ok(TicketQuery { customer: present(&self.customer).map(str::to_owned), overdue, ..self.query()? })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    kind: TicketKind,
    subject: String,
    body: String,
    #[serde(default)]
    message_ids: Vec<String>,
    #[serde(default)]
    statement_lines: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReply {
    body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    status: TicketStatus,
    #[serde(default)]
    reason: Option<String>,
}

async fn open_ticket(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    JsonBody(body): JsonBody<NewTicket>,
) -> ApiResult<Response> {
    let request = TicketRequest {
        kind: body.kind,
        subject: body.subject,
        body: body.body,
        message_ids: body.message_ids,
        statement_lines: body.statement_lines,
    };
    let ticket = state.platform.open_ticket(&customer, request).await?;
    let thread = TicketThread { ticket, replies: Vec::new(), adjustments: Vec::new() };
    Ok(created(thread_view(thread, state.platform.now_ms())))
}

async fn list_tickets(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Query(query): Query<TicketListQuery>,
) -> ApiResult<Response> {
    let query = TicketQuery { customer: Some(customer), ..query.query()? };
    let limit = query.limit;
    let tickets = state.platform.tickets(query).await?;
    Ok(list_view(&tickets, limit, state.platform.now_ms()))
}

async fn get_ticket(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let thread = state.platform.ticket(Some(&customer), &id).await?;
    Ok(Json(thread_view(thread, state.platform.now_ms())).into_response())
}

async fn customer_reply(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewReply>,
) -> ApiResult<Response> {
    let thread = state.platform.customer_reply(&customer, &id, &body.body).await?;
    Ok(created(thread_view(thread, state.platform.now_ms())))
}

async fn operator_list(
    State(state): State<AppState>,
    _: OperatorAuth,
    Query(query): Query<TicketListQuery>,
) -> ApiResult<Response> {
    let query = query.operator_query()?;
    let limit = query.limit;
    let tickets = state.platform.tickets(query).await?;
    Ok(list_view(&tickets, limit, state.platform.now_ms()))
}

async fn operator_get(State(state): State<AppState>, _: OperatorAuth, Path(id): Path<String>) -> ApiResult<Response> {
    let thread = state.platform.ticket(None, &id).await?;
    Ok(Json(thread_view(thread, state.platform.now_ms())).into_response())
}

async fn answer(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewReply>,
) -> ApiResult<Response> {
    let thread = state.platform.answer_ticket(&id, &body.body).await?;
    Ok(created(thread_view(thread, state.platform.now_ms())))
}

async fn set_status(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StatusChange>,
) -> ApiResult<Response> {
    let thread = state.platform.set_ticket_status(&id, body.status, body.reason).await?;
    Ok(Json(thread_view(thread, state.platform.now_ms())).into_response())
}
