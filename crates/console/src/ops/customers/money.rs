//! `/ops/money`: the reconciliation report for a range of days (as
//! `GET /admin/v1/reconciliation`) and a customer's monthly statement (as
//! `GET /admin/v1/customers/{c}/statements/{month}`), with the statement's CSV and JSON as
//! downloads.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use tongdao_api::AppState;
use tongdao_domain::console::OpsArea;
use tongdao_domain::{ErrorCode, Rejection, period};
use tongdao_pipeline::statements::{Statement, StatementFormat};
use tongdao_store::LedgerKind;

use super::forms::{Fields, Shown};
use crate::page::{self, Chrome, OrPage, PageResult, when};
use crate::web::Operator;

/// A reconciliation row (or the total), its figures as shown.
#[derive(Debug, Clone, Default)]
pub struct ReconRow {
    pub date: String,
    pub link: String,
    pub messages: String,
    pub charged_segments: String,
    pub charged: String,
    pub refunded: String,
    pub submitted_segments: String,
    pub receipted: String,
    pub failed_messages: String,
    pub charged_not_submitted: String,
    pub submitted_without_receipt: String,
}

fn figure(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl ReconRow {
    fn of(v: &Value) -> ReconRow {
        ReconRow {
            date: figure(&v["date"]),
            link: figure(&v["link"]),
            messages: figure(&v["messages"]),
            charged_segments: figure(&v["charged_segments"]),
            charged: figure(&v["charged"]),
            refunded: figure(&v["refunded"]),
            submitted_segments: figure(&v["submitted_segments"]),
            receipted: figure(&v["receipts"]["segments"]),
            failed_messages: figure(&v["failed_messages"]),
            charged_not_submitted: figure(&v["charged_not_submitted"]),
            submitted_without_receipt: figure(&v["submitted_without_receipt"]),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub rows: Vec<ReconRow>,
    pub total: ReconRow,
}

/// A line of the statement: what, how many, how much.
#[derive(Debug, Clone)]
pub struct Line {
    pub what: String,
    pub detail: String,
    pub count: String,
    pub amount: String,
}

#[derive(Debug, Clone)]
pub struct StatementView {
    pub customer_id: String,
    pub month: String,
    pub is_final: bool,
    pub opening: String,
    pub closing: String,
    pub lines: Vec<Line>,
    pub generated: String,
}

impl StatementView {
    fn of(s: &Statement) -> StatementView {
        let mut lines = Vec::new();
        for e in &s.topups.entries {
            let detail = e.reference.clone().unwrap_or_default();
            lines.push(Line { what: "topup".into(), detail, count: "1".into(), amount: e.amount.to_string() });
        }
        for ((day, carrier), t) in &s.charges {
            let detail = format!("{day} {carrier}");
            lines.push(Line {
                what: "charge".into(),
                detail,
                count: t.count.to_string(),
                amount: t.amount.to_string(),
            });
        }
        for (day, t) in &s.refunds {
            let (count, amount) = (t.count.to_string(), t.amount.to_string());
            lines.push(Line { what: "refund".into(), detail: day.clone(), count, amount });
        }
        for e in &s.adjustments.entries {
            let detail = e.reason.clone().unwrap_or_default();
            lines.push(Line { what: "adjustment".into(), detail, count: "1".into(), amount: e.amount.to_string() });
        }
        for kind in [LedgerKind::Topup, LedgerKind::Charge, LedgerKind::Refund, LedgerKind::Adjustment] {
            let t = s.total(kind);
            let what = format!("{}-total", kind.as_str());
            let (count, amount) = (t.count.to_string(), t.amount.to_string());
            lines.push(Line { what, detail: String::new(), count, amount });
        }
        StatementView {
            customer_id: s.customer_id.clone(),
            month: s.month.to_string(),
            is_final: s.is_final,
            opening: s.opening.to_string(),
            closing: s.closing.to_string(),
            lines,
            generated: when(s.generated_at),
        }
    }
}

#[derive(Template)]
#[template(path = "ops/money.html")]
struct MoneyPage {
    c: Chrome,
    /// (id, name) for the statement's customer list.
    customers: Vec<(String, String)>,
    asked: Fields,
    default_from: String,
    default_to: String,
    default_month: String,
    report: Option<Report>,
    statement: Option<StatementView>,
    shown: Shown,
}

pub async fn page(State(state): State<AppState>, op: Operator, Query(asked): Query<Fields>) -> PageResult {
    let visit = &op.visit;
    op.read(OpsArea::Money).or_page(visit)?;
    let platform = &state.platform;
    let today = tongdao_domain::agreement::cst_date(platform.now_ms());
    let month_start = today.replace_day(1).unwrap_or(today);
    let mut shown = Shown::default();
    let report = match (asked.opt("from"), asked.opt("to")) {
        (None, None) => None,
        (from, to) => match platform.reconciliation(from.unwrap_or(""), to.unwrap_or("")).await {
            Ok(r) => {
                let json = r.to_json();
                let rows =
                    json["rows"].as_array().map(|rows| rows.iter().map(ReconRow::of).collect()).unwrap_or_default();
                let total = ReconRow::of(&json["total"]);
                Some(Report { from: figure(&json["from"]), to: figure(&json["to"]), rows, total })
            }
            Err(r) => {
                shown = Shown::failed("reconciliation", &r, visit.lang, asked.clone());
                None
            }
        },
    };
    let statement = match (asked.opt("customer"), asked.opt("month")) {
        (Some(customer), Some(month)) => match platform.statement(customer, month).await {
            Ok(s) => Some(StatementView::of(&s)),
            Err(r) => {
                // An unknown customer is the form's mistake here, not a missing page.
                let r = if r.code == ErrorCode::NotFound && r.field.is_none() {
                    Rejection::field(ErrorCode::NotFound, "customer", r.message)
                } else {
                    r
                };
                shown = Shown::failed("statement", &r, visit.lang, asked.clone());
                None
            }
        },
        (Some(_), None) => {
            let r = Rejection::invalid("month", "month is required: YYYY-MM");
            shown = Shown::failed("statement", &r, visit.lang, asked.clone());
            None
        }
        _ => None,
    };
    let customers = platform.customers().await.or_page(visit)?.into_iter().map(|c| (c.id, c.name)).collect();
    let status = shown.problems.status();
    let page = MoneyPage {
        c: op.chrome("Money"),
        customers,
        asked,
        default_from: period::format_day(month_start),
        default_to: period::format_day(today),
        default_month: period::format_day(today)[..7].to_owned(),
        report,
        statement,
        shown,
    };
    Ok(page::render_with(status, &page))
}

#[derive(Debug, Deserialize)]
pub struct FormatQuery {
    format: Option<String>,
}

/// The statement as a file: `?format=csv` (the default here) or `json`.
pub async fn download(
    State(state): State<AppState>,
    op: Operator,
    Path((customer, month)): Path<(String, String)>,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    let visit = &op.visit;
    op.read(OpsArea::Money).or_page(visit)?;
    let format = StatementFormat::parse(query.format.as_deref().unwrap_or("csv"))
        .ok_or_else(|| Rejection::invalid("format", "format is json or csv"))
        .or_page(visit)?;
    let statement = state.platform.statement(&customer, &month).await.or_page(visit)?;
    let bytes = statement.render(format).or_page(visit)?;
    let (content_type, ext) = match format {
        StatementFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        StatementFormat::Json => ("application/json", "json"),
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Customer ids are base32 and months digits: nothing to quote.
    let disposition = format!("attachment; filename=\"statement-{}-{}.{ext}\"", statement.customer_id, statement.month);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
