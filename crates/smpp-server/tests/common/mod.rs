//! Test support: an in-memory [`Backend`] and a raw SMPP client over any stream.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tongdao_smpp::pdu::{Bind, CancelSm, QuerySm, QuerySmResp, Sm};
use tongdao_smpp::{Command, Leniency, Pdu, split_frame, status};
use tongdao_smpp_server::{Account, Backend, BackendError, BindMode, Delivery, Server, ServerConfig};

pub const WAIT: Duration = Duration::from_secs(3);

/// A destination the backend refuses with ESME_RINVDSTADR.
pub const REFUSED_DEST: &str = "8613900000000";

struct Login {
    password: String,
    account: Account,
    refuse: Option<u32>,
}

#[derive(Default)]
pub struct TestBackend {
    logins: Mutex<HashMap<String, Login>>,
    /// (customer, interface_version, body) for every accepted submit_sm.
    pub submits: Mutex<Vec<(String, u8, Sm)>>,
    /// The size of every `submit` call.
    pub batches: Mutex<Vec<usize>>,
    /// submit_sm inside `submit` calls now, and the most there ever were.
    pub submitting: AtomicUsize,
    pub peak_submitting: AtomicUsize,
    /// `submit` calls running now, and the most there ever were.
    pub calls: AtomicUsize,
    pub peak_calls: AtomicUsize,
    /// false: `submit` waits until it is true.
    gate: Option<watch::Sender<bool>>,
    next_id: AtomicU64,
    pub pending: Mutex<Vec<(String, Delivery)>>,
    pub delivered: Mutex<Vec<(String, i64)>>,
    pub not_delivered: Mutex<Vec<(i64, Option<u32>)>>,
    pub pending_calls: AtomicUsize,
}

impl TestBackend {
    pub fn new() -> TestBackend {
        let backend = TestBackend { gate: Some(watch::Sender::new(true)), ..TestBackend::default() };
        backend.account("alice", "secret", "cus_a", 10, 0);
        backend.account("bob", "hunter2", "cus_b", 10, 0);
        backend
    }

    pub fn account(&self, system_id: &str, password: &str, customer: &str, max_binds: u32, tps: u32) {
        let account = Account {
            customer_id: customer.into(),
            system_id: system_id.into(),
            max_binds,
            tps,
            source: String::new(),
        };
        let login = Login { password: password.into(), account, refuse: None };
        self.logins.lock().unwrap().insert(system_id.into(), login);
    }

    /// An account whose binds are refused with `status` whatever the password.
    pub fn refuse(&self, system_id: &str, status: u32) {
        if let Some(login) = self.logins.lock().unwrap().get_mut(system_id) {
            login.refuse = Some(status);
        }
    }

    pub fn close_gate(&self) {
        if let Some(gate) = &self.gate {
            gate.send_replace(false);
        }
    }

    pub fn open_gate(&self) {
        if let Some(gate) = &self.gate {
            gate.send_replace(true);
        }
    }

    pub fn add_pending(&self, customer: &str, id: i64, sm: Sm) {
        self.pending.lock().unwrap().push((customer.into(), Delivery { id, sm }));
    }

    pub fn delivered_ids(&self, customer: &str) -> Vec<i64> {
        let mut ids: Vec<i64> =
            self.delivered.lock().unwrap().iter().filter(|(c, _)| c == customer).map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids
    }

    pub fn submitted(&self) -> usize {
        self.submits.lock().unwrap().len()
    }
}

fn raise(peak: &AtomicUsize, now: usize) {
    peak.fetch_max(now, Ordering::SeqCst);
}

#[async_trait::async_trait]
impl Backend for TestBackend {
    async fn authenticate(&self, system_id: &str, password: &str, _peer: IpAddr) -> Result<Account, u32> {
        let logins = self.logins.lock().unwrap();
        let login = logins.get(system_id).ok_or(status::ESME_RINVSYSID)?;
        if let Some(refused) = login.refuse {
            return Err(refused);
        }
        if login.password != password {
            return Err(status::ESME_RINVPASWD);
        }
        Ok(login.account.clone())
    }

    async fn submit(&self, account: &Account, interface_version: u8, sms: Vec<Sm>) -> Vec<Result<String, u32>> {
        let n = sms.len();
        raise(&self.peak_submitting, self.submitting.fetch_add(n, Ordering::SeqCst) + n);
        raise(&self.peak_calls, self.calls.fetch_add(1, Ordering::SeqCst) + 1);
        self.batches.lock().unwrap().push(n);
        if let Some(gate) = &self.gate {
            let mut open = gate.subscribe();
            let _ = open.wait_for(|open| *open).await;
        }
        let mut results = Vec::with_capacity(n);
        let mut submits = self.submits.lock().unwrap();
        for sm in sms {
            if sm.destination_addr == REFUSED_DEST {
                results.push(Err(status::ESME_RINVDSTADR));
                continue;
            }
            let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
            results.push(Ok(format!("m{id}")));
            submits.push((account.customer_id.clone(), interface_version, sm));
        }
        drop(submits);
        self.submitting.fetch_sub(n, Ordering::SeqCst);
        self.calls.fetch_sub(1, Ordering::SeqCst);
        results
    }

    async fn query(&self, _account: &Account, query: QuerySm) -> Result<QuerySmResp, u32> {
        if query.message_id == "unknown" {
            return Err(status::ESME_RINVMSGID);
        }
        Ok(QuerySmResp { message_id: query.message_id, final_date: String::new(), message_state: 2, error_code: 0 })
    }

    async fn cancel(&self, _account: &Account, cancel: CancelSm) -> Result<(), u32> {
        if cancel.message_id == "unknown" { Err(status::ESME_RCANCELFAIL) } else { Ok(()) }
    }

    async fn pending(&self, customer_id: &str, after_id: i64, limit: u32) -> Result<Vec<Delivery>, BackendError> {
        self.pending_calls.fetch_add(1, Ordering::SeqCst);
        let pending = self.pending.lock().unwrap();
        let mut list: Vec<Delivery> =
            pending.iter().filter(|(c, d)| c == customer_id && d.id > after_id).map(|(_, d)| d.clone()).collect();
        list.sort_by_key(|d| d.id);
        list.truncate(limit as usize);
        Ok(list)
    }

    async fn delivered(&self, customer_id: &str, ids: Vec<i64>) -> Result<(), BackendError> {
        self.pending.lock().unwrap().retain(|(c, d)| !(c == customer_id && ids.contains(&d.id)));
        self.delivered.lock().unwrap().extend(ids.into_iter().map(|id| (customer_id.to_string(), id)));
        Ok(())
    }

    async fn not_delivered(&self, _customer_id: &str, id: i64, status: Option<u32>) {
        self.not_delivered.lock().unwrap().push((id, status));
    }
}

/// Short timeouts for tests; loopback, port 0.
pub fn config() -> ServerConfig {
    ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        response_timeout: Duration::from_millis(200),
        enquire_link_interval: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
        bind_timeout: Duration::from_secs(5),
        redeliver_after: Duration::from_millis(100),
        ..ServerConfig::default()
    }
}

pub async fn start(backend: &Arc<TestBackend>, config: ServerConfig) -> Server {
    Server::start(config, backend.clone()).await.expect("the server starts")
}

/// Waits until `check` holds, or fails the test.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub fn submit_sm(destination: &str) -> Sm {
    Sm {
        source_addr: "TONGDAO".into(),
        source_addr_ton: 5,
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: destination.into(),
        registered_delivery: 1,
        short_message: b"hello there".to_vec(),
        ..Sm::default()
    }
}

/// A receipt-shaped deliver_sm body with two TLVs.
pub fn receipt(n: i64) -> Sm {
    use tongdao_smpp::tlv::{self, Tlv};
    Sm {
        source_addr: "8613800000000".into(),
        destination_addr: "TONGDAO".into(),
        esm_class: 0x04,
        short_message: format!(
            "id:m{n} sub:001 dlvrd:001 submit date:2501010000 done date:2501010000 stat:DELIVRD err:000 text:"
        )
        .into_bytes(),
        tlvs: vec![Tlv::c_string(tlv::RECEIPTED_MESSAGE_ID, &format!("m{n}")), Tlv::u8(tlv::MESSAGE_STATE, 2)],
        ..Sm::default()
    }
}

pub fn bind_pdu(mode: BindMode, system_id: &str, password: &str, interface_version: u8) -> Pdu {
    let bind = Bind { system_id: system_id.into(), password: password.into(), interface_version, ..Bind::default() };
    match mode {
        BindMode::Transmitter => Pdu::BindTransmitter(bind),
        BindMode::Receiver => Pdu::BindReceiver(bind),
        BindMode::Transceiver => Pdu::BindTransceiver(bind),
    }
}

/// A raw SMPP client.
pub struct Client<S> {
    pub stream: S,
    buffer: Vec<u8>,
    sequence: u32,
    leniency: Leniency,
}

impl Client<TcpStream> {
    pub async fn connect(addr: SocketAddr) -> Client<TcpStream> {
        Client::over(TcpStream::connect(addr).await.expect("connect"))
    }

    /// Connects and binds; panics unless the bind succeeds.
    pub async fn bound(addr: SocketAddr, mode: BindMode, system_id: &str, password: &str) -> Client<TcpStream> {
        let mut client = Client::connect(addr).await;
        let resp = client.bind(mode, system_id, password, 0x34).await;
        assert_eq!(resp.status, status::ESME_ROK, "bind of {system_id}");
        client
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn over(stream: S) -> Client<S> {
        Client { stream, buffer: Vec::new(), sequence: 0, leniency: Leniency::default() }
    }

    pub fn next_sequence(&mut self) -> u32 {
        self.sequence += 1;
        self.sequence
    }

    /// Sends a request with the next sequence number, which it returns.
    pub async fn send(&mut self, pdu: Pdu) -> u32 {
        let sequence = self.next_sequence();
        self.send_as(status::ESME_ROK, sequence, pdu).await;
        sequence
    }

    pub async fn send_as(&mut self, status: u32, sequence: u32, pdu: Pdu) {
        self.write_raw(&Command { status, sequence, pdu }.encode()).await;
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
        self.stream.flush().await.expect("flush");
    }

    /// The next whole frame's bytes, `None` at the end of the stream or after `wait`.
    pub async fn try_recv_raw(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(length) = split_frame(&self.buffer, 1 << 20).expect("a valid frame from the server") {
                return Some(self.buffer.drain(..length).collect());
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub async fn try_recv(&mut self, wait: Duration) -> Option<Command> {
        let frame = self.try_recv_raw(wait).await?;
        Some(Command::decode(&frame, &mut self.leniency).expect("the server's PDUs decode"))
    }

    pub async fn recv(&mut self) -> Command {
        self.try_recv(WAIT).await.expect("a PDU from the server")
    }

    pub async fn recv_raw(&mut self) -> Vec<u8> {
        self.try_recv_raw(WAIT).await.expect("a PDU from the server")
    }

    /// True when the server closes the connection within `wait` (whatever it sends first is
    /// read and dropped).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        let mut chunk = [0u8; 8192];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }

    pub async fn bind(&mut self, mode: BindMode, system_id: &str, password: &str, version: u8) -> Command {
        self.send(bind_pdu(mode, system_id, password, version)).await;
        self.recv().await
    }

    /// Sends a submit_sm and returns its sequence number.
    pub async fn submit(&mut self, destination: &str) -> u32 {
        self.send(Pdu::SubmitSm(submit_sm(destination))).await
    }
}

/// The message_id of a submit_sm_resp.
pub fn message_id(command: &Command) -> String {
    match &command.pdu {
        Pdu::SubmitSmResp(resp) => resp.message_id.clone(),
        other => panic!("expected submit_sm_resp, got {other:?}"),
    }
}
