//! Reading and consuming: positions, fetch budgets, tailing, damaged data, consumer groups.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "test data: offsets, sizes and counts are small"
)]

use std::sync::{Arc, Barrier};
use std::time::Duration;

use pagelog::{
    ConsumerConfig, Error, FlushPolicy, NewRecord, StartFrom, Store, Topic, TopicConfig,
};

const LONG: Duration = Duration::from_secs(30);

fn topic(store: &Store, name: &str, partitions: u32) -> Topic {
    let c = TopicConfig::default()
        .partitions(partitions)
        .segment_bytes(16 << 10)
        .index_interval_bytes(256)
        .flush(FlushPolicy::Never);
    store.create_topic(name, c).unwrap()
}

fn values(records: &[pagelog::Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value().to_vec()).unwrap())
        .collect()
}

#[test]
fn positions_beginning_end_and_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", 1).partition(0).unwrap().clone();
    for i in 0..10i64 {
        p.append(NewRecord::new(format!("v{i}").as_bytes()).timestamp(100 + i * 10))
            .unwrap();
    }
    assert_eq!(p.iter().count(), 10);
    let mut from_end = p.iter_from_end();
    assert!(from_end.next().is_none());
    p.append(NewRecord::new(b"new").timestamp(1000)).unwrap();
    assert_eq!(from_end.next().unwrap().unwrap().value(), b"new");
    let from_ts: Vec<u64> = p
        .iter_from_timestamp(135)
        .unwrap()
        .map(|r| r.unwrap().offset())
        .collect();
    assert_eq!(from_ts, (4..11).collect::<Vec<_>>());
    assert_eq!(
        p.iter_from_timestamp(5000).unwrap().position(),
        11,
        "after the last: the end"
    );
}

#[test]
fn poll_respects_the_byte_budget_and_returns_at_least_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", 1).partition(0).unwrap().clone();
    for _ in 0..100 {
        p.append(NewRecord::new(&[7u8; 100])).unwrap();
    }
    let mut it = p.iter();
    let first = it.poll(1000, LONG).unwrap();
    assert_eq!(
        first.len(),
        10,
        "ten 100-byte values fill a 1000-byte budget"
    );
    let one = it.poll(1, LONG).unwrap();
    assert_eq!(one.len(), 1, "at least one record even over budget");
    let rest = it.poll(1 << 20, LONG).unwrap();
    assert_eq!(rest.len(), 89);
    assert!(
        it.poll(1 << 20, Duration::from_millis(1))
            .unwrap()
            .is_empty(),
        "timeout: empty"
    );
}

#[test]
fn a_blocked_poll_is_woken_by_an_append() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", 1).partition(0).unwrap().clone();
    let readers = 4;
    let barrier = Arc::new(Barrier::new(readers + 1));
    let handles: Vec<_> = (0..readers)
        .map(|_| {
            let (p, barrier) = (p.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut tail = p.iter_from_end();
                barrier.wait();
                let mut got = Vec::new();
                while got.len() < 50 {
                    got.extend(values(&tail.poll(1 << 20, LONG).unwrap()));
                }
                got
            })
        })
        .collect();
    barrier.wait();
    for i in 0..50 {
        p.append(NewRecord::new(format!("m{i}").as_bytes()))
            .unwrap();
    }
    let want: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
}

#[test]
fn a_blocking_iterator_ends_when_the_store_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", 1).partition(0).unwrap().clone();
    p.append(NewRecord::new(b"only")).unwrap();
    let reader = {
        let p = p.clone();
        std::thread::spawn(move || {
            p.iter()
                .blocking()
                .map(|r| r.unwrap().offset())
                .collect::<Vec<_>>()
        })
    };
    // The reader may or may not have read the record yet; closing wakes it either way.
    store.close().unwrap();
    assert_eq!(reader.join().unwrap(), vec![0]);
}

#[test]
fn damaged_batches_stop_iteration_unless_skipping_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let p = topic(&store, "t", 1).partition(0).unwrap().clone();
        for i in 0..20 {
            p.append(NewRecord::new(format!("value-{i:05}").as_bytes()))
                .unwrap();
        }
        store.close().unwrap();
    }
    let log = dir
        .path()
        .join("t")
        .join("0")
        .join("00000000000000000000.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let needle = b"value-00005";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(&log, &bytes).unwrap();

    let store = Store::open(dir.path()).unwrap();
    let p = store.topic("t").unwrap().partition(0).unwrap().clone();
    let strict: Vec<_> = p.iter().collect();
    assert_eq!(
        strict.len(),
        6,
        "five records, then the error, then nothing"
    );
    match &strict[5] {
        Err(Error::ChecksumMismatch { path, .. }) => assert_eq!(path, &log),
        other => panic!("{other:?}"),
    }
    let lenient: Vec<_> = p.iter().skip_damaged().collect();
    assert_eq!(lenient.len(), 20, "19 records and one error");
    let offsets: Vec<u64> = lenient
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(pagelog::Record::offset)
        .collect();
    assert_eq!(offsets, (0..20).filter(|&o| o != 5).collect::<Vec<_>>());
    assert!(matches!(p.read(5), Err(Error::ChecksumMismatch { .. })));

    // Lent records report the same damage the same way.
    let mut it = p.iter();
    let mut strict_ref = Vec::new();
    while let Some(r) = it.next_ref() {
        strict_ref.push(r.map(|r| r.offset()));
    }
    assert_eq!(strict_ref.len(), 6);
    assert!(matches!(strict_ref[5], Err(Error::ChecksumMismatch { .. })));
    let mut it = p.iter().skip_damaged();
    let (mut ok, mut errors) = (Vec::new(), 0);
    while let Some(r) = it.next_ref() {
        match r {
            Ok(r) => ok.push(r.offset()),
            Err(_) => errors += 1,
        }
    }
    assert_eq!((ok, errors), (offsets, 1));
}

#[test]
fn a_group_resumes_after_its_last_commit_and_groups_are_independent() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let t = topic(&store, "t", 3);
        for i in 0..30 {
            t.append(Some(format!("k{i}").as_bytes()), format!("v{i}").as_bytes())
                .unwrap();
        }
        let mut c = t
            .consumer("g1", ConsumerConfig::default().max_poll_bytes(20))
            .unwrap();
        assert_eq!(c.assignment(), vec![0, 1, 2]);
        let mut got = 0;
        while got < 12 {
            got += c.poll(LONG).unwrap().len();
        }
        c.commit().unwrap();
        let committed: u64 = t
            .committed_offsets("g1")
            .unwrap()
            .iter()
            .map(|o| o.unwrap())
            .sum();
        assert_eq!(committed as usize, got);
        assert_eq!(
            t.group_lag("g1").unwrap().iter().sum::<u64>() as usize,
            30 - got
        );
        assert_eq!(
            t.group_lag("other").unwrap().iter().sum::<u64>(),
            30,
            "independent"
        );
        assert_eq!(t.groups().unwrap(), vec!["g1".to_string()]);
        drop(c);
        store.close().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let t = store.topic("t").unwrap();
    let before: u64 = t
        .committed_offsets("g1")
        .unwrap()
        .iter()
        .map(|o| o.unwrap())
        .sum();
    let mut c = t.consumer("g1", ConsumerConfig::default()).unwrap();
    let mut rest = Vec::new();
    while rest.len() < 30 - before as usize {
        rest.extend(c.poll(LONG).unwrap());
    }
    // Exactly the uncommitted records, each once.
    let mut seen: Vec<(u32, u64)> = rest.iter().map(|r| (r.partition, r.offset())).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), rest.len());
    let committed = t.committed_offsets("g1").unwrap();
    for r in &rest {
        assert!(r.offset() >= committed[r.partition as usize].unwrap());
    }
    assert!(c.poll(Duration::from_millis(1)).unwrap().is_empty());
    let mut fresh = t
        .consumer("g2", ConsumerConfig::default().start(StartFrom::Latest))
        .unwrap();
    assert!(
        fresh.poll(Duration::from_millis(1)).unwrap().is_empty(),
        "latest: nothing old"
    );
}

#[test]
fn members_split_partitions_and_hand_them_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = topic(&store, "t", 4);
    let cfg = ConsumerConfig::default().auto_commit(Some(Duration::from_secs(3600)));
    let mut a = t.consumer("g", cfg.clone()).unwrap();
    let mut b = t.consumer("g", cfg).unwrap();
    // b joined second: a polls, notices, and releases partitions 1 and 3 to b.
    let _ = a.poll(Duration::from_millis(1)).unwrap();
    let _ = b.poll(Duration::from_millis(1)).unwrap();
    assert_eq!(a.assignment(), vec![0, 2]);
    assert_eq!(b.assignment(), vec![1, 3]);
    for p in 0..4 {
        t.append_batch_to(p, &[NewRecord::new(format!("p{p}").as_bytes())])
            .unwrap();
    }
    let mut from_a = Vec::new();
    while from_a.len() < 2 {
        from_a.extend(a.poll(LONG).unwrap().into_iter().map(|r| r.partition));
    }
    from_a.sort_unstable();
    assert_eq!(from_a, vec![0, 2]);
    drop(b); // leaves, committing under auto-commit: a takes over 1 and 3 after the commit
    let mut from_a = Vec::new();
    for p in 0..4 {
        t.append_batch_to(p, &[NewRecord::new(b"second")]).unwrap();
    }
    // Partitions 0 and 2 hold one new record each; 1 and 3 two each, unread by b.
    while from_a.len() < 6 {
        from_a.extend(
            a.poll(LONG)
                .unwrap()
                .into_iter()
                .map(|r| (r.partition, r.offset())),
        );
    }
    assert_eq!(a.assignment(), vec![0, 1, 2, 3]);
    // b never polled its records, so a reads partitions 1 and 3 from the start.
    from_a.sort_unstable();
    assert_eq!(from_a, vec![(0, 1), (1, 0), (1, 1), (2, 1), (3, 0), (3, 1)]);
}

/// Polls each of `members` in turn, briefly, until they returned `n` records between them
/// (failing after `LONG`); returns (partition, offset) of each, sorted.
fn poll_all(members: &mut [&mut pagelog::Consumer], n: usize) -> Vec<(u32, u64)> {
    let start = std::time::Instant::now();
    let mut got = Vec::new();
    while got.len() < n {
        assert!(start.elapsed() < LONG, "only {got:?} after {LONG:?}");
        for c in members.iter_mut() {
            got.extend(
                c.poll(Duration::from_millis(5))
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.partition, r.offset())),
            );
        }
    }
    got.sort_unstable();
    got
}

#[test]
fn three_members_split_partitions_commit_side_by_side_and_absorb_a_leaver() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = topic(&store, "t", 5);
    let manual = ConsumerConfig::default().auto_commit(None);
    let mut a = t.consumer("g", manual.clone()).unwrap();
    let mut b = t.consumer("g", manual.clone()).unwrap();
    let mut c = t.consumer("g", manual).unwrap();
    for p in 0..5 {
        for i in 0..2 {
            t.append_batch_to(p, &[NewRecord::new(format!("p{p}-{i}").as_bytes())])
                .unwrap();
        }
    }
    let got = poll_all(&mut [&mut a, &mut b, &mut c], 10);
    let want: Vec<(u32, u64)> = (0..5).flat_map(|p| [(p, 0), (p, 1)]).collect();
    assert_eq!(
        got, want,
        "each record once: no partition read by two members"
    );
    // Ranked by join order (member slots 0, 1, 2): partition p goes to rank p % 3.
    assert_eq!(a.assignment(), vec![0, 3]);
    assert_eq!(b.assignment(), vec![1, 4]);
    assert_eq!(c.assignment(), vec![2]);
    // Each member's commit rewrites the file with its own partitions only, keeping the
    // others' commits.
    a.commit().unwrap();
    assert_eq!(
        t.committed_offsets("g").unwrap(),
        vec![Some(2), None, None, Some(2), None]
    );
    c.commit().unwrap();
    b.commit_offsets(&[(4, 1)]).unwrap();
    assert_eq!(
        t.committed_offsets("g").unwrap(),
        vec![Some(2), None, Some(2), Some(2), Some(1)]
    );
    b.commit().unwrap();
    assert_eq!(t.committed_offsets("g").unwrap(), vec![Some(2); 5]);

    // c leaves: its partition and the ones that move between a and b are handed over, each
    // resumed at its committed offset.
    drop(c);
    for p in 0..5 {
        t.append_batch_to(p, &[NewRecord::new(b"second")]).unwrap();
    }
    let got = poll_all(&mut [&mut a, &mut b], 5);
    assert_eq!(got, (0..5).map(|p| (p, 2)).collect::<Vec<_>>());
    assert_eq!(a.assignment(), vec![0, 2, 4]);
    assert_eq!(b.assignment(), vec![1, 3]);
}

#[test]
fn the_rebalance_interval_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = topic(&store, "t", 1);
    assert_eq!(
        ConsumerConfig::default().get_rebalance_interval(),
        Duration::from_millis(100)
    );
    for bad in [
        Duration::ZERO,
        Duration::from_micros(999),
        Duration::from_secs(3601),
    ] {
        let cfg = ConsumerConfig::default().rebalance_interval(bad);
        assert!(
            matches!(cfg.validate(), Err(Error::InvalidConfig(_))),
            "{bad:?}"
        );
        assert!(matches!(t.consumer("g", cfg), Err(Error::InvalidConfig(_))));
    }
    for good in [Duration::from_millis(1), Duration::from_secs(3600)] {
        let cfg = ConsumerConfig::default().rebalance_interval(good);
        assert_eq!(cfg.get_rebalance_interval(), good);
        t.consumer("g", cfg).unwrap();
    }
}

#[test]
fn a_consumer_polls_partitions_fairly() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = topic(&store, "t", 2);
    for i in 0..200 {
        t.append_batch_to(0, &[NewRecord::new(format!("busy{i}").as_bytes())])
            .unwrap();
    }
    t.append_batch_to(1, &[NewRecord::new(b"quiet")]).unwrap();
    let mut c = t
        .consumer("g", ConsumerConfig::default().max_poll_bytes(100))
        .unwrap();
    let first = c.poll(LONG).unwrap();
    assert!(
        first.iter().any(|r| r.partition == 1),
        "the quiet partition gets its turn at once"
    );
}

#[test]
fn a_corrupt_offsets_file_is_reported_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let t = topic(&store, "t", 1);
        t.append(None, b"x").unwrap();
        let mut c = t.consumer("g", ConsumerConfig::default()).unwrap();
        while c.poll(LONG).unwrap().is_empty() {}
        c.commit().unwrap();
        drop(c);
        store.close().unwrap();
    }
    let file = dir.path().join("t").join("groups").join("g.offsets");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 6;
    bytes[last] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.topic("t").unwrap();
    assert!(matches!(
        t.committed_offsets("g"),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        t.consumer("g", ConsumerConfig::default()),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        t.consumer("bad/name", ConsumerConfig::default()),
        Err(Error::InvalidTopicName { .. })
    ));
}

#[test]
fn a_consumer_reports_damage_every_time_unless_told_to_skip() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let t = topic(&store, "t", 1);
        for i in 0..20 {
            t.append(None, format!("value-{i:05}").as_bytes()).unwrap();
        }
        store.close().unwrap();
    }
    let log = dir
        .path()
        .join("t")
        .join("0")
        .join("00000000000000000000.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.windows(11).position(|w| w == b"value-00005").unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(&log, &bytes).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.topic("t").unwrap();
    let mut c = t.consumer("strict", ConsumerConfig::default()).unwrap();
    let first = c.poll(LONG).unwrap();
    assert_eq!(first.len(), 5, "the records before the damage");
    for _ in 0..3 {
        assert!(
            matches!(c.poll(LONG), Err(Error::ChecksumMismatch { .. })),
            "reported, not swallowed"
        );
    }
    c.seek(0, 6).unwrap();
    assert_eq!(
        c.poll(LONG).unwrap().len(),
        14,
        "past the damage after a seek"
    );
    let mut lenient = t
        .consumer("lenient", ConsumerConfig::default().skip_damaged(true))
        .unwrap();
    let (mut ok, mut errors) = (0, 0);
    while ok < 19 {
        match lenient.poll(LONG) {
            Ok(v) => ok += v.len(),
            Err(_) => errors += 1,
        }
    }
    assert_eq!(errors, 1);
}

#[test]
fn auto_commit_covers_only_records_returned_by_earlier_polls() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = topic(&store, "t", 1);
    for i in 0..10 {
        t.append(None, format!("{i}").as_bytes()).unwrap();
    }
    let cfg = ConsumerConfig::default()
        .auto_commit(Some(Duration::from_nanos(1)))
        .max_poll_bytes(3);
    let mut c = t.consumer("g", cfg).unwrap();
    let first = c.poll(LONG).unwrap();
    assert_eq!(first.len(), 3);
    let committed = t.committed_offsets("g").unwrap()[0];
    assert!(
        matches!(committed, None | Some(0)),
        "not before the app had them: {committed:?}"
    );
    let second = c.poll(LONG).unwrap();
    assert_eq!(second.len(), 3);
    assert_eq!(
        t.committed_offsets("g").unwrap()[0],
        Some(3),
        "the first poll's records"
    );
}

#[test]
fn a_raised_start_offset_applies_to_positioned_iterators() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", 1).partition(0).unwrap().clone();
    for i in 0..50 {
        p.append(NewRecord::new(format!("{i}").as_bytes())).unwrap();
    }
    let mut it = p.iter();
    assert_eq!(it.next().unwrap().unwrap().offset(), 0);
    p.delete_records_before(30).unwrap();
    assert_eq!(
        it.next().unwrap().unwrap().offset(),
        30,
        "skips to the new start"
    );
}

#[test]
fn lent_records_match_owned_ones_across_segments_gaps_and_truncation() {
    type Seen = (
        u64,
        i64,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Vec<(String, Vec<u8>)>,
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = topic(&store, "t", 1).partition(0).unwrap().clone();
    let headers = [pagelog::Header {
        key: "h",
        value: b"hv",
    }];
    for i in 0..300u64 {
        let v = format!("v{i}");
        let k = format!("k{i}");
        let r = match i % 3 {
            0 => NewRecord::new(v.as_bytes())
                .key(k.as_bytes())
                .headers(&headers),
            1 => NewRecord::tombstone(k.as_bytes()),
            _ => NewRecord::new(v.as_bytes()),
        };
        p.append(r.timestamp(i as i64)).unwrap();
    }
    // A placed batch with a gap, then more appends.
    p.append_at(&[(305, NewRecord::new(b"placed"))], 310)
        .unwrap();
    p.append_batch(&[NewRecord::new(b"a"), NewRecord::new(b"b")])
        .unwrap();
    assert!(p.info().segments > 1);

    // `Record` and `RecordRef` share their accessors but no trait: one macro reads both.
    macro_rules! seen {
        ($r:expr) => {{
            let r = $r;
            let h = r.headers().map(|(k, v)| (k.to_string(), v.to_vec()));
            let (key, value) = (
                r.key().map(<[u8]>::to_vec),
                r.value_opt().map(<[u8]>::to_vec),
            );
            (r.offset(), r.timestamp(), key, value, h.collect())
        }};
    }
    let owned = |from: u64| -> Vec<Seen> {
        let it = p.iter_from(from).unwrap();
        it.map(|r| seen!(r.unwrap())).collect()
    };
    let lent = |from: u64| -> Vec<Seen> {
        let mut it = p.iter_from(from).unwrap();
        let mut out = Vec::new();
        while let Some(r) = it.next_ref() {
            out.push(seen!(r.unwrap()));
        }
        out
    };
    for from in [0, 1, 150, 299, 301, 305, 309, 311, 312] {
        assert_eq!(lent(from), owned(from), "from {from}");
    }
    let all = lent(0);
    assert_eq!(all.len(), 303);
    assert_eq!(all[0].4, vec![("h".to_string(), b"hv".to_vec())]);
    assert_eq!(all[1].3, None, "a tombstone");
    assert_eq!(all[300].0, 305);

    // A lending iterator positioned past a truncation point moves back like an owning one.
    let mut it = p.iter_from(200).unwrap();
    assert_eq!(it.next_ref().unwrap().unwrap().offset(), 200);
    p.truncate_to(100).unwrap();
    p.append(NewRecord::new(b"after")).unwrap();
    let r = it.next_ref().unwrap().unwrap();
    assert_eq!((r.offset(), r.value()), (100, &b"after"[..]));
    assert!(it.next_ref().is_none());
}

#[test]
fn commit_offsets_commits_part_of_a_poll_without_moving_positions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = topic(&store, "t", 2);
    for p in 0..2 {
        for i in 0..5 {
            t.partition(p)
                .unwrap()
                .append(NewRecord::new(format!("p{p}-{i}").as_bytes()))
                .unwrap();
        }
    }
    let manual = ConsumerConfig::default().auto_commit(None);
    {
        let mut c = t.consumer("g", manual.clone()).unwrap();
        let mut polled = 0;
        while polled < 10 {
            polled += c.poll(LONG).unwrap().len();
        }
        // Refused as a whole: a partition past its end, and nothing else is committed.
        assert!(matches!(
            c.commit_offsets(&[(0, 2), (1, 6)]),
            Err(Error::OffsetOutOfRange {
                requested: 6,
                end: 5,
                ..
            })
        ));
        assert!(matches!(
            c.commit_offsets(&[(2, 0)]),
            Err(Error::PartitionNotFound { partition: 2, .. })
        ));
        assert_eq!(t.committed_offsets("g").unwrap(), vec![None, None]);
        // Only partition 0's first two records are done.
        c.commit_offsets(&[(0, 2)]).unwrap();
        assert_eq!(t.committed_offsets("g").unwrap(), vec![Some(2), None]);
        assert_eq!(c.position(0), Some(5), "positions do not move");
    }
    // A new member resumes partition 0 after the committed offset, partition 1 from the
    // configured start (the beginning).
    let mut c = t.consumer("g", manual).unwrap();
    let mut got = Vec::new();
    while got.len() < 8 {
        got.extend(c.poll(LONG).unwrap().into_iter().map(|r| r.record));
    }
    let mut v = values(&got);
    v.sort();
    assert_eq!(
        v,
        [
            "p0-2", "p0-3", "p0-4", "p1-0", "p1-1", "p1-2", "p1-3", "p1-4"
        ]
    );
}
