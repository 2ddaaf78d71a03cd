//! Stress: everything that touches a topic, at once, for a bounded time.
//!
//! One topic of two partitions with tiny segments (8 KiB, so they roll all the time),
//! `retention_bytes` of 32 KiB, `CleanupPolicy::CompactDelete` over 40 keys per partition
//! (with tombstones, dropped by compaction at once) and an interval flush policy. Running
//! together:
//!
//! * one writer appending batches of 1..=5 keyed records to both partitions;
//! * four tailing readers, each on one partition from its start: two with
//!   [`Records::poll`] and [`Records::next_timeout`] (short timeouts), two with
//!   [`Records::blocking`], which end only when the store is closed;
//! * a consumer group member that polls, commits every few polls, and leaves and rejoins
//!   the group now and then (resuming from the committed offsets);
//! * a reader that reads each partition from its start to its end over and over, through
//!   segments being deleted and rewritten under it;
//! * a thread calling `Topic::enforce_retention` in a loop and one calling `Topic::compact`
//!   in a loop, besides the background flusher's own retention and compaction after rolls.
//!
//! It proves:
//!
//! * every record read (by any reader or the consumer) is intact: the value embeds its
//!   partition and offset and a checksum, the key is the one written for that offset, and
//!   tombstones sit exactly where they were written; a torn or stale read fails the check;
//! * the offsets each reader gets strictly increase (gaps from compaction and jumps over
//!   retention are fine), and a rejoined consumer never resumes below its commit;
//! * every reader reaches the end of the log, and the blocking readers end after the close;
//! * no call returns an error, nothing panics, nothing deadlocks: a watchdog deadline fails
//!   the test (and names the threads still running) instead of hanging it;
//! * afterwards every partition verifies clean, and after a reopen it still does: offsets
//!   increase, every record is intact, the end offset is the writer's, the latest record of
//!   every key that retention has not passed is present (compaction never drops a key's
//!   latest value), the group's commit is the end, and appends continue.
//!
//! It runs for 3 s by default; `PAGELOG_SOAK=1` runs it for 60 s and `PAGELOG_SOAK=<n>` for
//! `n` seconds. Threads synchronise through atomics, channels and joins; only the writer
//! looks at the clock (to stop).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    reason = "test data: offsets, sizes and counts are small"
)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use pagelog::{
    CleanupPolicy, ConsumerConfig, FlushPolicy, NewRecord, Partition, Record, Records, Store,
    Topic, TopicConfig,
};

const TOPIC: &str = "stress";
const PARTITIONS: u32 = 2;
/// Keys per partition: small, so compaction always has superseded records to remove.
const KEYS: u64 = 40;
/// Every record whose offset is a multiple of this is a tombstone.
const TOMBSTONE_EVERY: u64 = 97;
/// Past the run time, only a hang reaches this.
const GRACE: Duration = Duration::from_secs(90);

fn run_time() -> Duration {
    match std::env::var("PAGELOG_SOAK").ok().as_deref() {
        None | Some("" | "0") => Duration::from_secs(3),
        Some("1") => Duration::from_secs(60),
        Some(n) => Duration::from_secs(n.parse().expect("PAGELOG_SOAK: 1 or seconds")),
    }
}

fn config() -> TopicConfig {
    TopicConfig::default()
        .partitions(PARTITIONS)
        .segment_bytes(8 << 10)
        .index_interval_bytes(512)
        .retention_bytes(Some(32 << 10))
        .cleanup_policy(CleanupPolicy::CompactDelete)
        .delete_retention_ms(0)
        .flush(FlushPolicy::Interval(Duration::from_millis(5)))
}

// ---------------------------------------------------------------------------------------------
// Self-checking records: everything about a record follows from its partition and offset
// ---------------------------------------------------------------------------------------------

const MAGIC: &[u8; 4] = b"PLST";

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn key_id(offset: u64) -> u64 {
    offset.wrapping_mul(7) % KEYS
}

fn key_for(partition: u32, offset: u64) -> Vec<u8> {
    format!("p{partition}-k{:02}", key_id(offset)).into_bytes()
}

fn is_tombstone(offset: u64) -> bool {
    offset.is_multiple_of(TOMBSTONE_EVERY)
}

/// Magic, partition, offset, a filler of 0..200 bytes, FNV-1a of all of it.
fn payload(partition: u32, offset: u64) -> Vec<u8> {
    let filler = (offset.wrapping_mul(2_654_435_761) % 200) as usize;
    let mut v = Vec::with_capacity(24 + filler);
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&partition.to_le_bytes());
    v.extend_from_slice(&offset.to_le_bytes());
    v.extend((0..filler).map(|i| (offset as u8).wrapping_add(i as u8).wrapping_mul(29)));
    let sum = fnv1a(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// Checks a record read from `partition` on its own.
fn validate(partition: u32, r: &Record) -> Result<(), String> {
    let offset = r.offset();
    let at = format!("partition {partition} offset {offset}");
    if r.key() != Some(key_for(partition, offset).as_slice()) {
        return Err(format!("{at}: key {:?}", r.key()));
    }
    if is_tombstone(offset) {
        return if r.is_tombstone() {
            Ok(())
        } else {
            Err(format!("{at}: expected a tombstone"))
        };
    }
    let v = r
        .value_opt()
        .ok_or_else(|| format!("{at}: unexpected tombstone"))?;
    if v.len() < 24 || &v[..4] != MAGIC {
        return Err(format!("{at}: not a payload ({} bytes)", v.len()));
    }
    let (body, sum) = v.split_at(v.len() - 8);
    if fnv1a(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
        return Err(format!("{at}: checksum mismatch (torn read?)"));
    }
    if v != payload(partition, offset) {
        return Err(format!("{at}: payload of another record"));
    }
    Ok(())
}

/// Per-reader bookkeeping: validates each record and that offsets strictly increase.
struct Seen {
    name: String,
    partition: u32,
    last: Option<u64>,
    count: u64,
}

impl Seen {
    fn new(name: &str, partition: u32) -> Self {
        Self {
            name: name.to_owned(),
            partition,
            last: None,
            count: 0,
        }
    }

    fn record(&mut self, r: &Record) {
        if let Err(e) = validate(self.partition, r) {
            panic!("{}: {e}", self.name);
        }
        assert!(
            self.last.is_none_or(|l| r.offset() > l),
            "{}: offset {} after {:?}",
            self.name,
            r.offset(),
            self.last
        );
        self.last = Some(r.offset());
        self.count += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Threads, and the watchdog over them
// ---------------------------------------------------------------------------------------------

/// What all threads share.
struct Shared {
    /// Set by the writer when it is done (and `ends` are final), or by a failing thread.
    writer_done: AtomicBool,
    /// A thread panicked: everyone stops.
    abort: AtomicBool,
    /// The writer's final next offset per partition (valid once `writer_done`).
    ends: [AtomicU64; PARTITIONS as usize],
    compactions: AtomicU64,
    records_compacted: AtomicU64,
    segments_deleted: AtomicU64,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.writer_done.load(Ordering::Acquire) || self.abort.load(Ordering::Acquire)
    }

    fn end(&self, p: u32) -> u64 {
        self.ends[p as usize].load(Ordering::Acquire)
    }

    /// True once the writer is done and `position` has reached partition `p`'s end.
    fn caught_up(&self, p: u32, position: u64) -> bool {
        self.writer_done.load(Ordering::Acquire) && position >= self.end(p)
    }
}

/// Tells the watchdog a thread has ended, also when it unwinds (then it aborts the others).
struct Finished {
    name: String,
    tx: mpsc::Sender<String>,
    shared: Arc<Shared>,
}

impl Drop for Finished {
    fn drop(&mut self) {
        if thread::panicking() {
            self.shared.abort.store(true, Ordering::Release);
            self.shared.writer_done.store(true, Ordering::Release);
        }
        let _ = self.tx.send(self.name.clone());
    }
}

struct Crew {
    shared: Arc<Shared>,
    tx: mpsc::Sender<String>,
    rx: mpsc::Receiver<String>,
    handles: Vec<(String, thread::JoinHandle<()>)>,
}

impl Crew {
    fn spawn(&mut self, name: &str, f: impl FnOnce(&Shared) + Send + 'static) {
        let guard = Finished {
            name: name.to_owned(),
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        };
        let h = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let shared = Arc::clone(&guard.shared);
                f(&shared);
                drop(guard);
            })
            .unwrap();
        self.handles.push((name.to_owned(), h));
    }

    /// Waits until every thread whose name `pred` accepts has ended, or fails at `deadline`
    /// naming those still running. Joins them and re-raises the first panic.
    fn join(&mut self, deadline: Instant, pred: impl Fn(&str) -> bool) {
        let mut running: Vec<String> = self
            .handles
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| pred(n))
            .collect();
        let mut early = Vec::new();
        while !running.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(name) => {
                    if let Some(i) = running.iter().position(|n| *n == name) {
                        running.swap_remove(i);
                    } else {
                        early.push(name);
                    }
                }
                Err(e) => {
                    panic!("deadlock or hang ({e}): still running at the deadline: {running:?}")
                }
            }
        }
        // Messages of threads outside `pred` that ended meanwhile are kept for later.
        for name in early {
            self.tx.send(name).unwrap();
        }
        let (done, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.handles)
            .into_iter()
            .partition(|(n, _)| pred(n));
        self.handles = rest;
        for (name, h) in done {
            if let Err(e) = h.join() {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("thread {name} panicked: {msg}");
            }
        }
    }
}

fn writer(topic: &Topic, shared: &Shared, until: Instant) -> Vec<BTreeMap<u64, u64>> {
    let mut next: Vec<u64> = vec![0; PARTITIONS as usize];
    // Per partition: key id -> offset of its latest record.
    let mut latest: Vec<BTreeMap<u64, u64>> = vec![BTreeMap::new(); PARTITIONS as usize];
    let mut i = 0u64;
    while Instant::now() < until && !shared.abort.load(Ordering::Acquire) {
        let p = (i % u64::from(PARTITIONS)) as u32;
        let n = 1 + (i.wrapping_mul(0x9e37_79b9) >> 7) % 5;
        let start = next[p as usize];
        let offsets = start..start + n;
        let keys: Vec<Vec<u8>> = offsets.clone().map(|o| key_for(p, o)).collect();
        let values: Vec<Vec<u8>> = offsets.clone().map(|o| payload(p, o)).collect();
        let records: Vec<NewRecord<'_>> = offsets
            .clone()
            .zip(keys.iter().zip(&values))
            .map(|(o, (k, v))| {
                if is_tombstone(o) {
                    NewRecord::tombstone(k)
                } else {
                    NewRecord::new(v).key(k)
                }
            })
            .collect();
        let got = topic.append_batch_to(p, &records).unwrap();
        assert_eq!(got, offsets, "the writer's offsets are contiguous");
        for o in got.clone() {
            latest[p as usize].insert(key_id(o), o);
        }
        next[p as usize] = got.end;
        i += 1;
    }
    for (p, n) in next.iter().enumerate() {
        shared.ends[p].store(*n, Ordering::Release);
    }
    shared.writer_done.store(true, Ordering::Release);
    latest
}

/// A tailing reader with `poll` (even `n`) or `next_timeout` (odd `n`).
fn timed_reader(n: usize, part: &Partition, shared: &Shared) -> Seen {
    let mut seen = Seen::new(&format!("reader{n}"), part.id());
    let mut it: Records = part.iter();
    let timeout = Duration::from_millis(20);
    while !shared.abort.load(Ordering::Acquire) && !shared.caught_up(part.id(), it.position()) {
        if n.is_multiple_of(2) {
            for r in it.poll(4 << 10, timeout).unwrap() {
                seen.record(&r);
            }
        } else if let Some(r) = it.next_timeout(timeout) {
            seen.record(&r.unwrap());
        }
    }
    seen
}

/// A reader that reads from the start to the end over and over, through segments that
/// retention deletes and compaction rewrites under it; offsets strictly increase per pass.
fn rewinding_reader(topic: &Topic, shared: &Shared) -> u64 {
    let mut total = 0;
    for pass in 0u64.. {
        let p = (pass % u64::from(PARTITIONS)) as u32;
        let part = topic.partition(p).unwrap();
        let mut seen = Seen::new(&format!("rewinder pass {pass}"), p);
        let mut it = part.iter();
        for r in it.by_ref() {
            seen.record(&r.unwrap());
        }
        total += seen.count;
        let done = (0..PARTITIONS).all(|q| shared.caught_up(q, part.next_offset()));
        if (done && pass >= 1) || shared.abort.load(Ordering::Acquire) {
            break;
        }
        thread::yield_now();
    }
    total
}

/// A reader with `blocking()`: it ends when the store is closed after the last record.
fn blocking_reader(n: usize, part: &Partition) -> Seen {
    let mut seen = Seen::new(&format!("blocking{n}"), part.id());
    for r in part.iter().blocking() {
        seen.record(&r.unwrap());
    }
    seen
}

/// A member of group `g` that commits every few polls and leaves and rejoins now and then.
fn consumer(topic: &Topic, shared: &Shared) -> u64 {
    let config = ConsumerConfig::default().max_poll_bytes(4 << 10);
    let mut polls = 0u64;
    let mut total = 0;
    let mut generation = 0;
    loop {
        generation += 1;
        let committed = topic.committed_offsets("g").unwrap();
        let mut c = topic.consumer("g", config.clone()).unwrap();
        let mut seen: Vec<Seen> = (0..PARTITIONS)
            .map(|p| Seen::new(&format!("consumer gen {generation} p{p}"), p))
            .collect();
        loop {
            let caught_up =
                (0..PARTITIONS).all(|p| c.position(p).is_some_and(|pos| shared.caught_up(p, pos)));
            if caught_up || shared.abort.load(Ordering::Acquire) {
                c.commit().unwrap();
                return total;
            }
            for r in c.poll(Duration::from_millis(20)).unwrap() {
                let s = &mut seen[r.partition as usize];
                if s.last.is_none()
                    && let Some(from) = committed[r.partition as usize]
                {
                    assert!(
                        r.offset() >= from,
                        "resumed at {} below the commit {from}",
                        r.offset()
                    );
                }
                s.record(&r);
                total += 1;
            }
            polls += 1;
            if polls.is_multiple_of(5) {
                c.commit().unwrap();
            }
            if polls.is_multiple_of(60) {
                c.commit().unwrap();
                break; // leave the group; the next member resumes from the commit
            }
        }
    }
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, its steps and checks in order"
)]
fn everything_at_once_on_one_topic() {
    let run = run_time();
    let started = Instant::now();
    let deadline = started + run + GRACE;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let topic = store.create_topic(TOPIC, config()).unwrap();

    let (tx, rx) = mpsc::channel();
    let mut crew = Crew {
        shared: Arc::new(Shared {
            writer_done: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            ends: [AtomicU64::new(0), AtomicU64::new(0)],
            compactions: AtomicU64::new(0),
            records_compacted: AtomicU64::new(0),
            segments_deleted: AtomicU64::new(0),
        }),
        tx,
        rx,
        handles: Vec::new(),
    };
    let (latest_tx, latest_rx) = mpsc::channel();
    let (seen_tx, seen_rx) = mpsc::channel::<(String, Option<u64>, u64)>();

    {
        let topic = topic.clone();
        crew.spawn("writer", move |s| {
            latest_tx.send(writer(&topic, s, started + run)).unwrap();
        });
    }
    for n in 0..2 {
        let part = topic.partition(n as u32 % PARTITIONS).unwrap().clone();
        let out = seen_tx.clone();
        crew.spawn(&format!("reader{n}"), move |s| {
            let seen = timed_reader(n, &part, s);
            out.send((seen.name, seen.last, seen.count)).unwrap();
        });
    }
    for n in 0..2 {
        let part = topic.partition(n as u32 % PARTITIONS).unwrap().clone();
        let out = seen_tx.clone();
        crew.spawn(&format!("blocking{n}"), move |_| {
            let seen = blocking_reader(n, &part);
            out.send((seen.name, seen.last, seen.count)).unwrap();
        });
    }
    {
        let topic = topic.clone();
        let out = seen_tx.clone();
        crew.spawn("rewinder", move |s| {
            let total = rewinding_reader(&topic, s);
            out.send(("rewinder".into(), None, total)).unwrap();
        });
    }
    {
        let topic = topic.clone();
        let out = seen_tx.clone();
        crew.spawn("consumer", move |s| {
            let total = consumer(&topic, s);
            out.send(("consumer".into(), None, total)).unwrap();
        });
    }
    {
        let topic = topic.clone();
        crew.spawn("retention", move |s| {
            while !s.stopping() {
                let r = topic.enforce_retention().unwrap();
                s.segments_deleted
                    .fetch_add(r.segments_deleted as u64, Ordering::Relaxed);
                thread::yield_now();
            }
        });
    }
    {
        let topic = topic.clone();
        crew.spawn("compaction", move |s| {
            while !s.stopping() {
                let r = topic.compact().unwrap();
                s.compactions.fetch_add(1, Ordering::Relaxed);
                s.records_compacted
                    .fetch_add(r.records_removed, Ordering::Relaxed);
                thread::yield_now();
            }
        });
    }
    drop(seen_tx);

    // Everything but the blocking readers ends on its own once the writer is done.
    crew.join(deadline, |n| !n.starts_with("blocking"));
    let shared = Arc::clone(&crew.shared);
    let ends: Vec<u64> = (0..PARTITIONS).map(|p| shared.end(p)).collect();
    let latest = latest_rx.recv().unwrap();
    for p in topic.partitions() {
        assert_eq!(p.next_offset(), ends[p.id() as usize]);
        let report = p.verify();
        assert!(
            report.is_ok(),
            "partition {}: {:?}",
            p.id(),
            report.problems
        );
    }
    assert!(
        store.background_errors().is_empty(),
        "{:?}",
        store.background_errors()
    );
    let compacted = shared.records_compacted.load(Ordering::Relaxed);
    let deleted = shared.segments_deleted.load(Ordering::Relaxed);
    let start_offsets: Vec<u64> = topic
        .partitions()
        .iter()
        .map(Partition::start_offset)
        .collect();
    drop(topic);
    // Closing ends the blocking readers, after they read the last record.
    store.close().unwrap();
    crew.join(deadline, |_| true);

    let mut totals = Vec::new();
    for (name, last, count) in &seen_rx {
        if name != "consumer" && name != "rewinder" {
            let p = usize::from(!name.ends_with('0'));
            let end = ends[p];
            assert_eq!(last, end.checked_sub(1), "{name} read up to the end");
        }
        totals.push(format!("{name}: {count}"));
    }
    eprintln!(
        "stress ran {:?}: ends {ends:?}, start offsets {start_offsets:?}, {deleted} segments \
         deleted by the retention thread, {compacted} records removed by its compactions ({} \
         passes); read: {}",
        started.elapsed(),
        shared.compactions.load(Ordering::Relaxed),
        totals.join(", ")
    );
    assert!(
        ends.iter().all(|&e| e > 500),
        "the writer made progress: {ends:?}"
    );

    // Reopen: the log verifies, reads back intact, and keeps every key's latest record.
    let store = Store::open(dir.path()).unwrap();
    let topic = store.topic(TOPIC).unwrap();
    assert_eq!(
        topic.committed_offsets("g").unwrap(),
        ends.iter().map(|&e| Some(e)).collect::<Vec<_>>()
    );
    for p in topic.partitions() {
        let id = p.id();
        assert!(p.verify().is_ok(), "{:?}", p.verify().problems);
        assert_eq!(p.next_offset(), ends[id as usize]);
        let mut seen = Seen::new(&format!("after reopen p{id}"), id);
        let mut present = std::collections::BTreeSet::new();
        for r in p {
            let r = r.unwrap();
            seen.record(&r);
            present.insert(r.offset());
        }
        assert!(seen.count > 0);
        for (&key, &offset) in &latest[id as usize] {
            if offset >= p.start_offset() && !is_tombstone(offset) {
                assert!(
                    present.contains(&offset),
                    "partition {id}: the latest record of key {key} (offset {offset}) is gone"
                );
            }
        }
        let o = p
            .append(
                NewRecord::new(&payload(id, p.next_offset())).key(&key_for(id, p.next_offset())),
            )
            .unwrap();
        assert_eq!(o, ends[id as usize]);
    }
    store.close().unwrap();
}
