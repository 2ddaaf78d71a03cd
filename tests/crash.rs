//! Crash test: `kill -9` a writer process in the middle of appends and flushes, reopen the
//! store, and check that recovery kept everything it promised and nothing else.
//!
//! Each test re-executes the test binary as its *child*: the same test, run alone
//! (`common::child_command`, with `PAGELOG_CRASH_CHILD=<dir>` and the round's number and
//! seed), which sees `common::is_child_of` and runs [`child_writer`] instead of the parent's
//! side. The child opens the store, starts writer threads that append forever, and reports on
//! its stdout, one line per event, written only *after* the call in question returned:
//!
//! * `APPENDED <partition> <start> <end> <thread> <seq>`: `append`/`append_batch` returned
//!   that offset range;
//! * `ACK <partition> <start> <end> <thread> <seq>`: that range is durable (an explicit
//!   `flush()` returned, or an append under [`FlushPolicy::EveryAppend`] returned);
//! * `DURABLE <partition> <offset>`: `durable_offset()` returned that value.
//!
//! The parent reads these lines from the pipe and, after a pseudo-random number of
//! acknowledgements (seeded; `PAGELOG_CRASH_SEED` overrides the seed), kills the child with
//! SIGKILL, reopens the store (running recovery) and proves:
//!
//! * every acknowledged record is there, at its offset, with exactly the key, value, headers
//!   and timestamp written;
//! * because a process kill loses nothing that sits in the shared file mapping, every record
//!   whose append merely *returned* (`APPENDED`) is there too, and so is each writer's whole
//!   history up to its last returned append (no lost write, whatever the flush policy);
//! * offsets are contiguous from 0 to `next_offset`, every record present (acknowledged or
//!   not) carries a valid self-check (header, checksum, byte-for-byte regeneration), batches
//!   are all-or-nothing, each writer's batches appear in the order it made them, and no
//!   record appears that nobody wrote (no garbage);
//! * `Partition::verify` finds no problem, and appends work after the reopen;
//! * everything present after one round is still present, unchanged, after the next: rounds
//!   repeat on the same directory, and the parent leaves the store either closed cleanly or
//!   as a crash would (`Store::crash`), so recovery also runs over recovered state.
//!
//! Payloads vary in size (occasionally up to 20 KiB) in segments of 64 KiB with a 1 KiB index
//! interval, so batches straddle index entries and segments roll many times per round.
//! Covered: `EveryAppend` with several threads per partition (group commit), `Never` with an
//! explicit `flush()` after every batch, and `EveryRecords`; all with multi-record batches.
//! `PAGELOG_SOAK=1` runs many more rounds (`PAGELOG_SOAK=<n>` runs `n`), moving to a fresh
//! directory every 12 rounds; `PAGELOG_CRASH_VERBOSE=1` prints what each round saw.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "test data: offsets, sizes and counts are small"
)]

mod common;

use common::rng::Rng;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::Range;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::thread;
use std::time::{Duration, Instant};

use pagelog::{FlushPolicy, Header, NewRecord, Partition, Record, Store, TopicConfig};

/// Set in the child: the store directory.
const ENV_CHILD: &str = "PAGELOG_CRASH_CHILD";
/// Set in the child: the round number.
const ENV_ROUND: &str = "PAGELOG_CRASH_ROUND";
/// Set in the child: the PRNG seed of the round.
const ENV_SEED: &str = "PAGELOG_CRASH_SEED_CHILD";
/// Optional: overrides the parent's seed.
const ENV_PARENT_SEED: &str = "PAGELOG_CRASH_SEED";
/// Optional: `1` for a long soak, or a number of rounds.
const ENV_SOAK: &str = "PAGELOG_SOAK";

const TOPIC: &str = "crash";
/// Writer id of the records the parent appends after each reopen.
const PARENT_THREAD: u32 = 999;
/// Upper bound on waiting for one event from the child (a hang guard, not synchronisation).
const EVENT_TIMEOUT: Duration = Duration::from_secs(120);

/// The parent's scenarios run in parallel, and a child spawned by one of them inherits, until
/// its `exec`, every descriptor the parent process has open: including another scenario's
/// store lock, whose `flock` then outlives that store's close and makes the next child's
/// `Store::open` fail with `Locked`. So the parent holds a store open only under a read guard,
/// and spawns under the write guard (`spawn` returns after the child's `exec`).
static SPAWN_GUARD: RwLock<()> = RwLock::new(());

fn store_guard() -> RwLockReadGuard<'static, ()> {
    SPAWN_GUARD.read().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// One crash scenario: a topic configuration and how the child writes to it.
#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    partitions: u32,
    flush: FlushPolicy,
    /// Writer threads in the child; thread `t` writes to partition `t % partitions`.
    threads: u32,
    /// Records per batch are drawn from `1..=max_batch`.
    max_batch: u32,
    /// Rounds in a normal run.
    rounds: u32,
    /// The child is killed after `1..=max_acks` acknowledgements (or right at start-up).
    max_acks: u64,
}

const EVERY_APPEND: Scenario = Scenario {
    name: "every_append",
    partitions: 2,
    flush: FlushPolicy::EveryAppend,
    threads: 6,
    max_batch: 4,
    rounds: 10,
    max_acks: 200,
};

const NEVER_EXPLICIT_FLUSH: Scenario = Scenario {
    name: "never_explicit_flush",
    partitions: 2,
    flush: FlushPolicy::Never,
    threads: 4,
    max_batch: 6,
    rounds: 10,
    max_acks: 200,
};

const EVERY_RECORDS: Scenario = Scenario {
    name: "every_records",
    partitions: 1,
    flush: FlushPolicy::EveryRecords(16),
    threads: 2,
    max_batch: 5,
    rounds: 8,
    max_acks: 400,
};

fn topic_config(s: &Scenario) -> TopicConfig {
    TopicConfig::default()
        .partitions(s.partitions)
        .segment_bytes(64 * 1024)
        .index_interval_bytes(1024)
        .flush(s.flush)
}

// ---------------------------------------------------------------------------------------------
// Deterministic, self-checking records
// ---------------------------------------------------------------------------------------------

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// Identity of one record: who wrote it, when, and where in which batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Desc {
    round: u32,
    partition: u32,
    thread: u32,
    seq: u64,
    idx: u32,
    count: u32,
}

const MAGIC: &[u8; 4] = b"PLCR";
const HEADER_LEN: usize = 36;
const TRAILER_LEN: usize = 8;

impl Desc {
    fn mix(&self) -> u64 {
        let mut r = Rng(u64::from(self.round) << 48
            ^ u64::from(self.partition) << 40
            ^ u64::from(self.thread) << 32
            ^ self.seq.rotate_left(13)
            ^ u64::from(self.idx) << 20
            ^ u64::from(self.count));
        r.next()
    }

    /// The value: a header naming `self`, a body derived from it, and an FNV-1a checksum.
    /// The first record of a batch is occasionally large, so a batch (at most 6 records) stays
    /// well under the 64 KiB segment.
    fn payload(&self) -> Vec<u8> {
        let mut rng = Rng(self.mix());
        let body = if self.idx == 0 && rng.below_u64(12) == 0 {
            8 * 1024 + rng.below_u64(12 * 1024)
        } else {
            rng.below_u64(2048)
        } as usize;
        let len = HEADER_LEN + body + TRAILER_LEN;
        let mut v = Vec::with_capacity(len);
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&self.round.to_le_bytes());
        v.extend_from_slice(&self.partition.to_le_bytes());
        v.extend_from_slice(&self.thread.to_le_bytes());
        v.extend_from_slice(&self.seq.to_le_bytes());
        v.extend_from_slice(&self.idx.to_le_bytes());
        v.extend_from_slice(&self.count.to_le_bytes());
        v.extend_from_slice(&(len as u32).to_le_bytes());
        while v.len() < HEADER_LEN + body {
            let word = rng.next().to_le_bytes();
            let n = (HEADER_LEN + body - v.len()).min(8);
            v.extend_from_slice(&word[..n]);
        }
        let sum = fnv1a(&v);
        v.extend_from_slice(&sum.to_le_bytes());
        v
    }

    fn key(&self) -> String {
        format!("{}/{}/{}/{}", self.round, self.thread, self.seq, self.idx)
    }

    fn timestamp(&self) -> i64 {
        1_700_000_000_000 + i64::from(self.round) * 1_000_000 + (self.seq % 100_000) as i64
    }

    /// Even records of a batch carry one header naming the writer thread.
    fn has_header(&self) -> bool {
        self.idx.is_multiple_of(2)
    }

    /// Parses and checks a value: magic, length, checksum, then byte-for-byte equality with
    /// the regenerated payload. `Err` describes the first thing wrong.
    fn decode(v: &[u8]) -> Result<Self, String> {
        if v.len() < HEADER_LEN + TRAILER_LEN {
            return Err(format!("value of {} bytes is too short", v.len()));
        }
        if &v[..4] != MAGIC {
            return Err(format!("bad magic {:02x?}", &v[..4]));
        }
        let u32_at = |i: usize| u32::from_le_bytes(v[i..i + 4].try_into().unwrap());
        let len = u32_at(32) as usize;
        if len != v.len() {
            return Err(format!(
                "length field says {len}, value has {} bytes",
                v.len()
            ));
        }
        let (content, trailer) = v.split_at(len - TRAILER_LEN);
        let sum = u64::from_le_bytes(trailer.try_into().unwrap());
        if fnv1a(content) != sum {
            return Err(format!(
                "checksum mismatch: stored {sum:#x}, computed {:#x}",
                fnv1a(content)
            ));
        }
        let d = Self {
            round: u32_at(4),
            partition: u32_at(8),
            thread: u32_at(12),
            seq: u64::from_le_bytes(v[16..24].try_into().unwrap()),
            idx: u32_at(24),
            count: u32_at(28),
        };
        if d.count == 0 || d.idx >= d.count {
            return Err(format!("impossible batch position in {d:?}"));
        }
        if d.payload() != v {
            return Err(format!("checksum ok but payload differs from {d:?}'s"));
        }
        Ok(d)
    }
}

/// Records of one batch, with their backing buffers.
struct Batch {
    descs: Vec<Desc>,
    values: Vec<Vec<u8>>,
    keys: Vec<String>,
    thread_bytes: [u8; 4],
}

impl Batch {
    fn new(round: u32, partition: u32, thread: u32, seq: u64, count: u32) -> Self {
        let descs: Vec<Desc> = (0..count)
            .map(|idx| Desc {
                round,
                partition,
                thread,
                seq,
                idx,
                count,
            })
            .collect();
        Self {
            values: descs.iter().map(Desc::payload).collect(),
            keys: descs.iter().map(Desc::key).collect(),
            thread_bytes: thread.to_le_bytes(),
            descs,
        }
    }

    fn with_records<T>(&self, f: impl FnOnce(&[NewRecord<'_>]) -> T) -> T {
        let headers = [Header {
            key: "thread",
            value: &self.thread_bytes,
        }];
        let records: Vec<NewRecord<'_>> = self
            .descs
            .iter()
            .zip(&self.values)
            .zip(&self.keys)
            .map(|((d, v), k)| {
                let r = NewRecord::new(v).key(k.as_bytes()).timestamp(d.timestamp());
                if d.has_header() {
                    r.headers(&headers)
                } else {
                    r
                }
            })
            .collect();
        f(&records)
    }
}

/// Checks everything a record carries against its payload's identity.
fn check_record(partition: u32, r: &Record) -> Result<Desc, String> {
    let d = Desc::decode(r.value())?;
    if d.partition != partition {
        return Err(format!("{d:?} found in partition {partition}"));
    }
    if r.key() != Some(d.key().as_bytes()) {
        return Err(format!(
            "{d:?} has key {:?}",
            r.key().map(String::from_utf8_lossy)
        ));
    }
    if r.timestamp() != d.timestamp() {
        return Err(format!("{d:?} has timestamp {}", r.timestamp()));
    }
    let headers: Vec<(&str, &[u8])> = r.headers().collect();
    let thread_bytes = d.thread.to_le_bytes();
    let want: Vec<(&str, &[u8])> = if d.has_header() {
        vec![("thread", &thread_bytes[..])]
    } else {
        Vec::new()
    };
    if headers != want || r.header_count() as usize != want.len() {
        return Err(format!("{d:?} has headers {headers:?}"));
    }
    Ok(d)
}

// ---------------------------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------------------------

/// Starts every event line. The test harness shares the child's stdout (it prints
/// `test <name> ... ` without a newline before the test runs), so events are found by this
/// marker rather than at the start of a line.
const MARKER: &str = "@pagelog-crash@ ";

/// Writes one event line to stdout in a single write, after the operation it reports
/// returned. Exits if the parent went away.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let mut buf = String::with_capacity(MARKER.len() + line.len() + 1);
    buf.push_str(MARKER);
    buf.push_str(line);
    buf.push('\n');
    if out
        .write_all(buf.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(4);
    }
}

/// In the child, any failure ends the process with a message, so the parent sees the child
/// exit on its own (not by SIGKILL) and reports it.
fn or_die<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| {
        eprintln!("crash child: {what} failed: {e}");
        std::process::exit(3)
    })
}

fn env_parse<T: std::str::FromStr>(name: &str) -> T {
    let v = std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"));
    v.parse()
        .unwrap_or_else(|_| panic!("{name}={v:?} does not parse"))
}

/// The child's role in scenario `s` (run by the scenario's test when it is a child): opens
/// the store in the directory `PAGELOG_CRASH_CHILD` names and appends from several threads
/// forever, reporting each returned append and flush on stdout, until the parent kills it.
fn child_writer(s: Scenario) -> ! {
    let dir: String = env_parse(ENV_CHILD);
    let round: u32 = env_parse(ENV_ROUND);
    let seed: u64 = env_parse(ENV_SEED);
    say("START");
    let store = or_die(Store::open(&dir), "Store::open");
    let topic = or_die(store.topic(TOPIC), "Store::topic");
    say("OPENED");
    thread::scope(|scope| {
        for t in 0..s.threads {
            let p = or_die(topic.partition(t % s.partitions), "Topic::partition").clone();
            scope.spawn(move || write_forever(&s, &p, round, t, seed));
        }
    });
    unreachable!("writers never return");
}

fn write_forever(s: &Scenario, p: &Partition, round: u32, thread: u32, seed: u64) {
    let mut rng = Rng(seed ^ u64::from(thread).wrapping_mul(0xA076_1D64_78BD_642F));
    let id = p.id();
    for seq in 0u64.. {
        let count = 1 + rng.below_u64(u64::from(s.max_batch)) as u32;
        let batch = Batch::new(round, id, thread, seq, count);
        let range = batch.with_records(|recs| {
            if recs.len() == 1 && rng.below_u64(2) == 0 {
                let o = or_die(p.append(recs[0]), "append");
                o..o + 1
            } else {
                or_die(p.append_batch(recs), "append_batch")
            }
        });
        let what = format!("{id} {} {} {thread} {seq}", range.start, range.end);
        match s.flush {
            FlushPolicy::EveryAppend => say(&format!("ACK {what}")),
            FlushPolicy::Never => {
                say(&format!("APPENDED {what}"));
                or_die(p.flush(), "flush");
                say(&format!("ACK {what}"));
            }
            _ => {
                say(&format!("APPENDED {what}"));
                say(&format!("DURABLE {id} {}", p.durable_offset()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------------

/// What the child reported.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Start,
    Opened,
    Appended(Claim),
    Ack(Claim),
    Durable { partition: u32, offset: u64 },
}

/// "This range of offsets holds batch `seq` of writer `thread`."
#[derive(Debug, Clone, PartialEq, Eq)]
struct Claim {
    partition: u32,
    range: Range<u64>,
    thread: u32,
    seq: u64,
}

impl Event {
    fn parse(line: &str) -> Option<Self> {
        let at = line.find(MARKER)?;
        let mut words = line[at + MARKER.len()..].split_ascii_whitespace();
        let kind = words.next()?;
        let nums: Vec<u64> = words.map(|w| w.parse().ok()).collect::<Option<_>>()?;
        let claim = || match nums[..] {
            [p, start, end, thread, seq] => Some(Claim {
                partition: p as u32,
                range: start..end,
                thread: thread as u32,
                seq,
            }),
            _ => None,
        };
        match (kind, &nums[..]) {
            ("START", []) => Some(Self::Start),
            ("OPENED", []) => Some(Self::Opened),
            ("APPENDED", _) => claim().map(Self::Appended),
            ("ACK", _) => claim().map(Self::Ack),
            ("DURABLE", &[p, offset]) => Some(Self::Durable {
                partition: p as u32,
                offset,
            }),
            _ => None,
        }
    }

    /// Acknowledgements count towards the kill point.
    fn is_ack(&self) -> bool {
        matches!(self, Self::Ack(_) | Self::Durable { .. })
    }
}

fn rounds(s: &Scenario) -> u32 {
    match std::env::var(ENV_SOAK)
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(0) | None => s.rounds,
        Some(1) => 60,
        Some(n) => n,
    }
}

fn parent_seed(s: &Scenario) -> u64 {
    std::env::var(ENV_PARENT_SEED)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fnv1a(s.name.as_bytes()))
}

/// Runs one round's child (test `test` as a child) until it reported `target`
/// acknowledgements (`0`: until it started), kills it with SIGKILL and returns every event it
/// reported.
fn run_child(test: &str, dir: &Path, round: u32, seed: u64, target: u64, ctx: &str) -> Vec<Event> {
    let spawning = SPAWN_GUARD.write().unwrap_or_else(PoisonError::into_inner);
    let mut child: Child = common::child_command(test)
        .env(ENV_CHILD, dir)
        .env(ENV_ROUND, round.to_string())
        .env(ENV_SEED, seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(spawning);
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let (tx, rx) = mpsc::channel();
    let out_reader = thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match lines.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                // A line cut by the kill has no newline: it was never fully reported.
                Ok(_) if !line.ends_with('\n') => break,
                Ok(_) => {
                    if let Some(ev) = Event::parse(&line)
                        && tx.send(ev).is_err()
                    {
                        break;
                    }
                }
            }
        }
    });

    let mut events = Vec::new();
    let mut acks = 0u64;
    let fail = |child: &mut Child, why: String| -> ! {
        let _ = child.kill();
        let status = child.wait();
        panic!("{ctx}: {why}; child status {status:?}");
    };
    loop {
        let done = if target == 0 {
            events.contains(&Event::Start)
        } else {
            acks >= target
        };
        if done {
            break;
        }
        match rx.recv_timeout(EVENT_TIMEOUT) {
            Ok(ev) => {
                acks += u64::from(ev.is_ack());
                events.push(ev);
            }
            Err(RecvTimeoutError::Timeout) => {
                fail(&mut child, format!("no event for {EVENT_TIMEOUT:?}"));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                let err = err_reader.join().unwrap();
                panic!(
                    "{ctx}: child ended on its own after {acks}/{target} acks: {status}\n\
                     --- child stderr ---\n{err}"
                );
            }
        }
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    // Lines already in the pipe were written before the kill, so they are valid reports too.
    events.extend(rx.iter());
    out_reader.join().unwrap();
    let err = err_reader.join().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "{ctx}: child was not killed by SIGKILL but ended with {status}\n\
         --- child stderr ---\n{err}"
    );
    events
}

/// Opens the store after a kill and checks it against `model` (every record present after
/// the previous round, per partition) and the child's reports; then appends through the
/// reopened store and extends `model` to the new contents. Returns the store, still open.
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, its steps and checks in order"
)]
fn verify_round(
    s: &Scenario,
    dir: &Path,
    round: u32,
    events: &[Event],
    model: &mut [Vec<Desc>],
    ctx: &str,
) -> Store {
    let store = Store::open(dir).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
    let topic = store
        .topic(TOPIC)
        .unwrap_or_else(|e| panic!("{ctx}: opening the topic (recovery) failed: {e}"));
    assert_eq!(topic.partition_count(), s.partitions, "{ctx}");
    let mut logs = Vec::new();
    for (pid, expected) in (0..s.partitions).zip(model.iter()) {
        let p = topic.partition(pid).unwrap();
        let ctx = format!("{ctx} partition {pid}");
        let log = read_log(p, &ctx);
        // Nothing present after the last round was lost or changed.
        if let Some(i) = (0..expected.len()).find(|&i| log.get(i) != expected.get(i)) {
            panic!(
                "{ctx}: offset {i} held {:?} after the previous round, now {:?} \
                 (log has {} records, had {})",
                expected[i],
                log.get(i),
                log.len(),
                expected.len()
            );
        }
        check_tail(s, round, pid, &log[expected.len()..], expected.len(), &ctx);
        logs.push(log);
    }

    let (mut appended, mut acked, mut durable) = (0, 0, 0);
    for ev in events {
        let claim = match ev {
            Event::Start | Event::Opened => continue,
            Event::Durable { partition, offset } => {
                durable += 1;
                let len = logs[*partition as usize].len() as u64;
                assert!(
                    *offset <= len,
                    "{ctx}: durable_offset {offset} was reported for partition {partition}, \
                     but only {len} records survived"
                );
                continue;
            }
            Event::Appended(c) => {
                appended += 1;
                c
            }
            Event::Ack(c) => {
                acked += 1;
                c
            }
        };
        let log = &logs[claim.partition as usize];
        let count = (claim.range.end - claim.range.start) as u32;
        assert!(count > 0, "{ctx}: empty range reported: {ev:?}");
        for (idx, offset) in (0..count).zip(claim.range.clone()) {
            let want = Desc {
                round,
                partition: claim.partition,
                thread: claim.thread,
                seq: claim.seq,
                idx,
                count,
            };
            let got = log.get(offset as usize);
            assert_eq!(
                got,
                Some(&want),
                "{ctx}: {ev:?} was reported, but offset {offset} holds {got:?} \
                 (partition has {} records)",
                log.len()
            );
        }
        // Random access through the rebuilt index agrees with the scan.
        let p = topic.partition(claim.partition).unwrap();
        let r = p.read(claim.range.start).unwrap().unwrap();
        assert_eq!(r.offset(), claim.range.start, "{ctx}: read() of {ev:?}");
        assert_eq!(
            check_record(claim.partition, &r).as_ref(),
            Ok(&log[claim.range.start as usize]),
            "{ctx}: read() of {ev:?}"
        );
    }
    assert!(
        events.contains(&Event::Start),
        "{ctx}: the child never started"
    );
    if std::env::var_os("PAGELOG_CRASH_VERBOSE").is_some() {
        eprintln!(
            "{ctx}: {appended} appended, {acked} acked, {durable} durable reports; \
             partition sizes {:?}",
            logs.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }

    // Appends work after the reopen, at the next offsets, and read back intact.
    for (pid, log) in (0..s.partitions).zip(logs.iter_mut()) {
        let p = topic.partition(pid).unwrap();
        let base = log.len() as u64;
        assert_eq!(p.next_offset(), base, "{ctx} partition {pid}");
        let batch = Batch::new(round, pid, PARENT_THREAD, 0, 3);
        let range = batch
            .with_records(|r| p.append_batch(r))
            .unwrap_or_else(|e| panic!("{ctx}: append_batch after reopen failed: {e}"));
        assert_eq!(range, base..base + 3, "{ctx} partition {pid}");
        let single = Batch::new(round, pid, PARENT_THREAD, 1, 1);
        let o = single.with_records(|r| p.append(r[0])).unwrap();
        assert_eq!(o, base + 3, "{ctx} partition {pid}");
        p.flush().unwrap();
        log.extend(batch.descs.iter().chain(&single.descs));
        let back: Vec<Desc> = p
            .iter_from(base)
            .unwrap()
            .map(|r| check_record(pid, &r.unwrap()).unwrap())
            .collect();
        assert_eq!(back, log[base as usize..], "{ctx} partition {pid}");
    }
    for (m, log) in model.iter_mut().zip(logs) {
        *m = log;
    }
    store
}

/// Reads a whole partition, checking offsets, `verify()` and every record's self-check.
fn read_log(p: &Partition, ctx: &str) -> Vec<Desc> {
    assert_eq!(p.start_offset(), 0, "{ctx}: start offset moved");
    let report = p.verify();
    assert!(
        report.is_ok(),
        "{ctx}: verify() found {:?}",
        report.problems
    );
    let next = p.next_offset();
    let mut log = Vec::with_capacity(next as usize);
    for (i, r) in p.iter_from(0).unwrap().enumerate() {
        let r = r.unwrap_or_else(|e| panic!("{ctx}: reading offset {i} failed: {e}"));
        assert_eq!(r.offset(), i as u64, "{ctx}: offsets are not contiguous");
        let d = check_record(p.id(), &r)
            .unwrap_or_else(|e| panic!("{ctx}: garbage at offset {i}: {e}"));
        log.push(d);
    }
    assert_eq!(
        log.len() as u64,
        next,
        "{ctx}: iteration ended before next_offset"
    );
    assert_eq!(
        report.records, next,
        "{ctx}: verify() counted a different number of records"
    );
    log
}

/// Checks the records this round's child added: all from this round's writers of this
/// partition, batches whole and contiguous, each writer's batches in order with none missing.
fn check_tail(s: &Scenario, round: u32, pid: u32, tail: &[Desc], first: usize, ctx: &str) {
    let mut next_seq: HashMap<u32, u64> = HashMap::new();
    let mut open: Option<Desc> = None;
    for (i, d) in tail.iter().enumerate() {
        let offset = first + i;
        assert!(
            d.round == round && d.thread < s.threads && d.thread % s.partitions == pid,
            "{ctx}: offset {offset} holds {d:?}, which this round's child did not write here"
        );
        if let Some(prev) = open {
            assert!(
                (d.thread, d.seq, d.idx, d.count)
                    == (prev.thread, prev.seq, prev.idx + 1, prev.count),
                "{ctx}: batch {prev:?} is interrupted at offset {offset} by {d:?}"
            );
        } else {
            let want = next_seq.get(&d.thread).copied().unwrap_or(0);
            assert!(
                d.idx == 0 && d.seq == want,
                "{ctx}: offset {offset} holds {d:?}, but writer {} was at batch {want}",
                d.thread
            );
        }
        if d.idx + 1 == d.count {
            open = None;
            next_seq.insert(d.thread, d.seq + 1);
        } else {
            open = Some(*d);
        }
    }
    assert!(open.is_none(), "{ctx}: torn batch at the end: {open:?}");
}

/// Rounds run on one directory before a soak moves to a fresh one, so the log (and the open
/// files of its segments) stays small however long the soak.
const ROUNDS_PER_DIR: u32 = 12;

/// The whole scenario of test `test`: rounds of run-kill-verify, on one directory per
/// `ROUNDS_PER_DIR`, each round's child being `test` run as a child.
fn run_scenario(test: &str, s: &Scenario) {
    let started = Instant::now();
    let seed = parent_seed(s);
    let mut rng = Rng(seed);
    let rounds = rounds(s);
    let mut round = 1;
    while round <= rounds {
        let last = rounds.min(round + ROUNDS_PER_DIR - 1);
        run_dir(test, s, &mut rng, seed, round..=last, rounds);
        round = last + 1;
    }
    if std::env::var_os("PAGELOG_CRASH_VERBOSE").is_some() {
        eprintln!("{}: {rounds} rounds in {:?}", s.name, started.elapsed());
    }
}

/// Creates the topic in a fresh directory and runs `rounds` on it.
fn run_dir(
    test: &str,
    s: &Scenario,
    rng: &mut Rng,
    seed: u64,
    rounds: std::ops::RangeInclusive<u32>,
    total: u32,
) {
    let dir = tempfile::tempdir().unwrap();
    {
        let _guard = store_guard();
        let store = Store::open(dir.path()).unwrap();
        store.create_topic(TOPIC, topic_config(s)).unwrap();
        store.close().unwrap();
    }
    let mut model = vec![Vec::new(); s.partitions as usize];
    for round in rounds {
        let ctx = format!(
            "[{} seed={seed} round {round}/{total}; rerun with {ENV_PARENT_SEED}={seed}]",
            s.name
        );
        // Now and then kill the child while it opens (and maybe recovers) the store.
        let target = if rng.below_u64(6) == 0 {
            0
        } else {
            1 + rng.below_u64(s.max_acks)
        };
        let child_seed = rng.next();
        let events = run_child(test, dir.path(), round, child_seed, target, &ctx);
        let _guard = store_guard();
        let store = verify_round(s, dir.path(), round, &events, &mut model, &ctx);
        // Leave the store either closed cleanly or as a crash would, so that the next child
        // opens on the clean path or recovers over what this round recovered.
        if rng.below_u64(2) == 0 {
            store.close().unwrap();
        } else {
            store.crash();
        }
    }
    // A final reopen sees exactly the last state, and a clean close after it too.
    for pass in ["final reopen", "reopen after clean close"] {
        let _guard = store_guard();
        let store = Store::open(dir.path()).unwrap();
        let topic = store.topic(TOPIC).unwrap();
        for (pid, expected) in (0..s.partitions).zip(&model) {
            let ctx = format!("[{} seed={seed}] {pass}, partition {pid}", s.name);
            let log = read_log(topic.partition(pid).unwrap(), &ctx);
            assert!(
                &log == expected,
                "{ctx}: contents differ from the last round's"
            );
        }
        store.close().unwrap();
    }
    if std::env::var_os("PAGELOG_CRASH_VERBOSE").is_some() {
        eprintln!(
            "{}: directory done, sizes {:?}",
            s.name,
            model.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
}

/// `EveryAppend`: several threads per partition append batches; each append returns only
/// once durable, so concurrent appenders share syncs (group commit).
#[test]
fn crash_every_append_group_commit() {
    let test = test_name!();
    if common::is_child_of(test) {
        child_writer(EVERY_APPEND);
    }
    run_scenario(test, &EVERY_APPEND);
}

/// `Never`: each thread appends a batch, then calls `flush()` explicitly; both the returned
/// appends and the flushed ones must survive the kill.
#[test]
fn crash_never_with_explicit_flush() {
    let test = test_name!();
    if common::is_child_of(test) {
        child_writer(NEVER_EXPLICIT_FLUSH);
    }
    run_scenario(test, &NEVER_EXPLICIT_FLUSH);
}

/// `EveryRecords(16)`: the appender that crosses the threshold syncs; reported
/// `durable_offset`s and every returned append must survive the kill.
#[test]
fn crash_every_records() {
    let test = test_name!();
    if common::is_child_of(test) {
        child_writer(EVERY_RECORDS);
    }
    run_scenario(test, &EVERY_RECORDS);
}
