//! `TestGateway`: a running node and the verbs tests speak in.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tongdao::config::Config;
use tongdao::gateway::Gateway;
use tongdao_domain::FixedClock;
use tongdao_domain::agreement::cst_date;
use tongdao_domain::clock::parse_rfc3339;

pub struct TestGateway {
    pub gateway: Option<Gateway>,
    pub base: String,
    pub http: reqwest::Client,
    pub operator_token: String,
    pub config: Config,
    pub clock: FixedClock,
    pub dir: tempfile::TempDir,
}

/// A fixed instant in the middle of a CST day, so date arithmetic is unambiguous.
pub fn noon(date: &str) -> i64 {
    parse_rfc3339(&format!("{date}T12:00:00+08:00")).expect("valid date")
}

pub const TODAY: &str = "2026-06-01";

/// A customer ready to send, with its key.
#[derive(Debug, Clone)]
pub struct Sender {
    pub id: String,
    pub name: String,
    pub key: String,
    pub agreement_id: String,
}

impl TestGateway {
    pub async fn spawn() -> TestGateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            data_dir: dir.path().join("data"),
            http: "127.0.0.1:0".parse().expect("addr"),
            sweep_interval_ms: 3_600_000, // tests sweep explicitly, after moving the clock
            // No simulator and no carrier: messages stay queued, as the accept-path tests
            // expect. `spawn_with_simulator` runs the carrier side too.
            simulator: tongdao::config::SimulatorConfig {
                enabled: false,
                listen: "127.0.0.1:0".parse().expect("addr"),
                control: "127.0.0.1:0".parse().expect("addr"),
                ..Config::default().simulator
            },
            smpp: tongdao::config::SmppConfig {
                listen: "127.0.0.1:0".parse().expect("addr"),
                ..Config::default().smpp
            },
            ..Config::default()
        };
        Self::spawn_in(dir, config).await
    }

    /// A node with the built-in simulator and the carrier side running; `configure` may
    /// change the config first (bind mode, webhooks, …).
    pub async fn spawn_with_simulator(configure: impl FnOnce(&mut Config)) -> TestGateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: dir.path().join("data"),
            http: "127.0.0.1:0".parse().expect("addr"),
            sweep_interval_ms: 3_600_000,
            ..Config::default()
        };
        config.simulator.listen = "127.0.0.1:0".parse().expect("addr");
        config.simulator.control = "127.0.0.1:0".parse().expect("addr");
        config.smpp.listen = "127.0.0.1:0".parse().expect("addr");
        configure(&mut config);
        Self::spawn_in(dir, config).await
    }

    /// The built-in simulator (panics if the node runs without it).
    pub fn simulator(&self) -> &tongdao_simulator::Simulator {
        &self.gateway.as_ref().expect("running").simulator.as_ref().expect("the simulator runs").sim
    }

    /// Replaces the simulator's script.
    pub fn script(&self, script: Value) {
        let script = tongdao_simulator::Script::from_json(&script.to_string()).expect("valid script");
        self.simulator().set_script(script).expect("script set");
    }

    pub fn carrier_side(&self) -> &tongdao_carrier::CarrierSide {
        self.gateway.as_ref().expect("running").carrier_side().expect("carrier side")
    }

    /// Polls a message until `done` says so (10 s at most); returns it with its events.
    pub async fn wait_message(&self, sender: &Sender, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (status, message) = self.as_customer(&sender.key, Method::GET, &format!("/messages/{id}"), None).await;
            assert_eq!(status, StatusCode::OK, "{message}");
            if done(&message) {
                return message;
            }
            assert!(std::time::Instant::now() < deadline, "message {id} never got there: {message}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Polls until the message has a final status; returns it.
    pub async fn wait_final(&self, sender: &Sender, id: &str) -> Value {
        let is_final = |m: &Value| {
            m["status"].as_str().and_then(tongdao_domain::MessageStatus::parse).is_some_and(|s| s.is_final())
        };
        self.wait_message(sender, id, is_final).await
    }

    /// Sends one message and returns its id.
    pub async fn send_one(&self, sender: &Sender, to: &str, text: &str) -> String {
        let (status, body) = self.send_text(sender, to, text).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["messages"][0]["id"].as_str().expect("id").to_owned()
    }

    pub async fn spawn_in(dir: tempfile::TempDir, config: Config) -> TestGateway {
        let clock = FixedClock::at(noon(TODAY));
        let gateway = Gateway::start_with_clock(&config, Arc::new(clock.clone())).await.expect("gateway starts");
        gateway.mark_ready();
        let base = format!("http://{}", gateway.addr);
        let operator_token =
            std::fs::read_to_string(config.operator_token_path()).expect("token file").trim().to_owned();
        TestGateway { gateway: Some(gateway), base, http: reqwest::Client::new(), operator_token, config, clock, dir }
    }

    pub fn platform(&self) -> &tongdao_pipeline::Platform {
        &self.gateway.as_ref().expect("running").platform
    }

    pub async fn request(
        &self,
        bearer: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.request(Some(&self.operator_token.clone()), method, &format!("/admin/v1{path}"), body).await
    }

    pub async fn as_customer(&self, key: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.request(Some(key), method, &format!("/v1{path}"), body).await
    }

    /// Terms like the demo's, effective on `effective_from` (and, like the demo's, without
    /// frequency limits: tests send to the same numbers over and over).
    pub fn terms(effective_from: &str) -> Value {
        json!({
            "provider_name": "Test Provider Ltd.",
            "provider_address": "1 Provider St, Beijing",
            "customer_name": "Test Customer Ltd.",
            "customer_address": "2 Customer Rd, Shanghai",
            "effective_from": effective_from,
            "term_years": 1,
            "maintenance_notice_days": 3,
            "log_retention_months": 6,
            "cure_days": 15,
            "scope_policy": "audit",
            "charge_on": "submit",
            "terms_version": "v1",
            "compliance": {
                "frequency": {"per_minute": 0, "per_hour": 0, "per_day": 0},
                "violation_limit": {"violations": 10, "days": 7},
                "require_signature": false,
                "templates_only": false
            }
        })
    }

    /// Creates a customer with a key and a ¥0.0450 tariff, but no agreement.
    pub async fn create_customer(&self, name: &str) -> (String, String) {
        let (status, customer) = self.admin(Method::POST, "/customers", Some(json!({"name": name}))).await;
        assert_eq!(status, StatusCode::CREATED, "{customer}");
        let id = customer["id"].as_str().expect("id").to_owned();
        let tariff = json!({"rules": [
            {"carrier": "mobile", "price": "0.0450"}, {"carrier": "unicom", "price": "0.0450"},
            {"carrier": "telecom", "price": "0.0450"}, {"carrier": "broadnet", "price": "0.0450"}]});
        let (status, body) = self.admin(Method::PUT, &format!("/customers/{id}/tariff"), Some(tariff)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, key) =
            self.admin(Method::POST, &format!("/customers/{id}/keys"), Some(json!({"label": "test"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        (id, key["secret"].as_str().expect("secret").to_owned())
    }

    pub async fn create_agreement(&self, customer: &str, terms: Value) -> String {
        let (status, agreement) =
            self.admin(Method::POST, &format!("/customers/{customer}/agreements"), Some(terms)).await;
        assert_eq!(status, StatusCode::CREATED, "{agreement}");
        agreement["id"].as_str().expect("id").to_owned()
    }

    pub async fn sign(&self, agreement: &str) {
        let (status, body) = self.admin(Method::POST, &format!("/agreements/{agreement}/sign"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub async fn accept_terms(&self, key: &str, version: &str) -> (StatusCode, Value) {
        self.as_customer(key, Method::POST, "/agreement/accept", Some(json!({"terms_version": version}))).await
    }

    /// A customer with a signed, accepted agreement in force today, and `balance` topped up.
    pub async fn onboard(&self, name: &str, balance: &str) -> Sender {
        self.onboard_with(name, balance, |_| {}).await
    }

    /// As [`TestGateway::onboard`], under the usual terms changed by `change`.
    pub async fn onboard_with(&self, name: &str, balance: &str, change: impl FnOnce(&mut Value)) -> Sender {
        let (id, key) = self.create_customer(name).await;
        let mut terms = Self::terms(&cst_date(self.clock_now()).to_string());
        change(&mut terms);
        let agreement_id = self.create_agreement(&id, terms).await;
        self.sign(&agreement_id).await;
        let (status, body) = self.accept_terms(&key, "v1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if balance != "0" {
            self.top_up(&id, balance).await;
        }
        Sender { id, name: name.to_owned(), key, agreement_id }
    }

    pub fn clock_now(&self) -> i64 {
        use tongdao_domain::Clock;
        self.clock.now_ms()
    }

    pub async fn top_up(&self, customer: &str, amount: &str) -> Value {
        let (status, entry) =
            self.admin(Method::POST, &format!("/customers/{customer}/topups"), Some(json!({"amount": amount}))).await;
        assert_eq!(status, StatusCode::CREATED, "{entry}");
        entry
    }

    pub async fn send(&self, sender: &Sender, body: Value) -> (StatusCode, Value) {
        self.as_customer(&sender.key, Method::POST, "/messages", Some(body)).await
    }

    pub async fn send_text(&self, sender: &Sender, to: &str, text: &str) -> (StatusCode, Value) {
        self.send(sender, json!({"to": to, "text": text})).await
    }

    pub async fn balance(&self, sender: &Sender) -> String {
        let (status, body) = self.as_customer(&sender.key, Method::GET, "/balance", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["balance"].as_str().expect("balance").to_owned()
    }

    /// The operator's view: balance, ledger sum, entries; asserts they agree.
    pub async fn ledger_check(&self, customer: &str) -> Value {
        let (status, body) = self.admin(Method::GET, &format!("/customers/{customer}/balance"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["consistent"], json!(true), "balance must equal the sum of the ledger: {body}");
        body
    }

    pub async fn ledger_entries(&self, customer: &str) -> Vec<Value> {
        let (status, body) = self.admin(Method::GET, &format!("/customers/{customer}/ledger?limit=1000"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["entries"].as_array().cloned().unwrap_or_default()
    }

    pub async fn message(&self, sender: &Sender, id: &str) -> (StatusCode, Value) {
        self.as_customer(&sender.key, Method::GET, &format!("/messages/{id}"), None).await
    }

    pub async fn sweep(&self) {
        self.platform().sweep().await.expect("sweep");
    }

    pub async fn stop(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown().await.expect("clean shutdown");
        }
    }
}

/// Asserts the standard error body and returns the code.
pub fn error_code(body: &Value) -> &str {
    let error = &body["error"];
    assert!(error["message"].is_string(), "every error has a message: {body}");
    error["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"))
}

pub fn ascii(n: usize) -> String {
    "a".repeat(n)
}

pub fn chinese(n: usize) -> String {
    "中".repeat(n)
}
