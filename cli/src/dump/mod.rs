//! `pagelog dump`: prints what a pagelog file holds and checks every checksum
//! (kafka-dump-log). Works on any copy of a file: it opens no store and takes no lock.
//!
//! The kind of file is taken from its name (docs/FORMAT.md describes each): a segment's
//! `.log` (every batch and, unless `--batches-only`, every record; CRCs, header fields, offset
//! continuity and record structure checked; a zero-filled tail is reserved space, not damage;
//! after a damaged batch it goes on if the batch's length is plausible), `.index` and
//! `.timeindex` (every entry, CRC and order checked, `.index` entries against the `.log`
//! beside it), `topic.meta`, `checkpoint`, `hooked`, `truncate`, `groups/<group>.offsets`,
//! a topic's `live` state file (header CRC checked, each partition's slot as the file holds
//! it at that moment: an odd sequence number marks a part being written), and the lock files
//! in `groups/<group>.locks/` (what each is for: only the `flock` held on them means
//! anything, and `dump` takes no lock).
//!
//! Every problem is printed in place as `CORRUPT at byte N: ...`; the command then fails
//! with one line naming how many problems and the first one's position.

mod live_state;
mod segment;

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args as ClapArgs;
use pagelog::codec::DecodeError;
use pagelog::codec::live;
use pagelog::codec::meta;

use crate::util::Result;
use live_state::describe_live;

pub const EXAMPLE: &str = "\
Examples:
  pagelog dump pagelog-data/orders/0/00000000000000000000.log
  pagelog dump --batches-only pagelog-data/orders/0/00000000000000000000.log
  pagelog dump pagelog-data/orders/live";

/// Keys and values longer than this are cut unless `--full-values`.
const SHOWN_BYTES: usize = 64;

/// `dump`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// A segment's .log, .index or .timeindex, a topic.meta, a topic's live state file, a
    /// partition's checkpoint, hooked or truncate file, a group's .offsets or lock file
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// For a .log: print batches, not their records
    #[arg(long)]
    batches_only: bool,
    /// Print whole keys and values [default: cut at 64 bytes]
    #[arg(long)]
    full_values: bool,
}

struct Opts {
    batches_only: bool,
    full_values: bool,
}

pub fn run(a: &Args) -> Result<()> {
    let path = &a.path;
    let o = Opts {
        batches_only: a.batches_only,
        full_values: a.full_values,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(what) = group_lock_file(path, &name) {
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
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut d = Dumper {
        out: BufWriter::new(std::io::stdout().lock()),
        problems: Vec::new(),
        opts: o,
    };
    match kind {
        Kind::Log => d.log(path, &data)?,
        Kind::OffsetIndex => d.offset_index(path, &data)?,
        Kind::TimeIndex => d.time_index(path, &data)?,
        Kind::TopicMeta => d.meta(path, &data, |b| {
            meta::decode_topic(b).map(|c| format!("{c:#?}"))
        })?,
        Kind::Checkpoint => d.meta(path, &data, |b| {
            meta::decode_checkpoint(b).map(|c| format!("{c:#?}"))
        })?,
        Kind::Hooked => d.meta(path, &data, |b| {
            meta::decode_hooked(b).map(|to| {
                format!("on_segment_sealed accepted every sealed segment below offset {to}")
            })
        })?,
        Kind::Truncate => d.meta(path, &data, |b| {
            meta::decode_truncate(b).map(|t| format!("truncation to offset {t} in progress"))
        })?,
        Kind::Live => d.meta(path, &data, describe_live)?,
        Kind::GroupOffsets => d.meta(path, &data, |b| {
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

pub(crate) struct Dumper {
    out: BufWriter<std::io::StdoutLock<'static>>,
    /// Byte position and description of every problem found.
    problems: Vec<(u64, String)>,
    opts: Opts,
}

/// The base offset in a segment file's name (`00000000000000000042.log` is 42).
pub(crate) fn base_from_name(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// A decode error with its position made absolute (`base` is where the decoded slice
/// starts in the file).
pub(crate) fn describe(e: &DecodeError, base: usize) -> String {
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
    pub(crate) fn problem(&mut self, pos: usize, what: String) -> Result<()> {
        writeln!(self.out, "CORRUPT at byte {pos}: {what}")?;
        self.problems.push((pos as u64, what));
        Ok(())
    }

    /// Writes `bytes` escaped and quoted, cut unless `--full-values`.
    pub(crate) fn bytes(&mut self, bytes: Option<&[u8]>) -> Result<()> {
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
