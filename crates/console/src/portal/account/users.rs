//! The customer's console users (customer admins only): the list, adding one (a password is
//! generated and shown once), changing a role, disabling and enabling. Every call is limited
//! to the session's customer; the audit trail names the admin who acted.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::console::{CustomerRole, PortalArea};
use tongdao_domain::{ErrorCode, Rejection};
use tongdao_pipeline::users::{ConsoleArea, ConsoleUser, UserUpdate, acting_as};

use super::Done;
use crate::forms::optional;
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Customer;

#[derive(Template)]
#[template(path = "portal/users.html")]
struct UsersPage {
    c: Chrome,
    me: String,
    users: Vec<ConsoleUser>,
    roles: [CustomerRole; 3],
    done: Option<&'static str>,
    /// A new user's e-mail and generated password, shown on this answer only.
    created: Option<(String, String)>,
    email: String,
    role: String,
    problems: Problems,
}

#[derive(Default)]
struct Outcome {
    done: Option<&'static str>,
    created: Option<(String, String)>,
    typed: Option<(String, String)>,
    problems: Problems,
}

fn done_text(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "role" => Some("The role was changed."),
        "disabled" => Some("The user was disabled and signed out."),
        "enabled" => Some("The user was enabled."),
        _ => None,
    }
}

async fn render(state: &AppState, customer: &Customer, outcome: Outcome) -> PageResult {
    let visit = &customer.visit;
    let users =
        state.platform.console_users(ConsoleArea::Customer, Some(&customer.customer_id)).await.or_page(visit)?;
    let (email, role) = outcome.typed.unwrap_or_else(|| (String::new(), CustomerRole::Developer.as_str().to_owned()));
    let page = UsersPage {
        c: customer.chrome("Users"),
        me: customer.identity.user.id.clone(),
        users,
        roles: CustomerRole::ALL,
        done: outcome.done,
        created: outcome.created,
        email,
        role,
        problems: outcome.problems,
    };
    Ok(page::render_with(page.problems.status(), &page))
}

pub async fn list(State(state): State<AppState>, customer: Customer, Query(done): Query<Done>) -> PageResult {
    customer.read(PortalArea::Account).or_page(&customer.visit)?;
    render(&state, &customer, Outcome { done: done_text(done.done.as_deref()), ..Outcome::default() }).await
}

#[derive(Debug, Deserialize)]
pub struct NewUser {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// Adds a user with a generated password, shown on this answer only (no redirect).
pub async fn create(State(state): State<AppState>, customer: Customer, Form(form): Form<NewUser>) -> PageResult {
    customer.write(PortalArea::Account).or_page(&customer.visit)?;
    let platform = &state.platform;
    let created = acting_as(
        &customer.identity,
        platform.create_console_user(ConsoleArea::Customer, Some(&customer.customer_id), &form.email, &form.role, None),
    )
    .await;
    let outcome = match created {
        Ok((user, password)) => Outcome { created: password.map(|p| (user.email, p)), ..Outcome::default() },
        Err(rejection) => Outcome {
            typed: Some((form.email, form.role)),
            problems: Problems::of(&rejection, customer.visit.lang),
            ..Outcome::default()
        },
    };
    render(&state, &customer, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct Change {
    role: Option<String>,
    /// `true` disables, `false` enables.
    disabled: Option<String>,
}

fn update(form: Change) -> Result<UserUpdate, Rejection> {
    let disabled = match optional(&form.disabled).as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(Rejection::invalid("disabled", "disabled is true or false")),
    };
    Ok(UserUpdate { role: optional(&form.role), password: None, disabled })
}

/// An admin changing its own role or disabling itself could leave the account with no
/// admin, and nobody on the customer's side to undo it.
fn keeps_an_admin(customer: &Customer, id: &str, update: &UserUpdate) -> Result<(), Rejection> {
    let demotes = update.role.as_deref().is_some_and(|r| r != CustomerRole::Admin.as_str());
    if id == customer.identity.user.id && (demotes || update.disabled == Some(true)) {
        let field = if demotes { "role" } else { "disabled" };
        return Err(Rejection::field(
            ErrorCode::Conflict,
            field,
            "you cannot demote or disable yourself; another admin can",
        ));
    }
    Ok(())
}

pub async fn change(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
    Form(form): Form<Change>,
) -> PageResult {
    customer.write(PortalArea::Account).or_page(&customer.visit)?;
    let result = match update(form) {
        Ok(update) => match keeps_an_admin(&customer, &id, &update) {
            Ok(()) => {
                let done = match update.disabled {
                    Some(true) => "disabled",
                    Some(false) => "enabled",
                    None => "role",
                };
                let changed = state.platform.change_console_user(&id, update, Some(&customer.customer_id));
                acting_as(&customer.identity, changed).await.map(|_| done)
            }
            Err(rejection) => Err(rejection),
        },
        Err(rejection) => Err(rejection),
    };
    match result {
        Ok(done) => Ok(Redirect::to(&format!("/console/users?done={done}")).into_response()),
        // Another customer's user (or none): a page of its own, 404.
        Err(rejection) if rejection.code == ErrorCode::NotFound => {
            Err(page::PageError(customer.visit.clone(), rejection))
        }
        // Shown in the banner only: the fields on the page under those names are the new user's.
        Err(rejection) => {
            let problems = Problems::of(&Rejection { field: None, ..rejection }, customer.visit.lang);
            render(&state, &customer, Outcome { problems, ..Outcome::default() }).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_its_fields() {
        let u = update(Change { role: Some("viewer".into()), disabled: Some(String::new()) }).expect("update");
        assert_eq!((u.role.as_deref(), u.disabled), (Some("viewer"), None));
        let u = update(Change { role: None, disabled: Some("true".into()) }).expect("update");
        assert_eq!(u.disabled, Some(true));
        assert!(update(Change { role: None, disabled: Some("maybe".into()) }).is_err());
    }
}
