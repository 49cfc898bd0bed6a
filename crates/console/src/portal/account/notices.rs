//! Notices: the customer's written notices (maintenance, agreement expiry, low balance,
//! breaches, termination), unread ones marked; opening one records its reading, as
//! `GET /v1/notices/{id}` does. Open while suspended.

use askama::Template;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::console::PortalArea;
use tongdao_store::Notice;

use crate::forms::optional;
use crate::page::{self, Chrome, OrPage, PageResult};
use crate::web::Customer;

/// Notices a page lists, newest first.
const PAGE: u32 = 50;

#[derive(Template)]
#[template(path = "portal/notices.html")]
struct NoticesPage {
    c: Chrome,
    notices: Vec<Notice>,
    /// The last id, when there may be older notices.
    older: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NoticesQuery {
    before: Option<String>,
}

pub async fn list(State(state): State<AppState>, customer: Customer, Query(query): Query<NoticesQuery>) -> PageResult {
    let visit = &customer.visit;
    customer.read(PortalArea::Overview).or_page(visit)?;
    let before = optional(&query.before);
    let notices =
        state.platform.notices(Some(&customer.customer_id), before.as_deref(), false, PAGE).await.or_page(visit)?;
    let older = (notices.len() == PAGE as usize).then(|| notices.last().map(|n| n.id.clone())).flatten();
    Ok(page::render(&NoticesPage { c: customer.chrome("Notices"), notices, older }))
}

#[derive(Template)]
#[template(path = "portal/notices_one.html")]
struct NoticePage {
    c: Chrome,
    notice: Notice,
}

/// One notice: reading it here is reading it (the first reading is recorded).
pub async fn page(State(state): State<AppState>, mut customer: Customer, Path(id): Path<String>) -> PageResult {
    customer.read(PortalArea::Overview).or_page(&customer.visit)?;
    let platform = &state.platform;
    let notice = platform.read_notice(&customer.customer_id, &id).await.or_page(&customer.visit)?;
    // The menu's count was taken before this reading; count again so the badge agrees.
    if let Ok(unread) = platform.notices(Some(&customer.customer_id), None, true, 100).await {
        customer.unread = unread.len();
    }
    Ok(page::render(&NoticePage { c: customer.chrome("Notice"), notice }))
}
