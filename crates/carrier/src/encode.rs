//! A stored message turned into the submit_sm PDUs that carry it: GSM 03.38 or UCS-2, one
//! PDU per segment with a concatenation UDH or SAR TLVs, or one PDU with message_payload.

use tongdao_domain::text::{Encoding, encode_gsm7_unpacked, encode_ucs2};
use tongdao_domain::{ConcatPart, Text};
use tongdao_smpp::pdu::Sm;
use tongdao_smpp::tlv::{self, Tlv};

use crate::config::{CarrierConfig, LongMessage};

type Encoder = fn(&str) -> Option<Vec<u8>>;

/// The PDUs for one message, in part order; empty if the text cannot be encoded. A part its
/// sender cut (`concat`) goes out as that one part, with its sender's reference and numbering.
pub fn submits(
    config: &CarrierConfig,
    recipient: &str,
    sender: Option<&str>,
    text: &str,
    reference: u16,
    concat: Option<ConcatPart>,
) -> Vec<Sm> {
    let Ok(text) = Text::parse(text) else { return Vec::new() };
    let (data_coding, encode): (u8, Encoder) = match text.encoding() {
        Encoding::Gsm7 => (0, encode_gsm7_unpacked),
        Encoding::Ucs2 => (config.ucs2_data_coding, |s| Some(encode_ucs2(s))),
    };
    let base = Sm {
        source_addr_ton: config.source_ton,
        source_addr_npi: config.source_npi,
        source_addr: sender.map(str::to_owned).unwrap_or_else(|| config.source_addr.clone()),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: recipient.trim_start_matches('+').to_owned(),
        registered_delivery: 1,
        data_coding,
        ..Sm::default()
    };
    if let Some(part) = concat {
        let Some(body) = encode(text.as_str()) else { return Vec::new() };
        return vec![concatenated(config.long_message, base, body, part)];
    }
    let parts = text.split();
    if parts.len() == 1 || config.long_message == LongMessage::Payload {
        let Some(body) = encode(text.as_str()) else { return Vec::new() };
        if parts.len() == 1 && body.len() <= 254 {
            return vec![Sm { short_message: body, ..base }];
        }
        return vec![Sm { tlvs: vec![Tlv::new(tlv::MESSAGE_PAYLOAD, body)], ..base }];
    }
    let total = parts.len().min(255) as u8;
    // Our own UDH uses the 8-bit reference element, the one every handset knows.
    let reference = if config.long_message == LongMessage::Sar { reference } else { reference & 0xff };
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let Some(body) = encode(part) else { return Vec::new() };
        let seq = (i + 1) as u8;
        out.push(concatenated(config.long_message, base.clone(), body, ConcatPart { reference, total, seq }));
    }
    out
}

/// One part of a long message: SAR TLVs on SAR links, a concatenation UDH otherwise (a part
/// cut by its sender cannot travel as message_payload).
fn concatenated(method: LongMessage, base: Sm, body: Vec<u8>, part: ConcatPart) -> Sm {
    match method {
        LongMessage::Sar => Sm {
            short_message: body,
            tlvs: vec![
                Tlv::u16(tlv::SAR_MSG_REF_NUM, part.reference),
                Tlv::u8(tlv::SAR_TOTAL_SEGMENTS, part.total),
                Tlv::u8(tlv::SAR_SEGMENT_SEQNUM, part.seq),
            ],
            ..base
        },
        _ => {
            let mut short_message = Vec::with_capacity(6 + body.len());
            match u8::try_from(part.reference) {
                Ok(reference) => short_message.extend_from_slice(&[0x05, 0x00, 0x03, reference, part.total, part.seq]),
                // A 16-bit reference needs the 16-bit concatenation element (IEI 0x08).
                Err(_) => {
                    let [high, low] = part.reference.to_be_bytes();
                    short_message.extend_from_slice(&[0x06, 0x08, 0x04, high, low, part.total, part.seq]);
                }
            }
            short_message.extend_from_slice(&body);
            Sm { esm_class: 0x40, short_message, ..base }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tongdao_smpp::tlv::Tlvs;

    fn config(long_message: LongMessage) -> CarrierConfig {
        CarrierConfig { name: "c".into(), source_addr: "10690000".into(), long_message, ..CarrierConfig::default() }
    }

    #[test]
    fn a_short_gsm_text_is_one_plain_submit() {
        let pdus = submits(&config(LongMessage::Udh), "+8613800138000", None, "hello", 7, None);
        assert_eq!(pdus.len(), 1);
        assert_eq!(pdus[0].short_message, b"hello");
        assert_eq!((pdus[0].data_coding, pdus[0].esm_class, pdus[0].registered_delivery), (0, 0, 1));
        assert_eq!(pdus[0].destination_addr, "8613800138000");
        assert_eq!(pdus[0].source_addr, "10690000");
    }

    #[test]
    fn long_text_goes_out_the_configured_way() {
        let text = "验证码".repeat(30); // 90 UCS-2 units: two parts of at most 67
        let udh = submits(&config(LongMessage::Udh), "8613800138000", Some("106900001"), &text, 0x1234, None);
        assert_eq!(udh.len(), 2);
        assert!(udh.iter().all(|p| p.esm_class == 0x40 && p.data_coding == 8 && p.source_addr == "106900001"));
        assert_eq!(&udh[1].short_message[..6], &[5, 0, 3, 0x34, 2, 2]);
        let sar = submits(&config(LongMessage::Sar), "8613800138000", None, &text, 0x1234, None);
        assert_eq!(sar.len(), 2);
        assert_eq!(sar[1].tlvs.sar(), Some((0x1234, 2, 2)));
        let payload = submits(&config(LongMessage::Payload), "8613800138000", None, &text, 1, None);
        assert_eq!(payload.len(), 1);
        assert_eq!(payload[0].tlvs.message_payload().map(<[u8]>::len), Some(180));
        assert!(payload[0].short_message.is_empty());
    }

    #[test]
    fn a_part_cut_by_its_sender_keeps_its_numbering() {
        let part = Some(ConcatPart { reference: 0x42, total: 3, seq: 2 });
        let udh = submits(&config(LongMessage::Payload), "8613800138000", None, "second part", 9, part);
        assert_eq!(udh.len(), 1);
        assert_eq!(&udh[0].short_message[..6], &[5, 0, 3, 0x42, 3, 2]);
        assert_eq!(&udh[0].short_message[6..], b"second part");
        let sar = submits(&config(LongMessage::Sar), "8613800138000", None, "second part", 9, part);
        assert_eq!(sar[0].tlvs.sar(), Some((0x42, 3, 2)));
        let wide = Some(ConcatPart { reference: 0x1234, total: 2, seq: 1 });
        let udh16 = submits(&config(LongMessage::Udh), "8613800138000", None, "x", 9, wide);
        assert_eq!(&udh16[0].short_message[..7], &[6, 8, 4, 0x12, 0x34, 2, 1]);
    }
}
