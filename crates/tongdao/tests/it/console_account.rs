//! The portal's account pages over HTTP: API keys, SMPP, webhook and its deliveries; statements;
//! tickets; notices; the agreement; the customer's users. Each form's effect is checked
//! through the API or the Platform, and another customer's ids are 404.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tongdao::webhook_sink::{self, SinkCounts};
use tongdao_domain::clock::rfc3339;
use tongdao_pipeline::users::ConsoleArea;

use super::console::*;
use super::harness::*;

const DAY: i64 = 86_400_000;

/// The text of the element with `id`, up to its first tag.
fn text_of(body: &str, id: &str) -> String {
    let start = body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} on the page:\n{body}"));
    let rest = &body[start..];
    let open = rest.find('>').expect("tag end") + 1;
    rest[open..].split('<').next().unwrap_or("").trim().to_owned()
}

/// The first `prefix…` id on the page after `after`.
fn id_after(body: &str, after: &str, prefix: &str) -> String {
    let at = body.find(after).unwrap_or_else(|| panic!("{after:?} is not on the page:\n{body}"));
    let rest = &body[at + after.len()..];
    let start = rest.find(prefix).expect("an id");
    rest[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// Polls `path` until it shows `text` (10 s at most).
async fn wait_for_page(visitor: &mut Visitor, path: &str, text: &str) -> Page {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = visitor.get(path).await;
        if page.body.contains(text) {
            return page;
        }
        assert!(Instant::now() < deadline, "{text:?} never showed on {path}:\n{}", page.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn console_account_integration_creates_and_revokes_keys_sets_the_webhook_and_shows_its_deliveries() {
    // The carrier side runs (status events to call back) and the webhook may call loopback.
    let gw = TestGateway::spawn_with_simulator(|c| c.webhooks.allow_loopback = true).await;
    let acme = gw.onboard("acme", "10.00").await;
    let globex = gw.onboard("globex", "10.00").await;
    let smpp = json!({"system_id": "acme01", "allowed_ips": ["10.0.0.0/8"]});
    let (status, body) = gw.admin(Method::POST, &format!("/customers/{}/smpp-accounts", acme.id), Some(smpp)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut dev = gw.portal_visitor(&acme.id, "developer").await;

    let page = dev.get("/console/integration").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.shows("class=\"key-row\"")
        .shows("id=\"key-form\"")
        .shows("id=\"no-deliveries\"")
        .shows("acme01")
        .shows("10.0.0.0/8")
        .hides("id=\"new-key\"");

    // A new key: its secret shown once, and it works on the API.
    let created = dev.post("/console/integration/keys", &[("label", "billing job"), ("rps", "5")]).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let secret = text_of(&created.body, "new-key");
    assert!(secret.starts_with("tdk_") || secret.len() > 20, "{secret}");
    created.shows("billing job");
    let (status, _) = gw.as_customer(&secret, Method::GET, "/balance", None).await;
    assert_eq!(status, StatusCode::OK);
    dev.get("/console/integration").await.hides(&secret);

    // A refusal at its field, what was typed kept.
    let refused = dev.post("/console/integration/keys", &[("label", "again"), ("rps", "fast")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    refused.shows("class=\"field-error\" role=\"alert\"").shows("rps must be a whole number").shows("value=\"fast\"");

    // Revoking: the key is refused from then on; another customer's key is not found.
    let keys = gw.platform().api_keys(&acme.id).await.expect("keys");
    let key_id = keys.iter().find(|k| k.label == "billing job").expect("the new key").id.clone();
    created.shows(&format!("id=\"key-{key_id}\""));
    let revoked = dev.post(&format!("/console/integration/keys/{key_id}/revoke"), &[]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    assert_eq!(revoked.location(), Some("/console/integration?done=revoked"));
    dev.get("/console/integration?done=revoked").await.shows("class=\"done\"").shows("status-revoked");
    let (status, _) = gw.as_customer(&secret, Method::GET, "/balance", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let globex_key = gw.platform().api_keys(&globex.id).await.expect("keys")[0].id.clone();
    let foreign = dev.post(&format!("/console/integration/keys/{globex_key}/revoke"), &[]).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    let (status, _) = gw.as_customer(&globex.key, Method::GET, "/balance", None).await;
    assert_eq!(status, StatusCode::OK, "globex's key still works");

    // The webhook URL, as PUT /v1/account/webhook sets it; a bad one refused at its field.
    let set = dev.post("/console/integration/webhook", &[("url", "https://hooks.acme.example/sms")]).await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let (_, account) = gw.as_customer(&acme.key, Method::GET, "/account", None).await;
    assert_eq!(account["webhook_url"], "https://hooks.acme.example/sms");
    let bad = dev.post("/console/integration/webhook", &[("url", "ftp://hooks.acme.example")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.shows("class=\"field-error\"").shows("value=\"ftp://hooks.acme.example\"");

    // Rotating the secret shows the new one once, the one the API now signs with.
    let rotated = dev.post("/console/integration/webhook-secret", &[]).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_secret = text_of(&rotated.body, "new-webhook-secret");
    let (_, account) = gw.as_customer(&acme.key, Method::GET, "/account", None).await;
    assert_eq!(account["webhook_secret"], new_secret.as_str());
    assert_ne!(new_secret, "");
    dev.get("/console/integration").await.hides(&new_secret).shows(&new_secret[new_secret.len() - 4..]);

    // The notifier's attempts are listed: first at a port nobody listens on, which fails …
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let refusing = format!("http://{}/refused", closed.local_addr().expect("addr"));
    drop(closed);
    let set = dev.post("/console/integration/webhook", &[("url", refusing.as_str())]).await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    gw.send_one(&acme, "+8613800138000", "hello").await;
    let failed = wait_for_page(&mut dev, "/console/integration", "status-failed").await;
    failed.shows("class=\"delivery-row\"").shows(&refusing).hides("status-delivered").hides("no-deliveries");

    // … then at a receiver that takes them, checking the signature with the new secret.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sink_url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    let counts = Arc::new(SinkCounts::default());
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let (sink, clock, secret) = (counts.clone(), Arc::new(gw.clock.clone()), new_secret.clone());
    tokio::spawn(async move { webhook_sink::serve(listener, &secret, sink, false, clock, stopped).await });
    let set = dev.post("/console/integration/webhook", &[("url", sink_url.as_str())]).await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let id = gw.send_one(&acme, "+8613800138000", "again").await;
    gw.wait_final(&acme, &id).await;
    let delivered = wait_for_page(&mut dev, "/console/integration", "status-delivered").await;
    delivered.shows(&sink_url).shows(&refusing);
    let (newest, oldest) = (delivered.body.find(&sink_url), delivered.body.find(&refusing));
    assert!(newest < oldest, "newest first:\n{}", delivered.body);
    assert_eq!(counts.bad_signatures.load(std::sync::atomic::Ordering::Relaxed), 0);
    // Another customer sees none of them.
    let mut other = gw.portal_visitor(&globex.id, "developer").await;
    other.get("/console/integration").await.shows("id=\"no-deliveries\"").hides(&sink_url);

    // A viewer looks but changes nothing.
    let mut viewer = gw.portal_visitor(&acme.id, "viewer").await;
    viewer.get("/console/integration").await.shows("acme01").hides("id=\"key-form\"").hides("webhook-form");
    let page = viewer.post("/console/integration/keys", &[("label", "x")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(viewer.post("/console/integration/webhook-secret", &[]).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn console_account_statements_show_a_month_and_its_csv_and_refuse_bad_months_at_the_field() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let (status, _) = gw.send_text(&acme, "+8613800138000", "hello").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut viewer = gw.portal_visitor(&acme.id, "viewer").await;

    let page = viewer.get("/console/statements").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (_, api) = gw.as_customer(&acme.key, Method::GET, "/statements/2026-06", None).await;
    assert_eq!(text_of(&page.body, "statement-of"), "2026-06");
    assert_eq!(text_of(&page.body, "opening-balance"), api["opening_balance"].as_str().expect("opening"));
    assert_eq!(text_of(&page.body, "topups-total"), api["topups"]["amount"].as_str().expect("topups"));
    assert_eq!(text_of(&page.body, "charges-total"), api["charges"]["amount"].as_str().expect("charges"));
    assert_eq!(text_of(&page.body, "closing-balance"), api["closing_balance"].as_str().expect("closing"));
    page.shows("id=\"charges-by-day\"")
        .shows("2026-06-01")
        .shows("status-running")
        .shows("href=\"/console/statements/2026-06/csv\"");

    // In Chinese, as the reader asks.
    viewer.language = Some("zh-CN".into());
    viewer.get("/console/statements").await.shows("期初余额").shows("下载 CSV");
    viewer.language = None;

    let csv = viewer.get("/console/statements/2026-06/csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let disposition = csv.headers["content-disposition"].to_str().expect("ascii");
    assert_eq!(disposition, format!("attachment; filename=\"statement-{}-2026-06.csv\"", acme.id));
    let api_csv = gw
        .http
        .get(format!("{}/v1/statements/2026-06?format=csv", gw.base))
        .bearer_auth(&acme.key)
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("body");
    assert_eq!(csv.body, api_csv, "the console's CSV is the API's");

    let bad = viewer.get("/console/statements?month=2026-13").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.shows("class=\"field-error\"").shows("month must be YYYY-MM").hides("id=\"statement-of\"");
    let later = viewer.get("/console/statements?month=2026-08").await;
    assert_eq!(later.status, StatusCode::UNPROCESSABLE_ENTITY);
    later.shows("class=\"field-error\"").shows("has not begun");
    assert_eq!(viewer.get("/console/statements/2026-08/csv").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn console_account_tickets_are_opened_and_answered_and_another_customers_are_not_found() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let globex = gw.onboard("globex", "10.00").await;
    let mut dev = gw.portal_visitor(&acme.id, "developer").await;

    let list = dev.get("/console/tickets").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    list.shows("id=\"ticket-form\"").shows("id=\"no-tickets\"");

    let fields = [("kind", "inquiry"), ("subject", "Sender names"), ("body", "How do we register one?")];
    let opened = dev.post("/console/tickets", &fields).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    let location = opened.location().expect("to the ticket").to_owned();
    assert!(location.starts_with("/console/tickets/tkt_") && location.ends_with("?done=opened"), "{location}");
    let id = location.trim_start_matches("/console/tickets/").trim_end_matches("?done=opened").to_owned();
    let (status, ticket) = gw.as_customer(&acme.key, Method::GET, &format!("/tickets/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ticket["subject"], "Sender names");
    dev.get(&location).await.shows("id=\"ticket-thread\"").shows("How do we register one?").shows("id=\"reply-form\"");
    dev.get("/console/tickets").await.shows("class=\"ticket-row\"").shows("Sender names");

    // A billing dispute names messages: a wrong id is refused under its input.
    let message = gw.send_one(&acme, "+8613800138000", "hello").await;
    let dispute = [("kind", "billing_dispute"), ("subject", "Charged twice"), ("body", "See the message")];
    let wrong = dev.post("/console/tickets", &[&dispute[..], &[("message_ids", "not-an-id")]].concat()).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.body);
    wrong.shows("class=\"field-error\"").shows("message_ids[0]").shows("Charged twice");
    let prefilled = dev.get(&format!("/console/tickets?kind=billing_dispute&message={message}")).await;
    prefilled.shows(&format!(">{message}</textarea>"));
    let filed = dev.post("/console/tickets", &[&dispute[..], &[("message_ids", message.as_str())]].concat()).await;
    assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
    let dispute_id =
        filed.location().expect("ticket").trim_start_matches("/console/tickets/").replace("?done=opened", "");
    let (_, ticket) = gw.as_customer(&acme.key, Method::GET, &format!("/tickets/{dispute_id}"), None).await;
    assert_eq!(ticket["kind"], "billing_dispute");
    assert_eq!(ticket["message_ids"], json!([message]));

    // Replies: the customer's, refused when empty; the operator's answer shows in the thread.
    let empty = dev.post(&format!("/console/tickets/{id}/replies"), &[("body", "  ")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    empty.shows("class=\"field-error\"");
    let replied = dev.post(&format!("/console/tickets/{id}/replies"), &[("body", "Any news?")]).await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER, "{}", replied.body);
    let (status, _) =
        gw.admin(Method::POST, &format!("/tickets/{id}/replies"), Some(json!({"body": "Form 12."}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, ticket) = gw.as_customer(&acme.key, Method::GET, &format!("/tickets/{id}"), None).await;
    assert_eq!(ticket["replies"][0]["body"], "Any news?");
    dev.get(&format!("/console/tickets/{id}")).await.shows("Any news?").shows("Form 12.").shows("post-operator");

    // The list's filter by status.
    let open = dev.get("/console/tickets?status=open").await;
    open.shows("Charged twice").hides("Sender names");
    dev.get("/console/tickets?status=answered").await.shows("Sender names").hides("Charged twice");
    assert_eq!(dev.get("/console/tickets?status=lost").await.status, StatusCode::BAD_REQUEST);

    // A viewer reads but does not write; another customer's ticket is not found.
    let mut viewer = gw.portal_visitor(&acme.id, "viewer").await;
    viewer.get(&format!("/console/tickets/{id}")).await.shows("Form 12.").hides("id=\"reply-form\"");
    let page = viewer.post(&format!("/console/tickets/{id}/replies"), &[("body", "x")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(viewer.post("/console/tickets", &fields).await.status, StatusCode::FORBIDDEN);
    let mut other = gw.portal_visitor(&globex.id, "admin").await;
    assert_eq!(other.get(&format!("/console/tickets/{id}")).await.status, StatusCode::NOT_FOUND);
    let page = other.post(&format!("/console/tickets/{id}/replies"), &[("body", "mine now")]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    other.get("/console/tickets").await.hides("Sender names");
}

#[tokio::test]
async fn console_account_notices_are_read_by_opening_the_agreement_is_accepted_and_both_stay_open_when_suspended() {
    let gw = TestGateway::spawn().await;
    let (acme, key) = gw.create_customer("acme").await;
    let agreement = gw.create_agreement(&acme, TestGateway::terms(TODAY)).await;
    gw.sign(&agreement).await;
    let globex = gw.onboard("globex", "10.00").await;
    let mut admin = gw.portal_visitor(&acme, "admin").await;
    let mut dev = gw.portal_visitor(&acme, "developer").await;

    // The agreement, not accepted yet: the box must be ticked, and only an admin accepts.
    let page = admin.get("/console/agreement").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.shows("id=\"accept-form\"").shows("Test Provider Ltd.").shows("id=\"agreement-versions\"");
    assert_eq!(text_of(&page.body, "terms-version"), "v1");
    dev.get("/console/agreement").await.hides("id=\"accept-form\"");
    let unticked = admin.post("/console/agreement/accept", &[("terms_version", "v1")]).await;
    assert_eq!(unticked.status, StatusCode::BAD_REQUEST);
    unticked.shows("class=\"field-error\"").shows("tick the box");
    let wrong = admin.post("/console/agreement/accept", &[("terms_version", "v0"), ("agree", "yes")]).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
    let page = dev.post("/console/agreement/accept", &[("terms_version", "v1"), ("agree", "yes")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let accepted = admin.post("/console/agreement/accept", &[("terms_version", "v1"), ("agree", "yes")]).await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    let (_, view) = gw.as_customer(&key, Method::GET, "/agreement", None).await;
    assert_eq!(view["accepted_terms_version"], "v1");
    assert_eq!(view["state"], "active");
    admin.get("/console/agreement?done=accepted").await.hides("id=\"accept-form\"").shows("status-active");

    // A maintenance notice, unread in the list and the menu, read by opening it.
    let window = json!({
        "starts_at": rfc3339(gw.clock_now() + 5 * DAY),
        "ends_at": rfc3339(gw.clock_now() + 5 * DAY + 3_600_000),
        "carriers": [], "services": ["smpp"], "description": "Replacing the SMPP front end",
        "customers": [acme.clone()],
    });
    let (status, body) = gw.admin(Method::POST, "/maintenance", Some(window)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let list = dev.get("/console/notices").await;
    assert_eq!(list.status, StatusCode::OK);
    list.shows("class=\"notice unread\"").shows("class=\"badge\">1<");
    let notice = id_after(&list.body, "class=\"notice unread\" id=\"notice-", "");
    let one = dev.get(&format!("/console/notices/{notice}")).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    one.shows("Replacing the SMPP front end").hides("class=\"badge\"");
    dev.get("/console/notices").await.hides("notice unread").hides("class=\"badge\"");
    let (_, notices) = gw.as_customer(&key, Method::GET, "/notices", None).await;
    assert!(notices["notices"][0]["read_at"].is_string(), "{notices}");
    let mut other = gw.portal_visitor(&globex.id, "viewer").await;
    assert_eq!(other.get(&format!("/console/notices/{notice}")).await.status, StatusCode::NOT_FOUND);

    // Suspended: the account pages of clauses 3.5-3.8 stay open, integration does not.
    let (status, body) =
        gw.admin(Method::POST, &format!("/agreements/{agreement}/suspend"), Some(json!({"reason": "unpaid"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for path in ["/console/agreement", "/console/notices", "/console/tickets", "/console/statements"] {
        let page = dev.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    }
    dev.get("/console/agreement").await.shows("unpaid").shows("status-suspended");
    // A customer whose agreement is still being prepared sees that, not an error.
    let (initech, _) = gw.create_customer("initech").await;
    let mut newcomer = gw.portal_visitor(&initech, "admin").await;
    let page = newcomer.get("/console/agreement").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.shows("id=\"no-agreement\"").hides("id=\"accept-form\"");

    let integration = dev.get("/console/integration").await;
    assert_eq!(integration.location(), Some("/console/suspended"));
}

#[tokio::test]
async fn console_account_users_are_added_changed_and_disabled_by_an_admin_of_that_customer_only() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let globex = gw.onboard("globex", "10.00").await;
    let mut admin = gw.portal_visitor(&acme.id, "admin").await;

    let page = admin.get("/console/users").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.shows("class=\"user-row\"").shows("admin@").shows("id=\"user-form\"");

    // A new user with a generated password, shown once, that signs in.
    let added = admin.post("/console/users", &[("email", "Dev2@Acme.example"), ("role", "viewer")]).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let password = text_of(&added.body, "new-password");
    assert!(password.len() >= 10, "{password}");
    admin.get("/console/users").await.hides(&password).shows("dev2@acme.example");
    let mut newcomer = Visitor::new(&gw, "/console");
    newcomer.sign_in("dev2@acme.example", &password).await;

    let again = admin.post("/console/users", &[("email", "dev2@acme.example"), ("role", "viewer")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    again.shows("class=\"field-error\"").shows("already exists");
    let bad_role = admin.post("/console/users", &[("email", "x@acme.example"), ("role", "owner")]).await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);
    bad_role.shows("class=\"field-error\"").shows("unknown customer role");

    let users = gw.platform().console_users(ConsoleArea::Customer, Some(&acme.id)).await.expect("users");
    let user = users.iter().find(|u| u.email == "dev2@acme.example").expect("the new user").id.clone();
    let me = users.iter().find(|u| u.role == "admin").expect("the admin").id.clone();

    let changed = admin.post(&format!("/console/users/{user}"), &[("role", "developer")]).await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(changed.location(), Some("/console/users?done=role"));
    let users = gw.platform().console_users(ConsoleArea::Customer, Some(&acme.id)).await.expect("users");
    assert_eq!(users.iter().find(|u| u.id == user).expect("user").role, "developer");

    let disabled = admin.post(&format!("/console/users/{user}"), &[("disabled", "true")]).await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    admin.get("/console/users?done=disabled").await.shows("status-disabled").shows("class=\"done\"");
    assert_eq!(newcomer.get("/console/").await.status, StatusCode::SEE_OTHER, "the session ended");
    let refused = Visitor::new(&gw, "/console").try_sign_in("dev2@acme.example", &password).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let enabled = admin.post(&format!("/console/users/{user}"), &[("disabled", "false")]).await;
    assert_eq!(enabled.status, StatusCode::SEE_OTHER);
    // The audit trail names the admin who acted, not the bare operator.
    let trail = gw.platform().audit_trail(None, 50).await.expect("audit");
    let change = trail.iter().find(|r| r.entry.action == "console_user.change" && r.entry.target == user);
    assert_eq!(change.expect("audited").entry.actor, format!("customer:admin@{}.example", acme.id));

    // No admin locks the account out by itself.
    let own = admin.post(&format!("/console/users/{me}"), &[("disabled", "true")]).await;
    assert_eq!(own.status, StatusCode::CONFLICT);
    own.shows("class=\"problem\"").shows("cannot demote or disable yourself");

    // Developers do not manage users; another customer's admin finds no such user.
    let mut dev = gw.portal_visitor(&acme.id, "developer").await;
    assert_eq!(dev.get("/console/users").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        dev.post("/console/users", &[("email", "y@acme.example"), ("role", "admin")]).await.status,
        StatusCode::FORBIDDEN
    );
    let mut other = gw.portal_visitor(&globex.id, "admin").await;
    let foreign = other.post(&format!("/console/users/{user}"), &[("disabled", "true")]).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    other.get("/console/users").await.hides("dev2@acme.example");
    let users = gw.platform().console_users(ConsoleArea::Customer, Some(&acme.id)).await.expect("users");
    assert!(users.iter().find(|u| u.id == user).expect("user").disabled_at.is_none());
}
