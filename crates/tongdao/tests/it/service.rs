//! Service routes and the node's lifecycle.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn health_readiness_metrics_and_the_openapi_document_are_served() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "10").await;
    gw.send_text(&alice, "13800138000", "hi").await;
    gw.send_text(&alice, "bad", "hi").await;
    let (status, body) = gw.request(None, Method::GET, "/healthz", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, _) = gw.request(None, Method::GET, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, spec) = gw.request(None, Method::GET, "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["paths"]["/v1/messages"].is_object(), "the spec describes the send route");
    let metrics = gw.http.get(format!("{}/metrics", gw.base)).send().await.expect("sent").text().await.expect("text");
    assert!(metrics.contains("tongdao_accepted_messages_total 1"), "{metrics}");
    assert!(metrics.contains("tongdao_rejections_total{code=\"invalid_number\"} 1"), "{metrics}");
    assert!(metrics.contains("tongdao_http_request_duration_seconds_count"), "{metrics}");
    assert!(
        metrics.contains("tongdao_store_commits_total") && metrics.contains("tongdao_store_jobs_total"),
        "{metrics}"
    );
    let (status, body) = gw.request(None, Method::GET, "/nowhere", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = gw.request(Some(&alice.key), Method::PUT, "/v1/balance", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
}

#[tokio::test]
async fn accepted_messages_survive_a_graceful_restart() {
    let mut gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "10").await;
    let (_, body) = gw.send_text(&alice, "13800138000", "kept").await;
    let id = body["messages"][0]["id"].as_str().expect("id").to_owned();
    gw.stop().await;
    assert!(gw.http.get(format!("{}/healthz", gw.base)).send().await.is_err(), "no longer listening");

    let dir = std::mem::replace(&mut gw.dir, tempfile::tempdir().expect("dir"));
    let mut config = gw.config.clone();
    config.http = "127.0.0.1:0".parse().expect("addr");
    let again = TestGateway::spawn_in(dir, config).await;
    assert_eq!(again.operator_token, gw.operator_token, "the operator token is kept across restarts");
    let (status, message) = again.message(&alice, &id).await;
    assert_eq!((status, message["status"].as_str()), (StatusCode::OK, Some("queued")));
    assert_eq!(again.balance(&alice).await, "9.9550");
}

#[tokio::test]
async fn readiness_waits_until_the_node_says_it_is_ready() {
    // Regression: `serve --demo` answered /readyz before demo.key was written.
    let dir = tempfile::tempdir().expect("dir");
    let config = tongdao::config::Config {
        data_dir: dir.path().join("data"),
        http: "127.0.0.1:0".parse().expect("addr"),
        simulator: tongdao::config::SimulatorConfig { enabled: false, ..tongdao::config::Config::default().simulator },
        smpp: tongdao::config::SmppConfig { enabled: false, ..tongdao::config::Config::default().smpp },
        ..tongdao::config::Config::default()
    };
    let gateway = tongdao::gateway::Gateway::start(&config).await.expect("starts");
    let url = format!("http://{}/readyz", gateway.addr);
    let status = reqwest::get(&url).await.expect("answer").status();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    gateway.mark_ready();
    assert_eq!(reqwest::get(&url).await.expect("answer").status(), StatusCode::OK);
    gateway.shutdown().await.expect("stops");
}

#[tokio::test]
async fn open_connections_are_capped_and_a_closed_one_makes_room() {
    let dir = tempfile::tempdir().expect("dir");
    let config = tongdao::config::Config {
        data_dir: dir.path().join("data"),
        http: "127.0.0.1:0".parse().expect("addr"),
        max_connections: 2,
        simulator: tongdao::config::SimulatorConfig { enabled: false, ..tongdao::config::Config::default().simulator },
        smpp: tongdao::config::SmppConfig { enabled: false, ..tongdao::config::Config::default().smpp },
        ..tongdao::config::Config::default()
    };
    let gateway = tongdao::gateway::Gateway::start(&config).await.expect("starts");
    let addr = gateway.addr;
    let first = tokio::net::TcpStream::connect(addr).await.expect("first");
    let _second = tokio::net::TcpStream::connect(addr).await.expect("second");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await; // both accepted
    let third = reqwest::Client::new().get(format!("http://{addr}/healthz")).send();
    let waited = tokio::time::timeout(std::time::Duration::from_millis(500), third).await;
    assert!(waited.is_err(), "a third connection is not served while two are open");
    drop(first);
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        reqwest::Client::new().get(format!("http://{addr}/healthz")).send(),
    )
    .await
    .expect("served once a connection closed")
    .expect("answer");
    assert_eq!(answer.status(), StatusCode::OK);
    drop(_second);
    gateway.shutdown().await.expect("stops");
}
