//! Optional parameters (SMPP 3.4 §5.3): tag, length, value. Every TLV is kept as bytes, in
//! order, so unknown vendor TLVs survive a decode and re-encode; the named ones have typed
//! accessors.

pub const SAR_MSG_REF_NUM: u16 = 0x020C;
pub const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
pub const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
pub const USER_MESSAGE_REFERENCE: u16 = 0x0204;
pub const SC_INTERFACE_VERSION: u16 = 0x0210;
pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
pub const NETWORK_ERROR_CODE: u16 = 0x0423;
pub const MESSAGE_PAYLOAD: u16 = 0x0424;
pub const MESSAGE_STATE: u16 = 0x0427;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    pub tag: u16,
    pub value: Vec<u8>,
}

impl Tlv {
    pub fn new(tag: u16, value: Vec<u8>) -> Tlv {
        Tlv { tag, value }
    }
    pub fn u8(tag: u16, value: u8) -> Tlv {
        Tlv { tag, value: vec![value] }
    }
    pub fn u16(tag: u16, value: u16) -> Tlv {
        Tlv { tag, value: value.to_be_bytes().to_vec() }
    }
    /// A C-Octet String value: the text and its NUL.
    pub fn c_string(tag: u16, value: &str) -> Tlv {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        Tlv { tag, value: bytes }
    }
    pub fn as_u8(&self) -> Option<u8> {
        (self.value.len() == 1).then(|| self.value[0])
    }
    pub fn as_u16(&self) -> Option<u16> {
        (self.value.len() == 2).then(|| u16::from_be_bytes([self.value[0], self.value[1]]))
    }
    /// A C-Octet String value, with or without its NUL (carriers send both).
    pub fn as_text(&self) -> String {
        let end = self.value.iter().position(|b| *b == 0).unwrap_or(self.value.len());
        String::from_utf8_lossy(&self.value[..end]).into_owned()
    }
}

/// Lookups over a PDU's TLVs.
pub trait Tlvs {
    fn tlv(&self, tag: u16) -> Option<&Tlv>;

    fn receipted_message_id(&self) -> Option<String> {
        self.tlv(RECEIPTED_MESSAGE_ID).map(Tlv::as_text)
    }
    fn message_state(&self) -> Option<u8> {
        self.tlv(MESSAGE_STATE).and_then(Tlv::as_u8)
    }
    fn message_payload(&self) -> Option<&[u8]> {
        self.tlv(MESSAGE_PAYLOAD).map(|t| t.value.as_slice())
    }
    /// (reference, total, this part's number), from the SAR TLVs.
    fn sar(&self) -> Option<(u16, u8, u8)> {
        Some((
            self.tlv(SAR_MSG_REF_NUM)?.as_u16()?,
            self.tlv(SAR_TOTAL_SEGMENTS)?.as_u8()?,
            self.tlv(SAR_SEGMENT_SEQNUM)?.as_u8()?,
        ))
    }
    /// network_error_code: network type and a 2-octet error code.
    fn network_error_code(&self) -> Option<(u8, u16)> {
        let v = &self.tlv(NETWORK_ERROR_CODE)?.value;
        (v.len() == 3).then(|| (v[0], u16::from_be_bytes([v[1], v[2]])))
    }
    fn user_message_reference(&self) -> Option<u16> {
        self.tlv(USER_MESSAGE_REFERENCE).and_then(Tlv::as_u16)
    }
}

impl Tlvs for [Tlv] {
    fn tlv(&self, tag: u16) -> Option<&Tlv> {
        self.iter().find(|t| t.tag == tag)
    }
}

impl Tlvs for Vec<Tlv> {
    fn tlv(&self, tag: u16) -> Option<&Tlv> {
        self.iter().find(|t| t.tag == tag)
    }
}
