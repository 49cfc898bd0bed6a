//! The control HTTP endpoint, against a simulator serving SMPP on real TCP.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Client, start};
use tokio::net::TcpListener;
use tongdao_simulator::{BindKind, Outcomes, Script, Simulator, serve_control};
use tongdao_smpp::Pdu;

async fn control(sim: &Simulator, stop: &tokio::sync::watch::Sender<bool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve_control(listener, sim.clone(), stop.subscribe()));
    addr
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client")
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn the_script_is_read_and_replaced_and_a_bad_one_refused() {
    let (sim, _smpp, stop) = start(Script::default()).await;
    let base = format!("http://{}", control(&sim, &stop).await);
    let http = http();

    let (status, body) = json_of(http.get(format!("{base}/script")).send().await.expect("GET")).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_value::<Script>(body).expect("a script"), Script::default());

    for bad in [
        json!({ "throttle_fraction": 2.0 }),
        json!({ "outcomes": { "delivered": 0 } }),
        json!({ "receipt_delay_ms": 60_001 }),
        json!({ "no_such_field": true }),
    ] {
        let (status, body) = json_of(http.put(format!("{base}/script")).json(&bad).send().await.expect("PUT")).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "invalid_script", "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    let not_json = http.put(format!("{base}/script")).body("{nope").send().await.expect("PUT");
    assert_eq!(not_json.status().as_u16(), 400);
    assert_eq!(sim.script(), Script::default(), "nothing refused was taken");

    let script = Script {
        receipt_delay_ms: 250,
        outcomes: Outcomes { delivered: 90, undeliverable: 10, ..Outcomes::default() },
        throttle_fraction: 0.05,
        tps_limit: 1000,
        receipt_id_decimal: true,
        seed: Some(3),
        ..Script::default()
    };
    let (status, _) = json_of(http.put(format!("{base}/script")).json(&script).send().await.expect("PUT")).await;
    assert_eq!(status, 200);
    let (_, body) = json_of(http.get(format!("{base}/script")).send().await.expect("GET")).await;
    assert_eq!(serde_json::from_value::<Script>(body).expect("a script"), script);
    assert_eq!(sim.script(), script);

    let huge = vec![b' '; 65 * 1024];
    let too_big = http.put(format!("{base}/script")).body(huge).send().await.expect("PUT");
    assert_eq!(too_big.status().as_u16(), 413, "bodies are capped");
}

#[tokio::test]
async fn mo_drop_and_stats_over_http() {
    let (sim, smpp, stop) = start(Script::default()).await;
    let base = format!("http://{}", control(&sim, &stop).await);
    let http = http();
    let mo = json!({ "from": "+8613800138000", "to": "10690001", "text": "hello" });

    let (status, body) = json_of(http.post(format!("{base}/mo")).json(&mo).send().await.expect("POST")).await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("no_receiver")), "{body}");

    let mut receiver = Client::bound(smpp, BindKind::Transceiver, "acct").await;
    let (status, body) = json_of(http.post(format!("{base}/mo")).json(&mo).send().await.expect("POST")).await;
    assert_eq!((status, body), (200, json!({ "segments": 1 })));
    match receiver.next().await.pdu {
        Pdu::DeliverSm(sm) => assert_eq!(sm.short_message, b"hello"),
        other => panic!("expected the MO, got {other:?}"),
    }
    let long = json!({ "from": "8613800138000", "to": "10690001", "text": "x".repeat(400) });
    let (status, body) = json_of(http.post(format!("{base}/mo")).json(&long).send().await.expect("POST")).await;
    assert_eq!((status, body), (200, json!({ "segments": 3 })));
    let bad = json!({ "from": "8613800138000", "to": "10690001", "text": "" });
    let (status, body) = json_of(http.post(format!("{base}/mo")).json(&bad).send().await.expect("POST")).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("invalid_mo")), "{body}");

    let sequence = receiver.submit("hi", true).await;
    while !matches!(receiver.next().await, c if c.sequence == sequence && matches!(c.pdu, Pdu::SubmitSmResp(_))) {}

    let (status, body) = json_of(http.get(format!("{base}/stats")).send().await.expect("GET")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&body["submits"], &body["mo"], &body["sessions_bound"], &body["drops"]),
        (&json!(1), &json!(4), &json!(1), &json!(0)),
        "{body}"
    );
    for counter in ["receipts", "generic_nacks", "throttled", "rejected"] {
        assert!(body[counter].is_u64(), "{counter} in {body}");
    }

    let (status, body) = json_of(http.post(format!("{base}/drop")).send().await.expect("POST")).await;
    assert_eq!((status, body), (200, json!({ "dropped": 1 })));
    assert!(receiver.closes().await, "the session is dropped");
    let (_, body) = json_of(http.get(format!("{base}/stats")).send().await.expect("GET")).await;
    assert_eq!((&body["drops"], &body["sessions_bound"]), (&json!(1), &json!(0)), "{body}");

    // The four MO and the receipt were never answered: they wait for the next bind.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = json_of(http.get(format!("{base}/stats")).send().await.expect("GET")).await;
        if body["parked"] == json!(5) {
            assert_eq!((&body["redelivered"], &body["dropped_undelivered"]), (&json!(0), &json!(0)), "{body}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never parked: {body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
