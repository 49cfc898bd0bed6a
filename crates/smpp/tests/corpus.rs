//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz targets' code, so every
//! input the fuzzer keeps is also a regression test of the normal test run.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        run(&data);
        count += 1;
    }
    count
}

#[test]
fn the_pdu_corpus_replays() {
    assert!(replay("decode_pdu", tongdao_smpp::fuzzing::decode_stream) >= 8);
}

#[test]
fn the_receipt_corpus_replays() {
    assert!(replay("parse_receipt", tongdao_smpp::fuzzing::parse_receipt) >= 5);
}
