//! Breach notices (clause 6): the list, issuing a notice with its facts, and then curing
//! the breach or, once the cure period is over, terminating — what `/admin/v1/breaches`
//! does. Terminating before the deadline is refused (`cure_period_running`) and shown on
//! the breach.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::console::OpsArea;
use tongdao_pipeline::users::acting_as;
use tongdao_store::Breach;

use crate::i18n::Lang;
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Operator;

#[derive(Debug, Default, Deserialize)]
pub struct BreachQuery {
    done: Option<String>,
}

pub(crate) struct BreachRow {
    pub id: String,
    pub customer_id: String,
    pub clause: String,
    pub facts: String,
    /// `open`, `cured` or `terminated`.
    pub status: &'static str,
    pub noticed: String,
    pub deadline: String,
    /// The cure period is over (termination is possible).
    pub deadline_passed: bool,
    pub cured: Option<String>,
    pub cure_note: String,
    pub terminated: Option<String>,
    pub note: String,
    pub problem: Option<String>,
}

/// A refused cure or termination: which breach, why, and the note typed.
struct RowFailure {
    id: String,
    problems: Problems,
    note: String,
}

fn breach_row(b: Breach, now: i64, failure: Option<&RowFailure>) -> BreachRow {
    let status = b.status();
    let failed = failure.filter(|f| f.id == b.id);
    BreachRow {
        customer_id: b.customer_id,
        clause: b.clause,
        facts: b.facts,
        status,
        noticed: page::when(b.noticed_at),
        deadline: page::when(b.cure_deadline),
        deadline_passed: now >= b.cure_deadline,
        cured: b.cured_at.map(page::when),
        cure_note: b.cure_note.unwrap_or_default(),
        terminated: b.terminated_at.map(page::when),
        note: failed.map(|f| f.note.clone()).unwrap_or_default(),
        problem: failed.and_then(|f| f.problems.banner().map(str::to_owned)),
        id: b.id,
    }
}

/// The issue form as typed.
#[derive(Debug, Default)]
struct Typed {
    customer: String,
    clause: String,
    facts: String,
}

pub(crate) struct CustomerChoice {
    pub id: String,
    pub name: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "ops/breaches.html")]
struct BreachesPage {
    c: Chrome,
    can_write: bool,
    done: Option<&'static str>,
    problems: Problems,
    /// The issue form's refusal (the rows carry their own).
    issue: Problems,
    rows: Vec<BreachRow>,
    customers: Vec<CustomerChoice>,
    typed: Typed,
}

fn done_text(lang: Lang, done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "issued" => lang.t("The breach notice was sent to the customer."),
        "cured" => lang.t("The breach is closed as cured; the customer was told."),
        "terminated" => lang.t("The agreement is terminated; the customer was told."),
        _ => return None,
    })
}

async fn render(
    state: &AppState,
    op: &Operator,
    done: Option<&str>,
    issue: Problems,
    typed: Typed,
    failure: Option<RowFailure>,
) -> PageResult {
    let visit = &op.visit;
    let now = state.platform.now_ms();
    let breaches = state.platform.breaches(None, 200).await.or_page(visit)?;
    let customers = state.platform.customers().await.or_page(visit)?;
    let problems = failure.as_ref().map(|f| f.problems.clone()).unwrap_or_else(|| issue.clone());
    let page = BreachesPage {
        c: op.chrome("Breaches"),
        can_write: op.role.may_write(OpsArea::Lifecycle),
        done: if problems.0.is_none() { done_text(visit.lang, done) } else { None },
        rows: breaches.into_iter().map(|b| breach_row(b, now, failure.as_ref())).collect(),
        customers: customers
            .into_iter()
            .filter(|c| c.terminated_at.is_none())
            .map(|c| CustomerChoice { selected: c.id == typed.customer, id: c.id, name: c.name })
            .collect(),
        typed,
        issue,
        problems,
    };
    Ok(page::render_with(page.problems.status(), &page))
}

pub async fn page(State(state): State<AppState>, op: Operator, Query(query): Query<BreachQuery>) -> PageResult {
    op.read(OpsArea::Lifecycle).or_page(&op.visit)?;
    render(&state, &op, query.done.as_deref(), Problems::default(), Typed::default(), None).await
}

#[derive(Debug, Deserialize)]
pub struct IssueForm {
    customer: Option<String>,
    clause: Option<String>,
    facts: Option<String>,
}

pub async fn issue(State(state): State<AppState>, op: Operator, Form(form): Form<IssueForm>) -> PageResult {
    op.write(OpsArea::Lifecycle).or_page(&op.visit)?;
    let typed = Typed {
        customer: form.customer.unwrap_or_default().trim().to_owned(),
        clause: form.clause.unwrap_or_default(),
        facts: form.facts.unwrap_or_default(),
    };
    let result = if typed.customer.is_empty() {
        Err(tongdao_domain::Rejection::invalid("customer", "choose the customer"))
    } else {
        acting_as(&op.identity, state.platform.issue_breach(&typed.customer, &typed.clause, &typed.facts)).await
    };
    match result {
        Ok(_) => Ok(Redirect::to("/ops/breaches?done=issued").into_response()),
        Err(rejection) => {
            let issue = Problems::of(&rejection, op.visit.lang);
            render(&state, &op, None, issue, typed, None).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CureForm {
    note: Option<String>,
}

pub async fn cure(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Form(form): Form<CureForm>,
) -> PageResult {
    op.write(OpsArea::Lifecycle).or_page(&op.visit)?;
    let note = form.note.unwrap_or_default();
    match acting_as(&op.identity, state.platform.cure_breach(&id, &note)).await {
        Ok(_) => Ok(Redirect::to("/ops/breaches?done=cured").into_response()),
        Err(rejection) => {
            let failure = RowFailure { id, problems: Problems::of(&rejection, op.visit.lang), note };
            render(&state, &op, None, Problems::default(), Typed::default(), Some(failure)).await
        }
    }
}

pub async fn terminate(State(state): State<AppState>, op: Operator, Path(id): Path<String>) -> PageResult {
    op.write(OpsArea::Lifecycle).or_page(&op.visit)?;
    match acting_as(&op.identity, state.platform.terminate_for_breach(&id)).await {
        Ok(_) => Ok(Redirect::to("/ops/breaches?done=terminated").into_response()),
        Err(rejection) => {
            let failure = RowFailure { id, problems: Problems::of(&rejection, op.visit.lang), note: String::new() };
            render(&state, &op, None, Problems::default(), Typed::default(), Some(failure)).await
        }
    }
}
