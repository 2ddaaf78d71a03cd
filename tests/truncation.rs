//! Truncation: `truncate_to` discards records at and above an offset, online and across
//! crashes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use pagelog::{Error, FlushPolicy, NewRecord, Partition, Store, TopicConfig};

fn config() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(256)
        .flush(FlushPolicy::Never)
}

fn fill(p: &Partition, n: u64) {
    let start = p.next_offset();
    for i in start..start + n {
        p.append(NewRecord::new(format!("v{i:06}").as_bytes()).key(b"k"))
            .unwrap();
    }
}

fn check_contents(p: &Partition, end: u64, tag: &str) {
    assert_eq!(p.next_offset(), end);
    let got: Vec<(u64, String)> = p
        .iter()
        .map(|r| {
            let r = r.unwrap();
            (r.offset(), String::from_utf8(r.value().to_vec()).unwrap())
        })
        .collect();
    assert_eq!(got.len() as u64, end - p.start_offset(), "{tag}");
    for (o, v) in got {
        assert_eq!(v, format!("v{o:06}"), "{tag}: offset {o}");
    }
    assert!(p.verify().is_ok(), "{tag}: {:?}", p.verify().problems);
}

#[test]
fn truncate_inside_a_segment_a_batch_and_at_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::partition0(&store, "t", config());
    fill(&p, 300);
    assert!(p.info().segments > 3);
    // Inside an older segment.
    p.truncate_to(150).unwrap();
    check_contents(&p, 150, "after 150");
    assert!(matches!(p.read(150), Ok(None)));
    assert!(matches!(
        p.read(151),
        Err(Error::OffsetOutOfRange { end: 150, .. })
    ));
    fill(&p, 10);
    check_contents(&p, 160, "appends continue");
    // Inside a batch: the records before the cut survive.
    p.append_batch(&[
        NewRecord::new(b"v000160"),
        NewRecord::new(b"v000161"),
        NewRecord::new(b"v000162"),
    ])
    .unwrap();
    p.truncate_to(162).unwrap();
    check_contents(&p, 162, "inside a batch");
    // At a segment boundary and to the very start.
    let second_base = p.segment_paths()[1]
        .log
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    p.truncate_to(second_base).unwrap();
    check_contents(&p, second_base, "at a boundary");
    p.truncate_to(0).unwrap();
    check_contents(&p, 0, "to the start");
    assert_eq!(p.info().segments, 1);
    fill(&p, 5);
    check_contents(&p, 5, "refilled");
    assert!(matches!(
        p.truncate_to(6),
        Err(Error::OffsetOutOfRange { .. })
    ));
    p.truncate_to(5).unwrap();
    check_contents(&p, 5, "no-op at the end");
}

#[test]
fn truncation_survives_reopen_and_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let p = common::partition0(&store, "t", config());
        fill(&p, 200);
        p.truncate_to(123).unwrap();
        store.crash();
    }
    let store = Store::open(dir.path()).unwrap();
    let p = common::open_partition0(&store, "t");
    check_contents(&p, 123, "after crash");
    fill(&p, 7);
    p.truncate_to(126).unwrap();
    store.close().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::open_partition0(&store, "t");
    check_contents(&p, 126, "after close");
}

/// Leaves a truncation intent for `target` in partition directory `pdir`, as a crash right
/// after it was written would.
fn write_intent(pdir: &std::path::Path, target: u64) {
    std::fs::write(
        pdir.join("truncate"),
        pagelog::codec::meta::encode_truncate(target),
    )
    .unwrap();
}

#[test]
fn an_interrupted_truncation_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let p = common::partition0(&store, "t", config());
        fill(&p, 200);
        store.crash();
    }
    // A crash right after the intent was written: nothing else happened yet.
    let pdir = dir.path().join("t").join("0");
    write_intent(&pdir, 77);
    // And a leftover rewrite that never got renamed.
    std::fs::write(pdir.join("00000000000000000000.log.truncating"), b"partial").unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::open_partition0(&store, "t");
    check_contents(&p, 77, "finished on open");
    assert!(!pdir.join("truncate").exists());
    assert!(!pdir.join("00000000000000000000.log.truncating").exists());
    // A damaged intent is not guessed at.
    drop(p);
    store.close().unwrap();
    std::fs::write(pdir.join("truncate"), b"PLTR garbage").unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(store.topic("t"), Err(Error::Corrupt { .. })));
}

#[test]
fn readers_never_see_discarded_records_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::partition0(&store, "t", config());
    fill(&p, 100);
    let mut it = p.iter_from(40).unwrap();
    for _ in 0..30 {
        it.next().unwrap().unwrap();
    }
    let old = p.read(90).unwrap().unwrap();
    p.truncate_to(50).unwrap();
    assert_eq!(
        old.value(),
        b"v000090",
        "an old view is still readable memory"
    );
    // The iterator was at 70: it moves back to the new end and sees only new records.
    assert!(it.next().is_none());
    p.append(NewRecord::new(b"replacement")).unwrap();
    let r = it.next().unwrap().unwrap();
    assert_eq!((r.offset(), r.value()), (50, &b"replacement"[..]));
    let mut tail = p.iter_from_end();
    assert!(
        tail.poll(1 << 20, Duration::from_millis(1))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn durable_appends_racing_a_truncation_learn_their_fate() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = config().flush(FlushPolicy::EveryAppend);
    let p = common::partition0(&store, "t", c);
    fill(&p, 20);
    std::thread::scope(|s| {
        let writer = {
            let p = p.clone();
            s.spawn(move || {
                let mut acked = Vec::new();
                for _ in 0..200 {
                    match p.append(NewRecord::new(b"x")) {
                        Ok(o) => acked.push(o),
                        Err(Error::Truncated { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                acked
            })
        };
        for _ in 0..5 {
            let end = p.next_offset();
            p.truncate_to(end.saturating_sub(3).max(20)).unwrap();
        }
        let acked = writer.join().unwrap();
        assert!(!acked.is_empty());
        // Acknowledged offsets only grow between truncations, and never pass the end.
        assert!(acked.iter().all(|&o| o < 20 + 200));
    });
    // No wait hangs, the bookkeeping is consistent, and the log is intact.
    p.flush().unwrap();
    assert_eq!(p.durable_offset(), p.next_offset());
    assert!(p.verify().is_ok());
}

#[test]
fn an_iterator_that_notices_a_truncation_late_reads_what_replaced_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::partition0(&store, "t", config());
    fill(&p, 200);
    let mut it = p.iter();
    for _ in 0..200 {
        it.next().unwrap().unwrap();
    }
    p.truncate_to(150).unwrap();
    fill(&p, 10); // new records 150..160, appended before the iterator looks again
    p.truncate_to(155).unwrap();
    let got: Vec<u64> = it.by_ref().map(|r| r.unwrap().offset()).collect();
    assert_eq!(got, (150..155).collect::<Vec<_>>());
}

#[test]
fn truncating_into_a_compacted_batch_keeps_every_record_below_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::partition0(&store, "t", config());
    // One batch whose middle records compaction removes (their keys come back later).
    let batch: Vec<NewRecord<'_>> = (0..6u8)
        .map(|i| NewRecord::new(b"old").key(if i % 2 == 0 { b"a" } else { b"b" }))
        .collect();
    p.append_batch(&batch).unwrap();
    while p.info().segments < 3 {
        p.append(NewRecord::new(b"new").key(b"a")).unwrap();
        p.append(NewRecord::new(b"new").key(b"b")).unwrap();
    }
    p.compact().unwrap();
    let survivors: Vec<u64> = p
        .iter()
        .map(|r| r.unwrap().offset())
        .take_while(|&o| o < 6)
        .collect();
    assert!(
        survivors.is_empty(),
        "every record of the first batch was superseded"
    );
    p.truncate_to(3).unwrap();
    assert_eq!(p.next_offset(), 3);
    assert_eq!(
        p.append(NewRecord::new(b"x")).unwrap(),
        3,
        "offsets continue at the cut"
    );
    assert!(p.verify().is_ok(), "{:?}", p.verify().problems);
}

#[test]
fn after_a_truncation_compaction_maps_the_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = config().delete_retention_ms(0);
    let p = common::partition0(&store, "t", c);
    while p.info().segments < 4 {
        p.append(NewRecord::new(b"v1").key(b"k")).unwrap();
        p.append(NewRecord::new(b"pad").key(b"pad")).unwrap();
    }
    p.compact().unwrap();
    p.truncate_to(10).unwrap();
    p.append(NewRecord::new(b"v2").key(b"k").timestamp(1))
        .unwrap();
    p.append(NewRecord::tombstone(b"k").timestamp(1)).unwrap(); // expired at once
    while p.info().segments < 4 {
        p.append(NewRecord::new(b"pad").key(b"pad")).unwrap();
    }
    p.compact().unwrap();
    let k: Vec<_> = p
        .iter()
        .map(|r| r.unwrap())
        .filter(|r| r.key() == Some(b"k"))
        .collect();
    assert!(k.is_empty(), "the deleted key must not come back: {k:?}");
}

#[test]
fn a_waiting_reader_wakes_for_records_appended_after_a_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::partition0(&store, "t", config());
    fill(&p, 100);
    let mut tail = p.iter_from_end();
    let writer = {
        let p = p.clone();
        std::thread::spawn(move || {
            p.truncate_to(50).unwrap();
            p.append(NewRecord::new(b"after")).unwrap();
        })
    };
    let got = tail.poll(1 << 20, Duration::from_secs(30)).unwrap();
    writer.join().unwrap();
    assert!(
        !got.is_empty()
            || !tail
                .poll(1 << 20, Duration::from_secs(30))
                .unwrap()
                .is_empty()
    );
}

#[test]
fn truncation_lowers_committed_group_offsets_above_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic("t", config().partitions(2)).unwrap();
    let p = t.partition(0).unwrap().clone();
    fill(&p, 200);
    fill(t.partition(1).unwrap(), 10);
    let cfg = pagelog::ConsumerConfig::default().auto_commit(None);
    // A group with a live member positioned (and committed) at 150, and one committed below
    // the cut.
    let mut live = t.consumer("live", cfg.clone()).unwrap();
    live.seek(0, 150).unwrap();
    live.seek(1, 10).unwrap();
    live.commit().unwrap();
    assert_eq!(
        t.committed_offsets("live").unwrap(),
        vec![Some(150), Some(10)]
    );
    {
        let mut low = t.consumer("low", cfg.clone()).unwrap();
        low.seek(0, 40).unwrap();
        low.seek(1, 5).unwrap();
        low.commit().unwrap();
    }

    // The member reads on without committing yet.
    live.seek(0, 160).unwrap();

    p.truncate_to(100).unwrap();
    // Above the cut: lowered to it; below it or on another partition: unchanged.
    assert_eq!(
        t.committed_offsets("live").unwrap(),
        vec![Some(100), Some(10)]
    );
    assert_eq!(t.committed_offsets("low").unwrap(), vec![Some(40), Some(5)]);
    // The live member's position moved back too: committing now (its uncommitted position was
    // 160) keeps the cut.
    live.commit().unwrap();
    assert_eq!(t.committed_offsets("live").unwrap()[0], Some(100));
    drop(live);

    // Records appended after the truncation are read by the group, none skipped.
    fill(&p, 80);
    let mut again = t.consumer("live", cfg).unwrap();
    let first = again
        .poll(Duration::from_secs(5))
        .unwrap()
        .into_iter()
        .find(|r| r.partition == 0)
        .map(|r| r.offset());
    assert_eq!(first, Some(100));
    drop(again);
    drop(t);
    store.close().unwrap();

    // On disk as well: a store opened later sees the lowered offset.
    let store = Store::open(dir.path()).unwrap();
    let t = store.topic("t").unwrap();
    assert_eq!(
        t.committed_offsets("live").unwrap(),
        vec![Some(100), Some(10)]
    );
}

#[test]
fn a_replayed_truncation_lowers_group_offsets_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let t = store.create_topic("t", config()).unwrap();
        let p = t.partition(0).unwrap().clone();
        fill(&p, 200);
        let mut c = t
            .consumer("g", pagelog::ConsumerConfig::default().auto_commit(None))
            .unwrap();
        c.seek(0, 180).unwrap();
        c.commit().unwrap();
        drop(c);
        store.crash();
    }
    // A crash right after the truncation intent was written.
    let pdir = dir.path().join("t").join("0");
    write_intent(&pdir, 77);
    let store = Store::open(dir.path()).unwrap();
    let t = store.topic("t").unwrap();
    check_contents(t.partition(0).unwrap(), 77, "finished on open");
    assert_eq!(t.committed_offsets("g").unwrap(), vec![Some(77)]);
}
