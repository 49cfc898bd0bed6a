//! `tongdao bench http`: a load generator for the server's HTTP accept path.
//!
//! It sends single-recipient `POST /v1/messages` requests over N keep-alive
//! connections (one request in flight per connection) and reports how many
//! were accepted (`202`) per second and the latency distribution.
//!
//! # Design
//!
//! * **Runtime.** The generator runs on its own *current-thread* Tokio runtime,
//!   on a dedicated OS thread. The server under test usually runs on the same
//!   (small) machine, so the client is held to one core at most: a
//!   multi-thread runtime would put a worker on every core and take CPU away
//!   from the server's workers, and work stealing gains nothing for N
//!   independent request/response loops. One core goes well past 20,000 req/s
//!   here, since each request costs one `write` and usually one `read`.
//!   [`run_http`] waits for that thread through a oneshot channel, so it
//!   never blocks the caller's runtime.
//! * **Per-request cost.** Each connection task builds its request bytes once;
//!   only the 11 recipient digits are rewritten in place for each request.
//!   Responses are read into a buffer that is reused, and only the status line
//!   and the framing headers (`Content-Length`, `Transfer-Encoding`,
//!   `Connection`) are looked at. The usual path allocates nothing per request.
//! * **What counts.** The measured window runs from the end of the warm-up for
//!   `duration` seconds. A request counts when it completes, or fails, inside
//!   the window. `sent` is the number of counted requests; `accepted` counts the
//!   `202` answers, `other_status` the others; `errors` counts failed connects
//!   and failed requests (I/O error, malformed response, connection closed
//!   early) in the window. After an error the connection waits 10 ms and
//!   then reconnects, so an unreachable server costs no CPU to speak of.
//! * **Bounded.** At the end of the window every connection is dropped where it
//!   is. Requests still in flight are abandoned and not counted, so a run lasts
//!   `warmup + duration` plus connection setup, even against a server that
//!   hangs.
//! * **`--max-requests`** caps the requests sent over the whole run, warm-up
//!   included. If the cap ends the run early, `seconds` is the time from the end
//!   of the warm-up to the last counted completion.
//! * **Latency** runs from just before the request is written until the whole
//!   response has been read. It is recorded in microseconds in a log-linear
//!   histogram: exact below 256 µs, then 128 sub-buckets per power of two,
//!   under 0.8 % error. Each connection keeps its own histogram, and they are
//!   merged at the end.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Pause after a failed connect or request before trying again.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// How long the up-front connectivity check may take.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections allowed (each costs about 34 KiB of buffers plus a socket).
const MAX_CONNECTIONS: usize = 10_000;
/// Starting size of a connection's read buffer. It grows if a response needs more.
const INITIAL_BUF: usize = 8 * 1024;
/// Largest response (head and body) the client will buffer.
const MAX_RESPONSE: usize = 4 * 1024 * 1024;
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size or trailer line accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// The 8 varying digits of a recipient cover this many values.
const RECIPIENT_SPACE: u64 = 100_000_000;
/// Step through the recipient space. It is odd and not a multiple of 5, so it is
/// coprime with 10^8: `seq * STRIDE mod 10^8` visits every value exactly once.
const RECIPIENT_STRIDE: u64 = 48_271_573;
/// Digits in a recipient after `+86`.
const RECIPIENT_DIGITS: usize = 11;
/// Chinese mobile number prefixes (13x, 15x without 154, 18x).
const PREFIXES: [[u8; 3]; 29] = [
    *b"130", *b"131", *b"132", *b"133", *b"134", *b"135", *b"136", *b"137", *b"138", *b"139", *b"150", *b"151",
    *b"152", *b"153", *b"155", *b"156", *b"157", *b"158", *b"159", *b"180", *b"181", *b"182", *b"183", *b"184",
    *b"185", *b"186", *b"187", *b"188", *b"189",
];

/// Load-test the HTTP accept path: single-recipient `POST /v1/messages` over
/// keep-alive connections, reporting accepted msg/s and latency percentiles.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpBenchArgs {
    /// Base URL of the server, http only.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// File holding the API key (one line), e.g. tongdao-data/demo.key
    #[arg(long, default_value = "tongdao-data/demo.key")]
    pub key_file: PathBuf,
    /// API key given directly (wins over --key-file)
    #[arg(long, env = "TONGDAO_BENCH_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Concurrent keep-alive connections, each with one request in flight
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Measured seconds
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up seconds not counted
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Stop after this many requests in total (0 = no cap)
    #[arg(long, default_value_t = 0)]
    pub max_requests: u64,
    /// Message text
    #[arg(long, default_value = "Your verification code is 123456.")]
    pub text: String,
    /// Recipients per request (the API takes up to 1000); each is one message.
    #[arg(long, default_value_t = 1)]
    pub recipients: usize,
}

/// Result of a benchmark run. Counts cover the measured window only.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Requests that completed or failed inside the measured window.
    pub sent: u64,
    /// Messages accepted: `202` answers times the recipients per request.
    pub accepted: u64,
    /// Answers with any other status, by status.
    pub other_status: BTreeMap<u16, u64>,
    /// Failed connects and failed requests.
    pub errors: u64,
    /// Length of the measured window in seconds.
    pub seconds: f64,
    /// Latency percentiles over all answered requests, in milliseconds.
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl BenchReport {
    /// Accepted messages per second over the measured window.
    pub fn accepted_per_sec(&self) -> f64 {
        if self.seconds > 0.0 { self.accepted as f64 / self.seconds } else { 0.0 }
    }

    /// The report as JSON, with the same field names plus `accepted_per_sec`.
    pub fn to_json(&self) -> serde_json::Value {
        let other: serde_json::Map<String, serde_json::Value> = self
            .other_status
            .iter()
            .map(|(status, count)| (status.to_string(), serde_json::Value::from(*count)))
            .collect();
        serde_json::json!({
            "sent": self.sent,
            "accepted": self.accepted,
            "accepted_per_sec": self.accepted_per_sec(),
            "other_status": other,
            "errors": self.errors,
            "seconds": self.seconds,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        })
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "accepted:   {:.1} msg/s ({} in {:.2} s)", self.accepted_per_sec(), self.accepted, self.seconds)?;
        writeln!(
            f,
            "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms
        )?;
        writeln!(f, "sent:       {}", self.sent)?;
        write!(f, "other:      ")?;
        if self.other_status.is_empty() {
            write!(f, "none")?;
        } else {
            for (i, (status, count)) in self.other_status.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{status}: {count}")?;
            }
        }
        writeln!(f)?;
        write!(f, "errors:     {}", self.errors)
    }
}

/// Runs the benchmark described by `args` and reports on the measured window.
///
/// The load runs on a current-thread runtime on a thread of its own (see the
/// module docs), and this future only waits for it. The run stops by itself
/// after `warmup + duration` seconds, or earlier when `max_requests` is reached.
/// Fails up front if the arguments are invalid, the key can't be read, or
/// nothing accepts connections at the URL. If this future is dropped, the load
/// thread still runs to the end of its (bounded) window before it exits.
pub async fn run_http(args: HttpBenchArgs) -> anyhow::Result<BenchReport> {
    let plan = Arc::new(Plan::prepare(&args).await?);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("tongdao-bench".to_owned())
        .spawn(move || {
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("building the bench runtime")
                .and_then(|runtime| {
                    let outcome = runtime.block_on(drive(plan));
                    drop(runtime);
                    outcome
                });
            // The receiver only goes away if the caller gave up on the run.
            let _ = tx.send(outcome);
        })
        .context("starting the bench thread")?;
    let (report, first_error) = rx.await.map_err(|_| anyhow!("the bench thread stopped without a result"))??;
    if report.errors > 0
        && let Some(error) = first_error
    {
        eprintln!("bench: {} errors; the first was: {error}", report.errors);
    }
    Ok(report)
}

/// Everything the connection tasks share, prepared before the clock starts.
#[derive(Debug)]
struct Plan {
    addr: SocketAddr,
    request: RequestTemplate,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    max_requests: u64,
    issued: AtomicU64,
}

impl Plan {
    async fn prepare(args: &HttpBenchArgs) -> anyhow::Result<Plan> {
        ensure!((1..=MAX_CONNECTIONS).contains(&args.connections), "--connections must be from 1 to {MAX_CONNECTIONS}");
        let warmup = seconds_arg("--warmup", args.warmup)?;
        let duration = seconds_arg("--duration", args.duration)?;
        ensure!(!duration.is_zero(), "--duration must be more than 0");
        let target = parse_url(&args.url)?;
        let key = resolve_key(args)?;
        ensure!((1..=1000).contains(&args.recipients), "--recipients must be from 1 to 1000");
        let request = RequestTemplate::new(&target, &key, &args.text, args.recipients)?;
        let addr = preflight(&target, &args.url).await?;
        Ok(Plan {
            addr,
            request,
            connections: args.connections,
            warmup,
            duration,
            max_requests: args.max_requests,
            issued: AtomicU64::new(0),
        })
    }

    /// Claims the right to send one more request, if `max_requests` allows it.
    fn take_ticket(&self) -> bool {
        self.max_requests == 0 || self.issued.fetch_add(1, Ordering::Relaxed) < self.max_requests
    }
}

fn seconds_arg(name: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| anyhow!("{name} must be a number of seconds >= 0, got {value}"))
}

/// Resolves the target and checks that something accepts connections there,
/// so a wrong URL fails at once instead of giving a report full of errors.
/// Returns the first resolved address that accepted.
async fn preflight(target: &Target, url: &str) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(target.connect.as_str())
        .await
        .with_context(|| format!("resolving {}", target.connect))?
        .collect();
    ensure!(!addrs.is_empty(), "{} resolved to no address", target.connect);
    let mut last_error = String::new();
    for addr in addrs {
        match tokio::time::timeout(PREFLIGHT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => return Ok(addr),
            Ok(Err(e)) => last_error = format!("{addr}: {e}"),
            Err(_) => last_error = format!("{addr}: timed out"),
        }
    }
    bail!("cannot connect to {url} ({last_error})")
}

/// The key from `--key`, or else the first line of `--key-file`.
fn resolve_key(args: &HttpBenchArgs) -> anyhow::Result<String> {
    let raw = match &args.key {
        Some(key) => key.clone(),
        None => std::fs::read_to_string(&args.key_file)
            .with_context(|| format!("reading the API key from {}", args.key_file.display()))?,
    };
    let key = raw.lines().next().unwrap_or_default().trim();
    ensure!(!key.is_empty(), "the API key is empty");
    ensure!(key.bytes().all(|b| b.is_ascii_graphic()), "the API key holds spaces, control or non-ASCII characters");
    Ok(key.to_owned())
}

/// Where to send requests, taken from the `--url`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// Value of the `Host` header: the URL's authority as written.
    authority: String,
    /// `host:port` to resolve and connect to.
    connect: String,
    /// Request target: the URL's path, if any, followed by `/v1/messages`.
    path: String,
}

fn parse_url(url: &str) -> anyhow::Result<Target> {
    let scheme_is = |scheme: &str| url.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme));
    if scheme_is("https://") {
        bail!("--url {url}: https is not supported, use http://");
    }
    ensure!(scheme_is("http://"), "--url {url}: must start with http://");
    let rest = &url["http://".len()..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    ensure!(!authority.is_empty(), "--url {url}: no host");
    ensure!(!authority.contains('@') && !authority.contains(char::is_whitespace), "--url {url}: unsupported host part");
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']').ok_or_else(|| anyhow!("--url {url}: unclosed IPv6 address"))?;
        let (host, after) = authority.split_at(close + 1);
        let port = match after.strip_prefix(':') {
            Some(port) => port,
            None if after.is_empty() => "80",
            None => bail!("--url {url}: unexpected text after the IPv6 address"),
        };
        (host, port)
    } else {
        authority.rsplit_once(':').unwrap_or((authority, "80"))
    };
    ensure!(!host.is_empty() && host != "[]", "--url {url}: no host");
    let port: u16 = port.parse().map_err(|_| anyhow!("--url {url}: bad port {port:?}"))?;
    let base = tail.split(['?', '#']).next().unwrap_or_default();
    Ok(Target {
        authority: authority.to_owned(),
        connect: format!("{host}:{port}"),
        path: format!("{}/v1/messages", base.trim_end_matches('/')),
    })
}

/// A complete request whose recipient digits are rewritten for each send.
#[derive(Debug, Clone)]
struct RequestTemplate {
    bytes: Vec<u8>,
    /// Offsets of the 11 digits following each `+86` in `bytes`.
    digits_at: Vec<usize>,
}

impl RequestTemplate {
    fn new(target: &Target, key: &str, text: &str, recipients: usize) -> anyhow::Result<RequestTemplate> {
        let text_json = serde_json::to_string(text).context("encoding the message text")?;
        let recipients = recipients.max(1);
        // One recipient as a string (the common single send), several as an array.
        let (open, close) = if recipients == 1 { ("", "") } else { ("[", "]") };
        let body_head = format!(r#"{{"to":{open}"#);
        let one = r#""+86"#.len() + RECIPIENT_DIGITS + 1;
        let body_tail = format!(r#"{close},"text":{text_json}}}"#);
        let body_len = body_head.len() + recipients * one + (recipients - 1) + body_tail.len();
        let head = format!(
            "POST {path} HTTP/1.1\r\n\
             Host: {host}\r\n\
             Authorization: Bearer {key}\r\n\
             Content-Type: application/json\r\n\
             Content-Length: {body_len}\r\n\
             \r\n",
            path = target.path,
            host = target.authority,
        );
        let mut bytes = Vec::with_capacity(head.len() + body_len);
        bytes.extend_from_slice(head.as_bytes());
        bytes.extend_from_slice(body_head.as_bytes());
        let mut digits_at = Vec::with_capacity(recipients);
        for i in 0..recipients {
            if i > 0 {
                bytes.push(b',');
            }
            bytes.extend_from_slice(br#""+86"#);
            digits_at.push(bytes.len());
            bytes.resize(bytes.len() + RECIPIENT_DIGITS, b'0');
            bytes.push(b'"');
        }
        bytes.extend_from_slice(body_tail.as_bytes());
        let mut template = RequestTemplate { bytes, digits_at };
        template.set_recipient(0);
        Ok(template)
    }

    /// Writes the recipients for request number `seq` into the request.
    fn set_recipient(&mut self, seq: u64) {
        let k = self.digits_at.len() as u64;
        for (i, at) in self.digits_at.iter().enumerate() {
            if let Some(digits) = self.bytes.get_mut(*at..*at + RECIPIENT_DIGITS) {
                write_recipient(digits, seq.wrapping_mul(k).wrapping_add(i as u64));
            }
        }
    }

    fn recipients(&self) -> u64 {
        self.digits_at.len() as u64
    }
}

/// Fills `out` (11 bytes) with a mobile number: a 13x/15x/18x prefix and 8
/// digits. Distinct `seq` values below 10^8 give distinct numbers.
fn write_recipient(out: &mut [u8], seq: u64) {
    let (prefix, digits) = out.split_at_mut(3);
    let prefix_index = (seq % PREFIXES.len() as u64) as usize;
    if let Some(p) = PREFIXES.get(prefix_index) {
        prefix.copy_from_slice(p);
    }
    let mut n = (seq % RECIPIENT_SPACE) * RECIPIENT_STRIDE % RECIPIENT_SPACE;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

// ---------------------------------------------------------------------------
// Driving the connections
// ---------------------------------------------------------------------------

/// The measured window.
#[derive(Debug, Clone, Copy)]
struct Window {
    warm_end: Instant,
    end: Instant,
}

impl Window {
    fn counts(&self, at: Instant) -> bool {
        at >= self.warm_end && at < self.end
    }
}

/// What one connection task saw inside the measured window.
#[derive(Debug)]
struct ConnStats {
    latency_us: Histogram,
    sent: u64,
    accepted: u64,
    other_status: BTreeMap<u16, u64>,
    errors: u64,
    last_counted: Option<Instant>,
    first_error: Option<String>,
}

impl ConnStats {
    fn new() -> ConnStats {
        ConnStats {
            latency_us: Histogram::new(),
            sent: 0,
            accepted: 0,
            other_status: BTreeMap::new(),
            errors: 0,
            last_counted: None,
            first_error: None,
        }
    }

    fn answered(&mut self, at: Instant, window: &Window, latency: Duration, status: u16, messages: u64) {
        if !window.counts(at) {
            return;
        }
        self.sent += 1;
        if status == 202 {
            self.accepted += messages;
        } else {
            *self.other_status.entry(status).or_insert(0) += 1;
        }
        self.latency_us.record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        self.last_counted = Some(at);
    }

    fn request_failed(&mut self, at: Instant, window: &Window, error: &ExchangeError) {
        if window.counts(at) {
            self.sent += 1;
            self.last_counted = Some(at);
            self.error(|| error.to_string());
        }
    }

    fn connect_failed(&mut self, at: Instant, window: &Window, message: impl FnOnce() -> String) {
        if window.counts(at) {
            self.error(message);
        }
    }

    fn error(&mut self, message: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message());
        }
    }

    fn merge(&mut self, other: ConnStats) {
        self.latency_us.merge(&other.latency_us);
        self.sent += other.sent;
        self.accepted += other.accepted;
        for (status, count) in other.other_status {
            *self.other_status.entry(status).or_insert(0) += count;
        }
        self.errors += other.errors;
        self.last_counted = self.last_counted.max(other.last_counted);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs all connections to the end of the window and builds the report, along
/// with the first error message seen in the window.
async fn drive(plan: Arc<Plan>) -> anyhow::Result<(BenchReport, Option<String>)> {
    let start = Instant::now();
    let window = start
        .checked_add(plan.warmup)
        .and_then(|warm_end| {
            let end = warm_end.checked_add(plan.duration)?;
            Some(Window { warm_end, end })
        })
        .context("--warmup plus --duration is too long")?;

    let mut tasks = Vec::with_capacity(plan.connections);
    for id in 0..plan.connections {
        let plan = Arc::clone(&plan);
        tasks.push(tokio::spawn(async move {
            let mut stats = ConnStats::new();
            // The hard stop: whatever is still in flight at the end of the
            // window is dropped along with its connection.
            let _ = tokio::time::timeout_at(window.end, connection(&plan, id, window, &mut stats)).await;
            stats
        }));
    }
    let mut total = ConnStats::new();
    for task in tasks {
        match task.await {
            Ok(stats) => total.merge(stats),
            Err(e) => total.error(|| format!("connection task failed: {e}")),
        }
    }

    let seconds = if Instant::now() >= window.end {
        plan.duration.as_secs_f64()
    } else {
        // Stopped early by --max-requests.
        total.last_counted.map_or(0.0, |last| last.saturating_duration_since(window.warm_end).as_secs_f64())
    };
    let ms = |q: f64| total.latency_us.quantile(q) as f64 / 1000.0;
    let report = BenchReport {
        sent: total.sent,
        accepted: total.accepted,
        other_status: std::mem::take(&mut total.other_status),
        errors: total.errors,
        seconds,
        p50_ms: ms(0.50),
        p90_ms: ms(0.90),
        p99_ms: ms(0.99),
        max_ms: total.latency_us.max() as f64 / 1000.0,
    };
    Ok((report, total.first_error))
}

/// One connection's loop: connect, then send requests one at a time until the
/// window ends or the request cap is reached; reconnect when needed.
async fn connection(plan: &Plan, id: usize, window: Window, stats: &mut ConnStats) {
    let mut request = plan.request.clone();
    let mut buf = vec![0u8; INITIAL_BUF];
    // Each connection starts at its own place in the recipient sequence.
    let mut seq = id as u64 * (RECIPIENT_SPACE / plan.connections as u64);
    loop {
        if Instant::now() >= window.end {
            return;
        }
        let mut stream = match TcpStream::connect(plan.addr).await {
            Ok(stream) => stream,
            Err(e) => {
                stats.connect_failed(Instant::now(), &window, || format!("connecting to {}: {e}", plan.addr));
                tokio::time::sleep(ERROR_BACKOFF).await;
                continue;
            }
        };
        // Each request goes out in one write; don't let Nagle hold it back.
        // Failing to set the option only costs latency, so it is not an error.
        let _ = stream.set_nodelay(true);
        loop {
            let started = Instant::now();
            if started >= window.end || !plan.take_ticket() {
                return;
            }
            request.set_recipient(seq);
            seq = seq.wrapping_add(1);
            let outcome = exchange(&mut stream, &request.bytes, &mut buf).await;
            let done = Instant::now();
            match outcome {
                Ok(response) => {
                    stats.answered(done, &window, done - started, response.status, request.recipients());
                    if response.close {
                        break;
                    }
                }
                Err(e) => {
                    stats.request_failed(done, &window, &e);
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    break;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP/1.1 client side
// ---------------------------------------------------------------------------

/// What the client keeps of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Response {
    status: u16,
    /// The server will close the connection after this response.
    close: bool,
}

#[derive(Debug)]
enum ExchangeError {
    Io(io::Error),
    /// The server closed the connection before a full response; `partial` if
    /// some of it had arrived.
    Closed {
        partial: bool,
    },
    Protocol(&'static str),
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::Io(e) => write!(f, "I/O error: {e}"),
            ExchangeError::Closed { partial: false } => {
                write!(f, "connection closed before a response")
            }
            ExchangeError::Closed { partial: true } => {
                write!(f, "connection closed in the middle of a response")
            }
            ExchangeError::Protocol(what) => write!(f, "bad response: {what}"),
        }
    }
}

impl From<io::Error> for ExchangeError {
    fn from(e: io::Error) -> Self {
        ExchangeError::Io(e)
    }
}

impl From<ParseError> for ExchangeError {
    fn from(e: ParseError) -> Self {
        ExchangeError::Protocol(e.0)
    }
}

/// Sends one request and reads its response.
async fn exchange<S>(stream: &mut S, request: &[u8], buf: &mut Vec<u8>) -> Result<Response, ExchangeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(request).await?;
    read_response(stream, buf).await
}

/// Reads one full response into `buf`, which is reused between calls and grown
/// (up to [`MAX_RESPONSE`]) only when a response doesn't fit.
async fn read_response<S>(stream: &mut S, buf: &mut Vec<u8>) -> Result<Response, ExchangeError>
where
    S: AsyncRead + Unpin,
{
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() >= MAX_RESPONSE {
                return Err(ExchangeError::Protocol("response too large"));
            }
            let grown = (buf.len() * 2).clamp(INITIAL_BUF, MAX_RESPONSE);
            buf.resize(grown, 0);
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(ExchangeError::Closed { partial: filled > 0 });
        }
        filled += n;
        match parse_response(&buf[..filled])? {
            Parsed::Partial => {}
            Parsed::Complete { status, len, close } => {
                // Only one request is ever in flight, so nothing may follow.
                if len != filled {
                    return Err(ExchangeError::Protocol("unexpected bytes after the response"));
                }
                return Ok(Response { status, close });
            }
            Parsed::UntilClose { status } => {
                // The body runs to the end of the connection: read and drop it.
                while stream.read(&mut buf[..]).await? > 0 {}
                return Ok(Response { status, close: true });
            }
        }
    }
}

/// What [`parse_response`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parsed {
    /// More bytes are needed.
    Partial,
    /// A full response of `len` bytes (any interim 1xx heads, head and body).
    Complete { status: u16, len: usize, close: bool },
    /// The head is complete and the body lasts until the server closes.
    UntilClose { status: u16 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ParseError(&'static str);

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    NoBody,
    Length(usize),
    Chunked,
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    framing: Framing,
    close: bool,
}

/// Looks for one complete HTTP/1.x response at the start of `buf`. Interim
/// `1xx` responses are skipped. Needs no state between calls: call it again on
/// the grown buffer after each read.
fn parse_response(buf: &[u8]) -> Result<Parsed, ParseError> {
    let mut offset = 0;
    loop {
        let rest = buf.get(offset..).unwrap_or_default();
        let Some(head_len) = find_head_end(rest) else {
            if rest.len() > MAX_HEAD {
                return Err(ParseError("response head too large"));
            }
            return Ok(Parsed::Partial);
        };
        let head = parse_head(&rest[..head_len])?;
        let body_start = offset + head_len;
        if (100..200).contains(&head.status) {
            if head.status == 101 {
                return Err(ParseError("unexpected 101 Switching Protocols"));
            }
            offset = body_start;
            continue;
        }
        let body = &buf[body_start..];
        let complete =
            |body_len: usize| Parsed::Complete { status: head.status, len: body_start + body_len, close: head.close };
        return Ok(match head.framing {
            Framing::NoBody => complete(0),
            Framing::Length(n) if body.len() >= n => complete(n),
            Framing::Length(_) => Parsed::Partial,
            Framing::Chunked => match chunked_body_len(body)? {
                Some(n) => complete(n),
                None => Parsed::Partial,
            },
            Framing::UntilClose => Parsed::UntilClose { status: head.status },
        });
    }
}

/// Length of the head including its final empty line, once it is all there.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4)
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Parses a head (status line and header lines, blank line included).
fn parse_head(head: &[u8]) -> Result<Head, ParseError> {
    let mut lines = head.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let (minor, status) = parse_status_line(lines.next().unwrap_or_default())?;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut other_coding = false;
    let mut close = false;
    let mut keep_alive = false;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(ParseError("header line without a colon"))?;
        let name = line[..colon].trim_ascii();
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_decimal(value)?;
            if content_length.is_some_and(|seen| seen != n) {
                return Err(ParseError("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // What counts is the last coding applied.
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default().trim_ascii();
            chunked = last.eq_ignore_ascii_case(b"chunked");
            other_coding = !chunked;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if option.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    let close = close || (minor == 0 && !keep_alive);
    // Transfer-Encoding takes precedence over Content-Length.
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::NoBody
    } else if chunked {
        Framing::Chunked
    } else if other_coding {
        Framing::UntilClose
    } else if let Some(n) = content_length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    let close = close || framing == Framing::UntilClose;
    Ok(Head { status, framing, close })
}

/// Parses `HTTP/1.x NNN [reason]`, giving the minor version and the status.
fn parse_status_line(line: &[u8]) -> Result<(u8, u16), ParseError> {
    const BAD: ParseError = ParseError("malformed status line");
    let (version, rest) = line.split_at_checked(8).ok_or(BAD)?;
    let minor = match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => minor - b'0',
        _ => return Err(BAD),
    };
    let status = match rest {
        [b' ', a, b, c] | [b' ', a, b, c, b' ', ..] => {
            if !(a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit()) {
                return Err(BAD);
            }
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(BAD),
    };
    if status < 100 {
        return Err(BAD);
    }
    Ok((minor, status))
}

fn parse_decimal(digits: &[u8]) -> Result<usize, ParseError> {
    const BAD: ParseError = ParseError("bad Content-Length");
    if digits.is_empty() {
        return Err(BAD);
    }
    digits.iter().try_fold(0usize, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(BAD);
        }
        n.checked_mul(10).and_then(|n| n.checked_add(usize::from(b - b'0'))).ok_or(BAD)
    })
}

fn parse_hex(digits: &[u8]) -> Result<usize, ParseError> {
    const BAD: ParseError = ParseError("bad chunk size");
    if digits.is_empty() {
        return Err(BAD);
    }
    digits.iter().try_fold(0usize, |n, &b| {
        let d = char::from(b).to_digit(16).ok_or(BAD)?;
        n.checked_mul(16).and_then(|n| n.checked_add(d as usize)).ok_or(BAD)
    })
}

/// Length of a complete chunked body (chunks, last chunk, trailers and the
/// final empty line) at the start of `body`, or `None` if more is needed.
fn chunked_body_len(body: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut pos = 0;
    loop {
        let rest = &body[pos..];
        let Some(line_len) = find_crlf(rest) else {
            if rest.len() > MAX_CHUNK_LINE {
                return Err(ParseError("chunk size line too long"));
            }
            return Ok(None);
        };
        let line = &rest[..line_len];
        // Chunk extensions (`;name=value`) are ignored.
        let size_digits = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
        let size = parse_hex(size_digits)?;
        pos += line_len + 2;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let rest = &body[pos..];
                let Some(line_len) = find_crlf(rest) else {
                    if rest.len() > MAX_CHUNK_LINE {
                        return Err(ParseError("trailer line too long"));
                    }
                    return Ok(None);
                };
                pos += line_len + 2;
                if line_len == 0 {
                    return Ok(Some(pos));
                }
            }
        }
        let data_end = pos.checked_add(size).ok_or(ParseError("bad chunk size"))?;
        let Some(after) = body.get(data_end..) else {
            return Ok(None);
        };
        match after {
            [b'\r', b'\n', ..] => pos = data_end + 2,
            [] | [b'\r'] => return Ok(None),
            _ => return Err(ParseError("chunk data not followed by CRLF")),
        }
    }
}

// ---------------------------------------------------------------------------
// Latency histogram
// ---------------------------------------------------------------------------

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// Values from 2^TOP_BITS µs (about 71 minutes) up are recorded as the largest.
const TOP_BITS: u32 = 32;
const BUCKETS: usize = (TOP_BITS - SUB_BITS + 1) as usize * SUB;

/// A fixed-size log-linear histogram of `u64` values (here microseconds), in
/// the manner of HDR histograms: values below `2 * SUB` each have their own
/// bucket, and every power of two above that is cut into `SUB` equal buckets,
/// so a bucket is never wider than 1/`SUB` of its values.
#[derive(Debug, Clone)]
struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram { counts: vec![0; BUCKETS].into_boxed_slice(), total: 0, max: 0 }
    }

    fn bucket_of(value: u64) -> usize {
        let value = value.min((1 << TOP_BITS) - 1);
        let log2 = 63 - (value | 1).leading_zeros();
        let shift = log2.saturating_sub(SUB_BITS);
        shift as usize * SUB + (value >> shift) as usize
    }

    /// Largest value that falls in bucket `index`.
    fn bucket_high(index: usize) -> u64 {
        let shift = if index < 2 * SUB { 0 } else { index / SUB - 1 };
        let mantissa = (index - shift * SUB) as u64;
        ((mantissa + 1) << shift) - 1
    }

    fn record(&mut self, value: u64) {
        if let Some(count) = self.counts.get_mut(Self::bucket_of(value)) {
            *count += 1;
        }
        self.total += 1;
        self.max = self.max.max(value);
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1): the top of the bucket holding the
    /// `ceil(q * total)`-th smallest value, but never above the largest
    /// value recorded (which is what quantile 1 gives). 0 when empty.
    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                // The top bucket also holds the clamped values: no bound but max.
                if rank == self.total || index == BUCKETS - 1 {
                    return self.max;
                }
                return Self::bucket_high(index).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    // --- response parser -------------------------------------------------

    fn complete(status: u16, len: usize, close: bool) -> Parsed {
        Parsed::Complete { status, len, close }
    }

    /// Every proper prefix of `full` is `Partial`, and `full` parses to `expected`.
    fn assert_parses_only_when_whole(full: &[u8], expected: Parsed) {
        for cut in 0..full.len() {
            assert_eq!(
                parse_response(&full[..cut]),
                Ok(Parsed::Partial),
                "prefix of {cut} bytes of {:?}",
                String::from_utf8_lossy(full)
            );
        }
        assert_eq!(parse_response(full), Ok(expected));
    }

    #[test]
    fn parses_content_length_response() {
        let full =
            b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\ncontent-length: 13\r\n\r\n{\"id\":\"abc\"}\n";
        assert_parses_only_when_whole(full, complete(202, full.len(), false));
    }

    #[test]
    fn parses_chunked_response() {
        let full = b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n\
            5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n";
        assert_parses_only_when_whole(full, complete(202, full.len(), false));
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let full =
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(parse_response(full), Ok(complete(200, full.len(), false)));
    }

    #[test]
    fn parses_status_only_and_close_and_interim() {
        let full = b"HTTP/1.1 204 No Content\r\nConnection: keep-alive, Close\r\n\r\n";
        assert_eq!(parse_response(full), Ok(complete(204, full.len(), true)));

        let full = b"HTTP/1.0 429\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(parse_response(full), Ok(complete(429, full.len(), true)));

        let full = b"HTTP/1.0 202 Accepted\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(full), Ok(complete(202, full.len(), false)));

        let full = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}";
        assert_parses_only_when_whole(full, complete(202, full.len(), false));
    }

    #[test]
    fn body_until_close_without_length() {
        let head = b"HTTP/1.1 500 Internal Server Error\r\n\r\n";
        assert_eq!(parse_response(head), Ok(Parsed::UntilClose { status: 500 }));
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(parse_response(head), Ok(Parsed::UntilClose { status: 200 }));
    }

    #[test]
    fn trailing_bytes_are_left_out_of_the_length() {
        let one = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}";
        let mut two = one.to_vec();
        two.extend_from_slice(one);
        assert_eq!(parse_response(&two), Ok(complete(202, one.len(), false)));
    }

    #[test]
    fn rejects_malformed_responses() {
        let bad: [&[u8]; 9] = [
            b"HTTP/2 202 Accepted\r\n\r\n",
            b"HTTP/1.1 20 Accepted\r\n\r\n",
            b"HTTP/1.1 2022 Accepted\r\n\r\n",
            b"HTTP/1.1 099 Odd\r\n\r\n",
            b"SMTP/1.1 202 Accepted\r\n\r\n",
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 1x\r\n\r\n",
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 202 Accepted\r\nNoColon\r\n\r\n",
            b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ];
        for response in bad {
            assert!(parse_response(response).is_err(), "accepted {:?}", String::from_utf8_lossy(response));
        }
        let missing_crlf = b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n";
        assert!(parse_response(missing_crlf).is_err());
        let huge_head = [b'a'; MAX_HEAD + 1];
        assert!(parse_response(&huge_head).is_err());
    }

    /// Feeds `pieces` to `read_response` through a pipe, one read at a time.
    async fn read_in_pieces(pieces: Vec<Vec<u8>>) -> Result<Response, ExchangeError> {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let writer = tokio::spawn(async move {
            for piece in pieces {
                server.write_all(&piece).await?;
                server.flush().await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            io::Result::Ok(())
        });
        let mut buf = vec![0u8; 16];
        let response = read_response(&mut client, &mut buf).await;
        drop(client);
        let _ = writer.await;
        response
    }

    #[tokio::test]
    async fn reads_responses_split_across_reads() {
        let response = read_in_pieces(vec![
            b"HTTP/1.1 202 Acc".to_vec(),
            b"epted\r\nContent-Len".to_vec(),
            b"gth: 5\r\n\r".to_vec(),
            b"\n{\"a\"".to_vec(),
            b"}".to_vec(),
        ])
        .await;
        assert_eq!(response.ok(), Some(Response { status: 202, close: false }));

        let response = read_in_pieces(vec![
            b"HTTP/1.1 503 Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4".to_vec(),
            b"\r\nbusy\r".to_vec(),
            b"\n0\r\n".to_vec(),
            b"\r\n".to_vec(),
        ])
        .await;
        assert_eq!(response.ok(), Some(Response { status: 503, close: false }));

        // A body larger than the buffer makes it grow.
        let body = vec![b'x'; 3 * INITIAL_BUF];
        let mut large = format!("HTTP/1.1 202 Accepted\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        large.extend_from_slice(&body);
        let response = read_in_pieces(vec![large]).await;
        assert_eq!(response.ok().map(|r| r.status), Some(202));

        // A body delimited by the end of the connection.
        let response = read_in_pieces(vec![b"HTTP/1.1 500 Oops\r\n\r\nsome".to_vec(), b" text".to_vec()]).await;
        assert_eq!(response.ok(), Some(Response { status: 500, close: true }));

        let response = read_in_pieces(vec![b"HTTP/1.1 202 Accepted\r\nContent-Le".to_vec()]).await;
        assert!(matches!(response, Err(ExchangeError::Closed { partial: true })));
    }

    // --- histogram --------------------------------------------------------

    #[test]
    fn histogram_buckets_are_contiguous_and_tight() {
        let mut previous_high = None;
        for index in 0..BUCKETS {
            let high = Histogram::bucket_high(index);
            let low = previous_high.map_or(0, |p: u64| p + 1);
            assert!(high >= low);
            assert_eq!(Histogram::bucket_of(low), index);
            assert_eq!(Histogram::bucket_of(high), index);
            // Relative width never exceeds 1/SUB.
            assert!((high - low) as f64 <= low.max(1) as f64 / SUB as f64);
            previous_high = Some(high);
        }
        assert_eq!(previous_high, Some((1u64 << TOP_BITS) - 1));
        assert_eq!(Histogram::bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn histogram_percentiles() {
        let mut h = Histogram::new();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=200 {
            h.record(v);
        }
        // Exact in the linear range.
        assert_eq!(h.quantile(0.5), 100);
        assert_eq!(h.quantile(0.9), 180);
        assert_eq!(h.quantile(0.99), 198);
        assert_eq!(h.quantile(1.0), 200);
        assert_eq!(h.quantile(0.0), 1);

        let mut wide = Histogram::new();
        for v in 1..=100_000u64 {
            wide.record(v * 10); // 10 µs .. 1 s
        }
        for (q, exact) in [(0.5, 500_000.0), (0.9, 900_000.0), (0.99, 990_000.0)] {
            let got = wide.quantile(q) as f64;
            assert!(got >= exact, "q{q}: {got} < {exact}");
            assert!((got - exact) / exact < 1.0 / SUB as f64, "q{q}: {got} vs {exact}");
        }
        assert_eq!(wide.quantile(1.0), 1_000_000);
        assert_eq!(wide.max(), 1_000_000);

        // Merging equals recording everything in one.
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        for v in 1..=100_000u64 {
            if v % 3 == 0 {
                a.record(v * 10);
            } else {
                b.record(v * 10);
            }
        }
        a.merge(&b);
        assert_eq!(a.total, wide.total);
        assert_eq!(a.counts, wide.counts);
        for q in [0.5, 0.9, 0.99, 1.0] {
            assert_eq!(a.quantile(q), wide.quantile(q));
        }

        // Outliers far out of range are clamped but max stays exact.
        let mut h = Histogram::new();
        h.record(5);
        h.record(u64::MAX);
        assert_eq!(h.quantile(0.5), 5);
        assert_eq!(h.quantile(1.0), u64::MAX);
    }

    // --- request building ------------------------------------------------

    #[test]
    fn parses_urls() -> anyhow::Result<()> {
        let t = parse_url("http://127.0.0.1:8080")?;
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.connect, "127.0.0.1:8080");
        assert_eq!(t.path, "/v1/messages");
        let t = parse_url("HTTP://localhost/api/")?;
        assert_eq!(t.connect, "localhost:80");
        assert_eq!(t.authority, "localhost");
        assert_eq!(t.path, "/api/v1/messages");
        let t = parse_url("http://[::1]:9000/?x=1")?;
        assert_eq!(t.connect, "[::1]:9000");
        assert_eq!(t.path, "/v1/messages");
        for bad in [
            "https://example.com",
            "ftp://x",
            "http://",
            "http://host:99999",
            "http://host:",
            "http://[::1",
            "http://user@host",
            "127.0.0.1:8080",
        ] {
            assert!(parse_url(bad).is_err(), "accepted {bad}");
        }
        Ok(())
    }

    #[test]
    fn request_is_well_formed_and_recipients_vary() -> anyhow::Result<()> {
        let target = parse_url("http://127.0.0.1:8080")?;
        let text = "code \"42\" \\ 验证码\n";
        let mut template = RequestTemplate::new(&target, "k-123", text, 1)?;
        let mut seen = std::collections::HashSet::new();
        for seq in (0..2_000u64).chain([RECIPIENT_SPACE - 1, 7 * RECIPIENT_SPACE / 8]) {
            template.set_recipient(seq);
            let raw = template.bytes.as_slice();
            let head_len = find_head_end(raw).context("no head end")?;
            let head = std::str::from_utf8(&raw[..head_len])?;
            let body = &raw[head_len..];
            assert!(head.starts_with("POST /v1/messages HTTP/1.1\r\n"));
            assert!(head.contains("\r\nHost: 127.0.0.1:8080\r\n"));
            assert!(head.contains("\r\nAuthorization: Bearer k-123\r\n"));
            assert!(head.contains("\r\nContent-Type: application/json\r\n"));
            assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
            let json: serde_json::Value = serde_json::from_slice(body)?;
            assert_eq!(json["text"], text);
            let to = json["to"].as_str().context("no to")?;
            assert_eq!(to.len(), 14);
            assert!(to.starts_with("+861"));
            assert!(matches!(&to[4..5], "3" | "5" | "8"));
            assert!(&to[3..6] != "154");
            assert!(to[1..].bytes().all(|b| b.is_ascii_digit()));
            seen.insert(to.to_owned());
        }
        assert_eq!(seen.len(), 2_002);
        Ok(())
    }

    #[test]
    fn key_comes_from_flag_or_file() -> anyhow::Result<()> {
        let mut args = test_args("127.0.0.1:1".parse()?);
        args.key = Some("  direct-key \n".into());
        assert_eq!(resolve_key(&args)?, "direct-key");

        let path = std::env::temp_dir().join(format!("tongdao-bench-key-{}", std::process::id()));
        std::fs::write(&path, "file-key\nignored\n")?;
        args.key = None;
        args.key_file = path.clone();
        let from_file = resolve_key(&args);
        std::fs::write(&path, "\n")?;
        let empty = resolve_key(&args);
        std::fs::remove_file(&path)?;
        assert_eq!(from_file?, "file-key");
        assert!(empty.is_err());

        args.key_file = PathBuf::from("/nonexistent/tongdao.key");
        assert!(resolve_key(&args).is_err());
        args.key = Some("bad key".into());
        assert!(resolve_key(&args).is_err());
        Ok(())
    }

    #[test]
    fn report_formats() {
        let report = BenchReport {
            sent: 1_010,
            accepted: 1_000,
            other_status: BTreeMap::from([(429, 7), (500, 3)]),
            errors: 2,
            seconds: 0.5,
            p50_ms: 1.25,
            p90_ms: 2.5,
            p99_ms: 4.0,
            max_ms: 9.0,
        };
        assert_eq!(report.accepted_per_sec(), 2_000.0);
        let text = report.to_string();
        assert!(text.contains("2000.0 msg/s"), "{text}");
        assert!(text.contains("p50 1.250"), "{text}");
        assert!(text.contains("p99 4.000"), "{text}");
        assert!(text.contains("max 9.000"), "{text}");
        assert!(text.contains("429: 7, 500: 3"), "{text}");
        assert!(text.contains("errors:     2"), "{text}");
        let json = report.to_json();
        assert_eq!(json["accepted"], 1_000);
        assert_eq!(json["accepted_per_sec"], 2_000.0);
        assert_eq!(json["other_status"]["429"], 7);
        assert_eq!(json["errors"], 2);
        assert_eq!(json["p90_ms"], 2.5);

        let empty = BenchReport {
            sent: 0,
            accepted: 0,
            other_status: BTreeMap::new(),
            errors: 0,
            seconds: 0.0,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
            max_ms: 0.0,
        };
        assert_eq!(empty.accepted_per_sec(), 0.0);
        assert!(empty.to_string().contains("other:      none"));
    }

    // --- end to end against an in-process server ---------------------------

    const TEST_KEY: &str = "test-key";
    const TEST_TEXT: &str = "hello \"world\" 验证码";

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum ServerMode {
        /// `202` with a Content-Length body, keep-alive.
        Accept,
        /// `202` with a chunked body, keep-alive.
        Chunked,
        /// `202` with `Connection: close`, then close.
        CloseEach,
        /// Accept the connection, then drop it at once.
        HangUp,
    }

    fn test_args(addr: SocketAddr) -> HttpBenchArgs {
        HttpBenchArgs {
            url: format!("http://{addr}"),
            key_file: PathBuf::from("/nonexistent/tongdao.key"),
            key: Some(TEST_KEY.to_owned()),
            connections: 4,
            duration: 0.5,
            warmup: 0.2,
            max_requests: 0,
            text: TEST_TEXT.to_owned(),
            recipients: 1,
        }
    }

    async fn start_server(mode: ServerMode) -> anyhow::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, mode));
            }
        });
        Ok(addr)
    }

    /// Whether a request is what the bench should send.
    fn request_ok(head: &str, body: &[u8]) -> bool {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
            return false;
        };
        let to = json["to"].as_str().unwrap_or_default();
        head.starts_with("POST /v1/messages HTTP/1.1\r\n")
            && head.contains(&format!("\r\nAuthorization: Bearer {TEST_KEY}\r\n"))
            && head.contains("\r\nContent-Type: application/json\r\n")
            && head.contains("\r\nHost: 127.0.0.1:")
            && json["text"] == TEST_TEXT
            && to.len() == 14
            && to.starts_with("+861")
            && to[1..].bytes().all(|b| b.is_ascii_digit())
    }

    /// A minimal HTTP/1.1 server: reads requests with a Content-Length body and
    /// answers `202` (or `400` when the request is not what the bench sends).
    async fn serve(mut socket: TcpStream, mode: ServerMode) {
        if mode == ServerMode::HangUp {
            return;
        }
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut served = 0u64;
        loop {
            let (head_len, body_len) = loop {
                if let Some(head_len) = find_head_end(&buf) {
                    let head = String::from_utf8_lossy(&buf[..head_len]).to_ascii_lowercase();
                    let body_len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= head_len + body_len {
                        break (head_len, body_len);
                    }
                }
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
            let ok = request_ok(&head, &buf[head_len..head_len + body_len]);
            buf.drain(..head_len + body_len);
            served += 1;
            let (status, body) = if ok {
                ("202 Accepted", format!(r#"{{"id":"m-{served}","status":"accepted"}}"#))
            } else {
                ("400 Bad Request", r#"{"error":"bad request"}"#.to_owned())
            };
            let response = match mode {
                ServerMode::Chunked => {
                    let (a, b) = body.split_at(body.len() / 2);
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                        a.len(),
                        b.len()
                    )
                }
                ServerMode::CloseEach => {
                    format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                }
                ServerMode::Accept | ServerMode::HangUp => format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
            };
            if socket.write_all(response.as_bytes()).await.is_err() || mode == ServerMode::CloseEach {
                return;
            }
        }
    }

    fn assert_clean_run(report: &BenchReport) {
        assert!(report.accepted > 0, "{report}");
        assert_eq!(report.errors, 0, "{report}");
        assert!(report.other_status.is_empty(), "{report}");
        assert_eq!(report.sent, report.accepted, "{report}");
        assert!(report.p50_ms > 0.0, "{report}");
        assert!(report.p50_ms <= report.p90_ms, "{report}");
        assert!(report.p90_ms <= report.p99_ms, "{report}");
        assert!(report.p99_ms <= report.max_ms, "{report}");
    }

    #[tokio::test]
    async fn run_http_against_in_process_server() -> anyhow::Result<()> {
        let addr = start_server(ServerMode::Accept).await?;
        let started = std::time::Instant::now();
        let report = run_http(test_args(addr)).await?;
        let elapsed = started.elapsed();
        assert_clean_run(&report);
        assert!((report.seconds - 0.5).abs() < 1e-9, "{report}");
        assert!(report.accepted_per_sec() > 0.0);
        assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        Ok(())
    }

    #[tokio::test]
    async fn handles_chunked_answers_and_closing_servers() -> anyhow::Result<()> {
        for mode in [ServerMode::Chunked, ServerMode::CloseEach] {
            let addr = start_server(mode).await?;
            let mut args = test_args(addr);
            args.warmup = 0.1;
            args.duration = 0.3;
            let report = run_http(args).await?;
            assert_clean_run(&report);
        }
        Ok(())
    }

    #[tokio::test]
    async fn respects_max_requests() -> anyhow::Result<()> {
        let addr = start_server(ServerMode::Accept).await?;
        let mut args = test_args(addr);
        args.warmup = 0.0;
        args.duration = 30.0;
        args.max_requests = 50;
        let started = std::time::Instant::now();
        let report = run_http(args).await?;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(report.accepted, 50, "{report}");
        assert_eq!(report.sent, 50, "{report}");
        assert!(report.seconds > 0.0 && report.seconds < 10.0, "{report}");
        Ok(())
    }

    #[tokio::test]
    async fn counts_errors_without_spinning() -> anyhow::Result<()> {
        let addr = start_server(ServerMode::HangUp).await?;
        let mut args = test_args(addr);
        args.warmup = 0.0;
        args.duration = 0.3;
        let started = std::time::Instant::now();
        let report = run_http(args).await?;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(report.accepted, 0, "{report}");
        assert!(report.errors > 0, "{report}");
        // 4 connections, 10 ms back-off each time, 0.3 s: about 120 at most.
        assert!(report.errors <= 4 * 40, "{report}");
        Ok(())
    }

    #[tokio::test]
    async fn fails_fast_when_nothing_listens() -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        drop(listener);
        assert!(run_http(test_args(addr)).await.is_err());

        let mut args = test_args(addr);
        args.connections = 0;
        assert!(run_http(args).await.is_err());
        let mut args = test_args(addr);
        args.duration = f64::NAN;
        assert!(run_http(args).await.is_err());
        Ok(())
    }
}
