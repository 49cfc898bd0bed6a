//! What the operator sees of the carrier links (`GET /admin/v1/carriers`): the carrier side
//! registers a [`CarrierDirectory`] with the platform at start.

use std::sync::Arc;

use serde::Serialize;

use crate::Platform;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarrierCounters {
    pub submitted: u64,
    pub accepted: u64,
    pub temporary_failures: u64,
    pub permanent_failures: u64,
    pub receipts: u64,
    pub inbound: u64,
    pub reconnects: u64,
    pub bind_failures: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarrierStatus {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub bind_mode: &'static str,
    pub binds_configured: u32,
    pub binds_bound: u32,
    /// Outstanding submit_sm allowed per bind.
    pub window: u32,
    /// Outstanding submit_sm now, over every bind.
    pub window_in_use: u32,
    pub tps: u32,
    pub priority: i32,
    /// Messages routed to this carrier waiting for a window place.
    pub queue_depth: u64,
    /// In a maintenance window: no new submits, its messages wait in the queue.
    pub draining: bool,
    pub counters: CarrierCounters,
}

/// The carrier side as the operator API sees it.
pub trait CarrierDirectory: Send + Sync + std::fmt::Debug {
    fn carriers(&self) -> Vec<CarrierStatus>;
    /// Text in the Prometheus exposition format, appended to `/metrics`.
    fn metrics(&self) -> String;
    /// The carriers in a maintenance window now (by name): they take no new submits until
    /// they leave the set; the others resume.
    fn drain(&self, carriers: &std::collections::BTreeSet<String>);
}

impl Platform {
    /// Registers the carrier side (once, at start).
    pub fn set_carriers(&self, directory: Arc<dyn CarrierDirectory>) {
        let _ = self.inner.carriers.set(directory);
    }

    pub fn carriers(&self) -> Vec<CarrierStatus> {
        self.inner.carriers.get().map(|d| d.carriers()).unwrap_or_default()
    }

    pub fn carrier_metrics(&self) -> String {
        self.inner.carriers.get().map(|d| d.metrics()).unwrap_or_default()
    }
}
