//! The contract of the carrier methods: the dispatch queue, submits and receipts with their
//! settlement, inbound messages and numbers, webhooks, and the SMPP side (accounts and the
//! outbox of receipts and MO). Where several nodes share one database, the same progress
//! recorded on two of them at once must still settle once.

use tongdao_domain::agreement::ChargeOn;
use tongdao_domain::{ConcatPart, ReceiptRequest};

#[allow(unused_imports)]
use super::*;

const PRICE: i64 = 135_000; // three segments at ¥0.0450

// ---- helpers ---------------------------------------------------------------------------------

/// One database opened more than once: by a second node, or by the same node after a
/// restart.
struct Shared {
    name: &'static str,
    database: Database,
}

enum Database {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Shared {
    /// A new store on the database.
    async fn open(&self) -> Arc<dyn Store> {
        match &self.database {
            Database::Sqlite(dir) => Arc::new(SqliteStore::open(&dir.path().join("shared.db")).expect("open")),
            Database::Postgres(url) => {
                let options = PgOptions { connections: 4, ..PgOptions::default() };
                Arc::new(PgStore::connect_with(url, options).await.expect("connect to PostgreSQL"))
            }
        }
    }

    /// Another node next to `first`: on PostgreSQL a store of its own (its own pool), on
    /// SQLite, which has one writer, the same store.
    async fn another_node(&self, first: &Arc<dyn Store>) -> Arc<dyn Store> {
        match self.database {
            Database::Sqlite(_) => first.clone(),
            Database::Postgres(_) => self.open().await,
        }
    }
}

/// A fresh database of each backend, to be opened with [`Shared::open`].
async fn shared_databases() -> Vec<Shared> {
    let mut all = vec![Shared { name: "sqlite", database: Database::Sqlite(tempfile::tempdir().expect("dir")) }];
    if let Ok(url) = std::env::var(DATABASE_URL)
        && !url.is_empty()
    {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!("carrier_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let url = tongdao_store::postgres::scratch_schema(&url, &schema).await.expect("schema");
        all.push(Shared { name: "postgres", database: Database::Postgres(url) });
    }
    all
}

/// A queued message to +8613800138000 of `segments` parts, sold under `charge_on`.
fn sms(id: &str, charge_on: ChargeOn, segments: u32) -> NewMessage {
    NewMessage { carrier: Some("mobile".into()), segments, charge_on, ..message(id, "+8613800138000", PRICE) }
}

async fn accept(store: &dyn Store, customer_id: &str, messages: Vec<NewMessage>) {
    let outcome = store.accept(batch(customer_id, messages, None)).await.expect("accept");
    assert!(matches!(outcome, AcceptOutcome::Stored { .. }), "{outcome:?}");
}

fn submitted(customer_id: &str, message_id: &str, ids: &[&str], at: i64) -> Progress {
    Progress::Submitted {
        customer_id: customer_id.into(),
        message_id: message_id.into(),
        link: "sim".into(),
        carrier_message_ids: ids.iter().map(|s| s.to_string()).collect(),
        at,
    }
}

fn receipt(id: &str, outcome: PartOutcome, at: i64) -> Progress {
    Progress::Receipt {
        link: "sim".into(),
        carrier_message_ids: vec![id.into()],
        outcome,
        error: (outcome != PartOutcome::Delivered).then(|| "013".into()),
        at,
    }
}

fn failed(customer_id: &str, message_id: &str, parts: u32, accepted: u32, at: i64) -> Progress {
    Progress::Failed {
        customer_id: customer_id.into(),
        message_id: message_id.into(),
        link: Some("sim".into()),
        parts,
        accepted,
        error: "0x0000000b".into(),
        at,
    }
}

async fn status(store: &dyn Store, customer_id: &str, id: &str) -> (MessageStatus, Vec<MessageEvent>) {
    let (message, events) = store.find_message(customer_id, id).await.expect("found");
    (message.status, events)
}

fn statuses(events: &[MessageEvent]) -> Vec<MessageStatus> {
    events.iter().map(|e| e.status).collect()
}

async fn refunds(store: &dyn Store, customer_id: &str) -> Vec<LedgerEntry> {
    let all = store.list_ledger(customer_id, 0, 1000).await.expect("ledger");
    all.into_iter().filter(|e| e.kind == LedgerKind::Refund).collect()
}

fn number(customer_id: &str, number: &str, at: i64) -> CustomerNumber {
    CustomerNumber { number: number.into(), customer_id: customer_id.into(), created_at: at }
}

fn inbound(id: &str, to: &str, at: i64) -> NewInbound {
    NewInbound {
        id: id.into(),
        sender: "+8613900139000".into(),
        recipient: to.into(),
        text: "hello".into(),
        link: "sim".into(),
        received_at: at,
        opt_out: None,
    }
}

fn account(customer_id: &str, system_id: &str) -> SmppAccount {
    SmppAccount {
        system_id: system_id.into(),
        customer_id: customer_id.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        allowed_ips: vec!["10.0.0.0/8".into()],
        max_binds: 2,
        tps: 50,
        created_at: NOW,
        updated_at: NOW,
    }
}

fn body(event: &OutboxEvent) -> serde_json::Value {
    serde_json::from_str(&event.body).expect("a JSON event")
}

// ---- numbers and inbound ---------------------------------------------------------------------

#[tokio::test]
async fn a_number_belongs_to_one_customer_and_only_its_owner_removes_it() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        let added = store.add_number(number(&acme, "+86 1069-0001", NOW)).await.expect("add");
        assert_eq!(added, number(&acme, "8610690001", NOW), "{}: stored as digits", b.name);
        // Its owner again, in another form: the number as stored.
        assert_eq!(store.add_number(number(&acme, "86106900 01", NOW + 5)).await, Ok(added.clone()), "{}", b.name);
        let taken = store.add_number(number(&other, "8610690001", NOW)).await;
        assert!(matches!(taken, Err(StoreError::Conflict(_))), "{}: {taken:?}", b.name);
        store.add_number(number(&acme, "8610690002", NOW)).await.expect("add");
        let listed = store.list_numbers(&acme).await.expect("list");
        let numbers: Vec<&str> = listed.iter().map(|n| n.number.as_str()).collect();
        assert_eq!(numbers, ["8610690001", "8610690002"], "{}", b.name);
        assert_eq!(store.list_numbers(&other).await, Ok(vec![]), "{}", b.name);

        assert_eq!(store.remove_number(&other, "8610690001").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.remove_number(&acme, "+86 1069 0001").await, Ok(()), "{}", b.name);
        assert_eq!(store.remove_number(&acme, "8610690001").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.list_numbers(&acme).await.expect("list").len(), 1, "{}", b.name);
        // Given up, it is free for another customer.
        let moved = store.add_number(number(&other, "8610690001", NOW + 9)).await.expect("add");
        assert_eq!(moved, number(&other, "8610690001", NOW + 9), "{}", b.name);
    }
}

#[tokio::test]
async fn an_inbound_message_goes_to_the_owner_of_the_longest_number_that_prefixes_its_recipient() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        let bank = customer(store, "bank", 0).await;
        store.add_number(number(&acme, "10690001", NOW)).await.expect("add");
        store.add_number(number(&bank, "1069000123", NOW)).await.expect("add");
        store.set_webhook_url(&acme, Some("https://acme.example/hook".into())).await.expect("url");
        store.create_smpp_account(account(&bank, "bank01")).await.expect("account");

        let to_bank = store.record_inbound(inbound("mo_1", "106900012345", NOW)).await.expect("mo_1");
        assert_eq!(to_bank.map(|m| m.customer_id), Some(bank.clone()), "{}: the longer number wins", b.name);
        let to_acme = store.record_inbound(inbound("mo_2", "+1069 0001 99", NOW + 1)).await.expect("mo_2");
        assert_eq!(
            to_acme,
            Some(InboundMessage { customer_id: acme.clone(), message: inbound("mo_2", "+1069 0001 99", NOW + 1) }),
            "{}",
            b.name
        );
        assert_eq!(store.record_inbound(inbound("mo_3", "10690002", NOW + 2)).await, Ok(None), "{}: nobody", b.name);
        let stop = NewInbound {
            text: " STOP ".into(),
            opt_out: Some("+8613900139000".into()),
            ..inbound("mo_4", "10690001", NOW + 3)
        };
        store.record_inbound(stop).await.expect("mo_4");

        let page = store.list_inbound(&acme, None, 10).await.expect("list");
        let ids: Vec<&str> = page.iter().map(|m| m.message.id.as_str()).collect();
        assert_eq!(ids, ["mo_4", "mo_2"], "{}: newest first", b.name);
        assert_eq!(page[1].message, inbound("mo_2", "+1069 0001 99", NOW + 1), "{}", b.name);
        let next = store.list_inbound(&acme, Some("mo_4".into()), 1).await.expect("page");
        assert_eq!(next.iter().map(|m| m.message.id.as_str()).collect::<Vec<_>>(), ["mo_2"], "{}", b.name);
        let banks = store.list_inbound(&bank, None, 10).await.expect("list");
        assert_eq!(banks.iter().map(|m| m.message.id.as_str()).collect::<Vec<_>>(), ["mo_1"], "{}", b.name);

        // acme has a webhook URL: an event per message; bank has SMPP binds: an MO for them.
        let events = store.endpoint_events(&acme, "https://acme.example/hook", 0, 10).await.expect("events");
        let inbound_ids: Vec<serde_json::Value> = events.iter().map(|e| body(e)["inbound_id"].clone()).collect();
        assert_eq!(inbound_ids, [serde_json::json!("mo_2"), serde_json::json!("mo_4")], "{}", b.name);
        assert_eq!(body(&events[0])["type"], "inbound.message", "{}", b.name);
        assert_eq!(store.outbox_depth().await, Ok(2), "{}", b.name);
        let mo = store.smpp_pending(&bank, 0, 10).await.expect("pending");
        assert_eq!(mo.len(), 1, "{}", b.name);
        let event: SmppEvent = serde_json::from_str(&mo[0].body).expect("event");
        assert_eq!(
            event,
            SmppEvent::Inbound {
                inbound_id: "mo_1".into(),
                from: "+8613900139000".into(),
                to: "106900012345".into(),
                text: "hello".into(),
                received_at: NOW
            },
            "{}",
            b.name
        );
        assert_eq!(store.smpp_pending(&acme, 0, 10).await, Ok(vec![]), "{}: no SMPP account", b.name);
        // The opt-out reply put its sender on acme's suppression list.
        let suppressed = store.list_suppressions(&acme, "", 10).await.expect("suppressions");
        assert_eq!(suppressed.len(), 1, "{}", b.name);
        assert_eq!(
            (suppressed[0].number.as_str(), suppressed[0].source),
            ("+8613900139000", SuppressionSource::Reply),
            "{}",
            b.name
        );
        assert_eq!(store.list_suppressions(&bank, "", 10).await, Ok(vec![]), "{}", b.name);
    }
}

// ---- webhooks --------------------------------------------------------------------------------

#[tokio::test]
async fn webhook_settings_are_the_customers_and_a_secret_is_kept_when_asked() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        assert_eq!(store.webhook_settings("cus_nobody").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.set_webhook_url("cus_nobody", None).await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.set_webhook_secret("cus_nobody", "s", false).await, Err(StoreError::NotFound), "{}", b.name);
        let none = WebhookSettings { url: None, secret: None };
        assert_eq!(store.webhook_settings(&acme).await, Ok(none), "{}", b.name);

        let url = Some("https://acme.example/hook".to_owned());
        let set = store.set_webhook_url(&acme, url.clone()).await.expect("url");
        assert_eq!(set, WebhookSettings { url: url.clone(), secret: None }, "{}", b.name);
        let first = store.set_webhook_secret(&acme, "first", true).await.expect("secret");
        assert_eq!(first.secret.as_deref(), Some("first"), "{}: none was set", b.name);
        let kept = store.set_webhook_secret(&acme, "second", true).await.expect("secret");
        assert_eq!(kept, WebhookSettings { url: url.clone(), secret: Some("first".into()) }, "{}", b.name);
        let rotated = store.set_webhook_secret(&acme, "third", false).await.expect("secret");
        assert_eq!(rotated.secret.as_deref(), Some("third"), "{}", b.name);
        let cleared = store.set_webhook_url(&acme, None).await.expect("url");
        assert_eq!(cleared, WebhookSettings { url: None, secret: Some("third".into()) }, "{}", b.name);
        assert_eq!(store.webhook_settings(&acme).await, Ok(cleared), "{}", b.name);
    }
}

#[tokio::test]
async fn webhook_events_wait_per_endpoint_until_delivered_and_old_ones_are_given_up() {
    const HOOK: &str = "https://acme.example/hook";
    const OWN: &str = "https://acme.example/own";
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 1_000_000).await;
        store.set_webhook_url(&acme, Some(HOOK.into())).await.expect("url");
        store.set_webhook_secret(&acme, "s3cret", false).await.expect("secret");
        store.add_number(number(&acme, "10690001", NOW)).await.expect("number");
        let own = NewMessage { callback_url: Some(OWN.into()), ..sms("msg_2", ChargeOn::Submit, 1) };
        accept(store, &acme, vec![sms("msg_1", ChargeOn::Submit, 1), own]).await;
        assert_eq!(store.outbox_depth().await, Ok(0), "{}: acceptance is no event", b.name);

        // A status change goes to the message's URL, else the customer's.
        let got = store.record_progress(vec![submitted(&acme, "msg_1", &["c1"], NOW + 10)]).await;
        assert_eq!(got, Ok(vec![Recorded::Done]), "{}", b.name);
        store.record_inbound(inbound("mo_1", "10690001", NOW + 20)).await.expect("inbound");
        let got = store.record_progress(vec![failed(&acme, "msg_2", 1, 0, NOW + 30)]).await;
        assert_eq!(got, Ok(vec![Recorded::Final]), "{}", b.name);
        assert_eq!(store.outbox_depth().await, Ok(3), "{}", b.name);

        assert_eq!(store.due_endpoints(NOW + 9, 10).await, Ok(vec![]), "{}: nothing due yet", b.name);
        let due = store.due_endpoints(NOW + 100, 10).await.expect("due");
        let expected = |url: &str, failures: u32| DueEndpoint {
            customer_id: acme.clone(),
            url: url.into(),
            failures,
            secret: Some("s3cret".into()),
        };
        assert_eq!(due, vec![expected(HOOK, 0), expected(OWN, 0)], "{}: oldest first", b.name);
        assert_eq!(store.due_endpoints(NOW + 100, 1).await, Ok(vec![expected(HOOK, 0)]), "{}", b.name);

        let events = store.endpoint_events(&acme, HOOK, 0, 10).await.expect("events");
        assert_eq!(events.len(), 2, "{}", b.name);
        let submit = body(&events[0]);
        assert_eq!(
            (&submit["type"], &submit["message_id"], &submit["status"], &submit["carrier_message_id"]),
            (
                &serde_json::json!("message.status"),
                &serde_json::json!("msg_1"),
                &serde_json::json!("submitted"),
                &serde_json::json!("c1")
            ),
            "{}",
            b.name
        );
        assert_eq!((events[0].created_at, events[1].created_at), (NOW + 10, NOW + 20), "{}", b.name);
        assert!(events[0].id < events[1].id, "{}", b.name);
        assert_eq!(store.endpoint_events(&acme, HOOK, 0, 1).await.expect("events").len(), 1, "{}", b.name);
        let after = store.endpoint_events(&acme, HOOK, events[0].id, 10).await.expect("events");
        assert_eq!(after, events[1..].to_vec(), "{}", b.name);
        let theirs = store.endpoint_events(&acme, OWN, 0, 10).await.expect("events");
        assert_eq!(body(&theirs[0])["status"], "failed", "{}", b.name);
        assert_eq!(body(&theirs[0])["error"], "0x0000000b", "{}", b.name);

        // A failure backs the endpoint off and gives up events older than the cut.
        let dropped = store.webhook_failed(&acme, HOOK, NOW + 1_000, "timeout", NOW + 15, NOW + 100).await;
        assert_eq!(dropped, Ok(1), "{}: the submit event is given up", b.name);
        assert_eq!(store.due_endpoints(NOW + 100, 10).await, Ok(vec![expected(OWN, 0)]), "{}", b.name);
        let later = store.due_endpoints(NOW + 1_000, 10).await.expect("due");
        assert_eq!(later, vec![expected(OWN, 0), expected(HOOK, 1)], "{}", b.name);
        assert_eq!(store.endpoint_events(&acme, HOOK, 0, 10).await, Ok(events[1..].to_vec()), "{}", b.name);
        assert_eq!(store.outbox_depth().await, Ok(2), "{}", b.name);

        // Delivered: removed, and the failures forgotten.
        store.webhook_delivered(&acme, HOOK, vec![events[1].id], NOW + 1_000).await.expect("delivered");
        store
            .webhook_delivered(&acme, OWN, theirs.iter().map(|e| e.id).collect(), NOW + 1_000)
            .await
            .expect("delivered");
        assert_eq!(store.outbox_depth().await, Ok(0), "{}", b.name);
        assert_eq!(store.due_endpoints(NOW + 1_000, 10).await, Ok(vec![]), "{}: nothing left to send", b.name);
        store.record_inbound(inbound("mo_2", "10690001", NOW + 40)).await.expect("inbound");
        assert_eq!(store.due_endpoints(NOW + 1_000, 10).await, Ok(vec![expected(HOOK, 0)]), "{}", b.name);
        // An empty acknowledgement changes nothing.
        store.webhook_delivered(&acme, HOOK, vec![], NOW + 1_000).await.expect("delivered");
        assert_eq!(store.outbox_depth().await, Ok(1), "{}", b.name);
    }
}

#[tokio::test]
async fn webhook_deliveries_are_logged_newest_first_per_customer_and_only_the_last_100_kept() {
    const HOOK: &str = "https://acme.example/hook";
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 1_000_000).await;
        let bank = customer(store, "bank", 1_000_000).await;
        store.set_webhook_url(&acme, Some(HOOK.into())).await.expect("url");
        store.set_webhook_secret(&acme, "s3cret", false).await.expect("secret");
        store.add_number(number(&acme, "10690001", NOW)).await.expect("number");
        assert_eq!(store.webhook_deliveries(&acme, 10).await, Ok(vec![]), "{}: nothing yet", b.name);
        for (id, at) in [("mo_1", NOW + 10), ("mo_2", NOW + 20)] {
            store.record_inbound(inbound(id, "10690001", at)).await.expect("inbound");
        }

        // A failure logs the events waiting for the endpoint and the error, cut to 500 characters.
        let long = "x".repeat(600);
        store.webhook_failed(&acme, HOOK, NOW + 1_000, &long, NOW, NOW + 100).await.expect("failed");
        let events = store.endpoint_events(&acme, HOOK, 0, 10).await.expect("events");
        store.webhook_delivered(&acme, HOOK, events.iter().map(|e| e.id).collect(), NOW + 1_000).await.expect("ok");
        let bank_failed =
            store.webhook_failed(&bank, "https://bank.example/hook", NOW + 1_000, "refused", NOW, NOW + 500);
        assert_eq!(bank_failed.await, Ok(0), "{}", b.name);
        let logged = store.webhook_deliveries(&acme, 10).await.expect("deliveries");
        let expected = vec![
            WebhookDelivery { at: NOW + 1_000, url: HOOK.into(), events: 2, error: None },
            WebhookDelivery { at: NOW + 100, url: HOOK.into(), events: 2, error: Some("x".repeat(500)) },
        ];
        assert_eq!(logged, expected, "{}: newest first", b.name);
        assert_eq!(store.webhook_deliveries(&acme, 1).await, Ok(expected[..1].to_vec()), "{}", b.name);
        let theirs = store.webhook_deliveries(&bank, 10).await.expect("deliveries");
        let refused = WebhookDelivery {
            at: NOW + 500,
            url: "https://bank.example/hook".into(),
            events: 0,
            error: Some("refused".into()),
        };
        assert_eq!(theirs, vec![refused], "{}: each customer's own", b.name);

        // Only a customer's newest 100 are kept; another customer's stay.
        for i in 0..105 {
            store.webhook_delivered(&acme, HOOK, vec![], NOW + 2_000 + i).await.expect("delivered");
        }
        let kept = store.webhook_deliveries(&acme, 1_000).await.expect("deliveries");
        assert_eq!(kept.len(), 100, "{}", b.name);
        assert_eq!((kept[0].at, kept[99].at), (NOW + 2_104, NOW + 2_005), "{}", b.name);
        assert_eq!(store.webhook_deliveries(&bank, 10).await.map(|d| d.len()), Ok(1), "{}", b.name);
    }
}

// ---- submits and receipts --------------------------------------------------------------------

#[tokio::test]
async fn a_receipt_before_its_submit_is_kept_and_matched_when_the_submit_comes() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 1_000_000).await;
        accept(store, &acme, vec![sms("msg_1", ChargeOn::Submit, 1)]).await;
        let got = store.record_progress(vec![receipt("a1", PartOutcome::Delivered, NOW + 20)]).await;
        assert_eq!(got, Ok(vec![Recorded::Early]), "{}", b.name);
        assert_eq!(status(store, &acme, "msg_1").await.0, MessageStatus::Queued, "{}", b.name);
        let got = store.record_progress(vec![submitted(&acme, "msg_1", &["a1"], NOW + 10)]).await;
        assert_eq!(got, Ok(vec![Recorded::Final]), "{}", b.name);
        let (final_status, events) = status(store, &acme, "msg_1").await;
        assert_eq!(final_status, MessageStatus::Delivered, "{}", b.name);
        let expected = [MessageStatus::Queued, MessageStatus::Submitted, MessageStatus::Delivered];
        assert_eq!(statuses(&events), expected, "{}", b.name);
        assert_eq!(events[2].carrier_message_id.as_deref(), Some("a1"), "{}", b.name);
        assert_eq!((events[1].at, events[2].at), (NOW + 10, NOW + 20), "{}", b.name);
        // The same receipt again changes nothing.
        let again = store.record_progress(vec![receipt("a1", PartOutcome::Delivered, NOW + 30)]).await;
        assert_eq!(again, Ok(vec![Recorded::Ignored]), "{}", b.name);
        assert_eq!(consistent_balance(store, &acme).await, 1_000_000 - PRICE, "{}", b.name);
    }
}

#[tokio::test]
async fn early_receipts_and_receipts_in_the_submits_batch_settle_a_long_message_together() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 1_000_000).await;
        accept(store, &acme, vec![sms("msg_1", ChargeOn::Delivery, 3), sms("msg_2", ChargeOn::Delivery, 2)]).await;
        let start = consistent_balance(store, &acme).await;
        let got = store.record_progress(vec![receipt("m1", PartOutcome::Delivered, NOW + 20)]).await;
        assert_eq!(got, Ok(vec![Recorded::Early]), "{}", b.name);
        let got = store
            .record_progress(vec![
                receipt("m3", PartOutcome::Delivered, NOW + 20),
                submitted(&acme, "msg_1", &["m1", "m2", "m3"], NOW + 10),
            ])
            .await;
        assert_eq!(got, Ok(vec![Recorded::Done, Recorded::Done]), "{}: m2 is still out", b.name);
        assert_eq!(status(store, &acme, "msg_1").await.0, MessageStatus::Submitted, "{}", b.name);
        let got = store.record_progress(vec![receipt("m2", PartOutcome::Delivered, NOW + 30)]).await;
        assert_eq!(got, Ok(vec![Recorded::Final]), "{}", b.name);
        let (final_status, events) = status(store, &acme, "msg_1").await;
        assert_eq!(final_status, MessageStatus::Delivered, "{}", b.name);
        let expected = [MessageStatus::Queued, MessageStatus::Submitted, MessageStatus::Delivered];
        assert_eq!(statuses(&events), expected, "{}", b.name);
        assert_eq!(consistent_balance(store, &acme).await, start, "{}: every part delivered", b.name);

        // Every part's receipt first: the submit settles the message at once.
        let early =
            vec![receipt("e1", PartOutcome::Delivered, NOW + 5), receipt("e2", PartOutcome::Undeliverable, NOW + 6)];
        assert_eq!(store.record_progress(early).await, Ok(vec![Recorded::Early, Recorded::Early]), "{}", b.name);
        let got = store.record_progress(vec![submitted(&acme, "msg_2", &["e1", "e2"], NOW + 10)]).await;
        assert_eq!(got, Ok(vec![Recorded::Final]), "{}", b.name);
        let (final_status, events) = status(store, &acme, "msg_2").await;
        assert_eq!(final_status, MessageStatus::Undeliverable, "{}", b.name);
        let last = events.last().expect("events");
        assert_eq!(
            (last.carrier_message_id.as_deref(), last.error.as_deref(), last.at),
            (Some("e2"), Some("013"), NOW + 10),
            "{}: the worst part decides, at the submit (after its receipts)",
            b.name
        );
        assert_eq!(consistent_balance(store, &acme).await, start + PRICE / 2, "{}: half undelivered", b.name);
        // Both parts are known now: the same receipts again change nothing.
        let again = store.record_progress(vec![receipt("e2", PartOutcome::Delivered, NOW + 40)]).await;
        assert_eq!(again, Ok(vec![Recorded::Ignored]), "{}", b.name);
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{}", b.name);
    }
}

#[tokio::test]
async fn parts_roll_up_to_the_worst_outcome_and_delivery_settles_per_part() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 1_000_000).await;
        accept(store, &acme, vec![sms("msg_1", ChargeOn::Delivery, 3)]).await;
        let start = consistent_balance(store, &acme).await;
        let got = store.record_progress(vec![submitted(&acme, "msg_1", &["p1", "p2", "p3"], NOW + 10)]).await;
        assert_eq!(got, Ok(vec![Recorded::Done]), "{}", b.name);
        assert_eq!(status(store, &acme, "msg_1").await.0, MessageStatus::Submitted, "{}", b.name);
        let got = store
            .record_progress(vec![
                receipt("p1", PartOutcome::Delivered, NOW + 20),
                receipt("p2", PartOutcome::Undeliverable, NOW + 21),
            ])
            .await;
        assert_eq!(got, Ok(vec![Recorded::Done, Recorded::Done]), "{}", b.name);
        assert_eq!(status(store, &acme, "msg_1").await.0, MessageStatus::Submitted, "{}: p3 is out", b.name);
        let got = store.record_progress(vec![receipt("p3", PartOutcome::Delivered, NOW + 30)]).await;
        assert_eq!(got, Ok(vec![Recorded::Final]), "{}", b.name);
        let (final_status, events) = status(store, &acme, "msg_1").await;
        assert_eq!(final_status, MessageStatus::Undeliverable, "{}: delivered only when every part is", b.name);
        let last = events.last().expect("events");
        assert_eq!(
            (last.carrier_message_id.as_deref(), last.error.as_deref()),
            (Some("p2"), Some("013")),
            "{}",
            b.name
        );
        assert_eq!(consistent_balance(store, &acme).await - start, PRICE / 3, "{}: a third refunded", b.name);
        let refunded = refunds(store, &acme).await;
        assert_eq!(refunded.len(), 1, "{}", b.name);
        assert_eq!(
            (refunded[0].message_id.as_deref(), refunded[0].reason.as_deref()),
            (Some("msg_1"), Some("not delivered")),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn charge_on_submit_keeps_what_a_carrier_accepted_and_delivery_refunds_a_failed_receipt() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 1_000_000).await;
        accept(store, &acme, vec![sms("msg_s", ChargeOn::Submit, 3), sms("msg_d", ChargeOn::Delivery, 1)]).await;
        let start = consistent_balance(store, &acme).await;
        // Every part and its receipt in one batch: written as one change.
        let got = store
            .record_progress(vec![
                submitted(&acme, "msg_s", &["s1", "s2", "s3"], NOW + 10),
                receipt("s1", PartOutcome::Undeliverable, NOW + 20),
                receipt("s2", PartOutcome::Delivered, NOW + 20),
                receipt("s3", PartOutcome::Expired, NOW + 20),
            ])
            .await;
        assert_eq!(got, Ok(vec![Recorded::Final, Recorded::Done, Recorded::Done, Recorded::Done]), "{}", b.name);
        let (final_status, events) = status(store, &acme, "msg_s").await;
        assert_eq!(final_status, MessageStatus::Undeliverable, "{}: undeliverable outranks expired", b.name);
        let expected = [MessageStatus::Queued, MessageStatus::Submitted, MessageStatus::Undeliverable];
        assert_eq!(statuses(&events), expected, "{}", b.name);
        assert_eq!(consistent_balance(store, &acme).await, start, "{}: a carrier took every part", b.name);

        // Sold on delivery, submitted, then not delivered: the whole price comes back.
        let got = store.record_progress(vec![submitted(&acme, "msg_d", &["d1"], NOW + 10)]).await;
        assert_eq!(got, Ok(vec![Recorded::Done]), "{}", b.name);
        let got = store.record_progress(vec![receipt("d1", PartOutcome::Rejected, NOW + 20)]).await;
        assert_eq!(got, Ok(vec![Recorded::Final]), "{}", b.name);
        assert_eq!(status(store, &acme, "msg_d").await.0, MessageStatus::Rejected, "{}", b.name);
        assert_eq!(consistent_balance(store, &acme).await, start + PRICE, "{}", b.name);
        // Nothing more to do for a final message.
        let late = store.record_progress(vec![failed(&acme, "msg_d", 1, 0, NOW + 30)]).await;
        assert_eq!(late, Ok(vec![Recorded::Ignored]), "{}", b.name);
        let unknown = store.record_progress(vec![submitted(&acme, "msg_none", &["x1"], NOW)]).await;
        assert_eq!(unknown, Ok(vec![Recorded::Ignored]), "{}", b.name);
        assert_eq!(consistent_balance(store, &acme).await, start + PRICE, "{}", b.name);
    }
}

#[tokio::test]
async fn a_failure_after_some_parts_refunds_the_rest_once_and_an_expiry_refunds_all() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 1_000_000).await;
        accept(store, &acme, vec![sms("msg_1", ChargeOn::Submit, 3), sms("msg_2", ChargeOn::Submit, 1)]).await;
        let start = consistent_balance(store, &acme).await;
        let failure = failed(&acme, "msg_1", 3, 1, NOW + 30);
        assert_eq!(store.record_progress(vec![failure.clone()]).await, Ok(vec![Recorded::Final]), "{}", b.name);
        let (final_status, events) = status(store, &acme, "msg_1").await;
        assert_eq!(final_status, MessageStatus::Failed, "{}", b.name);
        let last = events.last().expect("events");
        assert_eq!((last.carrier.as_deref(), last.error.as_deref()), (Some("sim"), Some("0x0000000b")), "{}", b.name);
        assert_eq!(consistent_balance(store, &acme).await - start, PRICE * 2 / 3, "{}: two parts", b.name);
        assert_eq!(store.record_progress(vec![failure]).await, Ok(vec![Recorded::Ignored]), "{}: once", b.name);
        assert_eq!(consistent_balance(store, &acme).await - start, PRICE * 2 / 3, "{}", b.name);

        let expiry = Progress::Expired { customer_id: acme.clone(), message_id: "msg_2".into(), at: NOW + 40 };
        assert_eq!(store.record_progress(vec![expiry.clone()]).await, Ok(vec![Recorded::Final]), "{}", b.name);
        assert_eq!(status(store, &acme, "msg_2").await.0, MessageStatus::Expired, "{}", b.name);
        assert_eq!(store.record_progress(vec![expiry]).await, Ok(vec![Recorded::Ignored]), "{}", b.name);
        let nobody = Progress::Expired { customer_id: acme.clone(), message_id: "msg_none".into(), at: NOW + 40 };
        assert_eq!(store.record_progress(vec![nobody]).await, Ok(vec![Recorded::Ignored]), "{}", b.name);
        assert_eq!(consistent_balance(store, &acme).await - start, PRICE * 2 / 3 + PRICE, "{}", b.name);
        assert_eq!(refunds(store, &acme).await.len(), 2, "{}", b.name);
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{}", b.name);
    }
}

#[tokio::test]
async fn progress_for_several_customers_in_one_batch_settles_each() {
    for b in backends().await {
        let store = &*b.store;
        let zed = customer(store, "zed", 1_000_000).await;
        let acme = customer(store, "acme", 1_000_000).await;
        accept(store, &zed, vec![sms("msg_z", ChargeOn::Delivery, 1)]).await;
        accept(store, &acme, vec![sms("msg_a", ChargeOn::Delivery, 1)]).await;
        store.record_progress(vec![submitted(&zed, "msg_z", &["z1"], NOW + 10)]).await.expect("submit");
        let got = store
            .record_progress(vec![
                receipt("z1", PartOutcome::Undeliverable, NOW + 20),
                submitted(&acme, "msg_a", &["a1"], NOW + 10),
                receipt("a1", PartOutcome::Expired, NOW + 20),
            ])
            .await;
        assert_eq!(got, Ok(vec![Recorded::Final, Recorded::Final, Recorded::Done]), "{}", b.name);
        assert_eq!(consistent_balance(store, &zed).await, 1_000_000, "{}", b.name);
        assert_eq!(consistent_balance(store, &acme).await, 1_000_000, "{}", b.name);
        assert_eq!(status(store, &acme, "msg_a").await.0, MessageStatus::Expired, "{}", b.name);
    }
}

#[tokio::test]
async fn forgotten_early_receipts_are_not_matched_any_more() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 1_000_000).await;
        accept(store, &acme, vec![sms("msg_1", ChargeOn::Submit, 1)]).await;
        let early = vec![receipt("f1", PartOutcome::Delivered, NOW), receipt("f2", PartOutcome::Delivered, NOW + 5)];
        store.record_progress(early).await.expect("early");
        assert_eq!(store.forget_early_receipts(NOW).await, Ok(0), "{}", b.name);
        assert_eq!(store.forget_early_receipts(NOW + 1).await, Ok(1), "{}", b.name);
        let got = store.record_progress(vec![submitted(&acme, "msg_1", &["f1"], NOW + 10)]).await;
        assert_eq!(got, Ok(vec![Recorded::Done]), "{}: its receipt was forgotten", b.name);
        assert_eq!(status(store, &acme, "msg_1").await.0, MessageStatus::Submitted, "{}", b.name);
        assert_eq!(store.forget_early_receipts(NOW + 6).await, Ok(1), "{}", b.name);
        assert_eq!(store.forget_early_receipts(NOW + 6).await, Ok(0), "{}", b.name);
    }
}

/// The same receipt, recorded twice in a row and by two nodes at once, settles a message once.
#[tokio::test]
async fn the_same_receipt_twice_settles_once_even_from_two_nodes_at_once() {
    const MESSAGES: usize = 12;
    for shared in shared_databases().await {
        let name = shared.name;
        let one = shared.open().await;
        let two = shared.another_node(&one).await;
        let acme = customer(&*one, "acme", 10_000_000).await;
        let messages = (0..MESSAGES).map(|n| sms(&format!("msg_{n:02}"), ChargeOn::Delivery, 1)).collect();
        accept(&*one, &acme, messages).await;
        let submits =
            (0..MESSAGES).map(|n| submitted(&acme, &format!("msg_{n:02}"), &[&format!("r{n}")], NOW + 10)).collect();
        one.record_progress(submits).await.expect("submits");
        let start = consistent_balance(&*one, &acme).await;

        let first = one.record_progress(vec![receipt("r0", PartOutcome::Undeliverable, NOW + 20)]).await;
        let again = two.record_progress(vec![receipt("r0", PartOutcome::Undeliverable, NOW + 21)]).await;
        assert_eq!((first, again), (Ok(vec![Recorded::Final]), Ok(vec![Recorded::Ignored])), "{name}");
        for n in 1..MESSAGES {
            let id = format!("r{n}");
            let (a, b) = tokio::join!(
                one.record_progress(vec![receipt(&id, PartOutcome::Undeliverable, NOW + 20)]),
                two.record_progress(vec![receipt(&id, PartOutcome::Undeliverable, NOW + 20)]),
            );
            let mut got = [a.expect("one"), b.expect("two")].concat();
            got.sort_by_key(|r| format!("{r:?}"));
            assert_eq!(got, [Recorded::Final, Recorded::Ignored], "{name}: receipt {id}");
        }
        for n in 0..MESSAGES {
            let (final_status, events) = status(&*one, &acme, &format!("msg_{n:02}")).await;
            assert_eq!(final_status, MessageStatus::Undeliverable, "{name}");
            assert_eq!(events.len(), 3, "{name}: one final event");
        }
        assert_eq!(refunds(&*one, &acme).await.len(), MESSAGES, "{name}: one refund each");
        assert_eq!(
            consistent_balance(&*one, &acme).await,
            start + PRICE * i64::try_from(MESSAGES).expect("few"),
            "{name}"
        );
        assert!(one.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

/// A receipt recorded on one node while its submit is recorded on another is either matched
/// at once or kept and matched by the submit: the message never waits for a receipt that came.
#[tokio::test]
async fn a_receipt_and_its_submit_on_two_nodes_at_once_always_meet() {
    const MESSAGES: usize = 16;
    for shared in shared_databases().await {
        let name = shared.name;
        let one = shared.open().await;
        let two = shared.another_node(&one).await;
        let acme = customer(&*one, "acme", 10_000_000).await;
        let messages = (0..MESSAGES).map(|n| sms(&format!("msg_{n:02}"), ChargeOn::Delivery, 2)).collect();
        accept(&*one, &acme, messages).await;
        let start = consistent_balance(&*one, &acme).await;
        for n in 0..MESSAGES {
            let message_id = format!("msg_{n:02}");
            let (p1, p2) = (format!("x{n}a"), format!("x{n}b"));
            let (a, b) = tokio::join!(
                one.record_progress(vec![submitted(&acme, &message_id, &[&p1, &p2], NOW + 10)]),
                two.record_progress(vec![
                    receipt(&p2, PartOutcome::Delivered, NOW + 20),
                    receipt(&p1, PartOutcome::Undeliverable, NOW + 20),
                ]),
            );
            let (a, b) = (a.expect("submit"), b.expect("receipts"));
            assert!(
                matches!(
                    (a.as_slice(), b.as_slice()),
                    ([Recorded::Final], [Recorded::Early, Recorded::Early])
                        | ([Recorded::Done], [Recorded::Done, Recorded::Final])
                ),
                "{name}: {a:?} {b:?}"
            );
            let (final_status, events) = status(&*one, &acme, &message_id).await;
            assert_eq!(final_status, MessageStatus::Undeliverable, "{name}: {message_id}");
            assert_eq!(events.last().and_then(|e| e.carrier_message_id.clone()), Some(p1), "{name}");
        }
        assert_eq!(refunds(&*one, &acme).await.len(), MESSAGES, "{name}");
        assert_eq!(
            consistent_balance(&*one, &acme).await,
            start + PRICE / 2 * i64::try_from(MESSAGES).expect("few"),
            "{name}: half of each"
        );
        assert!(one.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

/// The same with a batch of more parts than are locked one by one (a backlog): its submits
/// and, on another node meanwhile, small batches of their receipts.
#[tokio::test]
async fn a_backlog_of_submits_and_their_receipts_on_another_node_always_meet() {
    const MESSAGES: usize = 150; // 300 parts
    for shared in shared_databases().await {
        let name = shared.name;
        let one = shared.open().await;
        let two = shared.another_node(&one).await;
        let acme = customer(&*one, "acme", 100_000_000).await;
        let messages = (0..MESSAGES).map(|n| sms(&format!("msg_{n:03}"), ChargeOn::Delivery, 2)).collect();
        accept(&*one, &acme, messages).await;
        let start = consistent_balance(&*one, &acme).await;
        let parts = |n: usize| (format!("y{n}a"), format!("y{n}b"));
        let submits = (0..MESSAGES)
            .map(|n| {
                let (p1, p2) = parts(n);
                submitted(&acme, &format!("msg_{n:03}"), &[&p1, &p2], NOW + 10)
            })
            .collect();
        let receipts = async {
            let mut got = Vec::new();
            for n in (0..MESSAGES).rev() {
                let (p1, p2) = parts(n);
                let batch = vec![
                    receipt(&p2, PartOutcome::Delivered, NOW + 20),
                    receipt(&p1, PartOutcome::Undeliverable, NOW + 20),
                ];
                got.extend(two.record_progress(batch).await.expect("receipts"));
            }
            got
        };
        let (submitted, received) = tokio::join!(one.record_progress(submits), receipts);
        let finals = [submitted.expect("submits"), received].concat().into_iter().filter(|r| *r == Recorded::Final);
        assert_eq!(finals.count(), MESSAGES, "{name}: each message settled once");
        for n in 0..MESSAGES {
            let (final_status, events) = status(&*one, &acme, &format!("msg_{n:03}")).await;
            assert_eq!((final_status, events.len()), (MessageStatus::Undeliverable, 3), "{name}: msg_{n:03}");
        }
        let half = PRICE / 2 * i64::try_from(MESSAGES).expect("few");
        assert_eq!(consistent_balance(&*one, &acme).await, start + half, "{name}");
        assert!(one.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

/// Receipts of two customers' messages, recorded by two nodes at once in opposite orders,
/// neither deadlock nor settle a message twice: each batch locks every customer it may
/// settle, in one order, before it changes anything.
#[tokio::test]
async fn receipts_for_two_customers_in_opposite_orders_on_two_nodes_settle_each_message_once() {
    const ROUNDS: usize = 10;
    for shared in shared_databases().await {
        let name = shared.name;
        let one = shared.open().await;
        let two = shared.another_node(&one).await;
        let acme = customer(&*one, "acme", 10_000_000).await;
        let zed = customer(&*one, "zed", 10_000_000).await;
        for (who, tag) in [(&acme, "a"), (&zed, "z")] {
            let messages = (0..ROUNDS).map(|n| sms(&format!("msg_{tag}{n:02}"), ChargeOn::Delivery, 2)).collect();
            accept(&*one, who, messages).await;
            let submits = (0..ROUNDS)
                .map(|n| {
                    let parts = [format!("{tag}{n}p1"), format!("{tag}{n}p2")];
                    submitted(who, &format!("msg_{tag}{n:02}"), &[&parts[0], &parts[1]], NOW + 10)
                })
                .collect();
            one.record_progress(submits).await.expect("submits");
        }
        let start = (consistent_balance(&*one, &acme).await, consistent_balance(&*one, &zed).await);
        for n in 0..ROUNDS {
            let (a, b) = tokio::join!(
                one.record_progress(vec![
                    receipt(&format!("z{n}p1"), PartOutcome::Undeliverable, NOW + 20),
                    receipt(&format!("a{n}p1"), PartOutcome::Undeliverable, NOW + 20),
                ]),
                two.record_progress(vec![
                    receipt(&format!("a{n}p2"), PartOutcome::Delivered, NOW + 20),
                    receipt(&format!("z{n}p2"), PartOutcome::Delivered, NOW + 20),
                ]),
            );
            let got = [a.expect("one"), b.expect("two")].concat();
            assert_eq!(got.iter().filter(|r| **r == Recorded::Final).count(), 2, "{name}: {got:?}");
            assert_eq!(got.iter().filter(|r| **r == Recorded::Done).count(), 2, "{name}: {got:?}");
        }
        let half = PRICE / 2 * i64::try_from(ROUNDS).expect("few");
        let end = (consistent_balance(&*one, &acme).await, consistent_balance(&*one, &zed).await);
        assert_eq!(end, (start.0 + half, start.1 + half), "{name}: half of each message refunded, once");
        for (who, tag) in [(&acme, "a"), (&zed, "z")] {
            assert_eq!(refunds(&*one, who).await.len(), ROUNDS, "{name}");
            let (final_status, events) = status(&*one, who, &format!("msg_{tag}00")).await;
            assert_eq!((final_status, events.len()), (MessageStatus::Undeliverable, 3), "{name}");
        }
        assert!(one.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

// ---- the dispatch queue ----------------------------------------------------------------------

#[tokio::test]
async fn a_message_cancelled_between_the_dispatchers_read_and_its_mark_is_not_handed_out() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 1_000_000).await;
        let concat = ConcatPart { reference: 7, total: 2, seq: 1 };
        let first = NewMessage {
            sender: Some("10690001".into()),
            valid_until: Some(NOW + DAY),
            concat: Some(concat),
            ..sms("msg_1", ChargeOn::Submit, 1)
        };
        accept(store, &acme, vec![first]).await;
        accept(store, &acme, vec![sms("msg_2", ChargeOn::Submit, 1)]).await;
        accept(store, &acme, vec![sms("msg_3", ChargeOn::Submit, 1)]).await;
        let read = store.queued_after(0, 2).await.expect("read");
        let ids: Vec<&str> = read.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["msg_1", "msg_2"], "{}: in queue order, at most the limit", b.name);
        assert!(read[0].queue_seq < read[1].queue_seq, "{}", b.name);
        let expected = QueuedMessage {
            queue_seq: read[0].queue_seq,
            id: "msg_1".into(),
            customer_id: acme.clone(),
            recipient: "+8613800138000".into(),
            carrier: Some("mobile".into()),
            sender: Some("10690001".into()),
            text: "hi".into(),
            valid_until: Some(NOW + DAY),
            maybe_sent: false,
            concat: Some(concat),
        };
        assert_eq!(read[0], expected, "{}", b.name);
        // Not taken yet: cancellable, and refunded.
        store.cancel_message(&acme, "msg_2", NOW + 5).await.expect("cancelled");
        let last = read[1].queue_seq;
        let still = store.mark_dispatched(0, last, read.len()).await.expect("marked");
        assert_eq!(still, Some(vec!["msg_1".to_owned()]), "{}: only msg_1 may go", b.name);
        // Past the mark: msg_1 is the dispatcher's now; msg_3 is not yet.
        let refused = store.cancel_message(&acme, "msg_1", NOW + 6).await;
        assert!(matches!(refused, Err(StoreError::NotCancellable(_))), "{}: {refused:?}", b.name);
        assert_eq!(store.mark_dispatched(last, last, 0).await, Ok(None), "{}", b.name);
        let rest = store.queued_after(last, 10).await.expect("read");
        assert_eq!(rest.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["msg_3"], "{}", b.name);
        assert!(!rest[0].maybe_sent, "{}", b.name);
        // Every one read still queued: nothing to say.
        let third = rest[0].queue_seq;
        assert_eq!(store.mark_dispatched(last, third, 1).await, Ok(None), "{}", b.name);
        // A mark never goes back: msg_3 stays the dispatcher's.
        assert_eq!(store.mark_dispatched(0, last, 1).await, Ok(None), "{}", b.name);
        let late = store.cancel_message(&acme, "msg_3", NOW + 7).await;
        assert!(matches!(late, Err(StoreError::NotCancellable(_))), "{}: {late:?}", b.name);
        assert_eq!(consistent_balance(store, &acme).await, 1_000_000 - 2 * PRICE, "{}", b.name);
    }
}

#[tokio::test]
async fn after_a_restart_queued_messages_the_dispatcher_had_taken_may_have_been_sent() {
    for shared in shared_databases().await {
        let name = shared.name;
        let store = shared.open().await;
        let acme = customer(&*store, "acme", 1_000_000).await;
        accept(&*store, &acme, vec![sms("msg_1", ChargeOn::Submit, 1), sms("msg_2", ChargeOn::Submit, 1)]).await;
        let read = store.queued_after(0, 1).await.expect("read");
        assert_eq!(store.mark_dispatched(0, read[0].queue_seq, 1).await, Ok(None), "{name}");
        // The same store keeps counting from its own start.
        let again = store.queued_after(0, 10).await.expect("read");
        assert_eq!(again.iter().map(|m| m.maybe_sent).collect::<Vec<_>>(), [false, false], "{name}");
        drop(store);

        let restarted = shared.open().await;
        let after = restarted.queued_after(0, 10).await.expect("read");
        let seen: Vec<(&str, bool)> = after.iter().map(|m| (m.id.as_str(), m.maybe_sent)).collect();
        assert_eq!(seen, [("msg_1", true), ("msg_2", false)], "{name}: msg_1 was taken before the restart");
        // Moving the mark further does not change what this store found at its start.
        let last = after[1].queue_seq;
        assert_eq!(restarted.mark_dispatched(0, last, 2).await, Ok(None), "{name}");
        let later = restarted.queued_after(0, 10).await.expect("read");
        assert_eq!(later.iter().map(|m| m.maybe_sent).collect::<Vec<_>>(), [true, false], "{name}");
    }
}

// ---- SMPP ------------------------------------------------------------------------------------

#[tokio::test]
async fn smpp_accounts_are_unique_by_system_id_and_changed_only_by_their_customer() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        assert_eq!(store.find_smpp_account("acme01").await, Ok(None), "{}", b.name);
        let created = store.create_smpp_account(account(&acme, "acme01")).await.expect("create");
        assert_eq!(created, account(&acme, "acme01"), "{}", b.name);
        let taken = store.create_smpp_account(account(&other, "acme01")).await;
        assert!(matches!(taken, Err(StoreError::Conflict(_))), "{}: {taken:?}", b.name);
        store.create_smpp_account(account(&acme, "acme00")).await.expect("create");
        assert_eq!(store.find_smpp_account("acme01").await, Ok(Some(created.clone())), "{}", b.name);
        let listed = store.list_smpp_accounts(&acme).await.expect("list");
        let ids: Vec<&str> = listed.iter().map(|a| a.system_id.as_str()).collect();
        assert_eq!(ids, ["acme00", "acme01"], "{}", b.name);
        assert_eq!(store.list_smpp_accounts(&other).await, Ok(vec![]), "{}", b.name);

        let changed = SmppAccount {
            password_hash: "$argon2id$new".into(),
            allowed_ips: vec![],
            max_binds: 4,
            tps: 0,
            updated_at: NOW + 1,
            ..created.clone()
        };
        assert_eq!(store.update_smpp_account(changed.clone()).await, Ok(changed.clone()), "{}", b.name);
        assert_eq!(store.find_smpp_account("acme01").await, Ok(Some(changed.clone())), "{}", b.name);
        let theirs = SmppAccount { customer_id: other.clone(), ..changed.clone() };
        assert_eq!(store.update_smpp_account(theirs).await, Err(StoreError::NotFound), "{}", b.name);
        let missing = account(&acme, "nobody");
        assert_eq!(store.update_smpp_account(missing).await, Err(StoreError::NotFound), "{}", b.name);

        assert_eq!(store.delete_smpp_account(&other, "acme01").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.delete_smpp_account(&acme, "acme01").await, Ok(()), "{}", b.name);
        assert_eq!(store.delete_smpp_account(&acme, "acme01").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.find_smpp_account("acme01").await, Ok(None), "{}", b.name);
        // Free again.
        store.create_smpp_account(account(&other, "acme01")).await.expect("create");
    }
}

#[tokio::test]
async fn a_final_status_writes_the_smpp_receipt_asked_for_and_delivery_removes_it() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 1_000_000).await;
        let asking = |id: &str, receipt: ReceiptRequest| NewMessage {
            sender: Some("10690001".into()),
            text: "Your code is 123456, valid for 5 minutes".into(),
            receipt,
            ..sms(id, ChargeOn::Submit, 1)
        };
        let messages = vec![
            asking("msg_1", ReceiptRequest::Final),
            asking("msg_2", ReceiptRequest::Failure),
            asking("msg_3", ReceiptRequest::None),
            asking("msg_4", ReceiptRequest::Failure),
        ];
        accept(store, &acme, messages).await;
        let mut progress = Vec::new();
        for (n, id) in ["msg_1", "msg_2", "msg_3"].iter().enumerate() {
            progress.push(submitted(&acme, id, &[&format!("c{n}")], NOW + 10));
            progress.push(receipt(&format!("c{n}"), PartOutcome::Delivered, NOW + 20));
        }
        progress.push(failed(&acme, "msg_4", 1, 0, NOW + 30));
        store.record_progress(progress).await.expect("recorded");
        // msg_1 asked on any final status, msg_2 and msg_4 on failure only, msg_3 never.
        let pending = store.smpp_pending(&acme, 0, 10).await.expect("pending");
        assert_eq!(pending.len(), 2, "{}", b.name);
        let event: SmppEvent = serde_json::from_str(&pending[0].body).expect("event");
        let expected = SmppEvent::Receipt {
            message_id: "msg_1".into(),
            from: "+8613800138000".into(),
            to: Some("10690001".into()),
            status: MessageStatus::Delivered,
            submitted_at: NOW,
            done_at: NOW + 20,
            error: None,
            text: "Your code is 123456,".into(),
        };
        assert_eq!(event, expected, "{}", b.name);
        let event: SmppEvent = serde_json::from_str(&pending[1].body).expect("event");
        assert!(
            matches!(&event, SmppEvent::Receipt { message_id, status: MessageStatus::Failed, error: Some(e), .. }
                if message_id == "msg_4" && e == "0x0000000b"),
            "{}: {event:?}",
            b.name
        );
        assert_eq!((pending[0].created_at, pending[1].created_at), (NOW + 20, NOW + 30), "{}", b.name);
        assert_eq!(store.smpp_pending("cus_nobody", 0, 10).await, Ok(vec![]), "{}: per customer", b.name);
        assert_eq!(store.smpp_pending(&acme, pending[0].id, 10).await, Ok(pending[1..].to_vec()), "{}", b.name);
        assert_eq!(store.smpp_pending(&acme, 0, 1).await, Ok(pending[..1].to_vec()), "{}", b.name);
        assert_eq!(store.smpp_outbox_depth().await, Ok(2), "{}", b.name);

        // Another customer's acknowledgement removes nothing of acme's.
        store.smpp_delivered("cus_nobody", vec![pending[0].id]).await.expect("delivered");
        assert_eq!(store.smpp_outbox_depth().await, Ok(2), "{}", b.name);
        store.smpp_delivered(&acme, vec![pending[0].id]).await.expect("delivered");
        store.smpp_delivered(&acme, vec![]).await.expect("nothing");
        assert_eq!(store.smpp_pending(&acme, 0, 10).await, Ok(pending[1..].to_vec()), "{}", b.name);
        assert_eq!(store.smpp_outbox_depth().await, Ok(1), "{}", b.name);
    }
}

#[tokio::test]
async fn smpp_deliveries_acknowledged_in_any_order_go_and_old_ones_expire() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 100_000_000).await;
        let messages = (0..70)
            .map(|n| NewMessage { receipt: ReceiptRequest::Final, ..sms(&format!("msg_{n:02}"), ChargeOn::Submit, 1) })
            .collect();
        accept(store, &acme, messages).await;
        let progress = (0..70)
            .map(|n| Progress::Failed {
                customer_id: acme.clone(),
                message_id: format!("msg_{n:02}"),
                link: None,
                parts: 1,
                accepted: 0,
                error: "no route".into(),
                at: NOW + 100 + n,
            })
            .collect();
        store.record_progress(progress).await.expect("recorded");
        let pending = store.smpp_pending(&acme, 0, 100).await.expect("pending");
        assert_eq!(pending.len(), 70, "{}", b.name);
        // Every other one, backwards: more than one statement's worth, with gaps.
        let taken: Vec<i64> = pending.iter().rev().step_by(2).map(|d| d.id).collect();
        store.smpp_delivered(&acme, taken.clone()).await.expect("delivered");
        let left = store.smpp_pending(&acme, 0, 100).await.expect("pending");
        assert_eq!(left.len(), 35, "{}", b.name);
        assert!(left.iter().all(|d| !taken.contains(&d.id)), "{}", b.name);
        // Rows created before NOW + 135 (18 of the 35 left) expire, at most `limit` a call.
        assert_eq!(store.expire_smpp_outbox(NOW + 135, 10).await, Ok(10), "{}", b.name);
        assert_eq!(store.expire_smpp_outbox(NOW + 135, 1000).await, Ok(8), "{}", b.name);
        assert_eq!(store.expire_smpp_outbox(NOW + 135, 1000).await, Ok(0), "{}", b.name);
        let left_after = store.smpp_pending(&acme, 0, 100).await.expect("pending");
        assert_eq!(left_after.len(), 17, "{}", b.name);
        assert!(left_after.iter().all(|d| d.created_at >= NOW + 135), "{}", b.name);
        assert_eq!(store.smpp_outbox_depth().await, Ok(17), "{}", b.name);
    }
}
