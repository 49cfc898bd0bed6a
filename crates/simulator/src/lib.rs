//! A real SMSC (we play the MC) over SMPP 3.4 on TCP, for the demo, tests and benchmarks,
//! scriptable per run and at run time.
//!
//! # What it does
//! - Accepts binds as transmitter, receiver or transceiver (a second bind on a session is
//!   answered ESME_RALYBND), answers enquire_link and unbind. A malformed PDU is answered
//!   with generic_nack and the session goes on; a frame over [`MAX_PDU`] closes the session.
//! - Answers submit_sm from a transmitter or transceiver (from an unbound session or a
//!   receiver: ESME_RINVBNDSTS) as the [`Script`] in force says: throttled
//!   (ESME_RTHROTTLED, by fraction or over a TPS limit), rejected (ESME_RINVDSTADR), or
//!   accepted with a message id (hex, or decimal) and an outcome drawn by weight —
//!   DELIVRD, UNDELIV, EXPIRED, REJECTD or no receipt at all.
//! - Sends the receipt when the submit asks for one (registered_delivery 1, or 2 for
//!   failures only): a deliver_sm with esm_class 0x04, the receipt text and, unless the
//!   script turns them off, the receipted_message_id and message_state TLVs. The script
//!   sets its delay, whether it goes before the submit_sm_resp on the wire, and whether it
//!   goes on another session bound with the same system_id. A transmitter session is never
//!   sent a deliver_sm: its receipts go to a receiver-capable session of the same system_id
//!   or nowhere.
//! - Delays submit_sm_resp when scripted, without holding up other PDUs.
//! - Drops every session abruptly (no unbind) after a scripted number of submits, or on
//!   demand ([`Simulator::drop_sessions`]).
//! - Injects MO messages ([`Simulator::inject_mo`]): GSM 7-bit or UCS-2, long texts as
//!   concatenated parts with a user data header, round-robin over receiver-capable sessions.
//! - Stores and forwards what it originates, as a real carrier does: a deliver_sm (receipt or
//!   MO) not answered with deliver_sm_resp (whatever its status) when its session ends —
//!   dropped, closed by the peer, unbound — is sent again on another receiving session bound
//!   with the same system_id (round-robin), or kept until one binds and then sent in order;
//!   so is a receipt whose session ended before it was due. At most [`MAX_HELD`] are held per
//!   system_id; beyond that the oldest is dropped. A receipt for a transmitter with no
//!   receiving session bound when it is due still goes nowhere.
//! - Counts what it does in [`SimStats`].
//!
//! A [`Simulator`] holds the script, the live sessions and the counters; serve SMPP with
//! [`Simulator::serve`] and the control HTTP API ([`control`]) with [`serve_control`]. The
//! free functions [`serve`] and [`session`] are the simple forms for a fixed config.
//!
//! # Must never
//! Be used by production routing unless configured.

pub mod control;
mod mo;
mod registry;
mod script;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tongdao_smpp::Pdu;

pub use control::{MAX_BODY, control_router, serve_control};
pub use registry::{BindKind, MAX_HELD};
pub use script::{MAX_DELAY_MS, Outcome, Outcomes, Script, ScriptError};

use registry::Registry;
use script::ScriptCell;

/// The largest PDU accepted.
pub const MAX_PDU: u32 = 64 * 1024;

/// How long [`Simulator::inject_mo`] waits for room in a receiver's queue.
const MO_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The system_id in bind responses.
    pub system_id: String,
    /// Time from submit_sm_resp to its receipt, when `script` is `None`; at most
    /// [`MAX_DELAY_MS`], a longer one is cut to that.
    pub receipt_delay: Duration,
    /// The script to start with. `None`: the default script with `receipt_delay`; `Some`:
    /// this script, whole (its `receipt_delay_ms` wins over `receipt_delay`), refused by
    /// [`Simulator::new`] when invalid.
    pub script: Option<Script>,
    /// The first message id handed out. A simulator restarted with a later start (e.g. the
    /// time) does not hand out an id its previous run gave, as a real carrier would not.
    pub first_id: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            system_id: "tongdao-sim".into(),
            receipt_delay: Duration::from_millis(0),
            script: None,
            first_id: 1,
        }
    }
}

impl SimConfig {
    /// The script the simulator starts with.
    pub fn initial_script(&self) -> Script {
        match &self.script {
            Some(script) => script.clone(),
            None => Script {
                receipt_delay_ms: u64::try_from(self.receipt_delay.as_millis()).unwrap_or(u64::MAX).min(MAX_DELAY_MS),
                ..Script::default()
            },
        }
    }
}

/// Counters a test or benchmark reads.
#[derive(Debug, Default)]
pub struct SimStats {
    /// submit_sm received, whatever their answer.
    pub submits: AtomicU64,
    /// Receipts queued on a session.
    pub receipts: AtomicU64,
    /// generic_nack sent for PDUs that did not decode.
    pub generic_nacks: AtomicU64,
    /// submit_sm answered ESME_RTHROTTLED (by fraction or over the TPS limit).
    pub throttled: AtomicU64,
    /// submit_sm answered ESME_RINVDSTADR.
    pub rejected: AtomicU64,
    /// MO deliver_sm queued (one per part).
    pub mo: AtomicU64,
    /// Sessions bound now.
    pub sessions_bound: AtomicU64,
    /// Sessions closed by a drop (scripted or on demand).
    pub drops: AtomicU64,
    /// Sessions the ESME ended with unbind.
    pub unbinds: AtomicU64,
    /// deliver_sm sent on another session than the one they were meant for, because that one
    /// ended before answering them (or before taking them).
    pub redelivered: AtomicU64,
    /// deliver_sm waiting now for a receiving session of their system_id to bind.
    pub parked: AtomicU64,
    /// deliver_sm never answered and dropped, the oldest first, to keep what is held for one
    /// system_id within [`MAX_HELD`].
    pub dropped_undelivered: AtomicU64,
}

/// The counters at one moment, as `GET /stats` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    pub submits: u64,
    pub receipts: u64,
    pub generic_nacks: u64,
    pub throttled: u64,
    pub rejected: u64,
    pub mo: u64,
    pub sessions_bound: u64,
    pub drops: u64,
    pub unbinds: u64,
    pub redelivered: u64,
    pub parked: u64,
    pub dropped_undelivered: u64,
}

impl SimStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            submits: load(&self.submits),
            receipts: load(&self.receipts),
            generic_nacks: load(&self.generic_nacks),
            throttled: load(&self.throttled),
            rejected: load(&self.rejected),
            mo: load(&self.mo),
            sessions_bound: load(&self.sessions_bound),
            drops: load(&self.drops),
            unbinds: load(&self.unbinds),
            redelivered: load(&self.redelivered),
            parked: load(&self.parked),
            dropped_undelivered: load(&self.dropped_undelivered),
        }
    }
}

/// Why an MO injection (or a script) was refused.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no session is bound as receiver or transceiver")]
    NoReceiver,
    #[error("{0}")]
    InvalidMo(String),
    #[error("the receiving session went away or did not take the message in time")]
    ReceiverGone,
    #[error(transparent)]
    Script(#[from] ScriptError),
}

/// A simulator: its script, live sessions and counters. Cheap to clone; clones share all.
#[derive(Debug, Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub system_id: String,
    pub stats: Arc<SimStats>,
    /// Message ids, shared by every session.
    pub ids: Arc<AtomicU64>,
    pub script: ScriptCell,
    pub registry: Registry,
    pub next_session: AtomicU64,
    mo_reference: AtomicU32,
}

impl Simulator {
    /// A simulator starting with the config's script; refused when that script is invalid.
    pub fn new(config: SimConfig, stats: Arc<SimStats>) -> Result<Simulator, ScriptError> {
        let ids = Arc::new(AtomicU64::new(config.first_id.max(1)));
        Simulator::with_ids(config, stats, ids)
    }

    fn with_ids(config: SimConfig, stats: Arc<SimStats>, ids: Arc<AtomicU64>) -> Result<Simulator, ScriptError> {
        let script = config.initial_script();
        script.validate()?;
        let inner = Inner {
            system_id: config.system_id,
            registry: Registry::new(stats.clone(), MAX_HELD),
            stats,
            ids,
            script: ScriptCell::new(script),
            next_session: AtomicU64::new(0),
            mo_reference: AtomicU32::new(0),
        };
        Ok(Simulator { inner: Arc::new(inner) })
    }

    pub fn stats(&self) -> &Arc<SimStats> {
        &self.inner.stats
    }

    /// The script in force.
    pub fn script(&self) -> Script {
        self.inner.script.load().1.script.clone()
    }

    /// Replaces the whole script; sessions take it up on their next submit_sm. Counting for
    /// `drop_after_submits` and the `tps_limit` window start afresh.
    pub fn set_script(&self, script: Script) -> Result<(), ScriptError> {
        script.validate()?;
        self.inner.script.set(script);
        Ok(())
    }

    /// Connected sessions, bound or not.
    pub fn sessions(&self) -> usize {
        self.inner.registry.len()
    }

    /// Closes every session at once, without unbind; how many there were.
    pub fn drop_sessions(&self) -> usize {
        self.inner.drop_sessions()
    }

    /// Sends an MO text from `from` to `to` to one receiver-capable session (round-robin):
    /// one deliver_sm (esm_class 0), or for a long text one per part with a concatenation
    /// header (esm_class 0x40). GSM 7-bit when the text allows, else UCS-2 (data_coding 8).
    /// The number of deliver_sm sent. Each is held until the ESME answers it (see the module
    /// documentation); one its session could not take in time is not, and fails the call.
    pub async fn inject_mo(&self, from: &str, to: &str, text: &str) -> Result<usize, SimError> {
        let reference = self.inner.mo_reference.fetch_add(1, Ordering::Relaxed) as u8;
        let parts = mo::segments(from, to, text, reference)?;
        let peer = self.inner.registry.pick_receiver(None, None).ok_or(SimError::NoReceiver)?;
        let count = parts.len();
        for sm in parts {
            match tokio::time::timeout(MO_WAIT, self.inner.registry.originate(&peer, Pdu::DeliverSm(sm))).await {
                Ok(Ok(())) => self.inner.stats.mo.fetch_add(1, Ordering::Relaxed),
                _ => return Err(SimError::ReceiverGone),
            };
        }
        Ok(count)
    }

    /// Serves every connection on `listener` until `shutdown` changes.
    pub async fn serve(&self, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(session::run(self.inner.clone(), stream, shutdown.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One SMPP session on any transport (tests use in-memory pipes), until it ends or
    /// `shutdown` changes.
    pub async fn session<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        &self,
        stream: S,
        shutdown: watch::Receiver<bool>,
    ) {
        session::run(self.inner.clone(), stream, shutdown).await;
    }
}

impl Inner {
    pub(crate) fn drop_sessions(&self) -> usize {
        let dropped = self.registry.kill_all();
        self.stats.drops.fetch_add(dropped as u64, Ordering::Relaxed);
        dropped
    }
}

/// Serves every connection on `listener` until `shutdown` changes, with a fixed config.
/// An invalid `config.script` is logged and nothing is served; use [`Simulator::new`] to
/// see the error.
pub async fn serve(listener: TcpListener, config: SimConfig, stats: Arc<SimStats>, shutdown: watch::Receiver<bool>) {
    match Simulator::new(config, stats) {
        Ok(sim) => sim.serve(listener, shutdown).await,
        Err(e) => tracing::error!(error = %e, "the simulator's script is invalid"),
    }
}

/// One SMPP session on its own simulator (message ids from `ids`), generic over the
/// transport so tests can use in-memory pipes.
pub async fn session<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    config: SimConfig,
    stats: Arc<SimStats>,
    ids: Arc<AtomicU64>,
    shutdown: watch::Receiver<bool>,
) {
    match Simulator::with_ids(config, stats, ids) {
        Ok(sim) => sim.session(stream, shutdown).await,
        Err(e) => tracing::error!(error = %e, "the simulator's script is invalid"),
    }
}
