//! The agreement's life after signing (issue 6): expiry warnings, maintenance with the
//! agreed notice, breach → cure period → termination, low-balance warnings, and erasing a
//! terminated customer's data once its retention has passed — walked with the test clock.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tongdao_domain::clock::rfc3339;

use crate::harness::{Sender, TestGateway, error_code, noon};

const DAY: i64 = 86_400_000;
const TO: &str = "+8613800138000";

async fn notices(gw: &TestGateway, who: &Sender) -> Vec<Value> {
    let (status, body) = gw.admin(Method::GET, &format!("/customers/{}/notices", who.id), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["notices"].as_array().cloned().unwrap_or_default()
}

fn kinds(list: &[Value]) -> Vec<&str> {
    list.iter().filter_map(|n| n["kind"].as_str()).collect()
}

#[tokio::test]
async fn expiry_is_warned_30_and_7_days_ahead_once_each_and_a_renewal_stops_the_warnings() {
    let gw = TestGateway::spawn().await;
    // Effective 2026-06-01 for one year: the term ends 2027-06-01 00:00 CST.
    let acme = gw.onboard("acme", "10").await;
    let other = gw.onboard("other", "10").await;
    let (status, _) = gw
        .as_customer(&acme.key, Method::PUT, "/account/webhook", Some(json!({"url": "https://hooks.example.com/t"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    gw.clock.set(noon("2027-05-01")); // 30.5 days before the end
    assert_eq!(gw.platform().expiry_warnings().await.expect("warnings"), 0);
    assert!(notices(&gw, &acme).await.is_empty());

    gw.clock.set(noon("2027-05-02")); // 29.5 days
    assert_eq!(gw.platform().expiry_warnings().await.expect("warnings"), 2, "both customers are warned");
    assert_eq!(gw.platform().expiry_warnings().await.expect("warnings"), 0, "once");
    let list = notices(&gw, &acme).await;
    assert_eq!(kinds(&list), ["agreement_expiry"]);
    assert!(list[0]["subject"].as_str().is_some_and(|s| s.contains("2027-06-01")), "{}", list[0]);
    // The notice went out as a webhook event too, in the same transaction.
    let events =
        gw.platform().store().endpoint_events(&acme.id, "https://hooks.example.com/t", 0, 100).await.expect("outbox");
    assert!(events.iter().any(|e| e.body.contains("\"notice.created\"") && e.body.contains("agreement_expiry")));

    // The customer reads it: unread lists shrink, the reading is recorded and kept.
    let id = list[0]["id"].as_str().expect("id");
    let (_, unread) = gw.as_customer(&acme.key, Method::GET, "/notices?unread=true", None).await;
    assert_eq!(unread["notices"].as_array().map(Vec::len), Some(1), "{unread}");
    let (status, read) = gw.as_customer(&acme.key, Method::GET, &format!("/notices/{id}"), None).await;
    assert_eq!((status, read["read_at"].as_str()), (StatusCode::OK, Some(rfc3339(noon("2027-05-02")).as_str())));
    gw.clock.advance(1000);
    let (_, again) = gw.as_customer(&acme.key, Method::GET, &format!("/notices/{id}"), None).await;
    assert_eq!(again["read_at"], read["read_at"], "the first reading is kept");
    let (_, unread) = gw.as_customer(&acme.key, Method::GET, "/notices?unread=true", None).await;
    assert_eq!(unread["notices"].as_array().map(Vec::len), Some(0), "{unread}");
    // Nobody else reads it.
    let (status, _) = gw.as_customer(&other.key, Method::GET, &format!("/notices/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The other customer renews: a second version running two more years, signed and accepted.
    let mut terms = TestGateway::terms("2027-06-01");
    terms["term_years"] = json!(2);
    terms["terms_version"] = json!("v2");
    let renewal = gw.create_agreement(&other.id, terms).await;
    gw.sign(&renewal).await;
    assert_eq!(gw.accept_terms(&other.key, "v2").await.0, StatusCode::OK);

    gw.clock.set(noon("2027-05-26")); // 5.5 days
    assert_eq!(gw.platform().expiry_warnings().await.expect("warnings"), 1, "only the customer not renewed");
    assert_eq!(kinds(&notices(&gw, &acme).await), ["agreement_expiry", "agreement_expiry"]);
    assert_eq!(kinds(&notices(&gw, &other).await), ["agreement_expiry"]);

    // Past the end: refused as expired, and no more warnings.
    gw.clock.set(noon("2027-06-01"));
    let (status, body) = gw.send_text(&acme, TO, "hello").await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "agreement_expired"), "{body}");
    assert_eq!(gw.send_text(&other, TO, "hello").await.0, StatusCode::ACCEPTED, "the renewal is in force");
    assert_eq!(gw.platform().expiry_warnings().await.expect("warnings"), 0);
}

fn window(starts_at: i64, hours: i64) -> Value {
    json!({
        "starts_at": rfc3339(starts_at),
        "ends_at": rfc3339(starts_at + hours * 3_600_000),
        "carriers": ["simulator"],
        "services": ["smpp"],
        "description": "Replacing the SMSC link hardware",
    })
}

#[tokio::test]
async fn maintenance_needs_the_agreed_notice_unless_an_emergency_and_every_customer_is_noticed() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let acme = gw.onboard("acme", "10").await; // 3 days' notice
    let strict = gw.onboard_with("strict", "10", |t| t["maintenance_notice_days"] = json!(10)).await;
    let now = gw.clock_now();

    // Five days ahead is enough for acme but not for strict, who is affected too.
    let (status, body) = gw.admin(Method::POST, "/maintenance", Some(window(now + 5 * DAY, 2))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "notice_too_short"), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("10 days")), "{body}");
    // Limited to acme, it is.
    let mut only_acme = window(now + 5 * DAY, 2);
    only_acme["customers"] = json!(["acme"]);
    let (status, planned) = gw.admin(Method::POST, "/maintenance", Some(only_acme)).await;
    assert_eq!((status, planned["customers"].as_array().map(Vec::len)), (StatusCode::CREATED, Some(1)), "{planned}");
    assert_eq!(kinds(&notices(&gw, &acme).await), ["maintenance"]);
    assert!(notices(&gw, &strict).await.is_empty());
    // Ten days ahead suits everyone.
    let (status, ten) = gw.admin(Method::POST, "/maintenance", Some(window(now + 10 * DAY, 2))).await;
    assert_eq!((status, ten["customers"].as_array().map(Vec::len)), (StatusCode::CREATED, Some(2)), "{ten}");
    assert_eq!(ten["emergency"], json!(false));

    // An emergency goes ahead at once, with its reason, and says so to the customers.
    let mut urgent = window(now, 1);
    urgent["emergency"] = json!(true);
    let (status, body) = gw.admin(Method::POST, "/maintenance", Some(urgent.clone())).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("emergency_reason")));
    urgent["emergency_reason"] = json!("the link's power supply failed");
    let (status, emergency) = gw.admin(Method::POST, "/maintenance", Some(urgent)).await;
    assert_eq!((status, emergency["emergency"].as_bool()), (StatusCode::CREATED, Some(true)), "{emergency}");
    let strict_notices = notices(&gw, &strict).await;
    assert_eq!(kinds(&strict_notices), ["maintenance", "maintenance"]);
    assert!(strict_notices[0]["body"].as_str().is_some_and(|b| b.contains("power supply")), "{strict_notices:?}");

    // Readings are recorded per customer and shown to the operator.
    let window_id = ten["id"].as_str().expect("id");
    let notice_id = notices(&gw, &strict).await.iter().find_map(|n| {
        n["body"].as_str().filter(|b| !b.contains("emergency"))?;
        n["id"].as_str().map(str::to_owned)
    });
    let notice_id = notice_id.expect("strict's notice of the planned window");
    assert_eq!(
        gw.as_customer(&strict.key, Method::GET, &format!("/notices/{notice_id}"), None).await.0,
        StatusCode::OK
    );
    let (_, shown) = gw.admin(Method::GET, &format!("/maintenance/{window_id}"), None).await;
    let read: Vec<(&str, bool)> = shown["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .map(|n| (n["customer_id"].as_str().unwrap_or(""), n["read_at"].is_string()))
        .collect();
    assert!(read.contains(&(strict.id.as_str(), true)) && read.contains(&(acme.id.as_str(), false)), "{shown}");

    // Unknown carriers and windows without an end are refused; the actions are audited.
    let mut bad = window(now + 10 * DAY, 2);
    bad["carriers"] = json!(["nowhere"]);
    let (status, body) = gw.admin(Method::POST, "/maintenance", Some(bad)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("carriers")));
    let (_, audit) = gw.admin(Method::GET, "/audit", None).await;
    let actions: Vec<&str> =
        audit["entries"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "maintenance.schedule").count(), 3, "{actions:?}");
}

#[tokio::test]
async fn during_a_window_the_carrier_drains_and_messages_wait_in_the_queue_until_it_ends() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let acme = gw.onboard("acme", "10").await;
    let first = gw.send_one(&acme, TO, "before the window").await;
    assert_eq!(gw.wait_final(&acme, &first).await["status"], "delivered");

    let mut urgent = window(gw.clock_now(), 1);
    urgent["emergency"] = json!(true);
    urgent["emergency_reason"] = json!("a failing link card");
    let (status, body) = gw.admin(Method::POST, "/maintenance", Some(urgent)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, carriers) = gw.admin(Method::GET, "/carriers", None).await;
    assert_eq!(carriers["carriers"][0]["draining"], json!(true), "{carriers}");

    let waiting = gw.send_one(&acme, TO, "during the window").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, message) = gw.message(&acme, &waiting).await;
    assert_eq!(message["status"], "queued", "nothing goes to a draining carrier: {message}");

    // The window ends: the link takes the message.
    gw.clock.advance(3_600_000);
    assert!(gw.platform().maintenance_tick().await.expect("tick").is_empty());
    assert_eq!(gw.wait_final(&acme, &waiting).await["status"], "delivered");
    let (_, carriers) = gw.admin(Method::GET, "/carriers", None).await;
    assert_eq!(carriers["carriers"][0]["draining"], json!(false));
}

#[tokio::test]
async fn an_uncured_breach_past_its_deadline_terminates_the_service_with_refunds_and_settlement() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10").await; // cure_days 15
    // A scheduled message waits (and is charged) when the service ends.
    let send_at = rfc3339(gw.clock_now() + 20 * DAY);
    let (status, body) = gw.send(&acme, json!({"to": TO, "text": "later", "send_at": send_at})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let scheduled = body["messages"][0]["id"].as_str().expect("id").to_owned();

    // A breach that is cured closes; it cannot be cured twice or terminated afterwards.
    let facts = json!({"clause": "2.3", "facts": "advertising sent on 2026-05-30 (messages msg_1, msg_2)"});
    let (status, cured) =
        gw.admin(Method::POST, &format!("/customers/{}/breaches", acme.id), Some(facts.clone())).await;
    assert_eq!((status, cured["status"].as_str()), (StatusCode::CREATED, Some("open")), "{cured}");
    assert_eq!(cured["cure_deadline"], json!(rfc3339(gw.clock_now() + 15 * DAY)));
    let cured_id = cured["id"].as_str().expect("id");
    let (status, body) =
        gw.admin(Method::POST, &format!("/breaches/{cured_id}/cure"), Some(json!({"note": "sender removed"}))).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("cured")), "{body}");
    let (status, body) = gw.admin(Method::POST, &format!("/breaches/{cured_id}/terminate"), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "conflict"), "{body}");

    // One not cured: termination waits for the deadline.
    let (_, breach) = gw.admin(Method::POST, &format!("/customers/{}/breaches", acme.id), Some(facts)).await;
    let breach_id = breach["id"].as_str().expect("id");
    gw.clock.advance(15 * DAY - 1);
    let (status, body) = gw.admin(Method::POST, &format!("/breaches/{breach_id}/terminate"), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "cure_period_running"), "{body}");
    assert_eq!(gw.send_text(&acme, TO, "still in service").await.0, StatusCode::ACCEPTED);

    gw.clock.advance(1);
    let (status, ended) = gw.admin(Method::POST, &format!("/breaches/{breach_id}/terminate"), None).await;
    assert_eq!((status, ended["status"].as_str()), (StatusCode::OK, Some("terminated")), "{ended}");
    let t = &ended["termination"];
    assert_eq!((t["agreements_terminated"].as_u64(), t["keys_revoked"].as_u64()), (Some(1), Some(1)), "{ended}");
    // The scheduled message and the queued one (never handed to a carrier) are cancelled.
    assert_eq!(t["messages_cancelled"].as_u64(), Some(2), "{ended}");
    assert_eq!(t["settled"], json!("10.0000"), "the whole top-up comes back: both messages were refunded");

    // The key stops working at once; the ledger settles to zero and still adds up.
    let (status, _) = gw.as_customer(&acme.key, Method::GET, "/balance", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let check = gw.ledger_check(&acme.id).await;
    assert_eq!(check["balance"], json!("0.0000"), "{check}");
    let entries = gw.ledger_entries(&acme.id).await;
    let last = entries.last().expect("entries");
    assert_eq!((last["kind"].as_str(), last["amount"].as_str()), (Some("refund"), Some("-10.0000")), "{last}");
    let refunds = entries.iter().filter(|e| e["kind"] == "refund" && e["message_id"].is_string()).count();
    assert_eq!(refunds, 2, "each cancelled message refunded once");
    let verified = gw.platform().store().verify_ledger().await.expect("verify");
    assert!(verified.is_ok(), "the chain stays whole: {verified:?}");
    let (_, agreement) = gw.admin(Method::GET, &format!("/agreements/{}", acme.agreement_id), None).await;
    assert_eq!(agreement["state"], "terminated", "{agreement}");
    let (_, message) = gw.admin(Method::GET, &format!("/customers/{}/notices", acme.id), None).await;
    assert_eq!(
        kinds(message["notices"].as_array().expect("notices")),
        ["termination", "breach", "breach_cured", "breach"]
    );
    let (_, audit) = gw.admin(Method::GET, "/audit", None).await;
    let actions: Vec<&str> =
        audit["entries"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["breach.notice", "breach.cure", "agreement.terminate"] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }
    let (message, _) = gw.platform().store().find_message(&acme.id, &scheduled).await.expect("kept");
    assert_eq!(message.status, tongdao_domain::MessageStatus::Cancelled);
}

#[tokio::test]
async fn a_terminated_customer_s_data_goes_once_its_retention_has_passed_and_the_ledger_stays() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10").await; // log_retention_months 6
    let keep = gw.onboard("keep", "10").await;
    let id = gw.send_one(&acme, TO, "personal content").await;
    gw.send_one(&keep, TO, "someone else's").await;
    let ticket = json!({"kind": "complaint", "subject": "Late receipts", "body": "My number is 13800138000"});
    let (status, ticket) = gw.as_customer(&acme.key, Method::POST, "/tickets", Some(ticket)).await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let ticket_path = format!("/tickets/{}", ticket["id"].as_str().expect("id"));
    let (_, breach) = gw
        .admin(
            Method::POST,
            &format!("/customers/{}/breaches", acme.id),
            Some(json!({"clause": "4", "facts": "unpaid"})),
        )
        .await;
    gw.clock.advance(16 * DAY);
    let (status, body) =
        gw.admin(Method::POST, &format!("/breaches/{}/terminate", breach["id"].as_str().expect("id")), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries_before = gw.ledger_entries(&acme.id).await;

    // Five months on: kept.
    gw.clock.advance(150 * DAY);
    assert_eq!(gw.platform().erase_terminated().await.expect("erase"), 0);
    assert!(gw.platform().store().find_message(&acme.id, &id).await.is_ok());
    assert_eq!(gw.admin(Method::GET, &ticket_path, None).await.0, StatusCode::OK);
    // Past six months after the termination: erased; the ledger and the other customer stay.
    gw.clock.advance(40 * DAY);
    assert_eq!(gw.platform().erase_terminated().await.expect("erase"), 1);
    assert_eq!(gw.platform().erase_terminated().await.expect("erase"), 0, "once");
    assert!(gw.platform().store().find_message(&acme.id, &id).await.is_err(), "the message is gone");
    assert_eq!(gw.admin(Method::GET, &ticket_path, None).await.0, StatusCode::NOT_FOUND, "and the ticket");
    let (_, customer) = gw.admin(Method::GET, &format!("/customers/{}", acme.id), None).await;
    assert!(customer["erased_at"].is_string(), "{customer}");
    assert_eq!(gw.ledger_entries(&acme.id).await, entries_before, "the billing record stays");
    assert!(gw.platform().store().verify_ledger().await.expect("verify").is_ok());
    let (_, list) = gw.as_customer(&keep.key, Method::GET, "/messages", None).await;
    assert_eq!(list["messages"].as_array().map(Vec::len), Some(1), "{list}");
    let (_, audit) = gw.admin(Method::GET, "/audit", None).await;
    assert!(audit["entries"].as_array().expect("entries").iter().any(|e| e["action"] == "customer.erase"));
}

#[tokio::test]
async fn a_balance_under_the_threshold_is_warned_once_per_fall() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "0.1000").await;
    let (status, customer) = gw
        .admin(Method::PUT, &format!("/customers/{}/low-balance", acme.id), Some(json!({"threshold": "0.0600"})))
        .await;
    assert_eq!((status, customer["low_balance_threshold"].as_str()), (StatusCode::OK, Some("0.0600")), "{customer}");
    assert_eq!(gw.platform().low_balance_warnings().await.expect("warn"), 0, "0.1000 is over it");

    gw.send_one(&acme, TO, "one").await; // 0.0550 left
    assert_eq!(gw.platform().low_balance_warnings().await.expect("warn"), 1);
    assert_eq!(gw.platform().low_balance_warnings().await.expect("warn"), 0, "once per fall");
    let list = notices(&gw, &acme).await;
    assert_eq!(kinds(&list), ["low_balance"]);
    assert!(list[0]["subject"].as_str().is_some_and(|s| s.contains("0.0550")), "{}", list[0]);

    // Topped up over the threshold and fallen again: a second warning.
    gw.top_up(&acme.id, "0.0500").await; // 0.1050
    assert_eq!(gw.platform().low_balance_warnings().await.expect("warn"), 0);
    gw.send_one(&acme, TO, "two").await; // 0.0600: not under
    assert_eq!(gw.platform().low_balance_warnings().await.expect("warn"), 0);
    gw.send_one(&acme, TO, "three").await; // 0.0150
    gw.clock.advance(1000);
    assert_eq!(gw.platform().low_balance_warnings().await.expect("warn"), 1);
    assert_eq!(kinds(&notices(&gw, &acme).await), ["low_balance", "low_balance"]);

    // null turns it off; a negative threshold is refused.
    let (status, body) =
        gw.admin(Method::PUT, &format!("/customers/{}/low-balance", acme.id), Some(json!({"threshold": "-1"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, customer) =
        gw.admin(Method::PUT, &format!("/customers/{}/low-balance", acme.id), Some(json!({"threshold": null}))).await;
    assert_eq!((status, customer["low_balance_threshold"].clone()), (StatusCode::OK, Value::Null));
}

/// A minimal SMTP server for the test: takes every message and hands its DATA on.
async fn smtp_sink() -> (u16, tokio::sync::mpsc::Receiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            let _ = tx.send(std::mem::take(body)).await;
                            data = None;
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn notices_are_emailed_to_the_customer_s_notice_address_when_smtp_is_configured() {
    let (port, mut mails) = smtp_sink().await;
    let gw = TestGateway::spawn_with_simulator(|c| {
        c.smtp.host = Some("127.0.0.1".into());
        c.smtp.port = port;
        c.smtp.security = "none".into();
        c.smtp.poll_ms = 20;
        c.smtp.from = "SMS Service <noreply@provider.example>".into();
    })
    .await;
    let acme = gw.onboard("acme", "10").await;
    let quiet = gw.onboard("quiet", "10").await;
    let path = format!("/customers/{}/notice-email", acme.id);
    let (status, body) = gw.admin(Method::PUT, &path, Some(json!({"email": "not an address"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("email")), "{body}");
    let (status, customer) = gw.admin(Method::PUT, &path, Some(json!({"email": "ops@acme.example"}))).await;
    assert_eq!((status, customer["notice_email"].as_str()), (StatusCode::OK, Some("ops@acme.example")));

    let mut planned = window(gw.clock_now() + 10 * DAY, 2);
    planned["description"] = json!("Moving the SMSC to the new data centre");
    assert_eq!(gw.admin(Method::POST, "/maintenance", Some(planned)).await.0, StatusCode::CREATED);
    let mail = tokio::time::timeout(Duration::from_secs(10), mails.recv()).await.expect("mailed").expect("a mail");
    assert!(mail.contains("To: ops@acme.example"), "{mail}");
    assert!(
        mail.contains("From: \"SMS Service\" <noreply@provider.example>") || mail.contains("From: SMS Service"),
        "{mail}"
    );
    assert!(mail.contains("Subject: Maintenance on"), "{mail}");
    assert!(mail.contains("new data centre"), "{mail}");
    // Once: the notice is marked emailed, and the customer without an address gets none.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(mails.try_recv().is_err(), "one notice, one mail");
    assert_eq!(notices(&gw, &quiet).await.len(), 1, "the other customer has the notice, not a mail");
    let due = gw.platform().store().notices_to_email(i64::MAX, 10).await.expect("due");
    assert!(due.is_empty(), "{due:?}");
}

#[tokio::test]
async fn a_suspended_customer_still_reads_its_notices_and_statements_and_nothing_else() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10").await;
    let (status, _) = gw
        .admin(
            Method::POST,
            &format!("/customers/{}/breaches", acme.id),
            Some(json!({"clause": "2.3", "facts": "ads"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = gw
        .admin(Method::POST, &format!("/agreements/{}/suspend", acme.agreement_id), Some(json!({"reason": "ads"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = gw.as_customer(&acme.key, Method::GET, "/balance", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "account_suspended"));
    let (status, list) = gw.as_customer(&acme.key, Method::GET, "/notices", None).await;
    assert_eq!((status, list["notices"][0]["kind"].as_str()), (StatusCode::OK, Some("breach")), "{list}");
    let (status, statement) = gw.as_customer(&acme.key, Method::GET, "/statements/2026-06", None).await;
    assert_eq!((status, statement["closing_balance"].as_str()), (StatusCode::OK, Some("10.0000")), "{statement}");
}
