//! Signing in and out of both consoles. The sign-in form carries a double-submit token
//! (a cookie and the same value in the form), since there is no session yet to hold one.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_api::extract::ClientAddr;

use crate::page::{self, Chrome, Problems};
use crate::web::{self, Area, PRE_CSRF_COOKIE, Visit};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/ops/sign-out", post(sign_out))
        .route("/console/sign-out", post(sign_out))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    c: Chrome,
    csrf: String,
    next: String,
    email: String,
    problems: Problems,
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only a path of the same area is a place to go back to (no open redirect).
fn safe_next(area: Area, next: Option<&str>) -> String {
    let home = format!("{}/", area.prefix());
    match next {
        Some(n)
            if Area::of_path(n) == Some(area)
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control()) =>
        {
            if n.ends_with("/sign-in") || n.contains("/sign-in?") {
                home
            } else {
                n.to_owned()
            }
        }
        _ => home,
    }
}

fn form_page(visit: &Visit, csrf: String, next: String, email: String, problems: Problems) -> Response {
    let status = problems.status();
    let page = SignInPage { c: Chrome::bare(visit, "Sign in"), csrf, next, email, problems };
    page::render_with(status, &page)
}

async fn sign_in_page(visit: Visit, Query(query): Query<NextQuery>) -> Response {
    if visit.identity.is_some() {
        return Redirect::to(&safe_next(visit.area, query.next.as_deref())).into_response();
    }
    let csrf = tongdao_pipeline::credentials::new_secret("");
    let next = safe_next(visit.area, query.next.as_deref());
    let mut response = form_page(&visit, csrf.clone(), next, String::new(), Problems::default());
    let cookie = web::set_cookie(PRE_CSRF_COOKIE, &csrf, "/", None, !visit.settings.insecure_cookies);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    visit: Visit,
    ClientAddr(client): ClientAddr,
    Form(form): Form<SignInForm>,
) -> Response {
    let area = visit.area;
    let signed = state.platform.sign_in(area.store_area(), &form.email, &form.password, client.map(|c| c.ip())).await;
    match signed {
        Ok(signed) => {
            let to = safe_next(area, form.next.as_deref());
            let mut response = Redirect::to(&to).into_response();
            let secure = !visit.settings.insecure_cookies;
            let headers = response.headers_mut();
            headers
                .append(header::SET_COOKIE, web::set_cookie(area.cookie(), &signed.token, area.prefix(), None, secure));
            headers.append(header::SET_COOKIE, web::set_cookie(PRE_CSRF_COOKIE, "", "/", Some(0), secure));
            response
        }
        Err(rejection) => {
            let problems = Problems::of(&rejection, visit.lang);
            let next = safe_next(area, form.next.as_deref());
            let mut response = form_page(&visit, form.csrf, next, form.email, problems);
            if let Some(after) = rejection.retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, after);
            }
            response
        }
    }
}

async fn sign_out(State(state): State<AppState>, visit: Visit, request: axum::http::HeaderMap) -> Response {
    let area = visit.area;
    if let Some(token) = web::cookie(&request, area.cookie()) {
        // A store error still clears the cookie; the session then ends at its expiry.
        if let Err(error) = state.platform.sign_out(token).await {
            tracing::warn!(%error, "console sign-out: the session could not be deleted");
        }
    }
    let mut response = Redirect::to(&format!("{}/sign-in", area.prefix())).into_response();
    let cookie = web::set_cookie(area.cookie(), "", area.prefix(), Some(0), !visit.settings.insecure_cookies);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pages_of_the_same_area_are_gone_back_to() {
        assert_eq!(safe_next(Area::Ops, Some("/ops/customers?x=1")), "/ops/customers?x=1");
        assert_eq!(safe_next(Area::Ops, Some("/console/")), "/ops/");
        assert_eq!(safe_next(Area::Ops, Some("https://evil.example/ops")), "/ops/");
        assert_eq!(safe_next(Area::Ops, Some("//evil.example/ops")), "/ops/");
        assert_eq!(safe_next(Area::Portal, Some("/console/sign-in")), "/console/");
        assert_eq!(safe_next(Area::Portal, None), "/console/");
        assert_eq!(safe_next(Area::Ops, Some("/ops/\nSet-Cookie: x")), "/ops/");
    }
}
