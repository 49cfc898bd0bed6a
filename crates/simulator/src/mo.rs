//! Mobile-originated messages: the deliver_sm PDUs that carry a text from a handset to a
//! receiver-capable session.

use tongdao_domain::text::{Encoding, Text, encode_gsm7_unpacked, encode_ucs2};
use tongdao_smpp::pdu::Sm;

use crate::SimError;

/// The longest address a deliver_sm carries (source_addr and destination_addr are
/// C-Octet Strings of at most 21 octets, NUL included).
const MAX_ADDR: usize = 20;

/// The deliver_sm PDUs for one MO text: one when it fits a single message, else one per
/// part, each with a concatenation user data header (IEI 0x00, 8-bit `reference`).
/// GSM 7-bit text goes unpacked with data_coding 0, anything else as UCS-2 (data_coding 8).
pub(crate) fn segments(from: &str, to: &str, text: &str, reference: u8) -> Result<Vec<Sm>, SimError> {
    let (source_addr_ton, source_addr_npi, source_addr) = address("from", from)?;
    let (dest_addr_ton, dest_addr_npi, destination_addr) = address("to", to)?;
    let text = Text::parse(text).map_err(|e| SimError::InvalidMo(e.to_string()))?;
    let parts = text.split();
    let total = u8::try_from(parts.len())
        .map_err(|_| SimError::InvalidMo(format!("the text needs {} parts, more than 255", parts.len())))?;
    let data_coding = match text.encoding() {
        Encoding::Gsm7 => 0,
        Encoding::Ucs2 => 8,
    };
    let template = Sm {
        source_addr_ton,
        source_addr_npi,
        source_addr,
        dest_addr_ton,
        dest_addr_npi,
        destination_addr,
        data_coding,
        ..Sm::default()
    };
    let mut pdus = Vec::with_capacity(parts.len());
    for (seq, part) in (1..=total).zip(parts) {
        let payload = match text.encoding() {
            Encoding::Gsm7 => encode_gsm7_unpacked(part)
                .ok_or_else(|| SimError::InvalidMo("the text is not GSM 7-bit after all".into()))?,
            Encoding::Ucs2 => encode_ucs2(part),
        };
        let (esm_class, short_message) = if total == 1 {
            (0x00, payload)
        } else {
            let mut bytes = Vec::with_capacity(6 + payload.len());
            bytes.extend_from_slice(&[0x05, 0x00, 0x03, reference, total, seq]);
            bytes.extend_from_slice(&payload);
            (0x40, bytes)
        };
        pdus.push(Sm { esm_class, short_message, ..template.clone() });
    }
    Ok(pdus)
}

/// TON and NPI for an address: `+` and digits is international E.164 (1, 1), digits alone
/// unknown ISDN (0, 1), anything else alphanumeric (5, 0).
fn address(field: &str, addr: &str) -> Result<(u8, u8, String), SimError> {
    let addr = addr.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (ton, npi, value) = match addr.strip_prefix('+') {
        Some(rest) if digits(rest) => (1, 1, rest),
        Some(_) => return Err(SimError::InvalidMo(format!("{field} is not a number: {addr:?}"))),
        None if digits(addr) => (0, 1, addr),
        None if !addr.is_empty() && addr.is_ascii() => (5, 0, addr),
        None => return Err(SimError::InvalidMo(format!("{field} must be a number or ASCII text, not {addr:?}"))),
    };
    if value.len() > MAX_ADDR {
        return Err(SimError::InvalidMo(format!("{field} is longer than {MAX_ADDR} characters")));
    }
    Ok((ton, npi, value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_gsm_text_is_one_plain_deliver_sm() {
        let pdus = segments("+8613800138000", "10690001", "hello", 7).expect("segments");
        assert_eq!(pdus.len(), 1);
        let sm = &pdus[0];
        assert_eq!((sm.source_addr.as_str(), sm.source_addr_ton, sm.source_addr_npi), ("8613800138000", 1, 1));
        assert_eq!((sm.destination_addr.as_str(), sm.dest_addr_ton), ("10690001", 0));
        assert_eq!((sm.esm_class, sm.data_coding, sm.short_message.as_slice()), (0, 0, b"hello".as_slice()));
    }

    #[test]
    fn a_long_ucs2_text_is_cut_with_a_concatenation_header() {
        let text = "你".repeat(100);
        let pdus = segments("8613800138000", "10690001", &text, 9).expect("segments");
        assert_eq!(pdus.len(), 2);
        for (i, sm) in pdus.iter().enumerate() {
            assert_eq!((sm.esm_class, sm.data_coding), (0x40, 8));
            assert_eq!(&sm.short_message[..6], &[5, 0, 3, 9, 2, i as u8 + 1]);
        }
        assert_eq!(pdus[0].short_message.len(), 6 + 67 * 2);
        assert_eq!(pdus[1].short_message.len(), 6 + 33 * 2);
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(matches!(segments("+86x", "1069", "hi", 0), Err(SimError::InvalidMo(_))));
        assert!(matches!(segments("8613800138000", "", "hi", 0), Err(SimError::InvalidMo(_))));
        assert!(matches!(segments("8613800138000", "1069", "", 0), Err(SimError::InvalidMo(_))));
        assert!(matches!(segments("8613800138000", "1069", &"a".repeat(153 * 256), 0), Err(SimError::InvalidMo(_))));
    }
}
