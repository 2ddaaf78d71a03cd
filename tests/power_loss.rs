//! Power loss at every sync point: what survives when the machine (not just the process)
//! goes down, simulated on copies of the store's files.
//!
//! # What the test does
//!
//! A seeded workload runs single-threaded on a real store in a temporary directory: two
//! topics (`manual`, flushed by hand, and `sync`, under [`FlushPolicy::EveryAppend`]), several
//! partitions, segments of a few KiB with tight index intervals and small index capacities so
//! that segments roll (by size, by a full index and by age) and index entries are written all
//! the time. It mixes `Partition::append`, `Partition::append_batch`, keyed
//! `Topic::append_record` (the key picks the partition), tombstones, headers, and explicit
//! `Partition::flush`, `Topic::flush` and `Store::flush` calls. Every value is self-checking:
//! it embeds a unique, offset-independent record id, its own length and an FNV-1a checksum,
//! and the test keeps every record it wrote (key, value, headers, timestamp) by partition and
//! offset.
//!
//! A **sync point** is the moment right after a `flush()` returns, or right after an append
//! under `EveryAppend` returns. At each one the test copies every file of each partition that
//! was just synced (its *synced image*) and records how many of its offsets are acknowledged as
//! durable (it also checks that `durable_offset()` then equals `next_offset()`). Sync point 0 is
//! the state right after the topics were created, with nothing acknowledged. At the end the
//! store is dropped as in a process crash (`Store::crash`) and every file is copied once more:
//! the *final image*, which holds everything the workload wrote.
//!
//! Then, for every sync point `k` and a few seeded variants, the test builds a **power-loss
//! image** and opens it. Each partition starts from its latest synced image at or before `k`;
//! each file then takes a torn version of what came after, between that image and the final
//! one:
//!
//! * bytes both versions share from the start of the file (the prefix that was synced) are
//!   kept;
//! * the length is anywhere between the two versions' lengths (a log grows by preallocation
//!   and shrinks when a seal trims it, never below what was synced);
//! * the rest is either the final content up to a random point and the snapshot's after it
//!   (in-order write-back), or page by page (4 KiB, aligned to the file) the snapshot's, the
//!   final's, zeros or garbage; possibly with an extra torn run of 512-byte sectors of zeros or
//!   garbage;
//! * segments created after the snapshot are present as a prefix in base order (each roll
//!   fsyncs the directory before the next can start); the last of them may lack its index files,
//!   and the first missing one may have left orphan index files; a present new file may be
//!   empty or partial;
//! * the partition's `checkpoint` is either the snapshot's or the final version, whole (it is
//!   replaced by an atomic rename). If the final one is chosen, every segment wholly below its
//!   recovery point is taken in its final form, because the library syncs those segments
//!   before it writes such a checkpoint. A clean checkpoint of the snapshot is only combined
//!   with files exactly as in the snapshot, because the first append rewrites it as unclean
//!   (and syncs that) before it changes any file;
//! * index files of segments that recovery will not trust (not wholly below the chosen
//!   recovery point) may additionally be missing, zero-filled, cut or garbage: the active
//!   segment's indexes are never synced, and recovery rebuilds all of them;
//! * `topic.meta` is written once, at creation, and is taken as is; so is the empty lock file.
//!
//! On each image the test runs `Store::open` and checks, for every partition: it opens without
//! error or panic; `start_offset()` is 0; every record acknowledged as durable at `k` is there
//! at its offset, exactly as written (key, value, headers, timestamp); offsets are contiguous
//! from 0 to `next_offset()`; every record present, acknowledged or not, passes its payload
//! checksum *and* is byte for byte the record the workload wrote at that offset (so nothing
//! corrupt, stale or invented is returned, and each record id appears once); `read(offset)`
//! agrees with iteration and returns `None` at the end; `offset_for_timestamp` finds records by
//! their timestamps; `durable_offset()` equals `next_offset()` after recovery; `verify()`
//! reports no problem; and an append, a read-back and a flush work. Then the store is closed
//! and reopened (the clean path) and checked again. One extra image is the final image as is:
//! a process crash at the end, which must keep every record that was appended, acknowledged
//! or not.
//!
//! # What the simulation assumes
//!
//! * `fdatasync` (`File::sync_data`) of a file makes its contents and size as of the call
//!   durable; pages written later may reach the disk in any order, torn at 512-byte sectors,
//!   or not at all.
//! * A rename followed by an fsync of the directory is atomic and durable: a replaced file
//!   (`checkpoint`) is on disk either in its old or its new version, never mixed.
//! * A directory fsync makes the creation of every entry made before it durable, so segment
//!   files created by one roll survive if a later roll's files do.
//! * The library's own ordering promises hold: a `checkpoint` whose recovery point passes a
//!   segment is written only after that segment was synced, and the first append after open
//!   durably marks the checkpoint unclean before it changes any file. The test builds images
//!   consistent with these promises; it does not check that the library keeps them (the
//!   crash tests and the design's crash analysis cover the ordering).
//!
//! # What it cannot model
//!
//! * Only two versions of the checkpoint are tried (the snapshot's and the final one); the
//!   versions written in between are not.
//! * The synced image is a copy of the page cache right after the sync returned, not what the
//!   disk really holds: a sync the library skipped or mis-ordered (for example of the active
//!   segment's index files, which are never synced) is not detected directly; the extra index
//!   damage stands in for it.
//! * Power loss *during* a sync, and data that the background flusher made durable between
//!   sync points, are only covered to the extent that such a state looks like a torn image
//!   between two sync points (only records acknowledged at `k` are required).
//! * Garbage is random bytes; a disk that returns stale or misdirected blocks that happen to
//!   form valid batches is not modelled, nor is damage to data that was synced (bit rot).
//! * Directory metadata beyond file presence (a file renamed back, lost `unlink`s) and
//!   operations the workload does not use (retention, truncation, compaction, consumer groups,
//!   topic creation and deletion at run time) are not covered here.
//! * Only one thread appends, so every byte of a partition is synced at its sync points.
//!
//! # Knobs
//!
//! `PAGELOG_SOAK=1` runs many more workloads (different seeds) with more variants per sync
//! point; `PAGELOG_SOAK=<n>` runs `n` workloads per test. `PAGELOG_POWER_SEED=<u64>` replaces
//! the base seed. A failing image is kept on disk and its path is printed, with the seed, the
//! sync point and the variant that reproduce it.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    reason = "test data: offsets, sizes and counts are small"
)]

mod common;

use common::rng::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use pagelog::codec::meta::decode_checkpoint;
use pagelog::{FlushPolicy, Header, NewRecord, Store, TopicConfig};

/// The generator for `seed` (mixed first, as this file's sequences always were).
fn seeded(seed: u64) -> Rng {
    Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
}

const MANUAL: &str = "manual";
const SYNCED: &str = "sync";
const TOPICS: [&str; 2] = [MANUAL, SYNCED];
const CHECKPOINT: &str = "checkpoint";
const PAGE: usize = 4096;
const SECTOR: usize = 512;
const BASE_TS: i64 = 1_700_000_000_000;
const VALUE_MAGIC: &[u8; 4] = b"PLW1";
/// Failures collected before the test gives up.
const MAX_FAILURES: usize = 5;

// ---------------------------------------------------------------------------------------------
// Seeded PRNG (SplitMix64): no dependency, the same sequence everywhere.

// ---------------------------------------------------------------------------------------------
// Self-checking values.

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `magic | id:u64 | body_len:u32 | body | fnv1a(everything before):u64`.
fn make_value(id: u64, body_len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::with_capacity(24 + body_len);
    v.extend_from_slice(VALUE_MAGIC);
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&(body_len as u32).to_le_bytes());
    v.extend(rng.bytes(body_len));
    let sum = fnv1a(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// The record id a value carries, if the value passes its self-check.
fn check_value(v: &[u8]) -> Result<u64, String> {
    if v.len() < 24 || &v[..4] != VALUE_MAGIC {
        return Err(format!("value of {} bytes without the magic", v.len()));
    }
    let id = u64::from_le_bytes(v[4..12].try_into().unwrap());
    let body_len = u32::from_le_bytes(v[12..16].try_into().unwrap()) as usize;
    if v.len() != 24 + body_len {
        return Err(format!("value of record id {id} has the wrong length"));
    }
    let sum = u64::from_le_bytes(v[v.len() - 8..].try_into().unwrap());
    if fnv1a(&v[..v.len() - 8]) != sum {
        return Err(format!("value of record id {id} fails its checksum"));
    }
    Ok(id)
}

// ---------------------------------------------------------------------------------------------
// What was written.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Written {
    id: u64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp: i64,
}

impl Written {
    fn as_new(&self) -> (Option<&[u8]>, Option<&[u8]>, Vec<Header<'_>>) {
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| Header { key: k, value: v })
            .collect();
        (self.key.as_deref(), self.value.as_deref(), headers)
    }
}

/// The files of one directory (no subdirectories), by name.
type Files = BTreeMap<String, Vec<u8>>;

#[derive(Debug)]
struct SyncedImage {
    /// Global sync point number.
    point: usize,
    /// Offsets below this are acknowledged as durable.
    acked: u64,
    files: Files,
}

#[derive(Debug)]
struct PartitionRun {
    topic: &'static str,
    id: u32,
    written: Vec<Written>,
    /// In sync point order; the first is sync point 0.
    synced: Vec<SyncedImage>,
    fin: Files,
}

impl PartitionRun {
    fn latest(&self, point: usize) -> &SyncedImage {
        self.synced
            .iter()
            .rev()
            .find(|s| s.point <= point)
            .expect("sync point 0 exists")
    }
}

#[derive(Debug)]
struct Run {
    seed: u64,
    partitions: Vec<PartitionRun>,
    /// Root-level and topic-level files: `(path relative to the root, bytes)`.
    fixed: Vec<(PathBuf, Vec<u8>)>,
    sync_points: usize,
}

/// Workload shape, so that the two tests exercise different configurations.
#[derive(Debug, Clone, Copy)]
struct Shape {
    manual_partitions: u32,
    synced_partitions: u32,
    manual_segment: u64,
    manual_interval: u32,
    manual_index_bytes: u32,
    synced_segment: u64,
    synced_interval: u32,
    ops: usize,
    max_body: usize,
}

const SHAPE_A: Shape = Shape {
    manual_partitions: 3,
    synced_partitions: 2,
    manual_segment: 4096,
    manual_interval: 128,
    manual_index_bytes: 64,
    synced_segment: 8192,
    synced_interval: 0,
    ops: 220,
    max_body: 700,
};

const SHAPE_B: Shape = Shape {
    manual_partitions: 2,
    synced_partitions: 1,
    manual_segment: 6000,
    manual_interval: 0,
    manual_index_bytes: 10 * 1024 * 1024,
    synced_segment: 4096,
    synced_interval: 300,
    ops: 220,
    max_body: 1500,
};

fn copy_dir(dir: &Path) -> Files {
    let mut out = Files::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if !e.file_type().unwrap().is_file() {
            continue;
        }
        let name = e.file_name().into_string().unwrap();
        // A `checkpoint.tmp` may be renamed away between the listing and the read.
        match fs::read(e.path()) {
            Ok(b) => {
                out.insert(name, b);
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => panic!("reading {}: {err}", e.path().display()),
        }
    }
    out
}

fn part_dir(root: &Path, topic: &str, id: u32) -> PathBuf {
    root.join(topic).join(id.to_string())
}

/// Runs the workload and records the synced images and the final image.
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, its steps and checks in order"
)]
fn run_workload(seed: u64, shape: Shape) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let mut rng = seeded(seed);
    let store = Store::open(&root).unwrap();
    let manual = store
        .create_topic(
            MANUAL,
            TopicConfig::default()
                .partitions(shape.manual_partitions)
                .segment_bytes(shape.manual_segment)
                .index_interval_bytes(shape.manual_interval)
                .index_bytes(shape.manual_index_bytes)
                .segment_ms(3_600_000)
                .flush(FlushPolicy::Never),
        )
        .unwrap();
    let synced = store
        .create_topic(
            SYNCED,
            TopicConfig::default()
                .partitions(shape.synced_partitions)
                .segment_bytes(shape.synced_segment)
                .index_interval_bytes(shape.synced_interval)
                .flush(FlushPolicy::EveryAppend),
        )
        .unwrap();
    let topics = [&manual, &synced];

    let mut parts: Vec<PartitionRun> = Vec::new();
    for (t, name) in topics.iter().zip(TOPICS) {
        for p in t.partitions() {
            parts.push(PartitionRun {
                topic: name,
                id: p.id(),
                written: Vec::new(),
                synced: vec![SyncedImage {
                    point: 0,
                    acked: 0,
                    files: copy_dir(&part_dir(&root, name, p.id())),
                }],
                fin: Files::new(),
            });
        }
    }
    let index_of = |topic: &str, id: u32| {
        let base = if topic == MANUAL {
            0
        } else {
            shape.manual_partitions as usize
        };
        base + id as usize
    };

    let mut point = 0usize;
    let mut next_id = 0u64;
    let mut ts = BASE_TS;
    // Records a sync point for the given partitions (by index into `parts`).
    let sync_point = |parts: &mut Vec<PartitionRun>, which: &[usize], point: &mut usize| {
        *point += 1;
        for &i in which {
            let pr = &mut parts[i];
            let topic = if pr.topic == MANUAL { &manual } else { &synced };
            let p = topic.partition(pr.id).unwrap();
            let next = p.next_offset();
            assert_eq!(next, pr.written.len() as u64);
            assert_eq!(
                p.durable_offset(),
                next,
                "{}/{}: a sync point leaves everything durable",
                pr.topic,
                pr.id
            );
            let files = copy_dir(p.dir());
            pr.synced.push(SyncedImage {
                point: *point,
                acked: next,
                files,
            });
        }
    };

    for _ in 0..shape.ops {
        // Timestamps grow strictly; now and then they jump by two hours (an age roll).
        ts += if rng.chance(0.03) { 7_200_000 } else { 7 };
        let op = rng.below(100);
        let topic_is_manual = !(70..85).contains(&op);
        let (topic, name) = if topic_is_manual {
            (&manual, MANUAL)
        } else {
            (&synced, SYNCED)
        };
        match op {
            // A batch (or a single record) to a chosen partition; or a keyed record.
            0..85 => {
                let n = if rng.chance(0.4) { 1 } else { rng.range(2, 5) };
                let keyed = rng.chance(0.35);
                let part = if keyed {
                    None
                } else {
                    Some(rng.below(topic.partition_count() as usize) as u32)
                };
                let n = if keyed { 1 } else { n };
                let budget = (topic.config().get_segment_bytes() as usize).min(3500) / n;
                let mut recs = Vec::new();
                for _ in 0..n {
                    let id = next_id;
                    next_id += 1;
                    let body = rng.range(0, shape.max_body.min(budget.saturating_sub(80)));
                    let key = (keyed || rng.chance(0.3))
                        .then(|| format!("key-{}", rng.below(13)).into_bytes());
                    let tombstone = key.is_some() && rng.chance(0.05);
                    let value = (!tombstone).then(|| make_value(id, body, &mut rng));
                    let headers = if rng.chance(0.2) {
                        vec![("id".to_owned(), id.to_le_bytes().to_vec())]
                    } else {
                        Vec::new()
                    };
                    recs.push(Written {
                        id,
                        key,
                        value,
                        headers,
                        timestamp: ts,
                    });
                    ts += 1;
                }
                let views: Vec<_> = recs.iter().map(Written::as_new).collect();
                let new: Vec<NewRecord<'_>> = views
                    .iter()
                    .zip(&recs)
                    .map(|((k, v, h), w)| NewRecord {
                        key: *k,
                        value: *v,
                        timestamp: Some(w.timestamp),
                        headers: h,
                    })
                    .collect();
                let (pid, range) = match part {
                    None => {
                        let (pid, o) = topic.append_record(new[0]).unwrap();
                        (pid, o..o + 1)
                    }
                    Some(pid) if n == 1 && rng.chance(0.5) => {
                        let o = topic.partition(pid).unwrap().append(new[0]).unwrap();
                        (pid, o..o + 1)
                    }
                    Some(pid) => (pid, topic.append_batch_to(pid, &new).unwrap()),
                };
                let i = index_of(name, pid);
                let pr = &mut parts[i];
                assert_eq!(
                    range.start,
                    pr.written.len() as u64,
                    "offsets are contiguous"
                );
                assert_eq!(range.end - range.start, recs.len() as u64);
                drop(views);
                pr.written.extend(recs);
                if !topic_is_manual {
                    // EveryAppend: the append returned once the batch was durable.
                    sync_point(&mut parts, &[i], &mut point);
                }
            }
            // Explicit flushes of the manual topic.
            85..96 => {
                let pid = rng.below(shape.manual_partitions as usize) as u32;
                manual.partition(pid).unwrap().flush().unwrap();
                sync_point(&mut parts, &[index_of(MANUAL, pid)], &mut point);
            }
            96..99 => {
                manual.flush().unwrap();
                let all: Vec<usize> = (0..shape.manual_partitions as usize).collect();
                sync_point(&mut parts, &all, &mut point);
            }
            _ => {
                store.flush().unwrap();
                let all: Vec<usize> = (0..parts.len()).collect();
                sync_point(&mut parts, &all, &mut point);
            }
        }
    }

    // The final image: everything the workload wrote, as a process crash leaves it.
    store.crash();
    for pr in &mut parts {
        pr.fin = copy_dir(&part_dir(&root, pr.topic, pr.id));
    }
    let mut fixed = vec![(PathBuf::from(pagelog::LOCK_FILE), Vec::new())];
    for name in TOPICS {
        let rel = Path::new(name).join("topic.meta");
        fixed.push((rel.clone(), fs::read(root.join(&rel)).unwrap()));
    }
    Run {
        seed,
        partitions: parts,
        fixed,
        sync_points: point,
    }
}

// ---------------------------------------------------------------------------------------------
// Building power-loss images.

/// `(base, extension)` of a segment file name: 20 digits, a dot, `log`/`index`/`timeindex`.
fn segment_file(name: &str) -> Option<(u64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !matches!(ext, "log" | "index" | "timeindex") {
        return None;
    }
    stem.parse().ok().map(|b| (b, ext))
}

fn bases(files: &Files) -> BTreeSet<u64> {
    files
        .keys()
        .filter_map(|n| segment_file(n))
        .filter(|(_, ext)| *ext == "log")
        .map(|(b, _)| b)
        .collect()
}

fn seg_name(base: u64, ext: &str) -> String {
    format!("{base:020}.{ext}")
}

/// A torn version of a file between its synced version `s` (`None`: created later) and its
/// final version `f`.
fn torn(s: Option<&[u8]>, f: &[u8], rng: &mut Rng) -> Vec<u8> {
    let s_bytes = s.unwrap_or(&[]);
    let protect = s_bytes.iter().zip(f).take_while(|(a, b)| a == b).count();
    let (lo, hi) = match s {
        Some(s) => (s.len().min(f.len()), s.len().max(f.len())),
        None => (0, f.len()),
    };
    let len = match rng.below(4) {
        0 => lo,
        1 => hi,
        _ => rng.range(lo, hi),
    };
    let at = |v: &[u8], p: usize| v.get(p).copied().unwrap_or(0);
    let mut out = vec![0u8; len];
    let protect = protect.min(len);
    out[..protect].copy_from_slice(&f[..protect]);
    match rng.below(4) {
        // In-order write-back: the final bytes up to a point, the old ones after.
        0 => {
            let cut = rng.range(protect, len);
            for (p, b) in out.iter_mut().enumerate().skip(protect) {
                *b = if p < cut { at(f, p) } else { at(s_bytes, p) };
            }
        }
        // Page by page, in any order.
        1 => {
            let mut p = protect;
            while p < len {
                let end = ((p / PAGE + 1) * PAGE).min(len);
                let pick = rng.below(8);
                for (q, b) in out.iter_mut().enumerate().take(end).skip(p) {
                    *b = match pick {
                        0..=2 => at(s_bytes, q),
                        3..=5 => at(f, q),
                        6 => 0,
                        _ => rng.next() as u8,
                    };
                }
                p = end;
            }
        }
        // Everything written back.
        2 => {
            for (p, b) in out.iter_mut().enumerate().skip(protect) {
                *b = at(f, p);
            }
        }
        // Nothing written back.
        _ => {
            for (p, b) in out.iter_mut().enumerate().skip(protect) {
                *b = at(s_bytes, p);
            }
        }
    }
    // A torn run of sectors somewhere after the synced prefix.
    if len > protect && rng.chance(0.3) {
        let start = rng.range(protect, len - 1);
        let end = (start / SECTOR * SECTOR + SECTOR * rng.range(1, 3)).min(len);
        let start = (start / SECTOR * SECTOR).max(protect);
        let garbage = rng.chance(0.5);
        for b in &mut out[start..end] {
            *b = if garbage { rng.next() as u8 } else { 0 };
        }
    }
    out
}

/// Extra damage for an index file recovery will rebuild; `None` removes the file.
fn damage_index(bytes: Vec<u8>, rng: &mut Rng) -> Option<Vec<u8>> {
    match rng.below(5) {
        0 => None,
        1 => Some(vec![0; bytes.len()]),
        2 => {
            let n = rng.range(0, bytes.len());
            Some(bytes[..n].to_vec())
        }
        3 => {
            let n = bytes.len();
            Some(rng.bytes(n))
        }
        _ => {
            let mut b = bytes;
            if !b.is_empty() {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            Some(b)
        }
    }
}

/// The files of one partition after a power loss at sync point `point`.
fn partition_image(pr: &PartitionRun, point: usize, rng: &mut Rng) -> Files {
    let snap = &pr.latest(point).files;
    let fin = &pr.fin;
    let s_ck = snap.get(CHECKPOINT).and_then(|b| decode_checkpoint(b).ok());
    let f_ck = fin.get(CHECKPOINT).and_then(|b| decode_checkpoint(b).ok());
    let snapshot_clean = s_ck.is_some_and(|c| c.clean);
    let use_final = if snapshot_clean {
        // A clean checkpoint goes with files exactly as the clean close left them.
        if rng.chance(0.25) {
            let mut files = snap.clone();
            files.remove("checkpoint.tmp");
            return files;
        }
        true
    } else {
        rng.chance(0.5)
    };
    let (ck_bytes, rp) = if use_final {
        (fin.get(CHECKPOINT), f_ck.map_or(0, |c| c.recovery_point))
    } else {
        (snap.get(CHECKPOINT), s_ck.map_or(0, |c| c.recovery_point))
    };

    let s_bases = bases(snap);
    let f_bases = bases(fin);
    assert!(
        s_bases.is_subset(&f_bases),
        "the workload deletes no segment"
    );
    let f_list: Vec<u64> = f_bases.iter().copied().collect();
    let next_base = |b: u64| f_list.iter().copied().find(|&n| n > b);
    // Wholly below the chosen recovery point: synced before that checkpoint was written.
    let trusted = |b: u64| next_base(b).is_some_and(|n| n <= rp);
    let new: Vec<u64> = f_bases.difference(&s_bases).copied().collect();
    let min_present = new.iter().filter(|&&b| use_final && trusted(b)).count();
    let present = match rng.below(3) {
        0 => new.len(),
        1 => min_present,
        _ => rng.range(min_present, new.len()),
    };
    let last_new = (present > 0).then(|| new[present - 1]);

    let mut out = Files::new();
    for &b in s_bases.iter().chain(&new[..present]) {
        for ext in ["log", "index", "timeindex"] {
            let name = seg_name(b, ext);
            let (s, f) = (snap.get(&name), fin.get(&name));
            let bytes = if use_final && trusted(b) {
                f.cloned()
            } else if ext != "log" && Some(b) == last_new && rng.chance(0.3) {
                None // created, but the directory entry did not make it
            } else {
                match (s, f) {
                    (_, Some(f)) => Some(torn(s.map(Vec::as_slice), f, rng)),
                    (Some(s), None) => Some(s.clone()),
                    (None, None) => None,
                }
            };
            let bytes = match bytes {
                Some(x) if ext != "log" && !trusted(b) && rng.chance(0.1) => damage_index(x, rng),
                other => other,
            };
            if let Some(bytes) = bytes {
                out.insert(name, bytes);
            }
        }
    }
    // The first segment whose `.log` did not make it may still have index files (a roll's
    // files are created one by one): orphans, which the open removes.
    if let Some(&b) = new.get(present)
        && rng.chance(0.3)
    {
        for ext in ["index", "timeindex"] {
            let name = seg_name(b, ext);
            if let Some(f) = fin.get(&name)
                && rng.chance(0.7)
            {
                out.insert(name, torn(None, f, rng));
            }
        }
    }
    if let Some(ck) = ck_bytes {
        out.insert(CHECKPOINT.to_owned(), ck.clone());
    }
    // Anything else (a `checkpoint.tmp` left mid-write): the newest version, or none.
    for (name, bytes) in fin.iter().chain(snap.iter()) {
        if name != CHECKPOINT && segment_file(name).is_none() && rng.chance(0.5) {
            out.entry(name.clone()).or_insert_with(|| bytes.clone());
        }
    }
    out
}

fn write_image(root: &Path, run: &Run, images: &[(usize, Files)]) {
    for (rel, bytes) in &run.fixed {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    for (i, files) in images {
        let pr = &run.partitions[*i];
        let dir = part_dir(root, pr.topic, pr.id);
        fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in files {
            fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checking an image.

/// Checks one opened partition; returns its next offset.
fn check_partition(p: &pagelog::Partition, pr: &PartitionRun, acked: u64) -> Result<u64, String> {
    let where_ = format!("{}/{}", pr.topic, pr.id);
    let next = p.next_offset();
    if p.start_offset() != 0 {
        return Err(format!("{where_}: start offset {}", p.start_offset()));
    }
    if next < acked {
        return Err(format!(
            "{where_}: lost acknowledged records: next offset {next}, {acked} were durable"
        ));
    }
    if next > pr.written.len() as u64 {
        return Err(format!(
            "{where_}: next offset {next} but only {} records were written",
            pr.written.len()
        ));
    }
    if p.durable_offset() != next {
        return Err(format!(
            "{where_}: durable offset {} after recovery, next offset {next}",
            p.durable_offset()
        ));
    }
    let mut expected = 0u64;
    let mut ids = BTreeSet::new();
    for r in p {
        let r = r.map_err(|e| format!("{where_}: iterating at offset {expected}: {e}"))?;
        if r.offset() != expected {
            return Err(format!(
                "{where_}: offset {} where {expected} was expected",
                r.offset()
            ));
        }
        let w = &pr.written[expected as usize];
        if let Some(v) = r.value_opt() {
            let id = check_value(v).map_err(|e| format!("{where_} offset {expected}: {e}"))?;
            if !ids.insert(id) {
                return Err(format!("{where_}: record id {id} appears twice"));
            }
        }
        let headers: Vec<(String, Vec<u8>)> = r
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_vec()))
            .collect();
        if headers.len() != r.header_count() as usize {
            return Err(format!("{where_} offset {expected}: malformed headers"));
        }
        let got = Written {
            id: w.id,
            key: r.key().map(<[u8]>::to_vec),
            value: r.value_opt().map(<[u8]>::to_vec),
            headers,
            timestamp: r.timestamp(),
        };
        if &got != w {
            return Err(format!(
                "{where_} offset {expected}: record differs from the one written (id {})",
                w.id
            ));
        }
        expected += 1;
    }
    if expected != next {
        return Err(format!(
            "{where_}: iteration ended at {expected}, next offset {next}"
        ));
    }
    for o in 0..next {
        let r = p
            .read(o)
            .map_err(|e| format!("{where_}: read({o}): {e}"))?
            .ok_or_else(|| format!("{where_}: read({o}) found nothing"))?;
        if r.offset() != o || r.value_opt() != pr.written[o as usize].value.as_deref() {
            return Err(format!("{where_}: read({o}) returned the wrong record"));
        }
    }
    if !matches!(p.read(next), Ok(None)) {
        return Err(format!("{where_}: read(next offset) is not None"));
    }
    for o in (0..next).step_by(7).chain(next.checked_sub(1)) {
        let ts = pr.written[o as usize].timestamp;
        let found = p
            .offset_for_timestamp(ts)
            .map_err(|e| format!("{where_}: offset_for_timestamp({ts}): {e}"))?;
        if found != Some(o) {
            return Err(format!(
                "{where_}: offset_for_timestamp of offset {o}'s timestamp gave {found:?}"
            ));
        }
    }
    let report = p.verify();
    if !report.is_ok() {
        return Err(format!("{where_}: verify: {:?}", report.problems));
    }
    Ok(next)
}

/// Opens the image at `root` and checks it; `acked[i]` is partition `i`'s durable count.
fn check_image(root: &Path, run: &Run, acked: &[u64]) -> Result<Outcome, String> {
    let store = Store::open(root).map_err(|e| format!("Store::open: {e}"))?;
    let mut nexts = Vec::new();
    let mut outcome = Outcome::default();
    for (pr, &acked) in run.partitions.iter().zip(acked) {
        let topic = store
            .topic(pr.topic)
            .map_err(|e| format!("opening topic {}: {e}", pr.topic))?;
        let p = topic
            .partition(pr.id)
            .map_err(|e| format!("partition {}/{}: {e}", pr.topic, pr.id))?;
        let next = check_partition(p, pr, acked)?;
        outcome.kept_unacked += next - acked;
        outcome.lost_unacked += pr.written.len() as u64 - next;
        // Appends work after recovery, and are read back.
        let value = make_value(u64::MAX, 3, &mut seeded(next));
        let o = p
            .append(NewRecord::new(&value).timestamp(BASE_TS * 2))
            .map_err(|e| format!("{}/{}: append after recovery: {e}", pr.topic, pr.id))?;
        if o != next {
            return Err(format!(
                "{}/{}: append after recovery got offset {o}, expected {next}",
                pr.topic, pr.id
            ));
        }
        let back = p.read(o).map_err(|e| format!("read-back: {e}"))?;
        if back.map(|r| r.value().to_vec()) != Some(value) {
            return Err(format!("{}/{}: read-back differs", pr.topic, pr.id));
        }
        p.flush()
            .map_err(|e| format!("flush after recovery: {e}"))?;
        nexts.push(next + 1);
    }
    store.close().map_err(|e| format!("close: {e}"))?;
    // The clean path over recovered state.
    let store = Store::open(root).map_err(|e| format!("second Store::open: {e}"))?;
    for (pr, next) in run.partitions.iter().zip(nexts) {
        let topic = store.topic(pr.topic).map_err(|e| format!("reopen: {e}"))?;
        let p = topic.partition(pr.id).map_err(|e| format!("reopen: {e}"))?;
        let count = p
            .iter()
            .map(|r| r.map(|_| ()))
            .collect::<Result<Vec<_>, _>>();
        let count = count.map_err(|e| format!("{}/{}: reopened: {e}", pr.topic, pr.id))?;
        if p.next_offset() != next || count.len() as u64 != next || !p.verify().is_ok() {
            return Err(format!(
                "{}/{}: after a clean reopen: next offset {}, {} records, expected {next}",
                pr.topic,
                pr.id,
                p.next_offset(),
                count.len()
            ));
        }
    }
    store.close().map_err(|e| format!("second close: {e}"))?;
    Ok(outcome)
}

/// Records beyond the acknowledged ones: how many an image kept and how many it lost.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    kept_unacked: u64,
    lost_unacked: u64,
}

/// Builds and checks every image of one run; returns the failures, the image count and the
/// summed outcome.
fn check_run(run: &Run, variants: usize, work: &Path) -> (Vec<String>, usize, Outcome) {
    let mut failures = Vec::new();
    let mut count = 0;
    let mut total = Outcome::default();
    // Sync points, then the process-crash image (`None`).
    let points = (0..=run.sync_points).map(Some).chain([None]);
    for point in points {
        let vs = if point.is_some() { variants } else { 1 };
        for variant in 0..vs {
            let label = match point {
                Some(k) => format!("seed {:#x}, sync point {k}, variant {variant}", run.seed),
                None => format!("seed {:#x}, process crash at the end", run.seed),
            };
            let mut rng =
                seeded(run.seed ^ (point.map_or(u64::MAX, |k| k as u64) << 16) ^ variant as u64);
            let (images, acked): (Vec<(usize, Files)>, Vec<u64>) = run
                .partitions
                .iter()
                .enumerate()
                .map(|(i, pr)| match point {
                    Some(k) => ((i, partition_image(pr, k, &mut rng)), pr.latest(k).acked),
                    None => ((i, pr.fin.clone()), pr.written.len() as u64),
                })
                .unzip();
            let root = work.join(format!("image-{count}"));
            write_image(&root, run, &images);
            count += 1;
            let result = catch_unwind(AssertUnwindSafe(|| check_image(&root, run, &acked)))
                .unwrap_or_else(|panic| {
                    let msg = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    Err(format!("panicked: {msg}"))
                });
            match result {
                Ok(o) => {
                    total.kept_unacked += o.kept_unacked;
                    total.lost_unacked += o.lost_unacked;
                    fs::remove_dir_all(&root).unwrap();
                }
                Err(e) => {
                    // Keep the image for debugging: rebuild it, unmodified by the check.
                    let kept = std::env::temp_dir().join(format!(
                        "pagelog-power-loss-{:x}-{}-{variant}",
                        run.seed,
                        point.map_or("end".to_owned(), |k| k.to_string())
                    ));
                    let _ = fs::remove_dir_all(&kept);
                    write_image(&kept, run, &images);
                    let _ = fs::remove_dir_all(&root);
                    failures.push(format!("{label}: {e} (image kept in {})", kept.display()));
                    if failures.len() >= MAX_FAILURES {
                        return (failures, count, total);
                    }
                }
            }
        }
    }
    (failures, count, total)
}

fn soak_rounds() -> Option<usize> {
    match std::env::var("PAGELOG_SOAK").ok()?.as_str() {
        "" | "0" => None,
        "1" => Some(25),
        n => n.parse().ok(),
    }
}

fn power_loss_suite(shape: Shape, base_seed: u64) {
    let seed = std::env::var("PAGELOG_POWER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(base_seed);
    let (rounds, variants) = match soak_rounds() {
        Some(n) => (n, 6),
        None => (1, 3),
    };
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut images = 0;
    for round in 0..rounds {
        let seed = seed.wrapping_add(round as u64 * 0x1000_0001);
        let run = run_workload(seed, shape);
        let points = run.sync_points;
        let (failures, n, outcome) = check_run(&run, variants, work.path());
        images += n;
        assert!(
            failures.is_empty(),
            "power-loss images failed (rerun one with PAGELOG_POWER_SEED={seed}):\n{}",
            failures.join("\n")
        );
        let written: usize = run.partitions.iter().map(|p| p.written.len()).sum();
        let segments: usize = run.partitions.iter().map(|p| bases(&p.fin).len()).sum();
        eprintln!(
            "power loss: seed {seed:#x}: {written} records in {segments} segments, {points} sync \
             points, {n} images ok; unacknowledged records kept {}, lost {}",
            outcome.kept_unacked, outcome.lost_unacked
        );
    }
    eprintln!(
        "power loss: {rounds} workload(s), {images} images in {:.1?}",
        started.elapsed()
    );
}

#[test]
fn power_loss_at_every_sync_point_small_indexes() {
    power_loss_suite(SHAPE_A, 0x5EED_0001);
}

#[test]
fn power_loss_at_every_sync_point_dense_indexes() {
    power_loss_suite(SHAPE_B, 0x5EED_0002);
}

#[test]
fn torn_images_keep_the_synced_prefix() {
    // The image builder itself: whatever it does, the common prefix stays and the length stays
    // between the two versions.
    let mut rng = seeded(7);
    for _ in 0..500 {
        let common = rng.range(0, 3000);
        let mut s = rng.bytes(common);
        let mut f = s.clone();
        s.extend(vec![0u8; rng.range(0, 9000)]);
        let n = rng.range(0, 9000);
        f.extend(rng.bytes(n));
        let t = torn(Some(&s), &f, &mut rng);
        assert!(t.len() >= s.len().min(f.len()) && t.len() <= s.len().max(f.len()));
        assert_eq!(&t[..common.min(t.len())], &f[..common.min(t.len())]);
        let t = torn(None, &f, &mut rng);
        assert!(t.len() <= f.len());
    }
    assert_eq!(segment_file("00000000000000000042.log"), Some((42, "log")));
    assert_eq!(segment_file("0000000000000000042.log"), None);
    assert_eq!(segment_file("00000000000000000042.log.deleted"), None);
    let v = make_value(9, 10, &mut rng);
    assert_eq!(check_value(&v), Ok(9));
    let mut bad = v.clone();
    bad[20] ^= 1;
    assert!(check_value(&bad).is_err());
}
