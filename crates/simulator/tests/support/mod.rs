//! A minimal raw SMPP client over TCP, built from tongdao-smpp, and a simulator to point it at.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tongdao_simulator::{BindKind, Script, SimConfig, SimStats, Simulator};
use tongdao_smpp::pdu::{Bind, Sm};
use tongdao_smpp::{Command, Leniency, Pdu, split_frame, status};

/// How long any read waits before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A simulator on 127.0.0.1 with `script`, and the sender that stops it (keep it alive).
pub async fn start(script: Script) -> (Simulator, SocketAddr, watch::Sender<bool>) {
    let config = SimConfig { script: Some(script), ..SimConfig::default() };
    let sim = Simulator::new(config, Arc::new(SimStats::default())).expect("a valid script");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = watch::channel(false);
    let serving = sim.clone();
    tokio::spawn(async move { serving.serve(listener, stopped).await });
    (sim, addr, stop)
}

pub struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
    sequence: u32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::time::timeout(PATIENCE, TcpStream::connect(addr)).await.expect("in time").expect("connect");
        Client { stream, buffer: Vec::new(), sequence: 0 }
    }

    /// Connects and binds as `kind` with `system_id`; panics unless the bind succeeds.
    pub async fn bound(addr: SocketAddr, kind: BindKind, system_id: &str) -> Client {
        let mut client = Client::connect(addr).await;
        let bind =
            Bind { system_id: system_id.into(), password: "pw".into(), interface_version: 0x34, ..Bind::default() };
        let pdu = match kind {
            BindKind::Transmitter => Pdu::BindTransmitter(bind),
            BindKind::Receiver => Pdu::BindReceiver(bind),
            BindKind::Transceiver => Pdu::BindTransceiver(bind),
        };
        let sequence = client.send(pdu).await;
        let resp = client.next().await;
        assert_eq!((resp.sequence, resp.status), (sequence, status::ESME_ROK), "bound: {resp:?}");
        client
    }

    /// Sends a PDU with the next sequence number, which it returns.
    pub async fn send(&mut self, pdu: Pdu) -> u32 {
        self.sequence += 1;
        self.write(self.sequence, pdu).await;
        self.sequence
    }

    pub async fn write(&mut self, sequence: u32, pdu: Pdu) {
        let bytes = Command { status: 0, sequence, pdu }.encode();
        self.stream.write_all(&bytes).await.expect("write");
    }

    /// Answers the deliver_sm of `sequence` with deliver_sm_resp and `status`.
    pub async fn answer(&mut self, sequence: u32, status: u32) {
        let bytes = Command { status, sequence, pdu: Pdu::DeliverSmResp(Default::default()) }.encode();
        self.stream.write_all(&bytes).await.expect("write");
    }

    /// A submit_sm to a Chinese mobile, asking for a receipt when `receipt`.
    pub async fn submit(&mut self, text: &str, receipt: bool) -> u32 {
        let sm = Sm {
            source_addr: "10690000".into(),
            destination_addr: "8613800138000".into(),
            registered_delivery: u8::from(receipt),
            short_message: text.as_bytes().to_vec(),
            ..Sm::default()
        };
        self.send(Pdu::SubmitSm(sm)).await
    }

    /// The next PDU; panics when none comes within [`PATIENCE`] or the session closes.
    pub async fn next(&mut self) -> Command {
        match self.next_within(PATIENCE).await {
            Read::Pdu(command) => command,
            Read::Silence => panic!("no PDU within {PATIENCE:?}"),
            Read::Closed => panic!("the session closed"),
        }
    }

    /// The next PDU if one comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Read {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(length) = split_frame(&self.buffer, 65536).expect("framing") {
                let frame: Vec<u8> = self.buffer.drain(..length).collect();
                return Read::Pdu(Command::decode(&frame, &mut Leniency::default()).expect("decodes"));
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Read::Silence,
                Ok(Ok(0)) | Ok(Err(_)) => return Read::Closed,
                Ok(Ok(n)) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Asserts nothing arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        match self.next_within(wait).await {
            Read::Silence => {}
            Read::Pdu(command) => panic!("expected nothing, got {command:?}"),
            Read::Closed => panic!("expected nothing, the session closed"),
        }
    }

    /// True when the session closes within [`PATIENCE`] (PDUs before that are skipped).
    pub async fn closes(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match self.next_within(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
                Read::Closed => return true,
                Read::Silence => return false,
                Read::Pdu(_) => {}
            }
        }
    }

    /// Sends enquire_link and asserts its answer is the next PDU.
    pub async fn alive(&mut self) {
        let sequence = self.send(Pdu::EnquireLink).await;
        let resp = self.next().await;
        assert_eq!((resp.pdu, resp.sequence), (Pdu::EnquireLinkResp, sequence));
    }
}

/// Waits until `done` holds, for at most [`PATIENCE`]; panics with `what` if it never does.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[derive(Debug)]
pub enum Read {
    Pdu(Command),
    Silence,
    Closed,
}
