use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_one_segment_message_is_accepted_queued_and_charged_its_price() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "100").await;
    let (status, body) = gw.send_text(&alice, "13800138000", "Your verification code is 123456").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let message = &body["messages"][0];
    assert_eq!(message["to"], "+8613800138000");
    assert_eq!(message["segments"], 1);
    assert_eq!(message["encoding"], "gsm7");
    assert_eq!(message["price"], "0.0450");
    assert_eq!(message["status"], "queued");
    assert_eq!(body["total_price"], "0.0450");
    assert_eq!(gw.balance(&alice).await, "99.9550");
    let (status, stored) = gw.message(&alice, message["id"].as_str().expect("id")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["status"], "queued");
    assert_eq!(stored["carrier"], "mobile");
    assert_eq!(stored["events"][0]["status"], "queued");
    gw.ledger_check(&alice.id).await;
}

#[tokio::test]
async fn seventy_one_chinese_characters_and_161_ascii_characters_are_two_segments_each() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "100").await;
    let (status, body) = gw.send_text(&alice, "13800138000", &chinese(71)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        (body["messages"][0]["segments"].as_u64(), body["messages"][0]["encoding"].as_str()),
        (Some(2), Some("ucs2"))
    );
    assert_eq!(body["total_price"], "0.0900");
    let (_, body) = gw.send_text(&alice, "13800138000", &chinese(70)).await;
    assert_eq!(body["messages"][0]["segments"], 1);
    let (_, body) = gw.send_text(&alice, "13800138000", &ascii(161)).await;
    assert_eq!(
        (body["messages"][0]["segments"].as_u64(), body["messages"][0]["encoding"].as_str()),
        (Some(2), Some("gsm7"))
    );
    let (_, body) = gw.send_text(&alice, "13800138000", &ascii(160)).await;
    assert_eq!(body["messages"][0]["segments"], 1);
    let (_, body) = gw.send_text(&alice, "13800138000", "【通道】您的验证码是123456").await;
    assert_eq!(body["messages"][0]["encoding"], "ucs2", "the signature counts as text");
    assert_eq!(gw.balance(&alice).await, "99.6850");
}

#[tokio::test]
async fn a_batch_is_all_or_nothing_unless_partial() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "100").await;
    let to = json!(["13800138000", "not a number", "+86 186-0000-0000"]);
    let (status, body) = gw.send(&alice, json!({"to": to, "text": "hello"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "invalid_number");
    assert_eq!(body["error"]["field"], "to[1]");
    assert_eq!(gw.balance(&alice).await, "100.0000", "a refused batch charges nothing");

    let (status, body) = gw.send(&alice, json!({"to": to, "text": "hello", "partial": true})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let accepted: Vec<&str> =
        body["messages"].as_array().expect("messages").iter().filter_map(|m| m["to"].as_str()).collect();
    assert_eq!(accepted, ["+8613800138000", "+8618600000000"]);
    assert_eq!(body["rejected"][0]["index"], 1);
    assert_eq!(body["rejected"][0]["error"]["code"], "invalid_number");
    assert_eq!(body["total_price"], "0.0900");
    assert_eq!(gw.balance(&alice).await, "99.9100");

    let (status, body) = gw.send(&alice, json!({"to": ["x", "y"], "text": "hello", "partial": true})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "partial with nobody valid is refused: {body}");
    assert_eq!(error_code(&body), "invalid_number");
}

#[tokio::test]
async fn a_thousand_recipients_are_one_request_and_a_thousand_and_one_are_refused() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "100").await;
    let to: Vec<String> = (0..1000).map(|i| format!("1380013{i:04}")).collect();
    let (status, body) = gw.send(&alice, json!({"to": to, "text": "hi"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1000));
    assert_eq!(body["total_price"], "45.0000");
    assert_eq!(gw.balance(&alice).await, "55.0000");
    let to: Vec<String> = (0..1001).map(|i| format!("1380013{i:04}")).collect();
    let (status, body) = gw.send(&alice, json!({"to": to, "text": "hi"})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert_eq!(body["error"]["field"], "to");
    gw.ledger_check(&alice.id).await;
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_answers_the_first_answer_and_charges_once() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "1").await;
    let send = |key: &'static str, text: &'static str| {
        let request = gw
            .http
            .post(format!("{}/v1/messages", gw.base))
            .bearer_auth(&alice.key)
            .header("Idempotency-Key", key)
            .json(&json!({"to": "13800138000", "text": text}));
        async move {
            let response = request.send().await.expect("sent");
            let replayed = response.headers().contains_key("idempotent-replayed");
            (response.status(), replayed, response.json::<serde_json::Value>().await.expect("json"))
        }
    };
    let (status, replayed, first) = send("order-42", "hello").await;
    assert_eq!((status, replayed), (StatusCode::ACCEPTED, false), "{first}");
    let (status, replayed, second) = send("order-42", "hello").await;
    assert_eq!((status, replayed), (StatusCode::ACCEPTED, true));
    assert_eq!(first, second, "the replay is the first answer, byte for byte");
    assert_eq!(gw.balance(&alice).await, "0.9550", "charged once");

    let (status, _, conflict) = send("order-42", "another text").await;
    assert_eq!((status, error_code(&conflict)), (StatusCode::CONFLICT, "idempotency_conflict"));
    assert_eq!(gw.balance(&alice).await, "0.9550");

    let (status, _, _) = send("order-43", "hello").await;
    assert_eq!(status, StatusCode::ACCEPTED, "another key is another request");

    gw.clock.advance(24 * 3600 * 1000 + 1);
    let (status, replayed, third) = send("order-42", "hello").await;
    assert_eq!((status, replayed), (StatusCode::ACCEPTED, false), "a key is remembered for 24 hours only");
    assert_ne!(third["messages"][0]["id"], first["messages"][0]["id"]);
    gw.ledger_check(&alice.id).await;
}

#[tokio::test]
async fn concurrent_requests_with_one_idempotency_key_charge_once() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "1").await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let request = gw
            .http
            .post(format!("{}/v1/messages", gw.base))
            .bearer_auth(&alice.key)
            .header("Idempotency-Key", "same")
            .json(&json!({"to": "13800138000", "text": "hello"}));
        tasks.push(tokio::spawn(async move { request.send().await.expect("sent").json::<serde_json::Value>().await }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let body = task.await.expect("joined").expect("json");
        ids.insert(body["messages"][0]["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1, "every answer names the same message");
    assert_eq!(gw.balance(&alice).await, "0.9550");
}

#[tokio::test]
async fn a_quote_prices_per_recipient_and_stores_nothing() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "100").await;
    let (status, body) = gw
        .as_customer(
            &alice.key,
            Method::POST,
            "/quote",
            Some(json!({"to": ["13800138000", "18900000000"], "text": chinese(71)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_price"], "0.1800");
    assert!(body["messages"][0].get("id").is_none(), "a quote has no message ids: {body}");
    assert_eq!(body["messages"][1]["segments"], 2);
    assert_eq!(gw.balance(&alice).await, "100.0000");
    let (_, list) = gw.as_customer(&alice.key, Method::GET, "/messages", None).await;
    assert_eq!(list["messages"], json!([]));
}

#[tokio::test]
async fn pricing_shows_the_customer_its_tariff() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "0").await;
    let (status, body) = gw.as_customer(&alice.key, Method::GET, "/pricing", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["currency"], "CNY");
    assert_eq!(body["rules"][0], json!({"carrier": "mobile", "price": "0.0450"}));
    assert_eq!(body["segments"]["ucs2"], json!({"single": 70, "per_part": 67}));
    assert_eq!(body["max_segments"], 10);
}

#[tokio::test]
async fn a_replay_gets_the_first_answer_even_after_what_it_was_checked_against_has_changed() {
    // Regression: the replay was validated again, so a request accepted with valid_until a
    // few seconds ahead was refused when retried, and so was one retried after a suspension.
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "1").await;
    let valid_until = tongdao_domain::clock::rfc3339(gw.clock_now() + 3000);
    let body = json!({"to": "13800138000", "text": "soon stale", "valid_until": valid_until});
    let send = || {
        gw.http
            .post(format!("{}/v1/messages", gw.base))
            .bearer_auth(&alice.key)
            .header("Idempotency-Key", "k-vu-1")
            .json(&body)
            .send()
    };
    let first = send().await.expect("sent");
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: serde_json::Value = first.json().await.expect("json");
    gw.clock.advance(5000);
    let (status, _) = gw
        .admin(Method::POST, &format!("/agreements/{}/suspend", alice.agreement_id), Some(json!({"reason": "audit"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let again = send().await.expect("sent");
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.json::<serde_json::Value>().await.expect("json"), first);
    // The suspended customer's own calls are refused now; the operator sees the balance:
    // charged once, then refunded when the suspension cancelled the message still queued.
    let (status, body) = gw.as_customer(&alice.key, Method::GET, "/balance", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("account_suspended")));
    let (_, balance) = gw.admin(Method::GET, &format!("/customers/{}/balance", alice.id), None).await;
    assert_eq!((balance["balance"].as_str(), balance["entries"].as_u64()), (Some("1.0000"), Some(3)), "{balance}");
}
