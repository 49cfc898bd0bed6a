//! Configuration: defaults < TOML file < `TONGDAO_*` environment < command-line flags
//! (design decision 10). `tongdao config default` prints [`DEFAULT_TOML`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use tongdao_carrier::CarrierConfig;
use tongdao_domain::NumberingPlan;
use tongdao_domain::callback::CallbackPolicy;

/// The commented default configuration file.
pub const DEFAULT_TOML: &str = include_str!("../default-config.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL; unset, SQLite in `data_dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    pub http: SocketAddr,
    /// Open HTTP connections at most; more wait in the kernel's backlog.
    pub max_connections: usize,
    pub store: StoreConfig,
    pub numbering: NumberingConfig,
    pub provider: ProviderConfig,
    pub log: LogConfig,
    pub sweep_interval_ms: u64,
    pub simulator: SimulatorConfig,
    pub webhooks: WebhooksConfig,
    pub smpp: SmppConfig,
    pub compliance: ComplianceConfig,
    pub smtp: SmtpConfig,
    pub cluster: ClusterSection,
    pub console: ConsoleSection,
    /// `[[carrier]]`: the carriers' SMPP links. None configured: one link to the built-in
    /// simulator, when it is enabled.
    #[serde(default)]
    pub carrier: Vec<CarrierConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Start the built-in SMSC simulator inside `serve`.
    pub enabled: bool,
    /// Its SMPP listen address.
    pub listen: SocketAddr,
    /// Its HTTP control endpoint (script, MO injection, drops, counters).
    pub control: SocketAddr,
    /// Time from submit_sm to its receipt, in ms.
    pub receipt_delay_ms: u64,
    /// How tongdao's own link to it binds (when no `[[carrier]]` is configured).
    pub bind_mode: tongdao_carrier::BindModes,
}

/// `[cluster]`: several nodes on one PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// How long a node's heartbeat and its leases (carrier bind slots, webhook endpoints,
    /// periodic jobs) last without renewal: a dead node's work is taken over within it.
    pub lease_ms: u64,
}

/// `[console]`: the web console on the HTTP port (`/console/`, `/ops/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSection {
    /// Leave `Secure` off the session cookies: only for a console served over plain HTTP on
    /// another host than localhost. Behind TLS (or a TLS proxy) leave it `false`.
    pub insecure_cookies: bool,
}

/// `[smpp]`: the SMPP listener customers bind to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// PEM certificate chain and private key: with both set, the listener speaks TLS only.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Open connections at most, in total and from one address.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// deliver_sm (receipts, MO) outstanding on one bind at most.
    pub window: usize,
    /// Time a bind has to answer deliver_sm or enquire_link, in ms.
    pub response_timeout_ms: u64,
    /// Silence from a bind after which we send enquire_link, in ms.
    pub enquire_link_interval_ms: u64,
    /// Silence after which a bind is unbound and closed, in ms.
    pub idle_timeout_ms: u64,
    /// Receipts and MO no bind took in this many hours are dropped.
    pub delivery_expiry_hours: u64,
}

/// `[compliance]`: where the screening lexicons live, and the opt-out words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceConfig {
    /// The lexicon files; default `<data-dir>/lexicons` (the starter lexicons are written
    /// there when it does not exist).
    pub lexicon_dir: Option<PathBuf>,
    /// How often the lexicon files are checked for changes, in ms.
    pub reload_interval_ms: u64,
    /// A reply (MO) of one of these words alone opts its sender out of the customer's messages.
    pub opt_out_keywords: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Allow callback URLs on loopback addresses (`--demo` turns this on).
    pub allow_loopback: bool,
    /// Allow callback URLs in private ranges (RFC 1918, link-local, unique-local, CGNAT).
    pub allow_private: bool,
    /// Time allowed for one callback request, in ms.
    pub timeout_ms: u64,
    /// Events in one callback request, at most.
    pub max_batch: u32,
    /// Endpoints called at once, at most.
    pub concurrency: usize,
}

/// `[smtp]`: where written notices are emailed from. Without a `host`, notices are not
/// emailed (they are still at `GET /v1/notices` and sent as webhook events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    /// `starttls` (default), `tls` (SMTPS) or `none` (a trusted relay only).
    pub security: String,
    pub username: Option<String>,
    /// Better given as the environment variable `TONGDAO_SMTP__PASSWORD` than in a file.
    pub password: Option<String>,
    pub from: String,
    pub timeout_ms: u64,
    /// How often the notices due are looked for.
    pub poll_ms: u64,
}

impl SmtpConfig {
    /// The mailer's settings; `None` when no host is configured.
    pub fn mail(&self) -> anyhow::Result<Option<tongdao_notify::mail::MailConfig>> {
        use tongdao_notify::mail::SmtpSecurity;
        let Some(host) = self.host.clone().filter(|h| !h.is_empty()) else { return Ok(None) };
        let security = match self.security.as_str() {
            "starttls" => SmtpSecurity::StartTls,
            "tls" => SmtpSecurity::Tls,
            "none" => SmtpSecurity::None,
            other => anyhow::bail!("[smtp] security {other:?}: one of starttls, tls, none"),
        };
        let credentials = match (&self.username, &self.password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (None, None) => None,
            _ => anyhow::bail!("[smtp] username and password go together"),
        };
        Ok(Some(tongdao_notify::mail::MailConfig {
            host,
            port: self.port,
            security,
            credentials,
            from: self.from.clone(),
            timeout: std::time::Duration::from_millis(self.timeout_ms.max(100)),
            poll: std::time::Duration::from_millis(self.poll_ms.max(10)),
            retry_base: std::time::Duration::from_secs(30),
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub max_batch: usize,
    pub queue: usize,
    /// PostgreSQL connections per node at most.
    pub connections: usize,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberingConfig {
    /// Prefix of the 11-digit national number → carrier; adds to or replaces built-in rows.
    pub prefixes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `tongdao=debug,info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./tongdao-data"),
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 10_000,
            store: StoreConfig { max_batch: 1024, queue: 8192, connections: 16 },
            database_url: None,
            numbering: NumberingConfig::default(),
            provider: ProviderConfig {
                name: "tongdao SMS provider".into(),
                address: "to be configured in [provider]".into(),
            },
            log: LogConfig { level: "info".into() },
            sweep_interval_ms: 1000,
            simulator: SimulatorConfig {
                enabled: true,
                listen: SocketAddr::from(([127, 0, 0, 1], 2776)),
                control: SocketAddr::from(([127, 0, 0, 1], 2777)),
                receipt_delay_ms: 0,
                bind_mode: tongdao_carrier::BindModes::Transceiver,
            },
            webhooks: WebhooksConfig {
                allow_loopback: false,
                allow_private: false,
                timeout_ms: 5000,
                max_batch: 250,
                concurrency: 64,
            },
            smpp: SmppConfig {
                enabled: true,
                listen: SocketAddr::from(([127, 0, 0, 1], 2775)),
                tls_cert: None,
                tls_key: None,
                max_connections: 1000,
                max_connections_per_ip: 100,
                window: 64,
                response_timeout_ms: 10_000,
                enquire_link_interval_ms: 30_000,
                idle_timeout_ms: 120_000,
                delivery_expiry_hours: 72,
            },
            compliance: ComplianceConfig {
                lexicon_dir: None,
                reload_interval_ms: 2000,
                opt_out_keywords: tongdao_domain::optout::DEFAULT_KEYWORDS.iter().map(|k| (*k).to_owned()).collect(),
            },
            smtp: SmtpConfig {
                host: None,
                port: 587,
                security: "starttls".into(),
                username: None,
                password: None,
                from: "SMS service <noreply@localhost>".into(),
                timeout_ms: 10_000,
                poll_ms: 5_000,
            },
            cluster: ClusterSection { lease_ms: 5000 },
            console: ConsoleSection { insecure_cookies: false },
            carrier: Vec::new(),
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

const SECTIONS: &[&str] = &[
    "data_dir",
    "database_url",
    "http",
    "max_connections",
    "store",
    "numbering",
    "provider",
    "log",
    "sweep_interval_ms",
    "simulator",
    "webhooks",
    "smpp",
    "smtp",
    "cluster",
    "console",
];

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "config file {} does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        let env = Env::prefixed("TONGDAO_").split("__").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            SECTIONS
                .iter()
                .any(|s| key == *s || key.starts_with(&format!("{s}.")) || key.starts_with(&format!("{s}__")))
        });
        figment = figment.merge(env).merge(Serialized::defaults(overrides));
        let config: Config = figment.extract().context("invalid configuration")?;
        config.numbering_plan()?;
        anyhow::ensure!(
            config.smpp.tls_cert.is_some() == config.smpp.tls_key.is_some(),
            "[smpp] tls_cert and tls_key go together"
        );
        config.smtp.mail()?;
        if let Some(url) = &config.database_url {
            anyhow::ensure!(
                tongdao_store::postgres::is_postgres_url(url),
                "database_url must be a postgres:// or postgresql:// URL (unset, the store is SQLite in data_dir)"
            );
        }
        let mut names = std::collections::HashSet::new();
        for carrier in &config.carrier {
            carrier.validate().map_err(|e| anyhow::anyhow!("[[carrier]] {e}"))?;
            anyhow::ensure!(names.insert(carrier.name.as_str()), "[[carrier]] name {:?} is used twice", carrier.name);
        }
        Ok(config)
    }

    /// The carrier links to open: the configured ones, else one to the built-in simulator
    /// listening on `simulator` (when it runs).
    pub fn carriers(&self, simulator: Option<SocketAddr>) -> Vec<CarrierConfig> {
        let Some(simulator) = simulator.filter(|_| self.carrier.is_empty()) else {
            return self.carrier.clone();
        };
        vec![CarrierConfig {
            name: "simulator".into(),
            host: simulator.ip().to_string(),
            port: simulator.port(),
            system_id: "tongdao".into(),
            password: "sim".into(),
            source_addr: "10690000".into(),
            window: 256,
            bind_mode: self.simulator.bind_mode,
            ..CarrierConfig::default()
        }]
    }

    pub fn cluster(&self) -> tongdao_store::cluster::ClusterConfig {
        tongdao_store::cluster::ClusterConfig {
            lease: std::time::Duration::from_millis(self.cluster.lease_ms.max(300)),
        }
    }

    /// The SMPP listener's settings.
    pub fn smpp_server(&self) -> tongdao_smpp_server::ServerConfig {
        let ms = std::time::Duration::from_millis;
        tongdao_smpp_server::ServerConfig {
            listen: self.smpp.listen,
            tls: match (&self.smpp.tls_cert, &self.smpp.tls_key) {
                (Some(cert), Some(key)) => Some(tongdao_smpp_server::TlsFiles { cert: cert.clone(), key: key.clone() }),
                _ => None,
            },
            max_connections: self.smpp.max_connections.max(1),
            max_connections_per_ip: self.smpp.max_connections_per_ip.max(1),
            window: self.smpp.window.max(1),
            response_timeout: ms(self.smpp.response_timeout_ms.max(1)),
            enquire_link_interval: ms(self.smpp.enquire_link_interval_ms.max(1)),
            idle_timeout: ms(self.smpp.idle_timeout_ms.max(1)),
            ..tongdao_smpp_server::ServerConfig::default()
        }
    }

    pub fn callback_policy(&self) -> CallbackPolicy {
        CallbackPolicy { allow_loopback: self.webhooks.allow_loopback, allow_private: self.webhooks.allow_private }
    }

    /// The built-in prefix table with this config's overrides applied.
    pub fn numbering_plan(&self) -> anyhow::Result<NumberingPlan> {
        let mut plan = NumberingPlan::builtin();
        for (prefix, carrier) in &self.numbering.prefixes {
            plan.insert(prefix, carrier).with_context(|| format!("[numbering.prefixes] {prefix}"))?;
        }
        Ok(plan)
    }

    /// Where the store is, for messages: the PostgreSQL URL without its password, or the
    /// SQLite file.
    pub fn database_location(&self) -> String {
        match &self.database_url {
            Some(url) => tongdao_store::postgres::redact_url(url),
            None => self.database_path().display().to_string(),
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("tongdao.db")
    }
    pub fn operator_token_path(&self) -> PathBuf {
        self.data_dir.join("operator.token")
    }
    pub fn lexicon_dir(&self) -> PathBuf {
        self.compliance.lexicon_dir.clone().unwrap_or_else(|| self.data_dir.join("lexicons"))
    }

    /// `--demo`'s console users and their passwords: `{"ops@demo": "…", "dev@demo": "…"}`.
    pub fn demo_users_path(&self) -> PathBuf {
        self.data_dir.join("demo.users")
    }

    pub fn console_settings(&self) -> tongdao_console::ConsoleSettings {
        tongdao_console::ConsoleSettings { insecure_cookies: self.console.insecure_cookies }
    }

    pub fn demo_key_path(&self) -> PathBuf {
        self.data_dir.join("demo.key")
    }
    /// `--demo`'s SMPP credentials: `{"system_id": "…", "password": "…"}`.
    pub fn demo_smpp_path(&self) -> PathBuf {
        self.data_dir.join("demo.smpp")
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature is fixed
mod tests {
    use super::*;

    #[test]
    fn the_printed_default_file_is_the_default() {
        let parsed: Config = Figment::from(Toml::string(DEFAULT_TOML)).extract().expect("default file parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn layers_apply_in_order_file_then_environment_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "t.toml",
                "data_dir = \"from-file\"\nhttp = \"127.0.0.1:1000\"\n[log]\nlevel = \"debug\"\n",
            )?;
            let file = Some(Path::new("t.toml"));
            let c = Config::load(file, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!((c.data_dir.to_str(), c.http.port(), c.log.level.as_str()), (Some("from-file"), 1000, "debug"));

            jail.set_env("TONGDAO_HTTP", "127.0.0.1:2000");
            jail.set_env("TONGDAO_LOG__LEVEL", "warn");
            jail.set_env("TONGDAO_BENCH_KEY", "ignored, not a config key");
            let c = Config::load(file, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!((c.http.port(), c.log.level.as_str()), (2000, "warn"));

            let flags = Overrides {
                data_dir: Some("from-flag".into()),
                http: Some("127.0.0.1:3000".parse().map_err(|_| "addr")?),
                database_url: None,
            };
            let c = Config::load(file, &flags).map_err(|e| e.to_string())?;
            assert_eq!((c.data_dir.to_str(), c.http.port()), (Some("from-flag"), 3000));
            Ok(())
        });
    }

    #[test]
    fn the_database_url_comes_from_file_environment_or_flag_and_must_be_postgres() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.database_url, None, "SQLite unless a URL is given");
            jail.create_file("d.toml", "database_url = \"postgres://file@db/a\"\n")?;
            let file = Some(Path::new("d.toml"));
            let c = Config::load(file, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.database_url.as_deref(), Some("postgres://file@db/a"));
            jail.set_env("TONGDAO_DATABASE_URL", "postgresql://env:secret@db/b");
            let c = Config::load(file, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.database_url.as_deref(), Some("postgresql://env:secret@db/b"));
            assert_eq!(c.database_location(), "postgresql://env@db/b", "the password is never shown");
            let flags = Overrides { database_url: Some("postgres://flag@db/c".into()), ..Overrides::default() };
            let c = Config::load(file, &flags).map_err(|e| e.to_string())?;
            assert_eq!(c.database_url.as_deref(), Some("postgres://flag@db/c"));
            jail.set_env("TONGDAO_DATABASE_URL", "mysql://nope@db/d");
            let error = Config::load(None, &Overrides::default()).map(|_| ()).map_err(|e| e.to_string());
            assert!(matches!(&error, Err(e) if e.contains("postgres://")), "{error:?}");
            Ok(())
        });
    }

    #[test]
    fn carriers_are_read_from_the_file_and_the_simulator_link_is_the_fallback() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            let fallback = c.carriers(Some(c.simulator.listen));
            assert_eq!(fallback.len(), 1);
            assert_eq!((fallback[0].name.as_str(), fallback[0].port), ("simulator", 2776));
            jail.create_file(
                "c.toml",
                "[[carrier]]\nname = \"cmcc\"\nhost = \"10.0.0.5\"\nport = 7890\nsystem_id = \"sp01\"\n\
                 password = \"pw\"\nbind_mode = \"transmitter_receiver\"\nbinds = 2\nwindow = 64\ntps = 500\n\
                 long_message = \"sar\"\npriority = 1\n[carrier.destinations]\ncarriers = [\"mobile\"]\n\
                 prefixes = [\"86147\"]\n",
            )?;
            let c = Config::load(Some(Path::new("c.toml")), &Overrides::default()).map_err(|e| e.to_string())?;
            let carriers = c.carriers(Some(c.simulator.listen));
            assert_eq!(carriers.len(), 1, "configured carriers replace the simulator link");
            let cmcc = &carriers[0];
            assert_eq!((cmcc.port, cmcc.binds, cmcc.window, cmcc.tps), (7890, 2, 64, 500));
            assert_eq!(cmcc.bind_mode, tongdao_carrier::BindModes::TransmitterReceiver);
            assert_eq!(cmcc.long_message, tongdao_carrier::LongMessage::Sar);
            assert!(cmcc.serves(Some("mobile"), "8613800138000") && cmcc.serves(None, "8614712345678"));
            assert!(!cmcc.serves(Some("unicom"), "8613000000000"));
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_prefixes_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "htp = \"127.0.0.1:1\"\n")?;
            assert!(Config::load(Some(Path::new("typo.toml")), &Overrides::default()).is_err());
            jail.create_file("bad.toml", "[numbering.prefixes]\n\"99\" = \"mobile\"\n")?;
            assert!(Config::load(Some(Path::new("bad.toml")), &Overrides::default()).is_err());
            jail.create_file("ok.toml", "[numbering.prefixes]\n\"1400\" = \"iot\"\n")?;
            let c = Config::load(Some(Path::new("ok.toml")), &Overrides::default()).map_err(|e| e.to_string())?;
            jail.create_file("window.toml", "[[carrier]]\nname = \"a\"\nwindow = 0\n")?;
            assert!(Config::load(Some(Path::new("window.toml")), &Overrides::default()).is_err());
            jail.create_file("twice.toml", "[[carrier]]\nname = \"a\"\n[[carrier]]\nname = \"a\"\n")?;
            assert!(Config::load(Some(Path::new("twice.toml")), &Overrides::default()).is_err());
            let number = tongdao_domain::Msisdn::parse("14000000000").map_err(|e| e.to_string())?;
            let plan = c.numbering_plan().map_err(|e| e.to_string())?;
            assert_eq!(plan.classify(&number).map(|c| c.to_string()).as_deref(), Some("iot"));
            Ok(())
        });
    }

    #[test]
    fn the_smpp_listener_takes_tls_files_in_pairs_and_its_limits_from_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("half.toml", "[smpp]\ntls_cert = \"c.pem\"\n")?;
            assert!(Config::load(Some(Path::new("half.toml")), &Overrides::default()).is_err());
            jail.create_file(
                "tls.toml",
                "[smpp]\nlisten = \"127.0.0.1:3775\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\nwindow = 8\n",
            )?;
            let c = Config::load(Some(Path::new("tls.toml")), &Overrides::default()).map_err(|e| e.to_string())?;
            let server = c.smpp_server();
            assert_eq!(server.listen.port(), 3775);
            assert_eq!(server.window, 8);
            let tls = server.tls.ok_or("TLS configured")?;
            assert_eq!((tls.cert.as_path(), tls.key.as_path()), (Path::new("c.pem"), Path::new("k.pem")));
            assert!(Config::default().smpp_server().tls.is_none());
            Ok(())
        });
    }
}
