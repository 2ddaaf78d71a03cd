//! Crashes at every step of segment deletion, truncation and the compaction swap.
//!
//! Each case prepares a store, then runs the operation in a child process built with the
//! `failpoints` feature, with `PAGELOG_FAILPOINT` naming one step: the library aborts the
//! child right there, as `kill -9` would. The child is the test itself, re-run alone in this
//! test binary (`common::child_command`, `PAGELOG_STEP_DIR` naming the store); there it sees
//! `common::is_child_of` and plays the child's role instead of the parent's. The parent
//! checks that the child really died at that step, reopens the store, and checks that the log
//! opens, verifies clean, and holds what the operation promises: deletion leaves a contiguous
//! suffix, truncation is finished from its intent file, compaction keeps every key's latest
//! record at its offset.
//!
//! [`a_child_runs_the_test_that_started_it`] (top level and in a module) checks the mechanism
//! itself: `test_name!` names a test as `--exact` expects, so the child runs exactly that test.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use pagelog::{FlushPolicy, NewRecord, Partition, Store, TopicConfig};

const N: u64 = 600;
const TRUNCATE_TO: u64 = 333;

fn config() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(256)
        .flush(FlushPolicy::Never)
}

/// Where the deletion case raises the start offset: whole segments below it are deleted.
const DELETE_BEFORE: u64 = N / 2;

fn value(offset: u64) -> String {
    format!(
        "o{offset}-k{}-{}",
        offset % 10,
        "p".repeat((offset % 50) as usize)
    )
}

fn prepare(dir: &Path) {
    let store = Store::open(dir).unwrap();
    let p = store
        .create_topic("t", config())
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    for o in 0..N {
        let key = format!("k{}", o % 10);
        p.append(NewRecord::new(value(o).as_bytes()).key(key.as_bytes()))
            .unwrap();
    }
    store.close().unwrap();
}

/// Set in the child: the store directory.
const ENV_DIR: &str = "PAGELOG_STEP_DIR";
const SIGABRT: i32 = 6;

/// The child's role: opens the store in `PAGELOG_STEP_DIR` and runs `op` on it; the failpoint
/// aborts it there.
fn child(op: impl FnOnce(&Store)) -> ! {
    let dir = std::env::var(ENV_DIR).unwrap();
    let store = Store::open(&dir).unwrap();
    op(&store);
    // Reaching this line means the failpoint was not hit; the parent reports it.
    std::process::exit(0);
}

/// Partition 0 of topic `t`.
fn partition_t(store: &Store) -> Partition {
    store.topic("t").unwrap().partition(0).unwrap().clone()
}

/// Runs test `test` as the child on `dir` and checks that it aborted at `failpoint`.
fn crash_at(test: &str, dir: &Path, failpoint: &str) {
    let status = common::child_command(test)
        .env(ENV_DIR, dir)
        .env("PAGELOG_FAILPOINT", failpoint)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(SIGABRT),
        "{test}: the child did not stop at {failpoint} ({status})"
    );
}

fn reopen(dir: &Path) -> (Store, Partition) {
    let store = Store::open(dir).unwrap();
    let p = store.topic("t").unwrap().partition(0).unwrap().clone();
    assert!(p.verify().is_ok(), "{:?}", p.verify().problems);
    (store, p)
}

/// Every record present is the original one at its offset; returns (first, last+1).
fn check_originals(p: &Partition) -> (u64, u64) {
    let mut first = None;
    let mut prev: Option<u64> = None;
    for r in p.iter() {
        let r = r.unwrap();
        assert_eq!(
            r.value(),
            value(r.offset()).as_bytes(),
            "offset {}",
            r.offset()
        );
        assert!(prev.is_none_or(|o| r.offset() > o));
        first.get_or_insert(r.offset());
        prev = Some(r.offset());
    }
    (
        first.unwrap_or(p.next_offset()),
        prev.map_or(p.next_offset(), |o| o + 1),
    )
}

#[test]
fn crash_during_retention_deletion() {
    let test = test_name!();
    if common::is_child_of(test) {
        child(|store| {
            partition_t(store)
                .delete_records_before(DELETE_BEFORE)
                .unwrap();
        });
    }
    for fp in [
        "retention.after_unlist",
        "delete.after_first_rename",
        "delete.before_unlink",
    ] {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        crash_at(test, dir.path(), fp);
        let (store, p) = reopen(dir.path());
        assert_eq!(p.next_offset(), N, "{fp}");
        assert_eq!(
            p.start_offset(),
            DELETE_BEFORE,
            "{fp}: the raised start is durable first"
        );
        let (first, end) = check_originals(&p);
        assert_eq!(
            (first, end),
            (DELETE_BEFORE, N),
            "{fp}: a contiguous suffix"
        );
        // Whatever the crash left, a later pass deletes every segment below the start.
        p.enforce_retention().unwrap();
        let first_base: u64 = p.segment_paths()[0]
            .log
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
            .unwrap();
        assert!(first_base <= DELETE_BEFORE, "{fp}");
        assert_eq!(p.segment_paths().len(), p.info().segments);
        drop(store);
    }
}

#[test]
fn crash_during_truncation() {
    let test = test_name!();
    if common::is_child_of(test) {
        child(|store| partition_t(store).truncate_to(TRUNCATE_TO).unwrap());
    }
    for fp in [
        "truncate.after_intent",
        "truncate.after_delete",
        "rewrite.before_rename",
        "truncate.after_rewrite",
        "truncate.before_intent_removed",
    ] {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        crash_at(test, dir.path(), fp);
        let (store, p) = reopen(dir.path());
        assert_eq!(
            p.next_offset(),
            TRUNCATE_TO,
            "{fp}: finished from the intent"
        );
        let (first, end) = check_originals(&p);
        assert_eq!((first, end), (0, TRUNCATE_TO), "{fp}");
        assert!(!dir.path().join("t/0/truncate").exists());
        assert_eq!(p.append(NewRecord::new(b"after")).unwrap(), TRUNCATE_TO);
        drop(store);
    }
}

#[test]
fn crash_during_the_compaction_swap() {
    let test = test_name!();
    if common::is_child_of(test) {
        child(|store| {
            partition_t(store).compact().unwrap();
        });
    }
    for fp in [
        "compact.after_cleaned",
        "compact.after_first_swap_rename",
        "compact.swap_decided",
        "compact.after_first_live_rename",
    ] {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        crash_at(test, dir.path(), fp);
        let (store, p) = reopen(dir.path());
        assert_eq!(p.next_offset(), N, "{fp}");
        check_originals(&p);
        // Every key's latest record is still there, at its offset.
        let mut latest = BTreeMap::new();
        for r in p.iter() {
            let r = r.unwrap();
            latest.insert(r.key().unwrap().to_vec(), r.offset());
        }
        for k in 0..10u64 {
            let want = N - 10 + k;
            assert_eq!(latest[format!("k{}", want % 10).as_bytes()], want, "{fp}");
        }
        // Compaction can run to completion afterwards.
        p.compact().unwrap();
        assert_eq!(check_originals(&p).1, N);
        drop(store);
    }
}

/// In a child started by `common::child_command(test)`, reports that it runs; in the parent,
/// starts that child and checks that it ran this test and nothing else.
fn check_child_runs(test: &str) {
    let mark = format!("@@ child of {test}\n");
    if common::is_child_of(test) {
        print!("{mark}");
        return;
    }
    let out = common::child_command(test)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", out.status);
    assert!(
        stdout.contains(&mark),
        "the child ran another test:\n{stdout}"
    );
    assert!(
        stdout.contains("test result: ok. 1 passed; 0 failed"),
        "the child ran more than this test:\n{stdout}"
    );
}

/// `test_name!` gives a top-level test's name as `--exact` expects it, so a child started
/// with it runs exactly this test.
#[test]
fn a_child_runs_the_test_that_started_it() {
    let test = test_name!();
    assert_eq!(test, "a_child_runs_the_test_that_started_it");
    check_child_runs(test);
}

mod in_a_module {
    /// The same for a test in a module: `module::name`.
    #[test]
    fn a_child_runs_the_test_that_started_it() {
        let test = crate::test_name!();
        assert_eq!(test, "in_a_module::a_child_runs_the_test_that_started_it");
        super::check_child_runs(test);
    }
}
