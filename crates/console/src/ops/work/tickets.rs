//! The operator's desk (clauses 3.6, 3.8): tickets with their status and answer deadline
//! (overdue complaints stand out), a ticket's thread with the answer and status forms, and
//! the settlement of a billing dispute by an adjustment naming the ticket — what
//! `/admin/v1/tickets` and `POST /admin/v1/customers/{customer}/adjustments` do.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::console::OpsArea;
use tongdao_domain::ticket::{TicketKind, TicketStatus};
use tongdao_domain::{ErrorCode, Money, Rejection};
use tongdao_pipeline::tickets::TicketQuery;
use tongdao_pipeline::users::acting_as;
use tongdao_store::{Ticket, TicketThread};

use crate::forms::optional;
use crate::i18n::Lang;
use crate::page::{self, Chrome, OrPage, PageError, PageResult, Problems};
use crate::web::Operator;

const PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    kind: Option<String>,
    overdue: Option<String>,
    customer: Option<String>,
    before: Option<String>,
}

pub(crate) struct TicketRow {
    pub id: String,
    pub customer_id: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub subject: String,
    pub opened: String,
    /// The answer deadline of a complaint.
    pub due: Option<String>,
    pub overdue: bool,
}

impl TicketRow {
    fn new(t: &Ticket, now: i64) -> TicketRow {
        TicketRow {
            id: t.id.clone(),
            customer_id: t.customer_id.clone(),
            kind: t.kind.as_str(),
            status: t.status.as_str(),
            subject: t.subject.clone(),
            opened: page::when(t.opened_at),
            due: t.answer_due_at.filter(|_| t.answered_at.is_none()).map(page::when),
            overdue: t.is_overdue(now),
        }
    }
}

#[derive(Template)]
#[template(path = "ops/tickets.html")]
struct TicketsPage {
    c: Chrome,
    rows: Vec<TicketRow>,
    next: Option<String>,
    /// The filters as asked, to keep them in the form and the next page's link.
    status: String,
    kind: String,
    overdue: bool,
    customer: String,
    filter_query: String,
    statuses: &'static [TicketStatus],
    kinds: &'static [TicketKind],
    problems: Problems,
}

pub async fn list(State(state): State<AppState>, op: Operator, Query(query): Query<ListQuery>) -> PageResult {
    let visit = &op.visit;
    op.read(OpsArea::Tickets).or_page(visit)?;
    let status = optional(&query.status)
        .as_deref()
        .map(|s| TicketStatus::parse(s).ok_or_else(|| Rejection::invalid("status", "not a ticket status")))
        .transpose()
        .or_page(visit)?;
    let kind = optional(&query.kind)
        .as_deref()
        .map(|k| TicketKind::parse(k).ok_or_else(|| Rejection::invalid("kind", "not a ticket kind")))
        .transpose()
        .or_page(visit)?;
    let overdue = optional(&query.overdue).is_some_and(|o| o == "true");
    let customer = optional(&query.customer);
    let ticket_query =
        TicketQuery { customer: customer.clone(), status, kind, overdue, before: optional(&query.before), limit: PAGE };
    // An unknown customer is shown at its field, the filters kept, rather than as a lost page.
    let (tickets, problems) = match state.platform.tickets(ticket_query).await {
        Ok(tickets) => (tickets, Problems::default()),
        Err(rejection) if rejection.code == ErrorCode::NotFound => {
            let rejection = Rejection { field: Some("customer".into()), ..rejection };
            (Vec::new(), Problems::of(&rejection, visit.lang))
        }
        Err(rejection) => return Err(PageError(visit.clone(), rejection)),
    };
    let now = state.platform.now_ms();
    let next = (tickets.len() == PAGE as usize).then(|| tickets.last().map(|t| t.id.clone())).flatten();
    let filter_query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("status", status.map(TicketStatus::as_str).unwrap_or(""))
        .append_pair("kind", kind.map(TicketKind::as_str).unwrap_or(""))
        .append_pair("overdue", if overdue { "true" } else { "" })
        .append_pair("customer", customer.as_deref().unwrap_or(""))
        .finish();
    let page = TicketsPage {
        c: op.chrome("Tickets"),
        rows: tickets.iter().map(|t| TicketRow::new(t, now)).collect(),
        next,
        status: status.map(TicketStatus::as_str).unwrap_or("").to_owned(),
        kind: kind.map(TicketKind::as_str).unwrap_or("").to_owned(),
        overdue,
        customer: customer.unwrap_or_default(),
        filter_query,
        statuses: TicketStatus::ALL,
        kinds: TicketKind::ALL,
        problems,
    };
    Ok(page::render_with(page.problems.status(), &page))
}

pub(crate) struct ReplyRow {
    pub author: &'static str,
    pub body: String,
    pub at: String,
}

pub(crate) struct AdjustmentRow {
    pub amount: String,
    pub reason: String,
    pub at: String,
}

/// What was typed into the ticket's forms, and the refusal of the one sent.
#[derive(Default)]
struct Typed {
    answer: Problems,
    body: String,
    status: Problems,
    status_reason: String,
    settle: Problems,
    amount: String,
    settle_reason: String,
}

#[derive(Template)]
#[template(path = "ops/tickets_ticket.html")]
struct TicketPage {
    c: Chrome,
    t: TicketRow,
    body: String,
    message_ids: Vec<String>,
    statement_lines: Vec<String>,
    answered: Option<String>,
    replies: Vec<ReplyRow>,
    adjustments: Vec<AdjustmentRow>,
    can_answer: bool,
    can_settle: bool,
    /// The statuses the operator may set from this one.
    next_statuses: Vec<&'static str>,
    done: Option<&'static str>,
    typed: Typed,
    banner: Problems,
}

#[derive(Debug, Default, Deserialize)]
pub struct TicketQueryParams {
    done: Option<String>,
}

fn done_text(lang: Lang, done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "answered" => lang.t("The answer was sent to the customer."),
        "status" => lang.t("The ticket's status was changed."),
        "settled" => lang.t("The dispute was settled by an adjustment."),
        _ => return None,
    })
}

fn ticket_page(op: &Operator, thread: TicketThread, now: i64, done: Option<&str>, typed: Typed) -> TicketPage {
    let ticket = &thread.ticket;
    let next_statuses = [TicketStatus::Open, TicketStatus::Resolved, TicketStatus::Closed]
        .into_iter()
        .filter(|s| ticket.status.operator_may_set(*s).is_ok())
        .map(TicketStatus::as_str)
        .collect();
    let banner = [&typed.answer, &typed.status, &typed.settle].into_iter().find(|p| p.0.is_some()).cloned();
    TicketPage {
        c: op.chrome("Ticket"),
        t: TicketRow::new(ticket, now),
        body: ticket.body.clone(),
        message_ids: ticket.message_ids.clone(),
        statement_lines: ticket.statement_lines.clone(),
        answered: ticket.answered_at.map(page::when),
        can_answer: op.role.may_write(OpsArea::Tickets),
        can_settle: ticket.kind == TicketKind::BillingDispute
            && op.role.may_write(OpsArea::Tickets)
            && op.role.may_write(OpsArea::Money),
        next_statuses,
        replies: thread
            .replies
            .into_iter()
            .map(|r| ReplyRow { author: r.author.as_str(), body: r.body, at: page::when(r.created_at) })
            .collect(),
        adjustments: thread
            .adjustments
            .into_iter()
            .map(|a| AdjustmentRow {
                amount: a.amount.to_string(),
                reason: a.reason.unwrap_or_default(),
                at: page::when(a.created_at),
            })
            .collect(),
        done: if banner.is_none() { done_text(op.visit.lang, done) } else { None },
        banner: banner.unwrap_or_default(),
        typed,
    }
}

async fn show(state: &AppState, op: &Operator, id: &str, done: Option<&str>, typed: Typed) -> PageResult {
    let thread = state.platform.ticket(None, id).await.or_page(&op.visit)?;
    let page = ticket_page(op, thread, state.platform.now_ms(), done, typed);
    Ok(page::render_with(page.banner.status(), &page))
}

pub async fn page(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Query(query): Query<TicketQueryParams>,
) -> PageResult {
    op.read(OpsArea::Tickets).or_page(&op.visit)?;
    show(&state, &op, &id, query.done.as_deref(), Typed::default()).await
}

fn back(id: &str, done: &str) -> PageResult {
    Ok(Redirect::to(&format!("/ops/tickets/{id}?done={done}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    body: Option<String>,
}

pub async fn answer(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Form(form): Form<AnswerForm>,
) -> PageResult {
    op.write(OpsArea::Tickets).or_page(&op.visit)?;
    let body = form.body.unwrap_or_default();
    match acting_as(&op.identity, state.platform.answer_ticket(&id, &body)).await {
        Ok(_) => back(&id, "answered"),
        Err(rejection) => {
            let typed = Typed { answer: Problems::of(&rejection, op.visit.lang), body, ..Typed::default() };
            show(&state, &op, &id, None, typed).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StatusForm {
    status: Option<String>,
    reason: Option<String>,
}

pub async fn set_status(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> PageResult {
    op.write(OpsArea::Tickets).or_page(&op.visit)?;
    let status = optional(&form.status)
        .and_then(|s| TicketStatus::parse(&s))
        .ok_or_else(|| Rejection::invalid("status", "status is open, resolved or closed"));
    let result = match status {
        Ok(status) => {
            acting_as(&op.identity, state.platform.set_ticket_status(&id, status, optional(&form.reason))).await
        }
        Err(rejection) => Err(rejection),
    };
    match result {
        Ok(_) => back(&id, "status"),
        Err(rejection) => {
            let typed = Typed {
                status: Problems::of(&rejection, op.visit.lang),
                status_reason: form.reason.unwrap_or_default(),
                ..Typed::default()
            };
            show(&state, &op, &id, None, typed).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SettleForm {
    amount: Option<String>,
    reason: Option<String>,
}

/// A billing dispute settled: an adjustment (Money) that names the ticket (Tickets).
pub async fn settle(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Form(form): Form<SettleForm>,
) -> PageResult {
    op.write(OpsArea::Tickets).or_page(&op.visit)?;
    op.write(OpsArea::Money).or_page(&op.visit)?;
    let amount = form.amount.clone().unwrap_or_default();
    let reason = form.reason.clone().unwrap_or_default();
    let result = async {
        // The customer comes from the ticket itself, never from the form.
        let thread = state.platform.ticket(None, &id).await?;
        let money = Money::parse(amount.trim())
            .map_err(|_| Rejection::invalid("amount", "an amount such as 12.50 or -3.00"))?;
        acting_as(&op.identity, state.platform.adjust(&thread.ticket.customer_id, money, &reason, Some(&id))).await
    }
    .await;
    match result {
        Ok(_) => back(&id, "settled"),
        Err(rejection) => {
            let typed = Typed {
                settle: Problems::of(&rejection, op.visit.lang),
                amount,
                settle_reason: reason,
                ..Typed::default()
            };
            show(&state, &op, &id, None, typed).await
        }
    }
}
