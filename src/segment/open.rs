//! Opening segments without a scan: a sealed segment trusted below the recovery point (its
//! indexes checked, and rebuilt if damaged), and the active segment of a cleanly closed
//! partition.

use std::fs;
use std::path::Path;

use crate::codec::index::{OFFSET_ENTRY_LEN, OffsetEntry, TIME_ENTRY_LEN, TimeEntry};
use crate::error::{Corruption, Error, Result, io_err};
use crate::fsutil;
use crate::mmap::{MapRef, MapWriter, Mapping};
use crate::num::usize_from;
use crate::segment::core::{SegmentCore, decode_error};
use crate::segment::files::SegmentPaths;
use crate::segment::maps::{
    map_entries, new_core, open_mappings, rewrite_index, with_file_bytes, writer_maps,
};
use crate::segment::scan::scan;
use crate::segment::writer::{IndexRule, Limits, SegmentWriter};

/// Whether the index files of a segment look intact without reading them all: present,
/// whole entries, and the last entry of each passes its CRC and points inside the log. Reads
/// the last entries with `pread`: nothing is mapped.
fn indexes_look_intact(paths: &SegmentPaths, log_len: usize) -> bool {
    let last = |path: &Path, entry_len: usize| -> Option<Vec<u8>> {
        let file = fs::File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        if !len.is_multiple_of(entry_len as u64) {
            return None;
        }
        let mut entry = vec![0u8; if len == 0 { 0 } else { entry_len }];
        let at = len.saturating_sub(entry_len as u64);
        (fsutil::read_at(&file, &mut entry, at).ok()? == entry.len()).then_some(entry)
    };
    let (Some(last_index), Some(last_time)) = (
        last(&paths.index, OFFSET_ENTRY_LEN),
        last(&paths.time, TIME_ENTRY_LEN),
    ) else {
        return false;
    };
    last_entries_valid(&last_index, &last_time, log_len)
}

/// Whether the last entries of a segment's offset and time indexes (empty slices for empty
/// indexes) pass their CRCs, the offset entry pointing inside the log of `log_len` bytes.
fn last_entries_valid(last_index: &[u8], last_time: &[u8], log_len: usize) -> bool {
    let index_ok = last_index.is_empty()
        || OffsetEntry::decode(last_index).is_ok_and(|e| (e.position as usize) < log_len);
    let time_ok = last_time.is_empty() || TimeEntry::decode(last_time).is_ok();
    index_ok && time_ok
}

/// The last `entry_len` bytes of `bytes`, or nothing if it is empty; `None` if `bytes` does
/// not hold whole entries.
fn last_entry(bytes: &[u8], entry_len: usize) -> Option<&[u8]> {
    bytes
        .len()
        .is_multiple_of(entry_len)
        .then(|| &bytes[bytes.len().saturating_sub(entry_len)..])
}

/// Opens an index file of the active segment for appending after its entries, `None` if it
/// is missing.
fn open_index_writer(path: &Path, capacity: usize) -> Result<Option<MapWriter>> {
    match MapWriter::open_whole(path, capacity, super::writer::INDEX_RESERVE_CHUNK) {
        Ok(w) => Ok(Some(w)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
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

/// What [`check_sealed_indexes`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexCheck {
    /// Both index files look intact (present, whole entries, last entries valid).
    Intact,
    /// They were rebuilt from the log, which covers the segment's offsets.
    Rebuilt,
    /// They were rebuilt, and the log's batches end before the next segment's base: the log
    /// was cut short from outside.
    CutShort,
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
    let log = map_sealed_log(&paths)?;
    let check = check_sealed_indexes(&paths, base, next_base, limits, log.published())?;
    open_sealed_mapped(paths, base, next_base, log, check, verify_checksums)
}

/// Maps a sealed segment's log, under a shared lock held as long as the mapping: a writer
/// of the file (a standalone `Segment` on it) makes this fail with `Error::Locked`, and none
/// can be made while the store maps the file.
///
/// A log longer than [`MAX_SEGMENT_BYTES`](crate::MAX_SEGMENT_BYTES) is refused: pagelog
/// writes none, and the 32-bit positions of its index entries and records could not address
/// the bytes past that.
pub fn map_sealed_log(paths: &SegmentPaths) -> Result<MapRef> {
    let log = Mapping::open_shared(&paths.log).map_err(io_err(&paths.log))?;
    if log.published() as u64 > crate::MAX_SEGMENT_BYTES {
        return Err(Error::corrupt(
            &paths.log,
            crate::MAX_SEGMENT_BYTES,
            Corruption::TooLarge {
                what: "segment log longer than MAX_SEGMENT_BYTES",
            },
        ));
    }
    Ok(log)
}

/// Checks a sealed segment's index files without reading them all, and rebuilds them from
/// its log (`log_len` bytes, mapped) if they look damaged or are missing.
pub fn check_sealed_indexes(
    paths: &SegmentPaths,
    base: u64,
    next_base: u64,
    limits: &Limits,
    log_len: usize,
) -> Result<IndexCheck> {
    if indexes_look_intact(paths, log_len) {
        return Ok(IndexCheck::Intact);
    }
    // A log whose batches end before the next segment's base was cut short from outside.
    if rebuild_indexes(paths, base, limits)? < next_base {
        Ok(IndexCheck::CutShort)
    } else {
        Ok(IndexCheck::Rebuilt)
    }
}

/// Makes the core of a sealed segment whose log is mapped and whose indexes were checked.
pub fn open_sealed_mapped(
    paths: SegmentPaths,
    base: u64,
    next_base: u64,
    log: MapRef,
    check: IndexCheck,
    verify_checksums: bool,
) -> Result<SegmentCore> {
    let core = open_mappings(paths, base, log, next_base, i64::MIN, verify_checksums)?;
    if check == IndexCheck::CutShort {
        // Its largest timestamp is unknown: timestamp lookups must look into it (and report
        // the damage) rather than skip it for a later segment.
        core.max_timestamp
            .store(i64::MAX, std::sync::atomic::Ordering::Release);
        return Ok(core);
    }
    set_sealed_max_timestamp(&core, base, next_base);
    Ok(core)
}

/// Gives a sealed segment its largest timestamp: the time index's last entry, which the
/// entry written at seal time makes exact and which covers the last offset, so normally nothing
/// is read. If that entry is missing, the batch headers after the last entry that is there
/// make up the difference, read on the timestamp's first use
/// ([`SegmentCore::max_timestamp`]), not here.
pub(crate) fn set_sealed_max_timestamp(core: &SegmentCore, base: u64, next_base: u64) {
    let times = core.time.prefix();
    let (max_ts, from) = match times.len().checked_sub(TIME_ENTRY_LEN) {
        Some(at) => TimeEntry::decode(&times[at..]).map_or((i64::MIN, base), |t| {
            (t.timestamp, base + u64::from(t.relative_offset) + 1)
        }),
        None => (i64::MIN, base),
    };
    core.max_timestamp
        .fetch_max(max_ts, std::sync::atomic::Ordering::AcqRel);
    if from < next_base {
        core.max_ts_walk_from
            .store(from, std::sync::atomic::Ordering::Release);
    }
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
    let chunk = super::writer::LOG_RESERVE_CHUNK;
    let mut log = MapWriter::open(&paths.log, limits.log_capacity, log_len, chunk)
        .map_err(io_err(&paths.log))?;
    log.set_prefault(limits.prefault);
    // The index files are mapped whole and their last entries checked in the mappings: a
    // missing file, a partial entry or a bad last entry and the segment is recovered instead.
    let Some(index) = open_index_writer(&paths.index, limits.index_capacity)? else {
        return Ok(None);
    };
    let Some(time) = open_index_writer(&paths.time, limits.time_capacity)? else {
        return Ok(None);
    };
    let (index_len, time_len) = (index.published(), time.published());
    let time_cap = time.mapping().capacity();
    match (
        last_entry(index.mapping().prefix(), OFFSET_ENTRY_LEN),
        last_entry(time.mapping().prefix(), TIME_ENTRY_LEN),
    ) {
        (Some(i), Some(t)) if last_entries_valid(i, t, log_len) => {}
        _ => return Ok(None),
    }
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
    // Timestamp lookups rely on the time index holding an entry for every index point that
    // raised the segment's maximum while it had room (FORMAT.md 6.2): one that lost entries
    // (cut or emptied from outside) must not be continued, or lookups would take the gap
    // for records older than they are. The batch at the last offset-index point bounds the
    // last time entry from below; an index below it is rebuilt by recovery.
    let time_entries = time_len / TIME_ENTRY_LEN;
    if core.index.prefix().len() >= OFFSET_ENTRY_LEN
        && (time_entries + 2) * TIME_ENTRY_LEN <= time_cap
        && core
            .header_at(core.log.prefix(), last_index_pos)
            .is_ok_and(|h| h.record_count > 0 && h.max_timestamp > last_time_entry)
    {
        return Ok(None);
    }
    let rule = IndexRule {
        bytes_since_entry: (log_len - last_index_pos.min(log_len)) as u64,
        last_time_entry,
        index_entries: index_len / OFFSET_ENTRY_LEN,
        time_entries,
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
        splits: Vec::new(),
    };
    Ok(Some((core, writer)))
}

/// Opens a sealed segment for a reader process: its files mapped as they are, without a
/// lock and without rebuilding anything. `len` is the log's final length when the writer
/// published it, else the file's length is used. Index files that are missing or look
/// damaged make lookups scan the log (`index_damaged`), and timestamp lookups look into the
/// segment, instead of being rebuilt: only the writer changes files.
pub fn open_sealed_follower(
    paths: SegmentPaths,
    base: u64,
    next_base: u64,
    len: Option<u64>,
    verify_checksums: bool,
) -> Result<SegmentCore> {
    let file_len = fs::metadata(&paths.log).map_err(io_err(&paths.log))?.len();
    let log_len = len.filter(|&l| l <= file_len).unwrap_or(file_len);
    if log_len > crate::MAX_SEGMENT_BYTES {
        return Err(Error::corrupt(
            &paths.log,
            crate::MAX_SEGMENT_BYTES,
            Corruption::TooLarge {
                what: "segment log longer than MAX_SEGMENT_BYTES",
            },
        ));
    }
    let log =
        Mapping::open_read_only(&paths.log, usize_from(log_len)).map_err(io_err(&paths.log))?;
    let intact = indexes_look_intact(&paths, log.published());
    let entries = |path: &Path, entry_len: usize| {
        if intact {
            map_entries(path, entry_len)
        } else {
            Mapping::open_read_only(&paths.log, 0).map_err(io_err(path))
        }
    };
    let index = entries(&paths.index, OFFSET_ENTRY_LEN)?;
    let time = entries(&paths.time, TIME_ENTRY_LEN)?;
    let core = new_core(
        base,
        paths,
        [log, index, time],
        next_base,
        i64::MIN,
        verify_checksums,
    );
    if intact {
        set_sealed_max_timestamp(&core, base, next_base);
    } else {
        core.index_damaged
            .store(true, std::sync::atomic::Ordering::Release);
        core.max_timestamp
            .store(i64::MAX, std::sync::atomic::Ordering::Release);
    }
    Ok(core)
}

/// Opens the active segment for a reader process: all three files mapped at their full
/// capacity, without a lock, with the lengths the writer process published readable.
pub fn open_active_follower(
    paths: SegmentPaths,
    base: u64,
    limits: &Limits,
    lens: [u64; 3],
    next_offset: u64,
    max_timestamp: i64,
    verify_checksums: bool,
) -> Result<SegmentCore> {
    let [log_len, index_len, time_len] = lens.map(usize_from);
    let map = |path: &Path, cap: usize, len: usize| {
        Mapping::open_follower(path, cap, len).map_err(io_err(path))
    };
    let log = map(&paths.log, limits.log_capacity, log_len)?;
    let index = map(&paths.index, limits.index_capacity, index_len)?;
    let time = map(&paths.time, limits.time_capacity, time_len)?;
    Ok(new_core(
        base,
        paths,
        [log, index, time],
        next_offset,
        max_timestamp,
        verify_checksums,
    ))
}
