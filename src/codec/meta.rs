//! Small metadata files: topic metadata (`topic.meta`) and the partition checkpoint
//! (`checkpoint`). Both use one framing.
//!
//! Grammar: `file := magic:[u8;4] version:u16 reserved:u16 body_len:u32 body crc:u32`, where
//! the CRC-32 covers every byte before it. Bodies are fixed layouts per magic and version.
#![warn(clippy::indexing_slicing)]

use std::time::Duration;

use super::{Corruption, DecodeError, le_i64, le_u16, le_u32, le_u64};
use crate::config::{CleanupPolicy, FlushPolicy, TopicConfig};

/// Bytes before the body.
pub const FRAME_HEADER_LEN: usize = 12;
/// Magic of `topic.meta`.
pub const TOPIC_MAGIC: [u8; 4] = *b"PLTM";
/// Magic of a partition `checkpoint`.
pub const CHECKPOINT_MAGIC: [u8; 4] = *b"PLCP";
/// Version of the checkpoint, group offsets and truncation intent bodies written by this
/// build.
pub const VERSION: u16 = 1;
/// Version of `topic.meta` written by this build: the topic's version gate (FORMAT.md
/// section 9). Its body is version 1's; the number differs because files of version 1 were
/// written both by builds without empty batches and cleanup-policy bytes and by builds with
/// them, and the former misread what the latter write (FORMAT.md, "Versions").
pub const TOPIC_VERSION: u16 = 2;
/// The earlier `topic.meta` version this build still reads (same body); a topic opened with
/// it gets its `topic.meta` rewritten as [`TOPIC_VERSION`] before anything else is done.
pub const TOPIC_VERSION_1: u16 = 1;
/// Length of the topic metadata body, versions 1 and 2.
pub const TOPIC_BODY_LEN: usize = 80;
/// Length of the checkpoint body, version 1.
pub const CHECKPOINT_BODY_LEN: usize = 56;

/// Frames `body` as a metadata file of kind `magic` and `version`: header, body, CRC. Public
/// for tools and fuzzers that build files of any version; the `encode_*` functions are the
/// way to write this build's files.
///
/// # Panics
/// If `body` is longer than `u32::MAX` bytes (the length field is 32 bits; this build's bodies
/// are at most a few KiB).
#[must_use]
pub fn frame(magic: [u8; 4], version: u16, body: &[u8]) -> Vec<u8> {
    let Ok(body_len) = u32::try_from(body.len()) else {
        panic!(
            "metadata body of {} bytes: longer than u32::MAX",
            body.len()
        );
    };
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + body.len() + 4);
    out.extend_from_slice(&magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&body_len.to_le_bytes());
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the framing and returns the body. `versions` are the versions this build reads for
/// the kind; `body_len` is the length the kind requires, or `None` for kinds whose body length
/// varies (then the stored length must match the file).
fn unframe<'a>(
    bytes: &'a [u8],
    magic: [u8; 4],
    versions: &[u16],
    body_len: Option<usize>,
) -> Result<&'a [u8], DecodeError> {
    let Some(header) = bytes.first_chunk::<FRAME_HEADER_LEN>() else {
        return Err(DecodeError::Truncated {
            at: bytes.len(),
            what: "metadata header",
        });
    };
    if header[..4] != magic {
        return Err(DecodeError::Invalid {
            at: 0,
            reason: Corruption::UnknownFormat {
                what: "wrong magic: not a pagelog file of this kind",
            },
        });
    }
    if !versions.contains(&le_u16(header, 4)) {
        return Err(DecodeError::Invalid {
            at: 4,
            reason: Corruption::UnknownFormat {
                what: "unsupported metadata version",
            },
        });
    }
    let stored = le_u32(header, 8) as usize;
    let body_len = body_len.unwrap_or(stored);
    let total = FRAME_HEADER_LEN + body_len + 4;
    if le_u16(header, 6) != 0 {
        return Err(DecodeError::Invalid {
            at: 6,
            reason: Corruption::Reserved {
                what: "metadata header",
            },
        });
    }
    if stored != body_len {
        return Err(DecodeError::Invalid {
            at: 8,
            reason: Corruption::Length {
                what: "unexpected metadata body length",
            },
        });
    }
    if bytes.len() < total {
        return Err(DecodeError::Truncated {
            at: bytes.len(),
            what: "metadata file",
        });
    }
    if bytes.len() > total {
        return Err(DecodeError::Invalid {
            at: total,
            reason: Corruption::Length {
                what: "bytes after the metadata file's CRC",
            },
        });
    }
    // bytes.len() == total >= FRAME_HEADER_LEN + 4: both splits succeed.
    let truncated = || DecodeError::Truncated {
        at: bytes.len(),
        what: "metadata file",
    };
    let (covered, crc) = bytes.split_last_chunk::<4>().ok_or_else(truncated)?;
    let expected = u32::from_le_bytes(*crc);
    let got = crc32fast::hash(covered);
    if expected != got {
        return Err(DecodeError::Checksum { expected, got });
    }
    covered.get(FRAME_HEADER_LEN..).ok_or_else(truncated)
}

/// [`unframe`] for a kind whose body is `N` bytes.
fn unframe_fixed<'a, const N: usize>(
    bytes: &'a [u8],
    magic: [u8; 4],
    versions: &[u16],
) -> Result<&'a [u8; N], DecodeError> {
    let body = unframe(bytes, magic, versions, Some(N))?;
    body.first_chunk::<N>().ok_or(DecodeError::Truncated {
        at: bytes.len(),
        what: "metadata body",
    })
}

/// Encodes a topic's configuration as the contents of `topic.meta`.
#[must_use]
pub fn encode_topic(c: &TopicConfig) -> Vec<u8> {
    let mut b = [0u8; TOPIC_BODY_LEN];
    b[0..4].copy_from_slice(&c.partitions.to_le_bytes());
    b[4..8].copy_from_slice(&c.index_interval_bytes.to_le_bytes());
    b[8..12].copy_from_slice(&c.index_bytes.to_le_bytes());
    b[12..16].copy_from_slice(&c.max_batch_bytes.to_le_bytes());
    b[16..24].copy_from_slice(&c.segment_bytes.to_le_bytes());
    b[24..32].copy_from_slice(&c.segment_ms.to_le_bytes());
    let (kind, value) = match c.flush {
        FlushPolicy::Never => (0u8, 0u64),
        FlushPolicy::EveryRecords(n) => (1, n),
        FlushPolicy::Interval(d) => (2, u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        FlushPolicy::EveryAppend => (3, 0),
    };
    b[32] = kind;
    b[33] = u8::from(c.verify_checksums);
    b[34] = u8::from(c.retain_until_consumed);
    b[35] = match c.cleanup_policy {
        CleanupPolicy::Delete => 0,
        CleanupPolicy::Compact => 1,
        CleanupPolicy::CompactDelete => 2,
    };
    b[40..48].copy_from_slice(&value.to_le_bytes());
    b[48..56].copy_from_slice(&c.retention_bytes.unwrap_or(NONE).to_le_bytes());
    b[56..64].copy_from_slice(&c.retention_ms.unwrap_or(NONE).to_le_bytes());
    b[64..72].copy_from_slice(&c.retention_hard_bytes.unwrap_or(NONE).to_le_bytes());
    b[72..80].copy_from_slice(&c.delete_retention_ms.to_le_bytes());
    frame(TOPIC_MAGIC, TOPIC_VERSION, &b)
}

/// The version field of a metadata file, if it is long enough to have one (not checked:
/// decode the file first).
#[must_use]
pub fn stored_version(bytes: &[u8]) -> Option<u16> {
    (bytes.len() >= FRAME_HEADER_LEN).then(|| le_u16(bytes, 4))
}

/// Decodes `topic.meta`. The result still needs [`TopicConfig::validate`].
///
/// # Errors
/// Any [`DecodeError`]: wrong magic, version, size, CRC, or an unknown enum value.
pub fn decode_topic(bytes: &[u8]) -> Result<TopicConfig, DecodeError> {
    let b = unframe_fixed::<TOPIC_BODY_LEN>(bytes, TOPIC_MAGIC, &[TOPIC_VERSION, TOPIC_VERSION_1])?;
    let at = FRAME_HEADER_LEN;
    let value = le_u64(b, 40);
    let flush = match b[32] {
        0 => FlushPolicy::Never,
        1 => FlushPolicy::EveryRecords(value),
        2 => FlushPolicy::Interval(Duration::from_millis(value)),
        3 => FlushPolicy::EveryAppend,
        _ => {
            return Err(DecodeError::Invalid {
                at: at + 32,
                reason: Corruption::Value {
                    what: "unknown flush policy",
                },
            });
        }
    };
    let flag = |i: usize, v: u8| match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Invalid {
            at: at + i,
            reason: Corruption::Value {
                what: "flag is neither 0 nor 1",
            },
        }),
    };
    let verify_checksums = flag(33, b[33])?;
    let retain_until_consumed = flag(34, b[34])?;
    let cleanup_policy = match b[35] {
        0 => CleanupPolicy::Delete,
        1 => CleanupPolicy::Compact,
        2 => CleanupPolicy::CompactDelete,
        _ => {
            return Err(DecodeError::Invalid {
                at: at + 35,
                reason: Corruption::Value {
                    what: "unknown cleanup policy",
                },
            });
        }
    };
    if b[36..40].iter().any(|&x| x != 0) {
        return Err(DecodeError::Invalid {
            at: at + 36,
            reason: Corruption::Reserved {
                what: "reserved bytes set",
            },
        });
    }
    let opt = |i: usize| Some(le_u64(b, i)).filter(|&v| v != NONE);
    Ok(TopicConfig {
        partitions: le_u32(b, 0),
        index_interval_bytes: le_u32(b, 4),
        index_bytes: le_u32(b, 8),
        max_batch_bytes: le_u32(b, 12),
        segment_bytes: le_u64(b, 16),
        segment_ms: le_u64(b, 24),
        flush,
        verify_checksums,
        retention_bytes: opt(48),
        retention_ms: opt(56),
        retain_until_consumed,
        retention_hard_bytes: opt(64),
        cleanup_policy,
        delete_retention_ms: le_u64(b, 72),
    })
}

/// Stored for an absent optional limit.
const NONE: u64 = u64::MAX;

/// A partition's checkpoint: how far the log is known to be durable and, after a clean close,
/// the exact state of the active segment so that opening scans nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Written by a clean close; cleared (rewritten as `false`) when the partition is opened
    /// for writing.
    pub clean: bool,
    /// Every segment whose base offset is below this offset is synced, indexes included, and
    /// needs no recovery. Always a segment base offset (or 0).
    pub recovery_point: u64,
    /// Next offset of the partition (meaningful when `clean`).
    pub next_offset: u64,
    /// Base offset of the active segment (meaningful when `clean`).
    pub active_base: u64,
    /// Length in bytes of the active segment's `.log` (meaningful when `clean`).
    pub active_len: u64,
    /// Largest timestamp in the active segment, `i64::MIN` if it is empty (when `clean`).
    pub active_max_timestamp: i64,
    /// The first offset readers may see, raised by `delete_records_before`; segments below
    /// it are removed. Meaningful whether clean or not.
    pub log_start_offset: u64,
}

/// Encodes a checkpoint file.
#[must_use]
pub fn encode_checkpoint(c: &Checkpoint) -> Vec<u8> {
    let mut b = [0u8; CHECKPOINT_BODY_LEN];
    b[0..4].copy_from_slice(&u32::from(c.clean).to_le_bytes());
    b[8..16].copy_from_slice(&c.recovery_point.to_le_bytes());
    b[16..24].copy_from_slice(&c.next_offset.to_le_bytes());
    b[24..32].copy_from_slice(&c.active_base.to_le_bytes());
    b[32..40].copy_from_slice(&c.active_len.to_le_bytes());
    b[40..48].copy_from_slice(&c.active_max_timestamp.to_le_bytes());
    b[48..56].copy_from_slice(&c.log_start_offset.to_le_bytes());
    frame(CHECKPOINT_MAGIC, VERSION, &b)
}

/// Decodes a checkpoint file.
///
/// # Errors
/// Any [`DecodeError`] for a file that is not a valid checkpoint.
pub fn decode_checkpoint(bytes: &[u8]) -> Result<Checkpoint, DecodeError> {
    let b = unframe_fixed::<CHECKPOINT_BODY_LEN>(bytes, CHECKPOINT_MAGIC, &[VERSION])?;
    let flags = le_u32(b, 0);
    if flags > 1 || le_u32(b, 4) != 0 {
        return Err(DecodeError::Invalid {
            at: FRAME_HEADER_LEN,
            reason: Corruption::Value {
                what: "unknown checkpoint flags",
            },
        });
    }
    Ok(Checkpoint {
        clean: flags == 1,
        recovery_point: le_u64(b, 8),
        next_offset: le_u64(b, 16),
        active_base: le_u64(b, 24),
        active_len: le_u64(b, 32),
        active_max_timestamp: le_i64(b, 40),
        log_start_offset: le_u64(b, 48),
    })
}

/// Magic of a partition's truncation intent (`truncate`).
pub const TRUNCATE_MAGIC: [u8; 4] = *b"PLTR";

/// Encodes a truncation intent: body `target:u64`, the offset the log is being cut to.
#[must_use]
pub fn encode_truncate(target: u64) -> Vec<u8> {
    frame(TRUNCATE_MAGIC, VERSION, &target.to_le_bytes())
}

/// Decodes a truncation intent.
///
/// # Errors
/// Any [`DecodeError`] for a file that is not a valid intent.
pub fn decode_truncate(bytes: &[u8]) -> Result<u64, DecodeError> {
    let b = unframe_fixed::<8>(bytes, TRUNCATE_MAGIC, &[VERSION])?;
    Ok(u64::from_le_bytes(*b))
}

/// Magic of a partition's sealed-segment hook mark (`hooked`).
pub const HOOKED_MAGIC: [u8; 4] = *b"PLHK";

/// Encodes the hook mark: body `to:u64`, the offset below which every sealed segment was
/// accepted by the `on_segment_sealed` hook.
#[must_use]
pub fn encode_hooked(to: u64) -> Vec<u8> {
    frame(HOOKED_MAGIC, VERSION, &to.to_le_bytes())
}

/// Decodes the hook mark.
///
/// # Errors
/// Any [`DecodeError`] for a file that is not a valid hook mark.
pub fn decode_hooked(bytes: &[u8]) -> Result<u64, DecodeError> {
    let b = unframe_fixed::<8>(bytes, HOOKED_MAGIC, &[VERSION])?;
    Ok(u64::from_le_bytes(*b))
}

/// Magic of the marker file that proves a staging directory was made by pagelog
/// (`pagelog.staging`, see `staging.rs`).
pub const STAGING_MAGIC: [u8; 4] = *b"PLSG";
/// The marker's one kind: a topic directory being created.
pub const STAGING_CREATE: u8 = 1;

/// Encodes a staging marker: body `kind:u8 reserved:[u8;7]`.
#[must_use]
pub fn encode_staging(kind: u8) -> Vec<u8> {
    let mut b = [0u8; 8];
    b[0] = kind;
    frame(STAGING_MAGIC, VERSION, &b)
}

/// Decodes a staging marker; returns its kind.
///
/// # Errors
/// Any [`DecodeError`] for a file that is not a valid marker.
pub fn decode_staging(bytes: &[u8]) -> Result<u8, DecodeError> {
    let b = unframe_fixed::<8>(bytes, STAGING_MAGIC, &[VERSION])?;
    if b[0] != STAGING_CREATE || b[1..].iter().any(|&x| x != 0) {
        return Err(DecodeError::Invalid {
            at: FRAME_HEADER_LEN,
            reason: Corruption::Value {
                what: "unknown staging kind or reserved bytes set",
            },
        });
    }
    Ok(b[0])
}

/// Magic of a consumer group's committed offsets (`groups/<group>.offsets`).
pub const GROUP_MAGIC: [u8; 4] = *b"PLGO";
/// Stored for a partition without a committed offset.
const NO_OFFSET: u64 = u64::MAX;

/// Encodes a group's committed offsets, one slot per partition (`None`: never committed).
/// Body: `partitions:u32 reserved:u32 offset:u64{partitions}` with `u64::MAX` for none.
///
/// # Panics
/// If `offsets` has more than `u32::MAX` slots (a topic has at most `u32::MAX` partitions).
#[must_use]
pub fn encode_group_offsets(offsets: &[Option<u64>]) -> Vec<u8> {
    let Ok(partitions) = u32::try_from(offsets.len()) else {
        panic!("{} partitions: more than u32::MAX", offsets.len());
    };
    let mut b = Vec::with_capacity(8 + 8 * offsets.len());
    b.extend_from_slice(&partitions.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for o in offsets {
        b.extend_from_slice(&o.unwrap_or(NO_OFFSET).to_le_bytes());
    }
    frame(GROUP_MAGIC, VERSION, &b)
}

/// Decodes a group's committed offsets.
///
/// # Errors
/// Any [`DecodeError`] for a file that is not a valid offsets file.
pub fn decode_group_offsets(bytes: &[u8]) -> Result<Vec<Option<u64>>, DecodeError> {
    let b = unframe(bytes, GROUP_MAGIC, &[VERSION], None)?;
    let Some((head, slots)) = b
        .split_first_chunk::<8>()
        .filter(|(head, _)| le_u32(*head, 4) == 0)
    else {
        return Err(DecodeError::Invalid {
            at: FRAME_HEADER_LEN,
            reason: Corruption::Length {
                what: "malformed offsets body",
            },
        });
    };
    let n = le_u32(head, 0) as usize;
    if slots.len() != 8 * n {
        return Err(DecodeError::Invalid {
            at: FRAME_HEADER_LEN,
            reason: Corruption::Length {
                what: "offset count does not match the body length",
            },
        });
    }
    Ok(slots
        .chunks_exact(8)
        .map(|s| le_u64(s, 0))
        .map(|o| (o != NO_OFFSET).then_some(o))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn topic_roundtrip_and_golden_header() {
        let c = TopicConfig::default().partitions(4);
        let bytes = encode_topic(&c);
        assert_eq!(&bytes[..12], b"PLTM\x02\x00\x00\x00\x50\x00\x00\x00");
        assert_eq!(bytes.len(), FRAME_HEADER_LEN + TOPIC_BODY_LEN + 4);
        assert_eq!(decode_topic(&bytes), Ok(c.clone()));
        assert_eq!(stored_version(&bytes), Some(TOPIC_VERSION));
    }

    /// The default configuration's bytes, as docs/FORMAT.md 7.2 shows them.
    #[test]
    fn default_topic_golden_bytes() {
        let expected: [u8; 96] = [
            0x50, 0x4c, 0x54, 0x4d, 0x02, 0x00, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00,
            0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x10, 0x00,
            0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x84, 0x0c, 0x24, 0x00, 0x00,
            0x00, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0x00, 0x5c, 0x26, 0x05, 0x00, 0x00, 0x00, 0x00, 0xa7, 0xb8, 0x2d, 0xf6,
        ];
        assert_eq!(encode_topic(&TopicConfig::default()), expected);
    }

    /// `bytes` with its version field set to `version` and its CRC made right again.
    fn with_version(bytes: &[u8], version: u16) -> Vec<u8> {
        let mut b = bytes.to_vec();
        b[4..6].copy_from_slice(&version.to_le_bytes());
        let n = b.len() - 4;
        let crc = crc32fast::hash(&b[..n]);
        b[n..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn topic_version_1_is_read_and_others_are_refused() {
        let c = TopicConfig::default().partitions(3);
        let v2 = encode_topic(&c);
        let v1 = with_version(&v2, TOPIC_VERSION_1);
        assert_eq!(decode_topic(&v1), Ok(c));
        assert_eq!(stored_version(&v1), Some(1));
        for v in [0u16, 3, u16::MAX] {
            assert!(decode_topic(&with_version(&v2, v)).is_err(), "version {v}");
        }
        // The other kinds stay at version 1 and refuse version 2.
        let cp = encode_checkpoint(&Checkpoint {
            clean: true,
            recovery_point: 0,
            next_offset: 0,
            active_base: 0,
            active_len: 0,
            active_max_timestamp: i64::MIN,
            log_start_offset: 0,
        });
        assert_eq!(stored_version(&cp), Some(VERSION));
        assert!(decode_checkpoint(&with_version(&cp, 2)).is_err());
    }

    #[test]
    fn checkpoint_roundtrip() {
        let c = Checkpoint {
            clean: true,
            recovery_point: 100,
            next_offset: 150,
            active_base: 100,
            active_len: 4096,
            active_max_timestamp: -5,
            log_start_offset: 77,
        };
        let bytes = encode_checkpoint(&c);
        assert_eq!(decode_checkpoint(&bytes), Ok(c));
        assert!(decode_topic(&bytes).is_err(), "magic keeps kinds apart");
    }

    #[test]
    fn hooked_roundtrip_and_golden_bytes() {
        let bytes = encode_hooked(52_113);
        // FORMAT.md 7.6's example; the CRC computed independently (Python's zlib.crc32).
        assert_eq!(
            bytes,
            [
                0x50, 0x4c, 0x48, 0x4b, 0x01, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x91, 0xcb,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x5b, 0x6e, 0xb7
            ]
        );
        assert_eq!(decode_hooked(&bytes), Ok(52_113));
        assert!(decode_truncate(&bytes).is_err(), "magic keeps kinds apart");
        let mut bad = bytes.clone();
        bad[13] ^= 1;
        assert!(decode_hooked(&bad).is_err());
    }

    #[test]
    fn staging_marker_roundtrip_and_golden_bytes() {
        let bytes = encode_staging(STAGING_CREATE);
        // FORMAT.md 2.1's example; the CRC computed independently (Python's zlib.crc32).
        assert_eq!(
            bytes,
            [
                0x50, 0x4c, 0x53, 0x47, 0x01, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa5, 0x63, 0x98, 0x10
            ]
        );
        assert_eq!(decode_staging(&bytes), Ok(STAGING_CREATE));
        assert!(decode_hooked(&bytes).is_err(), "magic keeps kinds apart");
        assert!(decode_staging(&encode_staging(2)).is_err(), "unknown kind");
    }

    #[test]
    fn group_offsets_roundtrip() {
        let o = vec![Some(0), None, Some(42)];
        let bytes = encode_group_offsets(&o);
        assert_eq!(decode_group_offsets(&bytes), Ok(o));
        assert!(decode_group_offsets(&bytes[..bytes.len() - 1]).is_err());
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(decode_group_offsets(&bad).is_err());
    }

    proptest! {
        #[test]
        fn any_flipped_byte_is_rejected(at in 0usize..64, bit in 0u8..8) {
            let mut bytes = encode_topic(&TopicConfig::default());
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
            prop_assert!(decode_topic(&bytes).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let _ = decode_topic(&bytes);
            let _ = decode_checkpoint(&bytes);
            let _ = decode_group_offsets(&bytes);
            let _ = decode_truncate(&bytes);
            let _ = decode_hooked(&bytes);
        }
    }
}
