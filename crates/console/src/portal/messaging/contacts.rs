//! Contacts (`/console/contacts`): the directory that bounds whom a customer may send to
//! (clause 2.2), with a search, one contact added or deleted, a pasted CSV imported and the
//! whole directory exported as `/v1/contacts/import` and `/v1/contacts/export` do; and the
//! customer's opt-outs (suppressions), added and removed as `/v1/suppressions` does.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::Rejection;
use tongdao_domain::console::PortalArea;
use tongdao_pipeline::compliance::{ContactInput, ImportReport};
use tongdao_store::{Contact, ContactKind, Suppression, SuppressionSource};

use super::problems_at;
use crate::forms::optional;
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Customer;

/// Contacts and suppressions on one page.
const PAGE: u32 = 100;
/// How far a search reads: pages of the directory, in number order.
const SEARCH_PAGES: usize = 20;
const SEARCH_PAGE: u32 = 1000;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContactsQuery {
    /// Part of a number, a name or a tag.
    pub q: Option<String>,
    /// The last number of the previous page of contacts.
    pub after: Option<String>,
    /// The last number of the previous page of suppressions.
    pub sup_after: Option<String>,
    pub done: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    pub number: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    /// Separated by commas or semicolons.
    #[serde(default)]
    pub tags: String,
}

impl ContactForm {
    fn input(&self) -> Result<ContactInput, Rejection> {
        let kind = ContactKind::parse(self.kind.trim())
            .ok_or_else(|| Rejection::invalid("kind", "kind must be staff or customer"))?;
        let tags = self.tags.split([',', ';', '，', '；']).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
        Ok(ContactInput { number: self.number.clone(), name: self.name.clone(), kind, tags: tags.collect() })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    pub csv: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SuppressForm {
    #[serde(default)]
    pub number: String,
    pub reason: Option<String>,
}

/// A number as a path segment (`+` kept as `%2B`).
fn in_path(number: &str) -> String {
    url::form_urlencoded::byte_serialize(number.as_bytes()).collect()
}

#[derive(Debug, Clone)]
pub struct ContactRow {
    pub number: String,
    pub path: String,
    pub name: String,
    pub kind: &'static str,
    pub tags: String,
    pub updated: String,
}

impl From<Contact> for ContactRow {
    fn from(c: Contact) -> Self {
        ContactRow {
            path: in_path(&c.number),
            kind: c.kind.as_str(),
            tags: c.tags.join(", "),
            updated: page::when(c.updated_at),
            number: c.number,
            name: c.name,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SuppressionRow {
    pub number: String,
    pub path: String,
    pub source: &'static str,
    pub reason: String,
    pub created: String,
}

impl From<Suppression> for SuppressionRow {
    fn from(s: Suppression) -> Self {
        SuppressionRow {
            path: in_path(&s.number),
            source: s.source.as_str(),
            reason: s.reason,
            created: page::when(s.created_at),
            number: s.number,
        }
    }
}

/// What the page shows besides the lists: the forms as typed and their refusals.
#[derive(Debug, Clone, Default)]
struct Forms {
    add: ContactForm,
    add_problems: Problems,
    csv: String,
    import_problems: Problems,
    report: Option<ImportReport>,
    suppress: SuppressForm,
    suppress_problems: Problems,
}

#[derive(Template)]
#[template(path = "portal/contacts.html")]
struct ContactsPage {
    c: Chrome,
    may_write: bool,
    query: ContactsQuery,
    contacts: Vec<ContactRow>,
    next: Option<String>,
    suppressions: Vec<SuppressionRow>,
    sup_next: Option<String>,
    add: ContactForm,
    add_problems: Problems,
    csv: String,
    import_problems: Problems,
    report: Option<ImportReport>,
    suppress: SuppressForm,
    suppress_problems: Problems,
}

fn found_by(contact: &Contact, q: &str) -> bool {
    let q = q.to_lowercase();
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty() && digits.len() == q.trim_start_matches('+').len() && contact.number.contains(&digits))
        || contact.name.to_lowercase().contains(&q)
        || contact.tags.iter().any(|t| t.to_lowercase() == q)
}

/// The contacts the search finds, reading the directory in pages (a bounded read).
async fn search(state: &AppState, customer: &str, q: &str) -> Result<Vec<Contact>, Rejection> {
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..SEARCH_PAGES {
        let page = state.platform.contacts(customer, after.as_deref(), SEARCH_PAGE).await?;
        let full = page.len() == SEARCH_PAGE as usize;
        after = page.last().map(|c| c.number.clone());
        found.extend(page.into_iter().filter(|c| found_by(c, q)));
        if !full || found.len() >= PAGE as usize {
            break;
        }
    }
    found.truncate(PAGE as usize);
    Ok(found)
}

fn page_link(query: &ContactsQuery, name: &str, last: &str) -> String {
    let mut link = url::form_urlencoded::Serializer::new(String::new());
    if name == "after"
        && let Some(after) = optional(&query.sup_after)
    {
        link.append_pair("sup_after", &after);
    }
    if name == "sup_after"
        && let Some(after) = optional(&query.after)
    {
        link.append_pair("after", &after);
    }
    link.append_pair(name, last);
    format!("/console/contacts?{}", link.finish())
}

async fn contacts_page(state: &AppState, customer: &Customer, query: ContactsQuery, forms: Forms) -> PageResult {
    let visit = &customer.visit;
    let id = customer.customer_id.as_str();
    let platform = &state.platform;
    let (contacts, next) = match optional(&query.q) {
        Some(q) => (search(state, id, &q).await.or_page(visit)?, None),
        None => {
            let contacts = platform.contacts(id, optional(&query.after).as_deref(), PAGE).await.or_page(visit)?;
            let next = (contacts.len() == PAGE as usize)
                .then(|| contacts.last().map(|c| page_link(&query, "after", &c.number)))
                .flatten();
            (contacts, next)
        }
    };
    let suppressions = platform.suppressions(id, optional(&query.sup_after).as_deref(), PAGE).await.or_page(visit)?;
    let sup_next = (suppressions.len() == PAGE as usize)
        .then(|| suppressions.last().map(|s| page_link(&query, "sup_after", &s.number)))
        .flatten();
    let status = [&forms.add_problems, &forms.import_problems, &forms.suppress_problems]
        .iter()
        .map(|p| p.status())
        .find(|s| !s.is_success())
        .unwrap_or_default();
    let page = ContactsPage {
        c: customer.chrome("Contacts"),
        may_write: customer.write(PortalArea::Messaging).is_ok(),
        query,
        contacts: contacts.into_iter().map(ContactRow::from).collect(),
        next,
        suppressions: suppressions.into_iter().map(SuppressionRow::from).collect(),
        sup_next,
        add: forms.add,
        add_problems: forms.add_problems,
        csv: forms.csv,
        import_problems: forms.import_problems,
        report: forms.report,
        suppress: forms.suppress,
        suppress_problems: forms.suppress_problems,
    };
    Ok(page::render_with(status, &page))
}

pub async fn page(State(state): State<AppState>, customer: Customer, Query(query): Query<ContactsQuery>) -> PageResult {
    customer.read(PortalArea::Messaging).or_page(&customer.visit)?;
    contacts_page(&state, &customer, query, Forms::default()).await
}

pub async fn add(State(state): State<AppState>, customer: Customer, Form(form): Form<ContactForm>) -> PageResult {
    let visit = &customer.visit;
    customer.write(PortalArea::Messaging).or_page(visit)?;
    let added = match form.input() {
        Ok(input) => state.platform.put_contact(&customer.customer_id, input).await,
        Err(rejection) => Err(rejection),
    };
    match added {
        Ok(_) => Ok(Redirect::to("/console/contacts?done=added").into_response()),
        Err(rejection) => {
            let forms = Forms { add_problems: problems_at(&rejection, visit.lang, &[]), add: form, ..Forms::default() };
            contacts_page(&state, &customer, ContactsQuery::default(), forms).await
        }
    }
}

pub async fn delete(State(state): State<AppState>, customer: Customer, Path(number): Path<String>) -> PageResult {
    let visit = &customer.visit;
    customer.write(PortalArea::Messaging).or_page(visit)?;
    state.platform.delete_contact(&customer.customer_id, &number).await.or_page(visit)?;
    Ok(Redirect::to("/console/contacts?done=deleted").into_response())
}

/// The import's report is shown at once (its refused lines are not kept anywhere else).
pub async fn import(State(state): State<AppState>, customer: Customer, Form(form): Form<ImportForm>) -> PageResult {
    let visit = &customer.visit;
    customer.write(PortalArea::Messaging).or_page(visit)?;
    let forms = match state.platform.import_contacts(&customer.customer_id, form.csv.as_bytes()).await {
        Ok(report) => Forms { report: Some(report), ..Forms::default() },
        Err(rejection) => Forms {
            import_problems: problems_at(&rejection, visit.lang, &[("body", "csv")]),
            csv: form.csv,
            ..Forms::default()
        },
    };
    contacts_page(&state, &customer, ContactsQuery::default(), forms).await
}

pub async fn export(State(state): State<AppState>, customer: Customer) -> PageResult {
    let visit = &customer.visit;
    customer.read(PortalArea::Messaging).or_page(visit)?;
    let csv = state.platform.export_contacts(&customer.customer_id).await.or_page(visit)?;
    let mut response = csv.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"contacts.csv\""));
    Ok(response)
}

pub async fn suppress(State(state): State<AppState>, customer: Customer, Form(form): Form<SuppressForm>) -> PageResult {
    let visit = &customer.visit;
    customer.write(PortalArea::Messaging).or_page(visit)?;
    let reason = optional(&form.reason);
    match state.platform.suppress(&customer.customer_id, &form.number, SuppressionSource::Customer, reason).await {
        Ok(_) => Ok(Redirect::to("/console/contacts?done=suppressed#suppressions").into_response()),
        Err(rejection) => {
            let forms = Forms {
                suppress_problems: problems_at(&rejection, visit.lang, &[]),
                suppress: form,
                ..Forms::default()
            };
            contacts_page(&state, &customer, ContactsQuery::default(), forms).await
        }
    }
}

pub async fn unsuppress(State(state): State<AppState>, customer: Customer, Path(number): Path<String>) -> PageResult {
    let visit = &customer.visit;
    customer.write(PortalArea::Messaging).or_page(visit)?;
    state.platform.unsuppress(&customer.customer_id, &number).await.or_page(visit)?;
    Ok(Redirect::to("/console/contacts?done=unsuppressed#suppressions").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_finds_numbers_names_and_tags() {
        let contact = Contact {
            number: "+8613800138000".into(),
            name: "Li Lei".into(),
            kind: ContactKind::Customer,
            tags: vec!["VIP".into()],
            created_at: 0,
            updated_at: 0,
        };
        assert!(found_by(&contact, "138001"));
        assert!(found_by(&contact, "+86138"));
        assert!(found_by(&contact, "li lei"));
        assert!(found_by(&contact, "vip"));
        assert!(!found_by(&contact, "139"));
        assert!(!found_by(&contact, "Han"));
        assert_eq!(in_path("+8613800138000"), "%2B8613800138000");
        let form =
            ContactForm { number: "1".into(), kind: "staff".into(), tags: "a, b；c".into(), ..Default::default() };
        assert_eq!(form.input().map(|i| i.tags).ok(), Some(vec!["a".into(), "b".into(), "c".into()]));
        let bad = ContactForm { kind: "friend".into(), ..Default::default() };
        assert_eq!(bad.input().map_err(|r| r.field).err(), Some(Some("kind".into())));
    }
}
