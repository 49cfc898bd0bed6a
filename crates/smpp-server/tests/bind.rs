//! 2. Binds: modes, interface versions, authentication, max binds, bind state.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Client, TestBackend, config, start};
use tongdao_smpp::pdu::{BindResp, CancelSm, DataSm, MessageIdResp, Outbind, QuerySm, QuerySmResp, ReplaceSm};
use tongdao_smpp::tlv::{self, Tlv};
use tongdao_smpp::{CommandId, Pdu, status};
use tongdao_smpp_server::{BindMode, ServerConfig};

fn resp_body(pdu: &Pdu) -> &BindResp {
    match pdu {
        Pdu::BindTransmitterResp(r) | Pdu::BindReceiverResp(r) | Pdu::BindTransceiverResp(r) => r,
        other => panic!("expected a bind response, got {other:?}"),
    }
}

#[tokio::test]
async fn each_bind_mode_is_answered_with_its_own_response() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut clients = Vec::new();
    for (mode, id) in [
        (BindMode::Transmitter, CommandId::BindTransmitterResp),
        (BindMode::Receiver, CommandId::BindReceiverResp),
        (BindMode::Transceiver, CommandId::BindTransceiverResp),
    ] {
        let mut client = Client::connect(server.local_addr()).await;
        let resp = client.bind(mode, "alice", "secret", 0x34).await;
        assert_eq!(resp.status, status::ESME_ROK);
        assert_eq!(resp.pdu.command_id(), id);
        assert_eq!(resp_body(&resp.pdu).system_id, "tongdao");
        clients.push(client);
    }
    common::eventually("three binds open", || server.stats().binds_open == 3).await;
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 3);
    assert!(
        sessions.iter().all(|s| s.system_id.as_deref() == Some("alice") && s.customer_id.as_deref() == Some("cus_a"))
    );
    let modes: Vec<_> = sessions.iter().map(|s| s.mode).collect();
    assert_eq!(modes, [Some(BindMode::Transmitter), Some(BindMode::Receiver), Some(BindMode::Transceiver)]);
}

#[tokio::test]
async fn version_3_4_gets_sc_interface_version_and_3_3_gets_no_tlv() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut v34 = Client::connect(server.local_addr()).await;
    let resp = v34.bind(BindMode::Transceiver, "alice", "secret", 0x34).await;
    assert_eq!(resp_body(&resp.pdu).tlvs, [Tlv::u8(tlv::SC_INTERFACE_VERSION, 0x34)]);
    let mut v33 = Client::connect(server.local_addr()).await;
    let resp = v33.bind(BindMode::Transceiver, "alice", "secret", 0x33).await;
    assert_eq!(resp.status, status::ESME_ROK);
    assert!(resp_body(&resp.pdu).tlvs.is_empty());
    // The backend hears the version with each batch.
    let sequence = v33.submit("8613800000001").await;
    assert_eq!(v33.recv().await.sequence, sequence);
    assert_eq!(backend.submits.lock().unwrap()[0].1, 0x33);
}

#[tokio::test]
async fn refused_binds_get_a_header_only_response_with_the_status_then_the_connection_closes() {
    let backend = Arc::new(TestBackend::new());
    backend.account("carol", "pw", "cus_c", 10, 0);
    backend.refuse("carol", status::ESME_RBINDFAIL);
    let server = start(&backend, config()).await;
    for (system_id, password, mode, expected) in [
        ("nobody", "x", BindMode::Transmitter, status::ESME_RINVSYSID),
        ("alice", "wrong", BindMode::Receiver, status::ESME_RINVPASWD),
        ("carol", "pw", BindMode::Transceiver, status::ESME_RBINDFAIL),
    ] {
        let mut client = Client::connect(server.local_addr()).await;
        let sequence = client.send(common::bind_pdu(mode, system_id, password, 0x34)).await;
        let frame = client.recv_raw().await;
        assert_eq!(frame.len(), 16, "no body");
        let word = |i: usize| u32::from_be_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
        assert_eq!(word(4), common::bind_pdu(mode, "", "", 0).command_id().as_u32() | 0x8000_0000);
        assert_eq!(word(8), expected, "{system_id}");
        assert_eq!(word(12), sequence);
        assert!(client.closed_within(Duration::from_secs(2)).await, "closed after a refused bind");
    }
    assert_eq!(server.stats().bind_failures, 3);
    assert_eq!(server.stats().binds_open, 0);
}

#[tokio::test]
async fn binds_over_the_accounts_max_are_refused_server_wide() {
    let backend = Arc::new(TestBackend::new());
    backend.account("dave", "pw", "cus_d", 2, 0);
    let server = start(&backend, config()).await;
    let addr = server.local_addr();
    let first = Client::bound(addr, BindMode::Transmitter, "dave", "pw").await;
    let _second = Client::bound(addr, BindMode::Receiver, "dave", "pw").await;
    let mut third = Client::connect(addr).await;
    let resp = third.bind(BindMode::Transceiver, "dave", "pw", 0x34).await;
    assert_eq!(resp.status, status::ESME_RBINDFAIL);
    assert!(third.closed_within(Duration::from_secs(2)).await);
    // Another system_id is not counted with dave's.
    let _alice = Client::bound(addr, BindMode::Transceiver, "alice", "secret").await;
    // A closed bind frees its place.
    drop(first);
    common::eventually("the first bind closed", || server.stats().binds_open == 2).await;
    let _again = Client::bound(addr, BindMode::Transmitter, "dave", "pw").await;
}

#[tokio::test]
async fn a_second_bind_on_a_bound_session_is_ralybnd_and_the_session_stays_bound() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transmitter, "alice", "secret").await;
    let resp = client.bind(BindMode::Transceiver, "bob", "hunter2", 0x34).await;
    assert_eq!(resp.pdu.command_id(), CommandId::BindTransceiverResp);
    assert_eq!(resp.status, status::ESME_RALYBND);
    let sequence = client.submit("8613800000001").await;
    let resp = client.recv().await;
    assert_eq!((resp.sequence, resp.status), (sequence, status::ESME_ROK));
    assert_eq!(backend.submits.lock().unwrap()[0].0, "cus_a", "still alice's session");
}

#[tokio::test]
async fn submit_query_and_cancel_need_a_transmitter_or_transceiver_bind() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let unbound = Client::connect(server.local_addr()).await;
    let receiver = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    for mut client in [unbound, receiver] {
        let s = client.submit("8613800000001").await;
        let resp = client.recv().await;
        assert_eq!(resp.pdu, Pdu::SubmitSmResp(MessageIdResp::default()));
        assert_eq!((resp.sequence, resp.status), (s, status::ESME_RINVBNDSTS));
        let s = client.send(Pdu::QuerySm(QuerySm { message_id: "m1".into(), ..QuerySm::default() })).await;
        let resp = client.recv().await;
        assert_eq!(resp.pdu, Pdu::QuerySmResp(QuerySmResp::default()));
        assert_eq!((resp.sequence, resp.status), (s, status::ESME_RINVBNDSTS));
        let s = client.send(Pdu::CancelSm(CancelSm { message_id: "m1".into(), ..CancelSm::default() })).await;
        let resp = client.recv().await;
        assert_eq!((resp.pdu, resp.sequence, resp.status), (Pdu::CancelSmResp, s, status::ESME_RINVBNDSTS));
    }
    assert_eq!(backend.submitted(), 0);
}

#[tokio::test]
async fn pdus_an_esme_does_not_send_are_nacked_and_data_sm_replace_sm_are_unsupported() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    for pdu in [
        Pdu::DeliverSm(common::submit_sm("8613800000001")),
        Pdu::Outbind(Outbind::default()),
        Pdu::BindTransmitterResp(BindResp::default()),
        Pdu::SubmitSmResp(MessageIdResp { message_id: "x".into() }),
        Pdu::QuerySmResp(QuerySmResp::default()),
    ] {
        let sequence = client.send(pdu).await;
        let resp = client.recv().await;
        assert_eq!((resp.pdu, resp.status, resp.sequence), (Pdu::GenericNack, status::ESME_RINVCMDID, sequence));
    }
    let sequence =
        client.send(Pdu::DataSm(DataSm { destination_addr: "8613800000001".into(), ..DataSm::default() })).await;
    let resp = client.recv().await;
    assert_eq!(
        (resp.pdu.command_id(), resp.status, resp.sequence),
        (CommandId::DataSmResp, status::ESME_RINVCMDID, sequence)
    );
    let sequence = client.send(Pdu::ReplaceSm(ReplaceSm { message_id: "m1".into(), ..ReplaceSm::default() })).await;
    let resp = client.recv().await;
    assert_eq!((resp.pdu, resp.status, resp.sequence), (Pdu::ReplaceSmResp, status::ESME_RINVCMDID, sequence));
    assert_eq!(server.stats().generic_nacks, 5);
}

#[tokio::test]
async fn a_connection_that_does_not_bind_in_time_is_closed() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, ServerConfig { bind_timeout: Duration::from_millis(200), ..config() }).await;
    let mut client = Client::connect(server.local_addr()).await;
    // enquire_link is answered before a bind, but does not extend the deadline.
    let sequence = client.send(Pdu::EnquireLink).await;
    assert_eq!(client.recv().await.sequence, sequence);
    let started = tokio::time::Instant::now();
    assert!(client.closed_within(Duration::from_secs(2)).await);
    assert!(started.elapsed() < Duration::from_millis(1500));
    common::eventually("the connection counted closed", || server.stats().connections_open == 0).await;
}
