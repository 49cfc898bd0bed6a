//! The send form (`/console/send`) and its live quote (`/console/send/quote`): the same
//! submission `POST /v1/messages` and `POST /v1/quote` build, through the same
//! `Platform::accept` and `Platform::quote`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_api::extract::ClientAddr;
use tongdao_domain::console::PortalArea;
use tongdao_domain::{MessageStatus, Rejection, Text};
use tongdao_pipeline::accept::TemplateUse;
use tongdao_pipeline::{Accepted, Quote, Submission};
use tongdao_store::{ReviewKind, ReviewStatus};

use super::problems_at;
use crate::forms::{form_time, optional};
use crate::i18n::Lang;
use crate::page::{self, Chrome, OrPage, PageResult, Problems};
use crate::web::Customer;

/// What the send form posts (its `csrf` field is the guard's).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SendForm {
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub text: String,
    pub sender: Option<String>,
    pub template_id: Option<String>,
    /// `name=value`, one a line.
    pub params: Option<String>,
    /// China time, from a `datetime-local` input.
    pub send_at: Option<String>,
    /// Made when the form is shown, so that a second click sends nothing more.
    pub idempotency_key: Option<String>,
}

impl SendForm {
    /// One a line, or separated by commas (also Chinese ones) or semicolons.
    fn recipients(&self) -> Vec<String> {
        self.to
            .split(['\n', '\r', ',', ';', '，', '；', '、'])
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn params(&self) -> Result<BTreeMap<String, String>, Rejection> {
        let mut params = BTreeMap::new();
        for line in self.params.as_deref().unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (name, value) =
                line.split_once('=').ok_or_else(|| Rejection::invalid("params", "write one name=value a line"))?;
            params.insert(name.trim().to_owned(), value.trim().to_owned());
        }
        Ok(params)
    }

    /// The submission the API would build from the same request, with its refusals.
    fn submission(&self) -> Result<Submission, Rejection> {
        let text = (!self.text.trim().is_empty()).then(|| self.text.clone());
        let (text, template) = match (text, optional(&self.template_id)) {
            (Some(text), None) => {
                if optional(&self.params).is_some() {
                    return Err(Rejection::invalid("params", "params go with a template"));
                }
                (text, None)
            }
            (None, Some(id)) => (String::new(), Some(TemplateUse { id, params: self.params()? })),
            (Some(_), Some(_)) => {
                return Err(Rejection::invalid("template_id", "send either a text or a template, not both"));
            }
            (None, None) => return Err(Rejection::invalid("text", "write a text, or choose a template")),
        };
        Ok(Submission {
            recipients: self.recipients(),
            text,
            sender: optional(&self.sender),
            callback_url: None,
            client_ref: None,
            send_at: optional(&self.send_at).map(|at| form_time("send_at", &at)).transpose()?,
            valid_until: None,
            partial: false,
            concat: None,
            receipt: Default::default(),
            template,
            source: None,
        })
    }
}

/// One recipient's line of a quote.
#[derive(Debug, Clone)]
pub struct QuoteLine {
    pub to: String,
    pub price: String,
}

/// The live quote: what the text costs, or why it would be refused.
#[derive(Debug, Clone, Default)]
pub struct QuoteView {
    /// Known as soon as there is a text (counted here) or a quote.
    pub segments: Option<u32>,
    pub encoding: String,
    /// Characters as the encoding counts them.
    pub units: usize,
    pub recipients: usize,
    pub lines: Vec<QuoteLine>,
    pub total: Option<String>,
    /// Screening would hold the text for review first.
    pub held: bool,
    /// Screening would refuse the text (sending it is then refused).
    pub refused_content: bool,
    pub problem: Option<String>,
}

impl QuoteView {
    /// The price per recipient when all pay the same.
    pub fn unit_price(&self) -> Option<&str> {
        let first = self.lines.first()?;
        self.lines.iter().all(|l| l.price == first.price).then_some(first.price.as_str())
    }
}

/// The text counted here, with no call: the count shows before any recipient is typed.
fn counted(text: &str) -> QuoteView {
    match Text::parse(text) {
        Ok(text) => QuoteView {
            segments: Some(text.segments()),
            encoding: text.encoding().as_str().to_owned(),
            units: text.units(),
            ..QuoteView::default()
        },
        Err(_) => QuoteView::default(),
    }
}

fn refusal_text(rejection: &Rejection, lang: Lang, recipients: &[String]) -> String {
    // A recipient's refusal names it by index (`to[3]`): show the number itself.
    let index = rejection
        .field
        .as_deref()
        .and_then(|f| f.strip_prefix("to["))
        .and_then(|f| f.strip_suffix(']'))
        .and_then(|i| i.parse::<usize>().ok());
    match index.and_then(|i| recipients.get(i)) {
        Some(number) => format!("{} — {number}: {}", lang.error(rejection.code), rejection.message),
        None => format!("{} — {}", lang.error(rejection.code), rejection.message),
    }
}

fn quoted(mut view: QuoteView, quote: &Quote) -> QuoteView {
    if let Some(first) = quote.messages.first() {
        view.segments = Some(first.segments);
        view.encoding = first.encoding.to_owned();
    }
    view.lines = quote.messages.iter().map(|m| QuoteLine { to: m.to.clone(), price: m.price.to_string() }).collect();
    view.total = Some(quote.total_price.to_string());
    view.held = quote.messages.iter().any(|m| m.status == MessageStatus::Held);
    view.refused_content = quote.messages.iter().any(|m| {
        m.screening.as_ref().and_then(|s| serde_json::to_value(s).ok()).is_some_and(|s| s["verdict"] == "reject")
    });
    view
}

/// The quote of what the form holds now; nothing to quote (no recipient, no text) is no
/// refusal yet.
async fn quote_of(state: &AppState, customer: &Customer, form: &SendForm) -> QuoteView {
    let lang = customer.visit.lang;
    let mut view = counted(&form.text);
    let recipients = form.recipients();
    view.recipients = recipients.len();
    if recipients.is_empty() || (form.text.trim().is_empty() && optional(&form.template_id).is_none()) {
        return view;
    }
    let submission = match form.submission() {
        Ok(s) => s,
        Err(rejection) => {
            view.problem = Some(refusal_text(&rejection, lang, &recipients));
            return view;
        }
    };
    match state.platform.quote(&customer.customer_id, &submission).await {
        Ok(quote) => quoted(view, &quote),
        Err(rejection) => {
            view.problem = Some(refusal_text(&rejection, lang, &recipients));
            view
        }
    }
}

#[derive(Template)]
#[template(path = "portal/send.html")]
struct SendPage {
    c: Chrome,
    may_send: bool,
    form: SendForm,
    key: String,
    /// Approved templates: id and name.
    templates: Vec<(String, String)>,
    signatures: Vec<String>,
    problems: Problems,
    quote: QuoteView,
}

#[derive(Template)]
#[template(path = "portal/send_quote.html")]
struct QuoteFragment {
    c: Chrome,
    quote: QuoteView,
}

async fn send_page(state: &AppState, customer: &Customer, form: SendForm, problems: Problems) -> PageResult {
    let visit = &customer.visit;
    let platform = &state.platform;
    let id = customer.customer_id.as_str();
    let approved = Some(ReviewStatus::Approved);
    let templates = platform.reviewed(ReviewKind::Template, Some(id), approved).await.or_page(visit)?;
    let signatures = platform.reviewed(ReviewKind::Signature, Some(id), approved).await.or_page(visit)?;
    let quote = quote_of(state, customer, &form).await;
    let key = optional(&form.idempotency_key).unwrap_or_else(|| tongdao_domain::id::new_id("snd"));
    let page = SendPage {
        c: customer.chrome("Send"),
        may_send: customer.write(PortalArea::Messaging).is_ok(),
        form,
        key,
        templates: templates.into_iter().map(|t| (t.id, t.name.unwrap_or_default())).collect(),
        signatures: signatures.into_iter().map(|s| format!("【{}】", s.text)).collect(),
        quote,
        problems: problems.clone(),
    };
    Ok(page::render_with(problems.status(), &page))
}

pub async fn page(State(state): State<AppState>, customer: Customer) -> PageResult {
    customer.read(PortalArea::Messaging).or_page(&customer.visit)?;
    send_page(&state, &customer, SendForm::default(), Problems::default()).await
}

/// The quote fragment; always 200, so that htmx swaps a refusal in too.
pub async fn quote(State(state): State<AppState>, customer: Customer, Form(form): Form<SendForm>) -> PageResult {
    customer.read(PortalArea::Messaging).or_page(&customer.visit)?;
    let quote = quote_of(&state, &customer, &form).await;
    Ok(page::render(&QuoteFragment { c: customer.chrome("Send"), quote }))
}

/// The ids of the messages an accept answer (fresh or replayed) lists.
fn accepted_ids(accepted: &Accepted) -> Vec<String> {
    let json = match accepted {
        Accepted::Fresh { json, .. } | Accepted::Replayed { json, .. } => json,
    };
    let answer: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    answer["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

pub async fn submit(
    State(state): State<AppState>,
    customer: Customer,
    ClientAddr(client): ClientAddr,
    Form(form): Form<SendForm>,
) -> PageResult {
    let visit = &customer.visit;
    customer.write(PortalArea::Messaging).or_page(visit)?;
    let key = optional(&form.idempotency_key);
    let accepted = match form.submission() {
        Ok(mut submission) => {
            submission.source = client.map(|addr| format!("http:{}", addr.ip()));
            state.platform.accept(&customer.customer_id, submission, key.as_deref()).await
        }
        Err(rejection) => Err(rejection),
    };
    match accepted {
        Ok(accepted) => {
            let ids = accepted_ids(&accepted);
            let to = match ids.as_slice() {
                [one] => format!("/console/messages/{one}?done=sent"),
                _ => "/console/messages?done=sent".to_owned(),
            };
            Ok(Redirect::to(&to).into_response())
        }
        Err(rejection) => {
            let mut problems = problems_at(&rejection, visit.lang, &[("Idempotency-Key", "idempotency_key")]);
            // A recipient's refusal names the number typed, not its index.
            if let Some(problem) = &mut problems.0 {
                problem.text = refusal_text(&rejection, visit.lang, &form.recipients());
            }
            send_page(&state, &customer, form, problems).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_and_params_are_read_as_typed() {
        let form = SendForm {
            to: "13800138000\n+8613900139000, 13700137000；\n\n".into(),
            params: Some("code = 1234\n\nname=Li".into()),
            ..SendForm::default()
        };
        assert_eq!(form.recipients(), ["13800138000", "+8613900139000", "13700137000"]);
        let params = form.params().expect("params");
        assert_eq!(params.get("code").map(String::as_str), Some("1234"));
        assert_eq!(params.len(), 2);
        assert_eq!(form.submission().map_err(|r| r.field), Err(Some("text".into())));
        let both = SendForm { text: "hi".into(), template_id: Some("tpl_x".into()), ..SendForm::default() };
        assert_eq!(both.submission().map_err(|r| r.field), Err(Some("template_id".into())));
        let bad = SendForm { template_id: Some("tpl_x".into()), params: Some("code".into()), ..SendForm::default() };
        assert_eq!(bad.submission().map_err(|r| r.field), Err(Some("params".into())));
    }

    #[test]
    fn the_text_is_counted_before_any_quote() {
        let view = counted("hello");
        assert_eq!((view.segments, view.encoding.as_str(), view.units), (Some(1), "gsm7", 5));
        assert_eq!(counted(&"中".repeat(71)).segments, Some(2));
        assert_eq!(counted("").segments, None);
    }
}
