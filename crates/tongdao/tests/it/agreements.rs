//! Agreement states as the customer meets them: draft → active → expired / suspended /
//! terminated, each refusing with its own code.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

async fn send_code(gw: &TestGateway, sender: &Sender) -> (StatusCode, String) {
    let (status, body) = gw.send_text(sender, "13800138000", "hi").await;
    let code = if status.is_success() { "ok".to_owned() } else { error_code(&body).to_owned() };
    (status, code)
}

#[tokio::test]
async fn sending_needs_an_agreement_that_is_signed_accepted_and_in_term() {
    let gw = TestGateway::spawn().await;
    let (id, key) = gw.create_customer("alice").await;
    gw.top_up(&id, "10").await;
    let alice = Sender { id: id.clone(), name: "alice".into(), key: key.clone(), agreement_id: String::new() };
    assert_eq!(
        send_code(&gw, &alice).await,
        (StatusCode::FORBIDDEN, "agreement_not_active".into()),
        "no agreement at all"
    );

    let agreement = gw.create_agreement(&id, TestGateway::terms("2026-06-02")).await;
    let (_, view) = gw.as_customer(&key, Method::GET, "/agreement", None).await;
    assert_eq!(view["state"], "draft");
    assert_eq!(send_code(&gw, &alice).await, (StatusCode::FORBIDDEN, "agreement_not_active".into()), "unsigned");

    gw.sign(&agreement).await;
    assert_eq!(send_code(&gw, &alice).await, (StatusCode::FORBIDDEN, "agreement_not_accepted".into()));

    let (status, body) = gw.accept_terms(&key, "v0").await;
    assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"), "the wrong terms version");
    let (status, body) = gw.accept_terms(&key, "v1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted_terms_version"], "v1");
    assert!(body["accepted_at"].is_string());
    assert_eq!(body["state"], "draft", "effective only from tomorrow");
    assert_eq!(send_code(&gw, &alice).await, (StatusCode::FORBIDDEN, "agreement_not_active".into()));

    gw.clock.set(noon("2026-06-02"));
    assert_eq!(send_code(&gw, &alice).await, (StatusCode::ACCEPTED, "ok".into()));
    let (_, view) = gw.as_customer(&key, Method::GET, "/agreement", None).await;
    assert_eq!(view["state"], "active");
    assert_eq!(view["ends_at"], "2027-06-01T16:00:00.000Z");

    gw.clock.set(noon("2027-06-01"));
    assert_eq!(send_code(&gw, &alice).await, (StatusCode::ACCEPTED, "ok".into()), "the last day of the term");
    gw.clock.set(noon("2027-06-02"));
    assert_eq!(send_code(&gw, &alice).await, (StatusCode::FORBIDDEN, "agreement_expired".into()));
    let (_, view) = gw.as_customer(&key, Method::GET, "/agreement", None).await;
    assert_eq!(view["state"], "expired");
    gw.ledger_check(&id).await;
}

#[tokio::test]
async fn suspension_stops_sending_until_resumed_and_termination_is_final() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "10").await;
    let path = |verb: &str| format!("/agreements/{}/{verb}", alice.agreement_id);
    let (status, body) =
        gw.admin(Method::POST, &path("suspend"), Some(json!({"reason": "advertising (clause 2.3)"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "suspended");
    let (status, body) = gw.send_text(&alice, "13800138000", "hi").await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "account_suspended"));
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("advertising"), "the reason is told: {body}");

    let (status, _) = gw.admin(Method::POST, &path("suspend"), Some(json!({"reason": "again"}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = gw.admin(Method::POST, &path("resume"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = gw.send_text(&alice, "13800138000", "hi").await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let (status, body) = gw.admin(Method::POST, &path("terminate"), Some(json!({"reason": "uncured breach"}))).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some("terminated")));
    let (status, body) = gw.send_text(&alice, "13800138000", "hi").await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "agreement_not_active"));
    let (status, body) = gw.admin(Method::POST, &path("resume"), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "conflict"));
}

#[tokio::test]
async fn agreements_keep_every_field_and_refuse_retention_below_six_months() {
    let gw = TestGateway::spawn().await;
    let (id, _) = gw.create_customer("alice").await;
    let mut terms = TestGateway::terms(TODAY);
    terms["log_retention_months"] = json!(5);
    let (status, body) = gw.admin(Method::POST, &format!("/customers/{id}/agreements"), Some(terms.clone())).await;
    assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert_eq!(body["error"]["field"], "log_retention_months");

    terms["log_retention_months"] = json!(12);
    terms["scope_policy"] = json!("enforce");
    terms["charge_on"] = json!("delivery");
    terms["max_segments"] = json!(5);
    let agreement = gw.create_agreement(&id, terms.clone()).await;
    let (status, view) = gw.admin(Method::GET, &format!("/agreements/{agreement}"), None).await;
    assert_eq!(status, StatusCode::OK);
    for (field, value) in terms.as_object().expect("object") {
        assert_eq!(&view[field], value, "{field}");
    }
    assert_eq!(view["version"], 1);
    let second = gw.create_agreement(&id, TestGateway::terms(TODAY)).await;
    let (_, list) = gw.admin(Method::GET, &format!("/customers/{id}/agreements"), None).await;
    let versions: Vec<_> =
        list["agreements"].as_array().expect("list").iter().map(|a| (a["id"].clone(), a["version"].clone())).collect();
    assert_eq!(versions, vec![(json!(agreement), json!(1)), (json!(second), json!(2))]);

    let (status, body) =
        gw.admin(Method::POST, &format!("/customers/{id}/agreements"), Some(json!({"term_years": 1}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"), "{body}");
}

#[tokio::test]
async fn effective_dates_outside_2000_to_2100_are_refused() {
    // Regression: 9999-06-01 made the term arithmetic loop forever and hung the server.
    let gw = TestGateway::spawn().await;
    let (id, _) = gw.create_customer("alice").await;
    for date in ["9999-06-01", "1999-12-31", "2101-01-01", "-0001-01-01", "0000-01-01"] {
        let mut terms = TestGateway::terms(TODAY);
        terms["effective_from"] = json!(date);
        let (status, body) = gw.admin(Method::POST, &format!("/customers/{id}/agreements"), Some(terms)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{date}: {body}");
    }
    let (status, _) = gw.request(None, Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "the server still answers");
}

#[tokio::test]
async fn a_renewal_drafted_ahead_keeps_the_customer_sending_and_cannot_lift_a_suspension() {
    // Regression: the newest version, even a draft, decided; drafting a renewal cut an
    // active customer off, and a signed and accepted renewal silently lifted a suspension.
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "10").await;
    let mut renewal = TestGateway::terms("2027-06-01");
    renewal["terms_version"] = json!("v2");
    let v2 = gw.create_agreement(&alice.id, renewal).await;
    assert_eq!(send_code(&gw, &alice).await, (StatusCode::ACCEPTED, "ok".into()), "v1 is still in force");
    gw.sign(&v2).await;
    let (status, _) = gw.accept_terms(&alice.key, "v2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(send_code(&gw, &alice).await, (StatusCode::ACCEPTED, "ok".into()));

    let (status, _) = gw
        .admin(Method::POST, &format!("/agreements/{}/suspend", alice.agreement_id), Some(json!({"reason": "spam"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    gw.clock.set(noon("2027-06-02")); // v1 has ended, v2 is in force
    assert_eq!(send_code(&gw, &alice).await, (StatusCode::FORBIDDEN, "account_suspended".into()));
    let (status, _) = gw.admin(Method::POST, &format!("/agreements/{}/resume", alice.agreement_id), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(send_code(&gw, &alice).await, (StatusCode::ACCEPTED, "ok".into()), "v2 applies once resumed");
}
