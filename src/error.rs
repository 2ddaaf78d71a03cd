//! The crate's error type: everything the store, its topics, partitions and segments can
//! report. The Kafka codec and the mirror (features `kafka`, `mirror`) have their own, which
//! wrap this one.

use std::io;
use std::path::PathBuf;

pub use crate::codec::Corruption;
use crate::codec::DecodeError;

/// Everything that can go wrong in the store. Each variant says when it happens and what to
/// do. (`pagelog::kafka::Error` and `pagelog::mirror::Error` wrap it for those features.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call on `path` failed: disk full, permissions, a missing file that
    /// must exist, and so on. Check `source`; once the cause is fixed the operation can be
    /// retried (a failed *sync* poisons the partition instead, see [`Error::Poisoned`]).
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// A file's contents break the format at `position`. Reading returns this for damaged
    /// data instead of returning it; recovery truncates damaged tails of unsynced data on
    /// open. A persistent `Corrupt` in synced data means the storage itself was damaged: run
    /// [`Segment::verify`](crate::Segment::verify) to list every problem.
    #[error("corrupt data in {} at byte {position}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte position of the damage in that file.
        position: u64,
        /// Which rule of docs/FORMAT.md was broken: match on it to tell kinds of damage
        /// apart.
        reason: Corruption,
    },

    /// A batch's stored CRC does not match its bytes: the data was damaged after it was
    /// written. The records of that batch are not returned.
    #[error(
        "checksum mismatch in {} at byte {position}: stored {expected:#010x}, computed {got:#010x}",
        path.display()
    )]
    ChecksumMismatch {
        /// The damaged file.
        path: PathBuf,
        /// Byte position of the batch.
        position: u64,
        /// CRC stored in the batch header.
        expected: u32,
        /// CRC computed over the batch's bytes.
        got: u32,
    },

    /// The requested offset is outside `[start, end]` of the partition (`end` is the next
    /// offset to be written; reading at `end` is not an error and returns nothing yet).
    /// Clamp to the range and retry.
    #[error("offset {requested} is out of range [{start}, {end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: u64,
        /// The first offset still stored.
        start: u64,
        /// The next offset to be written.
        end: u64,
    },

    /// A batch would encode to more than the topic's `max_batch_bytes`. Split the batch or
    /// raise the limit.
    #[error("batch of {size} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// Encoded size of the batch.
        size: u64,
        /// The configured maximum.
        max: u64,
    },

    /// A standalone [`Segment`](crate::Segment) has no room for the batch (size, index or
    /// 32-bit relative offsets). Seal it and create the next one at its `next_offset`; a
    /// `Partition` does this by itself.
    #[error("segment with base offset {base_offset} is full")]
    SegmentFull {
        /// Base offset of the full segment.
        base_offset: u64,
    },

    /// The batch would take offsets past `u64::MAX - 1`: the log's offset space is used up
    /// (only reachable with a base offset near the top of the range).
    #[error("offsets exhausted: the batch would pass the largest offset")]
    OffsetsExhausted,

    /// `append_batch` was called with no records.
    #[error("a batch needs at least one record")]
    EmptyBatch,

    /// Another writer has the store, the topic or this segment file open: a `Store` opened
    /// with [`Store::open`](crate::Store::open) in this or another process (its process id
    /// in `pid` when known), or a standalone writer of the segment. Close it first; two
    /// writers would corrupt the data. To read while it writes, use
    /// [`Store::open_read_only`](crate::Store::open_read_only).
    #[error("{} is locked by another writer{}", path.display(),
        pid.map_or_else(String::new, |p| format!(" (process {p})")))]
    Locked {
        /// The store's lock file, the topic's live state file, or the segment file another
        /// writer holds.
        path: PathBuf,
        /// The process id of the holder, when it is known (the store's and topic's locks
        /// record it).
        pid: Option<u32>,
    },

    /// The store was opened with [`Store::open_read_only`](crate::Store::open_read_only):
    /// appends, flushes, retention, compaction, truncation, topic creation and deletion need
    /// the writer. Consumer groups still commit their offsets.
    #[error("{0} needs the writer: the store is open read-only")]
    ReadOnly(String),

    /// A read-only open found a topic it cannot read without its writer: no writer of this
    /// version opened it yet, the last writer stopped during this boot in the middle of
    /// opening or changing it, or the machine restarted since it was last closed cleanly (its
    /// unsynced tail needs recovery). Open the store with [`Store::open`](crate::Store::open)
    /// once (or wait for the writer process to start), then retry.
    #[error("{} cannot be read without its writer: {reason}", path.display())]
    NeedsRecovery {
        /// The topic's live state file.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },

    /// A configuration value is outside its documented range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A topic name is empty, too long, `.`/`..`, or has characters other than ASCII letters,
    /// digits, `.`, `_` and `-` (Kafka's rule).
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// `create_topic` was called for a topic that already exists.
    #[error("topic {0:?} already exists")]
    TopicExists(String),

    /// The topic does not exist (or was deleted).
    #[error("topic {0:?} does not exist")]
    TopicNotFound(String),

    /// The partition number is not below the topic's partition count.
    #[error("topic {topic:?} has {partitions} partitions; there is no partition {partition}")]
    PartitionNotFound {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },

    /// A sync, seal or truncation of this partition failed (`cause` says which, with the
    /// original error's kind), so data reported as written may not be durable, or the
    /// partition may be half truncated. The partition refuses appends and flushes until it is
    /// reopened (close and reopen the store), which recovers the log from disk and finishes an
    /// interrupted truncation.
    #[error("partition {} is poisoned until it is reopened: {cause}", path.display())]
    Poisoned {
        /// The partition directory.
        path: PathBuf,
        /// What failed.
        cause: PoisonCause,
    },

    /// The records this call was waiting on were discarded by a concurrent
    /// [`Partition::truncate_to`](crate::Partition::truncate_to) before they became durable.
    /// `offset` is the durable end after the truncation.
    #[error("records discarded by a concurrent truncation (durable end now {offset})")]
    Truncated {
        /// Offsets below this are durable.
        offset: u64,
    },

    /// The store, topic or partition was closed or deleted; handles to it no longer work.
    #[error("{0} is closed")]
    Closed(String),

    /// [`Partition::append_at`](crate::Partition::append_at) was given offsets it cannot
    /// place: below the partition's next offset, not strictly increasing, not below `end`, or
    /// spanning more than 2^32 offsets in one batch. Nothing was written; fix the caller.
    #[error("cannot place records at these offsets: {reason}")]
    InvalidPlacement {
        /// What was wrong.
        reason: String,
    },
}

/// Shorthand for `Result<T, pagelog::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an `io::Error`. `WouldBlock` becomes [`Error::Locked`]: on the files
/// pagelog opens (regular files, blocking mode, no locked mappings) only a non-blocking lock
/// attempt reports it.
/// The operation whose failure poisoned a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoisonedBy {
    /// An `fdatasync` of the partition's files (a flush, a durable append, the background).
    Sync,
    /// Sealing a segment at a roll (trimming its preallocated space).
    Seal,
    /// A truncation, which the next open finishes from its intent file.
    Truncation,
    /// Background work that panicked.
    Background,
}

/// Why a partition is poisoned: what failed, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} failed: {message}", match .by {
    PoisonedBy::Sync => "a sync",
    PoisonedBy::Seal => "sealing a segment",
    PoisonedBy::Truncation => "a truncation",
    PoisonedBy::Background => "background work",
})]
pub struct PoisonCause {
    /// The operation that failed.
    pub by: PoisonedBy,
    /// The kind of the I/O error behind it, if it was one (`StorageFull`, `Other` for EIO,
    /// ...).
    pub kind: Option<io::ErrorKind>,
    /// The failure's message, with the file it concerned.
    pub message: String,
}

impl PoisonCause {
    /// The cause for `error`, met by `by`.
    pub(crate) fn new(by: PoisonedBy, error: &Error) -> Self {
        let kind = match error {
            Error::Io { source, .. } => Some(source.kind()),
            Error::Poisoned { cause, .. } => cause.kind,
            _ => None,
        };
        Self {
            by,
            kind,
            message: error.to_string(),
        }
    }
}

impl Error {
    /// [`Error::Corrupt`] for `file` at `position`.
    pub(crate) fn corrupt(file: impl Into<PathBuf>, position: u64, reason: Corruption) -> Self {
        Error::Corrupt {
            path: file.into(),
            position,
            reason,
        }
    }

    /// The error for a metadata file that failed to decode (a CRC failure included, as
    /// [`Corruption::Checksum`] at byte 0).
    pub(crate) fn metadata(file: impl Into<PathBuf>, e: &DecodeError) -> Self {
        Error::Corrupt {
            path: file.into(),
            position: e.position().unwrap_or(0) as u64,
            reason: e.corruption(),
        }
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| {
        if source.kind() == io::ErrorKind::WouldBlock {
            Error::Locked { path, pid: None }
        } else {
            Error::Io { path, source }
        }
    }
}
