//! Opening a store: clean reopen time against segment count and bytes stored, the clean open
//! of the user workload of issue 16 against commitlog's, a read-only open
//! (`Store::open_read_only`) against bytes stored at the same segment count, and unclean
//! recovery (`Store::crash`, then open) throughput.
//!
//! Data lives on `/dev/shm` (tmpfs), except for `open_clean_user` (on the disk, as a user's
//! store is): these benchmarks write up to ~1 GB per configuration and the recovery
//! benchmark copies a crashed store before every iteration; on tmpfs that neither waits for
//! nor triggers writeback to the real disk. Every read is warm, which is what is measured
//! here (a cold-cache open is not).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use commitlog::{CommitLog, LogOptions};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pagelog::{FlushPolicy, NewRecord, Store, TopicConfig};

/// Appends batches of `per_batch` values of `size` bytes until `stop(bytes, segments)`.
fn fill(p: &pagelog::Partition, size: usize, per_batch: usize, stop: impl Fn(u64, usize) -> bool) {
    let v = vec![0xa5u8; size];
    let recs: Vec<NewRecord<'_>> = (0..per_batch).map(|_| NewRecord::new(&v)).collect();
    loop {
        let info = p.info();
        if stop(info.bytes, info.segments) {
            return;
        }
        p.append_batch(&recs).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn open_topic(root: &Path) -> (Store, u64) {
    let store = Store::open(root).unwrap();
    let next = store
        .topic("t")
        .unwrap()
        .partition(0)
        .unwrap()
        .next_offset();
    (store, next)
}

/// A store at `root` whose topic "t" has one partition of `segments` segments of `seg_mib`
/// MiB (1 KiB records in batches of 16, the last segment about half full), closed cleanly.
/// Returns the bytes stored.
fn build(root: &Path, seg_mib: u64, segments: usize) -> u64 {
    let store = Store::open(root).unwrap();
    let t = store
        .create_topic(
            "t",
            TopicConfig::default()
                .flush(FlushPolicy::Never)
                .segment_bytes(seg_mib << 20),
        )
        .unwrap();
    let p = t.partition(0).unwrap();
    // Stop once the last segment is about half full.
    let reached = std::cell::Cell::new(None::<u64>);
    fill(p, 1024, 16, |b, s| {
        if s < segments {
            return false;
        }
        let b0 = *reached.get().get_or_insert(b);
        reached.set(Some(b0));
        b - b0 >= (seg_mib << 20) / 2
    });
    let info = p.info();
    assert_eq!(info.segments, segments);
    drop(t);
    store.close().unwrap();
    info.bytes
}

fn bench_clean_reopen(c: &mut Criterion) {
    let mut g = c.benchmark_group("open_clean");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    for seg_mib in [1u64, 8] {
        for segments in [1usize, 10, 100] {
            let dir = common::shm_dir();
            let root = dir.path().join("store");
            let bytes = build(&root, seg_mib, segments);
            g.bench_with_input(
                BenchmarkId::new(
                    format!("seg{seg_mib}MiB"),
                    format!("{segments}seg_{}MB", bytes / 1_000_000),
                ),
                &root,
                |b, root| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let t = Instant::now();
                            let (store, next) = open_topic(root);
                            total += t.elapsed();
                            black_box(next);
                            store.close().unwrap();
                        }
                        total
                    });
                },
            );
        }
    }
    g.finish();
}

fn bench_unclean(c: &mut Criterion) {
    let mut g = c.benchmark_group("open_unclean_recovery");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(2));
    for (label, size, per_batch, mib) in [
        ("1KiB_batch64", 1024, 64, 256u64),
        ("100B_single", 100, 1, 64),
    ] {
        let dir = common::shm_dir();
        let pristine = dir.path().join("pristine");
        let (bytes, records) = {
            let store = Store::open(&pristine).unwrap();
            let t = store
                .create_topic("t", TopicConfig::default().flush(FlushPolicy::Never))
                .unwrap();
            let p = t.partition(0).unwrap();
            fill(p, size, per_batch, |b, _| b >= mib << 20);
            let info = p.info();
            assert_eq!(
                info.durable_offset, 0,
                "nothing may be synced before the crash"
            );
            drop(t);
            store.crash();
            (info.bytes, info.next_offset)
        };
        let work = dir.path().join("work");
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(format!("{label}/{}MB", bytes / 1_000_000), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let _ = std::fs::remove_dir_all(&work);
                    copy_dir(&pristine, &work);
                    let t = Instant::now();
                    let (store, next) = open_topic(&work);
                    total += t.elapsed();
                    assert_eq!(next, records);
                    store.close().unwrap();
                }
                total
            });
        });
    }
    g.finish();
}

/// A read-only open (`Store::open_read_only` + `topic` + `read(0)`) of stores of 10 segments
/// of 1 MiB and of 64 MiB, the writer closed cleanly, beside the writer's own open
/// (`Store::open` + `topic` + `read(0)`) of the same stores; closes and drops untimed.
fn bench_read_only_open(c: &mut Criterion) {
    let mut g = c.benchmark_group("open_read_only");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    let segments = 10;
    let dirs: Vec<_> = [1u64, 64]
        .into_iter()
        .map(|seg_mib| {
            let dir = common::shm_dir();
            let root = dir.path().join("store");
            let bytes = build(&root, seg_mib, segments);
            let id = format!("seg{seg_mib}MiB/{segments}seg_{}MB", bytes / 1_000_000);
            (dir, root, id)
        })
        .collect();
    let opens: [(&str, OpenFn); 2] = [
        ("read_only", |root| Store::open_read_only(root)),
        ("writer", |root| Store::open(root)),
    ];
    for (name, open) in opens {
        for (_, root, id) in &dirs {
            g.bench_with_input(BenchmarkId::new(name, id), root, |b, root| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        let store = open(root).unwrap();
                        let topic = store.topic("t").unwrap();
                        let r = topic.partition(0).unwrap().read(0).unwrap().unwrap();
                        black_box(r.value()[0]);
                        total += t.elapsed();
                        drop((r, topic));
                        store.close().unwrap();
                    }
                    total
                });
            });
        }
    }
    g.finish();
}

/// Records of the user workload (issue 16; `benches/read.rs`, `user_*`).
const USER_N: u64 = 2_000_000;

/// `open_clean_user`: the clean open a user of the README meets, on the disk (the system
/// temp dir, or `PAGELOG_BENCH_DISK_DIR`): a store holding one topic with
/// `TopicConfig::default()` into which 2 000 000 single `Partition::append` calls of 100 B
/// went (one segment of 310 MB), closed cleanly; `Store::open` + `topic` + `partition(0)`,
/// ready to read. Beside it, `CommitLog::new(LogOptions::new(dir))` on a commitlog 0.2.0 log
/// of the same records appended with its default options (one segment). Closes and drops
/// are untimed; the files stay in the page cache (warm).
fn bench_user_open(c: &mut Criterion) {
    let dir = common::disk_dir();
    let root = dir.path().join("store");
    let cl_dir = dir.path().join("commitlog");
    let value = |i: u64| {
        let mut v = [0u8; 100];
        v[..8].copy_from_slice(&i.to_le_bytes());
        v
    };
    {
        let store = Store::open(&root).unwrap();
        let t = store.create_topic("t", TopicConfig::default()).unwrap();
        let p = t.partition(0).unwrap();
        for i in 0..USER_N {
            p.append(NewRecord::new(&value(i))).unwrap();
        }
        drop(t);
        store.close().unwrap();
        let mut log = CommitLog::new(LogOptions::new(&cl_dir)).unwrap();
        for i in 0..USER_N {
            log.append_msg(value(i)).unwrap();
        }
        log.flush().unwrap();
    }
    let mut g = c.benchmark_group("open_clean_user");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    g.bench_function("pagelog/2M_single_100B", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let (store, next) = open_topic(&root);
                total += t.elapsed();
                assert_eq!(next, USER_N);
                store.close().unwrap();
            }
            total
        });
    });
    g.bench_function("commitlog/2M_single_100B", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let log = CommitLog::new(LogOptions::new(&cl_dir)).unwrap();
                total += t.elapsed();
                assert_eq!(log.next_offset(), USER_N);
                drop(log);
            }
            total
        });
    });
    g.finish();
}

/// A way to open a store (`Store::open_read_only` or `Store::open`).
type OpenFn = fn(&Path) -> pagelog::Result<Store>;

criterion_group!(
    benches,
    bench_clean_reopen,
    bench_user_open,
    bench_read_only_open,
    bench_unclean
);
criterion_main!(benches);
