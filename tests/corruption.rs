//! Damage on disk, and what reopening makes of it.
//!
//! Every test builds a small partition (4 KiB segments, several of them), shuts it down
//! either cleanly (`Store::close`) or as a crash (`Store::crash`: no trim, unclean
//! checkpoint, so the last segment is recovered by scanning on the next open), damages the
//! files of a fresh copy of the directory, reopens it and checks what survived, byte for
//! byte and record for record. Covered:
//!
//! * (a) the last batch cut at every byte position, both by shortening the file and by
//!   zeroing its tail inside the preallocated space, with batches before it in its segment
//!   and alone at the start of a fresh segment: the batches before it survive, appends
//!   continue at its base offset, and the appended record survives another reopen;
//! * (b) random bytes flipped inside the last batch (seeded PRNG): the batch is dropped,
//!   everything before it is kept;
//! * (c) zero-filled tails of many lengths (shorter than a header, one header, past the
//!   segment size, 1 MiB) after a crash and after a clean close: nothing lost, nothing extra;
//! * (d) garbage after the last valid batch (random bytes, zeros then garbage, replayed
//!   copies of earlier batches, a re-based copy with a stale CRC, a header claiming 4 GiB, a
//!   lone header): cut, after a crash and after a clean close;
//! * (e) `.index` / `.timeindex` of every sealed segment or of the active one missing,
//!   replaced by garbage, emptied, cut mid-entry, missing their last entry, or with one entry
//!   flipped, after a clean close and after a crash, with a dense and a sparse index: reopen
//!   works, every read and every timestamp lookup is right, the indexes the library keeps
//!   describe the log, and appends, a roll and another reopen keep it so; segments recovered
//!   by an unclean open answer timestamp lookups right after a later clean open too;
//! * (f) a missing, empty, garbage, bit-flipped (every byte), truncated (every length),
//!   extended or stale `checkpoint`: everything recovered, nothing lost;
//! * (g) unknown files and directories in the partition, topic and root directories
//!   (including directories named like segment files) are left alone; orphan `.index` /
//!   `.timeindex` files without a `.log` and a leftover `checkpoint.tmp` are removed;
//! * (h) a damaged `topic.meta` (every byte flipped, every truncation, wrong magic, extra
//!   bytes, garbage, a well-framed invalid configuration, more partitions than directories):
//!   `Store::topic` returns `Error::Corrupt`, no panic;
//! * (i) a damaged batch in the middle of a sealed segment below the recovery point (clean
//!   close, then one flipped byte in payload, CRC, length, base offset, magic or timestamp):
//!   reopen succeeds, reading that batch fails with `ChecksumMismatch` or `Corrupt` naming
//!   the segment file, records elsewhere still read, and `Partition::verify` reports the
//!   batch's position; and the Kafka rule for the same damage found by an unclean open (no
//!   checkpoint): the segment is cut there and every later segment is dropped;
//! * a property test: arbitrary bytes, and valid batches followed by garbage, with a flipped
//!   byte or cut short, written as a segment's `.log` → `Segment::recover` never panics and
//!   keeps exactly the longest valid prefix (`PROPTEST_CASES`, default 64).
//!
//! Tests that try many combinations run them all and then list every failing one.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "test data: offsets, sizes and counts are small"
)]

mod common;

use common::rng::Rng;
use std::fs;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use pagelog::codec::batch;
use pagelog::{Corruption, Error, FlushPolicy, NewRecord, Partition, Segment, Store, TopicConfig};
use proptest::prelude::*;
use tempfile::TempDir;

const TOPIC: &str = "t";
/// Timestamp of offset 0; offset `o` has `T0 + 10 * o`.
const T0: i64 = 1_700_000_000_000;
/// Batches the standard fixture appends: about four 4 KiB segments.
const BATCHES: usize = 101;
const HEADER: usize = batch::HEADER_LEN;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn config() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(200)
        .flush(FlushPolicy::Never)
}

fn value(o: u64) -> Vec<u8> {
    let pad = "abcdefghijklmnopqrstuvwxyz";
    format!("value-{o:06}-{}", &pad[..(o % 27) as usize]).into_bytes()
}

fn ts(o: u64) -> i64 {
    T0 + 10 * o as i64
}

/// Appends `n` batches of 1 to 3 records (batch `k` holds `1 + k % 3`), each record with its
/// `value` and `ts`.
fn append_batches(p: &Partition, n: usize) -> Vec<Range<u64>> {
    (0..n)
        .map(|k| {
            let start = p.next_offset();
            let count = 1 + (k % 3) as u64;
            let values: Vec<Vec<u8>> = (start..start + count).map(value).collect();
            let records: Vec<NewRecord<'_>> = values
                .iter()
                .zip(start..)
                .map(|(v, o)| NewRecord::new(v).timestamp(ts(o)))
                .collect();
            let range = p.append_batch(&records).unwrap();
            assert_eq!(range, start..start + count);
            range
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    Clean,
    Crash,
}

/// A directory holding topic `t` with one partition of `BATCHES` batches, shut down.
struct Fixture {
    dir: TempDir,
    total: u64,
}

impl Fixture {
    fn build(shutdown: Shutdown) -> Self {
        Self::build_with(shutdown, BATCHES)
    }

    fn build_with(shutdown: Shutdown, batches: usize) -> Self {
        Self::build_config(shutdown, batches, config())
    }

    fn build_config(shutdown: Shutdown, batches: usize, config: TopicConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t = store.create_topic(TOPIC, config).unwrap();
        let p = t.partition(0).unwrap().clone();
        let ranges = append_batches(&p, batches);
        assert!(p.segment_paths().len() >= 3, "the fixture spans segments");
        let total = ranges.last().unwrap().end;
        drop((p, t));
        match shutdown {
            Shutdown::Clean => store.close().unwrap(),
            Shutdown::Crash => store.crash(),
        }
        Self { dir, total }
    }

    fn copy(&self) -> TempDir {
        let to = tempfile::tempdir().unwrap();
        copy_dir(self.dir.path(), to.path());
        to
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            fs::copy(e.path(), &to).unwrap();
        }
    }
}

fn part_dir(root: &Path) -> PathBuf {
    root.join(TOPIC).join("0")
}

/// `.log` files of the partition, in offset order.
fn logs(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(part_dir(root))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.len() == 24 && p.extension().is_some_and(|e| e == "log")
        })
        .collect();
    v.sort();
    v
}

fn with_ext(log: &Path, ext: &str) -> PathBuf {
    log.with_extension(ext)
}

/// A batch found by walking the length fields of a `.log`.
#[derive(Debug, Clone, Copy)]
struct Batch {
    pos: usize,
    len: usize,
    base: u64,
    count: u64,
}

impl Batch {
    fn end(&self) -> usize {
        self.pos + self.len
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Walks batch headers (length at byte 4, record count at 12, base offset at 16) until one
/// does not fit; stops at the zero-filled preallocated tail.
fn walk(log: &[u8]) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + HEADER <= log.len() {
        let len = le_u32(log, pos + 4) as usize;
        if len < HEADER || pos + len > log.len() {
            break;
        }
        out.push(Batch {
            pos,
            len,
            base: le_u64(log, pos + 16),
            count: u64::from(le_u32(log, pos + 12)),
        });
        pos += len;
    }
    out
}

fn batches_of(log: &Path) -> Vec<Batch> {
    walk(&fs::read(log).unwrap())
}

fn open(root: &Path) -> (Store, Partition) {
    let store = Store::open(root).unwrap();
    let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    (store, p)
}

/// The partition holds exactly offsets `0..n` with the fixture's values and timestamps.
fn assert_holds(p: &Partition, n: u64, ctx: &str) {
    assert_eq!(p.start_offset(), 0, "{ctx}: start offset");
    assert_eq!(p.next_offset(), n, "{ctx}: next offset");
    let mut expected = 0;
    for r in p.iter_from(0).unwrap() {
        let r = r.unwrap_or_else(|e| panic!("{ctx}: iterating at {expected}: {e}"));
        assert_eq!(r.offset(), expected, "{ctx}");
        assert_eq!(r.value(), value(expected), "{ctx}: value at {expected}");
        assert_eq!(
            r.timestamp(),
            ts(expected),
            "{ctx}: timestamp at {expected}"
        );
        expected += 1;
    }
    assert_eq!(expected, n, "{ctx}: records iterated");
    assert!(p.read(n).unwrap().is_none(), "{ctx}: read at the end");
    assert!(
        matches!(p.read(n + 1), Err(Error::OffsetOutOfRange { .. })),
        "{ctx}: read past the end"
    );
}

/// Every offset read on its own (through the offset index) and every timestamp lookup
/// (through the time index) give the right answer.
fn assert_lookups(p: &Partition, n: u64, ctx: &str) {
    for o in 0..n {
        let r = p
            .read(o)
            .unwrap_or_else(|e| panic!("{ctx}: read({o}): {e}"))
            .unwrap_or_else(|| panic!("{ctx}: read({o}) found nothing"));
        assert_eq!(r.offset(), o, "{ctx}");
        assert_eq!(r.value(), value(o), "{ctx}: read({o})");
        assert_eq!(
            p.offset_for_timestamp(ts(o)).unwrap(),
            Some(o),
            "{ctx}: offset_for_timestamp(ts({o}))"
        );
        assert_eq!(
            p.offset_for_timestamp(ts(o) - 5).unwrap(),
            Some(o),
            "{ctx}: offset_for_timestamp(ts({o}) - 5)"
        );
    }
    assert_eq!(p.offset_for_timestamp(i64::MIN).unwrap(), Some(0), "{ctx}");
    let after = if n == 0 { T0 } else { ts(n - 1) + 1 };
    assert_eq!(p.offset_for_timestamp(after).unwrap(), None, "{ctx}");
}

/// Appending continues at `n` and the record reads back.
fn assert_appends_at(p: &Partition, n: u64, ctx: &str) {
    let v = value(n);
    assert_eq!(
        p.append(NewRecord::new(&v).timestamp(ts(n))).unwrap(),
        n,
        "{ctx}: offset of the next append"
    );
    assert_eq!(p.read(n).unwrap().unwrap().value(), v, "{ctx}");
}

fn assert_verify_clean(p: &Partition, ctx: &str) {
    let report = p.verify();
    assert!(report.is_ok(), "{ctx}: verify found {:?}", report.problems);
}

/// Writes `bytes` at `pos` of `path` without changing its length (unless it extends it).
fn patch(path: &Path, pos: usize, bytes: &[u8]) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, pos as u64).unwrap();
}

fn xor_byte(path: &Path, pos: usize, mask: u8) {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, pos as u64).unwrap();
    b[0] ^= mask;
    f.write_all_at(&b, pos as u64).unwrap();
}

fn set_len(path: &Path, len: usize) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len as u64)
        .unwrap();
}

/// Cuts the last `.log` after its last valid batch, then appends `tail`.
/// A copy of the fixture whose last log ends in `tail` after its last batch opens with every
/// record and nothing more, verifies clean, takes an append at the end, and keeps it across a
/// reopen.
fn assert_tail_dropped(fx: &Fixture, tail: &[u8], ctx: &str) {
    let copy = fx.copy();
    replace_tail(copy.path(), tail);
    let (store, p) = open(copy.path());
    assert_holds(&p, fx.total, ctx);
    assert_verify_clean(&p, ctx);
    assert_appends_at(&p, fx.total, ctx);
    store.close().unwrap();
    let (store, p) = open(copy.path());
    assert_holds(&p, fx.total + 1, ctx);
    store.close().unwrap();
}

fn replace_tail(root: &Path, tail: &[u8]) {
    let log = logs(root).pop().unwrap();
    let end = batches_of(&log).last().map_or(0, Batch::end);
    set_len(&log, end);
    patch(&log, end, tail);
}

// ---------------------------------------------------------------------------------------
// (a) torn last batch
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Tear {
    /// The file ends inside the batch.
    Shorten,
    /// The file keeps its length; the batch's bytes from the cut on are zeros (a torn write
    /// into preallocated space).
    Zero,
}

#[test]
fn last_batch_cut_at_every_byte_keeps_the_batches_before_it() {
    let fx = Fixture::build(Shutdown::Crash);
    let last_log = logs(fx.dir.path()).pop().unwrap();
    assert!(
        batches_of(&last_log).len() >= 2,
        "batches before it in its segment"
    );
    check_every_cut(&fx);
}

/// The same when the last batch is alone in its segment, at position 0: the cut leaves an
/// empty active segment behind a sealed one.
#[test]
fn lone_batch_of_a_fresh_segment_cut_at_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic(TOPIC, config()).unwrap();
    let p = t.partition(0).unwrap().clone();
    append_batches(&p, 30);
    // Append 3-record batches until one starts a new segment.
    let segments = p.segment_paths().len();
    let total = loop {
        let start = p.next_offset();
        let values: Vec<Vec<u8>> = (start..start + 3).map(value).collect();
        let records: Vec<NewRecord<'_>> = values
            .iter()
            .zip(start..)
            .map(|(v, o)| NewRecord::new(v).timestamp(ts(o)))
            .collect();
        let range = p.append_batch(&records).unwrap();
        if p.segment_paths().len() > segments {
            assert_eq!(bases_of(&p).last(), Some(&range.start));
            break range.end;
        }
    };
    drop((p, t));
    store.crash();
    check_every_cut(&Fixture { dir, total });
}

fn bases_of(p: &Partition) -> Vec<u64> {
    p.segment_paths()
        .iter()
        .map(|s| {
            s.log
                .file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

fn check_every_cut(fx: &Fixture) {
    let last_log = logs(fx.dir.path()).pop().unwrap();
    let original = fs::read(&last_log).unwrap();
    let last = *walk(&original).last().unwrap();
    assert_eq!(last.base + last.count, fx.total);
    assert!(last.count >= 2, "the last batch holds several records");
    let name = last_log.file_name().unwrap().to_owned();
    for tear in [Tear::Shorten, Tear::Zero] {
        for cut in 0..=last.len {
            let ctx = format!("{tear:?} at byte {cut} of {}", last.len);
            let copy = fx.copy();
            let log = part_dir(copy.path()).join(&name);
            match tear {
                Tear::Shorten => set_len(&log, last.pos + cut),
                Tear::Zero => patch(&log, last.pos + cut, &vec![0; last.len - cut]),
            }
            // Zeroing bytes that were zeros already (a record ending in a zero-length
            // varint) leaves the batch intact.
            let intact = match tear {
                Tear::Shorten => cut == last.len,
                Tear::Zero => original[last.pos + cut..last.end()].iter().all(|&b| b == 0),
            };
            let expected = if intact { fx.total } else { last.base };
            let (store, p) = open(copy.path());
            assert_holds(&p, expected, &ctx);
            assert_appends_at(&p, expected, &ctx);
            if cut % 16 == 0 {
                store.crash();
                let (store, p) = open(copy.path());
                assert_holds(&p, expected + 1, &ctx);
                assert_verify_clean(&p, &ctx);
                store.close().unwrap();
            } else {
                store.close().unwrap();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// (b) flipped bytes in the last batch
// ---------------------------------------------------------------------------------------

#[test]
fn flipped_bytes_in_the_last_batch_drop_only_that_batch() {
    let fx = Fixture::build(Shutdown::Crash);
    let last_log = logs(fx.dir.path()).pop().unwrap();
    let last = *batches_of(&last_log).last().unwrap();
    let name = last_log.file_name().unwrap().to_owned();
    let mut rng = Rng(0x00C0_FFEE);
    for trial in 0..150 {
        let copy = fx.copy();
        let log = part_dir(copy.path()).join(&name);
        let flips = 1 + rng.below(4);
        let mut at = Vec::new();
        for _ in 0..flips {
            let pos = last.pos + rng.below(last.len);
            xor_byte(&log, pos, rng.nonzero_byte());
            at.push(pos - last.pos);
        }
        let ctx = format!("trial {trial}: bytes {at:?} of the last batch flipped");
        let (store, p) = open(copy.path());
        assert_holds(&p, last.base, &ctx);
        assert_appends_at(&p, last.base, &ctx);
        assert_verify_clean(&p, &ctx);
        store.close().unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// (c) zero-filled tails
// ---------------------------------------------------------------------------------------

#[test]
fn zero_filled_tails_lose_nothing_and_add_nothing() {
    for shutdown in [Shutdown::Crash, Shutdown::Clean] {
        let fx = Fixture::build(shutdown);
        let last_log = logs(fx.dir.path()).pop().unwrap();
        let valid_end = batches_of(&last_log).last().unwrap().end();
        let to_segment_end = 4096 - valid_end;
        for zeros in [
            0,
            1,
            11,
            HEADER - 1,
            HEADER,
            HEADER + 1,
            100,
            to_segment_end,
            4096,
            3 * 4096 + 5,
            1 << 20,
        ] {
            let ctx = format!("{shutdown:?}, {zeros} zero bytes after the last batch");
            assert_tail_dropped(&fx, &vec![0; zeros], &ctx);
        }
    }
}

// ---------------------------------------------------------------------------------------
// (d) garbage after the last batch
// ---------------------------------------------------------------------------------------

#[test]
fn garbage_after_the_last_batch_is_cut() {
    let mut rng = Rng(0xBAD_5EED);
    for shutdown in [Shutdown::Crash, Shutdown::Clean] {
        let fx = Fixture::build(shutdown);
        let last_log = logs(fx.dir.path()).pop().unwrap();
        let bytes = fs::read(&last_log).unwrap();
        let batches = walk(&bytes);
        let first = batches[0];
        let last = *batches.last().unwrap();
        let last_bytes = bytes[last.pos..last.end()].to_vec();
        let mut tails: Vec<(String, Vec<u8>)> = [1, 3, 8, HEADER - 1, HEADER, 64, 500, 5000]
            .into_iter()
            .map(|n| (format!("{n} random bytes"), rng.bytes(n)))
            .collect();
        let mut zeros_then_garbage = vec![0; 100];
        zeros_then_garbage.extend(rng.bytes(50));
        tails.push(("100 zeros, then 50 random bytes".into(), zeros_then_garbage));
        tails.push(("the last batch again".into(), last_bytes.clone()));
        tails.push((
            "the segment's first batch again".into(),
            bytes[first.pos..first.end()].to_vec(),
        ));
        let mut rebased = last_bytes.clone();
        rebased[16..24].copy_from_slice(&fx.total.to_le_bytes());
        tails.push(("the last batch re-based, stale CRC".into(), rebased));
        let mut huge = last_bytes.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        tails.push(("a header claiming 4 GiB".into(), huge));
        tails.push(("a lone header".into(), last_bytes[..HEADER].to_vec()));
        let mut header_then_noise = last_bytes[..HEADER].to_vec();
        header_then_noise.extend(rng.bytes(last.len - HEADER));
        tails.push(("a header then random bytes".into(), header_then_noise));
        for (what, tail) in tails {
            let ctx = format!("{shutdown:?}, garbage: {what}");
            assert_tail_dropped(&fx, &tail, &ctx);
        }
    }
}

// ---------------------------------------------------------------------------------------
// (e) damaged or missing indexes
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// Every sealed segment.
    Sealed,
    /// The last segment.
    Active,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexFiles {
    Offset,
    Time,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexDamage {
    Missing,
    /// Random bytes over the whole file, same length.
    Garbage,
    /// Random bytes, a length that is not a whole number of entries.
    GarbageOddLength,
    /// Zero length.
    Emptied,
    /// The last entry cut in half.
    CutMidEntry,
    /// Exactly the last entry removed.
    LastEntryRemoved,
    /// One byte of the first entry flipped.
    FirstEntryFlipped,
}

const INDEX_DAMAGES: [IndexDamage; 7] = [
    IndexDamage::Missing,
    IndexDamage::Garbage,
    IndexDamage::GarbageOddLength,
    IndexDamage::Emptied,
    IndexDamage::CutMidEntry,
    IndexDamage::LastEntryRemoved,
    IndexDamage::FirstEntryFlipped,
];

fn damage_index(path: &Path, entry_len: usize, damage: IndexDamage, rng: &mut Rng) {
    let len = fs::metadata(path).unwrap().len() as usize;
    match damage {
        IndexDamage::Missing => fs::remove_file(path).unwrap(),
        IndexDamage::Garbage => fs::write(path, rng.bytes(len.max(3 * entry_len))).unwrap(),
        IndexDamage::GarbageOddLength => fs::write(path, rng.bytes(5 * entry_len + 7)).unwrap(),
        IndexDamage::Emptied => set_len(path, 0),
        IndexDamage::CutMidEntry => set_len(path, len.saturating_sub(entry_len / 2)),
        IndexDamage::LastEntryRemoved => set_len(path, len.saturating_sub(entry_len)),
        IndexDamage::FirstEntryFlipped => {
            if len > 0 {
                xor_byte(path, 1, 0x40);
            }
        }
    }
}

/// Damages the index files of one segment of a copy of `fx`, reopens, and checks every
/// read and timestamp lookup, then appends across a roll and checks again after a reopen.
fn check_index_damage(
    fx: &Fixture,
    which: Which,
    files: IndexFiles,
    damage: IndexDamage,
    rng: &mut Rng,
    ctx: &str,
) {
    let copy = fx.copy();
    let all = logs(copy.path());
    let targets = match which {
        Which::Sealed => &all[..all.len() - 1],
        Which::Active => &all[all.len() - 1..],
    };
    for log in targets {
        if files != IndexFiles::Time {
            damage_index(&with_ext(log, "index"), 12, damage, rng);
        }
        // A time index that lost exactly its last entry has its own test below.
        if files != IndexFiles::Offset && damage != IndexDamage::LastEntryRemoved {
            damage_index(&with_ext(log, "timeindex"), 16, damage, rng);
        }
    }
    let (store, p) = open(copy.path());
    assert_holds(&p, fx.total, ctx);
    assert_lookups(&p, fx.total, ctx);
    let report = p.verify();
    assert!(
        report
            .problems
            .iter()
            .all(|pr| pr.path.extension().unwrap() != "log"),
        "{ctx}: the log itself is intact: {:?}",
        report.problems
    );
    if damage != IndexDamage::FirstEntryFlipped {
        // Whatever index the library kept or rebuilt describes the log exactly. (A flipped
        // entry in the middle of a trusted index is only noticed, by its CRC, when a lookup
        // meets it: lookups then scan the log, which the checks above cover.)
        assert!(report.is_ok(), "{ctx}: {:?}", report.problems);
    }
    // Keep going: appends (and a roll) on top of the rebuilt indexes.
    let more = append_batches(&p, 40).last().unwrap().end;
    assert_lookups(&p, more, ctx);
    store.close().unwrap();
    let (store, p) = open(copy.path());
    assert_holds(&p, more, ctx);
    assert_lookups(&p, more, ctx);
    store.close().unwrap();
}

#[test]
fn damaged_or_missing_indexes_are_rebuilt_and_lookups_stay_right() {
    let mut rng = Rng(0x1DE7);
    let mut failures = Vec::new();
    // A dense index (an entry about every other batch) and a sparse one (about three per
    // segment, so the last batch of a segment is usually not indexed).
    let fixtures = [200, 1000].into_iter().flat_map(|interval| {
        [Shutdown::Clean, Shutdown::Crash].map(|shutdown| (interval, shutdown))
    });
    for (interval, shutdown) in fixtures {
        let cfg = config().index_interval_bytes(interval);
        let fx = Fixture::build_config(shutdown, BATCHES, cfg);
        for which in [Which::Sealed, Which::Active] {
            for files in [IndexFiles::Offset, IndexFiles::Time, IndexFiles::Both] {
                for damage in INDEX_DAMAGES {
                    let ctx = format!(
                        "interval {interval}, {shutdown:?}, {which:?} segment, {files:?} index {damage:?}"
                    );
                    // Run every combination and report all failures together.
                    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        check_index_damage(&fx, which, files, damage, &mut rng, &ctx);
                    }));
                    if run.is_err() {
                        failures.push(ctx);
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "failing combinations: {failures:#?}");
}

/// A time index cut at an entry boundary looks intact (whole entries, the last one passes
/// its CRC), but the entry it lost was the one written at seal time, carrying the segment's
/// largest timestamp.
#[test]
fn time_index_missing_its_last_entry_keeps_timestamp_lookups_right() {
    let mut failures = Vec::new();
    for shutdown in [Shutdown::Clean, Shutdown::Crash] {
        let fx = Fixture::build(shutdown);
        for which in [Which::Sealed, Which::Active] {
            let ctx = format!("{shutdown:?}, {which:?} segment, .timeindex without its last entry");
            let run = std::panic::catch_unwind(|| {
                let copy = fx.copy();
                let all = logs(copy.path());
                let log = match which {
                    Which::Sealed => all[0].clone(),
                    Which::Active => all[all.len() - 1].clone(),
                };
                let time = with_ext(&log, "timeindex");
                let len = fs::metadata(&time).unwrap().len() as usize;
                assert!(len >= 32, "{ctx}: the time index has entries");
                set_len(&time, len - 16);
                let (store, p) = open(copy.path());
                assert_holds(&p, fx.total, &ctx);
                assert_lookups(&p, fx.total, &ctx);
                store.close().unwrap();
            });
            if run.is_err() {
                failures.push(ctx);
            }
        }
    }
    assert!(failures.is_empty(), "failing combinations: {failures:#?}");
}

// ---------------------------------------------------------------------------------------
// (f) damaged or missing checkpoint
// ---------------------------------------------------------------------------------------

#[test]
fn damaged_or_missing_checkpoint_recovers_everything() {
    let mut rng = Rng(0xC4EC);
    for shutdown in [Shutdown::Clean, Shutdown::Crash] {
        let fx = Fixture::build(shutdown);
        let cp_path = part_dir(fx.dir.path()).join("checkpoint");
        let good = fs::read(&cp_path).unwrap();
        let mut variants: Vec<(String, Option<Vec<u8>>)> = vec![
            ("missing".into(), None),
            ("empty".into(), Some(Vec::new())),
            ("garbage".into(), Some(rng.bytes(good.len()))),
            ("one byte too many".into(), Some([&good[..], &[0]].concat())),
        ];
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= rng.nonzero_byte();
            variants.push((format!("byte {i} flipped"), Some(b)));
            variants.push((format!("cut to {i} bytes"), Some(good[..i].to_vec())));
        }
        for (what, contents) in variants {
            let ctx = format!("{shutdown:?}, checkpoint {what}");
            let copy = fx.copy();
            let cp = part_dir(copy.path()).join("checkpoint");
            match contents {
                None => fs::remove_file(&cp).unwrap(),
                Some(b) => fs::write(&cp, b).unwrap(),
            }
            let (store, p) = open(copy.path());
            assert_holds(&p, fx.total, &ctx);
            assert_appends_at(&p, fx.total, &ctx);
            store.close().unwrap();
        }
    }
}

/// An unclean open recovers every segment after the recovery point by scanning it and
/// rewrites its indexes; a later clean open trusts those indexes. Timestamp lookups must be
/// right both times.
#[test]
fn segments_recovered_without_a_checkpoint_answer_timestamp_lookups_after_a_clean_reopen() {
    // A sparse index (about three entries per segment), so the last batch of a segment is
    // usually not indexed.
    let fx = Fixture::build_config(
        Shutdown::Clean,
        BATCHES,
        config().index_interval_bytes(1000),
    );
    fs::remove_file(part_dir(fx.dir.path()).join("checkpoint")).unwrap();
    let (store, p) = open(fx.dir.path());
    assert_holds(&p, fx.total, "recovered");
    assert_lookups(&p, fx.total, "recovered");
    drop(p);
    store.close().unwrap();
    let (store, p) = open(fx.dir.path());
    assert_holds(&p, fx.total, "clean reopen after recovery");
    assert_lookups(&p, fx.total, "clean reopen after recovery");
    store.close().unwrap();
}

#[test]
fn stale_checkpoint_recovers_everything() {
    for shutdown in [Shutdown::Clean, Shutdown::Crash] {
        let ctx = format!("{shutdown:?}, checkpoint of an earlier clean close");
        let fx = Fixture::build(Shutdown::Clean);
        let cp_path = part_dir(fx.dir.path()).join("checkpoint");
        let stale = fs::read(&cp_path).unwrap();
        let (store, p) = open(fx.dir.path());
        let total = append_batches(&p, 60).last().unwrap().end;
        drop(p);
        match shutdown {
            Shutdown::Clean => store.close().unwrap(),
            Shutdown::Crash => store.crash(),
        }
        fs::write(&cp_path, stale).unwrap();
        let (store, p) = open(fx.dir.path());
        assert_holds(&p, total, &ctx);
        assert_lookups(&p, total, &ctx);
        assert_appends_at(&p, total, &ctx);
        store.close().unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// (g) unknown and leftover files
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_files_are_left_alone_and_leftovers_removed() {
    for shutdown in [Shutdown::Clean, Shutdown::Crash] {
        let fx = Fixture::build(shutdown);
        let root = fx.dir.path();
        let topic = root.join(TOPIC);
        let part = part_dir(root);
        let unknown_files = [
            part.join("notes.txt"),
            part.join("00000000000000000000.log.bak"),
            part.join("00000000000000000000.txt"),
            part.join("0042.log"),
            part.join("checkpoint.old"),
            part.join("scratch").join("inner.log"),
            topic.join("README"),
            topic.join("backup").join("00000000000000000000.log"),
            topic.join("7").join("stray"),
            root.join("notes.txt"),
            root.join("not-a-topic").join("data"),
            root.join("other").join("00000000000000000000.index"),
        ];
        for (i, f) in unknown_files.iter().enumerate() {
            fs::create_dir_all(f.parent().unwrap()).unwrap();
            fs::write(f, format!("unknown file {i}")).unwrap();
        }
        fs::create_dir(part.join("empty-dir")).unwrap();
        let leftovers = [
            part.join("00000000000000099999.index"),
            part.join("00000000000000099999.timeindex"),
            part.join("00000000000000088888.index"),
            part.join("00000000000000077777.timeindex"),
            part.join("checkpoint.tmp"),
        ];
        for f in &leftovers {
            fs::write(f, b"leftover").unwrap();
        }
        let ctx = format!("{shutdown:?}, unknown files present");
        for round in 0..2 {
            let store = Store::open(root).unwrap();
            assert_eq!(store.topics().unwrap(), vec![TOPIC.to_string()], "{ctx}");
            let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
            let n = fx.total + round;
            assert_holds(&p, n, &ctx);
            assert_appends_at(&p, n, &ctx);
            store.close().unwrap();
            for (i, f) in unknown_files.iter().enumerate() {
                assert_eq!(
                    fs::read_to_string(f).unwrap(),
                    format!("unknown file {i}"),
                    "{ctx}: {} left alone",
                    f.display()
                );
            }
            assert!(part.join("empty-dir").is_dir(), "{ctx}");
            for f in &leftovers {
                assert!(!f.exists(), "{ctx}: {} removed", f.display());
            }
        }
    }
}

/// Directories are never segment files, whatever their names.
#[test]
fn directories_named_like_segment_files_are_left_alone() {
    let mut failures = Vec::new();
    for name in [
        "00000000000000000500.index",
        "00000000000000000500.timeindex",
        "00000000000000099999.log",
    ] {
        let fx = Fixture::build(Shutdown::Clean);
        let odd = part_dir(fx.dir.path()).join(name);
        fs::create_dir(&odd).unwrap();
        fs::write(odd.join("inside"), b"x").unwrap();
        let store = Store::open(fx.dir.path()).unwrap();
        match store.topic(TOPIC) {
            Ok(t) => {
                let p = t.partition(0).unwrap();
                assert_holds(p, fx.total, name);
                assert!(odd.join("inside").is_file(), "{name}: left alone");
            }
            Err(e) => failures.push(format!("directory {name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------
// (h) damaged topic.meta
// ---------------------------------------------------------------------------------------

/// Whether a `Corrupt` reason is the one expected for a kind of damage.
type ReasonCheck = dyn Fn(&Corruption) -> bool;

/// The reason a damaged `topic.meta` must be reported with, by the kind of damage.
fn meta_reason_fits(what: &str, r: &Corruption) -> bool {
    use Corruption::{Checksum, Config, Length, Reserved, Truncated, UnknownFormat};
    if let Some(i) = what
        .strip_prefix("byte ")
        .and_then(|w| w.strip_suffix(" flipped"))
    {
        // Framing (FORMAT.md 7.1): magic, version, reserved, body length; the CRC covers
        // everything before it, the body included.
        return match i.parse::<usize>().unwrap() {
            0..=5 => matches!(r, UnknownFormat { .. }),
            6..=7 => matches!(r, Reserved { .. }),
            8..=11 => matches!(r, Length { .. }),
            _ => matches!(r, Checksum { .. }),
        };
    }
    match what {
        "empty" => matches!(r, Truncated { .. }),
        w if w.starts_with("cut to") => matches!(r, Truncated { .. }),
        "wrong magic" | "a checkpoint's magic" | "garbage" => matches!(r, UnknownFormat { .. }),
        "one byte too many" | "doubled" => matches!(r, Length { .. }),
        _ => matches!(r, Config { .. }),
    }
}

#[test]
fn damaged_topic_meta_is_reported_as_corrupt() {
    let fx = Fixture::build_with(Shutdown::Clean, 80);
    let meta = fx.dir.path().join(TOPIC).join("topic.meta");
    let good = fs::read(&meta).unwrap();
    let mut rng = Rng(0x3E7A);
    let mut variants: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("wrong magic".into(), [&b"XXXX"[..], &good[4..]].concat()),
        (
            "a checkpoint's magic".into(),
            [&b"PLCP"[..], &good[4..]].concat(),
        ),
        ("one byte too many".into(), [&good[..], &[0]].concat()),
        ("doubled".into(), [&good[..], &good[..]].concat()),
        ("garbage".into(), rng.bytes(good.len())),
    ];
    for i in 0..good.len() {
        let mut b = good.clone();
        b[i] ^= rng.nonzero_byte();
        variants.push((format!("byte {i} flipped"), b));
        variants.push((format!("cut to {i} bytes"), good[..i].to_vec()));
    }
    // Well-framed (right magic, version and CRC) but describing an invalid configuration.
    for (what, cfg) in [
        ("no partitions", config().partitions(0)),
        ("segment_bytes 0", config().segment_bytes(0)),
        ("index_bytes 1", config().index_bytes(1)),
        ("segment_ms 0", config().segment_ms(0)),
    ] {
        variants.push((what.into(), pagelog::codec::meta::encode_topic(&cfg)));
    }
    for (what, bytes) in variants {
        fs::write(&meta, &bytes).unwrap();
        let store = Store::open(fx.dir.path()).unwrap();
        match store.topic(TOPIC) {
            Err(Error::Corrupt { path, reason, .. }) => {
                assert_eq!(path, meta, "topic.meta {what}");
                assert!(
                    meta_reason_fits(&what, &reason),
                    "topic.meta {what}: reason {reason:?}"
                );
            }
            other => panic!("topic.meta {what}: expected Error::Corrupt, got {other:?}"),
        }
        let _ = store.topics().unwrap();
        store.close().unwrap();
    }
    // Well-formed and valid, but claiming partitions that have no directory.
    fs::write(
        &meta,
        pagelog::codec::meta::encode_topic(&config().partitions(3)),
    )
    .unwrap();
    let store = Store::open(fx.dir.path()).unwrap();
    match store.topic(TOPIC) {
        Err(Error::Corrupt { path, reason, .. }) => {
            assert!(path.starts_with(fx.dir.path().join(TOPIC)));
            assert_eq!(
                reason,
                Corruption::Missing {
                    what: "partition directory"
                }
            );
        }
        other => panic!("topic.meta claiming 3 partitions: expected Error::Corrupt, got {other:?}"),
    }
    store.close().unwrap();
    fs::write(&meta, &good).unwrap();
    let (store, p) = open(fx.dir.path());
    assert_holds(&p, fx.total, "restored topic.meta");
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// (i) damage inside a sealed segment
// ---------------------------------------------------------------------------------------

#[test]
fn damaged_batch_in_a_sealed_segment_is_reported_not_hidden() {
    let fx = Fixture::build(Shutdown::Clean);
    let first_log = logs(fx.dir.path())[0].clone();
    let name = first_log.file_name().unwrap().to_owned();
    let batches = batches_of(&first_log);
    let seg_end = batches.last().unwrap().base + batches.last().unwrap().count;
    let m = batches[batches.len() / 2];
    // (byte inside the batch, is it covered by the CRC only: then the error is exactly a
    // ChecksumMismatch at the batch's position)
    // The reason a `Corrupt` must carry, for the damage that is not a CRC mismatch.
    let truncated = |r: &Corruption| matches!(r, Corruption::Truncated { .. });
    let out_of_order = |r: &Corruption| matches!(r, Corruption::OffsetOrder { .. });
    let unknown = |r: &Corruption| matches!(r, Corruption::UnknownFormat { .. });
    let never = |_: &Corruption| false;
    let targets: [(&str, usize, bool, &ReasonCheck); 8] = [
        ("payload", HEADER + (m.len - HEADER) / 2, true, &never),
        ("last byte", m.len - 1, true, &never),
        ("CRC", 1, true, &never),
        ("max timestamp", 41, true, &never),
        // One byte more or less: still inside the log, so the CRC covers another range.
        ("length", 4, false, &never),
        ("length high byte", 7, false, &truncated),
        ("base offset", 16, false, &out_of_order),
        ("magic", 8, false, &unknown),
    ];
    for (what, at, crc_only, reason_is) in targets {
        let ctx = format!("{what} (byte {at}) of the batch at {} flipped", m.pos);
        let copy = fx.copy();
        let log = part_dir(copy.path()).join(&name);
        xor_byte(&log, m.pos + at, 0x01);
        let (store, p) = open(copy.path());
        assert_eq!(
            p.next_offset(),
            fx.total,
            "{ctx}: nothing cut from synced data"
        );
        for o in m.base..m.base + m.count {
            match p.read(o) {
                Err(Error::ChecksumMismatch { path, position, .. }) => {
                    assert_eq!(path, log, "{ctx}");
                    assert_eq!(position, m.pos as u64, "{ctx}");
                }
                Err(Error::Corrupt { path, reason, .. }) if !crc_only => {
                    assert_eq!(path, log, "{ctx}");
                    assert!(reason_is(&reason), "{ctx}: reason {reason:?}");
                }
                other => panic!("{ctx}: read({o}) gave {other:?}"),
            }
        }
        for o in 0..m.base {
            assert_eq!(p.read(o).unwrap().unwrap().value(), value(o), "{ctx}");
        }
        if crc_only {
            // The header is intact, so the batches after it in the segment are reachable.
            for o in m.base + m.count..seg_end {
                assert_eq!(p.read(o).unwrap().unwrap().value(), value(o), "{ctx}");
            }
        }
        for o in seg_end..fx.total {
            assert_eq!(p.read(o).unwrap().unwrap().value(), value(o), "{ctx}");
            assert_eq!(p.offset_for_timestamp(ts(o)).unwrap(), Some(o), "{ctx}");
        }
        let after: Vec<u64> = p
            .iter_from(seg_end)
            .unwrap()
            .map(|r| r.unwrap().offset())
            .collect();
        assert_eq!(after, (seg_end..fx.total).collect::<Vec<_>>(), "{ctx}");
        // Iterating from the start stops with an error naming the file, not with garbage.
        let mut it = p.iter_from(0).unwrap();
        for o in 0..m.base {
            assert_eq!(it.next().unwrap().unwrap().offset(), o, "{ctx}");
        }
        match it.next() {
            Some(Err(Error::ChecksumMismatch { path, .. } | Error::Corrupt { path, .. })) => {
                assert_eq!(path, log, "{ctx}");
            }
            other => panic!("{ctx}: iterating into the damage gave {other:?}"),
        }
        let report = p.verify();
        assert!(
            report
                .problems
                .iter()
                .any(|pr| pr.path == log && pr.position == m.pos as u64),
            "{ctx}: verify lists the damaged batch: {:?}",
            report.problems
        );
        // Appends are unaffected, and the damage survives a clean reopen without panics.
        assert_appends_at(&p, fx.total, &ctx);
        store.close().unwrap();
        let (store, p) = open(copy.path());
        assert_eq!(p.next_offset(), fx.total + 1, "{ctx}");
        assert!(p.read(m.base).is_err(), "{ctx}");
        store.close().unwrap();
    }
}

#[test]
fn damage_found_by_an_unclean_open_cuts_there_and_drops_later_segments() {
    // Without a checkpoint every segment is recovered; as in Kafka, a segment cut short
    // makes everything after it unreachable, so the later segments are deleted.
    let fx = Fixture::build(Shutdown::Clean);
    let root = fx.dir.path();
    let all = logs(root);
    let batches = batches_of(&all[0]);
    let m = batches[batches.len() / 2];
    xor_byte(&all[0], m.pos + HEADER + 3, 0x10);
    fs::remove_file(part_dir(root).join("checkpoint")).unwrap();
    let (store, p) = open(root);
    assert_holds(&p, m.base, "unclean open with damage in the first segment");
    assert_eq!(
        logs(root),
        vec![all[0].clone()],
        "later segments are dropped"
    );
    for later in &all[1..] {
        assert!(!with_ext(later, "index").exists());
        assert!(!with_ext(later, "timeindex").exists());
    }
    assert_appends_at(&p, m.base, "after the cut");
    assert_verify_clean(&p, "after the cut");
    store.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// Property: Segment::recover on arbitrary bytes
// ---------------------------------------------------------------------------------------

/// Encodes batches of the given values, the first at `base`; returns the bytes and the
/// batch boundaries (end positions).
fn encode_batches(base: u64, batches: &[Vec<Vec<u8>>]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    let mut ends = Vec::new();
    let mut offset = base;
    for (k, values) in batches.iter().enumerate() {
        let records: Vec<NewRecord<'_>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| NewRecord::new(v).timestamp(T0 + (k * 10 + i) as i64))
            .collect();
        let plan = batch::measure(&records, T0).unwrap();
        let start = out.len();
        out.resize(start + plan.len, 0);
        batch::encode(&mut out[start..], offset, &records, &plan, T0);
        offset += records.len() as u64;
        ends.push(out.len());
    }
    (out, ends)
}

#[derive(Debug, Clone)]
enum Mutation {
    /// The file is just these bytes.
    Arbitrary(Vec<u8>),
    /// The valid batches, then these bytes.
    Append(Vec<u8>),
    /// One byte (index taken modulo the length) `XORed` with a nonzero mask.
    Flip(usize, u8),
    /// Cut at this position (modulo length + 1).
    Cut(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600).prop_map(Mutation::Arbitrary),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Mutation::Append),
        (any::<usize>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        any::<usize>().prop_map(Mutation::Cut),
    ]
}

fn proptest_config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        // Keep failures in the report only: this crate keeps no regression files.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn recover_keeps_exactly_the_longest_valid_prefix(
        base in prop_oneof![Just(0u64), Just(1000u64), Just(u64::from(u32::MAX) * 3)],
        batches in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..4),
            0..6,
        ),
        m in mutation(),
    ) {
        let (valid, ends) = encode_batches(base, &batches);
        // The longest valid prefix, known from how the bytes were made (None: unknown,
        // only the invariants are checked).
        let (bytes, expected_end) = match &m {
            Mutation::Arbitrary(b) => (b.clone(), None),
            Mutation::Append(tail) => ([&valid[..], tail].concat(), Some(valid.len())),
            Mutation::Flip(i, mask) => {
                let mut b = valid.clone();
                if b.is_empty() {
                    (b, Some(0))
                } else {
                    let at = i % b.len();
                    b[at] ^= mask;
                    let kept = ends.iter().copied().take_while(|&e| e <= at).last().unwrap_or(0);
                    (b, Some(kept))
                }
            }
            Mutation::Cut(i) => {
                let at = i % (valid.len() + 1);
                let kept = ends.iter().copied().take_while(|&e| e <= at).last().unwrap_or(0);
                (valid[..at].to_vec(), Some(kept))
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let cfg = TopicConfig::default().segment_bytes(1 << 16).index_interval_bytes(64);
        let log = dir.path().join(format!("{base:020}.log"));
        fs::write(&log, &bytes).unwrap();
        let (mut seg, report) = Segment::recover(dir.path(), base, &cfg).unwrap();
        let kept = report.valid_bytes as usize;
        prop_assert_eq!(report.valid_bytes + report.truncated_bytes, bytes.len() as u64);
        if let Some(e) = expected_end {
            prop_assert_eq!(kept, e);
        }
        prop_assert_eq!(seg.size(), kept as u64);
        // What was kept is a run of whole, valid batches from the start of the input.
        let mut pos = 0;
        let mut next = base;
        while pos < kept {
            let h = batch::BatchHeader::parse(&bytes[pos..kept]).unwrap();
            prop_assert!(pos + h.length as usize <= kept);
            prop_assert!(batch::check_crc(&bytes[pos..pos + h.length as usize]).is_ok());
            prop_assert_eq!(h.base_offset, next);
            next = h.next_offset();
            pos += h.length as usize;
        }
        prop_assert_eq!(pos, kept);
        prop_assert_eq!(seg.next_offset(), next);
        let on_disk = fs::read(&log).unwrap();
        prop_assert!(on_disk.len() >= kept);
        prop_assert_eq!(&on_disk[..kept], &bytes[..kept]);
        prop_assert!(seg.verify().is_ok(), "{:?}", seg.verify().problems);
        for o in base..next {
            let r = seg.read(o).unwrap().unwrap();
            prop_assert_eq!(r.offset(), o);
        }
        prop_assert!(seg.read(next).unwrap().is_none());
        // The recovered segment takes appends right after the prefix.
        let appended = seg.append(&[NewRecord::new(b"after recovery")]).unwrap();
        prop_assert_eq!(appended, next..next + 1);
        let back = seg.read(next).unwrap().unwrap();
        prop_assert_eq!(back.value(), b"after recovery");
        seg.seal().unwrap();
        prop_assert!(seg.verify().is_ok());
    }
}
