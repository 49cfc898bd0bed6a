//! `/ops/users` (admins only): the operator console's users — add one (its password is
//! generated and shown once), change a role, disable and enable.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use tongdao_api::AppState;
use tongdao_domain::console::{OperatorRole, OpsArea};
use tongdao_domain::{ErrorCode, Rejection};
use tongdao_pipeline::users::{ConsoleArea, UserUpdate};

use super::detail::{DoneQuery, NewSecret, UserRow};
use super::forms::{Fields, Shown, act};
use crate::page::{self, Chrome, OrPage, PageError, PageResult};
use crate::web::Operator;

#[derive(Template)]
#[template(path = "ops/users.html")]
struct UsersPage {
    c: Chrome,
    users: Vec<UserRow>,
    roles: [&'static str; 4],
    /// The signed-in admin's own id: no disable button on its own row.
    me: String,
    shown: Shown,
    done: Option<&'static str>,
    secret: Option<NewSecret>,
}

async fn render(
    state: &AppState,
    op: &Operator,
    shown: Shown,
    done: Option<&str>,
    secret: Option<NewSecret>,
) -> PageResult {
    let users = state
        .platform
        .console_users(ConsoleArea::Operator, None)
        .await
        .or_page(&op.visit)?
        .into_iter()
        .map(UserRow::from)
        .collect();
    let lang = op.visit.lang;
    let done = match done {
        Some("role") => Some(lang.t("The role was changed.")),
        Some("disable") => Some(lang.t("The user was disabled.")),
        Some("enable") => Some(lang.t("The user was enabled.")),
        _ => None,
    };
    let status = shown.problems.status();
    let page = UsersPage {
        c: op.chrome("Users"),
        users,
        roles: OperatorRole::ALL.map(OperatorRole::as_str),
        me: op.identity.user.id.clone(),
        shown,
        done,
        secret,
    };
    Ok(page::render_with(status, &page))
}

pub async fn page(State(state): State<AppState>, op: Operator, Query(query): Query<DoneQuery>) -> PageResult {
    op.read(OpsArea::Users).or_page(&op.visit)?;
    render(&state, &op, Shown::default(), query.done(), None).await
}

/// Adds an operator user and shows its generated password once.
pub async fn create(State(state): State<AppState>, op: Operator, Form(fields): Form<Fields>) -> PageResult {
    op.write(OpsArea::Users).or_page(&op.visit)?;
    let lang = op.visit.lang;
    let platform = &state.platform;
    let created = act(
        &op,
        platform.create_console_user(ConsoleArea::Operator, None, fields.get("email"), fields.get("role"), None),
    )
    .await;
    match created {
        Ok((user, password)) => {
            let what = lang.t("The new user's password. Copy it now: it is not shown again.");
            let secret = NewSecret { id: "new-password", what, of: user.email, secret: password.unwrap_or_default() };
            render(&state, &op, Shown::default(), None, Some(secret)).await
        }
        Err(rejection) => render(&state, &op, Shown::failed("add-user", &rejection, lang, fields), None, None).await,
    }
}

/// `role`, `disable` or `enable` of one operator user.
pub async fn change(
    State(state): State<AppState>,
    op: Operator,
    Path((id, action)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> PageResult {
    let visit = &op.visit;
    let (form, update) = match action.as_str() {
        "role" => ("role", UserUpdate { role: Some(fields.get("role").to_owned()), ..UserUpdate::default() }),
        "disable" => ("disable", UserUpdate { disabled: Some(true), ..UserUpdate::default() }),
        "enable" => ("enable", UserUpdate { disabled: Some(false), ..UserUpdate::default() }),
        _ => return Err(PageError(visit.clone(), Rejection::new(ErrorCode::NotFound, "there is no such page"))),
    };
    op.write(OpsArea::Users).or_page(visit)?;
    // Only operator users are changed here; a customer user's id is no page of this one.
    let users = state.platform.console_users(ConsoleArea::Operator, None).await.or_page(visit)?;
    if !users.iter().any(|u| u.id == id) {
        return Err(PageError(visit.clone(), Rejection::new(ErrorCode::NotFound, "no such operator user")));
    }
    let demoting_oneself = form == "role" && fields.get("role") != "admin";
    let refusal = if id == op.identity.user.id && (form == "disable" || demoting_oneself) {
        // Disabling or demoting oneself may leave the console with no admin at all.
        Some(Rejection::new(
            ErrorCode::Conflict,
            lang_t(&op, "You cannot disable or demote yourself; ask another admin."),
        ))
    } else {
        None
    };
    let changed = match refusal {
        Some(r) => Err(r),
        None => act(&op, state.platform.change_console_user(&id, update, None)).await,
    };
    match changed {
        Ok(_) => Ok(Redirect::to(&format!("/ops/users?done={form}")).into_response()),
        Err(rejection) => {
            let mut typed = fields;
            typed.0.push(("user".to_owned(), id));
            render(&state, &op, Shown::failed(form, &rejection, visit.lang, typed), None, None).await
        }
    }
}

fn lang_t(op: &Operator, text: &'static str) -> &'static str {
    op.visit.lang.t(text)
}
