//! Full verification of a segment: every batch, record and index entry.

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
    let log = core.log.prefix();
    let path = &core.paths.log;
    let mut report = |path: &Path, position: usize, reason: String| {
        problems.push(Problem {
            path: path.to_path_buf(),
            position: position as u64,
            reason,
        })
    };
    let (mut batches, mut records) = (0u64, 0u64);
    let mut starts = std::collections::BTreeMap::new();
    let mut pos = 0usize;
    let mut expected = Some(core.base);
    while pos < log.len() {
        let rest = &log[pos..];
        let checked = BatchHeader::parse(rest)
            .map_err(|e| decode_error(path, pos, shift(e, pos)).to_string())
            .and_then(|h| {
                if h.length as usize > rest.len() {
                    return Err("batch extends past the end of the log".to_string());
                }
                batch::check_crc(&rest[..h.length as usize])
                    .map_err(|e| decode_error(path, pos, e).to_string())?;
                Ok(h)
            });
        match checked {
            Ok(h) => {
                if let Some(e) = expected.filter(|&e| e != h.base_offset) {
                    report(
                        path,
                        pos,
                        format!("batch base offset {} where {e} was expected", h.base_offset),
                    );
                }
                for r in RecordIter::new(&rest[..h.length as usize], &h) {
                    match r {
                        Ok(_) => records += 1,
                        Err(e) => {
                            report(path, pos, format!("record structure: {}", shift(e, pos)));
                            break;
                        }
                    }
                }
                batches += 1;
                starts.insert(pos, h.base_offset);
                expected = Some(h.next_offset());
                pos += h.length as usize;
            }
            Err(reason) => {
                report(path, pos, reason);
                // Resynchronise: the next position holding a batch whose CRC checks.
                let next = (pos + 1..log.len()).find(|&p| {
                    BatchHeader::parse(&log[p..]).is_ok_and(|h| {
                        (h.length as usize) <= log.len() - p
                            && batch::check_crc(&log[p..p + h.length as usize]).is_ok()
                    })
                });
                pos = next.unwrap_or(log.len());
                expected = None;
            }
        }
    }
    let index = core.index.prefix();
    let mut prev: Option<OffsetEntry> = None;
    for (i, chunk) in index.chunks_exact(OFFSET_ENTRY_LEN).enumerate() {
        let at = i * OFFSET_ENTRY_LEN;
        match OffsetEntry::decode(chunk) {
            Ok(e) => {
                let target = core.base + u64::from(e.relative_offset);
                if starts.get(&(e.position as usize)) != Some(&target) {
                    report(
                        &core.paths.index,
                        at,
                        format!("entry for offset {target} does not point at its batch"),
                    );
                }
                if prev.is_some_and(|p| {
                    p.relative_offset >= e.relative_offset || p.position >= e.position
                }) {
                    report(&core.paths.index, at, "entries out of order".into());
                }
                prev = Some(e);
            }
            Err(e) => report(&core.paths.index, at, e.to_string()),
        }
    }
    let time = core.time.prefix();
    let mut prev_t: Option<TimeEntry> = None;
    for (i, chunk) in time.chunks_exact(TIME_ENTRY_LEN).enumerate() {
        let at = i * TIME_ENTRY_LEN;
        match TimeEntry::decode(chunk) {
            Ok(t) => {
                if prev_t.is_some_and(|p| {
                    p.timestamp >= t.timestamp || p.relative_offset > t.relative_offset
                }) {
                    report(&core.paths.time, at, "entries out of order".into());
                }
                prev_t = Some(t);
            }
            Err(e) => report(&core.paths.time, at, e.to_string()),
        }
    }
    (problems, batches, records)
}
