//! A batch whose CRC matches but whose records break the format: what a buggy or hostile
//! writer could leave, which no CRC catches. Every way of reading returns the records before
//! the fault, then `Error::Corrupt` at the faulty record's position, never a wrong record,
//! and the iterator stops there (or, asked to skip damage, resumes after the batch).
//!
//! Reads take a fast path per record and per batch (DESIGN.md section 4) that refuses such a
//! record without saying why; these tests hold the general path's report to the position and
//! rule of the fault, for the first, a middle and the last record of a batch that a scan
//! enters from the batch before it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use pagelog::{Corruption, Error, FlushPolicy, NewRecord, Partition, Store, TopicConfig};

/// Length of a batch header (docs/FORMAT.md 4.1).
const HEADER: usize = 48;

fn values(prefix: &str) -> Vec<Vec<u8>> {
    (0..3)
        .map(|i| format!("{prefix}{i}").into_bytes())
        .collect()
}

/// A store with three batches of three records at offsets 0–2, 3–5 and 6–8, closed cleanly;
/// returns its directory and the log's path.
fn store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store
        .create_topic("t", TopicConfig::default().flush(FlushPolicy::Never))
        .unwrap();
    let p = t.partition(0).unwrap();
    for prefix in ["a", "b", "c"] {
        let vals = values(prefix);
        let recs: Vec<NewRecord<'_>> = vals.iter().map(|v| NewRecord::new(v)).collect();
        p.append_batch(&recs).unwrap();
    }
    store.close().unwrap();
    let log = dir.path().join("t/0/00000000000000000000.log");
    (dir, log)
}

fn batch_len(log: &[u8], at: usize) -> usize {
    u32::from_le_bytes(log[at + 4..at + 8].try_into().unwrap()) as usize
}

/// Position in the log of the second batch, the one damaged.
fn second_batch(log: &[u8]) -> usize {
    batch_len(log, 0)
}

/// Position in the log of record `k` of the second batch (every record here is shorter than
/// 128 bytes: its length is one varint byte).
fn record_at(log: &[u8], k: usize) -> usize {
    (0..k).fold(second_batch(log) + HEADER, |pos, _| {
        pos + 1 + usize::from(log[pos])
    })
}

/// Sets byte `pos` of the log to `byte`, then stores the second batch's CRC of its new
/// bytes.
fn damage(path: &Path, pos: usize, byte: u8) {
    let mut log = std::fs::read(path).unwrap();
    log[pos] = byte;
    let at = second_batch(&log);
    let crc = crc32fast::hash(&log[at + 4..at + batch_len(&log, at)]);
    log[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, log).unwrap();
}

fn open(dir: &Path) -> (Store, Partition) {
    let store = Store::open(dir).unwrap();
    let p = store.topic("t").unwrap().partition(0).unwrap().clone();
    (store, p)
}

/// The error is `Corrupt` in `log` at `position`, for a rule `expect` accepts.
fn assert_corrupt(e: &Error, log: &Path, position: usize, expect: impl Fn(&Corruption) -> bool) {
    match e {
        Error::Corrupt {
            path,
            position: at,
            reason,
        } => {
            assert_eq!(path, log, "{e}");
            assert_eq!(*at, position as u64, "{e}");
            assert!(expect(reason), "unexpected rule: {e}");
        }
        other => panic!("expected Corrupt, got {other}"),
    }
}

/// Reads the partition every way and checks each against a fault at `position` of record
/// `k` of the second batch: the first batch and records `0..k` of the second come first,
/// then the error, then nothing (or, when skipping damage, the third batch).
fn check_every_read(
    dir: &Path,
    log: &Path,
    k: usize,
    position: usize,
    rule: impl Fn(&Corruption) -> bool + Copy,
) {
    let (store, p) = open(dir);
    let before: Vec<Vec<u8>> = values("a")
        .into_iter()
        .chain(values("b").into_iter().take(k))
        .collect();
    let after: Vec<(u64, Vec<u8>)> = (6..9).zip(values("c")).collect();

    let mut it = p.iter();
    for want in &before {
        assert_eq!(it.next().unwrap().unwrap().value(), &want[..]);
    }
    assert_corrupt(&it.next().unwrap().unwrap_err(), log, position, rule);
    assert!(it.next().is_none(), "an iterator stops at the damage");

    let mut it = p.iter();
    for want in &before {
        assert_eq!(it.next_ref().unwrap().unwrap().value(), &want[..]);
    }
    assert_corrupt(&it.next_ref().unwrap().unwrap_err(), log, position, rule);
    assert!(it.next_ref().is_none(), "next_ref stops at the damage too");

    let mut it = p.iter().skip_damaged();
    for want in &before {
        assert_eq!(it.next().unwrap().unwrap().value(), &want[..]);
    }
    assert_corrupt(&it.next().unwrap().unwrap_err(), log, position, rule);
    let rest: Vec<_> = it
        .map(|r| {
            let r = r.unwrap();
            (r.offset(), r.value().to_vec())
        })
        .collect();
    assert_eq!(rest, after, "skipping resumes at the next batch");

    for (o, want) in (0u64..).zip(&before) {
        assert_eq!(p.read(o).unwrap().unwrap().value(), &want[..]);
    }
    assert_corrupt(&p.read(3 + k as u64).unwrap_err(), log, position, rule);
    assert_eq!(p.read(6).unwrap().unwrap().value(), &after[0].1[..]);
    store.close().unwrap();
}

#[test]
fn a_record_out_of_order_in_a_batch_with_a_valid_crc_is_reported_where_it_lies() {
    for k in [0, 1, 2] {
        let (dir, path) = store();
        let log = std::fs::read(&path).unwrap();
        let at = record_at(&log, k);
        // Offset delta 3: past the batch's last offset delta (2).
        damage(&path, at + 1, 3);
        check_every_read(dir.path(), &path, k, at, |r| {
            matches!(r, Corruption::OffsetOrder { .. })
        });
    }
}

#[test]
fn a_record_whose_fields_overrun_it_in_a_batch_with_a_valid_crc_is_reported() {
    for k in [0, 1, 2] {
        let (dir, path) = store();
        let log = std::fs::read(&path).unwrap();
        let at = record_at(&log, k);
        // Its length one byte short: its last field, the header count, falls outside it and
        // is read as a varint cut short.
        damage(&path, at, log[at] - 1);
        check_every_read(dir.path(), &path, k, at + usize::from(log[at]), |r| {
            matches!(r, Corruption::Varint)
        });
    }
}
