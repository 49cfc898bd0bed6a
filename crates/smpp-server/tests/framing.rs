//! 1. Framing: caps before allocation, generic_nack for what does not decode.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Client, TestBackend, config, start};
use tongdao_smpp::{CommandId, Pdu, status};
use tongdao_smpp_server::{BindMode, ServerConfig};

fn header(length: u32, command_id: u32, sequence: u32) -> Vec<u8> {
    [length, command_id, 0, sequence].iter().flat_map(|w| w.to_be_bytes()).collect()
}

#[tokio::test]
async fn a_frame_over_the_cap_is_nacked_and_the_connection_closed() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, ServerConfig { max_pdu_len: 1024, ..config() }).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    // Only the header: the server must refuse before waiting for (or allocating) the body.
    client.write_raw(&header(1025, CommandId::SubmitSm.as_u32(), 9)).await;
    let nack = client.recv().await;
    assert_eq!(nack.pdu, Pdu::GenericNack);
    assert_eq!(nack.status, status::ESME_RINVCMDLEN);
    assert_eq!(nack.sequence, 9);
    assert!(client.closed_within(Duration::from_secs(2)).await, "closed after the nack");
    assert_eq!(server.stats().generic_nacks, 1);
}

#[tokio::test]
async fn a_frame_under_the_header_length_is_nacked_and_the_connection_closed() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::connect(server.local_addr()).await;
    client.write_raw(&header(15, CommandId::EnquireLink.as_u32(), 3)).await;
    let nack = client.recv().await;
    assert_eq!((nack.pdu, nack.status), (Pdu::GenericNack, status::ESME_RINVCMDLEN));
    assert!(client.closed_within(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn a_pdu_that_does_not_decode_is_nacked_and_the_session_goes_on() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    // A submit_sm whose body ends inside its mandatory fields.
    let mut frame = header(16 + 3, CommandId::SubmitSm.as_u32(), 41);
    frame.extend_from_slice(&[0, 1, 1]);
    client.write_raw(&frame).await;
    let nack = client.recv().await;
    assert_eq!(nack.pdu, Pdu::GenericNack);
    assert_eq!(nack.status, status::ESME_RINVCMDLEN, "the decoder's status");
    assert_eq!(nack.sequence, 41, "the request's sequence");
    // Still bound and working.
    let sequence = client.submit("8613800000001").await;
    let resp = client.recv().await;
    assert_eq!((resp.sequence, resp.status), (sequence, status::ESME_ROK));
    assert_eq!(backend.submitted(), 1);
}

#[tokio::test]
async fn an_unknown_command_id_is_nacked_with_rinvcmdid_and_the_session_goes_on() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::connect(server.local_addr()).await;
    client.write_raw(&header(16, 0x0000_0777, 5)).await;
    let nack = client.recv().await;
    assert_eq!((nack.pdu, nack.status, nack.sequence), (Pdu::GenericNack, status::ESME_RINVCMDID, 5));
    let sequence = client.send(Pdu::EnquireLink).await;
    let resp = client.recv().await;
    assert_eq!((resp.pdu, resp.sequence), (Pdu::EnquireLinkResp, sequence));
}

#[tokio::test]
async fn pdus_split_across_reads_and_packed_in_one_are_all_handled() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transmitter, "alice", "secret").await;
    let first =
        tongdao_smpp::Command { status: 0, sequence: 100, pdu: Pdu::SubmitSm(common::submit_sm("8613800000001")) };
    let second = tongdao_smpp::Command { status: 0, sequence: 101, pdu: Pdu::EnquireLink };
    let mut bytes = first.encode();
    bytes.extend_from_slice(&second.encode());
    let (a, b) = bytes.split_at(7);
    client.write_raw(a).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    client.write_raw(b).await;
    let mut sequences = vec![client.recv().await.sequence, client.recv().await.sequence];
    sequences.sort_unstable();
    assert_eq!(sequences, [100, 101]);
}
