//! The mappings of a segment's three files: making a segment's shared core from them, and
//! writing an index file from its entries.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};

use crate::codec::index::{OFFSET_ENTRY_LEN, TIME_ENTRY_LEN};
use crate::error::{Corruption, Error, Result, io_err};
use crate::mmap::{MapRef, MapWriter, Mapping};
use crate::num::usize_from;
use crate::segment::core::SegmentCore;
use crate::segment::files::SegmentPaths;

/// Reads a whole file through a temporary read-only mapping.
pub(crate) fn with_file_bytes<T>(path: &Path, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
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
/// Only the entries' pages are reserved now (the old file's blocks are freed first), so a
/// rebuild needs about the space the old file had; the rest of the capacity is reserved
/// when an append first needs it, where a full disk fails that append, not an open.
pub(crate) fn rewrite_index(path: &Path, capacity: usize, entries: &[u8]) -> Result<MapWriter> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    let cap = capacity.max(entries.len());
    let mut w = MapWriter::create(path, cap, 0).map_err(io_err(path))?;
    if !entries.is_empty() {
        w.tail_mut(entries.len())
            .map_err(io_err(path))?
            .ok_or_else(|| io_err(path)(io::Error::other("index larger than its capacity")))?
            .copy_from_slice(entries);
        w.publish(entries.len());
    }
    w.set_chunk(super::writer::INDEX_RESERVE_CHUNK);
    Ok(w)
}

/// The shared mappings of a segment's three writers.
pub(crate) fn writer_maps(writers: [&MapWriter; 3]) -> [MapRef; 3] {
    writers.map(|w| w.mapping().clone())
}

pub(crate) fn new_core(
    base: u64,
    paths: SegmentPaths,
    maps: [MapRef; 3],
    next_offset: u64,
    max_timestamp: i64,
    verify_checksums: bool,
) -> SegmentCore {
    let [log, index, time] = maps;
    // Lookups fault in single pages; iterators read ahead explicitly (`Records`). Index
    // lookups are binary searches: the default read-around (`read_ahead_kb`, up to MiBs)
    // would make a lookup in a cold index wait for the whole file.
    for map in [&log, &index, &time] {
        map.advise_random();
    }
    SegmentCore {
        base,
        paths,
        log,
        index,
        time,
        next_offset: AtomicU64::new(next_offset),
        max_timestamp: AtomicI64::new(max_timestamp),
        max_ts_walk_from: AtomicU64::new(super::core::NO_WALK),
        index_damaged: AtomicBool::new(false),
        verify_checksums,
        large_batches: AtomicBool::new(false),
        unlike_batches: AtomicBool::new(false),
    }
}

/// Maps a sealed segment's indexes read-only and makes its core, with its log already mapped
/// (under the shared lock, [`Mapping::map_shared`]) and a known state.
pub(crate) fn open_mappings(
    paths: SegmentPaths,
    base: u64,
    log: MapRef,
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
pub(crate) fn map_entries(path: &Path, entry_len: usize) -> Result<MapRef> {
    let len = usize_from(fs::metadata(path).map_err(io_err(path))?.len());
    Mapping::open_read_only(path, len - len % entry_len).map_err(io_err(path))
}
