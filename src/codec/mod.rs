//! Pure encoders and decoders for everything pagelog writes to disk. No I/O happens here:
//! the functions take and return byte slices, so they can be tested, fuzzed and reasoned about
//! in isolation. `docs/FORMAT.md` is the specification these modules implement.

pub mod batch;
pub mod index;
pub mod meta;
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
        reason: &'static str,
    },
}

/// Reads a little-endian `u16` at `at`. Callers check bounds first.
#[inline]
pub(crate) fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Reads a little-endian `u32` at `at`. Callers check bounds first.
#[inline]
pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a little-endian `u64` at `at`. Callers check bounds first.
#[inline]
pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Reads a little-endian `i64` at `at`. Callers check bounds first.
#[inline]
pub(crate) fn le_i64(b: &[u8], at: usize) -> i64 {
    le_u64(b, at) as i64
}
