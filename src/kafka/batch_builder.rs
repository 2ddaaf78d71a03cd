//! Encoding Kafka `RecordBatch` v2: [`BatchBuilder`] writes one uncompressed batch record by
//! record, as a Kafka producer does; [`encode_batch`] encodes owned records in one call.
//!
//! Grammar: see `super::record_batch` (`batch := header record*`, big-endian header,
//! CRC-32C over attributes..end); this module only ever writes `attributes = 0`.

use super::error::{Error, Result};
use super::record_batch::{
    ATTRIBUTES_AT, CRC_AT, HEADER_LEN, KafkaRecord, LOG_OVERHEAD, MAGIC, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, PARTITION_LEADER_EPOCH,
};
use crate::codec::varint::{put_varint, put_varlong, varint_len};

/// Builds one uncompressed v2 batch record by record, as Kafka's `MemoryRecordsBuilder` and
/// kafka-python's `DefaultRecordBatchBuilder` do: attributes 0 (`CreateTime`, no compression,
/// not transactional), `producerId` -1, `producerEpoch` -1, `baseSequence` -1,
/// `partitionLeaderEpoch` [`PARTITION_LEADER_EPOCH`], `baseTimestamp` = the first record's.
///
/// ```
/// # fn main() -> pagelog::kafka::Result<()> {
/// use pagelog::kafka::{BatchBuilder, decode_batch};
/// let mut b = BatchBuilder::new(100)?;
/// b.push(100, 1_700_000_000_000, Some(b"k"), Some(b"v"), &[(b"h", Some(b"1"))])?;
/// b.push(102, 1_700_000_000_005, None, None, &[])?; // a tombstone after a gap
/// let bytes = b.finish();
/// let batch = decode_batch(&bytes)?;
/// assert_eq!(batch.records[1].offset, 102);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    buf: Vec<u8>,
    scratch: Vec<u8>,
    base_offset: u64,
    last_offset: Option<u64>,
    first_timestamp: i64,
    max_timestamp: i64,
    count: i32,
}

fn unencodable(reason: impl Into<String>) -> Error {
    Error::Unencodable {
        reason: reason.into(),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>, what: &str) -> Result<()> {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            let len = i32::try_from(b.len())
                .map_err(|_| unencodable(format!("{what} of {} bytes", b.len())))?;
            put_varint(out, len);
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

impl BatchBuilder {
    /// An empty batch starting at `base_offset`.
    ///
    /// # Errors
    /// [`Error::Unencodable`] if `base_offset` exceeds `i64::MAX`.
    pub fn new(base_offset: u64) -> Result<Self> {
        if i64::try_from(base_offset).is_err() {
            return Err(unencodable(format!(
                "offset {base_offset} exceeds i64::MAX"
            )));
        }
        Ok(Self {
            buf: vec![0; HEADER_LEN],
            scratch: Vec::new(),
            base_offset,
            last_offset: None,
            first_timestamp: NO_TIMESTAMP,
            max_timestamp: NO_TIMESTAMP,
            count: 0,
        })
    }

    /// Appends a record at `offset` (above the previous record's, at least the base offset,
    /// at most `i32::MAX` past it). Headers are `(key, value)`; a key must be UTF-8 for Kafka
    /// clients to read it (pagelog's are). On error the builder is unchanged.
    ///
    /// # Errors
    /// [`Error::Unencodable`] when the record does not fit this batch (see there).
    pub fn push(
        &mut self,
        offset: u64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let r = self.encode_record(&mut scratch, offset, timestamp, key, value, headers);
        if let Ok(len) = r {
            put_varint(&mut self.buf, len);
            self.buf.extend_from_slice(&scratch);
            if self.count == 0 {
                self.first_timestamp = timestamp;
                self.max_timestamp = timestamp;
            }
            self.max_timestamp = self.max_timestamp.max(timestamp);
            self.count += 1;
            self.last_offset = Some(offset);
        }
        scratch.clear();
        self.scratch = scratch;
        r.map(|_| ())
    }

    /// Encodes the record into `out`; returns its length, checked to fit the batch.
    fn encode_record(
        &self,
        out: &mut Vec<u8>,
        offset: u64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> Result<i32> {
        out.clear();
        if self.last_offset.is_some_and(|l| offset <= l) || offset < self.base_offset {
            return Err(unencodable(format!(
                "offset {offset} is not above the batch's previous one (base {})",
                self.base_offset
            )));
        }
        let delta = i32::try_from(offset - self.base_offset).map_err(|_| {
            unencodable(format!(
                "offset {offset} is more than i32::MAX past {}",
                self.base_offset
            ))
        })?;
        if self.count == i32::MAX {
            return Err(unencodable("more than i32::MAX records in one batch"));
        }
        let first = if self.count == 0 {
            timestamp
        } else {
            self.first_timestamp
        };
        // Wrapping, as Kafka's MemoryRecordsBuilder computes it; decoding wraps back.
        let ts_delta = timestamp.wrapping_sub(first);
        out.push(0); // record attributes
        put_varlong(out, ts_delta);
        put_varint(out, delta);
        put_bytes(out, key, "key")?;
        put_bytes(out, value, "value")?;
        let n = i32::try_from(headers.len())
            .map_err(|_| unencodable(format!("{} headers", headers.len())))?;
        put_varint(out, n);
        for (k, v) in headers {
            put_bytes(out, Some(k), "header key")?;
            put_bytes(out, *v, "header value")?;
        }
        let total = self.buf.len() + out.len() + varint_len(i32::MAX);
        match i32::try_from(out.len()) {
            Ok(len) if i32::try_from(total).is_ok() => Ok(len),
            _ => Err(unencodable(format!("record of {} bytes", out.len()))),
        }
    }

    /// Bytes the batch would have if finished now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when no record was pushed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of records pushed.
    #[must_use]
    pub fn record_count(&self) -> usize {
        usize::try_from(self.count).unwrap_or(0) // never negative: counted up from 0
    }

    /// The batch's base offset.
    #[must_use]
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Offset of the last record pushed.
    #[must_use]
    pub fn last_offset(&self) -> Option<u64> {
        self.last_offset
    }

    /// The finished batch; its last offset is the last record's (the base offset if empty).
    #[must_use]
    pub fn finish(self) -> Vec<u8> {
        let last = self.last_offset.unwrap_or(self.base_offset);
        self.write_header(last)
    }

    /// The finished batch, covering the offsets up to `end - 1` even past its last record
    /// (Kafka does the same after compaction; with no record this is an empty batch that
    /// only moves the log's next offset, as Kafka's cleaner writes).
    ///
    /// # Errors
    /// [`Error::Unencodable`] if `end - 1` is below the last record, below the base
    /// offset, or more than `i32::MAX` past the base offset.
    pub fn finish_covering(self, end: u64) -> Result<Vec<u8>> {
        let last = end.checked_sub(1).filter(|&l| {
            l >= self.base_offset
                && self.last_offset.is_none_or(|r| l >= r)
                && i32::try_from(l - self.base_offset).is_ok()
        });
        match last {
            Some(last) => Ok(self.write_header(last)),
            None => Err(unencodable(format!(
                "cannot cover offsets up to {end} from base {}",
                self.base_offset
            ))),
        }
    }

    /// The header for a batch whose last offset is `last`, written into the buffer.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        reason = "in range by construction: `new` refuses a base offset above i64::MAX, \
                  `encode_record` keeps the batch below i32::MAX bytes and every offset delta \
                  within i32, and `finish_covering` checks its last offset likewise"
    )]
    fn write_header(mut self, last: u64) -> Vec<u8> {
        let batch_length = (self.buf.len() - LOG_OVERHEAD) as i32;
        let mut h = Vec::with_capacity(HEADER_LEN);
        h.extend_from_slice(&(self.base_offset as i64).to_be_bytes());
        h.extend_from_slice(&batch_length.to_be_bytes());
        h.extend_from_slice(&PARTITION_LEADER_EPOCH.to_be_bytes());
        h.push(MAGIC as u8);
        h.extend_from_slice(&[0; 4]); // CRC, below
        h.extend_from_slice(&0i16.to_be_bytes()); // attributes
        h.extend_from_slice(&((last - self.base_offset) as i32).to_be_bytes());
        h.extend_from_slice(&self.first_timestamp.to_be_bytes());
        h.extend_from_slice(&self.max_timestamp.to_be_bytes());
        h.extend_from_slice(&NO_PRODUCER_ID.to_be_bytes());
        h.extend_from_slice(&NO_PRODUCER_EPOCH.to_be_bytes());
        h.extend_from_slice(&NO_SEQUENCE.to_be_bytes());
        h.extend_from_slice(&self.count.to_be_bytes());
        if let Some(dst) = self.buf.get_mut(..HEADER_LEN) {
            dst.copy_from_slice(&h);
        }
        let crc = crc32c::crc32c(self.buf.get(ATTRIBUTES_AT..).unwrap_or_default());
        if let Some(dst) = self.buf.get_mut(CRC_AT..CRC_AT + 4) {
            dst.copy_from_slice(&crc.to_be_bytes());
        }
        self.buf
    }
}

/// Encodes `records` (offsets increasing, at least `base_offset`) as one uncompressed batch,
/// with [`BatchBuilder`]'s header fields.
///
/// # Errors
/// [`Error::Unencodable`] as for [`BatchBuilder::push`].
pub fn encode_batch(base_offset: u64, records: &[KafkaRecord]) -> Result<Vec<u8>> {
    let mut b = BatchBuilder::new(base_offset)?;
    for r in records {
        let headers: Vec<(&[u8], Option<&[u8]>)> = r
            .headers
            .iter()
            .map(|h| (h.key.as_slice(), h.value.as_deref()))
            .collect();
        b.push(
            r.offset,
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &headers,
        )?;
    }
    Ok(b.finish())
}
