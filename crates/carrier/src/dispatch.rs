//! Queued messages to carrier links.
//!
//! The messages table is the queue (design decision 4). The dispatcher reads it in commit
//! order (`queue_seq`), a batch at a time — never one query per message — woken by the
//! accept path when it queues something, and hands each message to a task that routes it,
//! encodes it and submits its parts on one carrier. Before a batch is handed on, its last
//! number is recorded as the dispatch mark: after a crash, queued messages at or below the
//! mark may already have reached a carrier, and are counted as resubmissions when they go
//! out again. Temporary failures are retried with a jittered backoff (the message keeps its
//! place: it stays with its task); permanent failures end the message `failed`; a message
//! unsent at its `valid_until` ends `expired`. Both are settled by the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tongdao_domain::Clock;
use tongdao_store::cluster::Cluster;
use tongdao_store::{Progress, QueueClaim, QueuedMessage, Store};

use crate::carriers::{CarrierLinks, Router};
use crate::encode;
use crate::outcome::SubmitOutcome;
use crate::progress::ProgressSink;

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Messages between the queue and a final submit answer, at most.
    pub max_in_flight: usize,
    /// Messages read from the queue in one query, at most.
    pub read_batch: u32,
    /// How often the queue is read when nothing wakes the dispatcher.
    pub idle_poll: Duration,
    /// How long the dispatcher lets new messages gather after being woken.
    pub gather: Duration,
    pub retry_base: Duration,
    pub retry_cap: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            max_in_flight: 8192,
            read_batch: 1024,
            idle_poll: Duration::from_millis(500),
            gather: Duration::from_millis(2),
            retry_base: Duration::from_millis(50),
            retry_cap: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Default)]
pub struct DispatchStats {
    pub read: AtomicU64,
    pub submitted: AtomicU64,
    pub failed: AtomicU64,
    pub expired: AtomicU64,
    pub retries: AtomicU64,
    /// Messages sent again after a restart because they may have been in flight at the crash.
    pub resubmissions: AtomicU64,
    pub queue_reads: AtomicU64,
    /// Claimed messages given back because no carrier for them stayed bound on this node.
    pub given_back: AtomicU64,
}

/// How often a cluster node looks for messages other nodes queued, at most.
const CLUSTER_POLL: Duration = Duration::from_millis(50);

pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    pub router: Router,
    pub clock: Arc<dyn Clock>,
    pub progress: ProgressSink,
    pub signal: Arc<Notify>,
    pub stats: Arc<DispatchStats>,
    pub config: DispatchConfig,
    /// Several nodes: messages are claimed for this node's bound carriers (`claim_queued`)
    /// rather than read in order from a mark.
    pub cluster: Option<Arc<Cluster>>,
}

/// The delay before retry `attempt` (1, 2, …): exponential from `base` to `cap`, then a
/// random point in its upper half.
fn backoff(config: &DispatchConfig, attempt: u32) -> Duration {
    let delay = config.retry_base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(config.retry_cap);
    let micros = delay.as_micros() as u64;
    Duration::from_micros(rand::rng().random_range(micros / 2..=micros.max(1)))
}

impl Dispatcher {
    /// Runs until `shutdown` turns true. Messages still with their tasks then stay `queued`
    /// and go out after the next start.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.config.max_in_flight.max(1)));
        if let Some(cluster) = this.cluster.clone() {
            return this.run_claiming(cluster, permits, shutdown).await;
        }
        let mut cursor = 0i64;
        loop {
            if *shutdown.borrow() {
                return;
            }
            // Read no more than there is room for.
            let room = match permits.available_permits() {
                0 => {
                    tokio::select! {
                        permit = permits.clone().acquire_owned() => drop(permit),
                        _ = shutdown.wait_for(|s| *s) => return,
                    }
                    continue;
                }
                n => n.min(this.config.read_batch as usize) as u32,
            };
            this.stats.queue_reads.fetch_add(1, Ordering::Relaxed);
            let batch = match this.store.queued_after(cursor, room).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the dispatch queue; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let Some(last) = batch.last().map(|m| m.queue_seq) else {
                tokio::select! {
                    _ = this.signal.notified() => {}
                    _ = tokio::time::sleep(this.config.idle_poll) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                continue;
            };
            let mut batch = batch;
            match this.store.mark_dispatched(cursor, last, batch.len()).await {
                Ok(None) => {}
                // Some were cancelled or expired between the read and the mark.
                Ok(Some(still_queued)) => batch.retain(|m| still_queued.contains(&m.id)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record the dispatch mark; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
            cursor = last;
            if !this.hand_out(batch, room, &permits, &shutdown).await {
                return;
            }
        }
    }

    /// The dispatcher of a cluster node: claims (SKIP LOCKED) the queued messages its bound
    /// carriers serve, and those no carrier serves (to fail them), as many as it has room
    /// for; a message another live node claimed is that node's.
    async fn run_claiming(
        self: Arc<Self>,
        cluster: Arc<Cluster>,
        permits: Arc<Semaphore>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let everything: Vec<_> = self.router.carriers().iter().map(|c| c.route()).collect();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let room = match permits.available_permits() {
                0 => {
                    tokio::select! {
                        permit = permits.clone().acquire_owned() => drop(permit),
                        _ = shutdown.wait_for(|s| *s) => return,
                    }
                    continue;
                }
                n => n.min(self.config.read_batch as usize) as u32,
            };
            let serve =
                self.router.carriers().iter().filter(|c| c.transmitter().is_some()).map(|c| c.route()).collect();
            let claim = QueueClaim {
                node: cluster.node().to_owned(),
                now_ms: self.clock.now_ms(),
                limit: room,
                serve,
                unserved_by: Some(everything.clone()),
            };
            self.stats.queue_reads.fetch_add(1, Ordering::Relaxed);
            let batch = match self.store.claim_queued(claim).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim queued messages; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            if batch.is_empty() {
                // Other nodes' accepts do not wake this one: poll at a short pace.
                tokio::select! {
                    _ = self.signal.notified() => {}
                    _ = tokio::time::sleep(self.config.idle_poll.min(CLUSTER_POLL)) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                continue;
            }
            if !self.hand_out(batch, room, &permits, &shutdown).await {
                return;
            }
        }
    }

    /// Gives each message of a batch read or claimed to a task of its own (a place in flight
    /// each); when the batch was smaller than `room` the queue is drained, and the next
    /// messages get a moment to gather. `false` when the dispatcher is stopping.
    async fn hand_out(
        self: &Arc<Self>,
        batch: Vec<QueuedMessage>,
        room: u32,
        permits: &Arc<Semaphore>,
        shutdown: &watch::Receiver<bool>,
    ) -> bool {
        let partial = batch.len() < room as usize;
        self.stats.read.fetch_add(batch.len() as u64, Ordering::Relaxed);
        for message in batch {
            let Ok(permit) = permits.clone().acquire_owned().await else { return false };
            if message.maybe_sent {
                self.stats.resubmissions.fetch_add(1, Ordering::Relaxed);
            }
            let this = self.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = this.send(message, permit) => {}
                    _ = wait_true(shutdown) => {}
                }
            });
        }
        if partial {
            tokio::time::sleep(self.config.gather).await;
        }
        true
    }

    /// On a cluster node, a message that found no bound carrier here for a whole lease
    /// (its binds went to another node) and sent nothing yet is given back; `true` when it
    /// was.
    async fn give_back(&self, m: &QueuedMessage, waiting_since: &mut Option<std::time::Instant>) -> bool {
        let Some(cluster) = &self.cluster else { return false };
        let since = *waiting_since.get_or_insert_with(std::time::Instant::now);
        let lease = Duration::from_millis(u64::try_from(cluster.lease_ms()).unwrap_or(5000));
        if since.elapsed() < lease {
            return false;
        }
        match self.store.release_claim(cluster.node(), &m.customer_id, &m.id).await {
            Ok(()) => {
                self.stats.given_back.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot give a claimed message back; keeping it");
                *waiting_since = None;
                false
            }
        }
    }

    async fn send(&self, m: QueuedMessage, _permit: OwnedSemaphorePermit) {
        let mut attempt = 0u32;
        let mut unbound_since = None;
        let mut carrier: Option<Arc<CarrierLinks>> = None;
        let mut pdus = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        let reference: u16 = rand::rng().random();
        loop {
            let now = self.clock.now_ms();
            if m.valid_until.is_some_and(|until| now >= until) {
                let progress = if ids.is_empty() {
                    self.stats.expired.fetch_add(1, Ordering::Relaxed);
                    Progress::Expired { customer_id: m.customer_id.clone(), message_id: m.id.clone(), at: now }
                } else {
                    self.failed(
                        &m,
                        carrier.as_deref(),
                        pdus.len(),
                        ids.len(),
                        "expired before every part was sent",
                        now,
                    )
                };
                self.progress.record(progress).await;
                return;
            }
            let Some(c) = carrier.clone().or_else(|| self.router.pick(m.carrier.as_deref(), &m.recipient)) else {
                if !self.router.routable(m.carrier.as_deref(), &m.recipient) {
                    let progress = self.failed(&m, None, 0, 0, "no carrier serves this destination", now);
                    self.progress.record(progress).await;
                    return;
                }
                // Every carrier for it is down (here): wait for one.
                if self.give_back(&m, &mut unbound_since).await {
                    return;
                }
                attempt += 1;
                tokio::time::sleep(backoff(&self.config, attempt)).await;
                continue;
            };
            if carrier.is_none() {
                pdus = encode::submits(&c.config, &m.recipient, m.sender.as_deref(), &m.text, reference, m.concat);
                if pdus.is_empty() {
                    let progress = self.failed(&m, Some(&c), 0, 0, "the text cannot be encoded", now);
                    self.progress.record(progress).await;
                    return;
                }
                carrier = Some(c.clone());
            }
            let Some(link) = c.transmitter() else {
                if ids.is_empty() {
                    carrier = None; // not started: another carrier may take it
                    if self.give_back(&m, &mut unbound_since).await {
                        return;
                    }
                }
                attempt += 1;
                tokio::time::sleep(backoff(&self.config, attempt)).await;
                continue;
            };
            unbound_since = None;
            c.queue_depth.fetch_add(1, Ordering::Relaxed);
            c.stats.submitted.fetch_add(1, Ordering::Relaxed);
            let outcome = link.submit(pdus[ids.len()].clone()).await;
            c.queue_depth.fetch_sub(1, Ordering::Relaxed);
            match outcome {
                SubmitOutcome::Accepted { message_id } => {
                    c.stats.accepted.fetch_add(1, Ordering::Relaxed);
                    ids.push(message_id.trim().to_ascii_lowercase());
                    attempt = 0;
                    if ids.len() == pdus.len() {
                        self.stats.submitted.fetch_add(1, Ordering::Relaxed);
                        let progress = Progress::Submitted {
                            customer_id: m.customer_id.clone(),
                            message_id: m.id.clone(),
                            link: c.name().to_owned(),
                            carrier_message_ids: std::mem::take(&mut ids),
                            at: self.clock.now_ms(),
                        };
                        self.progress.record(progress).await;
                        return;
                    }
                }
                SubmitOutcome::TemporaryFailure { .. } => {
                    c.stats.temporary_failures.fetch_add(1, Ordering::Relaxed);
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    if ids.is_empty() {
                        carrier = None;
                    }
                    attempt += 1;
                    tokio::time::sleep(backoff(&self.config, attempt)).await;
                }
                SubmitOutcome::PermanentFailure { status } => {
                    c.stats.permanent_failures.fetch_add(1, Ordering::Relaxed);
                    let error = format!("0x{status:08x}");
                    let progress = self.failed(&m, Some(&c), pdus.len(), ids.len(), &error, self.clock.now_ms());
                    self.progress.record(progress).await;
                    return;
                }
            }
        }
    }

    fn failed(
        &self,
        m: &QueuedMessage,
        carrier: Option<&CarrierLinks>,
        parts: usize,
        accepted: usize,
        error: &str,
        at: i64,
    ) -> Progress {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        Progress::Failed {
            customer_id: m.customer_id.clone(),
            message_id: m.id.clone(),
            link: carrier.map(|c| c.name().to_owned()),
            parts: parts as u32,
            accepted: accepted as u32,
            error: error.to_owned(),
            at,
        }
    }
}

async fn wait_true(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
