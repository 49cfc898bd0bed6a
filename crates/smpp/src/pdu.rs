//! PDUs (SMPP 3.4 §4): decoded leniently, encoded strictly.
//!
//! Leniency, as real carriers need it (each use counted in [`Leniency`]): a C-Octet String
//! without its NUL at the end of the body takes the rest of the body; a C-Octet String
//! longer than the specification allows is accepted; bytes after the last mandatory field
//! of a PDU without optional parameters are ignored; a response with an error status may
//! come without a body. Anything else malformed is a [`DecodeError`] that carries the
//! sequence number, so the session answers it with generic_nack and lives on.

use crate::frame::HEADER_LEN;
use crate::status;
use crate::tlv::{Tlv, Tlvs};

macro_rules! command_ids {
    ($($variant:ident = $value:literal,)*) => {
        /// command_id values (SMPP 3.4 §5.1.2.1).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum CommandId { $($variant),* }

        impl CommandId {
            pub fn from_u32(value: u32) -> Option<CommandId> {
                match value { $($value => Some(CommandId::$variant),)* _ => None }
            }
            pub fn as_u32(self) -> u32 {
                match self { $(CommandId::$variant => $value),* }
            }
        }
    };
}

command_ids! {
    GenericNack = 0x8000_0000,
    BindReceiver = 0x0000_0001,
    BindReceiverResp = 0x8000_0001,
    BindTransmitter = 0x0000_0002,
    BindTransmitterResp = 0x8000_0002,
    QuerySm = 0x0000_0003,
    QuerySmResp = 0x8000_0003,
    SubmitSm = 0x0000_0004,
    SubmitSmResp = 0x8000_0004,
    DeliverSm = 0x0000_0005,
    DeliverSmResp = 0x8000_0005,
    Unbind = 0x0000_0006,
    UnbindResp = 0x8000_0006,
    ReplaceSm = 0x0000_0007,
    ReplaceSmResp = 0x8000_0007,
    CancelSm = 0x0000_0008,
    CancelSmResp = 0x8000_0008,
    BindTransceiver = 0x0000_0009,
    BindTransceiverResp = 0x8000_0009,
    Outbind = 0x0000_000B,
    EnquireLink = 0x0000_0015,
    EnquireLinkResp = 0x8000_0015,
    DataSm = 0x0000_0103,
    DataSmResp = 0x8000_0103,
}

/// How often each leniency was needed; a session keeps one and exports it as metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leniency {
    pub missing_nul: u64,
    pub overlong_field: u64,
    pub trailing_bytes: u64,
    pub empty_error_body: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode PDU {command_id:#010x} (sequence {sequence}): {reason}")]
pub struct DecodeError {
    pub command_id: u32,
    pub sequence: u32,
    pub reason: &'static str,
    /// The command_status for the generic_nack that answers it.
    pub status: u32,
}

/// bind_transmitter, bind_receiver, bind_transceiver (§4.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bind {
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub interface_version: u8,
    pub addr_ton: u8,
    pub addr_npi: u8,
    pub address_range: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindResp {
    pub system_id: String,
    pub tlvs: Vec<Tlv>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outbind {
    pub system_id: String,
    pub password: String,
}

/// submit_sm (§4.4) and deliver_sm (§4.6) share their body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sm {
    pub service_type: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub destination_addr: String,
    pub esm_class: u8,
    pub protocol_id: u8,
    pub priority_flag: u8,
    pub schedule_delivery_time: String,
    pub validity_period: String,
    pub registered_delivery: u8,
    pub replace_if_present_flag: u8,
    pub data_coding: u8,
    pub sm_default_msg_id: u8,
    /// At most 254 octets (sm_length is one octet; longer text goes in message_payload).
    pub short_message: Vec<u8>,
    pub tlvs: Vec<Tlv>,
}

impl Sm {
    /// esm_class bit 2 (0x04): an MC delivery receipt (§5.2.12).
    pub fn is_delivery_receipt(&self) -> bool {
        self.esm_class & 0x3C == 0x04
    }
    /// esm_class bit 6 (0x40): the short message begins with a user data header.
    pub fn has_udh(&self) -> bool {
        self.esm_class & 0x40 != 0
    }
    /// The message body: message_payload when present, else short_message.
    pub fn body(&self) -> &[u8] {
        self.tlvs.message_payload().unwrap_or(&self.short_message)
    }
}

/// submit_sm_resp and deliver_sm_resp.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageIdResp {
    pub message_id: String,
}

/// data_sm (§4.7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataSm {
    pub service_type: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub destination_addr: String,
    pub esm_class: u8,
    pub registered_delivery: u8,
    pub data_coding: u8,
    pub tlvs: Vec<Tlv>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataSmResp {
    pub message_id: String,
    pub tlvs: Vec<Tlv>,
}

/// query_sm (§4.8).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuerySm {
    pub message_id: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuerySmResp {
    pub message_id: String,
    pub final_date: String,
    pub message_state: u8,
    pub error_code: u8,
}

/// cancel_sm (§4.9).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CancelSm {
    pub service_type: String,
    pub message_id: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub destination_addr: String,
}

/// replace_sm (§4.10).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplaceSm {
    pub message_id: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
    pub schedule_delivery_time: String,
    pub validity_period: String,
    pub registered_delivery: u8,
    pub sm_default_msg_id: u8,
    pub short_message: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    BindTransmitter(Bind),
    BindTransmitterResp(BindResp),
    BindReceiver(Bind),
    BindReceiverResp(BindResp),
    BindTransceiver(Bind),
    BindTransceiverResp(BindResp),
    Outbind(Outbind),
    Unbind,
    UnbindResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    SubmitSm(Sm),
    SubmitSmResp(MessageIdResp),
    DeliverSm(Sm),
    DeliverSmResp(MessageIdResp),
    DataSm(DataSm),
    DataSmResp(DataSmResp),
    QuerySm(QuerySm),
    QuerySmResp(QuerySmResp),
    CancelSm(CancelSm),
    CancelSmResp,
    ReplaceSm(ReplaceSm),
    ReplaceSmResp,
}

impl Pdu {
    pub fn command_id(&self) -> CommandId {
        match self {
            Pdu::BindTransmitter(_) => CommandId::BindTransmitter,
            Pdu::BindTransmitterResp(_) => CommandId::BindTransmitterResp,
            Pdu::BindReceiver(_) => CommandId::BindReceiver,
            Pdu::BindReceiverResp(_) => CommandId::BindReceiverResp,
            Pdu::BindTransceiver(_) => CommandId::BindTransceiver,
            Pdu::BindTransceiverResp(_) => CommandId::BindTransceiverResp,
            Pdu::Outbind(_) => CommandId::Outbind,
            Pdu::Unbind => CommandId::Unbind,
            Pdu::UnbindResp => CommandId::UnbindResp,
            Pdu::EnquireLink => CommandId::EnquireLink,
            Pdu::EnquireLinkResp => CommandId::EnquireLinkResp,
            Pdu::GenericNack => CommandId::GenericNack,
            Pdu::SubmitSm(_) => CommandId::SubmitSm,
            Pdu::SubmitSmResp(_) => CommandId::SubmitSmResp,
            Pdu::DeliverSm(_) => CommandId::DeliverSm,
            Pdu::DeliverSmResp(_) => CommandId::DeliverSmResp,
            Pdu::DataSm(_) => CommandId::DataSm,
            Pdu::DataSmResp(_) => CommandId::DataSmResp,
            Pdu::QuerySm(_) => CommandId::QuerySm,
            Pdu::QuerySmResp(_) => CommandId::QuerySmResp,
            Pdu::CancelSm(_) => CommandId::CancelSm,
            Pdu::CancelSmResp => CommandId::CancelSmResp,
            Pdu::ReplaceSm(_) => CommandId::ReplaceSm,
            Pdu::ReplaceSmResp => CommandId::ReplaceSmResp,
        }
    }
}

/// One PDU with its header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub status: u32,
    pub sequence: u32,
    pub pdu: Pdu,
}

// C-Octet String maxima, NUL included (SMPP 3.4 §4).
const SYSTEM_ID: usize = 16;
const PASSWORD: usize = 9;
const SYSTEM_TYPE: usize = 13;
const ADDRESS_RANGE: usize = 41;
const SERVICE_TYPE: usize = 6;
const ADDR: usize = 21;
const ADDR_65: usize = 65;
const TIME: usize = 17;
const MESSAGE_ID: usize = 65;

struct Reader<'a, 'l> {
    bytes: &'a [u8],
    pos: usize,
    leniency: &'l mut Leniency,
}

type Field<T> = Result<T, &'static str>;

impl<'a> Reader<'a, '_> {
    fn rest(&self) -> &'a [u8] {
        let bytes: &'a [u8] = self.bytes;
        &bytes[self.pos..]
    }
    fn is_done(&self) -> bool {
        self.pos >= self.bytes.len()
    }
    fn u8(&mut self) -> Field<u8> {
        let byte = *self.rest().first().ok_or("the body ends inside a field")?;
        self.pos += 1;
        Ok(byte)
    }
    fn c_string(&mut self, max: usize) -> Field<String> {
        let rest = self.rest();
        let (text, used) = match rest.iter().position(|b| *b == 0) {
            Some(nul) => {
                if nul + 1 > max {
                    self.leniency.overlong_field += 1;
                }
                (&rest[..nul], nul + 1)
            }
            None if rest.is_empty() => return Err("the body ends before a C-Octet String"),
            None => {
                self.leniency.missing_nul += 1;
                (rest, rest.len())
            }
        };
        let text = String::from_utf8_lossy(text).into_owned();
        self.pos += used;
        Ok(text)
    }
    fn octets(&mut self, n: usize) -> Field<Vec<u8>> {
        let bytes = self.rest().get(..n).ok_or("short_message is longer than the body")?.to_vec();
        self.pos += n;
        Ok(bytes)
    }
    fn tlvs(&mut self) -> Field<Vec<Tlv>> {
        let mut tlvs = Vec::new();
        while !self.is_done() {
            let rest = self.rest();
            if rest.len() < 4 {
                return Err("a TLV header is cut short");
            }
            let tag = u16::from_be_bytes([rest[0], rest[1]]);
            let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            let value = rest.get(4..4 + len).ok_or("a TLV value is longer than the body")?.to_vec();
            self.pos += 4 + len;
            tlvs.push(Tlv { tag, value });
        }
        Ok(tlvs)
    }
    /// For PDUs that end with their mandatory fields: ignore (and count) what follows.
    fn end(&mut self) {
        if !self.is_done() {
            self.leniency.trailing_bytes += 1;
            self.pos = self.bytes.len();
        }
    }
}

/// The PDUs that have no body (SMPP 3.4 §4): the header says it all.
fn bodiless(id: CommandId) -> Option<Pdu> {
    Some(match id {
        CommandId::Unbind => Pdu::Unbind,
        CommandId::UnbindResp => Pdu::UnbindResp,
        CommandId::EnquireLink => Pdu::EnquireLink,
        CommandId::EnquireLinkResp => Pdu::EnquireLinkResp,
        CommandId::GenericNack => Pdu::GenericNack,
        CommandId::CancelSmResp => Pdu::CancelSmResp,
        CommandId::ReplaceSmResp => Pdu::ReplaceSmResp,
        _ => return None,
    })
}

fn bind(r: &mut Reader) -> Field<Bind> {
    let bind = Bind {
        system_id: r.c_string(SYSTEM_ID)?,
        password: r.c_string(PASSWORD)?,
        system_type: r.c_string(SYSTEM_TYPE)?,
        interface_version: r.u8()?,
        addr_ton: r.u8()?,
        addr_npi: r.u8()?,
        address_range: r.c_string(ADDRESS_RANGE)?,
    };
    r.end();
    Ok(bind)
}

fn bind_resp(r: &mut Reader) -> Field<BindResp> {
    Ok(BindResp { system_id: r.c_string(SYSTEM_ID)?, tlvs: r.tlvs()? })
}

fn sm(r: &mut Reader) -> Field<Sm> {
    let mut sm = Sm {
        service_type: r.c_string(SERVICE_TYPE)?,
        source_addr_ton: r.u8()?,
        source_addr_npi: r.u8()?,
        source_addr: r.c_string(ADDR)?,
        dest_addr_ton: r.u8()?,
        dest_addr_npi: r.u8()?,
        destination_addr: r.c_string(ADDR)?,
        esm_class: r.u8()?,
        protocol_id: r.u8()?,
        priority_flag: r.u8()?,
        schedule_delivery_time: r.c_string(TIME)?,
        validity_period: r.c_string(TIME)?,
        registered_delivery: r.u8()?,
        replace_if_present_flag: r.u8()?,
        data_coding: r.u8()?,
        sm_default_msg_id: r.u8()?,
        ..Sm::default()
    };
    let length = usize::from(r.u8()?);
    sm.short_message = r.octets(length)?;
    sm.tlvs = r.tlvs()?;
    Ok(sm)
}

fn message_id_resp(r: &mut Reader, status: u32) -> Field<MessageIdResp> {
    if r.is_done() {
        // Allowed for an error (§4.4.2 leaves the body out), tolerated for OK.
        r.leniency.empty_error_body += u64::from(status == status::ESME_ROK);
        return Ok(MessageIdResp::default());
    }
    let resp = MessageIdResp { message_id: r.c_string(MESSAGE_ID)? };
    r.end();
    Ok(resp)
}

fn data_sm(r: &mut Reader) -> Field<DataSm> {
    Ok(DataSm {
        service_type: r.c_string(SERVICE_TYPE)?,
        source_addr_ton: r.u8()?,
        source_addr_npi: r.u8()?,
        source_addr: r.c_string(ADDR_65)?,
        dest_addr_ton: r.u8()?,
        dest_addr_npi: r.u8()?,
        destination_addr: r.c_string(ADDR_65)?,
        esm_class: r.u8()?,
        registered_delivery: r.u8()?,
        data_coding: r.u8()?,
        tlvs: r.tlvs()?,
    })
}

fn query_sm(r: &mut Reader) -> Field<QuerySm> {
    let query = QuerySm {
        message_id: r.c_string(MESSAGE_ID)?,
        source_addr_ton: r.u8()?,
        source_addr_npi: r.u8()?,
        source_addr: r.c_string(ADDR)?,
    };
    r.end();
    Ok(query)
}

fn query_sm_resp(r: &mut Reader) -> Field<QuerySmResp> {
    let resp = QuerySmResp {
        message_id: r.c_string(MESSAGE_ID)?,
        final_date: r.c_string(TIME)?,
        message_state: r.u8()?,
        error_code: r.u8()?,
    };
    r.end();
    Ok(resp)
}

fn cancel_sm(r: &mut Reader) -> Field<CancelSm> {
    let cancel = CancelSm {
        service_type: r.c_string(SERVICE_TYPE)?,
        message_id: r.c_string(MESSAGE_ID)?,
        source_addr_ton: r.u8()?,
        source_addr_npi: r.u8()?,
        source_addr: r.c_string(ADDR)?,
        dest_addr_ton: r.u8()?,
        dest_addr_npi: r.u8()?,
        destination_addr: r.c_string(ADDR)?,
    };
    r.end();
    Ok(cancel)
}

fn replace_sm(r: &mut Reader) -> Field<ReplaceSm> {
    let mut replace = ReplaceSm {
        message_id: r.c_string(MESSAGE_ID)?,
        source_addr_ton: r.u8()?,
        source_addr_npi: r.u8()?,
        source_addr: r.c_string(ADDR)?,
        schedule_delivery_time: r.c_string(TIME)?,
        validity_period: r.c_string(TIME)?,
        registered_delivery: r.u8()?,
        sm_default_msg_id: r.u8()?,
        ..ReplaceSm::default()
    };
    let length = usize::from(r.u8()?);
    replace.short_message = r.octets(length)?;
    r.end();
    Ok(replace)
}

impl Command {
    /// Decodes one whole frame (as found by [`crate::split_frame`]).
    pub fn decode(frame: &[u8], leniency: &mut Leniency) -> Result<Command, DecodeError> {
        let word = |i: usize| frame.get(i..i + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let (length, command_id, status, sequence) = (word(0), word(4), word(8), word(12));
        let fail = |reason: &'static str, status: u32| DecodeError { command_id, sequence, reason, status };
        if frame.len() < HEADER_LEN || length as usize != frame.len() {
            return Err(fail("command_length does not match the frame", status::ESME_RINVCMDLEN));
        }
        let id = CommandId::from_u32(command_id).ok_or_else(|| fail("unknown command_id", status::ESME_RINVCMDID))?;
        let mut r = Reader { bytes: &frame[HEADER_LEN..], pos: 0, leniency };
        let error_status = status != status::ESME_ROK;
        // A response reporting an error may carry no body at all.
        let empty_resp = error_status && r.is_done();
        let pdu = (|| -> Field<Pdu> {
            Ok(match id {
                CommandId::BindTransmitter => Pdu::BindTransmitter(bind(&mut r)?),
                CommandId::BindReceiver => Pdu::BindReceiver(bind(&mut r)?),
                CommandId::BindTransceiver => Pdu::BindTransceiver(bind(&mut r)?),
                CommandId::BindTransmitterResp if empty_resp => Pdu::BindTransmitterResp(BindResp::default()),
                CommandId::BindReceiverResp if empty_resp => Pdu::BindReceiverResp(BindResp::default()),
                CommandId::BindTransceiverResp if empty_resp => Pdu::BindTransceiverResp(BindResp::default()),
                CommandId::BindTransmitterResp => Pdu::BindTransmitterResp(bind_resp(&mut r)?),
                CommandId::BindReceiverResp => Pdu::BindReceiverResp(bind_resp(&mut r)?),
                CommandId::BindTransceiverResp => Pdu::BindTransceiverResp(bind_resp(&mut r)?),
                CommandId::Outbind => {
                    let outbind = Outbind { system_id: r.c_string(SYSTEM_ID)?, password: r.c_string(PASSWORD)? };
                    r.end();
                    Pdu::Outbind(outbind)
                }
                CommandId::SubmitSm => Pdu::SubmitSm(sm(&mut r)?),
                CommandId::DeliverSm => Pdu::DeliverSm(sm(&mut r)?),
                CommandId::SubmitSmResp => Pdu::SubmitSmResp(message_id_resp(&mut r, status)?),
                CommandId::DeliverSmResp => Pdu::DeliverSmResp(message_id_resp(&mut r, status)?),
                CommandId::DataSm => Pdu::DataSm(data_sm(&mut r)?),
                CommandId::DataSmResp if empty_resp => Pdu::DataSmResp(DataSmResp::default()),
                CommandId::DataSmResp => {
                    Pdu::DataSmResp(DataSmResp { message_id: r.c_string(MESSAGE_ID)?, tlvs: r.tlvs()? })
                }
                CommandId::QuerySm => Pdu::QuerySm(query_sm(&mut r)?),
                CommandId::QuerySmResp if empty_resp => Pdu::QuerySmResp(QuerySmResp::default()),
                CommandId::QuerySmResp => Pdu::QuerySmResp(query_sm_resp(&mut r)?),
                CommandId::CancelSm => Pdu::CancelSm(cancel_sm(&mut r)?),
                CommandId::ReplaceSm => Pdu::ReplaceSm(replace_sm(&mut r)?),
                // The rest have no body.
                other => {
                    r.end();
                    bodiless(other).ok_or("a command without a decoder")?
                }
            })
        })();
        let pdu = pdu.map_err(|reason| fail(reason, status::ESME_RINVCMDLEN))?;
        Ok(Command { status, sequence, pdu })
    }

    /// The PDU as bytes, header included.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.pdu.command_id().as_u32().to_be_bytes());
        out.extend_from_slice(&self.status.to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        encode_body(&self.pdu, &mut out);
        let length = u32::try_from(out.len()).unwrap_or(u32::MAX);
        out[..4].copy_from_slice(&length.to_be_bytes());
        out
    }
}

fn put_c(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.push(0);
}

fn put_tlvs(out: &mut Vec<u8>, tlvs: &[Tlv]) {
    for tlv in tlvs {
        out.extend_from_slice(&tlv.tag.to_be_bytes());
        let len = u16::try_from(tlv.value.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&tlv.value[..usize::from(len)]);
    }
}

fn put_octets(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u8::try_from(bytes.len()).unwrap_or(u8::MAX);
    out.push(len);
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

fn encode_body(pdu: &Pdu, out: &mut Vec<u8>) {
    match pdu {
        Pdu::BindTransmitter(b) | Pdu::BindReceiver(b) | Pdu::BindTransceiver(b) => {
            put_c(out, &b.system_id);
            put_c(out, &b.password);
            put_c(out, &b.system_type);
            out.extend_from_slice(&[b.interface_version, b.addr_ton, b.addr_npi]);
            put_c(out, &b.address_range);
        }
        Pdu::BindTransmitterResp(r) | Pdu::BindReceiverResp(r) | Pdu::BindTransceiverResp(r) => {
            put_c(out, &r.system_id);
            put_tlvs(out, &r.tlvs);
        }
        Pdu::Outbind(o) => {
            put_c(out, &o.system_id);
            put_c(out, &o.password);
        }
        Pdu::Unbind
        | Pdu::UnbindResp
        | Pdu::EnquireLink
        | Pdu::EnquireLinkResp
        | Pdu::GenericNack
        | Pdu::CancelSmResp
        | Pdu::ReplaceSmResp => {}
        Pdu::SubmitSm(sm) | Pdu::DeliverSm(sm) => {
            put_c(out, &sm.service_type);
            out.extend_from_slice(&[sm.source_addr_ton, sm.source_addr_npi]);
            put_c(out, &sm.source_addr);
            out.extend_from_slice(&[sm.dest_addr_ton, sm.dest_addr_npi]);
            put_c(out, &sm.destination_addr);
            out.extend_from_slice(&[sm.esm_class, sm.protocol_id, sm.priority_flag]);
            put_c(out, &sm.schedule_delivery_time);
            put_c(out, &sm.validity_period);
            out.extend_from_slice(&[
                sm.registered_delivery,
                sm.replace_if_present_flag,
                sm.data_coding,
                sm.sm_default_msg_id,
            ]);
            put_octets(out, &sm.short_message);
            put_tlvs(out, &sm.tlvs);
        }
        Pdu::SubmitSmResp(r) | Pdu::DeliverSmResp(r) => put_c(out, &r.message_id),
        Pdu::DataSm(d) => {
            put_c(out, &d.service_type);
            out.extend_from_slice(&[d.source_addr_ton, d.source_addr_npi]);
            put_c(out, &d.source_addr);
            out.extend_from_slice(&[d.dest_addr_ton, d.dest_addr_npi]);
            put_c(out, &d.destination_addr);
            out.extend_from_slice(&[d.esm_class, d.registered_delivery, d.data_coding]);
            put_tlvs(out, &d.tlvs);
        }
        Pdu::DataSmResp(r) => {
            put_c(out, &r.message_id);
            put_tlvs(out, &r.tlvs);
        }
        Pdu::QuerySm(q) => {
            put_c(out, &q.message_id);
            out.extend_from_slice(&[q.source_addr_ton, q.source_addr_npi]);
            put_c(out, &q.source_addr);
        }
        Pdu::QuerySmResp(r) => {
            put_c(out, &r.message_id);
            put_c(out, &r.final_date);
            out.extend_from_slice(&[r.message_state, r.error_code]);
        }
        Pdu::CancelSm(c) => {
            put_c(out, &c.service_type);
            put_c(out, &c.message_id);
            out.extend_from_slice(&[c.source_addr_ton, c.source_addr_npi]);
            put_c(out, &c.source_addr);
            out.extend_from_slice(&[c.dest_addr_ton, c.dest_addr_npi]);
            put_c(out, &c.destination_addr);
        }
        Pdu::ReplaceSm(r) => {
            put_c(out, &r.message_id);
            out.extend_from_slice(&[r.source_addr_ton, r.source_addr_npi]);
            put_c(out, &r.source_addr);
            put_c(out, &r.schedule_delivery_time);
            put_c(out, &r.validity_period);
            out.extend_from_slice(&[r.registered_delivery, r.sm_default_msg_id]);
            put_octets(out, &r.short_message);
        }
    }
}
