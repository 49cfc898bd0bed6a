//! The control endpoint: a small HTTP API to script a running simulator.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /script` | the script in force, as JSON |
//! | `PUT /script` | replaces the whole script; 400 `invalid_script` when it is refused |
//! | `POST /mo` | `{"from","to","text"}`: injects an MO message; 200 `{"segments":n}`, 409 `no_receiver` |
//! | `POST /drop` | closes every session at once; 200 `{"dropped":n}` |
//! | `GET /stats` | the counters, as JSON (with `redelivered`, `parked`, `dropped_undelivered`) |
//!
//! Errors are `{"error":{"code":…,"message":…}}`. Bodies are capped at 64 KiB.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{Script, SimError, Simulator};

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// The control API's routes, for serving on a listener of one's own.
pub fn control_router(sim: Simulator) -> Router {
    Router::new()
        .route("/script", get(get_script).put(put_script))
        .route("/mo", post(post_mo))
        .route("/drop", post(post_drop))
        .route("/stats", get(get_stats))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(sim)
}

/// Serves the control API on `listener` until `shutdown` changes.
pub async fn serve_control(
    listener: TcpListener,
    sim: Simulator,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, control_router(sim))
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await
}

fn error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "error": { "code": code, "message": message.to_string() } }))).into_response()
}

async fn get_script(State(sim): State<Simulator>) -> Response {
    axum::Json(sim.script()).into_response()
}

async fn put_script(State(sim): State<Simulator>, body: Bytes) -> Response {
    let Ok(json) = std::str::from_utf8(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_script", "the body is not UTF-8");
    };
    let script = match Script::from_json(json) {
        Ok(script) => script,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_script", e),
    };
    match sim.set_script(script.clone()) {
        Ok(()) => axum::Json(script).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, "invalid_script", e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mo {
    from: String,
    to: String,
    text: String,
}

async fn post_mo(State(sim): State<Simulator>, body: Bytes) -> Response {
    let mo: Mo = match serde_json::from_slice(&body) {
        Ok(mo) => mo,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_mo", format!("expected {{from, to, text}}: {e}")),
    };
    match sim.inject_mo(&mo.from, &mo.to, &mo.text).await {
        Ok(segments) => axum::Json(json!({ "segments": segments })).into_response(),
        Err(e @ SimError::NoReceiver) => error(StatusCode::CONFLICT, "no_receiver", e),
        Err(e @ SimError::InvalidMo(_)) => error(StatusCode::BAD_REQUEST, "invalid_mo", e),
        Err(e @ SimError::ReceiverGone) => error(StatusCode::SERVICE_UNAVAILABLE, "receiver_gone", e),
        Err(e @ SimError::Script(_)) => error(StatusCode::BAD_REQUEST, "invalid_script", e),
    }
}

async fn post_drop(State(sim): State<Simulator>) -> Response {
    axum::Json(json!({ "dropped": sim.drop_sessions() })).into_response()
}

async fn get_stats(State(sim): State<Simulator>) -> Response {
    axum::Json(sim.stats().snapshot()).into_response()
}
