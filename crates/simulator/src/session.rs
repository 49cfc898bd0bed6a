//! One SMPP session: reading PDUs, answering them as the script says, writing through one
//! bounded queue so responses, receipts and MO messages interleave safely.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, watch};
use tongdao_domain::text::decode_ucs2;
use tongdao_smpp::pdu::{Bind, BindResp, MessageIdResp, Sm};
use tongdao_smpp::receipt::DeliveryReceipt;
use tongdao_smpp::tlv::{self, Tlv};
use tongdao_smpp::{Command, Leniency, Pdu, split_frame, status};

use crate::registry::{BindKind, Out, Peer};
use crate::script::{Active, Outcome, Verdict};
use crate::{Inner, MAX_PDU};

/// PDUs queued for one session's writer.
const QUEUE: usize = 1024;
/// PDUs the writer takes from its queue for one write.
const BATCH: usize = 64;
/// How long a closing session waits to flush what it has queued.
const FLUSH: Duration = Duration::from_secs(5);

/// How a session ends.
enum End {
    /// Unbind, end of stream, broken framing or shutdown: what is queued is written first.
    Graceful,
    /// Dropped: the connection is closed at once, whatever is queued is lost.
    Abrupt,
}

enum Flow {
    Go,
    End(End),
}

pub(crate) async fn run<S>(sim: Arc<Inner>, stream: S, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let id = sim.next_session.fetch_add(1, Ordering::Relaxed) + 1;
    let (mut reader, writer) = tokio::io::split(stream);
    let (out, queue) = mpsc::channel::<Out>(QUEUE);
    let mut writing = tokio::spawn(write(writer, queue));
    let peer = Peer::new(id, out);
    let kill = Arc::new(Notify::new());
    sim.registry.insert(peer.clone(), kill.clone());
    let (generation, active) = sim.script.load();
    let rng = rng_for(active.script.seed, id);
    let mut session =
        Session { sim: sim.clone(), id, peer, bound: None, system_id: String::new(), generation, active, rng };
    let end = session.read(&mut reader, &mut shutdown, &kill).await;
    sim.registry.closing(id);
    if session.bound.is_some() {
        sim.stats.sessions_bound.fetch_sub(1, Ordering::Relaxed);
    }
    match end {
        End::Graceful => {
            let _ = tokio::time::timeout(FLUSH, session.peer.out.send(Out::Close)).await;
            drop(session);
            if tokio::time::timeout(FLUSH, &mut writing).await.is_err() {
                writing.abort();
                let _ = writing.await;
            }
        }
        End::Abrupt => {
            writing.abort();
            let _ = writing.await;
        }
    }
    // Only once the writer is done is what the session left unanswered handed on, so it does
    // not go out here too after it was given to another session.
    sim.registry.ended(id).send(&sim.stats).await;
}

/// Each session draws from its own generator: seeded from the script's seed and the
/// session's number for a reproducible run, else from the OS.
fn rng_for(seed: Option<u64>, session: u64) -> SmallRng {
    match seed {
        Some(seed) => SmallRng::seed_from_u64(seed ^ session.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        None => SmallRng::from_os_rng(),
    }
}

/// The writer: takes what is queued in batches and writes each batch at once.
async fn write<W: AsyncWrite + Unpin>(mut writer: W, mut queue: mpsc::Receiver<Out>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut bytes = Vec::with_capacity(16 * 1024);
    loop {
        if queue.recv_many(&mut batch, BATCH).await == 0 {
            break;
        }
        let mut closing = false;
        for item in batch.drain(..) {
            match item {
                Out::Bytes(pdu) => bytes.extend_from_slice(&pdu),
                Out::Close => {
                    closing = true;
                    break;
                }
            }
        }
        if !bytes.is_empty() && writer.write_all(&bytes).await.is_err() {
            return;
        }
        bytes.clear();
        if closing {
            break;
        }
    }
    let _ = writer.shutdown().await;
}

struct Session {
    sim: Arc<Inner>,
    id: u64,
    peer: Peer,
    bound: Option<BindKind>,
    system_id: String,
    /// The script this session last saw, and its generation.
    generation: u64,
    active: Arc<Active>,
    rng: SmallRng,
}

impl Session {
    async fn read<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        shutdown: &mut watch::Receiver<bool>,
        kill: &Notify,
    ) -> End {
        let mut buffer: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut leniency = Leniency::default();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let mut start = 0;
            loop {
                match split_frame(&buffer[start..], MAX_PDU) {
                    Ok(Some(length)) => {
                        let frame = &buffer[start..start + length];
                        start += length;
                        let flow = match Command::decode(frame, &mut leniency) {
                            Ok(command) => self.handle(command).await,
                            Err(e) => {
                                self.sim.stats.generic_nacks.fetch_add(1, Ordering::Relaxed);
                                self.reply(e.status, e.sequence, Pdu::GenericNack).await
                            }
                        };
                        if let Flow::End(end) = flow {
                            return end;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "closing a session whose framing is broken");
                        let _ = self.reply(status::ESME_RINVCMDLEN, 0, Pdu::GenericNack).await;
                        return End::Graceful;
                    }
                }
            }
            buffer.drain(..start);
            tokio::select! {
                biased;
                () = kill.notified() => return End::Abrupt,
                _ = shutdown.changed() => return End::Graceful,
                read = reader.read(&mut chunk) => match read {
                    Ok(0) | Err(_) => return End::Graceful,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                },
            }
        }
    }

    async fn handle(&mut self, command: Command) -> Flow {
        let sequence = command.sequence;
        match command.pdu {
            Pdu::BindTransmitter(bind) => self.bind(BindKind::Transmitter, bind, sequence).await,
            Pdu::BindReceiver(bind) => self.bind(BindKind::Receiver, bind, sequence).await,
            Pdu::BindTransceiver(bind) => self.bind(BindKind::Transceiver, bind, sequence).await,
            Pdu::EnquireLink => self.reply(status::ESME_ROK, sequence, Pdu::EnquireLinkResp).await,
            Pdu::Unbind => {
                self.sim.stats.unbinds.fetch_add(1, Ordering::Relaxed);
                match self.reply(status::ESME_ROK, sequence, Pdu::UnbindResp).await {
                    Flow::Go => Flow::End(End::Graceful),
                    ended => ended,
                }
            }
            Pdu::SubmitSm(sm) => self.submit(sm, sequence).await,
            Pdu::DeliverSmResp(_) => {
                // Any status answers it: a real MC might retry an error later, the simulator
                // sends again only what was never answered.
                self.sim.registry.answered(self.id, &self.system_id, sequence);
                Flow::Go
            }
            // Responses to what we sent, and PDUs an MC does not expect, need no answer here.
            Pdu::EnquireLinkResp | Pdu::GenericNack | Pdu::UnbindResp => Flow::Go,
            _ => self.reply(status::ESME_RINVCMDID, sequence, Pdu::GenericNack).await,
        }
    }

    /// Queues a response on this session.
    async fn reply(&self, status: u32, sequence: u32, pdu: Pdu) -> Flow {
        let bytes = Command { status, sequence, pdu }.encode();
        match self.peer.out.send(Out::Bytes(bytes)).await {
            Ok(()) => Flow::Go,
            Err(_) => Flow::End(End::Graceful),
        }
    }

    async fn bind(&mut self, kind: BindKind, bind: Bind, sequence: u32) -> Flow {
        let already = self.bound.is_some();
        let resp = if already {
            BindResp::default()
        } else {
            BindResp { system_id: self.sim.system_id.clone(), tlvs: vec![Tlv::u8(tlv::SC_INTERFACE_VERSION, 0x34)] }
        };
        let pdu = match kind {
            BindKind::Transmitter => Pdu::BindTransmitterResp(resp),
            BindKind::Receiver => Pdu::BindReceiverResp(resp),
            BindKind::Transceiver => Pdu::BindTransceiverResp(resp),
        };
        if already {
            return self.reply(status::ESME_RALYBND, sequence, pdu).await;
        }
        self.bound = Some(kind);
        self.system_id = bind.system_id;
        self.peer.system_id = Arc::from(self.system_id.as_str());
        let waiting = self.sim.registry.bound(&self.peer, kind);
        self.sim.stats.sessions_bound.fetch_add(1, Ordering::Relaxed);
        let flow = self.reply(status::ESME_ROK, sequence, pdu).await;
        if !waiting.is_empty() {
            // From a task of its own, after the bind_resp: the session reads on meanwhile, so
            // an ESME answering each deliver_sm as it comes never waits on us.
            let sim = self.sim.clone();
            tokio::spawn(async move { waiting.send(&sim.stats).await });
        }
        flow
    }

    /// Takes up a script set since the last submit_sm: one atomic load when there is none.
    fn refresh_script(&mut self) {
        if self.sim.script.generation() == self.generation {
            return;
        }
        let (generation, active) = self.sim.script.load();
        if active.script.seed.is_some() {
            self.rng = rng_for(active.script.seed, self.id);
        }
        (self.generation, self.active) = (generation, active);
    }

    async fn submit(&mut self, sm: Sm, sequence: u32) -> Flow {
        self.sim.stats.submits.fetch_add(1, Ordering::Relaxed);
        if !self.bound.is_some_and(|kind| kind != BindKind::Receiver) {
            let refused = Pdu::SubmitSmResp(MessageIdResp::default());
            return self.reply(status::ESME_RINVBNDSTS, sequence, refused).await;
        }
        self.refresh_script();
        let drop_now = self.active.count_submit();
        let flow = match self.active.judge(&mut self.rng) {
            Verdict::Throttled => {
                self.sim.stats.throttled.fetch_add(1, Ordering::Relaxed);
                self.answer(sequence, status::ESME_RTHROTTLED, String::new(), None).await
            }
            Verdict::Rejected => {
                self.sim.stats.rejected.fetch_add(1, Ordering::Relaxed);
                self.answer(sequence, status::ESME_RINVDSTADR, String::new(), None).await
            }
            Verdict::Accepted(outcome) => {
                let script = &self.active.script;
                let n = self.sim.ids.fetch_add(1, Ordering::Relaxed);
                let id = if script.receipt_id_decimal { n.to_string() } else { format!("{n:x}") };
                let receipt = match outcome.receipt() {
                    Some(fate) if wants_receipt(sm.registered_delivery, outcome) => self
                        .receipt_target(script.receipt_on_other_bind)
                        .map(|peer| (peer, receipt(&sm, &id, fate, script.receipt_tlv))),
                    _ => None,
                };
                self.answer(sequence, status::ESME_ROK, id, receipt).await
            }
        };
        if drop_now {
            let dropped = self.sim.drop_sessions();
            let after = self.active.script.drop_after_submits;
            tracing::info!(dropped, "dropped every session after {after} submits");
            return Flow::End(End::Abrupt);
        }
        flow
    }

    /// Where this session's receipt goes: another receiver-capable session bound with the
    /// same system_id when asked for or when this one cannot receive, else this one.
    fn receipt_target(&self, other_bind: bool) -> Option<Peer> {
        let receives = self.bound.is_some_and(BindKind::can_receive);
        if (other_bind || !receives)
            && let Some(peer) = self.sim.registry.pick_receiver(Some(self.id), Some(&self.system_id))
        {
            return Some(peer);
        }
        receives.then(|| self.peer.clone())
    }

    /// Sends the submit_sm_resp and the receipt, if any, in the scripted order and delays:
    /// inline when nothing waits, else from one task so the session reads on.
    async fn answer(&self, sequence: u32, status: u32, message_id: String, receipt: Option<(Peer, Sm)>) -> Flow {
        let active = &self.active;
        let resp = Command { status, sequence, pdu: Pdu::SubmitSmResp(MessageIdResp { message_id }) }.encode();
        let before = active.script.receipt_before_response && receipt.is_some();
        // Before the response: the receipt goes at its own delay from the submit, the response
        // at its delay but never before the receipt, so the answer delay is a real gap.
        let (answer_after, receipt_after) = if before {
            (active.answer_delay.max(active.receipt_delay), active.receipt_delay)
        } else {
            (active.answer_delay, active.receipt_delay)
        };
        let sim = &*self.sim;
        if answer_after.is_zero() && (receipt.is_none() || receipt_after.is_zero()) {
            let mut receipt = receipt;
            if before && let Some((peer, sm)) = receipt.take() {
                deliver(sim, &peer, sm).await;
            }
            if self.peer.out.send(Out::Bytes(resp)).await.is_err() {
                return Flow::End(End::Graceful);
            }
            if let Some((peer, sm)) = receipt {
                deliver(sim, &peer, sm).await;
            }
            return Flow::Go;
        }
        let (own, sim) = (self.peer.clone(), self.sim.clone());
        if answer_after.is_zero() {
            // Only the receipt waits.
            if own.out.send(Out::Bytes(resp)).await.is_err() {
                return Flow::End(End::Graceful);
            }
            if let Some((peer, sm)) = receipt {
                tokio::spawn(async move {
                    tokio::time::sleep(receipt_after).await;
                    deliver(&sim, &peer, sm).await;
                });
            }
            return Flow::Go;
        }
        tokio::spawn(async move {
            let mut receipt = receipt;
            if before && let Some((peer, sm)) = receipt.take() {
                tokio::time::sleep(receipt_after).await;
                deliver(&sim, &peer, sm).await;
                tokio::time::sleep(answer_after.saturating_sub(receipt_after)).await;
            } else {
                tokio::time::sleep(answer_after).await;
            }
            if own.out.send(Out::Bytes(resp)).await.is_err() {
                return;
            }
            if let Some((peer, sm)) = receipt {
                if !receipt_after.is_zero() {
                    tokio::time::sleep(receipt_after).await;
                }
                deliver(&sim, &peer, sm).await;
            }
        });
        Flow::Go
    }
}

/// registered_delivery bits 0–1 (SMPP 3.4 §5.2.17): 1 asks for every final receipt, 2 for
/// failures only.
fn wants_receipt(registered_delivery: u8, outcome: Outcome) -> bool {
    match registered_delivery & 0x03 {
        1 => true,
        2 => outcome != Outcome::Delivered,
        _ => false,
    }
}

/// Sends a receipt on `peer`'s session; when that session has gone meanwhile, the receipt is
/// kept for another bind of its system_id rather than lost.
async fn deliver(sim: &Inner, peer: &Peer, receipt: Sm) {
    match sim.registry.originate(peer, Pdu::DeliverSm(receipt)).await {
        Ok(()) => {
            sim.stats.receipts.fetch_add(1, Ordering::Relaxed);
        }
        Err(gone) => sim.registry.keep(&peer.system_id, gone).await,
    }
}

/// The receipt for a submit_sm: a deliver_sm back from the destination to the source, with
/// esm_class 0x04, the receipt text and, when asked for, the receipted_message_id and
/// message_state TLVs.
fn receipt(sm: &Sm, id: &str, (stat, state, err): (&str, u8, &str), with_tlvs: bool) -> Sm {
    let mut body = sm.body();
    if sm.has_udh()
        && let Some(&udh) = body.first()
    {
        body = body.get(1 + usize::from(udh)..).unwrap_or_default();
    }
    let text: String = match sm.data_coding {
        8 => decode_ucs2(body).chars().take(20).collect(),
        _ => String::from_utf8_lossy(body).chars().take(20).collect(),
    };
    let receipt = DeliveryReceipt {
        id: id.to_owned(),
        sub: Some(1),
        dlvrd: Some(u32::from(state == 2)),
        // Written as 0000000000: the simulator keeps no wall clock.
        submit_date: None,
        done_date: None,
        stat: stat.to_owned(),
        err: Some(err.to_owned()),
        text: Some(text),
    };
    let tlvs = if with_tlvs {
        vec![Tlv::c_string(tlv::RECEIPTED_MESSAGE_ID, id), Tlv::u8(tlv::MESSAGE_STATE, state)]
    } else {
        Vec::new()
    };
    Sm {
        source_addr_ton: sm.dest_addr_ton,
        source_addr_npi: sm.dest_addr_npi,
        source_addr: sm.destination_addr.clone(),
        dest_addr_ton: sm.source_addr_ton,
        dest_addr_npi: sm.source_addr_npi,
        destination_addr: sm.source_addr.clone(),
        esm_class: 0x04,
        short_message: receipt.to_string().into_bytes(),
        tlvs,
        ..Sm::default()
    }
}
