//! The customer-facing SMPP 3.4 server: toward customers we are the MC (SMSC), enterprise
//! customers bind as ESMEs over TCP or TLS. Everything the platform does (who may bind, what a
//! submit_sm costs and where it is stored, which receipts and MO messages wait) sits behind
//! the [`Backend`] trait; this crate owns only the protocol, the sessions and their limits.
//!
//! # Layout
//! - `server`: the listener (TLS when configured), connection caps (total and per peer IP),
//!   the registry of live sessions and binds, [`Server::wake`], [`Server::stats`],
//!   [`Server::sessions`] and [`Server::shutdown`];
//! - `session`: one connection — framing capped before allocation, binds through
//!   [`Backend::authenticate`], submit_sm throttled per system_id and batched per socket read
//!   into one [`Backend::submit`] with a bounded number of PDUs in flight (backpressure: the
//!   socket is not read while the bound is reached), query_sm / cancel_sm, enquire_link both
//!   ways, idle and bind timeouts, unbind both ways, and one writer task per connection that
//!   writes everything queued in one syscall;
//! - `pump`: one delivery pump per customer with a receiving bind: reads
//!   [`Backend::pending`] from a cursor, sends deliver_sm round robin over the customer's
//!   receiver and transceiver binds within each bind's window, acknowledges in batches
//!   ([`Backend::delivered`]), re-sends what failed or timed out after
//!   [`ServerConfig::redeliver_after`];
//! - `throttle`: the token bucket shared by all binds of one system_id;
//! - `tls`: loading the PEM certificate chain and key (rustls with ring);
//! - [`platform`]: the [`Backend`] over the real platform.
//!
//! # Protocol choices
//! - interface_version below 0x34 is SMPP 3.3: no TLV in any PDU we send (deliver_sm bodies
//!   are stripped of theirs), no sc_interface_version in the bind response. 0x34 and above get
//!   sc_interface_version = 0x34.
//! - Refused binds are answered with a header-only bind response carrying the status, then
//!   the connection is closed. A refused or throttled submit_sm gets an empty message_id.
//! - deliver_sm, outbind, bind responses and any other PDU an ESME has no business sending
//!   are answered generic_nack ESME_RINVCMDID; data_sm and replace_sm are not supported and
//!   are answered with their own response carrying ESME_RINVCMDID.
//! - Every PDU from the peer counts as traffic, enquire_link_resp included: after
//!   [`ServerConfig::enquire_link_interval`] of silence we send enquire_link (no answer within
//!   [`ServerConfig::response_timeout`] closes the connection), after
//!   [`ServerConfig::idle_timeout`] we unbind.
//! - `Account::max_binds` counts open binds of one system_id across the server; 0 allows none.
//!   `Account::tps` 0 is unlimited.
//! - Deliveries are at least once: a pump that starts (a customer's first receiving bind after
//!   none) reads from the start, so whatever was sent but not acknowledged is sent again.
//!
//! # Must never
//! Queue without bound (every channel, batch and retry list is capped); panic on any input;
//! log a password, a phone number or a message text; send one customer's deliveries to
//! another customer's bind; send the same delivery on two binds at once; answer a submit_sm
//! OK before the backend said it is stored.

pub mod platform;
mod pump;
mod server;
mod session;
mod throttle;
mod tls;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use server::{Server, ServerStats, SessionInfo};
pub use tongdao_smpp::pdu::{CancelSm, QuerySm, QuerySmResp, Sm};
pub use tongdao_smpp::status::{
    ESME_RALYBND, ESME_RBINDFAIL, ESME_RCANCELFAIL, ESME_RINVBNDSTS, ESME_RINVCMDID, ESME_RINVCMDLEN, ESME_RINVDSTADR,
    ESME_RINVMSGID, ESME_RINVPASWD, ESME_RINVSRCADR, ESME_RINVSYSID, ESME_RMSGQFUL, ESME_ROK, ESME_RQUERYFAIL,
    ESME_RSUBMITFAIL, ESME_RSYSERR, ESME_RTHROTTLED,
};

/// The server's settings; [`Default`] gives the production values.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen; default 127.0.0.1:2775.
    pub listen: SocketAddr,
    /// When set, the listener speaks TLS only.
    pub tls: Option<TlsFiles>,
    /// Our system_id in bind responses; default "tongdao".
    pub system_id: String,
    /// Open connections in total; default 1000.
    pub max_connections: usize,
    /// Open connections from one peer IP; default 100.
    pub max_connections_per_ip: usize,
    /// The largest command_length accepted; default 70,000.
    pub max_pdu_len: u32,
    /// deliver_sm outstanding per bind; default 64.
    pub window: usize,
    /// submit_sm (and query_sm / cancel_sm) waiting for the backend per session; at the bound
    /// the socket is not read until some complete. Default 256.
    pub max_in_flight_submits: usize,
    /// How long we wait for deliver_sm_resp, enquire_link_resp and unbind_resp; default 10 s.
    pub response_timeout: Duration,
    /// Silence from the peer after which we send enquire_link; default 30 s.
    pub enquire_link_interval: Duration,
    /// Silence from the peer after which we unbind and close; default 120 s.
    pub idle_timeout: Duration,
    /// Time an unbound connection has to bind; default 10 s.
    pub bind_timeout: Duration,
    /// Pause before a deliver_sm that failed or timed out is sent again; default 5 s.
    pub redeliver_after: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 2775)),
            tls: None,
            system_id: "tongdao".into(),
            max_connections: 1000,
            max_connections_per_ip: 100,
            max_pdu_len: 70_000,
            window: 64,
            max_in_flight_submits: 256,
            response_timeout: Duration::from_secs(10),
            enquire_link_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            bind_timeout: Duration::from_secs(10),
            redeliver_after: Duration::from_secs(5),
        }
    }
}

/// PEM files for the TLS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How a session bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindMode {
    /// Transmitters and transceivers may send submit_sm, query_sm and cancel_sm.
    pub fn can_submit(self) -> bool {
        !matches!(self, BindMode::Receiver)
    }
    /// Receivers and transceivers are sent deliver_sm.
    pub fn can_receive(self) -> bool {
        !matches!(self, BindMode::Transmitter)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            BindMode::Transmitter => "transmitter",
            BindMode::Receiver => "receiver",
            BindMode::Transceiver => "transceiver",
        }
    }
}

/// What a successful authentication yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub customer_id: String,
    pub system_id: String,
    /// Open binds allowed for this system_id across the server (0: none).
    pub max_binds: u32,
    /// submit_sm per second for this system_id, all its binds together (0 = unlimited).
    pub tps: u32,
    /// Where this bind's messages come from, as records name it (`smpp:<system_id>@<ip>`).
    pub source: String,
}

/// A receipt or MO waiting for the customer, already shaped as a deliver_sm body.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The backend's id; [`Backend::pending`] returns them in ascending order.
    pub id: i64,
    pub sm: Sm,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// The platform behind the server.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Checks system_id, password and the peer's IP. Err is the bind command_status:
    /// ESME_RINVSYSID (unknown), ESME_RINVPASWD (bad password), ESME_RBINDFAIL (IP not
    /// allowed, account disabled).
    async fn authenticate(&self, system_id: &str, password: &str, peer: IpAddr) -> Result<Account, u32>;
    /// Accepts submit_sm bodies in one go (the same order back). Ok(message_id) means the
    /// message and its charge are durably stored; Err(command_status) refuses that one.
    async fn submit(&self, account: &Account, interface_version: u8, sms: Vec<Sm>) -> Vec<Result<String, u32>>;
    async fn query(&self, account: &Account, query: QuerySm) -> Result<QuerySmResp, u32>;
    async fn cancel(&self, account: &Account, cancel: CancelSm) -> Result<(), u32>;
    /// Deliveries waiting for this customer, oldest first, ids above `after_id`, at most `limit`.
    async fn pending(&self, customer_id: &str, after_id: i64, limit: u32) -> Result<Vec<Delivery>, BackendError>;
    /// These deliveries were answered deliver_sm_resp OK: forget them.
    async fn delivered(&self, customer_id: &str, ids: Vec<i64>) -> Result<(), BackendError>;
    /// A deliver_sm was answered with an error (`Some(status)`) or not at all (`None`); it
    /// stays pending.
    async fn not_delivered(&self, customer_id: &str, id: i64, status: Option<u32>);
    /// Whether this node may deliver to the customer's binds now. Several nodes: only the
    /// one holding the customer's delivery lease, so that a delivery goes out once.
    async fn may_deliver(&self, _customer_id: &str) -> bool {
        true
    }
    /// The customer's last receiving bind here closed: what [`Backend::may_deliver`] took
    /// for it goes back.
    async fn stop_delivering(&self, _customer_id: &str) {}
}
