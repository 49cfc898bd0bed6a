//! The ledger invariant: balance = top-ups − charges + refunds ± adjustments, never negative,
//! and equal to the sum of the append-only entries, whatever customers do.

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tongdao_domain::Money;

use crate::harness::*;

#[derive(Debug, Clone)]
enum Op {
    TopUp(i64),
    /// recipients, segments per message
    Send(usize, usize),
    /// A negative adjustment
    Debit(i64),
    ScheduleThenCancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..2_000).prop_map(Op::TopUp),
        (1usize..6, 1usize..4).prop_map(|(r, s)| Op::Send(r, s)),
        (1i64..2_000).prop_map(Op::Debit),
        Just(Op::ScheduleThenCancel),
    ]
}

/// Steps of ¥0.0001 as an amount string.
fn amount(steps: i64) -> String {
    Money::from_micros(steps * 100).to_string()
}

#[test]
fn random_top_ups_sends_and_adjustments_keep_the_balance_equal_to_the_ledger_and_never_negative() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let gw = runtime.block_on(TestGateway::spawn());
    let mut runner =
        TestRunner::new(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() });
    let case = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&proptest::collection::vec(op(), 1..25), |ops| {
            let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            runtime.block_on(async {
                let sender = gw.onboard(&format!("p{case}"), "0").await;
                let mut expected: i64 = 0; // steps of 0.0001
                for op in ops {
                    match op {
                        Op::TopUp(steps) => {
                            gw.top_up(&sender.id, &amount(steps)).await;
                            expected += steps;
                        }
                        Op::Send(recipients, segments) => {
                            let to: Vec<String> = (0..recipients).map(|i| format!("1390000000{i}")).collect();
                            let text = if segments == 1 { ascii(10) } else { ascii(153 * segments) };
                            let cost = 450 * (recipients * segments) as i64;
                            let (status, body) = gw.send(&sender, json!({"to": to, "text": text})).await;
                            if expected >= cost {
                                prop_assert_eq!(status, StatusCode::ACCEPTED, "{}", body);
                                expected -= cost;
                            } else {
                                prop_assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{}", body);
                            }
                        }
                        Op::Debit(steps) => {
                            let body = json!({"amount": amount(-steps), "reason": "correction"});
                            let (status, answer) = gw
                                .admin(Method::POST, &format!("/customers/{}/adjustments", sender.id), Some(body))
                                .await;
                            if expected >= steps {
                                prop_assert_eq!(status, StatusCode::CREATED, "{}", answer);
                                expected -= steps;
                            } else {
                                prop_assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{}", answer);
                            }
                        }
                        Op::ScheduleThenCancel => {
                            let send_at = tongdao_domain::clock::rfc3339(gw.clock_now() + 60_000);
                            let (status, body) =
                                gw.send(&sender, json!({"to": "13900000000", "text": "x", "send_at": send_at})).await;
                            if status == StatusCode::ACCEPTED {
                                let id = body["messages"][0]["id"].as_str().unwrap_or_default().to_owned();
                                let (status, _) =
                                    gw.as_customer(&sender.key, Method::DELETE, &format!("/messages/{id}"), None).await;
                                prop_assert_eq!(status, StatusCode::OK);
                            } else {
                                prop_assert!(expected < 450);
                            }
                        }
                    }
                    let check = gw.ledger_check(&sender.id).await;
                    let want = amount(expected);
                    prop_assert_eq!(check["balance"].as_str(), Some(want.as_str()));
                    prop_assert!(!check["balance"].as_str().unwrap_or("-").starts_with('-'));
                }
                let entries = gw.ledger_entries(&sender.id).await;
                let sum: i64 = entries
                    .iter()
                    .filter_map(|e| e["amount"].as_str().and_then(|a| Money::parse(a).ok()))
                    .map(|m| m.micros() / 100)
                    .sum();
                prop_assert_eq!(sum, expected, "the entries add up to the balance");
                Ok(())
            })
        })
        .expect("the ledger invariant holds");
}

#[tokio::test]
async fn a_top_up_reference_tops_up_once_and_adjustments_need_a_reason() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "0").await;
    let path = format!("/customers/{}/topups", alice.name);
    let body = json!({"amount": "1000.0000", "reference": "bank-tx-1"});
    let (status, first) = gw.admin(Method::POST, &path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = gw.admin(Method::POST, &path, Some(body)).await;
    assert_eq!((status, &again["seq"]), (StatusCode::CREATED, &first["seq"]), "the same payment is not counted twice");
    let (status, body) = gw.admin(Method::POST, &path, Some(json!({"amount": "5", "reference": "bank-tx-1"}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "conflict"));
    assert_eq!(gw.balance(&alice).await, "1000.0000");

    for bad in [json!({"amount": "0"}), json!({"amount": "-1"}), json!({"amount": "1.00001"}), json!({"amount": 5})] {
        let (status, body) = gw.admin(Method::POST, &path, Some(bad.clone())).await;
        assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"), "{bad}");
    }
    let adjust = format!("/customers/{}/adjustments", alice.id);
    let (status, body) = gw.admin(Method::POST, &adjust, Some(json!({"amount": "-1", "reason": " "}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("reason")));
    let (status, body) =
        gw.admin(Method::POST, &adjust, Some(json!({"amount": "-1000.0001", "reason": "too much"}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::PAYMENT_REQUIRED, "insufficient_balance"));
    let (status, body) =
        gw.admin(Method::POST, &adjust, Some(json!({"amount": "-0.5000", "reason": "billing dispute #7"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["kind"].as_str(), body["balance_after"].as_str()), (Some("adjustment"), Some("999.5000")));
    gw.ledger_check(&alice.id).await;
}

#[tokio::test]
async fn the_ledger_refuses_updates_and_deletes() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "10").await;
    gw.send_text(&alice, "13800138000", "hi").await;
    let db = rusqlite_like_open(&gw.config.database_path());
    let update = db.execute("UPDATE ledger SET amount = 0", []);
    assert!(update.is_err(), "UPDATE must be refused");
    let delete = db.execute("DELETE FROM ledger", []);
    assert!(delete.is_err(), "DELETE must be refused");
    let twice = db.execute(
        "INSERT INTO ledger (customer_id, kind, amount, balance_after, message_id, created_at) \
         SELECT customer_id, 'charge', amount, 0, message_id, created_at FROM ledger WHERE kind = 'charge'",
        [],
    );
    assert!(twice.is_err(), "a second charge for one message must be refused");
}

fn rusqlite_like_open(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.busy_timeout(std::time::Duration::from_secs(5)).expect("timeout");
    conn
}
