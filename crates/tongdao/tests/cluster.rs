//! Several nodes on one PostgreSQL (issue 7): three `tongdao serve` processes share a
//! database and one SMSC simulator; 50,000 messages go in through random nodes while one
//! node is killed with `kill -9` and started again. Afterwards every accepted message has a
//! final status and exactly one charge, the ledger adds up and its chain is whole, bind
//! slots were spread over the nodes and the killed node's slot was taken over within
//! seconds, and the only double submissions are messages the killed node had in flight
//! (counted by the simulator and reported). The simulator sends each receipt on another bind
//! than its submit's — usually another node's — so receipts settle messages whichever node
//! they reach; and a webhook receiver counts the deliveries of every event: each arrives,
//! and only the batch the killed node had in flight may arrive twice.
//!
//! Runs when `TONGDAO_TEST_DATABASE_URL` names a PostgreSQL database (`.ci/run` creates one),
//! in a schema of its own; without it, it says so and checks nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const MESSAGES: usize = 50_000;
/// Recipients per request.
const BATCH: usize = 10;
const WORKERS: usize = 48;
const LEASE_MS: u64 = 2000;

struct Process {
    child: Child,
}

impl Drop for Process {
    /// A failing assertion must not leave a process running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn say(line: &str) {
    // Straight to stderr: the harness captures print! but not this, so the figures show.
    let _ = writeln!(std::io::stderr(), "cluster: {line}");
}

struct Node {
    /// Killed and reaped when dropped.
    _process: Process,
    base: String,
}

async fn ready(client: &reqwest::Client, url: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn start_node(client: &reqwest::Client, data: &Path, config: &Path, database: &str) -> Node {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_tongdao"))
        .args(["serve", "--demo", "--no-simulator", "--no-smpp", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(["--http", &format!("127.0.0.1:{port}")])
        .env("TONGDAO_DATABASE_URL", database)
        .env("TONGDAO_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node starts");
    let process = Process { child };
    let base = format!("http://127.0.0.1:{port}");
    assert!(ready(client, &format!("{base}/readyz")).await, "node {base} did not become ready");
    Node { _process: process, base }
}

async fn get_json(client: &reqwest::Client, url: &str, bearer: &str) -> Value {
    client.get(url).bearer_auth(bearer).send().await.expect("sent").json().await.expect("json")
}

/// Binds up per node, by base URL.
async fn binds(client: &reqwest::Client, nodes: &[String], operator: &str) -> Vec<u64> {
    let mut all = Vec::new();
    for base in nodes {
        let carriers = get_json(client, &format!("{base}/admin/v1/carriers"), operator).await;
        let bound =
            carriers["carriers"].as_array().map_or(0, |c| c.iter().filter_map(|c| c["binds_bound"].as_u64()).sum());
        all.push(bound);
    }
    all
}

/// A counter from a node's /metrics.
async fn metric(client: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = client.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse::<u64>().ok())).unwrap_or(0)
}

/// A webhook receiver on loopback: its URL, and how many times each event id arrived.
async fn webhook_sink() -> (String, Arc<Mutex<BTreeMap<String, u32>>>) {
    let deliveries: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let seen = deliveries.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let batch: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                for event in batch["events"].as_array().into_iter().flatten() {
                    if let Some(id) = event["id"].as_str() {
                        *seen.entry(id.to_owned()).or_default() += 1;
                    }
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("sink");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), deliveries)
}

/// Messages not in a final status yet.
const OPEN: &str = "SELECT COUNT(*) FROM messages WHERE status NOT IN ('delivered', 'undeliverable', 'failed', \
     'expired', 'rejected', 'cancelled', 'deleted')";

/// A `SELECT COUNT(*)`'s answer.
async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.expect("count").get(0)
}

/// The live nodes' base URLs, changed by the killer.
type Live = Arc<Mutex<Vec<String>>>;

fn live(nodes: &Live) -> Vec<String> {
    nodes.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[derive(Debug, Default)]
struct Tally {
    /// Idempotency-Key → the message ids its 202 named.
    accepted: BTreeMap<String, Vec<String>>,
    retries: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_lose_nothing_and_charge_once_when_one_is_killed_and_restarted() {
    let Some(url) = std::env::var("TONGDAO_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        say("NOT run: TONGDAO_TEST_DATABASE_URL is not set (the multi-node test needs PostgreSQL)");
        return;
    };
    let schema = format!("cluster_{}", std::process::id());
    let database = tongdao_store::postgres::scratch_schema(&url, &schema).await.expect("schema");
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let client = reqwest::Client::builder().pool_max_idle_per_host(WORKERS).build().expect("client");

    // One carrier: the simulator, with three bind slots to spread over three nodes.
    let (smpp, control) = (free_port(), free_port());
    let script = dir.path().join("script.json");
    std::fs::write(&script, r#"{"receipt_on_other_bind": true}"#).expect("script");
    let _simulator = Process {
        child: Command::new(env!("CARGO_BIN_EXE_tongdao"))
            .args(["smsc-sim", "--listen", &format!("127.0.0.1:{smpp}"), "--control", &format!("127.0.0.1:{control}")])
            .arg("--script")
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("simulator starts"),
    };
    let sim = format!("http://127.0.0.1:{control}");
    assert!(ready(&client, &format!("{sim}/stats")).await, "the simulator did not start");
    let config = dir.path().join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nlease_ms = {LEASE_MS}\n\n[[carrier]]\nname = \"sim\"\nhost = \"127.0.0.1\"\nport = {smpp}\n\
             system_id = \"tongdao\"\npassword = \"sim\"\nsource_addr = \"10690000\"\nbinds = 3\nwindow = 128\n"
        ),
    )
    .expect("config");

    // The first node creates the demo customer, its key and the operator token in the data
    // directory the three share (docs/SCALING.md).
    let first = start_node(&client, &data, &config, &database).await;
    let mut nodes = vec![first, start_node(&client, &data, &config, &database).await];
    nodes.push(start_node(&client, &data, &config, &database).await);
    let api_key = std::fs::read_to_string(data.join("demo.key")).expect("demo key").trim().to_owned();
    let operator = std::fs::read_to_string(data.join("operator.token")).expect("token").trim().to_owned();
    let topup = client
        .post(format!("{}/admin/v1/customers/demo/topups", nodes[0].base))
        .bearer_auth(&operator)
        .json(&json!({"amount": "5000.0000", "reference": "cluster-test"}))
        .send()
        .await
        .expect("top-up");
    assert!(topup.status().is_success(), "top-up: {}", topup.text().await.unwrap_or_default());
    let balance_before = get_json(&client, &format!("{}/v1/balance", nodes[0].base), &api_key).await;
    let (hook, deliveries) = webhook_sink().await;
    let set = client
        .put(format!("{}/v1/account/webhook", nodes[0].base))
        .bearer_auth(&api_key)
        .json(&json!({"url": hook}))
        .send()
        .await
        .expect("webhook");
    assert!(set.status().is_success(), "webhook: {}", set.text().await.unwrap_or_default());

    // Every node holds one bind slot of three (its fair share).
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while binds(&client, &bases, &operator).await != [1, 1, 1] && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(binds(&client, &bases, &operator).await, [1, 1, 1], "the slots are spread, one a node");

    let live_nodes: Live = Arc::new(Mutex::new(bases.clone()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let sent = Arc::new(AtomicU64::new(0));
    let requests = MESSAGES / BATCH;
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (client, key, live_nodes, tally, sent) =
            (client.clone(), api_key.clone(), live_nodes.clone(), tally.clone(), sent.clone());
        workers.push(tokio::spawn(async move {
            let mut n = worker;
            while n < requests {
                let idempotency = format!("r{n}");
                let to: Vec<String> = (0..BATCH).map(|i| format!("+86139{:08}", n * BATCH + i)).collect();
                let mut attempt = 0usize;
                loop {
                    let bases = live(&live_nodes);
                    let base = &bases[(n + attempt * 7 + worker) % bases.len()];
                    let answer = client
                        .post(format!("{base}/v1/messages"))
                        .bearer_auth(&key)
                        .header("Idempotency-Key", &idempotency)
                        .json(&json!({"to": to, "text": format!("cluster test {n}")}))
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status().as_u16() == 202 => {
                            let body: Value = r.json().await.expect("json");
                            let ids = body["messages"]
                                .as_array()
                                .map(|m| m.iter().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect())
                                .unwrap_or_default();
                            tally.lock().expect("tally").accepted.insert(idempotency.clone(), ids);
                            break;
                        }
                        // A refusal is a bug here: the balance pays for everything.
                        Ok(r) if r.status().is_client_error() => {
                            panic!("request {n} refused: {} {}", r.status(), r.text().await.unwrap_or_default())
                        }
                        // The node died under the request, or is unavailable: the same key
                        // on another node.
                        _ => {
                            attempt += 1;
                            tally.lock().expect("tally").retries += 1;
                            assert!(attempt < 200, "request {n} never got an answer");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                sent.fetch_add(1, Ordering::Relaxed);
                n += WORKERS;
            }
        }));
    }

    // At 40 % of the requests, kill -9 the second node; measure the takeover of its bind
    // slot by the two others; then start it again.
    while sent.load(Ordering::Relaxed) < (requests * 2 / 5) as u64 {
        // A worker that ended early has failed: its panic is reported below.
        if workers.iter().any(|w| w.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = nodes.remove(1);
    live_nodes.lock().expect("live").retain(|b| *b != killed.base);
    drop(killed); // SIGKILL, then reaped
    let killed_at = Instant::now();
    let survivors: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while binds(&client, &survivors, &operator).await.iter().sum::<u64>() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let takeover = killed_at.elapsed();
    assert_eq!(
        binds(&client, &survivors, &operator).await.iter().sum::<u64>(),
        3,
        "the killed node's slot is taken over"
    );
    say(&format!(
        "the killed node's bind slot was taken over after {:.1} s (lease {LEASE_MS} ms)",
        takeover.as_secs_f64()
    ));
    assert!(takeover < Duration::from_secs(15), "taken over within seconds: {takeover:?}");
    let restarted = start_node(&client, &data, &config, &database).await;
    live_nodes.lock().expect("live").push(restarted.base.clone());
    nodes.push(restarted);

    for worker in workers {
        worker.await.expect("worker");
    }
    let sending = started.elapsed();
    let accepted: Vec<String> = tally.lock().expect("tally").accepted.values().flatten().cloned().collect();
    let retries = tally.lock().expect("tally").retries;
    assert_eq!(accepted.len(), MESSAGES, "every message accepted once");
    say(&format!(
        "{MESSAGES} messages accepted through random nodes in {:.1} s ({:.0}/s), {retries} requests retried on another node",
        sending.as_secs_f64(),
        MESSAGES as f64 / sending.as_secs_f64()
    ));

    // Every accepted message reaches a final status.
    let (db, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let deadline = Instant::now() + Duration::from_secs(180);
    while count(&db, OPEN).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(count(&db, OPEN).await, 0, "every accepted message reached a final status");
    say(&format!("all final {:.1} s after the start", started.elapsed().as_secs_f64()));

    // Exactly the accepted messages are stored, each charged once, and the ledger adds up.
    let stored: i64 = db.query_one("SELECT COUNT(*) FROM messages", &[]).await.expect("messages").get(0);
    assert_eq!(stored, MESSAGES as i64, "no message the client does not know of");
    let known: i64 =
        db.query_one("SELECT COUNT(*) FROM messages WHERE id = ANY($1)", &[&accepted]).await.expect("known").get(0);
    assert_eq!(known, MESSAGES as i64, "every 202 names a stored message");
    let charges = db
        .query_one("SELECT COUNT(*), COUNT(DISTINCT message_id) FROM ledger WHERE kind = 'charge'", &[])
        .await
        .expect("charges");
    assert_eq!(
        (charges.get::<_, i64>(0), charges.get::<_, i64>(1)),
        (MESSAGES as i64, MESSAGES as i64),
        "one charge each"
    );
    let sums = db
        .query_one(
            "SELECT c.balance, \
                (SELECT COALESCE(SUM(amount), 0)::BIGINT FROM ledger WHERE customer_id = c.id), \
                (SELECT COALESCE(SUM(amount), 0)::BIGINT FROM ledger WHERE customer_id = c.id AND kind = 'topup'), \
                (SELECT COALESCE(SUM(-amount), 0)::BIGINT FROM ledger WHERE customer_id = c.id AND kind = 'charge'), \
                (SELECT COALESCE(SUM(amount), 0)::BIGINT FROM ledger WHERE customer_id = c.id AND kind = 'refund') \
             FROM customers c WHERE c.name = 'demo'",
            &[],
        )
        .await
        .expect("sums");
    let (balance, sum, topups, charged, refunds): (i64, i64, i64, i64, i64) =
        (sums.get(0), sums.get(1), sums.get(2), sums.get(3), sums.get(4));
    assert_eq!(balance, sum, "the balance is the sum of the ledger");
    assert_eq!(balance, topups - charged + refunds, "balance = top-ups − charges + refunds");
    assert!(balance >= 0 && balance_before["balance"].is_string(), "{balance_before}");
    let verify = Command::new(env!("CARGO_BIN_EXE_tongdao"))
        .args(["verify", "--data-dir"])
        .arg(&data)
        .env("TONGDAO_DATABASE_URL", &database)
        .output()
        .expect("verify runs");
    assert!(verify.status.success(), "the ledger's chain is whole: {}", String::from_utf8_lossy(&verify.stdout));

    // Double submissions: what the carrier got beyond one submit_sm a message (each has one
    // part), against the messages other nodes took over from the killed one as possibly sent.
    let stats = get_json(&client, &format!("{sim}/stats"), "").await;
    let submits = stats["submits"].as_u64().expect("submits");
    let doubles = submits.saturating_sub(MESSAGES as u64);
    let mut resubmissions = 0;
    for node in &nodes {
        resubmissions += metric(&client, &node.base, "tongdao_dispatch_resubmissions_total").await;
    }
    say(&format!(
        "carrier got {submits} submit_sm for {MESSAGES} messages: {doubles} double submissions, all among the \
         {resubmissions} messages the killed node had claimed and the others took over"
    ));
    assert!(submits >= MESSAGES as u64, "every message went out");
    assert!(doubles <= resubmissions, "the only double submissions are the killed node's in-flight messages");

    // Webhooks: every event went out (the outbox empties), each once but for at most the
    // batch the killed node was sending (one endpoint, one batch of up to 250 at a time).
    let deadline = Instant::now() + Duration::from_secs(120);
    const OUTBOX: &str = "SELECT COUNT(*) FROM webhook_outbox";
    while count(&db, OUTBOX).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(count(&db, OUTBOX).await, 0, "every webhook event was delivered");
    let counts = deliveries.lock().expect("deliveries").clone();
    let twice = counts.values().filter(|n| **n > 1).count();
    let delivered_messages = counts.len();
    say(&format!("{delivered_messages} webhook events delivered, {twice} of them twice (the killed node's batch)"));
    assert!(delivered_messages >= MESSAGES, "at least one event a message: {delivered_messages}");
    assert!(twice <= 250, "only the killed node's batch in flight may come twice: {twice}");
    drop(nodes);
    let _ = db.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await;
}
