//! The [`Backend`] of a real gateway: binds checked against the customers' SMPP accounts,
//! submit_sm through the same accept path as HTTP, query_sm and cancel_sm on the stored
//! messages, deliveries from the store's SMPP outbox.
//!
//! # Choices
//! - data_coding 0 is the GSM 03.38 default alphabet, one septet per octet (SMPP 3.4 §5.2.19
//!   "SMSC Default Alphabet"); 1 is ASCII, 3 Latin-1, 8 UCS-2. Others are refused with
//!   [`ESME_RINVDCS`].
//! - A part of a long message (concatenation UDH, IEI 0 or 8, or the SAR TLVs) is one message
//!   of one segment, billed once, and goes to the carrier as that same part; message_payload
//!   carries a whole long message, billed per segment.
//! - A message's SMPP id is its HTTP id without the `msg_` prefix: 26 lowercase letters and
//!   digits, which read the same in GSM 03.38 and ASCII (an `_` does not: GSM writes it as
//!   octet 0x11), so an ESME matches a receipt's `id:` whichever alphabet it assumes.
//!   query_sm and cancel_sm take either form.
//! - Receipts are GSM text (data_coding 0) with the receipted_message_id and message_state
//!   TLVs (SMPP 3.4 binds); the first 20 characters of the text only if they are in GSM.
//! - Refusals take their command_status from the one rejection table
//!   ([`tongdao_domain::ErrorCode::smpp_status`]); a refused `sender` is ESME_RINVSRCADR.
//! - schedule_delivery_time and validity_period, absolute or relative, become `send_at` and
//!   `valid_until`; user_message_reference becomes the `client_ref`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use time::{Duration as TimeDuration, OffsetDateTime, UtcOffset};
use tongdao_domain::text::{decode_gsm7_unpacked, decode_ucs2, encode_gsm7_unpacked, encode_ucs2};
use tongdao_domain::{ConcatPart, ErrorCode, MessageStatus, ReceiptRequest, Rejection};
use tongdao_pipeline::smpp::BindRefusal;
use tongdao_pipeline::{Platform, Submission};
use tongdao_smpp::DeliveryReceipt;
use tongdao_smpp::pdu::{CancelSm, QuerySm, QuerySmResp, Sm};
use tongdao_smpp::status::*;
use tongdao_smpp::tlv::{self, Tlv, Tlvs};
use tongdao_store::SmppEvent;
use tongdao_store::cluster::{Cluster, Held};

use crate::{Account, Backend, BackendError, Delivery};

/// SMPP 5.0's "invalid data coding scheme", the clearest answer to a 3.4 client too.
pub const ESME_RINVDCS: u32 = 0x0000_0104;
const ESME_RINVESMCLASS: u32 = 0x0000_0043;
const ESME_RINVSCHED: u32 = 0x0000_0061;
const ESME_RINVEXPIRY: u32 = 0x0000_0062;

/// The gateway's platform behind the SMPP server.
#[derive(Debug, Clone)]
pub struct PlatformBackend {
    platform: Platform,
    /// Several nodes: the delivery leases this node holds, by customer.
    cluster: Option<Arc<Cluster>>,
    delivering: Arc<tokio::sync::Mutex<HashMap<String, Held>>>,
}

impl PlatformBackend {
    pub fn new(platform: Platform, cluster: Option<Arc<Cluster>>) -> PlatformBackend {
        PlatformBackend { platform, cluster, delivering: Default::default() }
    }
}

#[async_trait]
impl Backend for PlatformBackend {
    async fn authenticate(&self, system_id: &str, password: &str, peer: IpAddr) -> Result<Account, u32> {
        match self.platform.authenticate_smpp(system_id, password, peer).await {
            Ok(a) => {
                let source = format!("smpp:{}@{peer}", a.system_id);
                Ok(Account {
                    customer_id: a.customer_id,
                    system_id: a.system_id,
                    max_binds: a.max_binds,
                    tps: a.tps,
                    source,
                })
            }
            Err(BindRefusal::UnknownSystemId) => Err(ESME_RINVSYSID),
            Err(BindRefusal::BadPassword) => Err(ESME_RINVPASWD),
            Err(BindRefusal::AddressNotAllowed | BindRefusal::Suspended) => Err(ESME_RBINDFAIL),
            Err(BindRefusal::Unavailable) => Err(ESME_RSYSERR),
        }
    }

    async fn submit(&self, account: &Account, _interface_version: u8, sms: Vec<Sm>) -> Vec<Result<String, u32>> {
        let now = self.platform.now_ms();
        let mut results: Vec<Result<String, u32>> = Vec::with_capacity(sms.len());
        let mut submissions = Vec::with_capacity(sms.len());
        let mut slots = Vec::with_capacity(sms.len());
        for sm in &sms {
            match submission(sm, now) {
                Ok(mut s) => {
                    s.source = Some(account.source.clone());
                    slots.push(results.len());
                    results.push(Err(ESME_RSYSERR));
                    submissions.push(s);
                }
                Err(status) => results.push(Err(status)),
            }
        }
        if !submissions.is_empty() {
            let accepted = self.platform.accept_many(&account.customer_id, submissions).await;
            for (slot, result) in slots.into_iter().zip(accepted) {
                results[slot] = match result {
                    Ok(response) => {
                        response.messages.first().and_then(|m| m.id.as_deref()).map(smpp_id).ok_or(ESME_RSYSERR)
                    }
                    Err(rejection) => Err(status_of(&rejection)),
                };
            }
        }
        results
    }

    async fn query(&self, account: &Account, query: QuerySm) -> Result<QuerySmResp, u32> {
        let (message, _) = self
            .platform
            .message(&account.customer_id, &message_id(&query.message_id))
            .await
            .map_err(|r| if r.code == ErrorCode::NotFound { ESME_RQUERYFAIL } else { status_of(&r) })?;
        let final_date = if message.status.is_final() { smpp_time(message.updated_at) } else { String::new() };
        Ok(QuerySmResp {
            message_id: smpp_id(&message.id),
            final_date,
            message_state: message_state(message.status),
            error_code: 0,
        })
    }

    async fn cancel(&self, account: &Account, cancel: CancelSm) -> Result<(), u32> {
        if cancel.message_id.is_empty() {
            // Cancelling by service_type and addresses is not offered: name the message.
            return Err(ESME_RCANCELFAIL);
        }
        match self.platform.cancel_message(&account.customer_id, &message_id(&cancel.message_id)).await {
            Ok(_) => Ok(()),
            Err(r) if matches!(r.code, ErrorCode::NotFound | ErrorCode::MessageNotCancellable) => Err(ESME_RCANCELFAIL),
            Err(r) => Err(status_of(&r)),
        }
    }

    async fn pending(&self, customer_id: &str, after_id: i64, limit: u32) -> Result<Vec<Delivery>, BackendError> {
        let rows = self
            .platform
            .store()
            .smpp_pending(customer_id, after_id, limit)
            .await
            .map_err(|e| BackendError(e.to_string()))?;
        let mut deliveries = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        for row in rows {
            match serde_json::from_str::<SmppEvent>(&row.body) {
                Ok(event) => deliveries.push(Delivery { id: row.id, sm: deliver_sm(&event) }),
                // Written by this version's store, so never expected: dropped (and logged)
                // rather than sent as garbage or left to stall the customer's queue.
                Err(e) => {
                    tracing::error!(id = row.id, error = %e, "unreadable SMPP outbox row dropped");
                    unreadable.push(row.id);
                }
            }
        }
        if !unreadable.is_empty() {
            self.delivered(customer_id, unreadable).await?;
        }
        Ok(deliveries)
    }

    async fn delivered(&self, customer_id: &str, ids: Vec<i64>) -> Result<(), BackendError> {
        self.platform.store().smpp_delivered(customer_id, ids).await.map_err(|e| BackendError(e.to_string()))
    }

    async fn not_delivered(&self, customer_id: &str, id: i64, status: Option<u32>) {
        tracing::debug!(customer = customer_id, id, ?status, "a deliver_sm was not taken; it will be sent again");
    }

    async fn may_deliver(&self, customer_id: &str) -> bool {
        let Some(cluster) = &self.cluster else { return true };
        let mut delivering = self.delivering.lock().await;
        if delivering.get(customer_id).is_some_and(|held| !held.is_lost()) {
            return true;
        }
        delivering.remove(customer_id);
        match cluster.try_hold(&format!("smpp-deliveries:{customer_id}")).await {
            Some(held) => {
                delivering.insert(customer_id.to_owned(), held);
                true
            }
            None => false,
        }
    }

    async fn stop_delivering(&self, customer_id: &str) {
        let held = self.delivering.lock().await.remove(customer_id);
        if let Some(held) = held {
            held.release().await;
        }
    }
}

const ID_PREFIX: &str = "msg_";

/// A message id as SMPP carries it: without the `msg_` prefix.
pub fn smpp_id(id: &str) -> String {
    id.strip_prefix(ID_PREFIX).unwrap_or(id).to_owned()
}

/// A message id from SMPP (either form) as the platform knows it.
pub fn message_id(id: &str) -> String {
    if id.starts_with(ID_PREFIX) { id.to_owned() } else { format!("{ID_PREFIX}{id}") }
}

/// The command_status for a refusal from the accept path.
pub fn status_of(rejection: &Rejection) -> u32 {
    match (rejection.code, rejection.field.as_deref()) {
        (ErrorCode::InvalidRequest, Some("sender")) => ESME_RINVSRCADR,
        (ErrorCode::InvalidRequest, Some("send_at")) => ESME_RINVSCHED,
        (ErrorCode::InvalidRequest, Some("valid_until")) => ESME_RINVEXPIRY,
        (code, _) => code.smpp_status(),
    }
}

/// A submit_sm as the accept path's [`Submission`]; `Err` is the command_status.
pub fn submission(sm: &Sm, now_ms: i64) -> Result<Submission, u32> {
    if sm.destination_addr.is_empty() {
        return Err(ESME_RINVDSTADR);
    }
    let recipient = if sm.dest_addr_ton == 1 && !sm.destination_addr.starts_with('+') {
        format!("+{}", sm.destination_addr)
    } else {
        sm.destination_addr.clone()
    };
    let (mut body, mut concat) = (sm.body(), None);
    if sm.has_udh() {
        let (header, rest) = split_udh(body).ok_or(ESME_RINVESMCLASS)?;
        concat = concat_from_udh(header);
        body = rest;
    }
    if let Some((reference, total, seq)) = sm.tlvs.sar() {
        concat = Some(ConcatPart { reference, total, seq });
    }
    if let Some(part) = concat
        && (part.total == 0 || part.seq == 0 || part.seq > part.total)
    {
        return Err(ESME_RINVOPTPARAMVAL);
    }
    // A "long message" of one part is just a message.
    let concat = concat.filter(|part| part.total > 1);
    let text = match sm.data_coding {
        0 => decode_gsm7_unpacked(body),
        1 => body.iter().map(|&b| if b.is_ascii() { char::from(b) } else { '\u{FFFD}' }).collect(),
        3 => body.iter().map(|&b| char::from(b)).collect(),
        8 => {
            if body.len() % 2 != 0 {
                return Err(ESME_RINVMSGLEN);
            }
            decode_ucs2(body)
        }
        _ => return Err(ESME_RINVDCS),
    };
    let send_at = parse_time(&sm.schedule_delivery_time, now_ms).ok_or(ESME_RINVSCHED)?;
    let valid_until = parse_time(&sm.validity_period, now_ms).ok_or(ESME_RINVEXPIRY)?;
    Ok(Submission {
        recipients: vec![recipient],
        text,
        sender: (!sm.source_addr.is_empty()).then(|| sm.source_addr.clone()),
        callback_url: None,
        client_ref: sm.tlvs.user_message_reference().map(|r| r.to_string()),
        send_at,
        valid_until,
        partial: false,
        concat,
        receipt: ReceiptRequest::from_registered_delivery(sm.registered_delivery),
        source: None,
        template: None,
    })
}

/// (the user data header without its length octet, the rest), if the length fits.
fn split_udh(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let length = usize::from(*body.first()?);
    (body.len() > length).then(|| (&body[1..=length], &body[length + 1..]))
}

/// The concatenation element of a user data header (IEI 0: 8-bit reference, 8: 16-bit).
fn concat_from_udh(mut header: &[u8]) -> Option<ConcatPart> {
    while let [iei, length, rest @ ..] = header {
        let length = usize::from(*length);
        let value = rest.get(..length)?;
        match (iei, value) {
            (0x00, [reference, total, seq]) => {
                return Some(ConcatPart { reference: u16::from(*reference), total: *total, seq: *seq });
            }
            (0x08, [high, low, total, seq]) => {
                return Some(ConcatPart { reference: u16::from_be_bytes([*high, *low]), total: *total, seq: *seq });
            }
            _ => header = &rest[length..],
        }
    }
    None
}

/// An SMPP time (§7.1.1): empty is `Some(None)`; absolute `YYMMDDhhmmsstnn±` or relative
/// `YYMMDDhhmmss000R`; `None` when malformed.
pub fn parse_time(text: &str, now_ms: i64) -> Option<Option<i64>> {
    if text.is_empty() {
        return Some(None);
    }
    let b = text.as_bytes();
    if b.len() != 16 || !b[..15].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |i: usize| i64::from(b[i] - b'0') * 10 + i64::from(b[i + 1] - b'0');
    let (yy, mo, dd, hh, mi, ss) = (n(0), n(2), n(4), n(6), n(8), n(10));
    let tenths = i64::from(b[12] - b'0');
    match b[15] {
        b'R' => {
            // Relative: months as 30 days and years as 365, as SMSCs commonly read them.
            let seconds = ((yy * 365 + mo * 30 + dd) * 24 + hh) * 3600 + mi * 60 + ss;
            Some(Some(now_ms + seconds * 1000))
        }
        sign @ (b'+' | b'-') => {
            let quarters = n(13);
            let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
            let date = time::Date::from_calendar_date(2000 + yy as i32, month, u8::try_from(dd).ok()?).ok()?;
            let clock =
                time::Time::from_hms(u8::try_from(hh).ok()?, u8::try_from(mi).ok()?, u8::try_from(ss).ok()?).ok()?;
            let offset_seconds = quarters * 15 * 60 * if sign == b'-' { -1 } else { 1 };
            let offset = UtcOffset::from_whole_seconds(i32::try_from(offset_seconds).ok()?).ok()?;
            let at = date.with_time(clock).assume_offset(offset);
            Some(Some(at.unix_timestamp() * 1000 + tenths * 100))
        }
        _ => None,
    }
}

/// An absolute SMPP time in UTC: `YYMMDDhhmmss000+`.
pub fn smpp_time(ms: i64) -> String {
    let at = utc(ms);
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}000+",
        at.year() % 100,
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// `YYMMDDhhmm`, as receipts write dates.
fn receipt_date(ms: i64) -> String {
    smpp_time(ms)[..10].to_owned()
}

fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + TimeDuration::milliseconds(ms)
}

/// SMPP 3.4 §5.2.28 message_state for a status.
pub fn message_state(status: MessageStatus) -> u8 {
    match status {
        MessageStatus::Delivered => 2,
        MessageStatus::Expired => 3,
        MessageStatus::Cancelled | MessageStatus::Deleted => 4,
        MessageStatus::Undeliverable | MessageStatus::Failed => 5,
        MessageStatus::Unknown => 7,
        MessageStatus::Rejected => 8,
        MessageStatus::Accepted
        | MessageStatus::Scheduled
        | MessageStatus::Held
        | MessageStatus::Queued
        | MessageStatus::Submitted => 1,
    }
}

/// The receipt `stat:` word for a final status.
fn stat(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Delivered => "DELIVRD",
        MessageStatus::Expired => "EXPIRED",
        MessageStatus::Cancelled | MessageStatus::Deleted => "DELETED",
        MessageStatus::Rejected => "REJECTD",
        MessageStatus::Undeliverable | MessageStatus::Failed => "UNDELIV",
        MessageStatus::Submitted | MessageStatus::Queued => "ENROUTE",
        _ => "UNKNOWN",
    }
}

/// Three digits for `err:`: the carrier's code when the error names one, else 000.
fn err_code(error: Option<&str>) -> String {
    let Some(error) = error else { return "000".to_owned() };
    let code = error
        .rsplit("0x")
        .next()
        .and_then(|hex| u32::from_str_radix(hex.trim(), 16).ok())
        .or_else(|| error.trim().parse::<u32>().ok())
        .unwrap_or(0);
    format!("{:03}", code % 1000)
}

/// A number as SMPP addresses carry it: digits, no `+`.
fn address(number: &str) -> String {
    number.trim_start_matches('+').to_owned()
}

/// The deliver_sm for an outbox event.
pub fn deliver_sm(event: &SmppEvent) -> Sm {
    match event {
        SmppEvent::Receipt { message_id, from, to, status, submitted_at, done_at, error, text } => {
            let delivered = *status == MessageStatus::Delivered;
            let id = smpp_id(message_id);
            let gsm_text = if encode_gsm7_unpacked(text).is_some() { text.clone() } else { String::new() };
            let receipt = DeliveryReceipt {
                id: id.clone(),
                sub: Some(1),
                dlvrd: Some(u32::from(delivered)),
                submit_date: Some(receipt_date(*submitted_at)),
                done_date: Some(receipt_date(*done_at)),
                stat: stat(*status).to_owned(),
                err: Some(if delivered { "000".to_owned() } else { err_code(error.as_deref()) }),
                text: Some(gsm_text),
            };
            Sm {
                source_addr_ton: 1,
                source_addr_npi: 1,
                source_addr: address(from),
                destination_addr: to.as_deref().map(address).unwrap_or_default(),
                esm_class: 0x04,
                data_coding: 0,
                short_message: encode_gsm7_unpacked(&receipt.to_string()).unwrap_or_default(),
                tlvs: vec![
                    Tlv::c_string(tlv::RECEIPTED_MESSAGE_ID, &id),
                    Tlv::u8(tlv::MESSAGE_STATE, message_state(*status)),
                ],
                ..Sm::default()
            }
        }
        SmppEvent::Inbound { from, to, text, .. } => {
            let (data_coding, body) = match encode_gsm7_unpacked(text) {
                Some(body) => (0, body),
                None => (8, encode_ucs2(text)),
            };
            let (short_message, tlvs) = if body.len() <= 254 {
                (body, Vec::new())
            } else {
                (Vec::new(), vec![Tlv::new(tlv::MESSAGE_PAYLOAD, body)])
            };
            Sm {
                source_addr_ton: 1,
                source_addr_npi: 1,
                source_addr: address(from),
                dest_addr_ton: 0,
                dest_addr_npi: 1,
                destination_addr: address(to),
                data_coding,
                short_message,
                tlvs,
                ..Sm::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sm(data_coding: u8, esm_class: u8, body: &[u8]) -> Sm {
        Sm {
            destination_addr: "8613800138000".into(),
            dest_addr_ton: 1,
            data_coding,
            esm_class,
            short_message: body.to_vec(),
            registered_delivery: 1,
            ..Sm::default()
        }
    }

    #[test]
    fn bodies_decode_by_data_coding() {
        let gsm = submission(&sm(0, 0, &[0x00, b'a', 0x1B, 0x65]), 0).expect("gsm");
        assert_eq!(gsm.text, "@a€");
        assert_eq!(gsm.recipients, ["+8613800138000"]);
        assert_eq!(gsm.receipt, ReceiptRequest::Final);
        assert_eq!(submission(&sm(3, 0, &[0xE9, b't', 0xE9]), 0).expect("latin-1").text, "été");
        assert_eq!(submission(&sm(8, 0, &encode_ucs2("验证码")), 0).expect("ucs2").text, "验证码");
        assert_eq!(submission(&sm(8, 0, &[0x00]), 0).err(), Some(ESME_RINVMSGLEN));
        assert_eq!(submission(&sm(4, 0, b"bin"), 0).err(), Some(ESME_RINVDCS));
        let mut payload = sm(0, 0, b"");
        payload.tlvs.push(Tlv::new(tlv::MESSAGE_PAYLOAD, b"long text".to_vec()));
        assert_eq!(submission(&payload, 0).expect("payload").text, "long text");
    }

    #[test]
    fn parts_keep_their_numbering_from_udh_or_sar() {
        let udh = submission(&sm(0, 0x40, &[5, 0, 3, 0x2A, 3, 2, b'h', b'i']), 0).expect("udh");
        assert_eq!(udh.concat, Some(ConcatPart { reference: 0x2A, total: 3, seq: 2 }));
        assert_eq!(udh.text, "hi");
        let wide = submission(&sm(0, 0x40, &[6, 8, 4, 0x12, 0x34, 2, 1, b'x']), 0).expect("16-bit");
        assert_eq!(wide.concat, Some(ConcatPart { reference: 0x1234, total: 2, seq: 1 }));
        let mut sar = sm(0, 0, b"part");
        sar.tlvs = vec![
            Tlv::u16(tlv::SAR_MSG_REF_NUM, 7),
            Tlv::u8(tlv::SAR_TOTAL_SEGMENTS, 2),
            Tlv::u8(tlv::SAR_SEGMENT_SEQNUM, 2),
        ];
        assert_eq!(submission(&sar, 0).expect("sar").concat, Some(ConcatPart { reference: 7, total: 2, seq: 2 }));
        assert_eq!(submission(&sm(0, 0x40, &[9, 0, 3]), 0).err(), Some(ESME_RINVESMCLASS));
        assert_eq!(submission(&sm(0, 0x40, &[5, 0, 3, 1, 2, 3, b'x']), 0).err(), Some(ESME_RINVOPTPARAMVAL));
        // Other elements (here a port address) are skipped, not sent as text.
        let ports = submission(&sm(0, 0x40, &[4, 4, 2, 0x0B, 0x84, b'o', b'k']), 0).expect("ports");
        assert_eq!((ports.text.as_str(), ports.concat), ("ok", None));
    }

    #[test]
    fn smpp_times_absolute_and_relative() {
        let now = 1_790_000_000_000;
        assert_eq!(parse_time("", now), Some(None));
        assert_eq!(parse_time("000000010000000R", now), Some(Some(now + 3_600_000)));
        // 2026-11-27 10:00:00 at +08:00 (32 quarter hours) is 02:00 UTC.
        let at = parse_time("261127100000032+", now).flatten().expect("absolute");
        assert_eq!(smpp_time(at), "261127020000000+");
        assert_eq!(parse_time("2611271000", now), None);
        assert_eq!(parse_time("261327100000032+", now), None, "month 13");
    }

    #[test]
    fn refusals_map_through_the_table() {
        assert_eq!(status_of(&Rejection::invalid("sender", "x")), ESME_RINVSRCADR);
        assert_eq!(status_of(&Rejection::new(ErrorCode::InsufficientBalance, "x")), ESME_RSUBMITFAIL);
        assert_eq!(status_of(&Rejection::field(ErrorCode::InvalidNumber, "to[0]", "x")), ESME_RINVDSTADR);
        assert_eq!(status_of(&Rejection::new(ErrorCode::Throttled, "x")), ESME_RTHROTTLED);
    }

    #[test]
    fn receipts_carry_text_and_tlvs() {
        let event = SmppEvent::Receipt {
            message_id: "msg_01m8da".into(),
            from: "+8613800138000".into(),
            to: Some("10690001".into()),
            status: MessageStatus::Undeliverable,
            submitted_at: 1_790_000_000_000,
            done_at: 1_790_000_060_000,
            error: Some("0x0000000b".into()),
            text: "验证码".into(),
        };
        let sm = deliver_sm(&event);
        assert_eq!(
            (sm.esm_class, sm.source_addr.as_str(), sm.destination_addr.as_str()),
            (4, "8613800138000", "10690001")
        );
        assert_eq!(sm.data_coding, 0);
        let ascii = std::str::from_utf8(&sm.short_message).expect("the header is the same in ASCII");
        let receipt = DeliveryReceipt::parse(ascii).expect("receipt");
        assert_eq!(
            (receipt.id.as_str(), receipt.stat.as_str(), receipt.err.as_deref()),
            ("01m8da", "UNDELIV", Some("011"))
        );
        assert_eq!(sm.tlvs.receipted_message_id().as_deref(), Some("01m8da"));
        assert_eq!(
            (smpp_id("msg_01m8da"), message_id("01m8da"), message_id("msg_01m8da")),
            ("01m8da".to_owned(), "msg_01m8da".to_owned(), "msg_01m8da".to_owned())
        );
        assert_eq!(sm.tlvs.message_state(), Some(5));
        let mo = deliver_sm(&SmppEvent::Inbound {
            inbound_id: "mo_1".into(),
            from: "+8613800138000".into(),
            to: "10690001".into(),
            text: "好".into(),
            received_at: 0,
        });
        assert_eq!((mo.data_coding, mo.short_message.as_slice(), mo.esm_class), (8, &[0x59, 0x7D][..], 0));
    }
}
