//! The headline of issue 6: Jacobs' figure ("The Pathologies of Big Data", ACM Queue 2009,
//! figure 3: values read per second, random against sequential, from disk and from memory)
//! reproduced on this machine, through pagelog and raw, plus sequential appends against
//! random in-place writes.
//!
//! **What a value is.** One 100 B record (Jacobs counts 4-byte values). The data set is
//! `N` = 2 500 000 records of 100 B appended in batches of 100 to one partition: one
//! segment of 268.7 MB (payload 250 MB; about 7.5 % is batch and record framing). A random
//! access fetches one value (one record; for the raw baselines one 4 KiB block), a
//! sequential pass fetches all `N`, so every benchmark reports values (records) per second;
//! bytes per second are values/s × 100 B of payload (the raw file reads also move the
//! framing: × 107.5 B).
//!
//! Groups (criterion; `scripts/plot_seq_random.py` draws the figure from their output):
//!
//! * `seq_vs_random/disk`: **cold**. Before every timed pass, and before every 50 random
//!   reads (each pulls in only the pages of its batch: pagelog maps logs `MADV_RANDOM`), the
//!   store is closed (its mappings are gone), `posix_fadvise(POSIX_FADV_DONTNEED)` drops
//!   every file of the partition from the page cache, and the store is reopened, untimed.
//!   Pages mapped by a live store cannot be dropped (the setup shows it), hence the reopen.
//!   `Store::open` reads the offset index (warm afterwards, as in any long-running process)
//!   and, asynchronously, the first 8 MiB of the log: the reopen waits for that to settle,
//!   and probes avoid the first 4 % of the log. The setup checks residency with `mincore(2)`
//!   and prints it (`diag:` lines): 0 pages of the log after the drop, and how many pages
//!   one cold read pulls in. Raw baselines, with the store closed: `read(2)` of the same
//!   `.log` file in 1 MiB calls after the same drop; random 4 KiB `pread`s after a drop
//!   before each (what a reader through the page cache, like Kafka's, pays); random 4 KiB
//!   `O_DIRECT` `pread`s (no page cache at all). The virtual disk's host may still cache;
//!   nothing in the guest can rule that out. (pagelog advises its log mappings
//!   `MADV_RANDOM`: without it each cold read would also wait for several MiB of read-around.)
//! * `seq_vs_random/memory`: **warm** (everything resident, checked with `mincore`): the same
//!   four (raw random reads are buffered 4 KiB `pread`s here) plus `memcpy` of the file's
//!   bytes from a `Vec` and a 100 B copy from a random place of that `Vec`.
//! * `seq_vs_random/write`: sequential appends made durable every 1 000 records (pagelog
//!   `FlushPolicy::EveryRecords(1000)`, batches of 100; raw `write` of the same 10 000 B per
//!   batch into a fallocated file + `fdatasync` every 10 writes) against random 4 KiB
//!   `pwrite` + `fdatasync` at random aligned positions in a fully written 64 MiB file (one
//!   value updated in place per write), and sequential 4 KiB `write` + `fdatasync` (the same
//!   cost without the randomness).
//!
//! The files live under the system temp dir (`/tmp`, the real disk on the benchmark
//! machine) or `PAGELOG_BENCH_DISK_DIR`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "benchmark data and figures: offsets, sizes and counts are small, and rates and latencies are printed as floats"
)]

mod common;

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use pagelog::{FlushPolicy, NewRecord, Partition, Store, TopicConfig};

/// Records in the read data set.
const N: u64 = 2_500_000;
const SIZE: usize = 100;
const BATCH: u64 = 100;
const PAGE: usize = 4096;
const PROBES: usize = 1 << 16;
const TOPIC: &str = "t";
/// Size of the file the random 4 KiB writes land in.
const RANDOM_WRITE_FILE: u64 = 64 << 20;
/// Largest amount written into one set of fresh files by the sequential write benchmarks.
const SYNC_EVERY: u64 = 1000;

fn value(i: u64) -> [u8; SIZE] {
    let mut v = [0u8; SIZE];
    v[..8].copy_from_slice(&i.to_le_bytes());
    for (j, b) in v.iter_mut().enumerate().skip(8) {
        *b = (j as u64 * 31 + i) as u8;
    }
    v
}

/// xorshift64*: deterministic random numbers without a rand dependency.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        Self(0x9e37_79b9_7f4a_7c15)
    }

    fn below(&mut self, n: u64) -> u64 {
        let x = &mut self.0;
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn partition_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Number of mappings of `path` in this process.
fn mappings_of(path: &Path) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let name = path.to_str().unwrap();
    maps.lines().filter(|l| l.ends_with(name)).count()
}

/// The store holding the read data set, opened and closed at will.
struct Data {
    root: PathBuf,
    part_dir: PathBuf,
    log: PathBuf,
    log_len: u64,
}

struct Open {
    store: Store,
    p: Partition,
}

impl Data {
    fn create(root: PathBuf) -> Self {
        let store = Store::open(&root).unwrap();
        let t = store
            .create_topic(TOPIC, TopicConfig::default().flush(FlushPolicy::Never))
            .unwrap();
        let p = t.partition(0).unwrap();
        let mut i = 0;
        while i < N {
            let vals: Vec<[u8; SIZE]> = (i..i + BATCH).map(value).collect();
            let recs: Vec<NewRecord<'_>> = vals.iter().map(|v| NewRecord::new(v)).collect();
            p.append_batch(&recs).unwrap();
            i += BATCH;
        }
        let segs = p.segment_paths();
        assert_eq!(segs.len(), 1, "one segment expected");
        let log = segs[0].log.clone();
        let part_dir = log.parent().unwrap().to_path_buf();
        // A clean close syncs everything: only clean pages can be dropped from the cache.
        store.close().unwrap();
        let log_len = std::fs::metadata(&log).unwrap().len();
        Self {
            root,
            part_dir,
            log,
            log_len,
        }
    }

    fn open(&self) -> Open {
        let store = Store::open(&self.root).unwrap();
        let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
        Open { store, p }
    }

    /// Opens the store and waits for the read-around its open started (the first
    /// megabytes of the log, read asynchronously) to finish, so it neither competes with
    /// the timed reads nor counts as theirs.
    fn open_settled(&self) -> Open {
        let open = self.open();
        let mut before = common::resident(&self.log).0;
        loop {
            std::thread::sleep(Duration::from_millis(2));
            let now = common::resident(&self.log).0;
            if now == before {
                return open;
            }
            before = now;
        }
    }

    fn drop_cache(&self) {
        for f in partition_files(&self.part_dir) {
            common::drop_from_cache(&f);
        }
    }

    /// Closes `open` (unmapping every segment), drops the partition's files from the page
    /// cache and opens the store again.
    fn reopen_cold(&self, open: Open) -> Open {
        drop(open.p);
        open.store.close().unwrap();
        self.drop_cache();
        self.open_settled()
    }
}

/// A full scan through the fastest reading API, `Records::next_ref` (lent records).
fn scan(p: &Partition) -> u64 {
    let mut sum = 0u64;
    let mut n = 0;
    let mut it = p.iter();
    while let Some(r) = it.next_ref() {
        sum += u64::from(r.unwrap().value()[0]);
        n += 1;
    }
    assert_eq!(n, N);
    sum
}

fn read_file(path: &Path, buf: &mut [u8]) -> u64 {
    let mut f = File::open(path).unwrap();
    let mut total = 0u64;
    loop {
        let n = f.read(buf).unwrap();
        if n == 0 {
            break;
        }
        total += u64::from(buf[0]) + n as u64;
    }
    total
}

/// A 4 KiB-aligned buffer for `O_DIRECT`.
struct Aligned(Box<[Page]>);

#[repr(C, align(4096))]
#[derive(Clone, Copy)]
struct Page([u8; PAGE]);

impl Aligned {
    fn new() -> Self {
        Self(vec![Page([0; PAGE])].into_boxed_slice())
    }

    fn bytes(&mut self) -> &mut [u8] {
        &mut self.0[0].0
    }
}

fn probe_offsets() -> Vec<u64> {
    // Not the first 4 % (the first 10.7 MB): Store::open reads the log's first 8 MiB.
    let mut rng = Rng::new();
    let skip = N * 4 / 100;
    (0..PROBES).map(|_| skip + rng.below(N - skip)).collect()
}

fn probe_positions(log_len: u64) -> Vec<u64> {
    let pages = log_len / PAGE as u64;
    let skip = pages * 4 / 100;
    let mut rng = Rng(0x1234_5678_9abc_def1);
    (0..PROBES)
        .map(|_| (skip + rng.below(pages - skip)) * PAGE as u64)
        .collect()
}

/// Prints what is resident when, so the doc can say what "cold" was.
fn diagnose(data: &Data, offsets: &[u64]) {
    let open = data.open();
    scan(&open.p);
    data.drop_cache();
    let (live, pages) = common::resident(&data.log);
    eprintln!(
        "diag: log {} B, {pages} pages; after a full scan and DONTNEED with the store open: \
         {live} pages still resident (mapped pages cannot be dropped)",
        data.log_len
    );
    drop(open.p);
    open.store.close().unwrap();
    data.drop_cache();
    eprintln!(
        "diag: after Store::close ({} mappings of the log left) and DONTNEED: log {:?}, \
         index {:?} (resident, pages)",
        mappings_of(&data.log),
        common::resident(&data.log),
        common::resident(&data.log.with_extension("index"))
    );
    let mut open = data.open_settled();
    eprintln!(
        "diag: after Store::open, settled: log {} pages, index {:?}",
        common::resident(&data.log).0,
        common::resident(&data.log.with_extension("index"))
    );
    for (per_open, reads) in [(1, 5), (20, 20)] {
        let (mut time, mut pages) = (Duration::ZERO, 0);
        for (i, &o) in offsets[..reads].iter().enumerate() {
            if i % per_open == 0 {
                open = data.reopen_cold(open);
            }
            let before = common::resident(&data.log).0;
            let t = Instant::now();
            black_box(open.p.read(o).unwrap().unwrap().value()[0]);
            time += t.elapsed();
            pages += common::resident(&data.log).0 - before;
        }
        eprintln!(
            "diag: cold read by offset{}: {:?} and {} pages brought in per read (mean of {reads})",
            if per_open == 1 {
                ", one per reopen"
            } else {
                ", 20 after one reopen"
            },
            time / reads as u32,
            pages / reads
        );
    }
    drop(open.p);
    open.store.close().unwrap();
}

#[expect(
    clippy::many_single_char_names,
    clippy::too_many_lines,
    reason = "the benchmark's setup, checks and groups in order; criterion's c, g and b with p, t and o for partition, topic and offset"
)]
fn bench_reads(c: &mut Criterion) {
    let dir = common::disk_dir();
    let data = Data::create(dir.path().join("store"));
    let offsets = probe_offsets();
    let positions = probe_positions(data.log_len);
    let expect: u64 = (0..N).map(|i| u64::from(value(i)[0])).sum();
    diagnose(&data, &offsets);

    // ---- cold: from the disk ----
    let mut g = c.benchmark_group("seq_vs_random/disk");
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.warm_up_time(Duration::from_millis(100));
    g.measurement_time(Duration::from_secs(4));

    let mut open = Some(data.open());
    g.throughput(Throughput::Elements(N));
    g.bench_function("pagelog_seq_scan", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let o = data.reopen_cold(open.take().unwrap());
                let t = Instant::now();
                assert_eq!(black_box(scan(&o.p)), expect);
                total += t.elapsed();
                open = Some(o);
            }
            total
        });
    });

    // A read pulls in only the pages of its batch (see the diag lines), so 50 reads share a
    // cold reopen.
    g.throughput(Throughput::Elements(1));
    let mut next = 0usize;
    {
        let per_open = 50;
        g.bench_function("pagelog_random_read", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let o = data.reopen_cold(open.take().unwrap());
                    for _ in 0..per_open.min(iters - done) {
                        let off = offsets[next % PROBES];
                        next += 1;
                        let t = Instant::now();
                        let r = o.p.read(off).unwrap().unwrap();
                        black_box(r.value()[0]);
                        total += t.elapsed();
                        done += 1;
                    }
                    open = Some(o);
                }
                total
            });
        });
    }
    // The raw baselines with the store closed: its mappings would pin the pages.
    let o = open.take().unwrap();
    drop(o.p);
    o.store.close().unwrap();

    g.throughput(Throughput::Elements(N));
    g.bench_function("raw_seq_read", |b| {
        let mut buf = vec![0u8; 1 << 20];
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                common::drop_from_cache(&data.log);
                let t = Instant::now();
                black_box(read_file(&data.log, &mut buf));
                total += t.elapsed();
            }
            total
        });
    });
    g.throughput(Throughput::Elements(1));
    {
        // What a reader through the page cache (Kafka's FileChannel reads) pays: a buffered
        // 4 KiB pread with the file dropped from the cache before each read.
        let f = File::open(&data.log).unwrap();
        let mut page = [0u8; PAGE];
        let mut i = 0usize;
        g.bench_function("raw_random_4k_pread", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    common::drop_from_cache(&data.log);
                    let pos = positions[i % PROBES];
                    i += 1;
                    let t = Instant::now();
                    f.read_exact_at(&mut page, pos).unwrap();
                    total += t.elapsed();
                    black_box(page[0]);
                }
                total
            });
        });
    }
    {
        common::drop_from_cache(&data.log);
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&data.log)
            .unwrap();
        let mut buf = Aligned::new();
        let mut i = 0usize;
        g.bench_function("raw_random_4k_odirect", |b| {
            b.iter(|| {
                let pos = positions[i % PROBES];
                i += 1;
                f.read_exact_at(buf.bytes(), pos).unwrap();
                black_box(buf.bytes()[0])
            });
        });
    }
    g.finish();

    // ---- warm: from memory ----
    let open = data.open();
    let p = &open.p;
    assert_eq!(scan(p), expect);
    let mut buf = vec![0u8; 1 << 20];
    read_file(&data.log, &mut buf);
    let (res, pages) = common::resident(&data.log);
    eprintln!("diag: warm group: log {res} of {pages} pages resident");
    let bytes = std::fs::read(&data.log).unwrap();

    let mut g = c.benchmark_group("seq_vs_random/memory");
    common::short_sampling(&mut g, Duration::from_secs(3));
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(N));
    g.bench_function("pagelog_seq_scan", |b| b.iter(|| black_box(scan(p))));
    g.bench_function("raw_seq_read", |b| {
        b.iter(|| black_box(read_file(&data.log, &mut buf)));
    });
    g.bench_function("memcpy_seq", |b| {
        b.iter(|| {
            for chunk in bytes.chunks(buf.len()) {
                buf[..chunk.len()].copy_from_slice(chunk);
                black_box(&buf);
            }
        });
    });

    g.sampling_mode(SamplingMode::Auto);
    g.throughput(Throughput::Elements(1));
    g.bench_function("pagelog_random_read", |b| {
        let mut i = 0usize;
        b.iter(|| {
            let o = offsets[i % PROBES];
            i += 1;
            black_box(p.read(o).unwrap().unwrap().value()[0])
        });
    });
    {
        let f = File::open(&data.log).unwrap();
        let mut page = [0u8; PAGE];
        let mut i = 0usize;
        g.bench_function("raw_random_4k_pread", |b| {
            b.iter(|| {
                let pos = positions[i % PROBES];
                i += 1;
                f.read_exact_at(&mut page, pos).unwrap();
                black_box(page[0])
            });
        });
    }
    {
        let mut rng = Rng::new();
        let starts: Vec<usize> = (0..PROBES)
            .map(|_| rng.below((bytes.len() - SIZE) as u64) as usize)
            .collect();
        let mut out = [0u8; SIZE];
        let mut i = 0usize;
        g.bench_function("memory_random_100B", |b| {
            b.iter(|| {
                let s = starts[i % PROBES];
                i += 1;
                out.copy_from_slice(&bytes[s..s + SIZE]);
                black_box(out[0])
            });
        });
    }
    g.finish();
    drop(open.p);
    open.store.close().unwrap();
}

fn fallocated(path: &Path, len: u64) -> File {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    // SAFETY: a valid open descriptor; no memory is passed.
    let rc = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, len as libc::off_t) };
    assert_eq!(rc, 0, "fallocate: {}", std::io::Error::last_os_error());
    f.sync_all().unwrap();
    f
}

#[expect(
    clippy::too_many_lines,
    reason = "the benchmark's setup, checks and groups in order"
)]
fn bench_writes(c: &mut Criterion) {
    let dir = common::disk_dir();
    let vals: Vec<[u8; SIZE]> = (0..BATCH).map(value).collect();
    let recs: Vec<NewRecord<'_>> = vals.iter().map(|v| NewRecord::new(v)).collect();
    let concat: Vec<u8> = vals.concat();
    let per_sync = SYNC_EVERY / BATCH;

    let mut g = c.benchmark_group("seq_vs_random/write");
    common::short_sampling(&mut g, Duration::from_secs(3));

    g.throughput(Throughput::Elements(BATCH));
    let store = Store::open(dir.path().join("store")).unwrap();
    let mut seq = 0u64;
    g.bench_function("pagelog_append_seq_sync_every_1000", |b| {
        b.iter_custom(|iters| {
            common::chunked(
                iters,
                concat.len() as u64,
                |_| {
                    seq += 1;
                    let name = format!("w{seq}");
                    let config =
                        TopicConfig::default().flush(FlushPolicy::EveryRecords(SYNC_EVERY));
                    let t = store.create_topic(&name, config).unwrap();
                    // The first append writes the "dirty" checkpoint: keep it untimed.
                    t.partition(0)
                        .unwrap()
                        .append(NewRecord::new(b"x"))
                        .unwrap();
                    t.partition(0).unwrap().flush().unwrap();
                    (t, name)
                },
                |(t, _), n| {
                    let p = t.partition(0).unwrap();
                    for _ in 0..n {
                        black_box(p.append_batch(&recs).unwrap());
                    }
                },
                |(t, name)| {
                    drop(t);
                    store.delete_topic(&name).unwrap();
                },
            )
        });
    });
    let path = dir.path().join("raw.bin");
    g.bench_function("raw_write_seq_fdatasync_every_1000", |b| {
        b.iter_custom(|iters| {
            common::chunked(
                iters,
                concat.len() as u64,
                |n| fallocated(&path, n * concat.len() as u64),
                |f, n| {
                    for i in 1..=n {
                        f.write_all(&concat).unwrap();
                        if i % per_sync == 0 {
                            f.sync_data().unwrap();
                        }
                    }
                    f.sync_data().unwrap();
                },
                |f| {
                    drop(f);
                    std::fs::remove_file(&path).unwrap();
                },
            )
        });
    });

    g.throughput(Throughput::Elements(1));
    let block = [0xa5u8; PAGE];
    {
        // Fully written (not just fallocated), so no write converts an unwritten extent.
        let mut f = fallocated(&path, RANDOM_WRITE_FILE);
        for _ in 0..RANDOM_WRITE_FILE / PAGE as u64 {
            f.write_all(&block).unwrap();
        }
        f.sync_all().unwrap();
        let mut rng = Rng::new();
        g.bench_function("raw_random_4k_pwrite_fdatasync", |b| {
            b.iter(|| {
                let pos = rng.below(RANDOM_WRITE_FILE / PAGE as u64) * PAGE as u64;
                f.write_all_at(&block, pos).unwrap();
                f.sync_data().unwrap();
            });
        });
        drop(f);
        std::fs::remove_file(&path).unwrap();
    }
    g.bench_function("raw_seq_4k_write_fdatasync", |b| {
        b.iter_custom(|iters| {
            common::chunked(
                iters,
                PAGE as u64,
                |n| fallocated(&path, n * PAGE as u64),
                |f, n| {
                    for _ in 0..n {
                        f.write_all(&block).unwrap();
                        f.sync_data().unwrap();
                    }
                },
                |f| {
                    drop(f);
                    std::fs::remove_file(&path).unwrap();
                },
            )
        });
    });
    g.finish();
    store.close().unwrap();
}

criterion_group!(benches, bench_reads, bench_writes);
criterion_main!(benches);
