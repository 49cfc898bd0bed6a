//! The carrier links and their live state, as `GET /admin/v1/carriers` gives it; the table
//! refreshes itself every 2 s (htmx polling its fragment).

use askama::Template;
use axum::extract::State;
use tongdao_api::AppState;
use tongdao_domain::console::OpsArea;
use tongdao_pipeline::carriers::CarrierStatus;

use crate::page::{self, Chrome, OrPage, PageResult};
use crate::web::Operator;

/// One link as the table shows it.
pub(crate) struct Link {
    pub name: String,
    pub address: String,
    pub bind_mode: &'static str,
    pub binds: String,
    /// Every bind bound.
    pub up: bool,
    pub window: String,
    pub tps: u32,
    pub queue_depth: u64,
    pub draining: bool,
    pub submitted: u64,
    pub failures: u64,
    pub receipts: u64,
}

impl From<CarrierStatus> for Link {
    fn from(c: CarrierStatus) -> Link {
        Link {
            address: format!("{}:{}", c.host, c.port),
            bind_mode: c.bind_mode,
            binds: format!("{}/{}", c.binds_bound, c.binds_configured),
            up: c.binds_bound > 0 && c.binds_bound >= c.binds_configured,
            window: format!("{}/{}", c.window_in_use, c.window.saturating_mul(c.binds_configured.max(1))),
            tps: c.tps,
            queue_depth: c.queue_depth,
            draining: c.draining,
            submitted: c.counters.submitted,
            failures: c.counters.temporary_failures + c.counters.permanent_failures,
            receipts: c.counters.receipts,
            name: c.name,
        }
    }
}

pub(crate) fn links(state: &AppState) -> Vec<Link> {
    state.platform.carriers().into_iter().map(Link::from).collect()
}

#[derive(Template)]
#[template(path = "ops/carriers.html")]
struct CarriersPage {
    c: Chrome,
    links: Vec<Link>,
}

#[derive(Template)]
#[template(path = "ops/carriers_table.html")]
struct CarriersTable {
    c: Chrome,
    links: Vec<Link>,
}

pub async fn page(State(state): State<AppState>, op: Operator) -> PageResult {
    op.read(OpsArea::Overview).or_page(&op.visit)?;
    Ok(page::render(&CarriersPage { c: op.chrome("Carriers"), links: links(&state) }))
}

/// The table alone, for the page's polling.
pub async fn live(State(state): State<AppState>, op: Operator) -> PageResult {
    op.read(OpsArea::Overview).or_page(&op.visit)?;
    Ok(page::render(&CarriersTable { c: op.chrome("Carriers"), links: links(&state) }))
}
