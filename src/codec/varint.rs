//! Unsigned LEB128 varints and zigzag-encoded signed varints (as in Kafka and protobuf).
//!
//! Grammar: `uvarint := (0b1xxxxxxx)* 0b0xxxxxxx` (7 payload bits per byte, least significant
//! group first, at most 10 bytes for a `u64`); `svarint := uvarint(zigzag(i64))`.
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
    let mut result: u64 = 0;
    let mut shift = 0u32;
    let mut i = *pos;
    loop {
        let Some(&b) = src.get(i) else {
            return Err(DecodeError::Varint { at: *pos });
        };
        i += 1;
        if shift == 63 && b > 1 {
            return Err(DecodeError::Varint { at: *pos });
        }
        result |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            *pos = i;
            return Ok(result);
        }
        shift += 7;
        if shift > 63 {
            return Err(DecodeError::Varint { at: *pos });
        }
    }
}

/// Reads a zigzag svarint from `src[*pos..]`, advancing `pos`.
///
/// # Errors
/// As [`get_u`].
#[inline]
pub fn get_s(src: &[u8], pos: &mut usize) -> Result<i64, DecodeError> {
    get_u(src, pos).map(unzigzag)
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
}
