//! The carrier side: we are the ESME, the carrier is the MC.
//!
//! # Layout
//! - [`link`]: one SMPP bind: bind, a window of outstanding submit_sm matched by sequence
//!   number, TPS pacing, enquire_link, a response timeout, a pause after throttling;
//! - [`outcome`]: every submit_sm_resp classified as accepted, temporary or permanent;
//! - [`config`]: one `[[carrier]]` of the config file;
//! - [`carriers`]: each carrier's binds kept up (reconnect with jittered backoff) and the
//!   router over them (priority, failover when down or saturated);
//! - [`encode`]: a message as submit_sm PDUs (GSM/UCS-2; UDH, SAR or message_payload);
//! - [`dispatch`]: the queue (the messages table) to links, retries, expiry;
//! - [`intake`]: receipts and replies from carriers;
//! - [`progress`]: submits, failures and receipts written to the store in batches.
//!
//! [`CarrierSide::start`] puts them together for `serve`.
//!
//! # Must never
//! Accept customer traffic.

pub mod carriers;
pub mod config;
pub mod dispatch;
pub mod encode;
pub mod intake;
pub mod link;
pub mod outcome;
pub mod progress;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tongdao_pipeline::Platform;
use tongdao_pipeline::carriers::{CarrierDirectory, CarrierStatus};
use tongdao_store::cluster::Cluster;

pub use carriers::{BindSlots, CarrierLinks, Router};
pub use config::{BindModes, CarrierConfig, Destinations, LongMessage};
pub use dispatch::{DispatchConfig, DispatchStats, Dispatcher};
pub use link::{Ack, BindMode, Incoming, Link, LinkConfig, LinkError};
pub use outcome::SubmitOutcome;
pub use progress::{ProgressSink, ProgressStats};

/// How long an early receipt waits for its part before it is forgotten.
const EARLY_RECEIPT_TTL_MS: i64 = 3600 * 1000;

/// The running carrier side of one gateway node.
#[derive(Debug)]
pub struct CarrierSide {
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    progress_writer: Option<tokio::task::JoinHandle<()>>,
    directory: Arc<Directory>,
}

#[derive(Debug)]
struct Directory {
    router: Router,
    dispatch: Arc<DispatchStats>,
    progress: Arc<ProgressStats>,
    forgotten_receipts: AtomicU64,
}

impl CarrierDirectory for Directory {
    fn carriers(&self) -> Vec<CarrierStatus> {
        self.router.carriers().iter().map(|c| c.status()).collect()
    }

    fn drain(&self, carriers: &std::collections::BTreeSet<String>) {
        for c in self.router.carriers() {
            let draining = carriers.contains(c.name());
            if c.set_draining(draining) != draining {
                tracing::info!(carrier = %c.name(), draining, "maintenance window");
            }
        }
    }

    fn metrics(&self) -> String {
        let mut out = String::new();
        let d = &self.dispatch;
        let p = &self.progress;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (name, help, value) in [
            ("tongdao_dispatch_read_total", "Messages read from the dispatch queue.", load(&d.read)),
            ("tongdao_dispatch_submitted_total", "Messages whose every part a carrier accepted.", load(&d.submitted)),
            ("tongdao_dispatch_failed_total", "Messages ended failed at submission.", load(&d.failed)),
            ("tongdao_dispatch_expired_total", "Messages expired before they could be sent.", load(&d.expired)),
            ("tongdao_dispatch_retries_total", "Submits retried after a temporary failure.", load(&d.retries)),
            (
                "tongdao_dispatch_resubmissions_total",
                "Messages sent again after a restart because they may have been in flight.",
                load(&d.resubmissions),
            ),
            (
                "tongdao_receipts_early_total",
                "Receipts that arrived before their part was recorded.",
                load(&p.early_receipts),
            ),
            ("tongdao_progress_ignored_total", "Duplicate or late progress that changed nothing.", load(&p.ignored)),
            (
                "tongdao_receipts_forgotten_total",
                "Early receipts never matched and forgotten.",
                load(&self.forgotten_receipts),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        }
        let statuses = self.carriers();
        type Gauge = (&'static str, &'static str, fn(&CarrierStatus) -> u64);
        let gauges: [Gauge; 11] = [
            ("tongdao_carrier_draining", "1 while the carrier is in a maintenance window.", |s| u64::from(s.draining)),
            ("tongdao_carrier_binds_bound", "Binds up per carrier.", |s| u64::from(s.binds_bound)),
            ("tongdao_carrier_window_in_use", "Outstanding submit_sm per carrier.", |s| u64::from(s.window_in_use)),
            ("tongdao_carrier_queue_depth", "Messages waiting for a window place.", |s| s.queue_depth),
            ("tongdao_carrier_submitted_total", "submit_sm sent.", |s| s.counters.submitted),
            ("tongdao_carrier_accepted_total", "submit_sm accepted.", |s| s.counters.accepted),
            ("tongdao_carrier_temporary_failures_total", "Temporary submit failures.", |s| {
                s.counters.temporary_failures
            }),
            ("tongdao_carrier_permanent_failures_total", "Permanent submit failures.", |s| {
                s.counters.permanent_failures
            }),
            ("tongdao_carrier_receipts_total", "Delivery receipts received.", |s| s.counters.receipts),
            ("tongdao_carrier_inbound_total", "Replies (MO) received.", |s| s.counters.inbound),
            ("tongdao_carrier_reconnects_total", "Binds lost and reopened.", |s| s.counters.reconnects),
        ];
        for (name, help, value) in gauges {
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for s in &statuses {
                let _ = writeln!(out, "{name}{{carrier=\"{}\"}} {}", s.name, value(s));
            }
        }
        out
    }
}

impl CarrierSide {
    /// Binds every configured carrier, starts their intakes, the progress writer and the
    /// dispatcher, and registers the carriers with the platform for the operator API.
    /// With a cluster, bind slots are spread over the nodes by lease and queued messages are
    /// claimed (see [`BindSlots`] and [`Dispatcher`]).
    pub fn start(
        platform: &Platform,
        carriers: Vec<CarrierConfig>,
        dispatch: DispatchConfig,
        cluster: Option<Arc<Cluster>>,
    ) -> CarrierSide {
        let (shutdown, watching) = watch::channel(false);
        let store = platform.store().clone();
        let clock = platform.clock().clone();
        let progress_stats = Arc::new(ProgressStats::default());
        let (progress, progress_writer) = ProgressSink::start(
            store.clone(),
            progress_stats.clone(),
            vec![platform.webhook_signal().clone(), platform.deliveries_signal().clone()],
        );
        let mut tasks = Vec::new();
        let mut links = Vec::new();
        let total = carriers.iter().map(|c| c.binds as usize).sum();
        let slots = cluster.clone().map(|cluster| BindSlots { cluster, total });
        for config in carriers {
            let (incoming_tx, incoming) = mpsc::channel(4096);
            let carrier = CarrierLinks::start(config, incoming_tx, watching.clone(), slots.clone());
            tasks.push(tokio::spawn(intake::run(
                carrier.clone(),
                incoming,
                store.clone(),
                progress.clone(),
                clock.clone(),
                platform.clone(),
            )));
            links.push(carrier);
        }
        let router = Router::new(links);
        let stats = Arc::new(DispatchStats::default());
        let dispatcher = Dispatcher {
            store: store.clone(),
            router: router.clone(),
            clock: clock.clone(),
            progress: progress.clone(),
            signal: platform.dispatch_signal().clone(),
            stats: stats.clone(),
            config: dispatch,
            cluster,
        };
        if dispatcher.router.carriers().is_empty() {
            // Nothing to send to: messages stay queued (and expire at their valid_until)
            // until carriers are configured.
            tracing::warn!("no carrier is configured: messages stay queued");
        } else {
            tasks.push(tokio::spawn(dispatcher.run(watching.clone())));
        }
        let directory = Arc::new(Directory {
            router,
            dispatch: stats,
            progress: progress_stats,
            forgotten_receipts: AtomicU64::new(0),
        });
        tasks.push(tokio::spawn(forget_early_receipts(store, clock, directory.clone(), watching)));
        platform.set_carriers(directory.clone());
        CarrierSide { shutdown, tasks, progress_writer: Some(progress_writer), directory }
    }

    pub fn dispatch_stats(&self) -> &DispatchStats {
        &self.directory.dispatch
    }

    pub fn progress_stats(&self) -> &ProgressStats {
        &self.directory.progress
    }

    /// Stops dispatching, unbinds every link, and writes the progress still held.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        // Give the supervisors a moment to unbind cleanly.
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        if let Some(writer) = self.progress_writer.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
        }
    }
}

async fn forget_early_receipts(
    store: Arc<dyn tongdao_store::Store>,
    clock: Arc<dyn tongdao_domain::Clock>,
    directory: Arc<Directory>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        match store.forget_early_receipts(clock.now_ms() - EARLY_RECEIPT_TTL_MS).await {
            Ok(0) => {}
            Ok(n) => {
                directory.forgotten_receipts.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(count = n, "receipts for unknown carrier ids were forgotten after an hour");
            }
            Err(e) => tracing::warn!(error = %e, "cannot forget old early receipts"),
        }
    }
}
