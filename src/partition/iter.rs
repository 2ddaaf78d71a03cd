//! Sequential reading across a partition's segments.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Inner;
use crate::codec::batch::{IterState, RecordIter};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::segment::core::{Located, SegmentCore, shift};

/// Iterator over a partition's records in offset order, returned by
/// [`Partition::iter_from`](crate::Partition::iter_from).
///
/// Each item is a zero-copy [`Record`]. Batches are CRC-checked once, when the iterator
/// enters them (unless the topic disabled read checks). When it reaches the end it returns
/// `None`, and a later call picks up records appended since. After an error it returns
/// `None` for good.
#[derive(Debug)]
pub struct Records {
    part: Arc<Inner>,
    seg: Option<Arc<SegmentCore>>,
    /// The batch being read and where in it.
    current: Option<(Located, IterState)>,
    /// The last batch finished in `seg`, to step to the next one without a lookup.
    previous: Option<Located>,
    /// The next offset to return; records below it are skipped.
    next: u64,
    /// The partition's next offset as last seen: batches at or past it are not returned yet,
    /// so the iterator never runs ahead of `Partition::next_offset`.
    end: u64,
    failed: bool,
}

impl Records {
    pub(super) fn new(part: Arc<Inner>, from: u64) -> Self {
        Self {
            part,
            seg: None,
            current: None,
            previous: None,
            next: from,
            end: 0,
            failed: false,
        }
    }

    /// The offset the iterator will return next (or the first one after it, in a gap).
    pub fn position(&self) -> u64 {
        self.next
    }

    fn step(&mut self) -> Result<Option<Record>> {
        loop {
            if let (Some(seg), Some((loc, state))) = (&self.seg, self.current) {
                let bytes = seg.batch_bytes_unchecked(&loc)?;
                let mut it = RecordIter::resume(bytes, &loc.header, state);
                match it.next() {
                    Some(Ok(raw)) => {
                        self.current = Some((loc, it.state()));
                        let offset = loc.header.base_offset + u64::from(raw.offset_delta);
                        if offset >= self.next {
                            self.next = offset + 1;
                            return Ok(Some(Record::from_raw(
                                &seg.log,
                                loc.header.base_offset,
                                &raw,
                            )));
                        }
                    }
                    Some(Err(e)) => return Err(seg.corrupt(loc.position, shift(e, loc.position))),
                    None => {
                        self.next = self.next.max(loc.header.next_offset());
                        self.previous = Some(loc);
                        self.current = None;
                    }
                }
                continue;
            }
            let seg = match &self.seg {
                Some(s) => Arc::clone(s),
                None => {
                    let segs = self.part.segments();
                    let Some(first) = segs.first() else {
                        return Ok(None);
                    };
                    self.next = self.next.max(first.base);
                    let i = segs
                        .partition_point(|s| s.base <= self.next)
                        .saturating_sub(1);
                    let s = Arc::clone(&segs[i]);
                    self.seg = Some(Arc::clone(&s));
                    s
                }
            };
            let log = seg.log.prefix();
            let found = match &self.previous {
                Some(prev) => seg.next_batch(log, prev)?,
                None => seg.locate(self.next)?,
            };
            match found {
                Some(loc) => {
                    // A batch is published in its segment just before the partition's next
                    // offset moves past it; until then it does not exist for readers.
                    if loc.header.next_offset() > self.end {
                        self.end = self.part.next_offset.load(Ordering::Acquire);
                        if loc.header.next_offset() > self.end {
                            return Ok(None);
                        }
                    }
                    let bytes = seg.batch_bytes(&loc)?;
                    self.current = Some((loc, RecordIter::new(bytes, &loc.header).state()));
                }
                None => {
                    // The end of this segment's committed data. Move on only once a later
                    // segment exists, which means this one is sealed and complete.
                    let segs = self.part.segments();
                    let Some(later) = segs.iter().find(|s| s.base > seg.base) else {
                        return Ok(None);
                    };
                    if seg.log.published() > log.len() {
                        continue; // appended before it was sealed: read the rest first
                    }
                    if seg.next_offset() > self.next {
                        // Batches tile a segment's offsets: the log was cut short from outside.
                        return Err(Error::Corrupt {
                            path: seg.paths.log.clone(),
                            position: log.len() as u64,
                            reason: format!(
                                "log ends before offset {}, which it should hold",
                                self.next
                            ),
                        });
                    }
                    self.next = self.next.max(later.base);
                    self.seg = Some(Arc::clone(later));
                    self.previous = None;
                }
            }
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
