//! `tongdao`: the SMS service platform's server and its command line.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use tongdao::config::{Config, DEFAULT_TOML, Overrides};
use tongdao::gateway::{Gateway, Signals, ensure_operator_token, open_platform};
use tongdao::{bench, demo};
use tongdao_domain::{Money, SystemClock};
use tongdao_pipeline::Platform;

#[derive(Debug, Parser)]
#[command(
    name = "tongdao",
    version,
    about = "An SMS service platform: HTTP and SMPP in, carriers out, every message paid and kept."
)]
struct Cli {
    /// TOML configuration file (see `tongdao config default`).
    #[arg(long, global = true, env = "TONGDAO_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory: database, operator token, demo files [default: ./tongdao-data].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The database: postgres://user:password@host:5432/db selects PostgreSQL [default:
    /// SQLite in the data directory]. Also TONGDAO_DATABASE_URL or `database_url`.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform.
    Serve {
        /// HTTP listen address [default: 127.0.0.1:8080].
        #[arg(long)]
        http: Option<std::net::SocketAddr>,
        /// Create (or find) the demo customer with a key in <data-dir>/demo.key; allows
        /// webhooks to loopback addresses.
        #[arg(long)]
        demo: bool,
        /// Run the built-in SMSC simulator on this address [default: 127.0.0.1:2776].
        #[arg(long, conflicts_with = "no_simulator")]
        simulator: Option<std::net::SocketAddr>,
        /// Do not start the built-in SMSC simulator.
        #[arg(long)]
        no_simulator: bool,
        /// The SMPP listener customers bind to [default: 127.0.0.1:2775].
        #[arg(long, conflicts_with = "no_smpp")]
        smpp: Option<std::net::SocketAddr>,
        /// Do not start the SMPP listener.
        #[arg(long)]
        no_smpp: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Run the built-in SMSC simulator (SMPP 3.4 over TCP) on its own.
    SmscSim {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:2776")]
        listen: std::net::SocketAddr,
        /// Milliseconds from submit_sm to its delivery receipt.
        #[arg(long, default_value_t = 0)]
        receipt_delay_ms: u64,
        /// A JSON script for this run (outcome mix, throttling, delays, drops…); see the
        /// simulator's GET /script for its fields.
        #[arg(long)]
        script: Option<PathBuf>,
        /// HTTP control endpoint (GET/PUT /script, POST /mo, POST /drop, GET /stats).
        #[arg(long, default_value = "127.0.0.1:2777")]
        control: std::net::SocketAddr,
    },
    /// A webhook receiver that checks each callback's X-Tongdao-Signature and prints the
    /// events (for trying webhooks out).
    WebhookSink {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: std::net::SocketAddr,
        /// The customer's webhook_secret (GET /v1/account).
        #[arg(long, env = "TONGDAO_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage customers (works on the database directly; the server may be running).
    Customer {
        #[command(subcommand)]
        command: CustomerCommand,
    },
    /// Top up a customer's prepaid balance.
    Topup {
        /// Customer id or name.
        customer: String,
        /// Amount, e.g. 1000.0000
        amount: String,
        /// Payment reference; a reference tops up once.
        #[arg(long)]
        reference: Option<String>,
    },
    /// Manage API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Manage customers' SMPP credentials.
    SmppAccount {
        #[command(subcommand)]
        command: SmppAccountCommand,
    },
    /// Manage web console users: operators (`/ops/`) and customers' users (`/console/`).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Walk the ledger's hash chain (agreement clause 3.8): exit status 0 when it is whole,
    /// 1 when an entry does not match (named, with the hash it should have).
    Verify,
    /// Exports for lawful requests (agreement clause 3.1); recorded in the audit trail.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// A customer's monthly statement (agreement clause 3.8) as JSON or CSV, with the ledger
    /// chain head that proves it (`tongdao verify`); recorded in the audit trail.
    Statement {
        /// Customer id or name.
        #[arg(long)]
        customer: String,
        /// The month, YYYY-MM (China Standard Time); the current one gives a running statement.
        #[arg(long)]
        month: String,
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// The file to write (mode 0600), with `<output>.sha256` beside it; printed when absent.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Load generators.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// A customer's messages in a time range: content, times, sender, recipient and source
    /// (IP or bind), as CSV or JSON, with `<output>.sha256` beside it (`sha256sum -c`).
    Records {
        /// Customer id or name.
        #[arg(long)]
        customer: String,
        /// RFC 3339, inclusive.
        #[arg(long)]
        from: String,
        /// RFC 3339, exclusive.
        #[arg(long)]
        to: String,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// The file to write (mode 0600: it holds numbers and texts).
        #[arg(long)]
        output: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the commented default configuration file.
    Default,
}

#[derive(Debug, Subcommand)]
enum CustomerCommand {
    Create {
        name: String,
        #[arg(long, default_value = "")]
        address: String,
        #[arg(long, default_value = "")]
        contact: String,
    },
    List,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a key; the secret is printed once.
    Create {
        customer: String,
        #[arg(long, default_value = "")]
        label: String,
        /// Requests per second the key may make; 0: no limit.
        #[arg(long, default_value_t = 0)]
        rps: u32,
    },
    List {
        customer: String,
    },
    Revoke {
        customer: String,
        key_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user; without --password one is generated and printed once.
    Create {
        email: String,
        /// Operator roles: admin, support, moderator, finance. Customer roles: admin,
        /// developer, viewer.
        #[arg(long)]
        role: String,
        /// A user of this customer (id or name); without it, an operator user.
        #[arg(long)]
        customer: Option<String>,
        /// At least 10 characters (it shows in the shell's history: prefer the generated one).
        #[arg(long)]
        password: Option<String>,
    },
    /// The operator users, or one customer's.
    List {
        #[arg(long)]
        customer: Option<String>,
    },
    /// Disable a user (its sessions end at once) or, with --enable, enable it again.
    Disable {
        email: String,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        enable: bool,
    },
    /// Give a user a new generated password, printed once (its sessions end).
    ResetPassword {
        email: String,
        #[arg(long)]
        customer: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SmppAccountCommand {
    /// Create credentials; the password is printed once.
    Create {
        customer: String,
        /// 1-15 letters, digits, '_' or '-' [default: generated].
        #[arg(long)]
        system_id: Option<String>,
        #[command(flatten)]
        settings: SmppAccountSettings,
    },
    /// Change the password, addresses or limits (what is not given stays).
    Update {
        customer: String,
        system_id: String,
        #[command(flatten)]
        settings: SmppAccountSettings,
    },
    List {
        customer: String,
    },
    Delete {
        customer: String,
        system_id: String,
    },
}

#[derive(Debug, clap::Args)]
struct SmppAccountSettings {
    /// 1-8 characters [default: generated].
    #[arg(long, env = "TONGDAO_SMPP_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// An address or CIDR block binds may come from; repeat for more [default: any].
    #[arg(long = "allow-ip")]
    allow_ip: Vec<String>,
    /// Binds open at once, at most [default: 4].
    #[arg(long)]
    max_binds: Option<u32>,
    /// submit_sm per second over all binds; 0 for no limit [default: 200].
    #[arg(long)]
    tps: Option<u32>,
}

impl SmppAccountSettings {
    fn request(self, system_id: Option<String>) -> tongdao_pipeline::smpp::SmppAccountRequest {
        tongdao_pipeline::smpp::SmppAccountRequest {
            system_id,
            password: self.password,
            allowed_ips: (!self.allow_ip.is_empty()).then_some(self.allow_ip),
            max_binds: self.max_binds,
            tps: self.tps,
        }
    }
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Single-recipient POST /v1/messages over keep-alive connections.
    Http(bench::HttpBenchArgs),
    /// The accept path without HTTP, on a fresh temporary data directory.
    Accept(tongdao::bench_accept::AcceptBenchArgs),
    /// N messages through HTTP, a carrier link, the simulator, receipts and final statuses
    /// (optionally with signed webhooks), on a fresh gateway in this process.
    E2e(tongdao::bench_e2e::E2eBenchArgs),
    /// submit_sm over SMPP binds with a window, on a fresh gateway in this process: accepted
    /// durably, or with --receipts until each receipt is back on the bind.
    Smpp(tongdao::bench_smpp::SmppBenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Prints a report; a reader that went away (`| head`) is not an error worth a panic.
fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}

fn print_json(value: serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut overrides =
        Overrides { data_dir: cli.data_dir.clone(), http: None, database_url: cli.database_url.clone() };
    if let Command::Serve { http, .. } = &cli.command {
        overrides.http = *http;
    }
    if let Command::Config { command: ConfigCommand::Default } = &cli.command {
        print!("{DEFAULT_TOML}");
        return Ok(());
    }
    if let Command::Bench { command: BenchCommand::Http(args) } = cli.command {
        let report = bench::run_http(args).await?;
        say(&format!("{report}\n{}", report.to_json()));
        return Ok(());
    }
    if let Command::SmscSim { listen, receipt_delay_ms, script, control } = cli.command {
        return run_simulator(listen, receipt_delay_ms, script, control).await;
    }
    if let Command::Bench { command: BenchCommand::E2e(args) } = cli.command {
        say(&tongdao::bench_e2e::run_e2e(args).await?);
        return Ok(());
    }
    if let Command::Bench { command: BenchCommand::Smpp(args) } = cli.command {
        init_tracing(&std::env::var("TONGDAO_LOG__LEVEL").unwrap_or_else(|_| "warn".into()));
        say(&tongdao::bench_smpp::run_smpp(args).await?);
        return Ok(());
    }
    if let Command::WebhookSink { listen, secret } = cli.command {
        return tongdao::webhook_sink::run(listen, &secret).await;
    }
    if let Command::Bench { command: BenchCommand::Accept(args) } = cli.command {
        say(&tongdao::bench_accept::run_accept(args).await?);
        return Ok(());
    }
    let mut config = Config::load(cli.config.as_deref(), &overrides)?;
    if let Command::Serve { demo, simulator, no_simulator, smpp, no_smpp, .. } = &cli.command {
        // Flags are the top layer.
        if let Some(addr) = simulator {
            config.simulator.enabled = true;
            config.simulator.listen = *addr;
        }
        if *no_simulator {
            config.simulator.enabled = false;
        }
        if let Some(addr) = smpp {
            config.smpp.enabled = true;
            config.smpp.listen = *addr;
        }
        if *no_smpp {
            config.smpp.enabled = false;
        }
        if *demo {
            config.webhooks.allow_loopback = true;
        }
    }
    init_tracing(&config.log.level);
    let clock = std::sync::Arc::new(SystemClock);
    match cli.command {
        Command::Serve { demo, .. } => {
            let signals = Signals::install()?;
            let gateway = Gateway::start(&config).await?;
            println!("operator token: {}", config.operator_token_path().display());
            if let Some(simulator) = &gateway.simulator {
                println!("SMSC simulator listening on smpp://{}", simulator.addr);
                if let Some(control) = simulator.control {
                    println!("SMSC simulator control on http://{control}/script");
                }
            }
            if let Some(smpp) = &gateway.smpp {
                println!("SMPP listening on smpp://{}", smpp.addr());
            }
            if demo {
                let key = demo::ensure_demo(&gateway.platform, &config).await?;
                println!("demo API key ({}): {key}", config.demo_key_path().display());
                let (system_id, _) = demo::ensure_demo_smpp(&gateway.platform, &config).await?;
                println!("demo SMPP system_id {system_id}, password in {}", config.demo_smpp_path().display());
                let users = demo::ensure_demo_users(&gateway.platform, &config).await?;
                let emails: Vec<&str> = users.iter().map(|(e, _)| e.as_str()).collect();
                println!(
                    "demo console users {}, passwords in {}",
                    emails.join(" and "),
                    config.demo_users_path().display()
                );
            }
            gateway.mark_ready();
            println!("listening on http://{}", gateway.addr);
            println!("console on http://{0}/console/ (customers) and http://{0}/ops/ (operators)", gateway.addr);
            gateway.run_until(signals).await
        }
        Command::Migrate => {
            let location = config.database_location();
            let applied = match &config.database_url {
                Some(url) => tongdao_store::postgres::migrate(url).await,
                None => {
                    tongdao::files::ensure_data_dir(&config.data_dir)?;
                    tongdao_store::sqlite::migrate(&config.database_path())
                }
            }
            .with_context(|| format!("migrating {location}"))?;
            println!("applied {} migration(s) to {location}", applied.len());
            Ok(())
        }
        Command::Export { command: ExportCommand::Records { customer, from, to, format, output } } => {
            let platform = admin_platform(&config, clock).await?;
            let time = |name: &str, value: &str| {
                tongdao_domain::clock::parse_rfc3339(value).ok_or_else(|| anyhow!("--{name} must be an RFC 3339 time"))
            };
            let format = match format {
                ExportFormat::Csv => tongdao_pipeline::records::RecordFormat::Csv,
                ExportFormat::Json => tongdao_pipeline::records::RecordFormat::Json,
            };
            let export = platform
                .export_records(&customer, time("from", &from)?, time("to", &to)?, format, "operator (command line)")
                .await
                .map_err(|r| anyhow!("{r}"))?;
            tongdao::files::write_private(&output, &export.bytes)?;
            let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let checksum = output.with_file_name(format!("{name}.sha256"));
            tongdao::files::write_private(&checksum, format!("{}  {name}\n", export.sha256).as_bytes())?;
            print_json(serde_json::json!({
                "records": export.records,
                "sha256": export.sha256,
                "output": output.display().to_string(),
                "checksum_file": checksum.display().to_string(),
            }))
        }
        Command::Statement { customer, month, format, output } => {
            let platform = admin_platform(&config, clock).await?;
            let format = match format {
                ExportFormat::Csv => tongdao_pipeline::statements::StatementFormat::Csv,
                ExportFormat::Json => tongdao_pipeline::statements::StatementFormat::Json,
            };
            let rendered = platform
                .export_statement(&customer, &month, format, "operator (command line)")
                .await
                .map_err(|r| anyhow!("{r}"))?;
            let Some(output) = output else {
                use std::io::Write;
                return std::io::stdout().write_all(&rendered.bytes).context("writing the statement");
            };
            tongdao::files::write_private(&output, &rendered.bytes)?;
            let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let checksum = output.with_file_name(format!("{name}.sha256"));
            tongdao::files::write_private(&checksum, format!("{}  {name}\n", rendered.sha256).as_bytes())?;
            let statement = &rendered.statement;
            print_json(serde_json::json!({
                "customer_id": statement.customer_id,
                "month": statement.month.to_string(),
                "final": statement.is_final,
                "closing_balance": statement.closing,
                "chain": statement.chain.as_ref().map(|c| serde_json::json!({"seq": c.seq, "hash": c.hash})),
                "sha256": rendered.sha256,
                "output": output.display().to_string(),
                "checksum_file": checksum.display().to_string(),
            }))
        }
        Command::Verify => {
            let path = config.database_path();
            anyhow::ensure!(config.database_url.is_some() || path.exists(), "no database at {}", path.display());
            let store = tongdao::gateway::open_store(&config).await?;
            match store.verify_ledger().await.map_err(|e| anyhow!("{e}"))? {
                Ok(report) => print_json(serde_json::json!({
                    "whole": true,
                    "entries": report.entries,
                    "head": report.head,
                })),
                Err(broken) => {
                    print_json(serde_json::json!({
                        "whole": false,
                        "first_bad_entry": broken.seq,
                        "expected_hash": broken.expected,
                        "found_hash": broken.found,
                    }))?;
                    Err(anyhow!("the ledger's hash chain breaks at entry {}", broken.seq))
                }
            }
        }
        Command::Customer { command } => {
            let platform = admin_platform(&config, clock).await?;
            match command {
                CustomerCommand::Create { name, address, contact } => {
                    let c = platform.create_customer(&name, &address, &contact).await.map_err(|r| anyhow!("{r}"))?;
                    print_json(serde_json::json!({ "id": c.id, "name": c.name }))
                }
                CustomerCommand::List => {
                    let list = platform.customers().await.map_err(|r| anyhow!("{r}"))?;
                    let rows: Vec<_> = list
                        .into_iter()
                        .map(|c| serde_json::json!({ "id": c.id, "name": c.name, "balance": c.balance }))
                        .collect();
                    print_json(serde_json::json!({ "customers": rows }))
                }
            }
        }
        Command::User { command } => {
            let platform = admin_platform(&config, clock).await?;
            user_command(&platform, command).await
        }
        Command::Topup { customer, amount, reference } => {
            let platform = admin_platform(&config, clock).await?;
            let amount = Money::parse(&amount).map_err(|e| anyhow!("amount: {e}"))?;
            let entry = platform.top_up(&customer, amount, reference.as_deref()).await.map_err(|r| anyhow!("{r}"))?;
            print_json(serde_json::json!({ "seq": entry.seq, "amount": entry.amount, "balance": entry.balance_after }))
        }
        Command::Key { command } => {
            let platform = admin_platform(&config, clock).await?;
            match command {
                KeyCommand::Create { customer, label, rps } => {
                    let key = platform.create_api_key(&customer, &label, rps).await.map_err(|r| anyhow!("{r}"))?;
                    print_json(serde_json::json!({ "id": key.record.id, "secret": key.secret }))
                }
                KeyCommand::List { customer } => {
                    let keys = platform.api_keys(&customer).await.map_err(|r| anyhow!("{r}"))?;
                    let rows: Vec<_> = keys
                        .into_iter()
                        .map(|k| serde_json::json!({ "id": k.id, "label": k.label, "revoked": k.revoked_at.is_some() }))
                        .collect();
                    print_json(serde_json::json!({ "keys": rows }))
                }
                KeyCommand::Revoke { customer, key_id } => {
                    let key = platform.revoke_api_key(&customer, &key_id).await.map_err(|r| anyhow!("{r}"))?;
                    print_json(serde_json::json!({ "id": key.id, "revoked": true }))
                }
            }
        }
        Command::SmppAccount { command } => {
            let platform = admin_platform(&config, clock).await?;
            match command {
                SmppAccountCommand::Create { customer, system_id, settings } => {
                    let (account, password) = platform
                        .create_smpp_account(&customer, settings.request(system_id))
                        .await
                        .map_err(|r| anyhow!("{r}"))?;
                    print_json(serde_json::json!({ "account": account, "password": password }))
                }
                SmppAccountCommand::Update { customer, system_id, settings } => {
                    let account = platform
                        .update_smpp_account(&customer, &system_id, settings.request(None))
                        .await
                        .map_err(|r| anyhow!("{r}"))?;
                    print_json(serde_json::json!({ "account": account }))
                }
                SmppAccountCommand::List { customer } => {
                    let accounts = platform.smpp_accounts(&customer).await.map_err(|r| anyhow!("{r}"))?;
                    print_json(serde_json::json!({ "accounts": accounts }))
                }
                SmppAccountCommand::Delete { customer, system_id } => {
                    platform.delete_smpp_account(&customer, &system_id).await.map_err(|r| anyhow!("{r}"))?;
                    print_json(serde_json::json!({ "system_id": system_id, "deleted": true }))
                }
            }
        }
        Command::Config { .. } | Command::Bench { .. } | Command::SmscSim { .. } | Command::WebhookSink { .. } => {
            Ok(())
        }
    }
}

async fn run_simulator(
    listen: std::net::SocketAddr,
    receipt_delay_ms: u64,
    script: Option<PathBuf>,
    control: std::net::SocketAddr,
) -> anyhow::Result<()> {
    init_tracing("info");
    let mut signals = Signals::install()?;
    let script = match script {
        Some(path) => {
            Some(tongdao_simulator::Script::from_file(&path).with_context(|| format!("script {}", path.display()))?)
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    println!("SMSC simulator listening on smpp://{}", listener.local_addr()?);
    let config = tongdao_simulator::SimConfig {
        receipt_delay: std::time::Duration::from_millis(receipt_delay_ms),
        script,
        first_id: u64::try_from(tongdao_domain::Clock::now_ms(&SystemClock)).unwrap_or(1).saturating_mul(1000),
        ..Default::default()
    };
    let stats = std::sync::Arc::new(tongdao_simulator::SimStats::default());
    let sim = tongdao_simulator::Simulator::new(config, stats).map_err(|e| anyhow!("{e}"))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let control_listener =
        tokio::net::TcpListener::bind(control).await.with_context(|| format!("cannot listen on {control}"))?;
    println!("SMSC simulator control on http://{}/script", control_listener.local_addr()?);
    let controlling = tokio::spawn(tongdao_simulator::serve_control(control_listener, sim.clone(), stopped.clone()));
    let serving = tokio::spawn({
        let sim = sim.clone();
        async move { sim.serve(listener, stopped).await }
    });
    signals.wait().await;
    let _ = stop.send(true);
    let _ = serving.await;
    let _ = controlling.await;
    Ok(())
}

/// The platform for a CLI verb, on the same database as the server.
async fn admin_platform(config: &Config, clock: std::sync::Arc<SystemClock>) -> anyhow::Result<Platform> {
    let platform = open_platform(config, clock).await?;
    ensure_operator_token(&platform, config).await?;
    Ok(platform)
}

fn init_tracing(level: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn user_json(user: &tongdao_pipeline::users::ConsoleUser) -> serde_json::Value {
    serde_json::json!({
        "id": user.id, "area": user.area.as_str(), "customer": user.customer_id, "email": user.email,
        "role": user.role, "disabled": user.disabled_at.is_some(),
    })
}

async fn user_command(platform: &tongdao_pipeline::Platform, command: UserCommand) -> anyhow::Result<()> {
    use tongdao_pipeline::users::{ConsoleArea, UserUpdate};
    let fail = |r: tongdao_domain::Rejection| anyhow!("{r}");
    let area_of =
        |customer: &Option<String>| if customer.is_some() { ConsoleArea::Customer } else { ConsoleArea::Operator };
    let customer_id = |customer: Option<String>| async move {
        match customer {
            Some(c) => platform.customer(&c).await.map(|c| Some(c.id)),
            None => Ok(None),
        }
    };
    let find = |area: ConsoleArea, customer: Option<String>, email: String| async move {
        let customer = customer_id(customer).await.map_err(fail)?;
        let users = platform.console_users(area, customer.as_deref()).await.map_err(fail)?;
        let email = email.trim().to_lowercase();
        users.into_iter().find(|u| u.email == email).ok_or_else(|| anyhow!("no such user: {email}"))
    };
    match command {
        UserCommand::Create { email, role, customer, password } => {
            let area = area_of(&customer);
            let customer = customer_id(customer).await.map_err(fail)?;
            let (user, generated) = platform
                .create_console_user(area, customer.as_deref(), &email, &role, password.as_deref())
                .await
                .map_err(fail)?;
            let mut out = user_json(&user);
            if let Some(password) = generated {
                out["password"] = serde_json::Value::String(password);
            }
            print_json(out)
        }
        UserCommand::List { customer } => {
            let area = area_of(&customer);
            let customer = customer_id(customer).await.map_err(fail)?;
            let users = platform.console_users(area, customer.as_deref()).await.map_err(fail)?;
            print_json(serde_json::json!({ "users": users.iter().map(user_json).collect::<Vec<_>>() }))
        }
        UserCommand::Disable { email, customer, enable } => {
            let user = find(area_of(&customer), customer, email).await?;
            let update = UserUpdate { disabled: Some(!enable), ..UserUpdate::default() };
            let user = platform.change_console_user(&user.id, update, None).await.map_err(fail)?;
            print_json(user_json(&user))
        }
        UserCommand::ResetPassword { email, customer } => {
            let user = find(area_of(&customer), customer, email).await?;
            let password = tongdao_pipeline::users::generate_password();
            let update = UserUpdate { password: Some(password.clone()), ..UserUpdate::default() };
            let user = platform.change_console_user(&user.id, update, None).await.map_err(fail)?;
            let mut out = user_json(&user);
            out["password"] = serde_json::Value::String(password);
            print_json(out)
        }
    }
}
