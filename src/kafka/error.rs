//! The error type of the Kafka module: what is wrong with Kafka data, or an error of the store
//! underneath.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in [`pagelog::kafka`](crate::kafka): Kafka data that breaks
/// the format, cannot be decoded by this build or cannot be encoded, or an error of the
/// pagelog store read from or written to ([`Error::Store`]). Each variant says when it
/// happens and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes given as a Kafka `RecordBatch` v2 (to [`decode_batch`](super::decode_batch), or
    /// read from a Kafka `.log` by [`import`](super::import)) break the format at `position`:
    /// a length past the end, a bad varint, an offset out of order, leftover bytes. `path` is
    /// the file when one was read (positions are then file positions), `None` for a buffer.
    /// Nothing of that batch was used; the input itself is damaged (or is not a Kafka log),
    /// so fix or drop it: retrying cannot help.
    #[error("malformed Kafka record batch{} at byte {position}: {reason}", in_file(.path.as_deref()))]
    Corrupt {
        /// The Kafka `.log` file, if the bytes came from one.
        path: Option<PathBuf>,
        /// Byte position of the problem (in the file, or in the buffer given).
        position: u64,
        /// What was wrong.
        reason: String,
    },

    /// A Kafka batch's stored CRC-32C does not match the bytes it covers (attributes to the end
    /// of the batch): the batch was damaged after it was written. Its records were not used;
    /// an import stops there. Restore the file from a replica or backup, or import only the
    /// offsets before `position`.
    #[error(
        "Kafka record batch checksum mismatch{} at byte {position}: stored {expected:#010x}, computed {got:#010x}",
        in_file(.path.as_deref())
    )]
    ChecksumMismatch {
        /// The Kafka `.log` file, if the bytes came from one.
        path: Option<PathBuf>,
        /// Byte position of the batch.
        position: u64,
        /// CRC-32C stored in the batch header.
        expected: u32,
        /// CRC-32C computed over the batch.
        got: u32,
    },

    /// A well-formed Kafka batch uses something this build cannot decode: a message format
    /// older than v2 (magic 0 or 1, written by Kafka before 0.11) or a compression codec
    /// other than those listed in `docs/KAFKA.md`. Rewrite the log with a supported format
    /// (for example by consuming and producing it again with `compression.type=none`), or
    /// import with [`ImportOptions::skip_unsupported`](super::ImportOptions::skip_unsupported)
    /// to leave its offsets as a gap and count it in the report.
    #[error("unsupported Kafka record batch{} at byte {position}: {what}", in_file(.path.as_deref()))]
    Unsupported {
        /// The Kafka `.log` file, if the bytes came from one.
        path: Option<PathBuf>,
        /// Byte position of the batch.
        position: u64,
        /// What is not supported.
        what: String,
    },

    /// A record or batch cannot be expressed in Kafka's v2 format: offsets not increasing, above
    /// `i64::MAX` or more than `i32::MAX` apart in one batch, a key, value or header longer
    /// than `i32::MAX` bytes, more than `i32::MAX` records. [`export`](super::export) splits
    /// batches as needed, so it returns this only for offsets above `i64::MAX` or a stored
    /// record whose headers do not decode; a caller of [`BatchBuilder`](super::BatchBuilder)
    /// must start a new batch.
    #[error("cannot encode as a Kafka record batch: {reason}")]
    Unencodable {
        /// What did not fit.
        reason: String,
    },

    /// An error of the pagelog store an [`export`](super::export) reads from or an
    /// [`import`](super::import) writes to, or of the files involved: I/O
    /// ([`pagelog::Error::Io`](crate::Error::Io), also when the export's target directory
    /// already exists), options out of range
    /// ([`pagelog::Error::InvalidConfig`](crate::Error::InvalidConfig)), an export range
    /// outside the partition ([`pagelog::Error::OffsetOutOfRange`](crate::Error::OffsetOutOfRange)),
    /// damaged pagelog data, a Kafka log that cannot be placed in the partition
    /// ([`pagelog::Error::InvalidPlacement`](crate::Error::InvalidPlacement)), a closed
    /// partition, and so on. Handle the inner error as [`pagelog::Error`](crate::Error)
    /// documents.
    #[error(transparent)]
    Store(#[from] crate::Error),
}

/// Shorthand for `Result<T, pagelog::kafka::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

/// `" in <path>"`, or nothing: the file part of the messages.
fn in_file(path: Option<&Path>) -> String {
    path.map(|p| format!(" in {}", p.display()))
        .unwrap_or_default()
}
