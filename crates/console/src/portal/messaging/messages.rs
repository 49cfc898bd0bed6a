//! The message log (`/console/messages`, filtered and paged as `GET /v1/messages` is) and
//! each message's page with its timeline, polled while the message is on its way, and its
//! cancellation (as `DELETE /v1/messages/{id}`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::console::PortalArea;
use tongdao_domain::{ErrorCode, MessageStatus, Msisdn, Rejection};
use tongdao_store::{MessageEvent, MessageFilter, StoredMessage};

use super::problems_at;
use crate::forms::{form_time, optional};
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Customer;

/// Messages on one page of the log.
const PAGE: u32 = 50;
const DAY_MS: i64 = 86_400_000;

/// The log's filters, as typed (kept to fill the form again and to page on).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogQuery {
    pub status: Option<String>,
    pub to: Option<String>,
    /// `YYYY-MM-DD`, China time, both days included.
    pub since: Option<String>,
    pub until: Option<String>,
    /// The last message id of the previous page.
    pub before: Option<String>,
    pub done: Option<String>,
}

impl LogQuery {
    /// The store's filter, refusing what `GET /v1/messages` refuses.
    fn filter(&self) -> Result<MessageFilter, Rejection> {
        let status = match optional(&self.status) {
            Some(s) => Some(MessageStatus::parse(&s).ok_or_else(|| Rejection::invalid("status", "unknown status"))?),
            None => None,
        };
        let recipient = match optional(&self.to) {
            Some(to) => Some(
                Msisdn::parse(&to)
                    .map_err(|e| Rejection::field(ErrorCode::InvalidNumber, "to", e.to_string()))?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let before = optional(&self.before);
        if before.as_deref().is_some_and(|b| !tongdao_domain::id::is_id("msg", b)) {
            return Err(Rejection::invalid("before", "not a message id"));
        }
        let since_ms = optional(&self.since).map(|d| form_time("since", &d)).transpose()?;
        // A day typed as the end includes that whole day.
        let until_ms = optional(&self.until)
            .map(|d| form_time("until", &d).map(|at| if d.len() == 10 { at + DAY_MS } else { at }))
            .transpose()?;
        Ok(MessageFilter { status, recipient, since_ms, until_ms, before, limit: PAGE })
    }

    /// This query's link to the page after `last`.
    fn next(&self, last: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in
            [("status", &self.status), ("to", &self.to), ("since", &self.since), ("until", &self.until)]
        {
            if let Some(v) = optional(value) {
                query.append_pair(name, &v);
            }
        }
        query.append_pair("before", last);
        format!("/console/messages?{}", query.finish())
    }
}

/// A message as the pages show it.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: String,
    pub to: String,
    pub status: &'static str,
    pub is_final: bool,
    pub text: String,
    /// The start of the text, for the log.
    pub excerpt: String,
    pub encoding: String,
    pub segments: u32,
    pub price: String,
    pub carrier: String,
    pub sender: String,
    pub client_ref: String,
    pub send_at: String,
    pub valid_until: String,
    pub created: String,
    pub updated: String,
}

impl From<StoredMessage> for MessageRow {
    fn from(m: StoredMessage) -> Self {
        let excerpt: String = m.text.chars().take(40).collect();
        let excerpt = if excerpt.len() < m.text.len() { format!("{excerpt}…") } else { excerpt };
        let when = |at: Option<i64>| at.map(page::when).unwrap_or_default();
        MessageRow {
            status: m.status.as_str(),
            is_final: m.status.is_final(),
            excerpt,
            encoding: m.encoding,
            segments: m.segments,
            price: m.price.to_string(),
            carrier: m.carrier.unwrap_or_default(),
            sender: m.sender.unwrap_or_default(),
            client_ref: m.client_ref.unwrap_or_default(),
            send_at: when(m.send_at),
            valid_until: when(m.valid_until),
            created: page::when(m.created_at),
            updated: page::when(m.updated_at),
            id: m.id,
            to: m.recipient,
            text: m.text,
        }
    }
}

/// One step of a message's timeline.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub status: &'static str,
    pub at: String,
    pub detail: String,
    pub carrier: String,
    pub error: String,
}

impl From<MessageEvent> for EventRow {
    fn from(e: MessageEvent) -> Self {
        EventRow {
            status: e.status.as_str(),
            at: page::when(e.at),
            detail: e.detail.unwrap_or_default(),
            carrier: e.carrier.unwrap_or_default(),
            error: e.error.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "portal/messages.html")]
struct LogPage {
    c: Chrome,
    query: LogQuery,
    statuses: &'static [MessageStatus],
    rows: Vec<MessageRow>,
    next: Option<String>,
    problems: Problems,
}

/// The log's table alone, for the filter form's htmx request (answered 200 even with a
/// refusal, which it shows: htmx swaps only 2xx answers).
#[derive(Template)]
#[template(path = "portal/messages_table.html")]
struct LogTable {
    c: Chrome,
    rows: Vec<MessageRow>,
    next: Option<String>,
    problems: Problems,
}

/// Is this the filter form's htmx request for the table? (Not a history restore, which
/// wants the whole page.)
fn wants_table(headers: &HeaderMap) -> bool {
    headers.get("hx-target").is_some_and(|t| t == "messages-table")
        && !headers.contains_key("hx-history-restore-request")
}

pub async fn list(
    State(state): State<AppState>,
    customer: Customer,
    headers: HeaderMap,
    Query(query): Query<LogQuery>,
) -> PageResult {
    let visit = &customer.visit;
    customer.read(PortalArea::Overview).or_page(visit)?;
    let (rows, problems) = match query.filter() {
        Ok(filter) => {
            let messages = state.platform.messages(&customer.customer_id, filter).await.or_page(visit)?;
            (messages.into_iter().map(MessageRow::from).collect::<Vec<_>>(), Problems::default())
        }
        Err(rejection) => (Vec::new(), problems_at(&rejection, visit.lang, &[])),
    };
    let next = (rows.len() == PAGE as usize).then(|| rows.last().map(|r| query.next(&r.id))).flatten();
    if wants_table(&headers) {
        return Ok(page::render(&LogTable { c: customer.chrome("Messages"), rows, next, problems }));
    }
    let page = LogPage {
        c: customer.chrome("Messages"),
        query,
        statuses: MessageStatus::ALL,
        rows,
        next,
        problems: problems.clone(),
    };
    Ok(page::render_with(problems.status(), &page))
}

#[derive(Template)]
#[template(path = "portal/messages_detail.html")]
struct DetailPage {
    c: Chrome,
    m: MessageRow,
    events: Vec<EventRow>,
    may_cancel: bool,
    done: Option<String>,
    problems: Problems,
}

/// The part of the message's page that changes: polled every 2 s until the status is final.
#[derive(Template)]
#[template(path = "portal/messages_live.html")]
struct LiveFragment {
    c: Chrome,
    m: MessageRow,
    events: Vec<EventRow>,
    may_cancel: bool,
    problems: Problems,
}

/// Only a message no carrier has taken can still be cancelled (the store checks again).
fn may_cancel(customer: &Customer, m: &MessageRow) -> bool {
    customer.write(PortalArea::Messaging).is_ok()
        && (m.status == MessageStatus::Scheduled.as_str() || m.status == MessageStatus::Queued.as_str())
}

async fn message_of(state: &AppState, customer: &Customer, id: &str) -> Result<(MessageRow, Vec<EventRow>), Rejection> {
    let (message, events) = state.platform.message(&customer.customer_id, id).await?;
    Ok((MessageRow::from(message), events.into_iter().map(EventRow::from).collect()))
}

async fn detail_page(
    state: &AppState,
    customer: &Customer,
    id: &str,
    done: Option<String>,
    problems: Problems,
) -> PageResult {
    let (m, events) = message_of(state, customer, id).await.or_page(&customer.visit)?;
    let page = DetailPage {
        c: customer.chrome("Message"),
        may_cancel: may_cancel(customer, &m),
        m,
        events,
        done,
        problems: problems.clone(),
    };
    Ok(page::render_with(problems.status(), &page))
}

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn detail(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    customer.read(PortalArea::Overview).or_page(&customer.visit)?;
    detail_page(&state, &customer, &id, optional(&query.done), Problems::default()).await
}

pub async fn live(State(state): State<AppState>, customer: Customer, Path(id): Path<String>) -> PageResult {
    customer.read(PortalArea::Overview).or_page(&customer.visit)?;
    let (m, events) = message_of(&state, &customer, &id).await.or_page(&customer.visit)?;
    let fragment = LiveFragment {
        c: customer.chrome("Message"),
        may_cancel: may_cancel(&customer, &m),
        m,
        events,
        problems: Problems::default(),
    };
    Ok(page::render(&fragment))
}

pub async fn cancel(State(state): State<AppState>, customer: Customer, Path(id): Path<String>) -> PageResult {
    let visit = &customer.visit;
    customer.write(PortalArea::Messaging).or_page(visit)?;
    match state.platform.cancel_message(&customer.customer_id, &id).await {
        Ok(message) => Ok(Redirect::to(&format!("/console/messages/{}?done=cancelled", message.id)).into_response()),
        // Not this customer's: the same 404 page as reading it.
        Err(rejection) if rejection.code == ErrorCode::NotFound => Err(page::PageError(visit.clone(), rejection)),
        Err(rejection) => detail_page(&state, &customer, &id, None, Problems::of(&rejection, visit.lang)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_and_kept_for_the_next_page() {
        let query = LogQuery {
            status: Some("delivered".into()),
            to: Some("13800138000".into()),
            since: Some("2026-06-01".into()),
            until: Some("2026-06-01".into()),
            before: Some(String::new()),
            done: None,
        };
        let filter = query.filter().expect("filter");
        assert_eq!(filter.status, Some(MessageStatus::Delivered));
        assert_eq!(filter.recipient.as_deref(), Some("+8613800138000"));
        assert_eq!(filter.until_ms.zip(filter.since_ms).map(|(u, s)| u - s), Some(DAY_MS));
        assert_eq!(filter.before, None);
        let next = query.next("msg_x");
        assert!(next.contains("status=delivered") && next.ends_with("before=msg_x"), "{next}");
        let bad = LogQuery { status: Some("sent".into()), ..LogQuery::default() };
        assert_eq!(bad.filter().map_err(|r| r.field), Err(Some("status".into())));
        let bad = LogQuery { to: Some("12".into()), ..LogQuery::default() };
        assert_eq!(bad.filter().map_err(|r| r.code), Err(ErrorCode::InvalidNumber));
    }
}
