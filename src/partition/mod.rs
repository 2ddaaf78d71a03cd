//! Partitions: an ordered list of segments with one writer and any number of readers.
//!
//! [`Partition`] is a thin facade over [`Inner`], which is made of components, one job each,
//! each in its own file with the invariants of its fields at its top:
//!
//! | component | file | what it holds | who touches it |
//! |---|---|---|---|
//! | [`Published`](published::Published) | `published.rs` (reads in `read.rs`, `iter.rs`, `tail.rs`) | segment list, start and next offset, truncation epoch, "ended" | readers without any lock; the writer side publishes |
//! | [`Writer`](writer::Writer) | `writer.rs` | the active segment, sealed segments waiting for a sync | appends and rolls, under its mutex |
//! | [`Durability`](durability::Durability) | `durability.rs`, `commit.rs` | group commit, recovery point, checkpoint | flushes, durable appends, the background |
//! | [`Maintenance`](maintenance::Maintenance) | `maintenance.rs`, `retention.rs`, `compact.rs`, `truncate.rs`, `hooked.rs` | one pass at a time, log start offset, compaction progress, hook mark | retention, compaction, truncation, hooks |
//! | [`Lifecycle`](lifecycle::Lifecycle) | `lifecycle.rs` | open, closing, closed, discarded | everything that writes |
//!
//! A partition comes back from disk through one loader, `load.rs`.
//!
//! Lock order (a thread holding one may take those after it, never before): maintenance
//! pass, writer, group commit state, lifecycle directory writes, segment list.

mod append;
mod commit;
mod compact;
mod durability;
mod follow;
mod hooked;
mod iter;
mod lifecycle;
mod load;
mod maintenance;
mod published;
mod read;
mod retention;
mod tail;
mod truncate;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::TopicConfig;
use crate::error::Result;
use crate::flusher::Flusher;
use crate::hooks::Shared;
use crate::notify::Notifier;
use crate::record::Record;
use crate::segment::SegmentPaths;
use crate::segment::writer::Limits;

use self::durability::Durability;
use self::lifecycle::Lifecycle;
use self::maintenance::Maintenance;
use self::published::Published;
use self::writer::Writer;

pub use self::compact::CompactionReport;
pub(crate) use self::compact::{CLEANED_SUFFIX, SWAP_SUFFIX};
pub(crate) use self::follow::open as open_follower;
pub use self::iter::Records;
pub(crate) use self::load::OpenMode;
pub(crate) use self::retention::DELETED_SUFFIX;
pub use self::retention::RetentionReport;
pub use self::tail::Blocking;

/// Name of the checkpoint file in a partition directory.
pub(crate) const CHECKPOINT_FILE: &str = "checkpoint";

/// One partition of a topic: an append-only, offset-addressed log.
///
/// Cheap to clone (a reference count); `Send + Sync`. Appends are serialised internally;
/// reads take no lock that the writer waits on. A partition of a store opened with
/// [`Store::open_read_only`](crate::Store::open_read_only) follows the writer process: it
/// reads everything the writer published, and its write methods return
/// [`Error::ReadOnly`](crate::Error::ReadOnly).
#[derive(Debug, Clone)]
pub struct Partition {
    side: Side,
}

/// The writer's partition, or a reader process's view of one.
#[derive(Debug, Clone)]
enum Side {
    Writer(Arc<Inner>),
    Reader(Arc<ReadOnly>),
}

/// A partition of a read-only store: the published log, following the writer process.
#[derive(Debug)]
pub(crate) struct ReadOnly {
    topic: Arc<str>,
    id: u32,
    dir: PathBuf,
    log: Arc<Published>,
}

/// A partition's components (see the module docs).
#[derive(Debug)]
pub(crate) struct Inner {
    /// Name of the topic.
    topic: Arc<str>,
    /// Partition number.
    id: u32,
    /// The partition's directory.
    dir: PathBuf,
    config: TopicConfig,
    limits: Limits,
    /// What readers use.
    log: Arc<Published>,
    writer: Writer,
    durability: Durability,
    maintenance: Maintenance,
    lifecycle: Lifecycle,
    /// What the store provides.
    env: Context,
}

/// What a partition needs of its topic's consumer groups (the topic's `group::Groups`).
pub(crate) trait ConsumerGroups: std::fmt::Debug + Send + Sync {
    /// The offset of partition `partition` below which every group has committed, `None`
    /// without groups: what consumer-aware retention keeps.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) reading the groups' files.
    fn consumed_floor(&self, partition: u32) -> Result<Option<u64>>;

    /// Lowers every group's committed offset for `partition` above `cut` to `cut`, durably
    /// (after a truncation to `cut`).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) reading or writing an offsets file.
    fn lower(&self, partition: u32, cut: u64) -> Result<()>;
}

/// What the store shares with each of its partitions.
#[derive(Debug, Default)]
pub(crate) struct Context {
    /// The background thread, if the partition is part of an open store.
    pub flusher: Option<Arc<Flusher>>,
    /// Wakes the topic's waiting readers.
    pub notifier: Arc<Notifier>,
    /// Store options and error log.
    pub shared: Arc<Shared>,
    /// The topic's consumer groups, whose committed offsets a truncation lowers.
    pub groups: Option<Arc<dyn ConsumerGroups>>,
    /// The topic's live state file, where the partition publishes for other processes.
    pub live: Option<Arc<crate::live::LiveFile>>,
}

/// Summary of a partition, for tools and monitoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition number.
    pub id: u32,
    /// First offset stored.
    pub start_offset: u64,
    /// Next offset to be written.
    pub next_offset: u64,
    /// Number of segments.
    pub segments: usize,
    /// Bytes of record batches stored.
    pub bytes: u64,
    /// Offsets below this are durable.
    pub durable_offset: u64,
    /// Segments retention deleted although a consumer group had not consumed them (over
    /// `retention_hard_bytes`), since the partition was opened.
    pub forced_deletions: u64,
}

impl IntoIterator for &Partition {
    type Item = Result<Record>;
    type IntoIter = Records;

    /// [`Partition::iter`].
    fn into_iter(self) -> Records {
        self.iter()
    }
}

impl Partition {
    /// Partition number within its topic.
    #[must_use]
    pub fn id(&self) -> u32 {
        match &self.side {
            Side::Writer(w) => w.id,
            Side::Reader(r) => r.id,
        }
    }

    /// Name of the topic.
    #[must_use]
    pub fn topic(&self) -> &str {
        match &self.side {
            Side::Writer(w) => &w.topic,
            Side::Reader(r) => &r.topic,
        }
    }

    /// The partition's directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        match &self.side {
            Side::Writer(w) => &w.dir,
            Side::Reader(r) => &r.dir,
        }
    }

    /// What readers use: the published log.
    fn log(&self) -> &Arc<Published> {
        match &self.side {
            Side::Writer(w) => &w.log,
            Side::Reader(r) => &r.log,
        }
    }

    /// The writer side, or [`Error::ReadOnly`](crate::Error::ReadOnly) for `what`.
    fn writer(&self, what: &str) -> Result<&Arc<Inner>> {
        match &self.side {
            Side::Writer(w) => Ok(w),
            Side::Reader(_) => Err(crate::Error::ReadOnly(format!(
                "{what} on partition {} of topic {:?}",
                self.id(),
                self.topic()
            ))),
        }
    }

    /// True for a partition of a read-only store (another process writes it).
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        matches!(self.side, Side::Reader(_))
    }

    /// First offset still stored.
    #[must_use]
    pub fn start_offset(&self) -> u64 {
        self.log().refresh();
        self.log().start_offset()
    }

    /// The offset the next appended record will get.
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.log().next_offset()
    }

    /// Offsets below this are durable (synced to disk).
    #[must_use]
    pub fn durable_offset(&self) -> u64 {
        match &self.side {
            Side::Writer(w) => w.durability.durable(),
            Side::Reader(r) => r.log.follower_durable().min(r.log.next_offset()),
        }
    }

    /// Makes every record appended before this call durable: `fdatasync` of the segment files
    /// (sealed segments not yet synced first, then the active log). Concurrent callers share
    /// syncs (group commit).
    ///
    /// # Errors
    /// [`Error::Poisoned`](crate::Error::Poisoned) if this or an earlier sync failed; [`Error::Closed`](crate::Error::Closed).
    pub fn flush(&self) -> Result<()> {
        let inner = self.writer("flush")?;
        if !inner.lifecycle.is_open() {
            return Err(inner.closed_error());
        }
        inner.sync_all()
    }

    /// The record at `offset` (or, if compaction left a gap there, the first one after it).
    /// `Ok(None)` exactly at [`next_offset`](Self::next_offset): nothing there yet.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use pagelog::{Error, NewRecord, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let p = store.create_topic("events", TopicConfig::default())?.partition(0)?.clone();
    /// p.append(NewRecord::new(b"hello").key(b"greeting"))?;
    /// let r = p.read(0)?.ok_or(Error::EmptyBatch)?; // a zero-copy view into the log
    /// assert_eq!((r.key(), r.value()), (Some(&b"greeting"[..]), &b"hello"[..]));
    /// assert!(p.read(1)?.is_none()); // the end: nothing there yet
    /// assert!(matches!(p.read(2), Err(Error::OffsetOutOfRange { .. })));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`](crate::Error::OffsetOutOfRange) below the start or above the end;
    /// [`Error::ChecksumMismatch`](crate::Error::ChecksumMismatch) or [`Error::Corrupt`](crate::Error::Corrupt) for damaged data.
    pub fn read(&self, offset: u64) -> Result<Option<Record>> {
        self.log().read(offset)
    }

    /// Iterates records from `offset` (inclusive) to the current end. The iterator can be
    /// polled again after it returns `None` to pick up records appended since.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use pagelog::{NewRecord, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let p = store.create_topic("events", TopicConfig::default())?.partition(0)?.clone();
    /// for v in [b"a", b"b", b"c"] {
    ///     p.append(NewRecord::new(v))?;
    /// }
    /// let mut records = p.iter_from(1)?;
    /// let offsets: Vec<u64> = records.by_ref().map(|r| r.map(|r| r.offset())).collect::<pagelog::Result<_>>()?;
    /// assert_eq!(offsets, [1, 2]);
    /// p.append(NewRecord::new(b"d"))?; // the same iterator picks up what is appended later
    /// assert_eq!(records.next().transpose()?.map(|r| r.offset()), Some(3));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`](crate::Error::OffsetOutOfRange) as for [`read`](Self::read).
    pub fn iter_from(&self, offset: u64) -> Result<Records> {
        self.log().snapshot_checked(offset)?;
        Ok(Records::new(Arc::clone(self.log()), offset))
    }

    /// Iterates every stored record from the start (as `for r in &partition` does).
    #[must_use]
    pub fn iter(&self) -> Records {
        let start = self.start_offset();
        Records::new(Arc::clone(self.log()), start)
    }

    /// An iterator positioned at the end: it sees only records appended from now on. Use
    /// [`Records::poll`] or [`Records::blocking`] to wait for them.
    #[must_use]
    pub fn iter_from_end(&self) -> Records {
        Records::new(Arc::clone(self.log()), self.next_offset())
    }

    /// Iterates from the first record with a timestamp `>= ts` (from the end if there is
    /// none yet).
    ///
    /// # Errors
    /// As [`offset_for_timestamp`](Self::offset_for_timestamp).
    pub fn iter_from_timestamp(&self, ts: i64) -> Result<Records> {
        let end = self.next_offset();
        let from = self.offset_for_timestamp(ts)?.unwrap_or(end);
        Ok(Records::new(Arc::clone(self.log()), from))
    }

    /// The smallest offset whose record's timestamp is `>= ts`, or `None` if every record is
    /// older (Kafka's `offsetsForTimes`).
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`](crate::Error::ChecksumMismatch) or [`Error::Corrupt`](crate::Error::Corrupt) for damaged data.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<u64>> {
        self.log().offset_for_timestamp(ts)
    }

    /// False once the partition was closed or its topic deleted.
    #[must_use]
    pub fn is_open(&self) -> bool {
        match &self.side {
            Side::Writer(w) => w.lifecycle.is_open(),
            Side::Reader(r) => {
                r.log.refresh();
                !r.log.has_ended()
            }
        }
    }

    /// Applies the topic's retention rules now (they also run after every roll, in the
    /// background). See [`RetentionReport`].
    ///
    /// Under consumer-aware retention a group whose offsets file is damaged counts as having
    /// committed nothing (reported once to
    /// [`Store::background_errors`](crate::Store::background_errors); the file is left alone).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if a file cannot be renamed or removed or a group's offsets file cannot
    /// be read.
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        self.writer("enforce_retention")?.enforce_retention()
    }

    /// Raises the start offset to `offset` (capped at the next offset), like Kafka's
    /// `deleteRecords`: records below it can no longer be read, whole segments below it are
    /// deleted at once, and the new start survives a restart. Returns the new start offset.
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed), [`Error::Poisoned`](crate::Error::Poisoned); as [`enforce_retention`](Self::enforce_retention).
    pub fn delete_records_before(&self, offset: u64) -> Result<u64> {
        self.writer("delete_records_before")?
            .delete_records_before(offset)
    }

    /// Discards every record at and above `offset` (rollback, replica repair); appends
    /// continue at `offset`. Readers see the discarded records no more: iterators past the
    /// cut move back to it and read what is appended next, and every consumer group committed
    /// past the cut has its committed offset lowered to it (a group whose offsets file is
    /// damaged holds no offset to lower: it is reported to
    /// [`Store::background_errors`](crate::Store::background_errors) and left alone). A
    /// concurrent durable append whose records were discarded gets [`Error::Truncated`](crate::Error::Truncated). Crash-safe: an intent file makes
    /// the next open finish an interrupted truncation.
    ///
    /// The segment holding `offset` is rewritten up to it (a new file renamed over the old
    /// one), so the cost is proportional to that segment's size.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`](crate::Error::OffsetOutOfRange) outside `[start_offset, next_offset]`; [`Error::Io`](crate::Error::Io) (the
    /// partition is then poisoned until reopened, which completes the truncation).
    pub fn truncate_to(&self, offset: u64) -> Result<()> {
        self.writer("truncate_to")?.truncate_to(offset)
    }

    /// Compacts the sealed segments now: keeps only the latest record per key (and drops
    /// tombstones older than `delete_retention_ms`, also when nothing new was sealed since
    /// the last pass); offsets never change. Works whatever the topic's cleanup policy; under
    /// a compacting policy it also runs in the background after rolls once half the sealed
    /// data is new since the last pass, and when a tombstone a pass kept expires.
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`](crate::Error::ChecksumMismatch) / [`Error::Corrupt`](crate::Error::Corrupt) if a sealed segment is damaged (it is
    /// left as it is); [`Error::Io`](crate::Error::Io).
    pub fn compact(&self) -> Result<CompactionReport> {
        self.writer("compact")?.compact()
    }

    /// Sizes and offsets of this partition.
    #[must_use]
    pub fn info(&self) -> PartitionInfo {
        let segs = self.log().segments();
        PartitionInfo {
            id: self.id(),
            start_offset: self.start_offset(),
            next_offset: self.next_offset(),
            segments: segs.len(),
            bytes: segs.iter().map(|s| s.size()).sum(),
            durable_offset: self.durable_offset(),
            forced_deletions: match &self.side {
                Side::Writer(w) => w.maintenance.forced_deletions(),
                Side::Reader(_) => 0,
            },
        }
    }

    /// Paths of the segments' `.log` files, in offset order.
    #[must_use]
    pub fn segment_paths(&self) -> Vec<SegmentPaths> {
        self.log()
            .segments()
            .iter()
            .map(|s| s.paths.clone())
            .collect()
    }

    /// Full check of every segment (see [`Segment::verify`](crate::Segment::verify)).
    #[must_use]
    pub fn verify(&self) -> crate::segment::VerifyReport {
        let mut report = crate::segment::VerifyReport::default();
        for seg in self.log().segments().iter() {
            let (problems, batches, records) = crate::segment::verify::verify(seg);
            report.batches += batches;
            report.records += records;
            report.problems.extend(problems);
        }
        report
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self {
            side: Side::Writer(inner),
        }
    }

    /// A partition of a read-only store, following the writer process through `log`.
    pub(crate) fn from_follower(topic: Arc<str>, id: u32, dir: PathBuf, log: Published) -> Self {
        Self {
            side: Side::Reader(Arc::new(ReadOnly {
                topic,
                id,
                dir,
                log: Arc::new(log),
            })),
        }
    }

    /// The writer side (`None` in a read-only store).
    pub(crate) fn inner(&self) -> Option<&Arc<Inner>> {
        match &self.side {
            Side::Writer(w) => Some(w),
            Side::Reader(_) => None,
        }
    }
}
