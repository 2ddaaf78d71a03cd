//! Recovering a segment after an unclean stop: scan its log, cut it after the last valid
//! batch, rebuild its indexes.

use crate::error::{Result, io_err};
use crate::fsutil;
use crate::mmap::{MapWriter, Mapping, lock_exclusive, map_locked_read_only};
use crate::segment::core::SegmentCore;
use crate::segment::files::SegmentPaths;
use crate::segment::maps::{new_core, open_mappings, rewrite_index, writer_maps};
use crate::segment::scan::scan;
use crate::segment::writer::{Limits, SegmentWriter};

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

/// What a recovered segment becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoverAs {
    /// The active segment: it comes back with a writer.
    Active,
    /// A sealed segment: its indexes are trimmed and it is mapped read-only.
    Sealed,
}

/// Recovers the segment at `paths`: scans the log, truncates it after the last valid batch,
/// rebuilds both indexes and syncs all three files, and returns it as `role` says.
pub fn recover(
    paths: SegmentPaths,
    base: u64,
    limits: &Limits,
    verify_checksums: bool,
    role: RecoverAs,
) -> Result<(SegmentCore, Option<SegmentWriter>, Recovery)> {
    let writable = role == RecoverAs::Active;
    // The writer lock first: recovery may shorten the file, which must never happen under
    // another writer's mapping.
    let log_file = lock_exclusive(&paths.log).map_err(io_err(&paths.log))?;
    // Whatever is still dirty goes to the device first; then only the prefix the device
    // really holds is scanned. A write the device failed leaves its pages clean in the page
    // cache with the new data: trusting them would resume after data that is not on disk,
    // and lose every record acknowledged after it at the next remount.
    log_file.sync_data().map_err(io_err(&paths.log))?;
    let (mut scan, file_len, kept) = {
        let map = map_locked_read_only(&log_file).map_err(io_err(&paths.log))?;
        let log = map.prefix();
        let on_disk = fsutil::disk_agrees_up_to(&paths.log, log)
            .map_err(io_err(&paths.log))?
            .unwrap_or(log.len());
        let mut s = scan(&log[..on_disk], base, limits);
        // Where the device disagrees, valid batches of the page cache may be cut, and a
        // reader in another process may have read them: the file is then never shortened
        // under its mapping (SIGBUS) but replaced by a new one holding the prefix kept.
        let kept = (on_disk < log.len() && scan(log, base, limits).valid_end > s.valid_end)
            .then(|| log[..s.valid_end].to_vec());
        if on_disk < log.len() && s.valid_end <= on_disk && s.stopped.is_none() {
            s.stopped = Some((
                on_disk,
                "the device does not hold what the page cache does from here".into(),
            ));
        }
        // A tail of zeros is preallocated space, not damage worth reporting.
        if let Some((pos, _)) = &s.stopped
            && crate::codec::all_zero(log.get(*pos..).unwrap_or_default())
        {
            s.stopped = None;
        }
        (s, log.len(), kept)
    };
    if !writable {
        scan.add_seal_entry(base, limits);
    }
    let log_file = if let Some(prefix) = kept {
        drop(log_file);
        replace_log(&paths.log, &prefix)?;
        lock_exclusive(&paths.log).map_err(io_err(&paths.log))?
    } else {
        if file_len != scan.valid_end {
            log_file
                .set_len(scan.valid_end as u64)
                .map_err(io_err(&paths.log))?;
        }
        log_file
    };
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
            splits: Vec::new(),
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

/// Replaces the log at `path` by a new file holding `prefix`: written to the `.truncating`
/// name (which an open removes if a crash leaves it), synced, renamed over the log, and the
/// directory synced.
fn replace_log(path: &std::path::Path, prefix: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(crate::segment::rewrite::TRUNCATING_SUFFIX);
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(prefix).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    match path.parent() {
        Some(dir) => fsutil::sync_dir(dir),
        None => Ok(()),
    }
}
