//! The operator's start page: customers, held messages and open tickets at a glance.

use askama::Template;
use axum::extract::State;
use tongdao_api::AppState;
use tongdao_domain::console::OpsArea;

use crate::page::{self, Chrome, OrPage, PageResult};
use crate::web::Operator;

#[derive(Template)]
#[template(path = "ops/dashboard.html")]
struct Dashboard {
    c: Chrome,
    customers: usize,
}

pub async fn page(State(state): State<AppState>, op: Operator) -> PageResult {
    op.read(OpsArea::Overview).or_page(&op.visit)?;
    let customers = state.platform.customers().await.or_page(&op.visit)?.len();
    Ok(page::render(&Dashboard { c: op.chrome("Dashboard"), customers }))
}
