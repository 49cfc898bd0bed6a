//! One gateway node: store, platform, HTTP edge and sweeper, started together and stopped
//! gracefully (stop accepting, finish in-flight requests and their commits, exit).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tongdao_api::AppState;
use tongdao_domain::{Clock, SystemClock};
use tongdao_pipeline::Platform;
use tongdao_store::Store;
use tongdao_store::cluster::Cluster;
use tongdao_store::postgres::{PgOptions, PgStore};
use tongdao_store::sqlite::{SqliteOptions, SqliteStore};

use crate::config::Config;
use crate::files;
use tongdao_carrier::{CarrierSide, DispatchConfig};
use tongdao_notify::NotifyConfig;

/// Opens the store the config names (PostgreSQL at `database_url`, else SQLite in the data
/// directory), with migrations applied.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let location = config.database_location();
    match &config.database_url {
        Some(url) => {
            let options = PgOptions {
                connections: config.store.connections.max(1),
                max_batch: config.store.max_batch.max(1),
                queue: config.store.queue.max(1),
                ..PgOptions::default()
            };
            let store = PgStore::connect_with(url, options)
                .await
                .with_context(|| format!("cannot open the database {location}"))?;
            Ok(Arc::new(store))
        }
        None => {
            let options =
                SqliteOptions { max_batch: config.store.max_batch, queue: config.store.queue, ..Default::default() };
            let store = SqliteStore::open_with(&config.database_path(), options)
                .with_context(|| format!("cannot open the database {location}"))?;
            Ok(Arc::new(store))
        }
    }
}

/// Opens the data directory and the store, with migrations applied.
pub async fn open_platform(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Platform> {
    files::ensure_data_dir(&config.data_dir)?;
    let store = open_store(config).await?;
    let platform = Platform::with_callbacks(store, clock, config.numbering_plan()?, config.callback_policy());
    platform.set_opt_out_keywords(config.compliance.opt_out_keywords.clone());
    let dir = config.lexicon_dir();
    platform
        .use_lexicon_dir(&dir)
        .map_err(|e| anyhow::anyhow!("cannot load the lexicons in {}: {e}", dir.display()))?;
    Ok(platform)
}

/// Makes sure `<data-dir>/operator.token` holds a valid operator token, creating (and
/// rotating) one when the file is missing or stale. Returns whether a new one was made.
pub async fn ensure_operator_token(platform: &Platform, config: &Config) -> anyhow::Result<bool> {
    let path = config.operator_token_path();
    if let Some(token) = files::read_secret(&path)?
        && platform.authenticate_operator(&token).await.is_ok()
    {
        return Ok(false);
    }
    let token = platform.rotate_operator_token().await.map_err(|r| anyhow::anyhow!("{r}"))?;
    files::write_secret(&path, &token)?;
    Ok(true)
}

/// How long shutdown waits for open connections to finish their requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A running node.
pub struct Gateway {
    pub addr: SocketAddr,
    pub platform: Platform,
    /// The built-in simulator's SMPP address, when it runs.
    pub simulator: Option<Simulator>,
    carriers: Option<CarrierSide>,
    /// The SMPP listener customers bind to, when enabled.
    pub smpp: Option<SmppEdge>,
    notifier: Option<tokio::task::JoinHandle<()>>,
    pub notifier_stats: Arc<tongdao_notify::NotifyStats>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Gateway {
    /// Opens everything and starts serving on `config.http` (port 0 picks a free port).
    pub async fn start(config: &Config) -> anyhow::Result<Gateway> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn start_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Gateway> {
        let platform = open_platform(config, clock).await?;
        let simulator = match config.simulator.enabled {
            true => Some(Simulator::start(config, &*platform.clock().clone()).await?),
            false => None,
        };
        let (shutdown, mut stop) = watch::channel(false);
        // PostgreSQL: this node is one of several on the database (docs/SCALING.md).
        let cluster = match config.database_url.is_some() {
            true => Some(
                Cluster::join(
                    platform.store().clone(),
                    platform.clock().clone(),
                    config.cluster(),
                    shutdown.subscribe(),
                )
                .await
                .context("cannot join the cluster")?,
            ),
            false => None,
        };
        let jobs = Arc::new(Jobs { cluster: cluster.clone(), held: Default::default() });
        let carriers = CarrierSide::start(
            &platform,
            config.carriers(simulator.as_ref().map(|s| s.addr)),
            DispatchConfig::default(),
            cluster.clone(),
        );
        if ensure_operator_token(&platform, config).await? {
            tracing::info!(path = %config.operator_token_path().display(), "wrote a new operator token");
        }
        let listener = tokio::net::TcpListener::bind(config.http)
            .await
            .with_context(|| format!("cannot listen on {}", config.http))?;
        let addr = listener.local_addr()?;
        let state = AppState::new(platform.clone());
        // Not ready until the caller says so (after `--demo` has written its files).
        state.ready.store(false, Ordering::Relaxed);
        let ready = state.ready.clone();
        let console = tongdao_console::routes(state.clone(), config.console_settings());
        let router = tongdao_api::router_with(state.clone(), console);
        let smpp = match config.smpp.enabled {
            true => Some(SmppEdge::start(config, &platform, cluster.clone(), shutdown.subscribe()).await?),
            false => None,
        };

        let (notifier_stats, notifier) = tongdao_notify::start(
            platform.store().clone(),
            platform.clock().clone(),
            NotifyConfig {
                policy: config.callback_policy(),
                timeout: Duration::from_millis(config.webhooks.timeout_ms.max(1)),
                max_batch: config.webhooks.max_batch.max(1),
                concurrency: config.webhooks.concurrency.max(1),
                cluster: cluster.clone(),
                ..NotifyConfig::default()
            },
            platform.webhook_signal().clone(),
            shutdown.subscribe(),
        );
        if let Some(mail) = config.smtp.mail()? {
            tracing::info!(host = %mail.host, port = mail.port, "notices are emailed");
            // It stops with the others at shutdown.
            drop(
                tongdao_notify::mail::start(
                    platform.store().clone(),
                    platform.clock().clone(),
                    mail,
                    shutdown.subscribe(),
                )
                .map_err(anyhow::Error::msg)?,
            );
        }
        platform.metrics().add_source(Box::new({
            let stats = notifier_stats.clone();
            move || {
                let c = stats.snapshot();
                prometheus(&[
                    (
                        "tongdao_webhook_events_delivered_total",
                        COUNTER,
                        "Webhook events an endpoint took.",
                        c.delivered,
                    ),
                    ("tongdao_webhook_requests_total", COUNTER, "Webhook requests answered 2xx.", c.batches),
                    (
                        "tongdao_webhook_failures_total",
                        COUNTER,
                        "Webhook calls that failed (retried later).",
                        c.failures,
                    ),
                    (
                        "tongdao_webhook_events_dropped_total",
                        COUNTER,
                        "Webhook events given up after 24 hours.",
                        c.dropped,
                    ),
                    ("tongdao_webhook_refused_total", COUNTER, "Calls refused by the callback policy.", c.ssrf_refused),
                ])
            }
        }));
        let sweeper = tokio::spawn(sweep_loop(
            platform.clone(),
            jobs.clone(),
            Duration::from_millis(config.sweep_interval_ms.max(10)),
            shutdown.subscribe(),
        ));
        let lexicons = tokio::spawn(lexicon_loop(
            platform.clone(),
            Duration::from_millis(config.compliance.reload_interval_ms.max(100)),
            shutdown.subscribe(),
        ));
        let retention = tokio::spawn(retention_loop(platform.clone(), jobs.clone(), shutdown.subscribe()));
        let maintenance = tokio::spawn(maintenance_loop(
            platform.clone(),
            Duration::from_millis(config.sweep_interval_ms.max(10)),
            shutdown.subscribe(),
        ));
        let warnings = tokio::spawn(warning_loop(platform.clone(), jobs.clone(), shutdown.subscribe()));
        let max_connections = config.max_connections;
        let task = tokio::spawn(async move {
            let ready = state.ready.clone();
            let listener = tongdao_api::listener::CappedListener::new(listener, max_connections);
            let service = router.into_make_service_with_connect_info::<tongdao_api::listener::Peer>();
            let serve = axum::serve(listener, service).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
                ready.store(false, Ordering::Relaxed);
            });
            serve.await.context("HTTP server failed")?;
            sweeper.abort();
            lexicons.abort();
            retention.abort();
            maintenance.abort();
            warnings.abort();
            Ok(())
        });
        Ok(Gateway {
            addr,
            platform,
            simulator,
            carriers: Some(carriers),
            smpp,
            notifier: Some(notifier),
            notifier_stats,
            ready,
            shutdown,
            task,
        })
    }

    /// `/readyz` answers 200 from now on (until shutdown begins).
    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// Stops accepting, lets in-flight requests finish and commit, and waits.
    /// Connections still open after [`SHUTDOWN_GRACE`] (a client that never finishes its
    /// request) are dropped; every request that reached the store has been answered by then.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        // SMPP binds first: unbind them, so no submit_sm arrives while the rest stops.
        if let Some(smpp) = self.smpp.take() {
            smpp.server.shutdown().await;
        }
        let mut task = self.task;
        let served = match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(result) => result.context("server task panicked"),
            Err(_) => {
                tracing::warn!("connections still open after the grace period; closing them");
                task.abort();
                Ok(Ok(()))
            }
        };
        // Then the carrier side: stop dispatching, unbind, write the progress held.
        if let Some(carriers) = self.carriers.take() {
            carriers.shutdown().await;
        }
        if let Some(simulator) = self.simulator.take() {
            simulator.stop().await;
        }
        if let Some(notifier) = self.notifier.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), notifier).await;
        }
        served?
    }

    /// The carrier side's counters (dispatch, progress).
    pub fn carrier_side(&self) -> Option<&CarrierSide> {
        self.carriers.as_ref()
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until(self, mut signals: Signals) -> anyhow::Result<()> {
        signals.wait().await;
        tracing::info!("shutting down: no new requests, finishing the ones in flight");
        self.shutdown().await
    }
}

/// SIGTERM and SIGINT, listened for from the moment the process starts, so that a signal
/// arriving during startup (migrations, `--demo`) still ends in a clean shutdown.
pub struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals { terminate: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
    }

    pub async fn wait(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

/// Runs `tick` every `every` until shutdown.
async fn every<F, Fut>(every: Duration, mut stop: watch::Receiver<bool>, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => tick().await,
            _ = stop.changed() => return,
        }
    }
}

async fn sweep_loop(platform: Platform, jobs: Arc<Jobs>, interval: Duration, stop: watch::Receiver<bool>) {
    every(interval, stop, || async {
        if !jobs.mine("sweep").await {
            return;
        }
        if let Err(rejection) = platform.sweep().await {
            tracing::warn!(%rejection, "sweep failed; will retry");
        }
    })
    .await;
}

/// The periodic jobs one node runs for the cluster (sweeps, retention, warnings): each is a
/// lease, taken by whichever node asks first and kept while that node lives. Without a
/// cluster every job is this node's.
struct Jobs {
    cluster: Option<Arc<Cluster>>,
    held: tokio::sync::Mutex<std::collections::HashMap<&'static str, tongdao_store::cluster::Held>>,
}

impl Jobs {
    async fn mine(&self, job: &'static str) -> bool {
        let Some(cluster) = &self.cluster else { return true };
        let mut held = self.held.lock().await;
        if held.get(job).is_some_and(|h| !h.is_lost()) {
            return true;
        }
        held.remove(job);
        match cluster.try_hold(&format!("job:{job}")).await {
            Some(lease) => {
                tracing::info!(job, node = cluster.node(), "this node runs the job for the cluster");
                held.insert(job, lease);
                true
            }
            None => false,
        }
    }
}

/// Reloads the lexicons when their files change (a failed reload keeps the previous ones and
/// is logged and shown at `GET /admin/v1/lexicons`).
async fn lexicon_loop(platform: Platform, interval: Duration, stop: watch::Receiver<bool>) {
    every(interval, stop, || {
        let p = platform.clone();
        // File reads: off the async threads.
        async move {
            let _ = tokio::task::spawn_blocking(move || p.reload_lexicons(false)).await;
        }
    })
    .await;
}

/// Erases content past each customer's retention period (clauses 3.1, 3.7), and the data
/// of customers terminated longer ago than theirs, hourly.
async fn retention_loop(platform: Platform, jobs: Arc<Jobs>, stop: watch::Receiver<bool>) {
    every(Duration::from_secs(3600), stop, || async {
        if !jobs.mine("retention").await {
            return;
        }
        if let Err(rejection) = platform.retention_sweep().await {
            tracing::warn!(%rejection, "retention pass failed; will retry");
        }
        if let Err(rejection) = platform.erase_terminated().await {
            tracing::warn!(%rejection, "erasing terminated customers failed; will retry");
        }
    })
    .await;
}

/// Starts and ends the drain of carriers in maintenance windows (clause 3.2).
async fn maintenance_loop(platform: Platform, interval: Duration, stop: watch::Receiver<bool>) {
    every(interval, stop, || async {
        if let Err(rejection) = platform.maintenance_tick().await {
            tracing::warn!(%rejection, "maintenance check failed; will retry");
        }
    })
    .await;
}

/// Expiry warnings 30 and 7 days ahead (clause 8) and low-balance warnings, every minute.
async fn warning_loop(platform: Platform, jobs: Arc<Jobs>, stop: watch::Receiver<bool>) {
    every(Duration::from_secs(60), stop, || async {
        if !jobs.mine("warnings").await {
            return;
        }
        if let Err(rejection) = platform.expiry_warnings().await {
            tracing::warn!(%rejection, "expiry warnings failed; will retry");
        }
        if let Err(rejection) = platform.low_balance_warnings().await {
            tracing::warn!(%rejection, "low-balance warnings failed; will retry");
        }
    })
    .await;
}

/// The SMPP listener customers bind to, with the tasks that feed its delivery pumps and
/// expire what no bind took in time.
pub struct SmppEdge {
    pub server: Arc<tongdao_smpp_server::Server>,
}

impl SmppEdge {
    async fn start(
        config: &Config,
        platform: &Platform,
        cluster: Option<Arc<Cluster>>,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<SmppEdge> {
        let backend = Arc::new(tongdao_smpp_server::platform::PlatformBackend::new(platform.clone(), cluster));
        let server = tongdao_smpp_server::Server::start(config.smpp_server(), backend)
            .await
            .with_context(|| format!("cannot start the SMPP listener on {}", config.smpp.listen))?;
        let server = Arc::new(server);
        tracing::info!(addr = %server.local_addr(), tls = config.smpp.tls_cert.is_some(), "SMPP listening");
        // Receipts written: wake the pumps of bound customers.
        tokio::spawn({
            let (server, signal, mut stop) = (server.clone(), platform.deliveries_signal().clone(), stop.clone());
            async move {
                loop {
                    tokio::select! {
                        () = signal.notified() => server.wake(),
                        _ = stop.changed() => return,
                    }
                }
            }
        });
        tokio::spawn(expire_deliveries(platform.clone(), config.smpp.delivery_expiry_hours, stop));
        platform.metrics().add_source(Box::new({
            let server = server.clone();
            move || smpp_metrics(&server.stats())
        }));
        Ok(SmppEdge { server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }
}

/// Drops receipts and MO no bind took within the expiry, once a minute.
async fn expire_deliveries(platform: Platform, hours: u64, mut stop: watch::Receiver<bool>) {
    let keep_ms = i64::try_from(hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    let mut ticker = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let before = platform.now_ms().saturating_sub(keep_ms);
                match platform.store().expire_smpp_outbox(before, 10_000).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(dropped = n, hours, "SMPP receipts/MO expired: no bind took them in time"),
                    Err(e) => tracing::warn!(error = %e, "cannot expire the SMPP outbox"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}

fn smpp_metrics(s: &tongdao_smpp_server::ServerStats) -> String {
    prometheus(&[
        ("tongdao_smpp_connections", GAUGE, "SMPP connections open.", s.connections_open),
        ("tongdao_smpp_binds", GAUGE, "SMPP binds open.", s.binds_open),
        ("tongdao_smpp_connections_refused_total", COUNTER, "Connections over a cap.", s.connections_refused),
        ("tongdao_smpp_bind_failures_total", COUNTER, "Binds refused.", s.bind_failures),
        ("tongdao_smpp_submits_total", COUNTER, "submit_sm accepted.", s.submits_ok),
        ("tongdao_smpp_submits_refused_total", COUNTER, "submit_sm refused.", s.submits_refused),
        ("tongdao_smpp_throttled_total", COUNTER, "submit_sm answered ESME_RTHROTTLED.", s.throttled),
        ("tongdao_smpp_generic_nacks_total", COUNTER, "generic_nack sent.", s.generic_nacks),
        ("tongdao_smpp_deliveries_total", COUNTER, "deliver_sm answered OK.", s.deliveries_ok),
        ("tongdao_smpp_delivery_failures_total", COUNTER, "deliver_sm answered with an error.", s.deliveries_failed),
        ("tongdao_smpp_delivery_timeouts_total", COUNTER, "deliver_sm not answered.", s.deliveries_timed_out),
        ("tongdao_smpp_idle_closes_total", COUNTER, "Binds closed for silence.", s.idle_closes),
    ])
}

const COUNTER: &str = "counter";
const GAUGE: &str = "gauge";

/// Prometheus text for (name, type, help, value) rows.
fn prometheus(rows: &[(&str, &str, &str, u64)]) -> String {
    rows.iter()
        .map(|(name, kind, help, value)| format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"))
        .collect()
}

/// The built-in SMSC simulator, running inside `serve`, with its HTTP control endpoint.
pub struct Simulator {
    pub addr: SocketAddr,
    /// Where the control endpoint listens, when it could bind.
    pub control: Option<SocketAddr>,
    /// The running simulator: its script, counters, MO injection.
    pub sim: tongdao_simulator::Simulator,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Simulator {
    async fn start(config: &Config, clock: &dyn Clock) -> anyhow::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(config.simulator.listen)
            .await
            .with_context(|| format!("cannot start the SMSC simulator on {}", config.simulator.listen))?;
        let addr = listener.local_addr()?;
        let sim_config = tongdao_simulator::SimConfig {
            receipt_delay: Duration::from_millis(config.simulator.receipt_delay_ms),
            // Ids that a restarted simulator has not given before.
            first_id: u64::try_from(clock.now_ms()).unwrap_or(1).saturating_mul(1000),
            ..Default::default()
        };
        let stats = Arc::new(tongdao_simulator::SimStats::default());
        let sim = tongdao_simulator::Simulator::new(sim_config, stats).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = vec![tokio::spawn({
            let (sim, stopped) = (sim.clone(), stopped.clone());
            async move { sim.serve(listener, stopped).await }
        })];
        // The control endpoint is a convenience: a port already taken does not stop the node.
        let control = match tokio::net::TcpListener::bind(config.simulator.control).await {
            Ok(listener) => {
                let control = listener.local_addr().ok();
                let sim = sim.clone();
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = tongdao_simulator::serve_control(listener, sim, stopped).await {
                        tracing::warn!(error = %e, "the simulator's control endpoint stopped");
                    }
                }));
                control
            }
            Err(e) => {
                tracing::warn!(addr = %config.simulator.control, error = %e, "no simulator control endpoint");
                None
            }
        };
        tracing::info!(%addr, ?control, "SMSC simulator listening");
        Ok(Simulator { addr, control, sim, stop, tasks })
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}
