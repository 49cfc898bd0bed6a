//! Crash safety: `kill -9` the real binary during a burst of concurrent sends, restart it on
//! the same data directory, and check that every message that got a 202 is there and charged
//! exactly once, that nothing else was charged, and that the ledger adds up.
//!
//! Every request carries an Idempotency-Key. Requests that were in flight when the process
//! died got no answer: the client retries them with the same key after the restart, as a
//! real client would. Each retry must answer 202 — a replay if the first attempt had been
//! committed, a fresh accept otherwise — so afterwards every stored message belongs to a 202
//! the client holds, and no message or charge exists that the client does not know about.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    /// A failing assertion must not leave a server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

async fn start(data_dir: &std::path::Path) -> Server {
    start_with(data_dir, &[]).await
}

async fn start_with(data_dir: &std::path::Path, env: &[(&str, String)]) -> Server {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tongdao"))
        .args(["serve", "--demo", "--simulator", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(["--http", &format!("127.0.0.1:{port}")])
        .env("TONGDAO_LOG__LEVEL", "warn")
        .env("TONGDAO_SIMULATOR__CONTROL", "127.0.0.1:0")
        .env("TONGDAO_SMPP__LISTEN", "127.0.0.1:0")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Server { child, base };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not become ready");
}

#[derive(Debug, Default)]
struct Log {
    /// Idempotency-Key → message id, for every 202.
    accepted: BTreeMap<String, String>,
    /// Keys whose request got no answer (in flight at the kill).
    unanswered: BTreeSet<String>,
}

/// GET a JSON answer with a bearer credential.
async fn get_json(client: &reqwest::Client, url: String, bearer: &str) -> Value {
    client.get(url).bearer_auth(bearer).send().await.expect("sent").json().await.expect("json")
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    api_key: &str,
    key: &str,
    to: &str,
) -> Result<(u16, Value), reqwest::Error> {
    let response = client
        .post(format!("{base}/v1/messages"))
        .bearer_auth(api_key)
        .header("Idempotency-Key", key)
        .json(&json!({"to": to, "text": "crash test"}))
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_loses_no_accepted_message_and_charges_none_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let mut server = start(&data).await;
    let api_key = std::fs::read_to_string(data.join("demo.key")).expect("demo key").trim().to_owned();
    let operator = std::fs::read_to_string(data.join("operator.token")).expect("token").trim().to_owned();
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");
    // ¥100 pays 2222 messages: enough for the burst, so every refusal would be a bug.
    let log = Arc::new(Mutex::new(Log::default()));

    let mut workers = Vec::new();
    for worker in 0..32 {
        let (client, base, api_key, log) = (client.clone(), server.base.clone(), api_key.clone(), log.clone());
        workers.push(tokio::spawn(async move {
            for n in 0..60 {
                let key = format!("w{worker}-n{n}");
                let to = format!("1390{worker:03}{n:04}");
                match send(&client, &base, &api_key, &key, &to).await {
                    Ok((202, body)) => {
                        let id = body["messages"][0]["id"].as_str().unwrap_or_default().to_owned();
                        log.lock().expect("log").accepted.insert(key, id);
                    }
                    Ok((status, body)) => panic!("unexpected {status}: {body}"),
                    Err(_) => {
                        log.lock().expect("log").unanswered.insert(key);
                        return; // the server is gone
                    }
                }
            }
        }));
    }
    // Let the burst run, then kill the process without warning.
    let started = Instant::now();
    while log.lock().expect("log").accepted.len() < 300 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    for worker in workers {
        worker.await.expect("worker");
    }
    let before_restart = log.lock().expect("log").accepted.len();
    assert!(before_restart >= 300, "the burst was under way when the process died");

    let mut server = start(&data).await;
    let mut log = std::mem::take(&mut *log.lock().expect("log"));
    // Every message that got a 202 is there.
    for (key, id) in &log.accepted {
        let response =
            client.get(format!("{}/v1/messages/{id}", server.base)).bearer_auth(&api_key).send().await.expect("get");
        assert_eq!(response.status().as_u16(), 200, "{key} -> {id} was acknowledged but is missing");
    }
    // Retry the unanswered ones with their keys: each must now be accepted exactly once.
    let unanswered: Vec<String> = log.unanswered.iter().cloned().collect();
    let mut replayed = 0;
    for key in &unanswered {
        let (worker, n) = key.trim_start_matches('w').split_once("-n").expect("key shape");
        let to = format!("1390{:03}{:04}", worker.parse::<u32>().expect("n"), n.parse::<u32>().expect("n"));
        let (status, body) = send(&client, &server.base, &api_key, key, &to).await.expect("retry");
        assert_eq!(status, 202, "{key}: {body}");
        let id = body["messages"][0]["id"].as_str().unwrap_or_default().to_owned();
        log.accepted.insert(key.clone(), id);
        replayed += 1;
    }

    // The books: one charge per acknowledged message, nothing else; balance = sum of entries.
    let admin_get = |path: String| get_json(&client, format!("{}/admin/v1{path}", server.base), &operator);
    let mut entries: Vec<Value> = Vec::new();
    let mut after = 0;
    loop {
        let page = admin_get(format!("/customers/demo/ledger?limit=1000&after={after}")).await;
        let more = page["entries"].as_array().cloned().unwrap_or_default();
        after = more.last().and_then(|e| e["seq"].as_i64()).unwrap_or(after);
        entries.extend(more);
        if page["next_after"].is_null() {
            break;
        }
    }
    let charged: Vec<String> = entries
        .iter()
        .filter(|e| e["kind"] == "charge")
        .filter_map(|e| e["message_id"].as_str().map(str::to_owned))
        .collect();
    let charged_set: BTreeSet<&String> = charged.iter().collect();
    assert_eq!(charged.len(), charged_set.len(), "no message is charged twice");
    let acknowledged: BTreeSet<&String> = log.accepted.values().collect();
    assert_eq!(charged_set, acknowledged, "exactly the acknowledged messages are charged");

    let balance = admin_get("/customers/demo/balance".to_owned()).await;
    assert_eq!(balance["consistent"], json!(true), "{balance}");
    let expected = 100_0000 - 450 * acknowledged.len() as i64; // in steps of ¥0.0001
    assert_eq!(balance["balance"], json!(format!("{}.{:04}", expected / 10_000, expected % 10_000)));
    eprintln!(
        "crash test: {before_restart} acknowledged before the kill, {} unanswered and retried ({replayed}), {} charged",
        unanswered.len(),
        charged.len()
    );
    server.child.kill().expect("stop");
    server.child.wait().expect("reaped");
}

/// The carrier side's half of the promise: messages handed to the carrier link but not yet
/// answered when the process dies are neither lost nor charged twice: after the restart
/// they go out again (counted as resubmissions) and reach `delivered`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_messages_in_flight_to_the_carrier_loses_none() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let control = format!("127.0.0.1:{}", free_port());
    let server = start_with(&data, &[("TONGDAO_SIMULATOR__CONTROL", control.clone())]).await;
    let api_key = std::fs::read_to_string(data.join("demo.key")).expect("demo key").trim().to_owned();
    let operator = std::fs::read_to_string(data.join("operator.token")).expect("token").trim().to_owned();
    let client = reqwest::Client::new();
    // The simulator answers after 5 s: every submit stays outstanding until the kill.
    let scripted = client
        .put(format!("http://{control}/script"))
        .json(&json!({"answer_delay_ms": 5000}))
        .send()
        .await
        .expect("script");
    assert!(scripted.status().is_success(), "{scripted:?}");
    let recipients: Vec<String> = (0..40).map(|n| format!("+86139{n:08}")).collect();
    let response = client
        .post(format!("{}/v1/messages", server.base))
        .bearer_auth(&api_key)
        .json(&json!({"to": recipients, "text": "in flight"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.expect("json");
    let ids: Vec<String> =
        body["messages"].as_array().expect("list").iter().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect();
    assert_eq!(ids.len(), 40);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let carriers: Value = get_json(&client, format!("{}/admin/v1/carriers", server.base), &operator).await;
        if carriers["carriers"][0]["window_in_use"].as_u64() == Some(40) {
            break;
        }
        assert!(Instant::now() < deadline, "the messages never reached the link: {carriers}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server); // SIGKILL, with 40 submits outstanding

    let server = start(&data).await; // a fresh simulator, answering at once
    let deadline = Instant::now() + Duration::from_secs(20);
    for id in &ids {
        loop {
            let message: Value = get_json(&client, format!("{}/v1/messages/{id}", server.base), &api_key).await;
            if message["status"] == "delivered" {
                break;
            }
            assert!(Instant::now() < deadline, "{id} was not delivered after the restart: {message}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let metrics =
        client.get(format!("{}/metrics", server.base)).send().await.expect("metrics").text().await.expect("text");
    let resubmitted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tongdao_dispatch_resubmissions_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the resubmission metric");
    assert_eq!(resubmitted, 40, "each message in flight at the kill went out again, and was counted");
    let balance: Value = get_json(&client, format!("{}/admin/v1/customers/demo/balance", server.base), &operator).await;
    assert_eq!(balance["consistent"], json!(true), "{balance}");
    let expected = 100_0000 - 450 * 40; // charged once each, in steps of ¥0.0001
    assert_eq!(balance["balance"], json!(format!("{}.{:04}", expected / 10_000, expected % 10_000)));
}

/// The README's promise: on `serve --demo`, a message reaches `delivered` within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_delivers_a_message_within_a_second() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let server = start(&data).await;
    let api_key = std::fs::read_to_string(data.join("demo.key")).expect("demo key").trim().to_owned();
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/messages", server.base))
        .bearer_auth(&api_key)
        .json(&json!({"to": "+86 138-0013-8000", "text": "Your verification code is 123456"}))
        .send()
        .await
        .expect("sent");
    let accepted = Instant::now();
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.expect("json");
    let id = body["messages"][0]["id"].as_str().expect("id").to_owned();
    loop {
        let message: Value = get_json(&client, format!("{}/v1/messages/{id}", server.base), &api_key).await;
        if message["status"] == "delivered" {
            break;
        }
        assert!(accepted.elapsed() < Duration::from_secs(1), "not delivered within a second: {message}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The SMPP edge's promise: `kill -9` during a stream of submit_sm (64 outstanding, as a
/// real ESME's window) loses no message that got submit_sm_resp OK and charges none twice.
/// submit_sm has no idempotency key: the few in flight at the kill may or may not have been
/// stored (never more than the window), and each stored one is charged exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_stream_of_submit_sm_loses_no_acknowledged_message() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tongdao_smpp::pdu::{Bind, Command as Pdu_, Leniency, Pdu, Sm};

    const WINDOW: usize = 64;
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let smpp = format!("127.0.0.1:{}", free_port());
    let mut server = start_with(&data, &[("TONGDAO_SMPP__LISTEN", smpp.clone())]).await;
    let credentials: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo.smpp")).expect("demo.smpp")).expect("json");
    let api_key = std::fs::read_to_string(data.join("demo.key")).expect("demo key").trim().to_owned();
    let operator = std::fs::read_to_string(data.join("operator.token")).expect("token").trim().to_owned();

    let stream = tokio::net::TcpStream::connect(&smpp).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let bind = Bind {
        system_id: credentials["system_id"].as_str().expect("system_id").into(),
        password: credentials["password"].as_str().expect("password").into(),
        interface_version: 0x34,
        ..Bind::default()
    };
    writer.write_all(&Pdu_ { status: 0, sequence: 1, pdu: Pdu::BindTransmitter(bind) }.encode()).await.expect("bind");
    // Read PDUs as they come; every submit_sm_resp OK is an acknowledged message.
    let acknowledged = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let (window_tx, mut window_rx) = tokio::sync::mpsc::channel::<()>(WINDOW);
    let reading = tokio::spawn({
        let acknowledged = acknowledged.clone();
        async move {
            let mut buffer = Vec::new();
            let mut chunk = vec![0u8; 65536];
            loop {
                while let Ok(Some(length)) = tongdao_smpp::split_frame(&buffer, 1 << 20) {
                    let frame: Vec<u8> = buffer.drain(..length).collect();
                    let command = Pdu_::decode(&frame, &mut Leniency::default()).expect("decodes");
                    match command.pdu {
                        Pdu::BindTransmitterResp(_) => assert_eq!(command.status, 0, "bound"),
                        Pdu::SubmitSmResp(resp) => {
                            assert_eq!(command.status, 0, "every submit is accepted while the server lives");
                            // SMPP ids are the platform's without `msg_`.
                            acknowledged.lock().expect("log").insert(format!("msg_{}", resp.message_id));
                            let _ = window_tx.try_send(());
                        }
                        _ => {}
                    }
                }
                match reader.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
        }
    });
    let writing = tokio::spawn(async move {
        let mut in_flight = 0usize;
        for n in 0..2000u32 {
            if in_flight == WINDOW {
                if window_rx.recv().await.is_none() {
                    return;
                }
                in_flight -= 1;
            }
            let sm = Sm {
                dest_addr_ton: 1,
                destination_addr: format!("86139{n:08}"),
                short_message: b"crash test".to_vec(),
                registered_delivery: 1,
                ..Sm::default()
            };
            let command = Pdu_ { status: 0, sequence: n + 2, pdu: Pdu::SubmitSm(sm) };
            if writer.write_all(&command.encode()).await.is_err() {
                return;
            }
            in_flight += 1;
        }
    });
    let started = Instant::now();
    while acknowledged.lock().expect("log").len() < 600 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    let _ = reading.await;
    writing.abort();
    let acknowledged = std::mem::take(&mut *acknowledged.lock().expect("log"));
    assert!(acknowledged.len() >= 600, "the stream was under way when the process died");

    let mut server = start_with(&data, &[("TONGDAO_SMPP__LISTEN", smpp)]).await;
    let client = reqwest::Client::new();
    for id in &acknowledged {
        let response =
            client.get(format!("{}/v1/messages/{id}", server.base)).bearer_auth(&api_key).send().await.expect("get");
        assert_eq!(response.status().as_u16(), 200, "{id} got submit_sm_resp OK but is missing");
    }
    let admin_get = |path: String| get_json(&client, format!("{}/admin/v1{path}", server.base), &operator);
    let mut charged: Vec<String> = Vec::new();
    let mut after = 0;
    loop {
        let page = admin_get(format!("/customers/demo/ledger?limit=1000&after={after}")).await;
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        after = entries.last().and_then(|e| e["seq"].as_i64()).unwrap_or(after);
        charged.extend(
            entries
                .iter()
                .filter(|e| e["kind"] == "charge")
                .filter_map(|e| e["message_id"].as_str().map(str::to_owned)),
        );
        if page["next_after"].is_null() {
            break;
        }
    }
    let charged_set: BTreeSet<String> = charged.iter().cloned().collect();
    assert_eq!(charged.len(), charged_set.len(), "no message is charged twice");
    assert!(charged_set.is_superset(&acknowledged), "every acknowledged message is charged");
    let unacknowledged = charged_set.difference(&acknowledged).count();
    assert!(unacknowledged <= WINDOW, "only submits in flight at the kill may be stored unanswered: {unacknowledged}");
    let balance = admin_get("/customers/demo/balance".to_owned()).await;
    assert_eq!(balance["consistent"], json!(true), "{balance}");
    let expected = 100_0000 - 450 * charged_set.len() as i64;
    assert_eq!(balance["balance"], json!(format!("{}.{:04}", expected / 10_000, expected % 10_000)));
    eprintln!(
        "SMPP crash test: {} acknowledged before the kill, {unacknowledged} stored without an answer",
        acknowledged.len()
    );
    server.child.kill().expect("stop");
    server.child.wait().expect("reaped");
}
