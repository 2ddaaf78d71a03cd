//! Full verification of a segment: every batch, record and index entry.
#![warn(clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::Path;

use crate::codec::batch::{self, BatchHeader, RecordIter};
use crate::codec::index::{OFFSET_ENTRY_LEN, OffsetEntry, TIME_ENTRY_LEN, TimeEntry};
use crate::segment::core::{SegmentCore, decode_error, shift};

/// One problem found by [`Segment::verify`](crate::Segment::verify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The damaged file.
    pub path: std::path::PathBuf,
    /// Byte position of the damage.
    pub position: u64,
    /// What is wrong.
    pub reason: String,
}

/// Full check of a segment: every batch's header, CRC, offset order and record structure,
/// every index entry's CRC and target. Continues past damage by searching for the next
/// valid batch, so every problem is listed.
pub fn verify(core: &SegmentCore) -> (Vec<Problem>, u64, u64) {
    let mut problems = Vec::new();
    let (starts, batches, records) = verify_log(core, &mut problems);
    verify_offset_index(core, &starts, &mut problems);
    verify_time_index(core, &mut problems);
    (problems, batches, records)
}

fn report(problems: &mut Vec<Problem>, path: &Path, position: usize, reason: String) {
    problems.push(Problem {
        path: path.to_path_buf(),
        position: position as u64,
        reason,
    });
}

/// The batch at `pos` of `log` if its header parses, it lies within `log` and its CRC checks.
fn checked_batch(log: &[u8], pos: usize) -> Option<(BatchHeader, &[u8])> {
    let rest = log.get(pos..)?;
    let h = BatchHeader::parse(rest).ok()?;
    let bytes = rest.get(..h.length as usize)?;
    batch::check_crc(bytes).ok()?;
    Some((h, bytes))
}

/// Checks the log's batches and records; returns the position and base offset of every
/// batch whose CRC checks, and the numbers of batches and records.
fn verify_log(core: &SegmentCore, problems: &mut Vec<Problem>) -> (BTreeMap<usize, u64>, u64, u64) {
    let log = core.log.prefix();
    let path = &core.paths.log;
    let (mut batches, mut records) = (0u64, 0u64);
    let mut starts = BTreeMap::new();
    let mut pos = 0usize;
    let mut expected = Some(core.base);
    while let Some(rest) = log.get(pos..).filter(|r| !r.is_empty()) {
        let checked = BatchHeader::parse(rest)
            .map_err(|e| decode_error(path, pos, shift(e, pos)).to_string())
            .and_then(|h| {
                let Some(bytes) = rest.get(..h.length as usize) else {
                    return Err("batch extends past the end of the log".to_string());
                };
                batch::check_crc(bytes).map_err(|e| decode_error(path, pos, e).to_string())?;
                Ok((h, bytes))
            });
        match checked {
            Ok((h, bytes)) => {
                if let Some(e) = expected.filter(|&e| e != h.base_offset) {
                    let reason =
                        format!("batch base offset {} where {e} was expected", h.base_offset);
                    report(problems, path, pos, reason);
                }
                for r in RecordIter::new(bytes, &h) {
                    match r {
                        Ok(_) => records += 1,
                        Err(e) => {
                            let reason = format!("record structure: {}", shift(e, pos));
                            report(problems, path, pos, reason);
                            break;
                        }
                    }
                }
                batches += 1;
                starts.insert(pos, h.base_offset);
                expected = Some(h.next_offset());
                pos += bytes.len();
            }
            Err(reason) => {
                report(problems, path, pos, reason);
                // Resynchronise: the next position holding a batch whose CRC checks.
                let next = (pos + 1..log.len()).find(|&p| checked_batch(log, p).is_some());
                pos = next.unwrap_or(log.len());
                expected = None;
            }
        }
    }
    (starts, batches, records)
}

/// Checks every offset-index entry's CRC, order and target (the start of a batch in `starts`).
fn verify_offset_index(
    core: &SegmentCore,
    starts: &BTreeMap<usize, u64>,
    problems: &mut Vec<Problem>,
) {
    let path = &core.paths.index;
    let mut prev: Option<OffsetEntry> = None;
    for (i, chunk) in core
        .index
        .prefix()
        .chunks_exact(OFFSET_ENTRY_LEN)
        .enumerate()
    {
        let at = i * OFFSET_ENTRY_LEN;
        match OffsetEntry::decode(chunk) {
            Ok(e) => {
                let target = core.base + u64::from(e.relative_offset);
                if starts.get(&(e.position as usize)) != Some(&target) {
                    let reason = format!("entry for offset {target} does not point at its batch");
                    report(problems, path, at, reason);
                }
                if prev.is_some_and(|p| {
                    p.relative_offset >= e.relative_offset || p.position >= e.position
                }) {
                    report(problems, path, at, "entries out of order".into());
                }
                prev = Some(e);
            }
            Err(e) => report(problems, path, at, e.to_string()),
        }
    }
}

/// Checks every time-index entry's CRC and order.
fn verify_time_index(core: &SegmentCore, problems: &mut Vec<Problem>) {
    let path = &core.paths.time;
    let mut prev: Option<TimeEntry> = None;
    for (i, chunk) in core.time.prefix().chunks_exact(TIME_ENTRY_LEN).enumerate() {
        let at = i * TIME_ENTRY_LEN;
        match TimeEntry::decode(chunk) {
            Ok(t) => {
                if prev.is_some_and(|p| {
                    p.timestamp >= t.timestamp || p.relative_offset > t.relative_offset
                }) {
                    report(problems, path, at, "entries out of order".into());
                }
                prev = Some(t);
            }
            Err(e) => report(problems, path, at, e.to_string()),
        }
    }
}
