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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::notify::Notifier;
use crate::segment::core::SegmentCore;

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
        }
    }

    /// The current segment list.
    pub(crate) fn segments(&self) -> Segments {
        Arc::clone(&self.segments.read())
    }

    /// The offset the next appended record will get.
    pub(crate) fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// The first offset readers may see.
    pub(crate) fn start_offset(&self) -> u64 {
        self.start_offset.load(Ordering::Acquire)
    }

    /// The current truncation epoch.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// True once no more records will come (closed or deleted).
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// The segment list and next offset, after checking that `offset` is in range.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] outside `[start, next]`.
    pub(crate) fn snapshot_checked(&self, offset: u64) -> Result<(Segments, u64)> {
        let end = self.next_offset();
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

    /// Publishes records up to `end` (the caller wakes readers, after its lock).
    pub(crate) fn publish_end(&self, end: u64) {
        self.next_offset.store(end, Ordering::Release);
    }

    /// Replaces the segment list by `f(current)`.
    pub(crate) fn replace_segments(
        &self,
        f: impl FnOnce(&[Arc<SegmentCore>]) -> Vec<Arc<SegmentCore>>,
    ) {
        let mut list = self.segments.write();
        let new = f(&list);
        *list = Arc::new(new);
    }

    /// Raises the start offset to at least `to`.
    pub(crate) fn raise_start(&self, to: u64) {
        self.start_offset.fetch_max(to, Ordering::AcqRel);
    }

    /// Publishes a truncation to `target`: the next offset goes back to it, then the epoch
    /// moves on, remembering the cut for iterators that notice it late.
    pub(crate) fn publish_cut(&self, target: u64) {
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
