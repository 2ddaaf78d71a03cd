//! Point reads and timestamp lookups on the published log.

use std::sync::Arc;

use crate::error::{Corruption, Error, Result};
use crate::record::Record;
use crate::segment;

use super::iter::Records;
use super::published::Published;

impl Published {
    /// The record at `offset`, or the first one after it in a compaction gap; `Ok(None)`
    /// exactly at the next offset.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`]; [`Error::ChecksumMismatch`] or [`Error::Corrupt`] for
    /// damaged data.
    pub(crate) fn read(&self, offset: u64) -> Result<Option<Record>> {
        let (segs, end) = self.snapshot_checked(offset)?;
        if offset == end {
            return Ok(None);
        }
        let mut i = segs.partition_point(|s| s.base <= offset).saturating_sub(1);
        let mut target = offset;
        while let Some(seg) = segs.get(i) {
            if let Some(r) = segment::read_at(seg, target)? {
                return Ok(Some(r));
            }
            // Batches tile a segment's offsets (compaction leaves gaps inside batches, never
            // between them), so a committed offset no batch covers means the log was cut
            // short from outside.
            if target < seg.next_offset().min(end) && seg.locate(target)?.is_none() {
                return Err(Error::corrupt(
                    &seg.paths.log,
                    seg.size(),
                    Corruption::CutShort { offset: target },
                ));
            }
            target = seg.next_offset();
            i += 1;
        }
        Ok(None)
    }

    /// The smallest offset whose record's timestamp is `>= ts`, `None` if every record is
    /// older.
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`] or [`Error::Corrupt`] for damaged data.
    pub(crate) fn offset_for_timestamp(self: &Arc<Self>, ts: i64) -> Result<Option<u64>> {
        // Records at or past the end are not there yet for readers (see `Records`).
        let end = self.next_offset();
        let segs = self.segments();
        let start = self.start_offset();
        for seg in segs.iter() {
            if seg.max_timestamp().is_some_and(|m| m >= ts)
                && let Some(o) = seg.offset_for_timestamp(ts)?
            {
                if o >= end {
                    return Ok(None);
                }
                if o < start {
                    // Below a raised start offset: the answer is the first readable one.
                    for r in Records::new(Arc::clone(self), start) {
                        let r = r?;
                        if r.timestamp() >= ts {
                            return Ok(Some(r.offset()).filter(|&o| o < end));
                        }
                    }
                    return Ok(None);
                }
                return Ok(Some(o));
            }
        }
        Ok(None)
    }
}
