//! The listener and what the sessions share: connection caps, the registry of sessions and
//! binds (open binds per system_id, the token bucket of each system_id, the delivery pump of
//! each customer), the counters, the wake-up for pumps and the shutdown signal.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::pump::{self, BindSlot, PumpEvent};
use crate::session::{self, SHUTDOWN_GRACE};
use crate::throttle::Bucket;
use crate::{Account, Backend, BindMode, ServerConfig, tls};

/// Locks a mutex whatever a panicking holder left: every structure behind one stays
/// consistent between statements.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long [`Server::shutdown`] waits beyond the unbind grace for connections to close and
/// pumps to write their last acknowledgements.
const SHUTDOWN_SLACK: Duration = Duration::from_secs(2);
/// The pause after a failed accept (out of file descriptors, say).
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// A snapshot of the server's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections open now.
    pub connections_open: u64,
    /// Connections accepted and admitted since the start.
    pub connections_total: u64,
    /// Connections closed at once for being over a cap (total or per peer IP).
    pub connections_refused: u64,
    /// Binds open now.
    pub binds_open: u64,
    /// Binds refused (authentication, max binds).
    pub bind_failures: u64,
    /// submit_sm answered with a message id.
    pub submits_ok: u64,
    /// submit_sm answered with an error other than throttling (the backend's refusals, a
    /// wrong bind state).
    pub submits_refused: u64,
    /// submit_sm answered ESME_RTHROTTLED.
    pub throttled: u64,
    pub queries: u64,
    pub cancels: u64,
    /// generic_nack sent.
    pub generic_nacks: u64,
    /// deliver_sm answered OK.
    pub deliveries_ok: u64,
    /// deliver_sm answered with an error (or generic_nack).
    pub deliveries_failed: u64,
    /// deliver_sm not answered within the response timeout.
    pub deliveries_timed_out: u64,
    /// enquire_link sent by us.
    pub enquire_links_sent: u64,
    /// Sessions we unbound after the idle timeout.
    pub idle_closes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub binds_open: AtomicU64,
    pub bind_failures: AtomicU64,
    pub submits_ok: AtomicU64,
    pub submits_refused: AtomicU64,
    pub throttled: AtomicU64,
    pub queries: AtomicU64,
    pub cancels: AtomicU64,
    pub generic_nacks: AtomicU64,
    pub deliveries_ok: AtomicU64,
    pub deliveries_failed: AtomicU64,
    pub deliveries_timed_out: AtomicU64,
    pub enquire_links_sent: AtomicU64,
    pub idle_closes: AtomicU64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn sub(counter: &AtomicU64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
}

impl Counters {
    fn snapshot(&self) -> ServerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServerStats {
            connections_open: get(&self.connections_open),
            connections_total: get(&self.connections_total),
            connections_refused: get(&self.connections_refused),
            binds_open: get(&self.binds_open),
            bind_failures: get(&self.bind_failures),
            submits_ok: get(&self.submits_ok),
            submits_refused: get(&self.submits_refused),
            throttled: get(&self.throttled),
            queries: get(&self.queries),
            cancels: get(&self.cancels),
            generic_nacks: get(&self.generic_nacks),
            deliveries_ok: get(&self.deliveries_ok),
            deliveries_failed: get(&self.deliveries_failed),
            deliveries_timed_out: get(&self.deliveries_timed_out),
            enquire_links_sent: get(&self.enquire_links_sent),
            idle_closes: get(&self.idle_closes),
        }
    }
}

/// One live connection, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: u64,
    pub peer: SocketAddr,
    /// `None` until bound.
    pub system_id: Option<String>,
    pub customer_id: Option<String>,
    pub mode: Option<BindMode>,
    /// Milliseconds since the connection was accepted.
    pub connected_ms: u64,
    /// Milliseconds since the bind.
    pub bound_ms: Option<u64>,
    /// submit_sm received on this session.
    pub submits: u64,
    /// deliver_sm sent on this session and not answered yet.
    pub deliveries_in_flight: u64,
}

/// Per-session counters the session and its customer's pump update.
#[derive(Debug, Default)]
pub(crate) struct SessionCounters {
    pub submits: AtomicU64,
    pub deliveries_in_flight: AtomicU64,
}

impl SessionCounters {
    pub fn delivery_answered(&self) {
        sub(&self.deliveries_in_flight);
    }
}

#[derive(Debug)]
struct SessionEntry {
    peer: SocketAddr,
    connected: Instant,
    bound: Option<BoundEntry>,
    counters: Arc<SessionCounters>,
}

#[derive(Debug)]
struct BoundEntry {
    system_id: String,
    customer_id: String,
    mode: BindMode,
    at: Instant,
}

/// The open binds of one system_id and their shared token bucket.
#[derive(Debug)]
struct SystemBinds {
    open: u32,
    bucket: Arc<Bucket>,
}

/// The delivery pump of one customer and its receiving binds.
#[derive(Debug)]
struct Customer {
    events: mpsc::Sender<PumpEvent>,
    receivers: usize,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    open: usize,
    per_ip: HashMap<IpAddr, usize>,
    sessions: HashMap<u64, SessionEntry>,
    systems: HashMap<String, SystemBinds>,
    customers: HashMap<String, Customer>,
    /// Pumps whose last bind closed, so the next pump of that customer starts after they end
    /// (their last acknowledgements are written before it reads).
    stopping: HashMap<String, JoinHandle<()>>,
    next_session: u64,
}

pub(crate) struct Inner {
    pub config: ServerConfig,
    pub backend: Arc<dyn Backend>,
    pub stats: Counters,
    registry: Mutex<Registry>,
    pub wake: watch::Sender<u64>,
    pub shutdown: watch::Sender<bool>,
    /// Open connections, for shutdown to wait on.
    open: watch::Sender<usize>,
}

/// The connection's place in the registry; leaving it (dropped when the connection task
/// ends) frees its slot under the caps.
pub(crate) struct ConnectionGuard {
    inner: Arc<Inner>,
    ip: IpAddr,
    pub id: u64,
    pub counters: Arc<SessionCounters>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let open = {
            let mut registry = lock(&self.inner.registry);
            registry.sessions.remove(&self.id);
            registry.open = registry.open.saturating_sub(1);
            if let Some(n) = registry.per_ip.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    registry.per_ip.remove(&self.ip);
                }
            }
            registry.open
        };
        sub(&self.inner.stats.connections_open);
        self.inner.open.send_replace(open);
    }
}

/// One open bind: counted against its system_id's max_binds and, for a receiver or
/// transceiver, one of its customer's pump's binds. Dropping it undoes both.
pub(crate) struct BindGuard {
    inner: Arc<Inner>,
    session: u64,
    system_id: String,
    customer_id: String,
    pump: Option<mpsc::Sender<PumpEvent>>,
}

impl BindGuard {
    /// The customer's pump, for a receiver or transceiver.
    pub fn pump(&self) -> Option<&mpsc::Sender<PumpEvent>> {
        self.pump.as_ref()
    }

    /// Joins the customer's pump, starting it when this is the customer's first receiving
    /// bind, and hands it this bind.
    pub async fn join_pump(&mut self, slot: BindSlot) {
        let events = {
            let inner = &self.inner;
            let mut registry = lock(&inner.registry);
            let registry = &mut *registry;
            match registry.customers.get_mut(&self.customer_id) {
                Some(customer) => {
                    customer.receivers += 1;
                    customer.events.clone()
                }
                None => {
                    let (events, queue) = mpsc::channel(pump::EVENTS);
                    let previous = registry.stopping.remove(&self.customer_id);
                    registry.stopping.retain(|_, task| !task.is_finished());
                    let task = tokio::spawn(pump::run(inner.clone(), self.customer_id.clone(), queue, previous));
                    let customer = Customer { events: events.clone(), receivers: 1, task };
                    registry.customers.insert(self.customer_id.clone(), customer);
                    events
                }
            }
        };
        self.pump = Some(events.clone());
        let _ = events.send(PumpEvent::Opened(slot)).await;
    }
}

impl BindGuard {
    /// Takes this bind out of its customer's pump (the sync part): the event to send, if it
    /// was in one.
    fn leave_registry(&mut self) -> Option<(mpsc::Sender<PumpEvent>, PumpEvent)> {
        let events = self.pump.take()?;
        let mut last = false;
        {
            let mut registry = lock(&self.inner.registry);
            let registry = &mut *registry;
            if let Some(customer) = registry.customers.get_mut(&self.customer_id) {
                customer.receivers = customer.receivers.saturating_sub(1);
                if customer.receivers == 0
                    && let Some(customer) = registry.customers.remove(&self.customer_id)
                {
                    last = true;
                    registry.stopping.insert(self.customer_id.clone(), customer.task);
                }
            }
        }
        Some((events, PumpEvent::Closed { session: self.session, last }))
    }

    /// No more deliver_sm on this bind (it is unbinding): what it has unanswered goes to the
    /// customer's other binds.
    pub async fn leave_pump(&mut self) {
        if let Some((events, event)) = self.leave_registry() {
            let _ = events.send(event).await;
        }
    }
}

impl Drop for BindGuard {
    fn drop(&mut self) {
        {
            let mut registry = lock(&self.inner.registry);
            let registry = &mut *registry;
            if let Some(session) = registry.sessions.get_mut(&self.session) {
                session.bound = None;
            }
            if let Some(system) = registry.systems.get_mut(&self.system_id) {
                system.open = system.open.saturating_sub(1);
                if system.open == 0 {
                    registry.systems.remove(&self.system_id);
                }
            }
        }
        sub(&self.inner.stats.binds_open);
        tracing::info!(session = self.session, system_id = ?self.system_id, "bind closed");
        if let Some((events, event)) = self.leave_registry()
            && let Err(mpsc::error::TrySendError::Full(event)) = events.try_send(event)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = events.send(event).await;
            });
        }
    }
}

impl Inner {
    /// Admits a connection under the caps.
    fn admit(self: &Arc<Self>, peer: SocketAddr) -> Option<ConnectionGuard> {
        let (id, open, counters) = {
            let mut registry = lock(&self.registry);
            let from_ip = registry.per_ip.get(&peer.ip()).copied().unwrap_or(0);
            if registry.open >= self.config.max_connections || from_ip >= self.config.max_connections_per_ip {
                return None;
            }
            registry.open += 1;
            *registry.per_ip.entry(peer.ip()).or_insert(0) += 1;
            registry.next_session += 1;
            let id = registry.next_session;
            let counters = Arc::new(SessionCounters::default());
            let entry = SessionEntry { peer, connected: Instant::now(), bound: None, counters: counters.clone() };
            registry.sessions.insert(id, entry);
            (id, registry.open, counters)
        };
        add(&self.stats.connections_open, 1);
        add(&self.stats.connections_total, 1);
        self.open.send_replace(open);
        Some(ConnectionGuard { inner: self.clone(), ip: peer.ip(), id, counters })
    }

    /// Counts a bind against its system_id's max_binds: the guard and the system_id's
    /// bucket, or `None` when the account has all the binds it may have.
    pub fn register_bind(
        self: &Arc<Self>,
        session: u64,
        account: &Account,
        mode: BindMode,
    ) -> Option<(BindGuard, Arc<Bucket>)> {
        let bucket = {
            let mut registry = lock(&self.registry);
            let registry = &mut *registry;
            let system = registry
                .systems
                .entry(account.system_id.clone())
                .or_insert_with(|| SystemBinds { open: 0, bucket: Arc::new(Bucket::new(account.tps)) });
            if system.open >= account.max_binds {
                if system.open == 0 {
                    registry.systems.remove(&account.system_id);
                }
                return None;
            }
            system.open += 1;
            system.bucket.set_rate(account.tps);
            let bucket = system.bucket.clone();
            if let Some(entry) = registry.sessions.get_mut(&session) {
                entry.bound = Some(BoundEntry {
                    system_id: account.system_id.clone(),
                    customer_id: account.customer_id.clone(),
                    mode,
                    at: Instant::now(),
                });
            }
            bucket
        };
        add(&self.stats.binds_open, 1);
        let guard = BindGuard {
            inner: self.clone(),
            session,
            system_id: account.system_id.clone(),
            customer_id: account.customer_id.clone(),
            pump: None,
        };
        Some((guard, bucket))
    }
}

/// The customer-facing SMPP server. Dropping it stops accepting and unbinds every session,
/// as [`Server::shutdown`] does, without waiting.
pub struct Server {
    inner: Arc<Inner>,
    local_addr: SocketAddr,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

/// Settings that would make no sense are taken at their nearest sensible value.
fn normalize(mut config: ServerConfig) -> ServerConfig {
    config.window = config.window.clamp(1, 65_536);
    config.max_in_flight_submits = config.max_in_flight_submits.clamp(1, 1 << 20);
    config.max_pdu_len = config.max_pdu_len.max(tongdao_smpp::HEADER_LEN as u32);
    config
}

impl Server {
    /// Binds the listener (TLS when configured; a bad cert/key path or PEM is an Err with a
    /// clear message) and starts accepting.
    pub async fn start(config: ServerConfig, backend: Arc<dyn Backend>) -> io::Result<Server> {
        let acceptor = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            config: normalize(config),
            backend,
            stats: Counters::default(),
            registry: Mutex::new(Registry::default()),
            wake: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
            open: watch::Sender::new(0),
        });
        tracing::info!(listen = %local_addr, tls = acceptor.is_some(), "SMPP server listening");
        let accept = tokio::spawn(accept_loop(inner.clone(), listener, acceptor));
        Ok(Server { inner, local_addr, accept: Mutex::new(Some(accept)) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// New deliveries may be pending (for any customer): wakes the delivery pumps that wait.
    /// Cheap, and never lost: a pump reading when it is called reads again.
    pub fn wake(&self) {
        self.inner.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn stats(&self) -> ServerStats {
        self.inner.stats.snapshot()
    }

    /// The live connections, by id.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let now = Instant::now();
        let ms = |since: Instant| u64::try_from(now.saturating_duration_since(since).as_millis()).unwrap_or(u64::MAX);
        let registry = lock(&self.inner.registry);
        let mut sessions: Vec<SessionInfo> = registry
            .sessions
            .iter()
            .map(|(id, entry)| SessionInfo {
                id: *id,
                peer: entry.peer,
                system_id: entry.bound.as_ref().map(|b| b.system_id.clone()),
                customer_id: entry.bound.as_ref().map(|b| b.customer_id.clone()),
                mode: entry.bound.as_ref().map(|b| b.mode),
                connected_ms: ms(entry.connected),
                bound_ms: entry.bound.as_ref().map(|b| ms(b.at)),
                submits: entry.counters.submits.load(Ordering::Relaxed),
                deliveries_in_flight: entry.counters.deliveries_in_flight.load(Ordering::Relaxed),
            })
            .collect();
        sessions.sort_by_key(|s| s.id);
        sessions
    }

    /// Stops accepting, sends unbind to every bound session, waits up to 2 s for unbind_resp,
    /// closes all; then gives the delivery pumps a moment to write their last
    /// acknowledgements.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        let accept = lock(&self.accept).take();
        if let Some(accept) = accept {
            let _ = accept.await;
        }
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE + SHUTDOWN_SLACK;
        let mut open = self.inner.open.subscribe();
        let _ = tokio::time::timeout_at(deadline, open.wait_for(|n| *n == 0)).await;
        let pumps: Vec<JoinHandle<()>> = {
            let mut registry = lock(&self.inner.registry);
            let registry = &mut *registry;
            registry.stopping.drain().map(|(_, task)| task).collect()
        };
        for pump in pumps {
            let _ = tokio::time::timeout_at(deadline, pump).await;
        }
        tracing::info!(listen = %self.local_addr, "SMPP server stopped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.inner.shutdown.send_replace(true);
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, acceptor: Option<TlsAcceptor>) {
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let Some(guard) = inner.admit(peer) else {
            add(&inner.stats.connections_refused, 1);
            tracing::debug!(peer = %peer.ip(), "connection over the cap closed");
            drop(tcp);
            continue;
        };
        tokio::spawn(connection(inner.clone(), tcp, peer, acceptor.clone(), guard));
    }
    tracing::debug!("no longer accepting");
}

async fn connection(
    inner: Arc<Inner>,
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    guard: ConnectionGuard,
) {
    let _ = tcp.set_nodelay(true);
    match acceptor {
        None => session::run(inner, tcp, peer, &guard).await,
        Some(acceptor) => {
            let mut shutdown = inner.shutdown.subscribe();
            let handshake = tokio::time::timeout(inner.config.bind_timeout, acceptor.accept(tcp));
            let tls = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                tls = handshake => tls,
            };
            match tls {
                Ok(Ok(stream)) => session::run(inner, stream, peer, &guard).await,
                Ok(Err(e)) => tracing::debug!(peer = %peer.ip(), error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(peer = %peer.ip(), "TLS handshake timed out"),
            }
        }
    }
    drop(guard);
}
