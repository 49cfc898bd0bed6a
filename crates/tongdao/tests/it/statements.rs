//! Monthly statements (clause 3.8) and the reconciliation report (clause 5): statements chain
//! month to month and add up to the ledger whatever customers do and whenever; JSON and CSV
//! say the same; a statement is its customer's alone and carries the ledger's chain head;
//! the reconciliation counts what went through a carrier (the built-in simulator).

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tongdao_domain::Money;
use tongdao_domain::clock::rfc3339;
use tongdao_domain::period::CalendarMonth;

use crate::harness::*;

const HOUR: i64 = 3_600_000;

/// An amount the server wrote, in micro-units.
fn micros(value: &Value) -> i64 {
    value.as_str().and_then(|a| Money::parse(a).ok()).map(Money::micros).unwrap_or_else(|| panic!("amount: {value}"))
}

/// Steps of ¥0.0001 as an amount string.
fn amount(steps: i64) -> String {
    Money::from_micros(steps * 100).to_string()
}

async fn statement(gw: &TestGateway, sender: &Sender, month: &str) -> Value {
    let (status, body) = gw.as_customer(&sender.key, Method::GET, &format!("/statements/{month}"), None).await;
    assert_eq!(status, StatusCode::OK, "{month}: {body}");
    body
}

async fn statement_csv(gw: &TestGateway, sender: &Sender, month: &str) -> Vec<Vec<String>> {
    let response = gw
        .http
        .get(format!("{}/v1/statements/{month}?format=csv", gw.base))
        .bearer_auth(&sender.key)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(content_type.as_deref(), Some("text/csv; charset=utf-8"));
    let disposition = response.headers().get("content-disposition").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(disposition, Some(format!("attachment; filename=\"statement-{}-{month}.csv\"", sender.id)));
    parse_csv(&response.text().await.expect("body"))
}

/// RFC 4180 lines: fields split on commas outside double quotes, `""` inside them a quote.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let (mut fields, mut field, mut quoted, mut chars) =
            (Vec::new(), String::new(), false, line.chars().peekable());
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => fields.push(std::mem::take(&mut field)),
                (c, _) => field.push(c),
            }
        }
        fields.push(field);
        lines.push(fields);
    }
    lines
}

const COLUMNS: [&str; 9] = ["kind", "date", "carrier", "seq", "count", "segments", "amount", "reference", "reason"];

/// The CSV says what the JSON says, line for line.
fn assert_csv_agrees(json: &Value, csv: &[Vec<String>]) {
    assert_eq!(csv.first().map(|h| h.iter().map(String::as_str).collect::<Vec<_>>()), Some(COLUMNS.to_vec()));
    let rows: Vec<&Vec<String>> = csv[1..].iter().collect();
    assert!(rows.iter().all(|r| r.len() == COLUMNS.len()), "{csv:?}");
    let of = |kind: &str| rows.iter().filter(|r| r[0] == kind).copied().collect::<Vec<_>>();
    let one = |kind: &str| {
        let found = of(kind);
        assert_eq!(found.len(), 1, "one {kind} line: {csv:?}");
        found[0].clone()
    };
    let state = if json["final"] == json!(true) { "final" } else { "running" };
    let head = one("statement");
    assert_eq!(
        (head[1].as_str(), head[7].as_str(), head[8].as_str()),
        (json["month"].as_str().unwrap_or(""), json["customer_id"].as_str().unwrap_or(""), state)
    );
    assert_eq!(one("opening")[6], json["opening_balance"].as_str().unwrap_or(""));
    assert_eq!(one("closing")[6], json["closing_balance"].as_str().unwrap_or(""));
    for (kind, total) in
        [("topups", "topups"), ("charges", "charges"), ("refunds", "refunds"), ("adjustments", "adjustments")]
    {
        let line = one(kind);
        assert_eq!(line[4], json[total]["count"].to_string(), "{kind}: {line:?}");
        assert_eq!(line[6], json[total]["amount"].as_str().unwrap_or(""), "{kind}: {line:?}");
    }
    assert_eq!(one("charges")[5], json["charges"]["segments"].to_string());
    // Listed entries: seq, day, amount, reference and reason (an empty field is a null).
    for (kind, total) in [("topup", "topups"), ("adjustment", "adjustments")] {
        let text = |s: &str| if s.is_empty() { Value::Null } else { Value::from(s) };
        let listed: Vec<Value> = of(kind)
            .iter()
            .map(|r| {
                Value::from(vec![json!(r[3].parse::<i64>().ok()), text(&r[1]), text(&r[6]), text(&r[7]), text(&r[8])])
            })
            .collect();
        let expected: Vec<Value> = json[total]["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| {
                Value::from(vec![
                    e["seq"].clone(),
                    e["date"].clone(),
                    e["amount"].clone(),
                    e["reference"].clone(),
                    e["reason"].clone(),
                ])
            })
            .collect();
        assert_eq!(listed, expected, "{kind}");
    }
    // The charge lines (day × carrier) have the JSON's breakdowns as their marginals.
    let mut by_day: std::collections::BTreeMap<String, (u64, u64, i64)> = Default::default();
    let mut by_carrier: std::collections::BTreeMap<String, (u64, u64, i64)> = Default::default();
    for line in of("charge") {
        let figures = (
            line[4].parse::<u64>().unwrap_or(0),
            line[5].parse::<u64>().unwrap_or(0),
            micros(&Value::from(line[6].as_str())),
        );
        for (map, key) in [(&mut by_day, &line[1]), (&mut by_carrier, &line[2])] {
            let sum = map.entry(key.clone()).or_default();
            *sum = (sum.0 + figures.0, sum.1 + figures.1, sum.2 + figures.2);
        }
    }
    let breakdown = |name: &str, key: &str| -> std::collections::BTreeMap<String, (u64, u64, i64)> {
        json["charges"][name]
            .as_array()
            .expect("breakdown")
            .iter()
            .map(|g| {
                let figures =
                    (g["count"].as_u64().unwrap_or(0), g["segments"].as_u64().unwrap_or(0), micros(&g["amount"]));
                (g[key].as_str().unwrap_or("").to_owned(), figures)
            })
            .collect()
    };
    assert_eq!(by_day, breakdown("by_day", "date"));
    assert_eq!(by_carrier, breakdown("by_carrier", "carrier"));
    let refunds: Vec<Value> = of("refund")
        .iter()
        .map(|r| json!({"date": r[1], "count": r[4].parse::<u64>().unwrap_or(0), "amount": r[6]}))
        .collect();
    assert_eq!(Value::from(refunds), json["refunds"]["by_day"]);
    match json["chain"].as_object() {
        Some(chain) => {
            let line = one("chain");
            assert_eq!(
                (line[3].as_str(), line[7].as_str()),
                (chain["seq"].to_string().as_str(), chain["hash"].as_str().unwrap_or(""))
            );
        }
        None => assert!(of("chain").is_empty()),
    }
}

/// opening + top-ups + charges + refunds + adjustments = closing, in micro-units; returns
/// the sum of the items.
fn assert_balances(statement: &Value) -> i64 {
    let items: i64 =
        ["topups", "charges", "refunds", "adjustments"].iter().map(|k| micros(&statement[k]["amount"])).sum();
    assert_eq!(
        micros(&statement["opening_balance"]) + items,
        micros(&statement["closing_balance"]),
        "the statement balances: {statement}"
    );
    let by_day: i64 =
        statement["charges"]["by_day"].as_array().expect("by_day").iter().map(|d| micros(&d["amount"])).sum();
    let by_carrier: i64 =
        statement["charges"]["by_carrier"].as_array().expect("by_carrier").iter().map(|d| micros(&d["amount"])).sum();
    assert_eq!(
        (by_day, by_carrier),
        (micros(&statement["charges"]["amount"]), micros(&statement["charges"]["amount"]))
    );
    items
}

#[derive(Debug, Clone)]
enum Op {
    TopUp(i64),
    /// Segments of a message to one recipient.
    Send(usize),
    ScheduleThenCancel,
    /// A message valid for an hour that no carrier takes: the sweeper expires and refunds it
    /// after a later wait, perhaps in another month.
    SendExpiring,
    /// Signed steps of ¥0.0001.
    Adjust(i64),
    /// Hours to move the clock on (up to a month), then sweep.
    Wait(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1i64..5_000).prop_map(Op::TopUp),
        3 => (1usize..4).prop_map(Op::Send),
        1 => Just(Op::ScheduleThenCancel),
        2 => Just(Op::SendExpiring),
        1 => (-2_000i64..2_000).prop_filter("not zero", |s| *s != 0).prop_map(Op::Adjust),
        3 => (1i64..720).prop_map(Op::Wait),
    ]
}

async fn apply(gw: &TestGateway, sender: &Sender, op: &Op) {
    match op {
        Op::TopUp(steps) => {
            gw.top_up(&sender.id, &amount(*steps)).await;
        }
        Op::Send(segments) => {
            let text = if *segments == 1 { ascii(10) } else { ascii(153 * segments) };
            let (status, body) = gw.send(sender, json!({"to": "13900000000", "text": text})).await;
            assert!([StatusCode::ACCEPTED, StatusCode::PAYMENT_REQUIRED].contains(&status), "{body}");
        }
        Op::ScheduleThenCancel => {
            let send_at = rfc3339(gw.clock_now() + HOUR);
            let (status, body) = gw.send(sender, json!({"to": "13000000000", "text": "x", "send_at": send_at})).await;
            if status == StatusCode::ACCEPTED {
                let id = body["messages"][0]["id"].as_str().unwrap_or_default().to_owned();
                let (status, body) =
                    gw.as_customer(&sender.key, Method::DELETE, &format!("/messages/{id}"), None).await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        }
        Op::SendExpiring => {
            let until = rfc3339(gw.clock_now() + HOUR);
            let (status, body) = gw.send(sender, json!({"to": "13300000000", "text": "y", "valid_until": until})).await;
            assert!([StatusCode::ACCEPTED, StatusCode::PAYMENT_REQUIRED].contains(&status), "{body}");
        }
        Op::Adjust(steps) => {
            let body = json!({"amount": amount(*steps), "reason": "correction, by hand"});
            let (status, answer) =
                gw.admin(Method::POST, &format!("/customers/{}/adjustments", sender.id), Some(body)).await;
            assert!([StatusCode::CREATED, StatusCode::PAYMENT_REQUIRED].contains(&status), "{answer}");
        }
        Op::Wait(hours) => {
            gw.clock.advance(hours * HOUR);
            gw.sweep().await;
        }
    }
}

#[test]
fn statements_chain_month_to_month_and_add_up_to_the_ledger() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let gw = runtime.block_on(TestGateway::spawn());
    let mut runner =
        TestRunner::new(ProptestConfig { cases: 10, failure_persistence: None, ..ProptestConfig::default() });
    let case = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&proptest::collection::vec(op(), 1..30), |ops| {
            let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            runtime.block_on(async {
                // A term long enough for every wait (30 of a month at most).
                let sender = gw.onboard_with(&format!("s{case}"), "0", |t| t["term_years"] = json!(3)).await;
                let first = CalendarMonth::containing(gw.clock_now());
                for op in &ops {
                    apply(&gw, &sender, op).await;
                }
                let current = CalendarMonth::containing(gw.clock_now());
                let mut month = first;
                let mut previous_closing = 0;
                let mut items = 0;
                let mut last = Value::Null;
                while month <= current {
                    let json = statement(&gw, &sender, &month.to_string()).await;
                    prop_assert_eq!(
                        micros(&json["opening_balance"]),
                        previous_closing,
                        "{} opens where the month before closed",
                        month
                    );
                    prop_assert_eq!(json["final"].as_bool(), Some(month != current));
                    items += assert_balances(&json);
                    assert_csv_agrees(&json, &statement_csv(&gw, &sender, &month.to_string()).await);
                    previous_closing = micros(&json["closing_balance"]);
                    last = json;
                    month = month.next();
                }
                let check = gw.ledger_check(&sender.id).await;
                prop_assert_eq!(items, micros(&check["ledger_sum"]), "every statement's items add up to the ledger");
                prop_assert_eq!(previous_closing, micros(&check["balance"]));
                let entries = gw.ledger_entries(&sender.id).await;
                prop_assert_eq!(&last["chain"]["seq"], &entries.last().map_or(Value::Null, |e| e["seq"].clone()));
                Ok(())
            })
        })
        .expect("statements chain and add up");
}

/// 00:00 CST on the day `days` after today's, plus `hours`.
fn at(gw: &TestGateway, days: i64, hours: i64) -> i64 {
    let today = tongdao_domain::period::day_start_ms(tongdao_domain::agreement::cst_date(gw.clock_now()));
    today + days * 86_400_000 + hours * HOUR
}

#[tokio::test]
async fn a_statement_lists_a_month_by_day_and_carrier_in_json_and_csv_with_the_ledgers_chain_head() {
    let gw = TestGateway::spawn().await;
    let bob = gw.onboard("bob", "5").await;
    let alice = gw.onboard("alice", "0").await;
    let (status, _) = gw
        .admin(
            Method::POST,
            &format!("/customers/{}/topups", alice.id),
            Some(json!({"amount": "10", "reference": "bank-tx-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    gw.send_text(&alice, "13800138000", "mobile, one segment").await;
    gw.send_text(&alice, "13000000000", &ascii(300)).await; // unicom, two segments
    gw.send_text(&bob, "13800138000", "bob's").await;
    gw.clock.set(at(&gw, 1, 9));
    gw.send_text(&alice, "13300000000", "telecom").await;
    let cancel_at = rfc3339(gw.clock_now() + HOUR);
    let (_, scheduled) = gw.send(&alice, json!({"to": "13800138000", "text": "later", "send_at": cancel_at})).await;
    let id = scheduled["messages"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = gw.as_customer(&alice.key, Method::DELETE, &format!("/messages/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let adjust = json!({"amount": "-0.5", "reason": "dispute #7, \"double\" charge"});
    let (status, body) = gw.admin(Method::POST, &format!("/customers/{}/adjustments", alice.id), Some(adjust)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let month = CalendarMonth::containing(gw.clock_now()).to_string();
    let json = statement(&gw, &alice, &month).await;
    assert_eq!((json["customer_id"].as_str(), json["final"].as_bool()), (Some(alice.id.as_str()), Some(false)));
    assert_eq!((json["opening_balance"].as_str(), json["closing_balance"].as_str()), (Some("0.0000"), Some("9.3200")));
    assert_balances(&json);
    assert_eq!(json["topups"]["entries"][0]["reference"], "bank-tx-1");
    assert_eq!(json["charges"]["segments"], 5, "{json}");
    let carriers: Vec<(&str, u64)> = json["charges"]["by_carrier"]
        .as_array()
        .expect("by carrier")
        .iter()
        .map(|c| (c["carrier"].as_str().unwrap_or(""), c["segments"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(carriers, [("mobile", 2), ("telecom", 1), ("unicom", 2)]);
    assert_eq!(json["charges"]["by_day"].as_array().map(Vec::len), Some(2), "two days: {json}");
    assert_eq!((json["refunds"]["count"].as_u64(), json["refunds"]["amount"].as_str()), (Some(1), Some("0.0450")));
    assert_eq!(json["adjustments"]["entries"][0]["reason"], "dispute #7, \"double\" charge");
    assert_csv_agrees(&json, &statement_csv(&gw, &alice, &month).await);

    // The chain head is the customer's last ledger entry, with the hash the ledger holds, and
    // the chain through it is whole.
    let db = rusqlite::Connection::open(gw.config.database_path()).expect("open");
    let (seq, hash): (i64, String) = db
        .query_row("SELECT seq, hash FROM ledger WHERE customer_id = ?1 ORDER BY seq DESC LIMIT 1", [&alice.id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("entry");
    assert_eq!((json["chain"]["seq"].as_i64(), json["chain"]["hash"].as_str()), (Some(seq), Some(hash.as_str())));
    let verified = gw.platform().store().verify_ledger().await.expect("read");
    assert_eq!(verified.map(|report| report.head), Ok(hash), "alice's entry is the chain's head");

    // The operator reads the same statement; another customer only ever reads its own.
    let (status, copy) = gw.admin(Method::GET, &format!("/customers/{}/statements/{month}", alice.name), None).await;
    assert_eq!(status, StatusCode::OK, "{copy}");
    let without_time = |mut v: Value| {
        v["generated_at"] = Value::Null;
        v
    };
    assert_eq!(without_time(copy), without_time(json.clone()));
    let bobs = statement(&gw, &bob, &month).await;
    assert_eq!(
        (bobs["customer_id"].as_str(), bobs["closing_balance"].as_str()),
        (Some(bob.id.as_str()), Some("4.9550"))
    );
    assert_ne!(bobs["chain"], json["chain"]);
    let (status, _) = gw
        .request(Some(&bob.key), Method::GET, &format!("/admin/v1/customers/{}/statements/{month}", alice.id), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a customer key is no operator token");
    let (status, _) = gw.request(None, Method::GET, &format!("/v1/statements/{month}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A month before any entry is empty and chains to nothing; the next month has not begun.
    let empty = statement(&gw, &alice, "2026-01").await;
    assert_eq!(
        (empty["closing_balance"].as_str(), &empty["chain"], empty["final"].as_bool()),
        (Some("0.0000"), &Value::Null, Some(true))
    );
    let next = CalendarMonth::containing(gw.clock_now()).next().to_string();
    let (status, body) = gw.as_customer(&alice.key, Method::GET, &format!("/statements/{next}"), None).await;
    assert_eq!(
        (status, error_code(&body), body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "period_not_started", Some("month"))
    );
    for bad in ["2026-6", "2026-13", "june", "1999-12"] {
        let (status, body) = gw.as_customer(&alice.key, Method::GET, &format!("/statements/{bad}"), None).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("month")), "{bad}");
    }
    let (status, body) =
        gw.as_customer(&alice.key, Method::GET, &format!("/statements/{month}?format=xml"), None).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("format")));
    let (status, _) = gw.admin(Method::GET, &format!("/customers/nobody/statements/{month}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_month_ends_at_midnight_cst_and_a_past_month_is_final() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "1").await;
    let june = CalendarMonth::containing(gw.clock_now());
    gw.clock.set(june.end_ms() - 1);
    gw.send_text(&alice, "13800138000", "the last millisecond of the month").await;
    gw.clock.set(june.end_ms());
    gw.send_text(&alice, "13800138000", "the first of the next").await;
    let first = statement(&gw, &alice, &june.to_string()).await;
    let second = statement(&gw, &alice, &june.next().to_string()).await;
    assert_eq!(first["final"], true);
    assert_eq!(first["charges"]["by_day"][0]["date"], tongdao_domain::period::format_day(june.last_day()));
    assert_eq!((first["charges"]["count"].as_u64(), second["charges"]["count"].as_u64()), (Some(1), Some(1)));
    assert_eq!(
        (first["closing_balance"].as_str(), second["opening_balance"].as_str()),
        (Some("0.9550"), Some("0.9550"))
    );
    assert_eq!(second["closing_balance"], "0.9100");
}

/// The one row of `link` in a report.
fn row<'a>(report: &'a Value, link: &str) -> &'a Value {
    let rows = report["rows"].as_array().expect("rows");
    let found: Vec<&Value> = rows.iter().filter(|r| r["link"] == link).collect();
    assert_eq!(found.len(), 1, "one {link} row: {report}");
    found[0]
}

#[tokio::test]
async fn the_reconciliation_counts_what_the_carrier_took_receipted_and_refused() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let alice = gw.onboard("alice", "10").await;
    let bob = gw.onboard("bob", "10").await;
    // Delivered: two one-part messages and a three-part one.
    let mut ids =
        vec![gw.send_one(&alice, "+8613800138000", "one").await, gw.send_one(&bob, "+8613800138001", "two").await];
    ids.push(gw.send_one(&alice, "+8613800138002", &"验证码".repeat(50)).await);
    for id in &ids[..2] {
        assert_eq!(gw.wait_final(if id == &ids[1] { &bob } else { &alice }, id).await["status"], "delivered");
    }
    assert_eq!(gw.wait_final(&alice, &ids[2]).await["status"], "delivered");
    // Undeliverable.
    gw.script(json!({"outcomes": {"delivered": 0, "undeliverable": 1}}));
    let undeliverable = gw.send_one(&alice, "+8613800138003", "nobody home").await;
    assert_eq!(gw.wait_final(&alice, &undeliverable).await["status"], "undeliverable");
    // Taken but never receipted.
    gw.script(json!({"outcomes": {"delivered": 0, "no_receipt": 1}}));
    let silent = gw.send_one(&alice, "+8613800138004", "into the void").await;
    gw.wait_message(&alice, &silent, |m| m["status"] == "submitted").await;
    // Refused by the carrier: failed at submission, and refunded.
    gw.script(json!({"reject_fraction": 1.0}));
    let refused = gw.send_one(&alice, "+8613800138005", "refused").await;
    assert_eq!(gw.wait_final(&alice, &refused).await["status"], "failed");
    // Never reaches a carrier: cancelled before its time.
    let send_at = rfc3339(gw.clock_now() + HOUR);
    let (_, body) = gw.send(&alice, json!({"to": "+8613800138006", "text": "later", "send_at": send_at})).await;
    let cancelled = body["messages"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = gw.as_customer(&alice.key, Method::DELETE, &format!("/messages/{cancelled}"), None).await;
    assert_eq!(status, StatusCode::OK);

    let today = tongdao_domain::period::format_day(tongdao_domain::agreement::cst_date(gw.clock_now()));
    let (status, report) = gw.admin(Method::GET, &format!("/reconciliation?from={today}&to={today}"), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let simulator = row(&report, "simulator");
    assert_eq!(simulator["date"], today.as_str());
    let figures =
        |r: &Value, keys: &[&str]| keys.iter().map(|k| r[*k].as_u64().unwrap_or(u64::MAX)).collect::<Vec<_>>();
    let keys = [
        "messages",
        "charged_segments",
        "submitted_segments",
        "failed_messages",
        "charged_not_submitted",
        "submitted_without_receipt",
    ];
    assert_eq!(figures(simulator, &keys), [6, 8, 7, 1, 1, 1], "{simulator}");
    let receipts = &simulator["receipts"];
    assert_eq!(
        figures(receipts, &["segments", "delivered", "undeliverable", "expired", "rejected", "unknown"]),
        [6, 5, 1, 0, 0, 0],
        "{simulator}"
    );
    assert_eq!((simulator["charged"].as_str(), simulator["refunded"].as_str()), (Some("0.3600"), Some("0.0450")));
    let unsent = row(&report, "none");
    assert_eq!(figures(unsent, &keys), [1, 1, 0, 0, 1, 0], "{unsent}");
    assert_eq!(unsent["refunded"], "0.0450");
    let total = &report["total"];
    assert_eq!(figures(total, &keys), [7, 9, 7, 1, 2, 1], "{report}");

    // Other days have nothing; ranges are checked.
    let (status, body) = gw.admin(Method::GET, "/reconciliation?from=2026-01-01&to=2026-01-31", None).await;
    assert_eq!((status, body["rows"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{body}");
    assert_eq!(body["total"]["messages"], 0);
    for (query, field) in [
        ("from=2026-01-01", "to"),
        ("from=2026-02-01&to=2026-01-01", "to"),
        ("from=2026-01-01&to=2026-05-01", "to"),
        ("from=2026-1-1&to=2026-01-02", "from"),
    ] {
        let (status, body) = gw.admin(Method::GET, &format!("/reconciliation?{query}"), None).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{query}: {body}"
        );
    }
    let (status, body) = gw.admin(Method::GET, "/reconciliation?from=2099-01-01&to=2099-01-02", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "period_not_started"));
    let (status, _) =
        gw.request(Some(&alice.key), Method::GET, "/admin/v1/reconciliation?from=2026-01-01&to=2026-01-01", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "operators only");
}
