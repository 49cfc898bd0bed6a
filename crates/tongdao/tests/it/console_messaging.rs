//! The portal's sending pages over HTTP (see `console.rs` for the Visitor): the send form
//! and its live quote, the message log and a message's timeline, contacts and opt-outs,
//! signatures and templates. Effects are checked through the API.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::console::*;
use super::harness::*;

const TO: &str = "13800138000";
const FRAUD: &str = "兼职刷单，日赚三百";

async fn list(gw: &TestGateway, sender: &Sender, path: &str) -> Value {
    let (status, body) = gw.as_customer(&sender.key, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A refusal as shown next to its field.
const INVALID_NUMBER: &str = "<p class=\"field-error\" role=\"alert\">a recipient is not a valid mobile number";

/// Panics unless `text` is on the page between `from` and `to` (next to a field).
#[track_caller]
fn shown_between(page: &Page, from: &str, to: &str, text: &str) {
    let start = page.body.find(from).unwrap_or_else(|| panic!("no {from:?} on the page:\n{}", page.body));
    let end = page.body[start..].find(to).map_or(page.body.len(), |e| start + e);
    assert!(page.body[start..end].contains(text), "{text:?} is not between {from:?} and {to:?}:\n{}", page.body);
}

/// The message id a page redirected to (`/console/messages/msg_…?done=sent`).
fn message_of(page: &Page) -> String {
    let to = page.location().unwrap_or_else(|| panic!("no redirect ({}):\n{}", page.status, page.body));
    let id = to.strip_prefix("/console/messages/").and_then(|r| r.split('?').next()).unwrap_or("");
    assert!(id.starts_with("msg_"), "{to}");
    id.to_owned()
}

#[tokio::test]
async fn console_messaging_send_quotes_live_and_a_double_click_sends_once() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let mut portal = gw.portal_visitor(&acme.id, "developer").await;

    let form = portal.get("/console/send").await;
    assert_eq!(form.status, StatusCode::OK);
    form.shows("id=\"send-form\"").shows("hx-post=\"/console/send/quote\"").shows("id=\"quote\"").hides("disabled");
    let key = input_value(&form.body, "idempotency_key").expect("a fresh idempotency key");
    assert_ne!(key, input_value(&portal.get("/console/send").await.body, "idempotency_key").unwrap_or_default());

    // The live quote: counted with no recipient yet, priced with one, a refusal in the fragment.
    let counted = portal.htmx("/console/send/quote", &[("to", ""), ("text", "hello")]).await;
    assert_eq!(counted.status, StatusCode::OK);
    counted.shows("id=\"quote-segments\">1<").shows("gsm7").hides("quote-total").hides("<html");
    let long = "中".repeat(71);
    let priced = portal.htmx("/console/send/quote", &[("to", &format!("{TO}\n13900139000")), ("text", &long)]).await;
    priced.shows("id=\"quote-segments\">2<").shows("ucs2").shows("id=\"quote-each\">0.0900<");
    priced.shows("id=\"quote-total\">0.1800<");
    let refused = portal.htmx("/console/send/quote", &[("to", "12345"), ("text", "hello")]).await;
    assert_eq!(refused.status, StatusCode::OK, "htmx swaps only 2xx answers");
    refused.shows("id=\"quote-problem\"").shows("12345").hides("quote-total");
    portal.htmx("/console/send/quote", &[("to", TO), ("text", FRAUD)]).await.shows("id=\"quote-refused\"");
    assert_eq!(gw.balance(&acme).await, "10.0000", "a quote charges nothing");

    // Sent; the same form posted again (a double click) sends nothing more.
    let fields = [("to", TO), ("text", "your code is 1234"), ("idempotency_key", key.as_str())];
    let sent = portal.post("/console/send", &fields).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let id = message_of(&sent);
    let again = portal.post("/console/send", &fields).await;
    assert_eq!(message_of(&again), id, "the same message, replayed");
    let messages = list(&gw, &acme, "/messages").await;
    assert_eq!(messages["messages"].as_array().map(Vec::len), Some(1), "{messages}");
    assert_eq!(gw.balance(&acme).await, "9.9550");

    // Its page: the status, polled while it is on its way, and its timeline.
    let detail = portal.get(&format!("/console/messages/{id}?done=sent")).await;
    assert_eq!(detail.status, StatusCode::OK);
    detail.shows("id=\"sent-done\"").shows("id=\"message-status\" class=\"status status-queued\"");
    detail.shows("<ul class=\"timeline\"").shows("your code is 1234").shows("¥0.0450");
    detail.shows(&format!("hx-get=\"/console/messages/{id}/live\" hx-trigger=\"every 2s\""));
    let live = portal.get(&format!("/console/messages/{id}/live")).await;
    assert_eq!(live.status, StatusCode::OK);
    live.shows("id=\"message-live\"").shows("status-queued").hides("<html");

    // Several recipients: to the log.
    let fields = [("to", "13900139000, 13700137000"), ("text", "hi all")];
    let many = portal.post("/console/send", &fields).await;
    assert_eq!(many.location(), Some("/console/messages?done=sent"));
    portal.get("/console/messages?done=sent").await.shows("id=\"sent-done\"").shows("+8613700137000");
}

#[tokio::test]
async fn console_messaging_send_refusals_show_at_their_field() {
    let gw = TestGateway::spawn().await;
    let poor = gw.onboard("poor", "0.01").await;
    let mut portal = gw.portal_visitor(&poor.id, "admin").await;
    portal.get("/console/send").await;

    let bad = portal.post("/console/send", &[("to", &format!("{TO}\n12345")), ("text", "hello")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    bad.shows(&format!("{TO}\n12345</textarea>")).hides("id=\"send-not-allowed\"");
    shown_between(&bad, "id=\"send-to\"", "id=\"send-text\"", &format!("{INVALID_NUMBER} — 12345: "));
    let empty = portal.post("/console/send", &[("to", TO), ("text", "")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    empty.shows("write a text, or choose a template");
    let broke = portal.post("/console/send", &[("to", TO), ("text", "hello")]).await;
    assert_eq!(broke.status, StatusCode::PAYMENT_REQUIRED, "{}", broke.body);
    broke.shows("id=\"send-problem\"");
    let fraud = portal.post("/console/send", &[("to", TO), ("text", FRAUD)]).await;
    assert_eq!(fraud.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", fraud.body);
    let scheduled = portal.post("/console/send", &[("to", TO), ("text", "x"), ("send_at", "2027-06-01T12:00")]).await;
    assert_eq!(scheduled.status, StatusCode::BAD_REQUEST);
    scheduled.shows("send_at may be at most 30 days ahead");
    assert!(list(&gw, &poor, "/messages").await["messages"].as_array().is_some_and(Vec::is_empty));

    // In Chinese, the refusal reads in Chinese.
    portal.language = Some("zh-CN".into());
    let zh = portal.post("/console/send", &[("to", "12345"), ("text", "hello")]).await;
    zh.shows("接收号码不是有效的手机号码").shows("发送");
}

#[tokio::test]
async fn console_messaging_a_viewer_sees_the_send_page_but_may_not_send() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let mut viewer = gw.portal_visitor(&acme.id, "viewer").await;
    let page = viewer.get("/console/send").await;
    assert_eq!(page.status, StatusCode::OK);
    page.shows("id=\"send-not-allowed\"").shows("class=\"send-fields\" disabled");
    let refused = viewer.post("/console/send", &[("to", TO), ("text", "hello")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = viewer.post("/console/contacts", &[("number", TO), ("kind", "customer")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = viewer.post("/console/templates/signatures", &[("text", "Acme")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(list(&gw, &acme, "/messages").await["messages"].as_array().is_some_and(Vec::is_empty));
    // Reading is open to the viewer, writing forms are not shown.
    viewer.get("/console/messages").await.shows("id=\"messages-filter\"");
    viewer.get("/console/contacts").await.shows("id=\"contacts\"").hides("id=\"contact-form\"");
    viewer.get("/console/templates").await.shows("id=\"signatures\"").hides("id=\"signature-form\"");
}

#[tokio::test]
async fn console_messaging_the_log_filters_pages_and_cancels_and_hides_other_customers() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let other = gw.onboard("other", "10.00").await;
    let (_, one) = gw.send_text(&acme, TO, "first").await;
    let (_, two) = gw.send_text(&acme, "13900139000", "second").await;
    let later = tongdao_domain::clock::rfc3339(gw.clock_now() + 3_600_000);
    let (_, three) = gw.send(&acme, json!({"to": TO, "text": "later", "send_at": later})).await;
    let (_, foreign) = gw.send_text(&other, TO, "not yours").await;
    let id = |body: &Value| body["messages"][0]["id"].as_str().expect("id").to_owned();
    let (one, two, three, foreign) = (id(&one), id(&two), id(&three), id(&foreign));

    let mut portal = gw.portal_visitor(&acme.id, "developer").await;
    let log = portal.get("/console/messages").await;
    assert_eq!(log.status, StatusCode::OK);
    log.shows(&format!("href=\"/console/messages/{one}\"")).shows(&two).shows(&three).hides(&foreign);
    assert_eq!(log.body.matches("class=\"message-row\"").count(), 3);
    let by_number = portal.get("/console/messages?to=13900139000&status=&since=&until=").await;
    by_number.shows(&two).hides(&one).shows("value=\"13900139000\"");
    let scheduled = portal.get("/console/messages?status=scheduled").await;
    scheduled.shows(&three).hides(&two).shows("value=\"scheduled\" selected");
    portal.get("/console/messages?since=2026-06-02").await.shows("id=\"no-messages\"");
    portal.get("/console/messages?since=2026-06-01&until=2026-06-01").await.shows(&one);
    let bad = portal.get("/console/messages?to=12345").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.shows("class=\"field-error\"");
    // The filter form's htmx request gets the table alone, a refusal in it and still 200.
    let cookies: Vec<String> = portal.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let table = |query: &str| {
        portal
            .http
            .get(format!("{}/console/messages?{query}", portal.base))
            .header("cookie", cookies.join("; "))
            .header("hx-request", "true")
            .header("hx-target", "messages-table")
            .send()
    };
    let swapped = table("status=scheduled").await.expect("htmx GET");
    assert_eq!(swapped.status(), StatusCode::OK);
    let swapped = swapped.text().await.expect("body");
    assert!(swapped.starts_with("<div id=\"messages-table\">") && swapped.contains(&three) && !swapped.contains(&two));
    let refused = table("to=12345").await.expect("htmx GET");
    assert_eq!(refused.status(), StatusCode::OK);
    assert!(refused.text().await.expect("body").contains("id=\"filter-problem\""));
    let older = portal.get(&format!("/console/messages?before={three}")).await;
    older.hides(&format!("row-{three}")).shows(&two);

    // Another customer's message is not found, to read or to cancel.
    assert_eq!(portal.get(&format!("/console/messages/{foreign}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(portal.get(&format!("/console/messages/{foreign}/live")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(portal.post(&format!("/console/messages/{foreign}/cancel"), &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(gw.message(&other, &foreign).await.1["status"], "queued");

    // The scheduled one is cancelled and refunded; twice is refused on the page.
    let detail = portal.get(&format!("/console/messages/{three}")).await;
    detail.shows("id=\"cancel-message\"").shows("status-scheduled");
    let cancelled = portal.post(&format!("/console/messages/{three}/cancel"), &[]).await;
    assert_eq!(cancelled.location(), Some(format!("/console/messages/{three}?done=cancelled").as_str()));
    assert_eq!(gw.message(&acme, &three).await.1["status"], "cancelled");
    assert_eq!(gw.balance(&acme).await, "9.9100");
    let page = portal.get(&format!("/console/messages/{three}?done=cancelled")).await;
    page.shows("id=\"cancel-done\"").shows("status-cancelled").hides("id=\"cancel-message\"").hides("every 2s");
    let twice = portal.post(&format!("/console/messages/{three}/cancel"), &[]).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    twice.shows("id=\"cancel-problem\"");

    // A viewer reads the log but has no cancel button and may not cancel.
    let mut viewer = gw.portal_visitor(&acme.id, "viewer").await;
    viewer.get(&format!("/console/messages/{one}")).await.shows("status-queued").hides("id=\"cancel-message\"");
    assert_eq!(viewer.post(&format!("/console/messages/{one}/cancel"), &[]).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn console_messaging_contacts_are_added_searched_imported_exported_and_opted_out() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let other = gw.onboard("other", "10.00").await;
    let (status, _) = gw
        .as_customer(&other.key, Method::POST, "/contacts", Some(json!({"number": "13600136000", "kind": "staff"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut portal = gw.portal_visitor(&acme.id, "admin").await;
    portal.get("/console/contacts").await.shows("id=\"no-contacts\"").shows("id=\"contact-form\"");

    let fields = [("number", TO), ("name", "Li Lei"), ("kind", "customer"), ("tags", "vip, beijing")];
    let added = portal.post("/console/contacts", &fields).await;
    assert_eq!(added.location(), Some("/console/contacts?done=added"));
    let contact = list(&gw, &acme, "/contacts/+8613800138000").await;
    assert_eq!((contact["name"].as_str(), contact["tags"].clone()), (Some("Li Lei"), json!(["vip", "beijing"])));
    let bad = portal.post("/console/contacts", &[("number", "12345"), ("name", "Han"), ("kind", "staff")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.shows("value=\"12345\"");
    shown_between(&bad, "id=\"contact-number\"", "id=\"contact-name\"", INVALID_NUMBER);

    let csv = "number,name,kind,tags\n13900139000,Han Meimei,staff,team;a\n12,bad,staff,\n13700137000,,customer,\n";
    let imported = portal.post("/console/contacts/import", &[("csv", csv)]).await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    imported.shows("id=\"import-imported\">2<").shows("id=\"import-rejected\">1<").shows("3: invalid_number");
    let not_csv = portal.post("/console/contacts/import", &[("csv", "just text")]).await;
    assert_eq!(not_csv.status, StatusCode::BAD_REQUEST);
    not_csv.shows("the first line must name the columns").shows("just text</textarea>");

    let all = portal.get("/console/contacts").await;
    assert_eq!(all.body.matches("class=\"contact-row\"").count(), 3, "{}", all.body);
    all.hides("13600136000");
    let found = portal.get("/console/contacts?q=han").await;
    assert_eq!(found.body.matches("class=\"contact-row\"").count(), 1);
    found.shows("Han Meimei");
    portal.get("/console/contacts?q=139001").await.shows("Han Meimei").hides("Li Lei");
    portal.get("/console/contacts?q=vip").await.shows("Li Lei").hides("Han Meimei");
    let export = portal.get("/console/contacts/export").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.headers.get("content-type").is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/csv")));
    assert!(export.body.starts_with("number,name,kind,tags") && export.body.contains("Han Meimei"), "{}", export.body);

    let deleted = portal.post("/console/contacts/%2B8613700137000/delete", &[]).await;
    assert_eq!(deleted.location(), Some("/console/contacts?done=deleted"));
    assert_eq!(gw.as_customer(&acme.key, Method::GET, "/contacts/+8613700137000", None).await.0, StatusCode::NOT_FOUND);
    // Another customer's contact is not found here, and stays.
    assert_eq!(portal.post("/console/contacts/13600136000/delete", &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(gw.as_customer(&other.key, Method::GET, "/contacts/13600136000", None).await.0, StatusCode::OK);

    // Opt-outs.
    let out = portal.post("/console/suppressions", &[("number", TO), ("reason", "asked by phone")]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    portal.get("/console/contacts").await.shows("class=\"suppression-row\"").shows("asked by phone");
    let (status, body) = gw.send_text(&acme, TO, "hello").await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "recipient_opted_out"), "{body}");
    let bad = portal.post("/console/suppressions", &[("number", "1")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.shows("id=\"suppression-number\" inputmode=\"tel\" required value=\"1\"");
    let back = portal.post("/console/suppressions/%2B8613800138000/delete", &[]).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert_eq!(gw.send_text(&acme, TO, "hello").await.0, StatusCode::ACCEPTED);
    let gone = portal.post("/console/suppressions/%2B8613800138000/delete", &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn console_messaging_signatures_and_templates_are_submitted_listed_deleted_and_sent() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10.00").await;
    let other = gw.onboard("other", "10.00").await;
    let (_, foreign) = gw
        .as_customer(&other.key, Method::POST, "/templates", Some(json!({"name": "theirs", "text": "hi ${name}"})))
        .await;
    let foreign = foreign["id"].as_str().expect("id").to_owned();
    let mut portal = gw.portal_visitor(&acme.id, "developer").await;
    portal.get("/console/templates").await.shows("id=\"no-signatures\"").shows("id=\"no-templates\"").hides("theirs");

    let signed = portal.post("/console/templates/signatures", &[("text", "【Acme】")]).await;
    assert_eq!(signed.location(), Some("/console/templates?done=signature"));
    let short = portal.post("/console/templates/signatures", &[("text", "A")]).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    short.shows("id=\"signature-text\" required value=\"A\"").shows("a signature is 2-12 characters");
    let text = "Your code is ${code}.";
    let made = portal.post("/console/templates/templates", &[("name", "login"), ("text", text)]).await;
    assert_eq!(made.location(), Some("/console/templates?done=template"));
    let scam = portal.post("/console/templates/templates", &[("name", "scam"), ("text", FRAUD)]).await;
    assert_eq!(scam.status, StatusCode::UNPROCESSABLE_ENTITY);

    let page = portal.get("/console/templates?done=template").await;
    page.shows("id=\"review-done\"").shows("class=\"signature-row\"").shows("【Acme】").shows("status-pending");
    page.shows("class=\"template-row\"").shows("Your code is ${code}.");
    let templates = list(&gw, &acme, "/templates").await;
    let id = templates["templates"][0]["id"].as_str().expect("template").to_owned();
    let signatures = list(&gw, &acme, "/signatures").await;
    let signature = signatures["signatures"][0]["id"].as_str().expect("signature").to_owned();

    // Approved, the template is offered on the send form and sent with its values.
    let (status, _) = gw.admin(Method::POST, &format!("/templates/{id}/approve"), None).await;
    assert_eq!(status, StatusCode::OK);
    portal.get("/console/templates").await.shows("status-approved");
    let form = portal.get("/console/send").await;
    form.shows(&format!("<option value=\"{id}\">login</option>"));
    let quote = portal.htmx("/console/send/quote", &[("to", TO), ("template_id", &id), ("params", "code=4321")]).await;
    quote.shows("id=\"quote-total\">0.0450<");
    let sent = portal.post("/console/send", &[("to", TO), ("template_id", &id), ("params", "code=4321")]).await;
    let message = message_of(&sent);
    assert_eq!(gw.message(&acme, &message).await.1["text"], "Your code is 4321.");
    let missing = portal.post("/console/send", &[("to", TO), ("template_id", &id)]).await;
    assert!(missing.status.is_client_error(), "{}", missing.status);
    missing.shows(&format!("<option value=\"{id}\" selected>"));

    // Deleted; another customer's is not found and stays.
    let gone = portal.post(&format!("/console/templates/signatures/{signature}/delete"), &[]).await;
    assert_eq!(gone.location(), Some("/console/templates?done=deleted"));
    assert!(list(&gw, &acme, "/signatures").await["signatures"].as_array().is_some_and(Vec::is_empty));
    let refused = portal.post(&format!("/console/templates/templates/{foreign}/delete"), &[]).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(list(&gw, &other, "/templates").await["templates"].as_array().map(Vec::len), Some(1));
    let gone = portal.post(&format!("/console/templates/templates/{id}/delete"), &[]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    portal.get("/console/templates").await.shows("id=\"no-templates\"");
}

#[tokio::test]
async fn console_messaging_a_sent_message_is_watched_until_delivered_and_then_no_longer_polled() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let acme = gw.onboard("acme", "1").await;
    let mut portal = gw.portal_visitor(&acme.id, "admin").await;
    portal.get("/console/send").await;
    let sent = portal.post("/console/send", &[("to", TO), ("text", "您的验证码是 123456")]).await;
    let id = message_of(&sent);
    // What the page's htmx does every 2 s, faster.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let live = loop {
        let live = portal.get(&format!("/console/messages/{id}/live")).await;
        assert_eq!(live.status, StatusCode::OK, "{}", live.body);
        if live.body.contains("status-delivered\" data-status") {
            break live;
        }
        live.shows("hx-trigger=\"every 2s\"");
        assert!(std::time::Instant::now() < deadline, "never delivered:\n{}", live.body);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    live.hides("hx-trigger").hides("id=\"cancel-message\"").shows("class=\"event event-submitted\"");
    portal
        .get(&format!("/console/messages/{id}"))
        .await
        .shows("id=\"message-status\" class=\"status status-delivered\"");
}
