//! Reads of 1 000 000 records of 100 B, warm (everything in the page cache): sequential
//! zero-copy scans, random reads by offset, `offset_for_timestamp`; against commitlog 0.2.0
//! and a memcpy of the same value bytes.
//!
//! pagelog data is laid out twice: appended one record per batch (`single`) and 100 records
//! per batch (`batch100`), each once with CRC checks on read and once without
//! (`TopicConfig::verify_checksums`). commitlog's format has no batches (one header and CRC
//! per message, always checked by `read`), so its two logs differ only in how they were
//! appended.
//!
//! The `user_*` groups measure the workload a user meets (issue 16), as README shows it: a
//! store on the disk, a topic with `TopicConfig::default()` (one partition, the default flush
//! policy and index interval, records stamped with the clock as they are appended, so that
//! thousands share a millisecond), 2 000 000 single `Partition::append` calls of 100 B (and
//! the same in batches of 100), then whole scans through `next_ref`, through
//! `Iterator::next` and through a consumer group's `poll` loop; random reads by offset
//! uniform over the whole log; `offset_for_timestamp` at uniform random times between the
//! first and the last record's. commitlog, appended the same way, is in the same groups.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "benchmark data and figures: offsets, sizes and counts are small, and rates and latencies are printed as floats"
)]

mod common;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use commitlog::message::{MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions, ReadLimit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pagelog::{FlushPolicy, NewRecord, Partition, Store, Topic, TopicConfig};

const N: u64 = 1_000_000;
const SIZE: usize = 100;
const BATCH: u64 = 100;
const T0: i64 = 1_700_000_000_000;
const PROBES: usize = 4096;

fn value(i: u64) -> [u8; SIZE] {
    let mut v = [0u8; SIZE];
    v[..8].copy_from_slice(&i.to_le_bytes());
    for (j, b) in v.iter_mut().enumerate().skip(8) {
        *b = (j as u64 * 31 + i) as u8;
    }
    v
}

/// `count` offsets below `n`, uniform (xorshift64*: deterministic, without a rand dependency).
fn probes(n: u64, count: usize) -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..count)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        })
        .collect()
}

fn fill_pagelog(store: &Store, name: &str, batched: bool, crc: bool) -> Topic {
    let config = TopicConfig::default()
        .flush(FlushPolicy::Never)
        .verify_checksums(crc);
    fill_pagelog_with(store, name, batched, config)
}

fn fill_pagelog_with(store: &Store, name: &str, batched: bool, config: TopicConfig) -> Topic {
    let t = store.create_topic(name, config).unwrap();
    let p = t.partition(0).unwrap();
    let step = if batched { BATCH } else { 1 };
    let mut i = 0;
    while i < N {
        let vals: Vec<[u8; SIZE]> = (i..i + step).map(value).collect();
        let recs: Vec<NewRecord<'_>> = vals
            .iter()
            .enumerate()
            .map(|(k, v)| NewRecord::new(v).timestamp(T0 + i as i64 + k as i64))
            .collect();
        p.append_batch(&recs).unwrap();
        i += step;
    }
    t
}

fn fill_commitlog(dir: &Path, batched: bool, n: u64) -> CommitLog {
    let mut o = LogOptions::new(dir);
    o.index_max_items(n as usize + 16);
    let mut log = CommitLog::new(o).unwrap();
    let step = if batched { BATCH } else { 1 };
    let mut i = 0;
    while i < n {
        let mut buf = MessageBuf::default();
        for k in i..i + step {
            buf.push(value(k)).unwrap();
        }
        log.append(&mut buf).unwrap();
        i += step;
    }
    log.flush().unwrap();
    log
}

fn scan_pagelog(p: &Partition) -> u64 {
    let mut sum = 0u64;
    for r in p {
        let r = r.unwrap();
        sum += u64::from(r.value()[0]);
    }
    sum
}

/// The same scan through `Records::next_ref`, which lends each record instead of handing out
/// a `Record` that holds a reference count on the segment's mapping.
fn scan_pagelog_ref(p: &Partition) -> u64 {
    let mut sum = 0u64;
    let mut it = p.iter();
    while let Some(r) = it.next_ref() {
        sum += u64::from(r.unwrap().value()[0]);
    }
    sum
}

fn scan_commitlog(log: &CommitLog) -> u64 {
    let mut sum = 0u64;
    let mut off = 0;
    loop {
        let buf = log.read(off, ReadLimit::max_bytes(1 << 20)).unwrap();
        if buf.is_empty() {
            break;
        }
        for m in buf.iter() {
            sum += u64::from(m.payload()[0]);
            off = m.offset() + 1;
        }
    }
    sum
}

/// A benchmark reading by offset, cycling through `offsets`: `read(offset)` returns a byte of
/// the record read.
fn by_offset<M: criterion::measurement::Measurement>(
    g: &mut criterion::BenchmarkGroup<'_, M>,
    name: String,
    offsets: &[u64],
    read: impl Fn(u64) -> u64,
) {
    g.bench_function(name, |b| {
        let mut i = 0;
        b.iter(|| {
            let o = offsets[i % offsets.len()];
            i += 1;
            black_box(read(o))
        });
    });
}

fn read_commitlog(log: &CommitLog, off: u64) -> u64 {
    // One message: 18-byte header (offset, size, hash, metadata size) + 100 B payload.
    let buf = log.read(off, ReadLimit::max_bytes(128)).unwrap();
    let m = buf.iter().next().unwrap();
    debug_assert_eq!(m.offset(), off);
    u64::from(m.payload()[0])
}

#[expect(
    clippy::many_single_char_names,
    clippy::too_many_lines,
    reason = "the benchmark's setup, checks and groups in order; criterion's c, g and b with p, t and o for partition, topic and offset"
)]
fn bench_reads(c: &mut Criterion) {
    let dir = common::disk_dir();
    let store = Store::open(dir.path().join("store")).unwrap();
    let mut topics = Vec::new();
    for (batched, shape) in [(false, "single"), (true, "batch100")] {
        for (crc, c_label) in [(true, "crc"), (false, "nocrc")] {
            let name = format!("{shape}-{c_label}");
            topics.push((
                format!("{shape}/{c_label}"),
                fill_pagelog(&store, &name, batched, crc),
            ));
        }
    }
    // Random reads only: an index entry for every batch (index_interval_bytes 0) instead of
    // one per 4 KiB, to show what the scan from the sparse index entry costs.
    let dense = fill_pagelog_with(
        &store,
        "single-crc-dense",
        false,
        TopicConfig::default()
            .flush(FlushPolicy::Never)
            .index_interval_bytes(0),
    );
    let cl_single = fill_commitlog(&dir.path().join("cl-single"), false, N);
    let cl_batch = fill_commitlog(&dir.path().join("cl-batch"), true, N);
    let values: Vec<u8> = (0..N).flat_map(value).collect();
    let offsets = probes(N, PROBES);
    // Every path sees the same data.
    let expect: u64 = (0..N).map(|i| u64::from(value(i)[0])).sum();
    for (_, t) in &topics {
        assert_eq!(scan_pagelog(t.partition(0).unwrap()), expect);
        assert_eq!(scan_pagelog_ref(t.partition(0).unwrap()), expect);
    }
    assert_eq!(scan_commitlog(&cl_single), expect);
    assert_eq!(scan_commitlog(&cl_batch), expect);
    for &o in &offsets[..16] {
        assert_eq!(read_commitlog(&cl_single, o), u64::from(value(o)[0]));
    }

    let mut g = c.benchmark_group("read_seq/100B");
    g.throughput(Throughput::Elements(N));
    common::short_sampling(&mut g, Duration::from_secs(2));
    g.bench_function("memcpy_values", |b| {
        let mut buf = vec![0u8; 64 << 10];
        b.iter(|| {
            for chunk in values.chunks(buf.len()) {
                buf[..chunk.len()].copy_from_slice(chunk);
                black_box(&buf);
            }
        });
    });
    for (label, t) in &topics {
        let p = t.partition(0).unwrap();
        g.bench_function(format!("pagelog/{label}"), |b| {
            b.iter(|| black_box(scan_pagelog(p)));
        });
        g.bench_function(format!("pagelog_ref/{label}"), |b| {
            b.iter(|| black_box(scan_pagelog_ref(p)));
        });
    }
    g.bench_function("commitlog/single", |b| {
        b.iter(|| black_box(scan_commitlog(&cl_single)));
    });
    g.bench_function("commitlog/batch100", |b| {
        b.iter(|| black_box(scan_commitlog(&cl_batch)));
    });
    g.finish();

    let mut g = c.benchmark_group("read_random/100B");
    g.throughput(Throughput::Elements(1));
    common::short_sampling(&mut g, Duration::from_secs(2));
    g.bench_function("memcpy_random_100B", |b| {
        let mut i = 0;
        let mut buf = [0u8; SIZE];
        b.iter(|| {
            let o = offsets[i % PROBES] as usize * SIZE;
            i += 1;
            buf.copy_from_slice(&values[o..o + SIZE]);
            black_box(buf[0])
        });
    });
    for (label, t) in &topics {
        let p = t.partition(0).unwrap();
        by_offset(&mut g, format!("pagelog/{label}"), &offsets, |o| {
            u64::from(p.read(o).unwrap().unwrap().value()[0])
        });
    }
    {
        let p = dense.partition(0).unwrap();
        by_offset(
            &mut g,
            "pagelog/single/crc/index_every_batch".to_owned(),
            &offsets,
            |o| u64::from(p.read(o).unwrap().unwrap().value()[0]),
        );
    }
    for (label, log) in [("single", &cl_single), ("batch100", &cl_batch)] {
        by_offset(&mut g, format!("commitlog/{label}"), &offsets, |o| {
            read_commitlog(log, o)
        });
    }
    g.finish();

    // commitlog has no time index: pagelog only.
    let mut g = c.benchmark_group("offset_for_timestamp/100B");
    g.throughput(Throughput::Elements(1));
    common::short_sampling(&mut g, Duration::from_secs(2));
    for (label, t) in topics.iter().filter(|(l, _)| l.ends_with("/crc")) {
        let p = t.partition(0).unwrap();
        g.bench_function(format!("pagelog/{label}"), |b| {
            let mut i = 0;
            b.iter(|| {
                let o = offsets[i % PROBES];
                i += 1;
                black_box(p.offset_for_timestamp(T0 + o as i64).unwrap())
            });
        });
    }
    g.finish();
    drop(topics);
    drop(dense);
    store.close().unwrap();
}

/// Records of the user workload, and probes over it.
const USER_N: u64 = 2_000_000;
const USER_PROBES: usize = 500_000;

/// The user workload's topics: `user-single` (2 000 000 single appends) and `user-batch100`,
/// with `TopicConfig::default()`, timestamps from the clock.
fn fill_user(store: &Store, name: &str, batched: bool) -> Topic {
    let t = store.create_topic(name, TopicConfig::default()).unwrap();
    let p = t.partition(0).unwrap();
    if batched {
        let mut i = 0;
        while i < USER_N {
            let vals: Vec<[u8; SIZE]> = (i..i + BATCH).map(value).collect();
            let recs: Vec<NewRecord<'_>> = vals.iter().map(|v| NewRecord::new(v)).collect();
            p.append_batch(&recs).unwrap();
            i += BATCH;
        }
    } else {
        for i in 0..USER_N {
            p.append(NewRecord::new(&value(i))).unwrap();
        }
    }
    t
}

/// A consumer group's poll loop over the whole partition (no commit: the group's position).
fn poll_all(t: &Topic, group: &str) -> u64 {
    let mut c = t
        .consumer(group, pagelog::ConsumerConfig::default().auto_commit(None))
        .unwrap();
    let (mut sum, mut seen) = (0u64, 0u64);
    while seen < USER_N {
        for r in c.poll(Duration::from_secs(10)).unwrap() {
            sum += u64::from(r.value()[0]);
            seen += 1;
        }
    }
    sum
}

/// The same loop through `Consumer::poll_with`, which lends each record instead of returning
/// a vector of owned records.
fn poll_with_all(t: &Topic, group: &str) -> u64 {
    let mut c = t
        .consumer(group, pagelog::ConsumerConfig::default().auto_commit(None))
        .unwrap();
    let (mut sum, mut seen) = (0u64, 0u64);
    while seen < USER_N {
        let n = c
            .poll_with(Duration::from_secs(10), |_, r| {
                sum += u64::from(r.value()[0]);
            })
            .unwrap();
        seen += n as u64;
    }
    sum
}

/// The floor of a CRC-checked scan: the CRC of every batch of a log held in memory, and
/// nothing else (no decoding). Returns how many batches matched their stored CRC.
fn crc_of_each_batch(log: &[u8]) -> u64 {
    let (mut pos, mut ok) = (0, 0);
    while let Some(h) = log.get(pos..pos + 8) {
        let stored = u32::from_le_bytes(h[..4].try_into().unwrap());
        let len = u32::from_le_bytes(h[4..8].try_into().unwrap()) as usize;
        if len < 48 {
            break; // the zeros after the last batch of a preallocated log
        }
        ok += u64::from(crc32fast::hash(&log[pos + 4..pos + len]) == stored);
        pos += len;
    }
    ok
}

/// The bytes of a one-segment partition's log.
fn log_bytes(store_dir: &Path, topic: &str) -> Vec<u8> {
    let dir = store_dir.join(topic).join("0");
    let logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    assert_eq!(logs.len(), 1, "one segment in {}", dir.display());
    std::fs::read(&logs[0]).unwrap()
}

fn bench_user_workload(c: &mut Criterion) {
    let dir = common::disk_dir();
    let store = Store::open(dir.path().join("store")).unwrap();
    let single = fill_user(&store, "user-single", false);
    let batched = fill_user(&store, "user-batch100", true);
    let cl_single = fill_commitlog(&dir.path().join("cl-single"), false, USER_N);
    let cl_batch = fill_commitlog(&dir.path().join("cl-batch"), true, USER_N);
    let offsets = probes(USER_N, USER_PROBES);
    let expect: u64 = (0..USER_N).map(|i| u64::from(value(i)[0])).sum();
    let topics = [("single", &single), ("batch100", &batched)];
    for (_, t) in topics {
        let p = t.partition(0).unwrap();
        assert_eq!(p.next_offset(), USER_N);
        assert_eq!(scan_pagelog_ref(p), expect);
        assert_eq!(poll_with_all(t, "check"), expect);
    }
    let mut groups = 0;
    let mut g = c.benchmark_group("user_scan/100B");
    g.throughput(Throughput::Elements(USER_N));
    common::short_sampling(&mut g, Duration::from_secs(3));
    for (label, t) in topics {
        let p = t.partition(0).unwrap();
        g.bench_function(format!("pagelog/{label}/next_ref"), |b| {
            b.iter(|| black_box(scan_pagelog_ref(p)));
        });
        g.bench_function(format!("pagelog/{label}/next"), |b| {
            b.iter(|| black_box(scan_pagelog(p)));
        });
        g.bench_function(format!("pagelog/{label}/consumer_poll"), |b| {
            b.iter(|| {
                groups += 1;
                black_box(poll_all(t, &format!("g{groups}")))
            });
        });
        g.bench_function(format!("pagelog/{label}/consumer_poll_with"), |b| {
            b.iter(|| {
                groups += 1;
                black_box(poll_with_all(t, &format!("g{groups}")))
            });
        });
    }
    for (label, log) in [("single", &cl_single), ("batch100", &cl_batch)] {
        g.bench_function(format!("commitlog/{label}"), |b| {
            b.iter(|| black_box(scan_commitlog(log)));
        });
    }
    for (label, topic) in [("single", "user-single"), ("batch100", "user-batch100")] {
        let log = log_bytes(&dir.path().join("store"), topic);
        let matched = crc_of_each_batch(&log);
        assert_eq!(
            matched,
            if label == "single" {
                USER_N
            } else {
                USER_N / BATCH
            }
        );
        g.bench_function(format!("baseline/crc_of_each_batch/{label}"), |b| {
            b.iter(|| black_box(crc_of_each_batch(&log)));
        });
    }
    g.finish();

    let mut g = c.benchmark_group("user_random/100B");
    g.throughput(Throughput::Elements(1));
    common::short_sampling(&mut g, Duration::from_secs(3));
    for (label, t) in topics {
        let p = t.partition(0).unwrap();
        by_offset(&mut g, format!("pagelog/{label}"), &offsets, |o| {
            u64::from(p.read(o).unwrap().unwrap().value()[0])
        });
    }
    for (label, log) in [("single", &cl_single), ("batch100", &cl_batch)] {
        by_offset(&mut g, format!("commitlog/{label}"), &offsets, |o| {
            read_commitlog(log, o)
        });
    }
    g.finish();

    let mut g = c.benchmark_group("user_offset_for_timestamp/100B");
    g.throughput(Throughput::Elements(1));
    common::short_sampling(&mut g, Duration::from_secs(3));
    for (label, t) in topics {
        let p = t.partition(0).unwrap();
        let first = p.read(0).unwrap().unwrap().timestamp();
        let last = p.read(USER_N - 1).unwrap().unwrap().timestamp();
        let span = (last - first + 1).cast_unsigned();
        g.bench_function(format!("pagelog/{label}"), |b| {
            let mut i = 0;
            b.iter(|| {
                let ts = first + (offsets[i % USER_PROBES] % span).cast_signed();
                i += 1;
                black_box(p.offset_for_timestamp(ts).unwrap())
            });
        });
    }
    g.finish();
    drop((single, batched));
    store.close().unwrap();
    bench_user_cold(c, &dir.path().join("store"), &offsets);
}

/// Cold reads of the store reopen after this many reads, untimed: pages a read faults in
/// stay mapped, and `POSIX_FADV_DONTNEED` cannot drop mapped pages, so without a reopen the
/// share of the log that stays resident would grow with every read.
const COLD_REOPEN_EVERY: u64 = 256;

/// The store of the user workload reopened, and its single-append partition.
struct UserOpen {
    store: Store,
    p: Partition,
}

impl UserOpen {
    fn open(root: &Path) -> Self {
        let store = Store::open(root).unwrap();
        let p = store
            .topic("user-single")
            .unwrap()
            .partition(0)
            .unwrap()
            .clone();
        Self { store, p }
    }

    fn close(self) {
        drop(self.p);
        self.store.close().unwrap();
    }
}

/// `user_random_cold/100B`: random reads by offset of the single-append topic of the user
/// workload with nothing of them in the page cache. Before each read, `posix_fadvise(
/// POSIX_FADV_DONTNEED)` drops the pages of all three files of the partition's segment (the
/// `.log`, `.index` and `.timeindex`), untimed; then `Partition::read` of a random offset is
/// timed. Pages that reads since the last reopen faulted in stay mapped and cannot be dropped
/// (the `diag:` lines say how many pages a read brings in). Beside it, the baseline: the same
/// `.log`'s pages dropped, then one 4 KiB `pread` at a random 4 KiB-aligned position of it,
/// through a descriptor advised `POSIX_FADV_RANDOM` (exactly one 4 KiB read from the disk).
fn bench_user_cold(c: &mut Criterion, root: &Path, offsets: &[u64]) {
    use std::os::unix::fs::FileExt;
    let mut open = Some(UserOpen::open(root));
    let seg = {
        let paths = open.as_ref().unwrap().p.segment_paths();
        assert_eq!(paths.len(), 1, "the user workload fills one segment");
        paths[0].clone()
    };
    let files: Vec<std::fs::File> = [&seg.log, &seg.index, &seg.time]
        .into_iter()
        .map(|f| std::fs::File::open(f).unwrap())
        .collect();
    let drop_all = || files.iter().for_each(common::fadvise_dontneed);
    let log_len = files[0].metadata().unwrap().len();
    let positions: Vec<u64> = probes(log_len / 4096, USER_PROBES)
        .into_iter()
        .map(|page| page * 4096)
        .collect();
    // What a cold read brings in, after a fresh open and a first read (which makes the
    // segment's offset index resident: pagelog maps it whole on a segment's first point read).
    {
        open.take().unwrap().close();
        let o = UserOpen::open(root);
        drop_all();
        black_box(o.p.read(offsets[0]).unwrap().unwrap().value()[0]);
        let reads = 64;
        let (mut log_pages, mut index_pages, mut time) = (0, 0, Duration::ZERO);
        for &off in &offsets[1..=reads] {
            drop_all();
            let before = (common::resident(&seg.log).0, common::resident(&seg.index).0);
            let t = std::time::Instant::now();
            black_box(o.p.read(off).unwrap().unwrap().value()[0]);
            time += t.elapsed();
            log_pages += common::resident(&seg.log).0 - before.0;
            index_pages += common::resident(&seg.index).0 - before.1;
        }
        drop_all();
        eprintln!(
            "diag: user_random_cold: {reads} reads after an open and a first read, each after \
             DONTNEED of the .log, .index and .timeindex: {:?} per read (mincore between \
             reads); pages brought in: {log_pages} of the log, {index_pages} of the index in \
             all; after a DONTNEED, resident (pages, of): index {:?}, log {:?}",
            time / reads as u32,
            common::resident(&seg.index),
            common::resident(&seg.log),
        );
        open = Some(o);
    }

    let mut g = c.benchmark_group("user_random_cold/100B");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.sampling_mode(criterion::SamplingMode::Flat);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    let mut next = 0usize;
    let mut reads = 0u64;
    g.bench_function("pagelog/single", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if reads.is_multiple_of(COLD_REOPEN_EVERY) {
                    open.take().unwrap().close();
                    open = Some(UserOpen::open(root));
                }
                reads += 1;
                let p = &open.as_ref().unwrap().p;
                let off = offsets[next % offsets.len()];
                next += 1;
                drop_all();
                let t = std::time::Instant::now();
                black_box(p.read(off).unwrap().unwrap().value()[0]);
                total += t.elapsed();
            }
            total
        });
    });
    let mut next = 0usize;
    // Its own descriptor, advised random: a cold `pread` then reads exactly its 4 KiB (with
    // the default advice the kernel's first read-ahead window makes it 16 KiB).
    let raw = std::fs::File::open(&seg.log).unwrap();
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor; no memory is passed.
        let rc = unsafe { libc::posix_fadvise(raw.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
        assert_eq!(rc, 0, "posix_fadvise: {rc}");
    }
    g.bench_function("raw_pread_4KiB", |b| {
        let mut buf = vec![0u8; 4096];
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let at = positions[next % positions.len()];
                next += 1;
                common::fadvise_dontneed(&raw);
                let t = std::time::Instant::now();
                raw.read_exact_at(&mut buf, at).unwrap();
                total += t.elapsed();
                black_box(buf[0]);
            }
            total
        });
    });
    g.finish();
    open.take().unwrap().close();
}

criterion_group!(benches, bench_reads, bench_user_workload);
criterion_main!(benches);
