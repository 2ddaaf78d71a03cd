//! What each flush policy reports as durable, and the background flusher's work.
//!
//! Power loss itself is simulated in the reliability suite; here we check the bookkeeping:
//! `durable_offset()` only ever covers records that a real sync made durable, and the
//! policies sync when they say they do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use pagelog::codec::meta::decode_checkpoint;
use pagelog::{FlushPolicy, NewRecord, Partition, Store, TopicConfig};

fn topic(store: &Store, name: &str, flush: FlushPolicy) -> Partition {
    let c = TopicConfig::default().segment_bytes(8192).flush(flush);
    store
        .create_topic(name, c)
        .unwrap()
        .partition(0)
        .unwrap()
        .clone()
}

#[test]
fn every_append_is_durable_on_return() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", FlushPolicy::EveryAppend);
    for i in 0..50u64 {
        let o = p.append(NewRecord::new(b"x")).unwrap();
        assert_eq!(o, i);
        assert!(p.durable_offset() > o);
    }
}

#[test]
fn every_records_syncs_at_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", FlushPolicy::EveryRecords(10));
    for _ in 0..9 {
        p.append(NewRecord::new(b"x")).unwrap();
    }
    assert_eq!(p.durable_offset(), 0);
    p.append(NewRecord::new(b"x")).unwrap();
    assert_eq!(p.durable_offset(), 10);
    p.append_batch(&[NewRecord::new(b"a"); 12]).unwrap();
    assert_eq!(
        p.durable_offset(),
        22,
        "a batch crossing the threshold syncs"
    );
}

#[test]
fn never_syncs_only_on_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", FlushPolicy::Never);
    p.append_batch(&[NewRecord::new(b"x"); 5]).unwrap();
    assert_eq!(p.durable_offset(), 0);
    p.flush().unwrap();
    assert_eq!(p.durable_offset(), 5);
}

#[test]
fn interval_policy_syncs_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", FlushPolicy::Interval(Duration::from_millis(5)));
    p.append_batch(&[NewRecord::new(b"x"); 3]).unwrap();
    common::eventually("the flusher to sync", || p.durable_offset() == 3);
    p.append(NewRecord::new(b"y")).unwrap();
    common::eventually("the flusher to sync again", || p.durable_offset() == 4);
}

#[test]
fn rolled_segments_advance_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", FlushPolicy::Never);
    let value = [9u8; 500];
    while p.info().segments < 3 {
        p.append(NewRecord::new(&value)).unwrap();
    }
    let cp = p.dir().join("checkpoint");
    let first_rolled = p.segment_paths()[1].clone();
    let want = first_rolled
        .log
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap();
    common::eventually("the recovery point to pass the first segment", || {
        let bytes = std::fs::read(&cp).unwrap();
        decode_checkpoint(&bytes).unwrap().recovery_point >= want
    });
}

#[test]
fn clean_close_trims_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", FlushPolicy::Never);
    p.append_batch(&[NewRecord::new(b"abc"); 7]).unwrap();
    let size = p.info().bytes;
    let paths = p.segment_paths();
    let log = paths.last().unwrap().log.clone();
    assert!(
        std::fs::metadata(&log).unwrap().len() > size,
        "preallocated while open"
    );
    store.close().unwrap();
    assert_eq!(std::fs::metadata(&log).unwrap().len(), size);
    let cp = decode_checkpoint(&std::fs::read(p.dir().join("checkpoint")).unwrap()).unwrap();
    assert!(cp.clean);
    assert_eq!(cp.next_offset, 7);
    assert_eq!(cp.active_len, size);
    assert!(
        p.append(NewRecord::new(b"late")).is_err(),
        "closed handles refuse appends"
    );
    assert!(p.flush().is_err());
    // Reading still works on a closed handle's data.
    assert_eq!(p.read(6).unwrap().unwrap().value(), b"abc");
}
