//! A real SMSC (we play the MC) over SMPP 3.4 on TCP, for the demo, tests and benchmarks.
//!
//! What it does today: accepts any bind (transmitter, receiver, transceiver), answers
//! enquire_link and unbind, answers submit_sm with a message id, and when the submit asks
//! for a receipt (registered_delivery bit 0) sends a delivery receipt on the same session
//! after `receipt_delay` (deliver_sm with esm_class 0x04, the receipt text, and the
//! receipted_message_id and message_state TLVs). A malformed PDU is answered with
//! generic_nack and the session goes on; a frame over the cap closes the session.
//! Scripted outcomes, throttling and MO injection come with the carrier-side issue.
//!
//! # Must never
//! Be used by production routing unless configured.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tongdao_smpp::pdu::{BindResp, MessageIdResp, Sm};
use tongdao_smpp::receipt::DeliveryReceipt;
use tongdao_smpp::tlv::{self, Tlv};
use tongdao_smpp::{Command, Leniency, Pdu, split_frame, status};

/// The largest PDU accepted.
pub const MAX_PDU: u32 = 64 * 1024;

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The system_id in bind responses.
    pub system_id: String,
    /// Time from submit_sm to its receipt.
    pub receipt_delay: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig { system_id: "tongdao-sim".into(), receipt_delay: Duration::from_millis(0) }
    }
}

/// Counters a test or benchmark reads.
#[derive(Debug, Default)]
pub struct SimStats {
    pub submits: AtomicU64,
    pub receipts: AtomicU64,
    pub generic_nacks: AtomicU64,
}

/// Serves every connection on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    config: SimConfig,
    stats: Arc<SimStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let ids = Arc::new(AtomicU64::new(1));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let (config, stats, ids, shutdown) = (config.clone(), stats.clone(), ids.clone(), shutdown.clone());
                    tokio::spawn(async move { session(stream, config, stats, ids, shutdown).await });
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

/// One SMPP session, generic over the transport so tests can use in-memory pipes.
pub async fn session<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    config: SimConfig,
    stats: Arc<SimStats>,
    ids: Arc<AtomicU64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    // Everything written goes through one bounded queue, so receipts and responses interleave
    // safely.
    let (out, mut outgoing) = mpsc::channel::<Vec<u8>>(1024);
    let writing = tokio::spawn(async move {
        while let Some(bytes) = outgoing.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    let sequence = Arc::new(AtomicU32::new(1));
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let mut leniency = Leniency::default();
    let mut chunk = [0u8; 4096];
    'session: loop {
        loop {
            match split_frame(&buffer, MAX_PDU) {
                Ok(Some(length)) => {
                    let frame: Vec<u8> = buffer.drain(..length).collect();
                    let reply = match Command::decode(&frame, &mut leniency) {
                        Ok(command) => handle(command, &config, &stats, &ids, &sequence, &out),
                        Err(e) => {
                            stats.generic_nacks.fetch_add(1, Ordering::Relaxed);
                            Some(Command { status: e.status, sequence: e.sequence, pdu: Pdu::GenericNack })
                        }
                    };
                    let closing = matches!(reply, Some(Command { pdu: Pdu::UnbindResp, .. }));
                    if let Some(reply) = reply
                        && out.send(reply.encode()).await.is_err()
                    {
                        break 'session;
                    }
                    if closing {
                        break 'session;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "closing a session whose framing is broken");
                    let nack = Command { status: status::ESME_RINVCMDLEN, sequence: 0, pdu: Pdu::GenericNack };
                    let _ = out.send(nack.encode()).await;
                    break 'session;
                }
            }
        }
        tokio::select! {
            read = reader.read(&mut chunk) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            },
            _ = shutdown.changed() => break,
        }
    }
    drop(out);
    let _ = writing.await;
}

fn handle(
    command: Command,
    config: &SimConfig,
    stats: &Arc<SimStats>,
    ids: &Arc<AtomicU64>,
    sequence: &Arc<AtomicU32>,
    out: &mpsc::Sender<Vec<u8>>,
) -> Option<Command> {
    let ok = |pdu| Some(Command { status: status::ESME_ROK, sequence: command.sequence, pdu });
    let bound =
        || BindResp { system_id: config.system_id.clone(), tlvs: vec![Tlv::u8(tlv::SC_INTERFACE_VERSION, 0x34)] };
    match &command.pdu {
        Pdu::BindTransmitter(_) => ok(Pdu::BindTransmitterResp(bound())),
        Pdu::BindReceiver(_) => ok(Pdu::BindReceiverResp(bound())),
        Pdu::BindTransceiver(_) => ok(Pdu::BindTransceiverResp(bound())),
        Pdu::EnquireLink => ok(Pdu::EnquireLinkResp),
        Pdu::Unbind => ok(Pdu::UnbindResp),
        Pdu::SubmitSm(sm) => {
            stats.submits.fetch_add(1, Ordering::Relaxed);
            let id = format!("{:x}", ids.fetch_add(1, Ordering::Relaxed));
            if sm.registered_delivery & 0x01 != 0 {
                schedule_receipt(sm, id.clone(), config.receipt_delay, stats.clone(), sequence.clone(), out.clone());
            }
            ok(Pdu::SubmitSmResp(MessageIdResp { message_id: id }))
        }
        // Responses to what we sent, and PDUs an MC does not expect, need no answer here.
        Pdu::DeliverSmResp(_) | Pdu::EnquireLinkResp | Pdu::GenericNack | Pdu::UnbindResp => None,
        _ => Some(Command { status: status::ESME_RINVCMDID, sequence: command.sequence, pdu: Pdu::GenericNack }),
    }
}

fn schedule_receipt(
    sm: &Sm,
    id: String,
    delay: Duration,
    stats: Arc<SimStats>,
    sequence: Arc<AtomicU32>,
    out: mpsc::Sender<Vec<u8>>,
) {
    let text: String = String::from_utf8_lossy(sm.body()).chars().take(20).collect();
    let receipt = DeliveryReceipt {
        id: id.clone(),
        sub: Some(1),
        dlvrd: Some(1),
        submit_date: Some("0000000000".into()),
        done_date: Some("0000000000".into()),
        stat: "DELIVRD".into(),
        err: Some("000".into()),
        text: Some(text),
    };
    let deliver = Sm {
        source_addr_ton: sm.dest_addr_ton,
        source_addr_npi: sm.dest_addr_npi,
        source_addr: sm.destination_addr.clone(),
        dest_addr_ton: sm.source_addr_ton,
        dest_addr_npi: sm.source_addr_npi,
        destination_addr: sm.source_addr.clone(),
        esm_class: 0x04,
        short_message: receipt.to_string().into_bytes(),
        tlvs: vec![Tlv::c_string(tlv::RECEIPTED_MESSAGE_ID, &id), Tlv::u8(tlv::MESSAGE_STATE, 2)],
        ..Sm::default()
    };
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let sequence = sequence.fetch_add(1, Ordering::Relaxed);
        let command = Command { status: status::ESME_ROK, sequence, pdu: Pdu::DeliverSm(deliver) };
        if out.send(command.encode()).await.is_ok() {
            stats.receipts.fetch_add(1, Ordering::Relaxed);
        }
    });
}
