//! The audit trail (admin only): every operator action with its actor, target, reason and
//! the record before and after, newest first, a page at a time — `GET /admin/v1/audit`,
//! whose only filters are the page's start (`before`) and size (`limit`).

use askama::Template;
use axum::extract::{Query, State};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::Rejection;
use tongdao_domain::console::OpsArea;
use tongdao_domain::msisdn::mask;
use tongdao_store::AuditRecord;

use crate::page::{self, Chrome, OrPage, PageResult};
use crate::web::Operator;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    before: Option<String>,
    limit: Option<String>,
}

pub(crate) struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A JSON snapshot, indented for reading.
fn pretty(snapshot: Option<&str>) -> Option<String> {
    let text = snapshot?;
    Some(
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| text.to_owned()),
    )
}

fn audit_row(r: AuditRecord) -> AuditRow {
    let e = r.entry;
    // Phone numbers stay masked, as the API shows them.
    let target = if e.action.starts_with("blocklist.") || e.action.starts_with("suppression.") {
        mask(&e.target)
    } else {
        e.target
    };
    AuditRow {
        id: r.id,
        at: page::when(e.at),
        actor: e.actor,
        action: e.action,
        target,
        reason: e.reason.unwrap_or_default(),
        before: pretty(e.before.as_deref()),
        after: pretty(e.after.as_deref()),
    }
}

#[derive(Template)]
#[template(path = "ops/audit.html")]
struct AuditPage {
    c: Chrome,
    rows: Vec<AuditRow>,
    limit: u32,
    next: Option<i64>,
    /// Whether this is a later page (a link back to the newest shows).
    paged: bool,
}

pub async fn page(State(state): State<AppState>, op: Operator, Query(query): Query<AuditQuery>) -> PageResult {
    let visit = &op.visit;
    op.read(OpsArea::Audit).or_page(visit)?;
    let before = match query.before.as_deref().filter(|b| !b.is_empty()) {
        Some(b) => Some(
            b.parse::<i64>()
                .map_err(|_| Rejection::invalid("before", "before is the id of an entry"))
                .or_page(visit)?,
        ),
        None => None,
    };
    let limit = match query.limit.as_deref().filter(|l| !l.is_empty()) {
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| Rejection::invalid("limit", format!("limit must be 1-{MAX_PAGE}")))
            .or_page(visit)?,
        None => DEFAULT_PAGE,
    };
    let records = state.platform.audit_trail(before, limit).await.or_page(visit)?;
    let next = (records.len() == limit as usize).then(|| records.last().map(|r| r.id)).flatten();
    let page = AuditPage {
        c: op.chrome("Audit trail"),
        rows: records.into_iter().map(audit_row).collect(),
        limit,
        next,
        paged: before.is_some(),
    };
    Ok(page::render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_indented_and_numbers_masked() {
        assert_eq!(pretty(Some(r#"{"a":1}"#)).as_deref(), Some("{\n  \"a\": 1\n}"));
        assert_eq!(pretty(Some("not json")).as_deref(), Some("not json"));
        assert_eq!(pretty(None), None);
        let entry = tongdao_store::AuditEntry {
            at: 0,
            actor: "operator".into(),
            action: "blocklist.add".into(),
            target: "+8613800138000".into(),
            reason: None,
            before: None,
            after: None,
        };
        let row = audit_row(AuditRecord { id: 1, entry });
        assert_ne!(row.target, "+8613800138000");
    }
}
