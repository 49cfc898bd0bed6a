//! The accept path and the account services, wire-agnostic.
//!
//! An edge (HTTP today, SMPP next) turns its request into a [`Submission`] and calls
//! [`Platform::accept`]; the platform authenticates, validates (numbers, text, segments),
//! checks the agreement, prices, and hands one [`tongdao_store::AcceptBatch`] to the store,
//! which commits messages, charges and the idempotency record together. Refusals are
//! [`Rejection`]s from the one table, so every edge answers alike.
//!
//! # Layout
//! - [`accept`]: `Submission` → validated, priced messages → stored;
//! - [`operations`]: what the operator does (customers, agreements, tariffs, money, keys);
//! - [`carriers`]: what the operator sees of the carrier links;
//! - [`account`]: webhook settings, numbers that route replies, inbound messages;
//! - [`smpp`]: SMPP credentials and checking binds;
//! - [`tickets`]: customer service (clause 3.6) and billing disputes (clause 3.8);
//! - [`statements`]: monthly statements and the reconciliation report (clauses 3.8, 5);
//! - [`credentials`]: API keys and operator tokens: generation and hashing;
//! - [`cache`]: short-lived copies of keys and profiles so the hot path reads no table;
//! - [`metrics`]: counters the edges render.
//!
//! # Must never
//! Know HTTP or SMPP types.

pub mod accept;
pub mod account;
pub mod cache;
pub mod carriers;
pub mod compliance;
pub mod credentials;
pub mod lifecycle;
pub mod metrics;
pub mod moderation;
pub mod operations;
mod passwords;
pub mod ratelimit;
pub mod records;
pub mod retention;
pub mod screening;
pub mod smpp;
pub mod statements;
pub mod tickets;
pub mod users;

use std::sync::Arc;

use tokio::sync::Notify;
use tongdao_domain::callback::CallbackPolicy;
use tongdao_domain::{Clock, ErrorCode, NumberingPlan, Rejection};
use tongdao_store::{Store, StoreError};

pub use accept::{AcceptResponse, Accepted, AcceptedMessage, Quote, RejectedRecipient, Submission};

/// The services of one gateway node, shared by every edge.
#[derive(Debug, Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    numbering: NumberingPlan,
    cache: cache::Cache,
    metrics: metrics::Metrics,
    callback_policy: CallbackPolicy,
    /// Woken when messages become `queued`, so the dispatcher reads the queue at once.
    dispatch: Arc<Notify>,
    /// Woken when webhook events may be waiting in the outbox.
    webhooks: Arc<Notify>,
    /// Woken when receipts may be waiting for customers' SMPP binds.
    deliveries: Arc<Notify>,
    carriers: std::sync::OnceLock<Arc<dyn carriers::CarrierDirectory>>,
    /// Replies that put their sender on the customer's suppression list.
    opt_out_keywords: std::sync::RwLock<Arc<[String]>>,
    screening: screening::ScreeningState,
    key_buckets: ratelimit::KeyBuckets,
    /// Console sign-in attempts, per e-mail and per client address.
    sign_in_buckets: ratelimit::KeyBuckets,
}

impl Platform {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, numbering: NumberingPlan) -> Platform {
        Self::with_callbacks(store, clock, numbering, CallbackPolicy::default())
    }

    pub fn with_callbacks(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        numbering: NumberingPlan,
        callback_policy: CallbackPolicy,
    ) -> Platform {
        Platform {
            inner: Arc::new(Inner {
                store,
                clock,
                numbering,
                cache: cache::Cache::default(),
                metrics: metrics::Metrics::default(),
                callback_policy,
                dispatch: Arc::new(Notify::new()),
                webhooks: Arc::new(Notify::new()),
                deliveries: Arc::new(Notify::new()),
                carriers: std::sync::OnceLock::new(),
                opt_out_keywords: std::sync::RwLock::new(
                    tongdao_domain::optout::DEFAULT_KEYWORDS.iter().map(|k| (*k).to_owned()).collect(),
                ),
                screening: screening::ScreeningState::default(),
                key_buckets: ratelimit::KeyBuckets::default(),
                sign_in_buckets: ratelimit::KeyBuckets::default(),
            }),
        }
    }

    /// The opt-out keywords (configurable; [`tongdao_domain::optout::DEFAULT_KEYWORDS`] by default).
    pub fn opt_out_keywords(&self) -> Arc<[String]> {
        self.inner.opt_out_keywords.read().map(|k| k.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }
    pub fn set_opt_out_keywords(&self, keywords: Vec<String>) {
        let keywords: Arc<[String]> = keywords.into();
        match self.inner.opt_out_keywords.write() {
            Ok(mut k) => *k = keywords,
            Err(e) => *e.into_inner() = keywords,
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }
    pub fn callback_policy(&self) -> CallbackPolicy {
        self.inner.callback_policy
    }
    /// Notified when status changes (and so webhook events) have been written.
    pub fn webhook_signal(&self) -> &Arc<Notify> {
        &self.inner.webhooks
    }
    /// Notified when receipts for SMPP binds may have been written.
    pub fn deliveries_signal(&self) -> &Arc<Notify> {
        &self.inner.deliveries
    }
    /// Notified whenever messages become `queued`.
    pub fn dispatch_signal(&self) -> &Arc<Notify> {
        &self.inner.dispatch
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }
    pub fn numbering(&self) -> &NumberingPlan {
        &self.inner.numbering
    }
    fn cache(&self) -> &cache::Cache {
        &self.inner.cache
    }
}

/// `rate_limited` for one recipient (`field`), retryable after the window ends.
pub fn rate_limited(field: Option<String>, retry_after_ms: i64) -> Rejection {
    let seconds = u32::try_from((retry_after_ms.max(0) + 999) / 1000).unwrap_or(u32::MAX).max(1);
    let mut rejection = Rejection::new(
        ErrorCode::RateLimited,
        format!("the agreement's frequency limit for this recipient is reached; retry in {seconds} s"),
    );
    rejection.field = field;
    rejection.retry_after = Some(seconds);
    rejection
}

/// How a store error reads to a customer or operator.
pub fn rejection_from_store(error: StoreError) -> Rejection {
    match error {
        StoreError::NotFound => Rejection::new(ErrorCode::NotFound, "not found"),
        StoreError::Conflict(message) => Rejection::new(ErrorCode::Conflict, message),
        StoreError::InsufficientBalance { balance, needed } => Rejection::new(
            ErrorCode::InsufficientBalance,
            format!("the balance {balance} cannot pay {needed}; nothing was sent or charged"),
        ),
        StoreError::IdempotencyConflict => Rejection::field(
            ErrorCode::IdempotencyConflict,
            "Idempotency-Key",
            "this Idempotency-Key was used in the last 24 hours with a different request",
        ),
        StoreError::NotCancellable(status) => Rejection::new(
            ErrorCode::MessageNotCancellable,
            format!("only a message not yet handed to a carrier can be cancelled; this one is {status}"),
        ),
        StoreError::Refused(rejection) => rejection,
        StoreError::RateLimited { retry_after_ms, .. } => rate_limited(None, retry_after_ms),
        StoreError::Closed => Rejection::new(ErrorCode::Unavailable, "the server is shutting down; retry"),
        StoreError::Aborted => Rejection::new(ErrorCode::Unavailable, "nothing was stored; retry"),
        StoreError::Backend(detail) => {
            tracing::error!(%detail, "storage error");
            Rejection::internal()
        }
    }
}
