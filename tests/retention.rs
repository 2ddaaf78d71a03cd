//! Retention: by size, by age, by start offset, consumer-aware, in the background, hooks,
//! and crash-safe deletion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pagelog::{
    ConsumerConfig, Error, FlushPolicy, NewRecord, Partition, SegmentInfo, Store, StoreOptions,
    TopicConfig,
};

const VALUE: [u8; 400] = [5u8; 400];

fn config() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(512)
        .flush(FlushPolicy::Never)
}

/// Appends until the partition has `segments` segments; returns the next offset.
fn fill(p: &Partition, segments: usize, ts: Option<i64>) -> u64 {
    while p.info().segments < segments {
        let mut r = NewRecord::new(&VALUE);
        r.timestamp = ts;
        p.append(r).unwrap();
    }
    p.next_offset()
}

#[test]
fn size_retention_keeps_a_suffix_and_the_next_offset() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store
        .create_topic("t", config().retention_bytes(Some(10_000)))
        .unwrap();
    let p = t.partition(0).unwrap().clone();
    let old_view = p.read(0).unwrap();
    assert!(old_view.is_none());
    p.append(NewRecord::new(b"first")).unwrap();
    let first = p.read(0).unwrap().unwrap();
    let next = fill(&p, 10, None);
    let report = t.enforce_retention().unwrap();
    assert!(report.segments_deleted > 0);
    let info = p.info();
    assert!(
        info.bytes >= 10_000 && info.bytes < 10_000 + 4096,
        "{info:?}"
    );
    assert_eq!(p.next_offset(), next, "retention never moves the end");
    assert!(p.start_offset() > 0);
    assert!(
        matches!(p.read(0), Err(Error::OffsetOutOfRange { start, .. }) if start == p.start_offset())
    );
    assert_eq!(
        first.value(),
        b"first",
        "a view outlives its deleted segment"
    );
    assert_eq!(p.iter().next().unwrap().unwrap().offset(), p.start_offset());
    // The files are gone; only the kept segments remain.
    let logs = common::count_ending(p.dir(), ".log");
    assert_eq!(logs, p.info().segments);
}

#[test]
fn age_retention_deletes_old_segments_but_never_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store
        .create_topic("t", config().retention_ms(Some(60_000)))
        .unwrap();
    let p = t.partition(0).unwrap().clone();
    let next = fill(&p, 5, Some(1_000)); // timestamps from 1970: long expired
    t.enforce_retention().unwrap();
    assert_eq!(p.info().segments, 1, "only the active segment survives");
    assert_eq!(p.next_offset(), next);
    assert_eq!(p.append(NewRecord::new(b"new")).unwrap(), next);
    // That append rolled by age (it is far newer than the segment's first record), so the
    // segment of old records is sealed and expired too; the fresh ones stay.
    fill(&p, 3, None);
    t.enforce_retention().unwrap();
    assert_eq!(p.start_offset(), next, "exactly the old records are gone");
    assert_eq!(p.iter().next().unwrap().unwrap().value(), b"new");
}

#[test]
fn delete_records_before_raises_the_start_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let (start, next) = {
        let store = Store::open(dir.path()).unwrap();
        let p = common::partition0(&store, "t", config());
        let next = fill(&p, 4, None);
        let mid = next / 2;
        assert_eq!(p.delete_records_before(mid).unwrap(), mid);
        assert_eq!(p.start_offset(), mid);
        assert!(matches!(
            p.read(mid - 1),
            Err(Error::OffsetOutOfRange { .. })
        ));
        assert_eq!(p.read(mid).unwrap().unwrap().offset(), mid);
        assert_eq!(p.iter().next().unwrap().unwrap().offset(), mid);
        assert!(
            p.info().segments < 4,
            "whole segments below the start are gone"
        );
        assert_eq!(p.delete_records_before(1).unwrap(), mid, "never lowered");
        store.crash();
        (mid, next)
    };
    let store = Store::open(dir.path()).unwrap();
    let p = common::open_partition0(&store, "t");
    assert_eq!(p.start_offset(), start, "survives a crash");
    assert_eq!(p.next_offset(), next);
    assert_eq!(
        p.delete_records_before(u64::MAX).unwrap(),
        next,
        "capped at the end"
    );
    store.close().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::open_partition0(&store, "t");
    assert_eq!(p.start_offset(), next, "survives a clean close");
    assert!(p.read(next).unwrap().is_none());
    assert_eq!(p.append(NewRecord::new(b"x")).unwrap(), next);
}

/// Topic "t" with consumer-aware retention over a 4 KiB size limit, and its partition.
fn consumer_aware(store: &Store) -> (pagelog::Topic, Partition) {
    let c = config()
        .retention_bytes(Some(4096))
        .retain_until_consumed(true);
    let t = store.create_topic("t", c).unwrap();
    let p = t.partition(0).unwrap().clone();
    (t, p)
}

#[test]
fn a_live_consumer_that_has_not_committed_yet_holds_retention_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (t, p) = consumer_aware(&store);
    // Joined, reading, never committed: no offsets file exists.
    let mut consumer = t
        .consumer("new", ConsumerConfig::default().auto_commit(None))
        .unwrap();
    fill(&p, 6, None);
    assert!(!consumer.poll(Duration::from_secs(30)).unwrap().is_empty());
    assert!(t.groups().unwrap().is_empty(), "no offsets file yet");
    let report = t.enforce_retention().unwrap();
    assert_eq!(report.segments_deleted, 0);
    assert_eq!(report.kept_for_groups, 1);
    assert_eq!(p.start_offset(), 0, "background passes kept it too");
    // Gone without a commit: nothing holds the records any more.
    drop(consumer);
    t.enforce_retention().unwrap();
    assert!(p.start_offset() > 0);
}

#[test]
fn consumer_aware_retention_waits_for_commits_unless_the_hard_cap_is_hit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (t, p) = consumer_aware(&store);
    let mut consumer = t.consumer("slow", ConsumerConfig::default()).unwrap();
    consumer.commit().unwrap(); // the group exists and has consumed nothing
    let next = fill(&p, 6, None);
    let report = t.enforce_retention().unwrap();
    assert_eq!(report.segments_deleted, 0);
    assert_eq!(report.kept_for_groups, 1);
    assert_eq!(p.start_offset(), 0);
    // Consume half, commit: the consumed segments may go.
    let mut got = 0;
    while got < next / 2 {
        got += consumer.poll(Duration::from_secs(30)).unwrap().len() as u64;
    }
    consumer.commit().unwrap();
    t.enforce_retention().unwrap(); // (the background may have done it already)
    assert!(p.start_offset() > 0);
    let committed = t.committed_offsets("slow").unwrap()[0].unwrap();
    assert!(
        p.start_offset() <= committed,
        "nothing unconsumed was deleted"
    );
    drop(consumer);

    // With a hard cap, unconsumed data goes anyway, and that is reported.
    let c = config()
        .retention_bytes(Some(4096))
        .retain_until_consumed(true)
        .retention_hard_bytes(Some(12_000));
    let t = store.create_topic("capped", c).unwrap();
    let p = t.partition(0).unwrap().clone();
    t.consumer("idle", ConsumerConfig::default())
        .unwrap()
        .commit()
        .unwrap();
    fill(&p, 8, None);
    t.enforce_retention().unwrap();
    assert!(p.info().forced_deletions > 0, "{:?}", p.info());
    assert!(p.info().bytes <= 12_000);
    assert_eq!(
        t.committed_offsets("idle").unwrap()[0],
        Some(0),
        "the group consumed nothing"
    );
}

#[test]
fn retention_runs_in_the_background_after_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store
        .create_topic("t", config().retention_bytes(Some(8192)))
        .unwrap();
    let p = t.partition(0).unwrap().clone();
    fill(&p, 12, None);
    common::eventually("background retention", || p.info().bytes < 8192 + 4096);
}

#[test]
fn hooks_see_sealed_segments_and_can_veto_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let sealed: Arc<Mutex<Vec<SegmentInfo>>> = Arc::default();
    let deleted: Arc<Mutex<Vec<u64>>> = Arc::default();
    let options = {
        let (sealed, deleted) = (Arc::clone(&sealed), Arc::clone(&deleted));
        StoreOptions::default()
            .on_segment_sealed(Arc::new(move |s: &SegmentInfo| {
                assert!(s.log_path.exists(), "called before anything deletes it");
                sealed.lock().unwrap().push(s.clone());
                Ok(())
            }))
            .before_segment_delete(Arc::new(move |s: &SegmentInfo| {
                let mut d = deleted.lock().unwrap();
                if d.len() == 2 {
                    return Err("archive unavailable".into());
                }
                d.push(s.base_offset);
                Ok(())
            }))
    };
    let store = Store::open_with(dir.path(), options).unwrap();
    let t = store.create_topic("t", config()).unwrap();
    let p = t.partition(0).unwrap().clone();
    fill(&p, 5, None);
    common::eventually("four seal hooks", || sealed.lock().unwrap().len() == 4);
    let infos = sealed.lock().unwrap().clone();
    for w in infos.windows(2) {
        assert_eq!(w[0].next_offset, w[1].base_offset, "contiguous, in order");
    }
    assert_eq!(infos[0].topic, "t");
    assert_eq!(
        infos[0].size,
        std::fs::metadata(&infos[0].log_path).unwrap().len()
    );
    // Delete everything below the end: the hook lets two segments go, then vetoes.
    let report = {
        p.delete_records_before(p.next_offset()).unwrap();
        store.background_errors()
    };
    assert_eq!(deleted.lock().unwrap().len(), 2);
    assert_eq!(
        p.info().segments,
        3,
        "the vetoed segment and everything after it stay"
    );
    // Each pass that meets the veto reports it: this one, and a background pass (run after a
    // roll) if one got there too.
    assert!(!report.is_empty(), "the veto is reported");
    assert!(
        report.iter().all(|r| r.contains("archive unavailable")),
        "{report:?}"
    );
}

#[test]
fn interrupted_deletions_are_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let p = common::partition0(&store, "t", config());
        fill(&p, 3, None);
        store.close().unwrap();
    }
    // Simulate a crash after the first segment's files were renamed for deletion.
    let pdir = dir.path().join("t").join("0");
    for ext in ["log", "index", "timeindex"] {
        let f = pdir.join(format!("00000000000000000000.{ext}"));
        std::fs::rename(&f, pdir.join(format!("00000000000000000000.{ext}.deleted"))).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let p = common::open_partition0(&store, "t");
    assert!(p.start_offset() > 0);
    assert_eq!(p.info().segments, 2);
    let leftovers = common::count_ending(&pdir, ".deleted");
    assert_eq!(leftovers, 0);
    assert_eq!(p.iter().count() as u64, p.next_offset() - p.start_offset());
}

#[test]
fn segments_sealed_before_close_still_get_their_hook() {
    let dir = tempfile::tempdir().unwrap();
    let sealed: Arc<Mutex<Vec<u64>>> = Arc::default();
    let options = {
        let sealed = Arc::clone(&sealed);
        StoreOptions::default().on_segment_sealed(Arc::new(move |s: &SegmentInfo| {
            sealed.lock().unwrap().push(s.base_offset);
            Ok(())
        }))
    };
    let store = Store::open_with(dir.path(), options).unwrap();
    let p = common::partition0(&store, "t", config());
    fill(&p, 8, None);
    store.close().unwrap();
    let mut got = sealed.lock().unwrap().clone();
    got.sort_unstable();
    let all = got.len();
    got.dedup();
    assert_eq!(
        (all, got.len()),
        (7, 7),
        "every sealed segment, exactly once: {got:?}"
    );
}

/// A seal hook that records the base offsets it accepted, and fails (recording nothing) while
/// `fail` says so for the call about to be made (numbered from 0).
fn recording_hook(
    accepted: &Arc<Mutex<Vec<u64>>>,
    fail: impl Fn(usize) -> bool + Send + Sync + 'static,
) -> StoreOptions {
    let accepted = Arc::clone(accepted);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    StoreOptions::default().on_segment_sealed(Arc::new(move |s: &SegmentInfo| {
        if fail(calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) {
            return Err("archive unavailable".into());
        }
        accepted.lock().unwrap().push(s.base_offset);
        Ok(())
    }))
}

/// Base offsets of the partition's sealed segments (all but the active one).
fn sealed_bases(p: &Partition) -> Vec<u64> {
    let mut bases: Vec<u64> = p
        .segment_paths()
        .iter()
        .filter_map(|s| s.log.file_stem()?.to_str()?.parse().ok())
        .collect();
    bases.pop();
    bases
}

/// Creates topic "t" in a store at `dir` opened with `options`, fills its partition to
/// `segments` segments, closes the store and returns the sealed segments' bases.
fn closed_after_sealing(dir: &std::path::Path, options: StoreOptions, segments: usize) -> Vec<u64> {
    let store = Store::open_with(dir, options).unwrap();
    let p = common::partition0(&store, "t", config());
    fill(&p, segments, None);
    let sealed = sealed_bases(&p);
    drop(p);
    store.close().unwrap();
    sealed
}

/// Opens the store at `dir` with `options`, runs `f` on it and topic "t"'s partition, then
/// closes the store (which runs the seal hook for what it has not accepted).
fn reopened<T>(
    dir: &std::path::Path,
    options: StoreOptions,
    f: impl FnOnce(&Store, &Partition) -> T,
) -> T {
    let store = Store::open_with(dir, options).unwrap();
    let p = common::open_partition0(&store, "t");
    let out = f(&store, &p);
    drop(p);
    store.close().unwrap();
    out
}

#[test]
fn segments_the_hook_did_not_accept_before_a_crash_reach_it_after_the_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let accepted: Arc<Mutex<Vec<u64>>> = Arc::default();
    {
        // The archive is down for the whole life of this store, which then crashes.
        let store = Store::open_with(dir.path(), recording_hook(&accepted, |_| true)).unwrap();
        let p = common::partition0(&store, "t", config());
        fill(&p, 5, None);
        p.flush().unwrap();
        store.crash();
    }
    assert!(accepted.lock().unwrap().is_empty());
    let sealed = reopened(dir.path(), recording_hook(&accepted, |_| false), |_, p| {
        sealed_bases(p)
    });
    assert_eq!(sealed.len(), 4);
    // Every segment sealed before the crash, once, in order: nothing was accepted before.
    assert_eq!(*accepted.lock().unwrap(), sealed);
}

#[test]
fn the_hook_resumes_after_a_failure_and_a_restart_without_repeating_what_it_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let accepted: Arc<Mutex<Vec<u64>>> = Arc::default();
    // The first call fails; later ones succeed.
    let sealed = closed_after_sealing(dir.path(), recording_hook(&accepted, |n| n == 0), 5);
    // The failed segment was passed again (the first one: runs stop at a failure and keep
    // the order), and everything was accepted by the close, in order.
    assert_eq!(*accepted.lock().unwrap(), sealed);
    assert!(dir.path().join("t").join("0").join("hooked").is_file());
    // Reopened with nothing new sealed: nothing is passed again.
    reopened(dir.path(), recording_hook(&accepted, |_| false), |_, p| {
        p.append(NewRecord::new(&VALUE)).unwrap()
    });
    assert_eq!(*accepted.lock().unwrap(), sealed);
}

#[test]
fn segments_sealed_again_after_a_truncation_reach_the_hook_again() {
    let dir = tempfile::tempdir().unwrap();
    let accepted: Arc<Mutex<Vec<u64>>> = Arc::default();
    let store = Store::open_with(dir.path(), recording_hook(&accepted, |_| false)).unwrap();
    let p = common::partition0(&store, "t", config());
    fill(&p, 5, None);
    let before = sealed_bases(&p);
    common::eventually("the four sealed segments accepted", || {
        *accepted.lock().unwrap() == before
    });
    // Cut inside the third segment: it becomes the active one again, with new contents.
    p.truncate_to(before[2] + 2).unwrap();
    fill(&p, 5, None);
    let after = sealed_bases(&p);
    assert_eq!(after[..2], before[..2]);
    drop(p);
    store.close().unwrap();
    // The segments sealed after the cut, from the third on, are passed again; the first two
    // are not.
    let got = accepted.lock().unwrap().clone();
    assert_eq!(got[..4], before[..]);
    assert_eq!(got[4..], after[2..], "{got:?}");
}

#[test]
fn a_damaged_hook_mark_is_reported_and_every_sealed_segment_passed_again() {
    let dir = tempfile::tempdir().unwrap();
    let accepted: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sealed = closed_after_sealing(dir.path(), recording_hook(&accepted, |_| false), 4);
    assert_eq!(*accepted.lock().unwrap(), sealed);
    let mark = dir.path().join("t").join("0").join("hooked");
    let mut bytes = std::fs::read(&mark).unwrap();
    bytes[13] ^= 0x40;
    std::fs::write(&mark, &bytes).unwrap();
    accepted.lock().unwrap().clear();
    let errors = reopened(dir.path(), recording_hook(&accepted, |_| false), |s, _| {
        s.background_errors()
    });
    assert!(
        errors.iter().any(|e| e.contains("hooked")),
        "reported: {errors:?}"
    );
    // Read as 0: at-least-once, never a segment skipped.
    assert_eq!(*accepted.lock().unwrap(), sealed);
}

/// Records an iterator hands out across segment boundaries each hold their own segment's
/// bytes (the first record of each segment too, where the iterator moves to the next
/// segment's mapping), and keep them after retention deletes those segments.
#[test]
fn records_kept_across_segments_outlive_their_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic("t", config()).unwrap();
    let p = t.partition(0).unwrap().clone();
    let value = |i: u64| {
        let mut v = [0u8; 300];
        for (j, b) in (0u64..).zip(v.iter_mut()) {
            *b = (i * 31 + j).to_le_bytes()[0];
        }
        v
    };
    let mut i = 0;
    while p.info().segments < 6 {
        p.append(NewRecord::new(&value(i))).unwrap();
        i += 1;
    }
    let kept: Vec<_> = p.iter().map(Result::unwrap).collect();
    assert_eq!(kept.len() as u64, i);
    let deleted = p.delete_records_before(i - 1).unwrap();
    assert!(p.info().segments < 6, "segments deleted: {deleted}");
    for (n, r) in (0u64..).zip(&kept) {
        assert_eq!(r.offset(), n);
        assert_eq!(r.value(), value(n), "record {n}");
    }
}
