//! The writer: the active segment, appends and rolls.
//!
//! Invariants, all under the writer mutex:
//! * `active` is the last segment of the published list and the only segment with a write
//!   side; its next offset is the partition's next offset once an append has published it.
//! * `unsynced_sealed` holds, oldest first, the sealed segments not yet synced: they hold the
//!   recovery point back (durability.rs), and a sync takes them from here.
//! * `marked_dirty`: the on-disk checkpoint says "not clean" since this instance first
//!   appended; the first append writes it before touching the log.
//! * An append publishes its batch in the segment, then the partition's next offset, and only
//!   then rolls the next time; readers rely on this order (published.rs, `iter.rs`).

use std::ops::Range;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::Inner;
use crate::codec::batch::{self, BatchPlan};
use crate::codec::record::NewRecord;
use crate::config::{FlushPolicy, TopicConfig};
use crate::error::{Error, PoisonCause, PoisonedBy, Result};
use crate::fsutil;
use crate::segment::core::SegmentCore;
use crate::segment::writer::{Appended, Full};
use crate::segment::{BatchRecords, Segment, SegmentPaths, create_files};

/// Sealed segments that may wait for their sync (`WriterState::unsynced_sealed`) before an
/// appender syncs them itself instead of leaving them to the background.
pub(crate) const MAX_QUEUED_SEALED: usize = 16;

/// The writer's state (see the module docs).
#[derive(Debug)]
pub(crate) struct WriterState {
    pub(crate) active: Segment,
    pub(crate) unsynced_sealed: Vec<Arc<SegmentCore>>,
    pub(crate) marked_dirty: bool,
}

/// The writer mutex and what it guards.
#[derive(Debug)]
pub(crate) struct Writer(Mutex<WriterState>);

impl Writer {
    /// A writer appending to `active`.
    pub(crate) fn new(active: Segment) -> Self {
        Self(Mutex::new(WriterState {
            active,
            unsynced_sealed: Vec::new(),
            marked_dirty: false,
        }))
    }

    /// Takes the writer mutex.
    pub(crate) fn lock(&self) -> MutexGuard<'_, WriterState> {
        self.0.lock()
    }
}

impl Inner {
    /// The error for a handle whose partition no longer accepts appends.
    pub(super) fn closed_error(&self) -> Error {
        Error::Closed(format!("partition {} of topic {:?}", self.id, &*self.topic))
    }

    /// Fails if appends are not allowed right now (call under the writer mutex).
    pub(super) fn check_writable(&self, _w: &WriterState) -> Result<()> {
        if !self.lifecycle.is_open() {
            return Err(self.closed_error());
        }
        self.durability.check_not_poisoned(&self.dir)
    }

    /// Appends one planned batch to the active segment, rolling first when it is too old or
    /// the batch does not fit, then applies the flush policy. `expect_first`, when given, is
    /// the next offset the batch was placed against; a different one fails the append.
    pub(super) fn append_planned(
        &self,
        records: BatchRecords<'_, '_>,
        plan: &BatchPlan,
        now: i64,
        expect_first: Option<u64>,
    ) -> Result<Range<u64>> {
        let (range, sync, backlog) = {
            let mut w = self.writer.lock();
            self.check_writable(&w)?;
            if let Some(first) = expect_first
                && w.active.next_offset() != first
            {
                return Err(Error::InvalidPlacement {
                    reason: format!(
                        "offsets were placed from {first} but another append moved the next \
                         offset to {}",
                        w.active.next_offset()
                    ),
                });
            }
            self.mark_unclean(&mut w)?;
            // A validated segment_ms is at most i64::MAX.
            let age_limit = i64::try_from(self.config.segment_ms).unwrap_or(i64::MAX);
            if plan.count > 0
                && w.active
                    .first_timestamp()
                    .is_some_and(|first| plan.max_timestamp.saturating_sub(first) > age_limit)
            {
                self.roll(&mut w)?;
            }
            let mut first = w.active.next_offset();
            let end = match w.active.try_append(records, plan, now)? {
                Appended::At(end) => end,
                Appended::Full(full) => {
                    if first == w.active.base_offset() {
                        return Err(unfit(full, plan, &self.config));
                    }
                    self.roll(&mut w)?;
                    first = w.active.next_offset();
                    match w.active.try_append(records, plan, now)? {
                        Appended::At(end) => end,
                        Appended::Full(full) => return Err(unfit(full, plan, &self.config)),
                    }
                }
            };
            let range = first..end;
            self.log.publish_end(range.end, w.active.core());
            let sync = match self.config.flush {
                FlushPolicy::EveryAppend => true,
                // Measured against what is durable, not reset per call: however many threads
                // append, fewer than n acknowledged records are ever unsynced.
                FlushPolicy::EveryRecords(n) => range.end - self.durability.durable() >= n,
                FlushPolicy::Never | FlushPolicy::Interval(_) => false,
            };
            // Read under the writer lock, which truncation also holds.
            let epoch = sync.then(|| self.durability.epoch());
            (range, epoch, w.unsynced_sealed.len() >= MAX_QUEUED_SEALED)
        };
        self.log.notifier.notify();
        if let Some(epoch) = sync {
            self.sync_to(range.end, epoch)?;
        } else if backlog {
            // Rolls outpace the syncs of sealed segments (tiny segments on a slow disk): the
            // appender syncs them itself, so the queue, and the descriptors it keeps open,
            // stay bounded. The batch is published either way; a failure poisons.
            self.sync_now()?;
        } else if let (FlushPolicy::Interval(_), Some(f)) = (self.config.flush, &self.env.flusher) {
            f.note_dirty();
        }
        Ok(range)
    }

    /// Seals the active segment and starts a new one at the next offset. The sealed segment
    /// is synced later (by the flusher or the next flush) before the recovery point passes it.
    pub(super) fn roll(&self, w: &mut WriterState) -> Result<()> {
        let base = w.active.next_offset();
        let paths = SegmentPaths::new(&self.dir, base);
        // Files already named for the new base lie past the end of the log: leftovers of a
        // roll that failed half-way. They hold nothing of ours.
        for p in [&paths.log, &paths.index, &paths.time] {
            fsutil::remove_if_exists(p)?;
        }
        let (core, writer) = create_files(paths, base, &self.limits, self.config.verify_checksums)?;
        // The new file names must survive a crash before anything in them is acknowledged.
        fsutil::sync_dir(&self.dir)?;
        let next = Segment::from_parts(core, Some(writer), &self.config);
        let mut old = std::mem::replace(&mut w.active, next);
        if let Err(e) = old.seal_without_sync() {
            // Trimming failed: the old segment keeps its zero tail, which recovery handles,
            // but say so loudly rather than carry on as if the roll were clean.
            self.durability
                .poison(PoisonCause::new(PoisonedBy::Seal, &e));
        }
        w.unsynced_sealed.push(Arc::clone(old.core()));
        let active = Arc::clone(w.active.core());
        // Readers of other processes learn the sealed segment's final lengths with the new
        // active segment, then the new list.
        self.log.publish_roll(old.core(), &active);
        self.log.replace_segments(|list| {
            let mut new = Vec::with_capacity(list.len() + 1);
            new.extend(list.iter().cloned());
            new.push(active);
            new
        });
        if let Some(f) = &self.env.flusher {
            f.note_roll();
        }
        Ok(())
    }
}

/// Checks the offsets given to [`Partition::append_at`](super::Partition::append_at) against
/// the next offset `first` and turns them into deltas; returns the deltas and the batch's
/// last delta.
pub(super) fn place<'r>(
    records: &[(u64, NewRecord<'r>)],
    first: u64,
    end: u64,
) -> Result<(Vec<(u32, NewRecord<'r>)>, u32)> {
    let bad = |reason: String| Err(Error::InvalidPlacement { reason });
    if end <= first {
        return bad(format!("end {end} is not above the next offset {first}"));
    }
    let Ok(last_delta) = u32::try_from(end - first - 1) else {
        return bad(format!(
            "one batch cannot cover {first}..{end}: at most 2^32 offsets"
        ));
    };
    let mut placed = Vec::with_capacity(records.len());
    let mut prev: Option<u64> = None;
    for (offset, r) in records {
        // `offset < end` is `offset - first <= last_delta`.
        let Some(delta) = offset
            .checked_sub(first)
            .and_then(|d| u32::try_from(d).ok())
            .filter(|&d| d <= last_delta)
        else {
            return bad(format!("offset {offset} is outside {first}..{end}"));
        };
        if let Some(p) = prev.filter(|&p| *offset <= p) {
            return bad(format!("offset {offset} does not follow {p}"));
        }
        prev = Some(*offset);
        placed.push((delta, *r));
    }
    Ok((placed, last_delta))
}

/// Measures a placed batch and checks it against the batch size limit.
pub(super) fn plan_placed(
    placed: &[(u32, NewRecord<'_>)],
    now: i64,
    max: u32,
) -> Result<BatchPlan> {
    crate::segment::within_limit(batch::measure_placed(placed, now), max)
}

/// The error for a batch that does not fit even an empty segment.
fn unfit(full: Full, plan: &BatchPlan, c: &TopicConfig) -> Error {
    match full {
        Full::OffsetSpace => Error::OffsetsExhausted,
        _ => Error::RecordTooLarge {
            size: plan.len as u64,
            max: c.segment_bytes,
        },
    }
}
