//! Segments: one `.log` of record batches with its sparse `.index` and `.timeindex`.
//!
//! A [`Segment`] is usable on its own (create, append, read, seal, recover, verify); a
//! [`Partition`](crate::Partition) strings segments together.

pub(crate) mod core;
pub(crate) mod files;
pub(crate) mod maps;
pub(crate) mod open;
pub(crate) mod recover;
pub(crate) mod rewrite;
pub(crate) mod scan;
pub(crate) mod verify;
pub(crate) mod writer;

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::codec::batch::{self, RecordIter};
use crate::codec::record::NewRecord;
use crate::config::TopicConfig;
use crate::error::{Error, Result, io_err};
use crate::mmap::PAGE_SIZE as PAGE;
use crate::record::{Fields, Record};

use self::core::{SegmentCore, shift};
pub use self::files::SegmentPaths;
pub use self::recover::Recovery;
pub use self::verify::Problem;
pub(crate) use self::writer::BatchRecords;
use self::writer::{Appended, Full, Limits, SegmentWriter};

/// A segment: a contiguous range of offsets stored in three files named by its base offset.
///
/// ```
/// # fn main() -> pagelog::Result<()> {
/// use pagelog::{NewRecord, Segment, TopicConfig};
/// let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
/// let mut seg = Segment::create(dir.path(), 0, &TopicConfig::default().segment_bytes(1 << 20))?;
/// let offsets = seg.append(&[NewRecord::new(b"a"), NewRecord::new(b"b")])?;
/// assert_eq!(offsets, 0..2);
/// assert_eq!(seg.read(1)?.map(|r| r.value().to_vec()), Some(b"b".to_vec()));
/// seg.seal()?;
/// assert!(seg.verify().is_ok());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Segment {
    core: Arc<SegmentCore>,
    writer: Option<SegmentWriter>,
    config: TopicConfig,
}

/// What [`Segment::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Batches whose header and CRC checked out.
    pub batches: u64,
    /// Records in those batches.
    pub records: u64,
    /// Every problem found, in file order.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when no problem was found.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Current time in milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Segment {
    /// Creates a new, empty segment with base offset `base` in `dir`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an invalid `config`; [`Error::Io`] if a file of the
    /// segment already exists or cannot be created.
    pub fn create(dir: &Path, base: u64, config: &TopicConfig) -> Result<Self> {
        config.validate()?;
        let limits = Limits::new(config);
        let paths = SegmentPaths::new(dir, base);
        let (core, writer) = create_files(paths, base, &limits, config.verify_checksums)?;
        Ok(Self {
            core: Arc::new(core),
            writer: Some(writer),
            config: config.clone(),
        })
    }

    /// Opens an existing segment for appending, recovering it: the log is scanned, cut after
    /// the last valid batch (a torn write, garbage or a zero-filled preallocated tail), and
    /// both indexes are rebuilt. The report says what was cut and why.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; [`Error::Io`] if the `.log` is missing or unreadable.
    pub fn recover(dir: &Path, base: u64, config: &TopicConfig) -> Result<(Self, Recovery)> {
        config.validate()?;
        let limits = Limits::new(config);
        let paths = SegmentPaths::new(dir, base);
        let (core, writer, report) = recover::recover(
            paths,
            base,
            &limits,
            config.verify_checksums,
            recover::RecoverAs::Active,
        )?;
        Ok((
            Self {
                core: Arc::new(core),
                writer,
                config: config.clone(),
            },
            report,
        ))
    }

    pub(crate) fn from_parts(
        core: SegmentCore,
        writer: Option<SegmentWriter>,
        config: &TopicConfig,
    ) -> Self {
        Self {
            core: Arc::new(core),
            writer,
            config: config.clone(),
        }
    }

    pub(crate) fn core(&self) -> &Arc<SegmentCore> {
        &self.core
    }

    /// Appends `records` as one batch, timestamping those without a timestamp with the
    /// current time. Returns the offsets assigned.
    ///
    /// # Errors
    /// [`Error::EmptyBatch`]; [`Error::RecordTooLarge`] above `max_batch_bytes`;
    /// [`Error::SegmentFull`] when the batch does not fit (roll to a new segment);
    /// [`Error::Closed`] on a sealed segment; [`Error::Io`] when disk space cannot be reserved.
    pub fn append(&mut self, records: &[NewRecord<'_>]) -> Result<Range<u64>> {
        let now = now_ms();
        let max = Limits::new(&self.config).max_batch;
        let plan = plan_batch(records, now, max)?;
        let first = self.next_offset();
        match self.try_append(BatchRecords::Contiguous(records), &plan, now)? {
            Appended::At(end) => Ok(first..end),
            Appended::Full(Full::OffsetSpace) => Err(Error::OffsetsExhausted),
            Appended::Full(_) => Err(Error::SegmentFull {
                base_offset: self.core.base,
            }),
        }
    }

    pub(crate) fn try_append(
        &mut self,
        records: BatchRecords<'_, '_>,
        plan: &batch::BatchPlan,
        now: i64,
    ) -> Result<Appended> {
        let Some(w) = self.writer.as_mut() else {
            return Err(Error::Closed(format!(
                "sealed segment {}",
                self.core.paths.log.display()
            )));
        };
        w.append(&self.core, records, plan, now)
    }

    /// Base offset: the first offset this segment holds.
    #[must_use]
    pub fn base_offset(&self) -> u64 {
        self.core.base
    }

    /// The offset after the last record.
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.core.next_offset()
    }

    /// Bytes of the `.log` holding committed batches.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.core.size()
    }

    /// Largest record timestamp, `None` while empty.
    #[must_use]
    pub fn max_timestamp(&self) -> Option<i64> {
        self.core.max_timestamp()
    }

    /// Timestamp of the first record, `None` while empty or once sealed.
    #[must_use]
    pub fn first_timestamp(&self) -> Option<i64> {
        self.writer.as_ref().and_then(|w| w.first_timestamp)
    }

    /// The segment's three file paths.
    #[must_use]
    pub fn paths(&self) -> &SegmentPaths {
        &self.core.paths
    }

    /// True once sealed: no more appends.
    #[must_use]
    pub fn is_sealed(&self) -> bool {
        self.writer.is_none()
    }

    /// Byte position in the `.log` of the batch holding `offset` (index lookup plus a short
    /// forward scan), `None` at or past the end.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the batch headers on the way are damaged.
    pub fn position_of(&self, offset: u64) -> Result<Option<u64>> {
        Ok(self.core.locate(offset)?.map(|l| l.position as u64))
    }

    /// The record at `offset`, or the first one after it if `offset` falls in a gap.
    /// `None` at or past the end.
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`] or [`Error::Corrupt`] for damaged data.
    pub fn read(&self, offset: u64) -> Result<Option<Record>> {
        read_at(&self.core, offset)
    }

    /// The smallest offset whose record's timestamp is `>= ts`, `None` if there is none.
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`] or [`Error::Corrupt`] for damaged data.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<u64>> {
        self.core.offset_for_timestamp(ts)
    }

    /// Seals the segment: writes the final time-index entry, trims the preallocated space
    /// from all three files and syncs them. No appends afterwards.
    ///
    /// # Errors
    /// [`Error::Io`] if trimming or syncing fails.
    pub fn seal(&mut self) -> Result<()> {
        self.seal_without_sync()?;
        self.sync()
    }

    pub(crate) fn seal_without_sync(&mut self) -> Result<()> {
        if let Some(mut w) = self.writer.take() {
            w.finish(&self.core)?;
        }
        Ok(())
    }

    /// Drops the write side (and with it the writer's file lock); reads keep working.
    pub(crate) fn release_writer(&mut self) {
        self.writer = None;
    }

    /// Trims the preallocated space of an open segment without sealing it (clean close).
    pub(crate) fn trim_for_close(&mut self) -> Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.trim(&self.core),
            None => Ok(()),
        }
    }

    /// Makes everything appended so far durable (`fdatasync` of the three files).
    ///
    /// # Errors
    /// [`Error::Io`] if a sync fails.
    pub fn sync(&self) -> Result<()> {
        sync_core(&self.core)
    }

    /// Checks the whole segment: every batch header, CRC, offset and record, and every index
    /// entry. Reports each problem with its file and position instead of stopping at the
    /// first.
    #[must_use]
    pub fn verify(&self) -> VerifyReport {
        let (problems, batches, records) = verify::verify(&self.core);
        VerifyReport {
            batches,
            records,
            problems,
        }
    }
}

/// `fdatasync` of a segment's three files.
pub(crate) fn sync_core(core: &SegmentCore) -> Result<()> {
    core.log.sync_data().map_err(io_err(&core.paths.log))?;
    core.index.sync_data().map_err(io_err(&core.paths.index))?;
    core.time.sync_data().map_err(io_err(&core.paths.time))
}

/// Measures a batch and checks it against the size limit.
pub(crate) fn plan_batch(
    records: &[NewRecord<'_>],
    now: i64,
    max: u32,
) -> Result<batch::BatchPlan> {
    if records.is_empty() {
        return Err(Error::EmptyBatch);
    }
    within_limit(batch::measure(records, now), max)
}

/// A measured batch (`None`: too large to measure) if it is at most `max` bytes, else
/// [`Error::RecordTooLarge`].
pub(crate) fn within_limit(plan: Option<batch::BatchPlan>, max: u32) -> Result<batch::BatchPlan> {
    let too_large = |size| Error::RecordTooLarge {
        size,
        max: u64::from(max),
    };
    let plan = plan.ok_or_else(|| too_large(u64::MAX))?;
    if plan.len > max as usize {
        return Err(too_large(plan.len as u64));
    }
    Ok(plan)
}

/// Creates the three files of a new segment.
pub(crate) fn create_files(
    paths: SegmentPaths,
    base: u64,
    limits: &Limits,
    verify_checksums: bool,
) -> Result<(SegmentCore, SegmentWriter)> {
    use crate::mmap::MapWriter;
    // If a later step fails, remove the files this call created (and only those), so that
    // a retry can create them again. `MapWriter::create` cleans up after itself.
    let undo = |created: &[&std::path::Path]| {
        for p in created {
            let _ = std::fs::remove_file(p);
        }
    };
    let chunk = writer::LOG_RESERVE_CHUNK;
    let mut log =
        MapWriter::create(&paths.log, limits.log_capacity, chunk).map_err(io_err(&paths.log))?;
    log.set_prefault(limits.prefault);
    let index_cap = limits.index_capacity;
    let index = match MapWriter::create(&paths.index, index_cap, writer::INDEX_RESERVE_CHUNK) {
        Ok(w) => w,
        Err(e) => {
            drop(log);
            undo(&[&paths.log]);
            return Err(io_err(&paths.index)(e));
        }
    };
    let time_cap = limits.time_capacity;
    let time = match MapWriter::create(&paths.time, time_cap, writer::INDEX_RESERVE_CHUNK) {
        Ok(w) => w,
        Err(e) => {
            drop((log, index));
            undo(&[&paths.log, &paths.index]);
            return Err(io_err(&paths.time)(e));
        }
    };
    let maps = maps::writer_maps([&log, &index, &time]);
    let core = maps::new_core(base, paths, maps, base, i64::MIN, verify_checksums);
    let writer = SegmentWriter {
        log,
        index,
        time,
        limits: *limits,
        next_offset: base,
        first_timestamp: None,
        max_timestamp: i64::MIN,
        rule: writer::IndexRule::EMPTY,
        scratch: Vec::new(),
        splits: Vec::new(),
    };
    Ok((core, writer))
}

/// A lookup slower than this is taken to have read from the disk (a warm one takes < 2 µs).
const COLD_LOOKUP: Duration = Duration::from_micros(20);

/// One offset in this many has its lookup timed even in a log not known to be cold.
const COLD_SAMPLE: u64 = 8;

/// Reads the first record at or after `offset` from `core`.
pub(crate) fn read_at(core: &SegmentCore, offset: u64) -> Result<Option<Record>> {
    // Reading the clock costs about 25 ns: only segments known to hold multi-page batches,
    // lookups in a log found cold, and one offset in eight (a sample that notices a log
    // turning cold) pay for it.
    let started = (core.large_batches.load(Ordering::Relaxed)
        || core.log.is_cold()
        || offset.is_multiple_of(COLD_SAMPLE))
    .then(Instant::now);
    // Every lookup searches the offset index, about 1.2 % of the log with the default
    // interval: mapped whole once, it stays resident, and a cold read waits for the disk
    // only for the log.
    core.index.keep_resident();
    let Some(loc) = core.locate(offset)? else {
        return Ok(None);
    };
    // A cold log: the next lookups ask for the pages of their walk at once (`locate`).
    let cold = started.is_some_and(|t| t.elapsed() > COLD_LOOKUP);
    if started.is_some() {
        core.log.set_cold(cold);
    }
    // The log is mapped for point reads (no read-around): a batch spanning pages of a cold
    // file would fault them in one synchronous read at a time. When finding the batch took
    // long enough to have waited for the disk (or on the first such batch), ask for all of
    // its pages in one go; on a warm file that `madvise` would only add its cost (~0.25 µs
    // per read of a 10 KB batch).
    let end = loc.position + loc.header.length as usize;
    if end.saturating_sub(loc.position.next_multiple_of(PAGE)) > PAGE {
        core.large_batches.store(true, Ordering::Relaxed);
        if started.is_none() || cold {
            core.log.will_need(loc.position, loc.header.length as usize);
        }
    }
    let bytes = core.batch_bytes(&loc)?;
    let mut records = RecordIter::new(bytes, &loc.header);
    // The CRC vouches for the records before the target: step over them by length.
    let delta = u32::try_from(offset.saturating_sub(loc.header.base_offset)).unwrap_or(u32::MAX);
    records
        .skip_below(delta)
        .map_err(|e| core.corrupt(loc.position, shift(e, loc.position)))?;
    for r in records {
        let r = r.map_err(|e| core.corrupt(loc.position, shift(e, loc.position)))?;
        if loc.header.base_offset + u64::from(r.offset_delta) >= offset {
            let fields = Fields::new(bytes, loc.position, loc.header.base_offset, &r);
            return Ok(Some(Record::new(&core.log, fields)));
        }
    }
    // Only possible in a compacted batch whose tail records were removed: the next batch.
    match core.next_batch(core.log.prefix(), &loc)? {
        Some(next) => read_at(core, next.header.base_offset),
        None => Ok(None),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
