//! Statements (clause 3.8): one month's statement as `GET /v1/statements/{month}` gives it
//! (opening, top-ups, charges by day and by carrier, refunds, adjustments, closing, the
//! ledger's chain head), and the same statement as CSV. Open while suspended.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::console::PortalArea;
use tongdao_domain::period::CalendarMonth;
use tongdao_domain::{Money, Rejection};
use tongdao_pipeline::statements::{Statement, Tally};
use tongdao_store::{LedgerEntry, LedgerKind};

use crate::forms::optional;
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Customer;

/// Months offered as links, this one included.
const RECENT_MONTHS: usize = 12;

/// A line of a table: what it groups (a day or a carrier), count, segments, amount.
pub struct Line {
    pub name: String,
    pub count: u64,
    pub segments: u64,
    pub amount: String,
}

pub struct Entry {
    pub seq: i64,
    pub at: i64,
    pub amount: String,
    pub reference: String,
    pub reason: String,
}

pub struct Total {
    pub count: u64,
    pub segments: u64,
    pub amount: String,
}

/// The statement as the page shows it.
pub struct View {
    pub month: String,
    pub is_final: bool,
    pub generated_at: i64,
    pub opening: String,
    pub closing: String,
    pub topups: Total,
    pub topup_entries: Vec<Entry>,
    pub topups_truncated: bool,
    pub charges: Total,
    pub by_day: Vec<Line>,
    pub by_carrier: Vec<Line>,
    pub refunds: Total,
    pub refunds_by_day: Vec<Line>,
    pub adjustments: Total,
    pub adjustment_entries: Vec<Entry>,
    pub adjustments_truncated: bool,
    pub chain: Option<(i64, String)>,
}

fn total(t: Tally) -> Total {
    Total { count: t.count, segments: t.segments, amount: t.amount.to_string() }
}

fn entries(list: &[LedgerEntry]) -> Vec<Entry> {
    list.iter()
        .map(|e| Entry {
            seq: e.seq,
            at: e.created_at,
            amount: e.amount.to_string(),
            reference: e.reference.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
        })
        .collect()
}

/// Charges summed by one part of their (day, carrier) key, as the JSON's `by_day` and
/// `by_carrier`.
fn charges_by(statement: &Statement, by_day: bool) -> Result<Vec<Line>, Rejection> {
    let mut sums: BTreeMap<&str, (u64, u64, Money)> = BTreeMap::new();
    for ((day, carrier), t) in &statement.charges {
        let key = if by_day { day.as_str() } else { carrier.as_str() };
        let sum = sums.entry(key).or_insert((0, 0, Money::ZERO));
        sum.0 += t.count;
        sum.1 += t.segments;
        sum.2 = sum.2.checked_add(t.amount).ok_or_else(Rejection::internal)?;
    }
    Ok(sums
        .into_iter()
        .map(|(name, (count, segments, amount))| Line {
            name: name.to_owned(),
            count,
            segments,
            amount: amount.to_string(),
        })
        .collect())
}

fn view(s: &Statement) -> Result<View, Rejection> {
    Ok(View {
        month: s.month.to_string(),
        is_final: s.is_final,
        generated_at: s.generated_at,
        opening: s.opening.to_string(),
        closing: s.closing.to_string(),
        topups: total(s.total(LedgerKind::Topup)),
        topup_entries: entries(&s.topups.entries),
        topups_truncated: s.topups.truncated,
        charges: total(s.total(LedgerKind::Charge)),
        by_day: charges_by(s, true)?,
        by_carrier: charges_by(s, false)?,
        refunds: total(s.total(LedgerKind::Refund)),
        refunds_by_day: s
            .refunds
            .iter()
            .map(|(day, t)| Line { name: day.clone(), count: t.count, segments: 0, amount: t.amount.to_string() })
            .collect(),
        adjustments: total(s.total(LedgerKind::Adjustment)),
        adjustment_entries: entries(&s.adjustments.entries),
        adjustments_truncated: s.adjustments.truncated,
        chain: s.chain.as_ref().map(|c| (c.seq, c.hash.clone())),
    })
}

#[derive(Template)]
#[template(path = "portal/statements.html")]
struct StatementsPage {
    c: Chrome,
    month: String,
    months: Vec<String>,
    problems: Problems,
    statement: Option<View>,
}

#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

/// This month and the ones before it, newest first.
fn recent_months(now_ms: i64) -> Vec<String> {
    let mut month = CalendarMonth::containing(now_ms);
    let mut out = Vec::with_capacity(RECENT_MONTHS);
    for _ in 0..RECENT_MONTHS {
        out.push(month.to_string());
        month = CalendarMonth::containing(month.start_ms() - 1);
    }
    out
}

pub async fn page(State(state): State<AppState>, customer: Customer, Query(query): Query<MonthQuery>) -> PageResult {
    let visit = &customer.visit;
    customer.read(PortalArea::Overview).or_page(visit)?;
    let now = state.platform.now_ms();
    let month = optional(&query.month).unwrap_or_else(|| CalendarMonth::containing(now).to_string());
    let (statement, problems) = match state.platform.statement(&customer.customer_id, &month).await {
        Ok(statement) => (Some(view(&statement).or_page(visit)?), Problems::default()),
        Err(rejection) if rejection.field.is_some() => (None, Problems::of(&rejection, visit.lang)),
        Err(rejection) => return Err(page::PageError(visit.clone(), rejection)),
    };
    let page =
        StatementsPage { c: customer.chrome("Statements"), month, months: recent_months(now), problems, statement };
    Ok(page::render_with(page.problems.status(), &page))
}

/// The month's statement as CSV, the file `GET /v1/statements/{month}?format=csv` gives.
pub async fn csv(State(state): State<AppState>, customer: Customer, Path(month): Path<String>) -> PageResult {
    let visit = &customer.visit;
    customer.read(PortalArea::Overview).or_page(visit)?;
    let statement = state.platform.statement(&customer.customer_id, &month).await.or_page(visit)?;
    let body = statement.to_csv().or_page(visit)?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    // Customer ids are base32 and months digits: nothing to quote.
    let disposition = format!("attachment; filename=\"statement-{}-{}.csv\"", statement.customer_id, statement.month);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_months_offered_go_back_a_year_across_new_year() {
        // 2026-02-10 in China.
        let months = recent_months(1_770_696_000_000);
        assert_eq!(months.len(), RECENT_MONTHS);
        assert_eq!(&months[..3], ["2026-02", "2026-01", "2025-12"]);
        assert_eq!(months[11], "2025-03");
    }
}
