//! The operator console's daily work over real HTTP (see `console.rs` for the Visitor):
//! the dashboard, carriers, moderation, tickets, maintenance, breaches and the audit trail,
//! each form's effect checked through the API, refusals shown on their field, and roles.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tongdao_domain::ErrorCode;
use tongdao_domain::clock::rfc3339;

use super::console::*;
use super::harness::*;

const TO: &str = "+8613800138000";
/// A review-level term of the starter lexicon: the message is held for a person.
const DOUBTFUL: &str = "本周日结佣金已发放，请查收";
const DAY: i64 = 86_400_000;

fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).expect("status")
}

/// The `<tr>` of the page whose id is `id`, up to its end.
fn row<'a>(page: &'a Page, id: &str) -> &'a str {
    let at = page.body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no row {id}:\n{}", page.body));
    let rest = &page.body[at..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

#[tokio::test]
async fn console_ops_work_dashboard_and_carriers_show_the_live_state() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let acme = gw.onboard("acme", "10").await;
    gw.send_text(&acme, TO, DOUBTFUL).await;
    let (status, _) = gw
        .as_customer(
            &acme.key,
            Method::POST,
            "/tickets",
            Some(json!({"kind": "complaint", "subject": "Late", "body": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let mut admin = gw.ops_visitor("admin").await;
    let home = admin.get("/ops/").await;
    assert_eq!(home.status, StatusCode::OK);
    home.shows("id=\"customers\">1<")
        .shows("id=\"held-waiting\">1<")
        .shows("id=\"open-tickets\">1<")
        .shows(&format!("id=\"nearest-deadline\">{}<", "2026-06-16 12:00"))
        .shows("id=\"carrier-summary\"")
        .shows("simulator")
        .shows("<svg class=\"chart\" id=\"accept-counters\"");

    let carriers = admin.get("/ops/carriers").await;
    assert_eq!(carriers.status, StatusCode::OK);
    carriers
        .shows("id=\"carriers-table\"")
        .shows("hx-get=\"/ops/carriers/live\" hx-trigger=\"every 2s\"")
        .shows("id=\"carrier-simulator\"")
        .shows("class=\"num carrier-queue\"");
    let live = admin.get("/ops/carriers/live").await;
    assert_eq!(live.status, StatusCode::OK);
    assert!(live.body.starts_with("<div id=\"carriers-table\""), "a fragment: {}", live.body);
    live.hides("<html").shows("id=\"carrier-simulator\"");

    // Finance sees the dashboard, without the moderation queue's count.
    let mut finance = gw.ops_visitor("finance").await;
    finance.get("/ops/").await.shows("id=\"open-tickets\"").hides("id=\"held-waiting\"");
    finance.get("/ops/?lang=zh").await.shows("未处理工单");
}

#[tokio::test]
async fn console_ops_work_moderation_approves_deletes_and_reviews_as_the_console_user() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10").await;
    let (status, body) = gw.send(&acme, json!({"to": [TO, "+8613900139000"], "text": DOUBTFUL})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let first = body["messages"][0]["id"].as_str().expect("id").to_owned();
    let second = body["messages"][1]["id"].as_str().expect("id").to_owned();
    let (status, signature) =
        gw.as_customer(&acme.key, Method::POST, "/signatures", Some(json!({"text": "【Acme】"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{signature}");
    let signature = signature["id"].as_str().expect("id").to_owned();

    let mut moderator = gw.ops_visitor("moderator").await;
    let page = moderator.get("/ops/moderation").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("class=\"held-row\"").count(), 2, "{}", page.body);
    page.shows(DOUBTFUL)
        .shows("日结佣金")
        .shows("id=\"pending-signatures\"")
        .shows(&format!("id=\"review-{signature}\""));

    // A deletion needs a reason: refused, shown on its row, nothing changed.
    let refused = moderator.post(&format!("/ops/moderation/held/{second}/delete"), &[("reason", " ")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(row(&refused, &format!("held-{second}")).contains("class=\"field-error\""), "{}", refused.body);
    assert!(!row(&refused, &format!("held-{first}")).contains("field-error"));
    assert_eq!(gw.message(&acme, &second).await.1["status"], "held");

    let approved = moderator.post(&format!("/ops/moderation/held/{first}/approve"), &[("reason", "")]).await;
    assert_eq!((approved.status, approved.location()), (StatusCode::SEE_OTHER, Some("/ops/moderation?done=approved")));
    assert_eq!(gw.message(&acme, &first).await.1["status"], "queued");
    let deleted =
        moderator.post(&format!("/ops/moderation/held/{second}/delete"), &[("reason", "recruiting scam")]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert_eq!(gw.message(&acme, &second).await.1["status"], "deleted");
    let after = moderator.get("/ops/moderation?done=deleted").await;
    after.shows("id=\"done\"").hides("class=\"held-row\"").shows("class=\"violation-row\"").shows(&second);
    // Approving again: the API's conflict, shown on the page.
    let again = moderator.post(&format!("/ops/moderation/held/{first}/approve"), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    again.shows("class=\"problem\"");

    // A signature: rejecting needs a reason, approving does not.
    let path = format!("/ops/moderation/signatures/{signature}/reject");
    let refused = moderator.post(&path, &[("reason", "")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(row(&refused, &format!("review-{signature}")).contains("field-error"), "{}", refused.body);
    let approved = moderator.post(&format!("/ops/moderation/signatures/{signature}/approve"), &[]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let (_, list) = gw.admin(Method::GET, "/signatures?status=approved", None).await;
    assert_eq!(list["signatures"][0]["id"].as_str(), Some(signature.as_str()), "{list}");
    assert_eq!(moderator.post("/ops/moderation/lexicons/x/approve", &[]).await.status, StatusCode::NOT_FOUND);

    // The audit trail names the console user, not the bare operator token.
    let (_, audit) = gw.admin(Method::GET, "/audit", None).await;
    let entries = audit["entries"].as_array().expect("entries");
    let by_action = |action: &str| entries.iter().find(|e| e["action"] == action).cloned().unwrap_or(Value::Null);
    assert_eq!(by_action("message.approve")["actor"], "operator:moderator@ops.example", "{audit}");
    assert_eq!(by_action("message.delete")["reason"], "recruiting scam");
    assert_eq!(by_action("signature.approve")["actor"], "operator:moderator@ops.example");

    // Support sees the queue but may not decide; finance does not see it at all.
    let (_, body) = gw.send_text(&acme, TO, DOUBTFUL).await;
    let third = body["messages"][0]["id"].as_str().expect("id").to_owned();
    let mut support = gw.ops_visitor("support").await;
    support.get("/ops/moderation").await.shows("class=\"held-row\"").hides("approve-form");
    let forbidden = support.post(&format!("/ops/moderation/held/{third}/approve"), &[]).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(gw.message(&acme, &third).await.1["status"], "held");
    let mut finance = gw.ops_visitor("finance").await;
    assert_eq!(finance.get("/ops/moderation").await.status, StatusCode::FORBIDDEN);
}

async fn open_ticket(gw: &TestGateway, sender: &Sender, kind: &str) -> String {
    let body = json!({"kind": kind, "subject": format!("About {kind}"), "body": "Please look into it."});
    let (status, ticket) = gw.as_customer(&sender.key, Method::POST, "/tickets", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    ticket["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn console_ops_work_tickets_are_answered_moved_and_settled_with_their_deadlines() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10").await;
    let complaint = open_ticket(&gw, &acme, "complaint").await;
    let dispute = open_ticket(&gw, &acme, "billing_dispute").await;
    // Past the complaint's 15 days (sessions are opened after, on the moved clock).
    gw.clock.set(gw.clock_now() + 16 * DAY);

    let mut support = gw.ops_visitor("support").await;
    let list = support.get("/ops/tickets").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(row(&list, &format!("ticket-{complaint}")).contains("2026-06-16 12:00"), "its deadline");
    list.shows(&format!("class=\"ticket-row overdue\" id=\"ticket-{complaint}\""))
        .shows(&format!("class=\"ticket-row\" id=\"ticket-{dispute}\""));
    let overdue = support.get("/ops/tickets?overdue=true&status=&kind=&customer=acme").await;
    overdue.shows(&complaint).hides(&format!("ticket-{dispute}"));
    let unknown = support.get("/ops/tickets?customer=nobody").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    unknown.shows("value=\"nobody\"").shows("class=\"field-error\"").shows("id=\"ticket-filter\"");

    let page = support.get(&format!("/ops/tickets/{complaint}")).await;
    assert_eq!(page.status, StatusCode::OK);
    page.shows("id=\"ticket-thread\"")
        .shows("Please look into it.")
        .shows("id=\"answer-form\"")
        .hides("id=\"settle-form\"");
    assert!(page.body.contains("id=\"ticket-status\" class=\"status status-open\""));

    let empty = support.post(&format!("/ops/tickets/{complaint}/answer"), &[("body", "  ")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    empty.shows("class=\"field-error\"");
    let answered = support.post(&format!("/ops/tickets/{complaint}/answer"), &[("body", "We are on it.")]).await;
    assert_eq!(answered.location(), Some(format!("/ops/tickets/{complaint}?done=answered").as_str()));
    let (_, ticket) = gw.admin(Method::GET, &format!("/tickets/{complaint}"), None).await;
    assert_eq!((ticket["status"].as_str(), ticket["overdue"].as_bool()), (Some("answered"), Some(false)), "{ticket}");
    assert_eq!(ticket["replies"][0]["body"], "We are on it.");
    support.get(&format!("/ops/tickets/{complaint}")).await.shows("We are on it.").shows("status status-answered");

    let resolved =
        support.post(&format!("/ops/tickets/{complaint}/status"), &[("status", "resolved"), ("reason", "")]).await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER, "{}", resolved.body);
    let (_, ticket) = gw.admin(Method::GET, &format!("/tickets/{complaint}"), None).await;
    assert_eq!(ticket["status"], "resolved");
    let bad = support.post(&format!("/ops/tickets/{complaint}/status"), &[("status", "answered")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.shows("class=\"field-error\"");

    // Support may not settle (money); finance may, with the amount checked first.
    assert_eq!(
        support.post(&format!("/ops/tickets/{dispute}/settle"), &[("amount", "1"), ("reason", "x")]).await.status,
        StatusCode::FORBIDDEN
    );
    let mut finance = gw.ops_visitor("finance").await;
    finance.get(&format!("/ops/tickets/{dispute}")).await.shows("id=\"settle-form\"");
    let bad = finance.post(&format!("/ops/tickets/{dispute}/settle"), &[("amount", "one"), ("reason", "double")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    bad.shows("value=\"one\"").shows("class=\"field-error\"");
    let settled = finance
        .post(&format!("/ops/tickets/{dispute}/settle"), &[("amount", "1.50"), ("reason", "charged twice")])
        .await;
    assert_eq!(settled.status, StatusCode::SEE_OTHER, "{}", settled.body);
    let (_, ticket) = gw.admin(Method::GET, &format!("/tickets/{dispute}"), None).await;
    assert_eq!(ticket["adjustments"][0]["amount"], "1.5000", "{ticket}");
    assert_eq!(gw.balance(&acme).await, "11.5000");

    // A moderator reads tickets but may not answer them.
    let mut moderator = gw.ops_visitor("moderator").await;
    moderator.get(&format!("/ops/tickets/{dispute}")).await.hides("id=\"answer-form\"");
    let refused = moderator.post(&format!("/ops/tickets/{dispute}/answer"), &[("body", "hello")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(support.get("/ops/tickets/tkt_nosuchticket").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn console_ops_work_maintenance_shows_the_agreed_notice_and_refuses_a_shorter_one() {
    let gw = TestGateway::spawn().await;
    gw.onboard("acme", "10").await; // 3 days' notice
    gw.onboard_with("strict", "10", |t| t["maintenance_notice_days"] = json!(10)).await;
    let mut admin = gw.ops_visitor("admin").await;

    let page = admin.get("/ops/maintenance").await;
    assert_eq!(page.status, StatusCode::OK);
    page.shows("id=\"notice-days\">10<")
        .shows("id=\"earliest-start\">2026-06-11 12:00<")
        .shows("id=\"maintenance-form\"")
        .shows("type=\"datetime-local\" name=\"starts_at\" value=\"2026-06-11T12:00\"")
        .shows("id=\"no-windows\"");

    let form = |start: &'static str, emergency: &'static str, reason: &'static str| {
        vec![
            ("starts_at", start),
            ("ends_at", "2026-06-12T11:00"),
            ("description", "Replacing the SMSC link hardware"),
            ("services", "smpp"),
            ("services", "http"),
            ("customers", ""),
            ("emergency", emergency),
            ("emergency_reason", reason),
        ]
    };
    let short = admin.post("/ops/maintenance", &form("2026-06-06T10:00", "", "")).await;
    assert_eq!(short.status, status_of(ErrorCode::NoticeTooShort));
    let start_field = &short.body[short.body.find("name=\"starts_at\"").expect("field")..];
    let next_input = start_field.find("name=\"ends_at\"").expect("next field");
    assert!(start_field[..next_input].contains("class=\"field-error\""), "shown at the start: {}", short.body);
    short.shows("10 days").shows("value=\"2026-06-06T10:00\"").shows("value=\"smpp\" checked");
    let (_, windows) = gw.admin(Method::GET, "/maintenance", None).await;
    assert_eq!(windows["windows"].as_array().map(Vec::len), Some(0));

    let no_reason = admin.post("/ops/maintenance", &form("2026-06-06T10:00", "true", "")).await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    no_reason.shows("class=\"field-error\"");

    let planned = admin.post("/ops/maintenance", &form("2026-06-12T10:00", "", "")).await;
    assert_eq!(planned.location(), Some("/ops/maintenance?done=scheduled"), "{}", planned.body);
    let (_, windows) = gw.admin(Method::GET, "/maintenance", None).await;
    let window = &windows["windows"][0];
    assert_eq!(window["starts_at"], rfc3339(noon("2026-06-12") - 2 * 3_600_000), "10:00 China time: {window}");
    assert_eq!(window["services"], json!(["http", "smpp"]));
    assert_eq!(window["customers"].as_array().map(Vec::len), Some(2));
    let id = window["id"].as_str().expect("id").to_owned();
    let list = admin.get("/ops/maintenance?done=scheduled").await;
    list.shows("id=\"done\"");
    assert!(row(&list, &format!("window-{id}")).contains("2026-06-12 10:00"), "{}", list.body);
    list.shows("class=\"window-row window-planned\"");

    // Limited to the customer promised 3 days, five days ahead will do.
    let mut only_acme = form("2026-06-06T10:00", "", "");
    only_acme[5] = ("customers", "acme");
    let planned = admin.post("/ops/maintenance", &only_acme).await;
    assert_eq!(planned.status, StatusCode::SEE_OTHER, "{}", planned.body);
    let (_, windows) = gw.admin(Method::GET, "/maintenance", None).await;
    let customers: Vec<usize> = windows["windows"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|w| w["customers"].as_array().map(Vec::len))
        .collect();
    assert_eq!(customers.len(), 2, "{windows}");
    assert!(customers.contains(&1) && customers.contains(&2), "{windows}");

    // Support sees the windows but may not schedule or cancel.
    let mut support = gw.ops_visitor("support").await;
    support.get("/ops/maintenance").await.shows(&format!("window-{id}")).hides("id=\"maintenance-form\"");
    let refused = support.post(&format!("/ops/maintenance/{id}/cancel"), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let cancelled = admin.post(&format!("/ops/maintenance/{id}/cancel"), &[("reason", "postponed")]).await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER, "{}", cancelled.body);
    let (_, window) = gw.admin(Method::GET, &format!("/maintenance/{id}"), None).await;
    assert!(window["cancelled_at"].is_string(), "{window}");
    admin.get("/ops/maintenance").await.shows("class=\"window-row window-cancelled\"");
}

#[tokio::test]
async fn console_ops_work_a_breach_is_noticed_then_cured_and_termination_waits_for_the_deadline() {
    let gw = TestGateway::spawn().await;
    let acme = gw.onboard("acme", "10").await;
    let mut admin = gw.ops_visitor("admin").await;
    admin.get("/ops/breaches").await.shows("id=\"breach-form\"").shows("id=\"no-breaches\"").shows(&acme.id);

    let empty = admin.post("/ops/breaches", &[("customer", acme.id.as_str()), ("clause", "2.3"), ("facts", "")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let facts_field = &empty.body[empty.body.find("name=\"facts\"").expect("facts")..];
    assert!(facts_field.contains("class=\"field-error\""), "{}", empty.body);
    empty.shows("value=\"2.3\"");

    let facts = "Messages advertising a lottery sent on 2026-05-30";
    let issued =
        admin.post("/ops/breaches", &[("customer", acme.id.as_str()), ("clause", "2.3"), ("facts", facts)]).await;
    assert_eq!(issued.location(), Some("/ops/breaches?done=issued"), "{}", issued.body);
    let (_, list) = gw.admin(Method::GET, "/breaches", None).await;
    let breach = list["breaches"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(list["breaches"][0]["status"], "open");

    // Fifteen days to cure: termination now is refused, on the breach.
    let early = admin.post(&format!("/ops/breaches/{breach}/terminate"), &[]).await;
    assert_eq!(early.status, status_of(ErrorCode::CurePeriodRunning));
    assert!(row(&early, &format!("breach-{breach}")).contains("class=\"field-error\""), "{}", early.body);
    let (_, shown) = gw.admin(Method::GET, &format!("/breaches/{breach}"), None).await;
    assert_eq!(shown["status"], "open");

    let mut support = gw.ops_visitor("support").await;
    support.get("/ops/breaches").await.shows(facts).hides("id=\"breach-form\"");
    assert_eq!(
        support.post(&format!("/ops/breaches/{breach}/cure"), &[("note", "x")]).await.status,
        StatusCode::FORBIDDEN
    );

    let cured = admin.post(&format!("/ops/breaches/{breach}/cure"), &[("note", "the sender was removed")]).await;
    assert_eq!(cured.status, StatusCode::SEE_OTHER, "{}", cured.body);
    let (_, shown) = gw.admin(Method::GET, &format!("/breaches/{breach}"), None).await;
    assert_eq!(
        (shown["status"].as_str(), shown["cure_note"].as_str()),
        (Some("cured"), Some("the sender was removed"))
    );
    admin.get("/ops/breaches").await.shows("class=\"breach-row breach-cured\"");
}

#[tokio::test]
async fn console_ops_work_only_an_admin_reads_the_audit_trail_a_page_at_a_time() {
    let gw = TestGateway::spawn().await;
    gw.onboard("acme", "10").await;
    gw.onboard("bravo", "10").await;
    let mut admin = gw.ops_visitor("admin").await;
    let page = admin.get("/ops/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    page.shows("class=\"audit-row\"").shows("ledger.topup").shows("<details>").hides("id=\"audit-next\"");

    let first = admin.get("/ops/audit?limit=2").await;
    assert_eq!(first.body.matches("class=\"audit-row\"").count(), 2);
    let next = first.body.split("id=\"audit-next\" href=\"").nth(1).and_then(|r| r.split('"').next()).expect("next");
    let second = admin.get(&next.replace("&amp;", "&")).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body.matches("class=\"audit-row\"").count(), 2);
    let ids = |p: &Page| -> Vec<String> {
        p.body
            .split("class=\"audit-row\" id=\"")
            .skip(1)
            .filter_map(|r| r.split('"').next())
            .map(str::to_owned)
            .collect()
    };
    assert!(ids(&first).iter().all(|id| !ids(&second).contains(id)), "pages do not overlap");
    assert_eq!(admin.get("/ops/audit?limit=0").await.status, StatusCode::BAD_REQUEST);

    for role in ["support", "moderator", "finance"] {
        let mut other = gw.ops_visitor(role).await;
        assert_eq!(other.get("/ops/audit").await.status, StatusCode::FORBIDDEN, "{role}");
        other.get("/ops/").await.hides("href=\"/ops/audit\"");
    }
}
