//! Signatures and templates (`/console/templates`): the customer's own, with their review
//! status, submitted for review and deleted as `/v1/signatures` and `/v1/templates` do.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::console::PortalArea;
use tongdao_store::{ReviewKind, Reviewed};

use super::problems_at;
use crate::forms::optional;
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Customer;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SignatureForm {
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TemplateForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReviewedRow {
    pub id: String,
    pub name: String,
    pub text: String,
    pub status: &'static str,
    pub reason: String,
    pub created: String,
}

impl From<Reviewed> for ReviewedRow {
    fn from(r: Reviewed) -> Self {
        ReviewedRow {
            status: r.status.as_str(),
            name: r.name.unwrap_or_default(),
            reason: r.reason.unwrap_or_default(),
            created: page::when(r.created_at),
            id: r.id,
            text: r.text,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Forms {
    signature: SignatureForm,
    signature_problems: Problems,
    template: TemplateForm,
    template_problems: Problems,
}

#[derive(Template)]
#[template(path = "portal/templates.html")]
struct TemplatesPage {
    c: Chrome,
    may_write: bool,
    done: Option<String>,
    signatures: Vec<ReviewedRow>,
    templates: Vec<ReviewedRow>,
    signature: SignatureForm,
    signature_problems: Problems,
    template: TemplateForm,
    template_problems: Problems,
}

async fn templates_page(state: &AppState, customer: &Customer, done: Option<String>, forms: Forms) -> PageResult {
    let visit = &customer.visit;
    let id = Some(customer.customer_id.as_str());
    let signatures = state.platform.reviewed(ReviewKind::Signature, id, None).await.or_page(visit)?;
    let templates = state.platform.reviewed(ReviewKind::Template, id, None).await.or_page(visit)?;
    let status = [&forms.signature_problems, &forms.template_problems]
        .iter()
        .map(|p| p.status())
        .find(|s| !s.is_success())
        .unwrap_or_default();
    let page = TemplatesPage {
        c: customer.chrome("Signatures and templates"),
        may_write: customer.write(PortalArea::Messaging).is_ok(),
        done,
        signatures: signatures.into_iter().map(ReviewedRow::from).collect(),
        templates: templates.into_iter().map(ReviewedRow::from).collect(),
        signature: forms.signature,
        signature_problems: forms.signature_problems,
        template: forms.template,
        template_problems: forms.template_problems,
    };
    Ok(page::render_with(status, &page))
}

pub async fn page(State(state): State<AppState>, customer: Customer, Query(query): Query<DoneQuery>) -> PageResult {
    customer.read(PortalArea::Messaging).or_page(&customer.visit)?;
    templates_page(&state, &customer, optional(&query.done), Forms::default()).await
}

pub async fn submit_signature(
    State(state): State<AppState>,
    customer: Customer,
    Form(form): Form<SignatureForm>,
) -> PageResult {
    let visit = &customer.visit;
    customer.write(PortalArea::Messaging).or_page(visit)?;
    match state.platform.submit_signature(&customer.customer_id, &form.text).await {
        Ok(_) => Ok(Redirect::to("/console/templates?done=signature").into_response()),
        Err(rejection) => {
            let forms = Forms {
                signature_problems: problems_at(&rejection, visit.lang, &[]),
                signature: form,
                ..Forms::default()
            };
            templates_page(&state, &customer, None, forms).await
        }
    }
}

pub async fn submit_template(
    State(state): State<AppState>,
    customer: Customer,
    Form(form): Form<TemplateForm>,
) -> PageResult {
    let visit = &customer.visit;
    customer.write(PortalArea::Messaging).or_page(visit)?;
    match state.platform.submit_template(&customer.customer_id, &form.name, &form.text).await {
        Ok(_) => Ok(Redirect::to("/console/templates?done=template").into_response()),
        Err(rejection) => {
            let forms = Forms {
                template_problems: problems_at(&rejection, visit.lang, &[]),
                template: form,
                ..Forms::default()
            };
            templates_page(&state, &customer, None, forms).await
        }
    }
}

async fn delete(state: &AppState, customer: &Customer, kind: ReviewKind, id: &str) -> PageResult {
    let visit = &customer.visit;
    customer.write(PortalArea::Messaging).or_page(visit)?;
    state.platform.delete_reviewed(kind, &customer.customer_id, id).await.or_page(visit)?;
    Ok(Redirect::to("/console/templates?done=deleted").into_response())
}

pub async fn delete_signature(State(state): State<AppState>, customer: Customer, Path(id): Path<String>) -> PageResult {
    delete(&state, &customer, ReviewKind::Signature, &id).await
}

pub async fn delete_template(State(state): State<AppState>, customer: Customer, Path(id): Path<String>) -> PageResult {
    delete(&state, &customer, ReviewKind::Template, &id).await
}
