//! `tongdao bench accept`: the accept path without HTTP — `Platform::accept` called by many
//! concurrent tasks on a fresh data directory — to tell the store's share of the cost from
//! the HTTP edge's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tongdao_domain::agreement::{AgreementChange, AgreementTerms};
use tongdao_domain::{ComplianceTerms, Money, SystemClock};
use tongdao_pipeline::Submission;

use crate::config::Config;
use crate::{demo, gateway};

#[derive(Debug, Clone, clap::Args)]
pub struct AcceptBenchArgs {
    /// Concurrent senders (like HTTP connections).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Data directory to create (must not exist); default: a new temporary directory.
    #[arg(long)]
    pub bench_dir: Option<std::path::PathBuf>,
    /// Put the demo customer under the default frequency limits (1 a minute, 5 an hour, 10 a
    /// day per recipient; every message here goes to a new recipient), so that every check
    /// of the accept path runs, the per-recipient counters included.
    #[arg(long)]
    pub frequency_limits: bool,
}

pub async fn run_accept(args: AcceptBenchArgs) -> anyhow::Result<String> {
    let temp = std::env::temp_dir().join(format!("tongdao-bench-{}", std::process::id()));
    let dir = args.bench_dir.clone().unwrap_or(temp);
    anyhow::ensure!(!dir.exists(), "{} exists; give a new directory", dir.display());
    let config = Config { data_dir: dir.clone(), ..Config::default() };
    let platform = gateway::open_platform(&config, Arc::new(SystemClock)).await?;
    demo::ensure_demo(&platform, &config).await?;
    let customer = platform.customer(demo::DEMO_CUSTOMER).await.map_err(|r| anyhow!("{r}"))?;
    if args.frequency_limits {
        let current = platform.current_agreement(&customer.id).await.map_err(|r| anyhow!("{r}"))?;
        let terms = AgreementTerms { compliance: ComplianceTerms::default(), ..current.terms };
        let version = terms.terms_version.clone();
        let agreement = platform.create_agreement(&customer.id, terms).await.map_err(|r| anyhow!("{r}"))?;
        platform.change_agreement(&agreement.id, AgreementChange::Sign).await.map_err(|r| anyhow!("{r}"))?;
        platform.accept_agreement(&customer.id, &version).await.map_err(|r| anyhow!("{r}"))?;
    }
    let money = Money::parse("1000000").map_err(|e| anyhow!("{e}"))?;
    platform.top_up(&customer.id, money, None).await.map_err(|r| anyhow!("{r}"))?;

    let accepted = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration.clamp(0.1, 600.0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency.clamp(1, 10_000) {
        let (platform, customer, accepted) = (platform.clone(), customer.id.clone(), accepted.clone());
        tasks.push(tokio::spawn(async move {
            let mut n: u64 = 0;
            while Instant::now() < deadline {
                let submission = Submission {
                    recipients: vec![format!("139{:08}", (worker as u64 * 1_000_003 + n) % 100_000_000)],
                    text: "Your verification code is 123456.".into(),
                    sender: None,
                    callback_url: None,
                    client_ref: None,
                    send_at: None,
                    valid_until: None,
                    partial: false,
                    concat: None,
                    receipt: Default::default(),
                    template: None,
                    source: None,
                };
                if platform.accept(&customer, submission, None).await.is_ok() {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let total = accepted.load(Ordering::Relaxed);
    drop(platform);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(format!(
        "accept path without HTTP: {:.1} msg/s ({total} in {seconds:.2} s, {} senders)",
        total as f64 / seconds,
        args.concurrency
    ))
}
