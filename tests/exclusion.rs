//! Exclusion between processes: one store directory, one process.
//!
//! The child processes are the test itself, re-run alone in this test binary
//! (`common::child_command`), with `PAGELOG_EXCL_CASE` naming what to do and
//! `PAGELOG_EXCL_DIR` the store: there the test sees `common::is_child_of` and runs
//! [`exclusion_child`] instead of the parent's side. Each child reports on stdout, one `@@`
//! line per event. The parent waits on those lines through a pipe (with a deadline that only a
//! hang reaches), never on time.
//!
//! * [`a_second_process_is_locked_out_until_the_first_closes`]: while this process has the
//!   store open, a child's `Store::open` fails with `Error::Locked` naming the store's
//!   `pagelog.lock`, and a child cannot open the active segment for writing either
//!   (`Segment::recover` fails with `Error::Locked` naming its `.log`). Neither attempt
//!   changes anything. After `Store::close`, and again after a plain drop, a child opens the
//!   store, appends and closes it, and this process sees the appended records.
//! * [`a_killed_holder_releases_the_lock`]: a child opens the store, appends, and reports
//!   that it holds it; this process then gets `Error::Locked`. After the child is killed
//!   with `SIGKILL` (no destructor runs) the OS has released its `flock`: this process opens
//!   the store, recovery keeps every record the child's appends returned, and appends work.
//! * [`an_exited_holder_releases_the_lock`]: the same for a child that leaves with
//!   `process::exit` while the store is open.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use pagelog::{Error, FlushPolicy, LOCK_FILE, NewRecord, Segment, Store, TopicConfig};

/// Set in the child: what to do.
const ENV_CASE: &str = "PAGELOG_EXCL_CASE";
/// Set in the child: the store directory.
const ENV_DIR: &str = "PAGELOG_EXCL_DIR";
const TOPIC: &str = "t";
/// Only a hang reaches this.
const TIMEOUT: Duration = Duration::from_secs(120);
const SIGKILL: i32 = 9;

/// A child forked by one test holds, until its `exec`, copies of every descriptor this
/// process has open, including another test's store lock: that lock would outlive the
/// store's close for a moment and fail that test's child with `Locked`. So the tests of
/// this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn config() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(64 << 10)
        .flush(FlushPolicy::Never)
}

fn value(offset: u64) -> Vec<u8> {
    format!("record {offset} {}", "x".repeat((offset % 37) as usize)).into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------------------------

fn report(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "@@ {line}").unwrap();
    out.flush().unwrap();
}

fn describe<T>(r: &Result<T, Error>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(Error::Locked { path, .. }) => format!("locked {}", path.display()),
        Err(e) => format!("error {e}"),
    }
}

/// Appends `n` records after the current end of partition 0; reports the new end.
fn append_some(store: &Store, n: u64) {
    let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    for _ in 0..n {
        let o = p.next_offset();
        assert_eq!(p.append(NewRecord::new(&value(o))).unwrap(), o);
    }
    report(format!("appended {}", p.next_offset()));
}

/// The child's role (run by a test when it is a child): the case named in
/// `PAGELOG_EXCL_CASE`, on the store in `PAGELOG_EXCL_DIR`.
fn exclusion_child() {
    let case = std::env::var(ENV_CASE).unwrap();
    let dir = std::env::var(ENV_DIR).unwrap();
    let dir = Path::new(&dir);
    match case.as_str() {
        // Try to open the store; if that works, append and close it.
        "open" => {
            let r = Store::open(dir);
            report(format!("open {}", describe(&r)));
            if let Ok(store) = r {
                append_some(&store, 5);
                store.close().unwrap();
            }
        }
        // Try to become a second writer of the active segment.
        "segment" => {
            let part = dir.join(TOPIC).join("0");
            let r = Segment::recover(&part, 0, &config());
            report(format!("segment {}", describe(&r)));
        }
        // Open, append, then hold the store until killed (or until stdin closes).
        "hold" => {
            let store = Store::open(dir).unwrap();
            append_some(&store, 50);
            report("holding");
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            report("released by the parent");
            drop(store);
        }
        // Open, append, and leave without closing or dropping the store.
        "exit" => {
            let store = Store::open(dir).unwrap();
            append_some(&store, 50);
            report("done");
            std::mem::forget(store);
            std::process::exit(0);
        }
        other => panic!("unknown case {other}"),
    }
    report("done");
}

// ---------------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------------

/// Starts test `test` as a child running `case` on `dir`.
fn spawn_child(test: &str, case: &str, dir: &Path) -> Child {
    common::child_command(test)
        .env(ENV_CASE, case)
        .env(ENV_DIR, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// The `@@` lines of a child's stdout, as they come, on a channel.
fn reports(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            // The harness's "test <name> ... " may precede the first report.
            if let Some((_, report)) = line.split_once("@@ ")
                && tx.send(report.to_owned()).is_err()
            {
                return;
            }
        }
    });
    rx
}

/// Reads reports until one starts with `prefix`; returns it.
fn wait_for(rx: &mpsc::Receiver<String>, prefix: &str, deadline: Instant) -> String {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return line,
            Ok(_) => {}
            Err(e) => panic!("no {prefix:?} report from the child: {e:?}"),
        }
    }
}

/// Runs test `test` as a child running `case` to its end; returns its reports. Fails unless
/// it exited with success.
fn run_child(test: &str, case: &str, dir: &Path) -> Vec<String> {
    let deadline = Instant::now() + TIMEOUT;
    let mut child = spawn_child(test, case, dir);
    drop(child.stdin.take());
    let rx = reports(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("child {case} hung; reported {lines:?}");
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "child {case}: {status}; reported {lines:?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("done"), "{lines:?}");
    lines
}

fn prepare(dir: &Path) -> Store {
    let store = Store::open(dir).unwrap();
    let p = store
        .create_topic(TOPIC, config())
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    for o in 0..10 {
        p.append(NewRecord::new(&value(o))).unwrap();
    }
    store
}

/// Every record of partition 0 is the one written at its offset; returns the end.
fn check(store: &Store) -> u64 {
    let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    assert!(p.verify().is_ok(), "{:?}", p.verify().problems);
    let mut expect = 0;
    for r in &p {
        let r = r.unwrap();
        assert_eq!(r.offset(), expect);
        assert_eq!(r.value(), value(expect));
        expect += 1;
    }
    assert_eq!(expect, p.next_offset());
    expect
}

#[test]
fn a_second_process_is_locked_out_until_the_first_closes() {
    let test = test_name!();
    if common::is_child_of(test) {
        return exclusion_child();
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join(LOCK_FILE);
    let active_log = dir
        .path()
        .join(TOPIC)
        .join("0")
        .join(format!("{:020}.log", 0));

    let store = prepare(dir.path());
    let lines = run_child(test, "open", dir.path());
    assert_eq!(lines[0], format!("open locked {}", lock.display()));
    let lines = run_child(test, "segment", dir.path());
    assert_eq!(lines[0], format!("segment locked {}", active_log.display()));
    // The failed attempts changed nothing: this process goes on appending.
    let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    assert_eq!(p.append(NewRecord::new(&value(10))).unwrap(), 10);
    assert_eq!(check(&store), 11);
    drop(p);

    store.close().unwrap();
    let lines = run_child(test, "open", dir.path());
    assert_eq!(lines, ["open ok", "appended 16", "done"]);

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(check(&store), 16);
    drop(store); // a plain drop releases the lock too
    let lines = run_child(test, "open", dir.path());
    assert_eq!(lines, ["open ok", "appended 21", "done"]);

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(check(&store), 21);
    store.close().unwrap();
}

/// Starts test `test` as a child that opens the store (prepared with 10 records), appends 50
/// and then holds it; returns the child, its reports and the end it reported.
fn start_holder(test: &str, case: &str, dir: &Path) -> (Child, mpsc::Receiver<String>, u64) {
    prepare(dir).close().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut child = spawn_child(test, case, dir);
    let rx = reports(child.stdout.take().unwrap());
    let appended = wait_for(&rx, "appended ", deadline);
    let end = appended["appended ".len()..].parse().unwrap();
    assert_eq!(end, 60);
    (child, rx, end)
}

/// The store can be opened again, holds what the child appended, and takes appends.
fn reopen_after_holder(dir: &Path, end: u64) {
    let store = Store::open(dir).unwrap();
    assert_eq!(
        check(&store),
        end,
        "every record the child's appends returned"
    );
    let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    assert_eq!(p.append(NewRecord::new(&value(end))).unwrap(), end);
    drop(p);
    store.close().unwrap();
    let store = Store::open(dir).unwrap();
    assert_eq!(check(&store), end + 1);
    store.close().unwrap();
}

#[test]
fn a_killed_holder_releases_the_lock() {
    let test = test_name!();
    if common::is_child_of(test) {
        return exclusion_child();
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, rx, end) = start_holder(test, "hold", dir.path());
    wait_for(&rx, "holding", Instant::now() + TIMEOUT);
    match Store::open(dir.path()) {
        Err(Error::Locked { path, pid }) => {
            assert_eq!(path, dir.path().join(LOCK_FILE));
            assert_eq!(pid, Some(child.id()), "the holder's process id is named");
        }
        other => panic!("expected Locked while the child holds the store, got {other:?}"),
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(SIGKILL), "{status}");
    drop(child.stdin.take());
    reopen_after_holder(dir.path(), end);
}

#[test]
fn an_exited_holder_releases_the_lock() {
    let test = test_name!();
    if common::is_child_of(test) {
        return exclusion_child();
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, rx, end) = start_holder(test, "exit", dir.path());
    wait_for(&rx, "done", Instant::now() + TIMEOUT);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    reopen_after_holder(dir.path(), end);
}
