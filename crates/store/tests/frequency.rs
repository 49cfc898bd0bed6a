//! Frequency limits per recipient: counted in the accept transaction's writer, refused
//! before anything is written, and the same after the store is reopened.

mod common;

use tongdao_domain::{FrequencyLimits, Money};
use tongdao_store::sqlite::SqliteStore;
use tongdao_store::*;

use common::store_with_balance;

/// 2026-11-27 10:00:30 CST.
const NOW: i64 = 1_795_744_830_000;
const LIMITS: FrequencyLimits = FrequencyLimits { per_minute: 1, per_hour: 2, per_day: 3 };

fn batch(to: &[&str], at: i64) -> AcceptBatch {
    let messages = to.iter().map(|to| common::message(&tongdao_domain::id::new_id("msg"), to, 1)).collect();
    AcceptBatch { frequency: LIMITS, ..common::batch_of(messages, at) }
}

fn limited(result: StoreResult<AcceptOutcome>) -> Option<(usize, i64)> {
    match result {
        Err(StoreError::RateLimited { index, retry_after_ms }) => Some((index, retry_after_ms)),
        _ => None,
    }
}

#[tokio::test]
async fn each_window_limits_a_recipient_and_says_when_it_ends() {
    let (_dir, store) = store_with_balance(1_000_000).await;
    let a = "+8613800138000";
    assert!(store.accept(batch(&[a], NOW)).await.is_ok());
    // The same minute: refused, retry when the minute ends (30 s later); nothing stored.
    assert_eq!(limited(store.accept(batch(&["+8613900139000", a], NOW)).await), Some((1, 30_000)));
    assert_eq!(store.balance("cus_a").await.expect("balance").balance, Money::from_micros(999_999));
    // The next minute: the second of the hour.
    assert!(store.accept(batch(&[a], NOW + 60_000)).await.is_ok());
    // The hour is full until 11:00 CST.
    assert_eq!(
        limited(store.accept(batch(&[a], NOW + 120_000)).await).map(|l| l.1),
        Some(3_600_000 - 30_000 - 120_000)
    );
    // Two hours later: the third of the day; then the day is full until CST midnight.
    assert!(store.accept(batch(&[a], NOW + 7_200_000)).await.is_ok());
    let day_left = 14 * 3_600_000 - 30_000 - 7_200_000 - 60_000;
    assert_eq!(limited(store.accept(batch(&[a], NOW + 7_200_000 + 60_000)).await).map(|l| l.1), Some(day_left));
    // Several messages to one recipient in one request count one by one.
    let b = "+8613700137000";
    assert_eq!(limited(store.accept(batch(&[b, b], NOW)).await).map(|l| l.0), Some(1));
    // Unlimited windows (0) never refuse.
    let free = AcceptBatch { frequency: FrequencyLimits::NONE, ..batch(&[a, a, a], NOW + 7_300_000) };
    assert!(store.accept(free).await.is_ok());
}

#[tokio::test]
async fn the_counts_survive_a_reopen() {
    let (dir, store) = store_with_balance(1_000_000).await;
    let a = "+8613800138000";
    assert!(store.accept(batch(&[a], NOW)).await.is_ok());
    assert!(store.accept(batch(&[a], NOW + 60_000)).await.is_ok());
    drop(store);
    let store = SqliteStore::open(&dir.path().join("t.db")).expect("reopen");
    assert!(limited(store.accept(batch(&[a], NOW + 120_000)).await).is_some(), "the hour's two are remembered");
    assert!(store.accept(batch(&["+8613900139000"], NOW + 120_000)).await.is_ok());
}
