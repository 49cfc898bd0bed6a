//! Message statuses (design decision 8) and the limits of one send request.

/// Recipients in one request.
pub const MAX_RECIPIENTS: usize = 1000;
/// Bytes of text looked at; longer text is `text_too_long` before it is analysed.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Characters of a sender id / signature.
pub const MAX_SENDER_CHARS: usize = 20;
/// Characters of a client reference.
pub const MAX_CLIENT_REF_CHARS: usize = 64;
/// Bytes of a callback URL.
pub const MAX_CALLBACK_URL_BYTES: usize = 2048;
/// How far ahead `send_at` may be.
pub const MAX_SCHEDULE_AHEAD_MS: i64 = 30 * 24 * 3600 * 1000;
/// How far after `send_at` (or now) `valid_until` may be.
pub const MAX_VALIDITY_MS: i64 = 30 * 24 * 3600 * 1000;
/// Segments per message unless the agreement says otherwise.
pub const DEFAULT_MAX_SEGMENTS: u32 = 10;

macro_rules! statuses {
    ($($variant:ident => $text:literal, final: $final:literal;)*) => {
        /// Where a message is. `accepted → queued → submitted → delivered | undeliverable |
        /// expired | rejected | unknown | failed`, plus `scheduled` (waiting for `send_at`), `held`
        /// (waiting for moderation), `cancelled` and `deleted` (by moderation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum MessageStatus { $($variant),* }

        impl MessageStatus {
            pub const ALL: &'static [MessageStatus] = &[$(MessageStatus::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $(MessageStatus::$variant => $text),* }
            }
            pub fn parse(s: &str) -> Option<MessageStatus> {
                match s { $($text => Some(MessageStatus::$variant),)* _ => None }
            }
            /// A final status never changes again.
            pub fn is_final(self) -> bool {
                match self { $(MessageStatus::$variant => $final),* }
            }
        }
    };
}

statuses! {
    Accepted => "accepted", final: false;
    Scheduled => "scheduled", final: false;
    Held => "held", final: false;
    Queued => "queued", final: false;
    Submitted => "submitted", final: false;
    Delivered => "delivered", final: true;
    Undeliverable => "undeliverable", final: true;
    Expired => "expired", final: true;
    Rejected => "rejected", final: true;
    Failed => "failed", final: true;
    Cancelled => "cancelled", final: true;
    // Held for moderation and deleted by the operator (clause 3.4): refunded, never sent.
    Deleted => "deleted", final: true;
    Unknown => "unknown", final: true;
}

impl std::fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One part of a long message its sender split itself (SMPP: a concatenation UDH or the SAR
/// TLVs). Such a message is one segment and goes out to the carrier as that same part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ConcatPart {
    pub reference: u16,
    pub total: u8,
    /// 1-based.
    pub seq: u8,
}

/// Which delivery receipts an SMPP sender asked for (`registered_delivery & 3`). Messages from
/// HTTP ask for none: they report by webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptRequest {
    #[default]
    None,
    /// A receipt on the final status, whatever it is.
    Final,
    /// A receipt only when the message was not delivered.
    Failure,
}

impl ReceiptRequest {
    /// From SMPP's registered_delivery (bits 0-1; 3 is reserved and read as none).
    pub fn from_registered_delivery(value: u8) -> ReceiptRequest {
        match value & 0x03 {
            1 => ReceiptRequest::Final,
            2 => ReceiptRequest::Failure,
            _ => ReceiptRequest::None,
        }
    }
    /// As stored: 0, 1 or 2.
    pub fn as_u8(self) -> u8 {
        match self {
            ReceiptRequest::None => 0,
            ReceiptRequest::Final => 1,
            ReceiptRequest::Failure => 2,
        }
    }
    pub fn from_u8(value: u8) -> ReceiptRequest {
        Self::from_registered_delivery(value)
    }
    /// Whether reaching `status` produces a receipt.
    pub fn wants(self, status: MessageStatus) -> bool {
        match self {
            ReceiptRequest::None => false,
            ReceiptRequest::Final => status.is_final(),
            ReceiptRequest::Failure => status.is_final() && status != MessageStatus::Delivered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_parses_back_from_its_name() {
        for status in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(MessageStatus::parse("Queued"), None);
    }

    #[test]
    fn receipts_follow_registered_delivery() {
        let failure = ReceiptRequest::from_registered_delivery(0x12);
        assert_eq!(failure, ReceiptRequest::Failure);
        assert!(failure.wants(MessageStatus::Undeliverable) && !failure.wants(MessageStatus::Delivered));
        let all = ReceiptRequest::from_registered_delivery(1);
        assert!(all.wants(MessageStatus::Delivered) && !all.wants(MessageStatus::Submitted));
        assert!(!ReceiptRequest::from_registered_delivery(3).wants(MessageStatus::Failed));
        assert_eq!(ReceiptRequest::from_u8(all.as_u8()), all);
        assert!(MessageStatus::Expired.is_final() && !MessageStatus::Scheduled.is_final());
    }
}
