//! The published log: everything a reader of a partition uses, without any writer lock.
//!
//! A reader (a point read, a time lookup, an iterator, a consumer) needs only this: the
//! segment list, the start and next offset, the truncation history, whether more records can
//! still come, and the notifier that wakes it when they do. Nothing here belongs to the
//! writer, so a partition opened only for reading is this and nothing else.
//!
//! Invariants (every writer-side component keeps them; readers rely on them):
//! * `segments` is replaced, never mutated: a reader's snapshot stays valid for as long as it
//!   holds it. Its segments are in offset order, the last one is the active segment, and
//!   each segment's batches tile its offsets; a segment's next offset is the next one's base.
//! * `next_offset` only grows, except that a truncation lowers it (bumping `epoch` after).
//!   A batch is in its segment's published log, and any segment it needed is in the list,
//!   before `next_offset` moves past it: a reader that loads `next_offset` (acquire) finds
//!   every batch below it. Batches at or past it do not exist for readers yet.
//! * `start_offset` only grows: the larger of the first segment's base and the log start
//!   offset (`delete_records_before`). Offsets below it are gone for readers.
//! * `epoch` is bumped by every truncation, after the new list and next offset are
//!   published; `cuts` remembers recent truncations as (epoch after it, offset cut to), so an
//!   iterator that notices a new epoch late moves back to the lowest cut since its own.
//! * `ended` is set once no more records will be published through this handle (the
//!   partition was closed or deleted); waiting readers are woken when it is.
//! * In the writer's process, every publication is also written to the partition's slot of
//!   the topic's live state file (`beacon`), in the same order, for readers in other
//!   processes. In a reader process there is no writer side: `follow` brings this state up
//!   to date with that slot (`follow.rs`) whenever a reader asks for the next offset or the
//!   segment list, publishing through the same methods in the same order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::live::{Sealed, SlotWriter, Tail};
use crate::notify::Notifier;
use crate::segment::core::SegmentCore;

/// Brings a reader process's published state up to date with the writer process's.
pub(crate) trait Follow: std::fmt::Debug + Send + Sync {
    /// Publishes into `log` what the writer process published since the last call.
    fn refresh(&self, log: &Published);

    /// Offsets below this are durable, as the writer process last published.
    fn durable(&self) -> u64;

    /// The error the last refresh met, if it failed (readers report it rather than stop
    /// quietly at what they have).
    fn failure(&self) -> Option<Error>;
}

/// How many recent cuts the log remembers for iterators (older ones are merged).
const MAX_CUTS: usize = 32;

/// A snapshot of the segment list.
pub(crate) type Segments = Arc<Vec<Arc<SegmentCore>>>;

/// The state readers share (see the module docs for its invariants).
#[derive(Debug)]
pub(crate) struct Published {
    segments: RwLock<Segments>,
    next_offset: AtomicU64,
    start_offset: AtomicU64,
    epoch: AtomicU64,
    cuts: Mutex<Vec<(u64, u64)>>,
    ended: AtomicBool,
    /// Wakes readers waiting for records (shared by the topic's partitions).
    pub(crate) notifier: Arc<Notifier>,
    /// Writer side: the partition's slot in the topic's live state file.
    beacon: Option<SlotWriter>,
    /// Reader side: follows the writer process.
    follow: Option<Arc<dyn Follow>>,
}

impl Published {
    /// A log of `segments` holding `[start, next)`.
    pub(crate) fn new(
        segments: Vec<Arc<SegmentCore>>,
        start: u64,
        next: u64,
        notifier: Arc<Notifier>,
    ) -> Self {
        Self {
            segments: RwLock::new(Arc::new(segments)),
            next_offset: AtomicU64::new(next),
            start_offset: AtomicU64::new(start),
            epoch: AtomicU64::new(0),
            cuts: Mutex::new(Vec::new()),
            ended: AtomicBool::new(false),
            notifier,
            beacon: None,
            follow: None,
        }
    }

    /// Publishes every change to `beacon` too (the writer's process).
    pub(crate) fn with_beacon(mut self, beacon: SlotWriter) -> Self {
        self.beacon = Some(beacon);
        self
    }

    /// Follows a writer in another process through `follow` (a reader process).
    pub(crate) fn with_follow(mut self, follow: Arc<dyn Follow>) -> Self {
        self.follow = Some(follow);
        self
    }

    /// The slot this log publishes to, in the writer's process.
    pub(crate) fn beacon(&self) -> Option<&SlotWriter> {
        self.beacon.as_ref()
    }

    /// True in a reader process (the writer is another process).
    pub(crate) fn is_follower(&self) -> bool {
        self.follow.is_some()
    }

    /// In a reader process: offsets below this are durable, as last published.
    pub(crate) fn follower_durable(&self) -> u64 {
        self.follow.as_ref().map_or(0, |f| f.durable())
    }

    /// In a reader process: the error that keeps this log from following the writer.
    pub(crate) fn follow_failure(&self) -> Option<Error> {
        self.follow.as_ref().and_then(|f| f.failure())
    }

    /// In a reader process, catches up with the writer process now.
    #[inline]
    pub(crate) fn refresh(&self) {
        if let Some(f) = &self.follow {
            f.refresh(self);
        }
    }

    /// The current segment list.
    pub(crate) fn segments(&self) -> Segments {
        self.refresh();
        self.segments_now()
    }

    /// The segment list as it is, without catching up with a writer process.
    pub(crate) fn segments_now(&self) -> Segments {
        Arc::clone(&self.segments.read())
    }

    /// The offset the next appended record will get.
    pub(crate) fn next_offset(&self) -> u64 {
        self.refresh();
        self.next_offset_now()
    }

    /// The next offset as it is, without catching up with a writer process.
    #[inline]
    pub(crate) fn next_offset_now(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// The first offset readers may see.
    #[inline]
    pub(crate) fn start_offset(&self) -> u64 {
        self.start_offset.load(Ordering::Acquire)
    }

    /// The current truncation epoch.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// True once no more records will come (closed or deleted).
    #[inline]
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// The segment list and next offset, after checking that `offset` is in range.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] outside `[start, next]`.
    pub(crate) fn snapshot_checked(&self, offset: u64) -> Result<(Segments, u64)> {
        let end = self.next_offset();
        if let Some(e) = self.follow_failure() {
            return Err(e);
        }
        let segs = self.segments();
        let first = segs.first().map_or(0, |s| s.base);
        let start = self.start_offset().max(first);
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                start,
                end,
            });
        }
        Ok((segs, end))
    }

    /// The lowest offset any truncation since `epoch` cut the log to, if there was one.
    pub(crate) fn lowest_cut_since(&self, epoch: u64) -> Option<u64> {
        // Cuts dropped from the list were merged into the first entry, which every iterator
        // older than them also counts.
        self.cuts
            .lock()
            .iter()
            .filter(|(e, _)| *e > epoch)
            .map(|&(_, target)| target)
            .min()
    }

    // The writer side publishes through the methods below.

    /// Publishes records up to `end`, which `active`, the active segment, ends at (the
    /// caller holds the writer mutex, and wakes readers after it).
    #[inline]
    pub(crate) fn publish_end(&self, end: u64, active: &SegmentCore) {
        self.next_offset.store(end, Ordering::Release);
        if let Some(b) = &self.beacon {
            b.live.write_tail(b.partition, &tail_of(active, end), None);
        }
    }

    /// A follower's publication of records up to `end`.
    pub(crate) fn follow_end(&self, end: u64) {
        self.next_offset.store(end, Ordering::Release);
    }

    /// Publishes a roll (under the writer mutex): `sealed` got its final lengths, `active`
    /// starts at the next offset.
    pub(crate) fn publish_roll(&self, sealed: &SegmentCore, active: &SegmentCore) {
        if let Some(b) = &self.beacon {
            let s = Sealed {
                base: sealed.base,
                log_len: sealed.log.published() as u64,
                index_len: sealed.index.published() as u64,
                time_len: sealed.time.published() as u64,
                max_timestamp: sealed.max_timestamp_raw(),
            };
            let end = self.next_offset_now();
            b.live
                .write_tail(b.partition, &tail_of(active, end), Some(&s));
        }
    }

    /// Publishes the tail after a truncation or a load (under the writer mutex, or before
    /// the partition is shared).
    pub(crate) fn publish_tail(&self, active: &SegmentCore) {
        if let Some(b) = &self.beacon {
            let end = self.next_offset_now();
            b.live.write_tail(b.partition, &tail_of(active, end), None);
        }
    }

    /// Replaces the segment list by `f(current)`.
    pub(crate) fn replace_segments(
        &self,
        f: impl FnOnce(&[Arc<SegmentCore>]) -> Vec<Arc<SegmentCore>>,
    ) {
        let mut list = self.segments.write();
        let new = f(&list);
        *list = Arc::new(new);
        drop(list);
        if let Some(b) = &self.beacon {
            b.live.bump_gen(b.partition);
        }
    }

    /// A change of the segment files begins: readers of other processes keep the list they
    /// have until [`end_change`](Self::end_change).
    pub(crate) fn begin_change(&self) {
        if let Some(b) = &self.beacon {
            b.live.begin_change(b.partition);
        }
    }

    /// The change begun with [`begin_change`](Self::begin_change) is complete and published.
    pub(crate) fn end_change(&self) {
        if let Some(b) = &self.beacon {
            b.live.end_change(b.partition);
        }
    }

    /// [`begin_change`](Self::begin_change) now, [`end_change`](Self::end_change) when the
    /// guard goes, on every path.
    pub(crate) fn change(&self) -> Change<'_> {
        self.begin_change();
        Change(self)
    }

    /// Raises the start offset to at least `to`.
    pub(crate) fn raise_start(&self, to: u64) {
        self.start_offset.fetch_max(to, Ordering::AcqRel);
        if let Some(b) = &self.beacon {
            b.update_cold(|c| c.start = c.start.max(to));
        }
    }

    /// Publishes that offsets below `durable` are durable (for readers of other processes).
    pub(crate) fn publish_durable(&self, durable: u64) {
        if let Some(b) = &self.beacon {
            b.update_cold(|c| c.durable = c.durable.max(durable));
        }
    }

    /// Publishes a truncation to `target`: the next offset goes back to it, then the epoch
    /// moves on, remembering the cut for iterators that notice it late.
    pub(crate) fn publish_cut(&self, target: u64) {
        if let Some(b) = &self.beacon {
            b.update_cold(|c| {
                c.push_cut(target);
                c.durable = c.durable.min(target);
            });
        }
        self.next_offset.store(target, Ordering::Release);
        let mut cuts = self.cuts.lock();
        let epoch = self.epoch() + 1;
        cuts.push((epoch, target));
        if cuts.len() > MAX_CUTS {
            let (_, oldest) = cuts.remove(0);
            // Merge into the next entry: an iterator older than both moves to the lower.
            if let Some(first) = cuts.first_mut() {
                first.1 = first.1.min(oldest);
            }
        }
        self.epoch.store(epoch, Ordering::Release);
    }

    /// No more records will come: wakes every waiting reader, which then ends.
    pub(crate) fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.notifier.notify();
    }
}

/// The tail `active` gives readers of other processes, with the partition's next offset.
#[inline]
fn tail_of(active: &SegmentCore, end: u64) -> Tail {
    Tail {
        active_base: active.base,
        next_offset: end,
        log_len: active.log.published() as u64,
        index_len: active.index.published() as u64,
        time_len: active.time.published() as u64,
        max_timestamp: active.max_timestamp_raw(),
        sealed: None,
    }
}

/// A change of the segment files in progress ([`Published::change`]).
pub(crate) struct Change<'a>(&'a Published);

impl Drop for Change<'_> {
    fn drop(&mut self) {
        self.0.end_change();
    }
}
