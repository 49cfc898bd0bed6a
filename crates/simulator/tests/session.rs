//! The simulator's SMPP session, driven over an in-memory pipe with our own codec.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tongdao_simulator::{SimConfig, SimStats, session};
use tongdao_smpp::pdu::{Bind, Sm};
use tongdao_smpp::receipt::{DeliveryReceipt, ReceiptOutcome};
use tongdao_smpp::tlv::Tlvs;
use tongdao_smpp::{Command, Leniency, Pdu, split_frame, status};

struct Client {
    stream: DuplexStream,
    buffer: Vec<u8>,
}

impl Client {
    async fn send(&mut self, sequence: u32, pdu: Pdu) {
        self.stream.write_all(&Command { status: 0, sequence, pdu }.encode()).await.expect("write");
    }
    async fn next(&mut self) -> Command {
        loop {
            if let Some(length) = split_frame(&self.buffer, 65536).expect("framing") {
                let frame: Vec<u8> = self.buffer.drain(..length).collect();
                return Command::decode(&frame, &mut Leniency::default()).expect("decodes");
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk))
                .await
                .expect("an answer in time")
                .expect("read");
            assert!(n > 0, "the session closed early");
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

fn start() -> (Client, Arc<SimStats>, tokio::sync::watch::Sender<bool>) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let stats = Arc::new(SimStats::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(session(theirs, SimConfig::default(), stats.clone(), Arc::new(AtomicU64::new(1)), stopped));
    (Client { stream: ours, buffer: Vec::new() }, stats, stop)
}

#[tokio::test]
async fn bind_submit_receipt_and_unbind() {
    let (mut client, stats, _stop) = start();
    client
        .send(1, Pdu::BindTransceiver(Bind { system_id: "tongdao".into(), interface_version: 0x34, ..Bind::default() }))
        .await;
    let bound = client.next().await;
    assert_eq!((bound.sequence, bound.status), (1, status::ESME_ROK));
    assert!(matches!(bound.pdu, Pdu::BindTransceiverResp(ref r) if r.system_id == "tongdao-sim"));

    let submit = Sm {
        source_addr: "10690000".into(),
        destination_addr: "8613800138000".into(),
        registered_delivery: 1,
        short_message: b"hello".to_vec(),
        ..Sm::default()
    };
    client.send(2, Pdu::SubmitSm(submit)).await;
    let mut message_id = None;
    let mut receipt = None;
    while message_id.is_none() || receipt.is_none() {
        let command = client.next().await;
        match command.pdu {
            Pdu::SubmitSmResp(r) => {
                assert_eq!(command.sequence, 2);
                message_id = Some(r.message_id);
            }
            Pdu::DeliverSm(sm) => {
                assert!(sm.is_delivery_receipt());
                assert_eq!(sm.destination_addr, "10690000", "the receipt goes back to the sender");
                client.send(command.sequence, Pdu::DeliverSmResp(Default::default())).await;
                receipt = Some(sm);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let (message_id, receipt) = (message_id.unwrap_or_default(), receipt.unwrap_or_default());
    assert_eq!(receipt.tlvs.receipted_message_id(), Some(message_id.clone()));
    assert_eq!(receipt.tlvs.message_state(), Some(2));
    let text = DeliveryReceipt::parse(&String::from_utf8_lossy(&receipt.short_message)).expect("receipt text");
    assert_eq!((text.outcome(), text.id), (ReceiptOutcome::Delivered, message_id));

    client.send(3, Pdu::Unbind).await;
    assert_eq!(client.next().await.pdu, Pdu::UnbindResp);
    assert_eq!((stats.submits.load(Ordering::Relaxed), stats.receipts.load(Ordering::Relaxed)), (1, 1));
}

#[tokio::test]
async fn a_malformed_pdu_gets_a_generic_nack_and_the_session_goes_on() {
    let (mut client, stats, _stop) = start();
    // An unknown command_id, then a submit_sm cut short inside its body.
    let mut unknown = vec![0, 0, 0, 16, 0, 0, 0x09, 0x99, 0, 0, 0, 0, 0, 0, 0, 9];
    let mut cut = Command { status: 0, sequence: 10, pdu: Pdu::SubmitSm(Sm::default()) }.encode();
    cut.truncate(24);
    cut[..4].copy_from_slice(&24u32.to_be_bytes());
    unknown.extend_from_slice(&cut);
    client.stream.write_all(&unknown).await.expect("write");
    let first = client.next().await;
    assert_eq!((first.pdu, first.status, first.sequence), (Pdu::GenericNack, status::ESME_RINVCMDID, 9));
    let second = client.next().await;
    assert_eq!((second.pdu, second.status, second.sequence), (Pdu::GenericNack, status::ESME_RINVCMDLEN, 10));
    client.send(11, Pdu::EnquireLink).await;
    let alive = client.next().await;
    assert_eq!((alive.pdu, alive.sequence), (Pdu::EnquireLinkResp, 11), "the session lives on");
    assert_eq!(stats.generic_nacks.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_frame_over_the_cap_closes_the_session_without_reading_it() {
    let (mut client, _stats, _stop) = start();
    client.stream.write_all(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 4]).await.expect("write");
    let nack = client.next().await;
    assert_eq!(nack.pdu, Pdu::GenericNack);
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), client.stream.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "then the session is closed");
}
