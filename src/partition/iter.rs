//! Sequential reading across a partition's segments, and tailing.

use std::sync::Arc;

use super::published::Published;
use crate::codec::batch::field::LAST_OFFSET_DELTA;
use crate::codec::batch::{self, IterState, RecordIter};
use crate::error::{Corruption, Error, Result};
use crate::mmap::{MapStock, ReadAhead};
use crate::record::{Fields, Record, RecordRef};
use crate::segment::core::{Located, SegmentCore, check_batch_crc, shift};

/// Iterator over a partition's records in offset order, returned by
/// [`Partition::iter_from`](crate::Partition::iter_from).
///
/// Each item is a zero-copy [`Record`]. Batches are CRC-checked once, when the iterator
/// enters them (unless the topic disabled read checks). When it reaches the end it returns
/// `None`, and a later call picks up records appended since; [`next_timeout`],
/// [`poll`] and [`blocking`] wait for new records instead. After an error it returns `None`
/// for good, unless [`skip_damaged`] asked it to step over damaged data.
///
/// ```
/// # fn main() -> pagelog::Result<()> {
/// use std::time::Duration;
/// use pagelog::{NewRecord, Store, TopicConfig};
/// let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
/// let store = Store::open(dir.path())?;
/// let p = store.create_topic("t", TopicConfig::default())?.partition(0)?.clone();
/// let mut tail = p.iter_from_end();
/// let writer = {
///     let p = p.clone();
///     std::thread::spawn(move || p.append(NewRecord::new(b"hello")))
/// };
/// // Blocks until the writer's append is visible (woken by it, no polling).
/// let batch = tail.poll(1 << 20, Duration::from_secs(10))?;
/// assert_eq!(batch[0].value(), b"hello");
/// # writer.join().unwrap()?;
/// # Ok(()) }
/// ```
///
/// [`next_timeout`]: Records::next_timeout
/// [`poll`]: Records::poll
/// [`blocking`]: Records::blocking
/// [`skip_damaged`]: Records::skip_damaged
#[derive(Debug)]
pub struct Records {
    pub(super) log: Arc<Published>,
    seg: Option<Arc<SegmentCore>>,
    /// The batch being read and where in it.
    current: Option<(Located, IterState)>,
    /// The last batch finished in `seg`, to step to the next one without a lookup.
    previous: Option<Located>,
    /// The next offset to return; records below it are skipped.
    pub(super) next: u64,
    /// The partition's next offset as last seen: batches at or past it are not returned yet,
    /// so the iterator never runs ahead of `Partition::next_offset`.
    end: u64,
    pub(super) failed: bool,
    /// Step over damaged batches instead of stopping.
    skip_damaged: bool,
    /// The batch whose CRC or records failed, to step over it.
    damaged: Option<Located>,
    /// An error met after `poll` had already collected records, returned by the next call.
    pub(super) pending: Option<Error>,
    /// The partition's truncation epoch this iterator's state belongs to.
    pub(super) epoch: u64,
    /// The record `step` decoded last, written in place (lent by `next_ref`).
    out: Fields,
    /// Read-ahead was requested for `seg`'s log up to this position.
    read_ahead: usize,
    /// This iterator's read-ahead on the log it reads.
    ahead: ReadAhead,
    /// Offsets stepped over past damaged data.
    skipped: u64,
    /// Shares of `seg`'s log mapping taken in bulk, one per owned record `next` returns.
    stock: MapStock,
}

/// How far ahead of its position an iterator turns the kernel's read-ahead on (segment logs
/// are mapped for point reads, without it), when a page of that window is not resident; it
/// looks again when half of that is left (`ReadAhead::window`).
const READ_AHEAD: usize = crate::mmap::READ_AHEAD_MAX;

impl Records {
    pub(crate) fn new(log: Arc<Published>, from: u64) -> Self {
        Self {
            seg: None,
            current: None,
            previous: None,
            next: from,
            end: 0,
            failed: false,
            skip_damaged: false,
            damaged: None,
            pending: None,
            epoch: log.epoch(),
            log,
            out: Fields::default(),
            read_ahead: 0,
            ahead: ReadAhead::default(),
            skipped: 0,
            stock: MapStock::default(),
        }
    }

    /// Makes the iterator continue past damaged data: it still returns the error (with its
    /// location), then resumes after the damaged batch when the batch after it confirms
    /// where it ends, or else (the header itself is unreadable or its offsets are wrong) at
    /// the next batch the offset index points to, else at the next segment. The offsets in
    /// between are skipped and counted in [`skipped`](Self::skipped).
    ///
    /// Without it the iterator never steps over damage: it returns the error and then
    /// `None` for good, and never ends quietly before the partition's next offset.
    #[must_use]
    pub fn skip_damaged(mut self) -> Self {
        self.skip_damaged = true;
        self
    }

    /// Moves the iterator to `offset`, clamped to the partition's range: past the end it
    /// moves to the end (the next offset now, so it reads the records appended from then on),
    /// below the start to the start (checked again on the next read, as the start may rise).
    pub fn seek(&mut self, offset: u64) {
        let start = self.log.start_offset();
        let end = self.log.next_offset();
        let offset = offset.max(start).min(end);
        self.seg = None;
        self.current = None;
        self.previous = None;
        self.damaged = None;
        self.pending = None;
        self.failed = false;
        self.end = 0;
        self.next = offset;
        self.read_ahead = 0;
    }

    /// Offsets this iterator stepped over because they lay in damaged data (see
    /// [`skip_damaged`](Self::skip_damaged)), since it was made. Records it returned plus
    /// the offsets it skipped account for every offset it passed (offsets that compaction
    /// removed aside).
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Repositions after an error when skipping damaged data. Always moves forward, and
    /// counts the offsets it steps over.
    fn skip_past_damage(&mut self) {
        let from = self.next;
        self.reposition_past_damage();
        self.skipped += self.next.saturating_sub(from);
    }

    fn reposition_past_damage(&mut self) {
        self.current = None;
        self.previous = None;
        let Some(seg) = self.seg.clone() else {
            return;
        };
        if let Some(loc) = self.damaged.take() {
            // A batch whose records or CRC failed: its header's offsets are trusted only if
            // the batch after it starts right there (or it ends the segment at its next
            // offset), so a damaged offset field never makes the skip jump too far.
            let log = seg.log.prefix();
            let ends_segment = loc.position + loc.header.length as usize == log.len()
                && loc.header.next_offset() == seg.next_offset();
            if ends_segment || matches!(seg.next_batch(log, &loc), Ok(Some(_))) {
                self.previous = Some(loc);
                self.next = self.next.max(loc.header.next_offset());
                return;
            }
        }
        // The header at the current position is unreadable: resume at the next batch the
        // offset index points at, if any is intact, else at the next segment.
        if let Some(offset) = seg.next_indexed_batch(self.next) {
            self.next = offset;
            return;
        }
        self.next = self.next.max(seg.next_offset());
        self.seg = None;
    }

    /// True once the partition is closed (or its topic deleted) and this iterator has read
    /// every record it holds: nothing more will ever come.
    pub(crate) fn at_closed_end(&self) -> bool {
        self.log.has_ended() && self.log.next_offset() <= self.next
    }

    /// True if the partition was truncated since this iterator last looked: its next call
    /// repositions it (so it has something to do even if `next_offset` is below its position).
    pub(crate) fn is_stale(&self) -> bool {
        self.log.epoch() != self.epoch
    }

    /// The offset the iterator will return next (or the first one after it, in a gap). After
    /// a truncation below it, the cut: where the iterator resumes on its next call.
    #[must_use]
    pub fn position(&self) -> u64 {
        if self.is_stale()
            && let Some(cut) = self.log.lowest_cut_since(self.epoch)
        {
            return self.next.min(cut);
        }
        self.next
    }

    /// Decodes the next record of the current segment, `self.seg`, into `self.out`; false
    /// at the end.
    #[inline]
    #[expect(
        clippy::too_many_lines,
        reason = "the read loop of every iterator, kept in one function: the record path at \
                  the top is inlined into `next`, and the batch and segment steps below share \
                  its borrows of the current segment"
    )]
    fn step(&mut self) -> Result<bool> {
        self.catch_up_epoch();
        // Records below a raised start offset are gone for readers, even mid-segment.
        let start = self.log.start_offset();
        if self.next < start {
            self.seek(start);
        }
        loop {
            if let (Some(seg), Some((loc, state))) = (&self.seg, &mut self.current) {
                let bytes = seg.batch_bytes_unchecked(loc)?;
                // The state advances in place: no copy of the cursor per record.
                match RecordIter::next_at(bytes, &loc.header, state) {
                    Some(Ok(raw)) => {
                        let offset = loc.header.base_offset + u64::from(raw.offset_delta);
                        if offset >= self.next {
                            self.next = offset + 1;
                            let base = loc.header.base_offset;
                            self.out = Fields::new(bytes, loc.position, base, &raw);
                            return Ok(true);
                        }
                    }
                    Some(Err(e)) => {
                        let loc = *loc;
                        self.damaged = Some(loc);
                        return Err(seg.corrupt(loc.position, shift(e, loc.position)));
                    }
                    None => {
                        let loc = *loc;
                        self.next = self.next.max(loc.header.next_offset());
                        self.previous = Some(loc);
                        self.current = None;
                    }
                }
                continue;
            }
            if self.seg.is_none() {
                let segs = self.log.segments();
                let Some(first) = segs.first() else {
                    return Ok(false);
                };
                let start = self.log.start_offset();
                self.next = self.next.max(first.base).max(start);
                let i = segs
                    .partition_point(|s| s.base <= self.next)
                    .saturating_sub(1);
                self.seg = Some(Arc::clone(&segs[i]));
                self.read_ahead = 0;
            }
            // Borrowed, not cloned: no reference-count traffic per batch.
            let Some(seg) = self.seg.as_ref() else {
                return Ok(false);
            };
            let log = seg.log.prefix();
            let found = match &self.previous {
                Some(prev) => seg.next_batch(log, prev)?,
                None => seg.locate(self.next)?,
            };
            if let Some(loc) = found {
                // A batch is published in its segment just before the partition's next
                // offset moves past it; until then it does not exist for readers.
                if loc.header.next_offset() > self.end {
                    self.end = self.log.next_offset();
                    if loc.header.next_offset() > self.end {
                        match past_the_end(&self.log, seg, &loc, self.epoch) {
                            Ok(PastTheEnd::InFlight) => return Ok(false),
                            Ok(PastTheEnd::Stale) => {
                                // Replaced or unlisted meanwhile: look again.
                                self.seg = None;
                                self.previous = None;
                                continue;
                            }
                            // Its header's offsets are wrong: a skip resumes at the
                            // next batch the index knows, not after this one.
                            Err(e) => return Err(e),
                        }
                    }
                }
                let batch_end = loc.position + loc.header.length as usize;
                if batch_end + READ_AHEAD / 2 > self.read_ahead {
                    let from = self.read_ahead.max(loc.position);
                    self.ahead.window(&seg.log, loc.position, from, READ_AHEAD);
                    self.read_ahead = from + READ_AHEAD;
                }
                let bytes = match seg.batch_bytes(&loc) {
                    Ok(b) => b,
                    Err(e) => {
                        self.damaged = Some(loc);
                        return Err(e);
                    }
                };
                let mut records = RecordIter::new(bytes, &loc.header);
                // Starting inside the batch: step over the records before `next` by
                // length (the CRC vouches for them) instead of decoding each.
                let delta = self.next.saturating_sub(loc.header.base_offset);
                if delta > 0 {
                    let delta = u32::try_from(delta).unwrap_or(u32::MAX);
                    if let Err(e) = records.skip_below(delta) {
                        self.damaged = Some(loc);
                        return Err(seg.corrupt(loc.position, shift(e, loc.position)));
                    }
                }
                self.current = Some((loc, records.state()));
            } else {
                // The end of this segment's committed data. Move on only once a later
                // segment exists, which means this one is sealed and complete.
                let segs = self.log.segments();
                if self.log.epoch() != self.epoch {
                    // Truncated since the step began (a reader process learns of it only
                    // now, with the list): start over from the cut.
                    self.catch_up_epoch();
                    continue;
                }
                if self.log.is_follower() && !segs.iter().any(|s| Arc::ptr_eq(s, seg)) {
                    // A reader process replaced this segment's view (a new writer session
                    // rebuilt its index files): continue from the same offset in the new one.
                    self.seg = None;
                    self.previous = None;
                    continue;
                }
                let Some(later) = segs.iter().find(|s| s.base > seg.base) else {
                    return Ok(false);
                };
                if seg.log.published() > log.len() {
                    continue; // appended before it was sealed: read the rest first
                }
                if seg.next_offset() > self.next {
                    // Batches tile a segment's offsets: the log was cut short from outside.
                    return Err(Error::corrupt(
                        &seg.paths.log,
                        log.len() as u64,
                        Corruption::CutShort { offset: self.next },
                    ));
                }
                self.next = self.next.max(later.base);
                self.seg = Some(Arc::clone(later));
                self.previous = None;
                self.read_ahead = 0;
            }
        }
    }
}

impl Records {
    /// After a truncation: what we were reading may be discarded, so start over from the
    /// lowest cut since our epoch (everything from there on was rewritten, and may hold new
    /// records already), or from where we are if that is lower.
    #[inline]
    fn catch_up_epoch(&mut self) {
        let epoch = self.log.epoch();
        if epoch != self.epoch {
            let cut = self.log.lowest_cut_since(self.epoch).unwrap_or(self.next);
            self.epoch = epoch;
            self.seek(self.next.min(cut));
        }
    }
}

/// What a batch whose offsets reach past the partition's next offset turned out to be.
enum PastTheEnd {
    /// Being published right now: not there for readers yet.
    InFlight,
    /// Its segment was replaced or unlisted meanwhile (truncation, compaction, retention):
    /// the position must be looked up again.
    Stale,
}

/// Tells a batch the writer is publishing right now from a damaged header that claims offsets
/// the partition never had (which, taken for "nothing there yet", would end a read early
/// and quietly).
///
/// The writer publishes a batch's bytes, then the segment's and the partition's next offset,
/// all under its lock, and rolls only after that: so once a later segment is listed, every
/// batch of the segments before it is counted in the partition's next offset, loaded here
/// after the list. A batch of any listed segment but the last that is not counted there is
/// damaged. A batch of the last one may be in flight; it is genuine if its CRC checks, which
/// is checked here whatever the topic's read setting (this path is taken once per batch a
/// reader catches in flight, never per record).
#[cold]
#[inline(never)]
fn past_the_end(
    log: &Published,
    seg: &SegmentCore,
    loc: &Located,
    epoch: u64,
) -> Result<PastTheEnd> {
    let segs = log.segments();
    let end = log.next_offset();
    if log.epoch() != epoch || loc.header.next_offset() <= end {
        return Ok(PastTheEnd::Stale);
    }
    let Some(i) = segs.iter().position(|s| std::ptr::eq(s.as_ref(), seg)) else {
        return Ok(PastTheEnd::Stale);
    };
    if i + 1 == segs.len() {
        check_batch_crc(
            &seg.paths.log,
            loc.position,
            seg.batch_bytes_unchecked(loc)?,
        )?;
        return Ok(PastTheEnd::InFlight);
    }
    Err(Error::corrupt(
        &seg.paths.log,
        (loc.position + LAST_OFFSET_DELTA) as u64,
        Corruption::PastTheEnd {
            base: loc.header.base_offset,
            last: loc.header.last_offset(),
            end,
        },
    ))
}

impl Records {
    /// The fast path of every iterator step: decodes the next record of the current batch into
    /// `self.out` when nothing else is due (no error pending or met, no truncation or rise of
    /// the start offset since the last step, a record left in the batch that decodes on the
    /// fast path), or moves on to the next batch with [`step_batch`](Self::step_batch). False,
    /// with the position unchanged, sends the caller to [`advance`](Self::advance), which
    /// handles every case, these included, and reports damage.
    #[expect(
        clippy::inline_always,
        reason = "once per record in `next` and `next_ref`; the rest of the read loop stays \
                  out of line in `advance`"
    )]
    #[inline(always)]
    fn step_record(&mut self) -> bool {
        if self.failed
            || self.pending.is_some()
            || self.log.epoch() != self.epoch
            || self.next < self.log.start_offset()
        {
            return false;
        }
        let (Some(seg), Some((loc, state))) = (&self.seg, &mut self.current) else {
            return false;
        };
        if state.left() == 0 {
            return self.step_batch();
        }
        let Some(bytes) = seg
            .log
            .get(loc.position, loc.position + loc.header.length as usize)
        else {
            return false;
        };
        let Some(raw) = RecordIter::next_fast(bytes, &loc.header, state) else {
            return false;
        };
        let base = loc.header.base_offset;
        let offset = base + u64::from(raw.offset_delta);
        if offset < self.next {
            // Below the position (a batch entered mid-way is skipped past by `advance`): not
            // returned; the general path goes on from here.
            return false;
        }
        self.next = offset + 1;
        self.out = Fields::new(bytes, loc.position, base, &raw);
        true
    }

    /// The batch path of [`step_record`](Self::step_record): the current batch is read to its
    /// end, so it moves to the next batch of the segment and decodes that batch's first record,
    /// when the next batch is whole, counted in the partition's next offset as last seen, its
    /// CRC checks (if the topic checks) and read-ahead is not due. False, with nothing changed,
    /// sends the caller to [`advance`](Self::advance), which handles every other case
    /// (the end of the segment, damage, a batch entered mid-way, the end of what was
    /// published) and this one too.
    #[inline]
    fn step_batch(&mut self) -> bool {
        let (Some(seg), Some((loc, state))) = (&self.seg, &self.current) else {
            return false;
        };
        if state.position() != loc.header.length as usize {
            return false; // bytes after the last record: `advance` reports them
        }
        let log = seg.log.prefix();
        let Ok(Some(next)) = seg.next_batch(log, loc) else {
            return false;
        };
        let batch_end = next.position + next.header.length as usize;
        if next.header.next_offset() > self.end
            || next.header.base_offset < self.next
            || batch_end + READ_AHEAD / 2 > self.read_ahead
        {
            return false;
        }
        let Some(bytes) = log.get(next.position..batch_end) else {
            return false;
        };
        if seg.verify_checksums && !batch::crc_matches(bytes) {
            return false;
        }
        let mut state = RecordIter::new(bytes, &next.header).state();
        let Some(raw) = RecordIter::next_fast(bytes, &next.header, &mut state) else {
            return false;
        };
        let base = next.header.base_offset;
        self.next = base + u64::from(raw.offset_delta) + 1;
        self.out = Fields::new(bytes, next.position, base, &raw);
        self.current = Some((next, state));
        true
    }

    /// [`step`](Self::step) with the iterator's error handling: a pending error first,
    /// nothing after a failure, and a skip past damage when asked.
    #[inline]
    fn advance(&mut self) -> Option<Result<()>> {
        if self.failed {
            return None;
        }
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        match self.step() {
            Ok(true) => Some(Ok(())),
            // A reader process reports what keeps it from following the writer rather than
            // end quietly at what it has.
            Ok(false) => self.log.follow_failure().map(Err),
            Err(e) => {
                if self.skip_damaged {
                    self.skip_past_damage();
                } else {
                    self.failed = true;
                }
                Some(Err(e))
            }
        }
    }

    /// As [`next`](Iterator::next), but lends the record instead of returning a [`Record`]
    /// that holds the segment's mapping: no reference-count update per record, the fastest
    /// way to scan. The borrow ends when the iterator is used again.
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use pagelog::{NewRecord, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let p = store.create_topic("t", TopicConfig::default())?.partition(0)?.clone();
    /// p.append_batch(&[NewRecord::new(b"a"), NewRecord::new(b"bc")])?;
    /// let (mut it, mut bytes) = (p.iter(), 0);
    /// while let Some(r) = it.next_ref() {
    ///     bytes += r?.value().len();
    /// }
    /// assert_eq!(bytes, 3);
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn next_ref(&mut self) -> Option<Result<RecordRef<'_>>> {
        if !self.step_record()
            && let Err(e) = self.advance()?
        {
            return Some(Err(e));
        }
        // `step` decoded a record of the current segment, so it is set.
        let seg = self.seg.as_ref()?;
        Some(Ok(RecordRef::new(seg.log.prefix(), &self.out)))
    }
}

impl Iterator for Records {
    type Item = Result<Record>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if !self.step_record()
            && let Err(e) = self.advance()?
        {
            return Some(Err(e));
        }
        // `step` decoded a record of the current segment, so it is set. The record's share
        // of the mapping comes from the stock: no atomic operation per record.
        let seg = self.seg.as_ref()?;
        Some(Ok(Record::with(self.stock.take(&seg.log), self.out)))
    }
}
