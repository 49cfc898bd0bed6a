//! The cluster runtime over a real store: a lease held by one node at a time, renewed in the
//! background, lost (with its signal) when another node takes it over, and free again when
//! given back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tongdao_domain::{Clock, SystemClock};
use tongdao_store::Store;
use tongdao_store::cluster::{Cluster, ClusterConfig};
use tongdao_store::sqlite::SqliteStore;

const LEASE: Duration = Duration::from_millis(300);

async fn join(store: &Arc<dyn Store>, stop: &watch::Receiver<bool>) -> Arc<Cluster> {
    Cluster::join(store.clone(), Arc::new(SystemClock), ClusterConfig { lease: LEASE }, stop.clone())
        .await
        .expect("join")
}

#[tokio::test]
async fn a_lease_is_held_renewed_lost_when_taken_over_and_free_when_given_back() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("t.db")).expect("open"));
    let (_stop, stopping) = watch::channel(false);
    let (a, b) = (join(&store, &stopping).await, join(&store, &stopping).await);
    assert_ne!(a.node(), b.node(), "each node has an id of its own");
    assert_eq!((a.live_nodes(), b.live_nodes()), (1, 2), "b's first heartbeat saw a");

    let mut held = a.try_hold("job:sweep").await.expect("free");
    assert!(b.try_hold("job:sweep").await.is_none(), "a holds it");
    // Renewed in the background: still a's after three lease lengths.
    tokio::time::sleep(LEASE * 3).await;
    assert!(!held.is_lost(), "renewed");
    assert!(b.try_hold("job:sweep").await.is_none(), "still a's");

    // Another node takes it over (as after a pause of a's longer than its lease): a learns
    // it at its next renewal, and its token is fenced.
    let later = SystemClock.now_ms() + 3_600_000;
    let taken = store.acquire_lease("job:sweep", b.node(), later, later + 1000).await.expect("take");
    assert_eq!(taken.map(|l| l.token), Some(held.lease().token + 1), "the next token");
    tokio::time::timeout(LEASE, held.lost()).await.expect("a learns within a lease");
    assert!(held.is_lost());

    // Given back: free at once for the next node.
    let released = b.try_hold("job:other").await.expect("free");
    assert!(!released.is_lost());
    released.release().await;
    assert!(a.try_hold("job:other").await.is_some(), "given back, taken at once");
}
