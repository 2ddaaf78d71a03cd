//! The shared, read-only side of a segment: lookups and reads over its mapped files.
//!
//! Readers take no lock. They see a segment through the published watermarks of its three
//! mappings and two atomics, all written by the single writer with release stores in this
//! order: log bytes, `next_offset`/`max_timestamp`, index entries. A reader that loads the
//! index watermark first therefore never meets an index entry pointing past the log it sees.
#![warn(clippy::indexing_slicing)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use crate::codec::batch::{self, BatchHeader};
use crate::codec::index::{OFFSET_ENTRY_LEN, OffsetEntry, TIME_ENTRY_LEN, TimeEntry};
use crate::codec::{Corruption, DecodeError, le_u32, le_u64};
use crate::error::{Error, Result};
use crate::mmap::{MapRef, PAGE_SIZE, prefetch};
use crate::segment::files::SegmentPaths;

/// Shared state of one segment.
#[derive(Debug)]
pub struct SegmentCore {
    pub(crate) base: u64,
    pub(crate) paths: SegmentPaths,
    pub(crate) log: MapRef,
    pub(crate) index: MapRef,
    pub(crate) time: MapRef,
    /// Offset after the last committed batch.
    pub(crate) next_offset: AtomicU64,
    /// Largest committed record timestamp, `i64::MIN` while empty.
    pub(crate) max_timestamp: AtomicI64,
    /// For a sealed segment whose time index does not cover its last offset: the offset from
    /// which its batch headers may still hold a larger timestamp than `max_timestamp`. They
    /// are read on the first use of the timestamp ([`Self::max_timestamp`]), not at open,
    /// where the walk would fault in the pages of every such segment's tail. [`NO_WALK`]
    /// otherwise.
    pub(crate) max_ts_walk_from: AtomicU64,
    /// Set once an index entry failed its CRC: lookups then scan the log from the start.
    pub(crate) index_damaged: AtomicBool,
    /// Check batch CRCs on read.
    pub(crate) verify_checksums: bool,
    /// Set once a point read found a batch spanning several pages: such reads then time
    /// their lookup to tell a cold file from a warm one (`segment::read_at`).
    pub(crate) large_batches: AtomicBool,
    /// Set while the last lookup found its batch far from where the segment's average
    /// batch predicted: lookups then leave out the prefetch there (`SegmentCore::locate`).
    pub(crate) unlike_batches: AtomicBool,
}

/// `SegmentCore::max_ts_walk_from` when no header needs reading.
pub(crate) const NO_WALK: u64 = u64::MAX;

/// A batch located in a segment's log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Located {
    pub position: usize,
    pub header: BatchHeader,
}

impl SegmentCore {
    /// Offset after the last committed record.
    pub fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// Largest committed timestamp, `None` while empty. The first call on a sealed segment
    /// whose time index does not cover its last offset reads the batch headers after the
    /// index's last entry.
    pub fn max_timestamp(&self) -> Option<i64> {
        let ts = self.max_timestamp_raw();
        (ts != i64::MIN || self.next_offset() > self.base).then_some(ts)
    }

    /// Largest committed timestamp as stored, `i64::MIN` while empty (settled first, as in
    /// [`Self::max_timestamp`]).
    pub(crate) fn max_timestamp_raw(&self) -> i64 {
        let from = self.max_ts_walk_from.load(Ordering::Acquire);
        if from != NO_WALK {
            // Several threads may walk at once: each raises the maximum to the same value.
            self.max_timestamp
                .fetch_max(self.headers_max_timestamp(from), Ordering::AcqRel);
            self.max_ts_walk_from.store(NO_WALK, Ordering::Release);
        }
        self.max_timestamp.load(Ordering::Acquire)
    }

    /// Largest `max_timestamp` over the batch headers from the batch holding `from` to the
    /// end of the log (stops at the first damaged header).
    fn headers_max_timestamp(&self, from: u64) -> i64 {
        let mut max = i64::MIN;
        let Ok(Some(first)) = self.locate(from) else {
            return max;
        };
        let log = self.log.prefix();
        let mut pos = first.position;
        while let Ok(h) = self.header_at(log, pos) {
            max = max.max(h.max_timestamp);
            pos += h.length as usize;
        }
        max
    }

    /// Committed bytes of the `.log`.
    pub fn size(&self) -> u64 {
        self.log.published() as u64
    }

    pub(crate) fn corrupt(&self, position: usize, e: DecodeError) -> Error {
        decode_error(&self.paths.log, position, e)
    }

    /// Decodes and bounds-checks the batch header at `position` of `log`.
    #[inline]
    pub(crate) fn header_at(&self, log: &[u8], position: usize) -> Result<BatchHeader> {
        match valid_header(log, position) {
            Some(h) => Ok(h),
            // Built out of line: the common path stays small enough to keep in registers.
            None => Err(self.header_failure(log, position)),
        }
    }

    /// The error for the header at `position`, which [`valid_header`] refused: how it fails
    /// to parse, or (it parsed but is longer than the log) a batch that extends past the end.
    #[cold]
    #[inline(never)]
    fn header_failure(&self, log: &[u8], position: usize) -> Error {
        match BatchHeader::parse(log.get(position..).unwrap_or_default()) {
            Err(e) => self.corrupt(position, shift(e, position)),
            Ok(_) => self.corrupt(
                position,
                DecodeError::Truncated {
                    at: position + batch::field::LENGTH,
                    what: "batch: it extends past the end of the log",
                },
            ),
        }
    }

    /// Checks the CRC of the located batch (when configured) and returns its bytes.
    pub(crate) fn batch_bytes(&self, at: &Located) -> Result<&[u8]> {
        let bytes = self.batch_bytes_unchecked(at)?;
        if self.verify_checksums {
            check_batch_crc(&self.paths.log, at.position, bytes)?;
        }
        Ok(bytes)
    }

    /// The bytes of a located batch whose CRC was already checked.
    pub(crate) fn batch_bytes_unchecked(&self, at: &Located) -> Result<&[u8]> {
        // `at` was found in an earlier view of the log, which the current one contains.
        let end = at.position + at.header.length as usize;
        self.log.get(at.position, end).ok_or_else(|| {
            self.corrupt(
                at.position,
                DecodeError::Truncated {
                    at: end,
                    what: "batch",
                },
            )
        })
    }

    /// Binary search of the offset index: position of the batch with the largest indexed
    /// base offset `<= target`, validated; 0 when there is none or the index is damaged.
    fn index_floor(&self, entries: &[u8], log: &[u8], target: u64) -> (usize, u64) {
        let rel = u32::try_from(target - self.base).unwrap_or(u32::MAX);
        let guess = self.share(rel, entries.len() / OFFSET_ENTRY_LEN);
        self.index_floor_near(entries, log, target, guess)
    }

    /// [`index_floor`](Self::index_floor), its search starting at entry `guess`.
    fn index_floor_near(
        &self,
        entries: &[u8],
        log: &[u8],
        target: u64,
        guess: usize,
    ) -> (usize, u64) {
        let none = (0, self.base);
        if self.index_damaged.load(Ordering::Relaxed) {
            return none;
        }
        let (slots, _) = entries.as_chunks::<OFFSET_ENTRY_LEN>();
        let n = slots.len();
        let rel = u32::try_from(target - self.base).unwrap_or(u32::MAX);
        #[expect(
            clippy::indexing_slicing,
            reason = "i < n = slots.len(): partition_point_near probes only 0..n, and lo - 1 < n"
        )]
        let slot = |i: usize| &slots[i];
        // Search on the raw relative offsets and check only the entry chosen: a damaged
        // probe can only steer the search to another entry, which is then checked like any
        // (its CRC, and the batch it points at), so correctness never rests on the probes.
        // Entries are about evenly spread over the segment's offsets, so the search starts
        // where the target's share of them predicts (`guess`) and gallops from there: one
        // cache miss in the index instead of a dozen for a binary search from the middle.
        let lo = partition_point_near(n, guess, |i| crate::codec::le_u32(slot(i), 0) <= rel);
        if lo == 0 {
            return none;
        }
        let e = match OffsetEntry::decode(slot(lo - 1)) {
            Ok(e) if e.relative_offset <= rel => e,
            _ => {
                self.index_damaged.store(true, Ordering::Relaxed);
                return none;
            }
        };
        let pos = e.position as usize;
        // The walk from here to the target reads batch headers one after another, each load
        // waiting for the length before it: ask for the whole stretch up to the next entry
        // (where the target lies) at once instead. Raw field: only a hint, bounded below.
        // Batches between two entries are about alike, so the target's share of the offsets
        // between them predicts where it lies: warm up to there and one line past it.
        let next_entry = slots.get(lo).map(|s| (le_u32(s, 0), le_u32(s, 4) as usize));
        let end = next_entry.map_or(pos + WARM_MAX, |(next_rel, next_pos)| {
            let (span, ahead) = (
                u64::from(next_rel.saturating_sub(e.relative_offset)).max(1),
                u64::from(rel - e.relative_offset) + 1,
            );
            let bytes = next_pos.saturating_sub(pos) as u64;
            pos + usize::try_from(bytes.saturating_mul(ahead.min(span)) / span).unwrap_or(WARM_MAX)
                + 64
        });
        let end = end.min(pos + WARM_MAX);
        if self.log.is_cold() {
            // The walk, then the target's batch, would fault their pages in one synchronous
            // disk read after another: ask for them in one go, and for the next batch's
            // header (the target may straddle a page). Entries more than a page apart mean
            // batches of a page or more, each with its own entry: then ask for everything up
            // to the next entry, the whole batch the target lies in. Raw field: only a hint,
            // bounded.
            let upto = match next_entry {
                Some((_, next_pos)) if next_pos > pos + PAGE_SIZE => {
                    next_pos.min(pos + COLD_READ_MAX).max(end)
                }
                _ => end,
            };
            self.log.will_need(pos, upto + COLD_READ_PAST - pos);
        }
        warm(log, pos, end);
        let want = self.base + u64::from(e.relative_offset);
        // The entry must point at a batch that starts with exactly its offset.
        match valid_header(log, pos) {
            Some(h) if h.base_offset == want => (pos, want),
            _ => {
                self.index_damaged.store(true, Ordering::Relaxed);
                none
            }
        }
    }

    /// Where `rel`, an offset relative to the base, falls in `0..n` if `n` things (index
    /// entries, bytes of log) are spread evenly over the segment's offsets.
    #[inline]
    fn share(&self, rel: u32, n: usize) -> usize {
        let span = self.next_offset().saturating_sub(self.base).max(1);
        // rel <= u32::MAX and n (index slots, log bytes) <= MAX_SEGMENT_BYTES = u32::MAX,
        // so the product fits; the quotient is at most n.
        usize::try_from(u64::from(rel).saturating_mul(n as u64) / span).unwrap_or(n)
    }

    /// Finds the batch holding `target` (or, inside an offset gap, the first batch after
    /// it). `Ok(None)` when `target` is at or past the committed end.
    pub(crate) fn locate(&self, target: u64) -> Result<Option<Located>> {
        // Index first, then log: every visible index entry points into the visible log.
        let entries = self.index.prefix();
        let log = self.log.prefix();
        if target < self.base {
            return self.first_batch(log);
        }
        // A lookup waits for memory twice, one wait after the other: the index entry, then
        // the log where it points. When the segment's batches are about alike, the target's
        // share of the offsets predicts both places: ask for them now, so that the two waits
        // overlap (the index entry the search reads first, and the log at and before the
        // predicted batch, back to where the entry lies at the default index interval).
        let rel = u32::try_from(target - self.base).unwrap_or(u32::MAX);
        let guess = self.share(rel, entries.len() / OFFSET_ENTRY_LEN);
        let estimate = self.share(rel, log.len());
        if !self.unlike_batches.load(Ordering::Relaxed) {
            prefetch(entries, guess * OFFSET_ENTRY_LEN);
            for back in PREFETCH_BACK {
                prefetch(log, estimate.saturating_sub(back));
            }
        }
        let found = self.walk_to(entries, log, target, guess)?;
        if let Some(at) = &found {
            let unlike = at.position.abs_diff(estimate) > PREDICTED_NEAR;
            if self.unlike_batches.load(Ordering::Relaxed) != unlike {
                self.unlike_batches.store(unlike, Ordering::Relaxed);
            }
        }
        Ok(found)
    }

    /// From the index entry at or before `target` (searched from entry `guess`), the walk
    /// over batch headers to the batch holding it.
    #[inline]
    fn walk_to(
        &self,
        entries: &[u8],
        log: &[u8],
        target: u64,
        guess: usize,
    ) -> Result<Option<Located>> {
        let (mut pos, mut expected) = self.index_floor_near(entries, log, target, guess);
        while let Some((next_pos, next_offset)) = hop(log, pos, expected, target) {
            pos = next_pos;
            expected = next_offset;
        }
        while pos < log.len() {
            let header = self.header_at(log, pos)?;
            if header.base_offset != expected {
                return Err(self.corrupt(
                    pos,
                    DecodeError::Invalid {
                        at: pos + batch::field::BASE_OFFSET,
                        reason: Corruption::OffsetOrder {
                            what: "batch base offset does not follow the previous batch",
                        },
                    },
                ));
            }
            if header.last_offset() >= target {
                return Ok(Some(Located {
                    position: pos,
                    header,
                }));
            }
            pos += header.length as usize;
            expected = header.next_offset();
        }
        Ok(None)
    }

    fn first_batch(&self, log: &[u8]) -> Result<Option<Located>> {
        if log.is_empty() {
            return Ok(None);
        }
        let header = self.header_at(log, 0)?;
        Ok(Some(Located {
            position: 0,
            header,
        }))
    }

    /// Base offset of the first batch after offset `after` that the offset index points at
    /// and whose header checks out: where to resume reading past damaged bytes.
    pub(crate) fn next_indexed_batch(&self, after: u64) -> Option<u64> {
        let entries = self.index.prefix();
        let log = self.log.prefix();
        entries
            .chunks_exact(OFFSET_ENTRY_LEN)
            .filter_map(|e| OffsetEntry::decode(e).ok())
            .map(|e| {
                (
                    self.base + u64::from(e.relative_offset),
                    e.position as usize,
                )
            })
            .filter(|&(offset, _)| offset > after)
            .find(|&(offset, pos)| valid_header(log, pos).is_some_and(|h| h.base_offset == offset))
            .map(|(offset, _)| offset)
    }

    /// The next batch after `at`, if committed.
    #[expect(
        clippy::inline_always,
        reason = "the step of every scan to its next batch: not inlined, its result travels \
                  through memory and the caller's reload of the header stalls on store \
                  forwarding, once per batch"
    )]
    #[inline(always)]
    pub(crate) fn next_batch(&self, log: &[u8], at: &Located) -> Result<Option<Located>> {
        let pos = at.position + at.header.length as usize;
        if pos >= log.len() {
            return Ok(None);
        }
        // The header travels in registers on the common path: the error path is built apart,
        // so no `Result` slot shared with it forces the header through the stack (a
        // store-forwarding stall per batch when scanning single-record batches).
        let Some(header) = valid_header(log, pos) else {
            return Err(self.header_failure(log, pos));
        };
        if header.base_offset != at.header.next_offset() {
            return Err(self.corrupt(
                pos,
                DecodeError::Invalid {
                    at: pos + batch::field::BASE_OFFSET,
                    reason: Corruption::OffsetOrder {
                        what: "batch base offset does not follow the previous batch",
                    },
                },
            ));
        }
        Ok(Some(Located {
            position: pos,
            header,
        }))
    }

    /// The smallest offset whose record has a timestamp `>= ts`, if the segment holds one.
    pub(crate) fn offset_for_timestamp(&self, ts: i64) -> Result<Option<u64>> {
        match self.max_timestamp() {
            Some(max) if max >= ts => {}
            _ => return Ok(None),
        }
        // Loaded before the log: every batch below it is in the log read below.
        let end = self.next_offset();
        let start = self.time_floor(ts);
        let mut covered = start;
        let mut at = self.locate(start)?;
        while let Some(loc) = at {
            covered = loc.header.next_offset();
            // Every batch walked is checked, not only the one holding the answer: a damaged
            // `max_timestamp` would otherwise make the walk pass the record looked for.
            let bytes = self.batch_bytes(&loc)?;
            if loc.header.max_timestamp >= ts {
                for r in batch::RecordIter::new(bytes, &loc.header) {
                    let r = r.map_err(|e| self.corrupt(loc.position, shift(e, loc.position)))?;
                    if r.timestamp >= ts {
                        return Ok(Some(loc.header.base_offset + u64::from(r.offset_delta)));
                    }
                }
            }
            at = self.next_batch(self.log.prefix(), &loc)?;
        }
        // Batches tile a segment's offsets: a log that ends before them was cut short from
        // outside, and the record looked for may have been in the missing part.
        if covered < end {
            return Err(Error::corrupt(
                &self.paths.log,
                self.log.published() as u64,
                Corruption::CutShort { offset: covered },
            ));
        }
        Ok(None)
    }

    /// Offset to start a timestamp scan from: after the last time-index entry whose timestamp
    /// is below `ts` (every record up to it is older), else the segment base.
    fn time_floor(&self, ts: i64) -> u64 {
        if self.index_damaged.load(Ordering::Relaxed) {
            return self.base;
        }
        let (slots, _) = self.time.prefix().as_chunks::<TIME_ENTRY_LEN>();
        let (mut lo, mut hi) = (0usize, slots.len());
        let mut best = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            #[expect(
                clippy::indexing_slicing,
                reason = "lo < hi <= slots.len(), so mid < slots.len()"
            )]
            let slot = &slots[mid];
            match TimeEntry::decode(slot) {
                Ok(e) if e.timestamp < ts => {
                    best = Some(e);
                    lo = mid + 1;
                }
                Ok(_) => hi = mid,
                Err(_) => {
                    self.index_damaged.store(true, Ordering::Relaxed);
                    return self.base;
                }
            }
        }
        let floor = best.map_or(self.base, |e| {
            (self.base + u64::from(e.relative_offset))
                .saturating_add(1)
                .min(self.next_offset())
        });
        // `lo` is the first entry whose timestamp reaches `ts`, if there is one.
        self.index_point_before_time_entry(slots, lo)
            .map_or(floor, |p| floor.max(p))
    }

    /// A tighter start for a timestamp scan than the time entry below it, from time entry
    /// `k`, the first whose timestamp reaches the target (FORMAT.md 6.2). Time entries are
    /// written at offset-index points whenever the running maximum grew, as long as the time
    /// index has room for a regular entry; so if it had room when entry `k` was written, no
    /// index point between entry `k - 1` and entry `k` raised the maximum, and every record up
    /// to the last index point before entry `k`'s batch is older than the target. Returns that
    /// index point's base offset (an offset-index entry checked as lookups check them), `None`
    /// where the rule does not apply. Without it a scan would walk every batch since the
    /// entry below, which is every record of a millisecond when many share it.
    fn index_point_before_time_entry(
        &self,
        slots: &[[u8; TIME_ENTRY_LEN]],
        k: usize,
    ) -> Option<u64> {
        let entry = TimeEntry::decode(slots.get(k)?).ok()?;
        // Room for `k` as a regular entry: it and the slot kept for the seal entry fit.
        if (k + 2) * TIME_ENTRY_LEN > self.time.capacity() {
            return None;
        }
        let upper = self.base + u64::from(entry.relative_offset);
        let entries = self.index.prefix();
        let log = self.log.prefix();
        let (pos, at) = self.index_floor(entries, log, upper);
        if valid_header(log, pos).is_some_and(|h| h.last_offset() < upper) {
            return Some(at);
        }
        // That index point is entry `k`'s own batch: the one before it.
        let before = at.checked_sub(1).filter(|&b| b >= self.base)?;
        Some(self.index_floor(entries, log, before).1)
    }
}

/// How far before the predicted position of a lookup's batch it prefetches the log: that
/// batch, and back to where its index entry lies at the default interval (1 KiB).
const PREFETCH_BACK: [usize; 3] = [0, 512, 1024];

/// A lookup whose batch lay further than this from the predicted position stops the next ones
/// prefetching there, until one lies nearer again.
const PREDICTED_NEAR: usize = 4096;

/// The most of the log a lookup warms ahead of its walk (a walk between two entries at the
/// default interval covers about 1 KiB).
const WARM_MAX: usize = 8 << 10;

/// How far past the end of its warm-up a lookup in a cold log asks for pages.
const COLD_READ_PAST: usize = 256;

/// The most of the log a lookup in a cold log asks for at once: a batch of 100 records of
/// 100 B, which has an index entry of its own at the default interval, is about 11 KB.
const COLD_READ_MAX: usize = 64 << 10;

/// Touches each cache line of `log[from..to]` with loads that do not depend on each other, so
/// that the memory system fetches the lines together rather than one at a time, as the
/// dependent walk over the batch headers in them would.
#[inline]
fn warm(log: &[u8], from: usize, to: usize) {
    let Some(range) = log.get(from..to.min(log.len())) else {
        return;
    };
    let mut acc = 0u8;
    for b in range.iter().step_by(64) {
        acc = acc.wrapping_add(*b);
    }
    std::hint::black_box(acc);
}

/// Checks a batch CRC, reporting a mismatch with its location.
pub(crate) fn check_batch_crc(path: &Path, position: usize, bytes: &[u8]) -> Result<()> {
    batch::check_crc(bytes).map_err(|e| decode_error(path, position, e))
}

/// Moves a decode error's relative position to an absolute one.
pub(crate) fn shift(e: DecodeError, by: usize) -> DecodeError {
    e.shifted(by)
}

/// Converts a decode error at `position` of `path` (its own positions already absolute)
/// into the public error: a CRC failure is [`Error::ChecksumMismatch`] of the batch at
/// `position`, anything else [`Error::Corrupt`] where the decoder stopped.
pub(crate) fn decode_error(path: &Path, position: usize, e: DecodeError) -> Error {
    match e {
        DecodeError::Checksum { expected, got } => Error::ChecksumMismatch {
            path: path.to_path_buf(),
            position: position as u64,
            expected,
            got,
        },
        other => Error::metadata(path, &other),
    }
}

/// The batch header at `position` of `log` if it parses and the batch lies within `log`.
#[expect(
    clippy::inline_always,
    reason = "run for every batch a lookup or a segment step looks at"
)]
#[inline(always)]
fn valid_header(log: &[u8], position: usize) -> Option<BatchHeader> {
    let rest = log.get(position..)?;
    BatchHeader::parse(rest)
        .ok()
        .filter(|h| h.length as usize <= rest.len())
}

/// Steps over the batch at `pos` if it cleanly ends before `target`: its base offset is
/// `expected`, its length at least a header and within `log`. Reads only the three fields
/// that takes; [`SegmentCore::locate`] parses the batch it stops at in full, so a header that
/// does not hop cleanly is parsed and reported there. Returns the next batch's position and
/// base offset.
#[expect(
    clippy::inline_always,
    reason = "the step of the forward scan from an index entry, once per batch passed"
)]
#[inline(always)]
fn hop(log: &[u8], pos: usize, expected: u64, target: u64) -> Option<(usize, u64)> {
    let h = log.get(pos..)?.first_chunk::<{ batch::HEADER_LEN }>()?;
    let base = le_u64(h, batch::field::BASE_OFFSET);
    let next = base
        .checked_add(u64::from(le_u32(h, batch::field::LAST_OFFSET_DELTA)))?
        .checked_add(1)?;
    let len = le_u32(h, batch::field::LENGTH) as usize;
    let fits = len >= batch::HEADER_LEN && len <= log.len() - pos;
    (base == expected && next <= target && fits).then_some((pos + len, next))
}

/// The first `i < n` for which `below(i)` is false (`n` if none), for a `below` that is true
/// then false over `0..n`, searched from `guess`: exponential steps away from it, then a
/// binary search between the last two. Costs O(log distance) probes, near `guess` first.
fn partition_point_near(n: usize, guess: usize, below: impl Fn(usize) -> bool) -> usize {
    if n == 0 {
        return 0;
    }
    let g = guess.min(n - 1);
    let (mut lo, mut hi);
    if below(g) {
        // The answer is after g.
        (lo, hi) = (g + 1, n);
        let mut step = 1;
        while let Some(probe) = g.checked_add(step).filter(|&p| p < n) {
            if below(probe) {
                lo = probe + 1;
                step *= 2;
            } else {
                hi = probe;
                break;
            }
        }
    } else {
        // The answer is at or before g.
        (lo, hi) = (0, g);
        let mut step = 1;
        while let Some(probe) = g.checked_sub(step) {
            if below(probe) {
                lo = probe + 1;
                break;
            }
            hi = probe;
            step *= 2;
        }
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod search_tests {
    use super::partition_point_near;

    #[test]
    fn finds_the_partition_point_from_any_guess() {
        for n in 0..40usize {
            for point in 0..=n {
                for guess in 0..n + 3 {
                    let got = partition_point_near(n, guess, |i| i < point);
                    assert_eq!(got, point, "n {n} point {point} guess {guess}");
                }
            }
        }
    }
}
