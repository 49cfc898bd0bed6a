//! 5. enquire_link and idle timeouts; 6. unbind both ways; 10. shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Client, TestBackend, config, start};
use tongdao_smpp::{Command, Pdu, status};
use tongdao_smpp_server::{BindMode, ServerConfig};

#[tokio::test]
async fn enquire_link_from_the_peer_is_answered_bound_or_not() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::connect(server.local_addr()).await;
    let sequence = client.send(Pdu::EnquireLink).await;
    let resp = client.recv().await;
    assert_eq!((resp.pdu, resp.status, resp.sequence), (Pdu::EnquireLinkResp, status::ESME_ROK, sequence));
    client.bind(BindMode::Receiver, "alice", "secret", 0x34).await;
    let sequence = client.send(Pdu::EnquireLink).await;
    let resp = client.recv().await;
    assert_eq!((resp.pdu, resp.sequence), (Pdu::EnquireLinkResp, sequence));
}

#[tokio::test]
async fn after_silence_we_enquire_and_an_answering_peer_stays_connected() {
    let backend = Arc::new(TestBackend::new());
    let config = ServerConfig { enquire_link_interval: Duration::from_millis(100), ..config() };
    let server = start(&backend, config).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    for _ in 0..3 {
        let enquire = client.recv().await;
        assert_eq!(enquire.pdu, Pdu::EnquireLink);
        client.send_as(status::ESME_ROK, enquire.sequence, Pdu::EnquireLinkResp).await;
    }
    let sequence = client.submit("8613800000001").await;
    assert_eq!(client.recv().await.sequence, sequence, "still bound");
    assert!(server.stats().enquire_links_sent >= 3);
}

#[tokio::test]
async fn traffic_from_the_peer_postpones_our_enquire_link() {
    let backend = Arc::new(TestBackend::new());
    let config = ServerConfig { enquire_link_interval: Duration::from_millis(300), ..config() };
    let server = start(&backend, config).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transmitter, "alice", "secret").await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.submit("8613800000001").await;
        assert_eq!(client.recv().await.pdu.command_id(), tongdao_smpp::CommandId::SubmitSmResp);
    }
    assert_eq!(server.stats().enquire_links_sent, 0);
}

#[tokio::test]
async fn an_unanswered_enquire_link_closes_the_connection() {
    let backend = Arc::new(TestBackend::new());
    let config = ServerConfig { enquire_link_interval: Duration::from_millis(100), ..config() };
    let server = start(&backend, config).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    assert_eq!(client.recv().await.pdu, Pdu::EnquireLink);
    let started = tokio::time::Instant::now();
    assert!(client.closed_within(Duration::from_secs(2)).await);
    assert!(started.elapsed() >= Duration::from_millis(150), "after the response timeout");
    common::eventually("the bind closed", || server.stats().binds_open == 0).await;
}

#[tokio::test]
async fn after_the_idle_timeout_we_unbind_and_close() {
    let backend = Arc::new(TestBackend::new());
    let config = ServerConfig { idle_timeout: Duration::from_millis(250), ..config() };
    let server = start(&backend, config).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    let unbind = client.recv().await;
    assert_eq!(unbind.pdu, Pdu::Unbind);
    client.send_as(status::ESME_ROK, unbind.sequence, Pdu::UnbindResp).await;
    assert!(client.closed_within(Duration::from_secs(1)).await, "closed at unbind_resp");
    assert_eq!(server.stats().idle_closes, 1);
    // Without an answer the connection closes after the response timeout all the same.
    let mut silent = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    assert_eq!(silent.recv().await.pdu, Pdu::Unbind);
    assert!(silent.closed_within(Duration::from_secs(1)).await);
    assert_eq!(server.stats().idle_closes, 2);
}

#[tokio::test]
async fn unbind_from_the_peer_waits_for_submits_in_flight_then_answers_and_closes() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transmitter, "alice", "secret").await;
    backend.close_gate();
    let mut sequences: HashSet<u32> = HashSet::new();
    for _ in 0..5 {
        sequences.insert(client.submit("8613800000001").await);
    }
    common::eventually("all five in the backend", || backend.submitting.load(Ordering::SeqCst) == 5).await;
    let unbind = client.send(Pdu::Unbind).await;
    assert!(client.try_recv(Duration::from_millis(150)).await.is_none(), "no unbind_resp while submits are in flight");
    backend.open_gate();
    for _ in 0..5 {
        let resp = client.recv().await;
        assert_eq!(resp.status, status::ESME_ROK);
        assert!(sequences.remove(&resp.sequence), "submit_sm_resp before the unbind_resp");
    }
    let resp = client.recv().await;
    assert_eq!((resp.pdu, resp.sequence), (Pdu::UnbindResp, unbind));
    assert!(client.closed_within(Duration::from_secs(1)).await);
    assert_eq!(backend.submitted(), 5);
}

#[tokio::test]
async fn shutdown_unbinds_every_bound_session_and_stops_accepting() {
    let backend = Arc::new(TestBackend::new());
    let server = Arc::new(start(&backend, config()).await);
    let addr = server.local_addr();
    let mut answering = Client::bound(addr, BindMode::Transceiver, "alice", "secret").await;
    let mut silent = Client::bound(addr, BindMode::Transmitter, "bob", "hunter2").await;
    let mut unbound = Client::connect(addr).await;
    let stopping = tokio::spawn({
        let server = server.clone();
        async move { server.shutdown().await }
    });
    let unbind = answering.recv().await;
    assert_eq!(unbind.pdu, Pdu::Unbind);
    answering.send_as(status::ESME_ROK, unbind.sequence, Pdu::UnbindResp).await;
    assert!(answering.closed_within(Duration::from_secs(1)).await, "closed at unbind_resp");
    assert!(unbound.closed_within(Duration::from_secs(1)).await, "an unbound connection closes at once");
    assert_eq!(silent.recv().await.pdu, Pdu::Unbind);
    let started = tokio::time::Instant::now();
    assert!(silent.closed_within(Duration::from_secs(4)).await, "closed after the grace without unbind_resp");
    assert!(started.elapsed() < Duration::from_secs(3));
    tokio::time::timeout(Duration::from_secs(5), stopping).await.expect("shutdown returns").expect("no panic");
    assert_eq!(server.stats().connections_open, 0);
    assert_eq!(server.stats().binds_open, 0);
    // No longer accepting: a connection is refused or closed without an answer.
    if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
        use tokio::io::AsyncWriteExt;
        let _ = stream.write_all(&Command { status: 0, sequence: 1, pdu: Pdu::EnquireLink }.encode()).await;
        assert!(Client::over(stream).try_recv(Duration::from_millis(300)).await.is_none());
    }
}
