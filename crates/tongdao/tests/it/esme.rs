//! A small SMPP client (ESME) for the customer-side tests, on the wire crate: one request at
//! a time, deliver_sm queued (and answered OK) as they arrive in between.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tongdao_smpp::pdu::{Bind, Command, Leniency, Pdu, Sm};
use tongdao_smpp::split_frame;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Esme {
    stream: TcpStream,
    buffer: Vec<u8>,
    sequence: u32,
    /// deliver_sm received and answered, oldest first.
    pub deliveries: VecDeque<Sm>,
    /// Answer deliver_sm with this status (0: OK).
    pub deliver_status: u32,
}

#[derive(Debug, Clone, Copy)]
pub enum Mode {
    Transmitter,
    Receiver,
    Transceiver,
}

impl Esme {
    pub async fn connect(addr: SocketAddr) -> Esme {
        let stream = TcpStream::connect(addr).await.expect("connect to the SMPP listener");
        Esme { stream, buffer: Vec::new(), sequence: 0, deliveries: VecDeque::new(), deliver_status: 0 }
    }

    /// Connects and binds; panics unless the bind succeeds.
    pub async fn bound(addr: SocketAddr, mode: Mode, system_id: &str, password: &str) -> Esme {
        let mut esme = Esme::connect(addr).await;
        let status = esme.bind(mode, system_id, password, 0x34).await;
        assert_eq!(status, 0, "bind as {system_id}");
        esme
    }

    pub async fn bind(&mut self, mode: Mode, system_id: &str, password: &str, version: u8) -> u32 {
        let bind = Bind {
            system_id: system_id.into(),
            password: password.into(),
            interface_version: version,
            ..Bind::default()
        };
        let pdu = match mode {
            Mode::Transmitter => Pdu::BindTransmitter(bind),
            Mode::Receiver => Pdu::BindReceiver(bind),
            Mode::Transceiver => Pdu::BindTransceiver(bind),
        };
        self.call(pdu).await.status
    }

    pub async fn send(&mut self, pdu: Pdu) -> u32 {
        self.sequence += 1;
        let command = Command { status: 0, sequence: self.sequence, pdu };
        self.stream.write_all(&command.encode()).await.expect("write");
        self.sequence
    }

    /// The next PDU from the server; `None` when the connection closed.
    pub async fn read(&mut self) -> Option<Command> {
        loop {
            if let Ok(Some(length)) = split_frame(&self.buffer, 1 << 20) {
                let frame: Vec<u8> = self.buffer.drain(..length).collect();
                return Some(Command::decode(&frame, &mut Leniency::default()).expect("the server's PDUs decode"));
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk)).await.expect("the server answers");
            match n {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Sends a request and waits for its response, queueing deliver_sm meanwhile.
    pub async fn call(&mut self, pdu: Pdu) -> Command {
        let sequence = self.send(pdu).await;
        loop {
            let command = self.read().await.expect("connection open");
            if command.sequence == sequence && command.pdu.command_id().as_u32() & 0x8000_0000 != 0 {
                return command;
            }
            self.take(command).await;
        }
    }

    async fn take(&mut self, command: Command) {
        match command.pdu {
            Pdu::DeliverSm(sm) => {
                let resp = Command {
                    status: self.deliver_status,
                    sequence: command.sequence,
                    pdu: Pdu::DeliverSmResp(Default::default()),
                };
                self.stream.write_all(&resp.encode()).await.expect("write");
                if self.deliver_status == 0 {
                    self.deliveries.push_back(sm);
                }
            }
            Pdu::EnquireLink => {
                let resp = Command { status: 0, sequence: command.sequence, pdu: Pdu::EnquireLinkResp };
                self.stream.write_all(&resp.encode()).await.expect("write");
            }
            _ => {}
        }
    }

    /// submit_sm → (command_status, message_id).
    pub async fn submit(&mut self, sm: Sm) -> (u32, String) {
        let resp = self.call(Pdu::SubmitSm(sm)).await;
        match resp.pdu {
            Pdu::SubmitSmResp(r) => (resp.status, r.message_id),
            Pdu::GenericNack => (resp.status, String::new()),
            other => panic!("expected submit_sm_resp, got {other:?}"),
        }
    }

    /// The next deliver_sm (answered already), waiting up to `wait`.
    pub async fn next_delivery(&mut self, wait: Duration) -> Option<Sm> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(sm) = self.deliveries.pop_front() {
                return Some(sm);
            }
            let command = tokio::time::timeout_at(deadline, self.read()).await.ok()??;
            self.take(command).await;
        }
    }

    pub async fn unbind(&mut self) -> u32 {
        self.call(Pdu::Unbind).await.status
    }
}

/// A submit_sm to `to` (international) with a GSM text, asking for every receipt.
pub fn gsm(to: &str, text: &str) -> Sm {
    Sm {
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: to.into(),
        registered_delivery: 1,
        data_coding: 0,
        short_message: tongdao_domain::text::encode_gsm7_unpacked(text).expect("GSM text"),
        ..Sm::default()
    }
}
