//! Crashes at every step of segment deletion, truncation, the compaction swap, and topic
//! creation and deletion.
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
//! Topic creation and deletion (src/staging.rs) are crashed at each of their failpoints, in a
//! root that also holds a complete topic `keep` and a directory of the user's,
//! `backup~creating/` with a file in it. Before the reopen the test checks that the crash left
//! what that step leaves (a `~creating.<id>` or `~deleting.<id>` directory with the expected
//! files, or a marker in the new topic). After it: a creation stopped before its rename left
//! no topic and no leftover, one stopped after it a complete, openable topic without its
//! marker; a deletion left no topic and no leftover, and the name can be created again, fresh
//! (no records, no group). Each time the root holds nothing but `pagelog.lock`, complete
//! topics and the user's directory, intact, and nothing was reported as left alone; the same
//! holds after a second, clean reopen.
//!
//! [`a_child_runs_the_test_that_started_it`] (top level and in a module) checks the mechanism
//! itself: `test_name!` names a test as `--exact` expects, so the child runs exactly that test.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pagelog::{ConsumerConfig, Error, FlushPolicy, NewRecord, Partition, Store, TopicConfig};

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

/// A child spawned by one test holds, until its `exec`, copies of every descriptor this
/// process has open, including another test's store lock: that lock then outlives the
/// store's close for a moment, and the other test's next `Store::open` (or its child's) fails
/// with `Error::Locked`. So the tests of this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}
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
    let out = common::child_command(test)
        .env(ENV_DIR, dir)
        .env("PAGELOG_FAILPOINT", failpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(SIGABRT),
        "{test}: the child did not stop at {failpoint} ({})\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
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
    for r in p {
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
    let _serial = serial();
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
    let _serial = serial();
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
    let _serial = serial();
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
        for r in &p {
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

// ---------------------------------------------------------------------------------------------
// Topic creation and deletion
// ---------------------------------------------------------------------------------------------

/// A directory of the user's in the store root, with a name like the staging names of earlier
/// builds: every crash and reopen must leave it, and its file, alone.
const USER_DIR: &str = "backup~creating";
const USER_FILE: &str = "notes.txt";
const USER_BYTES: &[u8] = b"the user's own notes";
/// Every file of a complete topic directory of two partitions, before its first group.
const TOPIC_FILES: [&str; 4] = ["0", "1", "live", "topic.meta"];
const MARKER: &str = "pagelog.staging";

fn two_partitions() -> TopicConfig {
    config().partitions(2)
}

/// A store holding topic `keep` (one record) and, beside it, the user's directory.
fn prepare_root(root: &Path) {
    let store = Store::open(root).unwrap();
    let p = common::partition0(&store, "keep", config());
    p.append(NewRecord::new(b"kept")).unwrap();
    drop(p);
    store.close().unwrap();
    fs::create_dir(root.join(USER_DIR)).unwrap();
    fs::write(root.join(USER_DIR).join(USER_FILE), USER_BYTES).unwrap();
}

/// Names in directory `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The entries of `root` whose names start with `prefix`.
fn starting_with(root: &Path, prefix: &str) -> Vec<PathBuf> {
    entries(root)
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .map(|n| root.join(n))
        .collect()
}

/// The one staging directory `<prefix><16 hex digits>` a crash left in `root`.
fn one_staging_dir(root: &Path, prefix: &str, ctx: &str) -> PathBuf {
    let found = starting_with(root, prefix);
    assert_eq!(found.len(), 1, "{ctx}: one {prefix} directory: {found:?}");
    let id = found[0].file_name().unwrap().to_str().unwrap()[prefix.len()..].to_owned();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{ctx}: {found:?}"
    );
    found[0].clone()
}

/// After a reopen: the root holds `pagelog.lock`, the user's directory (intact) and the
/// complete topics `topics`, nothing else; each topic opens without a marker and verifies
/// clean, `keep` still holds its record, and open reported nothing it left alone.
fn check_root(store: &Store, root: &Path, topics: &[&str], ctx: &str) {
    let mut want: Vec<String> = ["pagelog.lock", USER_DIR]
        .into_iter()
        .chain(topics.iter().copied())
        .map(str::to_owned)
        .collect();
    want.sort();
    assert_eq!(entries(root), want, "{ctx}: the root");
    let mut want_topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    want_topics.sort();
    assert_eq!(store.topics().unwrap(), want_topics, "{ctx}");
    for name in topics {
        let topic = store
            .topic(name)
            .unwrap_or_else(|e| panic!("{ctx}: topic {name} does not open: {e}"));
        assert!(
            !entries(topic.dir()).iter().any(|n| n == MARKER),
            "{ctx}: {name} kept its marker"
        );
        for p in topic.partitions() {
            let report = p.verify();
            assert!(report.is_ok(), "{ctx}: {name}: {:?}", report.problems);
        }
    }
    let keep = common::open_partition0(store, "keep");
    assert_eq!(keep.read(0).unwrap().unwrap().value(), b"kept", "{ctx}");
    assert_eq!(keep.next_offset(), 1, "{ctx}");
    assert_eq!(entries(&root.join(USER_DIR)), [USER_FILE], "{ctx}");
    assert_eq!(
        fs::read(root.join(USER_DIR).join(USER_FILE)).unwrap(),
        USER_BYTES,
        "{ctx}: the user's file"
    );
    let notes = store.background_errors();
    assert!(notes.is_empty(), "{ctx}: open reported {notes:?}");
}

/// Topic `t` is complete and fresh: two empty partitions, no group. Then one record is
/// appended to each.
fn check_fresh_t(store: &Store, ctx: &str) {
    let t = store.topic("t").unwrap();
    assert_eq!(t.partition_count(), 2, "{ctx}");
    assert_eq!(t.groups().unwrap(), Vec::<String>::new(), "{ctx}");
    assert_eq!(t.committed_offsets("g").unwrap(), [None, None], "{ctx}");
    for p in t.partitions() {
        assert_eq!(p.start_offset(), 0, "{ctx}");
        assert_eq!(p.next_offset(), 0, "{ctx}");
        assert_eq!(p.append(NewRecord::new(b"after")).unwrap(), 0, "{ctx}");
        p.flush().unwrap();
    }
}

/// A second, clean reopen sees the same root, and `t` with the records `check_fresh_t` added.
fn reopen_clean(root: &Path, ctx: &str) {
    let store = Store::open(root).unwrap();
    let ctx = format!("{ctx}, second reopen");
    check_root(&store, root, &["keep", "t"], &ctx);
    for p in store.topic("t").unwrap().partitions() {
        assert_eq!(p.next_offset(), 1, "{ctx}");
        assert_eq!(p.read(0).unwrap().unwrap().value(), b"after", "{ctx}");
    }
    store.close().unwrap();
}

#[test]
fn crash_during_topic_creation() {
    let test = test_name!();
    if common::is_child_of(test) {
        child(|store| {
            let t = store.create_topic("t", two_partitions()).unwrap();
            for p in t.partitions() {
                p.append(NewRecord::new(b"new")).unwrap();
            }
        });
    }
    let _serial = serial();
    // Each step, and what the crash leaves in the `~creating.` directory (`None`: nothing,
    // the rename happened and the marker is in `t`).
    let staged: [(&str, Option<&[&str]>); 4] = [
        ("create_topic.after_mkdir", Some(&[])),
        ("create_topic.after_marker", Some(&[MARKER])),
        (
            "create_topic.before_rename",
            Some(&["0", "1", "live", MARKER, "topic.meta"]),
        ),
        ("create_topic.after_rename", None),
    ];
    for (fp, left) in staged {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        prepare_root(root);
        crash_at(test, root, fp);
        let ctx = fp;
        let store = if let Some(files) = left {
            let staging = one_staging_dir(root, "~creating.", ctx);
            assert_eq!(entries(&staging), files, "{ctx}: the crash left");
            assert!(!root.join("t").exists(), "{ctx}");
            let store = Store::open(root).unwrap();
            check_root(&store, root, &["keep"], ctx);
            assert!(
                matches!(store.topic("t"), Err(Error::TopicNotFound(_))),
                "{ctx}: no topic"
            );
            // The name is free: creating it works.
            store.create_topic("t", two_partitions()).unwrap();
            store
        } else {
            assert!(starting_with(root, "~creating.").is_empty(), "{ctx}");
            let mut files = TOPIC_FILES.to_vec();
            files.push(MARKER);
            files.sort_unstable();
            assert_eq!(entries(&root.join("t")), files, "{ctx}: the crash left");
            let store = Store::open(root).unwrap();
            check_root(&store, root, &["keep", "t"], ctx);
            store
        };
        check_root(&store, root, &["keep", "t"], ctx);
        check_fresh_t(&store, ctx);
        store.close().unwrap();
        reopen_clean(root, ctx);
    }
}

/// Prepares the root for a deletion: `keep`, the user's directory, and topic `t` with two
/// partitions of several segments each and a committed group `g`.
fn prepare_deletion(root: &Path) {
    prepare_root(root);
    let store = Store::open(root).unwrap();
    let t = store.create_topic("t", two_partitions()).unwrap();
    for p in t.partitions() {
        for o in 0..200 {
            p.append(NewRecord::new(value(o).as_bytes())).unwrap();
        }
        assert!(p.info().segments > 2);
    }
    let mut c = t.consumer("g", ConsumerConfig::default()).unwrap();
    assert!(!c.poll(Duration::from_secs(10)).unwrap().is_empty());
    c.commit().unwrap();
    drop(c);
    assert!(
        t.committed_offsets("g")
            .unwrap()
            .iter()
            .any(Option::is_some),
        "the group committed"
    );
    store.close().unwrap();
}

#[test]
fn crash_during_topic_deletion() {
    let test = test_name!();
    if common::is_child_of(test) {
        child(|store| {
            // Open (as a user of the topic would have it), then delete.
            store.topic("t").unwrap();
            store.delete_topic("t").unwrap();
        });
    }
    let _serial = serial();
    // Each step, and what the crash leaves in the `~deleting.` directory.
    let steps: [(&str, &[&str]); 2] = [
        (
            "delete_topic.after_rename",
            &["0", "1", "groups", "live", "topic.meta"],
        ),
        ("delete_topic.before_proof_removed", &["topic.meta"]),
    ];
    for (fp, files) in steps {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        prepare_deletion(root);
        crash_at(test, root, fp);
        let ctx = fp;
        let deleting = one_staging_dir(root, "~deleting.", ctx);
        assert_eq!(entries(&deleting), files, "{ctx}: the crash left");
        assert!(!root.join("t").exists(), "{ctx}: renamed away");

        let store = Store::open(root).unwrap();
        check_root(&store, root, &["keep"], ctx);
        assert!(
            matches!(store.topic("t"), Err(Error::TopicNotFound(_))),
            "{ctx}: the topic is gone"
        );
        // The name can be created again, and nothing of the deleted topic comes back.
        store.create_topic("t", two_partitions()).unwrap();
        check_root(&store, root, &["keep", "t"], ctx);
        check_fresh_t(&store, ctx);
        store.close().unwrap();
        reopen_clean(root, ctx);
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
    let _serial = serial();
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
