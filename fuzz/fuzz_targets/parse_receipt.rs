#![no_main]
//! Any text as a delivery receipt: parsing must never panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tongdao_smpp::fuzzing::parse_receipt(data);
});
