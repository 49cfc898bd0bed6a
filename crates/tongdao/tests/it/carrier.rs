//! The carrier side end to end: HTTP → the dispatch queue → a carrier link → the built-in
//! simulator (a real SMSC over TCP) → receipts → final status, settlement, webhooks, replies.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tongdao::webhook_sink::{self, SinkCounts};

use crate::harness::{Sender, TestGateway};

const TO: &str = "+8613800138000";

fn events(message: &Value) -> Vec<(String, Value, Value)> {
    message["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (e["status"].as_str().unwrap_or("").to_owned(), e["carrier"].clone(), e["carrier_message_id"].clone()))
        .collect()
}

async fn send_many(gw: &TestGateway, sender: &Sender, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(gw.send_one(sender, &format!("+86138001{i:05}"), &format!("message {i}")).await);
    }
    ids
}

async fn assert_all_delivered(gw: &TestGateway, sender: &Sender, ids: &[String]) {
    for id in ids {
        let message = gw.wait_final(sender, id).await;
        assert_eq!(message["status"], "delivered", "{message}");
    }
}

#[tokio::test]
async fn a_message_goes_from_queued_to_delivered_with_the_carriers_events() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let alice = gw.onboard("alice", "1").await;
    let id = gw.send_one(&alice, TO, "您的验证码是 123456").await;
    let message = gw.wait_final(&alice, &id).await;
    assert_eq!(message["status"], "delivered", "{message}");
    let events = events(&message);
    let statuses: Vec<&str> = events.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(statuses, ["queued", "submitted", "delivered"], "{message}");
    let (_, carrier, submitted_id) = &events[1];
    assert_eq!(carrier, "simulator");
    assert!(submitted_id.as_str().is_some_and(|id| !id.is_empty()), "the carrier's id is shown: {message}");
    assert_eq!(&events[2].2, submitted_id, "the receipt names the same carrier id");
    assert_eq!(gw.balance(&alice).await, "0.9550", "charged once, not refunded (charge_on submit)");
    gw.ledger_check(&alice.id).await;
    let (status, carriers) = gw.admin(Method::GET, "/carriers", None).await;
    assert_eq!(status, StatusCode::OK);
    let simulator = &carriers["carriers"][0];
    assert_eq!(simulator["name"], "simulator");
    assert_eq!(simulator["binds_bound"], 1);
    assert_eq!(simulator["window"], 256);
    assert!(simulator["counters"]["accepted"].as_u64() >= Some(1), "{carriers}");
    assert!(simulator["counters"]["receipts"].as_u64() >= Some(1), "{carriers}");
}

#[tokio::test]
async fn throttled_answers_are_retried_until_the_carrier_takes_them() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    gw.script(json!({"throttle_fraction": 0.6, "seed": 7}));
    let alice = gw.onboard("alice", "10").await;
    let ids = send_many(&gw, &alice, 20).await;
    assert_all_delivered(&gw, &alice, &ids).await;
    assert!(gw.simulator().stats().throttled.load(Ordering::Relaxed) > 0, "the simulator throttled some");
    assert!(gw.carrier_side().dispatch_stats().retries.load(Ordering::Relaxed) > 0, "and they were retried");
    assert_eq!(gw.balance(&alice).await, "9.1000", "each charged once");
}

#[tokio::test]
async fn a_link_dropped_mid_window_reconnects_and_loses_nothing() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    // Slow answers keep a window of submits outstanding when the connection drops.
    gw.script(json!({"answer_delay_ms": 400}));
    let alice = gw.onboard("alice", "10").await;
    let ids = send_many(&gw, &alice, 30).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (_, carriers) = gw.admin(Method::GET, "/carriers", None).await;
    assert!(carriers["carriers"][0]["window_in_use"].as_u64() > Some(0), "submits are outstanding: {carriers}");
    assert!(gw.simulator().drop_sessions() > 0, "the connection is dropped");
    gw.script(json!({}));
    assert_all_delivered(&gw, &alice, &ids).await;
    let (_, carriers) = gw.admin(Method::GET, "/carriers", None).await;
    assert!(carriers["carriers"][0]["counters"]["reconnects"].as_u64() >= Some(1), "{carriers}");
    assert_eq!(carriers["carriers"][0]["binds_bound"], 1, "bound again: {carriers}");
    gw.ledger_check(&alice.id).await;
}

#[tokio::test]
async fn a_receipt_that_comes_before_its_submit_sm_resp_is_matched() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    gw.script(json!({"receipt_before_response": true, "answer_delay_ms": 50}));
    let alice = gw.onboard("alice", "10").await;
    let ids = send_many(&gw, &alice, 10).await;
    assert_all_delivered(&gw, &alice, &ids).await;
    let early = gw.carrier_side().progress_stats().early_receipts.load(Ordering::Relaxed);
    assert!(early > 0, "the receipts were recorded before their parts, then matched");
}

#[tokio::test]
async fn a_receipt_on_another_bind_is_matched() {
    let gw =
        TestGateway::spawn_with_simulator(|c| c.simulator.bind_mode = tongdao_carrier::BindModes::TransmitterReceiver)
            .await;
    gw.script(json!({"receipt_on_other_bind": true}));
    let alice = gw.onboard("alice", "10").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while gw.simulator().sessions() < 2 {
        assert!(std::time::Instant::now() < deadline, "both binds up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ids = send_many(&gw, &alice, 10).await;
    assert_all_delivered(&gw, &alice, &ids).await;
    let (_, carriers) = gw.admin(Method::GET, "/carriers", None).await;
    assert_eq!(carriers["carriers"][0]["bind_mode"], "transmitter_receiver");
    assert_eq!(carriers["carriers"][0]["binds_bound"], 2);
}

#[tokio::test]
async fn receipts_without_the_tlv_are_matched_by_their_text() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let alice = gw.onboard("alice", "10").await;
    for decimal in [false, true] {
        gw.script(json!({"receipt_tlv": false, "receipt_id_decimal": decimal}));
        let ids = send_many(&gw, &alice, 5).await;
        assert_all_delivered(&gw, &alice, &ids).await;
    }
}

#[tokio::test]
async fn the_parts_of_a_long_message_roll_up_into_its_status() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let alice = gw.onboard("alice", "10").await;
    let long = "验证码".repeat(50); // 150 UCS-2 units: three parts
    let id = gw.send_one(&alice, TO, &long).await;
    let message = gw.wait_final(&alice, &id).await;
    assert_eq!((message["status"].as_str(), message["segments"].as_u64()), (Some("delivered"), Some(3)), "{message}");
    let submitted = &events(&message)[1].2;
    assert_eq!(submitted.as_str().map(|ids| ids.split(',').count()), Some(3), "three carrier ids: {message}");
    assert_eq!(gw.simulator().stats().submits.load(Ordering::Relaxed), 3);

    gw.script(json!({"outcomes": {"delivered": 0, "undeliverable": 1}}));
    let id = gw.send_one(&alice, TO, &long).await;
    let message = gw.wait_final(&alice, &id).await;
    assert_eq!(message["status"], "undeliverable", "{message}");
}

#[tokio::test]
async fn settlement_follows_the_agreements_charge_on() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let on_submit = gw.onboard("on-submit", "1").await;
    let (id, key) = gw.create_customer("on-delivery").await;
    let today = tongdao_domain::agreement::cst_date(gw.clock_now()).to_string();
    let mut terms = TestGateway::terms(&today);
    terms["charge_on"] = json!("delivery");
    let agreement_id = gw.create_agreement(&id, terms).await;
    gw.sign(&agreement_id).await;
    assert_eq!(gw.accept_terms(&key, "v1").await.0, StatusCode::OK);
    gw.top_up(&id, "1").await;
    let on_delivery = Sender { id, name: "on-delivery".into(), key, agreement_id };

    // Not delivered: charge_on submit keeps the charge (a carrier took it); delivery refunds.
    gw.script(json!({"outcomes": {"delivered": 0, "undeliverable": 1}}));
    for sender in [&on_submit, &on_delivery] {
        let id = gw.send_one(sender, TO, "hello").await;
        assert_eq!(gw.wait_final(sender, &id).await["status"], "undeliverable");
    }
    assert_eq!(gw.balance(&on_submit).await, "0.9550");
    assert_eq!(gw.balance(&on_delivery).await, "1.0000", "refunded: not delivered");

    // Delivered: both keep the charge.
    gw.script(json!({}));
    for sender in [&on_submit, &on_delivery] {
        let id = gw.send_one(sender, TO, "hello").await;
        assert_eq!(gw.wait_final(sender, &id).await["status"], "delivered");
    }
    assert_eq!(gw.balance(&on_submit).await, "0.9100");
    assert_eq!(gw.balance(&on_delivery).await, "0.9550");

    // Refused by the carrier: no carrier accepted it, so both refund.
    gw.script(json!({"reject_fraction": 1.0}));
    for sender in [&on_submit, &on_delivery] {
        let id = gw.send_one(sender, TO, "hello").await;
        let message = gw.wait_final(sender, &id).await;
        assert_eq!(message["status"], "failed", "{message}");
        let failed = message["events"].as_array().and_then(|e| e.last()).cloned().unwrap_or_default();
        assert_eq!(failed["error"], "0x0000000b", "the carrier's command_status: {message}");
    }
    assert_eq!(gw.balance(&on_submit).await, "0.9100");
    assert_eq!(gw.balance(&on_delivery).await, "0.9550");
    for sender in [&on_submit, &on_delivery] {
        gw.ledger_check(&sender.id).await;
    }
}

#[tokio::test]
async fn status_changes_reach_the_callback_url_signed() {
    let gw = TestGateway::spawn_with_simulator(|c| c.webhooks.allow_loopback = true).await;
    let alice = gw.onboard("alice", "1").await;
    let (status, account) = gw.as_customer(&alice.key, Method::GET, "/account", None).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    let secret = account["webhook_secret"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("whsec_"));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    let counts = Arc::new(SinkCounts::default());
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let sink = counts.clone();
    let clock = Arc::new(gw.clock.clone());
    tokio::spawn(async move { webhook_sink::serve(listener, &secret, sink, false, clock, stopped).await });
    let (status, body) = gw.as_customer(&alice.key, Method::PUT, "/account/webhook", Some(json!({"url": url}))).await;
    assert_eq!((status, body["webhook_url"].as_str()), (StatusCode::OK, Some(url.as_str())), "{body}");

    let id = gw.send_one(&alice, TO, "hello").await;
    assert_eq!(gw.wait_final(&alice, &id).await["status"], "delivered");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while counts.final_statuses.load(Ordering::Relaxed) < 1 {
        assert!(std::time::Instant::now() < deadline, "the final status was called back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(counts.events.load(Ordering::Relaxed) >= 2, "submitted and delivered");
    assert_eq!(counts.bad_signatures.load(Ordering::Relaxed), 0, "every callback verifies");
    let (_, metrics) = gw.request(None, Method::GET, "/metrics", None).await;
    let delivered = metrics
        .as_str()
        .and_then(|m| m.lines().find_map(|l| l.strip_prefix("tongdao_webhook_events_delivered_total ")))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(delivered >= Some(2), "/metrics counts the callbacks: {delivered:?}");

    // After a rotation the old secret no longer verifies: the sink (holding the old one)
    // refuses the next callbacks.
    let (status, rotated) = gw.as_customer(&alice.key, Method::POST, "/account/webhook-secret/rotate", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(rotated["webhook_secret"], account["webhook_secret"]);
    gw.send_one(&alice, TO, "again").await;
    while counts.bad_signatures.load(Ordering::Relaxed) < 1 {
        assert!(std::time::Instant::now() < deadline + Duration::from_secs(5), "signed with the new secret");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Loopback URLs are refused where the operator has not allowed them (the default).
    let strict = TestGateway::spawn().await;
    let bob = strict.onboard("bob", "1").await;
    let (status, body) = strict
        .as_customer(&bob.key, Method::PUT, "/account/webhook", Some(json!({"url": "http://127.0.0.1:9/x"})))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("callback_url_refused")));
}

#[tokio::test]
async fn replies_go_to_the_customer_owning_the_number() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let alice = gw.onboard("alice", "1").await;
    let bob = gw.onboard("bob", "1").await;
    for (customer, number) in [(&alice, "10690001"), (&bob, "106900012")] {
        let (status, body) = gw
            .admin(Method::POST, &format!("/customers/{}/numbers", customer.id), Some(json!({"number": number})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) =
        gw.admin(Method::POST, &format!("/customers/{}/numbers", alice.id), Some(json!({"number": "106900012"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "a number has one owner");
    // The simulator needs a bound receiver: the link is up once a message went through.
    let id = gw.send_one(&alice, TO, "hi").await;
    gw.wait_final(&alice, &id).await;

    let sim = gw.simulator();
    sim.inject_mo("8613900139000", "1069000123", "for bob, by the longest number").await.expect("sent");
    sim.inject_mo("8613900139001", "106900019", "for alice, an extension of hers").await.expect("sent");
    let long = "回复".repeat(80); // 160 UCS-2 units: three parts, reassembled
    let parts = sim.inject_mo("8613900139002", "10690001", &long).await.expect("sent");
    assert_eq!(parts, 3);
    sim.inject_mo("8613900139003", "95555", "nobody's").await.expect("sent");

    let inbound = |sender: Sender| {
        let gw = &gw;
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let (status, page) = gw.as_customer(&sender.key, Method::GET, "/inbound", None).await;
                assert_eq!(status, StatusCode::OK, "{page}");
                let texts: Vec<String> = page["inbound"]
                    .as_array()
                    .expect("list")
                    .iter()
                    .filter_map(|m| m["text"].as_str().map(str::to_owned))
                    .collect();
                if texts.len() >= if sender.name == "alice" { 2 } else { 1 } || std::time::Instant::now() > deadline {
                    return texts;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let for_bob = inbound(bob.clone()).await;
    assert_eq!(for_bob, ["for bob, by the longest number"]);
    let for_alice = inbound(alice.clone()).await;
    assert_eq!(for_alice.len(), 2, "{for_alice:?}");
    assert!(for_alice.contains(&long), "the long reply is whole");
    assert!(for_alice.contains(&"for alice, an extension of hers".to_owned()));
}

#[tokio::test]
async fn a_scheduled_message_goes_out_at_its_time() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let alice = gw.onboard("alice", "1").await;
    let at = tongdao_domain::clock::rfc3339(gw.clock_now() + 3_600_000);
    let (status, body) = gw.send(&alice, json!({"to": TO, "text": "later", "send_at": at})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["messages"][0]["id"].as_str().expect("id").to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, message) = gw.as_customer(&alice.key, Method::GET, &format!("/messages/{id}"), None).await;
    assert_eq!(message["status"], "scheduled", "not before its time");
    assert_eq!(gw.simulator().stats().submits.load(Ordering::Relaxed), 0);
    gw.clock.advance(3_600_000);
    gw.platform().sweep().await.expect("sweep");
    let message = gw.wait_final(&alice, &id).await;
    assert_eq!(message["status"], "delivered", "{message}");
    let statuses: Vec<String> = events(&message).into_iter().map(|(s, _, _)| s).collect();
    assert_eq!(statuses, ["scheduled", "queued", "submitted", "delivered"]);
}

#[tokio::test]
async fn a_message_no_carrier_takes_before_its_valid_until_expires_and_is_refunded() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    gw.script(json!({"throttle_fraction": 1.0}));
    let alice = gw.onboard("alice", "1").await;
    let until = tongdao_domain::clock::rfc3339(gw.clock_now() + 60_000);
    let (status, body) = gw.send(&alice, json!({"to": TO, "text": "urgent", "valid_until": until})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["messages"][0]["id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while gw.simulator().stats().throttled.load(Ordering::Relaxed) < 2 {
        assert!(std::time::Instant::now() < deadline, "the carrier keeps throttling it");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(gw.balance(&alice).await, "0.9550");
    gw.clock.advance(61_000);
    let message = gw.wait_final(&alice, &id).await;
    assert_eq!(message["status"], "expired", "{message}");
    assert_eq!(gw.balance(&alice).await, "1.0000", "refunded");
    gw.ledger_check(&alice.id).await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

#[tokio::test]
async fn routing_follows_destinations_and_priority_and_fails_over_when_a_carrier_is_down() {
    let sim_port = free_port();
    let dead_port = free_port(); // nothing listens here
    let carrier = |name: &str, port: u16, priority: i32, destinations: tongdao_carrier::Destinations| {
        tongdao_carrier::CarrierConfig {
            name: name.into(),
            host: "127.0.0.1".into(),
            port,
            system_id: name.into(),
            password: "pw".into(),
            priority,
            destinations,
            enquire_link_interval_ms: 1000,
            response_timeout_ms: 1000,
            ..tongdao_carrier::CarrierConfig::default()
        }
    };
    let gw = TestGateway::spawn_with_simulator(|c| {
        c.simulator.listen = format!("127.0.0.1:{sim_port}").parse().expect("addr");
        c.carrier = vec![
            // China Unicom numbers only, first choice for them.
            carrier(
                "cucc",
                sim_port,
                0,
                tongdao_carrier::Destinations { carriers: vec!["unicom".into()], prefixes: vec![] },
            ),
            // Everything, first choice, but down.
            carrier("primary", dead_port, 1, tongdao_carrier::Destinations::default()),
            // Everything, second choice.
            carrier("backup", sim_port, 2, tongdao_carrier::Destinations::default()),
        ];
    })
    .await;
    let alice = gw.onboard("alice", "1").await;
    let mobile = gw.send_one(&alice, "+8613800138000", "via the backup").await;
    let unicom = gw.send_one(&alice, "+8613000000000", "via cucc").await;
    for (id, expected) in [(&mobile, "backup"), (&unicom, "cucc")] {
        let message = gw.wait_final(&alice, id).await;
        assert_eq!(message["status"], "delivered", "{message}");
        assert_eq!(events(&message)[1].1, expected, "{message}");
    }
    let (_, carriers) = gw.admin(Method::GET, "/carriers", None).await;
    let by_name = |name: &str| {
        carriers["carriers"].as_array().expect("list").iter().find(|c| c["name"] == name).cloned().expect("carrier")
    };
    assert_eq!(by_name("primary")["binds_bound"], 0, "{carriers}");
    assert!(by_name("primary")["counters"]["bind_failures"].as_u64() > Some(0), "{carriers}");
    assert_eq!(by_name("backup")["counters"]["accepted"], 1, "{carriers}");
    assert_eq!(by_name("cucc")["counters"]["accepted"], 1, "{carriers}");
}

#[tokio::test]
async fn shutdown_unbinds_every_link_cleanly() {
    let mut gw = TestGateway::spawn_with_simulator(|c| {
        c.simulator.bind_mode = tongdao_carrier::BindModes::TransmitterReceiver;
    })
    .await;
    let stats = gw.simulator().stats().clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while gw.simulator().sessions() < 2 {
        assert!(std::time::Instant::now() < deadline, "both binds up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.stop().await;
    assert_eq!(stats.unbinds.load(Ordering::Relaxed), 2, "the transmitter and the receiver unbound");
    assert_eq!(stats.drops.load(Ordering::Relaxed), 0);
}
