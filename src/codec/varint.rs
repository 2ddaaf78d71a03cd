//! Unsigned LEB128 varints and zigzag-encoded signed varints (as in Kafka and protobuf): the
//! one varint implementation of the crate, for pagelog's own batches and, with the `kafka`
//! feature, for Kafka's `RecordBatch` v2 (`varint` and `varlong`).
//!
//! Grammar: `uvarint := (0b1xxxxxxx)* 0b0xxxxxxx` (7 payload bits per byte, least significant
//! group first, at most 10 bytes for a `u64`); `svarint := uvarint(zigzag(i64))`. Kafka's
//! `varint := (0b1xxxxxxx){0,4} 0b0xxxxxxx` holding `zigzag(i32)` (at most 5 bytes and 32
//! bits) and `varlong := svarint` (`ByteUtils.readVarint` / `readVarlong`).
#![warn(clippy::indexing_slicing)]

use super::DecodeError;

/// Largest encoding of a `u64`.
pub const MAX_LEN: usize = 10;

/// Number of bytes `v` takes as a uvarint.
#[inline]
#[must_use]
pub fn len_u(v: u64) -> usize {
    // ceil(bits / 7) with 0 taking one byte, as (bits * 9 + 64) / 64: exact for bits in 1..=64
    // (checked against the division for every bit count in the tests), and a shift instead of
    // a division by 7 on the append path.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    (bits * 9 + 64) >> 6
}

/// Number of bytes `v` takes as a zigzag svarint.
#[inline]
#[must_use]
pub fn len_s(v: i64) -> usize {
    len_u(zigzag(v))
}

/// Maps signed to unsigned so that small magnitudes stay small: 0→0, -1→1, 1→2, -2→3 …
#[inline]
#[must_use]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)).cast_unsigned()
}

/// Inverse of [`zigzag`].
#[inline]
#[must_use]
pub fn unzigzag(v: u64) -> i64 {
    (v >> 1).cast_signed() ^ -(v & 1).cast_signed()
}

/// Writes `v` at `dst[0..]`, returning the number of bytes written.
///
/// The caller sizes `dst` with [`len_u`]; a short `dst` is a logic error of the caller and
/// panics through slice indexing (never reached from decoded data).
#[inline]
#[expect(
    clippy::indexing_slicing,
    reason = "the caller sizes dst with len_u (documented above): i < len_u(v) <= dst.len()"
)]
pub fn put_u(dst: &mut [u8], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        let [low, ..] = v.to_le_bytes();
        dst[i] = low | 0x80;
        v >>= 7;
        i += 1;
    }
    let [low, ..] = v.to_le_bytes();
    dst[i] = low;
    i + 1
}

/// Writes `v` zigzag-encoded, returning the number of bytes written.
#[inline]
pub fn put_s(dst: &mut [u8], v: i64) -> usize {
    put_u(dst, zigzag(v))
}

/// Reads a uvarint from `src[*pos..]`, advancing `pos`.
///
/// # Errors
/// [`DecodeError::Varint`] when the input ends inside the varint or it is longer than 10 bytes
/// or overflows 64 bits.
#[expect(
    clippy::inline_always,
    reason = "several calls per record in the decode loop; the rare long varints go to the \
              out-of-line get_u_slow"
)]
#[inline(always)]
pub fn get_u(src: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    // Most varints in a record (lengths, deltas, counts) are one or two bytes.
    let i = *pos;
    if let Some(&b0) = src.get(i)
        && b0 < 0x80
    {
        *pos = i + 1;
        return Ok(u64::from(b0));
    }
    if let Some(&[b0, b1]) = src.get(i..i + 2)
        && b1 < 0x80
    {
        *pos = i + 2;
        return Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7));
    }
    get_u_slow(src, pos)
}

/// [`get_u`] for varints of three bytes or more, and for errors.
#[inline(never)]
fn get_u_slow(src: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    let at = *pos;
    get_bounded(src, pos, MAX_LEN).map_err(|_| DecodeError::Varint { at })
}

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The input ended inside the varint.
    Truncated,
    /// More bytes than the type allows, or a value outside its range.
    TooLong,
}

impl VarintError {
    /// A short description for error messages.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Truncated => "input ends inside a varint",
            Self::TooLong => "varint is too long or out of range",
        }
    }
}

/// Reads a uvarint of at most `max_len` bytes from `src[*pos..]`, advancing `pos` only on
/// success. Accepts non-minimal encodings; the 10th byte of a `u64` may carry only its lowest
/// bit.
fn get_bounded(src: &[u8], pos: &mut usize, max_len: usize) -> Result<u64, VarintError> {
    let mut v: u64 = 0;
    for (i, shift) in (0..max_len).zip((0u32..).step_by(7)) {
        let b = *src
            .get(pos.checked_add(i).ok_or(VarintError::Truncated)?)
            .ok_or(VarintError::Truncated)?;
        let payload = u64::from(b & 0x7f);
        if shift == 63 && payload > 1 {
            return Err(VarintError::TooLong);
        }
        v |= payload << shift;
        if b & 0x80 == 0 {
            *pos += i + 1;
            return Ok(v);
        }
    }
    Err(VarintError::TooLong)
}

/// Reads a zigzag svarint from `src[*pos..]`, advancing `pos`.
///
/// # Errors
/// As [`get_u`].
#[inline]
pub fn get_s(src: &[u8], pos: &mut usize) -> Result<i64, DecodeError> {
    get_u(src, pos).map(unzigzag)
}

/// Most bytes of a Kafka `varint` (an `i32`).
#[cfg(feature = "kafka")]
const MAX_VARINT_LEN: usize = 5;

/// Kafka's zigzag of an `i32`, widened.
#[cfg(feature = "kafka")]
fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)).cast_unsigned())
}

/// Appends `v` as a uvarint.
#[cfg(feature = "kafka")]
fn push_u(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; MAX_LEN];
    let n = put_u(&mut buf, v);
    out.extend_from_slice(buf.get(..n).unwrap_or_default());
}

/// Appends `v` as a Kafka `varint` (zigzag, at most 5 bytes).
#[cfg(feature = "kafka")]
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i32) {
    push_u(out, zigzag32(v));
}

/// Appends `v` as a Kafka `varlong` (zigzag, at most 10 bytes).
#[cfg(feature = "kafka")]
pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    push_u(out, zigzag(v));
}

/// Bytes `v` takes as a Kafka `varint`.
#[cfg(feature = "kafka")]
pub(crate) fn varint_len(v: i32) -> usize {
    len_u(zigzag32(v))
}

/// Reads a Kafka `varint` from `src[*pos..]`, advancing `pos`. Rejects more than 5 bytes and
/// values outside 32 bits; accepts a non-minimal encoding, as Kafka does.
#[cfg(feature = "kafka")]
pub(crate) fn get_varint(src: &[u8], pos: &mut usize) -> Result<i32, VarintError> {
    let mut p = *pos;
    let raw = get_bounded(src, &mut p, MAX_VARINT_LEN)?;
    let raw = u32::try_from(raw).map_err(|_| VarintError::TooLong)?;
    *pos = p;
    Ok((raw >> 1).cast_signed() ^ -(raw & 1).cast_signed())
}

/// Reads a Kafka `varlong` from `src[*pos..]`, advancing `pos`.
#[cfg(feature = "kafka")]
pub(crate) fn get_varlong(src: &[u8], pos: &mut usize) -> Result<i64, VarintError> {
    get_bounded(src, pos, MAX_LEN).map(unzigzag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let mut b = [0u8; MAX_LEN];
        assert_eq!(put_u(&mut b, 0), 1);
        assert_eq!(b[0], 0);
        assert_eq!(put_u(&mut b, 300), 2);
        assert_eq!(&b[..2], &[0xac, 0x02]);
        assert_eq!(put_u(&mut b, u64::MAX), 10);
        assert_eq!(b[9], 1);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    #[test]
    fn len_matches_the_encoder_at_every_bit_count() {
        let mut b = [0u8; MAX_LEN];
        assert_eq!(len_u(0), 1);
        for bits in 1..=64u32 {
            // The smallest and largest value with exactly `bits` significant bits.
            let lo = 1u64 << (bits - 1);
            let hi = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            for v in [lo, hi] {
                assert_eq!(len_u(v), put_u(&mut b, v), "v = {v:#x}");
                assert_eq!(len_u(v), (bits as usize).div_ceil(7));
            }
        }
    }

    #[test]
    fn rejects_truncated_and_overlong() {
        let mut pos = 0;
        assert!(get_u(&[0x80, 0x80], &mut pos).is_err());
        let overlong = [0xffu8; 11];
        assert!(get_u(&overlong, &mut pos).is_err());
        // 10th byte may only carry one bit.
        let mut over = [0xffu8; 10];
        over[9] = 0x02;
        assert!(get_u(&over, &mut pos).is_err());
        assert_eq!(pos, 0, "position is untouched on error");
    }

    proptest! {
        #[test]
        fn roundtrip_u(v: u64) {
            let mut b = [0u8; MAX_LEN];
            let n = put_u(&mut b, v);
            prop_assert_eq!(n, len_u(v));
            let mut pos = 0;
            prop_assert_eq!(get_u(&b, &mut pos)?, v);
            prop_assert_eq!(pos, n);
        }

        #[test]
        fn roundtrip_s(v: i64) {
            let mut b = [0u8; MAX_LEN];
            let n = put_s(&mut b, v);
            prop_assert_eq!(n, len_s(v));
            let mut pos = 0;
            prop_assert_eq!(get_s(&b, &mut pos)?, v);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let mut pos = 0;
            let _ = get_u(&bytes, &mut pos);
        }
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn varint_round_trips_and_sizes() {
        for v in [0, 1, -1, 63, -64, 64, 300, -300, i32::MAX, i32::MIN] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut pos = 0;
            assert_eq!(get_varint(&out, &mut pos), Ok(v));
            assert_eq!(pos, out.len());
        }
        for v in [
            0,
            -1,
            1,
            i64::MAX,
            i64::MIN,
            1_700_000_000_000,
            -1_700_000_000_000,
        ] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(out.len(), len_s(v), "{v}");
            let mut pos = 0;
            assert_eq!(get_varlong(&out, &mut pos), Ok(v));
            assert_eq!(pos, out.len());
        }
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn kafka_known_encodings() {
        // Kafka's zigzag: 0 -> 00, -1 -> 01, 1 -> 02, 64 -> 80 01.
        let enc = |v: i32| {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            out
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(-1), [0x01]);
        assert_eq!(enc(1), [0x02]);
        assert_eq!(enc(64), [0x80, 0x01]);
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn rejects_long_truncated_and_out_of_range() {
        let mut pos = 0;
        assert_eq!(get_varint(&[0x80], &mut pos), Err(VarintError::Truncated));
        assert_eq!(pos, 0);
        // Six bytes for a varint.
        let six = [0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(get_varint(&six, &mut pos), Err(VarintError::TooLong));
        // Five bytes but more than 32 bits.
        let big = [0xff, 0xff, 0xff, 0xff, 0x1f];
        assert_eq!(get_varint(&big, &mut pos), Err(VarintError::TooLong));
        // The largest 32-bit value is fine.
        let max = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert_eq!(get_varint(&max, &mut pos), Ok(i32::MIN));
        // Eleven bytes, or ten with a high 10th byte, for a varlong.
        let mut pos = 0;
        assert_eq!(
            get_varlong(&[0xff; 11], &mut pos),
            Err(VarintError::TooLong)
        );
        let mut ten = [0xff; 10];
        ten[9] = 0x02;
        assert_eq!(get_varlong(&ten, &mut pos), Err(VarintError::TooLong));
        // Non-minimal encodings are accepted (Kafka does).
        assert_eq!(get_varint(&[0x80, 0x00], &mut pos), Ok(0));
    }
}
