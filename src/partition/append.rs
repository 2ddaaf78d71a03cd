//! The append path shared by [`Partition::append_batch`](super::Partition::append_batch) and
//! [`Partition::append_at`](super::Partition::append_at).

use std::ops::Range;
use std::sync::atomic::Ordering;

use super::Inner;
use crate::codec::batch::{self, BatchPlan};
use crate::codec::record::NewRecord;
use crate::config::{FlushPolicy, TopicConfig};
use crate::error::{Error, Result};
use crate::segment::BatchRecords;
use crate::segment::writer::Full;

impl Inner {
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
        let (range, sync) = {
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
            if !w.marked_dirty {
                self.write_checkpoint(false, &w)?;
                w.marked_dirty = true;
            }
            let age_limit = self.config.segment_ms as i64;
            if plan.count > 0
                && w.active
                    .first_timestamp()
                    .is_some_and(|first| plan.max_timestamp.saturating_sub(first) > age_limit)
            {
                self.roll(&mut w)?;
            }
            let mut first = w.active.next_offset();
            let end = match w.active.try_append(records, plan, now)? {
                Ok(end) => end,
                Err(full) => {
                    if first == w.active.base_offset() {
                        return Err(unfit(full, plan, &self.config));
                    }
                    self.roll(&mut w)?;
                    first = w.active.next_offset();
                    w.active
                        .try_append(records, plan, now)?
                        .map_err(|f| unfit(f, plan, &self.config))?
                }
            };
            let range = first..end;
            self.next_offset.store(range.end, Ordering::Release);
            let sync = match self.config.flush {
                FlushPolicy::EveryAppend => true,
                // Measured against what is durable, not reset per call: however many threads
                // append, fewer than n acknowledged records are ever unsynced.
                FlushPolicy::EveryRecords(n) => range.end - self.commit.durable() >= n,
                FlushPolicy::Never | FlushPolicy::Interval(_) => false,
            };
            // Read under the writer lock, which truncation also holds.
            let epoch = sync.then(|| self.commit.epoch());
            (range, epoch)
        };
        self.notifier.notify();
        if let Some(epoch) = sync {
            self.sync_to(range.end, epoch)?;
        } else if let (FlushPolicy::Interval(_), Some(f)) = (self.config.flush, &self.flusher) {
            f.note_dirty();
        }
        Ok(range)
    }
}

/// Checks the offsets given to [`Partition::append_at`](super::Partition::append_at) against the next offset `first` and
/// turns them into deltas; returns the deltas and the batch's last delta.
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
        if *offset < first || *offset >= end {
            return bad(format!("offset {offset} is outside {first}..{end}"));
        }
        if let Some(p) = prev.filter(|&p| *offset <= p) {
            return bad(format!("offset {offset} does not follow {p}"));
        }
        prev = Some(*offset);
        // In range: offset - first <= last_delta, which fits u32.
        placed.push(((offset - first) as u32, *r));
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
