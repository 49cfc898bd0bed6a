//! Tickets (clauses 3.6 and 3.8): the customer's tickets, opening one (an inquiry, a
//! complaint, or a billing dispute naming messages and statement lines), and a ticket's
//! thread with a reply form. Open while suspended.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::Rejection;
use tongdao_domain::console::PortalArea;
use tongdao_domain::ticket::{TicketKind, TicketStatus};
use tongdao_pipeline::tickets::{TicketQuery, TicketRequest};
use tongdao_store::{LedgerEntry, Ticket, TicketReply, TicketThread};

use super::{Done, at_list_field};
use crate::forms::optional;
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Customer;

/// Tickets listed on the page, newest first.
const LISTED: u32 = 200;

/// What the open form holds: its values as typed.
#[derive(Debug, Default, Deserialize)]
pub struct TicketForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    message_ids: String,
    #[serde(default)]
    statement_lines: String,
}

#[derive(Template)]
#[template(path = "portal/tickets.html")]
struct TicketsPage {
    c: Chrome,
    may_write: bool,
    tickets: Vec<Ticket>,
    now: i64,
    status: String,
    statuses: &'static [TicketStatus],
    kinds: &'static [TicketKind],
    form: TicketForm,
    problems: Problems,
}

impl TicketsPage {
    fn overdue(&self, t: &Ticket) -> bool {
        t.is_overdue(self.now)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    /// Prefills the form: `?kind=billing_dispute&message=msg_…` from a message's page.
    kind: Option<String>,
    message: Option<String>,
}

async fn render_list(
    state: &AppState,
    customer: &Customer,
    status: Option<String>,
    form: TicketForm,
    problems: Problems,
) -> PageResult {
    let visit = &customer.visit;
    let status_filter = match status.as_deref() {
        Some(s) => Some(
            TicketStatus::parse(s)
                .ok_or_else(|| Rejection::invalid("status", "status is open, answered, resolved or closed"))
                .or_page(visit)?,
        ),
        None => None,
    };
    let query = TicketQuery {
        customer: Some(customer.customer_id.clone()),
        status: status_filter,
        kind: None,
        overdue: false,
        before: None,
        limit: LISTED,
    };
    let tickets = state.platform.tickets(query).await.or_page(visit)?;
    let page = TicketsPage {
        c: customer.chrome("Tickets"),
        may_write: customer.write(PortalArea::Tickets).is_ok(),
        tickets,
        now: state.platform.now_ms(),
        status: status.unwrap_or_default(),
        statuses: TicketStatus::ALL,
        kinds: TicketKind::ALL,
        form,
        problems,
    };
    Ok(page::render_with(page.problems.status(), &page))
}

pub async fn list(State(state): State<AppState>, customer: Customer, Query(query): Query<ListQuery>) -> PageResult {
    customer.read(PortalArea::Tickets).or_page(&customer.visit)?;
    let form = TicketForm {
        kind: optional(&query.kind).unwrap_or_else(|| TicketKind::Inquiry.as_str().to_owned()),
        message_ids: optional(&query.message).unwrap_or_default(),
        ..TicketForm::default()
    };
    render_list(&state, &customer, optional(&query.status), form, Problems::default()).await
}

/// Ids or lines typed one per line, or separated by spaces or commas.
fn items(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn request(form: &TicketForm) -> Result<TicketRequest, Rejection> {
    let kind = TicketKind::parse(form.kind.trim())
        .ok_or_else(|| Rejection::invalid("kind", "kind is inquiry, complaint or billing_dispute"))?;
    Ok(TicketRequest {
        kind,
        subject: form.subject.clone(),
        body: form.body.clone(),
        message_ids: items(&form.message_ids),
        statement_lines: items(&form.statement_lines),
    })
}

pub async fn open(State(state): State<AppState>, customer: Customer, Form(form): Form<TicketForm>) -> PageResult {
    customer.write(PortalArea::Tickets).or_page(&customer.visit)?;
    let opened = match request(&form) {
        Ok(request) => state.platform.open_ticket(&customer.customer_id, request).await,
        Err(rejection) => Err(rejection),
    };
    match opened {
        Ok(ticket) => Ok(Redirect::to(&format!("/console/tickets/{}?done=opened", ticket.id)).into_response()),
        Err(rejection) => {
            let problems = Problems::of(&at_list_field(rejection), customer.visit.lang);
            render_list(&state, &customer, None, form, problems).await
        }
    }
}

#[derive(Template)]
#[template(path = "portal/tickets_thread.html")]
struct ThreadPage {
    c: Chrome,
    may_write: bool,
    t: Ticket,
    replies: Vec<TicketReply>,
    adjustments: Vec<LedgerEntry>,
    now: i64,
    done: bool,
    reply: String,
    problems: Problems,
}

impl ThreadPage {
    fn overdue(&self) -> bool {
        self.t.is_overdue(self.now)
    }
}

async fn render_thread(
    state: &AppState,
    customer: &Customer,
    id: &str,
    done: bool,
    reply: String,
    problems: Problems,
) -> PageResult {
    let visit = &customer.visit;
    let TicketThread { ticket, replies, adjustments } =
        state.platform.ticket(Some(&customer.customer_id), id).await.or_page(visit)?;
    let page = ThreadPage {
        c: customer.chrome("Ticket"),
        may_write: customer.write(PortalArea::Tickets).is_ok(),
        t: ticket,
        replies,
        adjustments,
        now: state.platform.now_ms(),
        done,
        reply,
        problems,
    };
    Ok(page::render_with(page.problems.status(), &page))
}

pub async fn page(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> PageResult {
    customer.read(PortalArea::Tickets).or_page(&customer.visit)?;
    render_thread(&state, &customer, &id, done.done.is_some(), String::new(), Problems::default()).await
}

#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    body: String,
}

pub async fn reply(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
    Form(form): Form<ReplyForm>,
) -> PageResult {
    customer.write(PortalArea::Tickets).or_page(&customer.visit)?;
    match state.platform.customer_reply(&customer.customer_id, &id, &form.body).await {
        Ok(_) => Ok(Redirect::to(&format!("/console/tickets/{id}#reply-form")).into_response()),
        // A ticket that is not this customer's is a page of its own (404), not a form error.
        Err(rejection) if rejection.field.is_none() => Err(page::PageError(customer.visit.clone(), rejection)),
        Err(rejection) => {
            let problems = Problems::of(&rejection, customer.visit.lang);
            render_thread(&state, &customer, &id, false, form.body, problems).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_one_per_line_or_separated_by_commas() {
        assert_eq!(items("msg_a, msg_b\nmsg_c  "), ["msg_a", "msg_b", "msg_c"]);
        assert!(items(" \n ").is_empty());
        let form = TicketForm { kind: "refund".into(), ..TicketForm::default() };
        assert_eq!(request(&form).map_err(|r| r.field), Err(Some("kind".to_owned())));
    }
}
