//! Readers beside the writer (issue 12): the sequential scan rate of one log read through the
//! writer's own partition and through a partition of a read-only store
//! (`Store::open_read_only`) on the same directory, while the writer store is open.
//!
//! The log is 1 000 000 records of 100 B appended singly (`Partition::append`) to one
//! partition of a topic with `TopicConfig::default()` (CRC checked on read), in the system
//! temp dir (`/tmp`, the disk; `PAGELOG_BENCH_DISK_DIR` overrides), synced and warm. Each
//! scan goes through `iter().next_ref()` and touches every value (sums its first byte), as
//! `read_seq` in `read.rs` does.
//!
//! A read-only store follows the writer through the topic's `live` file
//! (`partition/follow.rs`) whether the writer is in its process or in another: the criterion
//! group measures that follower in this process. The same scan from another process is
//! printed after the group: this binary started again (`std::env::current_exe()`, the role in
//! the environment, `common::child_command`) opens the store read-only, scans once to warm up
//! (its page tables), then `PAGELOG_SCAN_REPEATS` times (default 10; 1 without `--bench`),
//! and writes each scan's time to stdout; this process times the same scan on the writer's
//! partition and on its read-only store, taking turns, as many times before the child runs
//! and as many after, and prints the medians and their ratios.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "benchmark data and figures: counts are small, and rates are printed as floats"
)]

mod common;

use std::hint::black_box;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use pagelog::{NewRecord, Partition, Store, TopicConfig};

const N: u64 = 1_000_000;
const SIZE: usize = 100;
const TOPIC: &str = "scan";
const SCAN_ROLE: &str = "scanner";

fn value(i: u64) -> [u8; SIZE] {
    let mut v = [0u8; SIZE];
    v[..8].copy_from_slice(&i.to_le_bytes());
    for (j, b) in v.iter_mut().enumerate().skip(8) {
        *b = (j as u64 * 31 + i) as u8;
    }
    v
}

/// The scan of `read.rs`'s `pagelog_ref`: lent records, every value touched.
fn scan_ref(p: &Partition) -> u64 {
    let mut sum = 0u64;
    let mut it = p.iter();
    while let Some(r) = it.next_ref() {
        sum += u64::from(r.unwrap().value()[0]);
    }
    sum
}

/// The time of one scan of `p`; checks the sum.
fn time_scan(p: &Partition, expect: u64) -> Duration {
    let t = Instant::now();
    let sum = black_box(scan_ref(p));
    let d = t.elapsed();
    assert_eq!(sum, expect);
    d
}

/// The time of each of `repeats` scans of `p`, after one untimed scan; checks the sum.
fn timed_scans(p: &Partition, repeats: usize, expect: u64) -> Vec<Duration> {
    assert_eq!(scan_ref(p), expect);
    (0..repeats).map(|_| time_scan(p, expect)).collect()
}

fn expected_sum() -> u64 {
    (0..N).map(|i| u64::from(value(i)[0])).sum()
}

fn repeats() -> usize {
    common::size_param("PAGELOG_SCAN_REPEATS", 10, 1)
}

/// The scanning process: writes `scan <ns>` per timed scan of the store in `dir`.
fn scanner(dir: &Path) {
    let store = Store::open_read_only(dir).unwrap();
    let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    assert_eq!(p.next_offset(), N);
    let repeats: usize = std::env::var("PAGELOG_SCAN_REPEATS")
        .unwrap()
        .parse()
        .unwrap();
    for d in timed_scans(&p, repeats, expected_sum()) {
        println!("scan {}", d.as_nanos());
    }
}

/// Records per second of the median scan.
fn median_rate(mut scans: Vec<Duration>) -> f64 {
    scans.sort_unstable();
    N as f64 / scans[scans.len() / 2].as_secs_f64()
}

fn bench_follower_scan(c: &mut Criterion) {
    let dir = common::disk_dir();
    let store = Store::open(dir.path()).unwrap();
    let writer = store
        .create_topic(TOPIC, TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    for i in 0..N {
        writer.append(NewRecord::new(&value(i))).unwrap();
    }
    // Nothing left for writeback or the flusher to do while the scans run.
    store.flush().unwrap();
    let ro_store = Store::open_read_only(dir.path()).unwrap();
    let reader = ro_store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    let expect = expected_sum();
    assert_eq!(reader.next_offset(), N);
    assert_eq!(scan_ref(&writer), expect);
    assert_eq!(scan_ref(&reader), expect);

    let mut g = c.benchmark_group("read_follower/100B");
    g.throughput(Throughput::Elements(N));
    common::short_sampling(&mut g, Duration::from_secs(2));
    g.bench_function("writer_store/single/crc", |b| {
        b.iter(|| black_box(scan_ref(&writer)));
    });
    g.bench_function("read_only_store/single/crc", |b| {
        b.iter(|| black_box(scan_ref(&reader)));
    });
    g.finish();

    // The same scan from another process, beside this process's two timed with the same loop:
    // these take turns scan by scan, half of them before the child runs and half after it.
    let repeats = repeats();
    let (mut own, mut local_ro) = (Vec::new(), Vec::new());
    let mut alternate = || {
        for _ in 0..repeats {
            own.push(time_scan(&writer, expect));
            local_ro.push(time_scan(&reader, expect));
        }
    };
    alternate();
    let mut child = common::child_command(SCAN_ROLE, dir.path())
        .env("PAGELOG_SCAN_REPEATS", repeats.to_string())
        .spawn()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "the scanning process failed"
    );
    alternate();
    let child_scans: Vec<Duration> = out
        .lines()
        .map(|l| Duration::from_nanos(l.strip_prefix("scan ").unwrap().parse().unwrap()))
        .collect();
    assert_eq!(child_scans.len(), repeats);
    let (own, local_ro, other) = (
        median_rate(own),
        median_rate(local_ro),
        median_rate(child_scans),
    );
    println!(
        "\nread_follower/100B, median scan (records/s; {} scans each in this process, \
         taking turns, {repeats} in the other):\n  \
         writer store, this process: {:.2} M\n  \
         read-only store, this process: {:.2} M ({:.3}× the writer store)\n  \
         read-only store, other process: {:.2} M ({:.3}× the writer store)\n",
        2 * repeats,
        own / 1e6,
        local_ro / 1e6,
        local_ro / own,
        other / 1e6,
        other / own,
    );
    drop(reader);
    ro_store.close().unwrap();
    drop(writer);
    store.close().unwrap();
}

criterion_group!(benches, bench_follower_scan);

// criterion_main!, after a check for the child's role (a child runs no benchmark).
fn main() {
    if let Some((role, dir)) = common::child_role() {
        assert_eq!(role, SCAN_ROLE, "unknown child role");
        return scanner(&dir);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
