//! The contract of the core methods.

#[allow(unused_imports)]
use super::*;

#[tokio::test]
async fn a_new_store_answers_ping() {
    for b in backends().await {
        b.store.ping().await.unwrap_or_else(|e| panic!("{}: {e}", b.name));
    }
}
