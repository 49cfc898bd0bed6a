//! The operator console's customer, money and user pages over HTTP (see `console.rs` for
//! the Visitor): each page for a role that may, each form's effect through the API, a
//! refusal at its field, and the roles that may not.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tongdao_pipeline::users::ConsoleArea;

use super::console::*;
use super::harness::*;

/// The text of the element with `id` (up to its next tag).
fn text_of(body: &str, id: &str) -> String {
    let at = body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in:\n{body}"));
    let rest = &body[at..];
    let start = rest.find('>').expect("tag end") + 1;
    rest[start..].split('<').next().unwrap_or("").trim().to_owned()
}

async fn audit_entries(gw: &TestGateway) -> Vec<Value> {
    let (status, audit) = gw.admin(Method::GET, "/audit?limit=200", None).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    audit["entries"].as_array().expect("entries").clone()
}

async fn agreement_states(gw: &TestGateway, customer: &str) -> Vec<String> {
    let (status, body) = gw.admin(Method::GET, &format!("/customers/{customer}/agreements"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["agreements"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["state"].as_str().expect("state").to_owned())
        .collect()
}

#[tokio::test]
async fn console_ops_customers_are_listed_and_added_and_a_customer_page_shows_them() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let mut admin = gw.ops_visitor("admin").await;

    let list = admin.get("/ops/customers").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    list.shows("id=\"customers-table\"").shows("class=\"customer-row\"").shows("acme").shows("¥10.0000");
    list.shows("status-active").shows("id=\"create-customer\"");

    // A refused name is shown under the name field, with what was typed.
    let refused = admin.post("/ops/customers", &[("name", "bad name!"), ("contact", "Li Lei")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    refused.shows("class=\"field-error\"").shows("name must be").shows("value=\"Li Lei\"");

    let added =
        admin.post("/ops/customers", &[("name", "globex"), ("address", "3 Road"), ("contact", "Han Meimei")]).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let to = added.location().expect("to the customer").to_owned();
    assert!(to.starts_with("/ops/customers/cus_") && to.ends_with("?done=created"), "{to}");
    let (_, globex) = gw.admin(Method::GET, "/customers/globex", None).await;
    assert_eq!(globex["contact"], "Han Meimei");

    let page = admin.get(&to).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.shows("id=\"done\"").shows("Han Meimei");
    assert_eq!(text_of(&page.body, "balance"), "¥0.0000");
    assert_eq!(text_of(&page.body, "agreement-status"), "none");

    let acme_page = admin.get(&format!("/ops/customers/{}", acme.id)).await;
    assert_eq!(text_of(&acme_page.body, "agreement-status"), "active");
    acme_page.shows("id=\"topup-form\"").shows("id=\"suspend-form\"").hides("id=\"resume-form\"");
    acme_page.shows(&acme.agreement_id).shows("class=\"key-row\"");

    let zh = admin.get(&format!("/ops/customers/{}?lang=zh", acme.id)).await;
    assert_eq!(zh.status, StatusCode::OK);
    zh.shows("充值入账").shows("协议版本").shows(">生效<");

    let missing = admin.get("/ops/customers/cus_00000000000000000000000000").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn console_ops_customers_finance_tops_up_in_its_own_name_but_may_not_add_customers() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let mut finance = gw.ops_visitor("finance").await;
    let path = format!("/ops/customers/{}", acme.id);
    finance.get(&path).await.shows("id=\"topup-form\"").hides("id=\"suspend-form\"").hides("id=\"create-key-form\"");

    let refused = finance.post(&format!("{path}/topup"), &[("amount", "12,50"), ("reference", "pay-1")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("class=\"field-error\" role=\"alert\">"), "{}", refused.body);
    refused.shows("amount must be an amount").shows("value=\"pay-1\"");

    for _ in 0..2 {
        let done = finance.post(&format!("{path}/topup"), &[("amount", "25.00"), ("reference", "pay-1")]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location(), Some(format!("{path}?done=topup").as_str()));
    }
    let conflict = finance.post(&format!("{path}/topup"), &[("amount", "30.00"), ("reference", "pay-1")]).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "the same reference with another amount");
    let adjusted = finance.post(&format!("{path}/adjust"), &[("amount", "-5"), ("reason", "goodwill reversal")]).await;
    assert_eq!(adjusted.status, StatusCode::SEE_OTHER, "{}", adjusted.body);
    let too_much = finance.post(&format!("{path}/adjust"), &[("amount", "-500"), ("reason", "x")]).await;
    assert_eq!(too_much.status, StatusCode::PAYMENT_REQUIRED, "{}", too_much.body);
    too_much.shows("class=\"problem\"");

    let (_, balance) = gw.admin(Method::GET, &format!("/customers/{}/balance", acme.id), None).await;
    assert_eq!(balance["balance"], "30.0000", "one top-up of 25 for the reference used twice, less 5");
    assert_eq!(text_of(&finance.get(&path).await.body, "balance"), "¥30.0000");

    let ledger = finance.get(&format!("{path}/ledger")).await;
    assert_eq!(ledger.status, StatusCode::OK);
    ledger.shows("class=\"ledger-row\"").shows("pay-1").shows("goodwill reversal");

    let entries = audit_entries(&gw).await;
    let topup = entries.iter().find(|e| e["action"] == "ledger.topup" && e["target"] == acme.id.as_str());
    assert_eq!(topup.expect("audited")["actor"], "operator:finance@ops.example");
    assert!(entries.iter().any(|e| e["action"] == "ledger.adjustment" && e["actor"] == "operator:finance@ops.example"));

    let refused = finance.post("/ops/customers", &[("name", "initech")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused =
        finance.post(&format!("{path}/suspend"), &[("agreement", acme.agreement_id.as_str()), ("reason", "x")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(agreement_states(&gw, &acme.id).await, ["active"]);
}

#[tokio::test]
async fn console_ops_customers_agreements_are_suspended_resumed_drafted_and_signed() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let globex = gw.onboard("globex", "0").await;
    let mut admin = gw.ops_visitor("admin").await;
    let path = format!("/ops/customers/{}", acme.id);
    let agreement = acme.agreement_id.as_str();

    let refused = admin.post(&format!("{path}/suspend"), &[("agreement", agreement), ("reason", " ")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    refused.shows("class=\"field-error\" role=\"alert\">").shows("give the reason");

    let done = admin.post(&format!("{path}/suspend"), &[("agreement", agreement), ("reason", "unpaid invoice")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(agreement_states(&gw, &acme.id).await, ["suspended"]);
    let page = admin.get(&path).await;
    assert_eq!(text_of(&page.body, "agreement-status"), "suspended");
    page.shows("id=\"resume-form\"").hides("id=\"suspend-form\"").shows("unpaid invoice");
    let (status, _) = gw.send_text(&acme, "+8613800138000", "hello").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a suspended customer may not send");

    let done = admin.post(&format!("{path}/resume"), &[("agreement", agreement)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(agreement_states(&gw, &acme.id).await, ["active"]);

    // Another customer's agreement is no agreement of this page.
    let foreign =
        admin.post(&format!("{path}/suspend"), &[("agreement", globex.agreement_id.as_str()), ("reason", "x")]).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(agreement_states(&gw, &globex.id).await, ["active"]);

    // A new version starts from the latest's terms; a refusal names its field.
    let page = admin.get(&path).await;
    let mut terms: Vec<(String, String)> = [
        "provider_name",
        "provider_address",
        "customer_name",
        "customer_address",
        "effective_from",
        "term_years",
        "maintenance_notice_days",
        "log_retention_months",
        "cure_days",
        "max_segments",
        "terms_version",
    ]
    .iter()
    .map(|name| (name.to_string(), input_value(&page.body, name).unwrap_or_else(|| panic!("no {name}"))))
    .collect();
    assert_eq!(terms[0].1, "Test Provider Ltd.");
    terms.push(("scope_policy".into(), "enforce".into()));
    terms.push(("charge_on".into(), "delivery".into()));
    let set = |terms: &mut Vec<(String, String)>, name: &str, value: &str| {
        terms.iter_mut().find(|(k, _)| k == name).expect("field").1 = value.to_owned();
    };
    set(&mut terms, "log_retention_months", "3");
    let fields: Vec<(&str, &str)> = terms.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let refused = admin.post(&format!("{path}/create-agreement"), &fields).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    refused.shows("log_retention_months must be at least 6").shows("value=\"3\"");

    set(&mut terms, "log_retention_months", "12");
    set(&mut terms, "terms_version", "v2");
    let fields: Vec<(&str, &str)> = terms.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let drafted = admin.post(&format!("{path}/create-agreement"), &fields).await;
    assert_eq!(drafted.status, StatusCode::SEE_OTHER, "{}", drafted.body);
    let (_, list) = gw.admin(Method::GET, &format!("/customers/{}/agreements", acme.id), None).await;
    let v2 = &list["agreements"][1];
    assert_eq!((v2["version"].as_u64(), v2["state"].as_str()), (Some(2), Some("draft")));
    assert_eq!((v2["log_retention_months"].as_u64(), v2["scope_policy"].as_str()), (Some(12), Some("enforce")));
    let v2_id = v2["id"].as_str().expect("id").to_owned();

    let signed = admin.post(&format!("{path}/sign"), &[("agreement", v2_id.as_str())]).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let (_, v2) = gw.admin(Method::GET, &format!("/agreements/{v2_id}"), None).await;
    assert!(v2["signed_at"].is_string(), "{v2}");
    let entries = audit_entries(&gw).await;
    for action in ["agreement.suspend", "agreement.resume", "agreement.create", "agreement.sign"] {
        let entry = entries.iter().find(|e| e["action"] == action).unwrap_or_else(|| panic!("no {action}"));
        assert_eq!(entry["actor"], "operator:admin@ops.example", "{entry}");
    }

    let done = admin.post(&format!("{path}/terminate"), &[("agreement", v2_id.as_str()), ("reason", "ended")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let (_, v2) = gw.admin(Method::GET, &format!("/agreements/{v2_id}"), None).await;
    assert_eq!(v2["state"], "terminated");
}

#[tokio::test]
async fn console_ops_customers_keys_smpp_numbers_tariff_and_portal_users() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let globex = gw.onboard("globex", "0").await;
    let mut admin = gw.ops_visitor("admin").await;
    let path = format!("/ops/customers/{}", acme.id);

    // A key: its secret once, working until revoked.
    let created = admin.post(&format!("{path}/create-key"), &[("label", "billing"), ("rps", "5")]).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let secret = text_of(&created.body, "new-key-secret");
    assert_eq!(gw.as_customer(&secret, Method::GET, "/balance", None).await.0, StatusCode::OK);
    assert!(!admin.get(&path).await.body.contains(&secret), "shown once only");
    let (_, keys) = gw.admin(Method::GET, &format!("/customers/{}/keys", acme.id), None).await;
    let key = keys["keys"].as_array().expect("keys").iter().find(|k| k["label"] == "billing").expect("key");
    let key_id = key["id"].as_str().expect("id").to_owned();
    assert_eq!(key["rps"], 5);
    // Another customer's page does not reach this key.
    let foreign = admin.post(&format!("/ops/customers/{}/revoke-key", globex.id), &[("key", key_id.as_str())]).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    let revoked = admin.post(&format!("{path}/revoke-key"), &[("key", key_id.as_str())]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    assert_eq!(gw.as_customer(&secret, Method::GET, "/balance", None).await.0, StatusCode::UNAUTHORIZED);

    // SMPP: the password once; deleted.
    let smpp = admin.post(&format!("{path}/create-smpp"), &[("system_id", "acme01"), ("tps", "abc")]).await;
    assert_eq!(smpp.status, StatusCode::BAD_REQUEST);
    smpp.shows("tps must be a whole number");
    let smpp =
        admin.post(&format!("{path}/create-smpp"), &[("system_id", "acme01"), ("allowed_ips", "10.0.0.0/8")]).await;
    assert_eq!(smpp.status, StatusCode::OK, "{}", smpp.body);
    assert_eq!(text_of(&smpp.body, "new-smpp-password").len(), 8);
    smpp.shows("class=\"smpp-row\" data-id=\"acme01\"").shows("10.0.0.0/8");
    let deleted = admin.post(&format!("{path}/delete-smpp"), &[("system_id", "acme01")]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    let (_, accounts) = gw.admin(Method::GET, &format!("/customers/{}/smpp-accounts", acme.id), None).await;
    assert_eq!(accounts["accounts"].as_array().map(Vec::len), Some(0));

    // Numbers.
    let bad = admin.post(&format!("{path}/add-number"), &[("number", "abc")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.shows("number must be");
    let added = admin.post(&format!("{path}/add-number"), &[("number", "10690001")]).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    admin.get(&path).await.shows("class=\"number-row\">10690001");

    // The tariff, as one rule a line.
    let bad = admin.post(&format!("{path}/tariff"), &[("rules", "mobile 0.05\nunicom"), ("default", "")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.shows("line 2:").shows("unicom</textarea>");
    let saved =
        admin.post(&format!("{path}/tariff"), &[("rules", "mobile 0.0500\n+86199 0.0800"), ("default", "0.1")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let (_, tariff) = gw.admin(Method::GET, &format!("/customers/{}/tariff", acme.id), None).await;
    assert_eq!(tariff["default"], "0.1000");
    assert_eq!(tariff["rules"][1]["prefix"], "86199");

    // A portal user: its password once, and it signs in with it.
    let user = admin.post(&format!("{path}/add-user"), &[("email", "ops@acme.example"), ("role", "developer")]).await;
    assert_eq!(user.status, StatusCode::OK, "{}", user.body);
    let password = text_of(&user.body, "new-password");
    let mut portal = Visitor::new(&gw, "/console");
    portal.sign_in("ops@acme.example", &password).await;
    let again = admin.post(&format!("{path}/add-user"), &[("email", "ops@acme.example"), ("role", "viewer")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    again.shows("class=\"field-error\" role=\"alert\">").shows("already exists");

    // Notice settings.
    let set = admin.post(&format!("{path}/low-balance"), &[("threshold", "5")]).await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let set = admin.post(&format!("{path}/notice-email"), &[("email", "bills@acme.example")]).await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let (_, customer) = gw.admin(Method::GET, &format!("/customers/{}", acme.id), None).await;
    assert_eq!(
        (customer["low_balance_threshold"].as_str(), customer["notice_email"].as_str()),
        (Some("5.0000"), Some("bills@acme.example"))
    );

    // Support reads the page but changes nothing.
    let mut support = gw.ops_visitor("support").await;
    let page = support.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    page.hides("id=\"topup-form\"").hides("id=\"create-key-form\"").hides("id=\"suspend-form\"").shows("10690001");
    for (action, fields) in [
        ("topup", vec![("amount", "1")]),
        ("create-key", vec![("label", "x")]),
        ("add-user", vec![("email", "x@acme.example"), ("role", "viewer")]),
        ("tariff", vec![("rules", "mobile 0.01")]),
    ] {
        let refused = support.post(&format!("{path}/{action}"), &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{action}");
    }
    let (_, tariff) = gw.admin(Method::GET, &format!("/customers/{}/tariff", acme.id), None).await;
    assert_eq!(tariff["rules"][0]["price"], "0.0500");
}

#[tokio::test]
async fn console_ops_money_shows_reconciliation_and_statements_to_finance_only() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    // A charge today (the message stays queued: no carrier). Without one, the store's report
    // of a day with ledger entries but no charge fails (internal), the API's as well.
    gw.send_one(&acme, "+8613800138000", "hello").await;
    let mut finance = gw.ops_visitor("finance").await;

    let page = finance.get("/ops/money").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.shows("id=\"reconciliation-form\"").shows("id=\"statement-form\"").hides("id=\"reconciliation-table\"");

    let refused = finance.get("/ops/money?from=2026-06-01&to=2026-05-01").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    refused.shows("class=\"field-error\" role=\"alert\">").shows("to must not be before from");
    let report = finance.get("/ops/money?from=2026-05-01&to=2026-06-01").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    report.shows("id=\"reconciliation-table\"").shows("id=\"reconciliation-total\"");
    report.shows("class=\"reconciliation-row\"><td>2026-06-01</td><td>none</td><td class=\"num\">1</td>");

    let statement = finance.get(&format!("/ops/money?customer={}&month=2026-06", acme.id)).await;
    assert_eq!(statement.status, StatusCode::OK, "{}", statement.body);
    statement.shows("id=\"statement-view\"").shows("class=\"statement-line\"");
    assert_eq!(text_of(&statement.body, "statement-closing"), "9.9550");
    assert_eq!(text_of(&statement.body, "statement-state"), "running");
    let early = finance.get(&format!("/ops/money?customer={}&month=2026-07", acme.id)).await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", early.body);
    early.shows("has not begun");

    let csv = finance.get(&format!("/ops/money/statements/{}/2026-06?format=csv", acme.id)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().expect("type").starts_with("text/csv"));
    assert!(csv.body.starts_with("kind,date,carrier"), "{}", csv.body);
    let json = finance.get(&format!("/ops/money/statements/{}/2026-06?format=json", acme.id)).await;
    let json: Value = serde_json::from_str(&json.body).expect("json");
    assert_eq!(json["closing_balance"], "9.9550");

    let mut moderator = gw.ops_visitor("moderator").await;
    assert_eq!(moderator.get("/ops/money").await.status, StatusCode::FORBIDDEN);
    let download = moderator.get(&format!("/ops/money/statements/{}/2026-06", acme.id)).await;
    assert_eq!(download.status, StatusCode::FORBIDDEN);
    assert_eq!(moderator.get(&format!("/ops/customers/{}/ledger", acme.id)).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn console_ops_users_are_managed_by_admins_who_may_not_disable_themselves() {
    let gw = TestGateway::spawn().await;
    let mut admin = gw.ops_visitor("admin").await;
    let page = admin.get("/ops/users").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.shows("id=\"users-table\"").shows("admin@ops.example").shows("id=\"add-user-form\"");

    let bad = admin.post("/ops/users", &[("email", "not-an-email"), ("role", "finance")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.shows("class=\"field-error\" role=\"alert\">").shows("value=\"not-an-email\"");
    let added = admin.post("/ops/users", &[("email", "li@ops.example"), ("role", "finance")]).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let password = text_of(&added.body, "new-password");
    let mut li = Visitor::new(&gw, "/ops");
    li.sign_in("li@ops.example", &password).await;

    let users = gw.platform().console_users(ConsoleArea::Operator, None).await.expect("users");
    let li_id = users.iter().find(|u| u.email == "li@ops.example").expect("li").id.clone();
    let me = users.iter().find(|u| u.email == "admin@ops.example").expect("me").id.clone();

    let changed = admin.post(&format!("/ops/users/{li_id}/role"), &[("role", "support")]).await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    let bad_role = admin.post(&format!("/ops/users/{li_id}/role"), &[("role", "root")]).await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);
    let disabled = admin.post(&format!("/ops/users/{li_id}/disable"), &[]).await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER, "{}", disabled.body);
    let users = gw.platform().console_users(ConsoleArea::Operator, None).await.expect("users");
    let li_now = users.iter().find(|u| u.id == li_id).expect("li");
    assert_eq!((li_now.role.as_str(), li_now.disabled_at.is_some()), ("support", true));
    assert_eq!(li.get("/ops/").await.status, StatusCode::SEE_OTHER, "the disabled user's session ended");
    let entries = audit_entries(&gw).await;
    assert!(entries.iter().any(|e| e["action"] == "console_user.change" && e["actor"] == "operator:admin@ops.example"));

    let myself = admin.post(&format!("/ops/users/{me}/disable"), &[]).await;
    assert_eq!(myself.status, StatusCode::CONFLICT);
    myself.shows("You cannot disable or demote yourself");
    let demoted = admin.post(&format!("/ops/users/{me}/role"), &[("role", "support")]).await;
    assert_eq!(demoted.status, StatusCode::CONFLICT, "the last admin may not demote itself either");
    assert_eq!(admin.get("/ops/users").await.status, StatusCode::OK, "still signed in");

    // A customer user is not an operator user of this page.
    let acme = gw.onboard("acme", "0").await;
    gw.customer_user(&acme.id, "admin").await;
    let customer_users = gw.platform().console_users(ConsoleArea::Customer, Some(&acme.id)).await.expect("users");
    let foreign = admin.post(&format!("/ops/users/{}/disable", customer_users[0].id), &[]).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);

    let mut support = gw.ops_visitor("support").await;
    assert_eq!(support.get("/ops/users").await.status, StatusCode::FORBIDDEN);
    let refused = support.post("/ops/users", &[("email", "x@ops.example"), ("role", "admin")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
