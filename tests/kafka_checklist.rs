//! Kafka's own log tests (`LogSegmentTest`, `LogTest`, `OffsetIndexTest`, `TimeIndexTest`),
//! used as a checklist and adapted to pagelog's API. One test per item that applies:
//!
//! * read on an empty segment and on an empty partition;
//! * read before the first offset: a segment returns its first record (as Kafka's segment
//!   does); a partition returns `OffsetOutOfRange` carrying the valid range (here its start is
//!   moved above 0 by removing every segment file of a cleanly closed partition, which keeps
//!   the next offset too);
//! * read after the last offset: at the end `Ok(None)`, beyond it `OffsetOutOfRange`;
//! * timestamp lookup before the first, exactly at, between, and after the last record,
//!   across segments, on a standalone segment, after clean and unclean reopens, and against
//!   a brute-force oracle with out-of-order timestamps;
//! * recovery rebuilds garbage `.index` and `.timeindex` (segment and partition level);
//! * recovery truncates a randomly corrupted tail (seeded; segment and partition level);
//! * a preallocated segment is trimmed on close: each `.log` is exactly the sum of its batch
//!   lengths, each index a whole number of 12- or 16-byte entries with no unwritten slot;
//! * roll on size, roll on time (age = the new batch's largest timestamp minus the segment's
//!   first record timestamp, strictly greater than `segment_ms`; kept across reopens), and
//!   roll on a full offset index (`index_bytes` 64, `index_interval_bytes` 0);
//! * read out of range errors, while reading at the end returns nothing and later picks up
//!   new records;
//! * segment files are named by their 20-digit zero-padded base offset, which is the first
//!   offset in the file;
//! * truncate then read: `truncate_to` inside a batch of a sealed segment and at a segment
//!   boundary; below the cut everything reads as before, at the cut `Ok(None)`, above it
//!   `OffsetOutOfRange`; timestamp lookups stop at the cut; segments above it are deleted and
//!   the one holding it becomes the active one; iterators past the cut move back to it and
//!   read the new records appended there; kept across clean and unclean reopens;
//! * truncate to empty and re-append: `truncate_to(0)` leaves one empty segment and offsets
//!   are handed out again from 0 (also after a crash); above a raised start offset,
//!   truncating to the start empties the partition and appends continue there;
//! * retention never deletes the active segment, even when every rule (`retention_bytes`,
//!   `retention_ms`, `retention_hard_bytes`, a start offset at the end) wants it;
//! * deleting all old segments through retention keeps the next offset, and so does raising
//!   the start offset to it: it survives clean and unclean reopens and is never reused;
//! * read in an offset gap left by compaction: `read`, `iter_from` and
//!   `offset_for_timestamp` give the next record after the gap, before and after reopens;
//! * crash in the middle of a compaction swap, simulated with the files a crash leaves at
//!   each step of the swap protocol: a partial or complete `.cleaned` set, or `.swap` renames
//!   before the log's, are discarded (the old segment stays); once the log's `.swap` exists
//!   the swap is finished, also when a power loss lost an index's rename to `.swap`.
//!
//! Not applicable: rolling when a relative offset would overflow 32 bits needs 2^32 records
//! in one segment and is left to unit tests of the writer.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "test data: offsets, sizes and counts are small"
)]

mod common;

use common::rng::Rng;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use pagelog::codec::index::{OFFSET_ENTRY_LEN, OffsetEntry, TIME_ENTRY_LEN, TimeEntry};
use pagelog::{Error, FlushPolicy, NewRecord, Partition, Segment, Store, TopicConfig};

const TOPIC: &str = "t";
const T0: i64 = 1_700_000_000_000;
const HEADER: usize = pagelog::codec::batch::HEADER_LEN;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn small() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(128)
        .flush(FlushPolicy::Never)
}

fn value(o: u64) -> Vec<u8> {
    format!("record-{o:05}").into_bytes()
}

fn ts(o: u64) -> i64 {
    T0 + 10 * o as i64
}

/// Appends offsets `from..to` in batches of `per_batch`, each with `value(o)` and `ts(o)`.
fn append_range(p: &Partition, from: u64, to: u64, per_batch: u64) {
    let mut o = from;
    while o < to {
        let end = (o + per_batch).min(to);
        let values: Vec<Vec<u8>> = (o..end).map(value).collect();
        let records: Vec<NewRecord<'_>> = values
            .iter()
            .zip(o..)
            .map(|(v, o)| NewRecord::new(v).timestamp(ts(o)))
            .collect();
        assert_eq!(p.append_batch(&records).unwrap(), o..end);
        o = end;
    }
}

fn open(root: &Path) -> (Store, Partition) {
    let store = Store::open(root).unwrap();
    let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    (store, p)
}

fn create(root: &Path, config: TopicConfig) -> (Store, Partition) {
    let store = Store::open(root).unwrap();
    let p = common::partition0(&store, TOPIC, config);
    (store, p)
}

fn part_dir(root: &Path) -> PathBuf {
    root.join(TOPIC).join("0")
}

/// Segment `.log` files of a partition directory, in offset order.
fn logs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

fn bases(p: &Partition) -> Vec<u64> {
    p.segment_paths()
        .iter()
        .map(|s| {
            let name = s.log.file_stem().unwrap().to_str().unwrap();
            assert_eq!(name.len(), 20, "20-digit name: {}", s.log.display());
            name.parse().unwrap()
        })
        .collect()
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// (position, length, base offset, record count) of each batch, walking length fields until
/// one does not fit.
fn walk(log: &[u8]) -> Vec<(usize, usize, u64, u64)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + HEADER <= log.len() {
        let len = le_u32(log, pos + 4) as usize;
        if len < HEADER || pos + len > log.len() {
            break;
        }
        out.push((
            pos,
            len,
            le_u64(log, pos + 16),
            u64::from(le_u32(log, pos + 12)),
        ));
        pos += len;
    }
    out
}

/// Checks that the partition holds exactly `from..to` with `value`/`ts`.
fn assert_holds(p: &Partition, from: u64, to: u64, ctx: &str) {
    assert_eq!(p.start_offset(), from, "{ctx}: start");
    assert_eq!(p.next_offset(), to, "{ctx}: next");
    let got: Vec<(u64, Vec<u8>, i64)> = p
        .iter_from(from)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.offset(), r.value().to_vec(), r.timestamp())
        })
        .collect();
    let want: Vec<(u64, Vec<u8>, i64)> = (from..to).map(|o| (o, value(o), ts(o))).collect();
    assert_eq!(got, want, "{ctx}");
    for o in from..to {
        assert_eq!(p.read(o).unwrap().unwrap().value(), value(o), "{ctx}");
    }
}

fn assert_out_of_range<T: std::fmt::Debug>(
    r: pagelog::Result<T>,
    requested: u64,
    start: u64,
    end: u64,
) {
    match r {
        Err(Error::OffsetOutOfRange {
            requested: q,
            start: s,
            end: e,
        }) => assert_eq!((q, s, e), (requested, start, end)),
        other => panic!("expected OffsetOutOfRange for {requested}, got {other:?}"),
    }
}

/// Timestamp lookups of a partition holding `0..n` with `ts(o)`.
fn assert_timestamp_lookups(p: &Partition, n: u64, ctx: &str) {
    assert_eq!(p.offset_for_timestamp(i64::MIN).unwrap(), Some(0), "{ctx}");
    assert_eq!(p.offset_for_timestamp(T0 - 1).unwrap(), Some(0), "{ctx}");
    for o in 0..n {
        assert_eq!(p.offset_for_timestamp(ts(o)).unwrap(), Some(o), "{ctx}: at");
        let between = if o + 1 < n { Some(o + 1) } else { None };
        assert_eq!(
            p.offset_for_timestamp(ts(o) + 3).unwrap(),
            between,
            "{ctx}: between {o} and the next"
        );
    }
    assert_eq!(
        p.offset_for_timestamp(ts(n - 1) + 1).unwrap(),
        None,
        "{ctx}"
    );
    assert_eq!(p.offset_for_timestamp(i64::MAX).unwrap(), None, "{ctx}");
}

fn write_garbage_over_indexes(dir: &Path, rng: &mut Rng) {
    for log in logs(dir) {
        for ext in ["index", "timeindex"] {
            let path = log.with_extension(ext);
            let len = fs::metadata(&path).map_or(0, |m| m.len() as usize);
            fs::write(&path, rng.bytes(len.max(64))).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Read on empty
// ---------------------------------------------------------------------------------------

#[test]
fn read_on_an_empty_segment() {
    let dir = tempfile::tempdir().unwrap();
    for base in [0, 100] {
        let seg = Segment::create(dir.path(), base, &small()).unwrap();
        assert_eq!(seg.base_offset(), base);
        assert_eq!(seg.next_offset(), base);
        assert_eq!(seg.size(), 0);
        assert_eq!(seg.max_timestamp(), None);
        for o in [0, base, base + 1, u64::MAX] {
            assert!(seg.read(o).unwrap().is_none(), "read({o}) at base {base}");
            assert_eq!(seg.position_of(o).unwrap(), None);
        }
        assert_eq!(seg.offset_for_timestamp(i64::MIN).unwrap(), None);
        assert!(seg.verify().is_ok());
        drop(seg);
        let (seg, report) = Segment::recover(dir.path(), base, &small()).unwrap();
        assert_eq!(report.valid_bytes, 0);
        assert!(seg.read(base).unwrap().is_none());
    }
}

fn assert_empty(p: &Partition, ctx: &str) {
    assert_eq!((p.start_offset(), p.next_offset()), (0, 0), "{ctx}");
    assert!(p.read(0).unwrap().is_none(), "{ctx}: at the end");
    assert_out_of_range(p.read(1), 1, 0, 0);
    assert!(p.iter_from(0).unwrap().next().is_none(), "{ctx}");
    assert!(p.iter().next().is_none(), "{ctx}");
    assert_eq!(p.offset_for_timestamp(i64::MIN).unwrap(), None, "{ctx}");
    assert!(p.verify().is_ok(), "{ctx}");
}

#[test]
fn read_on_an_empty_partition() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    assert_empty(&p, "new");
    drop(p);
    store.close().unwrap();
    let (store, p) = open(dir.path());
    assert_empty(&p, "clean reopen");
    drop(p);
    store.crash();
    let (store, p) = open(dir.path());
    assert_empty(&p, "crash reopen");
    assert_eq!(p.append(NewRecord::new(b"first")).unwrap(), 0);
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// Read before the first offset / after the last
// ---------------------------------------------------------------------------------------

#[test]
fn read_before_the_first_offset() {
    // Segment: like Kafka's LogSegment, a read below the base starts at the first record.
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 100, &small()).unwrap();
    seg.append(&[NewRecord::new(b"a"), NewRecord::new(b"b")])
        .unwrap();
    assert_eq!(seg.read(50).unwrap().unwrap().offset(), 100);
    assert_eq!(seg.read(0).unwrap().unwrap().value(), b"a");

    // Partition: the start moves above 0 when every segment is gone; the next offset is
    // kept, never reused.
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    append_range(&p, 0, 300, 3);
    assert!(p.segment_paths().len() > 2);
    drop(p);
    store.close().unwrap();
    let pdir = part_dir(dir.path());
    for log in logs(&pdir) {
        for ext in ["log", "index", "timeindex"] {
            fs::remove_file(log.with_extension(ext)).unwrap();
        }
    }
    let (store, p) = open(dir.path());
    assert_eq!((p.start_offset(), p.next_offset()), (300, 300));
    assert_eq!(bases(&p), vec![300]);
    assert_out_of_range(p.read(0), 0, 300, 300);
    assert_out_of_range(p.read(299), 299, 300, 300);
    assert!(p.iter_from(299).is_err());
    assert!(p.read(300).unwrap().is_none());
    append_range(&p, 300, 310, 2);
    assert_out_of_range(p.read(299), 299, 300, 310);
    assert_out_of_range(p.read(0), 0, 300, 310);
    assert_holds(&p, 300, 310, "after the gap");
    store.close().unwrap();
    let (store, p) = open(dir.path());
    assert_holds(&p, 300, 310, "reopened");
    assert_out_of_range(p.read(1), 1, 300, 310);
    store.close().unwrap();
}

#[test]
fn read_after_the_last_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    append_range(&p, 0, 250, 4);
    assert!(p.read(250).unwrap().is_none(), "at the end: nothing yet");
    assert_out_of_range(p.read(251), 251, 0, 250);
    assert_out_of_range(p.read(u64::MAX), u64::MAX, 0, 250);
    assert_eq!(p.read(249).unwrap().unwrap().value(), value(249));
    drop(p);
    store.close().unwrap();
    let (_store, p) = open(dir.path());
    assert!(p.read(250).unwrap().is_none());
    assert_out_of_range(p.read(251), 251, 0, 250);

    // A standalone segment has no range to enforce: past its end it holds nothing.
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &small()).unwrap();
    seg.append(&[NewRecord::new(b"only")]).unwrap();
    assert!(seg.read(1).unwrap().is_none());
    assert!(seg.read(1000).unwrap().is_none());
}

// ---------------------------------------------------------------------------------------
// Timestamp lookups
// ---------------------------------------------------------------------------------------

#[test]
fn timestamp_lookup_before_first_between_and_after_last_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    let n = 400;
    append_range(&p, 0, n, 3);
    assert!(p.segment_paths().len() >= 4, "spans segments");
    assert_timestamp_lookups(&p, n, "open");
    drop(p);
    store.close().unwrap();
    let (store, p) = open(dir.path());
    assert_timestamp_lookups(&p, n, "clean reopen");
    drop(p);
    store.crash();
    let (store, p) = open(dir.path());
    assert_timestamp_lookups(&p, n, "crash reopen");
    store.close().unwrap();

    // The same on a standalone segment.
    let dir = tempfile::tempdir().unwrap();
    let cfg = small().segment_bytes(1 << 16);
    let mut seg = Segment::create(dir.path(), 0, &cfg).unwrap();
    for o in 0..100 {
        seg.append(&[NewRecord::new(&value(o)).timestamp(ts(o))])
            .unwrap();
    }
    assert_eq!(seg.offset_for_timestamp(T0 - 1).unwrap(), Some(0));
    assert_eq!(seg.offset_for_timestamp(ts(42)).unwrap(), Some(42));
    assert_eq!(seg.offset_for_timestamp(ts(42) + 1).unwrap(), Some(43));
    assert_eq!(seg.offset_for_timestamp(ts(99)).unwrap(), Some(99));
    assert_eq!(seg.offset_for_timestamp(ts(99) + 1).unwrap(), None);
}

#[test]
fn timestamp_lookup_with_out_of_order_timestamps_matches_an_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    let mut rng = Rng(7);
    let mut stamps: Vec<i64> = Vec::new();
    while stamps.len() < 600 {
        let k = 1 + rng.below(4);
        let batch: Vec<i64> = (0..k)
            .map(|_| T0 + (stamps.len() as i64) * 5 + rng.below(400) as i64 - 200)
            .collect();
        let records: Vec<NewRecord<'_>> = batch
            .iter()
            .map(|&t| NewRecord::new(b"v").timestamp(t))
            .collect();
        p.append_batch(&records).unwrap();
        stamps.extend(batch);
    }
    assert!(p.segment_paths().len() > 3);
    let oracle = |q: i64| stamps.iter().position(|&t| t >= q).map(|i| i as u64);
    let mut queries: Vec<i64> = stamps.iter().flat_map(|&t| [t - 1, t, t + 1]).collect();
    queries.extend([i64::MIN, T0 - 1000, T0 + 1_000_000, i64::MAX]);
    let check = |p: &Partition, round: &str| {
        for &q in &queries {
            assert_eq!(
                p.offset_for_timestamp(q).unwrap(),
                oracle(q),
                "{round}: query {q}"
            );
        }
    };
    check(&p, "open");
    drop(p);
    store.close().unwrap();
    let (store, p) = open(dir.path());
    check(&p, "clean reopen");
    drop(p);
    store.crash();
    let (store, p) = open(dir.path());
    check(&p, "crash reopen");
    drop(p);
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// Recovery
// ---------------------------------------------------------------------------------------

#[test]
fn recovery_rebuilds_garbage_index_and_timeindex() {
    let mut rng = Rng(0x1D);
    // Segment level (Kafka's LogSegmentTest).
    let dir = tempfile::tempdir().unwrap();
    let cfg = small().segment_bytes(1 << 16).index_interval_bytes(64);
    let mut seg = Segment::create(dir.path(), 0, &cfg).unwrap();
    for o in 0..200 {
        seg.append(&[NewRecord::new(&value(o)).timestamp(ts(o))])
            .unwrap();
    }
    seg.seal().unwrap();
    drop(seg);
    write_garbage_over_indexes(dir.path(), &mut rng);
    let (seg, report) = Segment::recover(dir.path(), 0, &cfg).unwrap();
    assert_eq!(report.truncated_bytes, 0, "the log is intact");
    assert!(seg.verify().is_ok(), "{:?}", seg.verify().problems);
    for o in 0..200 {
        assert_eq!(seg.read(o).unwrap().unwrap().value(), value(o));
        assert_eq!(seg.offset_for_timestamp(ts(o)).unwrap(), Some(o));
    }
    assert_eq!(seg.offset_for_timestamp(ts(199) + 1).unwrap(), None);

    // Partition level, after a crash (every index of every segment).
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    append_range(&p, 0, 500, 2);
    drop(p);
    store.crash();
    write_garbage_over_indexes(&part_dir(dir.path()), &mut rng);
    let (store, p) = open(dir.path());
    assert_holds(&p, 0, 500, "garbage indexes, crash");
    assert_timestamp_lookups(&p, 500, "garbage indexes, crash");
    assert!(p.verify().is_ok(), "{:?}", p.verify().problems);
    drop(p);
    store.close().unwrap();

    // ... and after a clean close.
    write_garbage_over_indexes(&part_dir(dir.path()), &mut rng);
    let (store, p) = open(dir.path());
    assert_holds(&p, 0, 500, "garbage indexes, clean");
    assert_timestamp_lookups(&p, 500, "garbage indexes, clean");
    assert!(p.verify().is_ok(), "{:?}", p.verify().problems);
    store.close().unwrap();
}

#[test]
fn recovery_truncates_a_randomly_corrupted_tail() {
    let mut rng = Rng(0x7A11);
    // Segment level: Kafka's testRecoveryWithCorruptMessage.
    let cfg = small().segment_bytes(1 << 16).index_interval_bytes(64);
    for trial in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, &cfg).unwrap();
        for o in 0..100 {
            seg.append(&[NewRecord::new(&value(o)).timestamp(ts(o))])
                .unwrap();
        }
        let log_path = seg.paths().log.clone();
        let size = seg.size() as usize;
        drop(seg); // as a crash: no seal, no trim
        let batches = walk(&fs::read(&log_path).unwrap()[..size]);
        assert_eq!(batches.len(), 100);
        let pos = rng.below(size);
        let len = (1 + rng.below(64)).min(size - pos);
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .unwrap();
        let mut old = vec![0; len];
        f.read_exact_at(&mut old, pos as u64).unwrap();
        let nonsense: Vec<u8> = old.iter().map(|b| b ^ (1 + rng.below(255) as u8)).collect();
        f.write_all_at(&nonsense, pos as u64).unwrap();
        drop(f);
        // Single-record batches: the damaged one is the one containing `pos`.
        let damaged = batches
            .iter()
            .find(|b| b.0 <= pos && pos < b.0 + b.1)
            .map_or(100, |b| b.2);
        let ctx = format!("trial {trial}: {len} bytes at {pos} overwritten");
        let (seg, report) = Segment::recover(dir.path(), 0, &cfg).unwrap();
        assert_eq!(seg.next_offset(), damaged, "{ctx}");
        assert!(report.stopped.is_some(), "{ctx}: the damage is reported");
        for o in 0..damaged {
            assert_eq!(seg.read(o).unwrap().unwrap().value(), value(o), "{ctx}");
        }
        assert!(seg.read(damaged).unwrap().is_none(), "{ctx}");
        assert!(seg.verify().is_ok(), "{ctx}");
    }

    // Partition level: the active segment of a crashed partition.
    for trial in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let (store, p) = create(dir.path(), small());
        append_range(&p, 0, 300, 1);
        let active = p.segment_paths().last().unwrap().log.clone();
        let active_base = *bases(&p).last().unwrap();
        drop(p);
        store.crash();
        let bytes = fs::read(&active).unwrap();
        let batches = walk(&bytes);
        let end = batches.last().unwrap().0 + batches.last().unwrap().1;
        let pos = rng.below(end);
        let f = fs::OpenOptions::new().write(true).open(&active).unwrap();
        f.write_all_at(&[bytes[pos] ^ 0xA5], pos as u64).unwrap();
        drop(f);
        let damaged = batches
            .iter()
            .find(|b| b.0 <= pos && pos < b.0 + b.1)
            .unwrap()
            .2;
        assert!(damaged >= active_base);
        let ctx = format!("partition trial {trial}: byte {pos} of the active segment");
        let (store, p) = open(dir.path());
        assert_holds(&p, 0, damaged, &ctx);
        assert_eq!(p.append(NewRecord::new(b"next")).unwrap(), damaged, "{ctx}");
        store.close().unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Trimmed on close
// ---------------------------------------------------------------------------------------

/// Every segment file is exactly its contents: `.log` the sum of its batch lengths, the
/// indexes whole entries that all decode (no preallocated zero slot left).
fn assert_trimmed(dir: &Path, ctx: &str) {
    let all = logs(dir);
    assert!(!all.is_empty());
    for log in all {
        let bytes = fs::read(&log).unwrap();
        let batches = walk(&bytes);
        let sum: usize = batches.iter().map(|b| b.1).sum();
        assert_eq!(
            bytes.len(),
            sum,
            "{ctx}: {} holds only batches",
            log.display()
        );
        let index = fs::read(log.with_extension("index")).unwrap();
        assert_eq!(index.len() % OFFSET_ENTRY_LEN, 0, "{ctx}");
        for e in index.chunks(OFFSET_ENTRY_LEN) {
            assert!(
                OffsetEntry::decode(e).is_ok(),
                "{ctx}: unwritten .index slot"
            );
        }
        let time = fs::read(log.with_extension("timeindex")).unwrap();
        assert_eq!(time.len() % TIME_ENTRY_LEN, 0, "{ctx}");
        for e in time.chunks(TIME_ENTRY_LEN) {
            assert!(
                TimeEntry::decode(e).is_ok(),
                "{ctx}: unwritten .timeindex slot"
            );
        }
    }
}

#[test]
fn preallocated_segment_trimmed_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small().segment_bytes(64 << 10).index_interval_bytes(256);
    let (store, p) = create(dir.path(), cfg.clone());
    append_range(&p, 0, 3000, 5);
    assert!(p.segment_paths().len() >= 2, "rolled at least once");
    let active = p.segment_paths().last().unwrap().clone();
    let contents: u64 = p.info().bytes;
    let total_on_disk: u64 = logs(&part_dir(dir.path()))
        .iter()
        .map(|l| fs::metadata(l).unwrap().len())
        .sum();
    assert!(
        total_on_disk > contents,
        "the active log is preallocated while open"
    );
    assert!(
        fs::metadata(&active.index).unwrap().len() as usize
            > walk(&fs::read(&active.log).unwrap()).len() * OFFSET_ENTRY_LEN,
        "the active index is preallocated while open"
    );
    drop(p);
    store.close().unwrap();
    let pdir = part_dir(dir.path());
    assert_trimmed(&pdir, "after close");
    let on_disk: u64 = logs(&pdir)
        .iter()
        .map(|l| fs::metadata(l).unwrap().len())
        .sum();
    assert_eq!(on_disk, contents, "the logs hold exactly the batches");

    // Reopened, appended to, crashed, recovered and closed: trimmed again.
    let (store, p) = open(dir.path());
    append_range(&p, 3000, 3500, 5);
    drop(p);
    store.crash();
    let (store, p) = open(dir.path());
    assert_holds(&p, 0, 3500, "after crash");
    drop(p);
    store.close().unwrap();
    assert_trimmed(&pdir, "after crash, reopen and close");

    // A standalone segment, sealed.
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &cfg).unwrap();
    for o in 0..50 {
        seg.append(&[NewRecord::new(&value(o)).timestamp(ts(o))])
            .unwrap();
    }
    seg.seal().unwrap();
    assert_eq!(fs::metadata(&seg.paths().log).unwrap().len(), seg.size());
    assert_trimmed(dir.path(), "sealed segment");
}

// ---------------------------------------------------------------------------------------
// Rolling
// ---------------------------------------------------------------------------------------

#[test]
fn roll_on_size() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    let mut rng = Rng(5);
    let mut total = 0u64;
    let mut values = Vec::new();
    while total < 400 {
        let k = 1 + rng.below(3);
        let vals: Vec<Vec<u8>> = (0..k).map(|_| vec![b'x'; 10 + rng.below(300)]).collect();
        let records: Vec<NewRecord<'_>> = vals.iter().map(|v| NewRecord::new(v)).collect();
        assert_eq!(p.append_batch(&records).unwrap().start, total);
        total += k as u64;
        values.extend(vals);
    }
    // A batch larger than a segment can never fit.
    let huge = vec![0u8; 5000];
    assert!(matches!(
        p.append(NewRecord::new(&huge)),
        Err(Error::RecordTooLarge { .. })
    ));
    let paths = p.segment_paths();
    assert!(paths.len() >= 5, "rolled on size");
    drop(p);
    store.close().unwrap();
    let all = logs(&part_dir(dir.path()));
    assert_eq!(all.len(), paths.len());
    for (i, log) in all.iter().enumerate() {
        let len = fs::metadata(log).unwrap().len();
        assert!(len <= 4096, "{}: {len} bytes", log.display());
        if let Some(next) = all.get(i + 1) {
            // It rolled only because the next batch would not fit.
            let first_next = walk(&fs::read(next).unwrap())[0].1 as u64;
            assert!(len + first_next > 4096, "{} rolled early", log.display());
        }
    }
    let (store, p) = open(dir.path());
    for (o, v) in values.iter().enumerate() {
        assert_eq!(p.read(o as u64).unwrap().unwrap().value(), &v[..]);
    }
    store.close().unwrap();
}

#[test]
fn roll_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small().segment_ms(1000));
    let at = |t: i64| {
        let r = NewRecord::new(b"v").timestamp(t);
        p.append(r).unwrap()
    };
    at(T0); // 0: starts segment 0
    at(T0 + 1000); // 1: age exactly segment_ms: no roll
    assert_eq!(bases(&p), vec![0]);
    at(T0 + 1001); // 2: older than segment_ms: roll
    assert_eq!(bases(&p), vec![0, 2]);
    at(T0 + 1500); // 3
    at(T0 + 10); // 4: an old timestamp never rolls
    assert_eq!(bases(&p), vec![0, 2]);
    // A batch's largest timestamp counts, not its first.
    p.append_batch(&[
        NewRecord::new(b"old").timestamp(T0 + 1001),
        NewRecord::new(b"new").timestamp(T0 + 2002),
    ])
    .unwrap(); // 5..7
    assert_eq!(bases(&p), vec![0, 2, 5]);
    drop(p);
    store.close().unwrap();

    // The age survives a clean reopen (read from the segment's first batch, whose first
    // record is T0 + 1001) ...
    let (store, p) = open(dir.path());
    p.append(NewRecord::new(b"v").timestamp(T0 + 1001 + 1000))
        .unwrap(); // 7: age exactly segment_ms
    assert_eq!(bases(&p), vec![0, 2, 5]);
    p.append(NewRecord::new(b"v").timestamp(T0 + 1001 + 1001))
        .unwrap(); // 8
    assert_eq!(bases(&p), vec![0, 2, 5, 8]);
    drop(p);
    store.crash();

    // ... and a crash (recovered from the scan).
    let (store, p) = open(dir.path());
    p.append(NewRecord::new(b"v").timestamp(T0 + 2002 + 1000))
        .unwrap(); // 9
    assert_eq!(bases(&p), vec![0, 2, 5, 8]);
    p.append(NewRecord::new(b"v").timestamp(T0 + 2002 + 1001))
        .unwrap(); // 10
    assert_eq!(bases(&p), vec![0, 2, 5, 8, 10]);
    assert_eq!(p.next_offset(), 11);
    drop(p);
    store.close().unwrap();
}

#[test]
fn roll_on_full_index() {
    let dir = tempfile::tempdir().unwrap();
    // 64 bytes hold 5 offset entries; interval 0 indexes every batch.
    let cfg = small().index_bytes(64).index_interval_bytes(0);
    let (store, p) = create(dir.path(), cfg);
    append_range(&p, 0, 23, 1);
    assert_eq!(bases(&p), vec![0, 5, 10, 15, 20]);
    // 3-record batches: still one entry per batch. Segment 20 holds 20, 21, 22, 23..26,
    // 26..29; segment 29 five batches; segment 44 three.
    append_range(&p, 23, 53, 3);
    assert_eq!(bases(&p), vec![0, 5, 10, 15, 20, 29, 44]);
    drop(p);
    store.close().unwrap();
    let pdir = part_dir(dir.path());
    let all = logs(&pdir);
    let index_len = |l: &PathBuf| fs::metadata(l.with_extension("index")).unwrap().len();
    for log in &all[..all.len() - 1] {
        assert_eq!(index_len(log), 60, "{}: a full index", log.display());
    }
    assert_eq!(index_len(&all[all.len() - 1]), 3 * 12, "44..53: 3 batches");
    assert_trimmed(&pdir, "full indexes");
    let (store, p) = open(dir.path());
    assert_holds(&p, 0, 53, "full indexes");
    assert_timestamp_lookups(&p, 53, "full indexes");
    // The reopened active index fills up and rolls too.
    append_range(&p, 53, 55, 1);
    assert_eq!(*bases(&p).last().unwrap(), 44);
    append_range(&p, 55, 56, 1);
    assert_eq!(
        *bases(&p).last().unwrap(),
        55,
        "the full active index rolls"
    );
    assert_holds(&p, 0, 56, "after the roll");
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// Reading at the end
// ---------------------------------------------------------------------------------------

#[test]
fn read_out_of_range_errors_while_reading_at_the_end_returns_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    append_range(&p, 0, 100, 10);
    let end = p.next_offset();
    assert!(p.read(end).unwrap().is_none());
    let mut tail = p.iter_from(end).unwrap();
    assert!(tail.next().is_none(), "nothing at the end yet");
    assert!(tail.next().is_none());
    for beyond in [end + 1, end + 1000, u64::MAX] {
        assert_out_of_range(p.read(beyond), beyond, 0, end);
        assert!(matches!(
            p.iter_from(beyond),
            Err(Error::OffsetOutOfRange { .. })
        ));
    }
    // The iterator at the end picks up what is appended later, across a roll.
    append_range(&p, 100, 200, 10);
    let got: Vec<u64> = tail.by_ref().map(|r| r.unwrap().offset()).collect();
    assert_eq!(got, (100..200).collect::<Vec<_>>());
    assert!(tail.next().is_none());
    assert!(p.read(200).unwrap().is_none());
    assert_out_of_range(p.read(201), 201, 0, 200);
    drop((p, tail));
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// File names
// ---------------------------------------------------------------------------------------

#[test]
fn segment_files_are_named_by_their_first_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    append_range(&p, 0, 500, 7);
    let segs = p.segment_paths();
    assert!(segs.len() >= 4);
    drop(p);
    store.close().unwrap();
    let pdir = part_dir(dir.path());
    let mut expected_base = 0;
    for s in &segs {
        let stem = s.log.file_stem().unwrap().to_str().unwrap().to_owned();
        assert_eq!(stem.len(), 20);
        assert!(stem.bytes().all(|b| b.is_ascii_digit()));
        let base: u64 = stem.parse().unwrap();
        assert_eq!(stem, format!("{base:020}"));
        assert_eq!(base, expected_base, "contiguous with the previous segment");
        assert_eq!(s.index, pdir.join(format!("{stem}.index")));
        assert_eq!(s.time, pdir.join(format!("{stem}.timeindex")));
        let batches = walk(&fs::read(&s.log).unwrap());
        assert_eq!(batches[0].2, base, "the first offset in {stem}.log");
        let last = batches.last().unwrap();
        expected_base = last.2 + last.3;
    }
    assert_eq!(expected_base, 500);
    let mut names: Vec<String> = fs::read_dir(&pdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = segs
        .iter()
        .flat_map(|s| {
            [&s.log, &s.index, &s.time].map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        })
        .collect();
    want.push("checkpoint".into());
    want.sort();
    assert_eq!(names, want, "nothing else in the partition directory");

    // A large base offset keeps all 20 digits.
    let dir = tempfile::tempdir().unwrap();
    let seg = Segment::create(dir.path(), 12_345_678_901_234, &small()).unwrap();
    assert_eq!(
        seg.paths().log.file_name().unwrap(),
        "00000012345678901234.log"
    );
    let seg = Segment::create(dir.path(), u64::MAX - 1, &small()).unwrap();
    assert_eq!(
        seg.paths().time.file_name().unwrap(),
        "18446744073709551614.timeindex"
    );
}

// ---------------------------------------------------------------------------------------
// Truncation
// ---------------------------------------------------------------------------------------

fn new_value(o: u64) -> Vec<u8> {
    format!("new-{o:05}").into_bytes()
}

/// (offset, value, timestamp) of every record from the start.
fn contents(p: &Partition) -> Vec<(u64, Vec<u8>, i64)> {
    p.iter()
        .map(|r| {
            let r = r.unwrap();
            (r.offset(), r.value().to_vec(), r.timestamp())
        })
        .collect()
}

#[test]
fn truncate_then_read() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    let n = 600;
    append_range(&p, 0, n, 3);
    let before = bases(&p);
    assert!(before.len() >= 4, "spans segments: {before:?}");
    // Batches start at multiples of 3, so this is inside a batch of the sealed segment 2.
    let cut = before[2] + 4;
    assert!(cut < before[3]);
    // An iterator that already went past the cut, and one before it.
    let mut ahead = p.iter_from(0).unwrap();
    assert_eq!(
        ahead.by_ref().take(cut as usize + 30).count() as u64,
        cut + 30
    );
    let from = before[1] + 1;
    let mut behind = p.iter_from(from).unwrap();

    p.truncate_to(cut).unwrap();
    assert_holds(&p, 0, cut, "after truncating inside a batch");
    assert!(
        p.read(cut).unwrap().is_none(),
        "the new end: nothing there yet"
    );
    assert_out_of_range(p.read(cut + 1), cut + 1, 0, cut);
    assert_out_of_range(p.read(n - 1), n - 1, 0, cut);
    assert!(p.iter_from(cut + 1).is_err());
    assert_eq!(p.offset_for_timestamp(ts(cut - 1)).unwrap(), Some(cut - 1));
    assert_eq!(p.offset_for_timestamp(ts(cut)).unwrap(), None);
    assert_eq!(p.offset_for_timestamp(ts(n - 1)).unwrap(), None);
    // Segments wholly above the cut are gone; the one holding it is now the active one.
    assert_eq!(bases(&p), before[..3].to_vec());
    assert_eq!(logs(&part_dir(dir.path())).len(), 3);
    assert!(p.verify().is_ok(), "{:?}", p.verify().problems);

    // The iterator past the cut moves back to it; the one before it reads up to it.
    assert!(ahead.next().is_none(), "nothing at or after the cut yet");
    let got: Vec<u64> = behind.by_ref().map(|r| r.unwrap().offset()).collect();
    assert_eq!(got, (from..cut).collect::<Vec<_>>());

    // Appends continue at the cut, with new contents at the old offsets.
    let end = cut + 9;
    for o in cut..end {
        let v = new_value(o);
        assert_eq!(p.append(NewRecord::new(&v).timestamp(ts(o))).unwrap(), o);
    }
    let read_new = |it: &mut pagelog::Records| -> Vec<(u64, Vec<u8>)> {
        it.map(|r| {
            let r = r.unwrap();
            (r.offset(), r.value().to_vec())
        })
        .collect()
    };
    let want: Vec<(u64, Vec<u8>)> = (cut..end).map(|o| (o, new_value(o))).collect();
    assert_eq!(read_new(&mut ahead), want);
    assert_eq!(read_new(&mut behind), want);
    assert_eq!(
        p.read(cut + 4).unwrap().unwrap().value(),
        new_value(cut + 4)
    );
    assert_eq!(p.offset_for_timestamp(ts(cut)).unwrap(), Some(cut));
    let mut want: Vec<(u64, Vec<u8>, i64)> = (0..cut).map(|o| (o, value(o), ts(o))).collect();
    want.extend((cut..end).map(|o| (o, new_value(o), ts(o))));
    assert_eq!(contents(&p), want);

    // At a segment boundary: the segments from it on are deleted and, as in Kafka (whose
    // segment at the target stays, emptied), appends continue in a new, empty segment at
    // the target; the segment before it stays sealed as it was.
    let boundary = before[2];
    p.truncate_to(boundary).unwrap();
    assert_eq!(bases(&p), before[..3].to_vec());
    assert_holds(&p, 0, boundary, "at a segment boundary");
    append_range(&p, boundary, boundary + 5, 1);
    assert_holds(&p, 0, boundary + 5, "appended after the boundary cut");

    // At the end: nothing changes. Past it: out of range, nothing changes.
    p.truncate_to(boundary + 5).unwrap();
    assert_out_of_range(p.truncate_to(boundary + 6), boundary + 6, 0, boundary + 5);
    assert_holds(&p, 0, boundary + 5, "after no-op truncations");

    // The truncated log survives a clean reopen and a crash.
    drop((ahead, behind, p));
    store.close().unwrap();
    let (store, p) = open(dir.path());
    assert_holds(&p, 0, boundary + 5, "clean reopen");
    append_range(&p, boundary + 5, boundary + 8, 1);
    drop(p);
    store.crash();
    let (store, p) = open(dir.path());
    assert_holds(&p, 0, boundary + 8, "crash reopen");
    store.close().unwrap();
}

#[test]
fn truncate_to_empty_and_reappend() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    append_range(&p, 0, 300, 4);
    let old = p.read(10).unwrap().unwrap();
    p.truncate_to(0).unwrap();
    assert_empty(&p, "truncated to 0");
    assert_eq!(bases(&p), vec![0], "one empty active segment");
    assert_eq!(logs(&part_dir(dir.path())).len(), 1);
    assert_eq!(old.value(), value(10), "a view outlives the truncation");
    // Offsets are handed out again from 0.
    append_range(&p, 0, 50, 2);
    assert_holds(&p, 0, 50, "re-appended");
    drop(p);
    store.close().unwrap();
    let (store, p) = open(dir.path());
    assert_holds(&p, 0, 50, "clean reopen");
    p.truncate_to(0).unwrap();
    drop(p);
    store.crash();
    let (store, p) = open(dir.path());
    assert_empty(&p, "truncated to 0, then crashed");
    append_range(&p, 0, 20, 5);
    assert_holds(&p, 0, 20, "re-appended after the crash");
    drop(p);
    store.close().unwrap();

    // Empty above a raised start offset: truncating to the start empties the partition and
    // appends continue there; below the start is out of range.
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small());
    append_range(&p, 0, 300, 4);
    assert_eq!(p.delete_records_before(122).unwrap(), 122);
    assert_out_of_range(p.truncate_to(121), 121, 122, 300);
    p.truncate_to(122).unwrap();
    assert_eq!((p.start_offset(), p.next_offset()), (122, 122));
    assert!(p.read(122).unwrap().is_none());
    assert_out_of_range(p.read(121), 121, 122, 122);
    assert!(p.iter().next().is_none());
    assert_eq!(p.offset_for_timestamp(i64::MIN).unwrap(), None);
    append_range(&p, 122, 130, 3);
    assert_holds(&p, 122, 130, "re-appended above the start");
    drop(p);
    store.close().unwrap();
    let (store, p) = open(dir.path());
    assert_holds(&p, 122, 130, "reopened");
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------

#[test]
fn retention_never_deletes_the_active_segment() {
    // Every rule wants everything: 1 byte, 1 ms (the records are from 2023), hard cap 1 byte.
    let strict = small()
        .retention_bytes(Some(1))
        .retention_ms(Some(1))
        .retention_hard_bytes(Some(1));
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), strict.clone());
    append_range(&p, 0, 300, 3);
    let active = *bases(&p).last().unwrap();
    assert!(active > 0, "rolled");
    p.enforce_retention().unwrap(); // the background thread may have done part of it
    assert_eq!(bases(&p), vec![active], "only the active segment is left");
    assert_eq!(logs(&part_dir(dir.path())).len(), 1);
    assert!(p.info().bytes > 1, "over every limit, still kept");
    assert_holds(&p, active, 300, "the active segment's records");
    let again = p.enforce_retention().unwrap();
    assert_eq!(again.segments_deleted, 0, "{again:?}");
    assert_eq!(bases(&p), vec![active]);

    // A partition that never rolled keeps its one segment.
    let dir2 = tempfile::tempdir().unwrap();
    let (store2, p2) = create(dir2.path(), strict);
    append_range(&p2, 0, 10, 1);
    assert_eq!(p2.enforce_retention().unwrap().segments_deleted, 0);
    assert_holds(&p2, 0, 10, "never rolled");
    drop(p2);
    store2.close().unwrap();

    // Even a start offset at the end keeps the active segment (its records are unreadable).
    assert_eq!(p.delete_records_before(u64::MAX).unwrap(), 300);
    assert_eq!(bases(&p), vec![active]);
    assert_eq!(logs(&part_dir(dir.path())).len(), 1);
    assert!(p.read(300).unwrap().is_none());
    assert_out_of_range(p.read(active), active, 300, 300);
    drop(p);
    store.close().unwrap();
    let (store, p) = open(dir.path());
    assert_eq!(bases(&p), vec![active], "after reopening");
    assert_eq!((p.start_offset(), p.next_offset()), (300, 300));
    store.close().unwrap();
}

#[test]
fn deleting_all_old_segments_keeps_the_next_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), small().retention_ms(Some(1)));
    append_range(&p, 0, 300, 3);
    let active = *bases(&p).last().unwrap();
    p.enforce_retention().unwrap();
    assert_eq!(bases(&p), vec![active], "every old segment deleted");
    assert_eq!(p.next_offset(), 300, "the next offset is kept");
    assert_eq!(p.start_offset(), active);
    assert_out_of_range(p.read(0), 0, active, 300);
    assert_out_of_range(p.read(active - 1), active - 1, active, 300);

    // Then every record: the start reaches the next offset, which still does not move.
    assert_eq!(p.delete_records_before(300).unwrap(), 300);
    assert_eq!((p.start_offset(), p.next_offset()), (300, 300));
    assert_out_of_range(p.read(299), 299, 300, 300);
    assert!(p.iter().next().is_none());
    assert_eq!(p.offset_for_timestamp(i64::MIN).unwrap(), None);
    drop(p);
    store.close().unwrap();

    // Kept across a clean reopen and a crash; offsets are never reused.
    let (store, p) = open(dir.path());
    assert_eq!((p.start_offset(), p.next_offset()), (300, 300));
    append_range(&p, 300, 303, 1);
    assert_holds(&p, 300, 303, "after the clean reopen");
    drop(p);
    store.crash();
    let (store, p) = open(dir.path());
    assert_holds(&p, 300, 303, "after the crash");
    assert_out_of_range(p.read(299), 299, 300, 303);
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// Compaction
// ---------------------------------------------------------------------------------------

/// A topic configuration for compaction tests: tombstones never expire.
fn compacting() -> TopicConfig {
    small().delete_retention_ms(u64::MAX / 4)
}

fn key(o: u64) -> Vec<u8> {
    format!("k{}", o % 7).into_bytes()
}

/// Appends offsets `from..to` in batches of `per_batch`, keyed by `key(o)`.
fn append_keyed(p: &Partition, from: u64, to: u64, per_batch: u64) {
    let mut o = from;
    while o < to {
        let end = (o + per_batch).min(to);
        let keys: Vec<Vec<u8>> = (o..end).map(key).collect();
        let values: Vec<Vec<u8>> = (o..end).map(value).collect();
        let records: Vec<NewRecord<'_>> = (0..keys.len())
            .map(|i| {
                NewRecord::new(&values[i])
                    .key(&keys[i])
                    .timestamp(ts(o + i as u64))
            })
            .collect();
        assert_eq!(p.append_batch(&records).unwrap(), o..end);
        o = end;
    }
}

/// (offset, key, value) of every record from the start.
type Keyed = Vec<(u64, Vec<u8>, Vec<u8>)>;

fn keyed(p: &Partition) -> Keyed {
    p.iter()
        .map(|r| {
            let r = r.unwrap();
            (r.offset(), r.key().unwrap().to_vec(), r.value().to_vec())
        })
        .collect()
}

#[test]
fn read_in_an_offset_gap() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p) = create(dir.path(), compacting());
    append_keyed(&p, 0, 300, 3);
    let report = p.compact().unwrap();
    assert!(report.records_removed > 0, "{report:?}");
    let kept: Vec<u64> = keyed(&p).iter().map(|r| r.0).collect();
    let gaps: Vec<u64> = (0..300).filter(|o| !kept.contains(o)).collect();
    assert_eq!(gaps.len() as u64, report.records_removed);
    let check = |p: &Partition, ctx: &str| {
        for &o in &gaps {
            let next = *kept.iter().find(|&&k| k > o).unwrap();
            let r = p.read(o).unwrap().unwrap();
            assert_eq!(
                (r.offset(), r.value()),
                (next, &value(next)[..]),
                "{ctx}: read({o})"
            );
            let first = p.iter_from(o).unwrap().next().unwrap().unwrap();
            assert_eq!(first.offset(), next, "{ctx}: iter_from({o})");
            assert_eq!(
                p.offset_for_timestamp(ts(o)).unwrap(),
                Some(next),
                "{ctx}: offset_for_timestamp at a removed record's time"
            );
        }
        for &o in &kept {
            assert_eq!(p.read(o).unwrap().unwrap().offset(), o, "{ctx}");
        }
        assert_eq!(p.next_offset(), 300, "{ctx}");
    };
    check(&p, "compacted");
    drop(p);
    store.close().unwrap();
    let (store, p) = open(dir.path());
    check(&p, "reopened");
    drop(p);
    store.crash();
    let (store, p) = open(dir.path());
    check(&p, "recovered");
    store.close().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else if e.file_name() != pagelog::LOCK_FILE {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Where one file of the segment being compacted is when the crash happens.
#[derive(Debug, Clone, Copy)]
enum At {
    /// Not written yet: only the old live file.
    Old,
    /// The first `n` bytes of the new file as `<name>.cleaned` (`usize::MAX`: all of it).
    Cleaned(usize),
    /// The new file as `<name>.swap`.
    Swap,
    /// The new file renamed over the live one.
    Live,
}

/// Kafka's "crash in the middle of a compaction swap", as the files a crash leaves at each
/// step of the swap protocol (module `partition::compact`): the new `.index`, `.timeindex`
/// and `.log` are written as `.cleaned` and synced, renamed to `.swap` in that order (the
/// swap is decided once `.log.swap` exists), then renamed over the live files in that order.
/// An undecided swap is rolled back (the old segment stays), a decided one is finished, even
/// when a power loss lost the rename of an index to `.swap`.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, its steps and checks in order"
)]
fn crash_in_the_middle_of_a_compaction_swap() {
    use At::{Cleaned, Live, Old, Swap};
    let n = 400;
    let original = tempfile::tempdir().unwrap();
    let (store, p) = create(original.path(), compacting());
    append_keyed(&p, 0, n, 3);
    assert!(bases(&p).len() >= 3);
    let old = keyed(&p);
    drop(p);
    store.close().unwrap();

    // The compacted segment 0, made by a real pass on a copy.
    let compacted = tempfile::tempdir().unwrap();
    copy_dir(original.path(), compacted.path());
    let (store, p) = open(compacted.path());
    let segment_end = bases(&p)[1];
    let report = p.compact().unwrap();
    assert!(report.segments_rewritten >= 1, "{report:?}");
    let compacted_records = keyed(&p);
    drop(p);
    store.close().unwrap();
    let seg0 = "00000000000000000000";
    let new_file = |ext: &str| fs::read(part_dir(compacted.path()).join(format!("{seg0}.{ext}")));
    let new_files: Vec<(&str, Vec<u8>)> = ["index", "timeindex", "log"]
        .into_iter()
        .map(|ext| (ext, new_file(ext).unwrap()))
        .collect();
    let old_log = fs::read(part_dir(original.path()).join(format!("{seg0}.log"))).unwrap();
    assert!(
        new_files[2].1.len() < old_log.len(),
        "segment 0 was compacted"
    );
    // Segment 0 compacted, the others as they were.
    let new: Keyed = compacted_records
        .iter()
        .filter(|r| r.0 < segment_end)
        .chain(old.iter().filter(|r| r.0 >= segment_end))
        .cloned()
        .collect();
    assert!(new.len() < old.len());

    let all = usize::MAX;
    // [.index, .timeindex, .log], and whether the new segment must win.
    let steps: [(&str, [At; 3], bool); 10] = [
        ("writing the first .cleaned", [Cleaned(40), Old, Old], false),
        (
            "writing the .cleaned log",
            [Cleaned(all), Cleaned(all), Cleaned(100)],
            false,
        ),
        (
            "all .cleaned synced",
            [Cleaned(all), Cleaned(all), Cleaned(all)],
            false,
        ),
        (
            "index renamed to .swap",
            [Swap, Cleaned(all), Cleaned(all)],
            false,
        ),
        (
            "indexes renamed to .swap",
            [Swap, Swap, Cleaned(all)],
            false,
        ),
        ("swap decided", [Swap, Swap, Swap], true),
        (
            "power loss lost an index's .swap rename",
            [Cleaned(all), Swap, Swap],
            true,
        ),
        ("index renamed over the live one", [Live, Swap, Swap], true),
        (
            "indexes renamed over the live ones",
            [Live, Live, Swap],
            true,
        ),
        ("swap finished", [Live, Live, Live], true),
    ];
    for (step, files, forward) in steps {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(original.path(), dir.path());
        let pdir = part_dir(dir.path());
        for (at, (ext, bytes)) in files.iter().zip(&new_files) {
            let live = pdir.join(format!("{seg0}.{ext}"));
            match *at {
                Old => {}
                Cleaned(len) => fs::write(
                    pdir.join(format!("{seg0}.{ext}.cleaned")),
                    &bytes[..len.min(bytes.len())],
                )
                .unwrap(),
                Swap => fs::write(pdir.join(format!("{seg0}.{ext}.swap")), bytes).unwrap(),
                Live => fs::write(&live, bytes).unwrap(),
            }
        }
        let (store, p) = open(dir.path());
        let want = if forward { &new } else { &old };
        assert_eq!(&keyed(&p), want, "{step}");
        assert_eq!(p.next_offset(), n, "{step}");
        assert!(p.verify().is_ok(), "{step}: {:?}", p.verify().problems);
        let log_len = fs::metadata(pdir.join(format!("{seg0}.log")))
            .unwrap()
            .len();
        let want_len = if forward {
            new_files[2].1.len()
        } else {
            old_log.len()
        };
        assert_eq!(log_len as usize, want_len, "{step}");
        let leftovers: Vec<String> = fs::read_dir(&pdir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|f| {
                std::path::Path::new(f)
                    .extension()
                    .is_some_and(|e| e == "cleaned" || e == "swap")
            })
            .collect();
        assert!(leftovers.is_empty(), "{step}: {leftovers:?}");
        // The partition works on: a full pass gives the fully compacted log.
        p.compact().unwrap();
        assert_eq!(keyed(&p), compacted_records, "{step}: compacted afterwards");
        append_keyed(&p, n, n + 3, 3);
        drop(p);
        store.close().unwrap();
        let (store, p) = open(dir.path());
        assert_eq!(p.next_offset(), n + 3, "{step}");
        store.close().unwrap();
    }
}
