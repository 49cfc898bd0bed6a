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
/// Tries before a batch is split, and before one item is given up.
const ATTEMPTS: u32 = 3;

#[derive(Debug, Default)]
pub struct ProgressStats {
    pub recorded: AtomicU64,
    /// Messages that reached their final status (and were settled).
    pub finals: AtomicU64,
    pub ignored: AtomicU64,
    pub early_receipts: AtomicU64,
    pub batches: AtomicU64,
    pub store_retries: AtomicU64,
    /// Progress the store refused even on its own (logged and dropped).
    pub refused: AtomicU64,
}

enum Written {
    Done(Vec<Recorded>),
    Refused,
    Closed,
}

/// Tries a few times: a batch rolled back with someone else's failure succeeds on retry.
async fn write_retrying(store: &dyn Store, batch: &[Progress], stats: &ProgressStats) -> Written {
    for attempt in 1..=ATTEMPTS {
        match store.record_progress(batch.to_vec()).await {
            Ok(results) => return Written::Done(results),
            Err(StoreError::Closed) => {
                tracing::error!(
                    pending = batch.len(),
                    "the store closed with progress unwritten; it is redone at the next start"
                );
                return Written::Closed;
            }
            Err(e) => {
                // Nothing of the batch was written.
                stats.store_retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, attempt, "recording progress failed");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
        }
    }
    Written::Refused
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
    /// Each of `written` is notified after each batch (webhook events and SMPP receipts may
    /// be waiting).
    pub fn start(
        store: Arc<dyn Store>,
        stats: Arc<ProgressStats>,
        written: Vec<Arc<Notify>>,
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

async fn write(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Item>,
    stats: Arc<ProgressStats>,
    written: Vec<Arc<Notify>>,
) {
    // Several batches may be in the store at once: each waits for its commit and fsync, and
    // the next is already being gathered and handed over (the store's group commit takes
    // them together). Order between batches does not matter to the store: a receipt
    // recorded before its submit is kept as early and matched when the submit comes.
    let in_store = Arc::new(Semaphore::new(IN_STORE));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        // A place in the store first, then the batch: what arrived while every place was
        // taken joins it (bigger batches, more submits written together with their receipts).
        let Ok(permit) = in_store.clone().acquire_owned().await else { break };
        let mut items: Vec<Item> = Vec::with_capacity(BATCH);
        if rx.recv_many(&mut items, BATCH).await == 0 {
            break;
        }
        let (store, stats, written) = (store.clone(), stats.clone(), written.clone());
        tasks.spawn(async move {
            record(&*store, items, &stats).await;
            written.iter().for_each(|signal| signal.notify_one());
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// Writes one batch, then answers its deliver_sm. A batch the store keeps refusing is
/// written one item at a time, so one bad item cannot hold back the rest (nor, by spoiling
/// group commits again and again, anybody else's writes); an item refused on its own is
/// logged, counted and let go.
async fn record(store: &dyn Store, items: Vec<Item>, stats: &ProgressStats) {
    let (batch, acks): (Vec<Progress>, Vec<Option<Ack>>) = items.into_iter().map(|i| (i.progress, i.ack)).unzip();
    let results = match write_retrying(store, &batch, stats).await {
        Written::Done(results) => results,
        Written::Closed => return,
        Written::Refused => {
            let mut results = Vec::with_capacity(batch.len());
            for progress in &batch {
                match write_retrying(store, std::slice::from_ref(progress), stats).await {
                    Written::Done(mut one) => results.append(&mut one),
                    Written::Closed => return,
                    Written::Refused => {
                        stats.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(?progress, "the store refuses this progress; it is dropped");
                        results.push(Recorded::Ignored);
                    }
                }
            }
            results
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
    for ack in acks.into_iter().flatten() {
        ack.send().await;
    }
}
