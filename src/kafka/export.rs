//! Export: a partition (or an offset range of it) written as a Kafka partition directory.
//!
//! Grammar: `<topic>-<partition>/ := (<base:020>.log <base:020>.index <base:020>.timeindex)+`,
//! each `.log` a `batch*` of v2 batches, each index as in `super::index`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::batch_builder::BatchBuilder;
use super::error::{Error, Result};
use super::index::{DEFAULT_MAX_INDEX_BYTES, IndexBuilder};
use super::options::ExportOptions;
use super::segment_file_name;
use crate::error::io_err;
use crate::{Partition, Record};

/// Most offsets one empty batch covers when the range ends in a gap.
const GAP_STEP: u64 = 1 << 31;

/// Where an export is; passed to the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportProgress {
    /// Records written so far.
    pub records: u64,
    /// Bytes of `.log` written so far.
    pub bytes: u64,
    /// Offsets below this are written.
    pub offset: u64,
    /// The offset the export stops before.
    pub end: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// The Kafka partition directory, `<parent>/<topic>-<partition>`.
    pub dir: PathBuf,
    /// First offset covered: the first segment's base offset.
    pub start_offset: u64,
    /// Next offset of the exported log: every offset below it is covered by a batch.
    pub end_offset: u64,
    /// Records written.
    pub records: u64,
    /// Batches written (including empty ones covering a trailing gap).
    pub batches: u64,
    /// Segments written.
    pub segments: u64,
    /// Bytes of `.log` written.
    pub bytes: u64,
}

/// Writes `partition`'s records (all, or [`ExportOptions::range`]) as a Kafka partition
/// directory `<parent>/<topic>-<partition>`: segments `<20-digit base>.log` of uncompressed
/// v2 batches (`CreateTime`, no producer id, leader epoch 0) with the `.index` and
/// `.timeindex` Kafka would build for them. Offsets, timestamps, keys, values (null ones
/// too) and headers are kept; offsets the range does not hold (gaps left by compaction) stay
/// gaps, and the last batch covers up to the end of the range so the log's next offset is
/// kept too. The directory appears whole or not at all: it is written as
/// `<parent>/.<topic>-<partition>.exporting`, synced, then renamed.
///
/// ```
/// # fn main() -> pagelog::kafka::Result<()> {
/// # let io = |e| pagelog::Error::Io { path: "tmp".into(), source: e };
/// use pagelog::{NewRecord, Store, TopicConfig};
/// use pagelog::kafka::{ExportOptions, export};
/// let dir = tempfile::tempdir().map_err(io)?;
/// let store = Store::open(dir.path().join("store"))?;
/// let p = store.create_topic("orders", TopicConfig::default())?.partition(0)?.clone();
/// p.append_batch(&[NewRecord::new(b"one").key(b"k"), NewRecord::new(b"two")])?;
/// let report = export(&p, &dir.path().join("kafka"), &ExportOptions::default())?;
/// assert_eq!(report.dir, dir.path().join("kafka/orders-0"));
/// assert!(report.dir.join("00000000000000000000.log").is_file());
/// assert_eq!((report.records, report.end_offset), (2, 2));
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::Unencodable`] for offsets above `i64::MAX`; [`Error::Store`] holding
/// [`pagelog::Error::OffsetOutOfRange`](crate::Error::OffsetOutOfRange) if the range is not
/// inside the partition, [`InvalidConfig`](crate::Error::InvalidConfig) for options out of
/// range, [`Io`](crate::Error::Io) (also when the target directory already exists), or a
/// read error of the partition ([`ChecksumMismatch`](crate::Error::ChecksumMismatch),
/// [`Corrupt`](crate::Error::Corrupt)).
pub fn export(
    partition: &Partition,
    parent: &Path,
    options: &ExportOptions,
) -> Result<ExportReport> {
    export_with_progress(partition, parent, options, &mut |_| {})
}

/// [`export`], calling `progress` every [`ExportOptions::progress_interval_bytes`] bytes
/// and once at the end.
///
/// # Errors
/// As [`export`].
pub fn export_with_progress(
    partition: &Partition,
    parent: &Path,
    options: &ExportOptions,
    progress: &mut dyn FnMut(&ExportProgress),
) -> Result<ExportReport> {
    let o = options;
    o.validate()?;
    let (start, next) = (partition.start_offset(), partition.next_offset());
    let from = o.from.unwrap_or(start);
    let to = o.to.unwrap_or(next);
    for requested in [from, to] {
        if requested < start || requested > next {
            return Err(crate::Error::OffsetOutOfRange {
                requested,
                start,
                end: next,
            }
            .into());
        }
    }
    if from > to {
        return Err(crate::Error::InvalidConfig(format!("empty range {from}..{to}")).into());
    }
    let name = format!(
        "{}-{}",
        o.topic.as_deref().unwrap_or(partition.topic()),
        o.partition.unwrap_or(partition.id())
    );
    let dir = parent.join(&name);
    if dir.exists() {
        return Err(crate::Error::Io {
            path: dir,
            source: std::io::ErrorKind::AlreadyExists.into(),
        }
        .into());
    }
    let tmp = parent.join(format!(".{name}.exporting"));
    if tmp.exists() {
        // Left by an export that did not finish; it was never renamed into place.
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let mut w = Writer {
        dir: tmp.clone(),
        options: o,
        segment: None,
        next: from,
        report: ExportReport {
            dir: dir.clone(),
            start_offset: from,
            end_offset: from,
            records: 0,
            batches: 0,
            segments: 0,
            bytes: 0,
        },
        end: to,
        last_progress: 0,
        progress,
    };
    let mut batch: Option<BatchBuilder> = None;
    for r in partition.iter_from(from)? {
        let r = r?;
        if r.offset() >= to {
            break;
        }
        batch = Some(w.add(batch, &r)?);
    }
    w.finish(batch)?;
    sync_dir(&tmp)?;
    fs::rename(&tmp, &dir).map_err(io_err(&dir))?;
    sync_dir(parent)?;
    Ok(w.report)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}

/// The segment being written.
struct Segment {
    base: u64,
    path: PathBuf,
    log: BufWriter<File>,
    size: u64,
    index: IndexBuilder,
}

struct Writer<'a> {
    dir: PathBuf,
    options: &'a ExportOptions,
    segment: Option<Segment>,
    /// Offsets below this are written.
    next: u64,
    end: u64,
    report: ExportReport,
    last_progress: u64,
    progress: &'a mut dyn FnMut(&ExportProgress),
}

impl Writer<'_> {
    /// Adds `r` to `batch` (or a new one), writing the batch first if `r` does not fit it.
    fn add(&mut self, batch: Option<BatchBuilder>, r: &Record) -> Result<BatchBuilder> {
        let headers: Vec<(&[u8], Option<&[u8]>)> =
            r.headers().map(|(k, v)| (k.as_bytes(), Some(v))).collect();
        if headers.len() != r.header_count() as usize {
            return Err(Error::Unencodable {
                reason: format!("record at offset {} has a malformed header", r.offset()),
            });
        }
        let estimate = r.size() + 32 + 8 * headers.len();
        let mut b = match batch {
            Some(b)
                if b.record_count() < self.options.max_batch_records
                    && b.len() + estimate <= self.options.max_batch_bytes =>
            {
                b
            }
            Some(b) => {
                self.write_batch(&b.finish())?;
                BatchBuilder::new(r.offset())?
            }
            None => BatchBuilder::new(r.offset())?,
        };
        let push = |b: &mut BatchBuilder| {
            b.push(r.offset(), r.timestamp(), r.key(), r.value_opt(), &headers)
        };
        match push(&mut b) {
            Ok(()) => Ok(b),
            Err(_) if !b.is_empty() => {
                // Too far from the batch's first offset: start a new batch.
                self.write_batch(&b.finish())?;
                let mut b = BatchBuilder::new(r.offset())?;
                push(&mut b)?;
                Ok(b)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes the last batch, covering the rest of the range, and closes the last segment.
    fn finish(&mut self, batch: Option<BatchBuilder>) -> Result<()> {
        if let Some(b) = batch {
            if self.end - b.base_offset() <= GAP_STEP {
                let bytes = b.finish_covering(self.end)?;
                self.write_batch(&bytes)?;
            } else {
                self.write_batch(&b.finish())?;
            }
        }
        while self.next < self.end {
            let end = self.end.min(self.next.saturating_add(GAP_STEP));
            let bytes = BatchBuilder::new(self.next)?.finish_covering(end)?;
            self.write_batch(&bytes)?;
        }
        if self.segment.is_none() {
            // Nothing to write: one empty segment keeps the log's start offset.
            self.open_segment(self.next)?;
        }
        self.close_segment()?;
        self.report.end_offset = self.next;
        let now = self.progress_now();
        (self.progress)(&now);
        Ok(())
    }

    fn progress_now(&self) -> ExportProgress {
        ExportProgress {
            records: self.report.records,
            bytes: self.report.bytes,
            offset: self.next,
            end: self.end,
        }
    }

    /// Appends an encoded batch to the current segment, rolling first if needed.
    fn write_batch(&mut self, bytes: &[u8]) -> Result<()> {
        let header = super::BatchHeader::parse(bytes)?;
        let (base, last) = (header.base(), header.last_offset());
        let max_offset_entries = (DEFAULT_MAX_INDEX_BYTES as usize) / super::OFFSET_ENTRY_LEN;
        let max_time_entries = (DEFAULT_MAX_INDEX_BYTES as usize) / super::TIME_ENTRY_LEN;
        let roll = self.segment.as_ref().is_some_and(|s| {
            (s.size > 0 && s.size + bytes.len() as u64 > u64::from(self.options.segment_bytes))
                || i32::try_from(last - s.base).is_err()
                || s.index.offset_entries() + 1 >= max_offset_entries
                || s.index.time_entries() + 2 >= max_time_entries
        });
        if roll {
            self.close_segment()?;
        }
        if self.segment.is_none() {
            // The first segment starts at the range's start (a leading gap stays a gap),
            // if its offsets stay within Kafka's 32-bit relative offsets.
            let seg_base =
                if self.report.segments == 0 && i32::try_from(last - self.next.min(base)).is_ok() {
                    self.next.min(base)
                } else {
                    base
                };
            self.open_segment(seg_base)?;
        }
        let Some(s) = self.segment.as_mut() else {
            return Ok(());
        };
        #[expect(
            clippy::cast_possible_truncation,
            reason = "0, or at most segment_bytes <= i32::MAX: a segment holding anything is \
                      rolled before a batch would take it past segment_bytes"
        )]
        let position = s.size as u32;
        s.log.write_all(bytes).map_err(io_err(&s.path))?;
        s.index.on_batch(position, last, header.max_timestamp);
        s.size += bytes.len() as u64;
        self.report.batches += 1;
        self.report.records += u64::try_from(header.records_count).unwrap_or(0);
        self.report.bytes += bytes.len() as u64;
        self.next = last + 1;
        if self.report.bytes - self.last_progress >= self.options.progress_interval_bytes {
            self.last_progress = self.report.bytes;
            let now = self.progress_now();
            (self.progress)(&now);
        }
        Ok(())
    }

    fn open_segment(&mut self, base: u64) -> Result<()> {
        let path = self.dir.join(segment_file_name(base, "log"));
        let file = File::create(&path).map_err(io_err(&path))?;
        self.segment = Some(Segment {
            base,
            path,
            log: BufWriter::with_capacity(1 << 20, file),
            size: 0,
            index: IndexBuilder::new(base, self.options.index_interval_bytes),
        });
        self.report.segments += 1;
        Ok(())
    }

    /// Flushes and syncs the segment's `.log`, then writes and syncs its indexes.
    fn close_segment(&mut self) -> Result<()> {
        let Some(s) = self.segment.take() else {
            return Ok(());
        };
        let file = s.log.into_inner().map_err(|e| crate::Error::Io {
            path: s.path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_err(&s.path))?;
        let (offsets, times) = s.index.finish();
        for (ext, bytes) in [("index", offsets), ("timeindex", times)] {
            let path = self.dir.join(segment_file_name(s.base, ext));
            let mut f = File::create(&path).map_err(io_err(&path))?;
            f.write_all(&bytes).map_err(io_err(&path))?;
            f.sync_all().map_err(io_err(&path))?;
        }
        Ok(())
    }
}
