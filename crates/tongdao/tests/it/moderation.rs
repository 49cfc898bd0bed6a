//! Clauses 2.3, 3.4 and 3.5 at work: screening at acceptance, held messages approved or
//! deleted, violations that suspend the service, the suspension cascade and its end,
//! signatures and templates, lexicons edited while running, and the audit trail.

use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Sender, TestGateway, error_code};

const TO: &str = "+8613800138000";
/// A fraud term of the starter lexicon (action: reject).
const FRAUD: &str = "兼职刷单，日赚三百";
/// A review-level term of the starter lexicon (日结佣金 @review): held for a person.
const DOUBTFUL: &str = "本周日结佣金已发放，请查收";

async fn operator_balance(gw: &TestGateway, sender: &Sender) -> String {
    let (_, body) = gw.admin(Method::GET, &format!("/customers/{}/balance", sender.id), None).await;
    body["balance"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn forbidden_content_is_refused_naming_its_category_and_recorded_as_a_violation() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "1").await;
    // Evasions fold away: spaces, zero-width joiners, full-width and traditional forms.
    for text in [FRAUD, "兼 职 刷 单", "兼\u{200d}职\u{200d}刷\u{200d}单", "兼職刷單"] {
        let (status, body) = gw.send_text(&acme, TO, text).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "content_rejected"),
            "{text}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("fraud"), "names the category: {message}");
        assert!(!message.contains("刷单"), "never echoes the lexicon term: {message}");
        assert_eq!(body["error"]["field"], "text");
    }
    assert_eq!(gw.balance(&acme).await, "1.0000", "nothing charged");
    let (status, list) = gw.admin(Method::GET, &format!("/violations?customer={}", acme.id), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let violations = list["violations"].as_array().expect("list");
    assert_eq!(violations.len(), 4);
    assert_eq!((violations[0]["category"].as_str(), violations[0]["kind"].as_str()), (Some("fraud"), Some("rejected")));

    // Advertising beyond words: a shortened link and an opt-out footer.
    let (status, body) = gw.send_text(&acme, TO, "限时秒杀，全场5折，点击 t.cn/abc123 抢购，回T退订").await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "content_rejected"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("advertising"));
    // Ordinary notifications pass.
    for text in
        ["Your verification code is 482913, valid for 5 minutes.", "【顺丰】您的快递已到达小区驿站，取件码 3-2-1088"]
    {
        let (status, body) = gw.send_text(&acme, TO, text).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{text}: {body}");
    }
}

#[tokio::test]
async fn a_quote_screens_per_recipient_without_recording_a_violation() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "1").await;
    for (text, verdict, category) in [
        (FRAUD, "reject", json!("fraud")),
        (DOUBTFUL, "review", json!("fraud")),
        ("Meeting at 3 pm", "pass", Value::Null),
    ] {
        let (status, quote) = gw
            .as_customer(&acme.key, Method::POST, "/quote", Some(json!({"to": [TO, "+8613900139000"], "text": text})))
            .await;
        assert_eq!(status, StatusCode::OK, "{quote}");
        for m in quote["messages"].as_array().expect("messages") {
            assert_eq!(m["screening"], json!({"verdict": verdict, "category": category}), "{text}: {quote}");
        }
    }
    let (_, list) = gw.admin(Method::GET, &format!("/violations?customer={}", acme.id), None).await;
    assert_eq!(list["violations"].as_array().map(Vec::len), Some(0), "a quote records nothing");
}

#[tokio::test]
async fn a_held_message_waits_for_the_moderator_who_approves_or_deletes_it() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let acme = gw.onboard("acme", "1").await;
    let (status, body) = gw.send(&acme, json!({"to": [TO, "+8613900139000"], "text": DOUBTFUL})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["messages"][0]["status"], "held");
    let (first, second) =
        (body["messages"][0]["id"].as_str().expect("id"), body["messages"][1]["id"].as_str().expect("id"));
    assert_eq!(gw.balance(&acme).await, "0.9100", "the charge is reserved");

    let (status, held) = gw.admin(Method::GET, "/moderation/held", None).await;
    assert_eq!(status, StatusCode::OK);
    let list = held["messages"].as_array().expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["screening"]["verdict"], "review");
    assert_eq!(list[0]["screening"]["findings"][0]["term"], "日结佣金", "the operator sees its own lexicon's term");
    // Nothing is sent while held.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(gw.message(&acme, first).await.1["status"], "held");

    let (status, approved) = gw.admin(Method::POST, &format!("/messages/{first}/approve"), None).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    let delivered = gw.wait_final(&acme, first).await;
    assert_eq!(delivered["status"], "delivered");

    let (status, body) = gw.admin(Method::POST, &format!("/messages/{second}/delete"), Some(json!({}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"), "a deletion needs a reason");
    let (status, deleted) =
        gw.admin(Method::POST, &format!("/messages/{second}/delete"), Some(json!({"reason": "recruiting scam"}))).await;
    assert_eq!((status, deleted["status"].as_str()), (StatusCode::OK, Some("deleted")), "{deleted}");
    assert_eq!(gw.balance(&acme).await, "0.9550", "the deleted one is refunded whole");
    let (status, _) = gw.admin(Method::POST, &format!("/messages/{first}/approve"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "only a held message can be moderated");

    let (_, violations) = gw.admin(Method::GET, &format!("/violations?customer={}", acme.id), None).await;
    assert_eq!(
        (violations["violations"][0]["kind"].as_str(), violations["violations"][0]["message_id"].as_str()),
        (Some("deleted"), Some(second))
    );
    let (_, audit) = gw.admin(Method::GET, "/audit", None).await;
    let actions: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| Some((e["action"].as_str()?, e["target"].as_str()?)))
        .take(2)
        .collect();
    assert_eq!(actions, [("message.delete", second), ("message.approve", first)]);
    assert_eq!(audit["entries"][0]["reason"], "recruiting scam");
    assert_eq!(gw.ledger_check(&acme.id).await["consistent"], true);
}

#[tokio::test]
async fn violations_past_the_limit_suspend_the_service_cancel_what_waits_and_resume_restores_it() {
    let gw = TestGateway::spawn().await;
    let acme = gw
        .onboard_with("acme", "10", |t| t["compliance"]["violation_limit"] = json!({"violations": 2, "days": 1}))
        .await;
    let scheduled_at = tongdao_domain::clock::rfc3339(gw.clock_now() + 3_600_000);
    let (status, waiting) =
        gw.send(&acme, json!({"to": TO, "text": "Meeting tomorrow", "send_at": scheduled_at})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{waiting}");
    let (status, held) = gw.send_text(&acme, TO, DOUBTFUL).await;
    assert_eq!((status, held["messages"][0]["status"].as_str()), (StatusCode::ACCEPTED, Some("held")));
    assert_eq!(operator_balance(&gw, &acme).await, "9.9100");

    for _ in 0..2 {
        let (status, _) = gw.send_text(&acme, TO, FRAUD).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // The second violation suspended the service: every call and every send is refused.
    for (method, path, body) in [
        (Method::POST, "/messages", Some(json!({"to": TO, "text": "hello"}))),
        (Method::GET, "/balance", None),
        (Method::GET, "/contacts", None),
    ] {
        let (status, body) = gw.as_customer(&acme.key, method, path, body).await;
        assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "account_suspended"), "{path}: {body}");
    }
    // What waited was cancelled and refunded: the balance is whole again.
    assert_eq!(operator_balance(&gw, &acme).await, "10.0000");
    let (_, agreement) = gw.admin(Method::GET, &format!("/agreements/{}", acme.agreement_id), None).await;
    assert_eq!(agreement["state"], "suspended");
    assert!(agreement["suspension_reason"].as_str().unwrap_or_default().contains("2 violations"), "{agreement}");
    let (_, audit) = gw.admin(Method::GET, "/audit", None).await;
    let suspension = &audit["entries"][0];
    assert_eq!(
        (suspension["actor"].as_str(), suspension["action"].as_str()),
        (Some("policy"), Some("agreement.suspend"))
    );
    assert_eq!(suspension["after"]["cancelled_messages"], 2, "{suspension}");

    let (status, _) =
        gw.admin(Method::POST, &format!("/agreements/{}/resume", acme.agreement_id), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = gw.send_text(&acme, TO, "Service is back").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, audit) = gw.admin(Method::GET, "/audit", None).await;
    assert_eq!(
        (audit["entries"][0]["actor"].as_str(), audit["entries"][0]["action"].as_str()),
        (Some("operator"), Some("agreement.resume"))
    );
}

#[tokio::test]
async fn templates_and_signatures_are_approved_by_the_operator_before_use() {
    let gw = TestGateway::spawn().await;
    let acme = gw
        .onboard_with("acme", "10", |t| {
            t["compliance"]["templates_only"] = json!(true);
            t["compliance"]["require_signature"] = json!(true);
        })
        .await;
    let (status, body) = gw.send_text(&acme, TO, "【Acme】Your code is 1234").await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "template_required"), "{body}");

    let (status, signature) =
        gw.as_customer(&acme.key, Method::POST, "/signatures", Some(json!({"text": "【Acme】"}))).await;
    assert_eq!((status, signature["status"].as_str()), (StatusCode::CREATED, Some("pending")), "{signature}");
    let (status, body) = gw.as_customer(&acme.key, Method::POST, "/signatures", Some(json!({"text": "A"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("text")));
    let (status, body) = gw
        .as_customer(&acme.key, Method::POST, "/templates", Some(json!({"name": "scam", "text": "兼职刷单 ${code}"})))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "content_rejected"),
        "templates are screened"
    );
    let (status, template) = gw
        .as_customer(
            &acme.key,
            Method::POST,
            "/templates",
            Some(json!({"name": "login code", "text": "【Acme】Your code is ${code}, valid for ${minutes} minutes."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let template_id = template["id"].as_str().expect("id").to_owned();
    let by_template =
        |code: &str| json!({"to": TO, "template_id": template_id, "params": {"code": code, "minutes": "5"}});

    let (status, body) = gw.send(&acme, by_template("1111")).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "template_not_approved"), "{body}");
    let (status, pending) = gw.admin(Method::GET, "/templates?status=pending", None).await;
    assert_eq!((status, pending["templates"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let (status, _) = gw.admin(Method::POST, &format!("/templates/{template_id}/approve"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = gw.send(&acme, by_template("2222")).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "signature_required"), "not approved yet: {body}");
    let signature_id = signature["id"].as_str().expect("id");
    let (status, body) = gw
        .admin(Method::POST, &format!("/signatures/{signature_id}/reject"), Some(json!({"reason": "not your brand"})))
        .await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("rejected")));
    let (status, _) = gw.admin(Method::POST, &format!("/signatures/{signature_id}/approve"), None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = gw.send(&acme, by_template("3333")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, message) = gw.message(&acme, body["messages"][0]["id"].as_str().expect("id")).await;
    assert_eq!(message["text"], "【Acme】Your code is 3333, valid for 5 minutes.");
    // The parameters are screened with the text, and must match the variables.
    let (status, body) = gw
        .send(&acme, json!({"to": TO, "template_id": template_id, "params": {"code": "兼职刷单", "minutes": "5"}}))
        .await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "content_rejected"), "{body}");
    let (status, body) = gw.send(&acme, json!({"to": TO, "template_id": template_id, "params": {"code": "1"}})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("params.minutes")), "{body}");
    let (status, body) = gw.send(&acme, json!({"to": TO, "text": "x", "template_id": template_id})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn lexicons_edited_through_the_api_or_on_disk_apply_without_a_restart() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "1").await;
    let text = "Please confirm the zorblax transfer today";
    assert_eq!(gw.send_text(&acme, TO, text).await.0, StatusCode::ACCEPTED);
    let put = |body: &str| {
        gw.http
            .put(format!("{}/admin/v1/lexicons/fraud.local.txt", gw.base))
            .bearer_auth(&gw.operator_token)
            .header("content-type", "text/plain")
            .body(body.to_owned())
            .send()
    };
    let response = put("# our own\nzorblax transfer\n").await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = gw.send_text(&acme, TO, text).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "content_rejected"), "{body}");
    // A file that does not parse is refused, and the one in use stays.
    let response = put("x @sometimes\n").await.expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(gw.send_text(&acme, TO, text).await.0, StatusCode::UNPROCESSABLE_ENTITY);

    // An edit on disk is picked up by the reload loop (watched through quotes, which record
    // no violation).
    let file = gw.config.lexicon_dir().join("fraud.local.txt");
    std::fs::write(&file, "zorblax transfer @review\n").expect("written");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, quote) =
            gw.as_customer(&acme.key, Method::POST, "/quote", Some(json!({"to": TO, "text": text}))).await;
        assert_eq!(status, StatusCode::OK, "{quote}");
        if quote["messages"][0]["screening"]["verdict"] == "review" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the edit was not picked up: {quote}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, body) = gw.send_text(&acme, TO, text).await;
    assert_eq!((status, body["messages"][0]["status"].as_str()), (StatusCode::ACCEPTED, Some("held")), "{body}");
    let (status, lexicons) = gw.admin(Method::GET, "/lexicons", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        lexicons["files"].as_array().expect("files").iter().any(|f| f["file"] == "fraud.local.txt" && f["terms"] == 1)
    );
    assert!(lexicons["terms"].as_u64().unwrap_or(0) > 500, "the starter lexicons were installed: {lexicons}");
    let (_, audit) = gw.admin(Method::GET, "/audit", None).await;
    assert_eq!(audit["entries"][0]["action"], "lexicon.put");
}
