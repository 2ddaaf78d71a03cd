//! Fuzzes the Kafka RecordBatch v2 decoder (`pagelog::kafka`, feature `kafka`): arbitrary
//! bytes as a batch and as a `.log`, each input as given and again with magic 2 and a CRC-32C
//! fixed up so that the record decoder sees batches whose checksum passes.
//!
//! Checks besides "no panic": a decoded batch holds exactly `recordsCount` records at
//! strictly increasing offsets within `[baseOffset, baseOffset + lastOffsetDelta]`; its
//! records re-encode (or are refused as unencodable, never anything else) and decode back to
//! the same records; `read_log_batches` yields batches at increasing positions and stops
//! after its first error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pagelog::kafka::{Error, KafkaBatch, decode_batch, encode_batch, read_log_batches};

fn check(batch: &KafkaBatch) {
    let h = &batch.header;
    assert_eq!(batch.records.len(), h.records_count as usize);
    let mut prev: Option<u64> = None;
    for r in &batch.records {
        assert!(r.offset >= h.base() && r.offset <= h.last_offset());
        assert!(prev.is_none_or(|p| p < r.offset));
        prev = Some(r.offset);
    }
    match encode_batch(h.base(), &batch.records) {
        Ok(bytes) => {
            let again = decode_batch(&bytes).expect("our own encoding decodes");
            assert_eq!(again.records, batch.records);
        }
        Err(Error::Unencodable { .. }) => {}
        Err(e) => panic!("unexpected encode error {e}"),
    }
}

fn run(data: &[u8]) {
    if let Ok(batch) = decode_batch(data) {
        check(&batch);
    }
    let mut last = None;
    let mut failed = false;
    for item in read_log_batches(data) {
        assert!(!failed, "read_log_batches continued after an error");
        match item {
            Ok((pos, batch)) => {
                assert!(last.is_none_or(|l| l < pos));
                last = Some(pos);
                check(&batch);
            }
            Err(_) => failed = true,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    run(data);
    if data.len() >= 61 {
        let mut fixed = data.to_vec();
        fixed[16] = 2;
        let len = i32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
        let end = usize::try_from(len).map_or(fixed.len(), |l| (l + 12).clamp(21, fixed.len()));
        let crc = crc32c::crc32c(&fixed[21..end]);
        fixed[17..21].copy_from_slice(&crc.to_be_bytes());
        run(&fixed);
    }
});
