//! A damaged batch header in a sealed segment never makes a read end early and quietly.
//!
//! A small partition (4 KiB segments, a sparse offset index) is closed cleanly, so its sealed
//! segments are trusted on the next open and never rescanned. Then every byte of every batch
//! header of one sealed segment is flipped, one at a time, in a fresh copy of the store, and
//! every way of reading the partition is run on it:
//!
//! * a scan with `Iterator::next` and one with `Records::next_ref`;
//! * `read(o)` of every offset (the offset-index walk);
//! * `offset_for_timestamp` of every record's timestamp (the time-index walk);
//! * a consumer group's poll loop;
//! * a Kafka export;
//! * a compaction pass.
//!
//! Each either returns exactly what the undamaged partition holds or returns an error: never
//! a shorter result, a different record or a wrong offset. A scan with `skip_damaged` returns
//! only true records, in order, and accounts for every offset it does not return in
//! `Records::skipped`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "test data: offsets, sizes and counts are small"
)]

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::rng::Rng;
use pagelog::codec::batch::HEADER_LEN;
use pagelog::kafka::{ExportOptions, export};
use pagelog::{
    ConsumerConfig, Corruption, Error, FlushPolicy, NewRecord, Partition, Store, TopicConfig,
};

const TOPIC: &str = "t";
const T0: i64 = 1_700_000_000_000;
/// Distinct keys: compaction has earlier records to remove.
const KEYS: u64 = 40;

fn config() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(256)
        .flush(FlushPolicy::Never)
}

fn value(o: u64) -> Vec<u8> {
    format!("msg-{o:05}-{}", "x".repeat((o % 13) as usize)).into_bytes()
}

fn key(o: u64) -> Vec<u8> {
    format!("key-{}", o % KEYS).into_bytes()
}

fn ts(o: u64) -> i64 {
    T0 + 10 * o as i64
}

/// A cleanly closed store holding batches of 1 to 3 keyed records over several segments.
fn build() -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = common::partition0(&store, TOPIC, config());
    for k in 0..150u64 {
        let start = p.next_offset();
        let offsets: Vec<u64> = (start..start + 1 + k % 3).collect();
        let (keys, values): (Vec<_>, Vec<_>) = offsets.iter().map(|&o| (key(o), value(o))).unzip();
        let records: Vec<NewRecord<'_>> = offsets
            .iter()
            .enumerate()
            .map(|(i, &o)| NewRecord::new(&values[i]).key(&keys[i]).timestamp(ts(o)))
            .collect();
        p.append_batch(&records).unwrap();
    }
    let total = p.next_offset();
    assert!(p.segment_paths().len() >= 4, "the fixture spans segments");
    drop(p);
    store.close().unwrap();
    (dir, total)
}

/// Start positions of the batches of an undamaged `.log`.
fn batch_positions(log: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + HEADER_LEN <= log.len() {
        let len = u32::from_le_bytes(log[pos + 4..pos + 8].try_into().unwrap()) as usize;
        assert!(
            len >= HEADER_LEN && pos + len <= log.len(),
            "fixture log is valid"
        );
        out.push(pos);
        pos += len;
    }
    assert_eq!(pos, log.len(), "a sealed segment ends with its last batch");
    out
}

fn logs(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root.join(TOPIC).join("0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// Collects what a scan returns until it ends or fails; `Err` describes a short or wrong
/// result that ended without an error.
fn check_scan(p: &Partition, total: u64, by_ref: bool) -> Result<(), String> {
    let mut it = p.iter();
    let mut want = 0;
    loop {
        let got = if by_ref {
            it.next_ref()
                .map(|r| r.map(|r| (r.offset(), r.value().to_vec())))
        } else {
            it.next()
                .map(|r| r.map(|r| (r.offset(), r.value().to_vec())))
        };
        match got {
            None if want == total => return Ok(()),
            None => return Err(format!("scan ended quietly at {want} of {total}")),
            Some(Err(_)) => return Ok(()),
            Some(Ok((o, v))) => {
                if o != want || v != value(o) {
                    return Err(format!("scan returned offset {o} where {want} was due"));
                }
                want += 1;
            }
        }
    }
}

fn check_skipping_scan(p: &Partition, total: u64) -> Result<(), String> {
    let mut it = p.iter().skip_damaged();
    let (mut returned, mut last) = (0u64, None);
    let mut errors = 0;
    for r in it.by_ref() {
        if let Ok(r) = r {
            let o = r.offset();
            if r.value() != value(o) || last.is_some_and(|l| o <= l) || o >= total {
                return Err(format!("skipping scan returned a wrong record at {o}"));
            }
            last = Some(o);
            returned += 1;
        } else {
            errors += 1;
            if errors > 1000 {
                return Err("skipping scan does not move on".into());
            }
        }
    }
    if returned + it.skipped() != total {
        return Err(format!(
            "skipping scan returned {returned} and skipped {} of {total}",
            it.skipped()
        ));
    }
    if it.skipped() > 0 && errors == 0 {
        return Err("skipped offsets without reporting an error".into());
    }
    Ok(())
}

fn check_point_reads(p: &Partition, total: u64) -> Result<(), String> {
    for o in 0..total {
        match p.read(o) {
            Ok(Some(r)) if r.offset() == o && r.value() == value(o) => {}
            Ok(other) => return Err(format!("read({o}) gave {:?}", other.map(|r| r.offset()))),
            Err(_) => {}
        }
        match p.offset_for_timestamp(ts(o)) {
            Ok(Some(got)) if got == o => {}
            Ok(other) => return Err(format!("offset_for_timestamp(ts({o})) gave {other:?}")),
            Err(_) => {}
        }
    }
    Ok(())
}

fn check_consumer(store: &Store, total: u64) -> Result<(), String> {
    let topic = store.topic(TOPIC).unwrap();
    let mut c = topic.consumer("g", ConsumerConfig::default()).unwrap();
    let mut want = 0;
    loop {
        match c.poll(Duration::ZERO) {
            Err(_) => return Ok(()),
            Ok(batch) if batch.is_empty() => {
                return if want == total {
                    Ok(())
                } else {
                    Err(format!("consumer stopped quietly at {want} of {total}"))
                };
            }
            Ok(batch) => {
                for r in batch {
                    if r.offset() != want || r.value() != value(want) {
                        return Err(format!("consumer got {} where {want} was due", r.offset()));
                    }
                    want += 1;
                }
            }
        }
    }
}

fn check_export(p: &Partition, total: u64) -> Result<(), String> {
    let out = tempfile::tempdir().unwrap();
    match export(p, out.path(), &ExportOptions::default()) {
        Err(_) => Ok(()),
        Ok(r) if r.records == total && r.end_offset == total => Ok(()),
        Ok(r) => Err(format!(
            "export wrote {} records up to {}",
            r.records, r.end_offset
        )),
    }
}

/// After a successful compaction the partition holds, for each key, its latest record among
/// the sealed segments, and every record of the active one.
fn check_compaction(p: &Partition, total: u64) -> Result<(), String> {
    let active = p.segment_paths().last().unwrap().log.clone();
    let active_base: u64 = active
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    if p.compact().is_err() {
        return Ok(());
    }
    let mut latest: HashMap<Vec<u8>, u64> = HashMap::new();
    for o in 0..active_base {
        latest.insert(key(o), o);
    }
    let want: Vec<u64> = (0..total)
        .filter(|&o| o >= active_base || latest[&key(o)] == o)
        .collect();
    let mut got = Vec::new();
    for r in p {
        match r {
            Ok(r) if r.value() == value(r.offset()) => got.push(r.offset()),
            Ok(r) => {
                return Err(format!(
                    "compacted log holds a wrong record at {}",
                    r.offset()
                ));
            }
            // Compaction left the damaged segment alone; reading it still fails.
            Err(_) => return Ok(()),
        }
    }
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "compaction kept {} records, {} expected",
            got.len(),
            want.len()
        ))
    }
}

/// Every check on one damaged copy; the first failure, if any.
fn check_all(root: &Path, total: u64) -> Result<(), String> {
    let store = Store::open(root).map_err(|e| format!("open failed: {e}"))?;
    let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    if p.next_offset() != total {
        return Err(format!("open changed the end to {}", p.next_offset()));
    }
    check_scan(&p, total, false)?;
    check_scan(&p, total, true)?;
    check_point_reads(&p, total)?;
    check_consumer(&store, total)?;
    check_export(&p, total)?;
    check_skipping_scan(&p, total)?;
    check_compaction(&p, total)?;
    Ok(())
}

#[test]
fn every_flipped_header_byte_of_a_sealed_segment_errors_or_reads_everything() {
    let (fixture, total) = build();
    let all = logs(fixture.path());
    // A sealed segment in the middle: segments before and after it hold records too.
    let target = all[all.len() / 2].clone();
    let name = target.file_name().unwrap().to_owned();
    let positions = batch_positions(&fs::read(&target).unwrap());
    let mut rng = Rng(0x13);
    // One random non-zero mask per header byte.
    let cases: Vec<(usize, usize, u8)> = positions
        .iter()
        .flat_map(|&pos| (0..HEADER_LEN).map(move |byte| (pos, byte)))
        .map(|(pos, byte)| (pos, byte, (rng.below(255) + 1) as u8))
        .collect();
    let trials = cases.len();
    // Two threads, as CI has two cores.
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = cases
            .chunks(trials.div_ceil(2))
            .map(|chunk| {
                let (fixture, name) = (&fixture, &name);
                s.spawn(move || {
                    let mut failures = Vec::new();
                    for &(pos, byte, mask) in chunk {
                        let copy = tempfile::tempdir().unwrap();
                        common::copy_dir(fixture.path(), copy.path());
                        let log = copy.path().join(TOPIC).join("0").join(name);
                        let mut bytes = fs::read(&log).unwrap();
                        bytes[pos + byte] ^= mask;
                        fs::write(&log, &bytes).unwrap();
                        if let Err(why) = check_all(copy.path(), total) {
                            failures.push(format!(
                                "batch at {pos}, header byte {byte}, mask {mask:#04x}: {why}"
                            ));
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(trials > 1000, "{trials} trials");
    assert!(
        failures.is_empty(),
        "{} of {trials} damaged copies were read short or wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The reproduction: a flipped high byte of `last_offset_delta` in a sealed segment
/// made every reader stop before it and report success.
#[test]
fn a_damaged_last_offset_delta_is_reported_where_it_is() {
    let (fixture, total) = build();
    let all = logs(fixture.path());
    let target = &all[1];
    let positions = batch_positions(&fs::read(target).unwrap());
    let pos = positions[positions.len() / 2];
    let mut bytes = fs::read(target).unwrap();
    bytes[pos + 27] ^= 0xeb;
    fs::write(target, &bytes).unwrap();
    let store = Store::open(fixture.path()).unwrap();
    let p = common::open_partition0(&store, TOPIC);
    let err = p
        .iter()
        .find_map(Result::err)
        .expect("the scan reports the damage");
    match err {
        Error::Corrupt {
            path,
            position,
            reason,
        } => {
            assert_eq!(&path, target);
            assert_eq!(position, (pos + 24) as u64, "the last_offset_delta field");
            assert!(
                matches!(reason, Corruption::PastTheEnd { end, .. } if end == total),
                "{reason:?}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Skipping resumes at the next batch the index knows, inside the same segment or the
    // next, and counts what it stepped over.
    let mut it = p.iter().skip_damaged();
    let returned = it.by_ref().flatten().count() as u64;
    assert!(it.skipped() > 0);
    assert_eq!(returned + it.skipped(), total);
}

#[test]
fn a_log_cut_short_is_not_compacted_into_a_gap() {
    let (fixture, _) = build();
    let all = logs(fixture.path());
    let target = &all[1];
    let positions = batch_positions(&fs::read(target).unwrap());
    let len = fs::metadata(target).unwrap().len();
    // Cut the last batch off, and drop the indexes so that open rebuilds them from the log.
    fs::OpenOptions::new()
        .write(true)
        .open(target)
        .unwrap()
        .set_len(*positions.last().unwrap() as u64)
        .unwrap();
    assert!(fs::metadata(target).unwrap().len() < len);
    let store = Store::open(fixture.path()).unwrap();
    let p = common::open_partition0(&store, TOPIC);
    match p.compact() {
        Err(Error::Corrupt { path, reason, .. }) => {
            assert_eq!(&path, target);
            assert!(matches!(reason, Corruption::CutShort { .. }), "{reason:?}");
        }
        other => panic!("compaction of a cut-short segment gave {other:?}"),
    }
}
