//! Group commit: 1, 2, 4 and 8 threads each appending 100 B records under
//! `FlushPolicy::EveryAppend` to one partition, on the real disk (`/tmp`, or
//! `PAGELOG_BENCH_DISK_DIR`). Throughput is records/s over all threads; the baseline is one
//! thread doing `write` + `fdatasync` per record on a plain file in the same directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    reason = "benchmark data and figures: offsets, sizes and counts are small, and rates and latencies are printed as floats"
)]

mod common;

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pagelog::{FlushPolicy, NewRecord, Store, TopicConfig};

#[expect(
    clippy::many_single_char_names,
    reason = "criterion's c, g and b with p, t and o for partition, topic and offset"
)]
fn bench_group_commit(c: &mut Criterion) {
    let v = vec![0x5au8; 100];
    let dir = common::disk_dir();
    let mut g = c.benchmark_group("group_commit/100B");
    common::short_sampling(&mut g, Duration::from_secs(3));

    g.throughput(Throughput::Elements(1));
    let path = dir.path().join("raw.bin");
    let mut f = File::create(&path).unwrap();
    f.sync_all().unwrap();
    g.bench_function("raw_write_fdatasync/1", |b| {
        b.iter(|| {
            f.write_all(&v).unwrap();
            f.sync_data().unwrap();
        });
    });
    drop(f);

    let store = Store::open(dir.path().join("store")).unwrap();
    let topic = store
        .create_topic("t", TopicConfig::default().flush(FlushPolicy::EveryAppend))
        .unwrap();
    let p = topic.partition(0).unwrap();
    p.append(NewRecord::new(&v)).unwrap();
    for threads in [1u64, 2, 4, 8] {
        g.throughput(Throughput::Elements(threads));
        g.bench_with_input(
            BenchmarkId::new("pagelog_every_append", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    let barrier = Barrier::new(threads as usize + 1);
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| {
                                barrier.wait();
                                for _ in 0..iters {
                                    black_box(p.append(NewRecord::new(&v)).unwrap());
                                }
                            });
                        }
                        barrier.wait();
                        // The scope joins every thread before it returns, so the
                        // elapsed time below covers every append.
                        Instant::now()
                    })
                    .elapsed()
                });
            },
        );
    }
    g.finish();
    drop(topic);
    store.close().unwrap();
}

criterion_group!(benches, bench_group_commit);
criterion_main!(benches);
