//! 3. submit_sm: throttling, batching, concurrency, backpressure; 4. query_sm and cancel_sm.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Client, REFUSED_DEST, TestBackend, config, message_id, start, submit_sm};
use tongdao_smpp::pdu::{CancelSm, QuerySm, QuerySmResp};
use tongdao_smpp::{Command, Pdu, status};
use tongdao_smpp_server::{BindMode, ServerConfig};

/// `n` submit_sm with sequences `first..first + n`, as one write.
fn burst(first: u32, n: u32) -> Vec<u8> {
    (first..first + n)
        .flat_map(|sequence| {
            let destination = format!("86138{sequence:08}");
            Command { status: 0, sequence, pdu: Pdu::SubmitSm(submit_sm(&destination)) }.encode()
        })
        .collect()
}

#[tokio::test]
async fn a_submit_sm_is_answered_with_the_backends_message_id_or_its_refusal() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transmitter, "alice", "secret").await;
    let sequence = client.submit("8613800000001").await;
    let resp = client.recv().await;
    assert_eq!((resp.sequence, resp.status), (sequence, status::ESME_ROK));
    assert_eq!(message_id(&resp), "m1");
    let sequence = client.submit(REFUSED_DEST).await;
    let resp = client.recv().await;
    assert_eq!((resp.sequence, resp.status), (sequence, status::ESME_RINVDSTADR));
    assert_eq!(message_id(&resp), "", "an empty message_id with an error");
    let submits = backend.submits.lock().unwrap().clone();
    assert_eq!(submits.len(), 1);
    assert_eq!(submits[0].0, "cus_a");
    assert_eq!(submits[0].2, submit_sm("8613800000001"), "the body reaches the backend whole");
    let stats = server.stats();
    assert_eq!((stats.submits_ok, stats.submits_refused), (1, 1));
    assert_eq!(server.sessions()[0].submits, 2);
}

#[tokio::test]
async fn the_submit_sm_of_one_read_go_to_the_backend_in_one_call() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    client.write_raw(&burst(1, 100)).await;
    let mut answered = HashSet::new();
    for _ in 0..100 {
        let resp = client.recv().await;
        assert_eq!(resp.status, status::ESME_ROK);
        assert!(answered.insert(resp.sequence), "each sequence answered once");
    }
    assert_eq!(answered, (1..=100).collect());
    let batches = backend.batches.lock().unwrap().clone();
    assert_eq!(batches.iter().sum::<usize>(), 100);
    assert!(batches.len() <= 3, "one call per socket read, got {batches:?}");
}

#[tokio::test]
async fn batches_are_capped_at_256() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, ServerConfig { max_in_flight_submits: 4096, ..config() }).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    client.write_raw(&burst(1, 1000)).await;
    for _ in 0..1000 {
        assert_eq!(client.recv().await.status, status::ESME_ROK);
    }
    let batches = backend.batches.lock().unwrap().clone();
    assert!(batches.iter().all(|n| *n <= 256), "{batches:?}");
    assert_eq!(backend.submitted(), 1000);
}

#[tokio::test]
async fn one_token_bucket_is_shared_by_all_binds_of_a_system_id() {
    let backend = Arc::new(TestBackend::new());
    backend.account("erin", "pw", "cus_e", 10, 5);
    let server = start(&backend, config()).await;
    let mut first = Client::bound(server.local_addr(), BindMode::Transmitter, "erin", "pw").await;
    let mut second = Client::bound(server.local_addr(), BindMode::Transceiver, "erin", "pw").await;
    first.write_raw(&burst(1, 8)).await;
    let mut ok = 0;
    for _ in 0..8 {
        let resp = first.recv().await;
        match resp.status {
            status::ESME_ROK => ok += 1,
            status::ESME_RTHROTTLED => assert_eq!(message_id(&resp), ""),
            other => panic!("unexpected status {other:#x}"),
        }
    }
    assert_eq!(ok, 5, "the burst is the account's tps");
    second.write_raw(&burst(100, 3)).await;
    for _ in 0..3 {
        assert_eq!(second.recv().await.status, status::ESME_RTHROTTLED, "the bucket is shared");
    }
    assert_eq!(backend.submitted(), 5, "throttled submit_sm never reach the backend");
    assert_eq!(backend.batches.lock().unwrap().iter().sum::<usize>(), 5);
    assert_eq!(server.stats().throttled, 6);
    // Tokens come back at the account's rate.
    tokio::time::sleep(Duration::from_millis(450)).await;
    second.submit("8613800000001").await;
    assert_eq!(second.recv().await.status, status::ESME_ROK);
    // Another system_id has its own bucket (alice is unlimited).
    let mut alice = Client::bound(server.local_addr(), BindMode::Transmitter, "alice", "secret").await;
    alice.write_raw(&burst(1, 50)).await;
    for _ in 0..50 {
        assert_eq!(alice.recv().await.status, status::ESME_ROK);
    }
}

#[tokio::test]
async fn several_batches_of_one_session_are_in_flight_at_once() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transmitter, "alice", "secret").await;
    backend.close_gate();
    client.write_raw(&burst(1, 3)).await;
    common::eventually("the first batch in the backend", || backend.calls.load(Ordering::SeqCst) == 1).await;
    client.write_raw(&burst(10, 3)).await;
    common::eventually("the second batch in the backend", || backend.calls.load(Ordering::SeqCst) == 2).await;
    assert!(client.try_recv(Duration::from_millis(50)).await.is_none(), "nothing answered before stored");
    backend.open_gate();
    for _ in 0..6 {
        assert_eq!(client.recv().await.status, status::ESME_ROK);
    }
    assert_eq!(backend.peak_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn at_the_in_flight_bound_the_session_stops_reading_until_answers_come_back() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, ServerConfig { max_in_flight_submits: 4, ..config() }).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transmitter, "alice", "secret").await;
    backend.close_gate();
    let mut bytes = burst(1, 20);
    bytes.extend_from_slice(&Command { status: 0, sequence: 999, pdu: Pdu::EnquireLink }.encode());
    client.write_raw(&bytes).await;
    common::eventually("four in the backend", || backend.submitting.load(Ordering::SeqCst) == 4).await;
    // The enquire_link behind the waiting submit_sm is not read, so not answered.
    assert!(client.try_recv(Duration::from_millis(200)).await.is_none());
    assert_eq!(backend.submitting.load(Ordering::SeqCst), 4);
    backend.open_gate();
    let mut sequences = HashSet::new();
    for _ in 0..21 {
        sequences.insert(client.recv().await.sequence);
    }
    assert!(sequences.contains(&999));
    assert_eq!(sequences.len(), 21);
    assert_eq!(backend.peak_submitting.load(Ordering::SeqCst), 4, "never more than the bound in flight");
    assert_eq!(backend.submitted(), 20);
}

#[tokio::test]
async fn query_sm_and_cancel_sm_go_to_the_backend() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    let query = |id: &str| Pdu::QuerySm(QuerySm { message_id: id.into(), ..QuerySm::default() });
    let sequence = client.send(query("m7")).await;
    let resp = client.recv().await;
    assert_eq!((resp.sequence, resp.status), (sequence, status::ESME_ROK));
    let expected = QuerySmResp { message_id: "m7".into(), final_date: String::new(), message_state: 2, error_code: 0 };
    assert_eq!(resp.pdu, Pdu::QuerySmResp(expected));
    let sequence = client.send(query("unknown")).await;
    let resp = client.recv().await;
    assert_eq!((resp.sequence, resp.status), (sequence, status::ESME_RINVMSGID));
    let cancel = |id: &str| Pdu::CancelSm(CancelSm { message_id: id.into(), ..CancelSm::default() });
    let sequence = client.send(cancel("m7")).await;
    let resp = client.recv().await;
    assert_eq!((resp.pdu, resp.sequence, resp.status), (Pdu::CancelSmResp, sequence, status::ESME_ROK));
    let sequence = client.send(cancel("unknown")).await;
    let resp = client.recv().await;
    assert_eq!((resp.pdu, resp.sequence, resp.status), (Pdu::CancelSmResp, sequence, status::ESME_RCANCELFAIL));
    let stats = server.stats();
    assert_eq!((stats.queries, stats.cancels), (2, 2));
}
