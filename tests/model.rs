//! Model-based (state-machine) property test of a topic's partitions.
//!
//! Proptest generates a topic configuration with tiny segments (so segments roll all the
//! time, by size, by a full index and by age) and any flush policy, and a sequence of
//! operations: single and batched appends (keys, values, explicit or automatic timestamps,
//! headers, tombstones, oversized and empty batches), reads at and around the ends of the
//! log, iterations, a long-lived tailing iterator, timestamp lookups, flushes, clean
//! close/reopen (by `close` and by drop) and crash/reopen (`Store::crash`). The in-memory
//! model is a `Vec` of the records of each partition; after every operation the store must
//! agree with it exactly (offsets, record contents, durability bounds of the flush policy),
//! and after every reopen the whole log is compared record by record and verified on disk.
//!
//! `PROPTEST_CASES` sets the number of cases (default 64).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "test data: offsets, sizes and counts are small"
)]

use std::fmt::Display;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pagelog::codec::batch::measure;
use pagelog::{Error, FlushPolicy, Header, NewRecord, Partition, Record, Records, Store, Topic};
use pagelog::{Result as PResult, TopicConfig};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

type TestResult<T = ()> = Result<T, TestCaseError>;

const TOPIC: &str = "model";
/// A realistic epoch-millisecond base for explicit timestamps.
const T0: i64 = 1_700_000_000_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Turns a library error into a test failure naming what was being done.
trait Check<T> {
    fn check(self, what: impl Display) -> TestResult<T>;
}

impl<T> Check<T> for PResult<T> {
    fn check(self, what: impl Display) -> TestResult<T> {
        self.map_err(|e| TestCaseError::fail(format!("{what}: unexpected error {e:?}")))
    }
}

// ---------------------------------------------------------------------------------------
// Generated inputs
// ---------------------------------------------------------------------------------------

/// A record to append, as generated.
#[derive(Debug, Clone)]
struct Spec {
    key: Option<Vec<u8>>,
    /// `None`: a tombstone.
    value: Option<Vec<u8>>,
    /// `None`: stamped with the current time by the append.
    timestamp: Option<i64>,
    headers: Vec<(String, Vec<u8>)>,
}

/// A record as the model stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
    headers: Vec<(String, Vec<u8>)>,
}

/// An offset relative to the partition's current range `[0, len]`.
#[derive(Debug, Clone, Copy)]
enum Pos {
    /// Per-mille of the way into the stored records (the end if there are none).
    Within(u16),
    /// Exactly the next offset.
    End,
    /// `end + 1 + k`: out of range.
    Past(u16),
    /// `u64::MAX`.
    Max,
}

/// A timestamp to look up.
#[derive(Debug, Clone, Copy)]
enum TsQuery {
    /// The timestamp of an existing record (chosen by index modulo the length) plus a delta.
    Existing(usize, i8),
    /// Any timestamp.
    Raw(i64),
}

#[derive(Debug, Clone)]
enum Op {
    Append(usize, Spec),
    AppendBatch(usize, Vec<Spec>),
    Read(usize, Pos),
    Iterate(usize, Pos),
    /// Polls the partition's long-lived iterator until it returns `None`.
    Tail(usize),
    OffsetForTimestamp(usize, TsQuery),
    Flush(usize),
    /// Clean close (by `close()` or, when true, by dropping the store), then reopen.
    CloseReopen(bool),
    CrashReopen,
}

/// The generated topic configuration.
#[derive(Debug, Clone)]
struct Cfg {
    partitions: u32,
    segment_bytes: u64,
    index_interval_bytes: u32,
    index_bytes: Option<u32>,
    segment_ms: Option<u64>,
    max_batch_bytes: Option<u32>,
    verify_checksums: bool,
    flush: FlushPolicy,
}

impl Cfg {
    fn topic_config(&self) -> TopicConfig {
        let mut c = TopicConfig::default()
            .partitions(self.partitions)
            .segment_bytes(self.segment_bytes)
            .index_interval_bytes(self.index_interval_bytes)
            .verify_checksums(self.verify_checksums)
            .flush(self.flush);
        if let Some(b) = self.index_bytes {
            c = c.index_bytes(b);
        }
        if let Some(ms) = self.segment_ms {
            c = c.segment_ms(ms);
        }
        if let Some(b) = self.max_batch_bytes {
            c = c.max_batch_bytes(b);
        }
        c
    }
}

fn cfg_strategy() -> impl Strategy<Value = Cfg> {
    (
        1u32..=2,
        prop_oneof![3 => 4096u64..6144, 1 => 6144u64..16384],
        0u32..1024,
        prop::option::weighted(0.4, 64u32..512),
        prop::option::weighted(0.15, 1u64..200_000),
        prop::option::weighted(0.1, 64u32..4096),
        prop::bool::weighted(0.8),
        flush_policy(),
    )
        .prop_map(
            |(
                partitions,
                segment_bytes,
                index_interval_bytes,
                index_bytes,
                segment_ms,
                max_batch_bytes,
                verify_checksums,
                flush,
            )| Cfg {
                partitions,
                segment_bytes,
                index_interval_bytes,
                index_bytes,
                segment_ms,
                max_batch_bytes,
                verify_checksums,
                flush,
            },
        )
}

fn flush_policy() -> impl Strategy<Value = FlushPolicy> {
    prop_oneof![
        12 => Just(FlushPolicy::Never),
        4 => (1u64..20).prop_map(FlushPolicy::EveryRecords),
        2 => Just(FlushPolicy::EveryAppend),
        2 => (1u64..50).prop_map(|ms| FlushPolicy::Interval(Duration::from_millis(ms))),
    ]
}

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        12 => (-100_000i64..100_000).prop_map(|d| T0 + d),
        1 => prop::sample::select(vec![
            0,
            -1,
            1,
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            i64::MAX - 1,
        ]),
    ]
}

fn header() -> impl Strategy<Value = (String, Vec<u8>)> {
    (
        "[a-z\u{e9}]{0,6}",
        prop::collection::vec(any::<u8>(), 0..12),
    )
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::option::weighted(0.7, prop::collection::vec(any::<u8>(), 0..16)),
        prop::collection::vec(any::<u8>(), 0..300),
        0u8..20,
        prop::option::weighted(0.5, timestamp()),
        prop_oneof![
            3 => Just(Vec::new()),
            1 => prop::collection::vec(header(), 1..4),
        ],
    )
        .prop_map(|(key, value, tomb, timestamp, headers)| {
            let (key, value) = match tomb {
                // A tombstone for a key (possibly empty) ...
                0 | 1 => (Some(key.unwrap_or_default()), None),
                // ... and, rarely, a null value without a key.
                2 => (None, None),
                _ => (key, Some(value)),
            };
            Spec {
                key,
                value,
                timestamp,
                headers,
            }
        })
}

fn pos() -> impl Strategy<Value = Pos> {
    prop_oneof![
        6 => (0u16..1000).prop_map(Pos::Within),
        2 => Just(Pos::End),
        1 => (0u16..3).prop_map(Pos::Past),
        1 => Just(Pos::Max),
    ]
}

fn ts_query() -> impl Strategy<Value = TsQuery> {
    prop_oneof![
        4 => (any::<usize>(), -1i8..=1).prop_map(|(i, d)| TsQuery::Existing(i, d)),
        1 => timestamp().prop_map(TsQuery::Raw),
        1 => any::<i64>().prop_map(TsQuery::Raw),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let part = 0usize..2;
    prop_oneof![
        10 => (part.clone(), spec()).prop_map(|(p, s)| Op::Append(p, s)),
        10 => (part.clone(), prop::collection::vec(spec(), 0..20))
            .prop_map(|(p, b)| Op::AppendBatch(p, b)),
        4 => (part.clone(), pos()).prop_map(|(p, o)| Op::Read(p, o)),
        2 => (part.clone(), pos()).prop_map(|(p, o)| Op::Iterate(p, o)),
        2 => part.clone().prop_map(Op::Tail),
        3 => (part.clone(), ts_query()).prop_map(|(p, q)| Op::OffsetForTimestamp(p, q)),
        1 => part.prop_map(Op::Flush),
        1 => any::<bool>().prop_map(Op::CloseReopen),
        1 => Just(Op::CrashReopen),
    ]
}

// ---------------------------------------------------------------------------------------
// The system under test and its model
// ---------------------------------------------------------------------------------------

struct Harness<'d> {
    dir: &'d Path,
    config: TopicConfig,
    store: Option<Store>,
    topic: Topic,
    /// The model: every record of each partition, index = offset.
    model: Vec<Vec<Stored>>,
    /// One long-lived iterator per partition, started at offset 0 when the store was
    /// (re)opened, with the offset it must return next.
    tails: Vec<(Records, u64)>,
    /// Records read earlier (partition, offset, view): they must stay valid for good,
    /// across closes, crashes and reopens.
    held: Vec<(usize, u64, Record)>,
}

impl<'d> Harness<'d> {
    fn new(dir: &'d Path, config: TopicConfig) -> TestResult<Self> {
        let store = Store::open(dir).check("Store::open")?;
        let topic = store
            .create_topic(TOPIC, config.clone())
            .check("create_topic")?;
        let n = config.get_partitions() as usize;
        let tails = tails(&topic)?;
        Ok(Self {
            dir,
            config,
            store: Some(store),
            topic,
            model: vec![Vec::new(); n],
            tails,
            held: Vec::new(),
        })
    }

    fn part(&self, p: usize) -> TestResult<(usize, Partition)> {
        let p = p % self.model.len();
        let part = self.topic.partition(p as u32).check("Topic::partition")?;
        Ok((p, part.clone()))
    }

    fn apply(&mut self, op: &Op) -> TestResult {
        match op {
            Op::Append(p, s) => self.append(*p, std::slice::from_ref(s), true),
            Op::AppendBatch(p, b) => self.append(*p, b, false),
            Op::Read(p, at) => self.read(*p, *at),
            Op::Iterate(p, from) => self.iterate(*p, *from),
            Op::Tail(p) => self.tail(*p),
            Op::OffsetForTimestamp(p, q) => self.offset_for_timestamp(*p, *q),
            Op::Flush(p) => {
                let (p, part) = self.part(*p)?;
                part.flush().check("flush")?;
                prop_assert_eq!(part.durable_offset(), self.model[p].len() as u64);
                Ok(())
            }
            Op::CloseReopen(by_drop) => {
                let store = self.store.take().expect("store is open");
                if *by_drop {
                    drop(store);
                } else {
                    store.close().check("Store::close")?;
                }
                self.reopen()
            }
            Op::CrashReopen => {
                self.store.take().expect("store is open").crash();
                self.reopen()
            }
        }
    }

    fn append(&mut self, p: usize, specs: &[Spec], single: bool) -> TestResult {
        let (p, part) = self.part(p)?;
        let len = self.model[p].len() as u64;
        let headers: Vec<Vec<Header<'_>>> = specs
            .iter()
            .map(|s| {
                s.headers
                    .iter()
                    .map(|(k, v)| Header { key: k, value: v })
                    .collect()
            })
            .collect();
        let records: Vec<NewRecord<'_>> = specs
            .iter()
            .zip(&headers)
            .map(|(s, h)| new_record(s, h))
            .collect();
        let limit =
            u64::from(self.config.get_max_batch_bytes()).min(self.config.get_segment_bytes());
        let before = now_ms();
        let result = if single {
            part.append(records[0]).map(|o| o..o + 1)
        } else {
            part.append_batch(&records)
        };
        let after = now_ms();
        if records.is_empty() {
            prop_assert!(
                matches!(result, Err(Error::EmptyBatch)),
                "empty batch: {:?}",
                result
            );
            return Ok(());
        }
        // The encoded size depends on "now" only through timestamp-delta varints.
        let sizes =
            [before, after].map(|now| measure(&records, now).map_or(u64::MAX, |m| m.len as u64));
        let (small, large) = (sizes[0].min(sizes[1]), sizes[0].max(sizes[1]));
        let range = match result {
            Err(Error::RecordTooLarge { size, .. }) => {
                prop_assert!(
                    small > limit,
                    "RecordTooLarge for a batch of {}..={} bytes (limit {}, reported {})",
                    small,
                    large,
                    limit,
                    size
                );
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("append: {e:?}"))),
            Ok(r) => r,
        };
        prop_assert!(
            small <= limit,
            "a batch of {} bytes was accepted over the limit {}",
            small,
            limit
        );
        prop_assert_eq!(range.clone(), len..len + specs.len() as u64);
        prop_assert_eq!(part.next_offset(), range.end);
        for (i, s) in specs.iter().enumerate() {
            let offset = range.start + i as u64;
            let rec = part
                .read(offset)
                .check(format_args!("read({offset}) after append"))?;
            let Some(rec) = rec else {
                return Err(TestCaseError::fail(format!(
                    "read({offset}) after append returned None"
                )));
            };
            let timestamp = if let Some(ts) = s.timestamp {
                ts
            } else {
                let ts = rec.timestamp();
                prop_assert!(
                    (before..=after).contains(&ts),
                    "automatic timestamp {} outside [{}, {}]",
                    ts,
                    before,
                    after
                );
                ts
            };
            let stored = Stored {
                key: s.key.clone(),
                value: s.value.clone(),
                timestamp,
                headers: s.headers.clone(),
            };
            same(&rec, &stored, offset)?;
            self.model[p].push(stored);
            if offset.is_multiple_of(97) && self.held.len() < 8 {
                self.held.push((p, offset, rec));
            }
        }
        Ok(())
    }

    fn read(&mut self, p: usize, at: Pos) -> TestResult {
        let (p, part) = self.part(p)?;
        let model = &self.model[p];
        let len = model.len() as u64;
        let offset = resolve(at, len);
        let got = part.read(offset);
        match offset.cmp(&len) {
            std::cmp::Ordering::Less => {
                let rec = got.check(format_args!("read({offset})"))?;
                let Some(rec) = rec else {
                    return Err(TestCaseError::fail(format!("read({offset}) returned None")));
                };
                same(&rec, &model[offset as usize], offset)?;
            }
            std::cmp::Ordering::Equal => {
                let rec = got.check(format_args!("read({offset}) at the end"))?;
                prop_assert!(rec.is_none(), "read at the end returned {:?}", rec);
            }
            std::cmp::Ordering::Greater => out_of_range(got, offset, len)?,
        }
        Ok(())
    }

    fn iterate(&mut self, p: usize, from: Pos) -> TestResult {
        let (p, part) = self.part(p)?;
        let model = &self.model[p];
        let len = model.len() as u64;
        let from = resolve(from, len);
        let it = part.iter_from(from);
        if from > len {
            return out_of_range(it, from, len);
        }
        let mut it = it.check(format_args!("iter_from({from})"))?;
        prop_assert_eq!(it.position(), from);
        let mut expected = from;
        for rec in it.by_ref() {
            let rec = rec.check(format_args!("iterating from {from}"))?;
            prop_assert!(expected < len, "iteration went past the end {}", len);
            same(&rec, &model[expected as usize], expected)?;
            expected += 1;
        }
        prop_assert_eq!(expected, len, "iteration from {} stopped early", from);
        prop_assert!(it.next().is_none(), "iterator yields after the end");
        Ok(())
    }

    fn tail(&mut self, p: usize) -> TestResult {
        let p = p % self.model.len();
        let model = &self.model[p];
        let (it, next) = &mut self.tails[p];
        for rec in it.by_ref() {
            let rec = rec.check("tailing iterator")?;
            prop_assert!(
                (*next as usize) < model.len(),
                "tail went past the end {}",
                model.len()
            );
            same(&rec, &model[*next as usize], *next)?;
            *next += 1;
        }
        prop_assert_eq!(*next, model.len() as u64, "tailing iterator stopped early");
        Ok(())
    }

    fn offset_for_timestamp(&mut self, p: usize, q: TsQuery) -> TestResult {
        let (p, part) = self.part(p)?;
        let model = &self.model[p];
        let ts = match q {
            TsQuery::Existing(_, d) if model.is_empty() => T0 + i64::from(d),
            TsQuery::Existing(i, d) => model[i % model.len()]
                .timestamp
                .saturating_add(i64::from(d)),
            TsQuery::Raw(ts) => ts,
        };
        check_ts(&part, model, ts)
    }

    fn reopen(&mut self) -> TestResult {
        // Handles from before stop accepting appends.
        let old = self.topic.partition(0).check("old partition")?.clone();
        let r = old.append(NewRecord::new(b"after close"));
        prop_assert!(
            matches!(r, Err(Error::Closed(_))),
            "append on a closed handle: {:?}",
            r
        );
        let store = Store::open(self.dir).check("reopen Store::open")?;
        let topic = store.topic(TOPIC).check("reopen Store::topic")?;
        prop_assert_eq!(topic.config(), &self.config);
        prop_assert_eq!(topic.partition_count() as usize, self.model.len());
        self.tails = tails(&topic)?;
        self.topic = topic;
        self.store = Some(store);
        self.check_all()
    }

    /// Cheap checks, after every operation.
    fn check_invariants(&self) -> TestResult {
        for (p, model) in self.model.iter().enumerate() {
            let part = self.topic.partition(p as u32).check("partition")?;
            let len = model.len() as u64;
            prop_assert_eq!(part.next_offset(), len);
            prop_assert_eq!(part.start_offset(), 0);
            let durable = part.durable_offset();
            prop_assert!(
                durable <= len,
                "durable_offset {} > next_offset {}",
                durable,
                len
            );
            match self.config.get_flush() {
                FlushPolicy::EveryAppend => prop_assert_eq!(durable, len),
                FlushPolicy::EveryRecords(n) => prop_assert!(
                    len - durable < n,
                    "EveryRecords({}): durable_offset {} lags next_offset {}",
                    n,
                    durable,
                    len
                ),
                _ => {}
            }
            let info = part.info();
            prop_assert_eq!(info.next_offset, len);
            prop_assert_eq!(info.start_offset, 0);
            prop_assert!(info.segments >= 1);
            prop_assert_eq!(
                part.read(len).check("read at the end")?.map(|r| r.offset()),
                None
            );
            // The most recent records (where the latest rolls happened), by iteration, and
            // the first record by a point read.
            let from = len.saturating_sub(32);
            let mut n = from;
            for rec in part.iter_from(from).check("iter_from")? {
                let rec = rec.check("iterating the recent records")?;
                prop_assert!(n < len, "iteration went past the end {}", len);
                same(&rec, &model[n as usize], n)?;
                n += 1;
            }
            prop_assert_eq!(n, len, "iteration from {} stopped early", from);
            if let Some(first) = model.first() {
                match part.read(0).check("read(0)")? {
                    Some(rec) => same(&rec, first, 0)?,
                    None => return Err(TestCaseError::fail("read(0) returned None")),
                }
            }
        }
        for (p, offset, rec) in &self.held {
            same(rec, &self.model[*p][*offset as usize], *offset)?;
        }
        Ok(())
    }

    /// Compares the whole log with the model: iteration, reads, timestamp lookups.
    fn check_all(&self) -> TestResult {
        self.check_invariants()?;
        for (p, model) in self.model.iter().enumerate() {
            let part = self.topic.partition(p as u32).check("partition")?;
            let len = model.len() as u64;
            let mut n = 0u64;
            for rec in part {
                let rec = rec.check("full iteration")?;
                prop_assert!(n < len, "full iteration went past the end");
                same(&rec, &model[n as usize], n)?;
                n += 1;
            }
            prop_assert_eq!(n, len, "full iteration stopped early");
            let report = part.verify();
            prop_assert!(report.is_ok(), "verify: {:?}", report.problems);
            prop_assert_eq!(report.records, len);
            for (offset, want) in model.iter().enumerate() {
                let offset = offset as u64;
                let rec = part.read(offset).check(format_args!("read({offset})"))?;
                let Some(rec) = rec else {
                    return Err(TestCaseError::fail(format!("read({offset}) returned None")));
                };
                same(&rec, want, offset)?;
            }
            out_of_range(part.read(len + 1), len + 1, len)?;
            out_of_range(part.iter_from(len + 1), len + 1, len)?;
            let step = (model.len() / 16).max(1);
            for want in model.iter().step_by(step) {
                for d in [-1, 0, 1] {
                    check_ts(part, model, want.timestamp.saturating_add(d))?;
                }
            }
            for ts in [i64::MIN, i64::MAX, T0, now_ms() + 1] {
                check_ts(part, model, ts)?;
            }
        }
        Ok(())
    }
}

fn tails(topic: &Topic) -> TestResult<Vec<(Records, u64)>> {
    topic
        .partitions()
        .iter()
        .map(|p| Ok((p.iter_from(0).check("iter_from(0)")?, 0)))
        .collect()
}

fn new_record<'a>(s: &'a Spec, headers: &'a [Header<'a>]) -> NewRecord<'a> {
    let mut r = match (&s.value, &s.key) {
        (Some(v), _) => NewRecord::new(v),
        (None, Some(k)) => NewRecord::tombstone(k),
        (None, None) => NewRecord::default(),
    };
    if let Some(k) = &s.key {
        r = r.key(k);
    }
    if let Some(ts) = s.timestamp {
        r = r.timestamp(ts);
    }
    r.headers(headers)
}

fn resolve(at: Pos, len: u64) -> u64 {
    match at {
        Pos::Within(_) if len == 0 => 0,
        Pos::Within(f) => u64::from(f) * len / 1000,
        Pos::End => len,
        Pos::Past(k) => len + 1 + u64::from(k),
        Pos::Max => u64::MAX,
    }
}

fn out_of_range<T: std::fmt::Debug>(got: PResult<T>, offset: u64, len: u64) -> TestResult {
    match got {
        Err(Error::OffsetOutOfRange {
            requested,
            start,
            end,
        }) => {
            prop_assert_eq!((requested, start, end), (offset, 0, len));
            Ok(())
        }
        other => Err(TestCaseError::fail(format!(
            "offset {offset} past the end {len}: expected OffsetOutOfRange, got {other:?}"
        ))),
    }
}

fn check_ts(part: &Partition, model: &[Stored], ts: i64) -> TestResult {
    let want = model
        .iter()
        .position(|r| r.timestamp >= ts)
        .map(|i| i as u64);
    let got = part
        .offset_for_timestamp(ts)
        .check(format_args!("offset_for_timestamp({ts})"))?;
    prop_assert_eq!(got, want, "offset_for_timestamp({})", ts);
    Ok(())
}

fn same(rec: &Record, want: &Stored, offset: u64) -> TestResult {
    prop_assert_eq!(rec.offset(), offset);
    prop_assert_eq!(rec.timestamp(), want.timestamp, "timestamp at {}", offset);
    prop_assert_eq!(rec.key(), want.key.as_deref(), "key at {}", offset);
    prop_assert_eq!(
        rec.value_opt(),
        want.value.as_deref(),
        "value at {}",
        offset
    );
    prop_assert_eq!(rec.is_tombstone(), want.value.is_none());
    prop_assert_eq!(rec.value(), want.value.as_deref().unwrap_or_default());
    prop_assert_eq!(rec.header_count() as usize, want.headers.len());
    let headers: Vec<(String, Vec<u8>)> = rec
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_vec()))
        .collect();
    prop_assert_eq!(&headers, &want.headers, "headers at {}", offset);
    Ok(())
}

fn run(cfg: &Cfg, ops: &[Op]) -> TestResult {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut h = Harness::new(dir.path(), cfg.topic_config())?;
    for op in ops {
        h.apply(op)?;
        h.check_invariants()?;
    }
    h.check_all()?;
    // A final crash and a final clean close must both leave the same log behind.
    h.apply(&Op::CrashReopen)?;
    h.apply(&Op::CloseReopen(false))?;
    if let Some(store) = h.store.take() {
        store.close().check("final close")?;
    }
    Ok(())
}

fn proptest_config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        max_shrink_iters: 2048,
        // Next to `src/`, whatever the test binary's working directory layout.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/model.txt",
        ))),
        ..ProptestConfig::with_cases(cases)
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn partitions_match_the_model(
        cfg in cfg_strategy(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        run(&cfg, &ops)?;
    }
}

/// Focused reproduction of what the model test found: a sealed segment recovered after a
/// crash must keep answering timestamp lookups correctly once it is opened as a sealed
/// segment again (below the recovery point).
///
/// Every record gets timestamp `T0 + offset`, so `offset_for_timestamp(T0 + o)` is `o`.
/// Each round rolls a segment and crashes right away, before the background flusher has
/// (usually) synced the sealed segment, so the next open recovers it by scanning; the
/// next open after that trusts it as sealed.
#[test]
fn recovered_sealed_segments_keep_their_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let config = TopicConfig::default()
        .segment_bytes(4096)
        .index_interval_bytes(1024)
        .flush(FlushPolicy::Never);
    let value = [7u8; 200];
    let mut next = 0u64;
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_topic(TOPIC, config).unwrap();
        store.close().unwrap();
    }
    for _ in 0..20 {
        let store = Store::open(dir.path()).unwrap();
        let topic = store.topic(TOPIC).unwrap();
        let p = topic.partition(0).unwrap();
        let segments = p.info().segments;
        while p.info().segments == segments {
            let ts = T0 + next as i64;
            assert_eq!(
                p.append(NewRecord::new(&value).timestamp(ts)).unwrap(),
                next
            );
            next += 1;
        }
        store.crash();
    }
    // Recover whatever the crashes left unsynced, then open everything as sealed.
    Store::open(dir.path()).unwrap().close().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    assert_eq!(p.next_offset(), next);
    let wrong: Vec<(u64, Option<u64>)> = (0..next)
        .map(|o| (o, p.offset_for_timestamp(T0 + o as i64).unwrap()))
        .filter(|&(o, got)| got != Some(o))
        .collect();
    assert!(
        wrong.is_empty(),
        "offset_for_timestamp(T0 + o) != Some(o) for {} of {next} offsets, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}
