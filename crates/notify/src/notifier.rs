//! The delivery loop: due endpoints from the store, one worker per endpoint, batches POSTed
//! back to back, backoff rows written on failure. See the crate documentation.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tongdao_domain::Clock;
use tongdao_domain::callback::CallbackPolicy;
use tongdao_store::cluster::Cluster;
use tongdao_store::{DueEndpoint, OutboxEvent, Store};

use crate::signature::{SIGNATURE_HEADER, sign};
use crate::ssrf::{self, CheckedResolver, GuardError};

/// The `User-Agent` of every webhook call.
pub const USER_AGENT: &str = "tongdao-webhooks";

/// How many due endpoints one scan of the store reads at most.
const DUE_SCAN_LIMIT: u32 = 1000;

/// How much of a response body is read (and thrown away) so the connection can be reused;
/// a longer body closes the connection instead.
const RESPONSE_DRAIN_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Which addresses may be called; checked again before every call.
    pub policy: CallbackPolicy,
    /// Per call: connecting, sending, and the answer (also bounds the DNS lookup).
    pub timeout: Duration,
    /// Events per request at most.
    pub max_batch: u32,
    /// Endpoints worked on at once.
    pub concurrency: usize,
    /// How often the store is asked for due endpoints when nobody wakes the loop.
    pub poll: Duration,
    /// The first retry delay; doubles per consecutive failure...
    pub retry_base: Duration,
    /// ...up to this.
    pub retry_cap: Duration,
    /// Events older than this are dropped when their endpoint fails again.
    pub give_up_after: Duration,
    /// Several nodes: an endpoint is worked by the node holding its lease, so that each
    /// event goes out once across the nodes.
    pub cluster: Option<Arc<Cluster>>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            policy: CallbackPolicy::default(),
            timeout: Duration::from_secs(5),
            max_batch: 250,
            concurrency: 64,
            poll: Duration::from_millis(200),
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(600),
            give_up_after: Duration::from_secs(24 * 3600),
            cluster: None,
        }
    }
}

/// Counters since start (for `/metrics`).
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Events an endpoint took (2xx).
    pub delivered: AtomicU64,
    /// Requests answered 2xx.
    pub batches: AtomicU64,
    /// Calls that failed (non-2xx, transport error, timeout, refusal, no secret).
    pub failures: AtomicU64,
    /// Events dropped after `give_up_after`.
    pub dropped: AtomicU64,
    /// Calls not made because the URL or an address it resolves to is not allowed.
    pub ssrf_refused: AtomicU64,
}

/// A plain copy of [`NotifyStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifyCounts {
    pub delivered: u64,
    pub batches: u64,
    pub failures: u64,
    pub dropped: u64,
    pub ssrf_refused: u64,
}

impl NotifyStats {
    pub fn snapshot(&self) -> NotifyCounts {
        NotifyCounts {
            delivered: self.delivered.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            ssrf_refused: self.ssrf_refused.load(Ordering::Relaxed),
        }
    }
}

/// The delay before retry number `attempt` (1 = after the first failure): `retry_base`
/// doubled per attempt, capped at `retry_cap`, then a random point in its upper half so
/// endpoints that failed together do not come back together.
pub fn backoff(config: &NotifyConfig, attempt: u32) -> Duration {
    let full = backoff_ceiling(config, attempt);
    let full_ms = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
    if full_ms < 2 {
        return full;
    }
    Duration::from_millis(rand::rng().random_range(full_ms / 2..=full_ms))
}

fn backoff_ceiling(config: &NotifyConfig, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(32);
    config.retry_base.saturating_mul(1u32 << doublings.min(31)).min(config.retry_cap)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

type EndpointKey = (String, String);

/// Which endpoints have a worker, and which workers ended since the current scan began.
#[derive(Debug, Default)]
struct Busy {
    working: HashSet<EndpointKey>,
    /// Cleared when a scan starts. An endpoint whose worker ended after the scan read the
    /// store may look due in that (stale) read although its worker just wrote a backoff:
    /// it waits for the next scan, which sees the store as the worker left it.
    ended_this_scan: HashSet<EndpointKey>,
}

fn lock(busy: &Mutex<Busy>) -> MutexGuard<'_, Busy> {
    busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Releases an endpoint when its worker ends, however it ends.
struct BusyGuard {
    busy: Arc<Mutex<Busy>>,
    key: EndpointKey,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let mut busy = lock(&self.busy);
        busy.working.remove(&self.key);
        busy.ended_this_scan.insert(std::mem::take(&mut self.key));
    }
}

struct Ctx {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: NotifyConfig,
    client: reqwest::Client,
    stats: Arc<NotifyStats>,
    shutdown: watch::Receiver<bool>,
}

/// Starts delivering webhooks; the task ends when `shutdown` becomes true (workers get up to
/// `timeout` to finish the call they are in; an unfinished batch is sent again later).
/// Notify `wake` after writing outbox events to have them looked at before the next poll.
pub fn start(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: NotifyConfig,
    wake: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
) -> (Arc<NotifyStats>, JoinHandle<()>) {
    let stats = Arc::new(NotifyStats::default());
    let task = tokio::spawn(run(store, clock, config, wake, shutdown, stats.clone()));
    (stats, task)
}

fn build_client(config: &NotifyConfig) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .connect_timeout(config.timeout)
        .pool_max_idle_per_host(4)
        .pool_idle_timeout(Duration::from_secs(30))
        .dns_resolver(Arc::new(CheckedResolver { policy: config.policy, timeout: config.timeout }))
        .build()
}

async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: NotifyConfig,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<NotifyStats>,
) {
    let client = loop {
        match build_client(&config) {
            Ok(client) => break client,
            Err(e) => {
                tracing::error!(error = %e, "webhooks: cannot build the HTTP client; retrying");
                tokio::select! {
                    () = tokio::time::sleep(config.poll.max(Duration::from_secs(1))) => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    return;
                }
            }
        }
    };
    let concurrency = config.concurrency.max(1);
    let scan_limit = DUE_SCAN_LIMIT.max(u32::try_from(concurrency.saturating_mul(2)).unwrap_or(u32::MAX));
    let ctx = Arc::new(Ctx { store, clock, config, client, stats, shutdown: shutdown.clone() });
    let permits = Arc::new(Semaphore::new(concurrency));
    let busy = Arc::new(Mutex::new(Busy::default()));
    let mut workers = JoinSet::new();

    while !*shutdown.borrow() {
        while let Some(ended) = workers.try_join_next() {
            if let Err(e) = ended
                && e.is_panic()
            {
                tracing::error!(error = %e, "webhooks: a delivery worker panicked");
            }
        }
        if permits.available_permits() > 0 {
            scan(&ctx, &permits, &busy, &mut workers, scan_limit).await;
        }
        tokio::select! {
            () = tokio::time::sleep(ctx.config.poll) => {}
            () = wake.notified() => {}
            _ = shutdown.changed() => {}
        }
    }

    // Let calls in progress finish (each is bounded by the timeout), then stop the rest.
    let drain = async { while workers.join_next().await.is_some() {} };
    if tokio::time::timeout(ctx.config.timeout + Duration::from_secs(1), drain).await.is_err() {
        workers.shutdown().await;
    }
}

async fn scan(
    ctx: &Arc<Ctx>,
    permits: &Arc<Semaphore>,
    busy: &Arc<Mutex<Busy>>,
    workers: &mut JoinSet<()>,
    limit: u32,
) {
    lock(busy).ended_this_scan.clear();
    let now = ctx.clock.now_ms();
    let due = match ctx.store.due_endpoints(now, limit).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "webhooks: cannot read due endpoints");
            return;
        }
    };
    for endpoint in due {
        let key = (endpoint.customer_id.clone(), endpoint.url.clone());
        let guard = {
            let mut state = lock(busy);
            if state.working.contains(&key) || state.ended_this_scan.contains(&key) {
                continue;
            }
            // No free worker: the rest wait for the next scan.
            let Ok(permit) = permits.clone().try_acquire_owned() else { break };
            state.working.insert(key.clone());
            (BusyGuard { busy: busy.clone(), key }, permit)
        };
        workers.spawn(work(ctx.clone(), endpoint, guard));
    }
}

/// Why one call failed; the text is kept as the endpoint's last error.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("the customer has no signing secret")]
    NoSecret,
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("timed out after {0} ms")]
    Timeout(u128),
    #[error("{0}")]
    Transport(String),
}

impl Failure {
    fn is_refusal(&self) -> bool {
        matches!(self, Failure::Guard(GuardError::Refused(_)))
    }

    fn transport(error: reqwest::Error, timeout: Duration) -> Failure {
        if ssrf::is_refusal(&error) {
            let mut text = String::new();
            let mut source = std::error::Error::source(&error);
            while let Some(e) = source {
                if let Some(GuardError::Refused(why)) = e.downcast_ref::<GuardError>() {
                    text.clone_from(why);
                }
                source = e.source();
            }
            return Failure::Guard(GuardError::Refused(text));
        }
        if error.is_timeout() {
            return Failure::Timeout(timeout.as_millis());
        }
        // The URL may carry a token in its query: never in the text.
        let error = error.without_url();
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(e) = source {
            text.push_str(": ");
            text.push_str(&e.to_string());
            source = e.source();
        }
        Failure::Transport(text)
    }
}

/// The host (and port) of a URL, for logs: the path and query may carry secrets.
fn log_host(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            _ => "?".to_owned(),
        },
        Err(_) => "?".to_owned(),
    }
}

/// `{"events":[…]}` with the stored events spliced in as they are (each already one JSON
/// object), so what is signed is exactly what the store holds.
pub(crate) fn batch_body(events: &[OutboxEvent]) -> Vec<u8> {
    let size = events.iter().map(|e| e.body.len() + 1).sum::<usize>() + 13;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(b"{\"events\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event.body.trim().as_bytes());
    }
    body.extend_from_slice(b"]}");
    body
}

/// One endpoint's worker; on a cluster node, only while it holds the endpoint's lease (the
/// lease is given back after the last removal from the outbox is committed, so the next
/// node to take it never sees an event this one delivered).
async fn work(ctx: Arc<Ctx>, endpoint: DueEndpoint, held: (BusyGuard, OwnedSemaphorePermit)) {
    let _held = held;
    let Some(cluster) = ctx.config.cluster.clone() else {
        return deliver(&ctx, &endpoint, None).await;
    };
    let name = endpoint_lease(&endpoint.customer_id, &endpoint.url);
    let Some(lease) = cluster.try_hold(&name).await else { return };
    deliver(&ctx, &endpoint, Some(&lease)).await;
    lease.release().await;
}

/// `webhook:<customer>:<sha-256 of the URL>` (URLs are long; lease names are keys).
fn endpoint_lease(customer_id: &str, url: &str) -> String {
    use sha2::Digest;
    format!("webhook:{customer_id}:{}", hex::encode(sha2::Sha256::digest(url.as_bytes())))
}

/// Batches until the endpoint has nothing pending, fails, or the lease is lost.
async fn deliver(ctx: &Arc<Ctx>, endpoint: &DueEndpoint, lease: Option<&tongdao_store::cluster::Held>) {
    let endpoint = endpoint.clone();
    let host = log_host(&endpoint.url);
    let customer = endpoint.customer_id.as_str();
    let mut failures = endpoint.failures;
    let batch = ctx.config.max_batch.max(1);
    // Events already sent in this run: the next batch starts after them while their removal
    // from the outbox is still being committed (one removal in flight at a time).
    let mut after = 0i64;
    let mut removing: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        if *ctx.shutdown.borrow() || lease.is_some_and(|l| l.is_lost()) {
            break;
        }
        let events = match ctx.store.endpoint_events(customer, &endpoint.url, after, batch).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(customer, host, error = %e, "webhooks: cannot read the outbox");
                break;
            }
        };
        if events.is_empty() {
            break;
        }
        match call(ctx, &endpoint, &events).await {
            Ok(()) => {
                let count = events.len() as u64;
                let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
                after = ids.last().copied().unwrap_or(after);
                if let Some(previous) = removing.take() {
                    let _ = previous.await;
                }
                let (store, customer_id, url, log) =
                    (ctx.store.clone(), customer.to_owned(), endpoint.url.clone(), host.clone());
                let at = ctx.clock.now_ms();
                removing = Some(tokio::spawn(async move {
                    if let Err(e) = store.webhook_delivered(&customer_id, &url, ids, at).await {
                        // Sent but still in the outbox: it goes out again (at least once).
                        tracing::warn!(customer = customer_id, host = log, error = %e, "webhooks: delivered, but cannot record it");
                    }
                }));
                ctx.stats.delivered.fetch_add(count, Ordering::Relaxed);
                ctx.stats.batches.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(customer, host, events = count, "webhooks: delivered");
                failures = 0;
            }
            Err(failure) => {
                record_failure(ctx, &endpoint, &host, failures, &failure).await;
                break;
            }
        }
    }
    if let Some(previous) = removing.take() {
        let _ = previous.await;
    }
}

async fn record_failure(ctx: &Ctx, endpoint: &DueEndpoint, host: &str, failures: u32, failure: &Failure) {
    let customer = endpoint.customer_id.as_str();
    ctx.stats.failures.fetch_add(1, Ordering::Relaxed);
    if failure.is_refusal() {
        ctx.stats.ssrf_refused.fetch_add(1, Ordering::Relaxed);
    }
    let attempt = failures.saturating_add(1);
    let delay = backoff(&ctx.config, attempt);
    let now = ctx.clock.now_ms();
    let next_attempt_at = now.saturating_add(millis(delay));
    let give_up_before = now.saturating_sub(millis(ctx.config.give_up_after));
    let error = failure.to_string();
    let retry_in_ms = millis(delay);
    match failure {
        Failure::NoSecret | Failure::Guard(GuardError::Refused(_)) => {
            tracing::warn!(customer, host, attempt, retry_in_ms, error, "webhooks: endpoint not called");
        }
        _ => tracing::info!(customer, host, attempt, retry_in_ms, error, "webhooks: endpoint failed"),
    }
    match ctx.store.webhook_failed(customer, &endpoint.url, next_attempt_at, &error, give_up_before, now).await {
        Ok(0) => {}
        Ok(dropped) => {
            ctx.stats.dropped.fetch_add(dropped, Ordering::Relaxed);
            tracing::warn!(customer, host, dropped, "webhooks: events dropped after failing for too long");
        }
        Err(e) => tracing::warn!(customer, host, error = %e, "webhooks: cannot record a failure"),
    }
}

/// One request carrying `events`; `Ok` on any 2xx.
async fn call(ctx: &Ctx, endpoint: &DueEndpoint, events: &[OutboxEvent]) -> Result<(), Failure> {
    let secret = endpoint.secret.as_deref().filter(|s| !s.is_empty()).ok_or(Failure::NoSecret)?;
    let url = ssrf::check_target(ctx.config.policy, &endpoint.url, ctx.config.timeout).await?;
    let body = batch_body(events);
    let signature = sign(secret, ctx.clock.now_ms().div_euclid(1000), &body);
    let mut response = ctx
        .client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .timeout(ctx.config.timeout)
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::transport(e, ctx.config.timeout))?;
    let status = response.status();
    // A short answer is read (within the same timeout) so the connection can be reused;
    // anything longer is dropped with the connection. Never kept, never parsed.
    let mut read = 0;
    while read < RESPONSE_DRAIN_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
    if status.is_success() { Ok(()) } else { Err(Failure::Status(status.as_u16())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_from_the_base_to_the_cap_with_jitter_in_the_upper_half() {
        let config = NotifyConfig {
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(600),
            ..NotifyConfig::default()
        };
        assert_eq!(backoff_ceiling(&config, 1), Duration::from_secs(1));
        assert_eq!(backoff_ceiling(&config, 2), Duration::from_secs(2));
        assert_eq!(backoff_ceiling(&config, 5), Duration::from_secs(16));
        assert_eq!(backoff_ceiling(&config, 10), Duration::from_secs(512));
        assert_eq!(backoff_ceiling(&config, 11), Duration::from_secs(600));
        assert_eq!(backoff_ceiling(&config, u32::MAX), Duration::from_secs(600));
        assert_eq!(backoff_ceiling(&config, 0), Duration::from_secs(1));
        for attempt in [1, 3, 20] {
            let ceiling = backoff_ceiling(&config, attempt);
            for _ in 0..200 {
                let d = backoff(&config, attempt);
                assert!(d <= ceiling && d >= ceiling / 2, "{d:?} for attempt {attempt}");
            }
        }
    }

    #[test]
    fn the_batch_body_splices_stored_events_verbatim() {
        let events = [
            OutboxEvent { id: 1, body: r#"{"id":"evt_1","n":1.50}"#.into(), created_at: 0 },
            OutboxEvent { id: 2, body: r#" {"id":"evt_2"}"#.into(), created_at: 0 },
        ];
        assert_eq!(batch_body(&events), br#"{"events":[{"id":"evt_1","n":1.50},{"id":"evt_2"}]}"#.to_vec());
        assert_eq!(batch_body(&[]), br#"{"events":[]}"#.to_vec());
    }

    #[tokio::test]
    async fn the_client_itself_refuses_a_name_resolving_to_a_refused_address() {
        // The pre-check is bypassed here: the client's resolver alone must refuse, and the
        // refusal must be recognised as one through reqwest's error chain.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let config = NotifyConfig::default();
        let client = build_client(&config).expect("client");
        let error = client.get(format!("http://localhost:{port}/?token=s3cret")).send().await.expect_err("refused");
        let failure = Failure::transport(error, config.timeout);
        assert!(failure.is_refusal(), "{failure:?}");
        assert!(!failure.to_string().contains("s3cret"));

        // A plain connection error is no refusal, and its text carries no URL.
        drop(listener);
        let loopback = NotifyConfig {
            policy: CallbackPolicy { allow_loopback: true, allow_private: false },
            ..NotifyConfig::default()
        };
        let client = build_client(&loopback).expect("client");
        let error = client.get(format!("http://localhost:{port}/?token=s3cret")).send().await.expect_err("refused");
        let failure = Failure::transport(error, config.timeout);
        assert!(matches!(failure, Failure::Transport(_)), "{failure:?}");
        assert!(!failure.to_string().contains("s3cret"), "{failure}");
    }

    #[test]
    fn logs_name_the_host_only() {
        assert_eq!(log_host("https://hooks.example.com/cb?token=s3cret"), "hooks.example.com");
        assert_eq!(log_host("http://127.0.0.1:8080/x/y?k=v"), "127.0.0.1:8080");
        assert_eq!(log_host("nonsense"), "?");
    }
}
