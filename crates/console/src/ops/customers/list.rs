//! `/ops/customers`: every customer with its balance and agreement state, and the form that
//! adds one.

use askama::Template;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect};
use tongdao_api::AppState;
use tongdao_domain::Rejection;
use tongdao_domain::console::OpsArea;

use super::forms::{Fields, Shown, act};
use crate::page::{self, Chrome, OrPage, PageResult};
use crate::web::Operator;

#[derive(Debug, Clone)]
pub struct CustomerRow {
    pub id: String,
    pub name: String,
    pub contact: String,
    pub balance: String,
    /// The latest agreement version's state, `none` without one.
    pub state: &'static str,
    pub terminated: bool,
}

#[derive(Template)]
#[template(path = "ops/customers.html")]
struct CustomersPage {
    c: Chrome,
    customers: Vec<CustomerRow>,
    may_create: bool,
    shown: Shown,
}

async fn render(state: &AppState, op: &Operator, shown: Shown) -> PageResult {
    let platform = &state.platform;
    let now = platform.now_ms();
    let mut customers = Vec::new();
    for customer in platform.customers().await.or_page(&op.visit)? {
        let agreements = platform.agreements(&customer.id).await.or_page(&op.visit)?;
        customers.push(CustomerRow {
            state: agreements.last().map_or("none", |a| a.state(now).as_str()),
            terminated: customer.terminated_at.is_some(),
            balance: customer.balance.to_string(),
            id: customer.id,
            name: customer.name,
            contact: customer.contact,
        });
    }
    let status = shown.problems.status();
    let page = CustomersPage {
        c: op.chrome("Customers"),
        customers,
        may_create: op.role.may_write(OpsArea::Customers),
        shown,
    };
    Ok(page::render_with(status, &page))
}

pub async fn page(State(state): State<AppState>, op: Operator) -> PageResult {
    op.read(OpsArea::Customers).or_page(&op.visit)?;
    render(&state, &op, Shown::default()).await
}

/// Adds a customer and goes to its page.
pub async fn create(State(state): State<AppState>, op: Operator, Form(fields): Form<Fields>) -> PageResult {
    op.write(OpsArea::Customers).or_page(&op.visit)?;
    let created = act(
        &op,
        state.platform.create_customer(fields.get("name").trim(), fields.get("address"), fields.get("contact")),
    )
    .await;
    match created {
        Ok(customer) => Ok(Redirect::to(&format!("/ops/customers/{}?done=created", customer.id)).into_response()),
        Err(rejection) => render(&state, &op, failed(&rejection, &op, fields)).await,
    }
}

fn failed(rejection: &Rejection, op: &Operator, fields: Fields) -> Shown {
    Shown::failed("create", rejection, op.visit.lang, fields)
}
