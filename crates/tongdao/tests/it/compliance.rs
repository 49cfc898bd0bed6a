//! Clause 2 at work: the contact directory and the scope policy, opt-outs by reply and by
//! hand, the operator's blocklist, and frequency limits per recipient.

use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Sender, TestGateway, error_code};

const STAFF: &str = "+8613800138001";
const STRANGER: &str = "+8613900139009";

async fn import(gw: &TestGateway, sender: &Sender, csv: &str) -> (StatusCode, Value) {
    let response = gw
        .http
        .post(format!("{}/v1/contacts/import", gw.base))
        .bearer_auth(&sender.key)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_enforced_scope_refuses_numbers_outside_the_contact_directory() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard_with("acme", "10", |t| t["scope_policy"] = json!("enforce")).await;
    let (status, body) = gw.send_text(&acme, STAFF, "Your code is 123456").await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "recipient_out_of_scope"), "{body}");
    assert_eq!(body["error"]["field"], "to[0]");

    let csv = "number,name,kind,tags\n13800138001,Li Lei,staff,ops;beijing\n+8613800138002,\"Han, Meimei\",customer,\n\
               12345,Bad Number,staff,\n13800138003,Wrong Kind,partner,\n";
    let (status, report) = import(&gw, &acme, csv).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!((report["imported"].as_u64(), report["rejected"].as_u64()), (Some(2), Some(2)), "{report}");
    let lines: Vec<u64> =
        report["errors"].as_array().expect("errors").iter().filter_map(|e| e["line"].as_u64()).collect();
    assert_eq!(lines, [4, 5]);
    assert_eq!(report["errors"][0]["code"], "invalid_number");

    let (status, body) = gw.send_text(&acme, STAFF, "Your code is 123456").await;
    assert_eq!(status, StatusCode::ACCEPTED, "a contact is in scope: {body}");
    let (status, contact) = gw.as_customer(&acme.key, Method::GET, "/contacts/+8613800138001", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((contact["name"].as_str(), contact["kind"].as_str()), (Some("Li Lei"), Some("staff")));
    assert_eq!(contact["tags"], json!(["ops", "beijing"]));

    // Export gives back what was imported, in the same format.
    let export = gw
        .http
        .get(format!("{}/v1/contacts/export", gw.base))
        .bearer_auth(&acme.key)
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert_eq!(
        export,
        "number,name,kind,tags\n+8613800138001,Li Lei,staff,ops;beijing\n+8613800138002,\"Han, Meimei\",customer,\n"
    );

    // A removed contact is out of scope again; another customer's contacts are not this one's.
    let (status, _) = gw.as_customer(&acme.key, Method::DELETE, "/contacts/8613800138001", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = gw.send_text(&acme, STAFF, "Your code is 123456").await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "recipient_out_of_scope"));
    let other = gw.onboard_with("other", "10", |t| t["scope_policy"] = json!("enforce")).await;
    let (status, body) = gw.send_text(&other, "+8613800138002", "hello").await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "recipient_out_of_scope"));
}

#[tokio::test]
async fn an_audited_scope_accepts_and_reports_out_of_scope_sends() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10").await;
    let (status, _) =
        gw.as_customer(&acme.key, Method::POST, "/contacts", Some(json!({"number": STAFF, "kind": "staff"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = gw.send(&acme, json!({"to": [STAFF, STRANGER, STRANGER], "text": "Meeting at 3 pm"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, report) = gw.as_customer(&acme.key, Method::GET, "/reports/out-of-scope", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["count"], 2, "{report}");
    let flagged: Vec<&str> =
        report["messages"].as_array().expect("list").iter().filter_map(|m| m["to"].as_str()).collect();
    assert_eq!(flagged, [STRANGER, STRANGER]);
    let (status, operator_view) = gw.admin(Method::GET, &format!("/customers/{}/out-of-scope", acme.id), None).await;
    assert_eq!((status, operator_view["count"].as_u64()), (StatusCode::OK, Some(2)));
}

#[tokio::test]
async fn opted_out_and_blocked_numbers_are_refused_until_removed() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10").await;
    let (status, body) = gw
        .as_customer(&acme.key, Method::POST, "/suppressions", Some(json!({"number": STAFF, "reason": "asked"})))
        .await;
    assert_eq!((status, body["source"].as_str()), (StatusCode::CREATED, Some("customer")), "{body}");
    let (status, body) = gw.send_text(&acme, STAFF, "Your parcel has arrived").await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "recipient_opted_out"), "{body}");
    // A partial request sends to the others and names the refused one.
    let (status, body) =
        gw.send(&acme, json!({"to": [STAFF, STRANGER], "text": "Your parcel has arrived", "partial": true})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["rejected"][0]["error"]["code"], "recipient_opted_out");
    let (status, _) = gw.as_customer(&acme.key, Method::DELETE, "/suppressions/+8613800138001", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = gw.send_text(&acme, STAFF, "Your parcel has arrived").await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let (status, body) =
        gw.admin(Method::POST, "/blocklist", Some(json!({"number": STRANGER, "reason": "complaint"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let bob = gw.onboard("bob", "10").await;
    for sender in [&acme, &bob] {
        let (status, body) = gw.send_text(sender, STRANGER, "hello").await;
        assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "recipient_blocked"), "{body}");
    }
    let (status, list) = gw.admin(Method::GET, "/blocklist", None).await;
    assert_eq!((status, list["blocklist"][0]["number"].as_str()), (StatusCode::OK, Some(STRANGER)));
    let (status, _) = gw.admin(Method::DELETE, "/blocklist/+8613900139009", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = gw.send_text(&bob, STRANGER, "hello").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Nothing refused was charged: two messages of ¥0.0450 for acme.
    assert_eq!(gw.balance(&acme).await, "9.9100");
}

#[tokio::test]
async fn a_recipient_over_the_frequency_limit_gets_rate_limited_with_retry_after() {
    let gw = TestGateway::spawn().await;
    let acme = gw
        .onboard_with("acme", "10", |t| {
            t["compliance"] = json!({"frequency": {"per_minute": 1, "per_hour": 5, "per_day": 10}});
        })
        .await;
    let (status, _) = gw.send_text(&acme, STAFF, "Your code is 111111").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let response = gw
        .http
        .post(format!("{}/v1/messages", gw.base))
        .bearer_auth(&acme.key)
        .json(&json!({"to": STAFF, "text": "Your code is 222222"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header");
    assert!((1..=60).contains(&retry_after), "within the minute: {retry_after}");
    let body: Value = response.json().await.expect("json");
    assert_eq!((error_code(&body), body["error"]["field"].as_str()), ("rate_limited", Some("to[0]")));
    assert_eq!(body["error"]["retry_after"].as_u64(), Some(retry_after));

    // Partial: the limited recipient is reported, the other is sent.
    let (status, body) = gw.send(&acme, json!({"to": [STAFF, STRANGER], "text": "hello", "partial": true})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        (body["messages"][0]["to"].as_str(), body["rejected"][0]["error"]["code"].as_str()),
        (Some(STRANGER), Some("rate_limited"))
    );

    // The window is per recipient and per customer: another customer may still send to it.
    let bob = gw.onboard_with("bob", "10", |t| t["compliance"] = json!({"frequency": {"per_minute": 1}})).await;
    let (status, _) = gw.send_text(&bob, STAFF, "hello").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Only accepted messages were charged: acme 2, bob 1.
    assert_eq!(gw.balance(&acme).await, "9.9100");
}

#[tokio::test]
async fn the_default_agreement_allows_one_message_a_minute_to_a_recipient() {
    let gw = TestGateway::spawn().await;
    let acme = gw
        .onboard_with("acme", "10", |t| {
            t.as_object_mut().map(|o| o.remove("compliance"));
        })
        .await;
    let (status, agreement) = gw.as_customer(&acme.key, Method::GET, "/agreement", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        agreement["compliance"]["frequency"],
        json!({"per_minute": 1, "per_hour": 5, "per_day": 10}),
        "{agreement}"
    );
    assert_eq!(gw.send_text(&acme, STAFF, "Your code is 1").await.0, StatusCode::ACCEPTED);
    let (status, body) = gw.send_text(&acme, STAFF, "Your code is 2").await;
    assert_eq!((status, error_code(&body)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
}

#[tokio::test]
async fn a_reply_of_td_opts_the_number_out_end_to_end_through_the_simulator() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let acme = gw.onboard("acme", "10").await;
    let (status, body) =
        gw.admin(Method::POST, &format!("/customers/{}/numbers", acme.id), Some(json!({"number": "10690001"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The simulator needs a bound receiver: the link is up once a message went through.
    let id = gw.send_one(&acme, STAFF, "Your parcel has arrived").await;
    gw.wait_final(&acme, &id).await;

    let sim = gw.simulator();
    sim.inject_mo("8613800138001", "10690001", "OK thanks").await.expect("sent");
    sim.inject_mo("8613800138001", "10690001", " td ").await.expect("sent");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let listed = loop {
        let (status, list) = gw.as_customer(&acme.key, Method::GET, "/suppressions", None).await;
        assert_eq!(status, StatusCode::OK);
        if list["suppressions"].as_array().is_some_and(|l| !l.is_empty()) || std::time::Instant::now() > deadline {
            break list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(listed["suppressions"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(
        (listed["suppressions"][0]["number"].as_str(), listed["suppressions"][0]["source"].as_str()),
        (Some(STAFF), Some("reply"))
    );
    let (status, body) = gw.send_text(&acme, STAFF, "Your parcel has arrived").await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "recipient_opted_out"), "{body}");
    // The operator sees the same list, and the reply itself is still delivered to the customer.
    let (status, list) = gw.admin(Method::GET, &format!("/customers/{}/suppressions", acme.id), None).await;
    assert_eq!((status, list["suppressions"][0]["number"].as_str()), (StatusCode::OK, Some(STAFF)));
    let (_, inbound) = gw.as_customer(&acme.key, Method::GET, "/inbound", None).await;
    assert_eq!(inbound["inbound"].as_array().map(Vec::len), Some(2), "{inbound}");
}

#[tokio::test]
async fn an_api_key_with_a_request_rate_is_throttled_past_it() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10").await;
    let (status, key) =
        gw.admin(Method::POST, &format!("/customers/{}/keys", acme.id), Some(json!({"label": "slow", "rps": 2}))).await;
    assert_eq!((status, key["rps"].as_u64()), (StatusCode::CREATED, Some(2)), "{key}");
    let slow = key["secret"].as_str().expect("secret").to_owned();
    for _ in 0..2 {
        assert_eq!(gw.as_customer(&slow, Method::GET, "/balance", None).await.0, StatusCode::OK);
    }
    let response = gw.http.get(format!("{}/v1/balance", gw.base)).bearer_auth(&slow).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "throttled");
    // The customer's other key is not limited; a second later the slow one may go on.
    assert_eq!(gw.as_customer(&acme.key, Method::GET, "/balance", None).await.0, StatusCode::OK);
    gw.clock.advance(1000);
    assert_eq!(gw.as_customer(&slow, Method::GET, "/balance", None).await.0, StatusCode::OK);
    let (status, body) =
        gw.admin(Method::POST, &format!("/customers/{}/keys", acme.id), Some(json!({"rps": 2_000_000}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("rps")));
}

#[tokio::test]
async fn the_regulatory_export_names_content_times_addresses_and_source_with_a_checksum() {
    use tongdao_pipeline::records::RecordFormat;
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10").await;
    let (status, body) = gw
        .send(&acme, json!({"to": [STAFF, STRANGER], "text": "Meeting, \"room 3\", at 15:00", "sender": "10690001"}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let other = gw.onboard("other", "10").await;
    assert_eq!(gw.send_text(&other, STAFF, "not acme's").await.0, StatusCode::ACCEPTED);
    let now = gw.clock_now();

    let export = gw
        .platform()
        .export_records(&acme.id, now - 60_000, now + 60_000, RecordFormat::Json, "test")
        .await
        .expect("exported");
    assert_eq!(export.records, 2);
    let records: Value = serde_json::from_slice(&export.bytes).expect("JSON");
    let first = &records[0];
    assert_eq!(first["text"], "Meeting, \"room 3\", at 15:00");
    assert_eq!((first["sender"].as_str(), first["recipient"].as_str()), (Some("10690001"), Some(STAFF)));
    assert_eq!(first["source"], "http:127.0.0.1", "{first}");
    assert!(first["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    use sha2::Digest;
    assert_eq!(export.sha256, hex::encode(sha2::Sha256::digest(&export.bytes)));

    let csv =
        gw.platform().export_records("acme", now - 60_000, now + 60_000, RecordFormat::Csv, "test").await.expect("csv");
    let text = String::from_utf8(csv.bytes).expect("utf-8");
    assert!(text.starts_with("id,created_at,sender,recipient,text,status,source\n"), "{text}");
    assert!(text.contains("\"Meeting, \"\"room 3\"\", at 15:00\""), "quoted as CSV: {text}");
    assert_eq!(text.lines().count(), 3);
    // Outside the range: nothing. Every export is in the audit trail.
    let none = gw.platform().export_records("acme", now + 60_000, now + 120_000, RecordFormat::Csv, "test").await;
    assert_eq!(none.map(|e| e.records).ok(), Some(0));
    let (_, audit) = gw.admin(Method::GET, "/audit", None).await;
    let exports =
        audit["entries"].as_array().expect("entries").iter().filter(|e| e["action"] == "records.export").count();
    assert_eq!(exports, 3);
}

#[tokio::test]
async fn retention_erases_content_past_the_agreed_months_and_never_earlier() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let short = gw.onboard("short", "10").await; // log_retention_months = 6
    let long = gw.onboard_with("long", "10", |t| t["log_retention_months"] = json!(12)).await;
    let mut ids = Vec::new();
    for sender in [&short, &long] {
        let id = gw.send_one(sender, STAFF, "Your code is 551234").await;
        gw.wait_final(sender, &id).await;
        ids.push(id);
    }
    let day = 86_400_000;
    gw.clock.advance(150 * day);
    assert_eq!(gw.platform().retention_sweep().await.map(|r| r.messages), Ok(0), "five months: nothing goes");
    gw.clock.advance(40 * day);
    let report = gw.platform().retention_sweep().await.expect("swept");
    assert_eq!(report.messages, 1, "only the 6-month customer's message: {report:?}");
    let (_, erased) = gw.message(&short, &ids[0]).await;
    assert_eq!((erased["text"].as_str(), erased["to"].as_str()), (Some(""), Some("+86138****8001")), "{erased}");
    assert_eq!(erased["status"], "delivered", "the billing record stays");
    let (_, kept) = gw.message(&long, &ids[1]).await;
    assert_eq!(kept["text"], "Your code is 551234");
    assert_eq!(gw.platform().retention_sweep().await.map(|r| r.messages), Ok(0), "done once");
    let (_, audit) = gw.admin(Method::GET, "/audit", None).await;
    let purge = &audit["entries"][0];
    assert_eq!(
        (purge["actor"].as_str(), purge["action"].as_str()),
        (Some("retention"), Some("records.purge")),
        "{purge}"
    );
    assert_eq!(purge["after"]["messages"], 1);
    assert!(gw.platform().store().verify_ledger().await.expect("read").is_ok(), "the ledger chain is untouched");
}
