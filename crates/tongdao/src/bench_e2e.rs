//! `tongdao bench e2e`: N messages through the whole platform — HTTP accept, the dispatch
//! queue, one carrier link (window 256) to the built-in simulator, its receipts, the final
//! status and its settlement — optionally with a signed webhook per status change to a local
//! receiver that checks every signature. Runs a fresh gateway on a temporary data directory
//! in this process; the HTTP load comes from `bench http`'s generator on its own thread.
//!
//! Reports msg/s from the first request to the last final status (or, with webhooks, the
//! last final-status callback), p50/p99 of accept→submitted and accept→final from the
//! stored event times, and the process's peak RSS.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure};
use tokio::sync::watch;
use tongdao_domain::{MessageStatus, Money};

use crate::bench::{HttpBenchArgs, run_http};
use crate::config::Config;
use crate::demo;
use crate::gateway::Gateway;
use crate::webhook_sink::{self, SinkCounts};

#[derive(Debug, Clone, clap::Args)]
pub struct E2eBenchArgs {
    /// Messages to send.
    #[arg(long, default_value_t = 100_000)]
    pub messages: u64,
    /// Concurrent HTTP connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Recipients per request (`"to": [...]`); --messages must be a multiple of it.
    #[arg(long, default_value_t = 1)]
    pub recipients: usize,
    /// Call a local webhook receiver for every status change (signed, verified).
    #[arg(long)]
    pub webhooks: bool,
    /// Milliseconds from submit_sm to its receipt in the simulator.
    #[arg(long, default_value_t = 0)]
    pub receipt_delay_ms: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Data directory to create (must not exist); default: a new temporary directory.
    #[arg(long)]
    pub bench_dir: Option<std::path::PathBuf>,
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Peak resident set size of this process, in MiB (Linux).
/// What the carrier side's progress writer did: how often receipts came before their submit.
pub fn progress_line(carriers: &tongdao_carrier::CarrierSide) -> String {
    let p = carriers.progress_stats();
    format!(
        "progress: {} batches, {} recorded, {} early receipts, {} ignored; dispatch reads {}",
        p.batches.load(Ordering::Relaxed),
        p.recorded.load(Ordering::Relaxed),
        p.early_receipts.load(Ordering::Relaxed),
        p.ignored.load(Ordering::Relaxed),
        carriers.dispatch_stats().queue_reads.load(Ordering::Relaxed),
    )
}

pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A gateway for a benchmark: a fresh data directory, every listener on a free port.
pub(crate) fn bench_config(dir: &std::path::Path) -> anyhow::Result<Config> {
    let mut config = Config { data_dir: dir.to_owned(), http: "127.0.0.1:0".parse()?, ..Config::default() };
    config.simulator.listen = "127.0.0.1:0".parse()?;
    config.simulator.control = "127.0.0.1:0".parse()?;
    config.smpp.listen = "127.0.0.1:0".parse()?;
    config.sweep_interval_ms = 60_000;
    Ok(config)
}

/// The demo customer, with ¥10,000,000 so no run runs out; returns its API key.
pub(crate) async fn fund_demo(
    platform: &tongdao_pipeline::Platform,
    config: &Config,
) -> anyhow::Result<(String, tongdao_store::Customer)> {
    let key = demo::ensure_demo(platform, config).await?;
    let customer = platform.customer(demo::DEMO_CUSTOMER).await.map_err(|r| anyhow!("{r}"))?;
    let money = Money::parse("10000000").map_err(|e| anyhow!("{e}"))?;
    platform.top_up(&customer.id, money, None).await.map_err(|r| anyhow!("{r}"))?;
    Ok((key, customer))
}

pub async fn run_e2e(args: E2eBenchArgs) -> anyhow::Result<String> {
    ensure!((1..=10_000_000).contains(&args.messages), "--messages must be 1 to 10,000,000");
    ensure!((1..=1000).contains(&args.recipients), "--recipients must be 1 to 1000");
    ensure!(args.messages.is_multiple_of(args.recipients as u64), "--messages must be a multiple of --recipients");
    let temp = std::env::temp_dir().join(format!("tongdao-bench-e2e-{}", std::process::id()));
    let dir = args.bench_dir.clone().unwrap_or(temp);
    ensure!(!dir.exists(), "{} exists; give a new directory", dir.display());
    let mut config = bench_config(&dir)?;
    config.simulator.receipt_delay_ms = args.receipt_delay_ms;
    config.webhooks.allow_loopback = true;
    if let Ok(batch) = std::env::var("TONGDAO_BENCH_WEBHOOK_BATCH") {
        config.webhooks.max_batch = batch.parse()?;
    }
    // No [[carrier]]: one link, window 256, to the simulator the gateway starts.
    let gateway = Gateway::start(&config).await?;
    let result = drive(&args, &config, &gateway).await;
    gateway.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn drive(args: &E2eBenchArgs, config: &Config, gateway: &Gateway) -> anyhow::Result<String> {
    let platform = &gateway.platform;
    let (key, customer) = fund_demo(platform, config).await?;
    let counts = Arc::new(SinkCounts::default());
    let (stop_sink, sink_stopped) = watch::channel(false);
    if args.webhooks {
        let settings = platform.webhook_settings(&customer.id).await.map_err(|r| anyhow!("{r}"))?;
        let secret = settings.secret.ok_or_else(|| anyhow!("no webhook secret"))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let counts = counts.clone();
        tokio::spawn(async move {
            webhook_sink::serve(listener, &secret, counts, false, Arc::new(tongdao_domain::SystemClock), sink_stopped)
                .await
        });
        platform.set_webhook_url(&customer.id, Some(&url)).await.map_err(|r| anyhow!("{r}"))?;
    }
    gateway.mark_ready();
    let carriers = gateway.carrier_side().ok_or_else(|| anyhow!("no carrier side"))?;
    let finals_before = carriers.progress_stats().finals.load(Ordering::Relaxed);

    let writes_before = platform.store().write_stats();
    let started = Instant::now();
    let load = tokio::spawn(run_http(HttpBenchArgs {
        url: format!("http://{}", gateway.addr),
        key_file: config.demo_key_path(),
        key: Some(key),
        connections: args.connections,
        duration: args.timeout as f64,
        warmup: 0.0,
        max_requests: args.messages / args.recipients as u64,
        text: "Your verification code is 123456.".into(),
        recipients: args.recipients,
    }));
    let deadline = started + Duration::from_secs(args.timeout);
    let target = finals_before + args.messages;
    let done = loop {
        let finals = carriers.progress_stats().finals.load(Ordering::Relaxed);
        let finished =
            finals >= target && (!args.webhooks || counts.final_statuses.load(Ordering::Relaxed) >= args.messages);
        if finished {
            break Some(started.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let http = load.await??;
    let writes = platform.store().write_stats();
    let (commits, jobs) = (writes.commits - writes_before.commits, writes.jobs - writes_before.jobs);
    let busy = (writes.busy_micros - writes_before.busy_micros) as f64 / 1e6;
    let _ = stop_sink.send(true);
    let elapsed = done.ok_or_else(|| {
        anyhow!(
            "not every message reached a final status within {} s (progress {} of {target})",
            args.timeout,
            carriers.progress_stats().finals.load(Ordering::Relaxed)
        )
    })?;
    let timings = platform.store().message_timings(&customer.id, args.messages as u32).await?;
    let delivered = timings.iter().filter(|t| t.status == MessageStatus::Delivered).count();
    let mut to_submitted: Vec<i64> = timings.iter().filter_map(|t| t.submitted_at.map(|s| s - t.accepted_at)).collect();
    let mut to_final: Vec<i64> = timings.iter().filter_map(|t| t.final_at.map(|f| f - t.accepted_at)).collect();
    to_submitted.sort_unstable();
    to_final.sort_unstable();
    let rate = args.messages as f64 / elapsed.as_secs_f64();
    let (submitted_p50, submitted_p99) = (percentile(&to_submitted, 50.0), percentile(&to_submitted, 99.0));
    let (final_p50, final_p99) = (percentile(&to_final, 50.0), percentile(&to_final, 99.0));
    let webhooks = if args.webhooks {
        format!(
            "\nwebhooks: {} callbacks carrying {} events ({} final statuses), {} bad signatures",
            counts.requests.load(Ordering::Relaxed),
            counts.events.load(Ordering::Relaxed),
            counts.final_statuses.load(Ordering::Relaxed),
            counts.bad_signatures.load(Ordering::Relaxed),
        )
    } else {
        String::new()
    };
    let resubmitted = carriers.dispatch_stats().resubmissions.load(Ordering::Relaxed);
    eprintln!("{}", progress_line(carriers));
    Ok(format!(
        "end to end: {rate:.0} msg/s ({} messages, {delivered} delivered, in {:.2} s; HTTP accepted {} at {:.0} msg/s, \
         {} per request)\n\
         accept->submitted p50 {} ms p99 {} ms; accept->final p50 {} ms p99 {} ms\n\
         peak RSS {:.0} MiB; resubmissions {resubmitted}; store: {commits} commits, {jobs} writes, writer busy {:.0}%{webhooks}\n{}",
        args.messages,
        elapsed.as_secs_f64(),
        http.accepted,
        http.accepted_per_sec(),
        args.recipients,
        submitted_p50,
        submitted_p99,
        final_p50,
        final_p99,
        peak_rss_mib(),
        100.0 * busy / elapsed.as_secs_f64(),
        serde_json::json!({
            "messages": args.messages,
            "delivered": delivered,
            "seconds": elapsed.as_secs_f64(),
            "msg_per_sec": rate,
            "webhooks": args.webhooks,
            "recipients_per_request": args.recipients,
            "submitted_p50_ms": submitted_p50,
            "submitted_p99_ms": submitted_p99,
            "final_p50_ms": final_p50,
            "final_p99_ms": final_p99,
            "peak_rss_mib": peak_rss_mib(),
        })
    ))
}
