//! The operator's start page: customers, held messages, open tickets with the nearest
//! answer deadline, upcoming maintenance and the carrier links at a glance, and the accept
//! path's counters since the node started as a chart.

use std::sync::atomic::Ordering;

use askama::Template;
use axum::extract::State;
use tongdao_api::AppState;
use tongdao_domain::console::OpsArea;
use tongdao_domain::ticket::TicketStatus;
use tongdao_pipeline::tickets::TicketQuery;

use super::work::carriers::{Link, links};
use crate::charts::{self, Point};
use crate::page::{self, Chrome, OrPage, PageResult};
use crate::web::Operator;

/// More than this many held messages or open tickets show as "1000+".
const COUNT_CAP: u32 = 1000;

#[derive(Template)]
#[template(path = "ops/dashboard.html")]
struct Dashboard {
    c: Chrome,
    customers: usize,
    /// `None` for a role that does not see moderation.
    held: Option<String>,
    open_tickets: String,
    overdue_tickets: usize,
    nearest_deadline: Option<String>,
    upcoming_maintenance: usize,
    next_maintenance: Option<String>,
    links: Vec<Link>,
    chart: String,
    figures: Vec<(String, u64)>,
}

fn capped(n: usize) -> String {
    if n >= COUNT_CAP as usize { format!("{COUNT_CAP}+") } else { n.to_string() }
}

pub async fn page(State(state): State<AppState>, op: Operator) -> PageResult {
    let visit = &op.visit;
    op.read(OpsArea::Overview).or_page(visit)?;
    let platform = &state.platform;
    let now = platform.now_ms();
    let customers = platform.customers().await.or_page(visit)?.len();
    let held = if op.role.may_read(OpsArea::Moderation) {
        Some(capped(platform.held_messages(None, COUNT_CAP).await.or_page(visit)?.len()))
    } else {
        None
    };
    let open = platform
        .tickets(TicketQuery { status: Some(TicketStatus::Open), limit: COUNT_CAP, ..TicketQuery::default() })
        .await
        .or_page(visit)?;
    let nearest_deadline =
        open.iter().filter(|t| t.answered_at.is_none()).filter_map(|t| t.answer_due_at).min().map(page::when);
    let windows = platform.maintenance_windows(0, 100).await.or_page(visit)?;
    let upcoming: Vec<_> = windows.iter().filter(|w| w.cancelled_at.is_none() && w.ends_at > now).collect();
    let next_maintenance = upcoming.iter().map(|w| w.starts_at).min().map(page::when);

    // Counters since the node started (what /metrics exposes): accepted, then each refusal.
    let metrics = platform.metrics();
    let mut figures = vec![("accepted".to_owned(), metrics.accepted_messages.load(Ordering::Relaxed))];
    figures.extend(metrics.rejections().filter(|(_, n)| *n > 0).map(|(code, n)| (code.as_str().to_owned(), n)));
    let points: Vec<Point> =
        figures.iter().map(|(label, n)| Point { label: label.clone(), value: *n as f64 }).collect();
    let chart = charts::bars(
        "accept-counters",
        visit.lang.t("Messages accepted and requests refused since the node started"),
        &points,
    );

    let page = Dashboard {
        c: op.chrome("Dashboard"),
        customers,
        held,
        open_tickets: capped(open.len()),
        overdue_tickets: open.iter().filter(|t| t.is_overdue(now)).count(),
        nearest_deadline,
        upcoming_maintenance: upcoming.len(),
        next_maintenance,
        links: links(&state),
        chart,
        figures,
    };
    Ok(page::render(&page))
}
