//! The mirror: tails a pagelog topic as a consumer group and produces its records to a
//! Kafka-protocol broker (cargo feature `mirror`).
//!
//! ```no_run
//! # fn main() -> pagelog::mirror::Result<()> {
//! use std::sync::atomic::AtomicBool;
//! use pagelog::Store;
//! use pagelog::mirror::{Mirror, MirrorConfig, MirrorEvent};
//!
//! let store = Store::open("pagelog-data")?;
//! let topic = store.topic("events")?;
//! let mut mirror = Mirror::new(&topic, "to-kafka", MirrorConfig::new(["127.0.0.1:9092"]))?;
//! let report = mirror.run_once()?; // one poll, shipped and committed
//! println!("shipped {} records", report.records);
//!
//! let stop = AtomicBool::new(false); // set it from another thread to stop
//! mirror.run_until(&stop, |event| {
//!     if let MirrorEvent::Retrying { error, after } = event {
//!         eprintln!("{error}; retrying in {after:?}");
//!     }
//! })?;
//! # Ok(()) }
//! ```
//!
//! **Delivery: at-least-once.** The mirror reads through a [`Consumer`] of the given group
//! with auto-commit off. Each produce request carries one batch of one partition's records;
//! the broker answers only once the batch is written with `acks = all` (`-1`: every in-sync
//! replica has it), and only then does the mirror commit the group's offset past that batch
//! (durably, see [`Consumer::commit`]). So a crash of the process, a broker outage or a
//! timeout never loses a record: what was not acknowledged is not committed and is shipped
//! again. The price is duplicates: the batches acknowledged but not yet committed when the
//! process died (at most one per partition, as batches are committed one by one), and a
//! batch whose produce timed out although the broker wrote it, are produced again after the
//! restart or retry. Duplicates are whole batches at the committed position, in order; set
//! [`MirrorConfig::source_offset_header`] to let consumers of the target drop them.
//!
//! **Mapping.** pagelog partition `p` goes to partition `p` of the target topic (default: the
//! source topic's name), so per-key order and per-partition order are kept. The target
//! topic must have at least the source's partition count; if it does not exist the mirror
//! creates it with exactly that count (unless [`MirrorConfig::create_target`] is off), and a
//! target with too few partitions is refused ([`Error::TargetPartitions`]). Kafka assigns
//! its own offsets, which are dense: they equal pagelog's only for a partition mirrored from
//! offset 0, never compacted and without duplicates.
//!
//! **What is carried.** Key (or none), value (a tombstone stays a null value), timestamp
//! (milliseconds, sent as `CreateTime`) and headers. Headers reach the broker sorted by key:
//! the client (rskafka) keeps one value per key, so a record repeating a header key is
//! refused ([`Error::Unmirrorable`]) rather than shipped without a value.
//!
//! **Blocking API.** The client is asynchronous; the mirror runs it on a private
//! single-threaded tokio runtime and blocks the calling thread, so the rest of pagelog stays
//! synchronous. Do not call it from inside an async runtime (it returns
//! [`pagelog::Error::InvalidConfig`](crate::Error::InvalidConfig) there, inside
//! [`Error::Store`]): use a plain thread or `spawn_blocking`.
//!
//! **Errors.** Every function here returns [`Error`]: the broker's side and records the
//! client cannot carry have variants of their own, errors of the store are wrapped in
//! [`Error::Store`].

mod config;
mod error;

pub use config::MirrorConfig;
pub use error::{Error, Result};

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rskafka::BackoffConfig;
use rskafka::chrono::{TimeZone, Utc};
use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::record::Record as KafkaRecord;
use tokio::runtime::Runtime;

use crate::consumer::{Consumer, ConsumerConfig, ConsumerRecord};
use crate::record::Record;
use crate::topic::Topic;

/// One produce request the broker acknowledged and the group then committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedBatch {
    /// Source and target partition.
    pub partition: u32,
    /// pagelog offset of the first record.
    pub first_offset: u64,
    /// pagelog offset of the last record (the group's committed offset is now one past it).
    pub last_offset: u64,
    /// Records in the batch.
    pub records: usize,
    /// Bytes of keys, values and headers in the batch.
    pub bytes: usize,
    /// Offset the broker gave the first record.
    pub target_offset: i64,
}

/// What one [`Mirror::run_once`] shipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorReport {
    /// Records shipped and committed.
    pub records: u64,
    /// Bytes of keys, values and headers shipped.
    pub bytes: u64,
    /// The acknowledged batches, in the order they were produced.
    pub batches: Vec<ShippedBatch>,
}

/// Running totals of a [`Mirror`] since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MirrorTotals {
    /// Records shipped and committed.
    pub records: u64,
    /// Bytes of keys, values and headers shipped.
    pub bytes: u64,
    /// Produce requests acknowledged.
    pub batches: u64,
    /// Calls that failed with [`Error::Broker`].
    pub broker_errors: u64,
}

/// What [`Mirror::run_until`] reports to its callback after each step.
#[derive(Debug)]
pub enum MirrorEvent<'a> {
    /// A [`run_once`](Mirror::run_once) succeeded (its report may be empty: caught up).
    Shipped(&'a MirrorReport),
    /// A [`run_once`](Mirror::run_once) failed with [`Error::Broker`]; the mirror waits
    /// `after` (or until stopped) and tries again.
    Retrying {
        /// The error.
        error: &'a Error,
        /// The pause before the next attempt.
        after: Duration,
    },
}

/// Ships a pagelog topic to a Kafka-protocol broker as consumer group `group`, committing
/// each batch after the broker acknowledged it. See the [module docs](self) for the
/// guarantee and the mapping.
///
/// The mirror holds a [`Consumer`] of the group (a member like any other: other members of
/// the same group in this process split the partitions with it) and a connection to the
/// broker, made on first use and again after every broker error. Drop it before closing the
/// store.
pub struct Mirror {
    topic: Topic,
    consumer: Consumer,
    config: MirrorConfig,
    target: String,
    runtime: Runtime,
    /// One client per source partition, for the target partition of the same number.
    conn: Option<Vec<PartitionClient>>,
    totals: MirrorTotals,
}

impl fmt::Debug for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("topic", &self.topic.name())
            .field("group", &self.consumer.group())
            .field("target", &self.target)
            .field("brokers", &self.config.brokers)
            .field("connected", &self.conn.is_some())
            .field("totals", &self.totals)
            .finish_non_exhaustive()
    }
}

impl Mirror {
    /// Joins consumer group `group` of `topic` (auto-commit off) and prepares the client.
    /// Does not contact the broker: [`connect`](Self::connect) or the first
    /// [`run_once`](Self::run_once) does.
    ///
    /// # Errors
    /// As [`MirrorConfig::validate`]; [`Error::Store`] as [`Topic::consumer`];
    /// [`Error::Broker`] if the client's runtime cannot be started.
    pub fn new(topic: &Topic, group: &str, config: MirrorConfig) -> Result<Self> {
        config.validate()?;
        let poll_bytes = config
            .batch_max_bytes
            .saturating_mul(topic.partition_count() as usize);
        let consumer = topic.consumer(
            group,
            ConsumerConfig::default()
                .start(config.start)
                .auto_commit(None) // commits happen only after acknowledgements
                .max_poll_bytes(poll_bytes),
        )?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| broker_error(&config, format!("cannot start the client runtime: {e}")))?;
        let target = config
            .target_topic
            .clone()
            .unwrap_or_else(|| topic.name().to_owned());
        Ok(Self {
            topic: topic.clone(),
            consumer,
            config,
            target,
            runtime,
            conn: None,
            totals: MirrorTotals::default(),
        })
    }

    /// The consumer group's name.
    pub fn group(&self) -> &str {
        self.consumer.group()
    }

    /// The target topic's name.
    pub fn target_topic(&self) -> &str {
        &self.target
    }

    /// Totals since the mirror was created.
    pub fn totals(&self) -> MirrorTotals {
        self.totals
    }

    /// Records per partition not yet shipped and committed (see [`Topic::group_lag`]).
    ///
    /// # Errors
    /// [`Error::Store`] as [`Topic::group_lag`].
    pub fn lag(&self) -> Result<Vec<u64>> {
        Ok(self.topic.group_lag(self.consumer.group())?)
    }

    /// Connects to the broker now if not connected: reads the metadata, checks the target
    /// topic (creating it if absent and [`MirrorConfig::create_target`] is on) and finds the
    /// leader of each target partition. `run_once` does this by itself; calling it first
    /// reports a wrong address or topic before anything is read.
    ///
    /// # Errors
    /// [`Error::Broker`]; [`Error::TargetPartitions`]; [`Error::Store`] holding
    /// [`pagelog::Error::InvalidConfig`](crate::Error::InvalidConfig) inside an async runtime.
    pub fn connect(&mut self) -> Result<()> {
        if self.conn.is_some() {
            return Ok(());
        }
        let result = self.try_connect();
        if matches!(result, Err(Error::Broker { .. })) {
            self.totals.broker_errors += 1;
        }
        result
    }

    fn try_connect(&mut self) -> Result<()> {
        let n = self.topic.partition_count();
        let cfg = &self.config;
        let backoff = BackoffConfig {
            init_backoff: cfg.retry_backoff_min,
            max_backoff: cfg.retry_backoff_max,
            base: 2.0,
            deadline: Some(cfg.request_timeout),
        };
        let builder = ClientBuilder::new(cfg.brokers.clone())
            .client_id(cfg.client_id.as_str())
            .backoff_config(backoff);
        let client = self.block_on("connecting", builder.build())?;
        let count_present = |topics: &[rskafka::topic::Topic]| {
            topics.iter().find(|t| t.name == self.target).map(|t| {
                let present =
                    (0..n).filter(|p| i32::try_from(*p).is_ok_and(|p| t.partitions.contains(&p)));
                (present.count(), t.partitions.len())
            })
        };
        let topics = self.block_on("listing topics", client.list_topics())?;
        let found = match count_present(&topics) {
            None if cfg.create_target => {
                let partitions = i32::try_from(n).unwrap_or(i32::MAX);
                let timeout_ms = i32::try_from(cfg.request_timeout.as_millis()).unwrap_or(i32::MAX);
                let created = match client.controller_client() {
                    Ok(c) => self.block_on(
                        "creating the target topic",
                        c.create_topic(
                            self.target.as_str(),
                            partitions,
                            cfg.replication_factor,
                            timeout_ms,
                        ),
                    ),
                    Err(e) => Err(broker_error(cfg, format!("creating the target topic: {e}"))),
                };
                // Another client may have created it meanwhile: look again before failing.
                let topics = self.block_on("listing topics", client.list_topics())?;
                match (count_present(&topics), created) {
                    (Some(found), _) => Some(found),
                    (None, Err(e)) => return Err(e),
                    // Metadata may lag behind creation; the partition clients wait for it.
                    (None, Ok(())) => Some((n as usize, n as usize)),
                }
            }
            found => found,
        };
        match found {
            Some((present, _)) if present == n as usize => {}
            other => {
                return Err(Error::TargetPartitions {
                    topic: self.target.clone(),
                    has: other.map_or(0, |(_, total)| u32::try_from(total).unwrap_or(u32::MAX)),
                    needs: n,
                });
            }
        }
        let mut clients = Vec::with_capacity(n as usize);
        for p in 0..n {
            let p = i32::try_from(p).unwrap_or(i32::MAX);
            let pc = self.block_on(
                "finding the partition leader",
                client.partition_client(self.target.as_str(), p, UnknownTopicHandling::Retry),
            )?;
            clients.push(pc);
        }
        self.conn = Some(clients);
        Ok(())
    }

    /// Runs one client call on the private runtime, bounded by `request_timeout`.
    fn block_on<T, E, F>(&self, what: &str, f: F) -> Result<T>
    where
        E: fmt::Display,
        F: Future<Output = std::result::Result<T, E>>,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Store(crate::Error::InvalidConfig(
                "the mirror blocks; call it from a plain thread or spawn_blocking, not from \
                 inside an async runtime"
                    .into(),
            )));
        }
        let limit = self.config.request_timeout;
        // Inside the runtime: the timer is created in its context.
        let bounded = async move { tokio::time::timeout(limit, f).await };
        match self.runtime.block_on(bounded) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(broker_error(&self.config, format!("{what}: {e}"))),
            Err(_) => Err(broker_error(
                &self.config,
                format!("{what}: no answer within {limit:?}"),
            )),
        }
    }

    /// Polls the group once (waiting up to [`MirrorConfig::poll_timeout`] for a record),
    /// produces what it got, batch by batch, and commits each batch after the broker
    /// acknowledged it. Returns what was shipped; an empty report means nothing new arrived.
    ///
    /// On an error, the batches acknowledged before it stay committed; nothing after them
    /// is, and the next call (after reconnecting if needed) ships it again.
    ///
    /// # Errors
    /// [`Error::Broker`] (retry later); [`Error::TargetPartitions`];
    /// [`Error::Unmirrorable`] (after shipping the records before it); [`Error::Store`] as
    /// [`Consumer::poll`] and [`Consumer::commit`], and holding
    /// [`pagelog::Error::InvalidConfig`](crate::Error::InvalidConfig) inside an async runtime.
    pub fn run_once(&mut self) -> Result<MirrorReport> {
        self.connect()?;
        let polled = self.consumer.poll(self.config.poll_timeout)?;
        let mut by_partition: BTreeMap<u32, Vec<ConsumerRecord>> = BTreeMap::new();
        for r in polled {
            by_partition.entry(r.partition).or_default().push(r);
        }
        // Nothing polled may be committed before it is acknowledged, and `commit` covers
        // every partition's position: move each back to its first unshipped record.
        for (p, records) in &by_partition {
            if let Some(first) = records.first() {
                self.consumer.seek(*p, first.offset())?;
            }
        }
        let mut report = MirrorReport::default();
        for (p, records) in &by_partition {
            let result = self.ship_partition(*p, records, &mut report);
            if let Err(e) = result {
                if matches!(e, Error::Broker { .. }) {
                    self.totals.broker_errors += 1;
                    self.conn = None; // reconnect: the broker may have restarted empty
                }
                return Err(e);
            }
        }
        Ok(report)
    }

    /// Produces `records` (all from partition `p`, in offset order) in batches, committing
    /// after each acknowledgement.
    fn ship_partition(
        &mut self,
        p: u32,
        records: &[ConsumerRecord],
        report: &mut MirrorReport,
    ) -> Result<()> {
        let mut converted = Vec::with_capacity(records.len());
        let mut refused = None;
        for r in records {
            match self.convert(p, &r.record) {
                Ok(k) => converted.push((r.offset(), k)),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        let mut rest = converted.into_iter().peekable();
        while rest.peek().is_some() {
            let mut batch = Vec::new();
            let mut bytes = 0;
            let (mut first, mut last) = (None, 0);
            while let Some((offset, rec)) = rest.peek() {
                let size = rec.approximate_size();
                if !batch.is_empty()
                    && (batch.len() >= self.config.batch_max_records
                        || bytes + size > self.config.batch_max_bytes)
                {
                    break;
                }
                first.get_or_insert(*offset);
                last = *offset;
                bytes += size;
                if let Some((_, rec)) = rest.next() {
                    batch.push(rec);
                }
            }
            let count = batch.len();
            let target_offset = self.produce(p, batch)?;
            // Acknowledged by the broker; a crash from here to the commit duplicates it.
            crate::failpoint::hit(crate::failpoint::Failpoint::MirrorAfterAck);
            self.consumer.seek(p, last.saturating_add(1))?;
            self.consumer.commit()?;
            report.batches.push(ShippedBatch {
                partition: p,
                first_offset: first.unwrap_or(last),
                last_offset: last,
                records: count,
                bytes,
                target_offset,
            });
            report.records += count as u64;
            report.bytes += bytes as u64;
            self.totals.records += count as u64;
            self.totals.bytes += bytes as u64;
            self.totals.batches += 1;
        }
        refused.map_or(Ok(()), Err)
    }

    /// Sends one batch to target partition `p`; returns the offset of its first record.
    fn produce(&self, p: u32, batch: Vec<KafkaRecord>) -> Result<i64> {
        let Some(client) = self.conn.as_ref().and_then(|c| c.get(p as usize)) else {
            return Err(broker_error(&self.config, "not connected".to_owned()));
        };
        let offsets = self.block_on(
            "producing",
            client.produce(batch, Compression::NoCompression),
        )?;
        offsets
            .first()
            .copied()
            .ok_or_else(|| broker_error(&self.config, "empty produce answer".to_owned()))
    }

    /// The client's form of a record.
    fn convert(&self, partition: u32, r: &Record) -> Result<KafkaRecord> {
        let refuse = |reason: String| Error::Unmirrorable {
            partition,
            offset: r.offset(),
            reason,
        };
        let timestamp = Utc
            .timestamp_millis_opt(r.timestamp())
            .single()
            .ok_or_else(|| refuse(format!("timestamp {} ms is out of range", r.timestamp())))?;
        let mut headers = BTreeMap::new();
        for (k, v) in r.headers() {
            if headers.insert(k.to_owned(), v.to_vec()).is_some() {
                return Err(refuse(format!(
                    "header {k:?} appears more than once (the Kafka client keeps one value per key)"
                )));
            }
        }
        if headers.len() != r.header_count() as usize {
            return Err(refuse("its headers cannot be decoded".to_owned()));
        }
        if let Some(h) = &self.config.source_offset_header {
            let tag = format!("{partition}:{}", r.offset()).into_bytes();
            if headers.insert(h.clone(), tag).is_some() {
                return Err(refuse(format!(
                    "it already has a header {h:?} (the configured source_offset_header)"
                )));
            }
        }
        Ok(KafkaRecord {
            key: r.key().map(<[u8]>::to_vec),
            value: r.value_opt().map(<[u8]>::to_vec),
            headers,
            timestamp,
        })
    }

    /// Calls [`run_once`](Self::run_once) until `stop` is set, reporting each step to
    /// `on_event`. A broker error is reported and retried after a pause that starts at the
    /// `min` of [`MirrorConfig::retry_backoff`] and doubles up to its `max` while errors
    /// continue (a success resets it); the
    /// pause ends early when `stop` is set. `stop` is checked between steps, so the call
    /// returns within about `poll_timeout` (or `request_timeout` while a request is
    /// pending). `on_event` may set `stop` itself.
    ///
    /// Broker errors are retried forever, whatever their cause (a record larger than the
    /// broker accepts is refused on every attempt): watch the `Retrying` events.
    ///
    /// # Errors
    /// Any error of `run_once` other than [`Error::Broker`]; it ends the run.
    pub fn run_until(
        &mut self,
        stop: &AtomicBool,
        mut on_event: impl FnMut(MirrorEvent<'_>),
    ) -> Result<MirrorTotals> {
        let mut pause = self.config.retry_backoff_min;
        while !stop.load(Ordering::Acquire) {
            match self.run_once() {
                Ok(report) => {
                    pause = self.config.retry_backoff_min;
                    on_event(MirrorEvent::Shipped(&report));
                }
                Err(error @ Error::Broker { .. }) => {
                    on_event(MirrorEvent::Retrying {
                        error: &error,
                        after: pause,
                    });
                    sleep_unless_stopped(pause, stop);
                    pause = pause.saturating_mul(2).min(self.config.retry_backoff_max);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(self.totals)
    }
}

fn broker_error(config: &MirrorConfig, reason: String) -> Error {
    Error::Broker {
        brokers: config.brokers.join(","),
        reason,
    }
}

/// Sleeps for `pause`, in slices, returning early once `stop` is set.
fn sleep_unless_stopped(pause: Duration, stop: &AtomicBool) {
    const SLICE: Duration = Duration::from_millis(50);
    let end = Instant::now() + pause;
    while !stop.load(Ordering::Acquire) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(SLICE));
    }
}
