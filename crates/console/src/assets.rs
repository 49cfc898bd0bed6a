//! The console's static files, in the binary: htmx 2.0.11 (vendored, 0BSD: see
//! `assets/LICENSE.htmx`; `scripts/vendor-htmx.sh` fetches it again and checks its
//! SHA-256), one stylesheet and the icon. Names carry a version or change with the binary,
//! so they are cached for a day (htmx, whose name holds its version, for a year).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tongdao_api::AppState;

pub const HTMX: &str = "htmx-2.0.11.min.js";

const FILES: &[(&str, &str, &[u8])] = &[
    (HTMX, "text/javascript; charset=utf-8", include_bytes!("../assets/htmx-2.0.11.min.js")),
    ("console.css", "text/css; charset=utf-8", include_bytes!("../assets/console.css")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../assets/favicon.svg")),
    ("LICENSE.htmx", "text/plain; charset=utf-8", include_bytes!("../assets/LICENSE.htmx")),
];

pub fn routes() -> Router<AppState> {
    Router::new().route("/console/assets/{file}", get(asset))
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some((name, content_type, bytes)) = FILES.iter().find(|(name, _, _)| *name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cache = if *name == HTMX { "public, max-age=31536000, immutable" } else { "public, max-age=86400" };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        *bytes,
    )
        .into_response()
}
