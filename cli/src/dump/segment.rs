//! `dump` of segment files: a `.log`, batch by batch, and its `.index` and `.timeindex`,
//! entry by entry.

use std::io::Write;
use std::path::Path;

use pagelog::codec::batch::{self, BatchHeader, HeaderIter, RecordIter};
use pagelog::codec::index::{OFFSET_ENTRY_LEN, OffsetEntry, TIME_ENTRY_LEN, TimeEntry};

use super::{Dumper, base_from_name, describe};
use crate::util::Result;

impl Dumper {
    pub(super) fn log(&mut self, path: &Path, data: &[u8]) -> Result<()> {
        let file_base = base_from_name(path);
        writeln!(
            self.out,
            "Dumping {} ({} bytes, segment base offset {})",
            path.display(),
            data.len(),
            file_base.map_or_else(|| "unknown".to_owned(), |b| b.to_string())
        )?;
        let (mut batches, mut bad_batches, mut records) = (0u64, 0u64, 0u64);
        let mut expected_base = file_base;
        let mut pos = 0usize;
        let mut zero_tail = 0usize;
        let mut stopped = false;
        while pos < data.len() {
            let rest = &data[pos..];
            if rest.iter().all(|&b| b == 0) {
                zero_tail = rest.len();
                break;
            }
            let header = match BatchHeader::parse(rest) {
                Ok(h) => h,
                Err(e) => {
                    let what = format!("unreadable batch header: {}", describe(&e, pos));
                    self.problem(pos, what)?;
                    stopped = true;
                    break;
                }
            };
            let length = header.length as usize;
            if length > rest.len() {
                let what = format!(
                    "batch length {length} runs past the end of the file ({} bytes left)",
                    rest.len()
                );
                self.problem(pos, what)?;
                stopped = true;
                break;
            }
            batches += 1;
            let bytes = &rest[..length];
            let crc = batch::check_crc(bytes);
            writeln!(
                self.out,
                "batch at byte {pos}: offsets {}..={} ({} record{}), {length} bytes, \
                 first timestamp {}, max timestamp {}, crc {:#010x} {}",
                header.base_offset,
                header.last_offset(),
                header.record_count,
                if header.record_count == 1 { "" } else { "s" },
                header.first_timestamp,
                header.max_timestamp,
                header.crc,
                if crc.is_ok() { "ok" } else { "MISMATCH" }
            )?;
            let problems_before = self.problems.len();
            if let Some(exp) = expected_base
                && header.base_offset != exp
            {
                let what = if pos == 0 {
                    format!(
                        "first batch starts at offset {}, the segment's base offset is {exp}",
                        header.base_offset
                    )
                } else {
                    format!(
                        "batch starts at offset {}, the previous batch ended before {exp}",
                        header.base_offset
                    )
                };
                self.problem(pos, what)?;
            }
            if let Some(b) = file_base
                && header.last_offset().saturating_sub(b) > u64::from(u32::MAX)
            {
                let what = format!(
                    "last offset {} is more than 2^32-1 past the segment base {b}",
                    header.last_offset()
                );
                self.problem(pos, what)?;
            }
            match crc {
                Err(e) => self.problem(pos, describe(&e, pos))?,
                Ok(()) => records += self.records(pos, bytes, &header)?,
            }
            if self.problems.len() > problems_before {
                bad_batches += 1;
            }
            expected_base = Some(header.next_offset());
            pos += length;
        }
        let end = if stopped {
            format!("stopped at byte {pos}: the rest of the file cannot be read as batches")
        } else {
            format!("valid data ends at byte {pos}, then {zero_tail} zero bytes of reserved space")
        };
        writeln!(
            self.out,
            "Summary: {batches} batches ({bad_batches} damaged), {records} records; {end}"
        )?;
        Ok(())
    }

    /// Prints (unless `--batches-only`) and checks the records of a batch whose CRC matched.
    fn records(&mut self, pos: usize, bytes: &[u8], header: &BatchHeader) -> Result<u64> {
        let mut n = 0;
        for r in RecordIter::new(bytes, header) {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    self.problem(pos, format!("damaged record: {}", describe(&e, pos)))?;
                    break;
                }
            };
            n += 1;
            if self.opts.batches_only {
                continue;
            }
            write!(
                self.out,
                "  offset {} timestamp {} key ",
                header.base_offset + u64::from(r.offset_delta),
                r.timestamp
            )?;
            self.bytes(r.key)?;
            write!(self.out, " value ")?;
            self.bytes(r.value)?;
            if r.header_count > 0 {
                write!(self.out, " headers")?;
                for h in HeaderIter::new(r.headers, r.header_count) {
                    match h {
                        Ok((k, v)) => {
                            write!(self.out, " {}=", k.escape_debug())?;
                            self.bytes(Some(v))?;
                        }
                        Err(e) => {
                            writeln!(self.out)?;
                            let what = format!("damaged header: {}", describe(&e, pos));
                            self.problem(pos, what)?;
                            break;
                        }
                    }
                }
            }
            writeln!(self.out)?;
        }
        Ok(n)
    }

    pub(super) fn offset_index(&mut self, path: &Path, data: &[u8]) -> Result<()> {
        let base = base_from_name(path);
        let log_path = path.with_extension("log");
        let log = std::fs::read(&log_path).ok();
        writeln!(
            self.out,
            "Dumping {} ({} bytes, {OFFSET_ENTRY_LEN}-byte entries, segment base offset {}){}",
            path.display(),
            data.len(),
            base.map_or_else(|| "unknown".to_owned(), |b| b.to_string()),
            if log.is_some() {
                format!("; checking entries against {}", log_path.display())
            } else {
                String::new()
            }
        )?;
        let mut prev: Option<OffsetEntry> = None;
        let entries = self.entries(data, OFFSET_ENTRY_LEN, |d, at, chunk| {
            let e = OffsetEntry::decode(chunk).map_err(|e| describe(&e, at))?;
            let offset = base.map_or_else(String::new, |b| {
                format!(" = offset {}", b + u64::from(e.relative_offset))
            });
            writeln!(
                d.out,
                "entry at byte {at}: relative offset {}{offset} -> log position {}",
                e.relative_offset, e.position
            )
            .map_err(|e| e.to_string())?;
            if let Some(p) = prev
                && (e.relative_offset <= p.relative_offset || e.position <= p.position)
            {
                return Err(format!(
                    "entry ({}, {}) does not increase after ({}, {})",
                    e.relative_offset, e.position, p.relative_offset, p.position
                ));
            }
            prev = Some(e);
            if let (Some(log), Some(b)) = (&log, base) {
                let want = b + u64::from(e.relative_offset);
                let found = log
                    .get(e.position as usize..)
                    .and_then(|l| BatchHeader::parse(l).ok())
                    .map(|h| h.base_offset);
                if found != Some(want) {
                    return Err(format!(
                        "entry points at log position {}, where there is no batch starting at \
                         offset {want}",
                        e.position
                    ));
                }
            }
            Ok(())
        })?;
        writeln!(self.out, "Summary: {entries} entries")?;
        Ok(())
    }

    pub(super) fn time_index(&mut self, path: &Path, data: &[u8]) -> Result<()> {
        let base = base_from_name(path);
        writeln!(
            self.out,
            "Dumping {} ({} bytes, {TIME_ENTRY_LEN}-byte entries, segment base offset {})",
            path.display(),
            data.len(),
            base.map_or_else(|| "unknown".to_owned(), |b| b.to_string())
        )?;
        let mut prev: Option<TimeEntry> = None;
        let entries = self.entries(data, TIME_ENTRY_LEN, |d, at, chunk| {
            let e = TimeEntry::decode(chunk).map_err(|e| describe(&e, at))?;
            let offset = base.map_or_else(String::new, |b| {
                format!(" = offset {}", b + u64::from(e.relative_offset))
            });
            writeln!(
                d.out,
                "entry at byte {at}: timestamp {} -> relative offset {}{offset}",
                e.timestamp, e.relative_offset
            )
            .map_err(|e| e.to_string())?;
            if let Some(p) = prev
                && (e.timestamp <= p.timestamp || e.relative_offset < p.relative_offset)
            {
                return Err(format!(
                    "entry ({}, {}) out of order after ({}, {})",
                    e.timestamp, e.relative_offset, p.timestamp, p.relative_offset
                ));
            }
            prev = Some(e);
            Ok(())
        })?;
        writeln!(self.out, "Summary: {entries} entries")?;
        Ok(())
    }

    /// Walks the fixed-size entries of an index file: `entry` prints and checks one (an
    /// `Err` is a problem at its position). Entries form a prefix; after the first zero-filled
    /// slot (preallocated space) everything must be zero. Returns the number of entries.
    fn entries(
        &mut self,
        data: &[u8],
        len: usize,
        mut entry: impl FnMut(&mut Self, usize, &[u8]) -> Result<(), String>,
    ) -> Result<u64> {
        let mut count = 0;
        let mut zero_from: Option<usize> = None;
        for (i, chunk) in data.chunks(len).enumerate() {
            let at = i * len;
            if chunk.iter().all(|&b| b == 0) {
                zero_from.get_or_insert(at);
                continue;
            }
            if chunk.len() < len {
                let what = format!("{} trailing bytes, not a whole entry", chunk.len());
                self.problem(at, what)?;
                break;
            }
            if let Some(z) = zero_from {
                let what = format!("entry after unused (zero) slots starting at byte {z}");
                self.problem(at, what)?;
            }
            count += 1;
            if let Err(what) = entry(self, at, chunk) {
                self.problem(at, what)?;
            }
        }
        if let Some(z) = zero_from {
            writeln!(self.out, "unused (zero-filled) slots from byte {z}")?;
        }
        Ok(count)
    }
}
