//! Clauses 3.6 and 3.8 at work: customers open tickets and reply, the operator answers,
//! resolves, closes and reopens them, complaints go overdue unanswered, a billing dispute
//! names the customer's own messages and is settled by an adjustment, and every operator
//! action is in the audit trail.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Sender, TestGateway, error_code};

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn open(gw: &TestGateway, sender: &Sender, body: Value) -> (StatusCode, Value) {
    gw.as_customer(&sender.key, Method::POST, "/tickets", Some(body)).await
}

/// Opens a ticket of `kind` and returns it.
async fn open_ok(gw: &TestGateway, sender: &Sender, kind: &str) -> Value {
    let (status, ticket) =
        open(gw, sender, json!({"kind": kind, "subject": format!("A {kind}"), "body": "Please look into it."})).await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    ticket
}

async fn customer_reply(gw: &TestGateway, sender: &Sender, id: &str, text: &str) -> (StatusCode, Value) {
    gw.as_customer(&sender.key, Method::POST, &format!("/tickets/{id}/replies"), Some(json!({"body": text}))).await
}

async fn answer(gw: &TestGateway, id: &str, text: &str) -> (StatusCode, Value) {
    gw.admin(Method::POST, &format!("/tickets/{id}/replies"), Some(json!({"body": text}))).await
}

async fn set_status(gw: &TestGateway, id: &str, status: &str) -> (StatusCode, Value) {
    gw.admin(Method::PATCH, &format!("/tickets/{id}"), Some(json!({"status": status}))).await
}

fn id_of(ticket: &Value) -> String {
    ticket["id"].as_str().expect("id").to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list["tickets"].as_array().expect("tickets").iter().map(id_of).collect()
}

async fn audit_of(gw: &TestGateway, target: &str) -> Vec<Value> {
    let (status, audit) = gw.admin(Method::GET, "/audit", None).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    audit["entries"].as_array().expect("entries").iter().filter(|e| e["target"] == target).cloned().collect()
}

#[tokio::test]
async fn a_ticket_goes_from_open_to_answered_to_resolved_and_closed_with_the_time_of_each_step() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "1").await;
    let opened = gw.clock_now();
    let ticket = open_ok(&gw, &acme, "inquiry").await;
    let id = id_of(&ticket);
    assert!(id.starts_with("tkt_"), "{ticket}");
    assert_eq!((ticket["status"].as_str(), ticket["kind"].as_str()), (Some("open"), Some("inquiry")));
    assert_eq!(ticket["opened_at"], tongdao_domain::clock::rfc3339(opened));
    assert_eq!(ticket["body"], "Please look into it.");
    for step in ["answered_at", "resolved_at", "closed_at", "answer_due_at"] {
        assert_eq!(ticket[step], Value::Null, "{step}: {ticket}");
    }
    assert_eq!((ticket["replies"].as_array().map(Vec::len), ticket["overdue"].as_bool()), (Some(0), Some(false)));

    // An answer moves it to answered; the customer's reply opens it again.
    gw.clock.advance(60_000);
    let (status, answered) = answer(&gw, &id, "We are checking.").await;
    assert_eq!((status, answered["status"].as_str()), (StatusCode::CREATED, Some("answered")), "{answered}");
    assert_eq!(answered["answered_at"], tongdao_domain::clock::rfc3339(gw.clock_now()));
    let (status, reopened) = customer_reply(&gw, &acme, &id, "Still broken.").await;
    assert_eq!((status, reopened["status"].as_str()), (StatusCode::CREATED, Some("open")), "{reopened}");
    let authors: Vec<&str> =
        reopened["replies"].as_array().expect("replies").iter().filter_map(|r| r["author"].as_str()).collect();
    assert_eq!(authors, ["operator", "customer"]);

    // Resolved: the customer may still reply for 7 days, which reopens it.
    answer(&gw, &id, "Fixed now.").await;
    gw.clock.advance(60_000);
    let (status, resolved) = set_status(&gw, &id, "resolved").await;
    assert_eq!((status, resolved["status"].as_str()), (StatusCode::OK, Some("resolved")), "{resolved}");
    assert_eq!(resolved["resolved_at"], tongdao_domain::clock::rfc3339(gw.clock_now()));
    let (status, body) = answer(&gw, &id, "One more thing").await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "conflict"), "the operator reopens first: {body}");
    gw.clock.advance(6 * DAY_MS);
    let (status, body) = customer_reply(&gw, &acme, &id, "It broke again.").await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::CREATED, Some("open")), "{body}");
    assert!(body["resolved_at"].is_string(), "the last resolution is kept: {body}");

    // Closed: nobody replies until the operator reopens it.
    let (status, closed) = set_status(&gw, &id, "closed").await;
    assert_eq!((status, closed["status"].as_str()), (StatusCode::OK, Some("closed")), "{closed}");
    assert_eq!(closed["closed_at"], tongdao_domain::clock::rfc3339(gw.clock_now()));
    let (status, body) = customer_reply(&gw, &acme, &id, "Hello?").await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "conflict"), "{body}");
    let (status, body) = answer(&gw, &id, "Hello").await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "conflict"), "{body}");
    let (status, body) = set_status(&gw, &id, "resolved").await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "conflict"), "closed → reopen first: {body}");
    let (status, body) = set_status(&gw, &id, "answered").await;
    assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"), "{body}");
    let (status, body) = set_status(&gw, &id, "open").await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("open")), "{body}");
    let (status, body) = answer(&gw, &id, "Back on it.").await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::CREATED, Some("answered")), "{body}");

    // The customer reads the whole thread.
    let (status, thread) = gw.as_customer(&acme.key, Method::GET, &format!("/tickets/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{thread}");
    assert_eq!(thread["replies"].as_array().map(Vec::len), Some(5), "{thread}");
    assert_eq!(thread["replies"][4]["body"], "Back on it.");

    // Every operator action is audited with the ticket before and after.
    let audit = audit_of(&gw, &id).await;
    let actions: Vec<&str> = audit.iter().rev().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["ticket.answer", "ticket.answer", "ticket.resolve", "ticket.close", "ticket.reopen", "ticket.answer"]
    );
    let resolve = audit.iter().find(|e| e["action"] == "ticket.resolve").expect("resolve entry");
    assert_eq!((resolve["actor"].as_str(), resolve["before"]["status"].as_str()), (Some("operator"), Some("answered")));
    assert_eq!(resolve["after"]["status"], "resolved");
}

#[tokio::test]
async fn a_customer_reply_after_the_reopening_window_is_refused() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "1").await;
    let id = id_of(&open_ok(&gw, &acme, "inquiry").await);
    set_status(&gw, &id, "resolved").await;
    gw.clock.advance(7 * DAY_MS + 1);
    let (status, body) = customer_reply(&gw, &acme, &id, "Again").await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "conflict"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("new ticket"), "{body}");
}

#[tokio::test]
async fn another_customer_can_neither_see_nor_reply_to_a_ticket() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "1").await;
    let bob = gw.onboard("bob", "1").await;
    let id = id_of(&open_ok(&gw, &acme, "complaint").await);
    let (status, body) = gw.as_customer(&bob.key, Method::GET, &format!("/tickets/{id}"), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    let (status, body) = customer_reply(&gw, &bob, &id, "Let me in").await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    let (_, list) = gw.as_customer(&bob.key, Method::GET, "/tickets", None).await;
    assert_eq!(ids(&list), Vec::<String>::new());
    let (_, list) = gw.as_customer(&acme.key, Method::GET, "/tickets", None).await;
    assert_eq!(ids(&list), [id.as_str()]);
    let (status, body) = gw.as_customer(&acme.key, Method::GET, "/tickets/tkt_nonsense", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    // Nothing of bob's reply was stored.
    let (_, thread) = gw.admin(Method::GET, &format!("/tickets/{id}"), None).await;
    assert_eq!(thread["replies"].as_array().map(Vec::len), Some(0), "{thread}");
}

#[tokio::test]
async fn a_complaint_unanswered_for_15_days_is_overdue_until_the_operator_answers() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "1").await;
    let opened = gw.clock_now();
    let complaint = open_ok(&gw, &acme, "complaint").await;
    let inquiry = open_ok(&gw, &acme, "inquiry").await;
    let id = id_of(&complaint);
    assert_eq!(complaint["answer_due_at"], tongdao_domain::clock::rfc3339(opened + 15 * DAY_MS));
    assert_eq!(inquiry["answer_due_at"], Value::Null, "only complaints have a deadline");

    let (status, list) = gw.admin(Method::GET, "/tickets?overdue=true", None).await;
    assert_eq!((status, ids(&list)), (StatusCode::OK, vec![]), "{list}");
    gw.clock.advance(15 * DAY_MS);
    let (_, list) = gw.admin(Method::GET, "/tickets?overdue=true", None).await;
    assert_eq!(ids(&list), Vec::<String>::new(), "due, not yet overdue");
    gw.clock.advance(60_000);
    let (_, list) = gw.admin(Method::GET, "/tickets?overdue=true", None).await;
    assert_eq!(ids(&list), [id.as_str()], "{list}");
    assert_eq!(list["tickets"][0]["overdue"], true);
    let (_, list) =
        gw.admin(Method::GET, &format!("/tickets?overdue=true&customer={}&kind=complaint", acme.name), None).await;
    assert_eq!(ids(&list), [id.as_str()], "filters combine: {list}");
    let (_, mine) = gw.as_customer(&acme.key, Method::GET, &format!("/tickets/{id}"), None).await;
    assert_eq!(mine["overdue"], true, "the customer sees it too");

    let (status, answered) = answer(&gw, &id, "Sorry for the wait.").await;
    assert_eq!((status, answered["overdue"].as_bool()), (StatusCode::CREATED, Some(false)), "{answered}");
    let (_, list) = gw.admin(Method::GET, "/tickets?overdue=true", None).await;
    assert_eq!(ids(&list), Vec::<String>::new(), "answered late, but answered");
    // A follow-up from the customer does not make it overdue again.
    customer_reply(&gw, &acme, &id, "Thanks, but…").await;
    let (_, list) = gw.admin(Method::GET, "/tickets?overdue=true", None).await;
    assert_eq!(ids(&list), Vec::<String>::new());
}

#[tokio::test]
async fn a_billing_dispute_names_only_the_customers_own_messages() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "1").await;
    let bob = gw.onboard("bob", "1").await;
    let mine = gw.send_one(&acme, "+8613800138000", "Your code is 1234").await;
    let theirs = gw.send_one(&bob, "+8613800138000", "Your code is 5678").await;
    let dispute = |message_ids: Value| {
        json!({
            "kind": "billing_dispute",
            "subject": "Charged for undelivered messages",
            "body": "These were never delivered.",
            "message_ids": message_ids,
            "statement_lines": ["2026-06:charges:2026-06-01"],
        })
    };
    let (status, body) = open(&gw, &acme, dispute(json!([mine, theirs]))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference"), "{body}");
    assert_eq!(body["error"]["field"], "message_ids[1]");
    let (status, body) = open(&gw, &acme, dispute(json!(["msg_not_an_id"]))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference"), "{body}");
    let (_, list) = gw.admin(Method::GET, "/tickets", None).await;
    assert_eq!(ids(&list), Vec::<String>::new(), "nothing was opened");

    let (status, ticket) = open(&gw, &acme, dispute(json!([mine]))).await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    assert_eq!(
        (ticket["message_ids"].clone(), ticket["statement_lines"][0].clone()),
        (json!([mine]), json!("2026-06:charges:2026-06-01"))
    );

    // Only a dispute names references; the bounds hold.
    let (status, body) =
        open(&gw, &acme, json!({"kind": "inquiry", "subject": "s", "body": "b", "message_ids": [mine]})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("message_ids")), "{body}");
    let lines: Vec<String> = (0..101).map(|d| format!("2026-06:charges:{d}")).collect();
    let (status, body) =
        open(&gw, &acme, json!({"kind": "billing_dispute", "subject": "s", "body": "b", "statement_lines": lines}))
            .await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("statement_lines")), "{body}");
    let (status, body) = open(&gw, &acme, json!({"kind": "inquiry", "subject": "s".repeat(201), "body": "b"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("subject")), "{body}");
    let (status, body) =
        open(&gw, &acme, json!({"kind": "inquiry", "subject": "s", "body": "字".repeat(10_001)})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("body")), "{body}");
    let (status, body) = open(&gw, &acme, json!({"kind": "praise", "subject": "s", "body": "b"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("kind")), "{body}");
}

#[tokio::test]
async fn an_adjustment_settles_a_dispute_and_shows_on_the_ticket_and_in_the_ledger() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "1").await;
    let bob = gw.onboard("bob", "1").await;
    let id = id_of(&open_ok(&gw, &acme, "billing_dispute").await);
    let bobs = id_of(&open_ok(&gw, &bob, "billing_dispute").await);
    let adjust = format!("/customers/{}/adjustments", acme.id);

    for (ticket, why) in
        [(bobs.as_str(), "another customer's"), ("tkt_0000000000000000000000000", "none such"), ("42", "no id")]
    {
        let body = json!({"amount": "0.5", "reason": "refund of undelivered", "ticket": ticket});
        let (status, body) = gw.admin(Method::POST, &adjust, Some(body)).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference"),
            "{why}: {body}"
        );
        assert_eq!(body["error"]["field"], "ticket");
    }
    assert_eq!(gw.balance(&acme).await, "1.0000", "nothing was posted");

    let body = json!({"amount": "0.5", "reason": "refund of undelivered", "ticket": id});
    let (status, entry) = gw.admin(Method::POST, &adjust, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    assert_eq!((entry["kind"].as_str(), entry["reference"].as_str()), (Some("adjustment"), Some(id.as_str())));
    let (status, ticket) = gw.admin(Method::GET, &format!("/tickets/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{ticket}");
    assert_eq!(ticket["adjustments"], json!([entry.clone()]), "the ticket shows what settled it");
    let (_, seen) = gw.as_customer(&acme.key, Method::GET, &format!("/tickets/{id}"), None).await;
    assert_eq!(seen["adjustments"][0]["amount"], "0.5000", "and so does its customer");
    // An adjustment without a ticket settles nothing.
    gw.admin(Method::POST, &adjust, Some(json!({"amount": "-0.1", "reason": "fee"}))).await;
    let (_, ticket) = gw.admin(Method::GET, &format!("/tickets/{id}"), None).await;
    assert_eq!(ticket["adjustments"].as_array().map(Vec::len), Some(1));

    let ledger = gw.ledger_entries(&acme.id).await;
    assert!(ledger.iter().any(|e| e["reference"] == id.as_str() && e["amount"] == "0.5000"), "{ledger:?}");
    gw.ledger_check(&acme.id).await;
    let chain = gw.platform().store().verify_ledger().await.expect("read");
    assert!(chain.is_ok(), "the chain covers the reference: {chain:?}");

    let settled = audit_of(&gw, &id).await;
    assert_eq!(settled.len(), 1, "{settled:?}");
    assert_eq!(
        (settled[0]["action"].as_str(), settled[0]["actor"].as_str()),
        (Some("ticket.settle"), Some("operator"))
    );
    assert_eq!(settled[0]["after"]["amount"], "0.5000");
}

#[tokio::test]
async fn the_operator_lists_tickets_by_status_kind_and_customer_a_page_at_a_time() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "1").await;
    let bob = gw.onboard("bob", "1").await;
    let first = id_of(&open_ok(&gw, &acme, "inquiry").await);
    let second = id_of(&open_ok(&gw, &acme, "complaint").await);
    let third = id_of(&open_ok(&gw, &bob, "inquiry").await);
    answer(&gw, &first, "Done").await;

    let (_, all) = gw.admin(Method::GET, "/tickets", None).await;
    assert_eq!(ids(&all), [third.clone(), second.clone(), first.clone()], "newest first");
    assert!(all["tickets"][0].get("body").is_none(), "lists leave the text out: {all}");
    let (_, answered) = gw.admin(Method::GET, "/tickets?status=answered", None).await;
    assert_eq!(ids(&answered), [first.as_str()]);
    let (_, inquiries) = gw.admin(Method::GET, "/tickets?kind=inquiry", None).await;
    assert_eq!(ids(&inquiries), [third.clone(), first.clone()]);
    let (_, acmes) = gw.admin(Method::GET, &format!("/tickets?customer={}", acme.id), None).await;
    assert_eq!(ids(&acmes), [second.clone(), first.clone()]);

    let (_, page) = gw.admin(Method::GET, "/tickets?limit=2", None).await;
    assert_eq!(ids(&page), [third.clone(), second.clone()]);
    let next = page["next_before"].as_str().expect("a next page");
    let (_, page) = gw.admin(Method::GET, &format!("/tickets?limit=2&before={next}"), None).await;
    assert_eq!((ids(&page), page["next_before"].clone()), (vec![first.clone()], Value::Null));

    for (query, field) in [
        ("status=lost", "status"),
        ("kind=praise", "kind"),
        ("overdue=yes", "overdue"),
        ("limit=0", "limit"),
        ("before=x", "before"),
    ] {
        let (status, body) = gw.admin(Method::GET, &format!("/tickets?{query}"), None).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{query}: {body}"
        );
    }
    let (status, body) = gw.admin(Method::GET, "/tickets?customer=nobody", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
}

#[tokio::test]
async fn a_suspended_customer_can_still_reach_customer_service() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "1").await;
    let suspend = format!("/agreements/{}/suspend", acme.agreement_id);
    let (status, body) = gw.admin(Method::POST, &suspend, Some(json!({"reason": "violations"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = gw.as_customer(&acme.key, Method::GET, "/balance", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "account_suspended"), "{body}");
    let id = id_of(&open_ok(&gw, &acme, "complaint").await);
    let (status, body) = customer_reply(&gw, &acme, &id, "Why was I suspended?").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
