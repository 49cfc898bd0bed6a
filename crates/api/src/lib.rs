//! tongdao's HTTP edge.
//!
//! # Layout
//! - [`customer`]: the `/v1` customer API (send, quote, messages, balance, pricing, agreement);
//! - [`admin`]: the `/admin/v1` operator API (customers, agreements, tariffs, money, keys);
//! - [`billing`]: monthly statements (JSON or CSV) and the reconciliation report (clauses 3.8, 5);
//! - [`compliance`]: contacts, opt-outs, the blocklist and the out-of-scope report (clause 2);
//! - [`moderation`]: held messages, violations, the audit trail, lexicons, signatures and templates;
//! - [`tickets`]: customer service and billing disputes (clauses 3.6, 3.8);
//! - [`extract`]: bearer authentication and the JSON body reader (capped, with field-named errors);
//! - [`error`]: a [`tongdao_domain::Rejection`] as `{"error": {"code", "message", "field"?}}`;
//! - [`views`]: the JSON shapes of records;
//! - [`service`]: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`;
//! - [`listener`]: the TCP listener with a cap on open connections.
//!
//! # Must never
//! Contain SQL or business rules: every handler translates and calls [`tongdao_pipeline::Platform`].

pub mod admin;
pub mod billing;
pub mod compliance;
pub mod customer;
pub mod error;
pub mod extract;
pub mod lifecycle;
pub mod listener;
pub mod moderation;
pub mod service;
pub mod tickets;
pub mod views;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use tongdao_pipeline::Platform;

/// Largest request body read, in bytes: 1000 recipients and a 10-segment text fit easily.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct AppState {
    pub platform: Platform,
    /// Cleared when shutdown begins, so `/readyz` tells load balancers to stop sending.
    pub ready: Arc<AtomicBool>,
    pub http_metrics: Arc<service::HttpMetrics>,
}

impl AppState {
    pub fn new(platform: Platform) -> AppState {
        AppState {
            platform,
            ready: Arc::new(AtomicBool::new(true)),
            http_metrics: Arc::new(service::HttpMetrics::default()),
        }
    }
}

/// Every route, with JSON errors for unknown paths and methods.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// Every route and `extra` (the web console), merged before the JSON fallbacks.
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    Router::new()
        .merge(extra)
        .merge(customer::routes())
        .merge(admin::routes())
        .merge(compliance::routes())
        .merge(moderation::routes())
        .merge(lifecycle::routes())
        .merge(tickets::routes())
        .merge(billing::routes())
        .merge(service::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), service::observe))
        .with_state(state)
}
