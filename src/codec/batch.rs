//! Record batches: the unit pagelog appends, checksums and indexes.
//!
//! Grammar (all fixed-width integers little-endian; see docs/FORMAT.md for byte diagrams):
//! `batch := crc:u32 length:u32 magic:u8 attributes:u8 reserved:u16 record_count:u32
//!           base_offset:u64 last_offset_delta:u32 reserved:u32 first_timestamp:i64
//!           max_timestamp:i64 record{record_count}`
//! `record := uvarint(body_len) offset_delta:uvarint timestamp_delta:svarint
//!            key_len:svarint(-1 = null) key value_len:svarint(-1 = null) value
//!            header_count:uvarint (key_len:uvarint key:utf8 value_len:uvarint value)*`
//! The CRC-32 (IEEE, as computed by crc32fast) covers bytes `[4, length)`.
#![warn(clippy::indexing_slicing)]

pub use super::decode::RawRecord;
use super::decode::{decode_at, decode_fast, skip_bytes};
use super::varint;
use super::{Corruption, DecodeError, le_i64, le_u16, le_u32, le_u64};
use crate::codec::record::NewRecord;

/// Size of the fixed batch header.
pub const HEADER_LEN: usize = 48;
/// The only batch format version this build reads and writes.
pub const MAGIC: u8 = 1;

/// Field positions inside the header.
pub mod field {
    /// CRC-32 of bytes `[LENGTH, length)`.
    pub const CRC: usize = 0;
    /// Total batch length including the header.
    pub const LENGTH: usize = 4;
    /// Format version, [`super::MAGIC`].
    pub const MAGIC: usize = 8;
    /// Attribute bits; all reserved and zero in version 1.
    pub const ATTRIBUTES: usize = 9;
    /// Reserved, zero.
    pub const RESERVED1: usize = 10;
    /// Number of records in the batch.
    pub const RECORD_COUNT: usize = 12;
    /// Offset of the batch's first offset slot.
    pub const BASE_OFFSET: usize = 16;
    /// `last offset - base offset`.
    pub const LAST_OFFSET_DELTA: usize = 24;
    /// Reserved, zero.
    pub const RESERVED2: usize = 28;
    /// Timestamp of the first record; record timestamps are deltas from it.
    pub const FIRST_TIMESTAMP: usize = 32;
    /// Largest record timestamp in the batch.
    pub const MAX_TIMESTAMP: usize = 40;
}

/// What [`measure`] found out about a batch before it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPlan {
    /// Encoded length in bytes, header included.
    pub len: usize,
    /// Number of records.
    pub count: u32,
    /// Timestamp of the first record (the base for deltas).
    pub first_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Bytes of the values that [`encode_gathered`] leaves out of its buffer (those of
    /// [`GATHER_MIN`] bytes or more).
    pub gathered: usize,
}

/// Values of at least this many bytes are left out of the buffer by [`encode_gathered`]
/// and [`encode_placed_gathered`], to be written from where they are.
pub const GATHER_MIN: usize = 4 << 10;

/// `value` if a gathering encoder leaves it out of its buffer.
#[inline]
#[must_use]
pub fn gathered(value: Option<&[u8]>) -> Option<&[u8]> {
    value.filter(|v| v.len() >= GATHER_MIN)
}

#[inline]
fn ts_of(r: &NewRecord<'_>, now: i64) -> i64 {
    r.timestamp.unwrap_or(now)
}

#[inline]
#[expect(
    clippy::cast_possible_wrap,
    reason = "a slice holds at most isize::MAX bytes"
)]
fn opt_len(b: Option<&[u8]>) -> i64 {
    b.map_or(-1, |b| b.len() as i64)
}

/// Length of one record's body (everything after its `body_len` varint).
#[expect(
    clippy::inline_always,
    reason = "per-record: computed in both the measure and the encode loop of every append"
)]
#[inline(always)]
fn body_len(r: &NewRecord<'_>, delta: u32, ts_delta: i64) -> usize {
    let mut n = varint::len_u(u64::from(delta)) + varint::len_s(ts_delta);
    n += varint::len_s(opt_len(r.key)) + r.key.map_or(0, <[u8]>::len);
    n += varint::len_s(opt_len(r.value)) + r.value.map_or(0, <[u8]>::len);
    n += varint::len_u(r.headers.len() as u64);
    for h in r.headers {
        n += varint::len_u(h.key.len() as u64) + h.key.len();
        n += varint::len_u(h.value.len() as u64) + h.value.len();
    }
    n
}

/// Computes the encoded size and timestamps of a batch holding `records`, where records without
/// a timestamp get `now`. Returns `None` for an empty batch, more than `u32::MAX` records, or a
/// size that does not fit the 32-bit length field.
#[must_use]
pub fn measure(records: &[NewRecord<'_>], now: i64) -> Option<BatchPlan> {
    if records.is_empty() || u32::try_from(records.len()).is_err() {
        return None;
    }
    measure_deltas(records.iter().zip(0u32..).map(|(r, i)| (i, r)), now)
}

/// As [`measure`] for records with explicit offset deltas (strictly increasing), as a
/// rewrite of existing batches needs. An empty list measures an empty batch (a header that
/// only covers an offset range).
#[must_use]
pub fn measure_placed(records: &[(u32, NewRecord<'_>)], now: i64) -> Option<BatchPlan> {
    measure_deltas(records.iter().map(|(d, r)| (*d, r)), now)
}

fn measure_deltas<'a, 'r: 'a>(
    records: impl Iterator<Item = (u32, &'a NewRecord<'r>)> + Clone,
    now: i64,
) -> Option<BatchPlan> {
    let mut count = 0u32;
    let first_timestamp = records.clone().next().map_or(0, |(_, r)| ts_of(r, now));
    let mut max_timestamp = i64::MIN;
    let mut len = HEADER_LEN;
    let mut gathered_bytes = 0;
    for (delta, r) in records {
        count = count.checked_add(1)?;
        let ts = ts_of(r, now);
        max_timestamp = max_timestamp.max(ts);
        let b = body_len(r, delta, ts.wrapping_sub(first_timestamp));
        len = len.checked_add(varint::len_u(b as u64) + b)?;
        // Part of `len`, so it cannot overflow either.
        gathered_bytes += gathered(r.value).map_or(0, <[u8]>::len);
    }
    if len > u32::MAX as usize {
        return None;
    }
    Some(BatchPlan {
        len,
        count,
        first_timestamp,
        max_timestamp,
        gathered: gathered_bytes,
    })
}

/// Encodes `records` as one batch starting at `base_offset` into `dst[..plan.len]`, CRC
/// included. `plan` must come from [`measure`] with the same records and `now`.
///
/// # Panics
/// If `dst` is shorter than `plan.len` (a caller bug, never data-dependent).
pub fn encode(
    dst: &mut [u8],
    base_offset: u64,
    records: &[NewRecord<'_>],
    plan: &BatchPlan,
    now: i64,
) {
    // `plan` counted the records in a u32: the deltas fit.
    let deltas = records.iter().zip(0u32..).map(|(r, i)| (i, r));
    let last_offset_delta = plan.count.saturating_sub(1);
    encode_deltas::<false>(
        dst,
        base_offset,
        last_offset_delta,
        deltas,
        plan,
        now,
        &mut Vec::new(),
    );
}

/// As [`encode`], except that the values [`gathered`] selects are left out: `dst` receives
/// the batch's other `plan.len - plan.gathered` bytes, and `splits` (cleared first) where in
/// `dst` each left-out value belongs, in order. The batch is `dst[..splits[0]]`, the first
/// such value, `dst[splits[0]..splits[1]]`, the second, …, `dst[splits[last]..]`; its CRC,
/// in `dst[..4]`, covers those bytes in that order.
///
/// # Panics
/// If `dst` is shorter than `plan.len - plan.gathered` (a caller bug).
pub fn encode_gathered(
    dst: &mut [u8],
    base_offset: u64,
    records: &[NewRecord<'_>],
    plan: &BatchPlan,
    now: i64,
    splits: &mut Vec<usize>,
) {
    let deltas = records.iter().zip(0u32..).map(|(r, i)| (i, r));
    let last_offset_delta = plan.count.saturating_sub(1);
    encode_deltas::<true>(
        dst,
        base_offset,
        last_offset_delta,
        deltas,
        plan,
        now,
        splits,
    );
}

/// Encodes records with explicit offset deltas as one batch covering
/// `[base_offset, base_offset + last_offset_delta]`; `plan` comes from [`measure_placed`].
/// Deltas must be strictly increasing and at most `last_offset_delta`.
///
/// # Panics
/// If `dst` is shorter than `plan.len` (a caller bug, never data-dependent).
pub fn encode_placed(
    dst: &mut [u8],
    base_offset: u64,
    last_offset_delta: u32,
    records: &[(u32, NewRecord<'_>)],
    plan: &BatchPlan,
    now: i64,
) {
    let deltas = records.iter().map(|(d, r)| (*d, r));
    encode_deltas::<false>(
        dst,
        base_offset,
        last_offset_delta,
        deltas,
        plan,
        now,
        &mut Vec::new(),
    );
}

/// [`encode_placed`] as [`encode_gathered`] is [`encode`].
///
/// # Panics
/// If `dst` is shorter than `plan.len - plan.gathered` (a caller bug).
pub fn encode_placed_gathered(
    dst: &mut [u8],
    base_offset: u64,
    last_offset_delta: u32,
    records: &[(u32, NewRecord<'_>)],
    plan: &BatchPlan,
    now: i64,
    splits: &mut Vec<usize>,
) {
    let deltas = records.iter().map(|(d, r)| (*d, r));
    encode_deltas::<true>(
        dst,
        base_offset,
        last_offset_delta,
        deltas,
        plan,
        now,
        splits,
    );
}

#[expect(
    clippy::indexing_slicing,
    reason = "encodes into dst[..plan.len] (less the gathered values when GATHER), which \
              `measure` sized for exactly these records and header: every write lies inside it \
              (a shorter dst is the documented caller panic)"
)]
fn encode_deltas<'a, 'r: 'a, const GATHER: bool>(
    dst: &mut [u8],
    base_offset: u64,
    last_offset_delta: u32,
    records: impl Iterator<Item = (u32, &'a NewRecord<'r>)>,
    plan: &BatchPlan,
    now: i64,
    splits: &mut Vec<usize>,
) {
    let dst = &mut dst[..plan.len - if GATHER { plan.gathered } else { 0 }];
    splits.clear();
    #[expect(
        clippy::cast_possible_truncation,
        reason = "`measure` returns no plan longer than u32::MAX"
    )]
    let length = plan.len as u32;
    dst[field::LENGTH..field::LENGTH + 4].copy_from_slice(&length.to_le_bytes());
    dst[field::MAGIC] = MAGIC;
    dst[field::ATTRIBUTES] = 0;
    dst[field::RESERVED1..field::RESERVED1 + 2].copy_from_slice(&0u16.to_le_bytes());
    dst[field::RECORD_COUNT..field::RECORD_COUNT + 4].copy_from_slice(&plan.count.to_le_bytes());
    dst[field::BASE_OFFSET..field::BASE_OFFSET + 8].copy_from_slice(&base_offset.to_le_bytes());
    dst[field::LAST_OFFSET_DELTA..field::LAST_OFFSET_DELTA + 4]
        .copy_from_slice(&last_offset_delta.to_le_bytes());
    dst[field::RESERVED2..field::RESERVED2 + 4].copy_from_slice(&0u32.to_le_bytes());
    dst[field::FIRST_TIMESTAMP..field::FIRST_TIMESTAMP + 8]
        .copy_from_slice(&plan.first_timestamp.to_le_bytes());
    dst[field::MAX_TIMESTAMP..field::MAX_TIMESTAMP + 8]
        .copy_from_slice(&plan.max_timestamp.to_le_bytes());
    let mut p = HEADER_LEN;
    // With GATHER: the CRC of the batch so far, up to `dst[crc_from]` then the values left out.
    let mut crc = GATHER.then(crc32fast::Hasher::new);
    let mut crc_from = field::LENGTH;
    for (delta, r) in records {
        let ts_delta = ts_of(r, now).wrapping_sub(plan.first_timestamp);
        let b = body_len(r, delta, ts_delta);
        p += varint::put_u(&mut dst[p..], b as u64);
        p += varint::put_u(&mut dst[p..], u64::from(delta));
        p += varint::put_s(&mut dst[p..], ts_delta);
        p = put_opt(dst, p, r.key);
        if let Some(crc) = &mut crc
            && let Some(v) = gathered(r.value)
        {
            p += varint::put_s(&mut dst[p..], opt_len(r.value));
            crc.update(&dst[crc_from..p]);
            crc.update(v);
            crc_from = p;
            splits.push(p);
        } else {
            p = put_opt(dst, p, r.value);
        }
        p += varint::put_u(&mut dst[p..], r.headers.len() as u64);
        for h in r.headers {
            p += varint::put_u(&mut dst[p..], h.key.len() as u64);
            dst[p..p + h.key.len()].copy_from_slice(h.key.as_bytes());
            p += h.key.len();
            p += varint::put_u(&mut dst[p..], h.value.len() as u64);
            dst[p..p + h.value.len()].copy_from_slice(h.value);
            p += h.value.len();
        }
    }
    debug_assert_eq!(p, dst.len());
    let crc = match crc {
        Some(mut crc) => {
            crc.update(&dst[crc_from..]);
            crc.finalize()
        }
        None => crc32fast::hash(&dst[field::LENGTH..]),
    };
    dst[field::CRC..field::CRC + 4].copy_from_slice(&crc.to_le_bytes());
}

#[inline]
#[expect(
    clippy::indexing_slicing,
    reason = "part of encode_deltas: dst was sized by `measure` for this field"
)]
fn put_opt(dst: &mut [u8], mut p: usize, v: Option<&[u8]>) -> usize {
    p += varint::put_s(&mut dst[p..], opt_len(v));
    if let Some(v) = v {
        dst[p..p + v.len()].copy_from_slice(v);
        p += v.len();
    }
    p
}

/// The decoded fixed header of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Stored CRC.
    pub crc: u32,
    /// Total length, header included; at least [`HEADER_LEN`].
    pub length: u32,
    /// Number of records; 0 for an empty batch left by compaction.
    pub record_count: u32,
    /// First offset the batch covers.
    pub base_offset: u64,
    /// Last offset minus base offset; at least `record_count - 1`. Offsets in the range
    /// without a record were removed by compaction.
    pub last_offset_delta: u32,
    /// Timestamp base for the records.
    pub first_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
}

impl BatchHeader {
    /// Decodes and sanity-checks the header at the start of `buf` (which may extend past the
    /// batch). Checks magic, reserved fields, minimum length, record count and offset range;
    /// the caller checks `length` against the space available and the CRC with [`check_crc`].
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when `buf` is shorter than a header, [`DecodeError::Invalid`]
    /// for any field outside the format.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        // A fixed-size array: every field read below is bounds-checked at compile time.
        let Some(buf) = buf.first_chunk::<HEADER_LEN>() else {
            return Err(DecodeError::Truncated {
                at: buf.len(),
                what: "batch header",
            });
        };
        let invalid = |at, reason| Err(DecodeError::Invalid { at, reason });
        let length = le_u32(buf, field::LENGTH);
        if (length as usize) < HEADER_LEN {
            return invalid(
                field::LENGTH,
                Corruption::Length {
                    what: "batch length shorter than its header",
                },
            );
        }
        if buf[field::MAGIC] != MAGIC {
            return invalid(
                field::MAGIC,
                Corruption::UnknownFormat {
                    what: "unknown batch magic",
                },
            );
        }
        if buf[field::ATTRIBUTES] != 0
            || le_u16(buf, field::RESERVED1) != 0
            || le_u32(buf, field::RESERVED2) != 0
        {
            return invalid(
                field::ATTRIBUTES,
                Corruption::Reserved {
                    what: "reserved batch bits set",
                },
            );
        }
        // A batch may hold no records at all: compaction leaves such a header where every
        // record of a segment was removed, so that offsets still tile the segment.
        let record_count = le_u32(buf, field::RECORD_COUNT);
        let last_offset_delta = le_u32(buf, field::LAST_OFFSET_DELTA);
        if u64::from(last_offset_delta) + 1 < u64::from(record_count) {
            return invalid(
                field::LAST_OFFSET_DELTA,
                Corruption::OffsetOrder {
                    what: "more records than offsets",
                },
            );
        }
        let base_offset = le_u64(buf, field::BASE_OFFSET);
        if base_offset
            .checked_add(u64::from(last_offset_delta) + 1)
            .is_none()
        {
            return invalid(
                field::BASE_OFFSET,
                Corruption::OffsetOrder {
                    what: "offset range overflows u64",
                },
            );
        }
        Ok(Self {
            crc: le_u32(buf, field::CRC),
            length,
            record_count,
            base_offset,
            last_offset_delta,
            first_timestamp: le_i64(buf, field::FIRST_TIMESTAMP),
            max_timestamp: le_i64(buf, field::MAX_TIMESTAMP),
        })
    }

    /// Last offset covered by the batch.
    #[inline]
    #[must_use]
    pub fn last_offset(&self) -> u64 {
        self.base_offset + u64::from(self.last_offset_delta)
    }

    /// The offset after the batch.
    #[inline]
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.last_offset() + 1
    }
}

/// Checks the CRC of a complete batch (`batch.len()` equals its length field).
///
/// # Errors
/// [`DecodeError::Checksum`] on mismatch; [`DecodeError::Truncated`] if shorter than a header.
#[inline]
pub fn check_crc(batch: &[u8]) -> Result<(), DecodeError> {
    // The CRC field comes first and covers everything after it.
    let split = batch
        .split_first_chunk::<{ field::LENGTH }>()
        .filter(|_| batch.len() >= HEADER_LEN);
    let Some((crc, covered)) = split else {
        return Err(DecodeError::Truncated {
            at: batch.len(),
            what: "batch header",
        });
    };
    let expected = u32::from_le_bytes(*crc);
    let got = crc32fast::hash(covered);
    if expected == got {
        Ok(())
    } else {
        Err(DecodeError::Checksum { expected, got })
    }
}

/// True if `batch` (at least a header long) carries the CRC of its bytes: [`check_crc`]
/// without the error, for a read loop that leaves reporting to its general path.
#[inline]
#[must_use]
pub fn crc_matches(batch: &[u8]) -> bool {
    batch
        .split_first_chunk::<{ field::LENGTH }>()
        .filter(|_| batch.len() >= HEADER_LEN)
        .is_some_and(|(crc, covered)| u32::from_le_bytes(*crc) == crc32fast::hash(covered))
}

/// Iterates the records of a batch whose header and CRC were already checked.
///
/// Every structural rule is still checked (lengths inside bounds, offset deltas strictly
/// increasing and within the header's range, the record count exact, no trailing bytes), so a
/// batch that passed its CRC but was written by a buggy or hostile producer yields an error,
/// never a panic or a wrong slice.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    batch: &'a [u8],
    pos: usize,
    left: u32,
    next_min_delta: u64,
    last_delta: u32,
    first_ts: i64,
    failed: bool,
}

impl<'a> RecordIter<'a> {
    /// Starts iterating `batch` (the whole batch, header included, exactly `length` bytes).
    #[must_use]
    pub fn new(batch: &'a [u8], header: &BatchHeader) -> Self {
        Self {
            batch,
            pos: HEADER_LEN,
            left: header.record_count,
            next_min_delta: 0,
            last_delta: header.last_offset_delta,
            first_ts: header.first_timestamp,
            failed: false,
        }
    }

    /// Position of the next record relative to the start of the batch.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Where the iteration stands, to resume it later with [`resume`](Self::resume) on the
    /// same batch bytes (lets a cursor keep its place without borrowing the batch).
    #[must_use]
    pub fn state(&self) -> IterState {
        IterState {
            pos: self.pos,
            left: self.left,
            next_min_delta: self.next_min_delta,
        }
    }

    /// Decodes the record at `state` in `batch` and moves `state` past it, in place: the
    /// cheapest way for a cursor to step through a batch it does not borrow. Checks what
    /// [`Iterator::next`] checks; after an error the caller must not go on with `state`.
    #[expect(
        clippy::inline_always,
        reason = "once per record in the read loop, whose caller keeps `state` in registers"
    )]
    #[inline(always)]
    pub fn next_at(
        batch: &'a [u8],
        header: &BatchHeader,
        state: &mut IterState,
    ) -> Option<Result<RawRecord<'a>, DecodeError>> {
        if state.left == 0 {
            if state.pos != batch.len() {
                return Some(Err(DecodeError::Invalid {
                    at: state.pos,
                    reason: Corruption::Length {
                        what: "bytes after the last record",
                    },
                }));
            }
            return None;
        }
        state.left -= 1;
        Some(decode_at(
            batch,
            header.last_offset_delta,
            header.first_timestamp,
            &mut state.pos,
            &mut state.next_min_delta,
        ))
    }

    /// [`next_at`](Self::next_at) for the common case: the next record, if the batch has
    /// one left and it decodes on the fast path (every check made, no error detail). `None`
    /// leaves `state` as it was, for [`next_at`](Self::next_at) to decode the same record
    /// again and say what is wrong with it (or to read a form the fast path leaves to it).
    #[expect(
        clippy::inline_always,
        reason = "once per record in the read loop, whose caller keeps `state` in registers"
    )]
    #[inline(always)]
    pub fn next_fast(
        batch: &'a [u8],
        header: &BatchHeader,
        state: &mut IterState,
    ) -> Option<RawRecord<'a>> {
        if state.left == 0 {
            return None;
        }
        let (r, end) = decode_fast(
            batch,
            header.last_offset_delta,
            header.first_timestamp,
            state.pos,
            state.next_min_delta,
        )?;
        state.pos = end;
        state.left -= 1;
        state.next_min_delta = u64::from(r.offset_delta) + 1;
        Some(r)
    }

    /// Steps over the records whose offset delta is below `delta`, reading only each one's
    /// length and offset delta: for a batch whose CRC was checked, a lookup inside it need
    /// not decode the records before the one it wants. Lengths and the order of deltas are
    /// still checked; an error ends the iteration like one from `next`.
    ///
    /// # Errors
    /// As [`Iterator::next`].
    pub fn skip_below(&mut self, delta: u32) -> Result<(), DecodeError> {
        while self.left > 0 && !self.failed {
            let start = self.pos;
            let mut p = start;
            let step = varint::get_u(self.batch, &mut p).and_then(|len| {
                let body = p
                    .checked_add(usize::try_from(len).unwrap_or(usize::MAX))
                    .and_then(|e| self.batch.get(..e))
                    .ok_or(DecodeError::Invalid {
                        at: start,
                        reason: Corruption::Length {
                            what: "record length past end of batch",
                        },
                    })?;
                let d = varint::get_u(body, &mut p)?;
                Ok((body.len(), d))
            });
            let (end, d) = match step {
                Ok(v) => v,
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            };
            if d >= u64::from(delta) {
                break;
            }
            if d < self.next_min_delta {
                self.failed = true;
                return Err(DecodeError::Invalid {
                    at: start,
                    reason: Corruption::OffsetOrder {
                        what: "record offset delta out of order or out of range",
                    },
                });
            }
            self.pos = end;
            self.left -= 1;
            self.next_min_delta = d + 1;
        }
        Ok(())
    }

    /// Continues an iteration saved with [`state`](Self::state).
    #[must_use]
    pub fn resume(batch: &'a [u8], header: &BatchHeader, state: IterState) -> Self {
        Self {
            batch,
            pos: state.pos,
            left: state.left,
            next_min_delta: state.next_min_delta,
            last_delta: header.last_offset_delta,
            first_ts: header.first_timestamp,
            failed: false,
        }
    }

    #[inline]
    fn decode_one(&mut self) -> Result<RawRecord<'a>, DecodeError> {
        decode_at(
            self.batch,
            self.last_delta,
            self.first_ts,
            &mut self.pos,
            &mut self.next_min_delta,
        )
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RawRecord<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.left == 0 {
            if self.pos != self.batch.len() {
                self.failed = true;
                return Some(Err(DecodeError::Invalid {
                    at: self.pos,
                    reason: Corruption::Length {
                        what: "bytes after the last record",
                    },
                }));
            }
            return None;
        }
        self.left -= 1;
        let r = self.decode_one();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// A saved [`RecordIter`] position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IterState {
    pos: usize,
    left: u32,
    next_min_delta: u64,
}

impl IterState {
    /// Position of the next record relative to the start of the batch.
    #[inline]
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Records left to decode.
    #[inline]
    #[must_use]
    pub fn left(&self) -> u32 {
        self.left
    }
}

/// Iterates encoded headers: `(key, value)` pairs.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    bytes: &'a [u8],
    pos: usize,
    left: u32,
}

impl<'a> HeaderIter<'a> {
    /// Iterates `count` headers in `bytes`.
    #[must_use]
    pub fn new(bytes: &'a [u8], count: u32) -> Self {
        Self {
            bytes,
            pos: 0,
            left: count,
        }
    }
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Result<(&'a str, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let at = self.pos;
        let r = skip_bytes(self.bytes, &mut self.pos).and_then(|k| {
            let v = skip_bytes(self.bytes, &mut self.pos)?;
            let k = std::str::from_utf8(k).map_err(|_| DecodeError::Invalid {
                at,
                reason: Corruption::Value {
                    what: "header key is not UTF-8",
                },
            })?;
            Ok((k, v))
        });
        if r.is_err() {
            self.left = 0;
        }
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
