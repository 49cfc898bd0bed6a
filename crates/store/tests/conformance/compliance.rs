//! The contract of the compliance methods: contacts, suppressions, the blocklist, the
//! out-of-scope report, violations, the audit trail, moderation of held messages, and the
//! signatures and templates the operator reviews.

use std::sync::Arc;

use tokio::sync::Barrier;

#[allow(unused_imports)]
use super::*;

fn contact(number: &str, name: &str, at: i64) -> Contact {
    Contact {
        number: number.into(),
        name: name.into(),
        kind: ContactKind::Staff,
        tags: vec!["ops".into()],
        created_at: 0,
        updated_at: at,
    }
}

fn suppression(number: &str, reason: &str, at: i64) -> Suppression {
    Suppression { number: number.into(), source: SuppressionSource::Reply, reason: reason.into(), created_at: at }
}

fn blocked(number: &str, reason: &str, at: i64) -> BlockedNumber {
    BlockedNumber { number: number.into(), reason: reason.into(), created_at: at }
}

fn violation(customer_id: &str, at: i64, category: &str) -> NewViolation {
    NewViolation {
        customer_id: customer_id.into(),
        at,
        category: category.into(),
        kind: ViolationKind::Rejected,
        message_id: None,
        text: format!("text at {at}"),
    }
}

fn note(action: &str, target: &str, at: i64) -> AuditEntry {
    AuditEntry {
        at,
        actor: "operator".into(),
        action: action.into(),
        target: target.into(),
        reason: Some("because".into()),
        before: None,
        after: None,
    }
}

/// A message held for moderation, with the screening verdict naming `category`.
fn held(id: &str, micros: i64, category: Option<&str>) -> NewMessage {
    NewMessage {
        status: MessageStatus::Held,
        screening: category.map(|c| serde_json::json!({ "verdict": "hold", "category": c }).to_string()),
        ..message(id, "+8613800138000", micros)
    }
}

fn reviewed(id: &str, customer_id: &str, name: Option<&str>, text: &str, at: i64) -> Reviewed {
    Reviewed {
        id: id.into(),
        customer_id: customer_id.into(),
        name: name.map(str::to_owned),
        text: text.into(),
        status: ReviewStatus::Pending,
        reason: None,
        created_at: at,
        decided_at: None,
    }
}

fn numbers<T>(items: &[T], number: impl Fn(&T) -> &str) -> Vec<&str> {
    items.iter().map(number).collect()
}

async fn refunds_of(store: &dyn Store, customer_id: &str, message_id: &str) -> usize {
    let ledger = store.list_ledger(customer_id, 0, 1000).await.expect("ledger");
    ledger.iter().filter(|e| e.kind == LedgerKind::Refund && e.message_id.as_deref() == Some(message_id)).count()
}

/// Two nodes on one database: for SQLite the same store twice (its single writer is the
/// node), for PostgreSQL two pools on one fresh schema.
struct Nodes {
    name: &'static str,
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

async fn two_nodes() -> Vec<Nodes> {
    let dir = tempfile::tempdir().expect("dir");
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("nodes.db")).expect("open"));
    let mut all = vec![Nodes { name: "sqlite", a: sqlite.clone(), b: sqlite, _dir: Some(dir) }];
    if let Ok(url) = std::env::var(DATABASE_URL)
        && !url.is_empty()
    {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let schema = format!("compliance_nodes_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let url = tongdao_store::postgres::scratch_schema(&url, &schema).await.expect("schema");
        all.push(Nodes { name: "postgres", a: pg_node(&url).await, b: pg_node(&url).await, _dir: None });
    }
    all
}

/// One more node on the schema at `url`.
async fn pg_node(url: &str) -> Arc<dyn Store> {
    let options = PgOptions { connections: 4, ..PgOptions::default() };
    Arc::new(PgStore::connect_with(url, options).await.expect("connect to PostgreSQL"))
}

#[tokio::test]
async fn contacts_are_upserted_by_number_found_listed_in_pages_and_deleted() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        // A number given twice in one batch: created by the first, left as the last says.
        let first = vec![
            contact("+8613800000003", "Carol", NOW),
            contact("+8613800000001", "Alice", NOW),
            contact("+8613800000002", "Bob", NOW + 1),
            contact("+8613800000001", "Alice Li", NOW + 2),
        ];
        assert_eq!(store.upsert_contacts(&id, first).await, Ok(4), "{}: every contact given counts", b.name);
        let alice = store.find_contact(&id, "+8613800000001").await.expect("alice");
        assert_eq!(
            (alice.name.as_str(), alice.created_at, alice.updated_at),
            ("Alice Li", NOW, NOW + 2),
            "{}: {alice:?}",
            b.name
        );
        assert_eq!((alice.kind, alice.tags.clone()), (ContactKind::Staff, vec!["ops".to_owned()]), "{}", b.name);
        // Again later: replaced, its creation kept.
        let again =
            Contact { kind: ContactKind::Customer, tags: vec![], ..contact("+8613800000002", "Robert", NOW + DAY) };
        assert_eq!(store.upsert_contacts(&id, vec![again]).await, Ok(1), "{}", b.name);
        let bob = store.find_contact(&id, "+8613800000002").await.expect("bob");
        assert_eq!(
            (bob.name.as_str(), bob.kind, bob.tags.len(), bob.created_at, bob.updated_at),
            ("Robert", ContactKind::Customer, 0, NOW + 1, NOW + DAY),
            "{}",
            b.name
        );
        assert_eq!(store.upsert_contacts(&id, vec![]).await, Ok(0), "{}", b.name);
        // Pages in number order, after the last number of the previous page.
        let page = store.list_contacts(&id, "", 2).await.expect("page 1");
        assert_eq!(numbers(&page, |c| &c.number), ["+8613800000001", "+8613800000002"], "{}", b.name);
        let page = store.list_contacts(&id, &page[1].number, 2).await.expect("page 2");
        assert_eq!(numbers(&page, |c| &c.number), ["+8613800000003"], "{}", b.name);
        assert!(store.list_contacts(&id, &page[0].number, 2).await.expect("page 3").is_empty(), "{}", b.name);
        // Another customer's directory is its own.
        assert!(store.list_contacts(&other, "", 10).await.expect("other").is_empty(), "{}", b.name);
        assert_eq!(store.find_contact(&other, "+8613800000001").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.delete_contact(&other, "+8613800000001").await, Err(StoreError::NotFound), "{}", b.name);
        // Deleted once.
        assert_eq!(store.delete_contact(&id, "+8613800000001").await, Ok(()), "{}", b.name);
        assert_eq!(store.delete_contact(&id, "+8613800000001").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.find_contact(&id, "+8613800000001").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.list_contacts(&id, "", 10).await.expect("left").len(), 2, "{}", b.name);
        // No such customer: refused whole.
        let refused = store.upsert_contacts("cus_nobody", vec![contact("+8613800000009", "X", NOW)]).await;
        assert_eq!(refused, Err(StoreError::NotFound), "{}", b.name);
    }
}

#[tokio::test]
async fn lists_in_use_and_recipient_flags_follow_the_lists() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        let none = ListsInUse::default();
        assert_eq!(store.lists_in_use(&id).await, Ok(none), "{}: nothing yet", b.name);
        let flags = store.recipient_flags(&id, vec!["+8613800000001".into()]).await.expect("flags");
        assert_eq!(flags, vec![RecipientFlags::default()], "{}", b.name);
        assert_eq!(store.recipient_flags(&id, vec![]).await, Ok(vec![]), "{}", b.name);

        store.upsert_contacts(&id, vec![contact("+8613800000001", "A", NOW)]).await.expect("contact");
        assert_eq!(store.lists_in_use(&id).await, Ok(ListsInUse { contacts: true, ..none }), "{}", b.name);
        store.add_suppression(&id, suppression("+8613800000002", "TD", NOW)).await.expect("suppress");
        let both = ListsInUse { contacts: true, suppressions: true, blocked: false };
        assert_eq!(store.lists_in_use(&id).await, Ok(both), "{}", b.name);
        // The blocklist is everyone's.
        store.add_blocked(blocked("+8613800000003", "fraud", NOW)).await.expect("block");
        assert_eq!(store.lists_in_use(&id).await, Ok(ListsInUse { blocked: true, ..both }), "{}", b.name);
        assert_eq!(store.lists_in_use(&other).await, Ok(ListsInUse { blocked: true, ..none }), "{}", b.name);
        // The same number on every list.
        store.upsert_contacts(&id, vec![contact("+8613800000004", "D", NOW)]).await.expect("contact");
        store.add_suppression(&id, suppression("+8613800000004", "TD", NOW)).await.expect("suppress");
        store.add_blocked(blocked("+8613800000004", "fraud", NOW)).await.expect("block");

        let asked = ["+8613800000004", "+8613800000001", "+8613800000009", "+8613800000002", "+8613800000003"];
        let mut asked: Vec<String> = asked.iter().map(|n| (*n).to_owned()).collect();
        asked.push("+8613800000001".into()); // repeated: answered again, in place
        let flags = store.recipient_flags(&id, asked.clone()).await.expect("flags");
        let flag = |contact, opted_out, blocked| RecipientFlags { contact, opted_out, blocked };
        let expected = vec![
            flag(true, true, true),
            flag(true, false, false),
            flag(false, false, false),
            flag(false, true, false),
            flag(false, false, true),
            flag(true, false, false),
        ];
        assert_eq!(flags, expected, "{}: one answer per number, in order", b.name);
        // Another customer sees only the blocklist.
        let flags = store.recipient_flags(&other, asked).await.expect("other's flags");
        let blocked_only: Vec<bool> = flags.iter().map(|f| f.blocked && !f.contact && !f.opted_out).collect();
        assert_eq!(blocked_only, [true, false, false, false, true, false], "{}: {flags:?}", b.name);
        assert!(flags.iter().all(|f| !f.contact && !f.opted_out), "{}", b.name);

        // Emptied again: not in use.
        store.delete_contact(&id, "+8613800000001").await.expect("delete");
        store.delete_contact(&id, "+8613800000004").await.expect("delete");
        store.remove_suppression(&id, "+8613800000002").await.expect("remove");
        store.remove_suppression(&id, "+8613800000004").await.expect("remove");
        store.remove_blocked("+8613800000003").await.expect("unblock");
        store.remove_blocked("+8613800000004").await.expect("unblock");
        assert_eq!(store.lists_in_use(&id).await, Ok(none), "{}: emptied", b.name);
    }
}

#[tokio::test]
async fn a_suppression_is_kept_as_first_added_and_listed_in_pages() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        let first = store.add_suppression(&id, suppression("+8613800000002", "TD", NOW)).await.expect("add");
        assert_eq!(first, suppression("+8613800000002", "TD", NOW), "{}", b.name);
        let later = Suppression { source: SuppressionSource::Operator, ..suppression("+8613800000002", "x", NOW + 1) };
        assert_eq!(store.add_suppression(&id, later).await, Ok(first.clone()), "{}: the first kept", b.name);
        let customer_added =
            Suppression { source: SuppressionSource::Customer, ..suppression("+8613800000001", "asked", NOW) };
        store.add_suppression(&id, customer_added.clone()).await.expect("add");
        store.add_suppression(&id, suppression("+8613800000003", "", NOW)).await.expect("add");
        assert_eq!(
            store.add_suppression("cus_nobody", suppression("+8613800000001", "", NOW)).await,
            Err(StoreError::NotFound),
            "{}",
            b.name
        );

        let page = store.list_suppressions(&id, "", 2).await.expect("page 1");
        assert_eq!(page, vec![customer_added, first], "{}", b.name);
        let page = store.list_suppressions(&id, &page[1].number, 2).await.expect("page 2");
        assert_eq!(numbers(&page, |s| &s.number), ["+8613800000003"], "{}", b.name);
        assert!(store.list_suppressions(&other, "", 10).await.expect("other").is_empty(), "{}", b.name);

        assert_eq!(store.remove_suppression(&other, "+8613800000002").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.remove_suppression(&id, "+8613800000002").await, Ok(()), "{}", b.name);
        assert_eq!(store.remove_suppression(&id, "+8613800000002").await, Err(StoreError::NotFound), "{}", b.name);
        let left = store.list_suppressions(&id, "", 10).await.expect("left");
        assert_eq!(numbers(&left, |s| &s.number), ["+8613800000001", "+8613800000003"], "{}", b.name);
        // Added again after removal: the new one.
        let back = store.add_suppression(&id, suppression("+8613800000002", "again", NOW + 5)).await.expect("again");
        assert_eq!((back.reason.as_str(), back.created_at), ("again", NOW + 5), "{}", b.name);
    }
}

#[tokio::test]
async fn a_blocked_number_is_kept_as_first_added_and_listed_in_pages() {
    for b in backends().await {
        let store = &*b.store;
        let first = store.add_blocked(blocked("+8613800000002", "fraud", NOW)).await.expect("block");
        assert_eq!(first, blocked("+8613800000002", "fraud", NOW), "{}", b.name);
        let again = store.add_blocked(blocked("+8613800000002", "other", NOW + 1)).await;
        assert_eq!(again, Ok(first.clone()), "{}: the first kept", b.name);
        store.add_blocked(blocked("+8613800000001", "", NOW)).await.expect("block");
        store.add_blocked(blocked("+8613800000003", "", NOW)).await.expect("block");

        let page = store.list_blocked("", 2).await.expect("page 1");
        assert_eq!(numbers(&page, |n| &n.number), ["+8613800000001", "+8613800000002"], "{}", b.name);
        assert_eq!(page[1], first, "{}", b.name);
        let page = store.list_blocked(&page[1].number, 2).await.expect("page 2");
        assert_eq!(numbers(&page, |n| &n.number), ["+8613800000003"], "{}", b.name);
        assert!(store.list_blocked("+8613800000003", 2).await.expect("page 3").is_empty(), "{}", b.name);

        assert_eq!(store.remove_blocked("+8613800000002").await, Ok(()), "{}", b.name);
        assert_eq!(store.remove_blocked("+8613800000002").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.list_blocked("", 10).await.expect("left").len(), 2, "{}", b.name);
    }
}

#[tokio::test]
async fn out_of_scope_sends_are_counted_in_their_window_and_listed_newest_first() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 1_000_000).await;
        let other = customer(store, "other", 1_000_000).await;
        let oos = |id: &str| NewMessage { out_of_scope: true, ..message(id, "+8613800000001", 1_000) };
        let at = |batch: AcceptBatch, now_ms: i64| AcceptBatch { now_ms, ..batch };
        store.accept(at(batch(&id, vec![oos("msg_a"), oos("msg_b")], None), NOW)).await.expect("accept");
        store.accept(at(batch(&id, vec![message("msg_c", "+8613800000002", 1_000)], None), NOW)).await.expect("c");
        store.accept(at(batch(&id, vec![oos("msg_d")], None), NOW + 10)).await.expect("accept");
        store.accept(at(batch(&id, vec![oos("msg_e")], None), NOW + DAY)).await.expect("outside");
        store.accept(at(batch(&id, vec![oos("msg_f")], None), NOW - 1)).await.expect("before");
        store.accept(at(batch(&other, vec![oos("msg_g")], None), NOW)).await.expect("other's");

        let (count, page) = store.out_of_scope_sends(&id, NOW, NOW + DAY, 2).await.expect("report");
        assert_eq!(count, 3, "{}: counted whole, whatever the limit", b.name);
        let expected = vec![
            OutOfScopeSend { message_id: "msg_d".into(), recipient: "+8613800000001".into(), created_at: NOW + 10 },
            OutOfScopeSend { message_id: "msg_b".into(), recipient: "+8613800000001".into(), created_at: NOW },
        ];
        assert_eq!(page, expected, "{}: newest first, then by id descending", b.name);
        let (count, page) = store.out_of_scope_sends(&id, NOW - 1, NOW + DAY + 1, 10).await.expect("wider");
        assert_eq!((count, page.len()), (5, 5), "{}", b.name);
        assert_eq!(store.out_of_scope_sends(&other, NOW, NOW + DAY, 10).await.expect("other").0, 1, "{}", b.name);
        assert_eq!(store.out_of_scope_sends(&id, NOW + 1, NOW + 10, 10).await, Ok((0, vec![])), "{}", b.name);
    }
}

#[tokio::test]
async fn violations_are_counted_since_and_listed_newest_first() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        assert_eq!(store.record_violation(violation(&id, NOW - DAY, "fraud"), NOW).await, Ok(0), "{}: old", b.name);
        assert_eq!(store.record_violation(violation(&id, NOW, "advertising"), NOW).await, Ok(1), "{}", b.name);
        assert_eq!(store.record_violation(violation(&other, NOW, "fraud"), NOW).await, Ok(1), "{}", b.name);
        let deleted = NewViolation {
            kind: ViolationKind::Deleted,
            message_id: Some("msg_1".into()),
            ..violation(&id, NOW + 5, "gambling")
        };
        assert_eq!(store.record_violation(deleted.clone(), NOW).await, Ok(2), "{}", b.name);
        assert_eq!(store.record_violation(violation(&id, NOW + 6, "fraud"), NOW - DAY).await, Ok(4), "{}", b.name);
        let refused = store.record_violation(violation("cus_nobody", NOW, "fraud"), NOW).await;
        assert!(refused.is_err(), "{}: no such customer: {refused:?}", b.name);

        let all = store.list_violations(None, None, 100).await.expect("all");
        assert_eq!(all.len(), 5, "{}", b.name);
        assert!(all.windows(2).all(|w| w[0].id > w[1].id), "{}: newest first", b.name);
        let mine = store.list_violations(Some(&id), None, 2).await.expect("page 1");
        let categories: Vec<&str> = mine.iter().map(|v| v.violation.category.as_str()).collect();
        assert_eq!(categories, ["fraud", "gambling"], "{}", b.name);
        assert_eq!(mine[1].violation, deleted, "{}: as recorded", b.name);
        let older = store.list_violations(Some(&id), Some(mine[1].id), 10).await.expect("page 2");
        let categories: Vec<&str> = older.iter().map(|v| v.violation.category.as_str()).collect();
        assert_eq!(categories, ["advertising", "fraud"], "{}", b.name);
        assert_eq!(older[1].violation, violation(&id, NOW - DAY, "fraud"), "{}", b.name);
        assert!(store.list_violations(Some("cus_nobody"), None, 10).await.expect("none").is_empty(), "{}", b.name);
    }
}

#[tokio::test]
async fn the_audit_trail_is_listed_newest_first_in_pages() {
    for b in backends().await {
        let store = &*b.store;
        assert!(store.list_audit(None, 10).await.expect("empty").is_empty(), "{}", b.name);
        for i in 0..3 {
            let entry = AuditEntry {
                before: (i == 1).then(|| "{\"a\":1}".to_owned()),
                after: (i == 1).then(|| "{\"a\":2}".to_owned()),
                reason: (i != 2).then(|| "why".to_owned()),
                ..note(&format!("action.{i}"), &format!("target_{i}"), NOW + i)
            };
            store.append_audit(entry).await.expect("append");
        }
        let page = store.list_audit(None, 2).await.expect("page 1");
        let actions: Vec<&str> = page.iter().map(|r| r.entry.action.as_str()).collect();
        assert_eq!(actions, ["action.2", "action.1"], "{}", b.name);
        assert!(page[0].id > page[1].id, "{}", b.name);
        let expected = AuditEntry {
            before: Some("{\"a\":1}".into()),
            after: Some("{\"a\":2}".into()),
            reason: Some("why".into()),
            ..note("action.1", "target_1", NOW + 1)
        };
        assert_eq!(page[1].entry, expected, "{}: as written", b.name);
        assert_eq!(page[0].entry.reason, None, "{}", b.name);
        let rest = store.list_audit(Some(page[1].id), 10).await.expect("page 2");
        let actions: Vec<&str> = rest.iter().map(|r| r.entry.action.as_str()).collect();
        assert_eq!(actions, ["action.0"], "{}", b.name);
    }
}

#[tokio::test]
async fn held_messages_are_listed_in_id_order_with_their_screening() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 1_000_000).await;
        let other = customer(store, "other", 1_000_000).await;
        let mine = vec![held("msg_c", 1_000, Some("fraud")), held("msg_a", 1_000, None), message("msg_q", "+86138", 1)];
        store.accept(batch(&id, mine, None)).await.expect("accept");
        store.accept(batch(&other, vec![held("msg_b", 1_000, Some("gambling"))], None)).await.expect("accept");

        let page = store.held_messages("", 2).await.expect("page 1");
        let ids: Vec<&str> = page.iter().map(|h| h.message.id.as_str()).collect();
        assert_eq!(ids, ["msg_a", "msg_b"], "{}: every customer's, by id", b.name);
        assert_eq!(page[0].screening, None, "{}", b.name);
        let screening: serde_json::Value =
            serde_json::from_str(page[1].screening.as_deref().expect("screening")).expect("json");
        assert_eq!(screening["category"], "gambling", "{}", b.name);
        assert_eq!(
            (page[1].message.customer_id.as_str(), page[1].message.status),
            (other.as_str(), MessageStatus::Held),
            "{}",
            b.name
        );
        let (stored, _) = store.find_message(&other, "msg_b").await.expect("find");
        assert_eq!(page[1].message, stored, "{}: the message as stored", b.name);
        let page = store.held_messages("msg_b", 2).await.expect("page 2");
        let ids: Vec<&str> = page.iter().map(|h| h.message.id.as_str()).collect();
        assert_eq!(ids, ["msg_c"], "{}", b.name);
        assert!(store.held_messages("msg_c", 2).await.expect("page 3").is_empty(), "{}", b.name);
    }
}

#[tokio::test]
async fn an_approved_message_goes_to_the_back_of_the_queue_or_waits_for_its_time() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 1_000_000).await;
        let later = NewMessage { send_at: Some(NOW + DAY), ..held("msg_later", 1_000, None) };
        let due = NewMessage { send_at: Some(NOW), ..held("msg_due", 1_000, None) };
        let accepted = vec![held("msg_h", 1_000, Some("fraud")), message("msg_q1", "+86138", 1_000), later, due];
        store.accept(batch(&id, accepted, None)).await.expect("accept");
        store.accept(batch(&id, vec![message("msg_q2", "+86138", 1_000)], None)).await.expect("accept");

        let approved = store.moderate("msg_h", Moderation::Approve, note("message.approve", "msg_h", NOW + 1)).await;
        let approved = approved.expect("approve");
        assert_eq!((approved.status, approved.updated_at), (MessageStatus::Queued, NOW + 1), "{}", b.name);
        let queue = store.queued_after(0, 100).await.expect("queue");
        let ids: Vec<&str> = queue.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["msg_q1", "msg_q2", "msg_h"], "{}: after those queued before", b.name);
        let (_, events) = store.find_message(&id, "msg_h").await.expect("find");
        let last = events.last().expect("an event");
        assert_eq!((last.status, last.at), (MessageStatus::Queued, NOW + 1), "{}", b.name);

        let waits = store.moderate("msg_later", Moderation::Approve, note("message.approve", "msg_later", NOW)).await;
        assert_eq!(waits.expect("approve").status, MessageStatus::Scheduled, "{}: until its send_at", b.name);
        let due = store.moderate("msg_due", Moderation::Approve, note("message.approve", "msg_due", NOW)).await;
        assert_eq!(due.expect("approve").status, MessageStatus::Queued, "{}: its time has come", b.name);

        // Decided once.
        let again = store.moderate("msg_h", Moderation::Approve, note("message.approve", "msg_h", NOW + 2)).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{}: {again:?}", b.name);
        let delete = Moderation::Delete { category: None };
        let again = store.moderate("msg_q1", delete, note("message.delete", "msg_q1", NOW + 2)).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{}: not held: {again:?}", b.name);
        let missing = store.moderate("msg_nope", Moderation::Approve, note("message.approve", "msg_nope", NOW)).await;
        assert_eq!(missing, Err(StoreError::NotFound), "{}", b.name);

        // Nothing refunded, no violation; one audit entry per decision.
        assert_eq!(consistent_balance(store, &id).await, 1_000_000 - 5_000, "{}", b.name);
        assert!(store.list_violations(Some(&id), None, 10).await.expect("violations").is_empty(), "{}", b.name);
        let trail = store.list_audit(None, 10).await.expect("audit");
        let targets: Vec<&str> = trail.iter().map(|r| r.entry.target.as_str()).collect();
        assert_eq!(targets, ["msg_due", "msg_later", "msg_h"], "{}", b.name);
        assert_eq!(trail[2].entry, note("message.approve", "msg_h", NOW + 1), "{}", b.name);
        assert!(store.held_messages("", 10).await.expect("held").is_empty(), "{}", b.name);
    }
}

#[tokio::test]
async fn a_deleted_message_is_refunded_once_and_counted_as_a_violation() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 1_000_000).await;
        let accepted = vec![
            held("msg_s", 45_000, Some("fraud")),
            held("msg_n", 30_000, None),
            held("msg_c", 20_000, Some("fraud")),
            held("msg_free", 0, Some("advertising")),
        ];
        store.accept(batch(&id, accepted, None)).await.expect("accept");
        assert_eq!(consistent_balance(store, &id).await, 1_000_000 - 95_000, "{}", b.name);

        let delete = |category: Option<&str>| Moderation::Delete { category: category.map(str::to_owned) };
        // The screening's category by default, `other_unlawful` without one, or the one given.
        for (message_id, given, category) in [
            ("msg_s", None, "fraud"),
            ("msg_n", None, "other_unlawful"),
            ("msg_c", Some("gambling"), "gambling"),
            ("msg_free", None, "advertising"),
        ] {
            let deleted = store.moderate(message_id, delete(given), note("message.delete", message_id, NOW + 1)).await;
            let deleted = deleted.unwrap_or_else(|e| panic!("{}: delete {message_id}: {e}", b.name));
            assert_eq!(deleted.status, MessageStatus::Deleted, "{}", b.name);
            let (_, events) = store.find_message(&id, message_id).await.expect("find");
            let last = events.last().expect("an event");
            assert_eq!(
                (last.status, last.error.as_deref()),
                (MessageStatus::Deleted, Some(category)),
                "{}: {message_id}",
                b.name
            );
            let recorded = store.list_violations(Some(&id), None, 1).await.expect("violations");
            let expected = NewViolation {
                customer_id: id.clone(),
                at: NOW + 1,
                category: category.into(),
                kind: ViolationKind::Deleted,
                message_id: Some(message_id.into()),
                text: "hi".into(),
            };
            assert_eq!(recorded[0].violation, expected, "{}", b.name);
        }
        assert_eq!(consistent_balance(store, &id).await, 1_000_000, "{}: refunded whole", b.name);
        for message_id in ["msg_s", "msg_n", "msg_c"] {
            assert_eq!(refunds_of(store, &id, message_id).await, 1, "{}: {message_id}", b.name);
        }
        assert_eq!(refunds_of(store, &id, "msg_free").await, 0, "{}: nothing to refund", b.name);
        let refund = store.list_ledger(&id, 0, 100).await.expect("ledger");
        let refund = refund.iter().find(|e| e.message_id.as_deref() == Some("msg_s") && e.kind == LedgerKind::Refund);
        let refund = refund.expect("refund");
        assert_eq!(
            (refund.amount, refund.reason.as_deref(), refund.created_at),
            (Money::from_micros(45_000), Some("deleted by moderation"), NOW + 1),
            "{}",
            b.name
        );

        // Decided once: no second refund, no second violation.
        let again = store.moderate("msg_s", delete(None), note("message.delete", "msg_s", NOW + 2)).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{}: {again:?}", b.name);
        let again = store.moderate("msg_s", Moderation::Approve, note("message.approve", "msg_s", NOW + 2)).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{}: {again:?}", b.name);
        assert_eq!(refunds_of(store, &id, "msg_s").await, 1, "{}", b.name);
        assert_eq!(store.list_violations(Some(&id), None, 10).await.expect("violations").len(), 4, "{}", b.name);
        // Counted with the refusals.
        assert_eq!(store.record_violation(violation(&id, NOW + 3, "fraud"), NOW).await, Ok(5), "{}", b.name);
        let trail = store.list_audit(None, 10).await.expect("audit");
        assert_eq!(trail.len(), 4, "{}: one entry per decision", b.name);
        assert!(trail.iter().all(|r| r.entry.action == "message.delete"), "{}", b.name);
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{}", b.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_deciding_one_held_message_at_once_decide_it_once() {
    for nodes in two_nodes().await {
        let name = nodes.name;
        let id = customer(&*nodes.a, "acme", 10_000_000).await;
        let rounds = 12;
        let messages: Vec<NewMessage> =
            (0..rounds).map(|i| held(&format!("msg_{i:02}"), 100_000, Some("fraud"))).collect();
        nodes.a.accept(batch(&id, messages, None)).await.expect("accept");
        let mut deleted = 0;
        for i in 0..rounds {
            let message_id = format!("msg_{i:02}");
            let barrier = Arc::new(Barrier::new(2));
            // Both delete, or one approves while the other deletes.
            let decisions = [
                Moderation::Delete { category: None },
                if i % 2 == 0 { Moderation::Delete { category: Some("gambling".into()) } } else { Moderation::Approve },
            ];
            let mut tasks = Vec::new();
            for (node, decision) in [nodes.a.clone(), nodes.b.clone()].into_iter().zip(decisions) {
                let (barrier, message_id) = (barrier.clone(), message_id.clone());
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    node.moderate(&message_id, decision, note("message.decide", &message_id, NOW)).await
                }));
            }
            let mut outcomes = Vec::new();
            for task in tasks {
                outcomes.push(task.await.expect("task"));
            }
            let won: Vec<&StoredMessage> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
            assert_eq!(won.len(), 1, "{name}: {message_id} decided once: {outcomes:?}");
            assert!(
                outcomes.iter().any(|o| matches!(o, Err(StoreError::Conflict(_)))),
                "{name}: the other refused: {outcomes:?}"
            );
            let store = &*nodes.b;
            let (stored, _) = store.find_message(&id, &message_id).await.expect("find");
            assert_eq!(stored.status, won[0].status, "{name}: {message_id}");
            let refunds = refunds_of(store, &id, &message_id).await;
            let violations = store.list_violations(Some(&id), None, 1000).await.expect("violations");
            let violations =
                violations.iter().filter(|v| v.violation.message_id.as_deref() == Some(&message_id)).count();
            if stored.status == MessageStatus::Deleted {
                deleted += 1;
                assert_eq!((refunds, violations), (1, 1), "{name}: {message_id} refunded once");
            } else {
                assert_eq!(stored.status, MessageStatus::Queued, "{name}: {message_id}");
                assert_eq!((refunds, violations), (0, 0), "{name}: {message_id} not refunded");
            }
        }
        let balance = consistent_balance(&*nodes.a, &id).await;
        assert_eq!(balance, 10_000_000 - (rounds - deleted) * 100_000, "{name}");
        assert_eq!(nodes.b.list_audit(None, 1000).await.expect("audit").len(), 12, "{name}: one entry per decision");
        assert!(nodes.a.verify_ledger().await.expect("verify").is_ok(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_recorded_at_once_on_two_nodes_are_counted_one_after_the_other() {
    for nodes in two_nodes().await {
        let name = nodes.name;
        let id = customer(&*nodes.a, "acme", 0).await;
        let total = 16;
        let barrier = Arc::new(Barrier::new(total));
        let mut tasks = Vec::new();
        for i in 0..total {
            let node = if i % 2 == 0 { nodes.a.clone() } else { nodes.b.clone() };
            let (barrier, v) = (barrier.clone(), violation(&id, NOW, "fraud"));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                node.record_violation(v, NOW).await
            }));
        }
        let mut counts = Vec::new();
        for task in tasks {
            counts.push(task.await.expect("task").unwrap_or_else(|e| panic!("{name}: {e}")));
        }
        counts.sort_unstable();
        let expected: Vec<u64> = (1..=16).collect();
        assert_eq!(counts, expected, "{name}: each sees those before it, so a limit is crossed by one of them");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signature_submitted_on_two_nodes_at_once_is_created_once() {
    for nodes in two_nodes().await {
        let name = nodes.name;
        let id = customer(&*nodes.a, "acme", 0).await;
        for round in 0..8 {
            let barrier = Arc::new(Barrier::new(2));
            let text = format!("Acme{round}");
            let mut tasks = Vec::new();
            for (n, node) in [nodes.a.clone(), nodes.b.clone()].into_iter().enumerate() {
                let item = reviewed(&format!("sig_{round}_{n}"), &id, None, &text, NOW);
                let barrier = barrier.clone();
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    node.create_reviewed(ReviewKind::Signature, item).await
                }));
            }
            let mut outcomes = Vec::new();
            for task in tasks {
                outcomes.push(task.await.expect("task"));
            }
            assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{name}: {outcomes:?}");
            assert!(outcomes.iter().any(|o| matches!(o, Err(StoreError::Conflict(_)))), "{name}: {outcomes:?}");
        }
        let all = nodes.b.list_reviewed(ReviewKind::Signature, Some(&id), None).await.expect("list");
        assert_eq!(all.len(), 8, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_upserted_at_once_on_two_nodes_all_land() {
    for nodes in two_nodes().await {
        let name = nodes.name;
        let id = customer(&*nodes.a, "acme", 0).await;
        // Overlapping batches in opposite orders: neither refused nor deadlocked.
        let batch_of = |reverse: bool, who: &str| {
            let mut all: Vec<Contact> = (0..50).map(|i| contact(&format!("+86138000{i:05}"), who, NOW)).collect();
            if reverse {
                all.reverse();
            }
            all
        };
        let barrier = Arc::new(Barrier::new(2));
        let mut tasks = Vec::new();
        for (node, contacts) in [(nodes.a.clone(), batch_of(false, "a")), (nodes.b.clone(), batch_of(true, "b"))] {
            let (barrier, id) = (barrier.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                node.upsert_contacts(&id, contacts).await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.expect("task"), Ok(50), "{name}");
        }
        let all = nodes.a.list_contacts(&id, "", 100).await.expect("list");
        assert_eq!(all.len(), 50, "{name}");
        let winner = all[0].name.clone();
        assert!(all.iter().all(|c| c.name == winner), "{name}: one batch after the other");
    }
}

#[tokio::test]
async fn signatures_and_templates_are_reviewed_listed_decided_and_deleted() {
    for b in backends().await {
        let store = &*b.store;
        let id = customer(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        let kind = ReviewKind::Signature;
        let created = store.create_reviewed(kind, reviewed("sig_1", &id, None, "Acme", NOW)).await.expect("create");
        assert_eq!(created, reviewed("sig_1", &id, None, "Acme", NOW), "{}", b.name);
        // One customer, one text: refused; another customer may have it.
        let twice = store.create_reviewed(kind, reviewed("sig_2", &id, None, "Acme", NOW + 1)).await;
        assert!(matches!(twice, Err(StoreError::Conflict(_))), "{}: {twice:?}", b.name);
        assert_eq!(store.find_reviewed(kind, "sig_2").await, Err(StoreError::NotFound), "{}", b.name);
        store.create_reviewed(kind, reviewed("sig_3", &other, None, "Acme", NOW + 1)).await.expect("other's");
        store.create_reviewed(kind, reviewed("sig_0", &id, None, "Acme Ltd", NOW + 1)).await.expect("second");
        let unknown = store.create_reviewed(kind, reviewed("sig_9", "cus_nobody", None, "X", NOW)).await;
        assert_eq!(unknown, Err(StoreError::NotFound), "{}", b.name);
        // A signature has no name, whatever was given.
        let named = store.create_reviewed(kind, reviewed("sig_4", &id, Some("n"), "Named", NOW + 2)).await;
        assert_eq!(named.expect("named").name, None, "{}", b.name);

        // Templates have a name and may repeat a text.
        let tpl = ReviewKind::Template;
        let t1 = store.create_reviewed(tpl, reviewed("tpl_1", &id, Some("otp"), "code ${c}", NOW)).await;
        assert_eq!(t1, Ok(reviewed("tpl_1", &id, Some("otp"), "code ${c}", NOW)), "{}", b.name);
        let t2 = store.create_reviewed(tpl, reviewed("tpl_2", &id, None, "code ${c}", NOW)).await.expect("t2");
        assert_eq!(t2.name.as_deref(), Some(""), "{}: no name given", b.name);
        assert_eq!(store.find_reviewed(tpl, "sig_1").await, Err(StoreError::NotFound), "{}: kinds apart", b.name);

        // Listed by creation, then id; by customer and by status.
        let mine = store.list_reviewed(kind, Some(&id), None).await.expect("list");
        let ids: Vec<&str> = mine.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["sig_1", "sig_0", "sig_4"], "{}", b.name);
        assert_eq!(store.list_reviewed(kind, None, None).await.expect("all").len(), 4, "{}", b.name);
        let templates = store.list_reviewed(tpl, None, Some(ReviewStatus::Pending)).await.expect("templates");
        assert_eq!(templates.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["tpl_1", "tpl_2"], "{}", b.name);

        // Decided, with the audit entry of before and after; decided again later.
        let audit = note("signature.reject", "sig_1", NOW + 10);
        let decided = store.decide_reviewed(kind, "sig_1", ReviewStatus::Rejected, Some("vague".into()), audit).await;
        let decided = decided.expect("decide");
        assert_eq!(
            (decided.status, decided.reason.as_deref(), decided.decided_at),
            (ReviewStatus::Rejected, Some("vague"), Some(NOW + 10)),
            "{}",
            b.name
        );
        assert_eq!(store.find_reviewed(kind, "sig_1").await, Ok(decided.clone()), "{}", b.name);
        let trail = store.list_audit(None, 10).await.expect("audit");
        assert_eq!(trail.len(), 1, "{}", b.name);
        let before: serde_json::Value =
            serde_json::from_str(trail[0].entry.before.as_deref().expect("before")).expect("json");
        let after: serde_json::Value =
            serde_json::from_str(trail[0].entry.after.as_deref().expect("after")).expect("json");
        assert_eq!(
            (before["status"].as_str(), after["status"].as_str()),
            (Some("pending"), Some("rejected")),
            "{}",
            b.name
        );
        assert_eq!(after["reason"], "vague", "{}", b.name);
        assert_eq!((trail[0].entry.action.as_str(), trail[0].entry.at), ("signature.reject", NOW + 10), "{}", b.name);
        let approved = store
            .decide_reviewed(kind, "sig_1", ReviewStatus::Approved, None, note("signature.approve", "sig_1", NOW + 20))
            .await
            .expect("decide again");
        assert_eq!(
            (approved.status, approved.reason, approved.decided_at),
            (ReviewStatus::Approved, None, Some(NOW + 20)),
            "{}",
            b.name
        );
        let trail = store.list_audit(None, 10).await.expect("audit");
        assert!(trail[0].entry.before.as_deref().is_some_and(|s| s.contains("rejected")), "{}", b.name);
        let rejected = store.list_reviewed(kind, None, Some(ReviewStatus::Rejected)).await.expect("rejected");
        assert!(rejected.is_empty(), "{}", b.name);
        let approved = store.list_reviewed(kind, Some(&id), Some(ReviewStatus::Approved)).await.expect("approved");
        assert_eq!(approved.len(), 1, "{}", b.name);
        let t = store
            .decide_reviewed(tpl, "tpl_2", ReviewStatus::Approved, None, note("template.approve", "tpl_2", NOW))
            .await
            .expect("template");
        assert_eq!(t.status, ReviewStatus::Approved, "{}", b.name);
        let missing =
            store.decide_reviewed(kind, "sig_nope", ReviewStatus::Approved, None, note("x", "sig_nope", NOW)).await;
        assert_eq!(missing, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.list_audit(None, 10).await.expect("audit").len(), 3, "{}: none for a refusal", b.name);

        // Deleted by its customer only, once.
        assert_eq!(store.delete_reviewed(kind, &other, "sig_1").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.delete_reviewed(tpl, &id, "sig_1").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.delete_reviewed(kind, &id, "sig_1").await, Ok(()), "{}", b.name);
        assert_eq!(store.delete_reviewed(kind, &id, "sig_1").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.find_reviewed(kind, "sig_1").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.delete_reviewed(tpl, &id, "tpl_1").await, Ok(()), "{}", b.name);
        // Its text may be submitted again.
        store.create_reviewed(kind, reviewed("sig_5", &id, None, "Acme", NOW + 30)).await.expect("again");
    }
}
