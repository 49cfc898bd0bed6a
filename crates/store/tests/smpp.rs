//! The store's side of the SMPP edge: several submissions in one job, the receipt outbox,
//! its removal and expiry, and the dispatch mark that keeps cancelled messages home.

use tongdao_domain::{MessageStatus, Money, ReceiptRequest};
use tongdao_store::*;

mod common;
use common::store_with_balance;

const PRICE: i64 = 45_000;

fn batch(id: &str, receipt: ReceiptRequest) -> AcceptBatch {
    let message = NewMessage {
        carrier: Some("mobile".into()),
        sender: Some("10690001".into()),
        text: "Your code is 123456, valid for 5 minutes".into(),
        receipt,
        ..common::message(id, "+8613800138000", PRICE)
    };
    common::batch_of(vec![message], 1)
}

#[tokio::test]
async fn accept_many_stores_or_refuses_each_submission_on_its_own() {
    // Room for two messages, not three.
    let (_dir, store) = store_with_balance(2 * PRICE + 10).await;
    let batches = vec![
        batch("msg_1", ReceiptRequest::None),
        batch("msg_2", ReceiptRequest::None),
        batch("msg_3", ReceiptRequest::None),
    ];
    let outcomes = store.accept_many(batches).await.expect("one job");
    assert!(matches!(outcomes[0], Ok(AcceptOutcome::Stored { .. })));
    assert!(matches!(outcomes[1], Ok(AcceptOutcome::Stored { .. })));
    assert!(matches!(outcomes[2], Err(StoreError::InsufficientBalance { .. })), "{:?}", outcomes[2]);
    let check = store.balance("cus_a").await.expect("balance");
    assert_eq!((check.balance, check.ledger_sum), (Money::from_micros(10), Money::from_micros(10)));
    assert!(store.find_message("cus_a", "msg_3").await.is_err(), "the refused one left nothing");
}

#[tokio::test]
async fn a_final_status_writes_the_receipt_asked_for_and_delivery_removes_it() {
    let (_dir, store) = store_with_balance(1_000_000).await;
    store.accept(batch("msg_1", ReceiptRequest::Final)).await.expect("accepted");
    store.accept(batch("msg_2", ReceiptRequest::Failure)).await.expect("accepted");
    store.accept(batch("msg_3", ReceiptRequest::None)).await.expect("accepted");
    let mut progress = Vec::new();
    for (n, id) in ["msg_1", "msg_2", "msg_3"].iter().enumerate() {
        progress.push(Progress::Submitted {
            customer_id: "cus_a".into(),
            message_id: (*id).into(),
            link: "sim".into(),
            carrier_message_ids: vec![format!("c{n}")],
            at: 10,
        });
        progress.push(Progress::Receipt {
            link: "sim".into(),
            carrier_message_ids: vec![format!("c{n}")],
            outcome: PartOutcome::Delivered,
            error: None,
            at: 20,
        });
    }
    store.record_progress(progress).await.expect("recorded");
    // Only msg_1 asked for a receipt on delivery (msg_2 only on failure, msg_3 none).
    let pending = store.smpp_pending("cus_a", 0, 10).await.expect("pending");
    assert_eq!(pending.len(), 1);
    let event: SmppEvent = serde_json::from_str(&pending[0].body).expect("event");
    let SmppEvent::Receipt { message_id, from, to, status, submitted_at, done_at, text, .. } = event else {
        panic!("a receipt")
    };
    assert_eq!((message_id.as_str(), status), ("msg_1", MessageStatus::Delivered));
    assert_eq!((from.as_str(), to.as_deref()), ("+8613800138000", Some("10690001")));
    assert_eq!((submitted_at, done_at, text.as_str()), (1, 20, "Your code is 123456,"));
    assert!(store.smpp_pending("cus_b", 0, 10).await.expect("pending").is_empty(), "per customer");

    store.smpp_delivered("cus_a", vec![pending[0].id]).await.expect("delivered");
    assert_eq!(store.smpp_outbox_depth().await.expect("depth"), 0);
}

#[tokio::test]
async fn delivered_ids_in_any_order_remove_exactly_those_and_old_rows_expire() {
    let (_dir, store) = store_with_balance(10_000_000).await;
    let batches: Vec<AcceptBatch> = (0..70).map(|n| batch(&format!("msg_{n:02}"), ReceiptRequest::Final)).collect();
    store.accept_many(batches).await.expect("accepted");
    let progress = (0..70)
        .map(|n| Progress::Failed {
            customer_id: "cus_a".into(),
            message_id: format!("msg_{n:02}"),
            link: None,
            parts: 1,
            accepted: 0,
            error: "no route".into(),
            at: 100 + n,
        })
        .collect();
    store.record_progress(progress).await.expect("recorded");
    let pending = store.smpp_pending("cus_a", 0, 100).await.expect("pending");
    assert_eq!(pending.len(), 70);
    // Every other one, backwards: more than one statement's worth, with gaps.
    let taken: Vec<i64> = pending.iter().rev().step_by(2).map(|d| d.id).collect();
    store.smpp_delivered("cus_a", taken.clone()).await.expect("delivered");
    let left = store.smpp_pending("cus_a", 0, 100).await.expect("pending");
    assert_eq!(left.len(), 35);
    assert!(left.iter().all(|d| !taken.contains(&d.id)));
    // Rows created before 135 (35 of the 70: created at 100..170) expire.
    let dropped = store.expire_smpp_outbox(135, 1000).await.expect("expired");
    let left_after = store.smpp_pending("cus_a", 0, 100).await.expect("pending");
    assert_eq!(dropped as usize + left_after.len(), 35);
    assert!(left_after.iter().all(|d| d.created_at >= 135));
}

#[tokio::test]
async fn a_message_cancelled_between_the_dispatchers_read_and_its_mark_is_not_handed_out() {
    let (_dir, store) = store_with_balance(1_000_000).await;
    store.accept(batch("msg_1", ReceiptRequest::None)).await.expect("accepted");
    store.accept(batch("msg_2", ReceiptRequest::None)).await.expect("accepted");
    let read = store.queued_after(0, 10).await.expect("read");
    assert_eq!(read.len(), 2);
    // Not taken yet: cancellable, and refunded.
    store.cancel_message("cus_a", "msg_2", 5).await.expect("cancelled");
    let last = read.last().map(|m| m.queue_seq).expect("seq");
    let still = store.mark_dispatched(0, last, read.len()).await.expect("marked");
    assert_eq!(still, Some(vec!["msg_1".to_owned()]), "only msg_1 may go");
    // Past the mark: msg_1 is the dispatcher's now.
    assert!(matches!(store.cancel_message("cus_a", "msg_1", 6).await, Err(StoreError::NotCancellable(_))));
    assert_eq!(store.mark_dispatched(last, last, 0).await.expect("marked"), None);
    let check = store.balance("cus_a").await.expect("balance");
    assert_eq!(check.balance, Money::from_micros(1_000_000 - PRICE));
}
