//! tongdao's web console (issue 8): the customer portal under `/console/` and the operator
//! console under `/ops/`, served by `tongdao serve` on the HTTP port.
//!
//! Pages are rendered on the server (askama templates, compiled into the binary); htmx
//! (vendored, no build step) swaps fragments for the live parts: the send form's quote,
//! filters, carrier state. Handlers call [`tongdao_pipeline::Platform`] as the API's
//! handlers do and never the store.
//!
//! # Layout
//! - [`web`]: the guard every console request goes through (language, session, CSRF,
//!   security headers) and the signed-in user extractors [`web::Operator`] and [`web::Customer`];
//! - [`page`]: the page frame, a refusal shown on its form, rendering;
//! - [`auth`]: signing in and out;
//! - [`portal`]: the customer portal's pages; [`ops`]: the operator console's;
//! - [`charts`]: SVG charts; [`i18n`]: Chinese and English;
//! - [`assets`]: htmx, the stylesheet and the icon, embedded.

// Handlers and extractors answer refusals with a whole response (`Result<_, Response>`), as
// axum's own extractors do; boxing each would only add an allocation per refusal.
#![allow(clippy::result_large_err)]

pub mod assets;
pub mod auth;
pub mod charts;
pub mod forms;
pub mod i18n;
pub mod ops;
pub mod page;
pub mod portal;
pub mod web;

use axum::Router;
use axum::extract::Extension;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use tongdao_api::AppState;
use tongdao_domain::{ErrorCode, Rejection};

pub use web::ConsoleSettings;

/// Every console route, behind the guard; merged into the API's router before its JSON
/// fallbacks, so that an unknown page under `/console` or `/ops` is an HTML 404.
pub fn routes(state: AppState, settings: ConsoleSettings) -> Router<AppState> {
    Router::new()
        .route("/ops", get(|| async { Redirect::permanent("/ops/") }))
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .merge(auth::routes())
        .merge(portal::routes())
        .merge(ops::routes())
        .route("/ops/{*rest}", any(not_found))
        .route("/console/{*rest}", any(not_found))
        // Handlers read forms up to the size the guard reads (axum's default is 2 MB).
        .layer(axum::extract::DefaultBodyLimit::max(web::MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn_with_state(state, web::guard))
        .layer(Extension(settings))
        // Assets need no session: outside the guard.
        .merge(assets::routes())
}

async fn not_found(visit: web::Visit) -> Response {
    page::error_page(&visit, &Rejection::new(ErrorCode::NotFound, "there is no such page")).into_response()
}

#[cfg(test)]
mod tests {
    /// The console calls the platform's services as the API does, never the store: no call
    /// of the platform's store accessor anywhere in its sources.
    #[test]
    fn the_console_never_reads_the_store_directly() {
        let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut files = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files += 1;
                    let source = std::fs::read_to_string(&path).expect("read");
                    let needle = [".store", "()"].concat();
                    assert!(!source.contains(&needle), "{} reaches the store directly", path.display());
                }
            }
        }
        assert!(files > 5, "only {files} files scanned");
    }
}
