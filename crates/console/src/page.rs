//! The frame of every page ([`Chrome`]: language, menu, user, CSRF token), a refusal shown
//! on its form ([`Problems`]), and rendering.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use tongdao_domain::console::{OpsArea, PortalArea};
use tongdao_domain::{ErrorCode, Rejection};

use crate::i18n::Lang;
use crate::web::{Area, Customer, Operator, Visit};

/// One entry of the menu.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
    /// A count shown next to the label (unread notices, held messages), 0 for none.
    pub badge: usize,
}

/// What `base.html` needs of every page.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub lang: Lang,
    pub area: Area,
    /// In the reader's language.
    pub title: String,
    pub csrf: String,
    /// Empty when nobody is signed in.
    pub email: String,
    pub role: String,
    pub nav: Vec<NavItem>,
}

const OPS_NAV: &[(&str, &str, OpsArea)] = &[
    ("/ops/", "Dashboard", OpsArea::Overview),
    ("/ops/customers", "Customers", OpsArea::Customers),
    ("/ops/carriers", "Carriers", OpsArea::Overview),
    ("/ops/moderation", "Moderation", OpsArea::Moderation),
    ("/ops/tickets", "Tickets", OpsArea::Tickets),
    ("/ops/maintenance", "Maintenance", OpsArea::Lifecycle),
    ("/ops/breaches", "Breaches", OpsArea::Lifecycle),
    ("/ops/money", "Money", OpsArea::Money),
    ("/ops/audit", "Audit trail", OpsArea::Audit),
    ("/ops/users", "Users", OpsArea::Users),
];

const PORTAL_NAV: &[(&str, &str, PortalArea)] = &[
    ("/console/", "Dashboard", PortalArea::Overview),
    ("/console/send", "Send", PortalArea::Overview),
    ("/console/messages", "Messages", PortalArea::Overview),
    ("/console/contacts", "Contacts", PortalArea::Overview),
    ("/console/templates", "Signatures and templates", PortalArea::Overview),
    ("/console/integration", "API and SMPP", PortalArea::Overview),
    ("/console/statements", "Statements", PortalArea::Overview),
    ("/console/tickets", "Tickets", PortalArea::Tickets),
    ("/console/notices", "Notices", PortalArea::Overview),
    ("/console/agreement", "Agreement", PortalArea::Overview),
    ("/console/users", "Users", PortalArea::Account),
];

/// Is `href` the menu entry of `path`? (The dashboard only for itself.)
fn active(href: &str, path: &str) -> bool {
    if href.ends_with('/') { path == href || path == href.trim_end_matches('/') } else { path.starts_with(href) }
}

impl Chrome {
    /// A frame with no user (sign-in and error pages).
    pub fn bare(visit: &Visit, title: &str) -> Chrome {
        Chrome {
            lang: visit.lang,
            area: visit.area,
            title: visit.lang.t(title).to_owned(),
            csrf: String::new(),
            email: String::new(),
            role: String::new(),
            nav: Vec::new(),
        }
    }

    pub(crate) fn for_operator(op: &Operator, title: &str) -> Chrome {
        Chrome::signed(&op.visit, title, 0).unwrap_or_else(|| Chrome::bare(&op.visit, title))
    }

    pub(crate) fn for_customer(customer: &Customer, title: &str) -> Chrome {
        Chrome::signed(&customer.visit, title, customer.unread).unwrap_or_else(|| Chrome::bare(&customer.visit, title))
    }

    /// The frame of the visit's signed-in user, with the menu its role may see (`unread`:
    /// the notices badge); `None` when nobody is signed in to this area.
    pub fn signed(visit: &Visit, title: &str, unread: usize) -> Option<Chrome> {
        let identity = visit.identity.as_ref()?;
        let lang = visit.lang;
        let entry = |href: &'static str, label: &'static str| NavItem {
            href,
            label: lang.t(label),
            active: active(href, &visit.path),
            badge: if href == "/console/notices" { unread } else { 0 },
        };
        let (role, nav): (&str, Vec<NavItem>) = match visit.area {
            Area::Ops => {
                let role = identity.operator_role()?;
                let nav = OPS_NAV.iter().filter(|(_, _, a)| role.may_read(*a)).map(|(h, l, _)| entry(h, l)).collect();
                (role.as_str(), nav)
            }
            Area::Portal => {
                let (_, role) = identity.customer_role()?;
                let nav =
                    PORTAL_NAV.iter().filter(|(_, _, a)| role.may_read(*a)).map(|(h, l, _)| entry(h, l)).collect();
                (role.as_str(), nav)
            }
        };
        Some(Chrome {
            csrf: identity.csrf.clone(),
            email: identity.user.email.clone(),
            role: lang.t(role).to_owned(),
            nav,
            ..Chrome::bare(visit, title)
        })
    }

    /// `text` in the reader's language.
    pub fn t<'a>(&self, text: &'a str) -> &'a str {
        self.lang.t(text)
    }

    /// The area's start page.
    pub fn home(&self) -> &'static str {
        match self.area {
            Area::Ops => "/ops/",
            Area::Portal => "/console/",
        }
    }

    pub fn area_class(&self) -> &'static str {
        match self.area {
            Area::Ops => "ops",
            Area::Portal => "portal",
        }
    }

    pub fn area_title(&self) -> &'static str {
        self.lang.t(self.area.title())
    }

    /// A time as people in China read it: `2026-11-27 20:56` (UTC+8).
    pub fn when(&self, ms: &i64) -> String {
        when(*ms)
    }
}

/// A time as people in China read it: `2026-11-27 20:56` (UTC+8).
pub fn when(ms: i64) -> String {
    let cst = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    let at = at.to_offset(cst);
    format!("{:04}-{:02}-{:02} {:02}:{:02}", at.year(), u8::from(at.month()), at.day(), at.hour(), at.minute())
}

/// A refusal, shown next to the field it names and in the form's banner.
#[derive(Debug, Clone)]
pub struct Problem {
    pub code: ErrorCode,
    pub field: Option<String>,
    /// The code's meaning in the reader's language, then the API's own message.
    pub text: String,
}

/// The refusal of a form, if any.
#[derive(Debug, Clone, Default)]
pub struct Problems(pub Option<Problem>);

impl Problems {
    pub fn of(rejection: &Rejection, lang: Lang) -> Problems {
        let text = format!("{} — {}", lang.error(rejection.code), rejection.message);
        Problems(Some(Problem { code: rejection.code, field: rejection.field.clone(), text }))
    }
    /// The message for the input named `field`, when the refusal names it.
    pub fn at(&self, field: &str) -> Option<&str> {
        self.0.as_ref().filter(|p| p.field.as_deref() == Some(field)).map(|p| p.text.as_str())
    }
    /// The message for the form's banner.
    pub fn banner(&self) -> Option<&str> {
        self.0.as_ref().map(|p| p.text.as_str())
    }
    /// The HTTP status the page is answered with: the refusal's, else 200.
    pub fn status(&self) -> StatusCode {
        self.0.as_ref().and_then(|p| StatusCode::from_u16(p.code.http_status()).ok()).unwrap_or(StatusCode::OK)
    }
}

/// A page, rendered; a template error is logged and answered 500.
pub fn render<T: Template>(page: &T) -> Response {
    render_with(StatusCode::OK, page)
}

pub fn render_with<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a console page did not render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    c: Chrome,
    problem: &'a str,
    code: &'a str,
}

/// A refusal as a page of its own, with its HTTP status.
pub fn error_page(visit: &Visit, rejection: &Rejection) -> Response {
    let title = match rejection.code {
        ErrorCode::NotFound => "Page not found",
        ErrorCode::Forbidden | ErrorCode::Unauthorized => "Not allowed",
        _ => "Something went wrong",
    };
    let text = format!("{} — {}", visit.lang.error(rejection.code), rejection.message);
    let status = StatusCode::from_u16(rejection.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // A signed-in user keeps the menu and the way out.
    let c = Chrome::signed(visit, title, 0).unwrap_or_else(|| Chrome::bare(visit, title));
    render_with(status, &ErrorPage { c, problem: &text, code: rejection.code.as_str() })
}

/// The answer of a page handler: a page, a redirect, or a refusal shown as a page.
pub type PageResult = Result<Response, PageError>;

/// A refusal on its way to becoming an error page (`?` on any `Result<_, Rejection>`).
#[derive(Debug)]
pub struct PageError(pub Visit, pub Rejection);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(&self.0, &self.1)
    }
}

/// `result` as a page refusal, with the visit for its language.
pub trait OrPage<T> {
    fn or_page(self, visit: &Visit) -> Result<T, PageError>;
}

impl<T> OrPage<T> for Result<T, Rejection> {
    fn or_page(self, visit: &Visit) -> Result<T, PageError> {
        self.map_err(|r| PageError(visit.clone(), r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_china_time() {
        // 2026-06-01 04:00 UTC is noon in Beijing.
        assert_eq!(when(1_780_286_400_000), "2026-06-01 12:00");
        assert!(active("/ops/", "/ops/") && active("/ops/", "/ops") && !active("/ops/", "/ops/customers"));
        assert!(active("/ops/customers", "/ops/customers/cus_1"));
    }

    #[test]
    fn a_refusal_shows_at_its_field_and_in_the_banner() {
        let problems = Problems::of(&Rejection::invalid("text", "the text is empty"), Lang::Zh);
        assert_eq!(problems.at("text"), Some("请求格式有误 — the text is empty"));
        assert_eq!(problems.at("to"), None);
        assert_eq!(problems.banner(), problems.at("text"));
        assert_eq!(problems.status(), StatusCode::BAD_REQUEST);
        assert_eq!(Problems::default().status(), StatusCode::OK);
    }
}
