//! Descriptors and mappings of deleted segments are released as soon as no reader holds
//! them, however fast segments roll: with 8 KiB segments, 32 KiB of retention and a writer
//! that rolls a segment every few milliseconds, the number of open descriptors of deleted
//! files stays bounded (three per segment: `.log`, `.index`, `.timeindex`; a sealed segment
//! waiting for its sync counts until it is synced or deleted, and at most 16 wait before the
//! appender syncs them itself).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use pagelog::{FlushPolicy, NewRecord, Store, TopicConfig};

/// Open descriptors of this process whose file was deleted.
fn deleted_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().ends_with("(deleted)"))
        .count()
}

#[test]
fn deleted_segments_do_not_stay_open_when_rolls_outpace_the_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = TopicConfig::default()
        .segment_bytes(8 << 10)
        .index_interval_bytes(512)
        .retention_bytes(Some(32 << 10))
        .flush(FlushPolicy::Interval(Duration::from_millis(5)));
    let p = common::partition0(&store, "t", config);
    let mut tail = p.iter_from_end();
    let value = vec![b'x'; 100];
    // About 250 rolls (a record takes ~150 bytes of log), however long the machine takes:
    // the bound below must hold whatever the pace, so the loop counts rolls, not time.
    let started = Instant::now();
    let (mut appended, mut peak) = (0u64, 0usize);
    while appended * 150 / (8 << 10) < 250 {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no progress: {appended} appends"
        );
        p.append(NewRecord::new(&value)).unwrap();
        appended += 1;
        if appended.is_multiple_of(64) {
            // A reader that keeps up: it holds one segment at a time.
            while tail.next().transpose().unwrap().is_some() {}
            peak = peak.max(deleted_descriptors());
        }
    }
    assert!(p.info().start_offset > 0, "retention deleted segments");
    // 3 descriptors per segment: 16 waiting for their sync, up to 16 more held by a sync or a
    // retention pass in progress and by the reader.
    assert!(
        peak <= 3 * (16 + 16),
        "{peak} descriptors of deleted files were open at once ({appended} appends)"
    );
    store.close().unwrap();
}
