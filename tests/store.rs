//! End-to-end behaviour of Store, Topic and Partition.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "test data: offsets, sizes and counts are small"
)]

use pagelog::{Error, FlushPolicy, NewRecord, Store, TopicConfig};

fn small() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(8192)
        .index_interval_bytes(512)
        .flush(FlushPolicy::Never)
}

fn values(p: &pagelog::Partition, from: u64) -> Vec<String> {
    p.iter_from(from)
        .unwrap()
        .map(|r| String::from_utf8(r.unwrap().value().to_vec()).unwrap())
        .collect()
}

#[test]
fn quick_start_flow() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let orders = store
        .create_topic("orders", TopicConfig::default().partitions(4))
        .unwrap();
    let (partition, offset) = orders.append(Some(b"user-42"), b"{\"total\": 12}").unwrap();
    assert_eq!(partition, orders.partition_for_key(b"user-42"));
    let p = orders.partition(partition).unwrap();
    let rec = p.read(offset).unwrap().unwrap();
    assert_eq!(rec.key(), Some(&b"user-42"[..]));
    assert_eq!(rec.value(), b"{\"total\": 12}");
    p.flush().unwrap();
    assert_eq!(p.durable_offset(), offset + 1);
    assert_eq!(store.topics().unwrap(), vec!["orders".to_string()]);
    assert!(matches!(
        store.create_topic("orders", TopicConfig::default()),
        Err(Error::TopicExists(_))
    ));
    assert!(matches!(
        orders.partition(4),
        Err(Error::PartitionNotFound {
            partition: 4,
            partitions: 4,
            ..
        })
    ));
}

#[test]
fn rolls_and_reads_across_segments_then_reopens_clean() {
    let dir = tempfile::tempdir().unwrap();
    let n = 2000u64;
    {
        let store = Store::open(dir.path()).unwrap();
        let t = store.create_topic("t", small()).unwrap();
        let p = t.partition(0).unwrap();
        for i in 0..n {
            assert_eq!(
                p.append(NewRecord::new(format!("v{i}").as_bytes()))
                    .unwrap(),
                i
            );
        }
        assert!(p.info().segments > 5, "small segments roll");
        assert_eq!(values(p, 0).len() as u64, n);
        assert_eq!(values(p, 1234)[0], "v1234");
        store.close().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let t = store.topic("t").unwrap();
    let p = t.partition(0).unwrap();
    assert_eq!(p.next_offset(), n);
    let all = values(p, 0);
    assert_eq!(all.len() as u64, n);
    for (i, v) in all.iter().enumerate() {
        assert_eq!(v, &format!("v{i}"));
    }
    assert_eq!(p.append(NewRecord::new(b"after")).unwrap(), n);
}

#[test]
fn crash_reopen_keeps_everything_appended() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic("t", small()).unwrap();
    let p = t.partition(0).unwrap().clone();
    for i in 0..700u64 {
        p.append(NewRecord::new(format!("v{i}").as_bytes()))
            .unwrap();
    }
    store.crash();
    assert!(
        p.append(NewRecord::new(b"x")).is_err(),
        "handles stop working"
    );
    let store = Store::open(dir.path()).unwrap();
    let p = store.topic("t").unwrap().partition(0).unwrap().clone();
    assert_eq!(p.next_offset(), 700);
    assert_eq!(values(&p, 0).len(), 700);
    assert_eq!(p.append(NewRecord::new(b"x")).unwrap(), 700);
}

#[test]
fn out_of_range_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic("t", small()).unwrap();
    let p = t.partition(0).unwrap();
    assert!(
        p.read(0).unwrap().is_none(),
        "reading at the end of an empty log is not an error"
    );
    p.append_batch(&[NewRecord::new(b"a"), NewRecord::new(b"b")])
        .unwrap();
    assert!(p.read(2).unwrap().is_none());
    match p.read(3) {
        Err(Error::OffsetOutOfRange {
            requested: 3,
            start: 0,
            end: 2,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(p.iter_from(3).is_err());
}

#[test]
fn second_open_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _store = Store::open(dir.path()).unwrap();
    match Store::open(dir.path()) {
        Err(Error::Locked { path, pid }) => {
            assert!(path.ends_with(pagelog::LOCK_FILE));
            assert_eq!(pid, Some(std::process::id()));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn delete_topic_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic("gone", small()).unwrap();
    let p = t.partition(0).unwrap().clone();
    p.append(NewRecord::new(b"kept view")).unwrap();
    let view = p.read(0).unwrap().unwrap();
    store.delete_topic("gone").unwrap();
    assert_eq!(view.value(), b"kept view", "views outlive deletion");
    assert!(matches!(
        p.append(NewRecord::new(b"x")),
        Err(Error::Closed(_))
    ));
    assert!(matches!(store.topic("gone"), Err(Error::TopicNotFound(_))));
    assert!(store.topics().unwrap().is_empty());
    for bad in ["", ".", "..", "a/b", "with space", "tilde~"] {
        assert!(
            matches!(
                store.create_topic(bad, small()),
                Err(Error::InvalidTopicName { .. })
            ),
            "{bad}"
        );
    }
    std::fs::create_dir(dir.path().join("foreign")).unwrap();
    assert!(
        store.topics().unwrap().is_empty(),
        "foreign directories are not topics"
    );
    assert!(matches!(
        store.create_topic("foreign", small()),
        Err(Error::Io { .. })
    ));
}

#[test]
fn timestamps_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.create_topic("t", small()).unwrap();
    let p = t.partition(0).unwrap();
    for i in 0..1000i64 {
        p.append(NewRecord::new(b"0123456789").timestamp(i * 2))
            .unwrap();
    }
    assert!(p.info().segments > 2);
    assert_eq!(p.offset_for_timestamp(-1).unwrap(), Some(0));
    assert_eq!(p.offset_for_timestamp(777).unwrap(), Some(389));
    assert_eq!(p.offset_for_timestamp(1998).unwrap(), Some(999));
    assert_eq!(p.offset_for_timestamp(1999).unwrap(), None);
}

#[test]
fn a_segment_has_one_writer() {
    use pagelog::Segment;
    let dir = tempfile::tempdir().unwrap();
    let c = TopicConfig::default().segment_bytes(1 << 20);
    let mut seg = Segment::create(dir.path(), 0, &c).unwrap();
    seg.append(&[NewRecord::new(b"a")]).unwrap();
    assert!(Segment::create(dir.path(), 0, &c).is_err(), "files exist");
    assert!(matches!(
        Segment::recover(dir.path(), 0, &c),
        Err(Error::Locked { .. })
    ));
    let view = seg.read(0).unwrap().unwrap();
    drop(seg);
    // The writer is gone; a reader's view does not block recovery, and stays valid.
    let (mut seg, _) = Segment::recover(dir.path(), 0, &c).unwrap();
    assert_eq!(seg.append(&[NewRecord::new(b"b")]).unwrap(), 1..2);
    assert_eq!(view.value(), b"a");
}

#[test]
fn a_log_cut_short_from_outside_is_reported_not_looped_over() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let t = store.create_topic("t", small()).unwrap();
        let p = t.partition(0).unwrap();
        // Timestamp = offset, to ask for a timestamp inside the part that will be cut.
        while p.info().segments < 3 {
            let ts = p.next_offset() as i64;
            p.append(NewRecord::new(&[1u8; 300]).timestamp(ts)).unwrap();
        }
        store.close().unwrap();
    }
    // Cut the first (sealed, trusted) segment in half behind pagelog's back.
    let pdir = dir.path().join("t").join("0");
    let first = pdir.join("00000000000000000000.log");
    let len = std::fs::metadata(&first).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let store = Store::open(dir.path()).unwrap();
    let p = store.topic("t").unwrap().partition(0).unwrap().clone();
    let results: Vec<_> = p.iter_from(0).unwrap().collect();
    let err = results.last().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { path, .. } if path == &first),
        "{err:?}"
    );
    let second = p.segment_paths()[1]
        .log
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!(matches!(p.read(second - 1), Err(Error::Corrupt { .. })));
    // The timestamp lookup does not skip to a later segment either.
    let found = p.offset_for_timestamp(second as i64 - 1);
    assert!(
        matches!(&found, Err(Error::Corrupt { path, .. }) if path == &first),
        "{found:?}"
    );
    assert!(
        p.read(second).unwrap().is_some(),
        "later segments still read"
    );
}

#[test]
fn leftovers_named_like_ours_do_not_block() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stray~creating"), b"not a dir").unwrap();
    std::fs::write(dir.path().join("stray~deleting"), b"not a dir").unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(
        dir.path().join("stray~creating").exists(),
        "files are not ours to remove"
    );
    let t = store.create_topic("t", small()).unwrap();
    let p = t.partition(0).unwrap();
    p.append(NewRecord::new(b"x")).unwrap();
    // A stale segment file for the next base (a roll that failed half-way) is replaced.
    let stale = p.dir().join("00000000000000000001.index");
    std::fs::write(&stale, b"stale").unwrap();
    let value = [3u8; 3000];
    while p.info().segments < 2 {
        p.append(NewRecord::new(&value)).unwrap();
    }
    assert_eq!(p.read(1).unwrap().unwrap().value(), &value[..]);
}

#[test]
fn every_records_bounds_unsynced_records_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = TopicConfig::default().flush(FlushPolicy::EveryRecords(8));
    let p = store
        .create_topic("t", c)
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let p = p.clone();
            s.spawn(move || {
                for _ in 0..200 {
                    let o = p.append(NewRecord::new(b"x")).unwrap();
                    // Of the records up to this acknowledged one, fewer than 8 are not durable.
                    assert!(o + 1 < p.durable_offset() + 8);
                }
            });
        }
    });
}

/// Creates topic "t" (`small()`, one partition) in a store at `dir`, appends 500-byte values
/// of `fill` until the partition has `segments` segments, closes the store and returns the
/// segments' base offsets.
fn closed_store_with_segments(dir: &std::path::Path, segments: usize, fill: u8) -> Vec<u64> {
    let store = Store::open(dir).unwrap();
    let p = store
        .create_topic("t", small())
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    while p.info().segments < segments {
        p.append(NewRecord::new(&[fill; 500])).unwrap();
    }
    let b = bases(&p);
    store.close().unwrap();
    b
}

#[test]
fn a_store_does_not_map_a_segment_another_writer_holds() {
    use pagelog::Segment;
    let dir = tempfile::tempdir().unwrap();
    closed_store_with_segments(dir.path(), 2, 1);
    // Someone reopens the sealed first segment as a standalone writer...
    let pdir = dir.path().join("t").join("0");
    let (mut seg, _) = Segment::recover(&pdir, 0, &small()).unwrap();
    seg.append(&[NewRecord::new(b"rogue")]).unwrap();
    // ...so the store refuses the topic instead of mapping a file that is about to change.
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(store.topic("t"), Err(Error::Locked { .. })));
    drop(seg);
}

#[test]
fn no_writer_can_be_made_for_a_segment_the_store_maps() {
    use pagelog::Segment;
    let dir = tempfile::tempdir().unwrap();
    closed_store_with_segments(dir.path(), 3, 1);
    let pdir = dir.path().join("t").join("0");
    let store = Store::open(dir.path()).unwrap();
    let p = store.topic("t").unwrap().partition(0).unwrap().clone();
    let first = p.read(0).unwrap().unwrap();
    // The store mapped the sealed first segment at open; from then on (not only at the
    // moment it checked) a standalone writer of it is refused, before it reads or changes
    // anything, so it can neither append under the store's mapping nor cut the file.
    let size = std::fs::metadata(pdir.join("00000000000000000000.log"))
        .unwrap()
        .len();
    assert!(matches!(
        Segment::recover(&pdir, 0, &small()),
        Err(Error::Locked { .. })
    ));
    assert_eq!(
        std::fs::metadata(pdir.join("00000000000000000000.log"))
            .unwrap()
            .len(),
        size
    );
    // A record read from it keeps the lock after the store is gone: its mapping is alive.
    store.close().unwrap();
    drop(p);
    assert!(matches!(
        Segment::recover(&pdir, 0, &small()),
        Err(Error::Locked { .. })
    ));
    assert_eq!(first.value(), &[1u8; 500][..]);
    drop(first);
    let (seg, _) = Segment::recover(&pdir, 0, &small()).unwrap();
    assert!(seg.next_offset() > 0);
}

/// Base offsets of the partition's segments, from their file names.
fn bases(p: &pagelog::Partition) -> Vec<u64> {
    p.segment_paths()
        .iter()
        .filter_map(|s| s.log.file_stem()?.to_str()?.parse().ok())
        .collect()
}

#[test]
fn truncating_to_a_boundary_of_segments_mapped_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let boundary = closed_store_with_segments(dir.path(), 4, 2)[2];
    // Reopened: the sealed segments are mapped under shared locks. Truncating to the base of
    // the third keeps the second as it is (a reader holds a record of it) and continues in
    // a new segment at the cut.
    let store = Store::open(dir.path()).unwrap();
    let p = store.topic("t").unwrap().partition(0).unwrap().clone();
    let held = p.read(boundary - 1).unwrap().unwrap();
    p.truncate_to(boundary).unwrap();
    assert_eq!(p.next_offset(), boundary);
    let now = bases(&p);
    assert_eq!(now.last(), Some(&boundary));
    assert_eq!(now.len(), 3);
    assert_eq!(p.append(NewRecord::new(b"after")).unwrap(), boundary);
    assert_eq!(held.value(), &[2u8; 500][..]);
    assert_eq!(p.read(boundary).unwrap().unwrap().value(), b"after");
    store.close().unwrap();
    // And across a reopen.
    let store = Store::open(dir.path()).unwrap();
    let p = store.topic("t").unwrap().partition(0).unwrap().clone();
    assert_eq!(p.next_offset(), boundary + 1);
    assert_eq!(
        p.read(boundary - 1).unwrap().unwrap().value(),
        &[2u8; 500][..]
    );
    assert_eq!(p.read(boundary).unwrap().unwrap().value(), b"after");
    assert!(p.verify().problems.is_empty());
}

#[test]
fn batches_of_every_size_read_back_after_reopen_and_crash() {
    // Batches below, inside and above the range written with pwrite (4 KiB to 1 MiB), mixed
    // in one segment, read back the same through the mapping.
    let dir = tempfile::tempdir().unwrap();
    let sizes = [
        10usize, 5_000, 16_300, 20_000, 70_000, 1_000, 900_000, 1_100_000, 3,
    ];
    let values: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|j| (i * 7 + j % 251) as u8).collect())
        .collect();
    let check = |p: &pagelog::Partition| {
        for (o, v) in values.iter().enumerate() {
            assert_eq!(
                p.read(o as u64).unwrap().unwrap().value(),
                &v[..],
                "offset {o}"
            );
        }
        assert!(p.verify().problems.is_empty());
    };
    {
        let store = Store::open(dir.path()).unwrap();
        let c = TopicConfig::default().max_batch_bytes(4 << 20);
        let t = store.create_topic("t", c).unwrap();
        let p = t.partition(0).unwrap().clone();
        for v in &values {
            p.append(NewRecord::new(v)).unwrap();
        }
        check(&p);
        store.crash();
    }
    for _ in 0..2 {
        let store = Store::open(dir.path()).unwrap();
        let p = store.topic("t").unwrap().partition(0).unwrap().clone();
        assert_eq!(p.next_offset(), values.len() as u64);
        check(&p);
        store.close().unwrap();
    }
}

#[test]
fn a_topic_meta_of_version_1_is_opened_and_raised_to_version_2() {
    use pagelog::codec::meta::{TOPIC_VERSION, TOPIC_VERSION_1};
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let p = store
            .create_topic("t", small().partitions(2))
            .unwrap()
            .partition(1)
            .unwrap()
            .clone();
        p.append(NewRecord::new(b"kept")).unwrap();
        store.close().unwrap();
    }
    // As a development build wrote it: the same body under version 1.
    let meta = dir.path().join("t").join("topic.meta");
    let v2 = std::fs::read(&meta).unwrap();
    assert_eq!(v2[4..6], TOPIC_VERSION.to_le_bytes());
    let mut v1 = v2.clone();
    v1[4..6].copy_from_slice(&TOPIC_VERSION_1.to_le_bytes());
    let n = v1.len() - 4;
    let crc = crc32fast::hash(&v1[..n]);
    v1[n..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&meta, &v1).unwrap();

    let store = Store::open(dir.path()).unwrap();
    let t = store.topic("t").unwrap();
    assert_eq!(t.config().get_partitions(), 2);
    assert_eq!(
        t.partition(1).unwrap().read(0).unwrap().unwrap().value(),
        b"kept"
    );
    // Opening raised the gate: the file is now exactly what this build writes.
    assert_eq!(std::fs::read(&meta).unwrap(), v2);
    store.close().unwrap();

    // A version this build does not know is refused, and the file left as it is.
    let mut v3 = v2.clone();
    v3[4..6].copy_from_slice(&3u16.to_le_bytes());
    let crc = crc32fast::hash(&v3[..n]);
    v3[n..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&meta, &v3).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(store.topic("t"), Err(Error::Corrupt { .. })));
    assert_eq!(std::fs::read(&meta).unwrap(), v3);
}
