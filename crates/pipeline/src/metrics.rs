//! Counters of the accept path; the HTTP edge renders them as Prometheus text.

use std::sync::atomic::{AtomicU64, Ordering};

use tongdao_domain::ErrorCode;

#[derive(Debug)]
pub struct Metrics {
    pub accepted_requests: AtomicU64,
    pub accepted_messages: AtomicU64,
    pub charged_micros: AtomicU64,
    pub idempotent_replays: AtomicU64,
    rejections: Vec<AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            accepted_requests: AtomicU64::new(0),
            accepted_messages: AtomicU64::new(0),
            charged_micros: AtomicU64::new(0),
            idempotent_replays: AtomicU64::new(0),
            rejections: ErrorCode::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Metrics {
    pub fn reject(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.rejections[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    /// `(code, count)` for every code.
    pub fn rejections(&self) -> impl Iterator<Item = (ErrorCode, u64)> + '_ {
        ErrorCode::ALL.iter().zip(&self.rejections).map(|(code, n)| (*code, n.load(Ordering::Relaxed)))
    }
}
