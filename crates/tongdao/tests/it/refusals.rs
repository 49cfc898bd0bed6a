//! Every refusal code of the customer API, with its status and body, and the rule that no
//! refusal stores or charges anything.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

async fn assert_refused(
    gw: &TestGateway,
    sender: &Sender,
    body: Value,
    status: StatusCode,
    code: &str,
    field: Option<&str>,
) {
    let (got, answer) = gw.send(sender, body.clone()).await;
    assert_eq!(got, status, "{body} -> {answer}");
    assert_eq!(error_code(&answer), code, "{body} -> {answer}");
    if let Some(field) = field {
        assert_eq!(answer["error"]["field"], field, "{body} -> {answer}");
    }
}

#[tokio::test]
async fn malformed_requests_are_invalid_request_naming_the_field() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "100").await;
    let to = "13800138000";
    let cases = [
        (json!({"to": to, "text": ""}), "text"),
        (json!({"text": "hi"}), "to"),
        (json!({"to": to}), "text"),
        (json!({"to": [], "text": "hi"}), "to"),
        (json!({"to": 13800138000u64, "text": "hi"}), "to"),
        (json!({"to": to, "text": "hi", "colour": "red"}), "colour"),
        (json!({"to": to, "text": "hi", "send_at": "tomorrow"}), "send_at"),
        (json!({"to": to, "text": "hi", "send_at": "2026-08-01T00:00:00Z"}), "send_at"),
        (json!({"to": to, "text": "hi", "valid_until": "2026-05-01T00:00:00Z"}), "valid_until"),
        (json!({"to": to, "text": "hi", "sender": "x".repeat(21)}), "sender"),
        // Regression: a time in year 10000 was accepted and shown back as "".
        (json!({"to": to, "text": "hi", "valid_until": "9999-12-31T23:59:59-23:59"}), "valid_until"),
        (json!({"to": to, "text": "hi", "valid_until": "2026-08-01T00:00:00Z"}), "valid_until"),
        (json!({"to": to, "text": "hi", "partial": "yes"}), "partial"),
    ];
    for (body, field) in cases {
        assert_refused(&gw, &alice, body, StatusCode::BAD_REQUEST, "invalid_request", Some(field)).await;
    }
    // Callback URLs have their own code: a scheme other than http(s), or (by default) a
    // private or loopback target, which would let a customer make us call inside our network.
    for url in ["ftp://x", "http://127.0.0.1:9000/hook", "http://10.0.0.8/", "http://169.254.169.254/latest"] {
        let body = json!({"to": to, "text": "hi", "callback_url": url});
        assert_refused(&gw, &alice, body, StatusCode::BAD_REQUEST, "callback_url_refused", Some("callback_url")).await;
    }
    let bad = StatusCode::BAD_REQUEST;

    let response = gw
        .http
        .post(format!("{}/v1/messages", gw.base))
        .bearer_auth(&alice.key)
        .header("content-type", "application/json")
        .body("{\"to\": ")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), bad);
    assert_eq!(error_code(&response.json().await.expect("json")), "invalid_request");

    let response = gw
        .http
        .post(format!("{}/v1/messages", gw.base))
        .bearer_auth(&alice.key)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&response.json().await.expect("json")), "unsupported_media_type");
}

#[tokio::test]
async fn numbers_that_are_not_mobile_numbers_are_invalid_number() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "100").await;
    for to in ["12345", "010-65529988", "+86 10 6552 9988", "1380013800a", "+0 1234567"] {
        assert_refused(
            &gw,
            &alice,
            json!({"to": to, "text": "hi"}),
            StatusCode::BAD_REQUEST,
            "invalid_number",
            Some("to[0]"),
        )
        .await;
    }
    assert_refused(
        &gw,
        &alice,
        json!({"to": "+447911123456", "text": "hi"}),
        StatusCode::BAD_REQUEST,
        "unsupported_destination",
        Some("to[0]"),
    )
    .await;
}

#[tokio::test]
async fn text_longer_than_the_agreement_s_maximum_is_text_too_long() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "100").await;
    let (status, _) = gw.send_text(&alice, "13800138000", &ascii(153 * 10)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "10 segments are allowed by default");
    assert_refused(
        &gw,
        &alice,
        json!({"to": "13800138000", "text": ascii(153 * 10 + 1)}),
        StatusCode::BAD_REQUEST,
        "text_too_long",
        Some("text"),
    )
    .await;
    assert_refused(
        &gw,
        &alice,
        json!({"to": "13800138000", "text": chinese(67 * 10 + 1)}),
        StatusCode::BAD_REQUEST,
        "text_too_long",
        Some("text"),
    )
    .await;

    let bob = gw.onboard("bob", "100").await;
    let mut terms = TestGateway::terms(TODAY);
    terms["max_segments"] = json!(2);
    terms["terms_version"] = json!("v2");
    let agreement = gw.create_agreement(&bob.id, terms).await;
    gw.sign(&agreement).await;
    gw.accept_terms(&bob.key, "v2").await;
    assert_refused(
        &gw,
        &bob,
        json!({"to": "13800138000", "text": ascii(307)}),
        StatusCode::BAD_REQUEST,
        "text_too_long",
        Some("text"),
    )
    .await;
    let (status, _) = gw.send_text(&bob, "13800138000", &ascii(306)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "the per-agreement maximum applies");
}

#[tokio::test]
async fn credentials_that_are_missing_unknown_or_revoked_are_unauthorized() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "100").await;
    let body = Some(json!({"to": "13800138000", "text": "hi"}));
    for bearer in [None, Some("tdk_nothing"), Some(""), Some(gw.operator_token.as_str())] {
        let (status, answer) = gw.request(bearer, Method::POST, "/v1/messages", body.clone()).await;
        assert_eq!((status, error_code(&answer)), (StatusCode::UNAUTHORIZED, "unauthorized"), "{bearer:?}");
    }
    let response =
        gw.http.get(format!("{}/v1/balance", gw.base)).header("authorization", "Basic abc").send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    let (status, _) = gw.request(Some(&alice.key), Method::GET, "/admin/v1/customers", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an API key is not an operator token");
}

#[tokio::test]
async fn a_request_the_balance_cannot_fully_pay_is_refused_whole() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "0.0400").await;
    assert_refused(
        &gw,
        &alice,
        json!({"to": "13800138000", "text": "hi"}),
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_balance",
        None,
    )
    .await;
    gw.top_up(&alice.id, "0.0500").await; // 0.0900: two messages, not three
    assert_refused(
        &gw,
        &alice,
        json!({"to": ["13800138000", "13800138001", "13800138002"], "text": "hi"}),
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_balance",
        None,
    )
    .await;
    assert_eq!(gw.balance(&alice).await, "0.0900");
    let (status, _) = gw.send(&alice, json!({"to": ["13800138000", "13800138001"], "text": "hi"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(gw.balance(&alice).await, "0.0000");
    assert_refused(
        &gw,
        &alice,
        json!({"to": "13800138000", "text": "hi"}),
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_balance",
        None,
    )
    .await;
    gw.ledger_check(&alice.id).await;
}

#[tokio::test]
async fn a_body_over_the_cap_is_payload_too_large() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "100").await;
    let huge = json!({"to": "13800138000", "text": ascii(300 * 1024)});
    let (status, body) = gw.send(&alice, huge).await;
    assert_eq!((status, error_code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    // Without a Content-Length (chunked), the cap still holds.
    assert_eq!(chunked_post_status(&gw, &alice.key, &ascii(300 * 1024)).await, 413);
    let (status, body) = gw.send(&alice, json!({"to": "13800138000", "text": ascii(65 * 1024)})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "text_too_long"));
}

/// POSTs a send request with `Transfer-Encoding: chunked` over a raw connection.
async fn chunked_post_status(gw: &TestGateway, key: &str, text: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = gw.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let body = format!("{{\"to\": \"13800138000\", \"text\": \"{text}\"}}");
    for chunk in body.as_bytes().chunks(16 * 1024) {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&frame).await.is_err() {
            break; // the server may answer and close before reading everything
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn no_refusal_stores_or_charges_anything() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "0.0400").await;
    let entries_before = gw.ledger_entries(&alice.id).await.len();
    let refused = [
        json!({"to": "13800138000", "text": ""}),
        json!({"to": "bad", "text": "hi"}),
        json!({"to": "13800138000", "text": ascii(2000)}),
        json!({"to": "13800138000", "text": "hi"}),
        json!({"to": ["13800138000", "bad"], "text": "hi"}),
    ];
    for body in refused {
        let (status, answer) = gw.send(&alice, body).await;
        assert!(status.is_client_error(), "{answer}");
    }
    assert_eq!(gw.ledger_entries(&alice.id).await.len(), entries_before);
    let (_, list) = gw.as_customer(&alice.key, Method::GET, "/messages", None).await;
    assert_eq!(list["messages"], json!([]));
    assert_eq!(gw.balance(&alice).await, "0.0400");
}

#[tokio::test]
async fn tariff_prices_are_capped_so_totals_cannot_overflow() {
    // Regression: a ¥1,000,000,000 default price made a 1000-recipient quote wrap around and
    // the send answer 500.
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "100").await;
    let (status, body) =
        gw.admin(Method::PUT, &format!("/customers/{}/tariff", alice.id), Some(json!({"default": "1000000000"}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (status, _) =
        gw.admin(Method::PUT, &format!("/customers/{}/tariff", alice.id), Some(json!({"default": "1000"}))).await;
    assert_eq!(status, StatusCode::OK);
    let to: Vec<String> = (0..1000).map(|i| format!("1380013{i:04}")).collect();
    let (status, body) =
        gw.as_customer(&alice.key, Method::POST, "/quote", Some(json!({"to": to, "text": ascii(1530)}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_price"], "10000000.0000");
    let (status, body) = gw.send(&alice, json!({"to": to, "text": ascii(1530)})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::PAYMENT_REQUIRED, "insufficient_balance"));
}
