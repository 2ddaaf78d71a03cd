//! Import: a Kafka partition directory (as a broker writes it) read into a partition, batch
//! by batch, with the same offsets.
//!
//! Grammar: reads `<dir>/<base:020>.log` files in base-offset order, each `batch*` (see
//! `super::record_batch`); every other file is left alone.
#![warn(clippy::indexing_slicing)]

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};

use super::error::{Error, Result};
use super::import_report::ImportReport;
use super::log_reader::{FileBatches, Next, locate};
use super::options::ImportOptions;
use super::record_batch::{BatchHeader, KafkaBatch, TimestampType, decode_batch};
use crate::error::io_err;
use crate::{Header, NewRecord, Partition};

/// Most offsets one pure-gap append covers (a pagelog batch spans at most 2^32).
const GAP_STEP: u64 = 1 << 31;
/// Records of a Kafka batch are appended in pagelog batches of about this many bytes (a
/// batch the partition still finds too large is split further).
const CHUNK_BYTES: usize = 256 << 10;

/// Where an import is; passed to the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    /// Bytes of `.log` read so far.
    pub bytes: u64,
    /// Bytes of `.log` in the directory.
    pub total_bytes: u64,
    /// Records imported so far.
    pub records: u64,
    /// The partition's next offset.
    pub offset: u64,
}

/// Reads the Kafka partition directory `dir` (segments `<20-digit base>.log` of v2 batches,
/// as a broker writes them) into `partition`, keeping every record's offset, timestamp, key,
/// value and headers. Each Kafka batch becomes one pagelog batch (split if larger than the
/// topic's `max_batch_bytes`) placed with [`Partition::append_at`]; offsets Kafka does not
/// hold (compaction, skipped control batches, a log not starting at 0) become gaps. Every
/// batch's CRC-32C is checked; the import stops at the first damaged batch with an error,
/// after importing every batch before it. A torn or zero-filled end of the *last* segment
/// is reported, not an error. The partition is flushed at the end. See [`ImportReport`] for
/// what is dropped.
///
/// ```
/// # fn main() -> pagelog::kafka::Result<()> {
/// # let io = |e| pagelog::Error::Io { path: "tmp".into(), source: e };
/// use pagelog::{NewRecord, Store, TopicConfig};
/// use pagelog::kafka::{ExportOptions, ImportOptions, export, import};
/// let dir = tempfile::tempdir().map_err(io)?;
/// let store = Store::open(dir.path().join("store"))?;
/// let src = store.create_topic("a", TopicConfig::default())?.partition(0)?.clone();
/// src.append_batch(&[NewRecord::new(b"one").key(b"k"), NewRecord::tombstone(b"k")])?;
/// let exported = export(&src, dir.path(), &ExportOptions::default())?;
///
/// let dst = store.create_topic("b", TopicConfig::default())?.partition(0)?.clone();
/// let report = import(&exported.dir, &dst, &ImportOptions::default())?;
/// assert_eq!((report.records, dst.next_offset()), (2, 2));
/// assert!(dst.read(1)?.is_some_and(|r| r.is_tombstone()));
/// assert!(report.not_carried().is_empty());
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::Corrupt`] (also for a directory without `.log` files, batches whose offsets
/// go backwards, or a torn segment that is not the last);
/// [`Error::ChecksumMismatch`]; [`Error::Unsupported`] (unless skipped);
/// [`Error::Store`] holding [`pagelog::Error::InvalidPlacement`](crate::Error::InvalidPlacement)
/// if the Kafka log starts below the partition's next offset, [`Io`](crate::Error::Io), or
/// the errors of [`Partition::append_at`].
pub fn import(dir: &Path, partition: &Partition, options: &ImportOptions) -> Result<ImportReport> {
    import_with_progress(dir, partition, options, &mut |_| {})
}

/// [`import`], calling `progress` every [`ImportOptions::progress_interval_bytes`] bytes
/// read and once at the end.
///
/// # Errors
/// As [`import`].
pub fn import_with_progress(
    dir: &Path,
    partition: &Partition,
    options: &ImportOptions,
    progress: &mut dyn FnMut(&ImportProgress),
) -> Result<ImportReport> {
    options.validate()?;
    let mut report = ImportReport::default();
    let segments = list_segments(dir, &mut report)?;
    let Some(&(first_base, _)) = segments.first() else {
        return Err(Error::Corrupt {
            path: Some(dir.to_path_buf()),
            position: 0,
            reason: "no <20-digit offset>.log segment files in this directory".into(),
        });
    };
    report.first_offset = Some(first_base);
    let fresh = partition.start_offset() == partition.next_offset();
    let mut total_bytes = 0;
    for (_, path) in &segments {
        total_bytes += fs::metadata(path).map_err(io_err(path))?.len();
    }
    let mut last_progress = 0;
    let mut done_bytes = 0;
    let mut first_batch = true;
    let count = segments.len();
    for (i, (_, path)) in segments.iter().enumerate() {
        let is_last = i + 1 == count;
        let mut file = FileBatches::open(path)?;
        report.segments += 1;
        while let Some(at) = next_batch(&mut file, path, is_last, &mut report)? {
            let size = file.buf.len() as u64;
            let decoded = decode_batch(&file.buf);
            // Where this batch's offsets start and end (for gaps), if the header is readable.
            let span = match &decoded {
                Ok(b) => Some((b.header.base(), b.header.last_offset())),
                Err(Error::Unsupported { .. }) if options.skip_unsupported => {
                    unsupported_span(&file.buf)
                }
                Err(_) => None,
            };
            let Some((base, last)) = span else {
                return Err(locate(
                    decoded.err().unwrap_or(Error::Corrupt {
                        path: None,
                        position: 0,
                        reason: "unreadable batch".into(),
                    }),
                    path,
                    at,
                ));
            };
            check_placement(partition, base, first_batch, path, at)?;
            first_batch = false;
            fill_gap(partition, base)?;
            if let Ok(batch) = decoded {
                import_batch(partition, &batch, &mut report)?;
            } else {
                report.unsupported_batches += 1;
                partition.append_at(&[], last + 1)?;
            }
            report.bytes = done_bytes + at + size;
            if report.bytes - last_progress >= options.progress_interval_bytes {
                last_progress = report.bytes;
                progress(&ImportProgress {
                    bytes: report.bytes,
                    total_bytes,
                    records: report.records,
                    offset: partition.next_offset(),
                });
            }
        }
        done_bytes += file.len();
        report.bytes = done_bytes;
    }
    // A Kafka log's next offset is at least its last segment's base offset (a segment just
    // rolled is empty): keep that, as a gap.
    if let Some(&(last_base, _)) = segments.last() {
        fill_gap(partition, last_base)?;
        if partition.next_offset() < last_base {
            partition.append_at(&[], last_base)?;
        }
    }
    partition.flush()?;
    if fresh && options.set_start_offset && first_base > partition.start_offset() {
        partition.delete_records_before(first_base)?;
    }
    report.next_offset = partition.next_offset();
    progress(&ImportProgress {
        bytes: report.bytes,
        total_bytes,
        records: report.records,
        offset: report.next_offset,
    });
    Ok(report)
}

/// The position of the segment's next batch, read into `file.buf`; `None` at the end of the
/// segment, and at a torn or zero-filled end of the last segment (noted in `report`).
fn next_batch(
    file: &mut FileBatches,
    path: &Path,
    is_last: bool,
    report: &mut ImportReport,
) -> Result<Option<u64>> {
    match file.next()? {
        Next::Batch(at) => Ok(Some(at)),
        Next::End => Ok(None),
        Next::Torn(at, why) if is_last => {
            report.torn_tail = Some((path.to_path_buf(), at, why));
            Ok(None)
        }
        Next::ZeroTail(at) if is_last => {
            report.zero_tail = Some((path.to_path_buf(), at));
            Ok(None)
        }
        Next::Torn(at, why) => Err(Error::Corrupt {
            path: Some(path.to_path_buf()),
            position: at,
            reason: format!("{why} (in a segment that is not the last)"),
        }),
        Next::ZeroTail(at) => Err(Error::Corrupt {
            path: Some(path.to_path_buf()),
            position: at,
            reason: "zero bytes where a batch should start (in a segment that is not the last)"
                .into(),
        }),
    }
}

/// Refuses a batch starting at `base` (at byte `at` of `path`) below the partition's next
/// offset: for the first batch the Kafka log does not fit the partition, later the log's
/// batches overlap.
fn check_placement(
    partition: &Partition,
    base: u64,
    first_batch: bool,
    path: &Path,
    at: u64,
) -> Result<()> {
    let next = partition.next_offset();
    if first_batch && base < next {
        return Err(crate::Error::InvalidPlacement {
            reason: format!(
                "the Kafka log starts at offset {base}, below the partition's next offset {next}; import into an empty partition"
            ),
        }
        .into());
    }
    if base < next {
        return Err(Error::Corrupt {
            path: Some(path.to_path_buf()),
            position: at,
            reason: format!(
                "batch at offset {base} overlaps the previous one (next offset {next})"
            ),
        });
    }
    Ok(())
}

/// The offsets of an unsupported batch: from a v2 header, or a v0/v1 entry's offset.
fn unsupported_span(buf: &[u8]) -> Option<(u64, u64)> {
    match BatchHeader::parse(buf) {
        Ok(h) => Some((h.base(), h.last_offset())),
        Err(Error::Unsupported { .. }) => {
            // v0/v1: `offset:i64 size:i32 crc:u32 magic:i8 ...`; the offset is the entry's
            // (for a compressed wrapper, its last inner record's).
            let o = i64::from_be_bytes(buf.get(..8)?.try_into().ok()?);
            let o = u64::try_from(o).ok()?;
            Some((o, o))
        }
        Err(_) => None,
    }
}

/// Moves the partition's next offset up to `to` with pure gaps, in steps a batch can span.
fn fill_gap(partition: &Partition, to: u64) -> Result<()> {
    while to - partition.next_offset().min(to) > GAP_STEP {
        partition.append_at(&[], partition.next_offset() + GAP_STEP)?;
    }
    Ok(())
}

/// Appends one decoded Kafka batch (or notes it as skipped), updating the report.
fn import_batch(
    partition: &Partition,
    batch: &KafkaBatch,
    report: &mut ImportReport,
) -> Result<()> {
    let h = &batch.header;
    let end = h.last_offset() + 1;
    if h.is_control() {
        report.control_batches += 1;
        for r in &batch.records {
            // Control record key: `version:i16 type:i16` (0 abort, 1 commit).
            match r.key.as_deref().and_then(|k| k.get(2..4)) {
                Some([0, 0]) => report.abort_markers += 1,
                Some([0, 1]) => report.commit_markers += 1,
                _ => {}
            }
        }
        partition.append_at(&[], end)?;
        return Ok(());
    }
    report.batches += 1;
    report.transactional_batches += u64::from(h.is_transactional());
    report.producer_id_batches += u64::from(h.has_producer_id());
    report.log_append_time_batches += u64::from(h.timestamp_type() == TimestampType::LogAppendTime);
    report.compressed_batches += u64::from(h.compression() != super::Compression::None);
    if batch.records.is_empty() {
        report.empty_batches += 1;
        partition.append_at(&[], end)?;
        return Ok(());
    }
    // Header keys as &str (lossily if Kafka's were not UTF-8), null values as empty.
    let keys: Vec<Vec<Cow<'_, str>>> = batch
        .records
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .map(|h| String::from_utf8_lossy(&h.key))
                .collect()
        })
        .collect();
    for r in &batch.records {
        for hd in &r.headers {
            report.null_header_values += u64::from(hd.value.is_none());
            report.lossy_header_keys += u64::from(std::str::from_utf8(&hd.key).is_err());
        }
    }
    let headers: Vec<Vec<Header<'_>>> = batch
        .records
        .iter()
        .zip(&keys)
        .map(|(r, ks)| {
            r.headers
                .iter()
                .zip(ks)
                .map(|(hd, k)| Header {
                    key: k.as_ref(),
                    value: hd.value.as_deref().unwrap_or_default(),
                })
                .collect()
        })
        .collect();
    let placed: Vec<(u64, NewRecord<'_>)> = batch
        .records
        .iter()
        .zip(&headers)
        .map(|(r, hs)| {
            (
                r.offset,
                NewRecord {
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                    timestamp: Some(r.timestamp),
                    headers: hs,
                },
            )
        })
        .collect();
    // Chunks of about CHUNK_BYTES, each up to the next chunk's first offset.
    let mut start = 0;
    let mut bytes = 0;
    for (i, (_, r)) in placed.iter().enumerate() {
        let size = r.key.map_or(0, <[u8]>::len)
            + r.value.map_or(0, <[u8]>::len)
            + r.headers
                .iter()
                .map(|h| h.key.len() + h.value.len() + 8)
                .sum::<usize>()
            + 32;
        if bytes + size > CHUNK_BYTES && i > start {
            let chunk_end = placed.get(i).map_or(end, |p| p.0);
            append_split(
                partition,
                placed.get(start..i).unwrap_or_default(),
                chunk_end,
            )?;
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    append_split(partition, placed.get(start..).unwrap_or_default(), end)?;
    report.records += placed.len() as u64;
    Ok(())
}

/// `append_at`, halving the records until each part fits the partition's batch limit.
fn append_split(partition: &Partition, records: &[(u64, NewRecord<'_>)], end: u64) -> Result<()> {
    match partition.append_at(records, end) {
        Err(crate::Error::RecordTooLarge { .. }) if records.len() > 1 => {
            let mid = records.len() / 2;
            let (a, b) = records.split_at(mid);
            let mid_offset = b.first().map_or(end, |r| r.0);
            append_split(partition, a, mid_offset)?;
            append_split(partition, b, end)
        }
        other => other.map(|_| ()).map_err(Error::from),
    }
}

/// The `.log` segments of `dir` in offset order; notes every other file but the indexes.
fn list_segments(dir: &Path, report: &mut ImportReport) -> Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let parsed = |ext: &str| {
            name.strip_suffix(ext)
                .filter(|stem| stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|stem| stem.parse::<u64>().ok())
        };
        if let Some(base) = parsed(".log")
            && path.is_file()
        {
            segments.push((base, path));
            continue;
        }
        if parsed(".index").is_some() || parsed(".timeindex").is_some() {
            continue;
        }
        report.ignored_files.push(path);
    }
    segments.sort();
    report.ignored_files.sort();
    Ok(segments)
}
