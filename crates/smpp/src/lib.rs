//! SMPP 3.4 on the wire, shared by the carrier side (we are the ESME), the customer side (we
//! are the MC) and the simulator.
//!
//! # Layout
//! - [`frame`]: finding whole PDUs in a byte stream, `command_length` checked against a cap
//!   before anything is allocated;
//! - [`pdu`]: every PDU an ESME and an MC exchange, decoded leniently and encoded strictly;
//! - [`tlv`]: optional parameters, the named ones typed and unknown ones kept as bytes;
//! - [`status`]: command_status values (SMPP 3.4 §5.1.3);
//! - [`receipt`]: the delivery receipt text (`id:… sub:… dlvrd:… … stat:… err:… text:…`).
//!
//! # Must never
//! Know customers, money or the database; panic on any input.

pub mod frame;
pub mod pdu;
pub mod receipt;
pub mod status;
pub mod tlv;

pub use frame::{FrameError, HEADER_LEN, split_frame};
pub use pdu::{Command, CommandId, DecodeError, Leniency, Pdu};
pub use receipt::DeliveryReceipt;
pub use tlv::Tlv;
