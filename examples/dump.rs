//! `dump`: prints what a pagelog file holds and checks every checksum, like Kafka's
//! `kafka-dump-log.sh`. Works on any copy of a file: it opens no store and takes no lock.
//!
//! ```text
//! cargo run --example dump -- PATH [--batches-only] [--full-values]
//! ```
//!
//! The kind of file is taken from its name (docs/FORMAT.md describes each):
//!
//! * `<base>.log`: every record batch (byte position, offset range, record count, length,
//!   timestamps, CRC) and, unless `--batches-only`, every record (offset, timestamp, key,
//!   value, headers; keys and values are printed escaped, values cut at 64 bytes unless
//!   `--full-values`). Checks each batch's CRC, header fields, offset continuity (the
//!   first batch starts at the base offset in the file name, each next one where the
//!   previous one ended) and the records' structure. A zero-filled tail (space the writer
//!   reserved ahead of the data) is reported as such, not as corruption. After a damaged
//!   batch it continues with the next one if the damaged batch's length is plausible (its
//!   header parses and it ends within the file); otherwise it stops there.
//! * `<base>.index` / `<base>.timeindex`: every entry, with its CRC checked, ordering
//!   checked, and (for `.index`, if the `.log` beside it exists) each entry checked to point
//!   at the batch it names. Zero-filled slots are reported as unused space.
//! * `topic.meta`, `checkpoint`, `groups/<group>.offsets`: the decoded contents.
//! * `live`, a topic's live state file: its header (CRC checked) and each partition's slot
//!   as the file holds it at that moment (a writer may change it while it is read: an odd
//!   sequence number marks a part being written).
//! * the lock files in `groups/<group>.locks/` (`commit`, `member.<n>`, `partition.<p>`): what
//!   each is for. Only the `flock` held on them means anything, and `dump` takes no lock, so
//!   it cannot say whether one is held.
//!
//! Every problem is printed in place as `CORRUPT at byte N: ...`. Exit code 0 if the file is
//! intact; otherwise one line `error: ...` on stderr (how many problems, and the first one
//! with its byte position) and exit code 1, also for an unreadable file or bad arguments.

#[path = "common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use common::{Arg, Args, Result, required};
use pagelog::codec::DecodeError;
use pagelog::codec::batch::{self, BatchHeader, HeaderIter, RecordIter};
use pagelog::codec::index::{OFFSET_ENTRY_LEN, OffsetEntry, TIME_ENTRY_LEN, TimeEntry};
use pagelog::codec::live;
use pagelog::codec::meta;

const USAGE: &str = "\
usage: dump PATH [--batches-only] [--full-values]

Prints the contents of a pagelog file and checks every checksum (like kafka-dump-log.sh).
PATH is a segment's .log, .index or .timeindex, a topic.meta, a topic's live state file,
a partition checkpoint, hooked mark or truncate intent, a group's .offsets file or one of its
lock files. Exits 1 if anything is corrupt.

  --batches-only  for a .log: print batches, not their records
  --full-values   print whole keys and values (default: cut at 64 bytes)
  -h, --help      print this help
";

/// Keys and values longer than this are cut unless `--full-values`.
const SHOWN_BYTES: usize = 64;

struct Opts {
    batches_only: bool,
    full_values: bool,
}

fn main() -> ExitCode {
    common::main_with(run)
}

fn run() -> Result<()> {
    let mut args = Args::from_env()?;
    let mut path: Option<PathBuf> = None;
    let mut o = Opts {
        batches_only: false,
        full_values: false,
    };
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long(ref f) if f == "help" => return common::print_usage(USAGE),
            Arg::Short('h') => return common::print_usage(USAGE),
            Arg::Long(ref f) if f == "batches-only" => o.batches_only = true,
            Arg::Long(ref f) if f == "full-values" => o.full_values = true,
            Arg::Positional(ref p) if path.is_none() => path = Some(p.into()),
            other => return Err(Args::unexpected(&other)),
        }
    }
    let path = required(path, "PATH")?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(what) = group_lock_file(&path, &name) {
        println!(
            "{}: {what} (docs/FORMAT.md 2.4). An empty lock file: only the flock held on it \
             means anything, and dump takes no lock.",
            path.display()
        );
        return Ok(());
    }
    let kind = match (name.as_str(), path.extension().and_then(|e| e.to_str())) {
        (_, Some("log")) => Kind::Log,
        (_, Some("timeindex")) => Kind::TimeIndex,
        (_, Some("index")) => Kind::OffsetIndex,
        ("topic.meta", _) => Kind::TopicMeta,
        ("checkpoint", _) => Kind::Checkpoint,
        (_, Some("offsets")) => Kind::GroupOffsets,
        ("hooked", _) => Kind::Hooked,
        ("truncate", _) => Kind::Truncate,
        (live::LIVE_FILE, _) => Kind::Live,
        _ => {
            return Err(format!(
                "do not know how to dump {name:?}: expected a .log, .index, .timeindex, \
                 topic.meta, checkpoint, hooked, truncate, live or .offsets file"
            )
            .into());
        }
    };
    let data = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut d = Dumper {
        out: BufWriter::new(std::io::stdout().lock()),
        problems: Vec::new(),
        opts: o,
    };
    match kind {
        Kind::Log => d.log(&path, &data)?,
        Kind::OffsetIndex => d.offset_index(&path, &data)?,
        Kind::TimeIndex => d.time_index(&path, &data)?,
        Kind::TopicMeta => d.meta(&path, &data, |b| {
            meta::decode_topic(b).map(|c| format!("{c:#?}"))
        })?,
        Kind::Checkpoint => d.meta(&path, &data, |b| {
            meta::decode_checkpoint(b).map(|c| format!("{c:#?}"))
        })?,
        Kind::Hooked => d.meta(&path, &data, |b| {
            meta::decode_hooked(b).map(|to| {
                format!("on_segment_sealed accepted every sealed segment below offset {to}")
            })
        })?,
        Kind::Truncate => d.meta(&path, &data, |b| {
            meta::decode_truncate(b).map(|t| format!("truncation to offset {t} in progress"))
        })?,
        Kind::Live => d.meta(&path, &data, describe_live)?,
        Kind::GroupOffsets => d.meta(&path, &data, |b| {
            meta::decode_group_offsets(b).map(|offsets| {
                let mut s = String::from("committed offsets (next offset to read):");
                for (p, o) in offsets.iter().enumerate() {
                    match o {
                        // Writing to a String cannot fail.
                        Some(o) => _ = write!(s, "\n  partition {p}: {o}"),
                        None => _ = write!(s, "\n  partition {p}: none"),
                    }
                }
                s
            })
        })?,
    }
    d.out.flush()?;
    match d.problems.first() {
        None => Ok(()),
        Some((pos, what)) => Err(format!(
            "{} is corrupt: {} problem(s), the first at byte {pos}: {what}",
            path.display(),
            d.problems.len()
        )
        .into()),
    }
}

/// What a consumer group's lock file `name` at `path` is for, if it is one: a file in a
/// A topic's live state file (FORMAT.md 7.8): the header, then each partition's slot. The
/// words are read from a copy as they were: a slot whose sequence is odd was being written.
fn describe_live(b: &[u8]) -> Result<String, DecodeError> {
    let h = live::decode_header(b)?;
    if b.len() != live::file_len(h.partitions) {
        return Err(DecodeError::Truncated {
            at: b.len(),
            what: "live state: not one slot per partition",
        });
    }
    let word = |at: usize| {
        b.get(at..at + 8)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let half = |at: usize| {
        b.get(at..at + 4)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    let state = live::State::from_word(half(live::STATE))
        .map_or_else(|| "unknown".to_owned(), |s| format!("{s:?}"));
    let boot = if h.boot == [0; 16] {
        "zero (closed cleanly: holds across reboots)".to_owned()
    } else {
        h.boot.iter().fold(String::new(), |mut s, x| {
            _ = write!(s, "{x:02x}");
            s
        })
    };
    let mut s = format!(
        "live state: {} partitions, boot {boot}, state {state}, session {}, writer pid {}, \
         wake {}, waiting {}",
        h.partitions,
        word(live::SESSION),
        half(live::WRITER_PID),
        half(live::WAKE),
        half(live::WAITING)
    );
    for p in 0..h.partitions {
        let at = live::slot_at(p);
        let t = |f: usize| word(at + f);
        let sealed = match t(live::tail::SEALED_BASE) {
            u64::MAX => "none".to_owned(),
            base => format!(
                "base {base} log {} index {} time {}",
                t(live::tail::SEALED_LOG_LEN),
                t(live::tail::SEALED_INDEX_LEN),
                t(live::tail::SEALED_TIME_LEN)
            ),
        };
        _ = write!(
            s,
            "\n  partition {p}: tail seq {} active base {} next offset {} log {} index {} time {} \
             max timestamp {}; sealed last: {sealed}\n    cold seq {} start {} epoch {} \
             durable {}; list generation {} changing {}",
            t(live::tail::SEQ),
            t(live::tail::ACTIVE_BASE),
            t(live::tail::NEXT_OFFSET),
            t(live::tail::LOG_LEN),
            t(live::tail::INDEX_LEN),
            t(live::tail::TIME_LEN),
            t(live::tail::MAX_TIMESTAMP).cast_signed(),
            t(live::cold::SEQ),
            t(live::cold::START),
            t(live::cold::EPOCH),
            t(live::cold::DURABLE),
            t(live::cold::GEN),
            t(live::cold::CHANGING)
        );
    }
    Ok(s)
}

/// `<group>.locks` directory named `commit`, `member.<n>` or `partition.<p>`.
fn group_lock_file(path: &Path, name: &str) -> Option<String> {
    let dir = path.parent()?.file_name()?.to_str()?;
    let group = dir.strip_suffix(".locks")?;
    let number = |prefix: &str| {
        name.strip_prefix(prefix)
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if name == "commit" {
        Some(format!(
            "the commit lock of consumer group {group:?}, held while its offsets file is rewritten"
        ))
    } else if let Some(n) = number("member.") {
        Some(format!(
            "member slot {n} of consumer group {group:?}, held by a live member"
        ))
    } else {
        number("partition.").map(|p| {
            format!(
                "the ownership lock of partition {p} in consumer group {group:?}, held by the \
                 member reading it"
            )
        })
    }
}

/// The kinds of file this tool reads, told apart by name.
enum Kind {
    Log,
    OffsetIndex,
    TimeIndex,
    TopicMeta,
    Checkpoint,
    GroupOffsets,
    Hooked,
    Truncate,
    Live,
}

struct Dumper {
    out: BufWriter<std::io::StdoutLock<'static>>,
    /// Byte position and description of every problem found.
    problems: Vec<(u64, String)>,
    opts: Opts,
}

/// The base offset in a segment file's name (`00000000000000000042.log` is 42).
fn base_from_name(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// A decode error with its position made absolute (`base` is where the decoded slice
/// starts in the file).
fn describe(e: &DecodeError, base: usize) -> String {
    match e {
        DecodeError::Truncated { at, what } => format!("truncated at byte {}: {what}", base + at),
        DecodeError::Varint { at } => format!("malformed varint at byte {}", base + at),
        DecodeError::Checksum { expected, got } => {
            format!("checksum mismatch: stored {expected:#010x}, computed {got:#010x}")
        }
        DecodeError::Invalid { at, reason } => {
            format!("invalid data at byte {}: {reason}", base + at)
        }
    }
}

impl Dumper {
    fn problem(&mut self, pos: usize, what: String) -> Result<()> {
        writeln!(self.out, "CORRUPT at byte {pos}: {what}")?;
        self.problems.push((pos as u64, what));
        Ok(())
    }

    /// Writes `bytes` escaped and quoted, cut unless `--full-values`.
    fn bytes(&mut self, bytes: Option<&[u8]>) -> Result<()> {
        let Some(b) = bytes else {
            write!(self.out, "null")?;
            return Ok(());
        };
        if self.opts.full_values || b.len() <= SHOWN_BYTES {
            write!(self.out, "\"{}\"", b.escape_ascii())?;
        } else {
            let cut = &b[..SHOWN_BYTES];
            write!(
                self.out,
                "\"{}\"... ({} bytes)",
                cut.escape_ascii(),
                b.len()
            )?;
        }
        Ok(())
    }

    fn log(&mut self, path: &Path, data: &[u8]) -> Result<()> {
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

    fn offset_index(&mut self, path: &Path, data: &[u8]) -> Result<()> {
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

    fn time_index(&mut self, path: &Path, data: &[u8]) -> Result<()> {
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

    fn meta(
        &mut self,
        path: &Path,
        data: &[u8],
        decode: impl FnOnce(&[u8]) -> Result<String, DecodeError>,
    ) -> Result<()> {
        writeln!(
            self.out,
            "Dumping {} ({} bytes)",
            path.display(),
            data.len()
        )?;
        match decode(data) {
            Ok(text) => writeln!(self.out, "{text}")?,
            Err(e) => {
                let at = match e {
                    DecodeError::Truncated { at, .. }
                    | DecodeError::Varint { at }
                    | DecodeError::Invalid { at, .. } => at,
                    DecodeError::Checksum { .. } => data.len().saturating_sub(4),
                };
                self.problem(at, describe(&e, 0))?;
            }
        }
        Ok(())
    }
}
