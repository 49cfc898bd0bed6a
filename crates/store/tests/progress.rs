//! Submits and receipts through the store's public API: early receipts, segment rollup,
//! settlement per `charge_on`, duplicates.

use tongdao_domain::MessageStatus;
use tongdao_domain::agreement::ChargeOn;
use tongdao_store::sqlite::SqliteStore;
use tongdao_store::*;

mod common;
use common::store_with_balance;

const PRICE: i64 = 135_000; // three segments at ¥0.0450

async fn store_with_message(charge_on: ChargeOn, segments: u32) -> (tempfile::TempDir, SqliteStore) {
    let (dir, store) = store_with_balance(1_000_000).await;
    let message = NewMessage {
        carrier: Some("mobile".into()),
        segments,
        charge_on,
        ..common::message("msg_1", "+8613800138000", PRICE)
    };
    let batch = common::batch_of(vec![message], 1);
    store.accept(batch).await.expect("accepted");
    (dir, store)
}

fn submitted(ids: &[&str]) -> Progress {
    Progress::Submitted {
        customer_id: "cus_a".into(),
        message_id: "msg_1".into(),
        link: "sim".into(),
        carrier_message_ids: ids.iter().map(|s| s.to_string()).collect(),
        at: 10,
    }
}

fn receipt(id: &str, outcome: PartOutcome) -> Progress {
    Progress::Receipt {
        link: "sim".into(),
        carrier_message_ids: vec![id.into()],
        outcome,
        error: (outcome != PartOutcome::Delivered).then(|| "013".into()),
        at: 20,
    }
}

async fn status(store: &SqliteStore) -> (MessageStatus, Vec<MessageEvent>) {
    let (message, events) = store.find_message("cus_a", "msg_1").await.expect("found");
    (message.status, events)
}

async fn balance(store: &SqliteStore) -> i64 {
    let check = store.balance("cus_a").await.expect("balance");
    assert_eq!(check.balance, check.ledger_sum, "balance = top-ups - charges + refunds");
    check.balance.micros()
}

#[tokio::test]
async fn a_receipt_before_its_submit_is_kept_and_matched_when_the_submit_comes() {
    let (_dir, store) = store_with_message(ChargeOn::Submit, 1).await;
    assert_eq!(store.record_progress(vec![receipt("a1", PartOutcome::Delivered)]).await, Ok(vec![Recorded::Early]));
    assert_eq!(status(&store).await.0, MessageStatus::Queued);
    assert_eq!(store.record_progress(vec![submitted(&["a1"])]).await, Ok(vec![Recorded::Final]));
    let (final_status, events) = status(&store).await;
    assert_eq!(final_status, MessageStatus::Delivered);
    let names: Vec<MessageStatus> = events.iter().map(|e| e.status).collect();
    assert_eq!(names, [MessageStatus::Queued, MessageStatus::Submitted, MessageStatus::Delivered]);
    assert_eq!(events[2].carrier_message_id.as_deref(), Some("a1"));
    // The same receipt again changes nothing.
    assert_eq!(store.record_progress(vec![receipt("a1", PartOutcome::Delivered)]).await, Ok(vec![Recorded::Ignored]));
}

#[tokio::test]
async fn early_receipts_and_receipts_in_the_submits_batch_settle_a_long_message_together() {
    let (_dir, store) = store_with_message(ChargeOn::Delivery, 3).await;
    let start = balance(&store).await;
    assert_eq!(store.record_progress(vec![receipt("m1", PartOutcome::Delivered)]).await, Ok(vec![Recorded::Early]));
    let got = store.record_progress(vec![receipt("m3", PartOutcome::Delivered), submitted(&["m1", "m2", "m3"])]).await;
    assert_eq!(got, Ok(vec![Recorded::Done, Recorded::Done]), "m2 is still out");
    assert_eq!(status(&store).await.0, MessageStatus::Submitted);
    assert_eq!(store.record_progress(vec![receipt("m2", PartOutcome::Delivered)]).await, Ok(vec![Recorded::Final]));
    let (final_status, events) = status(&store).await;
    assert_eq!(final_status, MessageStatus::Delivered);
    let names: Vec<MessageStatus> = events.iter().map(|e| e.status).collect();
    assert_eq!(names, [MessageStatus::Queued, MessageStatus::Submitted, MessageStatus::Delivered]);
    assert_eq!(balance(&store).await, start, "every part delivered: nothing refunded");

    // Every part's receipt first: the submit settles the message at once.
    let (_dir, store) = store_with_message(ChargeOn::Delivery, 2).await;
    let early = vec![receipt("e1", PartOutcome::Delivered), receipt("e2", PartOutcome::Undeliverable)];
    assert_eq!(store.record_progress(early).await, Ok(vec![Recorded::Early, Recorded::Early]));
    assert_eq!(store.record_progress(vec![submitted(&["e1", "e2"])]).await, Ok(vec![Recorded::Final]));
    assert_eq!(status(&store).await.0, MessageStatus::Undeliverable);
    // Both parts are known now: the same receipts again change nothing.
    assert_eq!(store.record_progress(vec![receipt("e2", PartOutcome::Delivered)]).await, Ok(vec![Recorded::Ignored]));
}

#[tokio::test]
async fn parts_roll_up_to_the_worst_outcome_and_delivery_settles_per_part() {
    let (_dir, store) = store_with_message(ChargeOn::Delivery, 3).await;
    let start = balance(&store).await;
    assert_eq!(store.record_progress(vec![submitted(&["p1", "p2", "p3"])]).await, Ok(vec![Recorded::Done]));
    assert_eq!(status(&store).await.0, MessageStatus::Submitted);
    let got = store
        .record_progress(vec![receipt("p1", PartOutcome::Delivered), receipt("p2", PartOutcome::Undeliverable)])
        .await;
    assert_eq!(got, Ok(vec![Recorded::Done, Recorded::Done]));
    assert_eq!(status(&store).await.0, MessageStatus::Submitted, "one part is still out");
    assert_eq!(store.record_progress(vec![receipt("p3", PartOutcome::Delivered)]).await, Ok(vec![Recorded::Final]));
    let (final_status, events) = status(&store).await;
    assert_eq!(final_status, MessageStatus::Undeliverable, "a message is delivered only when every part is");
    assert_eq!(events.last().and_then(|e| e.error.as_deref()), Some("013"));
    assert_eq!(balance(&store).await - start, PRICE / 3, "the undelivered third is refunded");
}

#[tokio::test]
async fn charge_on_submit_keeps_what_a_carrier_accepted() {
    let (_dir, store) = store_with_message(ChargeOn::Submit, 3).await;
    let start = balance(&store).await;
    // Every part and its receipt in one batch: written as one change.
    let got = store
        .record_progress(vec![
            submitted(&["s1", "s2", "s3"]),
            receipt("s1", PartOutcome::Undeliverable),
            receipt("s2", PartOutcome::Delivered),
            receipt("s3", PartOutcome::Expired),
        ])
        .await;
    assert_eq!(got, Ok(vec![Recorded::Final, Recorded::Done, Recorded::Done, Recorded::Done]));
    assert_eq!(status(&store).await.0, MessageStatus::Undeliverable, "undeliverable outranks expired");
    assert_eq!(balance(&store).await, start, "a carrier took every part: nothing to refund");
}

#[tokio::test]
async fn a_failure_after_some_parts_refunds_the_rest_under_charge_on_submit() {
    let (_dir, store) = store_with_message(ChargeOn::Submit, 3).await;
    let start = balance(&store).await;
    let failed = Progress::Failed {
        customer_id: "cus_a".into(),
        message_id: "msg_1".into(),
        link: Some("sim".into()),
        parts: 3,
        accepted: 1,
        error: "0x0000000b".into(),
        at: 30,
    };
    assert_eq!(store.record_progress(vec![failed.clone()]).await, Ok(vec![Recorded::Final]));
    assert_eq!(status(&store).await.0, MessageStatus::Failed);
    assert_eq!(balance(&store).await - start, PRICE * 2 / 3, "two parts no carrier took");
    assert_eq!(store.record_progress(vec![failed]).await, Ok(vec![Recorded::Ignored]), "settled once");
    assert_eq!(balance(&store).await - start, PRICE * 2 / 3);
}
