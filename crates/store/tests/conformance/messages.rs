//! The contract of the messages methods: accepting (charges, frequency limits, idempotency,
//! several batches in one job), reading, cancelling, the sweep, the regulatory export and
//! purge, timings; and what several nodes on one database must not do (overdraw, charge or
//! refund twice, let two limited messages through). Every test name starts with `messages_`.

use super::*;

use tongdao_domain::FrequencyLimits;

const PRICE: i64 = 45_000;

/// A set of handles to spread concurrent calls over: the same store twice (one node,
/// concurrent callers) for each backend and, when PostgreSQL is configured, two stores on one
/// schema (two nodes). `_keep` keeps a SQLite store's directory for as long as the set lives.
struct Nodes {
    name: String,
    nodes: Vec<Arc<dyn Store>>,
    _keep: Option<Backend>,
}

async fn node_sets() -> Vec<Nodes> {
    let mut sets = Vec::new();
    for b in backends().await {
        let nodes = vec![b.store.clone(), b.store.clone()];
        sets.push(Nodes { name: b.name.to_owned(), nodes, _keep: Some(b) });
    }
    if let Some(nodes) = two_postgres_nodes().await {
        sets.push(Nodes { name: "two postgres nodes".to_owned(), nodes, _keep: None });
    }
    sets
}

/// Two `PgStore`s (two gateway nodes) on one fresh schema, when PostgreSQL is configured.
async fn two_postgres_nodes() -> Option<Vec<Arc<dyn Store>>> {
    let url = std::env::var(DATABASE_URL).ok().filter(|url| !url.is_empty())?;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let schema = format!("conformance_messages_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let url = tongdao_store::postgres::scratch_schema(&url, &schema).await.expect("schema");
    let mut nodes: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..2 {
        let options = PgOptions { connections: 6, ..PgOptions::default() };
        nodes.push(Arc::new(PgStore::connect_with(&url, options).await.expect("connect to PostgreSQL")));
    }
    Some(nodes)
}

fn scheduled(id: &str, to: &str, micros: i64, send_at: i64) -> NewMessage {
    NewMessage { status: MessageStatus::Scheduled, send_at: Some(send_at), ..message(id, to, micros) }
}

fn expiring(m: NewMessage, valid_until: i64) -> NewMessage {
    NewMessage { valid_until: Some(valid_until), ..m }
}

fn at(b: AcceptBatch, now_ms: i64) -> AcceptBatch {
    AcceptBatch { now_ms, ..b }
}

fn key(key: &str, hash: &str) -> IdempotencyRecord {
    IdempotencyRecord { key: key.into(), request_hash: hash.into(), status: 202, response: format!("{{\"{hash}\":1}}") }
}

async fn status_of(store: &dyn Store, customer_id: &str, id: &str) -> MessageStatus {
    store.find_message(customer_id, id).await.expect("message").0.status
}

async fn ledger_of(store: &dyn Store, customer_id: &str) -> Vec<LedgerEntry> {
    store.list_ledger(customer_id, 0, 10_000).await.expect("ledger")
}

fn count(entries: &[LedgerEntry], kind: LedgerKind) -> usize {
    entries.iter().filter(|e| e.kind == kind).count()
}

fn ids(messages: &[StoredMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.id.as_str()).collect()
}

fn all(limit: u32) -> MessageFilter {
    MessageFilter { limit, ..MessageFilter::default() }
}

#[tokio::test]
async fn messages_accepted_are_found_listed_and_charged_one_entry_each() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let id = customer(store, "acme", 1_000_000).await;
        let other = customer(store, "other", 1_000_000).await;
        let (a, c) = ("+8613800138000", "+8613900139000");
        let full = NewMessage {
            carrier: Some("cmcc".into()),
            sender: Some("10690001".into()),
            text: "你好 hello".into(),
            encoding: "ucs2".into(),
            segments: 2,
            client_ref: Some("ref-1".into()),
            callback_url: Some("https://example.com/hook".into()),
            valid_until: Some(NOW + DAY),
            source: Some("http:192.0.2.1".into()),
            ..message("msg_1", a, 90_000)
        };
        let messages = vec![full.clone(), message("msg_2", c, PRICE), scheduled("msg_3", a, PRICE, NOW + DAY)];
        let outcome = store.accept(batch(&id, messages, None)).await.expect("accept");
        assert_eq!(outcome, AcceptOutcome::Stored { balance_after: Money::from_micros(820_000) }, "{name}");
        let later = vec![message("msg_4", a, 0)];
        store.accept(at(batch(&id, later, None), NOW + DAY)).await.expect("accept later");
        let nobody = store.accept(batch("cus_nobody", vec![message("msg_x", a, 1)], None)).await;
        assert_eq!(nobody, Err(StoreError::NotFound), "{name}: an unknown customer");

        let (found, events) = store.find_message(&id, "msg_1").await.expect("find");
        let expected = StoredMessage {
            id: "msg_1".into(),
            customer_id: id.clone(),
            recipient: a.into(),
            carrier: full.carrier.clone(),
            sender: full.sender.clone(),
            text: full.text.clone(),
            encoding: "ucs2".into(),
            segments: 2,
            price: Money::from_micros(90_000),
            status: MessageStatus::Queued,
            client_ref: full.client_ref.clone(),
            callback_url: full.callback_url.clone(),
            send_at: None,
            valid_until: Some(NOW + DAY),
            created_at: NOW,
            updated_at: NOW,
        };
        assert_eq!(found, expected, "{name}");
        let accepted = MessageEvent {
            status: MessageStatus::Queued,
            at: NOW,
            detail: None,
            carrier: None,
            carrier_message_id: None,
            error: None,
        };
        assert_eq!(events, vec![accepted], "{name}: the acceptance is the first event");
        let (found, events) = store.find_message(&id, "msg_3").await.expect("find scheduled");
        assert_eq!((found.status, found.send_at), (MessageStatus::Scheduled, Some(NOW + DAY)), "{name}");
        assert_eq!(events.iter().map(|e| e.status).collect::<Vec<_>>(), [MessageStatus::Scheduled], "{name}");
        assert_eq!(store.find_message(&other, "msg_1").await.map(|_| ()), Err(StoreError::NotFound), "{name}");
        assert_eq!(store.find_message(&id, "msg_9").await.map(|_| ()), Err(StoreError::NotFound), "{name}");

        let list = |filter: MessageFilter| {
            let id = id.clone();
            async move { store.list_messages(&id, filter).await.expect("list") }
        };
        assert_eq!(ids(&list(all(10)).await), ["msg_4", "msg_3", "msg_2", "msg_1"], "{name}: newest first");
        assert_eq!(ids(&list(all(2)).await), ["msg_4", "msg_3"], "{name}: limit");
        let scheduled_only = MessageFilter { status: Some(MessageStatus::Scheduled), ..all(10) };
        assert_eq!(ids(&list(scheduled_only).await), ["msg_3"], "{name}: by status");
        let to_a = MessageFilter { recipient: Some(a.into()), ..all(10) };
        assert_eq!(ids(&list(to_a).await), ["msg_4", "msg_3", "msg_1"], "{name}: by recipient");
        let since = MessageFilter { since_ms: Some(NOW + 1), ..all(10) };
        assert_eq!(ids(&list(since).await), ["msg_4"], "{name}: since");
        let until = MessageFilter { until_ms: Some(NOW + 1), ..all(10) };
        assert_eq!(ids(&list(until).await), ["msg_3", "msg_2", "msg_1"], "{name}: until");
        let page = MessageFilter { before: Some("msg_3".into()), ..all(1) };
        assert_eq!(ids(&list(page).await), ["msg_2"], "{name}: the page after msg_3");
        let everything = MessageFilter {
            status: Some(MessageStatus::Queued),
            recipient: Some(a.into()),
            since_ms: Some(NOW),
            until_ms: Some(NOW + 1),
            before: Some("msg_2".into()),
            limit: 10,
        };
        assert_eq!(ids(&list(everything).await), ["msg_1"], "{name}: every filter at once");
        assert!(store.list_messages(&other, all(10)).await.expect("list").is_empty(), "{name}: per customer");

        let ledger = ledger_of(store, &id).await;
        let charges: Vec<(Option<&str>, i64)> = ledger
            .iter()
            .filter(|e| e.kind == LedgerKind::Charge)
            .map(|e| (e.message_id.as_deref(), e.amount.micros()))
            .collect();
        let expected_charges =
            [(Some("msg_1"), -90_000), (Some("msg_2"), -PRICE), (Some("msg_3"), -PRICE), (Some("msg_4"), 0)];
        assert_eq!(charges, expected_charges, "{name}: one charge per message, in order");
        assert_eq!(consistent_balance(store, &id).await, 820_000, "{name}");
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

/// 2026-11-27 10:00:30 CST.
const FREQ_NOW: i64 = 1_795_744_830_000;
const LIMITS: FrequencyLimits = FrequencyLimits { per_minute: 1, per_hour: 2, per_day: 3 };

fn limited(result: StoreResult<AcceptOutcome>) -> Option<(usize, i64)> {
    match result {
        Err(StoreError::RateLimited { index, retry_after_ms }) => Some((index, retry_after_ms)),
        _ => None,
    }
}

fn limited_batch(customer_id: &str, to: &[&str], now_ms: i64) -> AcceptBatch {
    let messages = to.iter().map(|to| message(&tongdao_domain::id::new_id("msg"), to, 1)).collect();
    AcceptBatch { frequency: LIMITS, now_ms, ..batch(customer_id, messages, None) }
}

#[tokio::test]
async fn messages_frequency_limits_refuse_per_window_count_the_batch_and_say_when_to_retry() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let id = customer(store, "acme", 1_000_000).await;
        let other = customer(store, "other", 1_000_000).await;
        let (a, fresh) = ("+8613800138000", "+8613900139000");
        assert!(store.accept(limited_batch(&id, &[a], FREQ_NOW)).await.is_ok(), "{name}");
        // The same minute: refused, retry when the minute ends (30 s later); nothing stored.
        let refused = store.accept(limited_batch(&id, &[fresh, a], FREQ_NOW)).await;
        assert_eq!(limited(refused), Some((1, 30_000)), "{name}");
        assert_eq!(consistent_balance(store, &id).await, 999_999, "{name}: the refused batch left nothing");
        // The refused batch's first recipient was not counted.
        assert!(store.accept(limited_batch(&id, &[fresh], FREQ_NOW)).await.is_ok(), "{name}");
        // Another customer's messages to the same number are its own.
        assert!(store.accept(limited_batch(&other, &[a], FREQ_NOW)).await.is_ok(), "{name}: per customer");
        // The next minute: the second of the hour.
        assert!(store.accept(limited_batch(&id, &[a], FREQ_NOW + 60_000)).await.is_ok(), "{name}");
        // The hour is full until 11:00 CST.
        let hour = store.accept(limited_batch(&id, &[a], FREQ_NOW + 120_000)).await;
        assert_eq!(limited(hour).map(|l| l.1), Some(3_600_000 - 30_000 - 120_000), "{name}");
        // Two hours later: the third of the day; then the day is full until CST midnight.
        assert!(store.accept(limited_batch(&id, &[a], FREQ_NOW + 7_200_000)).await.is_ok(), "{name}");
        let day_left = 14 * 3_600_000 - 30_000 - 7_200_000 - 60_000;
        let day = store.accept(limited_batch(&id, &[a], FREQ_NOW + 7_200_000 + 60_000)).await;
        assert_eq!(limited(day).map(|l| l.1), Some(day_left), "{name}");
        // Several messages to one recipient in one request count one by one.
        let b2 = "+8613700137000";
        assert_eq!(limited(store.accept(limited_batch(&id, &[b2, b2], FREQ_NOW)).await), Some((1, 30_000)), "{name}");
        // Batches of one job count each other's messages.
        let c = "+8613600136000";
        let job = vec![limited_batch(&id, &[c], FREQ_NOW), limited_batch(&id, &[c], FREQ_NOW)];
        let outcomes = store.accept_many(job).await.expect("job");
        assert!(outcomes[0].is_ok(), "{name}: {:?}", outcomes[0]);
        assert_eq!(limited(outcomes[1].clone()), Some((0, 30_000)), "{name}: the second batch of the job");
        // Unlimited windows (0) never refuse, and what they accept is counted for later.
        let free = AcceptBatch { frequency: FrequencyLimits::NONE, ..limited_batch(&id, &[a, a, a], FREQ_NOW + DAY) };
        assert!(store.accept(free).await.is_ok(), "{name}");
        let next = store.accept(limited_batch(&id, &[a], FREQ_NOW + DAY + 1)).await;
        assert!(limited(next).is_some(), "{name}: the unlimited batch's messages count");
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

#[tokio::test]
async fn messages_an_idempotency_key_replays_its_answer_refuses_another_request_and_expires() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let id = customer(store, "acme", 100_000).await;
        let other = customer(store, "other", 100_000).await;
        let to = "+8613800138000";
        assert_eq!(store.idempotent_answer(&id, "k", NOW).await, Ok(None), "{name}");
        let first = store.accept(batch(&id, vec![message("msg_1", to, 10_000)], Some(key("k", "h1")))).await;
        assert_eq!(first, Ok(AcceptOutcome::Stored { balance_after: Money::from_micros(90_000) }), "{name}");
        let kept = KeptAnswer { request_hash: "h1".into(), status: 202, response: key("k", "h1").response };
        assert_eq!(store.idempotent_answer(&id, "k", NOW + 1).await, Ok(Some(kept.clone())), "{name}");
        assert_eq!(store.idempotent_answer(&other, "k", NOW + 1).await, Ok(None), "{name}: keys are per customer");

        // The same key and request: the first answer again, nothing stored or charged.
        let replay = store.accept(batch(&id, vec![message("msg_2", to, 10_000)], Some(key("k", "h1")))).await;
        assert_eq!(replay, Ok(AcceptOutcome::Replayed { status: 202, response: kept.response.clone() }), "{name}");
        assert_eq!(store.find_message(&id, "msg_2").await.map(|_| ()), Err(StoreError::NotFound), "{name}");
        // Another request under the key: refused, nothing stored.
        let conflict = store.accept(batch(&id, vec![message("msg_3", to, 10_000)], Some(key("k", "h2")))).await;
        assert_eq!(conflict, Err(StoreError::IdempotencyConflict), "{name}");
        assert_eq!(store.find_message(&id, "msg_3").await.map(|_| ()), Err(StoreError::NotFound), "{name}");
        // The same key is free for another customer.
        let theirs = store.accept(batch(&other, vec![message("msg_o", to, 10_000)], Some(key("k", "h9")))).await;
        assert!(matches!(theirs, Ok(AcceptOutcome::Stored { .. })), "{name}: {theirs:?}");
        assert_eq!(consistent_balance(store, &id).await, 90_000, "{name}");

        // After 24 hours the key is forgotten.
        let later = NOW + IDEMPOTENCY_WINDOW_MS;
        assert_eq!(store.idempotent_answer(&id, "k", later).await, Ok(None), "{name}");
        // A refused request under the expired key changes nothing (it stays as it was)...
        let much_later = NOW + 2 * IDEMPOTENCY_WINDOW_MS;
        let unpaid = at(batch(&id, vec![message("msg_4", to, 1_000_000)], Some(key("k", "h3"))), much_later);
        assert!(matches!(store.accept(unpaid).await, Err(StoreError::InsufficientBalance { .. })), "{name}");
        assert_eq!(store.idempotent_answer(&id, "k", NOW + 1).await, Ok(Some(kept)), "{name}");
        // ...and one that pays is accepted and kept under the key anew.
        let paid = at(batch(&id, vec![message("msg_5", to, 10_000)], Some(key("k", "h4"))), much_later);
        assert!(matches!(store.accept(paid).await, Ok(AcceptOutcome::Stored { .. })), "{name}");
        let anew = store.idempotent_answer(&id, "k", much_later).await.expect("read");
        assert_eq!(anew.map(|k| k.request_hash).as_deref(), Some("h4"), "{name}");

        // The sweep forgets keys older than 24 hours.
        store.accept(batch(&id, vec![message("msg_6", to, 0)], Some(key("k2", "h1")))).await.expect("accept");
        store.sweep(NOW + IDEMPOTENCY_WINDOW_MS - 1, 100).await.expect("sweep");
        assert!(store.idempotent_answer(&id, "k2", NOW).await.expect("read").is_some(), "{name}: not yet");
        store.sweep(NOW + IDEMPOTENCY_WINDOW_MS, 100).await.expect("sweep");
        assert_eq!(store.idempotent_answer(&id, "k2", NOW).await, Ok(None), "{name}: forgotten by the sweep");
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

#[tokio::test]
async fn messages_accept_many_stores_or_refuses_each_batch_on_its_own() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        // Room for two messages, not three.
        let id = customer(store, "acme", 2 * PRICE + 10).await;
        let rich = customer(store, "rich", 1_000_000).await;
        store.accept(batch(&id, vec![message("msg_k", "+8613800138009", 0)], Some(key("k", "h1")))).await.expect("k");
        let one = |customer_id: &str, id: &str| batch(customer_id, vec![message(id, "+8613800138000", PRICE)], None);
        let rate_limited = AcceptBatch {
            frequency: FrequencyLimits { per_minute: 1, per_hour: 0, per_day: 0 },
            ..batch(&rich, vec![message("msg_r2", "+8613700137000", 1), message("msg_r3", "+8613700137000", 1)], None)
        };
        let job = vec![
            one(&id, "msg_1"),
            one(&rich, "msg_r1"),
            one(&id, "msg_2"),
            one(&id, "msg_3"),
            one("cus_nobody", "msg_n"),
            AcceptBatch { idempotency: Some(key("k", "h2")), ..one(&id, "msg_4") },
            rate_limited,
            AcceptBatch { idempotency: Some(key("k", "h1")), ..one(&id, "msg_5") },
        ];
        let outcomes = store.accept_many(job).await.expect("one job");
        assert_eq!(outcomes.len(), 8, "{name}");
        assert_eq!(outcomes[0], Ok(AcceptOutcome::Stored { balance_after: Money::from_micros(PRICE + 10) }), "{name}");
        assert!(matches!(outcomes[1], Ok(AcceptOutcome::Stored { .. })), "{name}: {:?}", outcomes[1]);
        assert_eq!(outcomes[2], Ok(AcceptOutcome::Stored { balance_after: Money::from_micros(10) }), "{name}");
        assert!(matches!(outcomes[3], Err(StoreError::InsufficientBalance { .. })), "{name}: {:?}", outcomes[3]);
        assert_eq!(outcomes[4], Err(StoreError::NotFound), "{name}");
        assert_eq!(outcomes[5], Err(StoreError::IdempotencyConflict), "{name}");
        assert!(matches!(outcomes[6], Err(StoreError::RateLimited { index: 1, .. })), "{name}: {:?}", outcomes[6]);
        assert!(matches!(outcomes[7], Ok(AcceptOutcome::Replayed { status: 202, .. })), "{name}: {:?}", outcomes[7]);
        for refused in ["msg_3", "msg_4", "msg_5"] {
            assert!(store.find_message(&id, refused).await.is_err(), "{name}: {refused} left nothing");
        }
        assert!(store.find_message(&rich, "msg_r2").await.is_err(), "{name}: the limited batch left nothing");
        assert_eq!(consistent_balance(store, &id).await, 10, "{name}");
        assert_eq!(consistent_balance(store, &rich).await, 1_000_000 - PRICE, "{name}");
        assert_eq!(count(&ledger_of(store, &id).await, LedgerKind::Charge), 3, "{name}: msg_k, msg_1, msg_2");
        assert!(store.accept_many(Vec::new()).await.expect("empty job").is_empty(), "{name}");
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

#[tokio::test]
async fn messages_a_batch_that_fails_in_a_job_leaves_nothing_and_the_others_stand_whole() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let id = customer(store, "acme", 1_000_000).await;
        store.accept(batch(&id, vec![message("msg_taken", "+8613800138000", PRICE)], None)).await.expect("accept");
        // The second batch's second message reuses a stored id: a storage error half-way.
        let job = vec![
            batch(&id, vec![message("msg_1", "+8613800138001", PRICE)], None),
            batch(&id, vec![message("msg_2", "+8613800138002", PRICE), message("msg_taken", "+86138", PRICE)], None),
            batch(&id, vec![message("msg_3", "+8613800138003", PRICE)], None),
        ];
        // Both backends refuse the whole job (their group commit rolls back: every check comes
        // before the writes, which are one statement each for the whole job); an
        // implementation that stored the others instead would pass too. Either way no batch
        // is half-stored and the money adds up.
        let outcomes = match store.accept_many(job).await {
            Ok(outcomes) => outcomes,
            Err(_) => vec![Err(StoreError::Aborted); 3],
        };
        assert!(outcomes[1].is_err(), "{name}: {:?}", outcomes[1]);
        assert!(store.find_message(&id, "msg_2").await.is_err(), "{name}: the failed batch left nothing");
        let mut charged = 1;
        for (outcome, id_of) in [(&outcomes[0], "msg_1"), (&outcomes[2], "msg_3")] {
            let stored = store.find_message(&id, id_of).await.is_ok();
            assert_eq!(outcome.is_ok(), stored, "{name}: {id_of} stored exactly when its batch was");
            charged += usize::from(stored);
        }
        let balance = consistent_balance(store, &id).await;
        assert_eq!(balance, 1_000_000 - PRICE * i64::try_from(charged).expect("n"), "{name}");
        assert_eq!(count(&ledger_of(store, &id).await, LedgerKind::Charge), charged, "{name}");
        assert_eq!(status_of(store, &id, "msg_taken").await, MessageStatus::Queued, "{name}: untouched");
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

#[tokio::test]
async fn messages_cancel_takes_scheduled_and_untaken_queued_messages_only_and_refunds_once() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let id = customer(store, "acme", 1_000_000).await;
        let other = customer(store, "other", 1_000_000).await;
        let to = "+8613800138000";
        let messages = vec![
            scheduled("msg_s", to, PRICE, NOW + DAY),
            message("msg_q1", to, PRICE),
            message("msg_q2", to, PRICE),
            message("msg_free", to, 0),
        ];
        store.accept(batch(&id, messages, None)).await.expect("accept");
        assert_eq!(store.cancel_message(&other, "msg_s", NOW).await.map(|_| ()), Err(StoreError::NotFound), "{name}");
        assert_eq!(store.cancel_message(&id, "msg_none", NOW).await.map(|_| ()), Err(StoreError::NotFound), "{name}");
        assert_eq!(
            store.cancel_message("cus_nobody", "msg_s", NOW).await.map(|_| ()),
            Err(StoreError::NotFound),
            "{name}"
        );

        let cancelled = store.cancel_message(&id, "msg_s", NOW + 1).await.expect("cancel scheduled");
        assert_eq!((cancelled.status, cancelled.updated_at), (MessageStatus::Cancelled, NOW + 1), "{name}");
        let (_, events) = store.find_message(&id, "msg_s").await.expect("find");
        let trail: Vec<(MessageStatus, i64)> = events.iter().map(|e| (e.status, e.at)).collect();
        assert_eq!(trail, [(MessageStatus::Scheduled, NOW), (MessageStatus::Cancelled, NOW + 1)], "{name}");
        let again = store.cancel_message(&id, "msg_s", NOW + 2).await;
        assert_eq!(again.map(|_| ()), Err(StoreError::NotCancellable("cancelled".into())), "{name}: once");

        // The dispatcher takes msg_q1 (its mark passes it); msg_q2 stays behind the mark.
        let read = store.queued_after(0, 10).await.expect("read");
        let q1 = read.iter().find(|m| m.id == "msg_q1").expect("msg_q1 queued").queue_seq;
        assert!(read.iter().any(|m| m.id == "msg_q2" && m.queue_seq > q1), "{name}: in batch order");
        assert_eq!(store.mark_dispatched(0, q1, 1).await, Ok(None), "{name}");
        let taken = store.cancel_message(&id, "msg_q1", NOW + 3).await;
        assert_eq!(taken.map(|_| ()), Err(StoreError::NotCancellable("queued".into())), "{name}");
        assert_eq!(status_of(store, &id, "msg_q1").await, MessageStatus::Queued, "{name}");
        let untaken = store.cancel_message(&id, "msg_q2", NOW + 3).await.expect("cancel queued");
        assert_eq!(untaken.status, MessageStatus::Cancelled, "{name}");
        // A free message is cancelled without a refund entry.
        store.cancel_message(&id, "msg_free", NOW + 3).await.expect("cancel free");

        assert_eq!(consistent_balance(store, &id).await, 1_000_000 - PRICE, "{name}: msg_q1 alone stays charged");
        let ledger = ledger_of(store, &id).await;
        let refunds: Vec<(Option<&str>, i64)> = ledger
            .iter()
            .filter(|e| e.kind == LedgerKind::Refund)
            .map(|e| (e.message_id.as_deref(), e.amount.micros()))
            .collect();
        assert_eq!(refunds, [(Some("msg_s"), PRICE), (Some("msg_q2"), PRICE)], "{name}");
        assert_eq!(consistent_balance(store, &other).await, 1_000_000, "{name}");
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

#[tokio::test]
async fn messages_the_sweep_releases_due_messages_and_expires_untaken_ones_with_their_refund() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let id = customer(store, "acme", 1_000_000).await;
        let to = "+8613800138000";
        let price = 10_000;
        // Taken by the dispatcher before it expires: the dispatcher's to expire, not the sweep's.
        store.accept(batch(&id, vec![expiring(message("msg_taken", to, price), NOW + 10)], None)).await.expect("a");
        let read = store.queued_after(0, 10).await.expect("read");
        let mark = read.iter().find(|m| m.id == "msg_taken").expect("queued").queue_seq;
        assert_eq!(store.mark_dispatched(0, mark, 1).await, Ok(None), "{name}");
        let messages = vec![
            scheduled("msg_due", to, price, NOW + 10),
            expiring(scheduled("msg_late", to, price, NOW + DAY), NOW + 10),
            expiring(scheduled("msg_both", to, price, NOW + 10), NOW + 10),
            expiring(message("msg_stale", to, price), NOW + 10),
            expiring(message("msg_live", to, price), NOW + 10 * DAY),
            scheduled("msg_future", to, price, NOW + DAY),
        ];
        store.accept(batch(&id, messages, None)).await.expect("accept");
        assert_eq!(store.sweep(NOW + 9, 100).await, Ok(SweepReport::default()), "{name}: nothing due yet");

        let report = store.sweep(NOW + 20, 100).await.expect("sweep");
        assert_eq!(report, SweepReport { released: 1, expired: 3 }, "{name}");
        for (message_id, status) in [
            ("msg_taken", MessageStatus::Queued),
            ("msg_due", MessageStatus::Queued),
            ("msg_late", MessageStatus::Expired),
            ("msg_both", MessageStatus::Expired),
            ("msg_stale", MessageStatus::Expired),
            ("msg_live", MessageStatus::Queued),
            ("msg_future", MessageStatus::Scheduled),
        ] {
            assert_eq!(status_of(store, &id, message_id).await, status, "{name}: {message_id}");
        }
        let (released, events) = store.find_message(&id, "msg_due").await.expect("find");
        assert_eq!(released.updated_at, NOW + 20, "{name}");
        let trail: Vec<(MessageStatus, i64)> = events.iter().map(|e| (e.status, e.at)).collect();
        assert_eq!(trail, [(MessageStatus::Scheduled, NOW), (MessageStatus::Queued, NOW + 20)], "{name}");
        // The released message joined the queue behind everything queued before it.
        let queue: Vec<String> = store.queued_after(mark, 10).await.expect("read").into_iter().map(|m| m.id).collect();
        assert_eq!(queue, ["msg_live", "msg_due"], "{name}: the queue past the mark");

        assert_eq!(consistent_balance(store, &id).await, 1_000_000 - 7 * price + 3 * price, "{name}");
        let ledger = ledger_of(store, &id).await;
        let mut refunded: Vec<&str> =
            ledger.iter().filter(|e| e.kind == LedgerKind::Refund).filter_map(|e| e.message_id.as_deref()).collect();
        refunded.sort_unstable();
        assert_eq!(refunded, ["msg_both", "msg_late", "msg_stale"], "{name}");
        assert_eq!(store.sweep(NOW + 30, 100).await, Ok(SweepReport::default()), "{name}: each once");

        // At most `limit` of each per call.
        let later = NOW + 2 * DAY;
        let mut more = Vec::new();
        for n in 0..3 {
            more.push(scheduled(&format!("msg_d{n}"), to, price, later));
            more.push(expiring(scheduled(&format!("msg_e{n}"), to, price, later + DAY), later));
        }
        store.accept(batch(&id, more, None)).await.expect("accept");
        // (msg_future is due by now too.)
        assert_eq!(store.sweep(later, 2).await, Ok(SweepReport { released: 2, expired: 2 }), "{name}");
        assert_eq!(store.sweep(later, 2).await, Ok(SweepReport { released: 2, expired: 1 }), "{name}");
        assert_eq!(store.sweep(later, 2).await, Ok(SweepReport::default()), "{name}");
        consistent_balance(store, &id).await;
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

#[tokio::test]
async fn messages_purge_erases_old_final_content_only_with_its_audit_entry() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let id = customer(store, "acme", 1_000_000).await;
        let other = customer(store, "other", 1_000_000).await;
        let old = NOW - 100 * DAY;
        let to = "+8613800138000";
        let with_source = |m: NewMessage| NewMessage { source: Some("http:192.0.2.1".into()), ..m };
        let messages = vec![
            with_source(scheduled("msg_o1", to, PRICE, NOW + DAY)),
            with_source(scheduled("msg_o2", to, PRICE, NOW + DAY)),
            with_source(expiring(message("msg_o3", to, PRICE), old + 1)),
            with_source(message("msg_o4", to, PRICE)),
        ];
        store.accept(at(batch(&id, messages, None), old)).await.expect("old");
        store.accept(batch(&id, vec![scheduled("msg_n1", to, PRICE, NOW + DAY)], None)).await.expect("new");
        store.accept(at(batch(&other, vec![scheduled("msg_x", to, PRICE, NOW + DAY)], None), old)).await.expect("x");
        for (customer_id, message_id) in [(&id, "msg_o1"), (&id, "msg_o2"), (&id, "msg_n1"), (&other, "msg_x")] {
            store.cancel_message(customer_id, message_id, NOW).await.expect("cancel");
        }
        assert_eq!(store.sweep(old + 2, 100).await.map(|r| r.expired), Ok(1), "{name}: msg_o3 expired");
        let number = CustomerNumber { number: "+8610690001".into(), customer_id: id.clone(), created_at: old };
        store.add_number(number).await.expect("number");
        for (inbound_id, received_at) in [("in_old", old), ("in_new", NOW)] {
            let inbound = NewInbound {
                id: inbound_id.into(),
                sender: to.into(),
                recipient: "+8610690001".into(),
                text: "reply".into(),
                link: "sim".into(),
                received_at,
                opt_out: None,
            };
            assert!(store.record_inbound(inbound).await.expect("inbound").is_some(), "{name}");
        }
        for at_ms in [old, NOW] {
            let violation = NewViolation {
                customer_id: id.clone(),
                at: at_ms,
                category: "advertising".into(),
                kind: ViolationKind::Rejected,
                message_id: None,
                text: "buy now".into(),
            };
            store.record_violation(violation, 0).await.expect("violation");
        }
        let audits = store.list_audit(None, 100).await.expect("audit").len();

        let before = NOW - DAY;
        let first = store.purge_content(&id, before, 2, audit("retention.purge")).await.expect("purge");
        assert_eq!(first, PurgeReport { messages: 2, inbound: 1, violations: 1 }, "{name}: at most 2 messages");
        let second = store.purge_content(&id, before, 10, audit("retention.purge")).await.expect("purge");
        assert_eq!(second, PurgeReport { messages: 1, inbound: 0, violations: 0 }, "{name}");
        let third = store.purge_content(&id, before, 10, audit("retention.purge")).await.expect("purge");
        assert_eq!(third, PurgeReport::default(), "{name}: nothing left");

        let trail = store.list_audit(None, 100).await.expect("audit");
        assert_eq!(trail.len(), audits + 2, "{name}: an entry per purge that erased something");
        assert_eq!(trail[0].entry.action, "retention.purge", "{name}");
        let after: serde_json::Value =
            serde_json::from_str(trail[0].entry.after.as_deref().expect("after")).expect("json");
        assert_eq!(after, serde_json::json!({"messages": 1, "inbound": 0, "violations": 0}), "{name}");
        let after: serde_json::Value =
            serde_json::from_str(trail[1].entry.after.as_deref().expect("after")).expect("json");
        assert_eq!(after, serde_json::json!({"messages": 2, "inbound": 1, "violations": 1}), "{name}");

        let records = store.message_records(&id, 0, i64::MAX, "", 100).await.expect("records");
        let view: Vec<(&str, &str, &str, Option<&str>)> = records
            .iter()
            .map(|r| (r.id.as_str(), r.recipient.as_str(), r.text.as_str(), r.source.as_deref()))
            .collect();
        assert_eq!(
            view,
            [
                ("msg_n1", to, "hi", None),
                ("msg_o1", "+86138****8000", "", None),
                ("msg_o2", "+86138****8000", "", None),
                ("msg_o3", "+86138****8000", "", None),
                ("msg_o4", to, "hi", Some("http:192.0.2.1")),
            ],
            "{name}: old final messages erased and masked; the queued one and the new one kept"
        );
        let (erased, _) = store.find_message(&id, "msg_o1").await.expect("find");
        assert_eq!((erased.status, erased.price.micros()), (MessageStatus::Cancelled, PRICE), "{name}: billing kept");
        let theirs = store.message_records(&other, 0, i64::MAX, "", 100).await.expect("records");
        assert_eq!(theirs[0].text, "hi", "{name}: another customer's content stays");
        consistent_balance(store, &id).await;
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

#[tokio::test]
async fn messages_records_page_by_id_within_the_period_per_customer() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let id = customer(store, "acme", 1_000_000).await;
        let other = customer(store, "other", 1_000_000).await;
        let sent = |n: u32| NewMessage {
            sender: Some("10690001".into()),
            source: Some("smpp:sys@192.0.2.1".into()),
            text: format!("text {n}"),
            ..message(&format!("msg_r{n}"), &format!("+861380013800{n}"), 1)
        };
        store.accept(batch(&id, (1..=5).map(sent).collect(), None)).await.expect("accept");
        store.accept(at(batch(&id, vec![sent(6)], None), NOW + DAY)).await.expect("later");
        store.accept(at(batch(&id, vec![sent(0)], None), NOW - 1)).await.expect("earlier");
        store.accept(batch(&other, vec![message("msg_r9", "+8613800138009", 1)], None)).await.expect("other");
        let page = |after: &'static str| {
            let id = id.clone();
            async move { store.message_records(&id, NOW, NOW + DAY, after, 2).await.expect("records") }
        };
        let first = page("").await;
        let expected = MessageRecord {
            id: "msg_r1".into(),
            created_at: NOW,
            sender: Some("10690001".into()),
            recipient: "+8613800138001".into(),
            text: "text 1".into(),
            status: "queued".into(),
            source: Some("smpp:sys@192.0.2.1".into()),
        };
        assert_eq!(first[0], expected, "{name}");
        let names = |records: Vec<MessageRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(names(first), ["msg_r1", "msg_r2"], "{name}");
        assert_eq!(names(page("msg_r2").await), ["msg_r3", "msg_r4"], "{name}");
        assert_eq!(names(page("msg_r4").await), ["msg_r5"], "{name}: the period ends before msg_r6");
        assert!(page("msg_r5").await.is_empty(), "{name}");
        assert!(store.message_records(&other, NOW, NOW + DAY, "", 10).await.expect("records").len() == 1, "{name}");
    }
}

#[tokio::test]
async fn messages_timings_show_the_newest_messages_with_their_final_time() {
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let id = customer(store, "acme", 1_000_000).await;
        store.accept(batch(&id, vec![message("msg_t1", "+8613800138000", PRICE)], None)).await.expect("accept");
        let later = vec![scheduled("msg_t2", "+8613800138000", PRICE, NOW + DAY)];
        store.accept(at(batch(&id, later, None), NOW + 1)).await.expect("accept");
        store.cancel_message(&id, "msg_t2", NOW + 5).await.expect("cancel");
        let timings = store.message_timings(&id, 10).await.expect("timings");
        let cancelled = MessageTiming {
            status: MessageStatus::Cancelled,
            accepted_at: NOW + 1,
            submitted_at: None,
            final_at: Some(NOW + 5),
        };
        let queued =
            MessageTiming { status: MessageStatus::Queued, accepted_at: NOW, submitted_at: None, final_at: None };
        assert_eq!(timings, [cancelled, queued], "{name}: newest first");
        assert_eq!(store.message_timings(&id, 1).await, Ok(vec![cancelled]), "{name}: limit");
        assert_eq!(store.message_timings("cus_nobody", 10).await, Ok(vec![]), "{name}");
    }
}

// ---- several callers, several nodes ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_concurrent_accepts_from_every_node_never_overdraw_and_charge_each_message_once() {
    for Nodes { name, nodes, _keep } in node_sets().await {
        let store = &*nodes[0];
        const PAID: i64 = 12;
        const TRIES: usize = 40;
        let id = customer(store, "racer", PAID * PRICE + PRICE / 2).await;
        let mut tasks = Vec::new();
        for n in 0..TRIES {
            let (node, id) = (nodes[n % nodes.len()].clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                let one =
                    batch(&id, vec![message(&format!("msg_{n:03}"), &format!("+86138001380{n:02}"), PRICE)], None);
                if n % 2 == 0 {
                    node.accept(one).await
                } else {
                    let mut outcomes = node.accept_many(vec![one]).await?;
                    outcomes.pop().unwrap_or(Err(StoreError::NotFound))
                }
            }));
        }
        let (mut stored, mut refused) = (0, 0);
        for task in tasks {
            match task.await.expect("task") {
                Ok(AcceptOutcome::Stored { balance_after }) => {
                    assert!(balance_after.micros() >= 0, "{name}");
                    stored += 1;
                }
                Err(StoreError::InsufficientBalance { .. }) => refused += 1,
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!((stored, refused), (PAID, TRIES as i64 - PAID), "{name}: exactly what the balance pays");
        assert_eq!(consistent_balance(store, &id).await, PRICE / 2, "{name}");
        let ledger = ledger_of(store, &id).await;
        assert_eq!(count(&ledger, LedgerKind::Charge) as i64, stored, "{name}: one charge per accepted message");
        assert!(ledger.iter().all(|e| e.balance_after.micros() >= 0), "{name}: never negative");
        let listed = store.list_messages(&id, all(100)).await.expect("list");
        assert_eq!(listed.len() as i64, stored, "{name}");
        let queue = nodes[1].queued_after(0, 100).await.expect("queue");
        let mut places: Vec<i64> = queue.iter().map(|m| m.queue_seq).collect();
        places.sort_unstable();
        places.dedup();
        assert_eq!(places.len() as i64, stored, "{name}: a place in the queue each");
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_concurrent_requests_under_one_key_or_limit_are_decided_once() {
    for Nodes { name, nodes, _keep } in node_sets().await {
        let store = &*nodes[0];
        let id = customer(store, "racer", 1_000_000).await;
        // One Idempotency-Key, the same request, from every node at once: stored once.
        let mut tasks = Vec::new();
        for n in 0..8 {
            let (node, id) = (nodes[n % nodes.len()].clone(), id.clone());
            let one = batch(&id, vec![message(&format!("msg_k{n}"), "+8613800138000", PRICE)], Some(key("k", "h")));
            tasks.push(tokio::spawn(async move { node.accept(one).await }));
        }
        let mut stored = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(AcceptOutcome::Stored { .. }) => stored += 1,
                Ok(AcceptOutcome::Replayed { status: 202, .. }) => {}
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(stored, 1, "{name}: one request stored, the others replayed");
        assert_eq!(consistent_balance(store, &id).await, 1_000_000 - PRICE, "{name}");

        // One message a minute to a recipient, asked from every node at once: one goes.
        let mut tasks = Vec::new();
        for n in 0..8 {
            let (node, id) = (nodes[n % nodes.len()].clone(), id.clone());
            let one = AcceptBatch {
                frequency: FrequencyLimits { per_minute: 1, per_hour: 0, per_day: 0 },
                ..batch(&id, vec![message(&format!("msg_f{n}"), "+8613900139000", PRICE)], None)
            };
            tasks.push(tokio::spawn(async move { node.accept(one).await }));
        }
        let mut stored = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(AcceptOutcome::Stored { .. }) => stored += 1,
                Err(StoreError::RateLimited { index: 0, .. }) => {}
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(stored, 1, "{name}: the limit holds across nodes");
        assert_eq!(consistent_balance(store, &id).await, 1_000_000 - 2 * PRICE, "{name}");
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_concurrent_cancels_and_sweeps_refund_each_message_once() {
    for Nodes { name, nodes, _keep } in node_sets().await {
        let store = &*nodes[0];
        let id = customer(store, "racer", 1_000_000).await;
        let to = "+8613800138000";
        let mut messages = Vec::new();
        for n in 0..10 {
            messages.push(scheduled(&format!("msg_c{n}"), to, 1_000, NOW + DAY));
            messages.push(expiring(message(&format!("msg_e{n}"), to, 1_000), NOW + 10));
            messages.push(expiring(scheduled(&format!("msg_s{n}"), to, 1_000, NOW + DAY), NOW + 10));
            messages.push(scheduled(&format!("msg_r{n}"), to, 1_000, NOW + 10));
        }
        store.accept(batch(&id, messages, None)).await.expect("accept");
        let mut cancels = Vec::new();
        for n in 0..20 {
            let (node, id) = (nodes[n % nodes.len()].clone(), id.clone());
            cancels
                .push(tokio::spawn(async move { node.cancel_message(&id, &format!("msg_c{}", n / 2), NOW + 1).await }));
        }
        let mut sweeps = Vec::new();
        for n in 0..6 {
            let node = nodes[n % nodes.len()].clone();
            sweeps.push(tokio::spawn(async move { node.sweep(NOW + 20, 7).await }));
        }
        let mut cancelled = 0;
        for task in cancels {
            match task.await.expect("task") {
                Ok(m) => {
                    assert_eq!(m.status, MessageStatus::Cancelled, "{name}");
                    cancelled += 1;
                }
                Err(StoreError::NotCancellable(status)) => assert_eq!(status, "cancelled", "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(cancelled, 10, "{name}: each message cancelled by one of its two callers");
        let mut report = SweepReport::default();
        for task in sweeps {
            let one = task.await.expect("task").unwrap_or_else(|e| panic!("{name}: {e}"));
            report.released += one.released;
            report.expired += one.expired;
        }
        // Whatever the concurrent sweeps left, a last one finishes.
        let rest = store.sweep(NOW + 20, 100).await.expect("sweep");
        assert_eq!(report.released + rest.released, 10, "{name}: each due message released once");
        assert_eq!(report.expired + rest.expired, 20, "{name}: each stale message expired once");
        let ledger = ledger_of(store, &id).await;
        assert_eq!(count(&ledger, LedgerKind::Refund), 30, "{name}: one refund each");
        assert_eq!(consistent_balance(store, &id).await, 1_000_000 - 10_000, "{name}: the released ones stay paid");
        let queue = store.queued_after(0, 100).await.expect("queue");
        let mut places: Vec<i64> = queue.iter().map(|m| m.queue_seq).collect();
        places.sort_unstable();
        places.dedup();
        assert_eq!(places.len(), 10, "{name}: a place each for the released messages");
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_a_dispatcher_reading_the_queue_in_order_misses_nothing_accepted_concurrently() {
    for Nodes { name, nodes, _keep } in node_sets().await {
        let store = nodes[0].clone();
        // Customers of their own: their accepts do not wait for one another.
        let mut customers = Vec::new();
        for k in 0..8 {
            customers.push(customer(&*store, &format!("racer{k}"), 1_000_000_000).await);
        }
        let mut tasks = Vec::new();
        for n in 0..64 {
            let (node, id) = (nodes[n % nodes.len()].clone(), customers[n % customers.len()].clone());
            tasks.push(tokio::spawn(async move {
                let messages = (0..3).map(|k| message(&format!("msg_{n:03}_{k}"), "+8613800138000", 1)).collect();
                node.accept(batch(&id, messages, None)).await
            }));
        }
        // The dispatcher: reads past its cursor in queue order while the accepts commit.
        let (mut cursor, mut seen) = (0, std::collections::HashSet::new());
        let reader = nodes[1].clone();
        loop {
            let done = tasks.iter().all(|t| t.is_finished());
            for m in reader.queued_after(cursor, 1000).await.expect("read") {
                cursor = cursor.max(m.queue_seq);
                seen.insert(m.id);
            }
            if done {
                break;
            }
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.expect("task").unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let mut stored = Vec::new();
        for id in &customers {
            stored.extend(store.list_messages(id, all(1000)).await.expect("list"));
        }
        let missed: Vec<&str> = stored.iter().map(|m| m.id.as_str()).filter(|m| !seen.contains(*m)).collect();
        assert!(missed.is_empty(), "{name}: committed behind the dispatcher's cursor: {missed:?}");
        assert_eq!(stored.len(), 192, "{name}");
    }
}

#[tokio::test]
async fn messages_traffic_counts_each_period_by_status_for_one_customer() {
    const HOUR: i64 = 3_600_000;
    for b in backends().await {
        let (store, name) = (&*b.store, b.name);
        let id = customer(store, "acme", 1_000_000).await;
        let other = customer(store, "other", 1_000_000).await;
        let to = "+8613800138000";
        let fresh = |n: usize| (0..n).map(|_| message(&tongdao_domain::id::new_id("msg"), to, 10)).collect::<Vec<_>>();
        store.accept(batch(&id, fresh(3), None)).await.expect("accept");
        store.accept(at(batch(&id, fresh(2), None), NOW + HOUR + 5)).await.expect("an hour later");
        store.accept(at(batch(&id, fresh(1), None), NOW + 5 * HOUR)).await.expect("past the range");
        store.accept(batch(&other, fresh(4), None)).await.expect("another customer");

        let rows = store.traffic(&id, NOW, NOW + 2 * HOUR, HOUR).await.expect("traffic");
        let seen: Vec<(i64, MessageStatus, u64)> = rows.iter().map(|r| (r.period, r.status, r.count)).collect();
        assert_eq!(seen, vec![(NOW, MessageStatus::Queued, 3), (NOW + HOUR, MessageStatus::Queued, 2)], "{name}");
        let none = store.traffic(&id, NOW + 10 * HOUR, NOW + 12 * HOUR, HOUR).await.expect("empty");
        assert!(none.is_empty(), "{name}");
    }
}
