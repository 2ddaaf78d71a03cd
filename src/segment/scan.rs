//! Scanning a log: the longest valid prefix of batches, and the indexes that describe it.
#![warn(clippy::indexing_slicing)]

use crate::codec::batch::{self, BatchHeader};
use crate::codec::index::{OffsetEntry, TIME_ENTRY_LEN, TimeEntry};
use crate::error::Result;
use crate::segment::writer::{IndexRule, Limits};

/// What a scan of a log found: the valid prefix and the indexes that describe it.
#[derive(Debug, Clone)]
pub struct Scan {
    /// End of the last valid batch.
    pub valid_end: usize,
    /// Offset after the last valid batch.
    pub next_offset: u64,
    /// First record timestamp of the segment, if any.
    pub first_timestamp: Option<i64>,
    /// Largest timestamp, `i64::MIN` if empty.
    pub max_timestamp: i64,
    /// Rebuilt offset-index entries.
    pub index: Vec<OffsetEntry>,
    /// Rebuilt time-index entries.
    pub time: Vec<TimeEntry>,
    /// Index rule state at `valid_end`.
    pub rule: IndexRule,
    /// Why the scan stopped before the end of the file, with the position.
    pub stopped: Option<(usize, String)>,
}

/// Walks the batches of `log` from its start, checking size, CRC and offset order, and
/// rebuilds the indexes with the writer's rule. Stops at the first invalid byte.
pub fn scan(log: &[u8], base: u64, limits: &Limits) -> Scan {
    let mut s = Scan {
        valid_end: 0,
        next_offset: base,
        first_timestamp: None,
        max_timestamp: i64::MIN,
        index: Vec::new(),
        time: Vec::new(),
        rule: IndexRule::EMPTY,
        stopped: None,
    };
    let mut pos = 0usize;
    while pos < log.len() {
        let header = match valid_batch(log, pos, s.next_offset, base) {
            Ok((h, _)) => h,
            Err(reason) => {
                s.stopped = Some((pos, reason));
                break;
            }
        };
        let seg_max = s.max_timestamp.max(header.max_timestamp);
        let first = header.base_offset;
        let last = header.last_offset();
        let step = s
            .rule
            .step(limits, base, pos, first, last, seg_max)
            .unwrap_or(crate::segment::writer::IndexStep {
                offset: None,
                time: None,
            });
        s.index.extend(step.offset);
        s.time.extend(step.time);
        s.rule.apply(&step, header.length as usize);
        if header.record_count > 0 {
            s.first_timestamp.get_or_insert(header.first_timestamp);
        }
        s.max_timestamp = seg_max;
        s.next_offset = header.next_offset();
        pos += header.length as usize;
        s.valid_end = pos;
    }
    s
}

impl Scan {
    /// Adds the entry a writer adds when it seals a segment (see `SegmentWriter::finish`), so
    /// a rebuilt index of a sealed segment ends with the segment's largest timestamp.
    pub(crate) fn add_seal_entry(&mut self, base: u64, limits: &Limits) {
        let has_room = (self.time.len() + 1) * TIME_ENTRY_LEN <= limits.time_capacity;
        if self.next_offset > base && self.max_timestamp > self.rule.last_time_entry && has_room {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "`valid_batch` keeps every scanned offset minus base within u32"
            )]
            self.time.push(TimeEntry {
                timestamp: self.max_timestamp,
                relative_offset: (self.next_offset - 1 - base) as u32,
            });
            self.rule.time_entries += 1;
            self.rule.last_time_entry = self.max_timestamp;
        }
    }

    pub(crate) fn encoded_indexes(&self) -> (Vec<u8>, Vec<u8>) {
        (
            self.index.iter().flat_map(OffsetEntry::encode).collect(),
            self.time.iter().flat_map(TimeEntry::encode).collect(),
        )
    }
}

/// Checks the batch at `pos`: header, bounds, expected base offset, 32-bit relative offsets
/// and CRC; returns its header and bytes, or the reason it is invalid.
pub(crate) fn valid_batch(
    log: &[u8],
    pos: usize,
    expected: u64,
    base: u64,
) -> Result<(BatchHeader, &[u8]), String> {
    let rest = log.get(pos..).unwrap_or_default();
    let h = BatchHeader::parse(rest).map_err(|e| e.to_string())?;
    let Some(bytes) = rest.get(..h.length as usize) else {
        return Err("batch extends past the end of the file".into());
    };
    if h.base_offset != expected {
        return Err(format!(
            "batch base offset {} where {expected} was expected",
            h.base_offset
        ));
    }
    if h.last_offset() - base > u64::from(u32::MAX) {
        return Err("batch offsets overflow the segment's 32-bit relative offsets".into());
    }
    batch::check_crc(bytes).map_err(|e| e.to_string())?;
    Ok((h, bytes))
}
