//! Concurrency tests: one writer racing several readers on a partition whose tiny segments
//! roll all the time (iteration from random offsets and from the start, a tailing iterator,
//! point reads, timestamp lookups), two focused races at the live end of the log (records
//! never show up ahead of `next_offset()`, lookups racing a publish never panic), several
//! writers sharing group commits under `FlushPolicy::EveryAppend`, and the `Send + Sync`
//! guarantees of the public handles.
//!
//! Every payload embeds who wrote it, its sequence number and a checksum, so a reader can
//! validate each record on its own. Threads synchronise with barriers, atomics and joins
//! only; a generous deadline turns a hang into a failure instead of a stuck test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "test data: offsets, sizes and counts are small"
)]

use std::collections::BTreeMap;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use pagelog::{FlushPolicy, NewRecord, Partition, Record, Records, Store, Topic, TopicConfig};

/// Timestamp of the record with sequence number 0; record `s` gets `T0 + s`.
const T0: i64 = 1_700_000_000_000;
/// Far beyond the runtime of a passing test: only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(120);

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The value of record `seq` written by writer `tag`: tag, seq, a filler whose length and
/// bytes depend on both, then an FNV-1a checksum of everything before it.
fn payload(tag: u64, seq: u64) -> Vec<u8> {
    let filler = ((seq.wrapping_mul(31) ^ tag.wrapping_mul(7)) % 120) as usize;
    let mut v = Vec::with_capacity(24 + filler);
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend((0..filler).map(|i| (seq as u8).wrapping_add(i as u8).wrapping_mul(13)));
    let sum = fnv1a(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

fn key(tag: u64, seq: u64) -> Vec<u8> {
    format!("w{tag}-k{seq}").into_bytes()
}

/// Checks a payload on its own and returns its `(tag, seq)`.
fn decode(value: &[u8]) -> (u64, u64) {
    assert!(value.len() >= 24, "payload of {} bytes", value.len());
    let (body, sum) = value.split_at(value.len() - 8);
    assert_eq!(
        fnv1a(body),
        u64::from_le_bytes(sum.try_into().unwrap()),
        "payload checksum"
    );
    let tag = u64::from_le_bytes(body[..8].try_into().unwrap());
    let seq = u64::from_le_bytes(body[8..16].try_into().unwrap());
    assert_eq!(value, payload(tag, seq), "payload of ({tag}, {seq})");
    (tag, seq)
}

/// Checks a record written by writer `tag` as its `seq`-th record.
fn validate(rec: &Record, tag: u64, seq: u64) {
    assert_eq!(
        decode(rec.value()),
        (tag, seq),
        "record at {}",
        rec.offset()
    );
    assert_eq!(rec.key(), Some(key(tag, seq).as_slice()));
    assert_eq!(rec.timestamp(), T0 + seq as i64);
    assert_eq!(rec.header_count(), 0);
    assert!(!rec.is_tombstone());
}

/// A record of the single-writer test: its sequence number is its offset.
fn validate_at(rec: &Record, offset: u64) {
    assert_eq!(rec.offset(), offset);
    validate(rec, 0, offset);
}

/// xorshift64*: a tiny deterministic generator, one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (`0` when `n == 0`).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Runs its closure when dropped, also while the thread unwinds: a thread that fails must
/// not leave the others waiting for it until the deadline.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

fn check_deadline(start: Instant, what: &str) {
    assert!(
        start.elapsed() < DEADLINE,
        "{what}: still running after {DEADLINE:?}"
    );
}

/// Appends records `seqs` of writer `tag` as one batch.
fn append_batch(p: &Partition, tag: u64, seqs: std::ops::Range<u64>) -> std::ops::Range<u64> {
    let keys: Vec<Vec<u8>> = seqs.clone().map(|s| key(tag, s)).collect();
    let values: Vec<Vec<u8>> = seqs.clone().map(|s| payload(tag, s)).collect();
    let records: Vec<NewRecord<'_>> = seqs
        .zip(keys.iter().zip(&values))
        .map(|(s, (k, v))| NewRecord::new(v).key(k).timestamp(T0 + s as i64))
        .collect();
    p.append_batch(&records).unwrap()
}

/// Iterates from `from` and checks up to `limit` records: contiguous offsets, each valid.
/// Returns how many it read.
fn check_run(it: &mut Records, from: u64, limit: u64) -> u64 {
    let mut n = 0;
    while n < limit {
        match it.next() {
            Some(rec) => {
                validate_at(&rec.unwrap(), from + n);
                n += 1;
            }
            None => break,
        }
    }
    n
}

#[test]
#[expect(
    clippy::too_many_lines,
    clippy::many_single_char_names,
    reason = "one scenario, its steps and checks in order; p, s, r, n and o for the partition, \
              the scope, a reader, a count and an offset"
)]
fn readers_validate_every_record_while_the_writer_rolls() {
    const N: u64 = 20_000;
    const READERS: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(256)
        // 10 offset-index entries: some segments roll because their index is full.
        .index_bytes(128)
        .flush(FlushPolicy::Never);
    let topic = store.create_topic("race", config).unwrap();
    let p = topic.partition(0).unwrap();
    let start = Instant::now();
    let barrier = Barrier::new(READERS + 1);
    let done = AtomicBool::new(false);

    let reads: Vec<u64> = thread::scope(|s| {
        let writer = s.spawn(|| {
            let _done = OnDrop(|| done.store(true, Ordering::Release));
            let mut rng = Rng::new(0xdead_beef);
            barrier.wait();
            let mut seq = 0;
            while seq < N {
                let n = (1 + rng.below(6)).min(N - seq);
                let range = if n == 1 {
                    let (k, v) = (key(0, seq), payload(0, seq));
                    let o = p
                        .append(NewRecord::new(&v).key(&k).timestamp(T0 + seq as i64))
                        .unwrap();
                    o..o + 1
                } else {
                    append_batch(p, 0, seq..seq + n)
                };
                assert_eq!(range, seq..seq + n, "offsets are contiguous");
                assert!(p.next_offset() >= range.end);
                seq += n;
            }
        });
        let readers: Vec<_> = (0..READERS)
            .map(|r| {
                let (barrier, done) = (&barrier, &done);
                s.spawn(move || {
                    let mut rng = Rng::new(r as u64 + 1);
                    // Polled again and again: must pick up whatever is appended since.
                    let mut tail = p.iter_from(0).unwrap();
                    let mut tail_next = 0u64;
                    // Views read early must stay valid while segments roll away under them.
                    let mut held: Vec<Record> = Vec::new();
                    let mut reads = 0u64;
                    barrier.wait();
                    for round in 0u64.. {
                        check_deadline(start, "reader");
                        // Loaded before the tail is polled: once the writer is done and the
                        // tail has reached N, everything was read.
                        let writer_done = done.load(Ordering::Acquire);
                        for rec in tail.by_ref() {
                            validate_at(&rec.unwrap(), tail_next);
                            tail_next += 1;
                            reads += 1;
                        }
                        if writer_done {
                            assert_eq!(p.next_offset(), N);
                            if tail_next == N {
                                break;
                            }
                        }

                        // A run from a random offset: it must reach at least the end seen
                        // before it started (or its limit).
                        let end = p.next_offset();
                        let from = rng.below(end + 1);
                        let limit = 1 + rng.below(300);
                        let mut it = p.iter_from(from).unwrap();
                        let n = check_run(&mut it, from, limit);
                        assert!(
                            n >= limit.min(end - from),
                            "iteration from {from} stopped after {n} records (end was {end})"
                        );
                        reads += n;

                        // Now and then the whole log from the start.
                        if round.is_multiple_of(50) {
                            let end = p.next_offset();
                            let n = check_run(&mut p.iter(), 0, u64::MAX);
                            assert!(n >= end, "full iteration read {n} of at least {end}");
                            reads += n;
                        }

                        // Point reads and timestamp lookups below the end.
                        for _ in 0..16 {
                            let end = p.next_offset();
                            if end == 0 {
                                break;
                            }
                            let o = rng.below(end);
                            let rec = p.read(o).unwrap().expect("a record below next_offset");
                            validate_at(&rec, o);
                            if held.len() < 8 && o.is_multiple_of(7) {
                                held.push(rec);
                            }
                            assert_eq!(p.offset_for_timestamp(T0 + o as i64).unwrap(), Some(o));
                            reads += 1;
                        }
                        // At the end: nothing yet, or the record appended meanwhile.
                        let end = p.next_offset();
                        if let Some(rec) = p.read(end).unwrap() {
                            validate_at(&rec, end);
                        }
                        assert_eq!(p.offset_for_timestamp(T0 + 2 * N as i64).unwrap(), None);
                        if end > 0 {
                            assert_eq!(p.offset_for_timestamp(i64::MIN).unwrap(), Some(0));
                        }
                    }
                    assert!(tail.next().is_none(), "tail yields past the end");
                    for rec in &held {
                        validate_at(rec, rec.offset());
                    }
                    reads
                })
            })
            .collect();
        writer.join().unwrap();
        readers.into_iter().map(|h| h.join().unwrap()).collect()
    });

    assert_eq!(p.next_offset(), N);
    let segments = p.info().segments;
    assert!(segments > 50, "only {segments} segments: too few rolls");
    assert_eq!(check_run(&mut p.iter(), 0, u64::MAX), N);
    assert!(reads.iter().all(|&n| n >= N), "reads per reader: {reads:?}");
    store.close().unwrap();
}

/// A record a reader has been given must be inside the partition's range: `next_offset()`
/// loaded afterwards is above it, so `read(offset)` and `iter_from(offset + 1)` work.
#[test]
fn iterators_never_run_ahead_of_next_offset() {
    /// The writer stops at this many records, after this long, or at the first anomaly.
    const MAX_N: u64 = 300_000;
    const BUDGET: Duration = Duration::from_secs(3);
    const READERS: usize = 2;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = TopicConfig::default()
        .segment_bytes(128 << 20)
        .flush(FlushPolicy::Never);
    let topic = store.create_topic("ahead", config).unwrap();
    let p = topic.partition(0).unwrap();
    // One segment that never rolls, and a first record in place before the readers start:
    // this test is about `next_offset()` only, not about stepping into a new segment.
    let append = |seq: u64| {
        let (k, v) = (key(0, seq), payload(0, seq));
        let r = NewRecord::new(&v).key(&k).timestamp(T0 + seq as i64);
        assert_eq!(p.append(r).unwrap(), seq);
    };
    append(0);
    let start = Instant::now();
    let barrier = Barrier::new(READERS + 1);
    let found = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let ahead: Vec<Vec<(u64, u64)>> = thread::scope(|s| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let (barrier, found, done) = (&barrier, &found, &done);
                s.spawn(move || {
                    let mut tail = p.iter_from(0).unwrap();
                    let mut next = 0u64;
                    let mut ahead = Vec::new();
                    barrier.wait();
                    loop {
                        check_deadline(start, "reader");
                        let writer_done = done.load(Ordering::Acquire);
                        for rec in tail.by_ref() {
                            let rec = rec.unwrap();
                            let end = p.next_offset();
                            if rec.offset() >= end && ahead.len() < 10 {
                                ahead.push((rec.offset(), end));
                                found.store(true, Ordering::Release);
                            }
                            validate_at(&rec, next);
                            next += 1;
                        }
                        if writer_done && next == p.next_offset() {
                            return ahead;
                        }
                    }
                })
            })
            .collect();
        let writer_done = OnDrop(|| done.store(true, Ordering::Release));
        barrier.wait();
        let mut seq = 1;
        while seq < MAX_N && start.elapsed() < BUDGET && !found.load(Ordering::Acquire) {
            append(seq);
            seq += 1;
        }
        drop(writer_done);
        readers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(p.info().segments, 1);
    let ahead: Vec<(u64, u64)> = ahead.into_iter().flatten().collect();
    assert!(
        ahead.is_empty(),
        "iterators returned records at or past next_offset(): (offset, next_offset) {ahead:?}"
    );
    store.close().unwrap();
}

/// Readers that start at the live end of the log (a new iterator, a timestamp lookup) while
/// the writer publishes batches there must get a record, nothing, or `None` — never a panic.
#[test]
fn lookups_at_the_live_end_race_the_writer() {
    const N: u64 = 30_000;
    const READERS: usize = 2;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(0)
        .flush(FlushPolicy::Never);
    let topic = store.create_topic("tail", config).unwrap();
    let p = topic.partition(0).unwrap();
    let start = Instant::now();
    let barrier = Barrier::new(READERS + 1);
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let readers: Vec<_> = (0..READERS)
            .map(|r| {
                let (barrier, done) = (&barrier, &done);
                s.spawn(move || {
                    barrier.wait();
                    while !done.load(Ordering::Acquire) {
                        check_deadline(start, "reader");
                        let end = p.next_offset();
                        if r == 0 {
                            if let Some(rec) = p.iter_from(end).unwrap().next() {
                                validate_at(&rec.unwrap(), end);
                            }
                        } else {
                            let got = p.offset_for_timestamp(T0 + end as i64).unwrap();
                            assert!(got.is_none_or(|o| o == end), "{got:?} for {end}");
                        }
                    }
                })
            })
            .collect();
        let writer_done = OnDrop(|| done.store(true, Ordering::Release));
        barrier.wait();
        for seq in 0..N {
            let (k, v) = (key(0, seq), payload(0, seq));
            let r = NewRecord::new(&v).key(&k).timestamp(T0 + seq as i64);
            assert_eq!(p.append(r).unwrap(), seq);
        }
        drop(writer_done);
        for h in readers {
            h.join().unwrap();
        }
    });
    store.close().unwrap();
}

/// Appends of writer `tag`, as acknowledged: `(offset, seq)` in acknowledgement order.
type Acks = Vec<(u64, u64)>;

fn group_commit_writer(p: &Partition, tag: u64, appends: u64, barrier: &Barrier) -> Acks {
    let mut acks = Acks::new();
    let mut rng = Rng::new(tag * 1000 + 17);
    let mut seq = 0;
    barrier.wait();
    for _ in 0..appends {
        let n = if rng.below(4) == 0 {
            1 + rng.below(4)
        } else {
            1
        };
        let range = append_batch(p, tag, seq..seq + n);
        assert_eq!(range.end - range.start, n);
        let durable = p.durable_offset();
        assert!(
            durable >= range.end,
            "EveryAppend returned offsets {range:?} while durable_offset() is {durable}"
        );
        acks.extend(range.zip(seq..seq + n));
        seq += n;
    }
    acks
}

/// Every acknowledged append is in the log exactly once, where it was acknowledged.
fn check_acks(p: &Partition, acks: &BTreeMap<u64, (u64, u64)>) {
    assert_eq!(p.next_offset(), acks.len() as u64);
    let mut n = 0u64;
    for rec in p {
        let rec = rec.unwrap();
        assert_eq!(rec.offset(), n);
        let &(tag, seq) = acks.get(&n).expect("an acknowledged offset");
        validate(&rec, tag, seq);
        n += 1;
    }
    assert_eq!(n, acks.len() as u64);
}

#[test]
fn concurrent_writers_share_group_commits() {
    const WRITERS: u64 = 4;
    const APPENDS: u64 = 120;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = TopicConfig::default()
        .segment_bytes(8192)
        .index_interval_bytes(512)
        .flush(FlushPolicy::EveryAppend);
    let topic = store.create_topic("commit", config).unwrap();
    let p = topic.partition(0).unwrap();
    let start = Instant::now();
    let barrier = Barrier::new(WRITERS as usize + 1);
    let finished = AtomicUsize::new(0);

    let per_writer: Vec<Acks> = thread::scope(|s| {
        let writers: Vec<_> = (1..=WRITERS)
            .map(|tag| {
                let (barrier, finished) = (&barrier, &finished);
                s.spawn(move || {
                    let _finished = OnDrop(|| {
                        finished.fetch_add(1, Ordering::Release);
                    });
                    group_commit_writer(p, tag, APPENDS, barrier)
                })
            })
            .collect();
        // Explicit flushes join the same group commits; durability only moves forward.
        s.spawn(|| {
            barrier.wait();
            let mut last = 0;
            while finished.load(Ordering::Acquire) < WRITERS as usize {
                check_deadline(start, "flusher");
                let end = p.next_offset();
                p.flush().unwrap();
                let durable = p.durable_offset();
                assert!(
                    durable >= end,
                    "flush() returned with durable {durable} < {end}"
                );
                assert!(
                    durable >= last,
                    "durable_offset went back from {last} to {durable}"
                );
                last = durable;
                thread::yield_now();
            }
        });
        writers.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let mut acks = BTreeMap::new();
    for (i, w) in per_writer.iter().enumerate() {
        let tag = i as u64 + 1;
        assert!(
            w.windows(2).all(|a| a[0].0 < a[1].0),
            "writer {tag}'s offsets are not increasing"
        );
        for &(offset, seq) in w {
            assert!(
                acks.insert(offset, (tag, seq)).is_none(),
                "offset {offset} acknowledged twice"
            );
        }
    }
    let total = acks.len() as u64;
    assert_eq!(
        acks.keys().copied().collect::<Vec<_>>(),
        (0..total).collect::<Vec<_>>()
    );
    assert_eq!(p.durable_offset(), total);
    assert!(p.info().segments > 1, "the test should roll segments");
    check_acks(p, &acks);

    // Everything acknowledged survives a crash, and then a clean close.
    store.crash();
    let store = Store::open(dir.path()).unwrap();
    check_acks(store.topic("commit").unwrap().partition(0).unwrap(), &acks);
    store.close().unwrap();
    let store = Store::open(dir.path()).unwrap();
    check_acks(store.topic("commit").unwrap().partition(0).unwrap(), &acks);
    store.close().unwrap();
}

const fn assert_send_sync<T: Send + Sync>() {}
const fn assert_send<T: Send>() {}

// Checked at compile time.
const _: () = {
    assert_send_sync::<Store>();
    assert_send_sync::<Topic>();
    assert_send_sync::<Partition>();
    assert_send_sync::<Record>();
    assert_send::<Records>();
};

#[test]
fn handles_are_send_and_sync() {
    assert_send_sync::<Store>();
    assert_send_sync::<Topic>();
    assert_send_sync::<Partition>();
    assert_send_sync::<Record>();
    assert_send::<Records>();
}
