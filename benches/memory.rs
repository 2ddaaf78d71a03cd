//! Heap memory against bytes stored (issue 6: "flat in bytes stored").
//!
//! Appends 100 B records in batches of 100 to one partition (default topic configuration
//! but 256 MiB segments, so that several segments roll) in 8 equal steps, and after each
//! step prints `RssAnon` (heap and other anonymous memory: what pagelog itself holds) and
//! `RssFile` (file pages mapped into the process: the page cache, reclaimable by the
//! kernel) from `/proc/self/status`; then once more after a full sequential read of
//! everything and after closing the store.
//!
//! `PAGELOG_MEMORY_GIB` sets how much to write (GiB of record values, fractions allowed;
//! default 1, which takes some 10 s here). Without `--bench`
//! (as in `cargo test --benches`) it writes 64 MiB as a smoke test. The store lives in the
//! system temp dir (`/tmp`, the real disk on the benchmark machine; `PAGELOG_BENCH_DISK_DIR`
//! overrides), which must have the room (checked first) and is removed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "benchmark data and figures: offsets, sizes and counts are small, and rates and latencies are printed as floats"
)]

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

use pagelog::{NewRecord, Partition, Store, TopicConfig};

const SIZE: usize = 100;
const BATCH: usize = 100;
const STEPS: u64 = 8;

/// (`RssAnon`, `RssFile`) in KiB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing from /proc/self/status"));
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap()
    };
    (field("RssAnon:"), field("RssFile:"))
}

fn free_bytes(dir: &Path) -> u64 {
    let c = CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: an all-zero statvfs is a valid value for this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid, writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &raw mut st) };
    assert_eq!(rc, 0, "statvfs: {}", std::io::Error::last_os_error());
    st.f_bavail as u64 * st.f_frsize as u64
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn row(what: &str, p: Option<&Partition>) {
    let (anon, file) = rss();
    let (bytes, segs) = match p {
        Some(p) => {
            let i = p.info();
            (
                format!("{:.2}", i.bytes as f64 / (1u64 << 30) as f64),
                i.segments.to_string(),
            )
        }
        None => (String::new(), String::new()),
    };
    println!(
        "| {what} | {bytes} | {segs} | {} | {} |",
        mib(anon),
        mib(file)
    );
}

fn main() {
    let gib: f64 = common::size_param("PAGELOG_MEMORY_GIB", 1.0, 1.0 / 16.0);
    let value_bytes = (gib * (1u64 << 30) as f64) as u64;
    let batches = (value_bytes / (SIZE * BATCH) as u64).max(STEPS);
    let per_step = batches / STEPS;

    let dir = common::disk_dir();
    let need = value_bytes + value_bytes / 5 + (1 << 30);
    let free = free_bytes(dir.path());
    assert!(
        free > need,
        "{} has {free} bytes free, this run needs about {need}",
        dir.path().display()
    );

    println!(
        "\nmemory while writing {gib} GiB of 100 B values in batches of 100 \
         ({} records), 256 MiB segments, into {}\n",
        per_step * STEPS * BATCH as u64,
        dir.path().display()
    );
    println!("| after | GiB stored | segments | RssAnon MiB | RssFile MiB |");
    println!("|---|---:|---:|---:|---:|");
    row("start (no store)", None);
    let store = Store::open(dir.path().join("store")).unwrap();
    let topic = store
        .create_topic("mem", TopicConfig::default().segment_bytes(256 << 20))
        .unwrap();
    let p = topic.partition(0).unwrap();
    row("opening the store", Some(p));

    let vals: Vec<[u8; SIZE]> = (0..BATCH)
        .map(|i| {
            let mut v = [0u8; SIZE];
            v[0] = i as u8;
            v
        })
        .collect();
    let recs: Vec<NewRecord<'_>> = vals.iter().map(|v| NewRecord::new(v)).collect();
    let t = Instant::now();
    for step in 1..=STEPS {
        for _ in 0..per_step {
            p.append_batch(&recs).unwrap();
        }
        row(&format!("write step {step}/{STEPS}"), Some(p));
    }
    let wrote = t.elapsed();
    p.flush().unwrap();
    row("flush", Some(p));

    let t = Instant::now();
    let mut n = 0u64;
    let mut sum = 0u64;
    for r in p {
        sum += u64::from(r.unwrap().value()[0]);
        n += 1;
    }
    assert_eq!(n, per_step * STEPS * BATCH as u64);
    std::hint::black_box(sum);
    let read = t.elapsed();
    row("full sequential read", Some(p));
    drop(topic);
    store.close().unwrap();
    row("Store::close", None);
    println!("\nwrite {wrote:.1?}, read {read:.1?}");
    drop(dir);
}
