//! What a carrier sends on its own: delivery receipts and replies (MO).
//!
//! A receipt is matched by the receipted_message_id TLV, else by the id in its text (in
//! every form a carrier may write it); it goes to the store through the progress writer,
//! which matches it even when it arrives before the answer to its submit_sm or on another
//! bind (the store keeps it as an early receipt until the part is recorded). Any other
//! deliver_sm is a reply: decoded, reassembled when it comes in parts (UDH or SAR), and
//! stored for the customer owning the number it was sent to.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tongdao_domain::text::{decode_gsm7_unpacked, decode_ucs2};
use tongdao_domain::{Clock, Msisdn};
use tongdao_smpp::pdu::Sm;
use tongdao_smpp::receipt::{DeliveryReceipt, ReceiptOutcome, id_forms};
use tongdao_smpp::tlv::Tlvs;
use tongdao_store::{NewInbound, PartOutcome, Progress, Store};

use crate::carriers::CarrierLinks;
use crate::link::{Ack, Incoming};
use crate::progress::ProgressSink;

/// Replies being reassembled, at most; the oldest is stored as it is beyond that.
const MAX_PARTIAL: usize = 10_000;
/// How long the parts of one reply are waited for.
const PARTIAL_TIMEOUT: Duration = Duration::from_secs(300);

/// What a deliver_sm is.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivered {
    /// A receipt for one part: the carrier's id forms, the outcome, the error code.
    Receipt {
        ids: Vec<String>,
        outcome: PartOutcome,
        error: Option<String>,
    },
    /// A receipt that says nothing final (ENROUTE, ACCEPTD): acknowledged, not recorded.
    Intermediate,
    Reply(Reply),
}

/// One deliver_sm of a reply, decoded.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub from: String,
    pub to: String,
    pub text: String,
    /// (reference, total, this part's number) when the reply came in parts.
    pub part: Option<(u16, u8, u8)>,
}

fn part_outcome(outcome: ReceiptOutcome) -> Option<PartOutcome> {
    Some(match outcome {
        ReceiptOutcome::Delivered => PartOutcome::Delivered,
        ReceiptOutcome::Undeliverable | ReceiptOutcome::Deleted => PartOutcome::Undeliverable,
        ReceiptOutcome::Expired => PartOutcome::Expired,
        ReceiptOutcome::Rejected => PartOutcome::Rejected,
        ReceiptOutcome::Unknown => PartOutcome::Unknown,
        ReceiptOutcome::Accepted | ReceiptOutcome::EnRoute => return None,
    })
}

fn decode_text(data_coding: u8, bytes: &[u8]) -> String {
    match data_coding {
        0 | 1 => decode_gsm7_unpacked(bytes),
        8 => decode_ucs2(bytes),
        3 => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Reads a deliver_sm.
pub fn classify(sm: &Sm) -> Delivered {
    let tlv_id = sm.tlvs.receipted_message_id().map(|id| id.trim().to_ascii_lowercase()).filter(|id| !id.is_empty());
    if sm.is_delivery_receipt() || tlv_id.is_some() {
        let text = String::from_utf8_lossy(sm.body()).into_owned();
        let parsed = DeliveryReceipt::parse(&text);
        let ids = match (&tlv_id, &parsed) {
            (Some(id), _) => vec![id.clone()],
            (None, Some(r)) => id_forms(&r.id),
            (None, None) => Vec::new(),
        };
        let outcome = sm
            .tlvs
            .message_state()
            .map(ReceiptOutcome::from_message_state)
            .or_else(|| parsed.as_ref().map(DeliveryReceipt::outcome))
            .unwrap_or(ReceiptOutcome::Unknown);
        let error = match sm.tlvs.network_error_code() {
            Some((kind, code)) if code != 0 => Some(format!("{kind}:{code}")),
            _ => parsed.as_ref().and_then(|r| r.err.clone()).filter(|e| !e.trim_start_matches('0').is_empty()),
        };
        return match (ids.is_empty(), part_outcome(outcome)) {
            (true, _) | (_, None) => Delivered::Intermediate,
            (false, Some(outcome)) => Delivered::Receipt { ids, outcome, error },
        };
    }
    let body = sm.body();
    let (part, body) = if sm.has_udh() && !body.is_empty() {
        let header = usize::from(body[0]) + 1;
        let udh = body.get(1..header.min(body.len())).unwrap_or(&[]);
        (concatenation(udh), body.get(header..).unwrap_or(&[]))
    } else {
        (sm.tlvs.sar(), body)
    };
    Delivered::Reply(Reply {
        from: sm.source_addr.clone(),
        to: sm.destination_addr.clone(),
        text: decode_text(sm.data_coding, body),
        part: part.filter(|(_, total, seq)| *total > 1 && *seq >= 1 && seq <= total),
    })
}

/// The concatenation information element of a UDH (8- or 16-bit reference).
fn concatenation(mut udh: &[u8]) -> Option<(u16, u8, u8)> {
    while udh.len() >= 2 {
        let (id, len) = (udh[0], usize::from(udh[1]));
        let value = udh.get(2..2 + len)?;
        match (id, value) {
            (0x00, [r, t, s]) => return Some((u16::from(*r), *t, *s)),
            (0x08, [r1, r2, t, s]) => return Some((u16::from_be_bytes([*r1, *r2]), *t, *s)),
            _ => udh = &udh[2 + len..],
        }
    }
    None
}

struct Partial {
    parts: Vec<Option<String>>,
    to: String,
    since: Instant,
}

/// Runs one carrier's intake until every link feeding it is gone.
pub async fn run(
    carrier: Arc<CarrierLinks>,
    mut incoming: mpsc::Receiver<Incoming>,
    store: Arc<dyn Store>,
    progress: ProgressSink,
    clock: Arc<dyn Clock>,
    platform: tongdao_pipeline::Platform,
) {
    let opt_out_keywords = platform.opt_out_keywords();
    let mut partial: HashMap<(String, u16, u8), Partial> = HashMap::new();
    while let Some(Incoming::DeliverSm(sm, ack)) = incoming.recv().await {
        let link = carrier.name().to_owned();
        match classify(&sm) {
            Delivered::Receipt { ids, outcome, error } => {
                carrier.stats.receipts.fetch_add(1, Ordering::Relaxed);
                let receipt = Progress::Receipt { link, carrier_message_ids: ids, outcome, error, at: clock.now_ms() };
                progress.record_then_ack(receipt, ack).await;
            }
            Delivered::Intermediate => ack.send().await,
            Delivered::Reply(reply) => {
                carrier.stats.inbound.fetch_add(1, Ordering::Relaxed);
                let complete = match reply.part {
                    None => Some((reply.to, reply.text)),
                    Some((reference, total, seq)) => {
                        let key = (reply.from.clone(), reference, total);
                        let entry = partial.entry(key.clone()).or_insert_with(|| Partial {
                            parts: vec![None; usize::from(total)],
                            to: reply.to.clone(),
                            since: Instant::now(),
                        });
                        entry.parts[usize::from(seq) - 1] = Some(reply.text);
                        if entry.parts.iter().all(Option::is_some) {
                            partial.remove(&key).map(|p| (p.to, p.parts.into_iter().flatten().collect()))
                        } else {
                            None
                        }
                    }
                };
                match complete {
                    Some((to, text)) => {
                        let reply = WholeReply { link: &link, from: &reply.from, to: &to, text };
                        store_reply(&store, &*clock, (&platform, &opt_out_keywords), reply, Some(ack)).await
                    }
                    // A part is acknowledged when it arrives; the reply is stored when whole
                    // (or, incomplete, after the timeout).
                    None => ack.send().await,
                }
                for (from, to, text) in stale(&mut partial) {
                    let reply = WholeReply { link: &link, from: &from, to: &to, text };
                    store_reply(&store, &*clock, (&platform, &opt_out_keywords), reply, None).await;
                }
            }
        }
    }
}

/// Replies whose parts stopped coming, removed from `partial` with what arrived of them.
fn stale(partial: &mut HashMap<(String, u16, u8), Partial>) -> Vec<(String, String, String)> {
    let now = Instant::now();
    let mut expired: Vec<(String, u16, u8)> =
        partial.iter().filter(|(_, p)| now.duration_since(p.since) > PARTIAL_TIMEOUT).map(|(k, _)| k.clone()).collect();
    if partial.len() > MAX_PARTIAL
        && let Some(oldest) = partial.iter().min_by_key(|(_, p)| p.since).map(|(k, _)| k.clone())
    {
        expired.push(oldest);
    }
    expired
        .into_iter()
        .filter_map(|key| {
            let p = partial.remove(&key)?;
            let text = p.parts.into_iter().map(|t| t.unwrap_or_else(|| "…".into())).collect();
            Some((key.0, p.to, text))
        })
        .collect()
}

/// A whole reply (MO), as it goes to the store.
struct WholeReply<'a> {
    link: &'a str,
    from: &'a str,
    to: &'a str,
    text: String,
}

async fn store_reply(
    store: &Arc<dyn Store>,
    clock: &dyn Clock,
    (platform, opt_out_keywords): (&tongdao_pipeline::Platform, &[String]),
    reply: WholeReply<'_>,
    ack: Option<Ack>,
) {
    let WholeReply { link, from, to, text } = reply;
    // An opt-out names its sender as we store recipients: E.164 with `+` (carriers write
    // the international number without it).
    let opt_out = tongdao_domain::optout::is_opt_out(&text, opt_out_keywords)
        .then(|| Msisdn::parse(from).or_else(|_| Msisdn::parse(&format!("+{from}"))).ok())
        .flatten()
        .map(|number| number.as_str().to_owned());
    let inbound = NewInbound {
        id: tongdao_domain::id::new_id("mo"),
        sender: from.to_owned(),
        recipient: to.to_owned(),
        text,
        link: link.to_owned(),
        received_at: clock.now_ms(),
        opt_out,
    };
    let _hold = inbound.opt_out.is_some().then(|| platform.opting_out());
    for attempt in 1..=5u64 {
        match store.record_inbound(inbound.clone()).await {
            Ok(Some(_)) => break,
            Ok(None) => {
                tracing::warn!(link, to = %tongdao_domain::msisdn::mask(to), "a reply to a number no customer owns; kept for the operator");
                break;
            }
            Err(e) if attempt < 5 => {
                tracing::warn!(error = %e, "cannot store a reply; retrying");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            // Unanswered, the carrier sends it again.
            Err(e) => {
                tracing::error!(error = %e, "cannot store a reply; leaving it unacknowledged");
                return;
            }
        }
    }
    if let Some(ack) = ack {
        ack.send().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tongdao_smpp::tlv::{self, Tlv};

    #[test]
    fn receipts_are_read_from_the_tlv_or_the_text() {
        let by_tlv = Sm {
            esm_class: 0x04,
            short_message: b"id:999 stat:UNDELIV err:013".to_vec(),
            tlvs: vec![Tlv::c_string(tlv::RECEIPTED_MESSAGE_ID, "1A2B"), Tlv::u8(tlv::MESSAGE_STATE, 2)],
            ..Sm::default()
        };
        assert_eq!(
            classify(&by_tlv),
            Delivered::Receipt { ids: vec!["1a2b".into()], outcome: PartOutcome::Delivered, error: Some("013".into()) }
        );
        let by_text = Sm { esm_class: 0x04, short_message: b"ID:26 Stat:UNDELIV err:000".to_vec(), ..Sm::default() };
        assert_eq!(
            classify(&by_text),
            Delivered::Receipt {
                ids: vec!["26".into(), "1a".into(), "38".into()],
                outcome: PartOutcome::Undeliverable,
                error: None
            }
        );
        let enroute = Sm { esm_class: 0x04, short_message: b"id:1 stat:ENROUTE".to_vec(), ..Sm::default() };
        assert_eq!(classify(&enroute), Delivered::Intermediate);
    }

    #[test]
    fn replies_are_decoded_with_their_part() {
        let mut short_message = vec![5, 0, 3, 9, 2, 1];
        short_message.extend_from_slice(&tongdao_domain::text::encode_ucs2("你好"));
        let sm = Sm {
            source_addr: "8613800138000".into(),
            destination_addr: "106900001".into(),
            esm_class: 0x40,
            data_coding: 8,
            short_message,
            ..Sm::default()
        };
        assert_eq!(
            classify(&sm),
            Delivered::Reply(Reply {
                from: "8613800138000".into(),
                to: "106900001".into(),
                text: "你好".into(),
                part: Some((9, 2, 1))
            })
        );
    }
}
