//! What every console request goes through: the reader's language, the session behind the
//! area's cookie, the CSRF check of every form, and the security headers of every answer.
//!
//! # Sessions
//! Each area has its own cookie, scoped to its path (`tongdao_ops` on `/ops`,
//! `tongdao_console` on `/console`), so one browser may be signed in to both; it is
//! `HttpOnly`, `SameSite=Strict` and `Secure` (unless `insecure_cookies` is configured for
//! plain-HTTP deployments; browsers accept `Secure` on `http://localhost` anyway).
//!
//! # CSRF
//! Every request other than GET and HEAD must carry the session's synchronizer token: the
//! `csrf` field of a form (the body is read here, capped at [`MAX_FORM_BYTES`]) or the
//! `X-CSRF-Token` header (htmx, from `hx-headers` on `<body>`). The sign-in forms, before
//! any session, use a double-submit cookie instead. A request whose `Origin` is not this
//! host, or that the browser marks `Sec-Fetch-Site: cross-site`, is refused first.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tongdao_api::AppState;
use tongdao_domain::console::{CustomerRole, OperatorRole, OpsArea, PortalArea};
use tongdao_domain::{ErrorCode, Rejection};
use tongdao_pipeline::users::ConsoleArea;
use tongdao_pipeline::users::Identity;

use crate::i18n::Lang;
use crate::page::{self, Chrome};

/// The largest form read (a pasted contact CSV fits).
pub const MAX_FORM_BYTES: usize = 4 * 1024 * 1024;
pub const LANG_COOKIE: &str = "tongdao_lang";
/// The sign-in forms' double-submit token.
pub const PRE_CSRF_COOKIE: &str = "tongdao_csrf";
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the console is set up, from the gateway's configuration.
#[derive(Debug, Clone, Default)]
pub struct ConsoleSettings {
    /// Leave `Secure` off the cookies: only for a console served over plain HTTP on
    /// another host than localhost (browsers keep `Secure` cookies on https and localhost).
    pub insecure_cookies: bool,
}

/// The two consoles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Ops,
    Portal,
}

impl Area {
    pub fn of_path(path: &str) -> Option<Area> {
        let under = |prefix: &str| path.strip_prefix(prefix).is_some_and(|r| r.is_empty() || r.starts_with('/'));
        if under("/ops") {
            Some(Area::Ops)
        } else if under("/console") {
            Some(Area::Portal)
        } else {
            None
        }
    }
    pub fn prefix(self) -> &'static str {
        match self {
            Area::Ops => "/ops",
            Area::Portal => "/console",
        }
    }
    pub fn cookie(self) -> &'static str {
        match self {
            Area::Ops => "tongdao_ops",
            Area::Portal => "tongdao_console",
        }
    }
    pub fn store_area(self) -> ConsoleArea {
        match self {
            Area::Ops => ConsoleArea::Operator,
            Area::Portal => ConsoleArea::Customer,
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Area::Ops => "Operator console",
            Area::Portal => "Customer portal",
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Set-Cookie` value: `max_age` `Some(0)` deletes it, `None` keeps it for the browser
/// session.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: Option<i64>, secure: bool) -> HeaderValue {
    let mut out = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if secure {
        out.push_str("; Secure");
    }
    if let Some(age) = max_age {
        out.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// What the guard found out about a request, for the extractors.
#[derive(Debug, Clone)]
pub struct Visit {
    pub lang: Lang,
    pub area: Area,
    /// The session of the area's cookie, when it is live and of this area.
    pub identity: Option<Identity>,
    pub path: String,
    pub settings: ConsoleSettings,
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// Is the request from a page of this very site? (`Origin`, then `Sec-Fetch-Site`.)
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok()) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        return origin != "null" && host.is_some_and(|h| h.eq_ignore_ascii_case(origin_host));
    }
    headers.get("sec-fetch-site").and_then(|h| h.to_str().ok()) != Some("cross-site")
}

/// The middleware of both consoles (see the module's text).
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let Some(area) = Area::of_path(&path) else { return next.run(request).await };
    let settings = request.extensions().get::<ConsoleSettings>().cloned().unwrap_or_default();
    let headers = request.headers();
    let asked = query_param(request.uri().query(), "lang").and_then(Lang::parse);
    let lang = asked
        .or_else(|| cookie(headers, LANG_COOKIE).and_then(Lang::parse))
        .or_else(|| headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Lang::negotiate))
        .unwrap_or_default();
    let identity = match cookie(headers, area.cookie()) {
        Some(token) => state.platform.console_session(token).await.ok(),
        None => None,
    }
    .filter(|id| id.user.area == area.store_area());
    let visit = Visit { lang, area, identity, path, settings: settings.clone() };

    let unsafe_method = !matches!(*request.method(), Method::GET | Method::HEAD);
    let request = if unsafe_method {
        match check_csrf(request, &visit).await {
            Ok(request) => request,
            Err(response) => return response,
        }
    } else {
        request
    };
    let mut request = request;
    request.extensions_mut().insert(visit);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Some(lang) = asked {
        headers.append(
            header::SET_COOKIE,
            set_cookie(LANG_COOKIE, lang.code(), "/", Some(31_536_000), !settings.insecure_cookies),
        );
    }
    secure_headers(headers);
    response
}

/// The headers every console answer carries: no framing, no inline script, no caching of
/// pages that show customers' data.
fn secure_headers(headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "cache-control", "no-store");
}

fn is_sign_in(path: &str) -> bool {
    path == "/ops/sign-in" || path == "/console/sign-in"
}

/// Refuses a request without the right token; gives back the request (its body re-made)
/// when it has it.
async fn check_csrf(request: Request, visit: &Visit) -> Result<Request, Response> {
    let refuse = || {
        let rejection =
            Rejection::new(ErrorCode::Forbidden, visit.lang.t("The form has expired. Reload the page and try again."));
        Err(page::error_page(visit, &rejection))
    };
    if !same_origin(request.headers()) {
        return refuse();
    }
    let expected = if is_sign_in(&visit.path) {
        cookie(request.headers(), PRE_CSRF_COOKIE).map(str::to_owned)
    } else {
        visit.identity.as_ref().map(|id| id.csrf.clone())
    };
    let Some(expected) = expected.filter(|e| !e.is_empty()) else {
        // No session: the page itself answers (a redirect to sign in), nothing is done.
        return if is_sign_in(&visit.path) { refuse() } else { Ok(request) };
    };
    if let Some(token) = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return if constant_time_eq(token, &expected) { Ok(request) } else { refuse() };
    }
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return refuse();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        let rejection = Rejection::new(ErrorCode::PayloadTooLarge, format!("the form is over {MAX_FORM_BYTES} bytes"));
        return Err(page::error_page(visit, &rejection));
    };
    let token = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_owned());
    if token.is_some_and(|t| constant_time_eq(&t, &expected)) {
        Ok(Request::from_parts(parts, Body::from(bytes)))
    } else {
        refuse()
    }
}

fn visit_of(parts: &Parts) -> Result<Visit, Response> {
    parts.extensions.get::<Visit>().cloned().ok_or_else(|| {
        tracing::error!(path = parts.uri.path(), "a console page outside the console guard");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    })
}

/// Not signed in: to the sign-in page (and back here after), or 401 for htmx and forms.
fn sign_in_first(parts: &Parts, visit: &Visit) -> Response {
    if parts.method == Method::GET && !parts.headers.contains_key("hx-request") {
        let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let to = format!(
            "{}/sign-in?next={}",
            visit.area.prefix(),
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        Redirect::to(&to).into_response()
    } else {
        let rejection = Rejection::new(ErrorCode::Unauthorized, "the session has ended; sign in again");
        page::error_page(visit, &rejection)
    }
}

/// A signed-in operator user, on an `/ops` page.
#[derive(Debug, Clone)]
pub struct Operator {
    pub identity: Identity,
    pub role: OperatorRole,
    pub visit: Visit,
}

impl Operator {
    /// `forbidden` unless the role may see `area`.
    pub fn read(&self, area: OpsArea) -> Result<(), Rejection> {
        allow(self.role.may_read(area), &self.identity)
    }
    /// `forbidden` unless the role may change things in `area`.
    pub fn write(&self, area: OpsArea) -> Result<(), Rejection> {
        allow(self.role.may_write(area), &self.identity)
    }
    /// The page frame, with this user's menu; `title` is English (translated here).
    pub fn chrome(&self, title: &str) -> Chrome {
        Chrome::for_operator(self, title)
    }
}

/// A signed-in customer user, on a `/console` page.
#[derive(Debug, Clone)]
pub struct Customer {
    pub identity: Identity,
    pub customer_id: String,
    pub role: CustomerRole,
    pub visit: Visit,
    /// Unread notices, for the menu's badge.
    pub unread: usize,
}

impl Customer {
    pub fn read(&self, area: PortalArea) -> Result<(), Rejection> {
        allow(self.role.may_read(area), &self.identity)
    }
    pub fn write(&self, area: PortalArea) -> Result<(), Rejection> {
        allow(self.role.may_write(area), &self.identity)
    }
    pub fn chrome(&self, title: &str) -> Chrome {
        Chrome::for_customer(self, title)
    }
}

fn allow(allowed: bool, identity: &Identity) -> Result<(), Rejection> {
    if allowed { Ok(()) } else { Err(tongdao_domain::console::not_allowed(&identity.user.role)) }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        let visit = visit_of(parts)?;
        let Some(identity) = visit.identity.clone().filter(|_| visit.area == Area::Ops) else {
            return Err(sign_in_first(parts, &visit));
        };
        let Some(role) = identity.operator_role() else { return Err(sign_in_first(parts, &visit)) };
        Ok(Operator { identity, role, visit })
    }
}

/// Pages a suspended customer still reaches (clauses 3.5, 3.6, 3.8): tickets, statements,
/// notices and the agreement, besides signing out.
fn open_while_suspended(path: &str) -> bool {
    let rest = path.strip_prefix("/console").unwrap_or(path);
    ["/tickets", "/statements", "/notices", "/agreement", "/sign-out", "/suspended"]
        .iter()
        .any(|p| rest.strip_prefix(p).is_some_and(|r| r.is_empty() || r.starts_with('/')))
}

/// `account_suspended` while suspended; `agreement_not_active` once terminated (clause 6),
/// when what stays open is what stays open to a suspended customer.
async fn still_served(state: &AppState, customer_id: &str) -> Result<(), Rejection> {
    state.platform.ensure_not_suspended(customer_id).await?;
    if state.platform.customer(customer_id).await?.terminated_at.is_some() {
        let message = "the agreement was terminated: tickets, statements, notices and the agreement stay open";
        return Err(Rejection::new(ErrorCode::AgreementNotActive, message));
    }
    Ok(())
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let visit = visit_of(parts)?;
        let Some(identity) = visit.identity.clone().filter(|_| visit.area == Area::Portal) else {
            return Err(sign_in_first(parts, &visit));
        };
        let Some((customer_id, role)) = identity.customer_role().map(|(c, r)| (c.to_owned(), r)) else {
            return Err(sign_in_first(parts, &visit));
        };
        if !open_while_suspended(parts.uri.path())
            && let Err(rejection) = still_served(state, &customer_id).await
        {
            if rejection.code == ErrorCode::AccountSuspended && parts.method == Method::GET {
                return Err(Redirect::to("/console/suspended").into_response());
            }
            return Err(page::error_page(&visit, &rejection));
        }
        let unread = state.platform.notices(Some(&customer_id), None, true, 100).await.map(|n| n.len()).unwrap_or(0);
        Ok(Customer { identity, customer_id, role, visit, unread })
    }
}

/// The language and area of any console page, signed in or not.
impl FromRequestParts<AppState> for Visit {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        visit_of(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_and_written_with_their_flags() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; tongdao_ops=tds_x; b=\"2\""));
        assert_eq!(cookie(&headers, "tongdao_ops"), Some("tds_x"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "tongdao"), None);
        assert_eq!(
            set_cookie("tongdao_ops", "tds_x", "/ops", None, true),
            "tongdao_ops=tds_x; Path=/ops; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(
            set_cookie("tongdao_ops", "", "/ops", Some(0), false),
            "tongdao_ops=; Path=/ops; HttpOnly; SameSite=Strict; Max-Age=0"
        );
    }

    #[test]
    fn only_this_host_may_post() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&headers), "no Origin, no Sec-Fetch-Site: an old browser or a script");
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&headers));
        headers.remove(header::ORIGIN);
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&headers));
    }

    #[test]
    fn areas_and_suspension_paths() {
        assert_eq!(Area::of_path("/ops"), Some(Area::Ops));
        assert_eq!(Area::of_path("/ops/customers"), Some(Area::Ops));
        assert_eq!(Area::of_path("/opsx"), None);
        assert_eq!(Area::of_path("/console/"), Some(Area::Portal));
        assert_eq!(Area::of_path("/v1/messages"), None);
        assert!(open_while_suspended("/console/tickets/tkt_1"));
        assert!(open_while_suspended("/console/statements"));
        assert!(!open_while_suspended("/console/send"));
        assert!(!open_while_suspended("/console/ticketsx"));
        assert!(constant_time_eq("abc", "abc") && !constant_time_eq("abc", "abd") && !constant_time_eq("ab", "abc"));
    }
}
