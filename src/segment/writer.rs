//! The writing side of the active segment: encoding batches into the mapped log and
//! maintaining both indexes.

use std::sync::atomic::Ordering;

use crate::codec::batch::{self, BatchPlan};
use crate::codec::index::{OFFSET_ENTRY_LEN, OffsetEntry, TIME_ENTRY_LEN, TimeEntry};
use crate::codec::record::NewRecord;
use crate::config::TopicConfig;
use crate::error::{Result, io_err};
use crate::mmap::MapWriter;
use crate::num::usize_from;
use crate::segment::core::SegmentCore;

/// How much of the log file is reserved on disk at a time.
pub(crate) const LOG_RESERVE_CHUNK: u64 = 4 << 20;

/// How much of an index file is reserved on disk at a time: an active segment holds this
/// much ahead of its entries, not its whole capacity (`index_bytes`, 16 MiB by default), so
/// a store of many partitions does not reserve megabytes of index per partition up front.
pub(crate) const INDEX_RESERVE_CHUNK: u64 = 256 << 10;

/// Size limits of one segment, derived from the topic configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Capacity of the `.log` mapping: the segment size limit.
    pub log_capacity: usize,
    /// Capacity of the `.index`, a multiple of the entry size.
    pub index_capacity: usize,
    /// Capacity of the `.timeindex`, a multiple of the entry size.
    pub time_capacity: usize,
    /// Bytes between offset-index entries.
    pub index_interval: u64,
    /// Largest batch.
    pub max_batch: u32,
    /// How far ahead of the log's tail to prefault pages (see `MapWriter::set_prefault`).
    pub prefault: u64,
}

/// The prefault window when syncs are rare. Under `FlushPolicy::EveryAppend` only the pages a
/// batch covers are prefaulted: each sync would also write zero pages prefaulted past it.
const PREFAULT_WINDOW: u64 = 256 << 10;

impl Limits {
    /// Limits for segments of a topic with this (validated) configuration.
    pub fn new(c: &TopicConfig) -> Self {
        let log_capacity = usize_from(c.segment_bytes);
        let per_entry = u64::from(c.index_interval_bytes).max(batch::HEADER_LEN as u64);
        // At most one entry per batch and per interval: more slots can never be used.
        let bound = usize_from(c.segment_bytes / per_entry + 2);
        let index_entries = (c.index_bytes as usize / OFFSET_ENTRY_LEN).min(bound);
        let time_entries = (c.index_bytes as usize / TIME_ENTRY_LEN).min(bound + 1);
        Self {
            log_capacity,
            index_capacity: index_entries * OFFSET_ENTRY_LEN,
            time_capacity: time_entries * TIME_ENTRY_LEN,
            index_interval: u64::from(c.index_interval_bytes),
            // A validated segment_bytes is at most MAX_SEGMENT_BYTES = u32::MAX.
            max_batch: c
                .max_batch_bytes
                .min(u32::try_from(c.segment_bytes).unwrap_or(u32::MAX)),
            prefault: match c.flush {
                crate::config::FlushPolicy::EveryAppend => 0,
                _ => PREFAULT_WINDOW,
            },
        }
    }
}

/// The sparse-index rule, shared by the writer and by recovery so that a rebuilt index is
/// byte-for-byte the index the writer would have written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexRule {
    /// Bytes appended since the last offset-index entry (or since the segment start).
    pub bytes_since_entry: u64,
    /// Timestamp of the last time-index entry, `i64::MIN` if none.
    pub last_time_entry: i64,
    /// Offset-index entries so far.
    pub index_entries: usize,
    /// Time-index entries so far.
    pub time_entries: usize,
}

/// What the rule asks for before a batch at `position` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStep {
    pub offset: Option<OffsetEntry>,
    pub time: Option<TimeEntry>,
}

impl IndexRule {
    /// The rule's state for an empty segment.
    pub const EMPTY: Self = Self {
        bytes_since_entry: 0,
        last_time_entry: i64::MIN,
        index_entries: 0,
        time_entries: 0,
    };

    /// Entries to add for a batch `[first, last]` of `len` bytes at `position`, where
    /// `segment_max_ts` is the segment's largest timestamp including this batch. `None` when
    /// an entry is due but the offset index is full (the segment must roll first).
    #[expect(
        clippy::cast_possible_truncation,
        reason = "in a segment, offsets minus base fit u32 (`append` checks last - base before \
                  this) and positions are below segment_bytes <= u32::MAX"
    )]
    pub fn step(
        &self,
        limits: &Limits,
        base: u64,
        position: usize,
        first: u64,
        last: u64,
        segment_max_ts: i64,
    ) -> Option<IndexStep> {
        if self.bytes_since_entry < limits.index_interval
            || (position == 0 && limits.index_interval > 0)
        {
            return Some(IndexStep {
                offset: None,
                time: None,
            });
        }
        if (self.index_entries + 1) * OFFSET_ENTRY_LEN > limits.index_capacity {
            return None;
        }
        let offset = Some(OffsetEntry {
            relative_offset: (first - base) as u32,
            position: position as u32,
        });
        // Keep one time slot free for the entry written when the segment is sealed.
        let time = (segment_max_ts > self.last_time_entry
            && (self.time_entries + 2) * TIME_ENTRY_LEN <= limits.time_capacity)
            .then(|| TimeEntry {
                timestamp: segment_max_ts,
                relative_offset: (last - base) as u32,
            });
        Some(IndexStep { offset, time })
    }

    /// Advances the state past a batch of `len` bytes that took `step`.
    pub fn apply(&mut self, step: &IndexStep, len: usize) {
        if step.offset.is_some() {
            self.index_entries += 1;
            self.bytes_since_entry = 0;
        }
        if let Some(t) = step.time {
            self.time_entries += 1;
            self.last_time_entry = t.timestamp;
        }
        self.bytes_since_entry += len as u64;
    }
}

/// Write state of the active segment.
#[derive(Debug)]
pub struct SegmentWriter {
    pub(crate) log: MapWriter,
    pub(crate) index: MapWriter,
    pub(crate) time: MapWriter,
    pub(crate) limits: Limits,
    pub(crate) next_offset: u64,
    pub(crate) first_timestamp: Option<i64>,
    pub(crate) max_timestamp: i64,
    pub(crate) rule: IndexRule,
    /// Where batches written with `pwrite` are encoded (see [`PWRITE_BATCH`]), and batches
    /// with large values all but those values (see [`batch::encode_gathered`]).
    pub(crate) scratch: Vec<u8>,
    /// Where the values left out of `scratch` go (see [`batch::encode_gathered`]).
    pub(crate) splits: Vec<usize>,
}

/// Batches of this many bytes are encoded into a buffer and written with `pwrite(2)` rather
/// than encoded in place through the mapping. A page that a write fault (or the prefault)
/// brings in is zeroed before the batch is copied over it (tmpfs clears it, ext4 reads an
/// unwritten block as zeros), and a sync must write-protect every mapped page it cleans; the
/// kernel's copy of whole pages into the page cache does neither, and the pages it writes stay
/// out of the writer's page tables. From one page up that saves more than the system call
/// costs; smaller batches (single small records) stay in the mapping, where most of them
/// cost no system call at all. Larger batches go through the mapping too, so that the buffer
/// stays bounded.
const PWRITE_BATCH: std::ops::RangeInclusive<usize> = (4 << 10)..=(1 << 20);

/// What an append to the active segment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The batch was published; the offset after it.
    At(u64),
    /// It does not fit, and nothing was written.
    Full(Full),
}

/// Why a batch cannot go into this segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The log would exceed its capacity.
    Log,
    /// An index entry is due and the offset index is full.
    Index,
    /// A relative offset would not fit in 32 bits.
    Offsets,
    /// The partition's offsets would pass `u64::MAX`.
    OffsetSpace,
}

/// The records of one batch to append.
#[derive(Clone, Copy)]
pub enum BatchRecords<'a, 'r> {
    /// Records at consecutive offsets from the segment's next offset (at least one).
    Contiguous(&'a [NewRecord<'r>]),
    /// Records at explicit deltas from the segment's next offset, in a batch covering
    /// `last_delta + 1` offsets; the deltas are strictly increasing and at most `last_delta`.
    /// May be empty (a batch that only covers offsets).
    Placed {
        /// `(offset delta, record)` pairs.
        records: &'a [(u32, NewRecord<'r>)],
        /// The batch's last offset minus its base offset.
        last_delta: u32,
    },
}

impl<'r> BatchRecords<'_, 'r> {
    /// The value of each record, in order.
    fn values(self) -> impl Iterator<Item = Option<&'r [u8]>> + Clone {
        let (contiguous, placed) = match self {
            BatchRecords::Contiguous(r) => (r, &[][..]),
            BatchRecords::Placed { records, .. } => (&[][..], records),
        };
        let contiguous = contiguous.iter().map(|r| r.value);
        contiguous.chain(placed.iter().map(|(_, r)| r.value))
    }

    /// Encodes the batch at offset `first` into `dst`, leaving out the values
    /// [`batch::gathered`] selects (see [`batch::encode_gathered`]); `splits` says where they
    /// belong.
    fn encode_gathered(
        self,
        dst: &mut [u8],
        first: u64,
        plan: &BatchPlan,
        now: i64,
        splits: &mut Vec<usize>,
    ) {
        match self {
            BatchRecords::Contiguous(r) => {
                batch::encode_gathered(dst, first, r, plan, now, splits);
            }
            BatchRecords::Placed {
                records,
                last_delta,
            } => batch::encode_placed_gathered(dst, first, last_delta, records, plan, now, splits),
        }
    }

    /// The batch's last offset minus its base offset.
    fn last_delta(&self, plan: &BatchPlan) -> u64 {
        match self {
            BatchRecords::Contiguous(_) => u64::from(plan.count.saturating_sub(1)),
            BatchRecords::Placed { last_delta, .. } => u64::from(*last_delta),
        }
    }
}

impl SegmentWriter {
    /// Appends one encoded batch of `records` (planned with `plan`) and publishes it. Returns
    /// the offset after the batch (it starts at the writer's next offset before the call),
    /// or [`Appended::Full`] when it does not fit; nothing is written then.
    ///
    /// The end alone, not a `Range`: a two-word result written through memory here would be
    /// reloaded by the caller as one 16-byte load, a store-forwarding stall on every append.
    pub fn append(
        &mut self,
        core: &SegmentCore,
        records: BatchRecords<'_, '_>,
        plan: &BatchPlan,
        now: i64,
    ) -> Result<Appended> {
        let first = self.next_offset;
        let last_rel = (first - core.base) + records.last_delta(plan);
        if last_rel > u64::from(u32::MAX) {
            return Ok(Appended::Full(Full::Offsets));
        }
        // The offset after the batch must exist too: offsets end below u64::MAX.
        let Some(last) = core.base.checked_add(last_rel).filter(|&l| l < u64::MAX) else {
            return Ok(Appended::Full(Full::OffsetSpace));
        };
        let position = self.log.published();
        if plan.len > self.log.remaining() {
            return Ok(Appended::Full(Full::Log));
        }
        let seg_max = self.max_timestamp.max(plan.max_timestamp);
        let Some(step) = self
            .rule
            .step(&self.limits, core.base, position, first, last, seg_max)
        else {
            return Ok(Appended::Full(Full::Index));
        };
        // Everything that can fail (space reservations) happens before the batch is encoded,
        // so a failed append leaves no complete batch behind for recovery to resurrect. The
        // index entries go above their watermarks, invisible until published below.
        if let Some(e) = step.offset
            && !write_entry(&mut self.index, &e.encode()).map_err(io_err(&core.paths.index))?
        {
            return Ok(Appended::Full(Full::Index));
        }
        if let Some(t) = step.time
            && !write_entry(&mut self.time, &t.encode()).map_err(io_err(&core.paths.time))?
        {
            return Ok(Appended::Full(Full::Index));
        }
        if !self.write_batch(core, records, plan, now, first)? {
            return Ok(Appended::Full(Full::Log));
        }
        self.rule.apply(&step, plan.len);
        self.next_offset = last + 1;
        self.max_timestamp = seg_max;
        // A batch without records has no timestamp of its own (recovery skips it the same way).
        if plan.count > 0 {
            self.first_timestamp.get_or_insert(plan.first_timestamp);
        }
        // Publish: log first, then the offsets, then the indexes (see segment::core).
        self.log.publish(position + plan.len);
        core.max_timestamp.store(seg_max, Ordering::Release);
        core.next_offset.store(self.next_offset, Ordering::Release);
        self.index
            .publish(self.rule.index_entries * OFFSET_ENTRY_LEN);
        self.time.publish(self.rule.time_entries * TIME_ENTRY_LEN);
        Ok(Appended::At(last + 1))
    }

    /// Encodes the batch at the log's watermark and writes it (see [`PWRITE_BATCH`] and
    /// [`batch::encode_gathered`] for how); `false` if it does not fit the mapping.
    fn write_batch(
        &mut self,
        core: &SegmentCore,
        records: BatchRecords<'_, '_>,
        plan: &BatchPlan,
        now: i64,
        first: u64,
    ) -> Result<bool> {
        let encode = |dst: &mut [u8]| match records {
            BatchRecords::Contiguous(r) => batch::encode(dst, first, r, plan, now),
            BatchRecords::Placed {
                records,
                last_delta,
            } => batch::encode_placed(dst, first, last_delta, records, plan, now),
        };
        let buffered = plan.len - plan.gathered;
        if plan.gathered > 0 && buffered <= *PWRITE_BATCH.end() {
            // Values of 4 KiB and more are written from where they are, with the rest of the
            // batch around them: no copy of them, and, at any size, no page faults.
            if self.scratch.len() < buffered {
                self.scratch.resize(buffered, 0);
            }
            let bytes = &mut self.scratch[..buffered];
            records.encode_gathered(bytes, first, plan, now, &mut self.splits);
            let pieces = pieces(
                bytes,
                &self.splits,
                records.values().filter_map(batch::gathered),
            );
            if !self
                .log
                .write_tail_gathered(plan.len, pieces)
                .map_err(io_err(&core.paths.log))?
            {
                return Ok(false);
            }
        } else if PWRITE_BATCH.contains(&plan.len) {
            if self.scratch.len() < plan.len {
                self.scratch.resize(plan.len, 0);
            }
            let bytes = &mut self.scratch[..plan.len];
            encode(bytes);
            if !self
                .log
                .write_tail(bytes)
                .map_err(io_err(&core.paths.log))?
            {
                return Ok(false);
            }
        } else {
            let Some(dst) = self
                .log
                .tail_mut(plan.len)
                .map_err(io_err(&core.paths.log))?
            else {
                return Ok(false);
            };
            encode(dst);
        }
        Ok(true)
    }

    /// Writes the final time-index entry and trims all three files to their contents.
    pub fn finish(&mut self, core: &SegmentCore) -> Result<()> {
        if self.next_offset > core.base && self.max_timestamp > self.rule.last_time_entry {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "`append` keeps a segment's offsets minus base within u32"
            )]
            let t = TimeEntry {
                timestamp: self.max_timestamp,
                relative_offset: (self.next_offset - 1 - core.base) as u32,
            };
            // Best effort: without it (no room, or no space on disk for it) opening the sealed
            // segment reads the batch headers after the last entry to find its largest
            // timestamp. A full disk must not fail the roll.
            if write_entry(&mut self.time, &t.encode()).unwrap_or(false) {
                self.rule.time_entries += 1;
                self.rule.last_time_entry = t.timestamp;
                self.time.publish(self.rule.time_entries * TIME_ENTRY_LEN);
            }
        }
        self.trim(core)
    }

    /// Trims all three files to their published contents.
    pub fn trim(&mut self, core: &SegmentCore) -> Result<()> {
        self.log.trim().map_err(io_err(&core.paths.log))?;
        self.index.trim().map_err(io_err(&core.paths.index))?;
        self.time.trim().map_err(io_err(&core.paths.time))?;
        Ok(())
    }
}

/// A batch encoded by [`batch::encode_gathered`] into `buffer` with `splits`, and the values
/// it left out: `buffer[..splits[0]]`, the first value, `buffer[splits[0]..splits[1]]`, …
fn pieces<'p>(
    buffer: &'p [u8],
    splits: &'p [usize],
    values: impl Iterator<Item = &'p [u8]> + Clone,
) -> impl Iterator<Item = &'p [u8]> + Clone {
    let starts = std::iter::once(0).chain(splits.iter().copied());
    let ends = splits
        .iter()
        .copied()
        .map(Some)
        .chain(std::iter::once(None));
    let around = starts.zip(ends).map(move |(from, to)| match to {
        Some(to) => buffer.get(from..to).unwrap_or_default(),
        None => buffer.get(from..).unwrap_or_default(),
    });
    // Each stretch of the buffer, then the value that follows it (none after the last).
    around
        .zip(values.map(Some).chain(std::iter::once(None)))
        .flat_map(|(stretch, value)| std::iter::once(stretch).chain(value))
}

/// Writes one index entry right after the published entries (publishing is the caller's).
/// `Ok(false)` if there is no room.
fn write_entry(w: &mut MapWriter, bytes: &[u8]) -> std::io::Result<bool> {
    match w.tail_mut(bytes.len())? {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            Ok(true)
        }
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::record::Header;

    /// The batch `encode_gathered` and its left-out values make, put together.
    fn gathered_batch(records: BatchRecords<'_, '_>, plan: &BatchPlan) -> Vec<u8> {
        let mut buffer = vec![0; plan.len - plan.gathered];
        let mut splits = vec![7]; // cleared by the encoder
        records.encode_gathered(&mut buffer, 40, plan, 5, &mut splits);
        let values = records.values().filter_map(batch::gathered);
        pieces(&buffer, &splits, values)
            .flatten()
            .copied()
            .collect()
    }

    #[test]
    fn a_gathered_batch_is_the_batch_byte_for_byte() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let headers = [Header {
            key: "h",
            value: b"v",
        }];
        let shapes: [&[usize]; 5] = [
            &[65_536],
            &[4095, 4096],
            &[10, 5000, 0, 20_000, 3],
            &[4096, 4096, 4096],
            &[1, 2, 3],
        ];
        for sizes in shapes {
            let mut records: Vec<NewRecord<'_>> = sizes
                .iter()
                .map(|&n| {
                    NewRecord::new(&big[..n])
                        .timestamp(1_000 + i64::from(u32::try_from(n).unwrap_or(0)))
                })
                .collect();
            records.push(NewRecord::tombstone(b"k"));
            records.push(NewRecord::new(&big[..6000]).key(b"key").headers(&headers));
            let plan = batch::measure(&records, 5).unwrap_or_else(|| unreachable!());
            let mut whole = vec![0; plan.len];
            batch::encode(&mut whole, 40, &records, &plan, 5);
            let gathered = gathered_batch(BatchRecords::Contiguous(&records), &plan);
            assert_eq!(gathered, whole, "{sizes:?}");

            let placed: Vec<(u32, NewRecord<'_>)> = records
                .iter()
                .zip((0u32..).step_by(3))
                .map(|(r, d)| (d, *r))
                .collect();
            let last_delta = 3 * u32::try_from(records.len()).unwrap_or(0) + 2;
            let plan = batch::measure_placed(&placed, 5).unwrap_or_else(|| unreachable!());
            let mut whole = vec![0; plan.len];
            batch::encode_placed(&mut whole, 40, last_delta, &placed, &plan, 5);
            let records = BatchRecords::Placed {
                records: &placed,
                last_delta,
            };
            assert_eq!(gathered_batch(records, &plan), whole, "placed {sizes:?}");
        }
    }
}
