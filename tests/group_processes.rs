//! Consumer groups across processes: members in different processes split the partitions,
//! commit to one offsets file without overwriting each other, and take over the partitions of
//! a member process killed with `SIGKILL`.
//!
//! To stop or kill a member at a chosen step of a commit or handover, the child joins the
//! group at the level of the group's files (whole `Consumer`s in reader processes are
//! exercised by `tests/processes_stress.rs`): through `pagelog::group_membership::Member` (a `#[doc(hidden)]`
//! hook; `src/lib.rs` says why these tests reach it from here rather than from unit tests) on
//! the topic's `groups/` directory, which is all a member needs. The child is the test itself,
//! re-run alone in this test binary (`common::child_command`), with `PAGELOG_GROUP_DIR` naming
//! the groups directory and `PAGELOG_GROUP_PARTITIONS` the partition count: there the test
//! sees `common::is_child_of` and runs [`member_child`]. The parent drives the child through
//! its stdin, one command per line, and waits for its `@@` report lines through a pipe (with a
//! deadline that only a hang reaches), never on time.
//!
//! * [`commits_from_two_processes_keep_each_others_partitions`]: this process and a child
//!   are members of one group; they split four partitions; commits alternating between them,
//!   then two bursts of commits running at the same time, leave each side's latest offsets in
//!   the file; a child killed in the middle of a commit (holding the commit lock, its
//!   `<group>.tmp` half written) blocks nothing once it is dead; after the kill its slot and
//!   partitions are free at once, and this process takes them, starting from what the child
//!   committed.
//! * [`a_polling_consumer_takes_over_a_killed_member_within_the_bound`]: a `Consumer` of a
//!   store in this process shares a group with a child member; while it waits inside `poll`,
//!   the child is killed; the consumer reads the child's partitions, from the offsets the child
//!   committed, within twice its `rebalance_interval` (plus slack for a loaded machine), where
//!   an uncapped wait would have slept until the poll's 30-second timeout.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use pagelog::group_membership::{Acquire, Member};
use pagelog::{ConsumerConfig, FlushPolicy, NewRecord, Store, TopicConfig};

/// Set in the child: the topic's groups directory.
const ENV_DIR: &str = "PAGELOG_GROUP_DIR";
/// Set in the child: the topic's partition count.
const ENV_PARTITIONS: &str = "PAGELOG_GROUP_PARTITIONS";
const GROUP: &str = "g";
const PARTITIONS: u32 = 4;
/// Only a hang reaches this.
const TIMEOUT: Duration = Duration::from_secs(120);
const SIGKILL: i32 = 9;

/// A child spawned by one test holds, until its `exec`, copies of every descriptor this
/// process has open, so a lock another test releases by closing a file would outlive the
/// close for a moment. The tests of this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------------------------

fn report(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "@@ {line}").unwrap();
    out.flush().unwrap();
}

/// Commits offset `n` on every partition this member owns.
fn commit_all(m: &Member, n: u64) {
    let offsets: Vec<(u32, u64)> = m.owned().into_iter().map(|p| (p, n)).collect();
    m.commit(&offsets).unwrap();
}

/// The child's role: joins group `g` on the groups directory in `PAGELOG_GROUP_DIR`, reports
/// its slot, then follows the commands on its stdin until it is killed (or stdin closes).
fn member_child() {
    let dir = PathBuf::from(std::env::var(ENV_DIR).unwrap());
    let partitions: u32 = std::env::var(ENV_PARTITIONS).unwrap().parse().unwrap();
    let mut m = Member::join(&dir, GROUP, partitions).unwrap();
    report(format!("joined {}", m.slot()));
    let mut kept = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let (cmd, arg) = line.split_once(' ').unwrap_or((&line, ""));
        match cmd {
            // Probe, let go of what is assigned elsewhere, take what is free.
            "rebalance" => {
                m.rebalance().unwrap();
                report(format!("owns {:?}", m.owned()));
            }
            "commit" => {
                let n = arg.parse().unwrap();
                commit_all(&m, n);
                report(format!("committed {n}"));
            }
            // Commits 1, 2, ..., n, one after the other.
            "burst" => {
                let n: u64 = arg.parse().unwrap();
                for i in 1..=n {
                    commit_all(&m, i);
                }
                report(format!("burst {n} done"));
            }
            // What a commit killed half-way leaves: the commit lock held (taken as FORMAT.md
            // 2.4 says, an exclusive flock on `<group>.locks/commit`) and a partial
            // `<group>.tmp`. The kill ends it.
            "die-mid-commit" => {
                let lock = std::fs::File::options()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(dir.join(format!("{GROUP}.locks")).join("commit"))
                    .unwrap();
                lock.lock().unwrap();
                std::fs::write(dir.join(format!("{GROUP}.tmp")), b"PLGO half").unwrap();
                kept.push(lock);
                report("mid-commit");
            }
            other => panic!("unknown command {other:?}"),
        }
    }
    report("stdin closed");
}

// ---------------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------------

/// A running child member and its report lines.
struct ChildMember {
    child: Child,
    stdin: ChildStdin,
    reports: mpsc::Receiver<String>,
}

impl ChildMember {
    /// Starts test `test` as a child member on groups directory `dir`; waits until it joined
    /// and returns it with its slot.
    fn spawn(test: &str, dir: &Path) -> (Self, u64) {
        let mut child = common::child_command(test)
            .env(ENV_DIR, dir)
            .env(ENV_PARTITIONS, PARTITIONS.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
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
        let mut c = Self {
            child,
            stdin,
            reports: rx,
        };
        let joined = c.wait_for("joined ");
        let slot = joined["joined ".len()..].parse().unwrap();
        (c, slot)
    }

    /// Reads reports until one starts with `prefix`; returns it.
    fn wait_for(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.reports.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(e) => {
                    let _ = self.child.kill();
                    panic!("no {prefix:?} report from the child: {e:?}");
                }
            }
        }
    }

    /// Sends one command.
    fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends `cmd` and waits for the report starting with `prefix`.
    fn ask(&mut self, cmd: &str, prefix: &str) -> String {
        self.send(cmd);
        self.wait_for(prefix)
    }

    /// Kills the child with SIGKILL and reaps it: once this returns, the kernel has closed
    /// its descriptors and released its locks.
    fn kill(mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.signal(), Some(SIGKILL), "{status}");
    }
}

/// A topic directory with nothing in it yet, and its groups directory.
fn groups_dir(dir: &tempfile::TempDir) -> PathBuf {
    let topic = dir.path().join("t");
    std::fs::create_dir(&topic).unwrap();
    topic.join("groups")
}

#[test]
fn commits_from_two_processes_keep_each_others_partitions() {
    let test = test_name!();
    if common::is_child_of(test) {
        return member_child();
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let groups = groups_dir(&dir);
    let mut m = Member::join(&groups, GROUP, PARTITIONS).unwrap();
    m.rebalance().unwrap();
    assert_eq!((m.slot(), m.owned()), (0, vec![0, 1, 2, 3]));

    // The child joins; this process sees it and lets its partitions go; the child takes them.
    let (mut child, slot) = ChildMember::spawn(test, &groups);
    assert_eq!(slot, 1, "the lowest free slot");
    m.rebalance().unwrap();
    assert_eq!(m.live(), [0, 1]);
    assert_eq!(m.owned(), [0, 2]);
    assert_eq!(child.ask("rebalance", "owns "), "owns [1, 3]");
    // Not twice: the child holds them.
    assert_eq!(m.try_acquire(1).unwrap(), Acquire::Held);

    // Alternating commits: each side's commit keeps the other's partitions.
    for i in 1..=5 {
        m.commit(&[(0, 10 * i), (2, 10 * i)]).unwrap();
        assert_eq!(
            m.committed().unwrap(),
            [
                Some(10 * i),
                (i > 1).then(|| i - 1),
                Some(10 * i),
                (i > 1).then(|| i - 1)
            ]
        );
        child.ask(&format!("commit {i}"), "committed ");
        assert_eq!(
            m.committed().unwrap(),
            [Some(10 * i), Some(i), Some(10 * i), Some(i)]
        );
    }
    // Commits at the same time: under the commit lock none is lost.
    child.send("burst 100");
    for i in 1..=100 {
        commit_all(&m, 1000 + i);
    }
    child.wait_for("burst 100 done");
    assert_eq!(
        m.committed().unwrap(),
        [Some(1100), Some(100), Some(1100), Some(100)]
    );

    // The child dies in the middle of a commit, holding the commit lock: a commit here waits
    // for it, and goes through once the kernel released the dead child's lock.
    child.ask("die-mid-commit", "mid-commit");
    assert!(groups.join("g.tmp").exists());
    thread::scope(|s| {
        let committing = s.spawn(|| m.commit(&[(0, 2000)]));
        child.kill();
        committing.join().unwrap().unwrap();
    });
    assert!(!groups.join("g.tmp").exists(), "the commit replaced it");
    assert_eq!(
        m.committed().unwrap(),
        [Some(2000), Some(100), Some(1100), Some(100)]
    );

    // The kill released the child's slot and partitions at once: the next probe sees one
    // member, and this process takes the child's partitions from its last commit.
    m.probe().unwrap();
    assert_eq!(m.live(), [0]);
    assert_eq!(m.to_acquire(), [1, 3]);
    assert_eq!(m.try_acquire(1).unwrap(), Acquire::Taken(Some(100)));
    m.rebalance().unwrap();
    assert_eq!(m.owned(), [0, 1, 2, 3]);
    drop(m);
    // Both slots free now: a new member gets slot 0 again.
    assert_eq!(Member::join(&groups, GROUP, PARTITIONS).unwrap().slot(), 0);
}

/// `rebalance_interval` of the consumer in the next test.
const INTERVAL: Duration = Duration::from_millis(100);
/// Room for a loaded 2-core machine to schedule the waking consumer; an uncapped wait would
/// take the poll's whole 30-second timeout.
const SLACK: Duration = Duration::from_secs(2);

#[test]
fn a_polling_consumer_takes_over_a_killed_member_within_the_bound() {
    let test = test_name!();
    if common::is_child_of(test) {
        return member_child();
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = TopicConfig::default()
        .partitions(PARTITIONS)
        .flush(FlushPolicy::Never);
    let t = store.create_topic("t", config).unwrap();
    for p in 0..PARTITIONS {
        for i in 0..3 {
            t.append_batch_to(p, &[NewRecord::new(format!("p{p}-{i}").as_bytes())])
                .unwrap();
        }
    }
    let groups = dir.path().join("t").join("groups");

    // The child joins first (slot 0, rank 0: partitions 0 and 2), the consumer second (rank 1:
    // partitions 1 and 3, free, so it takes them at once).
    let (mut child, slot) = ChildMember::spawn(test, &groups);
    assert_eq!(slot, 0);
    let cfg = ConsumerConfig::default()
        .auto_commit(None)
        .rebalance_interval(INTERVAL);
    let mut c = t.consumer(GROUP, cfg).unwrap();
    assert_eq!(c.assignment(), vec![1, 3]);
    assert_eq!(child.ask("rebalance", "owns "), "owns [0, 2]");
    // The child processed the first record of each of its partitions.
    child.ask("commit 1", "committed 1");

    let mut got = Vec::new();
    while got.len() < 6 {
        got.extend(
            c.poll(TIMEOUT)
                .unwrap()
                .into_iter()
                .map(|r| (r.partition, r.offset())),
        );
    }
    got.sort_unstable();
    assert_eq!(got, [(1, 0), (1, 1), (1, 2), (3, 0), (3, 1), (3, 2)]);
    c.commit().unwrap();
    assert_eq!(
        t.committed_offsets(GROUP).unwrap(),
        vec![Some(1), Some(3), Some(1), Some(3)],
        "the consumer's commit kept the child's partitions"
    );

    for p in 0..PARTITIONS {
        t.append_batch_to(p, &[NewRecord::new(b"later")]).unwrap();
    }
    let (drained_tx, drained) = mpsc::channel();
    let poller = thread::spawn(move || {
        let mut got = Vec::new();
        while got.len() < 2 {
            got.extend(
                c.poll(TIMEOUT)
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.partition, r.offset())),
            );
        }
        drained_tx.send(()).unwrap();
        // Waits inside poll: nothing more comes until the child's partitions are taken over.
        let mut taken_at = None;
        while got.len() < 8 {
            let batch = c.poll(TIMEOUT).unwrap();
            assert!(!batch.is_empty(), "timed out with {got:?}");
            taken_at.get_or_insert_with(Instant::now);
            got.extend(batch.into_iter().map(|r| (r.partition, r.offset())));
        }
        got.sort_unstable();
        (c, got, taken_at.unwrap())
    });
    drained.recv_timeout(TIMEOUT).unwrap();
    child.kill();
    let killed_at = Instant::now();
    let (mut c, got, taken_at) = poller.join().unwrap();
    let took = taken_at.saturating_duration_since(killed_at);
    assert!(
        took <= 2 * INTERVAL + SLACK,
        "took {took:?} to take over the killed member's partitions"
    );
    // Partitions 0 and 2 resume at the child's committed offset 1, read from disk when they
    // were taken: at least once, nothing skipped.
    assert_eq!(
        got,
        [
            (0, 1),
            (0, 2),
            (0, 3),
            (1, 3),
            (2, 1),
            (2, 2),
            (2, 3),
            (3, 3)
        ]
    );
    assert_eq!(c.assignment(), vec![0, 1, 2, 3]);
    c.commit().unwrap();
    assert_eq!(t.committed_offsets(GROUP).unwrap(), vec![Some(4); 4]);
    drop(c);
    store.close().unwrap();
}
