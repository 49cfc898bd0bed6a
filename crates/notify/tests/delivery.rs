//! Webhook delivery end to end: a real SQLite store whose status changes fill the outbox,
//! the notifier, and real HTTP receivers on 127.0.0.1.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tongdao_domain::callback::CallbackPolicy;
use tongdao_domain::{Clock, MessageStatus, Money, SystemClock};
use tongdao_notify::{NotifyConfig, NotifyStats, SIGNATURE_HEADER, verify};
use tongdao_store::sqlite::SqliteStore;
use tongdao_store::{AcceptBatch, NewCustomer, NewMessage, Progress, Store};

const LOOPBACK: CallbackPolicy = CallbackPolicy { allow_loopback: true, allow_private: false };

// ---- the store and its events ---------------------------------------------------------

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    clock: Arc<dyn Clock>,
}

fn env() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("tongdao.db")).expect("open store"));
    Env { _dir: dir, store, clock: Arc::new(SystemClock) }
}

async fn customer(store: &SqliteStore, id: &str, url: &str, secret: Option<&str>) {
    store
        .create_customer(NewCustomer {
            id: id.into(),
            name: id.into(),
            address: "1 Road".into(),
            contact: "ops@example.com".into(),
            created_at: 0,
        })
        .await
        .expect("customer");
    store.set_webhook_url(id, Some(url.into())).await.expect("webhook url");
    if let Some(secret) = secret {
        store.set_webhook_secret(id, secret, false).await.expect("webhook secret");
    }
}

/// `count` messages of the customer fail at `at`: one outbox event each.
async fn failed_messages(store: &SqliteStore, customer_id: &str, count: usize, at: i64) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(|i| format!("msg_{customer_id}_{at}_{i}")).collect();
    let messages = ids
        .iter()
        .map(|id| NewMessage {
            id: id.clone(),
            recipient: "+8613800138000".into(),
            carrier: None,
            sender: None,
            text: "hi".into(),
            encoding: "gsm7".into(),
            segments: 1,
            price: Money::ZERO,
            status: MessageStatus::Queued,
            client_ref: None,
            callback_url: None,
            send_at: None,
            valid_until: None,
            charge_on: tongdao_domain::agreement::ChargeOn::Submit,
            concat: None,
            receipt: Default::default(),
            out_of_scope: false,
            screening: None,
            source: None,
        })
        .collect();
    store
        .accept(AcceptBatch {
            customer_id: customer_id.into(),
            messages,
            idempotency: None,
            frequency: tongdao_domain::FrequencyLimits::NONE,
            now_ms: at,
        })
        .await
        .expect("accept");
    let progress = ids
        .iter()
        .map(|id| Progress::Failed {
            customer_id: customer_id.into(),
            message_id: id.clone(),
            link: None,
            parts: 1,
            accepted: 0,
            error: "no_route".into(),
            at,
        })
        .collect();
    store.record_progress(progress).await.expect("progress");
    ids
}

// ---- receivers -------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Request {
    headers: HeaderMap,
    body: Bytes,
    answered: StatusCode,
    at: Instant,
}

#[derive(Debug, Default)]
struct Receiver {
    requests: Mutex<Vec<Request>>,
    /// Answer 500 to this many requests first.
    fail_first: AtomicUsize,
    seen: AtomicUsize,
}

impl Receiver {
    fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }
    fn count(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

async fn hook(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = receiver.seen.fetch_add(1, Ordering::SeqCst);
    let answered =
        if n < receiver.fail_first.load(Ordering::SeqCst) { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
    receiver.requests.lock().expect("lock").push(Request { headers, body, answered, at: Instant::now() });
    answered
}

/// An HTTP receiver on 127.0.0.1; its URL carries a query token (never logged).
async fn receiver(fail_first: usize) -> (Arc<Receiver>, String) {
    let state = Arc::new(Receiver { fail_first: AtomicUsize::new(fail_first), ..Receiver::default() });
    let app = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(state.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (state, format!("http://{addr}/hook?token=t0k"))
}

/// Accepts TCP connections and never answers; returns its URL and how many it accepted.
async fn black_hole() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (format!("http://{addr}/hook"), accepted)
}

/// The `id`s of the events in a batch body, after checking its shape.
fn event_ids(body: &[u8]) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_slice(body).expect("a JSON body");
    let object = value.as_object().expect("an object");
    assert_eq!(object.len(), 1, "only `events` at the top: {value}");
    let events = object.get("events").and_then(|e| e.as_array()).expect("an events array");
    events
        .iter()
        .map(|e| {
            assert_eq!(e.get("type").and_then(|t| t.as_str()), Some("message.status"));
            e.get("id").and_then(|id| id.as_str()).expect("an event id").to_owned()
        })
        .collect()
}

// ---- the notifier ----------------------------------------------------------------------

struct Running {
    stats: Arc<NotifyStats>,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the notifier stops on shutdown")
            .expect("no panic");
    }
}

fn start(env: &Env, config: NotifyConfig) -> Running {
    let wake = Arc::new(Notify::new());
    let (stop, shutdown) = watch::channel(false);
    let (stats, task) = tongdao_notify::start(env.store.clone(), env.clock.clone(), config, wake.clone(), shutdown);
    Running { stats, wake, stop, task }
}

fn test_config(policy: CallbackPolicy) -> NotifyConfig {
    NotifyConfig {
        policy,
        timeout: Duration::from_secs(2),
        poll: Duration::from_millis(50),
        retry_base: Duration::from_millis(50),
        retry_cap: Duration::from_millis(200),
        ..NotifyConfig::default()
    }
}

async fn eventually<F, Fut>(within: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- tests -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_arrive_signed_in_batches_each_exactly_once() {
    let env = env();
    let (rx, url) = receiver(0).await;
    customer(&env.store, "cus_a", &url, Some("whsec_a")).await;
    let now = env.clock.now_ms();
    failed_messages(&env.store, "cus_a", 250, now).await;
    assert_eq!(env.store.outbox_depth().await.expect("depth"), 250);

    let notifier = start(&env, NotifyConfig { max_batch: 100, ..test_config(LOOPBACK) });
    let store = env.store.clone();
    eventually(Duration::from_secs(10), "the outbox empties", || {
        let store = store.clone();
        async move { store.outbox_depth().await.ok() == Some(0) }
    })
    .await;

    let requests = rx.requests();
    assert!(requests.len() >= 3, "250 events in batches of at most 100: {} requests", requests.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let now_secs = env.clock.now_ms() / 1000;
    for request in &requests {
        assert_eq!(request.answered, StatusCode::OK);
        let header = request.headers.get(SIGNATURE_HEADER).and_then(|h| h.to_str().ok()).expect("a signature");
        assert_eq!(verify("whsec_a", header, &request.body, now_secs, 300), Ok(()), "signature of a batch");
        assert!(verify("whsec_other", header, &request.body, now_secs, 300).is_err());
        assert_eq!(request.headers.get("content-type").and_then(|h| h.to_str().ok()), Some("application/json"));
        assert_eq!(request.headers.get("user-agent").and_then(|h| h.to_str().ok()), Some("tongdao-webhooks"));
        let ids = event_ids(&request.body);
        assert!(!ids.is_empty() && ids.len() <= 100, "a batch of {} events", ids.len());
        for id in ids {
            *seen.entry(id).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 250, "every event arrives");
    assert!(seen.values().all(|&n| n == 1), "no event twice");
    let stats = notifier.stats.snapshot();
    assert_eq!((stats.delivered, stats.failures), (250, 0));
    assert_eq!(stats.batches as usize, requests.len());

    // A new event is sent when the loop is woken.
    failed_messages(&env.store, "cus_a", 1, env.clock.now_ms()).await;
    notifier.wake.notify_one();
    eventually(Duration::from_secs(5), "the new event arrives", || async { rx.count() == requests.len() + 1 }).await;
    notifier.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_endpoint_is_retried_until_it_takes_every_event() {
    let env = env();
    let (rx, url) = receiver(3).await;
    customer(&env.store, "cus_b", &url, Some("whsec_b")).await;
    let ids = failed_messages(&env.store, "cus_b", 30, env.clock.now_ms()).await;

    let notifier = start(&env, NotifyConfig { max_batch: 10, ..test_config(LOOPBACK) });
    let store = env.store.clone();
    eventually(Duration::from_secs(10), "the outbox empties", || {
        let store = store.clone();
        async move { store.outbox_depth().await.ok() == Some(0) }
    })
    .await;

    let requests = rx.requests();
    let failed: Vec<&Request> = requests.iter().filter(|r| r.answered != StatusCode::OK).collect();
    assert_eq!(failed.len(), 3);
    // Each retry waits out a backoff (at least half of retry_base).
    for pair in requests.windows(2).take(3) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(25), "retried after {:?}", pair[1].at - pair[0].at);
    }
    // The failed batch is the same (oldest) events, sent again.
    assert_eq!(event_ids(&failed[0].body), event_ids(&requests[3].body));
    let mut delivered: Vec<String> =
        requests.iter().filter(|r| r.answered == StatusCode::OK).flat_map(|r| event_ids(&r.body)).collect();
    delivered.sort();
    let before = delivered.len();
    delivered.dedup();
    assert_eq!(before, delivered.len(), "no event taken twice");
    assert_eq!(delivered.len(), ids.len(), "no event lost");
    let stats = notifier.stats.snapshot();
    assert_eq!((stats.delivered, stats.failures, stats.dropped), (30, 3, 0));
    assert_eq!(env.store.outbox_depth().await.expect("depth"), 0);
    notifier.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_endpoint_does_not_delay_other_customers() {
    let env = env();
    let (dead_url, accepted) = black_hole().await;
    let (rx, url) = receiver(0).await;
    customer(&env.store, "cus_dead", &dead_url, Some("whsec_d")).await;
    customer(&env.store, "cus_live", &url, Some("whsec_l")).await;
    let now = env.clock.now_ms();
    // The dead endpoint's events are older, so it is first in line.
    failed_messages(&env.store, "cus_dead", 5, now - 1000).await;
    failed_messages(&env.store, "cus_live", 5, now).await;

    let started = Instant::now();
    let notifier = start(&env, test_config(LOOPBACK));
    eventually(Duration::from_secs(1), "the live customer's events arrive", || async { rx.count() == 1 }).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    eventually(Duration::from_millis(500), "the dead endpoint is being called meanwhile", || async {
        accepted.load(Ordering::SeqCst) >= 1
    })
    .await;
    assert_eq!(notifier.stats.snapshot().failures, 0, "the dead endpoint has not even timed out yet");

    // It times out (2 s), backs off and is called again, while the live one keeps flowing.
    let stats = notifier.stats.clone();
    eventually(Duration::from_secs(5), "the dead endpoint fails", || async { stats.snapshot().failures >= 1 }).await;
    let later = Instant::now();
    failed_messages(&env.store, "cus_live", 3, env.clock.now_ms()).await;
    notifier.wake.notify_one();
    eventually(Duration::from_secs(1), "new events still arrive", || async { rx.count() == 2 }).await;
    assert!(later.elapsed() < Duration::from_secs(1));
    assert_eq!(event_ids(&rx.requests()[1].body).len(), 3);
    eventually(Duration::from_secs(10), "the dead endpoint is retried", || async {
        accepted.load(Ordering::SeqCst) >= 2
    })
    .await;
    // The dead customer's events are all still waiting.
    assert_eq!(env.store.outbox_depth().await.expect("depth"), 5);
    notifier.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_internal_address_is_never_called_under_the_default_policy() {
    let env = env();
    let (rx, url) = receiver(0).await;
    assert!(url.starts_with("http://127.0.0.1:"));
    customer(&env.store, "cus_ssrf", &url, Some("whsec_s")).await;
    failed_messages(&env.store, "cus_ssrf", 4, env.clock.now_ms()).await;

    let notifier = start(&env, test_config(CallbackPolicy::default()));
    let stats = notifier.stats.clone();
    eventually(Duration::from_secs(5), "refused, and refused again on retry", || async {
        stats.snapshot().ssrf_refused >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.count(), 0, "the receiver is never called");
    let counts = notifier.stats.snapshot();
    assert_eq!(counts.delivered, 0);
    assert!(counts.failures >= counts.ssrf_refused);
    // Refused, not lost: the events wait (until the operator allows the address, or give-up).
    assert_eq!(env.store.outbox_depth().await.expect("depth"), 4);
    notifier.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_without_a_signing_secret_is_not_called() {
    let env = env();
    let (rx, url) = receiver(0).await;
    customer(&env.store, "cus_nosecret", &url, None).await;
    failed_messages(&env.store, "cus_nosecret", 2, env.clock.now_ms()).await;

    let notifier = start(&env, test_config(LOOPBACK));
    let stats = notifier.stats.clone();
    eventually(Duration::from_secs(5), "the failure is recorded", || async { stats.snapshot().failures >= 1 }).await;
    assert_eq!(rx.count(), 0);
    assert_eq!(notifier.stats.snapshot().ssrf_refused, 0);
    assert_eq!(env.store.outbox_depth().await.expect("depth"), 2);
    notifier.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_older_than_give_up_after_are_dropped_when_their_endpoint_fails() {
    let env = env();
    // A port nobody listens on: connection refused.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr");
    customer(&env.store, "cus_gone", &format!("http://{closed}/hook"), Some("whsec_g")).await;
    let now = env.clock.now_ms();
    failed_messages(&env.store, "cus_gone", 3, now - 25 * 3600 * 1000).await;
    failed_messages(&env.store, "cus_gone", 2, now).await;

    let notifier = start(&env, test_config(LOOPBACK));
    let stats = notifier.stats.clone();
    eventually(Duration::from_secs(5), "the old events are dropped", || async { stats.snapshot().dropped == 3 }).await;
    assert_eq!(env.store.outbox_depth().await.expect("depth"), 2, "the recent ones wait");
    assert_eq!(notifier.stats.snapshot().delivered, 0);
    notifier.stop().await;
}
