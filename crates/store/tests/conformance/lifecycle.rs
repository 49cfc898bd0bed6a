//! The contract of the lifecycle methods: notices and their email, maintenance windows,
//! breach, cure and termination, erasure, low-balance warnings; and what several nodes
//! doing these at once must not do twice.

use super::*;

/// A store of each backend with two nodes on it: on PostgreSQL two `PgStore`s (two pools)
/// on one schema; SQLite has one node, so both are the same store, called concurrently.
pub(crate) struct Nodes {
    pub name: &'static str,
    pub one: Arc<dyn Store>,
    pub two: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) async fn two_nodes() -> Vec<Nodes> {
    let mut all = Vec::new();
    let dir = tempfile::tempdir().expect("dir");
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("nodes.db")).expect("open"));
    all.push(Nodes { name: "sqlite", one: sqlite.clone(), two: sqlite, _dir: Some(dir) });
    if let Ok(url) = std::env::var(DATABASE_URL)
        && !url.is_empty()
    {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!("nodes_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let url = tongdao_store::postgres::scratch_schema(&url, &schema).await.expect("schema");
        let node = || PgStore::connect_with(&url, PgOptions { connections: 4, ..PgOptions::default() });
        let one: Arc<dyn Store> = Arc::new(node().await.expect("node one"));
        let two: Arc<dyn Store> = Arc::new(node().await.expect("node two"));
        all.push(Nodes { name: "postgres", one, two, _dir: None });
    }
    all
}

pub(crate) fn notice(customer_id: &str, kind: &str, reference: &str) -> NewNotice {
    NewNotice {
        customer_id: customer_id.into(),
        kind: kind.into(),
        reference: reference.into(),
        subject: format!("{kind} subject"),
        body: format!("{kind} body"),
    }
}

async fn signed_agreement(store: &dyn Store, customer_id: &str) -> Agreement {
    let agreement = store.create_agreement(Agreement::draft(customer_id, terms(), 0)).await.expect("agreement");
    store.change_agreement(&agreement.id, AgreementChange::Sign, 0, None).await.expect("sign")
}

fn breach(id: &str, customer_id: &str, agreement_id: &str, noticed_at: i64) -> Breach {
    Breach {
        id: id.into(),
        customer_id: customer_id.into(),
        agreement_id: agreement_id.into(),
        clause: "2.3".into(),
        facts: "ads".into(),
        noticed_at,
        cure_deadline: noticed_at + 15 * DAY,
        cured_at: None,
        cure_note: None,
        terminated_at: None,
    }
}

/// A customer with a signed agreement and an open breach `brc_<name>` noticed at `NOW`.
pub(crate) async fn breached(store: &dyn Store, name: &str, balance: i64) -> (String, String) {
    let id = customer(store, name, balance).await;
    let agreement = signed_agreement(store, &id).await;
    let breach_id = format!("brc_{name}");
    let issued = store
        .issue_breach(breach(&breach_id, &id, &agreement.id, NOW), notice(&id, "breach", &breach_id), audit("breach"))
        .await
        .expect("breach");
    assert_eq!(issued.cured_at, None);
    (id, breach_id)
}

pub(crate) async fn newest_audit(store: &dyn Store) -> AuditEntry {
    store.list_audit(None, 1).await.expect("audit").remove(0).entry
}

#[tokio::test]
async fn notices_are_listed_newest_first_by_page_and_found_by_customer_and_event() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        let zeta = customer(store, "zeta", 0).await;
        let posted = store
            .post_notices(
                vec![
                    notice(&zeta, "maintenance", "maintenance:mnt_1"),
                    notice(&acme, "maintenance", "maintenance:mnt_1"),
                    notice(&acme, "breach", "breach:brc_1"),
                ],
                NOW,
            )
            .await;
        assert_eq!(posted, Ok(3), "{}", b.name);
        let later = store.post_notices(vec![notice(&acme, "termination", "termination:brc_1")], NOW + 1).await;
        assert_eq!(later, Ok(1), "{}", b.name);

        let all = store.list_notices(None, None, false, 10).await.expect("all");
        assert_eq!(all.len(), 4, "{}", b.name);
        assert_eq!(all[0].notice.kind, "termination", "{}: newest first", b.name);
        assert!(all.windows(2).all(|w| w[0].id > w[1].id), "{}: by id, descending", b.name);
        let of_acme = store.list_notices(Some(&acme), None, false, 10).await.expect("acme's");
        assert_eq!(of_acme.len(), 3, "{}", b.name);
        assert!(of_acme.iter().all(|n| n.notice.customer_id == acme), "{}", b.name);
        let page = store.list_notices(Some(&acme), Some(&of_acme[0].id), false, 1).await.expect("page");
        assert_eq!(page, of_acme[1..2], "{}: the page after the first", b.name);
        assert_eq!(all[0].created_at, NOW + 1, "{}", b.name);

        let found = store.find_notice(&acme, &of_acme[0].id).await.expect("found");
        assert_eq!(found, of_acme[0], "{}", b.name);
        assert_eq!(store.find_notice(&zeta, &of_acme[0].id).await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.find_notice(&acme, "ntc_nothing").await, Err(StoreError::NotFound), "{}", b.name);

        let about = store.notices_about("maintenance:mnt_1", 10).await.expect("about");
        let told: Vec<&str> = about.iter().map(|n| n.notice.customer_id.as_str()).collect();
        assert_eq!(told, [acme.as_str(), zeta.as_str()], "{}: every customer told, by customer", b.name);
        assert_eq!(store.notices_about("maintenance:mnt_1", 1).await.expect("one").len(), 1, "{}", b.name);
        assert!(store.notices_about("maintenance:mnt_2", 10).await.expect("none").is_empty(), "{}", b.name);

        store.read_notice(&acme, &of_acme[2].id, NOW + 2).await.expect("read");
        let unread = store.list_notices(Some(&acme), None, true, 10).await.expect("unread");
        assert_eq!(unread.len(), 2, "{}", b.name);
        assert!(unread.iter().all(|n| n.read_at.is_none()), "{}", b.name);
        let unknown = store.read_notice(&acme, "ntc_nothing", NOW).await;
        assert_eq!(unknown, Err(StoreError::NotFound), "{}", b.name);
    }
}

#[tokio::test]
async fn a_notice_is_emailed_when_due_retried_when_it_failed_and_given_up_when_told() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        let quiet = customer(store, "quiet", 0).await;
        let set = store.set_notice_email(&acme, Some("ops@acme.example".into()), audit("customer.notice_email")).await;
        assert_eq!(set.expect("set").notice_email.as_deref(), Some("ops@acme.example"), "{}", b.name);
        let audited = newest_audit(store).await;
        assert_eq!(audited.before.as_deref(), Some(r#"{"notice_email":null}"#), "{}", b.name);
        assert_eq!(audited.after.as_deref(), Some(r#"{"notice_email":"ops@acme.example"}"#), "{}", b.name);
        let unknown = store.set_notice_email("cus_nobody", None, audit("customer.notice_email")).await;
        assert_eq!(unknown, Err(StoreError::NotFound), "{}", b.name);

        let events = vec![notice(&acme, "maintenance", "m:1"), notice(&quiet, "maintenance", "m:1")];
        store.post_notices(events, NOW).await.expect("posted");
        assert!(store.notices_to_email(NOW - 1, 10).await.expect("none yet").is_empty(), "{}", b.name);
        let due = store.notices_to_email(NOW, 10).await.expect("due");
        assert_eq!(due.len(), 1, "{}: only the customer with an address: {due:?}", b.name);
        assert_eq!((due[0].to.as_str(), due[0].attempts), ("ops@acme.example", 0), "{}", b.name);
        assert_eq!(due[0].notice.notice.reference, "m:1", "{}", b.name);
        let id = due[0].notice.id.clone();

        let failed = EmailOutcome::Failed { error: "421 try later".into(), retry_at: Some(NOW + 60_000) };
        store.notice_emailed(&id, failed).await.expect("failed");
        assert!(store.notices_to_email(NOW + 59_999, 10).await.expect("not yet").is_empty(), "{}", b.name);
        let again = store.notices_to_email(NOW + 60_000, 10).await.expect("again");
        assert_eq!((again.len(), again[0].attempts), (1, 1), "{}: retried, one attempt made", b.name);
        store.notice_emailed(&id, EmailOutcome::Sent { at: NOW + 60_001 }).await.expect("sent");
        assert!(store.notices_to_email(i64::MAX, 10).await.expect("done").is_empty(), "{}: sent once", b.name);

        // Given up: never due again.
        store.post_notices(vec![notice(&acme, "breach", "b:1")], NOW).await.expect("posted");
        let due = store.notices_to_email(NOW, 10).await.expect("due");
        assert_eq!(due.len(), 1, "{}", b.name);
        let gave_up = EmailOutcome::Failed { error: "550 no such user".into(), retry_at: None };
        store.notice_emailed(&due[0].notice.id, gave_up).await.expect("gave up");
        assert!(store.notices_to_email(i64::MAX, 10).await.expect("none").is_empty(), "{}", b.name);

        // Without an address, a notice is not due, now or later.
        store.set_notice_email(&acme, None, audit("customer.notice_email")).await.expect("unset");
        store.post_notices(vec![notice(&acme, "breach", "b:2")], NOW).await.expect("posted");
        assert!(store.notices_to_email(i64::MAX, 10).await.expect("none").is_empty(), "{}", b.name);
    }
}

/// Several nodes run a mailer: each due notice goes to one of them in a round.
#[tokio::test]
async fn mailers_on_two_nodes_never_take_the_same_notice_at_once() {
    for n in two_nodes().await {
        if n.name == "sqlite" {
            continue; // one SQLite store is one node, with one mailer
        }
        let acme = customer(&*n.one, "acme", 0).await;
        n.one.set_notice_email(&acme, Some("ops@acme.example".into()), audit("e")).await.expect("email");
        let many: Vec<NewNotice> = (0..40).map(|i| notice(&acme, "maintenance", &format!("m:{i}"))).collect();
        assert_eq!(n.one.post_notices(many, NOW).await, Ok(40), "{}", n.name);
        let (a, b) = tokio::join!(n.one.notices_to_email(NOW, 30), n.two.notices_to_email(NOW, 30));
        let (a, b) = (a.expect("one"), b.expect("two"));
        let mut ids: Vec<&str> = a.iter().chain(&b).map(|e| e.notice.id.as_str()).collect();
        let taken = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), taken, "{}: a notice went to both mailers", n.name);
        assert_eq!(taken, 40, "{}: every due notice to one of them ({} + {})", n.name, a.len(), b.len());
        assert!(a.windows(2).all(|w| w[0].notice.id < w[1].notice.id), "{}: oldest due first", n.name);
    }
}

#[tokio::test]
async fn a_maintenance_window_notices_its_customers_and_is_cancelled_once_before_it_ends() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        let zeta = customer(store, "zeta", 0).await;
        let window = |id: &str, starts_at: i64| MaintenanceWindow {
            id: id.into(),
            starts_at,
            ends_at: starts_at + 2 * 3_600_000,
            carriers: vec!["mobile".into()],
            services: vec!["http".into(), "smpp".into()],
            description: "new SMSC".into(),
            emergency_reason: None,
            customers: vec![acme.clone(), zeta.clone()],
            created_at: NOW,
            cancelled_at: None,
        };
        let told = |id: &str| vec![notice(&acme, "maintenance", id), notice(&zeta, "maintenance", id)];
        let later = store.create_maintenance(window("mnt_2", NOW + 5 * DAY), told("mnt_2"), audit("m")).await;
        assert_eq!(later.expect("created"), window("mnt_2", NOW + 5 * DAY), "{}", b.name);
        let audited = newest_audit(store).await;
        assert!(audited.after.is_some_and(|a| a.contains("\"customers\":2")), "{}", b.name);
        store.create_maintenance(window("mnt_1", NOW + 3 * DAY), told("mnt_1"), audit("m")).await.expect("created");
        assert_eq!(store.notices_about("mnt_1", 10).await.expect("told").len(), 2, "{}", b.name);
        assert_eq!(store.find_maintenance("mnt_1").await, Ok(window("mnt_1", NOW + 3 * DAY)), "{}", b.name);
        assert_eq!(store.find_maintenance("mnt_0").await, Err(StoreError::NotFound), "{}", b.name);

        let listed = store.list_maintenance(NOW, false, 10).await.expect("listed");
        let ids: Vec<&str> = listed.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["mnt_1", "mnt_2"], "{}: soonest first", b.name);
        assert_eq!(store.list_maintenance(NOW, false, 1).await.expect("one").len(), 1, "{}", b.name);
        let ended = store.list_maintenance(NOW + 3 * DAY + 2 * 3_600_000, false, 10).await.expect("listed");
        assert_eq!(ended.len(), 1, "{}: a window that ended is not listed", b.name);

        let cancelled = store
            .cancel_maintenance("mnt_1", NOW + DAY, told("mnt_1:cancelled"), audit("m.cancel"))
            .await
            .expect("cancelled");
        assert_eq!(cancelled.cancelled_at, Some(NOW + DAY), "{}", b.name);
        let audited = newest_audit(store).await;
        assert!(audited.before.is_some_and(|s| s.contains("\"cancelled_at\":null")), "{}", b.name);
        assert_eq!(store.notices_about("mnt_1:cancelled", 10).await.expect("told").len(), 2, "{}", b.name);
        let twice = store.cancel_maintenance("mnt_1", NOW + DAY, vec![], audit("m.cancel")).await;
        assert!(matches!(twice, Err(StoreError::Conflict(_))), "{}: {twice:?}", b.name);
        let over = store.cancel_maintenance("mnt_2", NOW + 5 * DAY + 2 * 3_600_000, vec![], audit("m")).await;
        assert!(matches!(over, Err(StoreError::Conflict(_))), "{}: the window has ended: {over:?}", b.name);
        let unknown = store.cancel_maintenance("mnt_0", NOW, vec![], audit("m")).await;
        assert_eq!(unknown, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.list_maintenance(NOW, false, 10).await.expect("listed").len(), 1, "{}", b.name);
        assert_eq!(store.list_maintenance(NOW, true, 10).await.expect("listed").len(), 2, "{}", b.name);
    }
}

#[tokio::test]
async fn a_cured_breach_is_closed_to_a_second_cure_and_to_termination() {
    for b in backends().await {
        let store = &*b.store;
        let (acme, brc) = breached(store, "acme", 100_000).await;
        let (zeta, _) = breached(store, "zeta", 0).await;
        assert_eq!(store.notices_about(&brc, 10).await.expect("noticed").len(), 1, "{}", b.name);
        let found = store.find_breach(&brc).await.expect("found");
        assert_eq!((found.customer_id.as_str(), found.cure_deadline), (acme.as_str(), NOW + 15 * DAY), "{}", b.name);
        assert_eq!(store.find_breach("brc_nothing").await, Err(StoreError::NotFound), "{}", b.name);
        let agreement = store.current_agreement(&acme).await.expect("read").expect("agreement");
        let later = breach("brc_later", &acme, &agreement.id, NOW + DAY);
        store.issue_breach(later, notice(&acme, "breach", "brc_later"), audit("breach")).await.expect("issued");
        let of_acme = store.list_breaches(Some(&acme), 10).await.expect("listed");
        let ids: Vec<&str> = of_acme.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["brc_later", brc.as_str()], "{}: newest first", b.name);
        assert_eq!(store.list_breaches(None, 10).await.expect("all").len(), 3, "{}", b.name);
        assert_eq!(store.list_breaches(None, 1).await.expect("one").len(), 1, "{}", b.name);
        assert!(store.list_breaches(Some(&zeta), 10).await.expect("zeta's").iter().all(|b| b.customer_id == zeta));

        let cured =
            store.cure_breach(&brc, "ads stopped", NOW + DAY, notice(&acme, "breach_cured", "cured"), audit("c")).await;
        let cured = cured.expect("cured");
        assert_eq!((cured.cured_at, cured.cure_note.as_deref()), (Some(NOW + DAY), Some("ads stopped")), "{}", b.name);
        assert_eq!(store.notices_about("cured", 10).await.expect("noticed").len(), 1, "{}", b.name);
        let twice = store.cure_breach(&brc, "again", NOW + 2 * DAY, notice(&acme, "b", "c2"), audit("c")).await;
        assert!(matches!(twice, Err(StoreError::Conflict(_))), "{}: {twice:?}", b.name);
        let ended = store.terminate(&brc, NOW + 20 * DAY, notice(&acme, "termination", "t"), audit("t")).await;
        assert!(matches!(ended, Err(StoreError::Conflict(_))), "{}: {ended:?}", b.name);
        let unknown = store.cure_breach("brc_nothing", "n", NOW, notice(&acme, "b", "c3"), audit("c")).await;
        assert_eq!(unknown, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(consistent_balance(store, &acme).await, 100_000, "{}: nothing settled", b.name);
    }
}

#[tokio::test]
async fn termination_ends_everything_of_the_customer_in_one_go_and_keeps_the_ledger_whole() {
    for b in backends().await {
        let store = &*b.store;
        let (acme, brc) = breached(store, "acme", 1_000_000).await;
        let other = customer(store, "other", 100_000).await;
        let second = store.create_agreement(Agreement::draft(&acme, terms(), 0)).await.expect("second version");
        for (id, owner) in [("key_1", &acme), ("key_2", &acme), ("key_3", &other)] {
            let key = ApiKeyRecord {
                id: id.into(),
                customer_id: owner.clone(),
                hash: format!("hash_{id}"),
                label: "k".into(),
                created_at: 0,
                revoked_at: None,
                rps: 0,
            };
            store.create_api_key(key).await.expect("key");
        }
        store.revoke_api_key(&acme, "key_2", NOW - 1).await.expect("revoked before");
        let account = SmppAccount {
            system_id: "acme01".into(),
            customer_id: acme.clone(),
            password_hash: "x".into(),
            allowed_ips: vec![],
            max_binds: 1,
            tps: 0,
            created_at: 0,
            updated_at: 0,
        };
        store.create_smpp_account(account).await.expect("smpp");
        let waiting = vec![
            message("msg_q", "+8613800138000", 45_000),
            NewMessage {
                status: MessageStatus::Scheduled,
                send_at: Some(NOW + DAY),
                ..message("msg_s", "+8613800138001", 45_000)
            },
            NewMessage { status: MessageStatus::Held, ..message("msg_h", "+8613800138002", 45_000) },
        ];
        store.accept(batch(&acme, waiting, None)).await.expect("accepted");
        store.accept(batch(&other, vec![message("msg_o", "+8613800138003", 45_000)], None)).await.expect("other's");
        assert_eq!(consistent_balance(store, &acme).await, 865_000, "{}", b.name);

        let at = NOW + 15 * DAY;
        let (ended, report) =
            store.terminate(&brc, at, notice(&acme, "termination", "termination"), audit("t")).await.expect("ended");
        assert_eq!(ended.terminated_at, Some(at), "{}", b.name);
        let expected = Termination {
            agreements: 2,
            keys_revoked: 1,
            smpp_accounts_removed: 1,
            messages_cancelled: 3,
            settled: Money::from_micros(1_000_000),
        };
        assert_eq!(report, expected, "{}", b.name);
        let audited = newest_audit(store).await;
        assert!(audited.after.is_some_and(|a| a.contains("\"settled\":\"1.0000\"")), "{}", b.name);

        let agreements = store.list_agreements(&acme).await.expect("agreements");
        assert_eq!(agreements.len(), 2, "{}", b.name);
        assert!(agreements.iter().any(|a| a.id == second.id), "{}", b.name);
        for agreement in agreements {
            assert_eq!(agreement.terminated_at, Some(at), "{}: {}", b.name, agreement.id);
        }
        let keys = store.list_api_keys(&acme).await.expect("keys");
        assert!(keys.iter().all(|k| k.revoked_at.is_some()), "{}", b.name);
        assert_eq!(keys.iter().find(|k| k.id == "key_2").and_then(|k| k.revoked_at), Some(NOW - 1), "{}", b.name);
        assert_eq!(store.list_api_keys(&other).await.expect("keys")[0].revoked_at, None, "{}", b.name);
        assert!(store.list_smpp_accounts(&acme).await.expect("accounts").is_empty(), "{}", b.name);
        for id in ["msg_q", "msg_s", "msg_h"] {
            let (m, _) = store.find_message(&acme, id).await.expect("message");
            assert_eq!(m.status, MessageStatus::Cancelled, "{}: {id}", b.name);
        }
        let (untouched, _) = store.find_message(&other, "msg_o").await.expect("other's message");
        assert_eq!(untouched.status, MessageStatus::Queued, "{}", b.name);

        assert_eq!(consistent_balance(store, &acme).await, 0, "{}", b.name);
        assert_eq!(consistent_balance(store, &other).await, 55_000, "{}", b.name);
        let ledger = store.list_ledger(&acme, 0, 100).await.expect("ledger");
        let settlement = ledger.last().expect("settlement");
        assert_eq!(
            (settlement.kind, settlement.amount.micros(), settlement.reference.as_deref()),
            (LedgerKind::Refund, -1_000_000, Some(format!("settlement:{brc}").as_str())),
            "{}",
            b.name
        );
        assert_eq!(ledger.iter().filter(|e| e.kind == LedgerKind::Refund).count(), 4, "{}", b.name);
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{}", b.name);
        let terminated = store.find_customer(&acme).await.expect("customer");
        assert_eq!(terminated.terminated_at, Some(at), "{}", b.name);
        assert_eq!(store.notices_about("termination", 10).await.expect("told").len(), 1, "{}", b.name);
        let unknown = store.terminate("brc_nothing", at, notice(&acme, "t", "t2"), audit("t")).await;
        assert_eq!(unknown.map(|_| ()), Err(StoreError::NotFound), "{}", b.name);
    }
}

/// A cure and a termination (or two terminations) of one breach on two nodes at once: one
/// wins, the other finds the breach closed; the balance is paid back once.
#[tokio::test]
async fn a_breach_closed_on_two_nodes_at_once_is_closed_once() {
    for n in two_nodes().await {
        let at = NOW + 15 * DAY;
        let (acme, brc) = breached(&*n.one, "acme", 500_000).await;
        let (cure, end) = tokio::join!(
            n.one.cure_breach(&brc, "stopped", at, notice(&acme, "breach_cured", "cured"), audit("c")),
            n.two.terminate(&brc, at, notice(&acme, "termination", "termination"), audit("t")),
        );
        match (&cure, &end) {
            (Ok(_), Err(StoreError::Conflict(_))) => {
                assert_eq!(consistent_balance(&*n.one, &acme).await, 500_000, "{}", n.name)
            }
            (Err(StoreError::Conflict(_)), Ok(_)) => assert_eq!(consistent_balance(&*n.one, &acme).await, 0),
            _ => panic!("{}: one of them must win, the other see a conflict: {cure:?} {end:?}", n.name),
        }

        let (zeta, brc) = breached(&*n.one, "zeta", 500_000).await;
        let (first, second) = tokio::join!(
            n.one.terminate(&brc, at, notice(&zeta, "termination", "t1"), audit("t")),
            n.two.terminate(&brc, at, notice(&zeta, "termination", "t2"), audit("t")),
        );
        let won = [&first, &second].iter().filter(|r| r.is_ok()).count();
        let refused = [&first, &second].iter().filter(|r| matches!(r, Err(StoreError::Conflict(_)))).count();
        assert_eq!((won, refused), (1, 1), "{}: {first:?} {second:?}", n.name);
        assert_eq!(consistent_balance(&*n.two, &zeta).await, 0, "{}", n.name);
        let refunds = n.two.list_ledger(&zeta, 0, 100).await.expect("ledger");
        assert_eq!(refunds.iter().filter(|e| e.kind == LedgerKind::Refund).count(), 1, "{}: settled once", n.name);
        assert!(n.two.verify_ledger().await.expect("verify").is_ok(), "{}", n.name);
    }
}

/// Charges arriving on another node while the customer is terminated: each is either in
/// before the termination, and then cancelled and refunded by it, or refused after it.
#[tokio::test]
async fn a_termination_while_another_node_charges_leaves_nothing_owed() {
    for n in two_nodes().await {
        let (acme, brc) = breached(&*n.one, "acme", 1_000_000).await;
        let (started, charges_flow) = tokio::sync::oneshot::channel();
        let charging = {
            let (node, acme) = (n.two.clone(), acme.clone());
            tokio::spawn(async move {
                let (mut accepted, mut started) = (Vec::new(), Some(started));
                for i in 0..40 {
                    let id = format!("msg_{i:02}");
                    match node.accept(batch(&acme, vec![message(&id, "+8613800138000", 1_000)], None)).await {
                        Ok(_) => accepted.push(id),
                        Err(StoreError::InsufficientBalance { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                    if i == 4 {
                        started.take().map(|s| s.send(()));
                    }
                }
                accepted
            })
        };
        charges_flow.await.expect("charges under way");
        let ended = n.one.terminate(&brc, NOW + 15 * DAY, notice(&acme, "termination", "t"), audit("t")).await;
        let (_, report) = ended.unwrap_or_else(|e| panic!("{}: {e}", n.name));
        let accepted = charging.await.expect("charging");
        assert!((5..40).contains(&accepted.len()), "{}: charged before and refused after: {}", n.name, accepted.len());
        assert_eq!(report.messages_cancelled, u64::try_from(accepted.len()).expect("len"), "{}", n.name);
        assert_eq!(report.settled, Money::from_micros(1_000_000), "{}: every charge refunded", n.name);
        for id in &accepted {
            let (m, _) = n.two.find_message(&acme, id).await.expect("message");
            assert_eq!(m.status, MessageStatus::Cancelled, "{}: {id}", n.name);
        }
        assert_eq!(consistent_balance(&*n.two, &acme).await, 0, "{}", n.name);
        assert!(n.two.verify_ledger().await.expect("verify").is_ok(), "{}", n.name);
    }
}

#[tokio::test]
async fn erasure_takes_a_terminated_customers_personal_data_and_keeps_its_ledger() {
    for b in backends().await {
        let store = &*b.store;
        let (acme, brc) = breached(store, "acme", 1_000_000).await;
        let other = customer(store, "other", 100_000).await;
        store.accept(batch(&acme, vec![message("msg_1", "+8613800138000", 45_000)], None)).await.expect("accepted");
        store.accept(batch(&other, vec![message("msg_2", "+8613800138000", 45_000)], None)).await.expect("other's");
        let contact = Contact {
            number: "+8613800138000".into(),
            name: "Li".into(),
            kind: ContactKind::Customer,
            tags: vec![],
            created_at: 0,
            updated_at: 0,
        };
        store.upsert_contacts(&acme, vec![contact.clone()]).await.expect("contact");
        store.upsert_contacts(&other, vec![contact]).await.expect("other's contact");
        let ticket = NewTicket {
            id: "tkt_1".into(),
            customer_id: acme.clone(),
            kind: tongdao_domain::ticket::TicketKind::Inquiry,
            subject: "s".into(),
            body: "b".into(),
            message_ids: vec!["msg_1".into()],
            statement_lines: vec![],
            opened_at: NOW,
            answer_due_at: None,
        };
        store.open_ticket(ticket).await.expect("ticket");

        let early = store.erase_customer(&acme, NOW, audit("erase")).await;
        assert!(matches!(early, Err(StoreError::Conflict(_))), "{}: not terminated: {early:?}", b.name);
        assert_eq!(store.erase_customer("cus_nobody", NOW, audit("erase")).await, Err(StoreError::NotFound));
        store.terminate(&brc, NOW + 15 * DAY, notice(&acme, "termination", "t"), audit("t")).await.expect("ended");
        let ledger_before = store.list_ledger(&acme, 0, 100).await.expect("ledger");

        store.webhook_delivered(&acme, "https://acme.example/hook", vec![], NOW).await.expect("logged");

        let erased = store.erase_customer(&acme, NOW + 200 * DAY, audit("erase")).await.expect("erased");
        // The message and its event (cancelled), the ticket, the contact, two notices, the
        // logged webhook delivery.
        assert_eq!(erased, 7, "{}", b.name);
        assert_eq!(store.webhook_deliveries(&acme, 10).await, Ok(vec![]), "{}", b.name);
        assert_eq!(store.find_message(&acme, "msg_1").await.map(|_| ()), Err(StoreError::NotFound), "{}", b.name);
        assert!(store.list_notices(Some(&acme), None, false, 10).await.expect("notices").is_empty(), "{}", b.name);
        assert_eq!(store.find_ticket(None, "tkt_1").await.map(|_| ()), Err(StoreError::NotFound), "{}", b.name);
        let gone = store.find_contact(&acme, "+8613800138000").await;
        assert_eq!(gone, Err(StoreError::NotFound), "{}", b.name);
        let blank = store.find_customer(&acme).await.expect("customer");
        assert_eq!((blank.address.as_str(), blank.contact.as_str()), ("", ""), "{}", b.name);
        assert_eq!(blank.erased_at, Some(NOW + 200 * DAY), "{}", b.name);
        assert_eq!(store.list_ledger(&acme, 0, 100).await.expect("ledger"), ledger_before, "{}: kept", b.name);
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{}", b.name);
        assert_eq!(consistent_balance(store, &acme).await, 0, "{}", b.name);
        assert!(store.find_breach(&brc).await.is_ok(), "{}: the breach stays", b.name);
        let audited = newest_audit(store).await;
        assert_eq!(audited.after, Some(format!("{{\"rows_deleted\":{erased}}}")), "{}", b.name);
        // The other customer's data stays.
        assert!(store.find_message(&other, "msg_2").await.is_ok(), "{}", b.name);
        assert!(store.find_contact(&other, "+8613800138000").await.is_ok(), "{}", b.name);
    }
}

fn low_balance_notice() -> LowBalanceNotice {
    Arc::new(|customer_id: &str, balance: Money, threshold: Money| NewNotice {
        customer_id: customer_id.into(),
        kind: "low_balance".into(),
        reference: "low_balance".into(),
        subject: "Low balance".into(),
        body: format!("{balance} is under {threshold}"),
    })
}

async fn low_balance_notices(store: &dyn Store, customer_id: &str) -> Vec<Notice> {
    let all = store.list_notices(Some(customer_id), None, false, 100).await.expect("notices");
    all.into_iter().filter(|n| n.notice.kind == "low_balance").collect()
}

#[tokio::test]
async fn a_low_balance_is_noticed_once_per_fall_under_the_threshold() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 1_000_000).await;
        let rich = customer(store, "rich", 9_000_000).await;
        let quiet = customer(store, "quiet", 0).await;
        let threshold = Some(Money::from_micros(500_000));
        for id in [&acme, &rich] {
            store.set_low_balance_threshold(id, threshold, audit("threshold")).await.expect("threshold");
        }
        let audited = newest_audit(store).await;
        assert_eq!(audited.after.as_deref(), Some(r#"{"low_balance_threshold":"0.5000"}"#), "{}", b.name);
        let unknown = store.set_low_balance_threshold("cus_nobody", threshold, audit("t")).await;
        assert_eq!(unknown, Err(StoreError::NotFound), "{}", b.name);

        let warn = |at: i64| store.low_balance_warnings(at, low_balance_notice());
        assert_eq!(warn(NOW).await, Ok(0), "{}: over the threshold, and no threshold", b.name);
        store.post_ledger_entry(entry(&acme, LedgerKind::Adjustment, -600_000, None)).await.expect("fell");
        assert_eq!(warn(NOW + 1).await, Ok(1), "{}", b.name);
        assert_eq!(warn(NOW + 2).await, Ok(0), "{}: once per fall", b.name);
        let told = low_balance_notices(store, &acme).await;
        assert_eq!(told.len(), 1, "{}", b.name);
        assert_eq!(told[0].notice.body, "0.4000 is under 0.5000", "{}", b.name);
        assert!(low_balance_notices(store, &quiet).await.is_empty(), "{}", b.name);

        // Back over the threshold, then under it again: a second notice.
        store.post_ledger_entry(entry(&acme, LedgerKind::Topup, 100_000, None)).await.expect("back");
        assert_eq!(warn(NOW + 3).await, Ok(0), "{}", b.name);
        store.post_ledger_entry(entry(&acme, LedgerKind::Adjustment, -1, None)).await.expect("fell again");
        assert_eq!(warn(NOW + 4).await, Ok(1), "{}", b.name);
        assert_eq!(low_balance_notices(store, &acme).await.len(), 2, "{}", b.name);

        // A new threshold starts over; no threshold, no warning.
        store.set_low_balance_threshold(&acme, threshold, audit("threshold")).await.expect("again");
        assert_eq!(warn(NOW + 5).await, Ok(1), "{}", b.name);
        store.set_low_balance_threshold(&acme, None, audit("threshold")).await.expect("none");
        assert_eq!(warn(NOW + 6).await, Ok(0), "{}", b.name);
        assert_eq!(store.find_customer(&acme).await.expect("acme").low_balance_threshold, None, "{}", b.name);
    }
}

#[tokio::test]
async fn a_terminated_customer_gets_no_low_balance_warning() {
    for b in backends().await {
        let store = &*b.store;
        let (acme, brc) = breached(store, "acme", 100_000).await;
        store.set_low_balance_threshold(&acme, Some(Money::from_micros(1)), audit("t")).await.expect("threshold");
        store.terminate(&brc, NOW + 15 * DAY, notice(&acme, "termination", "t"), audit("t")).await.expect("ended");
        assert_eq!(store.low_balance_warnings(NOW + 16 * DAY, low_balance_notice()).await, Ok(0), "{}", b.name);
    }
}

/// Every node runs the low-balance job: a customer is still warned once per fall.
#[tokio::test]
async fn a_low_balance_is_noticed_once_when_every_node_warns_at_once() {
    for n in two_nodes().await {
        let mut customers = Vec::new();
        for i in 0..12 {
            let id = customer(&*n.one, &format!("c{i:02}"), 100_000).await;
            n.one.set_low_balance_threshold(&id, Some(Money::from_micros(500_000)), audit("t")).await.expect("t");
            customers.push(id);
        }
        let calls = (0..6).map(|i| {
            let node = if i % 2 == 0 { n.one.clone() } else { n.two.clone() };
            // Each at its own time, so that a second warning would be a second notice.
            tokio::spawn(async move { node.low_balance_warnings(NOW + i, low_balance_notice()).await })
        });
        let mut warned = 0;
        for call in calls.collect::<Vec<_>>() {
            warned += call.await.expect("joined").unwrap_or_else(|e| panic!("{}: {e}", n.name));
        }
        assert_eq!(warned, 12, "{}: each customer once", n.name);
        for id in &customers {
            assert_eq!(low_balance_notices(&*n.two, id).await.len(), 1, "{}: {id}", n.name);
        }
    }
}
