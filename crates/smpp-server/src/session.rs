//! One connection: reading PDUs off the socket, answering them, and one writer task fed by a
//! bounded queue so responses, deliver_sm from the customer's pump and our own requests
//! interleave safely and go out together.
//!
//! The hot path: each pass over what one socket read brought decodes every whole PDU in it;
//! the submit_sm that pass the bind check and the throttle go to one [`Backend::submit`] call
//! run by one task (not one per PDU) that writes all their responses as one queue item. Every
//! submit_sm, query_sm and cancel_sm holds a permit of the session's semaphore
//! (`max_in_flight_submits`) until its response is queued; when none is left the session stops
//! reading the socket until one comes back.
//!
//! [`Backend::submit`]: crate::Backend::submit

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tongdao_smpp::pdu::{Bind, BindResp, CancelSm, DataSmResp, QuerySm, QuerySmResp, Sm};
use tongdao_smpp::tlv::{self, Tlv};
use tongdao_smpp::{Command, CommandId, HEADER_LEN, Leniency, Pdu, split_frame, status};

use crate::pump::{BindSlot, PumpEvent};
use crate::server::{BindGuard, ConnectionGuard, Inner, SessionCounters, add};
use crate::throttle::Bucket;
use crate::{Account, BindMode};

/// submit_sm per [`crate::Backend::submit`] call at most.
pub(crate) const MAX_BATCH: usize = 256;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 32 * 1024;
/// Queue items the writer takes for one write.
const WRITER_BATCH: usize = 256;
/// How long a closing session waits for the writer to flush what is queued.
const FLUSH: Duration = Duration::from_secs(1);
/// How long a shutdown waits for unbind_resp.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How long an unbind from the peer waits for the session's submits in flight.
const DRAIN: Duration = Duration::from_secs(30);
/// A deadline that never comes (a configured duration too large to add).
const FAR: Duration = Duration::from_secs(86_400 * 365);

/// What a session's writer is given: bytes of whole PDUs, or the order to flush and close.
#[derive(Debug)]
pub(crate) enum Out {
    Bytes(Vec<u8>),
    Close,
}

/// The sequence numbers of the PDUs we originate on one session (deliver_sm, enquire_link,
/// unbind): 1..=0x7FFF_FFFF (SMPP 3.4 §5.1.4).
#[derive(Debug)]
pub(crate) struct Sequence(AtomicU32);

impl Sequence {
    pub fn next(&self) -> u32 {
        (self.0.fetch_add(1, Ordering::Relaxed) & 0x7FFF_FFFF).max(1)
    }
}

pub(crate) fn later(base: Instant, after: Duration) -> Instant {
    base.checked_add(after).or_else(|| base.checked_add(FAR)).unwrap_or(base)
}

enum Flow {
    Go,
    End,
}

/// How a pass over the read buffer ended.
enum Pass {
    /// Everything whole was handled: read more.
    Read,
    /// A PDU waits for a permit: do not read until one comes back.
    Blocked,
    End,
}

struct Bound {
    mode: BindMode,
    account: Arc<Account>,
    interface_version: u8,
    bucket: Arc<Bucket>,
    guard: BindGuard,
}

struct Session {
    inner: Arc<Inner>,
    id: u64,
    peer: SocketAddr,
    out: mpsc::Sender<Out>,
    sequence: Arc<Sequence>,
    counters: Arc<SessionCounters>,
    bound: Option<Bound>,
    /// Responses encoded during one pass, queued for the writer as one item.
    replies: Vec<u8>,
    batch_sequences: Vec<u32>,
    batch: Vec<Sm>,
    permits: Arc<Semaphore>,
    /// Permits taken from `permits` and not yet given to a submit_sm, query_sm or cancel_sm.
    held: usize,
    connected: Instant,
    /// When the peer last sent a PDU.
    heard: Instant,
    /// When we sent the enquire_link still unanswered.
    enquiring: Option<Instant>,
    /// We sent unbind: the connection closes at this time at the latest.
    closing: Option<Instant>,
    leniency: Leniency,
}

/// Runs one connection (after the TLS handshake, when there is one) to its end.
pub(crate) async fn run<S>(inner: Arc<Inner>, stream: S, peer: SocketAddr, guard: &ConnectionGuard)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let config = &inner.config;
    let queue = config.window + config.max_in_flight_submits + 64;
    let (reader, writer) = tokio::io::split(stream);
    let (out, queue) = mpsc::channel(queue);
    let mut writing = tokio::spawn(write(writer, queue));
    let now = Instant::now();
    let mut session = Session {
        permits: Arc::new(Semaphore::new(config.max_in_flight_submits)),
        inner: inner.clone(),
        id: guard.id,
        peer,
        out: out.clone(),
        sequence: Arc::new(Sequence(AtomicU32::new(1))),
        counters: guard.counters.clone(),
        bound: None,
        replies: Vec::with_capacity(4096),
        batch_sequences: Vec::new(),
        batch: Vec::new(),
        held: 0,
        connected: now,
        heard: now,
        enquiring: None,
        closing: None,
        leniency: Leniency::default(),
    };
    tracing::debug!(session = session.id, peer = %peer.ip(), "connection accepted");
    let mut reader = reader;
    session.read(&mut reader).await;
    // Leave the pump first: this bind's unanswered deliveries go to another bind at once.
    session.bound = None;
    tracing::debug!(session = session.id, "connection closed");
    drop(session);
    let _ = tokio::time::timeout(FLUSH, out.send(Out::Close)).await;
    drop(out);
    if tokio::time::timeout(FLUSH, &mut writing).await.is_err() {
        writing.abort();
    }
}

/// The writer: takes what is queued and writes it with one write and one flush.
async fn write<W: AsyncWrite + Unpin>(mut writer: W, mut queue: mpsc::Receiver<Out>) {
    let mut items = Vec::with_capacity(WRITER_BATCH);
    let mut bytes: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        if queue.recv_many(&mut items, WRITER_BATCH).await == 0 {
            break;
        }
        let mut closing = false;
        for item in items.drain(..) {
            match item {
                Out::Bytes(pdus) if bytes.is_empty() && !closing => bytes = pdus,
                Out::Bytes(pdus) if !closing => bytes.extend_from_slice(&pdus),
                Out::Bytes(_) => {}
                Out::Close => closing = true,
            }
        }
        if !bytes.is_empty() {
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                return;
            }
            bytes.clear();
            if bytes.capacity() > 1024 * 1024 {
                bytes = Vec::with_capacity(64 * 1024);
            }
        }
        if closing {
            break;
        }
    }
    let _ = writer.shutdown().await;
}

/// A header-only PDU: an error response without a body.
fn put_header(out: &mut Vec<u8>, command_id: CommandId, status: u32, sequence: u32) {
    out.extend_from_slice(&(HEADER_LEN as u32).to_be_bytes());
    out.extend_from_slice(&command_id.as_u32().to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
}

/// submit_sm_resp, written straight into the batch's buffer (the same bytes
/// [`Command::encode`] gives).
pub(crate) fn put_submit_sm_resp(out: &mut Vec<u8>, status: u32, sequence: u32, message_id: &str) {
    let id = message_id.as_bytes();
    let id = &id[..id.iter().position(|b| *b == 0).unwrap_or(id.len())];
    let length = u32::try_from(HEADER_LEN + id.len() + 1).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&CommandId::SubmitSmResp.as_u32().to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(id);
    out.push(0);
}

fn bind_resp_id(mode: BindMode) -> CommandId {
    match mode {
        BindMode::Transmitter => CommandId::BindTransmitterResp,
        BindMode::Receiver => CommandId::BindReceiverResp,
        BindMode::Transceiver => CommandId::BindTransceiverResp,
    }
}

/// A status the peer can act on: an error the backend gave as 0 becomes ESME_RSYSERR.
fn error_status(status: u32) -> u32 {
    if status == status::ESME_ROK { status::ESME_RSYSERR } else { status }
}

impl Session {
    async fn read<R: AsyncRead + Unpin>(&mut self, reader: &mut R) {
        let mut buffer: Vec<u8> = Vec::with_capacity(READ_CHUNK);
        let mut shutdown = self.inner.shutdown.subscribe();
        let mut shutting = false;
        let timer = tokio::time::sleep_until(self.deadline());
        tokio::pin!(timer);
        loop {
            let blocked = match self.process(&mut buffer).await {
                Pass::Read => false,
                Pass::Blocked => true,
                Pass::End => return,
            };
            timer.as_mut().reset(self.deadline());
            if buffer.capacity() - buffer.len() < READ_CHUNK / 2 {
                buffer.reserve(READ_CHUNK);
            }
            let permits = self.permits.clone();
            tokio::select! {
                biased;
                () = async { let _ = shutdown.wait_for(|stop| *stop).await; }, if !shutting => {
                    shutting = true;
                    if let Flow::End = self.begin_close(SHUTDOWN_GRACE).await {
                        return;
                    }
                }
                () = &mut timer => {
                    if let Flow::End = self.on_timer().await {
                        return;
                    }
                }
                permit = permits.acquire(), if blocked => match permit {
                    Ok(permit) => {
                        permit.forget();
                        self.held += 1;
                    }
                    Err(_) => return,
                },
                read = reader.read_buf(&mut buffer), if !blocked => match read {
                    Ok(0) => {
                        tracing::debug!(session = self.id, "the peer closed the connection");
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(session = self.id, error = %e, "read failed");
                        return;
                    }
                    Ok(_) => {}
                },
            }
        }
    }

    /// Handles every whole PDU in the buffer, then hands the pass's submit_sm to the backend
    /// and its responses to the writer.
    async fn process(&mut self, buffer: &mut Vec<u8>) -> Pass {
        let mut start = 0;
        let mut pass = Pass::Read;
        let mut heard = false;
        loop {
            let rest = &buffer[start..];
            match split_frame(rest, self.inner.config.max_pdu_len) {
                Ok(Some(length)) => {
                    if self.needs_permit(rest) && !self.reserve() {
                        pass = Pass::Blocked;
                        break;
                    }
                    heard = true;
                    let decoded = Command::decode(&rest[..length], &mut self.leniency);
                    start += length;
                    let flow = match decoded {
                        Ok(command) => self.handle(command).await,
                        Err(e) => {
                            tracing::debug!(session = self.id, error = %e, "answering an undecodable PDU");
                            self.nack(e.status, e.sequence);
                            Flow::Go
                        }
                    };
                    if let Flow::End = flow {
                        pass = Pass::End;
                        break;
                    }
                    if self.batch.len() >= MAX_BATCH {
                        self.dispatch();
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let sequence = rest.get(12..16).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    tracing::info!(session = self.id, error = %e, "closing a connection whose framing is broken");
                    self.nack(status::ESME_RINVCMDLEN, sequence);
                    pass = Pass::End;
                    break;
                }
            }
        }
        buffer.drain(..start);
        if heard {
            self.heard = Instant::now();
        }
        self.dispatch();
        if let Flow::End = self.flush_replies().await {
            return Pass::End;
        }
        pass
    }

    /// Whether the PDU at the head of `frame` goes to the backend and so needs a permit.
    fn needs_permit(&self, frame: &[u8]) -> bool {
        let Some(id) = frame.get(4..8) else { return false };
        let id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
        let to_backend = [CommandId::SubmitSm, CommandId::QuerySm, CommandId::CancelSm].map(CommandId::as_u32);
        to_backend.contains(&id) && self.bound.as_ref().is_some_and(|b| b.mode.can_submit())
    }

    /// Makes sure one permit is held.
    fn reserve(&mut self) -> bool {
        if self.held > 0 {
            return true;
        }
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                permit.forget();
                self.held += 1;
                true
            }
            Err(_) => false,
        }
    }

    /// Takes one held permit for a PDU going to the backend.
    fn take_permit(&mut self) {
        self.held = self.held.saturating_sub(1);
    }

    async fn handle(&mut self, command: Command) -> Flow {
        let Command { status, sequence, pdu } = command;
        match pdu {
            Pdu::BindTransmitter(bind) => self.bind(BindMode::Transmitter, bind, sequence).await,
            Pdu::BindReceiver(bind) => self.bind(BindMode::Receiver, bind, sequence).await,
            Pdu::BindTransceiver(bind) => self.bind(BindMode::Transceiver, bind, sequence).await,
            Pdu::SubmitSm(sm) => {
                self.submit(sm, sequence);
                Flow::Go
            }
            Pdu::QuerySm(query) => {
                self.query(query, sequence);
                Flow::Go
            }
            Pdu::CancelSm(cancel) => {
                self.cancel(cancel, sequence);
                Flow::Go
            }
            Pdu::EnquireLink => {
                self.reply(status::ESME_ROK, sequence, Pdu::EnquireLinkResp);
                Flow::Go
            }
            Pdu::EnquireLinkResp => {
                self.enquiring = None;
                Flow::Go
            }
            Pdu::Unbind => self.unbound_by_peer(sequence).await,
            Pdu::UnbindResp if self.closing.is_some() => {
                tracing::debug!(session = self.id, "unbind answered");
                Flow::End
            }
            Pdu::UnbindResp => Flow::Go,
            Pdu::DeliverSmResp(_) => {
                self.delivery_answered(sequence, status).await;
                Flow::Go
            }
            // A generic_nack to one of our deliver_sm is its error answer; to anything else it
            // changes nothing.
            Pdu::GenericNack => {
                self.delivery_answered(sequence, error_status(status)).await;
                Flow::Go
            }
            Pdu::DataSm(_) => {
                self.reply(status::ESME_RINVCMDID, sequence, Pdu::DataSmResp(DataSmResp::default()));
                Flow::Go
            }
            Pdu::ReplaceSm(_) => {
                self.reply(status::ESME_RINVCMDID, sequence, Pdu::ReplaceSmResp);
                Flow::Go
            }
            // deliver_sm, outbind and every response an ESME has no business sending.
            _ => {
                self.nack(status::ESME_RINVCMDID, sequence);
                Flow::Go
            }
        }
    }

    /// Queues a response for the end of the pass.
    fn reply(&mut self, status: u32, sequence: u32, pdu: Pdu) {
        let bytes = Command { status, sequence, pdu }.encode();
        self.replies.extend_from_slice(&bytes);
    }

    fn nack(&mut self, status: u32, sequence: u32) {
        add(&self.inner.stats.generic_nacks, 1);
        put_header(&mut self.replies, CommandId::GenericNack, status, sequence);
    }

    async fn flush_replies(&mut self) -> Flow {
        if self.replies.is_empty() {
            return Flow::Go;
        }
        let bytes = std::mem::replace(&mut self.replies, Vec::with_capacity(4096));
        // The queue stays full only while the peer does not read what we write.
        let wait = self.inner.config.response_timeout;
        match tokio::time::timeout(wait, self.out.send(Out::Bytes(bytes))).await {
            Ok(Ok(())) => Flow::Go,
            Ok(Err(_)) => Flow::End,
            Err(_) => {
                tracing::info!(session = self.id, peer = %self.peer.ip(), "closing: the peer does not read");
                Flow::End
            }
        }
    }

    /// Sends a PDU of our own (enquire_link, unbind) with the session's next sequence number.
    async fn originate(&mut self, pdu: Pdu) -> Flow {
        let sequence = self.sequence.next();
        self.reply(status::ESME_ROK, sequence, pdu);
        self.flush_replies().await
    }

    async fn bind(&mut self, mode: BindMode, bind: Bind, sequence: u32) -> Flow {
        if self.bound.is_some() {
            put_header(&mut self.replies, bind_resp_id(mode), status::ESME_RALYBND, sequence);
            return Flow::Go;
        }
        let ip = self.peer.ip();
        let inner = self.inner.clone();
        let account = match inner.backend.authenticate(&bind.system_id, &bind.password, ip).await {
            Ok(account) => account,
            Err(status) => {
                let status = if status == status::ESME_ROK { status::ESME_RBINDFAIL } else { status };
                return self.refuse_bind(mode, sequence, &bind.system_id, status, "authentication").await;
            }
        };
        let Some((mut guard, bucket)) = inner.register_bind(self.id, &account, mode) else {
            return self.refuse_bind(mode, sequence, &bind.system_id, status::ESME_RBINDFAIL, "max binds").await;
        };
        let version = bind.interface_version;
        let tlvs = if version >= 0x34 { vec![Tlv::u8(tlv::SC_INTERFACE_VERSION, 0x34)] } else { Vec::new() };
        let resp = BindResp { system_id: inner.config.system_id.clone(), tlvs };
        let pdu = match mode {
            BindMode::Transmitter => Pdu::BindTransmitterResp(resp),
            BindMode::Receiver => Pdu::BindReceiverResp(resp),
            BindMode::Transceiver => Pdu::BindTransceiverResp(resp),
        };
        self.reply(status::ESME_ROK, sequence, pdu);
        tracing::info!(
            session = self.id,
            system_id = ?account.system_id,
            customer_id = ?account.customer_id,
            peer = %ip,
            mode = mode.as_str(),
            interface_version = %format_args!("{version:#04x}"),
            "bound"
        );
        // The bind response goes out before the first deliver_sm.
        if let Flow::End = self.flush_replies().await {
            return Flow::End;
        }
        if mode.can_receive() {
            let slot = BindSlot {
                session: self.id,
                out: self.out.clone(),
                sequence: self.sequence.clone(),
                legacy: version < 0x34,
                counters: self.counters.clone(),
            };
            guard.join_pump(slot).await;
        }
        self.bound = Some(Bound { mode, account: Arc::new(account), interface_version: version, bucket, guard });
        Flow::Go
    }

    /// Answers a refused bind with a header-only response and ends the session (what is
    /// queued is written first).
    async fn refuse_bind(&mut self, mode: BindMode, sequence: u32, system_id: &str, status: u32, why: &str) -> Flow {
        add(&self.inner.stats.bind_failures, 1);
        tracing::warn!(
            session = self.id,
            system_id = ?system_id,
            peer = %self.peer.ip(),
            mode = mode.as_str(),
            status = %format_args!("{status:#010x}"),
            reason = why,
            "bind refused"
        );
        put_header(&mut self.replies, bind_resp_id(mode), status, sequence);
        let _ = self.flush_replies().await;
        Flow::End
    }

    fn submit(&mut self, sm: Sm, sequence: u32) {
        let Some(bound) = self.bound.as_ref().filter(|b| b.mode.can_submit()) else {
            add(&self.inner.stats.submits_refused, 1);
            put_submit_sm_resp(&mut self.replies, status::ESME_RINVBNDSTS, sequence, "");
            return;
        };
        add(&self.counters.submits, 1);
        if !bound.bucket.take() {
            // The permit held for it stays held for the next one.
            add(&self.inner.stats.throttled, 1);
            put_submit_sm_resp(&mut self.replies, status::ESME_RTHROTTLED, sequence, "");
            return;
        }
        self.take_permit();
        self.batch_sequences.push(sequence);
        self.batch.push(sm);
    }

    /// Hands the submit_sm gathered so far to the backend, in one call run by one task.
    fn dispatch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let Some(bound) = &self.bound else { return };
        let sms = std::mem::take(&mut self.batch);
        let sequences = std::mem::take(&mut self.batch_sequences);
        let (inner, account, out, permits) =
            (self.inner.clone(), bound.account.clone(), self.out.clone(), self.permits.clone());
        let version = bound.interface_version;
        tokio::spawn(async move {
            let results = inner.backend.submit(&account, version, sms).await;
            if results.len() != sequences.len() {
                tracing::error!(
                    asked = sequences.len(),
                    answered = results.len(),
                    "the backend answered a batch short"
                );
            }
            let mut bytes = Vec::with_capacity(sequences.len() * (HEADER_LEN + 40));
            let mut ok = 0;
            for (i, sequence) in sequences.iter().enumerate() {
                match results.get(i) {
                    Some(Ok(message_id)) => {
                        ok += 1;
                        put_submit_sm_resp(&mut bytes, status::ESME_ROK, *sequence, message_id);
                    }
                    Some(Err(status)) => put_submit_sm_resp(&mut bytes, error_status(*status), *sequence, ""),
                    None => put_submit_sm_resp(&mut bytes, status::ESME_RSYSERR, *sequence, ""),
                }
            }
            add(&inner.stats.submits_ok, ok);
            add(&inner.stats.submits_refused, sequences.len() as u64 - ok);
            let _ = out.send(Out::Bytes(bytes)).await;
            permits.add_permits(sequences.len());
        });
    }

    fn query(&mut self, query: QuerySm, sequence: u32) {
        if !self.bound.as_ref().is_some_and(|b| b.mode.can_submit()) {
            self.reply(status::ESME_RINVBNDSTS, sequence, Pdu::QuerySmResp(QuerySmResp::default()));
            return;
        }
        self.take_permit();
        let Some(bound) = &self.bound else { return };
        add(&self.inner.stats.queries, 1);
        let (inner, account, out, permits) =
            (self.inner.clone(), bound.account.clone(), self.out.clone(), self.permits.clone());
        tokio::spawn(async move {
            let (status, resp) = match inner.backend.query(&account, query).await {
                Ok(resp) => (status::ESME_ROK, resp),
                Err(status) => (error_status(status), QuerySmResp::default()),
            };
            let bytes = Command { status, sequence, pdu: Pdu::QuerySmResp(resp) }.encode();
            let _ = out.send(Out::Bytes(bytes)).await;
            permits.add_permits(1);
        });
    }

    fn cancel(&mut self, cancel: CancelSm, sequence: u32) {
        if !self.bound.as_ref().is_some_and(|b| b.mode.can_submit()) {
            self.reply(status::ESME_RINVBNDSTS, sequence, Pdu::CancelSmResp);
            return;
        }
        self.take_permit();
        let Some(bound) = &self.bound else { return };
        add(&self.inner.stats.cancels, 1);
        let (inner, account, out, permits) =
            (self.inner.clone(), bound.account.clone(), self.out.clone(), self.permits.clone());
        tokio::spawn(async move {
            let status = match inner.backend.cancel(&account, cancel).await {
                Ok(()) => status::ESME_ROK,
                Err(status) => error_status(status),
            };
            let bytes = Command { status, sequence, pdu: Pdu::CancelSmResp }.encode();
            let _ = out.send(Out::Bytes(bytes)).await;
            permits.add_permits(1);
        });
    }

    /// A deliver_sm_resp (or generic_nack) goes to the customer's pump, which sent the
    /// deliver_sm; on a transmitter bind there is none and nothing to do.
    async fn delivery_answered(&mut self, sequence: u32, status: u32) {
        let Some(events) = self.bound.as_ref().and_then(|b| b.guard.pump()) else { return };
        let _ = events.send(PumpEvent::Resp { session: self.id, sequence, status }).await;
    }

    /// The peer unbinds: its submits in flight are answered first, then unbind_resp, then the
    /// connection closes.
    async fn unbound_by_peer(&mut self, sequence: u32) -> Flow {
        if let Some(bound) = &mut self.bound {
            bound.guard.leave_pump().await;
        }
        self.dispatch();
        if let Flow::End = self.flush_replies().await {
            return Flow::End;
        }
        self.permits.add_permits(std::mem::take(&mut self.held));
        let all = u32::try_from(self.inner.config.max_in_flight_submits).unwrap_or(u32::MAX);
        if tokio::time::timeout(DRAIN, self.permits.acquire_many(all)).await.is_err() {
            tracing::warn!(session = self.id, "unbinding with submits still in flight");
        }
        tracing::info!(session = self.id, peer = %self.peer.ip(), "unbound by the peer");
        self.reply(status::ESME_ROK, sequence, Pdu::UnbindResp);
        let _ = self.flush_replies().await;
        Flow::End
    }

    /// We unbind (idle, shutdown): the connection closes at unbind_resp or after `grace`.
    async fn begin_close(&mut self, grace: Duration) -> Flow {
        if self.bound.is_none() {
            return Flow::End;
        }
        if self.closing.is_some() {
            return Flow::Go;
        }
        self.closing = Some(later(Instant::now(), grace));
        if let Some(bound) = &mut self.bound {
            bound.guard.leave_pump().await;
        }
        self.originate(Pdu::Unbind).await
    }

    /// The next time something is due: the bind deadline, the end of an unbind we sent, the
    /// enquire_link answer, the next enquire_link, the idle unbind.
    fn deadline(&self) -> Instant {
        let config = &self.inner.config;
        if let Some(at) = self.closing {
            return at;
        }
        if self.bound.is_none() {
            return later(self.connected, config.bind_timeout);
        }
        let idle = later(self.heard, config.idle_timeout);
        let probe = match self.enquiring {
            Some(sent) => later(sent, config.response_timeout),
            None => later(self.heard, config.enquire_link_interval),
        };
        idle.min(probe)
    }

    async fn on_timer(&mut self) -> Flow {
        let now = Instant::now();
        let config = &self.inner.config;
        if let Some(at) = self.closing {
            if now >= at {
                tracing::debug!(session = self.id, "closing without unbind_resp");
                return Flow::End;
            }
            return Flow::Go;
        }
        if self.bound.is_none() {
            if now >= later(self.connected, config.bind_timeout) {
                tracing::info!(session = self.id, peer = %self.peer.ip(), "closing a connection that did not bind in time");
                return Flow::End;
            }
            return Flow::Go;
        }
        if let Some(sent) = self.enquiring
            && now >= later(sent, config.response_timeout)
        {
            tracing::info!(session = self.id, peer = %self.peer.ip(), "closing: enquire_link not answered");
            return Flow::End;
        }
        if now >= later(self.heard, config.idle_timeout) {
            add(&self.inner.stats.idle_closes, 1);
            tracing::info!(session = self.id, peer = %self.peer.ip(), "unbinding an idle session");
            let grace = config.response_timeout;
            return self.begin_close(grace).await;
        }
        if self.enquiring.is_none() && now >= later(self.heard, config.enquire_link_interval) {
            add(&self.inner.stats.enquire_links_sent, 1);
            self.enquiring = Some(now);
            return self.originate(Pdu::EnquireLink).await;
        }
        Flow::Go
    }
}

#[cfg(test)]
mod tests {
    use tongdao_smpp::pdu::MessageIdResp;

    use super::*;

    #[test]
    fn a_submit_sm_resp_written_by_hand_is_what_the_codec_writes() {
        for (status, id) in [(status::ESME_ROK, "msg_0123abc"), (status::ESME_RTHROTTLED, "")] {
            let mut out = Vec::new();
            put_submit_sm_resp(&mut out, status, 77, id);
            let pdu = Pdu::SubmitSmResp(MessageIdResp { message_id: id.into() });
            assert_eq!(out, Command { status, sequence: 77, pdu }.encode());
        }
    }

    #[test]
    fn sequence_numbers_stay_in_range() {
        let sequence = Sequence(AtomicU32::new(0x7FFF_FFFF));
        assert_eq!(sequence.next(), 0x7FFF_FFFF);
        assert_eq!(sequence.next(), 1, "0 is skipped after the wrap");
        let sequence = Sequence(AtomicU32::new(u32::MAX));
        assert_eq!(sequence.next(), 0x7FFF_FFFF);
        assert_eq!(sequence.next(), 1);
    }
}
