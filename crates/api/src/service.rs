//! Service routes (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`) and the middleware
//! that counts every answer and gives axum's own refusals our JSON error shape.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tongdao_domain::Rejection;

use crate::AppState;
use crate::error::{ApiError, code_for_status};

/// The OpenAPI 3.1 description of every route, kept beside the code and checked by tests.
pub const OPENAPI: &str = include_str!("../openapi.json");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

async fn healthz() -> Response {
    json_text(StatusCode::OK, r#"{"status":"ok"}"#.to_owned())
}

async fn readyz(State(state): State<AppState>) -> Response {
    let ready = state.ready.load(Ordering::Relaxed) && state.platform.store().ping().await.is_ok();
    if ready {
        json_text(StatusCode::OK, r#"{"status":"ready"}"#.to_owned())
    } else {
        json_text(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"unavailable"}"#.to_owned())
    }
}

async fn openapi() -> Response {
    json_text(StatusCode::OK, OPENAPI.to_owned())
}

fn json_text(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Debug)]
pub struct HttpMetrics {
    by_status: Vec<AtomicU64>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            by_status: (0..600).map(|_| AtomicU64::new(0)).collect(),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl HttpMetrics {
    fn record(&self, status: StatusCode, elapsed: std::time::Duration) {
        if let Some(n) = self.by_status.get(usize::from(status.as_u16())) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::with_capacity(4096);
    let p = state.platform.metrics();
    let counter = |out: &mut String, name: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    };
    counter(
        &mut out,
        "tongdao_accepted_requests_total",
        "Send requests accepted.",
        p.accepted_requests.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "tongdao_accepted_messages_total",
        "Messages accepted.",
        p.accepted_messages.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "tongdao_charged_micros_total",
        "Money charged at acceptance, in micro-units of the currency.",
        p.charged_micros.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "tongdao_idempotent_replays_total",
        "Send requests answered from an earlier Idempotency-Key.",
        p.idempotent_replays.load(Ordering::Relaxed),
    );
    let _ = writeln!(out, "# HELP tongdao_rejections_total Refusals by code.\n# TYPE tongdao_rejections_total counter");
    for (code, n) in p.rejections() {
        let _ = writeln!(out, "tongdao_rejections_total{{code=\"{code}\"}} {n}");
    }
    let store = state.platform.store().write_stats();
    counter(&mut out, "tongdao_store_commits_total", "Write transactions committed (one fsync each).", store.commits);
    counter(
        &mut out,
        "tongdao_store_jobs_total",
        "Writes handed to the store; jobs / commits is the group-commit factor.",
        store.jobs,
    );
    counter(
        &mut out,
        "tongdao_store_busy_microseconds_total",
        "Time the writer spent running and committing jobs; its rate is the writer's load.",
        store.busy_micros,
    );
    counter(
        &mut out,
        "tongdao_store_wal_truncations_total",
        "Times the writer emptied the WAL.",
        store.wal_truncations,
    );
    out.push_str(&state.platform.carrier_metrics());
    out.push_str(&p.render_sources());
    let h = &state.http_metrics;
    let _ = writeln!(
        out,
        "# HELP tongdao_http_responses_total HTTP answers by status.\n# TYPE tongdao_http_responses_total counter"
    );
    for (status, n) in h.by_status.iter().enumerate() {
        let n = n.load(Ordering::Relaxed);
        if n > 0 {
            let _ = writeln!(out, "tongdao_http_responses_total{{status=\"{status}\"}} {n}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP tongdao_http_request_duration_seconds Time to answer.\n# TYPE tongdao_http_request_duration_seconds histogram"
    );
    let mut cumulative = 0;
    for (bound, n) in BUCKETS.iter().zip(&h.buckets) {
        cumulative += n.load(Ordering::Relaxed);
        let _ = writeln!(out, "tongdao_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let count = h.count.load(Ordering::Relaxed);
    let _ = writeln!(out, "tongdao_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
    let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(
        out,
        "tongdao_http_request_duration_seconds_sum {sum}\ntongdao_http_request_duration_seconds_count {count}"
    );
    let mut response = out.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// Counts every answer, and rewrites refusals that axum made itself (a path or query that
/// does not parse) into our JSON error shape, keeping their status.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status();
    // JSON errors are the API's own; HTML ones the console's pages.
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if (status.is_client_error() || status.is_server_error()) && !is_ours {
        let body = axum::body::to_bytes(std::mem::take(response.body_mut()), 4096).await.unwrap_or_default();
        let message = String::from_utf8_lossy(&body).trim().to_owned();
        let field = crate::extract::field_named_in(&message);
        let message = if message.is_empty() { status.to_string() } else { message };
        let rejection = Rejection { code: code_for_status(status), message, field, retry_after: None };
        let mut rewritten = ApiError(rejection).into_response();
        *rewritten.status_mut() = status;
        response = rewritten;
    }
    state.http_metrics.record(response.status(), started.elapsed());
    response
}
