//! tongdao's vocabulary and the rules that need no IO.
//!
//! Everything a message meets before it is stored is decided here, as pure functions over
//! typed values: an untrusted string becomes a [`Msisdn`], a [`Text`] or a [`Money`] once, at
//! the edge, and the rest of the platform consumes those types.
//!
//! # Layout
//! - [`msisdn`]: phone numbers parsed to E.164 (default region CN);
//! - [`numbering`]: Chinese mobile prefixes to carriers, a data table overridable in config;
//! - [`text`]: GSM 03.38 / UCS-2 detection, billable segments, splitting;
//! - [`money`]: exact integer micro-units, shown as 4-decimal strings;
//! - [`tariff`]: the price per billable segment by destination;
//! - [`agreement`]: the service agreement's fields and the states that allow sending;
//! - [`period`]: the CST months and days of statements and reconciliation;
//! - [`callback`]: which webhook URLs are allowed (no private or loopback targets by default);
//! - [`message`]: message statuses and the request limits;
//! - [`ticket`]: customer-service tickets: kinds, statuses, who may move them, deadlines;
//! - [`rejection`]: the one table of refusal codes, HTTP statuses and SMPP command_status;
//! - [`id`]: prefixed, time-ordered ids; [`clock`]: the injectable source of time.
//!
//! # Must never
//! Do IO, be async, or know SQL, HTTP or SMPP bytes.

pub mod agreement;
pub mod callback;
pub mod clock;
pub mod console;
pub mod id;
pub mod message;
pub mod money;
pub mod msisdn;
pub mod numbering;
pub mod optout;
pub mod period;
pub mod rejection;
pub mod tariff;
pub mod text;
pub mod ticket;
pub mod tokens;

pub use agreement::{
    Agreement, AgreementChange, AgreementState, AgreementTerms, ChargeOn, ComplianceTerms, FrequencyLimits,
    ScopePolicy, ViolationLimit,
};
pub use clock::{Clock, FixedClock, SystemClock};
pub use message::{ConcatPart, MessageStatus, ReceiptRequest};
pub use money::Money;
pub use msisdn::Msisdn;
pub use numbering::{Carrier, NumberingPlan};
pub use rejection::{ErrorCode, Rejection};
pub use tariff::Tariff;
pub use text::{Encoding, Text};
