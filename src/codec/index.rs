//! Entries of the sparse offset index (`.index`) and the time index (`.timeindex`).
//!
//! Grammar: `offset_entry := relative_offset:u32 position:u32 crc:u32`,
//! `time_entry := timestamp:i64 relative_offset:u32 crc:u32`; each CRC-32 covers the bytes
//! before it in the entry. An all-zero entry (a preallocated, never written slot) fails its
//! CRC, so unwritten space is never mistaken for an entry.
#![warn(clippy::indexing_slicing)]

use super::{DecodeError, le_i64, le_u32};

/// Bytes per offset-index entry.
pub const OFFSET_ENTRY_LEN: usize = 12;
/// Bytes per time-index entry.
pub const TIME_ENTRY_LEN: usize = 16;

/// An offset-index entry: the batch whose base offset is `segment base + relative_offset`
/// starts at byte `position` of the `.log` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    /// Base offset of the batch minus the segment's base offset.
    pub relative_offset: u32,
    /// Byte position of the batch in the `.log` file.
    pub position: u32,
}

/// A time-index entry: every record at or before `segment base + relative_offset` has a
/// timestamp `<= timestamp`, and `timestamp` is the largest such value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    /// Largest timestamp in the segment up to and including the batch ending at the offset.
    pub timestamp: i64,
    /// Last offset of that batch minus the segment's base offset.
    pub relative_offset: u32,
}

impl OffsetEntry {
    /// Encodes the entry.
    #[must_use]
    pub fn encode(&self) -> [u8; OFFSET_ENTRY_LEN] {
        let mut b = [0u8; OFFSET_ENTRY_LEN];
        b[0..4].copy_from_slice(&self.relative_offset.to_le_bytes());
        b[4..8].copy_from_slice(&self.position.to_le_bytes());
        let crc = crc32fast::hash(&b[..8]);
        b[8..12].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes an entry from exactly [`OFFSET_ENTRY_LEN`] bytes.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] for a short slice, [`DecodeError::Checksum`] when the entry's
    /// CRC does not match (including a zero-filled slot).
    #[inline]
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let b = entry::<OFFSET_ENTRY_LEN>(b)?;
        check(&b[..8], le_u32(b, 8))?;
        Ok(Self {
            relative_offset: le_u32(b, 0),
            position: le_u32(b, 4),
        })
    }
}

impl TimeEntry {
    /// Encodes the entry.
    #[must_use]
    pub fn encode(&self) -> [u8; TIME_ENTRY_LEN] {
        let mut b = [0u8; TIME_ENTRY_LEN];
        b[0..8].copy_from_slice(&self.timestamp.to_le_bytes());
        b[8..12].copy_from_slice(&self.relative_offset.to_le_bytes());
        let crc = crc32fast::hash(&b[..12]);
        b[12..16].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes an entry from exactly [`TIME_ENTRY_LEN`] bytes.
    ///
    /// # Errors
    /// As [`OffsetEntry::decode`].
    #[inline]
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let b = entry::<TIME_ENTRY_LEN>(b)?;
        check(&b[..12], le_u32(b, 12))?;
        Ok(Self {
            timestamp: le_i64(b, 0),
            relative_offset: le_u32(b, 8),
        })
    }
}

#[inline]
fn entry<const N: usize>(b: &[u8]) -> Result<&[u8; N], DecodeError> {
    b.first_chunk::<N>().ok_or(DecodeError::Truncated {
        at: b.len(),
        what: "index entry",
    })
}

/// Checks the CRC `expected` of the bytes `covered`.
#[inline]
fn check(covered: &[u8], expected: u32) -> Result<(), DecodeError> {
    let got = crc32fast::hash(covered);
    if expected == got {
        Ok(())
    } else {
        Err(DecodeError::Checksum { expected, got })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_offset_entry() {
        let e = OffsetEntry {
            relative_offset: 1,
            position: 0x1000,
        };
        let b = e.encode();
        assert_eq!(&b[..8], &[1, 0, 0, 0, 0x00, 0x10, 0, 0]);
        assert_eq!(&b[8..], &crc32fast::hash(&b[..8]).to_le_bytes());
        assert_eq!(OffsetEntry::decode(&b), Ok(e));
    }

    #[test]
    fn zero_slots_are_not_entries() {
        assert!(matches!(
            OffsetEntry::decode(&[0; OFFSET_ENTRY_LEN]),
            Err(DecodeError::Checksum { .. })
        ));
        assert!(matches!(
            TimeEntry::decode(&[0; TIME_ENTRY_LEN]),
            Err(DecodeError::Checksum { .. })
        ));
        assert!(OffsetEntry::decode(&[0; 5]).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(rel: u32, pos: u32, ts: i64, flip in 0usize..12) {
            let e = OffsetEntry { relative_offset: rel, position: pos };
            prop_assert_eq!(OffsetEntry::decode(&e.encode())?, e);
            let t = TimeEntry { timestamp: ts, relative_offset: rel };
            prop_assert_eq!(TimeEntry::decode(&t.encode())?, t);
            let mut b = e.encode();
            b[flip] ^= 0x40;
            prop_assert!(OffsetEntry::decode(&b).is_err());
        }
    }
}
