//! Kafka's `RecordBatch` v2 (magic 2): the batch header and the decoder, no I/O (the encoder is
//! `super::batch_builder`). Every integer of the batch header is big-endian; records use
//! Kafka's zigzag varints (`super::varint`).
//!
//! Grammar: `batch := baseOffset:i64 batchLength:i32 partitionLeaderEpoch:i32 magic:i8=2
//! crc:u32 attributes:i16 lastOffsetDelta:i32 baseTimestamp:i64 maxTimestamp:i64
//! producerId:i64 producerEpoch:i16 baseSequence:i32 recordCount:i32 records` where
//! `crc = CRC-32C(attributes .. end of batch)` and `records` is `record*`, compressed as a
//! whole when `attributes & 7 != 0`.
//!
//! Grammar: `record := length:varint attributes:i8 timestampDelta:varlong offsetDelta:varint
//! keyLength:varint key valueLength:varint value headerCount:varint header*` (a length of -1
//! is null), `header := keyLength:varint key:utf8 valueLength:varint value`.
#![warn(clippy::indexing_slicing)]

use std::borrow::Cow;

use super::compression::{self, Compression};
use super::error::{Error, Result};
use crate::codec::varint::{VarintError, get_varint, get_varlong};

/// Bytes before the records: the fixed batch header.
pub const HEADER_LEN: usize = 61;
/// Bytes not counted by `batchLength`: `baseOffset` and `batchLength` themselves.
pub const LOG_OVERHEAD: usize = 12;
/// The magic byte of the v2 format, at byte 16 of every batch (of every Kafka message format).
pub const MAGIC: i8 = 2;
/// `producerId` of a batch without an idempotent or transactional producer.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producerEpoch` written with [`NO_PRODUCER_ID`].
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `baseSequence` written with [`NO_PRODUCER_ID`].
pub const NO_SEQUENCE: i32 = -1;
/// Kafka's "no timestamp"; the timestamps of a batch without records.
pub const NO_TIMESTAMP: i64 = -1;
/// The `partitionLeaderEpoch` pagelog writes: 0, the first epoch of a new partition (and what
/// kafka-python's builder writes; a broker overwrites it on produce).
pub const PARTITION_LEADER_EPOCH: i32 = 0;

const MAGIC_AT: usize = 16;
pub(crate) const CRC_AT: usize = 17;
pub(crate) const ATTRIBUTES_AT: usize = 21;
/// Smallest possible record: length, attributes, timestamp, offset, key, value, header count.
const MIN_RECORD_LEN: usize = 7;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// How a batch's record timestamps are to be read (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Each record carries the producer's timestamp (`baseTimestamp + timestampDelta`).
    CreateTime,
    /// Every record's timestamp is the batch's `maxTimestamp`, set by the broker.
    LogAppendTime,
}

/// The fixed header of a v2 batch, as stored (big-endian on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the batch's first offset slot.
    pub base_offset: i64,
    /// Bytes after this field: the batch is `batch_length + 12` bytes long.
    pub batch_length: i32,
    /// Leader epoch of the broker that appended the batch.
    pub partition_leader_epoch: i32,
    /// Format version; 2 here.
    pub magic: i8,
    /// CRC-32C of the bytes from `attributes` to the end of the batch.
    pub crc: u32,
    /// Bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control.
    pub attributes: i16,
    /// `last offset - base_offset`; may exceed the last record's delta after compaction.
    pub last_offset_delta: i32,
    /// Timestamp the records' deltas are relative to.
    pub base_timestamp: i64,
    /// Largest record timestamp (or the append time under `LogAppendTime`).
    pub max_timestamp: i64,
    /// Idempotent or transactional producer, or [`NO_PRODUCER_ID`].
    pub producer_id: i64,
    /// That producer's epoch.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or [`NO_SEQUENCE`].
    pub base_sequence: i32,
    /// Number of records.
    pub records_count: i32,
}

fn be<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut a = [0; N];
    if let Some(s) = buf.get(at..at + N) {
        a.copy_from_slice(s);
    }
    a
}

fn corrupt(position: usize, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: None,
        position: position as u64,
        reason: reason.into(),
    }
}

impl BatchHeader {
    /// Reads the header at the start of `buf` and checks that it describes a plausible batch:
    /// magic 2, `batchLength` at least 49, offsets and count not negative and not overflowing.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for magic 0 or 1; [`Error::Corrupt`] otherwise.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let Some(&magic) = buf.get(MAGIC_AT) else {
            return Err(corrupt(
                0,
                format!("{} bytes are too few for a batch", buf.len()),
            ));
        };
        let magic = i8::from_be_bytes([magic]);
        if magic == 0 || magic == 1 {
            return Err(Error::Unsupported {
                path: None,
                position: 0,
                what: format!("message format v{magic} (only v2, Kafka 0.11 and later, is read)"),
            });
        }
        if magic != MAGIC {
            return Err(corrupt(MAGIC_AT, format!("unknown magic {magic}")));
        }
        if buf.len() < HEADER_LEN {
            return Err(corrupt(
                0,
                format!("{} bytes are too few for a batch header", buf.len()),
            ));
        }
        let h = Self {
            base_offset: i64::from_be_bytes(be(buf, 0)),
            batch_length: i32::from_be_bytes(be(buf, 8)),
            partition_leader_epoch: i32::from_be_bytes(be(buf, 12)),
            magic,
            crc: u32::from_be_bytes(be(buf, CRC_AT)),
            attributes: i16::from_be_bytes(be(buf, ATTRIBUTES_AT)),
            last_offset_delta: i32::from_be_bytes(be(buf, 23)),
            base_timestamp: i64::from_be_bytes(be(buf, 27)),
            max_timestamp: i64::from_be_bytes(be(buf, 35)),
            producer_id: i64::from_be_bytes(be(buf, 43)),
            producer_epoch: i16::from_be_bytes(be(buf, 51)),
            base_sequence: i32::from_be_bytes(be(buf, 53)),
            records_count: i32::from_be_bytes(be(buf, 57)),
        };
        if usize::try_from(h.batch_length).map_or(true, |l| l < HEADER_LEN - LOG_OVERHEAD) {
            return Err(corrupt(
                8,
                format!("batch length {} is below 49", h.batch_length),
            ));
        }
        if h.base_offset < 0 {
            return Err(corrupt(
                0,
                format!("negative base offset {}", h.base_offset),
            ));
        }
        if h.last_offset_delta < 0 {
            return Err(corrupt(
                23,
                format!("negative last offset delta {}", h.last_offset_delta),
            ));
        }
        if h.base_offset
            .checked_add(i64::from(h.last_offset_delta))
            .is_none()
        {
            return Err(corrupt(23, "last offset overflows a 64-bit offset"));
        }
        if h.records_count < 0 {
            return Err(corrupt(
                57,
                format!("negative record count {}", h.records_count),
            ));
        }
        Ok(h)
    }

    /// Total bytes of the batch: `batch_length + 12`.
    #[must_use]
    pub fn size(&self) -> u64 {
        u64::try_from(self.batch_length).unwrap_or(0) + LOG_OVERHEAD as u64
    }

    /// First offset the batch covers (checked non-negative by [`parse`](Self::parse)).
    #[must_use]
    pub fn base(&self) -> u64 {
        u64::try_from(self.base_offset).unwrap_or(0)
    }

    /// Last offset the batch covers: `base_offset + last_offset_delta`.
    #[must_use]
    pub fn last_offset(&self) -> u64 {
        self.base() + u64::try_from(self.last_offset_delta).unwrap_or(0)
    }

    /// The compression codec of the records.
    #[must_use]
    pub fn compression(&self) -> Compression {
        let [_, low] = self.attributes.to_be_bytes();
        Compression::from_bits(low & 0x07)
    }

    /// How record timestamps are read.
    #[must_use]
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Written by a transactional producer.
    #[must_use]
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// A control batch (transaction commit or abort marker), not application data.
    #[must_use]
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Written by an idempotent or transactional producer (`producerId >= 0`).
    #[must_use]
    pub fn has_producer_id(&self) -> bool {
        self.producer_id > NO_PRODUCER_ID
    }
}

/// A record header as Kafka stores it: a string key (UTF-8 by contract, kept as bytes here)
/// and a nullable value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaHeader {
    /// Header key bytes (UTF-8 when written by a Kafka client).
    pub key: Vec<u8>,
    /// Header value; `None` is a null value, which Kafka allows and pagelog has not.
    pub value: Option<Vec<u8>>,
}

/// One record of a decoded batch, with its absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    /// Absolute offset: `baseOffset + offsetDelta`.
    pub offset: u64,
    /// Milliseconds since the epoch: `baseTimestamp + timestampDelta` (`CreateTime`) or the
    /// batch's `maxTimestamp` (`LogAppendTime`).
    pub timestamp: i64,
    /// The key; `None` is null.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is null (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<KafkaHeader>,
}

/// A decoded batch: its header and its records (none for an empty batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaBatch {
    /// The fixed header.
    pub header: BatchHeader,
    /// The records, in offset order.
    pub records: Vec<KafkaRecord>,
}

/// Decodes the batch at the start of `buf`: header checks, CRC-32C, decompression, then every
/// record. Bytes after the batch are ignored (use [`BatchHeader::size`] to step over it).
/// Never panics, whatever `buf` holds; allocation is bounded by `buf.len()` (and, for
/// compressed batches, by the codec's output limit).
///
/// # Errors
/// [`Error::Corrupt`] for a batch that breaks the format (including one cut short);
/// [`Error::ChecksumMismatch`]; [`Error::Unsupported`] for magic 0/1 or an
/// unsupported codec. Positions are relative to `buf`.
pub fn decode_batch(buf: &[u8]) -> Result<KafkaBatch> {
    let header = BatchHeader::parse(buf)?;
    let size = usize::try_from(header.size()).unwrap_or(usize::MAX);
    let Some(batch) = buf.get(..size) else {
        return Err(corrupt(
            0,
            format!("batch of {size} bytes, but only {} bytes follow", buf.len()),
        ));
    };
    let got = crc32c::crc32c(batch.get(ATTRIBUTES_AT..).unwrap_or_default());
    if got != header.crc {
        return Err(Error::ChecksumMismatch {
            path: None,
            position: 0,
            expected: header.crc,
            got,
        });
    }
    let body = batch.get(HEADER_LEN..).unwrap_or_default();
    let codec = header.compression();
    let records: Cow<'_, [u8]> = match compression::decompress(codec, body) {
        Ok(r) => r,
        Err(compression::Failure::Unsupported) => {
            return Err(Error::Unsupported {
                path: None,
                position: 0,
                what: format!("compression codec {}", codec.name()),
            });
        }
        Err(compression::Failure::Corrupt(why)) => {
            return Err(corrupt(HEADER_LEN, format!("{} data: {why}", codec.name())));
        }
    };
    // Positions of errors: in the batch for uncompressed records, at the start of the
    // compressed data otherwise (with the position inside the decompressed bytes in the text).
    let place = |p: usize| -> (usize, String) {
        if codec == Compression::None {
            (HEADER_LEN + p, String::new())
        } else {
            (
                HEADER_LEN,
                format!(" (byte {p} of the decompressed records)"),
            )
        }
    };
    let records = decode_records(&header, &records).map_err(|(p, why)| {
        let (at, note) = place(p);
        corrupt(at, format!("{why}{note}"))
    })?;
    Ok(KafkaBatch { header, records })
}

type RecordError = (usize, String);

fn varint_at(src: &[u8], pos: &mut usize, base: usize) -> std::result::Result<i32, RecordError> {
    get_varint(src, pos).map_err(|e: VarintError| (base + *pos, e.describe().to_owned()))
}

/// A nullable byte string: `length:varint bytes`, -1 is null.
fn bytes_at(
    src: &[u8],
    pos: &mut usize,
    base: usize,
    what: &str,
) -> std::result::Result<Option<Vec<u8>>, RecordError> {
    let at = base + *pos;
    let len = varint_at(src, pos, base)?;
    if len == -1 {
        return Ok(None);
    }
    let len = usize::try_from(len).map_err(|_| (at, format!("{what} length {len}")))?;
    let end = pos.saturating_add(len);
    let bytes = src
        .get(*pos..end)
        .ok_or_else(|| (at, format!("{what} of {len} bytes runs past its record")))?;
    *pos = end;
    Ok(Some(bytes.to_vec()))
}

fn decode_records(
    h: &BatchHeader,
    src: &[u8],
) -> std::result::Result<Vec<KafkaRecord>, RecordError> {
    let count = usize::try_from(h.records_count).unwrap_or(0);
    if count > src.len() / MIN_RECORD_LEN {
        return Err((
            0,
            format!("{count} records cannot fit in {} bytes", src.len()),
        ));
    }
    let mut records = Vec::with_capacity(count);
    let mut pos = 0usize;
    let mut prev_delta: Option<i32> = None;
    for i in 0..count {
        let at = pos;
        let len = varint_at(src, &mut pos, 0)?;
        let len = usize::try_from(len).map_err(|_| (at, format!("record {i}: length {len}")))?;
        let end = pos.saturating_add(len);
        let body = src
            .get(pos..end)
            .ok_or_else(|| (at, format!("record {i} of {len} bytes runs past the batch")))?;
        let base = pos;
        let mut p = 1; // attributes: unused by Kafka, ignored
        if body.is_empty() {
            return Err((at, format!("record {i} is empty")));
        }
        let ts_delta =
            get_varlong(body, &mut p).map_err(|e| (base + p, e.describe().to_owned()))?;
        let off_at = base + p;
        let off_delta = varint_at(body, &mut p, base)?;
        if off_delta < 0
            || off_delta > h.last_offset_delta
            || prev_delta.is_some_and(|d| off_delta <= d)
        {
            return Err((
                off_at,
                format!(
                    "record {i}: offset delta {off_delta} is not increasing within 0..={}",
                    h.last_offset_delta
                ),
            ));
        }
        prev_delta = Some(off_delta);
        // Wrapping, as Kafka's Java code computes it (`baseTimestamp + timestampDelta` on a
        // `long`): every i64 timestamp round-trips.
        let timestamp = match h.timestamp_type() {
            TimestampType::LogAppendTime => h.max_timestamp,
            TimestampType::CreateTime => h.base_timestamp.wrapping_add(ts_delta),
        };
        let key = bytes_at(body, &mut p, base, "key")?;
        let value = bytes_at(body, &mut p, base, "value")?;
        let hc_at = base + p;
        let header_count = varint_at(body, &mut p, base)?;
        let header_count = usize::try_from(header_count)
            .map_err(|_| (hc_at, format!("record {i}: header count {header_count}")))?;
        if header_count > body.len() / 2 {
            return Err((
                hc_at,
                format!("record {i}: {header_count} headers cannot fit"),
            ));
        }
        let mut headers = Vec::with_capacity(header_count);
        for _ in 0..header_count {
            let key_at = base + p;
            let key = bytes_at(body, &mut p, base, "header key")?
                .ok_or_else(|| (key_at, "null header key".to_owned()))?;
            let value = bytes_at(body, &mut p, base, "header value")?;
            headers.push(KafkaHeader { key, value });
        }
        if p != body.len() {
            return Err((
                base + p,
                format!(
                    "record {i}: {} bytes left over inside the record",
                    body.len() - p
                ),
            ));
        }
        pos = end;
        records.push(KafkaRecord {
            offset: h.base() + u64::from(off_delta.unsigned_abs()), // checked non-negative
            timestamp,
            key,
            value,
            headers,
        });
    }
    if pos != src.len() {
        return Err((
            pos,
            format!("{} bytes left over after the last record", src.len() - pos),
        ));
    }
    Ok(records)
}
