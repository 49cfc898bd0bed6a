//! The contract of the core methods: customers, agreements, tariffs, credentials, the
//! ledger's manual entries, balances and the chain — and what several nodes doing them at
//! once must not break.

use tongdao_domain::Tariff;

use super::*;

/// The stores of one backend that share one database: SQLite's one store, or two
/// `PgStore`s (two nodes) on one PostgreSQL schema.
struct Nodes {
    name: &'static str,
    stores: Vec<Arc<dyn Store>>,
    _dir: Option<tempfile::TempDir>,
}

impl Nodes {
    /// The store task `n` goes through: the nodes in turn.
    fn node(&self, n: usize) -> Arc<dyn Store> {
        Arc::clone(&self.stores[n % self.stores.len()])
    }
}

async fn nodes() -> Vec<Nodes> {
    let mut all = Vec::new();
    for b in backends().await {
        if b.name != "postgres" {
            all.push(Nodes { name: b.name, stores: vec![b.store], _dir: b._dir });
        }
    }
    if let Ok(url) = std::env::var(DATABASE_URL)
        && !url.is_empty()
    {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!("core_nodes_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let url = tongdao_store::postgres::scratch_schema(&url, &schema).await.expect("schema");
        let options = PgOptions { connections: 4, ..PgOptions::default() };
        let one = PgStore::connect_with(&url, options.clone()).await.expect("node one");
        let two = PgStore::connect_with(&url, options).await.expect("node two");
        all.push(Nodes { name: "postgres", stores: vec![Arc::new(one), Arc::new(two)], _dir: None });
    }
    all
}

fn new_customer(id: &str, name: &str) -> NewCustomer {
    NewCustomer { id: id.into(), name: name.into(), address: "Addr".into(), contact: "c@x".into(), created_at: 7 }
}

fn key(id: &str, customer_id: &str, hash: &str, created_at: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        customer_id: customer_id.into(),
        hash: hash.into(),
        label: format!("label {id}"),
        created_at,
        revoked_at: None,
        rps: 25,
    }
}

fn refunds(entries: &[LedgerEntry]) -> Vec<&str> {
    entries.iter().filter(|e| e.kind == LedgerKind::Refund).filter_map(|e| e.message_id.as_deref()).collect()
}

#[tokio::test]
async fn a_new_store_answers_ping() {
    for b in backends().await {
        b.store.ping().await.unwrap_or_else(|e| panic!("{}: {e}", b.name));
    }
}

#[tokio::test]
async fn a_customer_is_stored_as_given_and_listed_by_name_in_byte_order() {
    for b in backends().await {
        let store = &*b.store;
        let created = store.create_customer(new_customer("cus_z", "zeta")).await.expect("create");
        let expected = Customer {
            id: "cus_z".into(),
            name: "zeta".into(),
            address: "Addr".into(),
            contact: "c@x".into(),
            balance: Money::ZERO,
            created_at: 7,
            low_balance_threshold: None,
            terminated_at: None,
            erased_at: None,
            notice_email: None,
        };
        assert_eq!(created, expected, "{}", b.name);
        assert_eq!(store.find_customer("cus_z").await.as_ref(), Ok(&expected), "{}", b.name);
        assert_eq!(store.find_customer("zeta").await.as_ref(), Ok(&expected), "{}", b.name);
        for (id, name) in [("cus_b", "Beta"), ("cus_a", "alpha"), ("cus_u", "_under")] {
            store.create_customer(new_customer(id, name)).await.expect("create");
        }
        let names: Vec<String> = store.list_customers().await.expect("list").into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["Beta", "_under", "alpha", "zeta"], "{}: byte order, as SQLite sorts", b.name);
        // A name that is another customer's id is taken too.
        let clash = store.create_customer(new_customer("cus_q", "cus_a")).await;
        assert!(matches!(clash, Err(StoreError::Conflict(_))), "{}: {clash:?}", b.name);
        assert_eq!(store.find_customer("cus_q").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.list_customers().await.expect("list").len(), 4, "{}", b.name);
    }
}

#[tokio::test]
async fn one_name_created_on_several_nodes_at_once_makes_one_customer() {
    for n in nodes().await {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = n.node(i);
                tokio::spawn(async move { store.create_customer(new_customer(&format!("cus_{i}"), "acme")).await })
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(_) => created += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("{}: {e:?}", n.name),
            }
        }
        assert_eq!(created, 1, "{}", n.name);
        assert_eq!(n.stores[0].list_customers().await.expect("list").len(), 1, "{}", n.name);
    }
}

#[tokio::test]
async fn agreements_are_numbered_per_customer_and_read_back_whole() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        assert_eq!(store.current_agreement(&id).await, Ok(None), "{}", b.name);
        assert_eq!(store.list_agreements(&id).await, Ok(vec![]), "{}", b.name);
        let mut first_terms = terms();
        first_terms.compliance.advertising_review_at = Some(42);
        first_terms.max_segments = 7;
        let draft = Agreement::draft(&id, first_terms, 100);
        let first = store.create_agreement(draft.clone()).await.expect("first");
        assert_eq!(first, Agreement { version: 1, ..draft }, "{}: stored as given, numbered 1", b.name);
        assert_eq!(store.find_agreement(&first.id).await.as_ref(), Ok(&first), "{}", b.name);
        let second = store.create_agreement(Agreement::draft(&id, terms(), 200)).await.expect("second");
        assert_eq!(second.version, 2, "{}", b.name);
        let elsewhere = store.create_agreement(Agreement::draft(&other, terms(), 300)).await.expect("other's");
        assert_eq!(elsewhere.version, 1, "{}: numbered per customer", b.name);
        assert_eq!(store.current_agreement(&id).await, Ok(Some(second.clone())), "{}", b.name);
        assert_eq!(store.list_agreements(&id).await, Ok(vec![first, second]), "{}", b.name);
        assert_eq!(store.find_agreement("agr_nope").await, Err(StoreError::NotFound), "{}", b.name);
        let orphan = store.create_agreement(Agreement::draft("cus_nobody", terms(), 0)).await;
        assert_eq!(orphan, Err(StoreError::NotFound), "{}", b.name);
    }
}

#[tokio::test]
async fn agreements_created_on_several_nodes_at_once_get_distinct_versions() {
    for n in nodes().await {
        let id = customer(&*n.stores[0], "acme", 0).await;
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, id) = (n.node(i), id.clone());
                tokio::spawn(async move { store.create_agreement(Agreement::draft(&id, terms(), 0)).await })
            })
            .collect();
        let mut versions = Vec::new();
        for task in tasks {
            versions.push(task.await.expect("task").unwrap_or_else(|e| panic!("{}: {e:?}", n.name)).version);
        }
        versions.sort_unstable();
        assert_eq!(versions, (1..=8).collect::<Vec<u32>>(), "{}", n.name);
    }
}

#[tokio::test]
async fn an_agreement_moves_through_its_lifecycle_and_refuses_what_it_may_not() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        let draft = store.create_agreement(Agreement::draft(&id, terms(), 0)).await.expect("draft");
        let signed = store.change_agreement(&draft.id, AgreementChange::Sign, 10, None).await.expect("sign");
        assert_eq!(signed.signed_at, Some(10), "{}", b.name);
        let again = store.change_agreement(&draft.id, AgreementChange::Sign, 11, None).await;
        assert!(matches!(again, Err(StoreError::Refused(_))), "{}: {again:?}", b.name);
        let wrong = AgreementChange::Accept { terms_version: "v0".into() };
        let wrong = store.change_agreement(&draft.id, wrong, 12, None).await;
        assert!(matches!(wrong, Err(StoreError::Refused(_))), "{}: {wrong:?}", b.name);
        let accept = AgreementChange::Accept { terms_version: "v1".into() };
        let accepted = store.change_agreement(&draft.id, accept, 13, None).await.expect("accept");
        let marks = (accepted.accepted_at, accepted.accepted_terms_version.as_deref());
        assert_eq!(marks, (Some(13), Some("v1")), "{}", b.name);
        let blank = AgreementChange::Suspend { reason: " ".into() };
        let blank = store.change_agreement(&draft.id, blank, 14, None).await;
        assert!(matches!(blank, Err(StoreError::Refused(_))), "{}: {blank:?}", b.name);
        let suspend = AgreementChange::Suspend { reason: "unpaid".into() };
        let suspended = store.change_agreement(&draft.id, suspend, 15, None).await.expect("suspend");
        let marks = (suspended.suspended_at, suspended.suspension_reason.as_deref());
        assert_eq!(marks, (Some(15), Some("unpaid")), "{}", b.name);
        let resumed = store.change_agreement(&draft.id, AgreementChange::Resume, 16, None).await.expect("resume");
        assert_eq!((resumed.suspended_at, resumed.suspension_reason), (None, None), "{}", b.name);
        let resume = store.change_agreement(&draft.id, AgreementChange::Resume, 17, None).await;
        assert!(matches!(resume, Err(StoreError::Refused(_))), "{}: not suspended: {resume:?}", b.name);
        let end = AgreementChange::Terminate { reason: "ended".into() };
        let ended = store.change_agreement(&draft.id, end, 18, None).await.expect("terminate");
        assert_eq!(ended.terminated_at, Some(18), "{}", b.name);
        // Every change was written: what is read back is what the last change returned.
        assert_eq!(store.find_agreement(&draft.id).await.as_ref(), Ok(&ended), "{}", b.name);
        assert_eq!(ended.accepted_at, Some(13), "{}", b.name);
        let after_end = store.change_agreement(&draft.id, AgreementChange::Resume, 19, None).await;
        assert!(matches!(after_end, Err(StoreError::Refused(_))), "{}: {after_end:?}", b.name);
        assert_eq!(store.find_agreement(&draft.id).await.as_ref(), Ok(&ended), "{}: a refusal writes nothing", b.name);
        let missing = store.change_agreement("agr_nope", AgreementChange::Sign, 0, None).await;
        assert_eq!(missing, Err(StoreError::NotFound), "{}", b.name);
    }
}

#[tokio::test]
async fn the_same_suspension_on_several_nodes_at_once_is_applied_once() {
    for n in nodes().await {
        let id = customer(&*n.stores[0], "acme", 0).await;
        let agreement = n.stores[0].create_agreement(Agreement::draft(&id, terms(), 0)).await.expect("agreement");
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let (store, agreement_id) = (n.node(i), agreement.id.clone());
                let reason = format!("reason {i}");
                tokio::spawn(async move {
                    store.change_agreement(&agreement_id, AgreementChange::Suspend { reason }, NOW, None).await
                })
            })
            .collect();
        let mut applied = Vec::new();
        for task in tasks {
            match task.await.expect("task") {
                Ok(a) => applied.push(a),
                Err(StoreError::Refused(_)) => {}
                Err(e) => panic!("{}: {e:?}", n.name),
            }
        }
        assert_eq!(applied.len(), 1, "{}: one suspension, the others see it", n.name);
        let stored = n.stores[1 % n.stores.len()].find_agreement(&agreement.id).await.expect("find");
        assert_eq!(stored, applied[0], "{}: the suspension that was applied is the one stored", n.name);
    }
}

#[tokio::test]
async fn a_suspension_cancels_and_refunds_what_waits_and_writes_its_audit_entry() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 1_000_000).await;
        let other = customer(store, "other", 1_000_000).await;
        let agreement = store.create_agreement(Agreement::draft(&id, terms(), 0)).await.expect("agreement");
        let held = NewMessage { status: MessageStatus::Held, ..message("msg_h", "+8613800138000", 10_000) };
        let scheduled = NewMessage {
            status: MessageStatus::Scheduled,
            send_at: Some(NOW + DAY),
            ..message("msg_s", "+8613800138001", 20_000)
        };
        let first = message("msg_q1", "+8613800138002", 30_000);
        store.accept(batch(&id, vec![held, scheduled, first], None)).await.expect("accept");
        store.accept(batch(&other, vec![message("msg_o", "+8613800138003", 50_000)], None)).await.expect("other");
        // The dispatcher takes what is queued so far; a message queued after is not taken.
        let queued = store.queued_after(0, 100).await.expect("queued");
        let last = queued.iter().map(|q| q.queue_seq).max().expect("some queued");
        assert_eq!(store.mark_dispatched(0, last, queued.len()).await, Ok(None), "{}", b.name);
        store.accept(batch(&id, vec![message("msg_q2", "+8613800138004", 40_000)], None)).await.expect("q2");
        let before = consistent_balance(store, &id).await;
        let suspend = AgreementChange::Suspend { reason: "unpaid".into() };
        let audit_entry = AuditEntry { target: agreement.id.clone(), ..audit("agreement.suspend") };
        store.change_agreement(&agreement.id, suspend, NOW + 1, Some(audit_entry)).await.expect("suspend");
        let status = |m: &'static str, owner: &str| {
            let owner = owner.to_owned();
            async move { store.find_message(&owner, m).await.expect("message").0.status }
        };
        assert_eq!(status("msg_h", &id).await, MessageStatus::Cancelled, "{}: held", b.name);
        assert_eq!(status("msg_s", &id).await, MessageStatus::Cancelled, "{}: scheduled", b.name);
        assert_eq!(status("msg_q2", &id).await, MessageStatus::Cancelled, "{}: not yet dispatched", b.name);
        assert_eq!(status("msg_q1", &id).await, MessageStatus::Queued, "{}: handed to the dispatcher", b.name);
        assert_eq!(status("msg_o", &other).await, MessageStatus::Queued, "{}: another customer's", b.name);
        assert_eq!(consistent_balance(store, &id).await, before + 70_000, "{}: three refunds", b.name);
        let ledger = store.list_ledger(&id, 0, 100).await.expect("ledger");
        let mut refunded = refunds(&ledger);
        refunded.sort_unstable();
        assert_eq!(refunded, ["msg_h", "msg_q2", "msg_s"], "{}", b.name);
        assert!(ledger.iter().all(|e| e.kind != LedgerKind::Refund || e.created_at == NOW + 1), "{}", b.name);
        let trail = store.list_audit(None, 10).await.expect("audit");
        let entry = &trail.first().expect("an audit entry").entry;
        let what = (entry.action.as_str(), entry.target.as_str());
        assert_eq!(what, ("agreement.suspend", agreement.id.as_str()), "{}", b.name);
        let before: serde_json::Value = serde_json::from_str(entry.before.as_deref().expect("before")).expect("json");
        let after: serde_json::Value = serde_json::from_str(entry.after.as_deref().expect("after")).expect("json");
        assert_eq!(before["suspended_at"], serde_json::Value::Null, "{}", b.name);
        assert_eq!(after["suspended_at"], NOW + 1, "{}", b.name);
        assert_eq!(after["suspension_reason"], "unpaid", "{}", b.name);
        assert_eq!(after["cancelled_messages"], 3, "{}", b.name);
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{}", b.name);
        // Without an audit entry nothing more goes to the trail.
        store.change_agreement(&agreement.id, AgreementChange::Resume, NOW + 2, None).await.expect("resume");
        assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), trail.len(), "{}", b.name);
    }
}

#[tokio::test]
async fn a_suspension_racing_the_dispatcher_never_cancels_a_message_it_hands_out() {
    for n in nodes().await {
        let mut after_seq = 0;
        for round in 0..6 {
            let first = n.node(round);
            let id = customer(&*first, &format!("acme{round}"), 1_000_000).await;
            let agreement = first.create_agreement(Agreement::draft(&id, terms(), 0)).await.expect("agreement");
            let messages: Vec<NewMessage> =
                (0..4).map(|m| message(&format!("msg_{round}_{m}"), "+8613800138000", 10_000)).collect();
            first.accept(batch(&id, messages, None)).await.expect("accept");
            let queued = first.queued_after(after_seq, 100).await.expect("queued");
            assert_eq!(queued.len(), 4, "{}", n.name);
            let last = queued.iter().map(|q| q.queue_seq).max().expect("queued");
            let (dispatcher, suspender) = (n.node(round), n.node(round + 1));
            let agreement_id = agreement.id.clone();
            let suspend = tokio::spawn(async move {
                let change = AgreementChange::Suspend { reason: "race".into() };
                suspender.change_agreement(&agreement_id, change, NOW, None).await
            });
            let handed = dispatcher.mark_dispatched(after_seq, last, queued.len()).await.expect("mark");
            suspend.await.expect("task").unwrap_or_else(|e| panic!("{}: {e:?}", n.name));
            let handed: Vec<String> = handed.unwrap_or_else(|| queued.iter().map(|q| q.id.clone()).collect());
            for q in &queued {
                let (stored, _) = first.find_message(&id, &q.id).await.expect("message");
                let expected = if handed.contains(&q.id) { MessageStatus::Queued } else { MessageStatus::Cancelled };
                assert_eq!(stored.status, expected, "{} round {round}: {}", n.name, q.id);
            }
            let check = first.balance(&id).await.expect("balance");
            assert_eq!(check.balance, check.ledger_sum, "{}", n.name);
            let cancelled = i64::try_from(queued.len() - handed.len()).expect("small");
            assert_eq!(check.balance.micros(), 960_000 + 10_000 * cancelled, "{} round {round}", n.name);
            after_seq = last;
        }
    }
}

#[tokio::test]
async fn a_tariff_is_kept_per_customer_and_replaced_whole() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        assert_eq!(store.tariff(&id).await, Ok(None), "{}", b.name);
        let first = Tariff::per_carrier(&["cmcc", "cucc"], Money::from_micros(45_000));
        store.put_tariff(&id, first.clone(), NOW).await.expect("put");
        assert_eq!(store.tariff(&id).await, Ok(Some(first)), "{}", b.name);
        let second = Tariff { default: Some(Money::from_micros(60_000)), rules: vec![] };
        store.put_tariff(&id, second.clone(), NOW + 1).await.expect("replace");
        assert_eq!(store.tariff(&id).await, Ok(Some(second.clone())), "{}", b.name);
        assert_eq!(store.put_tariff("cus_nobody", second, NOW).await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.tariff("cus_nobody").await, Ok(None), "{}", b.name);
    }
}

#[tokio::test]
async fn api_keys_are_found_by_hash_listed_in_order_and_revoked_once() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        store.create_api_key(key("key_b", &id, "hash_b", 20)).await.expect("b");
        store.create_api_key(key("key_a", &id, "hash_a", 20)).await.expect("a");
        store.create_api_key(key("key_0", &id, "hash_0", 10)).await.expect("0");
        store.create_api_key(key("key_o", &other, "hash_o", 5)).await.expect("o");
        let listed: Vec<String> = store.list_api_keys(&id).await.expect("list").into_iter().map(|k| k.id).collect();
        assert_eq!(listed, ["key_0", "key_a", "key_b"], "{}: by creation, then id", b.name);
        assert_eq!(store.find_api_key("hash_a").await, Ok(Some(key("key_a", &id, "hash_a", 20))), "{}", b.name);
        assert_eq!(store.find_api_key("hash_nope").await, Ok(None), "{}", b.name);
        let orphan = store.create_api_key(key("key_x", "cus_nobody", "hash_x", 0)).await;
        assert_eq!(orphan, Err(StoreError::NotFound), "{}", b.name);
        assert!(store.create_api_key(key("key_c", &id, "hash_a", 30)).await.is_err(), "{}: one hash, one key", b.name);
        assert_eq!(store.list_api_keys(&id).await.expect("list").len(), 3, "{}", b.name);
        // Only the owner revokes, and the first revocation's time stays.
        assert_eq!(store.revoke_api_key(&other, "key_a", NOW).await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.revoke_api_key(&id, "key_nope", NOW).await, Err(StoreError::NotFound), "{}", b.name);
        let revoked = store.revoke_api_key(&id, "key_a", NOW).await.expect("revoke");
        assert_eq!(revoked, ApiKeyRecord { revoked_at: Some(NOW), ..key("key_a", &id, "hash_a", 20) }, "{}", b.name);
        let again = store.revoke_api_key(&id, "key_a", NOW + 5).await.expect("revoke again");
        assert_eq!(again.revoked_at, Some(NOW), "{}", b.name);
        let found = store.find_api_key("hash_a").await.expect("find").and_then(|k| k.revoked_at);
        assert_eq!(found, Some(NOW), "{}", b.name);
        let found = store.find_api_key("hash_o").await.expect("find").and_then(|k| k.revoked_at);
        assert_eq!(found, None, "{}: another key stays", b.name);
    }
}

#[tokio::test]
async fn a_rotated_operator_token_revokes_every_other_one() {
    for b in backends().await {
        let store = &*b.store;
        assert_eq!(store.operator_token_valid("h1").await, Ok(false), "{}: no token yet", b.name);
        store.rotate_operator_token("opt_1", "h1", NOW).await.expect("first");
        assert_eq!(store.operator_token_valid("h1").await, Ok(true), "{}", b.name);
        store.rotate_operator_token("opt_2", "h2", NOW + 1).await.expect("second");
        assert_eq!(store.operator_token_valid("h1").await, Ok(false), "{}", b.name);
        assert_eq!(store.operator_token_valid("h2").await, Ok(true), "{}", b.name);
        assert_eq!(store.operator_token_valid("h3").await, Ok(false), "{}", b.name);
        assert!(store.rotate_operator_token("opt_3", "h2", NOW + 2).await.is_err(), "{}: a used hash", b.name);
        assert_eq!(
            store.operator_token_valid("h2").await,
            Ok(true),
            "{}: the refused rotation revoked nothing",
            b.name
        );
    }
}

#[tokio::test]
async fn operator_tokens_rotated_on_several_nodes_at_once_leave_exactly_one_valid() {
    for n in nodes().await {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = n.node(i);
                tokio::spawn(
                    async move { store.rotate_operator_token(&format!("opt_{i}"), &format!("h{i}"), NOW).await },
                )
            })
            .collect();
        for task in tasks {
            task.await.expect("task").unwrap_or_else(|e| panic!("{}: {e:?}", n.name));
        }
        let mut valid = 0;
        for i in 0..8 {
            valid += usize::from(n.stores[0].operator_token_valid(&format!("h{i}")).await.expect("valid"));
        }
        assert_eq!(valid, 1, "{}", n.name);
    }
}

#[tokio::test]
async fn a_manual_entry_moves_the_balance_and_is_listed_after_a_seq() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        let topup = store.post_ledger_entry(entry(&id, LedgerKind::Topup, 1_000_000, Some("bank-1"))).await;
        let topup = topup.expect("top-up");
        assert_eq!(
            (topup.kind, topup.amount.micros(), topup.balance_after.micros(), topup.reference.as_deref()),
            (LedgerKind::Topup, 1_000_000, 1_000_000, Some("bank-1")),
            "{}",
            b.name
        );
        let adjusted = store.post_ledger_entry(entry(&id, LedgerKind::Adjustment, -250_000, None)).await;
        let adjusted = adjusted.expect("adjustment");
        assert!(adjusted.seq > topup.seq, "{}", b.name);
        assert_eq!(
            (adjusted.balance_after.micros(), adjusted.reason.as_deref(), adjusted.created_at),
            (750_000, Some("correction"), NOW),
            "{}",
            b.name
        );
        let credit = store.post_ledger_entry(entry(&id, LedgerKind::Adjustment, 5, None)).await.expect("credit");
        assert_eq!(credit.balance_after.micros(), 750_005, "{}", b.name);
        // The entries returned are the entries listed.
        let all = store.list_ledger(&id, 0, 100).await.expect("ledger");
        assert_eq!(all, vec![topup.clone(), adjusted.clone(), credit.clone()], "{}", b.name);
        assert_eq!(store.list_ledger(&id, topup.seq, 1).await, Ok(vec![adjusted.clone()]), "{}", b.name);
        assert_eq!(store.list_ledger(&id, credit.seq, 10).await, Ok(vec![]), "{}", b.name);
        let check = store.balance(&id).await.expect("balance");
        assert_eq!(
            check,
            BalanceCheck { balance: Money::from_micros(750_005), ledger_sum: Money::from_micros(750_005), entries: 3 },
            "{}",
            b.name
        );
        // The same reference at another customer is another top-up.
        let other = customer(store, "other", 0).await;
        let theirs = store.post_ledger_entry(entry(&other, LedgerKind::Topup, 9, Some("bank-1"))).await;
        assert_eq!(theirs.map(|e| e.balance_after.micros()), Ok(9), "{}", b.name);
        let empty = customer(store, "empty", 0).await;
        assert_eq!(store.balance(&empty).await.map(|c| c.entries), Ok(0), "{}", b.name);
        assert_eq!(store.list_ledger(&empty, 0, 10).await, Ok(vec![]), "{}", b.name);
    }
}

#[tokio::test]
async fn a_manual_entry_is_refused_whole_when_it_cannot_be_posted() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 100).await;
        let overdraw = store.post_ledger_entry(entry(&id, LedgerKind::Adjustment, -101, None)).await;
        assert_eq!(
            overdraw,
            Err(StoreError::InsufficientBalance { balance: Money::from_micros(100), needed: Money::from_micros(101) }),
            "{}",
            b.name
        );
        let overflow = store.post_ledger_entry(entry(&id, LedgerKind::Adjustment, i64::MAX, None)).await;
        assert!(matches!(overflow, Err(StoreError::Conflict(_))), "{}: {overflow:?}", b.name);
        let nobody = store.post_ledger_entry(entry("cus_nobody", LedgerKind::Topup, 1, None)).await;
        assert_eq!(nobody, Err(StoreError::NotFound), "{}", b.name);
        let nobody = store.post_ledger_entry(entry("cus_nobody", LedgerKind::Topup, 1, Some("r"))).await;
        assert_eq!(nobody, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.balance("cus_nobody").await, Err(StoreError::NotFound), "{}", b.name);
        let check = store.balance(&id).await.expect("balance");
        assert_eq!((check.balance.micros(), check.entries), (100, 1), "{}: nothing written", b.name);
        // Down to zero exactly is allowed.
        let zero = store.post_ledger_entry(entry(&id, LedgerKind::Adjustment, -100, None)).await;
        assert_eq!(zero.map(|e| e.balance_after), Ok(Money::ZERO), "{}", b.name);
    }
}

#[tokio::test]
async fn charges_on_several_nodes_at_once_never_overdraw_and_keep_the_chain() {
    for n in nodes().await {
        let id = customer(&*n.stores[0], "acme", 1_000_000).await;
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let (store, id) = (n.node(i), id.clone());
                tokio::spawn(
                    async move { store.post_ledger_entry(entry(&id, LedgerKind::Adjustment, -30_000, None)).await },
                )
            })
            .collect();
        let mut posted = Vec::new();
        for task in tasks {
            match task.await.expect("task") {
                Ok(e) => posted.push(e),
                Err(StoreError::InsufficientBalance { .. }) => {}
                Err(e) => panic!("{}: {e:?}", n.name),
            }
        }
        assert_eq!(posted.len(), 33, "{}: as many as the balance pays", n.name);
        // In seq order each entry starts from the balance the one before left.
        posted.sort_by_key(|e| e.seq);
        for (k, e) in posted.iter().enumerate() {
            let k = i64::try_from(k).expect("small");
            assert_eq!(e.balance_after.micros(), 1_000_000 - 30_000 * (k + 1), "{}: entry {}", n.name, e.seq);
        }
        for store in &n.stores {
            let check = store.balance(&id).await.expect("balance");
            let figures = (check.balance.micros(), check.ledger_sum.micros());
            assert_eq!(figures, (10_000, 10_000), "{}", n.name);
            assert_eq!(check.entries, 34, "{}", n.name);
            let chain = store.verify_ledger().await.expect("verify");
            assert_eq!(chain.map(|r| r.entries), Ok(34), "{}", n.name);
        }
        assert_eq!(n.stores[0].list_ledger(&id, 0, 100).await.expect("ledger").len(), 34, "{}", n.name);
    }
}

#[tokio::test]
async fn one_top_up_reference_posted_on_several_nodes_at_once_counts_once() {
    for n in nodes().await {
        let id = customer(&*n.stores[0], "acme", 0).await;
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let (store, id) = (n.node(i), id.clone());
                // Two of them with another amount: refused, whichever comes first.
                let amount = if i % 5 == 4 { 600_000 } else { 500_000 };
                tokio::spawn(async move {
                    store.post_ledger_entry(entry(&id, LedgerKind::Topup, amount, Some("bank-7"))).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("task"));
        }
        let entries = n.stores[0].list_ledger(&id, 0, 100).await.expect("ledger");
        assert_eq!(entries.len(), 1, "{}: one entry", n.name);
        let first = &entries[0];
        for r in &results {
            match r {
                Ok(e) => assert_eq!(e, first, "{}: every success is the first entry", n.name),
                Err(StoreError::Conflict(_)) => assert_ne!(first.amount.micros(), 600_000, "{}", n.name),
                Err(e) => panic!("{}: {e:?}", n.name),
            }
        }
        let conflicts = results.iter().filter(|r| matches!(r, Err(StoreError::Conflict(_)))).count();
        assert!(conflicts == 2 || conflicts == 8, "{}: the other amount is refused ({conflicts})", n.name);
        let balance = consistent_balance(&*n.stores[1 % n.stores.len()], &id).await;
        assert_eq!(balance, first.amount.micros(), "{}", n.name);
    }
}

#[tokio::test]
async fn the_chain_is_whole_and_its_head_moves_with_each_entry() {
    for b in backends().await {
        let store = &*b.store;
        let empty = store.verify_ledger().await.expect("read").expect("whole");
        assert_eq!(empty, ChainReport { entries: 0, head: "0".repeat(64) }, "{}", b.name);
        let id = customer(store, "acme", 1_000_000).await;
        for n in 0..3 {
            let batch = batch(&id, vec![message(&format!("msg_{n}"), "+8613800138000", 45_000)], None);
            store.accept(batch).await.expect("accepted");
        }
        let odd = NewLedgerEntry {
            reason: Some("goodwill \"quoted\" | piped, 中文".into()),
            ..entry(&id, LedgerKind::Adjustment, -1_000, None)
        };
        store.post_ledger_entry(odd).await.expect("adjusted");
        let report = store.verify_ledger().await.expect("read").expect("whole");
        assert_eq!(report.entries, 5, "{}", b.name);
        assert_eq!(report.head.len(), 64, "{}", b.name);
        store.post_ledger_entry(entry(&id, LedgerKind::Topup, 1, Some("bank-2"))).await.expect("top-up");
        let after = store.verify_ledger().await.expect("read").expect("whole");
        assert_eq!(after.entries, 6, "{}", b.name);
        assert_ne!(after.head, report.head, "{}", b.name);
        // A reused reference writes nothing: the head stays.
        store.post_ledger_entry(entry(&id, LedgerKind::Topup, 1, Some("bank-2"))).await.expect("again");
        assert_eq!(store.verify_ledger().await, Ok(Ok(after)), "{}", b.name);
    }
}
