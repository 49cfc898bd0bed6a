#![no_main]
//! Any bytes, as a stream of PDUs: framing and decoding must never panic, and whatever
//! decodes must encode to bytes that decode to the same command.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tongdao_smpp::fuzzing::decode_stream(data);
});
