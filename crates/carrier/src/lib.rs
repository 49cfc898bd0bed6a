//! The carrier side: we are the ESME, the carrier is the MC.
//!
//! # Layout
//! - [`link`]: one SMPP bind to a carrier: bind, a window of outstanding submit_sm, answers
//!   matched by sequence number, enquire_link, a response timeout, receipts and MO handed on;
//! - [`outcome`]: every submit_sm_resp classified as accepted, temporary or permanent.
//!
//! Routing, dispatch from the store, TPS, reconnects and settlement come next (issue 3).
//!
//! # Must never
//! Accept customer traffic.

pub mod link;
pub mod outcome;

pub use link::{Incoming, Link, LinkConfig, LinkError};
pub use outcome::SubmitOutcome;
