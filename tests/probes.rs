//! Promises of the README and the rustdoc probed the way a user would: handles that outlive
//! their store or topic, damaged files next to good ones, misbehaving hooks, positions past
//! the end, quiet topics, and option ranges. Each test is named after the promise it checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    reason = "test data: offsets, sizes and counts are small"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use pagelog::{
    CleanupPolicy, ConsumerConfig, Error, FlushPolicy, NewRecord, Partition, SegmentInfo, Store,
    StoreOptions, TopicConfig,
};

const LONG: Duration = Duration::from_secs(30);

fn small() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(256)
        .flush(FlushPolicy::Never)
}

fn fill(p: &Partition, n: u64) {
    for i in 0..n {
        p.append(NewRecord::new(format!("value {i:04}").as_bytes()))
            .unwrap();
    }
}

/// Polls `c` until it has returned `n` records; returns their offsets.
fn poll_n(c: &mut pagelog::Consumer, n: usize) -> Vec<u64> {
    let mut got = Vec::new();
    while got.len() < n {
        let batch = c.poll(LONG).unwrap();
        assert!(!batch.is_empty(), "timed out after {got:?}");
        got.extend(batch.iter().map(|r| r.offset()));
    }
    got
}

#[test]
fn a_consumer_that_outlives_delete_topic_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic("t", small()).unwrap();
    fill(t.partition(0).unwrap(), 3);
    let auto = ConsumerConfig::default().auto_commit(Some(Duration::from_secs(60)));
    let mut c = t.consumer("g", auto.clone()).unwrap();
    assert_eq!(poll_n(&mut c, 3), [0, 1, 2]);
    store.delete_topic("t").unwrap();
    assert!(
        matches!(c.commit(), Err(Error::Closed(_))),
        "a commit into a deleted topic is refused"
    );
    assert!(matches!(t.consumer("h", auto), Err(Error::Closed(_))));
    drop(c); // its auto-commit is refused as well
    assert!(
        !dir.path().join("t").exists(),
        "nothing re-created the deleted topic's directory"
    );
    store.create_topic("t", small()).unwrap();
    store.delete_topic("t").unwrap();
}

#[test]
fn a_consumer_of_a_closed_store_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic("t", small()).unwrap();
    fill(t.partition(0).unwrap(), 60);
    let manual = ConsumerConfig::default().auto_commit(None);
    let mut stale = t.consumer("g", manual.clone()).unwrap();
    assert_eq!(poll_n(&mut stale, 60).len(), 60);
    store.close().unwrap();
    assert!(matches!(
        t.consumer("other", manual.clone()),
        Err(Error::Closed(_))
    ));

    let store = Store::open(dir.path()).unwrap();
    let t2 = store.topic("t").unwrap();
    let mut fresh = t2.consumer("g", manual).unwrap();
    fresh.seek(0, 20).unwrap();
    fresh.commit().unwrap();
    assert!(matches!(stale.commit(), Err(Error::Closed(_))));
    drop(stale);
    assert_eq!(t2.committed_offsets("g").unwrap(), vec![Some(20)]);
    drop(fresh);
    drop(t2);
    store.close().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.topic("t").unwrap().committed_offsets("g").unwrap(),
        vec![Some(20)],
        "on disk too"
    );
}

/// Writes a foreign `groups/legacy.offsets` into topic directory `topic_dir`.
fn foreign_offsets_file(topic_dir: &std::path::Path) {
    std::fs::create_dir_all(topic_dir.join("groups")).unwrap();
    std::fs::write(topic_dir.join("groups").join("legacy.offsets"), b"hello").unwrap();
}

#[test]
fn a_damaged_offsets_file_does_not_block_truncation_or_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic("t", small()).unwrap();
    let p = t.partition(0).unwrap().clone();
    fill(&p, 100);
    foreign_offsets_file(t.dir());
    p.truncate_to(50).unwrap();
    assert_eq!(p.next_offset(), 50);
    assert_eq!(p.append(NewRecord::new(b"after")).unwrap(), 50);
    let errors = store.background_errors();
    assert!(
        errors.iter().any(|e| e.contains("legacy.offsets")),
        "the damaged file is reported: {errors:?}"
    );
    assert_eq!(t.groups().unwrap(), ["legacy"], "still listed");
    assert!(
        matches!(t.committed_offsets("legacy"), Err(Error::Corrupt { .. })),
        "asking for that group's offsets says it is damaged"
    );
    drop((p, t));
    store.close().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.topic("t").unwrap();
    assert_eq!(t.partition(0).unwrap().next_offset(), 51);
    assert!(!t.dir().join("0").join("truncate").exists());
}

#[test]
fn a_damaged_offsets_file_holds_consumer_aware_retention_back_without_failing_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = small()
        .retention_bytes(Some(4096))
        .retain_until_consumed(true)
        .retention_hard_bytes(Some(12_000));
    let t = store.create_topic("t", c).unwrap();
    let p = t.partition(0).unwrap().clone();
    foreign_offsets_file(t.dir());
    while p.info().segments < 8 {
        fill(&p, 10);
    }
    let report = p.enforce_retention().unwrap();
    assert_eq!(
        report.kept_for_groups, 1,
        "a group whose file cannot be read counts as never committed: it holds the rest"
    );
    assert!(p.info().forced_deletions > 0, "the hard cap still deletes");
    assert!(p.info().bytes <= 12_000);
    assert!(
        store
            .background_errors()
            .iter()
            .any(|e| e.contains("legacy.offsets"))
    );
}

#[test]
fn a_panicking_hook_is_reported_and_the_flusher_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default()
        .on_segment_sealed(Arc::new(|_: &SegmentInfo| panic!("sealed hook bug")))
        .before_segment_delete(Arc::new(|_: &SegmentInfo| panic!("delete hook bug")));
    let store = Store::open_with(dir.path(), options).unwrap();
    let c = small()
        .flush(FlushPolicy::Interval(Duration::from_millis(50)))
        .retention_bytes(Some(4096));
    let p = common::partition0(&store, "t", c);
    while p.info().segments < 4 {
        fill(&p, 10);
    }
    let mut errors = Vec::new();
    common::eventually("both hook panics reported", || {
        errors.extend(store.background_errors());
        ["sealed hook bug", "delete hook bug"]
            .iter()
            .all(|m| errors.iter().any(|e| e.contains(m)))
    });
    // The flusher still performs interval syncs.
    p.append(NewRecord::new(b"later")).unwrap();
    let end = p.next_offset();
    common::eventually("an interval sync", || p.durable_offset() >= end);
    // On the caller's thread the panic is a hook error too: the segment is kept.
    let segments = p.info().segments;
    let report = p.enforce_retention().unwrap();
    assert_eq!(report.segments_deleted, 0);
    assert!(
        report
            .hook_errors
            .iter()
            .any(|e| e.contains("delete hook bug")),
        "{report:?}"
    );
    assert_eq!(p.info().segments, segments);
    drop(p);
    // The close runs the seal hook for what it has not accepted: that panic is caught too.
    store.close().unwrap();
}

#[test]
fn seeking_past_the_end_moves_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic("t", small()).unwrap();
    let p = t.partition(0).unwrap().clone();
    fill(&p, 10);
    let mut it = p.iter();
    it.seek(1000);
    let mut c = t
        .consumer("g", ConsumerConfig::default().auto_commit(None))
        .unwrap();
    c.seek(0, 1000).unwrap();
    c.commit().unwrap();
    assert_eq!(t.committed_offsets("g").unwrap(), vec![Some(10)]);
    fill(&p, 6);
    assert_eq!(t.group_lag("g").unwrap(), vec![6]);
    let offsets: Vec<u64> = it.map(|r| r.unwrap().offset()).collect();
    assert_eq!(offsets, (10..16).collect::<Vec<_>>());
    assert_eq!(poll_n(&mut c, 6), (10..16).collect::<Vec<_>>());
}

#[test]
fn commit_after_a_truncation_stores_the_new_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic("t", small()).unwrap();
    let p = t.partition(0).unwrap().clone();
    fill(&p, 10);
    let mut c = t
        .consumer("g", ConsumerConfig::default().auto_commit(None))
        .unwrap();
    assert_eq!(poll_n(&mut c, 10).len(), 10);
    c.commit().unwrap();
    p.truncate_to(5).unwrap();
    assert_eq!(t.committed_offsets("g").unwrap(), vec![Some(5)]);
    fill(&p, 5);
    assert_eq!(poll_n(&mut c, 5), [5, 6, 7, 8, 9]);
    c.commit().unwrap();
    assert_eq!(t.committed_offsets("g").unwrap(), vec![Some(10)]);
}

/// A tombstone for `key` whose timestamp is `age_ms` in the past, then 30 key-less 200-byte
/// records, so that the tombstone's segment is sealed.
fn tombstone_then_filler(p: &Partition, age_ms: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    p.append(NewRecord::tombstone(b"gone").timestamp(now - age_ms))
        .unwrap();
    for _ in 0..30 {
        p.append(NewRecord::new(&[7u8; 200])).unwrap();
    }
    assert!(p.info().segments > 1, "the tombstone's segment is sealed");
}

fn has_tombstone(p: &Partition) -> bool {
    p.iter().any(|r| r.unwrap().value_opt().is_none())
}

#[test]
fn an_expired_tombstone_goes_on_a_quiet_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Kept for 3 s after its timestamp, which lies 1 s back: it expires in about 2 s.
    let p = common::partition0(&store, "t", small().delete_retention_ms(3000));
    tombstone_then_filler(&p, 1000);
    let first = p.compact().unwrap();
    assert_eq!(first.tombstones_removed, 0, "not expired yet");
    assert!(has_tombstone(&p));
    // Nothing is appended any more; a later pass drops the tombstone once it has expired.
    let mut removed = 0;
    common::eventually("a pass that drops the expired tombstone", || {
        removed += p.compact().unwrap().tombstones_removed;
        removed > 0
    });
    assert_eq!(removed, 1);
    assert!(!has_tombstone(&p));
}

#[test]
fn an_expired_tombstone_goes_in_the_background_on_a_quiet_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = small()
        .cleanup_policy(CleanupPolicy::Compact)
        .delete_retention_ms(3000);
    let p = common::partition0(&store, "t", c);
    tombstone_then_filler(&p, 1000);
    common::eventually("background compaction drops the expired tombstone", || {
        !has_tombstone(&p)
    });
    assert!(store.background_errors().is_empty());
}

#[test]
fn options_out_of_range_are_refused_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    for (options, given) in [
        (
            StoreOptions::default().retention_check_interval(Some(Duration::ZERO)),
            "0ns",
        ),
        (StoreOptions::default().compaction_max_keys(0), "0"),
    ] {
        match Store::open_with(&root, options) {
            Err(Error::InvalidConfig(m)) => assert!(m.contains(given), "{m}"),
            other => panic!("accepted: {other:?}"),
        }
    }
    assert!(!root.exists(), "refused before anything was created");
    assert!(StoreOptions::default().validate().is_ok());
}

#[test]
fn invalid_config_messages_name_the_value_given() {
    let max = format!("{:?}", Duration::MAX);
    let cases: Vec<(pagelog::Result<()>, &str)> = vec![
        (
            TopicConfig::default()
                .flush(FlushPolicy::Interval(Duration::MAX))
                .validate(),
            &max,
        ),
        (
            TopicConfig::default()
                .flush(FlushPolicy::Interval(Duration::from_micros(10)))
                .validate(),
            "10µs",
        ),
        (
            TopicConfig::default()
                .flush(FlushPolicy::EveryRecords(0))
                .validate(),
            "got 0",
        ),
        (
            TopicConfig::default().retention_bytes(Some(0)).validate(),
            "got 0",
        ),
        (
            TopicConfig::default()
                .retention_ms(Some(u64::MAX))
                .validate(),
            "got 18446744073709551615",
        ),
        (
            ConsumerConfig::default().max_poll_bytes(0).validate(),
            "got 0",
        ),
        (
            ConsumerConfig::default()
                .auto_commit(Some(Duration::ZERO))
                .validate(),
            "0ns",
        ),
    ];
    for (result, given) in cases {
        match result {
            Err(Error::InvalidConfig(m)) => {
                assert!(m.contains(given), "{m:?} does not name {given:?}");
                assert!(
                    !(given == max && m.contains("at least 1 ms")),
                    "{m:?} names the wrong bound"
                );
            }
            other => panic!("accepted: {other:?}"),
        }
    }
}

#[cfg(unix)]
#[test]
fn a_segment_log_that_is_not_a_regular_file_refuses_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, next) = {
        let store = Store::open(dir.path()).unwrap();
        let p = common::partition0(&store, "t", small());
        while p.info().segments < 3 {
            fill(&p, 10);
        }
        let logs: Vec<_> = p.segment_paths().into_iter().map(|s| s.log).collect();
        let next = p.next_offset();
        drop(p);
        store.close().unwrap();
        (logs, next)
    };
    let moved = dir.path().join("moved.log");
    // The active log, then a sealed one, replaced by a symbolic link to it: the active one's
    // offsets must not be handed out again, nor the segments after a sealed one dropped.
    for log in [&logs[2], &logs[0]] {
        std::fs::rename(log, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, log).unwrap();
        let store = Store::open(dir.path()).unwrap();
        match store.topic("t") {
            Err(Error::Corrupt { path, reason, .. }) => {
                assert_eq!(&path, log);
                assert_eq!(
                    reason,
                    pagelog::Corruption::NotRegularFile {
                        found: "a symbolic link"
                    }
                );
            }
            other => panic!("opened: {:?}", other.map(|t| t.partitions()[0].info())),
        }
        drop(store);
        std::fs::remove_file(log).unwrap();
        std::fs::rename(&moved, log).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let p = common::open_partition0(&store, "t");
    assert_eq!(
        (p.info().segments, p.next_offset()),
        (3, next),
        "nothing lost"
    );
}
