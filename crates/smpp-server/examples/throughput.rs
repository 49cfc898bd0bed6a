//! A throughput smoke measurement, not a test: submit_sm per second through an in-memory
//! backend, clients keeping `window` submit_sm outstanding each.
//!
//! `cargo run --release -p tongdao-smpp-server --example throughput -- [messages] [window] [clients] [latency_ms]`

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tongdao_smpp::pdu::{Bind, CancelSm, QuerySm, QuerySmResp, Sm};
use tongdao_smpp::{Command, Leniency, Pdu, split_frame, status};
use tongdao_smpp_server::{Account, Backend, BackendError, Delivery, Server, ServerConfig};

/// Accepts everything, stores nothing; each `submit` call takes `latency` (a store's commit).
struct Sink {
    next: AtomicU64,
    latency: std::time::Duration,
}

#[async_trait::async_trait]
impl Backend for Sink {
    async fn authenticate(&self, system_id: &str, _password: &str, _peer: IpAddr) -> Result<Account, u32> {
        Ok(Account {
            customer_id: format!("cus_{system_id}"),
            system_id: system_id.into(),
            max_binds: 100,
            tps: 0,
            source: String::new(),
        })
    }
    async fn submit(&self, _account: &Account, _version: u8, sms: Vec<Sm>) -> Vec<Result<String, u32>> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let first = self.next.fetch_add(sms.len() as u64, Ordering::Relaxed);
        (0..sms.len() as u64).map(|i| Ok(format!("msg_{:016x}", first + i))).collect()
    }
    async fn query(&self, _account: &Account, _query: QuerySm) -> Result<QuerySmResp, u32> {
        Err(status::ESME_RQUERYFAIL)
    }
    async fn cancel(&self, _account: &Account, _cancel: CancelSm) -> Result<(), u32> {
        Err(status::ESME_RCANCELFAIL)
    }
    async fn pending(&self, _customer: &str, _after: i64, _limit: u32) -> Result<Vec<Delivery>, BackendError> {
        Ok(Vec::new())
    }
    async fn delivered(&self, _customer: &str, _ids: Vec<i64>) -> Result<(), BackendError> {
        Ok(())
    }
    async fn not_delivered(&self, _customer: &str, _id: i64, _status: Option<u32>) {}
}

async fn client(addr: SocketAddr, n: u32, window: usize) -> std::io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut reader, mut writer) = stream.into_split();
    let bind = Bind { system_id: "bench".into(), password: "x".into(), interface_version: 0x34, ..Bind::default() };
    writer.write_all(&Command { status: 0, sequence: 1, pdu: Pdu::BindTransmitter(bind) }.encode()).await?;
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut leniency = Leniency::default();
    // The bind response.
    loop {
        let n = reader.read(&mut chunk).await?;
        buffer.extend_from_slice(&chunk[..n]);
        if let Ok(Some(length)) = split_frame(&buffer, 1 << 16) {
            buffer.drain(..length);
            break;
        }
    }
    let room = Arc::new(Semaphore::new(window));
    let sending = {
        let room = room.clone();
        tokio::spawn(async move {
            let sm = Sm {
                source_addr: "TONGDAO".into(),
                destination_addr: "8613800138000".into(),
                registered_delivery: 1,
                short_message: b"Your code is 123456".to_vec(),
                ..Sm::default()
            };
            let mut bytes = Vec::new();
            let mut sequence = 2;
            while sequence < n + 2 {
                let Ok(permit) = room.acquire().await else { break };
                permit.forget();
                // Everything the window allows now, as one write.
                let mut k = 1 + room.available_permits();
                if let Ok(more) = room.try_acquire_many(u32::try_from(k - 1).unwrap_or(0)) {
                    more.forget();
                } else {
                    k = 1;
                }
                for _ in 0..k.min((n + 2 - sequence) as usize) {
                    bytes.extend_from_slice(&Command { status: 0, sequence, pdu: Pdu::SubmitSm(sm.clone()) }.encode());
                    sequence += 1;
                }
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
                bytes.clear();
            }
            writer
        })
    };
    let mut answered = 0;
    while answered < n {
        let read = reader.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
        let mut start = 0;
        while let Ok(Some(length)) = split_frame(&buffer[start..], 1 << 16) {
            if let Ok(command) = Command::decode(&buffer[start..start + length], &mut leniency)
                && command.status == status::ESME_ROK
                && matches!(command.pdu, Pdu::SubmitSmResp(_))
            {
                answered += 1;
                room.add_permits(1);
            }
            start += length;
        }
        buffer.drain(..start);
    }
    let _ = sending.await;
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (messages, window, clients) = (arg(1, 300_000) as u32, arg(2, 64) as usize, arg(3, 1) as u32);
    let latency = std::time::Duration::from_millis(arg(4, 0));
    let config = ServerConfig { listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..ServerConfig::default() };
    let server = Server::start(config, Arc::new(Sink { next: AtomicU64::new(1), latency })).await?;
    let addr = server.local_addr();
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients).map(|_| tokio::spawn(client(addr, messages / clients, window))).collect();
    for task in tasks {
        task.await.map_err(std::io::Error::other)??;
    }
    let elapsed = started.elapsed();
    let stats = server.stats();
    println!(
        "{} submit_sm answered OK in {:.2} s: {:.0}/s ({clients} client(s), window {window}, backend {latency:?})",
        stats.submits_ok,
        elapsed.as_secs_f64(),
        stats.submits_ok as f64 / elapsed.as_secs_f64()
    );
    server.shutdown().await;
    Ok(())
}
