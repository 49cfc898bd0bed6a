//! The contract of heartbeats, leases and queue claims (several nodes on one database).

use std::collections::HashSet;

use super::*;

const SECOND: i64 = 1000;

#[tokio::test]
async fn a_lease_has_one_holder_and_a_new_holder_fences_the_old_one() {
    for b in backends().await {
        let (s, n) = (&*b.store, b.name);
        let a = s.acquire_lease("bind:cmcc:0", "node-a", NOW, NOW + 5 * SECOND).await.expect("a").expect("free");
        assert_eq!((a.holder.as_str(), a.token), ("node-a", 1), "{n}");
        assert_eq!(s.acquire_lease("bind:cmcc:0", "node-b", NOW + SECOND, NOW + 6 * SECOND).await, Ok(None), "{n}");
        // The holder takes it again: the same token, extended.
        let again = s.acquire_lease("bind:cmcc:0", "node-a", NOW + SECOND, NOW + 7 * SECOND).await.expect("again");
        assert_eq!(again.as_ref().map(|l| (l.token, l.expires_at)), Some((1, NOW + 7 * SECOND)), "{n}");
        assert_eq!(s.renew_lease(&a, NOW + 2 * SECOND, NOW + 8 * SECOND).await, Ok(true), "{n}");
        // Expired: another node takes it with the next token; the old holder is fenced.
        let b_lease = s.acquire_lease("bind:cmcc:0", "node-b", NOW + 9 * SECOND, NOW + 14 * SECOND).await.expect("b");
        let b_lease = b_lease.expect("expired, so free");
        assert_eq!((b_lease.holder.as_str(), b_lease.token), ("node-b", 2), "{n}");
        assert_eq!(s.renew_lease(&a, NOW + 9 * SECOND, NOW + 20 * SECOND).await, Ok(false), "{n}: fenced");
        s.release_lease(&a).await.expect("a stale release");
        let leases = s.list_leases().await.expect("list");
        assert_eq!(leases, vec![b_lease.clone()], "{n}: a stale release changes nothing");
        // Released: free at once, with the next token.
        s.release_lease(&b_lease).await.expect("release");
        let c = s.acquire_lease("bind:cmcc:0", "node-c", NOW + 10 * SECOND, NOW + 15 * SECOND).await.expect("c");
        assert_eq!(c.map(|l| l.token), Some(3), "{n}");
        // A lease renewed after it expired is lost even if nobody took it.
        let d = s.acquire_lease("job:sweep", "node-a", NOW, NOW + SECOND).await.expect("d").expect("free");
        assert_eq!(s.renew_lease(&d, NOW + 2 * SECOND, NOW + 3 * SECOND).await, Ok(false), "{n}");
    }
}

#[tokio::test]
async fn heartbeats_tell_which_nodes_are_alive() {
    for b in backends().await {
        let (s, n) = (&*b.store, b.name);
        assert_eq!(s.heartbeat("node-b", NOW, NOW + 5 * SECOND).await, Ok(vec!["node-b".to_owned()]), "{n}");
        let both = s.heartbeat("node-a", NOW + SECOND, NOW + 6 * SECOND).await;
        assert_eq!(both, Ok(vec!["node-a".to_owned(), "node-b".to_owned()]), "{n}");
        let later = s.heartbeat("node-a", NOW + 5 * SECOND, NOW + 10 * SECOND).await;
        assert_eq!(later, Ok(vec!["node-a".to_owned()]), "{n}: node-b missed its heartbeat");
    }
}

fn claim(node: &str, now_ms: i64, limit: u32) -> QueueClaim {
    QueueClaim { node: node.into(), now_ms, limit, serve: vec![Route::default()], unserved_by: None }
}

async fn queue(store: &dyn Store, customer: &str, ids: &[(&str, &str, Option<&str>)]) {
    let messages = ids
        .iter()
        .map(|(id, to, carrier)| NewMessage { carrier: carrier.map(str::to_owned), ..message(id, to, 1000) })
        .collect();
    store.accept(batch(customer, messages, None)).await.expect("accept");
}

fn ids(claimed: &[QueuedMessage]) -> Vec<&str> {
    claimed.iter().map(|m| m.id.as_str()).collect()
}

#[tokio::test]
async fn each_queued_message_is_claimed_by_one_live_node_in_queue_order() {
    for b in backends().await {
        let (s, n) = (&*b.store, b.name);
        let acme = customer(s, "acme", 1_000_000).await;
        let to = "+8613800138000";
        queue(s, &acme, &[("msg_1", to, None), ("msg_2", to, None), ("msg_3", to, None)]).await;
        s.heartbeat("node-a", NOW, NOW + 5 * SECOND).await.expect("a");
        s.heartbeat("node-b", NOW, NOW + 5 * SECOND).await.expect("b");
        let a = s.claim_queued(claim("node-a", NOW, 2)).await.expect("a claims");
        assert_eq!(ids(&a), ["msg_1", "msg_2"], "{n}");
        assert!(a.iter().all(|m| !m.maybe_sent), "{n}: never claimed before");
        let b_claim = s.claim_queued(claim("node-b", NOW, 10)).await.expect("b claims");
        assert_eq!(ids(&b_claim), ["msg_3"], "{n}: node-a's claims are left alone");
        assert!(s.claim_queued(claim("node-a", NOW, 10)).await.expect("nothing").is_empty(), "{n}");
        // A claimed message is the dispatcher's: the customer cannot cancel it any more.
        let cancel = s.cancel_message(&acme, "msg_1", NOW).await;
        assert!(matches!(cancel, Err(StoreError::NotCancellable(_))), "{n}: {cancel:?}");
        // node-a dies: node-b takes its messages, marked as possibly sent.
        s.heartbeat("node-b", NOW + 6 * SECOND, NOW + 11 * SECOND).await.expect("b lives");
        let taken = s.claim_queued(claim("node-b", NOW + 6 * SECOND, 10)).await.expect("take over");
        assert_eq!(ids(&taken), ["msg_1", "msg_2"], "{n}");
        assert!(taken.iter().all(|m| m.maybe_sent), "{n}: they may have reached a carrier");
        // node-b gives msg_1 back (none of it went out): another node claims it afresh.
        s.release_claim("node-a", &acme, "msg_1").await.expect("not node-a's any more");
        s.release_claim("node-b", &acme, "msg_1").await.expect("release");
        s.heartbeat("node-c", NOW + 6 * SECOND, NOW + 11 * SECOND).await.expect("c");
        let again = s.claim_queued(claim("node-c", NOW + 6 * SECOND, 10)).await.expect("claim again");
        assert_eq!(ids(&again), ["msg_1"], "{n}: only the released one");
        assert!(!again[0].maybe_sent, "{n}: released unsent");
    }
}

#[tokio::test]
async fn a_claim_takes_only_what_the_nodes_carriers_serve_and_what_no_carrier_serves() {
    for b in backends().await {
        let (s, n) = (&*b.store, b.name);
        let acme = customer(s, "acme", 1_000_000).await;
        queue(
            s,
            &acme,
            &[
                ("msg_1", "+8613800138000", Some("mobile")),
                ("msg_2", "+8618600138000", Some("unicom")),
                ("msg_3", "+8617000138000", Some("MOBILE")),
                ("msg_4", "+8519876543", None),
            ],
        )
        .await;
        s.heartbeat("node-a", NOW, NOW + 5 * SECOND).await.expect("a");
        let mobile = Route { carriers: vec!["mobile".into()], prefixes: vec![] };
        let unicom = Route { carriers: vec![], prefixes: vec!["+86186".into()] };
        let only_mobile = QueueClaim { serve: vec![mobile.clone()], ..claim("node-a", NOW, 10) };
        let got = s.claim_queued(only_mobile).await.expect("mobile");
        assert_eq!(ids(&got), ["msg_1", "msg_3"], "{n}: carriers match case-insensitively");
        // msg_4 (Hong Kong) is served by no configured carrier: any node may claim it (to fail it).
        let rest = QueueClaim {
            serve: vec![Route { carriers: vec!["telecom".into()], prefixes: vec![] }],
            unserved_by: Some(vec![mobile, unicom]),
            ..claim("node-a", NOW, 10)
        };
        assert_eq!(ids(&s.claim_queued(rest).await.expect("rest")), ["msg_4"], "{n}");
        let unicom_claim = QueueClaim {
            serve: vec![Route { carriers: vec![], prefixes: vec!["86186".into()] }],
            ..claim("node-a", NOW, 10)
        };
        assert_eq!(ids(&s.claim_queued(unicom_claim).await.expect("unicom")), ["msg_2"], "{n}: by prefix");
    }
}

#[tokio::test]
async fn the_sweeper_leaves_a_claimed_message_to_its_dispatcher() {
    for b in backends().await {
        let (s, n) = (&*b.store, b.name);
        let acme = customer(s, "acme", 1_000_000).await;
        let expiring = |id: &str| NewMessage { valid_until: Some(NOW + SECOND), ..message(id, "+8613800138000", 1000) };
        s.accept(batch(&acme, vec![expiring("msg_1"), expiring("msg_2")], None)).await.expect("accept");
        s.heartbeat("node-a", NOW, NOW + 60 * SECOND).await.expect("a");
        assert_eq!(ids(&s.claim_queued(claim("node-a", NOW, 1)).await.expect("claim")), ["msg_1"], "{n}");
        let report = s.sweep(NOW + 2 * SECOND, 100).await.expect("sweep");
        assert_eq!(report.expired, 1, "{n}: only the unclaimed one");
        let (claimed, _) = s.find_message(&acme, "msg_1").await.expect("msg_1");
        assert_eq!(claimed.status, MessageStatus::Queued, "{n}");
        assert_eq!(consistent_balance(s, &acme).await, 1_000_000 - 1000, "{n}: msg_2 refunded");
    }
}

#[tokio::test]
async fn two_nodes_claiming_at_once_take_each_message_once() {
    for b in backends().await {
        let Some(second) = b.second_node().await else { continue };
        let (s, n) = (b.store.clone(), b.name);
        let acme = customer(&*s, "acme", 100_000_000).await;
        let messages: Vec<NewMessage> =
            (0..400).map(|i| message(&format!("msg_{i:04}"), "+8613800138000", 1000)).collect();
        s.accept(batch(&acme, messages, None)).await.expect("accept");
        s.heartbeat("node-a", NOW, NOW + 60 * SECOND).await.expect("a");
        s.heartbeat("node-b", NOW, NOW + 60 * SECOND).await.expect("b");
        let mut tasks = Vec::new();
        for (node, store) in [("node-a", s.clone()), ("node-b", second.clone())] {
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = store.claim_queued(claim(node, NOW, 7)).await.expect("claim");
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|m| m.id));
                }
            }));
        }
        let mut seen = HashSet::new();
        let mut total = 0;
        for task in tasks {
            let mine = task.await.expect("task");
            assert!(!mine.is_empty(), "{n}: both nodes got work");
            total += mine.len();
            seen.extend(mine);
        }
        assert_eq!((total, seen.len()), (400, 400), "{n}: every message claimed exactly once");
    }
}
