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

/// The bodies of the fuzz targets (`fuzz/`), here so that `cargo test` replays the corpus
/// through exactly the same code. Test support: their assertions are the fuzzers' oracle
/// and panic on purpose when a property breaks.
pub mod fuzzing {
    use crate::{Command, DeliveryReceipt, Leniency, split_frame};

    /// Splits `data` into frames and decodes each; whatever decodes must survive a re-encode.
    pub fn decode_stream(mut data: &[u8]) {
        let mut leniency = Leniency::default();
        while let Ok(Some(length)) = split_frame(data, 64 * 1024) {
            if let Ok(command) = Command::decode(&data[..length], &mut leniency) {
                let again = Command::decode(&command.encode(), &mut Leniency::default());
                assert_eq!(again.as_ref(), Ok(&command), "a decoded PDU re-encodes to itself");
            }
            data = &data[length..];
        }
    }

    pub fn parse_receipt(data: &[u8]) {
        if let Some(receipt) = DeliveryReceipt::parse(&String::from_utf8_lossy(data)) {
            let _ = receipt.id_forms();
            let _ = receipt.outcome();
        }
    }
}
