//! Maintenance windows (clause 3.2): the list, scheduling with the agreed notice shown
//! (the largest `maintenance_notice_days` among the live agreements, as the pipeline checks
//! it) and the earliest start it allows, emergencies with their reason, and cancelling —
//! what `/admin/v1/maintenance` does. Times are typed and shown in China time (UTC+8).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::Rejection;
use tongdao_domain::console::OpsArea;
use tongdao_pipeline::lifecycle::{MaintenanceRequest, SERVICES};
use tongdao_pipeline::users::acting_as;
use tongdao_store::MaintenanceWindow;

use crate::forms::{Fields, form_time, local_value, optional};
use crate::i18n::Lang;
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Operator;

const DAY_MS: i64 = 86_400_000;
/// Windows that ended this many days ago still show.
const PAST_DAYS: u32 = 7;

#[derive(Debug, Default, Deserialize)]
pub struct MaintenanceQuery {
    done: Option<String>,
}

pub(crate) struct WindowRow {
    pub id: String,
    pub starts: String,
    pub ends: String,
    pub affects: String,
    pub description: String,
    pub emergency_reason: Option<String>,
    pub customers: usize,
    /// `planned`, `in_progress`, `over` or `cancelled`.
    pub state: &'static str,
    pub cancellable: bool,
    pub problem: Option<String>,
}

fn window_row(w: MaintenanceWindow, now: i64, failure: Option<&(String, Problems)>) -> WindowRow {
    let state = if w.cancelled_at.is_some() {
        "cancelled"
    } else if w.ends_at <= now {
        "over"
    } else if w.starts_at <= now {
        "in_progress"
    } else {
        "planned"
    };
    let affects = w.carriers.iter().chain(&w.services).cloned().collect::<Vec<_>>().join(", ");
    WindowRow {
        starts: page::when(w.starts_at),
        ends: page::when(w.ends_at),
        affects,
        description: w.description,
        emergency_reason: w.emergency_reason,
        customers: w.customers.len(),
        cancellable: matches!(state, "planned" | "in_progress"),
        problem: failure.filter(|(id, _)| *id == w.id).and_then(|(_, p)| p.banner().map(str::to_owned)),
        state,
        id: w.id,
    }
}

/// The schedule form as typed.
#[derive(Debug, Default)]
struct Typed {
    starts_at: String,
    ends_at: String,
    description: String,
    services: Vec<String>,
    carriers: Vec<String>,
    customers: String,
    emergency: bool,
    emergency_reason: String,
}

/// A checkbox of the form: its value and whether it is ticked.
pub(crate) struct Choice {
    pub value: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "ops/maintenance.html")]
struct MaintenancePage {
    c: Chrome,
    can_write: bool,
    done: Option<&'static str>,
    problems: Problems,
    windows: Vec<WindowRow>,
    notice_days: u32,
    earliest: String,
    typed: Typed,
    services: Vec<Choice>,
    carriers: Vec<Choice>,
}

/// The notice the customers were promised: the largest `maintenance_notice_days` among the
/// live (signed, not terminated) agreements of customers not terminated — what
/// scheduling for every customer must respect.
async fn notice_days(state: &AppState) -> Result<u32, Rejection> {
    let mut days = 0;
    for customer in state.platform.customers().await?.into_iter().filter(|c| c.terminated_at.is_none()) {
        for agreement in state.platform.agreements(&customer.id).await? {
            if agreement.signed_at.is_some() && agreement.terminated_at.is_none() {
                days = days.max(agreement.terms.maintenance_notice_days);
            }
        }
    }
    Ok(days)
}

fn done_text(lang: Lang, done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "scheduled" => lang.t("The window was scheduled and the affected customers were notified."),
        "cancelled" => lang.t("The window was cancelled and the customers were told."),
        _ => return None,
    })
}

async fn render(
    state: &AppState,
    op: &Operator,
    done: Option<&str>,
    problems: Problems,
    typed: Option<Typed>,
    failed_window: Option<(String, Problems)>,
) -> PageResult {
    let visit = &op.visit;
    let now = state.platform.now_ms();
    let windows = state.platform.maintenance_windows(PAST_DAYS, 200).await.or_page(visit)?;
    let days = notice_days(state).await.or_page(visit)?;
    let earliest = now + i64::from(days) * DAY_MS;
    // Not sent yet: a start the rule allows, and an hour of work, as the form's first values.
    let typed = typed.unwrap_or_else(|| Typed {
        starts_at: local_value(earliest),
        ends_at: local_value(earliest + 3_600_000),
        ..Typed::default()
    });
    let services = SERVICES
        .iter()
        .map(|s| Choice { value: (*s).to_owned(), checked: typed.services.iter().any(|t| t == s) })
        .collect();
    let carriers = state
        .platform
        .carriers()
        .into_iter()
        .map(|c| Choice { checked: typed.carriers.contains(&c.name), value: c.name })
        .collect();
    let page = MaintenancePage {
        c: op.chrome("Maintenance"),
        can_write: op.role.may_write(OpsArea::Lifecycle),
        done: if problems.0.is_none() { done_text(visit.lang, done) } else { None },
        windows: windows.into_iter().map(|w| window_row(w, now, failed_window.as_ref())).collect(),
        notice_days: days,
        earliest: page::when(earliest),
        typed,
        services,
        carriers,
        problems,
    };
    Ok(page::render_with(page.problems.status(), &page))
}

pub async fn page(State(state): State<AppState>, op: Operator, Query(query): Query<MaintenanceQuery>) -> PageResult {
    op.read(OpsArea::Lifecycle).or_page(&op.visit)?;
    render(&state, &op, query.done.as_deref(), Problems::default(), None, None).await
}

/// The request the form asks for, checked as the API checks its JSON.
fn request(typed: &Typed) -> Result<MaintenanceRequest, Rejection> {
    let starts_at = form_time("starts_at", &typed.starts_at)?;
    let ends_at = form_time("ends_at", &typed.ends_at)?;
    let reason = Some(typed.emergency_reason.clone()).filter(|r| !r.is_empty());
    let emergency_reason = match (typed.emergency, reason) {
        (true, None) => return Err(Rejection::invalid("emergency_reason", "an emergency needs its reason")),
        (false, Some(_)) => {
            return Err(Rejection::invalid("emergency", "a reason is given only for an emergency: tick it"));
        }
        (_, reason) => reason,
    };
    Ok(MaintenanceRequest {
        starts_at,
        ends_at,
        carriers: typed.carriers.clone(),
        services: typed.services.clone(),
        description: typed.description.clone(),
        customers: typed
            .customers
            // Names may hold spaces: only commas and line breaks separate them.
            .split([',', '\n'])
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        emergency_reason,
    })
}

pub async fn schedule(State(state): State<AppState>, op: Operator, body: Bytes) -> PageResult {
    op.write(OpsArea::Lifecycle).or_page(&op.visit)?;
    let fields = Fields::parse(&body);
    let typed = Typed {
        starts_at: fields.opt("starts_at").map(str::to_owned).unwrap_or_default(),
        ends_at: fields.opt("ends_at").map(str::to_owned).unwrap_or_default(),
        description: fields.opt("description").map(str::to_owned).unwrap_or_default(),
        services: fields.all("services"),
        carriers: fields.all("carriers"),
        customers: fields.opt("customers").map(str::to_owned).unwrap_or_default(),
        emergency: fields.opt("emergency").map(str::to_owned).is_some(),
        emergency_reason: fields.opt("emergency_reason").map(str::to_owned).unwrap_or_default(),
    };
    let result = match request(&typed) {
        Ok(request) => acting_as(&op.identity, state.platform.schedule_maintenance(request)).await,
        Err(rejection) => Err(rejection),
    };
    match result {
        Ok(_) => Ok(Redirect::to("/ops/maintenance?done=scheduled").into_response()),
        Err(rejection) => {
            let problems = Problems::of(&rejection, op.visit.lang);
            render(&state, &op, None, problems, Some(typed), None).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CancelForm {
    reason: Option<String>,
}

pub async fn cancel(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Form(form): Form<CancelForm>,
) -> PageResult {
    op.write(OpsArea::Lifecycle).or_page(&op.visit)?;
    match acting_as(&op.identity, state.platform.cancel_maintenance(&id, optional(&form.reason))).await {
        Ok(_) => Ok(Redirect::to("/ops/maintenance?done=cancelled").into_response()),
        Err(rejection) => {
            let problems = Problems::of(&rejection, op.visit.lang);
            render(&state, &op, None, problems.clone(), None, Some((id, problems))).await
        }
    }
}
