//! The append calls of [`Partition`]: one record, a batch, or records at given offsets.

use std::ops::Range;

use super::{Partition, writer};
use crate::codec::record::NewRecord;
use crate::error::Result;
use crate::segment::{BatchRecords, now_ms, plan_batch};

impl Partition {
    /// Appends one record; returns its offset.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use pagelog::{NewRecord, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let p = store.create_topic("events", TopicConfig::default())?.partition(0)?.clone();
    /// assert_eq!(p.append(NewRecord::new(b"one"))?, 0);
    /// let keyed = NewRecord::new(b"two").key(b"k").timestamp(1_700_000_000_000);
    /// assert_eq!(p.append(keyed)?, 1);
    /// assert_eq!(p.read(1)?.map(|r| r.timestamp()), Some(1_700_000_000_000));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`append_batch`](Self::append_batch).
    pub fn append(&self, record: NewRecord<'_>) -> Result<u64> {
        self.append_batch(&[record]).map(|r| r.start)
    }

    /// Appends `records` as one batch (one header, one CRC) with contiguous offsets; returns
    /// the range of offsets assigned. Under [`FlushPolicy::EveryAppend`](crate::FlushPolicy::EveryAppend) it returns once the
    /// batch is durable.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use pagelog::{NewRecord, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let p = store.create_topic("events", TopicConfig::default())?.partition(0)?.clone();
    /// let batch: Vec<NewRecord<'_>> = [&b"a"[..], b"b", b"c"].into_iter().map(NewRecord::new).collect();
    /// assert_eq!(p.append_batch(&batch)?, 0..3);
    /// assert_eq!(p.append_batch(&batch[..1])?, 3..4);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::EmptyBatch`](crate::Error::EmptyBatch), [`Error::RecordTooLarge`](crate::Error::RecordTooLarge); [`Error::Io`](crate::Error::Io) when space cannot be
    /// reserved (the partition stays usable); [`Error::Poisoned`](crate::Error::Poisoned) after a failed sync;
    /// [`Error::Closed`](crate::Error::Closed) after close or delete.
    pub fn append_batch(&self, records: &[NewRecord<'_>]) -> Result<Range<u64>> {
        let inner = self.writer("append")?;
        // A closed handle says so first, whatever the records (rechecked under the lock).
        if !inner.lifecycle.is_open() {
            return Err(inner.closed_error());
        }
        let now = now_ms();
        let plan = plan_batch(records, now, inner.limits.max_batch)?;
        inner.append_planned(BatchRecords::Contiguous(records), &plan, now, None)
    }

    /// Appends `records` at the offsets given with them, as one batch covering the offsets
    /// `[next_offset(), end)`: for copying a log from elsewhere (such as a Kafka partition)
    /// with its offsets. Offsets the list skips become gaps, read over as after compaction;
    /// `records` may be empty, which only moves the next offset to `end`. Returns
    /// `next_offset()..end`.
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use pagelog::{NewRecord, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let p = store.create_topic("copied", TopicConfig::default())?.partition(0)?.clone();
    /// p.append_at(&[(3, NewRecord::new(b"three")), (7, NewRecord::new(b"seven"))], 10)?;
    /// assert_eq!(p.next_offset(), 10);
    /// assert_eq!(p.read(4)?.map(|r| r.offset()), Some(7)); // the first record at or after 4
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidPlacement`](crate::Error::InvalidPlacement) when an offset is below `next_offset()` (also when another
    /// thread appended first), offsets are not strictly increasing, one is not below `end`, or
    /// `end` is not above `next_offset()` or more than 2^32 past it; otherwise as
    /// [`append_batch`](Self::append_batch).
    pub fn append_at(&self, records: &[(u64, NewRecord<'_>)], end: u64) -> Result<Range<u64>> {
        let inner = self.writer("append_at")?;
        if !inner.lifecycle.is_open() {
            return Err(inner.closed_error());
        }
        let first = self.next_offset();
        let (placed, last_delta) = writer::place(records, first, end)?;
        let now = now_ms();
        let plan = writer::plan_placed(&placed, now, inner.limits.max_batch)?;
        let batch = BatchRecords::Placed {
            records: &placed,
            last_delta,
        };
        inner.append_planned(batch, &plan, now, Some(first))
    }
}
