//! The one rejection table (design decision 7): every refusal has a stable snake_case
//! code, an HTTP status and an SMPP `command_status`, so the HTTP and SMPP edges answer
//! the same refusal the same way. Codes are part of the public API: never rename one.

use std::fmt;

macro_rules! codes {
    ($($variant:ident => $code:literal, $http:literal, $smpp:literal, $doc:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $(#[doc = $doc] $variant),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $http),* }
            }
            /// SMPP 3.4 §5.1.3 command_status for the same refusal.
            pub fn smpp_status(self) -> u32 {
                match self { $(ErrorCode::$variant => $smpp),* }
            }
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $doc),* }
            }
        }
    };
}

// SMPP: 0x0E ESME_RINVPASWD, 0x03 ESME_RINVCMDID, 0x0B ESME_RINVDSTADR, 0x01 ESME_RINVMSGLEN,
// 0x45 ESME_RSUBMITFAIL, 0x14 ESME_RMSGQFUL, 0x08 ESME_RSYSERR, 0x58 ESME_RTHROTTLED,
// 0x67 ESME_RQUERYFAIL, 0x11 ESME_RCANCELFAIL, 0xC1 ESME_RINVOPTPARAMVAL.
codes! {
    Unauthorized => "unauthorized", 401, 0x0E, "missing, unknown or revoked credentials";
    Forbidden => "forbidden", 403, 0x45, "the credentials may not do this";
    InvalidRequest => "invalid_request", 400, 0xC1, "the request is malformed; `field` names the culprit";
    InvalidNumber => "invalid_number", 400, 0x0B, "a recipient is not a valid mobile number";
    TextTooLong => "text_too_long", 400, 0x01, "the text needs more segments than the agreement allows";
    UnsupportedDestination => "unsupported_destination", 400, 0x0B, "the tariff prices no such destination";
    AgreementNotAccepted => "agreement_not_accepted", 403, 0x45, "the customer has not accepted the agreement's terms";
    AgreementNotActive => "agreement_not_active", 403, 0x45, "no agreement in force: unsigned, not yet effective or terminated";
    AgreementExpired => "agreement_expired", 403, 0x45, "the agreement's term has ended";
    AccountSuspended => "account_suspended", 403, 0x45, "the service is suspended (agreement clause 3.5)";
    RecipientOutOfScope => "recipient_out_of_scope", 403, 0x0B, "the recipient is not in the customer's contact directory and the agreement enforces its scope (clause 2.2)";
    RecipientOptedOut => "recipient_opted_out", 403, 0x0B, "the recipient opted out of this customer's messages";
    RecipientBlocked => "recipient_blocked", 403, 0x0B, "the operator has blocked this recipient for every customer";
    ContentRejected => "content_rejected", 422, 0x45, "the content is forbidden by the agreement (clause 2.3); the message names the category";
    InvalidReference => "invalid_reference", 422, 0xC1, "a referenced message or ticket does not exist or is not the customer's; `field` names it";
    PeriodNotStarted => "period_not_started", 422, 0xC1, "the period asked for (a statement's month, a report's days) has not begun yet";
    SignatureRequired => "signature_required", 403, 0x45, "the agreement requires one of the customer's approved signatures 【…】 at the start or end of the text";
    TemplateRequired => "template_required", 403, 0x45, "the agreement allows only approved templates (template_id and params)";
    TemplateNotApproved => "template_not_approved", 403, 0x45, "the template is not (yet) approved by the operator";
    RateLimited => "rate_limited", 429, 0x58, "too many messages to this recipient; retry after the Retry-After seconds";
    InsufficientBalance => "insufficient_balance", 402, 0x45, "the prepaid balance cannot pay the whole request";
    NotFound => "not_found", 404, 0x67, "no such resource for these credentials";
    MethodNotAllowed => "method_not_allowed", 405, 0x03, "the resource does not support this method";
    Conflict => "conflict", 409, 0x45, "the resource already exists or is in another state";
    IdempotencyConflict => "idempotency_conflict", 409, 0x45, "the Idempotency-Key was used with another body";
    NoticeTooShort => "notice_too_short", 422, 0x45, "maintenance must be announced the agreed maintenance_notice_days ahead (clause 3.2), or be an emergency with a reason";
    CurePeriodRunning => "cure_period_running", 409, 0x45, "the breach's cure period (clause 6) has not ended: termination waits for the deadline";
    MessageNotCancellable => "message_not_cancellable", 409, 0x11, "only a message not yet handed to a carrier can be cancelled";
    CallbackUrlRefused => "callback_url_refused", 400, 0xC1, "a callback URL must be http(s) and, unless the operator allows it, not private or loopback";
    PayloadTooLarge => "payload_too_large", 413, 0x01, "the request body is over the limit";
    UnsupportedMediaType => "unsupported_media_type", 415, 0xC1, "send Content-Type: application/json";
    Throttled => "throttled", 429, 0x58, "too many requests; slow down";
    Unavailable => "unavailable", 503, 0x14, "the server is shutting down or overloaded; retry";
    Internal => "internal", 500, 0x08, "an unexpected error; it has been logged";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: the code, a message for people, and the request field at fault if any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// Seconds after which the same request may succeed (`rate_limited`): HTTP `Retry-After`.
    pub retry_after: Option<u32>,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection { code, message: message.into(), field: None, retry_after: None }
    }
    pub fn field(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Rejection { code, message: message.into(), field: Some(field.into()), retry_after: None }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::field(ErrorCode::InvalidRequest, field, message)
    }
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_map_to_error_statuses() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "duplicate {text}");
            assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{text}");
            assert!((400..600).contains(&code.http_status()), "{text}");
            assert_ne!(code.smpp_status(), 0, "{text} must not map to ESME_ROK");
        }
    }

    #[test]
    fn the_issue_s_refusals_have_their_statuses() {
        let expected = [
            (ErrorCode::Unauthorized, 401),
            (ErrorCode::InvalidRequest, 400),
            (ErrorCode::InvalidNumber, 400),
            (ErrorCode::TextTooLong, 400),
            (ErrorCode::AgreementNotAccepted, 403),
            (ErrorCode::AgreementNotActive, 403),
            (ErrorCode::AgreementExpired, 403),
            (ErrorCode::AccountSuspended, 403),
            (ErrorCode::InsufficientBalance, 402),
            (ErrorCode::IdempotencyConflict, 409),
            (ErrorCode::PayloadTooLarge, 413),
        ];
        for (code, status) in expected {
            assert_eq!(code.http_status(), status, "{code}");
        }
    }
}
