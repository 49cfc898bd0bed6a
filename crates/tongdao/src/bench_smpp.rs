//! `tongdao bench smpp`: customers' SMPP binds at full speed against a fresh gateway in this
//! process (temporary data directory, SQLite with fsync on). Each client connection binds as
//! the demo customer's transceiver and keeps `--window` submit_sm outstanding; the client runs
//! on its own thread and runtime, as a separate ESME would.
//!
//! Without `--receipts` the carrier side is idle (no simulator), so this measures submit_sm
//! accepted durably: a submit_sm_resp OK is sent only after the message and its charge are
//! committed. With `--receipts` every submit asks for a receipt; the built-in simulator
//! delivers at once, and a message counts when its receipt arrives on the client's bind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc};
use tongdao_smpp::pdu::{Bind, Command, Leniency, MessageIdResp, Pdu, Sm};

use crate::bench_e2e::{bench_config, fund_demo, peak_rss_mib, progress_line};
use crate::config::Config;
use crate::demo;
use crate::gateway::Gateway;

#[derive(Debug, Clone, clap::Args)]
pub struct SmppBenchArgs {
    /// submit_sm to send, over all connections.
    #[arg(long, default_value_t = 200_000)]
    pub messages: u64,
    /// Client connections (binds), each with its own window.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// submit_sm outstanding per connection.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Ask for receipts and count a message when its receipt is back on the bind (end to end
    /// through the simulator); without it the carrier side is idle.
    #[arg(long)]
    pub receipts: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// Counts over every connection: receipts are spread over all of a customer's binds.
#[derive(Debug, Default)]
struct Totals {
    answered: AtomicU64,
    ok: AtomicU64,
    receipts: AtomicU64,
}

/// What one client connection saw.
#[derive(Debug, Default)]
struct ClientStats {
    ok: u64,
    refused: u64,
    receipts: u64,
    /// Microseconds from each submit_sm to its response.
    latencies: Vec<u32>,
    last_response: Duration,
    last_receipt: Duration,
}

pub async fn run_smpp(args: SmppBenchArgs) -> anyhow::Result<String> {
    ensure!((1..=10_000_000).contains(&args.messages), "--messages must be 1 to 10,000,000");
    ensure!((1..=64).contains(&args.connections), "--connections must be 1 to 64");
    ensure!((1..=4096).contains(&args.window), "--window must be 1 to 4096");
    let dir = std::env::temp_dir().join(format!("tongdao-bench-smpp-{}", std::process::id()));
    ensure!(!dir.exists(), "{} exists", dir.display());
    let mut config = bench_config(&dir)?;
    config.simulator.enabled = args.receipts;
    config.smpp.max_connections_per_ip = config.smpp.max_connections_per_ip.max(args.connections + 1);
    let gateway = Gateway::start(&config).await?;
    let result = drive(&args, &config, &gateway).await;
    gateway.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn drive(args: &SmppBenchArgs, config: &Config, gateway: &Gateway) -> anyhow::Result<String> {
    let platform = &gateway.platform;
    fund_demo(platform, config).await?;
    let (system_id, password) = demo::ensure_demo_smpp(platform, config).await?;
    gateway.mark_ready();
    let addr = gateway.smpp.as_ref().ok_or_else(|| anyhow!("the SMPP listener is off"))?.addr();

    let writes_before = platform.store().write_stats();
    let (args_c, system_id_c) = (args.clone(), system_id.clone());
    // The client: its own thread and runtime, like a separate ESME process.
    let client = std::thread::spawn(move || -> anyhow::Result<(Vec<ClientStats>, Duration)> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let started = Instant::now();
            let totals = Arc::new(Totals::default());
            let mut tasks = Vec::new();
            let per = args_c.messages / args_c.connections as u64;
            for c in 0..args_c.connections {
                let quota = if c == 0 { args_c.messages - per * (args_c.connections as u64 - 1) } else { per };
                let (system_id, password) = (system_id_c.clone(), password.clone());
                let offset = per * c as u64;
                tasks.push(tokio::spawn(client_connection(
                    addr,
                    system_id,
                    password,
                    Load { quota, offset, total: args_c.messages, window: args_c.window, receipts: args_c.receipts },
                    totals.clone(),
                    started,
                )));
            }
            let deadline = Duration::from_secs(args_c.timeout);
            let mut stats = Vec::new();
            for task in tasks {
                let result = tokio::time::timeout(deadline.saturating_sub(started.elapsed()), task)
                    .await
                    .map_err(|_| anyhow!("the run did not finish within {} s", args_c.timeout))??;
                stats.push(result?);
            }
            Ok((stats, started.elapsed()))
        })
    });
    let (stats, _) = tokio::task::spawn_blocking(move || client.join())
        .await?
        .map_err(|_| anyhow!("the client thread panicked"))??;
    let writes = platform.store().write_stats();
    let (commits, jobs) = (writes.commits - writes_before.commits, writes.jobs - writes_before.jobs);
    let busy_secs = (writes.busy_micros - writes_before.busy_micros) as f64 / 1e6;
    if let Some(carriers) = gateway.carrier_side() {
        eprintln!("{}", progress_line(carriers));
    }

    let ok: u64 = stats.iter().map(|s| s.ok).sum();
    let refused: u64 = stats.iter().map(|s| s.refused).sum();
    let receipts: u64 = stats.iter().map(|s| s.receipts).sum();
    let last_response = stats.iter().map(|s| s.last_response).max().unwrap_or_default();
    let last_receipt = stats.iter().map(|s| s.last_receipt).max().unwrap_or_default();
    let mut latencies: Vec<u32> = stats.into_iter().flat_map(|s| s.latencies).collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies.get(((p / 100.0) * latencies.len().saturating_sub(1) as f64).round() as usize).copied().unwrap_or(0)
            as f64
            / 1000.0
    };
    let submit_rate = ok as f64 / last_response.as_secs_f64().max(1e-9);
    let e2e_rate = receipts as f64 / last_receipt.as_secs_f64().max(1e-9);
    let receipt_line = if args.receipts {
        format!(
            "\nend to end: {e2e_rate:.0} msg/s ({receipts} receipts on the bind, the last after {:.2} s)",
            last_receipt.as_secs_f64()
        )
    } else {
        String::new()
    };
    Ok(format!(
        "submit_sm accepted durably: {submit_rate:.0}/s ({ok} OK, {refused} refused, in {:.2} s; {} connection(s), window {})\n\
         submit_sm -> resp p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms max {:.2} ms{receipt_line}\n\
         store: {commits} commits for {jobs} writes, writer busy {:.0}%; peak RSS {:.0} MiB\n{}",
        last_response.as_secs_f64(),
        args.connections,
        args.window,
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(100.0),
        100.0 * busy_secs / last_receipt.max(last_response).as_secs_f64().max(1e-9),
        peak_rss_mib(),
        serde_json::json!({
            "messages": args.messages,
            "ok": ok,
            "refused": refused,
            "submit_per_sec": submit_rate,
            "receipts": receipts,
            "end_to_end_per_sec": if args.receipts { Some(e2e_rate) } else { None },
            "p50_ms": pct(50.0),
            "p99_ms": pct(99.0),
            "connections": args.connections,
            "window": args.window,
        })
    ))
}

/// One connection's share of the load.
#[derive(Debug, Clone, Copy)]
struct Load {
    quota: u64,
    /// Where its recipients' numbers start.
    offset: u64,
    /// Messages over all connections.
    total: u64,
    window: usize,
    receipts: bool,
}

async fn client_connection(
    addr: std::net::SocketAddr,
    system_id: String,
    password: String,
    load: Load,
    totals: Arc<Totals>,
    started: Instant,
) -> anyhow::Result<ClientStats> {
    let Load { quota, offset, total, window, receipts } = load;
    let mut stream = tokio::net::TcpStream::connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let bind = Bind { system_id, password, interface_version: 0x34, ..Bind::default() };
    stream.write_all(&Command { status: 0, sequence: 0, pdu: Pdu::BindTransceiver(bind) }.encode()).await?;
    let (mut reader, mut writer) = stream.into_split();
    let mut buffer: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut leniency = Leniency::default();

    let permits = Arc::new(Semaphore::new(0));
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..quota).map(|_| AtomicU64::new(0)).collect());
    let (resp_tx, mut resp_rx) = mpsc::channel::<u32>(4096);
    let text = tongdao_domain::text::encode_gsm7_unpacked("Your verification code is 123456.").unwrap_or_default();
    let writing = tokio::spawn({
        let (permits, sent_at) = (permits.clone(), sent_at.clone());
        async move {
            let mut next = 0u64;
            let mut out = Vec::with_capacity(1 << 16);
            let submit = |n: u64, out: &mut Vec<u8>| {
                let sm = Sm {
                    dest_addr_ton: 1,
                    dest_addr_npi: 1,
                    destination_addr: format!("86139{:08}", (offset + n) % 100_000_000),
                    registered_delivery: u8::from(receipts),
                    short_message: text.clone(),
                    ..Sm::default()
                };
                out.extend_from_slice(&Command { status: 0, sequence: n as u32 + 1, pdu: Pdu::SubmitSm(sm) }.encode());
            };
            let answer = |sequence: u32, out: &mut Vec<u8>| {
                let resp = Command { status: 0, sequence, pdu: Pdu::DeliverSmResp(MessageIdResp::default()) };
                out.extend_from_slice(&resp.encode());
            };
            loop {
                out.clear();
                while let Ok(sequence) = resp_rx.try_recv() {
                    answer(sequence, &mut out);
                }
                while next < quota && permits.try_acquire().map(|p| p.forget()).is_ok() {
                    sent_at[next as usize].store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                    submit(next, &mut out);
                    next += 1;
                }
                if out.is_empty() {
                    tokio::select! {
                        sequence = resp_rx.recv() => match sequence {
                            Some(sequence) => answer(sequence, &mut out),
                            None => return Ok::<(), std::io::Error>(()),
                        },
                        permit = permits.acquire(), if next < quota => {
                            if let Ok(permit) = permit {
                                permit.forget();
                                sent_at[next as usize].store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                                submit(next, &mut out);
                                next += 1;
                            }
                        }
                    }
                }
                writer.write_all(&out).await?;
            }
        }
    });

    let mut stats = ClientStats { latencies: Vec::with_capacity(quota as usize), ..ClientStats::default() };
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let mut start = 0;
        while let Some(length) = tongdao_smpp::split_frame(&buffer[start..], 1 << 20).map_err(|e| anyhow!("{e}"))? {
            let command = Command::decode(&buffer[start..start + length], &mut leniency).map_err(|e| anyhow!("{e}"))?;
            start += length;
            match command.pdu {
                Pdu::BindTransceiverResp(_) => {
                    ensure!(command.status == 0, "bind refused: {:#x}", command.status);
                    permits.add_permits(window);
                }
                Pdu::SubmitSmResp(_) => {
                    let index = command.sequence.saturating_sub(1) as usize;
                    let sent = sent_at.get(index).map_or(0, |t| t.load(Ordering::Relaxed));
                    let now = started.elapsed();
                    stats.latencies.push((now.as_micros() as u64).saturating_sub(sent) as u32);
                    stats.last_response = now;
                    if command.status == 0 {
                        stats.ok += 1;
                        totals.ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        stats.refused += 1;
                    }
                    totals.answered.fetch_add(1, Ordering::Relaxed);
                    permits.add_permits(1);
                }
                Pdu::DeliverSm(sm) => {
                    if sm.is_delivery_receipt() {
                        stats.receipts += 1;
                        stats.last_receipt = started.elapsed();
                        totals.receipts.fetch_add(1, Ordering::Relaxed);
                    }
                    resp_tx.send(command.sequence).await.map_err(|_| anyhow!("the writer stopped"))?;
                }
                _ => {}
            }
        }
        buffer.drain(..start);
        let all_answered = totals.answered.load(Ordering::Relaxed) == total;
        let all_receipted = totals.receipts.load(Ordering::Relaxed) >= totals.ok.load(Ordering::Relaxed);
        if stats.ok + stats.refused == quota && (!receipts || (all_answered && all_receipted)) {
            break;
        }
        // Another connection may take the last receipts: look again now and then.
        if let Ok(n) = tokio::time::timeout(Duration::from_millis(50), reader.read(&mut chunk)).await {
            let n = n?;
            ensure!(
                n > 0,
                "the server closed the connection (this one: {} answered of {quota}, {} receipts; all: {} answered, {} receipts)",
                stats.ok + stats.refused,
                stats.receipts,
                totals.answered.load(Ordering::Relaxed),
                totals.receipts.load(Ordering::Relaxed)
            );
            buffer.extend_from_slice(&chunk[..n]);
        }
    }
    drop(resp_tx);
    writing.await??;
    Ok(stats)
}
