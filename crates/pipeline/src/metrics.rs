//! Counters of the accept path; the HTTP edge renders them as Prometheus text.

use std::sync::atomic::{AtomicU64, Ordering};

use tongdao_domain::ErrorCode;

/// Renders more counters (Prometheus text) for `/metrics`: parts of the node that are not
/// the platform (the webhook sender) register one.
pub type MetricsSource = Box<dyn Fn() -> String + Send + Sync>;

pub struct Metrics {
    pub accepted_requests: AtomicU64,
    pub accepted_messages: AtomicU64,
    pub charged_micros: AtomicU64,
    pub idempotent_replays: AtomicU64,
    rejections: Vec<AtomicU64>,
    sources: std::sync::Mutex<Vec<MetricsSource>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("accepted_messages", &self.accepted_messages).finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            accepted_requests: AtomicU64::new(0),
            accepted_messages: AtomicU64::new(0),
            charged_micros: AtomicU64::new(0),
            idempotent_replays: AtomicU64::new(0),
            rejections: ErrorCode::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            sources: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl Metrics {
    pub fn reject(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.rejections[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    pub fn add_source(&self, source: MetricsSource) {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).push(source);
    }

    /// The registered sources' text, concatenated.
    pub fn render_sources(&self) -> String {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|source| source()).collect()
    }

    /// `(code, count)` for every code.
    pub fn rejections(&self) -> impl Iterator<Item = (ErrorCode, u64)> + '_ {
        ErrorCode::ALL.iter().zip(&self.rejections).map(|(code, n)| (*code, n.load(Ordering::Relaxed)))
    }
}
