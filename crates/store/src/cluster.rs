//! Several nodes on one database (issue 7): each node's heartbeat, and leases held while
//! their work runs.
//!
//! A node has a fresh id each time it starts. It writes a heartbeat every third of
//! [`ClusterConfig::lease`]; a node that misses its heartbeats for a whole lease is dead,
//! and other nodes take over its leases and its claimed messages. A [`Held`] lease is
//! renewed in the background at the same pace; when a renewal fails (another node took it
//! after a pause of this one, or the database was unreachable until the lease ran out),
//! the lease is lost and its work must stop at once: [`Held::lost`] resolves. The lease's
//! token fences the old holder in the database, so a node that lost a lease changes nothing
//! through it any more.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tongdao_domain::Clock;

use crate::{Lease, Store};

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// How long a heartbeat or a lease lasts without renewal: the time in which a dead
    /// node's work is taken over.
    pub lease: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { lease: Duration::from_secs(5) }
    }
}

pub struct Cluster {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    node: String,
    lease_ms: i64,
    live: Mutex<Vec<String>>,
    /// Carrier bind leases this node holds (see [`Cluster::fair_share`]).
    pub held_binds: AtomicUsize,
    stopped: AtomicBool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node", &self.node).finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A new node id: `node-` and 12 random hex digits.
pub fn new_node_id() -> String {
    let id = tongdao_domain::id::new_id("node");
    let tail: String = id.chars().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
    format!("node-{}", tail.to_ascii_lowercase())
}

impl Cluster {
    /// Joins the cluster (a first heartbeat) and keeps the heartbeat going until `shutdown`.
    pub async fn join(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: ClusterConfig,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Cluster>, crate::StoreError> {
        let lease_ms = millis(config.lease).max(300);
        let cluster = Arc::new(Cluster {
            store,
            clock,
            node: new_node_id(),
            lease_ms,
            live: Mutex::new(Vec::new()),
            held_binds: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        });
        cluster.beat().await?;
        tracing::info!(node = %cluster.node, lease_ms, "joined the cluster");
        let this = cluster.clone();
        tokio::spawn(async move {
            let pace = Duration::from_millis(u64::try_from(this.lease_ms / 3).unwrap_or(1000));
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(pace) => {}
                    _ = shutdown.wait_for(|s| *s) => break,
                }
                if let Err(e) = this.beat().await {
                    tracing::warn!(node = %this.node, error = %e, "cannot write the heartbeat");
                }
            }
            this.stopped.store(true, Ordering::Relaxed);
        });
        Ok(cluster)
    }

    async fn beat(&self) -> Result<(), crate::StoreError> {
        let now = self.clock.now_ms();
        let live = self.store.heartbeat(&self.node, now, now + self.lease_ms).await?;
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) = live;
        Ok(())
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn lease_ms(&self) -> i64 {
        self.lease_ms
    }

    /// The nodes alive at the last heartbeat (at least this one).
    pub fn live_nodes(&self) -> usize {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).len().max(1)
    }

    /// This node's share of `total` things to spread over the live nodes (rounded up).
    pub fn fair_share(&self, total: usize) -> usize {
        total.div_ceil(self.live_nodes())
    }

    /// Takes lease `name` if it is free; it is then renewed until the [`Held`] is dropped
    /// or released, or lost.
    pub async fn try_hold(self: &Arc<Self>, name: &str) -> Option<Held> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        let now = self.clock.now_ms();
        let lease = match self.store.acquire_lease(name, &self.node, now, now + self.lease_ms).await {
            Ok(Some(lease)) => lease,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(lease = name, error = %e, "cannot take a lease");
                return None;
            }
        };
        let (lost_tx, lost) = watch::channel(false);
        let renewer = tokio::spawn(renew(self.clone(), lease.clone(), lost_tx));
        Some(Held { cluster: self.clone(), lease, lost, renewer })
    }
}

/// Renews `lease` every third of its length until it is lost or the task is stopped.
async fn renew(cluster: Arc<Cluster>, mut lease: Lease, lost: watch::Sender<bool>) {
    let pace = Duration::from_millis(u64::try_from(cluster.lease_ms / 3).unwrap_or(1000));
    loop {
        tokio::time::sleep(pace).await;
        let now = cluster.clock.now_ms();
        let until = now + cluster.lease_ms;
        match cluster.store.renew_lease(&lease, now, until).await {
            Ok(true) => lease.expires_at = until,
            Ok(false) => {
                tracing::warn!(lease = %lease.name, node = %cluster.node, "lease lost to another node");
                let _ = lost.send(true);
                return;
            }
            Err(e) if cluster.clock.now_ms() + pace_ms(&cluster) >= lease.expires_at => {
                tracing::warn!(lease = %lease.name, error = %e, "cannot renew the lease before it runs out");
                let _ = lost.send(true);
                return;
            }
            Err(e) => tracing::warn!(lease = %lease.name, error = %e, "cannot renew the lease; trying again"),
        }
    }
}

fn pace_ms(cluster: &Cluster) -> i64 {
    cluster.lease_ms / 3
}

/// A lease this node holds; released when dropped.
#[derive(Debug)]
pub struct Held {
    cluster: Arc<Cluster>,
    lease: Lease,
    lost: watch::Receiver<bool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Held {
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    pub fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Resolves when the lease is lost.
    pub async fn lost(&mut self) {
        let _ = self.lost.wait_for(|l| *l).await;
    }

    /// Gives the lease up now, so another node can take it at once.
    pub async fn release(self) {
        self.renewer.abort();
        if !self.is_lost() {
            let _ = self.cluster.store.release_lease(&self.lease).await;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}
