//! The binds of each configured carrier, kept up, and the routing over them.
//!
//! Each carrier keeps `binds` binds (a transceiver, or a transmitter and a receiver) open:
//! a supervisor per bind connects, and when the connection drops reconnects after a
//! jittered exponential backoff (so many gateways do not reconnect in step), and unbinds
//! cleanly at shutdown. Routing picks, among the carriers serving a destination in priority
//! order, the first with a bound transmitter that has room in its window; a carrier that is
//! down or saturated is skipped (failover).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{mpsc, watch};
use tongdao_pipeline::carriers::{CarrierCounters, CarrierStatus};
use tongdao_store::Route;
use tongdao_store::cluster::Cluster;

use crate::config::CarrierConfig;
use crate::link::{BindMode, Incoming, Link, LinkConfig};

/// Counters of one carrier since start.
#[derive(Debug, Default)]
pub struct CarrierStats {
    pub submitted: AtomicU64,
    pub accepted: AtomicU64,
    pub temporary_failures: AtomicU64,
    pub permanent_failures: AtomicU64,
    pub receipts: AtomicU64,
    pub inbound: AtomicU64,
    pub reconnects: AtomicU64,
    pub bind_failures: AtomicU64,
}

#[derive(Debug)]
pub struct CarrierLinks {
    pub config: CarrierConfig,
    links: RwLock<Vec<Link>>,
    next: AtomicUsize,
    pub stats: CarrierStats,
    /// Messages routed here and waiting for a window place.
    pub queue_depth: AtomicI64,
    /// In a maintenance window (clause 3.2): no new submits; the binds stay up, so the
    /// outstanding submits are answered and receipts keep coming.
    draining: AtomicBool,
}

/// The delay before reconnect attempt `failures` (1, 2, …): 250 ms doubling to at most 30 s,
/// then a random point in its upper half.
pub fn reconnect_delay(failures: u32) -> Duration {
    let base =
        Duration::from_millis(250).saturating_mul(1 << failures.saturating_sub(1).min(7)).min(Duration::from_secs(30));
    let millis = base.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(millis / 2..=millis.max(1)))
}

impl CarrierLinks {
    /// Starts the carrier's bind supervisors; receipts and MO from every bind go to `incoming`.
    /// With a cluster, each bind slot is opened only while this node holds its lease (see
    /// [`BindSlots`]).
    pub fn start(
        config: CarrierConfig,
        incoming: mpsc::Sender<Incoming>,
        shutdown: watch::Receiver<bool>,
        slots: Option<BindSlots>,
    ) -> Arc<Self> {
        let carrier = Arc::new(CarrierLinks {
            config,
            links: RwLock::new(Vec::new()),
            next: AtomicUsize::new(0),
            stats: CarrierStats::default(),
            queue_depth: AtomicI64::new(0),
            draining: AtomicBool::new(false),
        });
        for slot in 0..carrier.config.binds {
            match &slots {
                None => {
                    carrier.clone().supervise_slot(incoming.clone(), shutdown.clone());
                }
                Some(slots) => {
                    tokio::spawn(carrier.clone().lease_slot(slot, slots.clone(), incoming.clone(), shutdown.clone()));
                }
            }
        }
        carrier
    }

    /// The supervisors of one bind slot: a transceiver, or a transmitter and a receiver.
    fn supervise_slot(
        self: Arc<Self>,
        incoming: mpsc::Sender<Incoming>,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let modes = self.config.bind_mode.modes();
        modes.iter().map(|mode| tokio::spawn(self.clone().supervise(*mode, incoming.clone(), stop.clone()))).collect()
    }

    /// Keeps bind slot `slot` open while this node holds its lease and has no more than its
    /// fair share of the cluster's bind slots; gives the lease back (unbinding first) when
    /// it holds more than its share, and unbinds at once when the lease is lost.
    async fn lease_slot(
        self: Arc<Self>,
        slot: u32,
        slots: BindSlots,
        incoming: mpsc::Sender<Incoming>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let cluster = &slots.cluster;
        let name = format!("bind:{}:{slot}", self.config.name);
        let pace = Duration::from_millis(u64::try_from(cluster.lease_ms() / 3).unwrap_or(1000).max(10));
        loop {
            if *shutdown.borrow() {
                return;
            }
            let room = cluster.held_binds.load(Ordering::Relaxed) < cluster.fair_share(slots.total);
            if let Some(mut held) = if room { cluster.try_hold(&name).await } else { None } {
                cluster.held_binds.fetch_add(1, Ordering::Relaxed);
                tracing::info!(lease = %name, node = cluster.node(), token = held.lease().token, "bind slot taken");
                let (stop, stopping) = watch::channel(false);
                let supervisors = self.clone().supervise_slot(incoming.clone(), stopping);
                let mut counted = true;
                loop {
                    tokio::select! {
                        () = held.lost() => break,
                        _ = shutdown.wait_for(|s| *s) => break,
                        () = tokio::time::sleep(pace) => {
                            let share = cluster.fair_share(slots.total);
                            let over = cluster.held_binds.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                                (held > share).then(|| held - 1)
                            });
                            if over.is_ok() {
                                counted = false;
                                tracing::info!(lease = %name, share, "more than this node's share of binds: giving one back");
                                break;
                            }
                        }
                    }
                }
                let _ = stop.send(true);
                for supervisor in supervisors {
                    let _ = supervisor.await;
                }
                if counted {
                    cluster.held_binds.fetch_sub(1, Ordering::Relaxed);
                }
                held.release().await;
            }
            // Another node holds it, or this node has its share: look again later, at a
            // jittered pace so that nodes do not ask in step.
            let wait = pace.mul_f64(rand::rng().random_range(0.5..1.5));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    /// What this carrier serves, as a queue claim filters messages.
    pub fn route(&self) -> Route {
        let d = &self.config.destinations;
        Route { carriers: d.carriers.clone(), prefixes: d.prefixes.clone() }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    async fn supervise(
        self: Arc<Self>,
        mode: BindMode,
        incoming: mpsc::Sender<Incoming>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.connect(mode, incoming.clone()).await {
                Ok(link) => {
                    tracing::info!(carrier = %self.config.name, mode = mode.as_str(), "bound");
                    self.links.write().unwrap_or_else(|e| e.into_inner()).push(link.clone());
                    let stopping = tokio::select! {
                        _ = link.closed() => false,
                        _ = shutdown.wait_for(|s| *s) => true,
                    };
                    self.links.write().unwrap_or_else(|e| e.into_inner()).retain(|l| !l.same(&link));
                    if stopping {
                        let _ = link.unbind().await;
                        return;
                    }
                    self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(carrier = %self.config.name, mode = mode.as_str(), "the link dropped; reconnecting");
                    failures = 1;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    self.stats.bind_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(carrier = %self.config.name, mode = mode.as_str(), error = %e, failures, "cannot bind");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(reconnect_delay(failures)) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    async fn connect(&self, mode: BindMode, incoming: mpsc::Sender<Incoming>) -> Result<Link, String> {
        let c = &self.config;
        let addr = tokio::net::lookup_host((c.host.as_str(), c.port))
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", c.host))?
            .next()
            .ok_or_else(|| format!("{} resolves to no address", c.host))?;
        let config = LinkConfig {
            addr,
            mode,
            system_id: c.system_id.clone(),
            password: c.password.clone(),
            system_type: c.system_type.clone(),
            window: c.window as usize,
            response_timeout: c.response_timeout(),
            enquire_link_interval: c.enquire_link_interval(),
            tps: c.tps,
        };
        Link::open(config, incoming).await.map_err(|e| e.to_string())
    }

    /// Starts or ends draining; returns the previous state.
    pub fn set_draining(&self, draining: bool) -> bool {
        self.draining.swap(draining, Ordering::Relaxed)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// A bound link that can submit, preferring room in its window; `None` if none is bound
    /// or the carrier is draining.
    pub fn transmitter(&self) -> Option<Link> {
        if self.is_draining() {
            return None;
        }
        let links = self.links.read().unwrap_or_else(|e| e.into_inner());
        let candidates: Vec<&Link> = links.iter().filter(|l| l.mode().can_submit() && l.is_alive()).collect();
        if candidates.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let rotated = (0..candidates.len()).map(|i| candidates[(start + i) % candidates.len()]);
        let best = rotated.max_by_key(|l| l.window_free())?;
        Some(best.clone())
    }

    /// Whether a transmitter is bound with a free place in its window (and may be used).
    pub fn has_room(&self) -> bool {
        !self.is_draining()
            && self
                .links
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|l| l.mode().can_submit() && l.is_alive() && l.window_free() > 0)
    }

    pub fn status(&self) -> CarrierStatus {
        let links = self.links.read().unwrap_or_else(|e| e.into_inner());
        let c = &self.config;
        let s = &self.stats;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CarrierStatus {
            name: c.name.clone(),
            host: c.host.clone(),
            port: c.port,
            bind_mode: match c.bind_mode {
                crate::config::BindModes::Transceiver => "transceiver",
                crate::config::BindModes::TransmitterReceiver => "transmitter_receiver",
            },
            binds_configured: c.binds * c.bind_mode.modes().len() as u32,
            binds_bound: links.iter().filter(|l| l.is_alive()).count() as u32,
            window: c.window,
            window_in_use: links.iter().map(|l| l.in_flight() as u32).sum(),
            tps: c.tps,
            priority: c.priority,
            queue_depth: self.queue_depth.load(Ordering::Relaxed).max(0) as u64,
            draining: self.is_draining(),
            counters: CarrierCounters {
                submitted: load(&s.submitted),
                accepted: load(&s.accepted),
                temporary_failures: load(&s.temporary_failures),
                permanent_failures: load(&s.permanent_failures),
                receipts: load(&s.receipts),
                inbound: load(&s.inbound),
                reconnects: load(&s.reconnects),
                bind_failures: load(&s.bind_failures),
            },
        }
    }
}

/// Bind slots spread over the nodes of a cluster: each slot of each carrier is a lease, and
/// a node holds at most its fair share of the `total` slots.
#[derive(Debug, Clone)]
pub struct BindSlots {
    pub cluster: Arc<Cluster>,
    pub total: usize,
}

/// Destinations to ordered carriers.
#[derive(Debug, Clone, Default)]
pub struct Router {
    carriers: Vec<Arc<CarrierLinks>>,
}

impl Router {
    pub fn new(mut carriers: Vec<Arc<CarrierLinks>>) -> Router {
        carriers.sort_by_key(|c| c.config.priority);
        Router { carriers }
    }

    pub fn carriers(&self) -> &[Arc<CarrierLinks>] {
        &self.carriers
    }

    /// Carriers serving the destination, in priority order.
    pub fn candidates<'a>(
        &'a self,
        carrier: Option<&'a str>,
        recipient: &'a str,
    ) -> impl Iterator<Item = &'a Arc<CarrierLinks>> {
        let digits = recipient.trim_start_matches('+');
        self.carriers.iter().filter(move |c| c.config.serves(carrier, digits))
    }

    /// The carrier to use now: the first candidate with room, else the first that is bound
    /// (its window will free up), else `None` (every candidate is down).
    pub fn pick(&self, carrier: Option<&str>, recipient: &str) -> Option<Arc<CarrierLinks>> {
        let mut bound = None;
        for c in self.candidates(carrier, recipient) {
            if c.has_room() {
                return Some(c.clone());
            }
            if bound.is_none() && c.transmitter().is_some() {
                bound = Some(c.clone());
            }
        }
        bound
    }

    /// Whether any carrier serves the destination at all.
    pub fn routable(&self, carrier: Option<&str>, recipient: &str) -> bool {
        self.candidates(carrier, recipient).next().is_some()
    }
}
