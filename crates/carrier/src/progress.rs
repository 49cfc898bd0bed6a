//! Submits, failures and receipts go to the store in batches: one writer task takes every
//! progress waiting and records it in one store call (one transaction, shared with whatever
//! else the group commit holds), then answers the deliver_sm of each receipt: a receipt is
//! acknowledged to the carrier only once it is on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, mpsc};
use tongdao_store::{Progress, Recorded, Store, StoreError};

use crate::link::Ack;

/// Progress waiting to be written, at most.
const QUEUE: usize = 16 * 1024;
/// Progress written in one store call, at most.
const BATCH: usize = 512;
/// Batches waiting for their commit at once, at most.
const IN_STORE: usize = 4;

#[derive(Debug, Default)]
pub struct ProgressStats {
    pub recorded: AtomicU64,
    /// Messages that reached their final status (and were settled).
    pub finals: AtomicU64,
    pub ignored: AtomicU64,
    pub early_receipts: AtomicU64,
    pub batches: AtomicU64,
    pub store_retries: AtomicU64,
}

#[derive(Debug)]
struct Item {
    progress: Progress,
    ack: Option<Ack>,
}

/// Where the dispatcher and the receipt intake send what happened.
#[derive(Debug, Clone)]
pub struct ProgressSink {
    tx: mpsc::Sender<Item>,
}

impl ProgressSink {
    /// Starts the writer; it stops when every sink is dropped, after writing what it holds.
    /// `written` is notified after each batch (webhook events may be waiting).
    pub fn start(
        store: Arc<dyn Store>,
        stats: Arc<ProgressStats>,
        written: Arc<Notify>,
    ) -> (ProgressSink, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (ProgressSink { tx }, tokio::spawn(write(store, rx, stats, written)))
    }

    pub async fn record(&self, progress: Progress) {
        let _ = self.tx.send(Item { progress, ack: None }).await;
    }

    /// Records, then sends `ack` once the progress is committed.
    pub async fn record_then_ack(&self, progress: Progress, ack: Ack) {
        let _ = self.tx.send(Item { progress, ack: Some(ack) }).await;
    }
}

async fn write(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Item>, stats: Arc<ProgressStats>, written: Arc<Notify>) {
    // Several batches may be in the store at once: each waits for its commit and fsync, and
    // the next is already being gathered and handed over (the store's group commit takes
    // them together). Order between batches does not matter to the store: a receipt
    // recorded before its submit is kept as early and matched when the submit comes.
    let in_store = Arc::new(Semaphore::new(IN_STORE));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let mut items: Vec<Item> = Vec::with_capacity(BATCH);
        if rx.recv_many(&mut items, BATCH).await == 0 {
            break;
        }
        let Ok(permit) = in_store.clone().acquire_owned().await else { break };
        let (store, stats, written) = (store.clone(), stats.clone(), written.clone());
        tasks.spawn(async move {
            record(&*store, items, &stats).await;
            written.notify_one();
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// Writes one batch (retrying while the store refuses it), then answers its deliver_sm.
async fn record(store: &dyn Store, items: Vec<Item>, stats: &ProgressStats) {
    let batch: Vec<Progress> = items.iter().map(|i| i.progress.clone()).collect();
    let results = loop {
        match store.record_progress(batch.clone()).await {
            Ok(results) => break results,
            Err(StoreError::Closed) => {
                tracing::error!(
                    pending = batch.len(),
                    "the store closed with progress unwritten; it is redone at the next start"
                );
                return;
            }
            Err(e) => {
                // Nothing of the batch was written; it is retried whole.
                stats.store_retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "recording progress failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    stats.batches.fetch_add(1, Ordering::Relaxed);
    for result in &results {
        let counter = match result {
            Recorded::Done => &stats.recorded,
            Recorded::Final => {
                stats.recorded.fetch_add(1, Ordering::Relaxed);
                &stats.finals
            }
            Recorded::Ignored => &stats.ignored,
            Recorded::Early => &stats.early_receipts,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    for item in items {
        if let Some(ack) = item.ack {
            ack.send().await;
        }
    }
}
