//! Segment recovery on arbitrary bytes: the input becomes a segment's `.log` (optionally with
//! its batch headers' CRCs, magic, reserved fields and base offsets fixed up, so that
//! recovery keeps whole runs of batches whose records are arbitrary), then
//! `pagelog::Segment::recover` runs with a small `TopicConfig`, everything is read back
//! (`read`, `position_of`, `offset_for_timestamp`), `verify()` runs, the segment is recovered
//! a second time (which must find the same valid prefix and nothing to cut but zeros), a
//! record is appended and read back, and the segment is sealed. Nothing may panic.
//!
//! Input layout: byte 0 = flags, byte 1 = configuration, the rest = the `.log`.
#![no_main]

mod common;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pagelog::codec::batch::HEADER_LEN;
use pagelog::{Error, NewRecord, Segment, SegmentPaths, TopicConfig};

const FIX_CRC: u8 = 1;
const FIX_BASE: u8 = 2;
const FIX_FIELDS: u8 = 4;
const FIX_LENGTH: u8 = 8;
const GARBAGE_INDEXES: u8 = 16;

/// Rewrites the batch headers in place so that recovery accepts them (as far as the flags
/// say). Stops at the first header it cannot make whole.
fn fix_up(log: &mut [u8], base: u64, flags: u8) {
    let mut pos = 0;
    let mut expected = base;
    while log.len() - pos >= HEADER_LEN {
        let b = &mut log[pos..];
        let mut len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        if !(HEADER_LEN..=b.len()).contains(&len) {
            if flags & FIX_LENGTH == 0 {
                return;
            }
            len = HEADER_LEN + len % (b.len() - HEADER_LEN + 1);
            b[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        }
        if flags & FIX_FIELDS != 0 {
            b[8] = 1; // magic
            b[9..12].fill(0); // attributes, reserved
            b[28..32].fill(0); // reserved
        }
        if flags & FIX_BASE != 0 {
            b[16..24].copy_from_slice(&expected.to_le_bytes());
        }
        if flags & FIX_CRC != 0 {
            let crc = crc32fast::hash(&b[4..len]);
            b[..4].copy_from_slice(&crc.to_le_bytes());
        }
        let base_offset = u64::from_le_bytes(b[16..24].try_into().unwrap());
        let delta = u32::from_le_bytes(b[24..28].try_into().unwrap());
        expected = base_offset.wrapping_add(u64::from(delta)).wrapping_add(1);
        pos += len;
    }
}

fn config(c: u8) -> TopicConfig {
    let segment = [4096, 8192, 65536, 1 << 20][usize::from(c & 3)];
    let interval = [0, 48, 100, 4096][usize::from((c >> 2) & 3)];
    let index_bytes = [64, 100, 4096, 10 << 20][usize::from((c >> 4) & 3)];
    TopicConfig::default()
        .segment_bytes(segment)
        .index_interval_bytes(interval)
        .index_bytes(index_bytes)
        .max_batch_bytes(4096)
}

fn base_for(c: u8) -> u64 {
    [0, 1000, 1 << 32, u64::MAX - 100][usize::from(c >> 6)]
}

/// Reads every record it can reach, in bounded steps; nothing may panic.
fn read_back(seg: &Segment, probe: &[u8]) {
    let base = seg.base_offset();
    let next = seg.next_offset();
    assert!(next >= base);
    let mut o = base;
    let mut last: Option<u64> = None;
    for _ in 0..2000 {
        match seg.read(o) {
            Ok(Some(r)) => {
                assert!(r.offset() >= o, "read({o}) went back to {}", r.offset());
                assert!(r.offset() < next, "read past the segment's next offset");
                if let Some(l) = last {
                    assert!(r.offset() > l);
                }
                last = Some(r.offset());
                let _ = (
                    r.key(),
                    r.value_opt(),
                    r.timestamp(),
                    r.headers().count(),
                    r.size(),
                );
                o = r.offset() + 1;
            }
            Ok(None) => break,
            // Damaged records inside a CRC-valid batch: step over one offset.
            Err(_) => o += 1,
        }
        if o >= next {
            assert!(matches!(seg.read(next), Ok(None) | Err(_)));
            break;
        }
    }
    for chunk in probe.chunks(8).take(16) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        let x = u64::from_le_bytes(b);
        let _ = seg.offset_for_timestamp(x as i64);
        let target = base.saturating_add(x % (next - base + 2));
        if let Ok(Some(p)) = seg.position_of(target) {
            assert!(p < seg.size(), "position {p} outside the log");
        }
    }
    let _ = seg.verify();
}

fn run(dir: &Path, data: &[u8]) {
    let [flags, conf, rest @ ..] = data else {
        return;
    };
    let (flags, conf) = (*flags, *conf);
    let config = config(conf);
    let base = base_for(conf);
    let mut log = rest.to_vec();
    fix_up(&mut log, base, flags);
    let paths = SegmentPaths::new(dir, base);
    std::fs::write(&paths.log, &log).unwrap();
    if flags & GARBAGE_INDEXES != 0 {
        // Whatever is there, recovery replaces both index files.
        std::fs::write(&paths.index, &rest[..rest.len().min(120)]).unwrap();
        std::fs::write(&paths.time, &rest[rest.len() / 2..]).unwrap();
    }

    let (seg, rec) = Segment::recover(dir, base, &config)
        .unwrap_or_else(|e| panic!("recovery failed on file content: {e}"));
    assert_eq!(rec.valid_bytes, seg.size());
    assert_eq!(rec.valid_bytes + rec.truncated_bytes, log.len() as u64);
    assert!(log[rec.valid_bytes as usize..].iter().all(|&b| b == 0) || rec.stopped.is_some());
    read_back(&seg, rest);
    let (size, next) = (seg.size(), seg.next_offset());
    drop(seg);

    // Recovery is idempotent: the second one keeps exactly the same prefix.
    let (mut seg, rec2) = Segment::recover(dir, base, &config)
        .unwrap_or_else(|e| panic!("second recovery failed: {e}"));
    assert_eq!((seg.size(), seg.next_offset()), (size, next));
    assert_eq!(rec2.valid_bytes, size);
    assert!(
        rec2.stopped.is_none(),
        "second recovery stopped: {:?}",
        rec2.stopped
    );

    // Appending after recovery works (or says why not), and the record reads back.
    let value = b"after recovery";
    match seg.append(&[NewRecord::new(value).key(b"k")]) {
        Ok(range) => {
            assert_eq!(range.start, next);
            let r = seg
                .read(range.start)
                .expect("read back")
                .expect("record there");
            assert_eq!((r.offset(), r.value()), (range.start, &value[..]));
        }
        Err(Error::SegmentFull { .. } | Error::RecordTooLarge { .. } | Error::OffsetsExhausted) => {
        }
        Err(e) => panic!("append after recovery: {e}"),
    }
    seg.seal().expect("seal");
    read_back(&seg, rest);
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::Builder::new()
        .prefix("pagelog-fuzz-")
        .tempdir_in(common::shm())
        .unwrap();
    run(dir.path(), data);
});
