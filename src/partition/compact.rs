//! Log compaction: keep the latest record per key in the sealed segments.
//!
//! A pass has two phases. The *map* phase reads the dirty sealed segments (those not yet
//! mapped by an earlier pass of this instance) in offset order and records, per key, the
//! offset of its latest record in a map of 128-bit key hashes, bounded by
//! `StoreOptions::compaction_max_keys`; when the map is full the pass covers only the
//! segments before the one where it filled, and the next pass continues. The *rewrite* phase
//! goes over every sealed segment before that point and rewrites each one that holds a
//! superseded record or an expired tombstone.
//!
//! A rewritten segment keeps its base and next offset, and its batches still tile its offsets
//! exactly: removed records leave offset gaps inside batches, a run of batches that lost
//! every record is folded into the next batch's range, and a segment left with no record is a
//! single empty batch. Offsets never change. The active segment is never touched.
//!
//! Expired tombstones. A tombstone is dropped by the first pass after it has expired, also
//! when no new keyed data arrived since the last pass (then the map is empty and the pass
//! only rewrites segments holding expired tombstones). Each pass that completes records when
//! the first tombstone it kept will expire (`Inner::tombstones_due`): a pass with nothing new
//! to map returns at once before then, and under a compacting policy the flusher wakes at
//! that moment to run a pass (`Inner::tombstones_due_at`).
//!
//! Swap protocol (Kafka's): the new `.log`, `.index` and `.timeindex` are written as
//! `<name>.cleaned` and synced; each is renamed to `<name>.swap`; the directory is synced
//! (from here the swap is decided); each `.swap` is renamed over its live file (indexes
//! first, the log last) and the directory synced. On open, `.cleaned` files are removed (the
//! old segment is intact) and `.swap` files are renamed into place (finishing the swap).
//! Readers holding records of the old files keep valid views: renaming never shrinks a mapped
//! file.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Inner;
use crate::codec::batch::{self, BatchHeader, HeaderIter, RecordIter};
use crate::codec::record::{Header, NewRecord};
use crate::error::{Corruption, Error, Result, io_err};
use crate::fsutil;
use crate::segment::core::{SegmentCore, decode_error, shift};
use crate::segment::now_ms;
use crate::segment::open::open_sealed;
use crate::segment::scan::scan;

/// Suffix of a compacted file being written.
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a compacted file whose swap is decided.
pub(crate) const SWAP_SUFFIX: &str = ".swap";
/// `tombstones_due` when the last pass kept no tombstone.
pub(crate) const NO_TOMBSTONE: i64 = i64::MAX;
/// `tombstones_due` after a failed pass: the next explicit pass scans every sealed segment,
/// and the flusher sets no timer (a pass that fails again would otherwise run at every wake).
pub(crate) const UNKNOWN: i64 = i64::MIN;

/// What a compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Segments rewritten.
    pub segments_rewritten: usize,
    /// Records removed (superseded or expired tombstones).
    pub records_removed: u64,
    /// Of those, tombstones dropped after `delete_retention_ms`.
    pub tombstones_removed: u64,
    /// Bytes of `.log` reclaimed.
    pub bytes_reclaimed: u64,
    /// The key map filled up: part of the dirty data was left for the next pass.
    pub map_full: bool,
}

impl CompactionReport {
    /// Adds another report's counts to this one.
    pub fn merge(&mut self, other: CompactionReport) {
        self.segments_rewritten += other.segments_rewritten;
        self.records_removed += other.records_removed;
        self.tombstones_removed += other.tombstones_removed;
        self.bytes_reclaimed += other.bytes_reclaimed;
        self.map_full |= other.map_full;
    }
}

/// A 128-bit digest of a key (two independent `SipHash` passes): collisions are negligible,
/// and the map needs 24 bytes per key, as Kafka's does.
fn key_hash(key: &[u8]) -> u128 {
    let mut a = DefaultHasher::new();
    key.hash(&mut a);
    let mut b = DefaultHasher::new();
    0x5eed_u32.hash(&mut b);
    key.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// Calls `f` for every record of a segment, checking every batch's CRC whatever the topic's
/// read setting: compaction must never copy damaged data into a freshly checksummed batch.
fn for_each_batch(
    seg: &SegmentCore,
    mut f: impl FnMut(&BatchHeader, &[u8]) -> Result<()>,
) -> Result<()> {
    let log = seg.log.prefix();
    let mut at = seg.locate(seg.base)?;
    let mut covered = seg.base;
    while let Some(loc) = at {
        let bytes = seg.batch_bytes_unchecked(&loc)?;
        crate::segment::core::check_batch_crc(&seg.paths.log, loc.position, bytes)?;
        f(&loc.header, bytes)?;
        covered = loc.header.next_offset();
        at = seg.next_batch(log, &loc)?;
    }
    // Batches tile a sealed segment's offsets: a log that ends before its next offset was
    // cut short, and a rewrite would turn the missing records into a gap.
    if covered != seg.next_offset() {
        return Err(Error::corrupt(
            &seg.paths.log,
            log.len() as u64,
            Corruption::CutShort { offset: covered },
        ));
    }
    Ok(())
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Inner {
    /// One compaction pass over the sealed segments. After a failure, when tombstones expire
    /// is unknown.
    pub(crate) fn compact(&self) -> Result<CompactionReport> {
        let result = self.compact_pass();
        if result.is_err() {
            self.maintenance
                .tombstones_due
                .store(UNKNOWN, Ordering::Release);
        }
        result
    }

    /// When the first tombstone kept by the last pass expires, if the background must run a
    /// pass for it: the topic compacts, the partition is open and a pass kept one.
    pub(crate) fn tombstones_due_at(&self) -> Option<i64> {
        let due = self.maintenance.tombstones_due.load(Ordering::Acquire);
        (self.config.cleanup_policy.compacts()
            && self.lifecycle.is_open()
            && due != NO_TOMBSTONE
            && due != UNKNOWN)
            .then_some(due)
    }

    fn compact_pass(&self) -> Result<CompactionReport> {
        let _pass = self.maintenance.one_pass();
        let mut report = CompactionReport::default();
        if !self.lifecycle.is_open() {
            return Ok(report);
        }
        let segs = self.log.segments();
        let Some((_, sealed)) = segs.split_last() else {
            return Ok(report);
        };
        // Map phase.
        // At least 1: `Store::open_with` validated the options.
        let max_keys = self.env.shared.options.compaction_max_keys;
        let mapped_to = self.maintenance.compacted_to.load(Ordering::Acquire);
        let mut map: HashMap<u128, u64> = HashMap::new();
        let mut end = sealed.last().map_or(0, |s| s.next_offset());
        'map: for seg in sealed.iter().filter(|s| s.next_offset() > mapped_to) {
            let mut full = false;
            for_each_batch(seg, |h, bytes| {
                for r in RecordIter::new(bytes, h) {
                    let r = r.map_err(|e| seg.corrupt(0, e))?;
                    if let Some(k) = r.key {
                        let h2 = key_hash(k);
                        if !map.contains_key(&h2) && map.len() >= max_keys {
                            full = true;
                            return Ok(());
                        }
                        map.insert(h2, h.base_offset + u64::from(r.offset_delta));
                    }
                }
                Ok(())
            })?;
            if full {
                report.map_full = true;
                end = seg.base;
                break 'map;
            }
        }
        let now = now_ms();
        if map.is_empty() && self.maintenance.tombstones_due.load(Ordering::Acquire) > now {
            // No keyed record in the dirty segments (so nothing superseded, no tombstone
            // there), and no tombstone of the clean ones has expired: nothing to rewrite.
            self.maintenance
                .compacted_to
                .fetch_max(end, Ordering::AcqRel);
            return Ok(report);
        }
        // Rewrite phase.
        let keep_tombstones = i64::try_from(self.config.delete_retention_ms).unwrap_or(i64::MAX);
        let mut due = NO_TOMBSTONE;
        for seg in sealed.iter().filter(|s| s.next_offset() <= end) {
            if let Some((bytes, removed, tombstones)) =
                Self::rewrite(seg, &map, now, keep_tombstones, &mut due)?
            {
                let before = seg.size();
                let new = self.swap_in(seg, &bytes)?;
                report.segments_rewritten += 1;
                report.records_removed += removed;
                report.tombstones_removed += tombstones;
                report.bytes_reclaimed += before.saturating_sub(new.size());
            }
        }
        self.maintenance
            .compacted_to
            .fetch_max(end, Ordering::AcqRel);
        self.maintenance
            .tombstones_due
            .store(due, Ordering::Release);
        if due != NO_TOMBSTONE
            && let Some(f) = &self.env.flusher
        {
            // Its timer may need to come forward.
            f.note_deadline();
        }
        Ok(report)
    }

    /// The compacted contents of `seg` with the number of records and tombstones removed,
    /// or `None` if nothing in it would change. Lowers `due` to the moment the first
    /// tombstone it keeps expires.
    fn rewrite(
        seg: &SegmentCore,
        map: &HashMap<u128, u64>,
        now: i64,
        keep_tombstones: i64,
        due: &mut i64,
    ) -> Result<Option<(Vec<u8>, u64, u64)>> {
        let (mut removed, mut tombstones) = (0u64, 0u64);
        let mut out = Vec::new();
        // Where the next output batch starts: right after the previous one's range.
        let mut next_base = seg.base;
        // The last output batch, kept open so that trailing emptied batches fold into it.
        let mut pending: Option<OutBatch> = None;
        for_each_batch(seg, |h, bytes| {
            let mut kept = Vec::new();
            for r in RecordIter::new(bytes, h) {
                let r = r.map_err(|e| seg.corrupt(0, shift(e, 0)))?;
                let offset = h.base_offset + u64::from(r.offset_delta);
                let latest = r
                    .key
                    .is_none_or(|k| map.get(&key_hash(k)).is_none_or(|&o| o <= offset));
                let expired =
                    r.value.is_none() && now.saturating_sub(r.timestamp) > keep_tombstones;
                if latest && !expired {
                    if r.value.is_none() {
                        // It expires once `now - timestamp` exceeds the retention.
                        let expiry = r.timestamp.saturating_add(keep_tombstones);
                        *due = (*due).min(expiry.saturating_add(1));
                    }
                    kept.push((offset, OwnedRecord::from_raw(&r, &seg.paths.log)?));
                } else {
                    removed += 1;
                    tombstones += u64::from(latest && expired);
                }
            }
            if !kept.is_empty() {
                if let Some(done) = pending.take() {
                    done.encode_into(&mut out, &seg.paths.log)?;
                }
                pending = Some(OutBatch {
                    base: next_base,
                    last: h.last_offset(),
                    records: kept,
                });
                next_base = h.next_offset();
            }
            Ok(())
        })?;
        if removed == 0 {
            return Ok(None);
        }
        let seg_last = seg.next_offset() - 1;
        let last = pending.unwrap_or(OutBatch {
            base: seg.base,
            last: seg_last,
            records: Vec::new(),
        });
        OutBatch {
            last: seg_last,
            ..last
        }
        .encode_into(&mut out, &seg.paths.log)?;
        Ok(Some((out, removed, tombstones)))
    }

    /// Replaces `seg`'s files with the compacted `log` (swap protocol in the module docs)
    /// and the segment in the list with the new one.
    fn swap_in(&self, seg: &Arc<SegmentCore>, log: &[u8]) -> Result<Arc<SegmentCore>> {
        let paths = &seg.paths;
        let mut s = scan(log, seg.base, &self.limits);
        if s.valid_end != log.len() || s.next_offset != seg.next_offset() {
            return Err(Error::Corrupt {
                path: paths.log.clone(),
                position: s.valid_end as u64,
                reason: Corruption::Inconsistent {
                    what: "compacted segment does not re-read as written",
                },
            });
        }
        s.add_seal_entry(seg.base, &self.limits);
        let (index, time) = s.encoded_indexes();
        let files = [
            (&paths.index, &index[..]),
            (&paths.time, &time[..]),
            (&paths.log, log),
        ];
        for (p, bytes) in files {
            let cleaned = with_suffix(p, CLEANED_SUFFIX);
            write_synced(&cleaned, bytes)?;
        }
        crate::failpoint::hit(crate::failpoint::Failpoint::CompactAfterCleaned);
        for (p, _) in files {
            let (cleaned, swap) = (with_suffix(p, CLEANED_SUFFIX), with_suffix(p, SWAP_SUFFIX));
            std::fs::rename(&cleaned, &swap).map_err(io_err(&swap))?;
            crate::failpoint::hit(crate::failpoint::Failpoint::CompactAfterFirstSwapRename);
        }
        fsutil::sync_dir(&self.dir)?; // the swap is decided
        crate::failpoint::hit(crate::failpoint::Failpoint::CompactSwapDecided);
        // Readers of other processes do not list the files while they change.
        let _change = self.log.change();
        for (p, _) in files {
            std::fs::rename(with_suffix(p, SWAP_SUFFIX), p).map_err(io_err(p))?;
            crate::failpoint::hit(crate::failpoint::Failpoint::CompactAfterFirstLiveRename);
        }
        fsutil::sync_dir(&self.dir)?;
        let new = Arc::new(open_sealed(
            paths.clone(),
            seg.base,
            seg.next_offset(),
            &self.limits,
            self.config.verify_checksums,
        )?);
        self.log.replace_segments(|list| {
            list.iter()
                .map(|s| {
                    if Arc::ptr_eq(s, seg) {
                        Arc::clone(&new)
                    } else {
                        Arc::clone(s)
                    }
                })
                .collect()
        });
        Ok(new)
    }

    /// Sealed bytes not yet covered by a compaction pass of this instance, and all sealed
    /// bytes: the background compacts when at least half are dirty.
    pub(crate) fn dirty_ratio_reached(&self) -> bool {
        let segs = self.log.segments();
        let Some((_, sealed)) = segs.split_last() else {
            return false;
        };
        let done = self.maintenance.compacted_to.load(Ordering::Acquire);
        let total: u64 = sealed.iter().map(|s| s.size()).sum();
        let dirty: u64 = sealed
            .iter()
            .filter(|s| s.next_offset() > done)
            .map(|s| s.size())
            .sum();
        total > 0 && dirty * 2 >= total
    }
}

/// An output batch being assembled: it covers `[base, last]`.
struct OutBatch {
    base: u64,
    last: u64,
    records: Vec<(u64, OwnedRecord)>,
}

impl OutBatch {
    /// Appends the encoded batch to `out`; `log` is the segment being compacted.
    fn encode_into(&self, out: &mut Vec<u8>, log: &Path) -> Result<()> {
        let headers: Vec<Vec<Header<'_>>> = self
            .records
            .iter()
            .map(|(_, r)| {
                r.headers
                    .iter()
                    .map(|(k, v)| Header { key: k, value: v })
                    .collect()
            })
            .collect();
        // A subset of one stored batch's records, so it fits unless pagelog has a bug.
        let inconsistent = || {
            Error::corrupt(
                log,
                0,
                Corruption::Inconsistent {
                    what: "a compacted batch does not fit the batch format",
                },
            )
        };
        let last_delta = u32::try_from(self.last - self.base).map_err(|_| inconsistent())?;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "base <= offset <= last, and last - base fits u32 (checked above)"
        )]
        let placed: Vec<(u32, NewRecord<'_>)> = self
            .records
            .iter()
            .zip(&headers)
            .map(|((offset, r), hs)| {
                let rec = NewRecord {
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                    timestamp: Some(r.timestamp),
                    headers: hs,
                };
                ((offset - self.base) as u32, rec)
            })
            .collect();
        let plan = batch::measure_placed(&placed, 0).ok_or_else(inconsistent)?;
        let start = out.len();
        out.resize(start + plan.len, 0);
        batch::encode_placed(&mut out[start..], self.base, last_delta, &placed, &plan, 0);
        Ok(())
    }
}

/// A record copied out of a batch.
struct OwnedRecord {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
    headers: Vec<(String, Vec<u8>)>,
}

impl OwnedRecord {
    fn from_raw(r: &batch::RawRecord<'_>, path: &Path) -> Result<Self> {
        let headers = HeaderIter::new(r.headers, r.header_count)
            .map(|h| h.map(|(k, v)| (k.to_owned(), v.to_vec())))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| decode_error(path, 0, e))?;
        Ok(Self {
            key: r.key.map(<[u8]>::to_vec),
            value: r.value.map(<[u8]>::to_vec),
            timestamp: r.timestamp,
            headers,
        })
    }
}

/// Writes `bytes` to a new file at `path` and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}
