//! The live state file, `<topic>/live`: where the writer process publishes each partition's
//! tail and segment-list changes to readers in other processes, and the word they sleep on.
//!
//! Grammar: `file := header:[u8; HEADER_LEN] slot{partitions}` with
//! `header := magic:[u8;8] version:u32 partitions:u32 boot:[u8;16] crc:u32 pad:[u8;28]
//! wake:u32 waiting:u32 pid:u32 state:u32 session:u64 pad` and
//! `slot := tail:[u64; 12] pad:[u8;32] cold:[u64; 13] gen:u64 changing:u64 pad:u64`.
//!
//! The first 36 bytes are written once, with a CRC; everything after them is a shared
//! memory word that the writer (and, for `waiting`, readers) changes atomically through a
//! mapping of the file, little-endian on every platform pagelog runs on. FORMAT.md 7.8 is
//! the specification: what each word means, who writes it, and the seqlock protocol of the
//! tail and cold parts. This module holds the layout and the header codec, no I/O.
#![warn(clippy::indexing_slicing)]

use super::{Corruption, DecodeError, le_u32};

/// Name of the live state file in a topic directory.
pub const LIVE_FILE: &str = "live";
/// Magic of the live state file.
pub const MAGIC: [u8; 8] = *b"PLLIVE\0\0";
/// Layout version written and read by this build.
pub const VERSION: u32 = 1;
/// Bytes before the first slot: one page, so the words readers and the writer touch most
/// (the slots) never share a cache line with the header.
pub const HEADER_LEN: usize = 4096;
/// Bytes per partition slot.
pub const SLOT_LEN: usize = 256;
/// Bytes of the header covered by its CRC (magic, version, partitions, boot id).
pub const HEADER_CRC_COVERS: usize = 32;
/// Position of the header CRC.
pub const HEADER_CRC: usize = 32;

/// Header word: bumped by the writer before it wakes sleepers (the futex word, 32 bits).
pub const WAKE: usize = 64;
/// Header word: nonzero while some reader may sleep on [`WAKE`] (set by readers, cleared by
/// the writer when it wakes them).
pub const WAITING: usize = 68;
/// Header word: process id of the last writer that opened the topic.
pub const WRITER_PID: usize = 72;
/// Header word: [`State`] of the topic's writer.
pub const STATE: usize = 76;
/// Header word (64 bits): writer sessions so far; every writer open adds one.
pub const SESSION: usize = 80;

/// Tail part of a slot (seqlock, written under the partition's writer mutex): sequence,
/// then the active segment's base, the partition's next offset, the active segment's
/// published log, offset-index and time-index lengths and largest timestamp, then the same
/// five values (base, three lengths, largest timestamp) of the segment sealed last.
pub mod tail {
    /// Sequence: odd while the writer changes the tail.
    pub const SEQ: usize = 0;
    /// Base offset of the active segment.
    pub const ACTIVE_BASE: usize = 8;
    /// The partition's next offset.
    pub const NEXT_OFFSET: usize = 16;
    /// Published bytes of the active `.log`.
    pub const LOG_LEN: usize = 24;
    /// Published bytes of the active `.index`.
    pub const INDEX_LEN: usize = 32;
    /// Published bytes of the active `.timeindex`.
    pub const TIME_LEN: usize = 40;
    /// Largest timestamp of the active segment (`i64` bits; `i64::MIN` while empty).
    pub const MAX_TIMESTAMP: usize = 48;
    /// Base offset of the segment sealed last (`u64::MAX`: none this session).
    pub const SEALED_BASE: usize = 56;
    /// Final length of its `.log`.
    pub const SEALED_LOG_LEN: usize = 64;
    /// Final length of its `.index`.
    pub const SEALED_INDEX_LEN: usize = 72;
    /// Final length of its `.timeindex`.
    pub const SEALED_TIME_LEN: usize = 80;
    /// Its largest timestamp.
    pub const SEALED_MAX_TIMESTAMP: usize = 88;
}

/// Cold part of a slot (seqlock, written under the partition's publication lock): sequence,
/// start offset, truncation epoch, durable offset, then [`CUTS`](cold::CUTS) recent cuts as
/// (epoch after it, offset cut to) pairs, oldest first, unused pairs zero.
pub mod cold {
    /// Sequence: odd while the writer changes the cold part.
    pub const SEQ: usize = 128;
    /// First offset readers may see.
    pub const START: usize = 136;
    /// Truncations so far (across writer sessions).
    pub const EPOCH: usize = 144;
    /// Offsets below this are durable.
    pub const DURABLE: usize = 152;
    /// First of the cut pairs.
    pub const CUTS_AT: usize = 160;
    /// Pairs kept; an older cut is merged into the oldest kept (its target the lower).
    pub const CUTS: usize = 4;
    /// Segment-list generation: bumped after every change of the partition's segment files
    /// (outside the seqlock, see FORMAT.md 7.8).
    pub const GEN: usize = 232;
    /// Changes of the segment files in progress (outside the seqlock).
    pub const CHANGING: usize = 240;
}

// The parts of a slot do not overlap and fit in it; the header's words fit before the slots.
const _: () = assert!(tail::SEALED_MAX_TIMESTAMP + 8 <= cold::SEQ);
const _: () = assert!(cold::CUTS_AT + cold::CUTS * 16 <= cold::GEN);
const _: () = assert!(cold::CHANGING + 8 <= SLOT_LEN);
const _: () = assert!(HEADER_LEN >= SESSION + 8);

/// The topic writer's state, in the header's [`STATE`] word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No writer ever published (a freshly made file).
    Empty = 0,
    /// A writer is opening the topic: its partitions are being recovered.
    Opening = 1,
    /// A writer has the topic open and publishes every append.
    Live = 2,
    /// The last writer closed the topic cleanly; the slots describe the files exactly, and
    /// (with a zero boot id) they were synced, so they hold after a reboot too.
    Closed = 3,
    /// The topic is being deleted.
    Deleted = 4,
}

impl State {
    /// The state a header word holds, `None` for an unknown value.
    #[must_use]
    pub fn from_word(w: u32) -> Option<Self> {
        Some(match w {
            0 => Self::Empty,
            1 => Self::Opening,
            2 => Self::Live,
            3 => Self::Closed,
            4 => Self::Deleted,
            _ => return None,
        })
    }
}

/// The static part of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Partitions of the topic (slots in the file).
    pub partitions: u32,
    /// The boot the tails belong to (Linux's `boot_id`); all zero after a clean close, when
    /// they were synced and hold across reboots.
    pub boot: [u8; 16],
}

/// The file length for a topic of `partitions` partitions.
#[must_use]
pub fn file_len(partitions: u32) -> usize {
    HEADER_LEN + partitions as usize * SLOT_LEN
}

/// Position of partition `p`'s slot.
#[must_use]
pub fn slot_at(p: u32) -> usize {
    HEADER_LEN + p as usize * SLOT_LEN
}

/// The CRC-covered part of the header, with its CRC: `HEADER_CRC_COVERS + 4` bytes.
#[must_use]
pub fn encode_header(h: &Header) -> [u8; HEADER_CRC_COVERS + 4] {
    let mut out = [0u8; HEADER_CRC_COVERS + 4];
    let (body, crc) = out.split_at_mut(HEADER_CRC_COVERS);
    let (magic, rest) = body.split_at_mut(8);
    magic.copy_from_slice(&MAGIC);
    let (version, rest) = rest.split_at_mut(4);
    version.copy_from_slice(&VERSION.to_le_bytes());
    let (partitions, boot) = rest.split_at_mut(4);
    partitions.copy_from_slice(&h.partitions.to_le_bytes());
    boot.copy_from_slice(&h.boot);
    crc.copy_from_slice(&crc32fast::hash(body).to_le_bytes());
    out
}

/// Decodes the static header from the first bytes of the file.
///
/// # Errors
/// [`DecodeError`] for a short input, a wrong magic or version, or a CRC mismatch.
pub fn decode_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    let Some(head) = bytes.get(..HEADER_CRC_COVERS + 4) else {
        return Err(DecodeError::Truncated {
            at: bytes.len(),
            what: "live state header",
        });
    };
    let (body, stored) = head.split_at(HEADER_CRC_COVERS);
    let expected = le_u32(stored, 0);
    let got = crc32fast::hash(body);
    if expected != got {
        return Err(DecodeError::Checksum { expected, got });
    }
    if body.get(..8) != Some(&MAGIC[..]) {
        return Err(DecodeError::Invalid {
            at: 0,
            reason: Corruption::UnknownFormat {
                what: "live state magic",
            },
        });
    }
    let version = le_u32(body, 8);
    if version != VERSION {
        return Err(DecodeError::Invalid {
            at: 8,
            reason: Corruption::UnknownFormat {
                what: "live state version",
            },
        });
    }
    let partitions = le_u32(body, 12);
    let mut boot = [0u8; 16];
    boot.copy_from_slice(body.get(16..32).unwrap_or(&[0; 16]));
    Ok(Header { partitions, boot })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip_and_golden_bytes() {
        let h = Header {
            partitions: 3,
            boot: [0xab; 16],
        };
        let bytes = encode_header(&h);
        // FORMAT.md 7.8's example; the CRC computed independently (Python's zlib.crc32).
        let mut expected = b"PLLIVE\0\0\x01\0\0\0\x03\0\0\0".to_vec();
        expected.extend_from_slice(&[0xab; 16]);
        expected.extend_from_slice(&[0xa2, 0x18, 0x95, 0x3d]);
        assert_eq!(bytes.to_vec(), expected);
        assert_eq!(decode_header(&bytes), Ok(h));
        let mut bad = bytes;
        bad[13] ^= 1;
        assert!(matches!(
            decode_header(&bad),
            Err(DecodeError::Checksum { .. })
        ));
        assert!(decode_header(&bytes[..20]).is_err());
    }

    #[test]
    fn the_layout_fits_its_slot_and_keeps_words_aligned() {
        for at in [
            WAKE,
            WAITING,
            WRITER_PID,
            STATE,
            SESSION,
            tail::SEQ,
            cold::SEQ,
            cold::GEN,
        ] {
            assert_eq!(at % 4, 0);
        }
        assert_eq!(0, SESSION % 8);
        assert_eq!(file_len(2), HEADER_LEN + 512);
        assert_eq!(slot_at(1), HEADER_LEN + SLOT_LEN);
        assert_eq!(State::from_word(3), Some(State::Closed));
        assert_eq!(State::from_word(9), None);
    }
}
