//! Moderation (clauses 2.3, 3.4): the held messages with approve and delete, the violations
//! recorded against customers, and the signatures and templates waiting for review — the
//! operations of `/admin/v1/moderation/held`, `/admin/v1/violations`,
//! `/admin/v1/signatures` and `/admin/v1/templates`.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use tongdao_api::AppState;
use tongdao_domain::console::OpsArea;
use tongdao_domain::{ErrorCode, Rejection};
use tongdao_pipeline::users::acting_as;
use tongdao_store::{HeldMessage, ReviewKind, ReviewStatus, Reviewed, Violation};

use crate::forms::optional;
use crate::i18n::Lang;
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Operator;

const HELD_PAGE: u32 = 50;
const VIOLATIONS_PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ModerationQuery {
    after: Option<String>,
    before: Option<String>,
    done: Option<String>,
}

/// A refused decision: on which row, why, and the reason typed.
struct Failure {
    id: String,
    problems: Problems,
    reason: String,
}

pub(crate) struct HeldRow {
    pub id: String,
    pub customer_id: String,
    pub to: String,
    pub text: String,
    pub created: String,
    pub screening: String,
    pub reason: String,
    pub problem: Option<String>,
}

pub(crate) struct ViolationRow {
    pub id: i64,
    pub customer_id: String,
    pub at: String,
    pub category: String,
    pub kind: &'static str,
    pub message_id: String,
    pub text: String,
}

pub(crate) struct ReviewRow {
    /// `signatures` or `templates`: the path segment of its forms.
    pub kind: &'static str,
    pub id: String,
    pub customer_id: String,
    pub name: String,
    pub text: String,
    pub created: String,
    pub reason: String,
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "ops/moderation.html")]
struct ModerationPage {
    c: Chrome,
    can_write: bool,
    done: Option<&'static str>,
    problems: Problems,
    held: Vec<HeldRow>,
    held_next: Option<String>,
    violations: Vec<ViolationRow>,
    violations_next: Option<i64>,
    reviews: Vec<ReviewSection>,
}

/// Signatures or templates waiting, under their heading.
pub(crate) struct ReviewSection {
    pub title: &'static str,
    /// The section's element id.
    pub section: &'static str,
    pub rows: Vec<ReviewRow>,
}

/// What the screening found, in one line: the verdict, the category and the terms.
fn screening_summary(screening: Option<&str>) -> String {
    let Some(value) = screening.and_then(|s| serde_json::from_str::<Value>(s).ok()) else { return String::new() };
    let mut out = value["verdict"].as_str().unwrap_or("").to_owned();
    if let Some(category) = value["category"].as_str() {
        out.push_str(" · ");
        out.push_str(category);
    }
    let terms: Vec<&str> =
        value["findings"].as_array().into_iter().flatten().filter_map(|f| f["term"].as_str()).collect();
    if !terms.is_empty() {
        out.push_str(": ");
        out.push_str(&terms.join(", "));
    }
    out
}

fn done_text(lang: Lang, done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "approved" => lang.t("The message was approved and goes to the queue."),
        "deleted" => lang.t("The message was deleted and refunded; a violation was recorded."),
        "review-approved" => lang.t("Approved: the customer may use it now."),
        "review-rejected" => lang.t("Rejected: the customer sees the reason."),
        _ => return None,
    })
}

fn held_row(h: HeldMessage, failure: Option<&Failure>) -> HeldRow {
    let m = h.message;
    let failed = failure.filter(|f| f.id == m.id);
    HeldRow {
        customer_id: m.customer_id,
        to: m.recipient,
        text: m.text,
        created: page::when(m.created_at),
        screening: screening_summary(h.screening.as_deref()),
        reason: failed.map(|f| f.reason.clone()).unwrap_or_default(),
        problem: failed.and_then(|f| f.problems.at("reason").or(f.problems.banner()).map(str::to_owned)),
        id: m.id,
    }
}

fn violation_row(v: Violation) -> ViolationRow {
    let n = v.violation;
    ViolationRow {
        id: v.id,
        customer_id: n.customer_id,
        at: page::when(n.at),
        category: n.category,
        kind: n.kind.as_str(),
        message_id: n.message_id.unwrap_or_default(),
        text: n.text,
    }
}

fn review_row(kind: &'static str, r: Reviewed, failure: Option<&Failure>) -> ReviewRow {
    let failed = failure.filter(|f| f.id == r.id);
    ReviewRow {
        kind,
        customer_id: r.customer_id,
        name: r.name.unwrap_or_default(),
        text: r.text,
        created: page::when(r.created_at),
        reason: failed.map(|f| f.reason.clone()).unwrap_or_default(),
        problem: failed.and_then(|f| f.problems.at("reason").or(f.problems.banner()).map(str::to_owned)),
        id: r.id,
    }
}

async fn render(state: &AppState, op: &Operator, query: &ModerationQuery, failure: Option<Failure>) -> PageResult {
    let visit = &op.visit;
    let platform = &state.platform;
    let after = query.after.as_deref().filter(|a| !a.is_empty());
    let held = platform.held_messages(after, HELD_PAGE).await.or_page(visit)?;
    let held_next = (held.len() == HELD_PAGE as usize).then(|| held.last().map(|h| h.message.id.clone())).flatten();
    let before = match query.before.as_deref().filter(|b| !b.is_empty()) {
        Some(b) => Some(
            b.parse::<i64>()
                .map_err(|_| Rejection::invalid("before", "before is the id of an entry"))
                .or_page(visit)?,
        ),
        None => None,
    };
    let violations = platform.violations(None, before, VIOLATIONS_PAGE).await.or_page(visit)?;
    let violations_next =
        (violations.len() == VIOLATIONS_PAGE as usize).then(|| violations.last().map(|v| v.id)).flatten();
    let signatures =
        platform.reviewed(ReviewKind::Signature, None, Some(ReviewStatus::Pending)).await.or_page(visit)?;
    let templates = platform.reviewed(ReviewKind::Template, None, Some(ReviewStatus::Pending)).await.or_page(visit)?;
    let failure = failure.as_ref();
    let problems = failure.map(|f| f.problems.clone()).unwrap_or_default();
    let page = ModerationPage {
        c: op.chrome("Moderation"),
        can_write: op.role.may_write(OpsArea::Moderation),
        done: if failure.is_none() { done_text(visit.lang, query.done.as_deref()) } else { None },
        held: held.into_iter().map(|h| held_row(h, failure)).collect(),
        held_next,
        violations: violations.into_iter().map(violation_row).collect(),
        violations_next,
        reviews: vec![
            ReviewSection {
                title: visit.lang.t("Signatures waiting for review"),
                section: "pending-signatures",
                rows: signatures.into_iter().map(|r| review_row("signatures", r, failure)).collect(),
            },
            ReviewSection {
                title: visit.lang.t("Templates waiting for review"),
                section: "pending-templates",
                rows: templates.into_iter().map(|r| review_row("templates", r, failure)).collect(),
            },
        ],
        problems,
    };
    Ok(page::render_with(page.problems.status(), &page))
}

pub async fn page(State(state): State<AppState>, op: Operator, Query(query): Query<ModerationQuery>) -> PageResult {
    op.read(OpsArea::Moderation).or_page(&op.visit)?;
    render(&state, &op, &query, None).await
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    reason: Option<String>,
}

/// The page again after a decision: a redirect when it went through, else the page with
/// the refusal on the row it concerns.
async fn after_decision<T>(
    state: &AppState,
    op: &Operator,
    id: String,
    form: &DecisionForm,
    result: Result<T, Rejection>,
    done: &str,
) -> PageResult {
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/ops/moderation?done={done}")).into_response()),
        Err(rejection) => {
            let failure = Failure {
                id,
                problems: Problems::of(&rejection, op.visit.lang),
                reason: form.reason.clone().unwrap_or_default(),
            };
            render(state, op, &ModerationQuery::default(), Some(failure)).await
        }
    }
}

pub async fn approve(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    op.write(OpsArea::Moderation).or_page(&op.visit)?;
    let result = acting_as(&op.identity, state.platform.approve_message(&id, optional(&form.reason))).await;
    after_decision(&state, &op, id, &form, result, "approved").await
}

pub async fn delete(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    op.write(OpsArea::Moderation).or_page(&op.visit)?;
    let result = acting_as(&op.identity, state.platform.delete_message(&id, None, optional(&form.reason))).await;
    after_decision(&state, &op, id, &form, result, "deleted").await
}

fn review_kind(op: &Operator, kind: &str) -> Result<ReviewKind, Response> {
    match kind {
        "signatures" => Ok(ReviewKind::Signature),
        "templates" => Ok(ReviewKind::Template),
        _ => Err(page::error_page(&op.visit, &Rejection::new(ErrorCode::NotFound, "there is no such page"))),
    }
}

async fn decide_reviewed(
    state: &AppState,
    op: &Operator,
    kind: &str,
    id: String,
    approve: bool,
    form: DecisionForm,
) -> PageResult {
    op.write(OpsArea::Moderation).or_page(&op.visit)?;
    let kind = match review_kind(op, kind) {
        Ok(kind) => kind,
        Err(response) => return Ok(response),
    };
    let result = acting_as(&op.identity, state.platform.decide(kind, &id, approve, optional(&form.reason))).await;
    let done = if approve { "review-approved" } else { "review-rejected" };
    after_decision(state, op, id, &form, result, done).await
}

pub async fn approve_reviewed(
    State(state): State<AppState>,
    op: Operator,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    decide_reviewed(&state, &op, &kind, id, true, form).await
}

pub async fn reject_reviewed(
    State(state): State<AppState>,
    op: Operator,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    decide_reviewed(&state, &op, &kind, id, false, form).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_screening_reads_in_one_line() {
        let json = r#"{"verdict":"review","category":"fraud","findings":[{"term":"日结佣金"},{"kind":"x"}]}"#;
        assert_eq!(screening_summary(Some(json)), "review · fraud: 日结佣金");
        assert_eq!(screening_summary(None), "");
        assert_eq!(screening_summary(Some("not json")), "");
    }
}
