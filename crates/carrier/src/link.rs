//! One SMPP bind to a carrier: transceiver, transmitter or receiver.
//!
//! Submits are spaced evenly at the link's TPS and limited to its window.
//! Requests are matched to answers by sequence number, so any number may be outstanding up
//! to the window; an answer may arrive in any order, and a receipt may arrive before the
//! answer to its own submit_sm (the receipt is handed on at once; matching it to the message
//! is the dispatcher's job, by the carrier's message id). A request not answered within the
//! response timeout frees its window slot and is reported as a temporary failure.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tongdao_smpp::pdu::{Bind, MessageIdResp, Sm};
use tongdao_smpp::{Command, Leniency, Pdu, split_frame, status};

use crate::outcome::SubmitOutcome;

/// The largest PDU accepted from a carrier.
pub const MAX_PDU: u32 = 64 * 1024;
/// How long a link sends nothing after the carrier answered "throttled" or "queue full".
pub const THROTTLE_PAUSE: Duration = Duration::from_millis(100);

/// How a link binds (SMPP 3.4 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindMode {
    Transceiver,
    Transmitter,
    Receiver,
}

impl BindMode {
    pub fn can_submit(self) -> bool {
        self != BindMode::Receiver
    }
    pub fn as_str(self) -> &'static str {
        match self {
            BindMode::Transceiver => "transceiver",
            BindMode::Transmitter => "transmitter",
            BindMode::Receiver => "receiver",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub addr: SocketAddr,
    pub mode: BindMode,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    /// Outstanding submit_sm at most.
    pub window: usize,
    pub response_timeout: Duration,
    pub enquire_link_interval: Duration,
    /// submit_sm per second at most on this link; 0 for no limit.
    pub tps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("the carrier refused the bind with status {0:#x}")]
    BindRefused(u32),
    #[error("no answer within the response timeout")]
    Timeout,
    #[error("the link is closed")]
    Closed,
}

/// What the carrier sends us on its own: receipts and mobile-originated messages, each
/// with the [`Ack`] that answers it once it is safely stored.
#[derive(Debug)]
pub enum Incoming {
    DeliverSm(Sm, Ack),
}

/// The deliver_sm_resp owed for one deliver_sm. Send it after the receipt or message is
/// committed: a crash before that leaves it unanswered, and the carrier sends it again.
#[derive(Debug)]
pub struct Ack {
    sequence: u32,
    outgoing: mpsc::Sender<Vec<u8>>,
}

impl Ack {
    pub async fn send(self) {
        let answer = Command {
            status: status::ESME_ROK,
            sequence: self.sequence,
            pdu: Pdu::DeliverSmResp(MessageIdResp::default()),
        };
        let _ = self.outgoing.send(answer.encode()).await;
    }
}

type Pending = Arc<Mutex<HashMap<u32, oneshot::Sender<Command>>>>;

#[derive(Debug, Clone)]
pub struct Link {
    outgoing: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    window: Arc<Semaphore>,
    window_size: usize,
    sequence: Arc<AtomicU32>,
    response_timeout: Duration,
    pacer: Arc<Pacer>,
    mode: BindMode,
    /// Stops the reader, which closes the connection.
    reader: Option<Arc<tokio::task::AbortHandle>>,
    /// Turns true when the connection is gone.
    closed: watch::Receiver<bool>,
    alive: Arc<AtomicBool>,
}

/// Spaces submits evenly at the link's TPS: each takes the next free instant, so a burst is
/// smoothed rather than sent and then throttled by the carrier.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(tps: u32) -> Pacer {
        let interval = if tps == 0 { Duration::ZERO } else { Duration::from_secs(1) / tps };
        Pacer { interval, next: tokio::sync::Mutex::new(tokio::time::Instant::now()) }
    }

    async fn wait_turn(&self) {
        if self.interval.is_zero() {
            return;
        }
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(tokio::time::Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// Sends nothing for `pause` (after a throttled answer): the carrier asked us to slow down.
    async fn pause(&self, pause: Duration) {
        let mut next = self.next.lock().await;
        *next = (*next).max(tokio::time::Instant::now() + pause);
    }
}

impl Link {
    /// Connects, binds, and starts the link's tasks. Receipts and MO arrive on the returned
    /// channel (bounded: a slow consumer slows the carrier down).
    pub async fn connect(config: LinkConfig) -> Result<(Link, mpsc::Receiver<Incoming>), LinkError> {
        let (incoming_tx, incoming) = mpsc::channel::<Incoming>(1024);
        Ok((Link::open(config, incoming_tx).await?, incoming))
    }

    /// Like [`Link::connect`], with receipts and MO going to a channel shared by several links
    /// (every bind of one carrier feeds one receipt intake).
    pub async fn open(config: LinkConfig, incoming_tx: mpsc::Sender<Incoming>) -> Result<Link, LinkError> {
        let stream =
            tokio::time::timeout(config.response_timeout.max(Duration::from_secs(1)), TcpStream::connect(config.addr))
                .await
                .map_err(|_| LinkError::Connect("connect timed out".into()))?
                .map_err(|e| LinkError::Connect(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        let (outgoing, mut to_write) = mpsc::channel::<Vec<u8>>(config.window.max(1) * 2 + 16);
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let (closed_tx, closed_rx) = watch::channel(false);
        let alive = Arc::new(AtomicBool::new(true));

        tokio::spawn(async move {
            // Everything waiting goes out in one write: under load, one syscall carries many PDUs.
            let mut queued: Vec<Vec<u8>> = Vec::with_capacity(64);
            let mut bytes: Vec<u8> = Vec::with_capacity(16 * 1024);
            while to_write.recv_many(&mut queued, 64).await > 0 {
                for pdu in queued.drain(..) {
                    bytes.extend_from_slice(&pdu);
                }
                if writer.write_all(&bytes).await.is_err() {
                    return;
                }
                bytes.clear();
            }
            let _ = writer.shutdown().await;
        });
        let link = Link {
            outgoing: outgoing.clone(),
            pending: pending.clone(),
            window: Arc::new(Semaphore::new(config.window.max(1))),
            window_size: config.window.max(1),
            sequence: Arc::new(AtomicU32::new(1)),
            response_timeout: config.response_timeout,
            pacer: Arc::new(Pacer::new(config.tps)),
            mode: config.mode,
            closed: closed_rx,
            alive: alive.clone(),
            reader: None,
        };
        let reading = tokio::spawn(async move {
            let mut buffer = Vec::with_capacity(8192);
            let mut chunk = vec![0u8; 8192];
            let mut leniency = Leniency::default();
            loop {
                // Every whole PDU read so far, then one move of what is left (not one per PDU).
                let mut start = 0;
                while let Ok(Some(length)) = split_frame(&buffer[start..], MAX_PDU) {
                    let frame = &buffer[start..start + length];
                    start += length;
                    match Command::decode(frame, &mut leniency) {
                        Ok(command) => {
                            if !on_command(command, &pending, &outgoing, &incoming_tx).await {
                                return;
                            }
                        }
                        Err(e) => {
                            let nack = Command { status: e.status, sequence: e.sequence, pdu: Pdu::GenericNack };
                            let _ = outgoing.send(nack.encode()).await;
                        }
                    }
                }
                buffer.drain(..start);
                if split_frame(&buffer, MAX_PDU).is_err() {
                    tracing::warn!("a carrier sent a PDU over the cap; closing the link");
                    break;
                }
                match reader.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            // Whoever waits for an answer learns the link is gone.
            alive.store(false, Ordering::Relaxed);
            if let Ok(mut pending) = pending.lock() {
                pending.clear();
            }
            let _ = closed_tx.send(true);
        });

        let bind = Bind {
            system_id: config.system_id.clone(),
            password: config.password.clone(),
            system_type: config.system_type.clone(),
            interface_version: 0x34,
            ..Bind::default()
        };
        let request = match config.mode {
            BindMode::Transceiver => Pdu::BindTransceiver(bind),
            BindMode::Transmitter => Pdu::BindTransmitter(bind),
            BindMode::Receiver => Pdu::BindReceiver(bind),
        };
        let bound = match link.request(request).await {
            Ok(answer) if answer.status == status::ESME_ROK => Ok(()),
            Ok(answer) => Err(LinkError::BindRefused(answer.status)),
            Err(e) => Err(e),
        };
        if let Err(e) = bound {
            // Close the connection: the reader holds the last other handle on the writer.
            reading.abort();
            return Err(e);
        }
        if !config.enquire_link_interval.is_zero() {
            let keepalive = link.clone();
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(config.enquire_link_interval);
                ticker.tick().await;
                loop {
                    ticker.tick().await;
                    if !keepalive.is_alive() {
                        return;
                    }
                    if keepalive.request(Pdu::EnquireLink).await.is_err() {
                        tracing::warn!("enquire_link unanswered; the link is considered down");
                        keepalive.alive.store(false, Ordering::Relaxed);
                        keepalive.reading_abort();
                        return;
                    }
                }
            });
        }
        Ok(Link { reader: Some(Arc::new(reading.abort_handle())), ..link })
    }

    fn reading_abort(&self) {
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }

    /// Whether the connection is still up.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// Resolves when the connection is gone.
    pub async fn closed(&self) {
        let mut closed = self.closed.clone();
        let _ = closed.wait_for(|c| *c).await;
    }

    pub fn mode(&self) -> BindMode {
        self.mode
    }

    /// Whether two handles are the same connection.
    pub fn same(&self, other: &Link) -> bool {
        Arc::ptr_eq(&self.pending, &other.pending)
    }

    /// Free places in the window.
    pub fn window_free(&self) -> usize {
        self.window.available_permits()
    }

    /// Sends a request and waits for its answer (or the timeout).
    async fn request(&self, pdu: Pdu) -> Result<Command, LinkError> {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) & 0x7FFF_FFFF;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().map_err(|_| LinkError::Closed)?.insert(sequence, tx);
        let bytes = Command { status: status::ESME_ROK, sequence, pdu }.encode();
        if self.outgoing.send(bytes).await.is_err() {
            self.forget(sequence);
            return Err(LinkError::Closed);
        }
        match tokio::time::timeout(self.response_timeout, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(LinkError::Closed),
            Err(_) => {
                self.forget(sequence);
                Err(LinkError::Timeout)
            }
        }
    }

    fn forget(&self, sequence: u32) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&sequence);
        }
    }

    /// Submits one PDU within the window and classifies the answer.
    pub async fn submit(&self, sm: Sm) -> SubmitOutcome {
        let Ok(_slot) = self.window.acquire().await else {
            return SubmitOutcome::TemporaryFailure { status: None };
        };
        self.pacer.wait_turn().await;
        let outcome = match self.request(Pdu::SubmitSm(sm)).await {
            Ok(Command { status, pdu: Pdu::SubmitSmResp(MessageIdResp { message_id }), .. }) => {
                SubmitOutcome::from_response(status, message_id)
            }
            // A generic_nack or a stray answer: the carrier did not take it.
            Ok(Command { status, .. }) if status != status::ESME_ROK => {
                SubmitOutcome::from_response(status, String::new())
            }
            Ok(_) | Err(_) => SubmitOutcome::TemporaryFailure { status: None },
        };
        if let SubmitOutcome::TemporaryFailure { status: Some(status::ESME_RTHROTTLED | status::ESME_RMSGQFUL) } =
            outcome
        {
            self.pacer.pause(THROTTLE_PAUSE).await;
        }
        outcome
    }

    /// Submits outstanding right now: the window in use (enquire_link and other requests
    /// are not counted).
    pub fn in_flight(&self) -> usize {
        self.window_size.saturating_sub(self.window.available_permits())
    }

    /// Unbinds cleanly and closes the connection.
    pub async fn unbind(&self) -> Result<(), LinkError> {
        let answer = self.request(Pdu::Unbind).await.map(|_| ());
        self.alive.store(false, Ordering::Relaxed);
        self.reading_abort();
        answer
    }
}

/// Handles one PDU from the carrier; `false` ends the link.
async fn on_command(
    command: Command,
    pending: &Pending,
    outgoing: &mpsc::Sender<Vec<u8>>,
    incoming: &mpsc::Sender<Incoming>,
) -> bool {
    let answer = |pdu| Command { status: status::ESME_ROK, sequence: command.sequence, pdu }.encode();
    match command.pdu {
        Pdu::DeliverSm(sm) => {
            // Answered by whoever stores it (see `Ack`), so a receipt is never acknowledged
            // and then lost.
            let ack = Ack { sequence: command.sequence, outgoing: outgoing.clone() };
            incoming.send(Incoming::DeliverSm(sm, ack)).await.is_ok()
        }
        Pdu::EnquireLink => outgoing.send(answer(Pdu::EnquireLinkResp)).await.is_ok(),
        Pdu::Unbind => {
            let _ = outgoing.send(answer(Pdu::UnbindResp)).await;
            false
        }
        pdu if pdu.command_id().as_u32() & 0x8000_0000 != 0 => {
            // An answer (or a generic_nack) to one of ours.
            let waiter = pending.lock().ok().and_then(|mut p| p.remove(&command.sequence));
            if let Some(waiter) = waiter {
                let _ = waiter.send(Command { pdu, ..command });
            }
            true
        }
        // A request an ESME does not take from an MC.
        _ => {
            let nack = Command { status: status::ESME_RINVCMDID, sequence: command.sequence, pdu: Pdu::GenericNack };
            outgoing.send(nack.encode()).await.is_ok()
        }
    }
}
