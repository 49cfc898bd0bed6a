//! The web console over real HTTP, without a browser: sign-in, sessions, CSRF, roles,
//! languages, and what each page shows and does. (`tests/console_e2e.rs` drives a real
//! Chromium through the same pages.)
//!
//! [`Visitor`] is a browser reduced to what the tests need: one area's session cookie, the
//! page's CSRF token, and forms posted the way a browser posts them (same Origin,
//! urlencoded, no redirects followed).

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use sha2::Digest;
use tongdao_pipeline::users::ConsoleArea;

use super::harness::TestGateway;

/// A signed-in (or not) browser on one console area.
pub struct Visitor {
    pub base: String,
    /// `/ops` or `/console`.
    pub area: &'static str,
    pub http: reqwest::Client,
    /// `name=value` pairs sent as the Cookie header.
    pub cookies: Vec<(String, String)>,
    /// The CSRF token of the last page that carried one.
    pub csrf: String,
    /// `Accept-Language`, when set.
    pub language: Option<String>,
}

/// A page as the tests read it.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }
    /// Panics with the page when `text` is not on it.
    #[track_caller]
    pub fn shows(&self, text: &str) -> &Page {
        assert!(self.body.contains(text), "{text:?} is not on the page ({}):\n{}", self.status, self.body);
        self
    }
    #[track_caller]
    pub fn hides(&self, text: &str) -> &Page {
        assert!(!self.body.contains(text), "{text:?} is on the page ({}):\n{}", self.status, self.body);
        self
    }
}

/// The value of `name="…" value="…"` in a page (the first hidden input of that name).
pub fn input_value(body: &str, name: &str) -> Option<String> {
    let at = body.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &body[at + name.len() + 15..];
    rest.split('"').next().map(str::to_owned)
}

impl Visitor {
    pub fn new(gateway: &TestGateway, area: &'static str) -> Visitor {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Visitor { base: gateway.base.clone(), area, http, cookies: Vec::new(), csrf: String::new(), language: None }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let Some((name, rest)) = value.split_once('=') else { continue };
            let value = rest.split(';').next().unwrap_or("").to_owned();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() && !rest.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value));
            }
        }
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        self.keep_cookies(&headers);
        let body = response.text().await.expect("body");
        if let Some(csrf) = input_value(&body, "csrf") {
            self.csrf = csrf;
        }
        Page { status, headers, body }
    }

    /// GET `path` (absolute, e.g. `/ops/customers`).
    pub async fn get(&mut self, path: &str) -> Page {
        let mut request = self.http.get(format!("{}{path}", self.base)).header("cookie", self.cookie_header());
        if let Some(language) = &self.language {
            request = request.header("accept-language", language);
        }
        let response = request.send().await.expect("GET");
        self.finish(response).await
    }

    /// POSTs a form as a browser does, with the current CSRF token added.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone();
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, true).await
    }

    /// POSTs exactly `fields` (no CSRF token added); `same_origin` sets `Origin` to this site.
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)], same_origin: bool) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        request = request.header("origin", if same_origin { self.base.as_str() } else { "http://evil.example" });
        if let Some(language) = &self.language {
            request = request.header("accept-language", language);
        }
        let response = request.send().await.expect("POST");
        self.finish(response).await
    }

    /// An htmx request: the CSRF token in its header, the answer a fragment.
    #[allow(dead_code)] // used by the page tests that come next
    pub async fn htmx(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", self.base.as_str())
            .header("hx-request", "true")
            .header("x-csrf-token", self.csrf.as_str())
            .body(body)
            .send()
            .await
            .expect("htmx POST");
        self.finish(response).await
    }

    /// Signs in through the sign-in form; panics unless it succeeds.
    pub async fn sign_in(&mut self, email: &str, password: &str) {
        let page = self.try_sign_in(email, password).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "sign-in as {email} failed:\n{}", page.body);
        let home = self.get(&format!("{}/", self.area)).await;
        assert_eq!(home.status, StatusCode::OK, "the start page after sign-in:\n{}", home.body);
    }

    pub async fn try_sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get(&format!("{}/sign-in", self.area)).await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        self.post(&format!("{}/sign-in", self.area), &[("email", email), ("password", password)]).await
    }
}

pub const PASSWORD: &str = "correct horse battery";

impl TestGateway {
    /// An operator user with `role`, e-mail `<role>@ops.example`.
    pub async fn operator_user(&self, role: &str) -> String {
        let email = format!("{role}@ops.example");
        self.platform()
            .create_console_user(ConsoleArea::Operator, None, &email, role, Some(PASSWORD))
            .await
            .expect("operator user");
        email
    }

    /// A user of `customer` with `role`, e-mail `<role>@<customer>.example`.
    pub async fn customer_user(&self, customer: &str, role: &str) -> String {
        let email = format!("{role}@{customer}.example");
        self.platform()
            .create_console_user(ConsoleArea::Customer, Some(customer), &email, role, Some(PASSWORD))
            .await
            .expect("customer user");
        email
    }

    /// A browser signed in to the operator console as a new user with `role`.
    pub async fn ops_visitor(&self, role: &str) -> Visitor {
        let email = self.operator_user(role).await;
        let mut visitor = Visitor::new(self, "/ops");
        visitor.sign_in(&email, PASSWORD).await;
        visitor
    }

    /// A browser signed in to `customer`'s portal as a new user with `role`.
    pub async fn portal_visitor(&self, customer: &str, role: &str) -> Visitor {
        let email = self.customer_user(customer, role).await;
        let mut visitor = Visitor::new(self, "/console");
        visitor.sign_in(&email, PASSWORD).await;
        visitor
    }
}

#[tokio::test]
async fn console_sign_in_sets_a_strict_http_only_cookie_per_area_and_sign_out_ends_the_session() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let email = gw.customer_user(&acme.id, "admin").await;
    let mut portal = Visitor::new(&gw, "/console");

    let first = portal.get("/console/").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(first.location(), Some("/console/sign-in?next=%2Fconsole%2F"));

    let page = portal.try_sign_in(&email, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let cookie = page
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("tongdao_console="))
        .expect("session cookie")
        .to_owned();
    assert!(cookie.contains("tongdao_console=tds_"), "{cookie}");
    assert!(cookie.ends_with("; Path=/console; HttpOnly; SameSite=Strict; Secure"), "{cookie}");
    let token = cookie.split(';').next().and_then(|c| c.split_once('=')).map(|(_, v)| v.to_owned()).expect("token");
    portal.get("/console/").await.shows("id=\"balance\"").shows("¥10.0000").shows(&email);

    // The session is the customer portal's only: the operator console asks to sign in.
    let mut ops = Visitor::new(&gw, "/ops");
    ops.cookies.push(("tongdao_ops".into(), token.clone()));
    let refused = ops.get("/ops/").await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER, "a customer session opens no operator page");

    // Wrong password: the same answer as an unknown e-mail, shown on the form.
    let mut stranger = Visitor::new(&gw, "/console");
    let wrong = stranger.try_sign_in(&email, "not the password").await;
    let unknown = stranger.try_sign_in("nobody@acme.example", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    wrong.shows("wrong e-mail or password").shows("<html");
    unknown.shows("wrong e-mail or password");

    let out = portal.post("/console/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(portal.cookies.iter().all(|(k, _)| k != "tongdao_console"), "the cookie is cleared");
    portal.cookies.push(("tongdao_console".into(), token));
    assert_eq!(portal.get("/console/").await.status, StatusCode::SEE_OTHER, "the session ended in the store too");
}

#[tokio::test]
async fn console_every_form_needs_the_session_csrf_token_and_this_origin() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let mut portal = gw.portal_visitor(&acme.id, "admin").await;

    let none = portal.post_raw("/console/sign-out", &[], true).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN, "no token");
    none.shows("The form has expired");
    let wrong = portal.post_raw("/console/sign-out", &[("csrf", "forged")], true).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "a wrong token");
    let csrf = portal.csrf.clone();
    let cross = portal.post_raw("/console/sign-out", &[("csrf", csrf.as_str())], false).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN, "the right token from another site");
    assert_eq!(portal.get("/console/").await.status, StatusCode::OK, "still signed in after all three");

    // The sign-in form's own token is a double-submit cookie.
    let mut stranger = Visitor::new(&gw, "/console");
    stranger.get("/console/sign-in").await;
    let forged =
        stranger.post_raw("/console/sign-in", &[("csrf", "x"), ("email", "a@b"), ("password", "p")], true).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn console_sign_in_is_throttled_per_email() {
    let gw = TestGateway::spawn().await;
    let email = gw.operator_user("admin").await;
    let mut ops = Visitor::new(&gw, "/ops");
    let mut statuses = Vec::new();
    for _ in 0..tongdao_pipeline::users::SIGN_INS_PER_EMAIL + 1 {
        statuses.push(ops.try_sign_in(&email, "wrong password!").await.status);
    }
    let last = statuses.pop();
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert_eq!(last, Some(StatusCode::TOO_MANY_REQUESTS));
    // Even the right password waits now: the limit is on attempts, not failures.
    let page = ops.try_sign_in(&email, PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.headers.contains_key("retry-after"), "{:?} {}", page.headers, page.body);
    page.shows("too many sign-in attempts");
}

#[tokio::test]
async fn console_speaks_the_browser_language_and_remembers_a_switch() {
    let gw = TestGateway::spawn().await;
    let mut ops = Visitor::new(&gw, "/ops");
    ops.language = Some("zh-CN,zh;q=0.9,en;q=0.8".into());
    ops.get("/ops/sign-in").await.shows("<html lang=\"zh\">").shows("登录").shows("电子邮箱");
    ops.language = Some("en-US,en;q=0.9".into());
    ops.get("/ops/sign-in").await.shows("<html lang=\"en\">").shows("E-mail");
    let switched = ops.get("/ops/sign-in?lang=zh").await;
    switched.shows("<html lang=\"zh\">");
    assert!(ops.cookies.iter().any(|(k, v)| k == "tongdao_lang" && v == "zh"));
    ops.get("/ops/sign-in").await.shows("<html lang=\"zh\">");
    // A refusal on the form reads in the same language.
    let email = gw.operator_user("admin").await;
    ops.try_sign_in(&email, "wrong password!").await.shows("凭据缺失、未知或已吊销");
}

#[tokio::test]
async fn console_pages_carry_security_headers_and_unknown_pages_are_html_404s() {
    let gw = TestGateway::spawn().await;
    let mut ops = gw.ops_visitor("admin").await;
    let page = ops.get("/ops/").await;
    let csp = page.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
    assert_eq!(page.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let missing = ops.get("/ops/no-such-page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    missing.shows("<html").shows("Page not found").hides("\"error\"");
    // The API keeps its JSON answers.
    let api = ops.get("/v1/no-such-thing").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert!(api.body.starts_with('{'), "{}", api.body);

    let htmx = ops.get("/console/assets/htmx-2.0.11.min.js").await;
    assert_eq!(htmx.status, StatusCode::OK);
    let digest = sha2::Sha256::digest(htmx.body.as_bytes());
    assert_eq!(hex::encode(digest), "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717");
    assert!(htmx.headers.get("cache-control").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("immutable")));
}

#[tokio::test]
async fn console_a_disabled_user_is_signed_out_at_once() {
    let gw = TestGateway::spawn().await;
    let mut ops = gw.ops_visitor("support").await;
    assert_eq!(ops.get("/ops/").await.status, StatusCode::OK);
    let users = gw.platform().console_users(ConsoleArea::Operator, None).await.expect("users");
    let user = users.iter().find(|u| u.email == "support@ops.example").expect("user");
    let disable = tongdao_pipeline::users::UserUpdate { disabled: Some(true), ..Default::default() };
    gw.platform().change_console_user(&user.id, disable, None).await.expect("disable");
    assert_eq!(ops.get("/ops/").await.status, StatusCode::SEE_OTHER);
    let again = ops.try_sign_in("support@ops.example", PASSWORD).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn console_a_suspended_customer_lands_on_what_is_still_open_to_it() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let mut portal = gw.portal_visitor(&acme.id, "admin").await;
    let path = format!("/agreements/{}/suspend", acme.agreement_id);
    let (status, _) = gw.admin(reqwest::Method::POST, &path, Some(serde_json::json!({"reason": "clause 2.3"}))).await;
    assert_eq!(status, StatusCode::OK);
    let home = portal.get("/console/").await;
    assert_eq!((home.status, home.location()), (StatusCode::SEE_OTHER, Some("/console/suspended")));
    portal.get("/console/suspended").await.shows("agreement clause 3.5").shows("href=\"/console/tickets\"");
    // Signing out is still possible, with the token of the page.
    assert_eq!(portal.post("/console/sign-out", &[]).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn console_a_terminated_customer_keeps_only_what_a_suspended_one_keeps_and_gets_no_new_key() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10").await;
    let facts = serde_json::json!({"clause": "2.3", "facts": "advertising"});
    let (_, breach) = gw.admin(reqwest::Method::POST, &format!("/customers/{}/breaches", acme.id), Some(facts)).await;
    let breach_id = breach["id"].as_str().expect("breach id").to_owned();
    gw.clock.advance(16 * 86_400_000);
    let (status, body) = gw.admin(reqwest::Method::POST, &format!("/breaches/{breach_id}/terminate"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Signed in after the end (a session of before would have expired with the test clock).
    let email = gw.customer_user(&acme.id, "admin").await;
    let mut portal = Visitor::new(&gw, "/console");
    assert_eq!(portal.try_sign_in(&email, PASSWORD).await.status, StatusCode::SEE_OTHER);
    let home = portal.get("/console/").await;
    assert_eq!(home.status, StatusCode::FORBIDDEN, "{:?}", home.location());
    home.shows("data-code=\"agreement_not_active\"");
    let key = portal.post("/console/integration/keys", &[("label", "after the end"), ("rps", "0")]).await;
    assert_eq!(key.status, StatusCode::FORBIDDEN, "termination revoked the keys; none is made again");
    assert_eq!(portal.get("/console/statements").await.status, StatusCode::OK);
    assert_eq!(portal.get("/console/tickets").await.status, StatusCode::OK);
    assert_eq!(portal.get("/console/agreement").await.status, StatusCode::OK);
    // Nor through the operator API.
    let (status, body) =
        gw.admin(reqwest::Method::POST, &format!("/customers/{}/keys", acme.id), Some(serde_json::json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn console_one_account_is_throttled_whatever_address_the_attempts_come_from() {
    let gw = TestGateway::spawn().await;
    let email = gw.operator_user("admin").await;
    let platform = gw.platform();
    let area = ConsoleArea::Operator;
    for n in 0..tongdao_pipeline::users::SIGN_INS_PER_EMAIL {
        let ip = std::net::IpAddr::from([198, 51, 100, u8::try_from(n).expect("small")]);
        let refused = platform.sign_in(area, &email, "wrong password!", Some(ip)).await.expect_err("wrong");
        assert_eq!(refused.code, tongdao_domain::ErrorCode::Unauthorized);
    }
    let fresh = std::net::IpAddr::from([203, 0, 113, 9]);
    let throttled = platform.sign_in(area, &email, PASSWORD, Some(fresh)).await.expect_err("throttled");
    assert_eq!(throttled.code, tongdao_domain::ErrorCode::Throttled);
    // Made-up e-mails are refused like a wrong password and throttle no real account.
    for n in 0..20 {
        let made_up = format!("nobody{n}@ops.example");
        let refused = platform.sign_in(area, &made_up, "x", None).await.expect_err("unknown");
        assert_eq!(refused.code, tongdao_domain::ErrorCode::Unauthorized);
    }
}
