//! Pure encoders and decoders for everything pagelog writes to disk. No I/O happens here:
//! the functions take and return byte slices, so they can be tested, fuzzed and reasoned about
//! in isolation. `docs/FORMAT.md` is the specification these modules implement.
#![warn(clippy::indexing_slicing)]

pub mod batch;
mod decode;
pub mod index;
pub mod live;
pub mod meta;
pub mod record;
pub mod varint;

/// Why a byte sequence is not a valid encoding. Positions are relative to the slice that was
/// given to the decoder; callers turn them into file positions in [`crate::Error`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end before the structure does.
    #[error("truncated at byte {at}: {what}")]
    Truncated {
        /// Position where more bytes were needed.
        at: usize,
        /// What was being read.
        what: &'static str,
    },
    /// A varint runs past the input or past 64 bits.
    #[error("malformed varint at byte {at}")]
    Varint {
        /// Position of the varint's first byte.
        at: usize,
    },
    /// A stored CRC does not match the bytes it covers.
    #[error("checksum mismatch: stored {expected:#010x}, computed {got:#010x}")]
    Checksum {
        /// CRC stored in the data.
        expected: u32,
        /// CRC computed over the data.
        got: u32,
    },
    /// A field holds a value the format does not allow.
    #[error("invalid data at byte {at}: {reason}")]
    Invalid {
        /// Position of the offending field.
        at: usize,
        /// Which rule was broken.
        reason: Corruption,
    },
}

impl DecodeError {
    /// The same error with its position moved `by` bytes further (from a slice to the file
    /// holding it).
    #[must_use]
    pub fn shifted(self, by: usize) -> Self {
        match self {
            Self::Truncated { at, what } => Self::Truncated { at: at + by, what },
            Self::Varint { at } => Self::Varint { at: at + by },
            Self::Invalid { at, reason } => Self::Invalid {
                at: at + by,
                reason,
            },
            c @ Self::Checksum { .. } => c,
        }
    }

    /// Where the damage is, relative to the decoded slice (`None` for a checksum, which
    /// covers the whole structure).
    #[must_use]
    pub fn position(&self) -> Option<usize> {
        match self {
            Self::Truncated { at, .. } | Self::Varint { at } | Self::Invalid { at, .. } => {
                Some(*at)
            }
            Self::Checksum { .. } => None,
        }
    }

    /// The reason as [`crate::Error::Corrupt`] carries it.
    #[must_use]
    pub fn corruption(&self) -> Corruption {
        match self {
            Self::Truncated { what, .. } => Corruption::Truncated { what },
            Self::Varint { .. } => Corruption::Varint,
            Self::Checksum { expected, got } => Corruption::Checksum {
                expected: *expected,
                got: *got,
            },
            Self::Invalid { reason, .. } => reason.clone(),
        }
    }
}

/// What is wrong with damaged data: the reason [`crate::Error::Corrupt`] carries, one variant
/// per kind of damage, so that a caller can match on it. The position and file are in the
/// error itself; docs/FORMAT.md says what each rule is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// The data ends before the structure does: a batch that extends past the end of its
    /// log, a torn header, a metadata file cut short.
    #[error("truncated {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// A varint runs past its record or past 64 bits.
    #[error("malformed varint")]
    Varint,
    /// A length or count field is impossible: shorter than the header it includes, past the
    /// end of what holds it, negative, or disagreeing with the fields it covers.
    #[error("bad length: {what}")]
    Length {
        /// Which length.
        what: &'static str,
    },
    /// A magic number or version this build does not read: not a pagelog file of this kind,
    /// or one written by a newer build.
    #[error("unknown format: {what}")]
    UnknownFormat {
        /// Which field.
        what: &'static str,
    },
    /// Bits or bytes the format reserves (always zero) are set.
    #[error("reserved bits set: {what}")]
    Reserved {
        /// Which field.
        what: &'static str,
    },
    /// A field holds a value outside its set: an unknown policy, a flag neither 0 nor 1, a
    /// header key that is not UTF-8.
    #[error("invalid value: {what}")]
    Value {
        /// Which field.
        what: &'static str,
    },
    /// Offsets out of order or out of range: a batch whose base offset does not follow the
    /// batch before it, a record offset delta out of order, an offset range that overflows.
    #[error("offsets out of order: {what}")]
    OffsetOrder {
        /// Which offsets.
        what: &'static str,
    },
    /// A batch in a sealed part of the log claims offsets past the partition's next offset
    /// (a damaged `last_offset_delta`).
    #[error("batch at offset {base} claims offsets up to {last}, past the partition's end {end}")]
    PastTheEnd {
        /// The batch's base offset.
        base: u64,
        /// The last offset its header claims.
        last: u64,
        /// The partition's next offset.
        end: u64,
    },
    /// The log ends before an offset its segment holds: the file was cut short from outside.
    #[error("log ends before offset {offset}, which it should hold")]
    CutShort {
        /// The first offset missing.
        offset: u64,
    },
    /// A metadata file's stored CRC does not match its bytes (a batch's mismatch is
    /// [`crate::Error::ChecksumMismatch`]).
    #[error("checksum mismatch: stored {expected:#010x}, computed {got:#010x}")]
    Checksum {
        /// CRC stored in the file.
        expected: u32,
        /// CRC computed over its bytes.
        got: u32,
    },
    /// A group offsets file written for another partition count than the topic's.
    #[error("offsets for {found} partitions, the topic has {expected}")]
    PartitionCount {
        /// Partitions in the file.
        found: usize,
        /// Partitions of the topic.
        expected: u32,
    },
    /// A file or directory the store needs is missing (a partition directory).
    #[error("missing {what}")]
    Missing {
        /// What is missing.
        what: &'static str,
    },
    /// An entry named like a segment's log is not a regular file (a symbolic link, a
    /// directory) where the log needs it: the offsets it should hold are unknown. Put the
    /// segment file back, or move the entry away if it is not one.
    #[error("a segment's log is {found}, not a regular file")]
    NotRegularFile {
        /// What it is: "a directory", "a symbolic link" or "a special file".
        found: &'static str,
    },
    /// A file or batch is larger than pagelog can handle (the address space, a batch that
    /// no longer fits when re-encoded).
    #[error("too large: {what}")]
    TooLarge {
        /// What is too large.
        what: &'static str,
    },
    /// `topic.meta` decodes but describes a configuration outside the valid ranges.
    #[error("stored configuration is invalid: {reason}")]
    Config {
        /// Why the configuration is invalid.
        reason: String,
    },
    /// Data pagelog just wrote does not read back as written: a pagelog bug, reported
    /// instead of being kept.
    #[error("inconsistent: {what} (a pagelog bug)")]
    Inconsistent {
        /// What did not match.
        what: &'static str,
    },
}

/// True if every byte of `bytes` is zero (an unused, preallocated tail). Compares 4 KiB at a
/// time with `memcmp` against zeros: a byte loop over the megabytes a crashed log reserves
/// would cost milliseconds of a recovery.
pub(crate) fn all_zero(bytes: &[u8]) -> bool {
    const ZEROS: [u8; 4096] = [0; 4096];
    bytes
        .chunks(ZEROS.len())
        .all(|c| ZEROS.get(..c.len()).is_some_and(|z| z == c))
}

/// Reads a little-endian `u16` at `at`. Callers check bounds first.
#[inline]
#[expect(
    clippy::indexing_slicing,
    reason = "callers read fixed-size arrays or slices whose length they checked"
)]
pub(crate) fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Reads a little-endian `u32` at `at`. Callers check bounds first.
#[inline]
#[expect(
    clippy::indexing_slicing,
    reason = "callers read fixed-size arrays or slices whose length they checked"
)]
pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a little-endian `u64` at `at`. Callers check bounds first.
#[inline]
#[expect(
    clippy::indexing_slicing,
    reason = "callers read fixed-size arrays or slices whose length they checked"
)]
pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Reads a little-endian `i64` at `at`. Callers check bounds first.
#[inline]
pub(crate) fn le_i64(b: &[u8], at: usize) -> i64 {
    le_u64(b, at).cast_signed()
}

#[cfg(test)]
mod zero_tests {
    use super::all_zero;

    #[test]
    fn all_zero_sees_a_nonzero_byte_anywhere() {
        let zeros = vec![0u8; 3 * 4096 + 17];
        assert!(all_zero(&zeros));
        assert!(all_zero(&[]));
        for at in [0, 4095, 4096, 3 * 4096, 3 * 4096 + 16] {
            let mut v = zeros.clone();
            v[at] = 1;
            assert!(!all_zero(&v), "a one at {at}");
        }
    }
}
