//! Reading, listing, scheduling, cancelling and expiring messages.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_customer_sees_only_its_own_messages() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "10").await;
    let bob = gw.onboard("bob", "10").await;
    let (_, body) = gw.send_text(&alice, "13800138000", "for alice's eyes").await;
    let id = body["messages"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = gw.message(&alice, &id).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = gw.message(&bob, &id).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = gw.as_customer(&bob.key, Method::DELETE, &format!("/messages/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = gw.as_customer(&bob.key, Method::GET, "/messages", None).await;
    assert_eq!(list["messages"], json!([]));
    let (status, _) = gw.message(&alice, "msg_doesnotexist").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn listing_pages_by_cursor_newest_first_with_filters() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "10").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (_, body) = gw.send_text(&alice, &format!("1380013800{i}"), "hi").await;
        ids.push(body["messages"][0]["id"].as_str().expect("id").to_owned());
        gw.clock.advance(1000);
    }
    let (_, page1) = gw.as_customer(&alice.key, Method::GET, "/messages?limit=2", None).await;
    let got: Vec<&str> = page1["messages"].as_array().expect("list").iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()]);
    let cursor = page1["next_cursor"].as_str().expect("more pages");
    let (_, page2) = gw.as_customer(&alice.key, Method::GET, &format!("/messages?limit=2&cursor={cursor}"), None).await;
    let got: Vec<&str> = page2["messages"].as_array().expect("list").iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
    let (_, page3) =
        gw.as_customer(&alice.key, Method::GET, &format!("/messages?limit=2&cursor={}", ids[1]), None).await;
    assert_eq!(page3["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(page3["next_cursor"], json!(null));

    let (_, by_number) = gw.as_customer(&alice.key, Method::GET, "/messages?to=%2B86%20138-0013-8002", None).await;
    assert_eq!(by_number["messages"][0]["id"], json!(ids[2]));
    assert_eq!(by_number["messages"].as_array().map(Vec::len), Some(1));
    let since = tongdao_domain::clock::rfc3339(noon(TODAY) + 3000);
    let (_, recent) = gw.as_customer(&alice.key, Method::GET, &format!("/messages?since={since}"), None).await;
    assert_eq!(recent["messages"].as_array().map(Vec::len), Some(2));
    let (_, queued) = gw.as_customer(&alice.key, Method::GET, "/messages?status=queued", None).await;
    assert_eq!(queued["messages"].as_array().map(Vec::len), Some(5));
    let (_, none) = gw.as_customer(&alice.key, Method::GET, "/messages?status=delivered", None).await;
    assert_eq!(none["messages"], json!([]));
    let (status, all) =
        gw.as_customer(&alice.key, Method::GET, "/messages?status=&to=&since=&until=&cursor=&limit=", None).await;
    assert_eq!((status, all["messages"].as_array().map(Vec::len)), (StatusCode::OK, Some(5)), "empty means no filter");
    let (status, body) = gw.as_customer(&alice.key, Method::GET, "/messages?limit=1&limit=2", None).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")), "{body}");
    for bad in ["status=nope", "limit=0", "limit=1001", "cursor=abc", "since=yesterday", "to=12"] {
        let (status, body) = gw.as_customer(&alice.key, Method::GET, &format!("/messages?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test]
async fn a_scheduled_message_is_charged_at_acceptance_and_a_cancel_refunds_it() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "1").await;
    let send_at = tongdao_domain::clock::rfc3339(gw.clock_now() + 3_600_000);
    let (status, body) = gw.send(&alice, json!({"to": "13800138000", "text": "later", "send_at": send_at})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["messages"][0]["status"], "scheduled");
    assert_eq!(gw.balance(&alice).await, "0.9550");
    let id = body["messages"][0]["id"].as_str().expect("id").to_owned();

    let (status, body) = gw.as_customer(&alice.key, Method::DELETE, &format!("/messages/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(gw.balance(&alice).await, "1.0000", "the cancel refunds the charge");
    let (status, body) = gw.as_customer(&alice.key, Method::DELETE, &format!("/messages/{id}"), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "message_not_cancellable"), "refunded once");
    assert_eq!(gw.balance(&alice).await, "1.0000");

    // A queued message no carrier link has taken yet (this gateway has none) can be
    // cancelled too, and is refunded.
    let (_, body) = gw.send_text(&alice, "13800138000", "now").await;
    let now_id = body["messages"][0]["id"].as_str().expect("id");
    let (status, body) = gw.as_customer(&alice.key, Method::DELETE, &format!("/messages/{now_id}"), None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("cancelled")), "{body}");
    assert_eq!(gw.balance(&alice).await, "1.0000");

    let entries = gw.ledger_entries(&alice.id).await;
    let kinds: Vec<&str> = entries.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["topup", "charge", "refund", "charge", "refund"]);
    assert_eq!(entries[2]["message_id"], json!(id));
    gw.ledger_check(&alice.id).await;
}

#[tokio::test]
async fn a_scheduled_message_is_queued_when_due_and_one_not_sent_by_valid_until_expires_refunded() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "1").await;
    let now = gw.clock_now();
    let at = |ms: i64| tongdao_domain::clock::rfc3339(now + ms);
    let (_, body) = gw.send(&alice, json!({"to": "13800138000", "text": "at 1h", "send_at": at(3_600_000)})).await;
    let scheduled = body["messages"][0]["id"].as_str().expect("id").to_owned();
    let (_, body) =
        gw.send(&alice, json!({"to": "13800138000", "text": "valid 30 min", "valid_until": at(1_800_000)})).await;
    let expiring = body["messages"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(gw.balance(&alice).await, "0.9100");

    gw.clock.advance(1_800_000);
    gw.sweep().await;
    let (_, message) = gw.message(&alice, &expiring).await;
    assert_eq!(message["status"], "expired");
    let statuses: Vec<&str> =
        message["events"].as_array().expect("events").iter().filter_map(|e| e["status"].as_str()).collect();
    assert_eq!(statuses, ["queued", "expired"]);
    assert_eq!(gw.balance(&alice).await, "0.9550", "an expired message is refunded");
    let (_, message) = gw.message(&alice, &scheduled).await;
    assert_eq!(message["status"], "scheduled");

    gw.clock.advance(1_800_000);
    gw.sweep().await;
    gw.sweep().await;
    let (_, message) = gw.message(&alice, &scheduled).await;
    assert_eq!(message["status"], "queued");
    assert_eq!(gw.balance(&alice).await, "0.9550", "sweeping twice refunds nothing twice");
    gw.ledger_check(&alice.id).await;
}
