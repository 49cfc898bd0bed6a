//! The contract of the billing methods: customer-service tickets and the adjustments that
//! settle billing disputes, monthly statements and the carriers' reconciliation.

use tongdao_domain::ErrorCode;
use tongdao_domain::ticket::{TicketKind, TicketParty, TicketStatus};

use super::lifecycle::{newest_audit, two_nodes};
use super::*;

const HOUR: i64 = 3_600_000;
/// 2026-06-01 00:00 CST: the start of `NOW`'s day.
const DAY_START: i64 = NOW - 12 * HOUR;

fn ticket(id: &str, customer_id: &str, kind: TicketKind, message_ids: &[&str]) -> NewTicket {
    NewTicket {
        id: id.into(),
        customer_id: customer_id.into(),
        kind,
        subject: format!("about {id}"),
        body: "please look".into(),
        message_ids: message_ids.iter().map(|m| m.to_string()).collect(),
        statement_lines: vec!["2026-06:charges:2026-06-01".into()],
        opened_at: NOW,
        answer_due_at: (kind == TicketKind::Complaint).then_some(NOW + DAY),
    }
}

fn reply(id: &str, ticket_id: &str, author: TicketParty, at: i64) -> TicketReply {
    TicketReply { id: id.into(), ticket_id: ticket_id.into(), author, body: format!("reply {id}"), created_at: at }
}

fn refused(result: &StoreResult<impl std::fmt::Debug>) -> Option<(ErrorCode, Option<&str>)> {
    match result {
        Err(StoreError::Refused(r)) => Some((r.code, r.field.as_deref())),
        _ => None,
    }
}

// ---- tickets -------------------------------------------------------------------------------

#[tokio::test]
async fn a_ticket_names_only_the_customers_own_messages_and_is_listed_by_filter() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 100_000).await;
        let other = customer(store, "other", 100_000).await;
        store.accept(batch(&acme, vec![message("msg_a", "+8613800138000", 1_000)], None)).await.expect("accepted");
        store.accept(batch(&other, vec![message("msg_o", "+8613800138000", 1_000)], None)).await.expect("accepted");

        let foreign = store.open_ticket(ticket("tkt_x", &acme, TicketKind::BillingDispute, &["msg_a", "msg_o"])).await;
        assert_eq!(refused(&foreign), Some((ErrorCode::InvalidReference, Some("message_ids[1]"))), "{}", b.name);
        let unknown = store.open_ticket(ticket("tkt_x", &acme, TicketKind::Inquiry, &["msg_nothing"])).await;
        assert_eq!(refused(&unknown), Some((ErrorCode::InvalidReference, Some("message_ids[0]"))), "{}", b.name);
        assert_eq!(store.find_ticket(None, "tkt_x").await.map(|_| ()), Err(StoreError::NotFound), "{}", b.name);
        let nobody = store.open_ticket(ticket("tkt_x", "cus_nobody", TicketKind::Inquiry, &[])).await;
        assert_eq!(nobody, Err(StoreError::NotFound), "{}", b.name);

        let opened = store.open_ticket(ticket("tkt_1", &acme, TicketKind::BillingDispute, &["msg_a"])).await;
        let opened = opened.expect("opened");
        assert_eq!((opened.status, opened.updated_at), (TicketStatus::Open, NOW), "{}", b.name);
        assert_eq!(opened.message_ids, ["msg_a"], "{}", b.name);
        assert_eq!(opened.statement_lines, ["2026-06:charges:2026-06-01"], "{}", b.name);
        store.open_ticket(ticket("tkt_2", &acme, TicketKind::Complaint, &[])).await.expect("complaint");
        store.open_ticket(ticket("tkt_3", &other, TicketKind::Inquiry, &[])).await.expect("other's");

        let thread = store.find_ticket(Some(&acme), "tkt_1").await.expect("thread");
        assert_eq!((thread.ticket, thread.replies.len()), (opened, 0), "{}", b.name);
        let theirs = store.find_ticket(Some(&other), "tkt_1").await;
        assert_eq!(theirs.map(|_| ()), Err(StoreError::NotFound), "{}: another customer's", b.name);

        let ids = |tickets: Vec<Ticket>| tickets.into_iter().map(|t| t.id).collect::<Vec<_>>();
        let list = |filter: TicketFilter| store.list_tickets(TicketFilter { limit: 10, ..filter });
        assert_eq!(ids(list(TicketFilter::default()).await.expect("all")), ["tkt_3", "tkt_2", "tkt_1"], "{}", b.name);
        let of_acme = TicketFilter { customer_id: Some(acme.clone()), ..TicketFilter::default() };
        assert_eq!(ids(list(of_acme.clone()).await.expect("acme's")), ["tkt_2", "tkt_1"], "{}", b.name);
        let page = TicketFilter { before: Some("tkt_2".into()), ..of_acme.clone() };
        assert_eq!(ids(list(page).await.expect("page")), ["tkt_1"], "{}", b.name);
        let first = store.list_tickets(TicketFilter { limit: 1, ..of_acme.clone() }).await.expect("one");
        assert_eq!(ids(first), ["tkt_2"], "{}", b.name);
        let complaints = TicketFilter { kind: Some(TicketKind::Complaint), ..TicketFilter::default() };
        assert_eq!(ids(list(complaints).await.expect("complaints")), ["tkt_2"], "{}", b.name);
        let overdue = |at: i64| TicketFilter { overdue_at: Some(at), ..TicketFilter::default() };
        assert!(list(overdue(NOW + DAY)).await.expect("not yet").is_empty(), "{}", b.name);
        assert_eq!(ids(list(overdue(NOW + DAY + 1)).await.expect("overdue")), ["tkt_2"], "{}", b.name);
        let answered = TicketFilter { status: Some(TicketStatus::Answered), ..TicketFilter::default() };
        assert!(list(answered.clone()).await.expect("none").is_empty(), "{}", b.name);

        store.reply_ticket(None, reply("rpl_1", "tkt_2", TicketParty::Operator, NOW + 1), None).await.expect("answer");
        assert_eq!(ids(list(answered).await.expect("answered")), ["tkt_2"], "{}", b.name);
        assert!(list(overdue(NOW + DAY + 1)).await.expect("answered in time").is_empty(), "{}", b.name);
    }
}

#[tokio::test]
async fn replies_move_a_ticket_as_the_rules_say_and_the_operator_moves_it_with_an_audit_entry() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        store.open_ticket(ticket("tkt_1", &acme, TicketKind::Complaint, &[])).await.expect("opened");

        let theirs = store.reply_ticket(Some(&other), reply("rpl_0", "tkt_1", TicketParty::Customer, NOW), None).await;
        assert_eq!(theirs.map(|_| ()), Err(StoreError::NotFound), "{}", b.name);
        let answer = reply("rpl_1", "tkt_1", TicketParty::Operator, NOW + 10);
        let thread = store.reply_ticket(None, answer, Some(audit("ticket.reply"))).await.expect("answered");
        assert_eq!((thread.ticket.status, thread.ticket.answered_at), (TicketStatus::Answered, Some(NOW + 10)));
        let audited = newest_audit(store).await;
        assert!(audited.before.is_some_and(|s| s.contains("\"status\":\"open\"")), "{}", b.name);
        assert!(audited.after.is_some_and(|s| s.contains("\"status\":\"answered\"")), "{}", b.name);
        let back = reply("rpl_2", "tkt_1", TicketParty::Customer, NOW + 20);
        let thread = store.reply_ticket(Some(&acme), back, None).await.expect("customer's reply");
        assert_eq!(thread.ticket.status, TicketStatus::Open, "{}", b.name);
        assert_eq!(thread.ticket.answered_at, Some(NOW + 10), "{}: the last answer is kept", b.name);
        let ids: Vec<&str> = thread.replies.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["rpl_1", "rpl_2"], "{}: oldest first", b.name);

        let answered = store.set_ticket_status("tkt_1", TicketStatus::Answered, audit("ticket.status")).await;
        assert_eq!(refused(&answered), Some((ErrorCode::InvalidRequest, Some("status"))), "{}", b.name);
        let resolved = store.set_ticket_status("tkt_1", TicketStatus::Resolved, audit("ticket.status")).await;
        let resolved = resolved.expect("resolved").ticket;
        assert_eq!((resolved.status, resolved.resolved_at), (TicketStatus::Resolved, Some(NOW)), "{}", b.name);
        let audited = newest_audit(store).await;
        assert!(audited.after.is_some_and(|s| s.contains("\"status\":\"resolved\"")), "{}", b.name);
        let late = reply("rpl_3", "tkt_1", TicketParty::Operator, NOW + 30);
        assert_eq!(refused(&store.reply_ticket(None, late, None).await).map(|r| r.0), Some(ErrorCode::Conflict));
        let closed = store.set_ticket_status("tkt_1", TicketStatus::Closed, audit("ticket.status")).await;
        assert_eq!(closed.expect("closed").ticket.closed_at, Some(NOW), "{}", b.name);
        let twice = store.set_ticket_status("tkt_1", TicketStatus::Closed, audit("ticket.status")).await;
        assert_eq!(refused(&twice).map(|r| r.0), Some(ErrorCode::Conflict), "{}", b.name);
        let after = reply("rpl_4", "tkt_1", TicketParty::Customer, NOW + 40);
        let closed_reply = store.reply_ticket(Some(&acme), after, None).await;
        assert_eq!(refused(&closed_reply).map(|r| r.0), Some(ErrorCode::Conflict), "{}", b.name);
        let unknown = store.set_ticket_status("tkt_nothing", TicketStatus::Open, audit("ticket.status")).await;
        assert_eq!(unknown.map(|_| ()), Err(StoreError::NotFound), "{}", b.name);
        let thread = store.find_ticket(None, "tkt_1").await.expect("thread");
        assert_eq!(thread.replies.len(), 2, "{}: refused replies are not kept", b.name);
    }
}

/// Replies on two nodes at once are all kept, and the ticket ends in one of the statuses
/// the last of them gives.
#[tokio::test]
async fn replies_from_two_nodes_at_once_are_all_kept() {
    for n in two_nodes().await {
        let acme = customer(&*n.one, "acme", 0).await;
        n.one.open_ticket(ticket("tkt_1", &acme, TicketKind::Inquiry, &[])).await.expect("opened");
        let calls = (0..10).map(|i| {
            let (node, party) = if i % 2 == 0 {
                (n.one.clone(), TicketParty::Customer)
            } else {
                (n.two.clone(), TicketParty::Operator)
            };
            let customer_id = acme.clone();
            tokio::spawn(async move {
                let scope = (party == TicketParty::Customer).then_some(customer_id.as_str());
                node.reply_ticket(scope, reply(&format!("rpl_{i:02}"), "tkt_1", party, NOW + i), None).await
            })
        });
        for call in calls.collect::<Vec<_>>() {
            call.await.expect("joined").unwrap_or_else(|e| panic!("{}: {e}", n.name));
        }
        let thread = n.two.find_ticket(Some(&acme), "tkt_1").await.expect("thread");
        assert_eq!(thread.replies.len(), 10, "{}", n.name);
        assert!(matches!(thread.ticket.status, TicketStatus::Open | TicketStatus::Answered), "{}", n.name);
    }
}

#[tokio::test]
async fn a_settled_dispute_shows_its_adjustment_with_the_seq_the_ledger_gave_it() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 100_000).await;
        let other = customer(store, "other", 100_000).await;
        store.open_ticket(ticket("tkt_1", &acme, TicketKind::BillingDispute, &[])).await.expect("opened");
        store.open_ticket(ticket("tkt_2", &other, TicketKind::BillingDispute, &[])).await.expect("other's");

        let credit =
            NewLedgerEntry { reference: Some("ignored".into()), ..entry(&acme, LedgerKind::Adjustment, 5_000, None) };
        let posted = store.settle_ticket("tkt_1", credit.clone(), audit("ticket.settle")).await.expect("settled");
        let ledger = store.list_ledger(&acme, 0, 100).await.expect("ledger");
        assert_eq!(ledger.last(), Some(&posted), "{}: the entry as the ledger has it, seq included", b.name);
        assert_eq!((posted.reference.as_deref(), posted.amount.micros()), (Some("tkt_1"), 5_000), "{}", b.name);
        assert_eq!(posted.balance_after.micros(), 105_000, "{}", b.name);
        let audited = newest_audit(store).await;
        let after: serde_json::Value = serde_json::from_str(&audited.after.expect("after")).expect("json");
        assert_eq!(after["seq"], posted.seq, "{}: the audit entry names the entry", b.name);

        let debit = entry(&acme, LedgerKind::Adjustment, -2_000, None);
        let second = store.settle_ticket("tkt_1", debit, audit("ticket.settle")).await.expect("settled again");
        assert!(second.seq > posted.seq, "{}", b.name);
        let thread = store.find_ticket(Some(&acme), "tkt_1").await.expect("thread");
        assert_eq!(thread.adjustments, [posted, second], "{}", b.name);

        let theirs = store.settle_ticket("tkt_2", credit.clone(), audit("ticket.settle")).await;
        assert_eq!(refused(&theirs), Some((ErrorCode::InvalidReference, Some("ticket"))), "{}", b.name);
        let unknown = store.settle_ticket("tkt_nothing", credit, audit("ticket.settle")).await;
        assert_eq!(refused(&unknown), Some((ErrorCode::InvalidReference, Some("ticket"))), "{}", b.name);
        let overdraw =
            store.settle_ticket("tkt_1", entry(&acme, LedgerKind::Adjustment, -200_000, None), audit("s")).await;
        assert!(matches!(overdraw, Err(StoreError::InsufficientBalance { .. })), "{}: {overdraw:?}", b.name);
        assert_eq!(consistent_balance(store, &acme).await, 103_000, "{}", b.name);
        assert_eq!(consistent_balance(store, &other).await, 100_000, "{}", b.name);
        assert!(store.verify_ledger().await.expect("verify").is_ok(), "{}", b.name);
    }
}

// ---- statements ----------------------------------------------------------------------------

fn stamped(customer_id: &str, kind: LedgerKind, micros: i64, at: i64) -> NewLedgerEntry {
    NewLedgerEntry { created_at: at, ..entry(customer_id, kind, micros, None) }
}

fn on(carrier: Option<&str>, id: &str, price: i64) -> NewMessage {
    NewMessage { carrier: carrier.map(str::to_owned), ..message(id, "+8613800138000", price) }
}

/// A customer's two days from `DAY_START`, with an entry before and after them:
/// opening 1.0000, then top-ups, charges to two carriers and none, a refund, an adjustment.
async fn two_days_of(store: &dyn Store) -> String {
    let acme = customer(store, "acme", 0).await;
    let other = customer(store, "other", 0).await;
    store.post_ledger_entry(stamped(&acme, LedgerKind::Topup, 1_000_000, DAY_START - HOUR)).await.expect("before");
    store.post_ledger_entry(stamped(&other, LedgerKind::Topup, 1_000_000, DAY_START)).await.expect("other's");
    let bank =
        NewLedgerEntry { reference: Some("bank-1".into()), ..stamped(&acme, LedgerKind::Topup, 500_000, DAY_START) };
    store.post_ledger_entry(bank).await.expect("top-up");
    let charged = vec![
        NewMessage { segments: 2, ..on(Some("mobile"), "msg_1", 90_000) },
        on(Some("mobile"), "msg_2", 45_000),
        on(Some("unicom"), "msg_3", 45_000),
        on(None, "msg_4", 45_000),
    ];
    store.accept(AcceptBatch { now_ms: DAY_START + HOUR, ..batch(&acme, charged, None) }).await.expect("charged");
    let theirs = batch(&other, vec![on(None, "msg_o", 7)], None);
    store.accept(AcceptBatch { now_ms: DAY_START + HOUR, ..theirs }).await.expect("other's charge");
    store.cancel_message(&acme, "msg_2", DAY_START + 2 * HOUR).await.expect("refunded");
    store
        .post_ledger_entry(stamped(&acme, LedgerKind::Adjustment, -10_000, DAY_START + DAY + HOUR))
        .await
        .expect("adj");
    store.post_ledger_entry(stamped(&acme, LedgerKind::Topup, 200_000, DAY_START + DAY + 2 * HOUR)).await.expect("t");
    store.post_ledger_entry(stamped(&acme, LedgerKind::Topup, 300_000, DAY_START + 2 * DAY)).await.expect("after");
    acme
}

fn group(kind: LedgerKind, day: i64, carrier: Option<&str>, entries: u64, segments: u64, amount: i64) -> LedgerGroup {
    LedgerGroup {
        kind,
        day_start_ms: day,
        carrier: carrier.map(str::to_owned),
        entries,
        segments,
        amount: Money::from_micros(amount),
    }
}

#[tokio::test]
async fn a_statement_adds_up_from_its_opening_balance_to_its_closing_one_by_day_and_carrier() {
    for b in backends().await {
        let store = &*b.store;
        let acme = two_days_of(store).await;
        let data = store.statement(&acme, DAY_START, DAY_START + 2 * DAY, 1).await.expect("statement");
        assert_eq!((data.opening.micros(), data.closing.micros()), (1_000_000, 1_510_000), "{}", b.name);
        let total: i64 = data.groups.iter().map(|g| g.amount.micros()).sum();
        assert_eq!(data.opening.micros() + total, data.closing.micros(), "{}: opening + entries = closing", b.name);
        let mut groups = data.groups.clone();
        groups.sort_by(|a, b| {
            (a.day_start_ms, a.kind.as_str(), &a.carrier).cmp(&(b.day_start_ms, b.kind.as_str(), &b.carrier))
        });
        let day2 = DAY_START + DAY;
        let expected = vec![
            group(LedgerKind::Charge, DAY_START, None, 1, 1, -45_000),
            group(LedgerKind::Charge, DAY_START, Some("mobile"), 2, 3, -135_000),
            group(LedgerKind::Charge, DAY_START, Some("unicom"), 1, 1, -45_000),
            group(LedgerKind::Refund, DAY_START, None, 1, 0, 45_000),
            group(LedgerKind::Topup, DAY_START, None, 1, 0, 500_000),
            group(LedgerKind::Adjustment, day2, None, 1, 0, -10_000),
            group(LedgerKind::Topup, day2, None, 1, 0, 200_000),
        ];
        assert_eq!(groups, expected, "{}", b.name);

        let ledger = store.list_ledger(&acme, 0, 100).await.expect("ledger");
        let last_in = &ledger[ledger.len() - 2];
        let head = data.head.expect("head");
        assert_eq!((head.seq, head.hash.len()), (last_in.seq, 64), "{}: the period's last entry, hashed", b.name);
        assert_eq!(data.topups.entries.len(), 1, "{}", b.name);
        assert_eq!(data.topups.entries[0].reference.as_deref(), Some("bank-1"), "{}: in ledger order", b.name);
        assert!(data.topups.truncated, "{}: two top-ups, one listed", b.name);
        assert_eq!((data.adjustments.entries.len(), data.adjustments.truncated), (1, false), "{}", b.name);

        // Consecutive periods share their boundary.
        let next = store.statement(&acme, DAY_START + 2 * DAY, DAY_START + 3 * DAY, 10).await.expect("next");
        assert_eq!((next.opening, next.closing.micros()), (data.closing, 1_810_000), "{}", b.name);
        let before = store.statement(&acme, DAY_START - DAY, DAY_START, 10).await.expect("before");
        assert_eq!((before.opening.micros(), before.closing), (0, data.opening), "{}", b.name);
        let empty = store.statement(&acme, DAY_START - 30 * DAY, DAY_START - 29 * DAY, 10).await.expect("empty");
        assert_eq!((empty.opening.micros(), empty.closing.micros(), empty.head), (0, 0, None), "{}", b.name);
        assert!(empty.groups.is_empty() && empty.topups.entries.is_empty(), "{}", b.name);
        let nobody = store.statement("cus_nobody", DAY_START, DAY_START + DAY, 10).await;
        assert_eq!(nobody, Err(StoreError::NotFound), "{}", b.name);
    }
}

/// Charges land while the statement is read on another node: its figures still add up.
#[tokio::test]
async fn a_statement_read_while_another_node_charges_still_adds_up() {
    for n in two_nodes().await {
        let acme = customer(&*n.one, "acme", 0).await;
        n.one.post_ledger_entry(stamped(&acme, LedgerKind::Topup, 10_000_000, DAY_START)).await.expect("top-up");
        let writer = {
            let (node, acme) = (n.two.clone(), acme.clone());
            tokio::spawn(async move {
                for i in 0..40 {
                    let m = on(Some("mobile"), &format!("msg_{i:02}"), 1_000);
                    node.accept(AcceptBatch { now_ms: DAY_START + HOUR + i, ..batch(&acme, vec![m], None) })
                        .await
                        .expect("charged");
                }
            })
        };
        let mut reads = 0;
        while !writer.is_finished() || reads == 0 {
            let data = n.one.statement(&acme, DAY_START, DAY_START + DAY, 100).await.expect("statement");
            let total: i64 = data.groups.iter().map(|g| g.amount.micros()).sum();
            assert_eq!(data.opening.micros() + total, data.closing.micros(), "{}: {data:?}", n.name);
            reads += 1;
        }
        writer.await.expect("writer");
        let data = n.one.statement(&acme, DAY_START, DAY_START + DAY, 100).await.expect("statement");
        assert_eq!(data.closing.micros(), 10_000_000 - 40_000, "{}", n.name);
    }
}

// ---- reconciliation ------------------------------------------------------------------------

/// What the customer's refund entries gave back.
async fn refunds(store: &dyn Store, customer_id: &str) -> i64 {
    let ledger = store.list_ledger(customer_id, 0, 100).await.expect("ledger");
    ledger.iter().filter(|e| e.kind == LedgerKind::Refund).map(|e| e.amount.micros()).sum()
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

#[tokio::test]
async fn the_reconciliation_of_days_with_top_ups_only_is_empty_not_an_error() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        store.post_ledger_entry(stamped(&acme, LedgerKind::Topup, 1_000_000, DAY_START + HOUR)).await.expect("top-up");
        let report = store.reconciliation(DAY_START, DAY_START + DAY).await;
        assert_eq!(report, Ok(Vec::new()), "{}", b.name);
    }
}

#[tokio::test]
async fn the_reconciliation_counts_charged_messages_by_link_and_day_with_what_the_carrier_answered() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        let bob = customer(store, "bob", 0).await;
        for id in [&acme, &bob] {
            store.post_ledger_entry(stamped(id, LedgerKind::Topup, 1_000_000, DAY_START - DAY)).await.expect("top-up");
        }
        let at = DAY_START + HOUR;
        let first_day = vec![
            on(Some("mobile"), "msg_1", 45_000),
            NewMessage { segments: 3, ..on(Some("mobile"), "msg_3", 135_000) },
            on(Some("mobile"), "msg_f", 45_000),
            on(Some("mobile"), "msg_c", 45_000),
        ];
        store.accept(AcceptBatch { now_ms: at, ..batch(&acme, first_day, None) }).await.expect("charged");
        let bobs = vec![on(Some("mobile"), "msg_b", 45_000)];
        store.accept(AcceptBatch { now_ms: at, ..batch(&bob, bobs, None) }).await.expect("charged");
        let progress = vec![
            submitted(&acme, "msg_1", &["a1"], at + 1),
            submitted(&acme, "msg_3", &["c1", "c2", "c3"], at + 1),
            submitted(&bob, "msg_b", &["b1"], at + 1),
            Progress::Failed {
                customer_id: acme.clone(),
                message_id: "msg_f".into(),
                link: Some("sim".into()),
                parts: 1,
                accepted: 0,
                error: "rejected".into(),
                at: at + 1,
            },
            receipt("a1", PartOutcome::Delivered, at + 2),
            receipt("c1", PartOutcome::Delivered, at + 2),
            receipt("c2", PartOutcome::Delivered, at + 2),
            receipt("c3", PartOutcome::Undeliverable, at + 2),
        ];
        store.record_progress(progress).await.expect("progress");
        store.cancel_message(&acme, "msg_c", at + 3).await.expect("cancelled");
        let second_day = vec![on(None, "msg_2", 45_000)];
        store.accept(AcceptBatch { now_ms: at + DAY, ..batch(&acme, second_day, None) }).await.expect("charged");

        let report = store.reconciliation(DAY_START, DAY_START + 2 * DAY).await.expect("report");
        let keys: Vec<(i64, Option<&str>)> = report.iter().map(|r| (r.day_start_ms, r.link.as_deref())).collect();
        assert_eq!(keys, [(DAY_START, Some("sim")), (DAY_START, None), (DAY_START + DAY, None)], "{}", b.name);
        let sim = &report[0];
        let figures = (sim.messages, sim.charged_segments, sim.charged.micros(), sim.submitted_segments);
        assert_eq!(figures, (4, 6, 270_000, 5), "{}: {sim:?}", b.name);
        assert_eq!(sim.failed_messages, 1, "{}", b.name);
        let receipts = |outcome: PartOutcome| sim.receipts.iter().find(|(o, _)| *o == outcome).map(|(_, n)| *n);
        assert_eq!(sim.receipts.len(), PartOutcome::ALL.len(), "{}", b.name);
        let answered = (receipts(PartOutcome::Delivered), receipts(PartOutcome::Undeliverable));
        assert_eq!(answered, (Some(3), Some(1)), "{}: segments by outcome", b.name);
        assert_eq!(receipts(PartOutcome::Expired), Some(0), "{}", b.name);
        let cancelled = &report[1];
        assert_eq!((cancelled.messages, cancelled.refunded.micros()), (1, 45_000), "{}", b.name);
        let total_refunded: i64 = report.iter().map(|r| r.refunded.micros()).sum();
        assert_eq!(
            total_refunded,
            refunds(store, &acme).await + refunds(store, &bob).await,
            "{}: every refund of them",
            b.name
        );
        assert_eq!(report[2].messages, 1, "{}", b.name);

        let one_day = store.reconciliation(DAY_START + DAY, DAY_START + 2 * DAY).await.expect("day two");
        assert_eq!(one_day, report[2..], "{}", b.name);
        assert_eq!(store.reconciliation(DAY_START, DAY_START).await, Ok(vec![]), "{}", b.name);
    }
}
