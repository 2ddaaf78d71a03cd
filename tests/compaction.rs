//! Compaction: latest record per key, offsets preserved, tombstones, bounded memory,
//! crash-safe swap, and a property test against a model.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    reason = "test data: offsets, sizes and counts are small"
)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pagelog::{CleanupPolicy, FlushPolicy, NewRecord, Partition, Store, StoreOptions, TopicConfig};
use proptest::prelude::*;

/// Explicit compaction only (`compact()` works under any policy); the background test and
/// the model test use `CleanupPolicy::Compact`, where passes also run on their own.
fn config() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(256)
        .flush(FlushPolicy::Never)
        .delete_retention_ms(u64::MAX / 4)
}

/// The last record per key in offset order, and every offset, strictly increasing.
fn latest(p: &Partition) -> BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>)> {
    let mut m = BTreeMap::new();
    let mut prev = None;
    for r in p {
        let r = r.unwrap();
        assert!(prev.is_none_or(|o| r.offset() > o), "offsets only increase");
        prev = Some(r.offset());
        if let Some(k) = r.key() {
            m.insert(k.to_vec(), (r.offset(), r.value_opt().map(<[u8]>::to_vec)));
        }
    }
    m
}

fn put(p: &Partition, key: &str, value: &str) -> u64 {
    p.append(NewRecord::new(value.as_bytes()).key(key.as_bytes()))
        .unwrap()
}

#[test]
fn keeps_the_latest_per_key_and_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::partition0(&store, "t", config());
    let mut want = BTreeMap::new();
    for round in 0..60 {
        for k in 0..10 {
            let key = format!("k{k}");
            let o = put(&p, &key, &format!("{key}-v{round}-{}", "x".repeat(40)));
            want.insert(key.into_bytes(), o);
        }
    }
    let before_bytes = p.info().bytes;
    let active_before = p.segment_paths().last().unwrap().clone();
    let next = p.next_offset();
    let view = p.read(0).unwrap().unwrap();
    let report = p.compact().unwrap();
    assert!(
        report.segments_rewritten > 0 && report.records_removed > 0,
        "{report:?}"
    );
    assert!(report.bytes_reclaimed > 0);
    assert!(p.info().bytes < before_bytes / 2);
    assert_eq!(p.next_offset(), next, "offsets never change");
    assert_eq!(
        view.value(),
        b"k0-v0-"
            .iter()
            .chain(&[b'x'; 40])
            .copied()
            .collect::<Vec<_>>()
    );
    assert_eq!(
        p.segment_paths().last().unwrap(),
        &active_before,
        "active untouched"
    );
    let got = latest(&p);
    for (k, o) in &want {
        assert_eq!(
            got[k].0, *o,
            "the latest record of each key keeps its offset"
        );
    }
    // Reads in the gaps land on the next surviving record; nothing errors.
    for o in 0..next {
        let r = p.read(o).unwrap().unwrap();
        assert!(r.offset() >= o);
    }
    assert!(p.verify().is_ok(), "{:?}", p.verify().problems);
    // A second pass has nothing left to do in what it already compacted.
    let again = p.compact().unwrap();
    assert_eq!(again.records_removed, 0, "{again:?}");
    store.close().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::open_partition0(&store, "t");
    assert_eq!(latest(&p).len(), 10);
    assert!(p.verify().is_ok());
}

#[test]
fn tombstones_stay_for_delete_retention_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let keep = store
        .create_topic("keep", config())
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    let drop_c = config().delete_retention_ms(0);
    let gone = store
        .create_topic("gone", drop_c)
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    for p in [&keep, &gone] {
        for i in 0..200 {
            put(p, &format!("k{}", i % 5), &"v".repeat(50));
        }
        p.append(NewRecord::tombstone(b"k1").timestamp(1_000))
            .unwrap();
        while p.info().segments < 12 {
            put(p, "other", &"w".repeat(50));
        }
        p.compact().unwrap();
    }
    let k = latest(&keep);
    assert_eq!(
        k[b"k1".as_slice()].1,
        None,
        "the tombstone is the latest record of k1"
    );
    let g = latest(&gone);
    assert!(
        !g.contains_key(b"k1".as_slice()),
        "expired tombstone and all older k1 are gone"
    );
    assert!(g.contains_key(b"k0".as_slice()));
}

#[test]
fn a_full_key_map_compacts_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default().compaction_max_keys(8);
    let store = Store::open_with(dir.path(), options).unwrap();
    let p = common::partition0(&store, "t", config());
    for round in 0..30 {
        for k in 0..20 {
            put(
                &p,
                &format!("key-{k:02}"),
                &format!("{round}-{}", "y".repeat(30)),
            );
        }
    }
    let want = latest(&p);
    let first = p.compact().unwrap();
    assert!(first.map_full, "{first:?}");
    let mut passes = 1;
    while p.compact().unwrap().segments_rewritten > 0 {
        passes += 1;
        assert!(passes < 100);
    }
    let got = latest(&p);
    assert_eq!(
        got, want,
        "every key's latest record survives, at its offset"
    );
}

#[test]
fn interrupted_swaps_are_rolled_back_or_forward_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("t").join("0");
    let want = {
        let store = Store::open(dir.path()).unwrap();
        let p = common::partition0(&store, "t", config());
        for i in 0..300 {
            put(
                &p,
                &format!("k{}", i % 7),
                &format!("{i}-{}", "z".repeat(40)),
            );
        }
        let want = latest(&p);
        store.close().unwrap();
        want
    };
    // Roll forward: the compacted files of segment 0 sit as .swap next to the old ones.
    let compacted = {
        let scratch = tempfile::tempdir().unwrap();
        common::copy_dir(dir.path(), scratch.path());
        let store = Store::open(scratch.path()).unwrap();
        let p = common::open_partition0(&store, "t");
        p.compact().unwrap();
        store.close().unwrap();
        scratch
    };
    let cdir = compacted.path().join("t").join("0");
    for ext in ["log", "index", "timeindex"] {
        let name = format!("00000000000000000000.{ext}");
        std::fs::copy(cdir.join(&name), pdir.join(format!("{name}.swap"))).unwrap();
    }
    // Roll back: a half-written .cleaned for segment 0 is discarded.
    std::fs::write(pdir.join("00000000000000000000.log.cleaned"), b"half").unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::open_partition0(&store, "t");
    assert_eq!(latest(&p), want);
    assert!(p.verify().is_ok(), "{:?}", p.verify().problems);
    let leftovers: Vec<_> = std::fs::read_dir(&pdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            std::path::Path::new(n)
                .extension()
                .is_some_and(|e| e == "swap" || e == "cleaned")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(
        std::fs::metadata(pdir.join("00000000000000000000.log"))
            .unwrap()
            .len(),
        std::fs::metadata(cdir.join("00000000000000000000.log"))
            .unwrap()
            .len(),
        "the swap was completed"
    );
}

#[test]
fn compacting_topics_compact_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = config().cleanup_policy(CleanupPolicy::Compact);
    let p = common::partition0(&store, "t", c);
    for i in 0..400 {
        put(&p, "same-key", &format!("{i}-{}", "q".repeat(60)));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while p.info().bytes > 4 * 4096 {
        assert!(
            Instant::now() < deadline,
            "no background compaction: {:?}",
            p.info()
        );
        std::thread::yield_now();
    }
    assert_eq!(latest(&p).len(), 1);
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u16),
    Delete(u8),
    Compact,
    Reopen { crash: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..12, 0u16..400).prop_map(|(k, len)| Op::Put(k, len)),
        2 => (0u8..12).prop_map(Op::Delete),
        1 => Just(Op::Compact),
        1 => any::<bool>().prop_map(|crash| Op::Reopen { crash }),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// After any sequence of puts, deletes (tombstones), compactions and reopens, the log
    /// gives for every key exactly the model's latest value, and offsets only increase.
    #[test]
    fn compaction_matches_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let c = config().index_interval_bytes(128).cleanup_policy(CleanupPolicy::Compact);
        store.create_topic("t", c).unwrap();
        let mut model: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        let mut next = 0u64;
        for op in ops {
            let p = common::open_partition0(&store, "t");
            match op {
                Op::Put(k, len) => {
                    let key = vec![b'k', k];
                    let value: Vec<u8> = (0..len).map(|i| (i as u8) ^ k).collect();
                    let o = p.append(NewRecord::new(&value).key(&key)).unwrap();
                    prop_assert_eq!(o, next);
                    next += 1;
                    model.insert(key, Some(value));
                }
                Op::Delete(k) => {
                    let key = vec![b'k', k];
                    p.append(NewRecord::tombstone(&key)).unwrap();
                    next += 1;
                    model.insert(key, None);
                }
                Op::Compact => {
                    p.compact().unwrap();
                }
                Op::Reopen { crash } => {
                    drop(p);
                    if crash { store.crash() } else { store.close().unwrap() }
                    store = Store::open(dir.path()).unwrap();
                }
            }
            let p = common::open_partition0(&store, "t");
            prop_assert_eq!(p.next_offset(), next);
            let got: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
                latest(&p).into_iter().map(|(k, (_, v))| (k, v)).collect();
            prop_assert_eq!(&got, &model);
        }
        let p = common::open_partition0(&store, "t");
        prop_assert!(p.verify().is_ok(), "{:?}", p.verify().problems);
    }
}
