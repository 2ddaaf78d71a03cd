//! Many processes on one store under load: one writer process, four reader processes and a
//! consumer group of two member processes, killed and restarted with SIGKILL at random
//! moments, for a bounded time.
//!
//! The writer appends to two partitions of a topic with small segments (so it rolls all the
//! time), retention by size (segments are deleted under the readers) and, on partition 1,
//! keyed records that it compacts every few hundred appends (segments are replaced under the
//! readers). Each record's value is a function of its partition and offset, so a reader
//! checks every record it is given: offsets strictly increasing, the exact value written
//! there, and on partition 0 (never compacted) no offset skipped unless retention took it
//! (the start offset is past it). The writer also appends to a second topic, `jobs`, without
//! retention, which the group's two members split and commit after each poll: at the end,
//! every offset below the group's committed offsets was delivered to some member (at least
//! once, across every handover the kills caused). Every child must end by our SIGKILL or exit
//! cleanly: a SIGBUS, a panic or a reported mismatch fails the test.
//!
//! `PAGELOG_STRESS_SECS` sets the duration (default 4 s), `PAGELOG_STRESS_SEED` the seed of
//! the kill schedule (printed, so a failure can be replayed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::rng::Rng;
use pagelog::{
    CleanupPolicy, ConsumerConfig, Error, FlushPolicy, NewRecord, Partition, Store, TopicConfig,
};

const TOPIC: &str = "stress";
const JOBS: &str = "jobs";
const GROUP: &str = "workers";
const ENV_CASE: &str = "PAGELOG_STRESS_CASE";
const ENV_DIR: &str = "PAGELOG_STRESS_DIR";
const READERS: usize = 4;

fn config() -> TopicConfig {
    TopicConfig::default()
        .partitions(2)
        .segment_bytes(16 << 10)
        .retention_bytes(Some(128 << 10))
        .cleanup_policy(CleanupPolicy::CompactDelete)
        .flush(FlushPolicy::Never)
}

/// The value written at `offset` of `partition` (a function of both, of varying length).
fn value(partition: u32, offset: u64) -> Vec<u8> {
    let len = 20 + (offset.wrapping_mul(2_654_435_761) % 300) as usize;
    let mut v = format!("p{partition} o{offset} ").into_bytes();
    v.resize(len.max(v.len()), b'a' + (offset % 26) as u8);
    v
}

fn key(offset: u64) -> String {
    format!("k{}", offset % 50)
}

fn report(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "@@ {line}").unwrap();
    out.flush().unwrap();
}

/// The writer: appends until killed; compacts partition 1 now and then.
fn writer(dir: &Path) {
    let store = Store::open(dir).unwrap();
    let topic = store.topic(TOPIC).unwrap();
    let (p0, p1) = (
        topic.partition(0).unwrap().clone(),
        topic.partition(1).unwrap().clone(),
    );
    let jobs = store.topic(JOBS).unwrap();
    report("writing");
    let mut appended = 0u64;
    loop {
        let job = jobs.partition((appended % 2) as u32).unwrap();
        let o = job.next_offset();
        assert_eq!(job.append(NewRecord::new(&value(job.id(), o))).unwrap(), o);
        let o = p0.next_offset();
        assert_eq!(p0.append(NewRecord::new(&value(0, o))).unwrap(), o);
        let o = p1.next_offset();
        let k = key(o);
        let v = value(1, o);
        assert_eq!(p1.append(NewRecord::new(&v).key(k.as_bytes())).unwrap(), o);
        appended += 1;
        if appended.is_multiple_of(400) {
            p1.compact().unwrap();
        }
    }
}

/// A reader: follows both partitions from their start, checking every record, until killed.
fn reader(dir: &Path) {
    let store = Store::open_read_only(dir).unwrap();
    let topic = store.topic(TOPIC).unwrap();
    let parts: Vec<Partition> = topic.partitions().to_vec();
    let mut its: Vec<_> = parts.iter().map(Partition::iter).collect();
    let mut last: Vec<Option<u64>> = vec![None; parts.len()];
    let mut seen = 0u64;
    report("reading");
    loop {
        for (i, it) in its.iter_mut().enumerate() {
            let p = &parts[i];
            // Take what is there; a short wait when nothing is (the writer may be dead).
            let batch = match it.poll(64 << 10, Duration::from_millis(20)) {
                Ok(b) => b,
                Err(e) => panic!("partition {i}: {e}"),
            };
            for r in batch {
                let o = r.offset();
                let expected = value(p.id(), o);
                assert_eq!(r.value(), &expected[..], "partition {i} offset {o}");
                if let Some(prev) = last[i] {
                    assert!(o > prev, "partition {i}: {o} after {prev}");
                    if i == 0 && o != prev + 1 {
                        // Only retention may take offsets from the uncompacted partition.
                        assert!(
                            p.start_offset() >= o,
                            "partition 0 skipped {}..{o} with the start at {}",
                            prev + 1,
                            p.start_offset()
                        );
                    }
                }
                last[i] = Some(o);
                seen += 1;
            }
        }
        if seen > 0 && seen.is_multiple_of(1000) {
            report(format!("seen {seen}"));
        }
    }
}

/// A group member: polls `jobs`, checks and reports what it got, commits, until killed.
fn member(dir: &Path) {
    let store = Store::open_read_only(dir).unwrap();
    let topic = store.topic(JOBS).unwrap();
    let config = ConsumerConfig::default()
        .auto_commit(None)
        .rebalance_interval(Duration::from_millis(20));
    let mut c = topic.consumer(GROUP, config).unwrap();
    report("member");
    loop {
        let batch = c.poll(Duration::from_millis(50)).unwrap();
        // Contiguous runs per partition, reported before the commit that covers them.
        let mut runs: Vec<(u32, u64, u64)> = Vec::new();
        for r in &batch {
            assert_eq!(r.value(), &value(r.partition, r.offset())[..]);
            match runs.last_mut() {
                Some((p, _, end)) if *p == r.partition && *end == r.offset() => *end += 1,
                _ => runs.push((r.partition, r.offset(), r.offset() + 1)),
            }
        }
        for (p, from, to) in runs {
            report(format!("got {p} {from} {to}"));
        }
        c.commit().unwrap();
    }
}

/// A child process, and what it printed.
struct Kid {
    child: Child,
    role: &'static str,
    log: Arc<Mutex<String>>,
    /// The threads copying its stdout and stderr into `log`, done at its end.
    copiers: Vec<std::thread::JoinHandle<()>>,
}

fn spawn(test: &str, role: &'static str, dir: &Path) -> Kid {
    let mut child = common::child_command(test)
        .env(ENV_CASE, role)
        .env(ENV_DIR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let mut copiers = Vec::new();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = Arc::clone(&log);
        copiers.push(std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        }));
    }
    Kid {
        child,
        role,
        log,
        copiers,
    }
}

impl Kid {
    /// Kills it (SIGKILL) and checks that it was running until then, or ended cleanly.
    fn kill(mut self) {
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        // Everything it printed before it died is in the log once its pipes end.
        for c in self.copiers.drain(..) {
            c.join().unwrap();
        }
        let log = self.log.lock().unwrap();
        assert!(
            status.success() || status.signal() == Some(libc::SIGKILL),
            "{} ended with {status} (signal {:?}):\n{log}",
            self.role,
            status.signal()
        );
    }

    /// Checks that it is still running.
    fn check_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            let log = self.log.lock().unwrap();
            panic!(
                "{} ended by itself with {status} (signal {:?}):\n{log}",
                self.role,
                status.signal()
            );
        }
    }
}

#[test]
fn one_writer_four_readers_and_a_group_killed_at_random_moments() {
    let test = test_name!();
    if common::is_child_of(test) {
        let dir = std::env::var(ENV_DIR).unwrap();
        return match std::env::var(ENV_CASE).unwrap().as_str() {
            "writer" => writer(Path::new(&dir)),
            "reader" => reader(Path::new(&dir)),
            "member" => member(Path::new(&dir)),
            other => panic!("unknown role {other}"),
        };
    }
    let secs: u64 = std::env::var("PAGELOG_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let seed: u64 = std::env::var("PAGELOG_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
                .into()
        });
    eprintln!("PAGELOG_STRESS_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_topic(TOPIC, config()).unwrap();
        let jobs = TopicConfig::default()
            .partitions(2)
            .segment_bytes(16 << 10)
            .flush(FlushPolicy::Never);
        store.create_topic(JOBS, jobs).unwrap();
    }
    let mut writer = spawn(test, "writer", dir.path());
    let mut readers: Vec<Kid> = (0..READERS)
        .map(|_| spawn(test, "reader", dir.path()))
        .collect();
    let mut members: Vec<Kid> = (0..2).map(|_| spawn(test, "member", dir.path())).collect();
    // What members reported delivering, from every member process that ever ran.
    let mut logs: Vec<Arc<Mutex<String>>> = members.iter().map(|m| Arc::clone(&m.log)).collect();
    let end = Instant::now() + Duration::from_secs(secs);
    let (mut writer_kills, mut reader_kills, mut member_kills) = (0, 0, 0);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50 + rng.below_u64(250)));
        writer.check_alive();
        for r in readers.iter_mut().chain(&mut members) {
            r.check_alive();
        }
        match rng.below(4) {
            0 => {
                writer.kill();
                writer_kills += 1;
                writer = spawn(test, "writer", dir.path());
            }
            1 => {
                let i = rng.below(READERS);
                readers.remove(i).kill();
                reader_kills += 1;
                readers.push(spawn(test, "reader", dir.path()));
            }
            2 => {
                let i = rng.below(members.len());
                members.remove(i).kill();
                member_kills += 1;
                let m = spawn(test, "member", dir.path());
                logs.push(Arc::clone(&m.log));
                members.push(m);
            }
            _ => {}
        }
    }
    for r in readers.iter_mut().chain(&mut members) {
        r.check_alive();
    }
    writer.check_alive();
    writer.kill();
    for r in readers.into_iter().chain(members) {
        r.kill();
    }
    // The store recovers and holds every offset of partition 0 from its start; every job
    // below the group's committed offsets was delivered.
    let store = Store::open(dir.path()).unwrap();
    let next = check_partition0(&store);
    let total = check_delivered(&store, &logs);
    eprintln!(
        "{writer_kills} writer kills, {reader_kills} reader kills, {member_kills} member kills; \
         {next} records on partition 0, {total} jobs committed"
    );
}

/// Every offset of partition 0 from its start, each with its value; returns its next offset.
fn check_partition0(store: &Store) -> u64 {
    let p0 = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    let mut next = p0.start_offset();
    for r in &p0 {
        let r = r.unwrap();
        assert_eq!((r.offset(), r.value()), (next, &value(0, next)[..]));
        next += 1;
    }
    assert_eq!(next, p0.next_offset());
    assert!(next > 0, "the writer wrote");
    assert!(matches!(
        p0.read(next + 1),
        Err(Error::OffsetOutOfRange { .. })
    ));
    next
}

/// Every offset below the group's committed offsets was delivered to some member (per the
/// `got` lines of every member that ran); returns the committed total.
fn check_delivered(store: &Store, logs: &[Arc<Mutex<String>>]) -> u64 {
    // At least once: every offset below the group's committed offsets was delivered.
    let committed = store.topic(JOBS).unwrap().committed_offsets(GROUP).unwrap();
    let mut delivered: Vec<Vec<(u64, u64)>> = vec![Vec::new(); 2];
    for log in logs {
        for line in log.lock().unwrap().lines() {
            let Some(at) = line.find("@@ got ") else {
                continue;
            };
            let f: Vec<u64> = line[at + 7..]
                .split(' ')
                .map(|x| x.parse().unwrap())
                .collect();
            delivered[usize::try_from(f[0]).unwrap()].push((f[1], f[2]));
        }
    }
    let mut total = 0;
    for (p, runs) in delivered.iter_mut().enumerate() {
        runs.sort_unstable();
        let mut covered = 0;
        for &(from, to) in runs.iter() {
            assert!(
                from <= covered,
                "partition {p}: offsets {covered}..{from} never delivered"
            );
            covered = covered.max(to);
        }
        let c = committed[p].unwrap_or(0);
        assert!(
            covered >= c,
            "partition {p}: committed {c}, delivered up to {covered}"
        );
        total += c;
    }
    assert!(total > 0, "the group committed");
    total
}
