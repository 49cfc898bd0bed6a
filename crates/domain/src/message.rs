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
        /// (waiting for moderation) and `cancelled`.
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
    Unknown => "unknown", final: true;
}

impl std::fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
        assert!(MessageStatus::Expired.is_final() && !MessageStatus::Scheduled.is_final());
    }
}
