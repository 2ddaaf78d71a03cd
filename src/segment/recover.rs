//! Opening segments: trusting a cleanly closed one, recovering an unclean one by scanning its
//! log, and verifying one in full.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};

use crate::codec::batch::{self, BatchHeader};
use crate::codec::index::{OFFSET_ENTRY_LEN, OffsetEntry, TIME_ENTRY_LEN, TimeEntry};
use crate::error::{Corruption, Error, Result, io_err};
use crate::mmap::{MapWriter, Mapping, lock_exclusive, map_locked_read_only};
use crate::segment::core::{SegmentCore, decode_error};
use crate::segment::files::SegmentPaths;
use crate::segment::writer::{IndexRule, Limits, SegmentWriter};

/// What a scan of a log found: the valid prefix and the indexes that describe it.
#[derive(Debug, Clone)]
pub struct Scan {
    /// End of the last valid batch.
    pub valid_end: usize,
    /// Offset after the last valid batch.
    pub next_offset: u64,
    /// First record timestamp of the segment, if any.
    pub first_timestamp: Option<i64>,
    /// Largest timestamp, `i64::MIN` if empty.
    pub max_timestamp: i64,
    /// Rebuilt offset-index entries.
    pub index: Vec<OffsetEntry>,
    /// Rebuilt time-index entries.
    pub time: Vec<TimeEntry>,
    /// Index rule state at `valid_end`.
    pub rule: IndexRule,
    /// Why the scan stopped before the end of the file, with the position.
    pub stopped: Option<(usize, String)>,
}

/// Walks the batches of `log` from its start, checking size, CRC and offset order, and
/// rebuilds the indexes with the writer's rule. Stops at the first invalid byte.
pub fn scan(log: &[u8], base: u64, limits: &Limits) -> Scan {
    let mut s = Scan {
        valid_end: 0,
        next_offset: base,
        first_timestamp: None,
        max_timestamp: i64::MIN,
        index: Vec::new(),
        time: Vec::new(),
        rule: IndexRule::EMPTY,
        stopped: None,
    };
    let mut pos = 0usize;
    while pos < log.len() {
        let header = match valid_batch(log, pos, s.next_offset, base) {
            Ok(h) => h,
            Err(reason) => {
                s.stopped = Some((pos, reason));
                break;
            }
        };
        let seg_max = s.max_timestamp.max(header.max_timestamp);
        let first = header.base_offset;
        let last = header.last_offset();
        let step = s
            .rule
            .step(limits, base, pos, first, last, seg_max)
            .unwrap_or(crate::segment::writer::IndexStep {
                offset: None,
                time: None,
            });
        s.index.extend(step.offset);
        s.time.extend(step.time);
        s.rule.apply(&step, header.length as usize);
        if header.record_count > 0 {
            s.first_timestamp.get_or_insert(header.first_timestamp);
        }
        s.max_timestamp = seg_max;
        s.next_offset = header.next_offset();
        pos += header.length as usize;
        s.valid_end = pos;
    }
    s
}

impl Scan {
    /// Adds the entry a writer adds when it seals a segment (see `SegmentWriter::finish`), so
    /// a rebuilt index of a sealed segment ends with the segment's largest timestamp.
    pub(crate) fn add_seal_entry(&mut self, base: u64, limits: &Limits) {
        let has_room = (self.time.len() + 1) * TIME_ENTRY_LEN <= limits.time_capacity;
        if self.next_offset > base && self.max_timestamp > self.rule.last_time_entry && has_room {
            self.time.push(TimeEntry {
                timestamp: self.max_timestamp,
                relative_offset: (self.next_offset - 1 - base) as u32,
            });
            self.rule.time_entries += 1;
            self.rule.last_time_entry = self.max_timestamp;
        }
    }

    pub(crate) fn encoded_indexes(&self) -> (Vec<u8>, Vec<u8>) {
        (
            self.index.iter().flat_map(|e| e.encode()).collect(),
            self.time.iter().flat_map(|e| e.encode()).collect(),
        )
    }
}

/// Checks the batch at `pos`: header, bounds, expected base offset, 32-bit relative offsets
/// and CRC. Returns the reason it is invalid otherwise.
pub(crate) fn valid_batch(
    log: &[u8],
    pos: usize,
    expected: u64,
    base: u64,
) -> Result<BatchHeader, String> {
    let rest = &log[pos..];
    let h = BatchHeader::parse(rest).map_err(|e| e.to_string())?;
    if h.length as usize > rest.len() {
        return Err("batch extends past the end of the file".into());
    }
    if h.base_offset != expected {
        return Err(format!(
            "batch base offset {} where {expected} was expected",
            h.base_offset
        ));
    }
    if h.last_offset() - base > u64::from(u32::MAX) {
        return Err("batch offsets overflow the segment's 32-bit relative offsets".into());
    }
    batch::check_crc(&rest[..h.length as usize]).map_err(|e| e.to_string())?;
    Ok(h)
}

/// Reads a whole file through a temporary read-only mapping.
fn with_file_bytes<T>(path: &Path, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
    let len = fs::metadata(path).map_err(io_err(path))?.len();
    let len = usize::try_from(len).map_err(|_| {
        Error::corrupt(
            path,
            0,
            Corruption::TooLarge {
                what: "file larger than the address space",
            },
        )
    })?;
    let map = Mapping::open_read_only(path, len).map_err(io_err(path))?;
    Ok(f(map.prefix()))
}

/// Recreates an index file holding exactly `entries` (encoded), with room for `capacity`.
fn rewrite_index(path: &Path, capacity: usize, entries: &[u8]) -> Result<MapWriter> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    let cap = capacity.max(entries.len());
    let mut w = MapWriter::create(path, cap, cap as u64).map_err(io_err(path))?;
    if !entries.is_empty() {
        w.tail_mut(entries.len())
            .map_err(io_err(path))?
            .ok_or_else(|| io_err(path)(io::Error::other("index larger than its capacity")))?
            .copy_from_slice(entries);
        w.publish(entries.len());
    }
    Ok(w)
}

/// The shared mappings of a segment's three writers.
pub(crate) fn writer_maps(writers: [&MapWriter; 3]) -> [Arc<Mapping>; 3] {
    writers.map(|w| Arc::clone(w.mapping()))
}

pub(crate) fn new_core(
    base: u64,
    paths: SegmentPaths,
    maps: [Arc<Mapping>; 3],
    next_offset: u64,
    max_timestamp: i64,
    verify_checksums: bool,
) -> SegmentCore {
    let [log, index, time] = maps;
    // Lookups fault in single pages; iterators read ahead explicitly (`Records`).
    log.advise_random();
    SegmentCore {
        base,
        paths,
        log,
        index,
        time,
        next_offset: AtomicU64::new(next_offset),
        max_timestamp: AtomicI64::new(max_timestamp),
        index_damaged: AtomicBool::new(false),
        verify_checksums,
        large_batches: AtomicBool::new(false),
    }
}

/// Outcome of recovering a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes of valid batches kept.
    pub valid_bytes: u64,
    /// Bytes cut from the end of the log (torn writes, garbage or preallocated zeros).
    pub truncated_bytes: u64,
    /// Why the scan stopped early, if it did: position and reason.
    pub stopped: Option<(u64, String)>,
}

/// Recovers the segment at `paths`: scans the log, truncates it after the last valid batch,
/// rebuilds both indexes and syncs all three files. Returns a writer when `writable`, else
/// trims the indexes and returns read-only mappings.
pub fn recover(
    paths: SegmentPaths,
    base: u64,
    limits: &Limits,
    verify_checksums: bool,
    writable: bool,
) -> Result<(SegmentCore, Option<SegmentWriter>, Recovery)> {
    // The writer lock first: recovery may shorten the file, which must never happen under
    // another writer's mapping.
    let log_file = lock_exclusive(&paths.log).map_err(io_err(&paths.log))?;
    let (mut scan, file_len) = {
        let map = map_locked_read_only(&log_file).map_err(io_err(&paths.log))?;
        let log = map.prefix();
        let mut s = scan(log, base, limits);
        // A tail of zeros is preallocated space, not damage worth reporting.
        if let Some((pos, _)) = &s.stopped
            && log[*pos..].iter().all(|&b| b == 0)
        {
            s.stopped = None;
        }
        (s, log.len())
    };
    if !writable {
        scan.add_seal_entry(base, limits);
    }
    if file_len != scan.valid_end {
        log_file
            .set_len(scan.valid_end as u64)
            .map_err(io_err(&paths.log))?;
    }
    log_file.sync_all().map_err(io_err(&paths.log))?;
    let (index_bytes, time_bytes) = scan.encoded_indexes();
    let mut index = rewrite_index(&paths.index, limits.index_capacity, &index_bytes)?;
    let mut time = rewrite_index(&paths.time, limits.time_capacity, &time_bytes)?;
    let recovery = Recovery {
        valid_bytes: scan.valid_end as u64,
        truncated_bytes: (file_len - scan.valid_end) as u64,
        stopped: scan.stopped.clone().map(|(p, r)| (p as u64, r)),
    };
    if writable {
        let mut log = MapWriter::from_locked(
            log_file,
            limits.log_capacity,
            scan.valid_end,
            super::writer::LOG_RESERVE_CHUNK,
        )
        .map_err(io_err(&paths.log))?;
        log.set_prefault(limits.prefault);
        for (w, p) in [(&index, &paths.index), (&time, &paths.time)] {
            w.mapping().sync_data().map_err(io_err(p))?;
        }
        let maps = writer_maps([&log, &index, &time]);
        let core = new_core(
            base,
            paths,
            maps,
            scan.next_offset,
            scan.max_timestamp,
            verify_checksums,
        );
        let writer = SegmentWriter {
            log,
            index,
            time,
            limits: *limits,
            next_offset: scan.next_offset,
            first_timestamp: scan.first_timestamp,
            max_timestamp: scan.max_timestamp,
            rule: scan.rule,
            scratch: Vec::new(),
        };
        Ok((core, Some(writer), recovery))
    } else {
        for (w, p) in [(&mut index, &paths.index), (&mut time, &paths.time)] {
            w.trim().map_err(io_err(p))?;
            w.mapping().sync_data().map_err(io_err(p))?;
        }
        drop((index, time));
        // The writer lock becomes the shared lock the read-only mapping holds for its life,
        // on the same descriptor: no other writer can come in between.
        let log = Mapping::map_shared(log_file).map_err(io_err(&paths.log))?;
        let core = open_mappings(
            paths,
            base,
            log,
            scan.next_offset,
            scan.max_timestamp,
            verify_checksums,
        )?;
        Ok((core, None, recovery))
    }
}

/// Maps a sealed segment's indexes read-only and makes its core, with its log already mapped
/// (under the shared lock, [`Mapping::map_shared`]) and a known state.
fn open_mappings(
    paths: SegmentPaths,
    base: u64,
    log: Arc<Mapping>,
    next_offset: u64,
    max_timestamp: i64,
    verify_checksums: bool,
) -> Result<SegmentCore> {
    let index = map_entries(&paths.index, OFFSET_ENTRY_LEN)?;
    let time = map_entries(&paths.time, TIME_ENTRY_LEN)?;
    Ok(new_core(
        base,
        paths,
        [log, index, time],
        next_offset,
        max_timestamp,
        verify_checksums,
    ))
}

/// Maps an index file read-only, its length rounded down to whole entries.
fn map_entries(path: &Path, entry_len: usize) -> Result<Arc<Mapping>> {
    let len = fs::metadata(path).map_err(io_err(path))?.len() as usize;
    Mapping::open_read_only(path, len - len % entry_len).map_err(io_err(path))
}

/// Whether the index files of a segment look intact without reading them all: present,
/// whole entries, and the last entry of each passes its CRC and points inside the log.
fn indexes_look_intact(paths: &SegmentPaths, log_len: usize) -> bool {
    let last = |path: &Path, entry_len: usize| -> Option<Vec<u8>> {
        let len = fs::metadata(path).ok()?.len() as usize;
        if !len.is_multiple_of(entry_len) {
            return None;
        }
        if len == 0 {
            return Some(Vec::new());
        }
        let map = Mapping::open_read_only(path, len).ok()?;
        Some(map.prefix()[len - entry_len..].to_vec())
    };
    let Some(last_index) = last(&paths.index, OFFSET_ENTRY_LEN) else {
        return false;
    };
    let Some(last_time) = last(&paths.time, TIME_ENTRY_LEN) else {
        return false;
    };
    let index_ok = last_index.is_empty()
        || OffsetEntry::decode(&last_index).is_ok_and(|e| (e.position as usize) < log_len);
    let time_ok = last_time.is_empty() || TimeEntry::decode(&last_time).is_ok();
    index_ok && time_ok
}

/// Rebuilds both index files of a segment from its log without changing the log; returns the
/// offset after the last valid batch.
fn rebuild_indexes(paths: &SegmentPaths, base: u64, limits: &Limits) -> Result<u64> {
    let mut scan = with_file_bytes(&paths.log, |log| scan(log, base, limits))?;
    scan.add_seal_entry(base, limits);
    let (index_bytes, time_bytes) = scan.encoded_indexes();
    for (path, cap, bytes) in [
        (&paths.index, limits.index_capacity, &index_bytes),
        (&paths.time, limits.time_capacity, &time_bytes),
    ] {
        let mut w = rewrite_index(path, cap, bytes)?;
        w.trim().map_err(io_err(path))?;
        w.mapping().sync_data().map_err(io_err(path))?;
    }
    Ok(scan.next_offset)
}

/// Opens a sealed segment that needs no recovery (wholly below the recovery point, or
/// before the active segment of a cleanly closed partition). Reads the last entry of each
/// index and nothing of the log: its next offset is the base of the segment after it.
/// Index files that are missing or damaged are rebuilt from the log, which is left as is.
pub fn open_sealed(
    paths: SegmentPaths,
    base: u64,
    next_base: u64,
    limits: &Limits,
    verify_checksums: bool,
) -> Result<SegmentCore> {
    // Mapped first, under a shared lock held as long as the mapping: a writer of the file
    // (a standalone `Segment` on it) makes this fail with `Error::Locked`, and none can be
    // made while the store maps the file.
    let log = Mapping::open_shared(&paths.log).map_err(io_err(&paths.log))?;
    let log_len = log.published();
    // A log whose batches end before the next segment's base was cut short from outside.
    let cut_short =
        !indexes_look_intact(&paths, log_len) && rebuild_indexes(&paths, base, limits)? < next_base;
    let core = open_mappings(paths, base, log, next_base, i64::MIN, verify_checksums)?;
    if cut_short {
        // Its largest timestamp is unknown: timestamp lookups must look into it (and report
        // the damage) rather than skip it for a later segment.
        core.max_timestamp
            .store(i64::MAX, std::sync::atomic::Ordering::Release);
        return Ok(core);
    }
    // The entry written at seal time carries the segment's largest timestamp and covers the
    // last offset, so normally nothing is read. If the last entry is missing, the batch
    // headers after the last entry that is there make up the difference.
    let times = core.time.prefix();
    let (mut max_ts, from) = match times.len().checked_sub(TIME_ENTRY_LEN) {
        Some(at) => TimeEntry::decode(&times[at..]).map_or((i64::MIN, base), |t| {
            (t.timestamp, base + u64::from(t.relative_offset) + 1)
        }),
        None => (i64::MIN, base),
    };
    if from < next_base {
        max_ts = max_ts.max(headers_max_timestamp(&core, from));
    }
    core.max_timestamp
        .store(max_ts, std::sync::atomic::Ordering::Release);
    Ok(core)
}

/// Largest `max_timestamp` over the batch headers from the batch holding `from` to the end
/// (stops at the first damaged header).
fn headers_max_timestamp(core: &SegmentCore, from: u64) -> i64 {
    let mut max = i64::MIN;
    let Ok(Some(first)) = core.locate(from) else {
        return max;
    };
    let log = core.log.prefix();
    let mut pos = first.position;
    while let Ok(h) = core.header_at(log, pos) {
        max = max.max(h.max_timestamp);
        pos += h.length as usize;
    }
    max
}

/// Opens the active segment of a cleanly closed partition for appending, trusting the
/// checkpointed length, next offset and largest timestamp. `Ok(None)` when the files do not
/// look the way a clean close leaves them; the caller then recovers the segment instead.
pub fn open_active_clean(
    paths: SegmentPaths,
    base: u64,
    limits: &Limits,
    verify_checksums: bool,
    log_len: usize,
    next_offset: u64,
    max_timestamp: i64,
) -> Result<Option<(SegmentCore, SegmentWriter)>> {
    if !indexes_look_intact(&paths, log_len) {
        return Ok(None);
    }
    let entries_len = |p: &Path| fs::metadata(p).map(|m| m.len() as usize).map_err(io_err(p));
    let index_len = entries_len(&paths.index)?;
    let time_len = entries_len(&paths.time)?;
    let chunk = super::writer::LOG_RESERVE_CHUNK;
    let mut log = MapWriter::open(&paths.log, limits.log_capacity, log_len, chunk)
        .map_err(io_err(&paths.log))?;
    log.set_prefault(limits.prefault);
    let index_cap = limits.index_capacity.max(index_len);
    let index = MapWriter::open(&paths.index, index_cap, index_len, index_cap as u64)
        .map_err(io_err(&paths.index))?;
    let time_cap = limits.time_capacity.max(time_len);
    let time = MapWriter::open(&paths.time, time_cap, time_len, time_cap as u64)
        .map_err(io_err(&paths.time))?;
    let maps = writer_maps([&log, &index, &time]);
    let core = new_core(
        base,
        paths,
        maps,
        next_offset,
        max_timestamp,
        verify_checksums,
    );
    let first_timestamp = if log_len > 0 {
        match core.header_at(core.log.prefix(), 0) {
            // An empty first batch has no timestamp; the age roll then starts from the next
            // record appended (a later roll at most, never an early one).
            Ok(h) => (h.record_count > 0).then_some(h.first_timestamp),
            // Damaged although the close was clean: let the caller recover the segment.
            Err(_) => return Ok(None),
        }
    } else {
        None
    };
    let last_index_pos = match core.index.prefix().len().checked_sub(OFFSET_ENTRY_LEN) {
        Some(at) => {
            OffsetEntry::decode(&core.index.prefix()[at..])
                .map_err(|e| decode_error(&core.paths.index, at, e))?
                .position as usize
        }
        None => 0,
    };
    let last_time_entry = match core.time.prefix().len().checked_sub(TIME_ENTRY_LEN) {
        Some(at) => {
            TimeEntry::decode(&core.time.prefix()[at..])
                .map_err(|e| decode_error(&core.paths.time, at, e))?
                .timestamp
        }
        None => i64::MIN,
    };
    let rule = IndexRule {
        bytes_since_entry: (log_len - last_index_pos.min(log_len)) as u64,
        last_time_entry,
        index_entries: index_len / OFFSET_ENTRY_LEN,
        time_entries: time_len / TIME_ENTRY_LEN,
    };
    let writer = SegmentWriter {
        log,
        index,
        time,
        limits: *limits,
        next_offset,
        first_timestamp,
        max_timestamp,
        rule,
        scratch: Vec::new(),
    };
    Ok(Some((core, writer)))
}
