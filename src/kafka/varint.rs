//! Kafka's variable-length integers: zigzag-encoded, 7 bits per byte, least significant group
//! first (`ByteUtils.readVarint` / `readVarlong`).
//!
//! Grammar: `varint := (0b1xxxxxxx){0,4} 0b0xxxxxxx` holding `zigzag(i32)`;
//! `varlong := (0b1xxxxxxx){0,9} 0b0xxxxxxx` holding `zigzag(i64)`.
//!
//! This is Kafka's encoding, kept apart from pagelog's own varints (`codec::varint`) so that
//! the two formats can never be mixed up: Kafka bounds a `varint` to 5 bytes and 32 bits.
#![warn(clippy::indexing_slicing)]

/// Most bytes of a `varint` (an `i32`).
const MAX_VARINT_LEN: usize = 5;
/// Most bytes of a `varlong` (an `i64`).
const MAX_VARLONG_LEN: usize = 10;

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The input ended inside the varint.
    Truncated,
    /// More bytes than the type allows, or a value outside its range.
    TooLong,
}

impl VarintError {
    /// A short description for error messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Truncated => "input ends inside a varint",
            Self::TooLong => "varint is too long or out of range",
        }
    }
}

/// Appends `v` as a Kafka `varint` (zigzag, at most 5 bytes).
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_unsigned(out, u64::from(((v << 1) ^ (v >> 31)).cast_unsigned()));
}

/// Appends `v` as a Kafka `varlong` (zigzag, at most 10 bytes).
pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    put_unsigned(out, ((v << 1) ^ (v >> 63)).cast_unsigned());
}

/// Bytes `v` takes as a `varint`.
pub(crate) fn varint_len(v: i32) -> usize {
    unsigned_len(u64::from(((v << 1) ^ (v >> 31)).cast_unsigned()))
}

/// Bytes `v` takes as a `varlong`.
#[cfg(test)]
pub(crate) fn varlong_len(v: i64) -> usize {
    unsigned_len(((v << 1) ^ (v >> 63)).cast_unsigned())
}

fn unsigned_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

fn put_unsigned(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let [low, ..] = v.to_le_bytes();
        if v < 0x80 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
        v >>= 7;
    }
}

/// Reads an unsigned LEB128 value of at most `max_len` bytes from `src[*pos..]`.
fn get_unsigned(src: &[u8], pos: &mut usize, max_len: usize) -> Result<u64, VarintError> {
    let mut v: u64 = 0;
    for (i, shift) in (0..max_len).zip((0u32..).step_by(7)) {
        let b = *src
            .get(pos.checked_add(i).ok_or(VarintError::Truncated)?)
            .ok_or(VarintError::Truncated)?;
        let payload = u64::from(b & 0x7f);
        // The 10th byte of a u64 may only carry its lowest bit.
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

/// Reads a Kafka `varint` from `src[*pos..]`, advancing `pos`. Rejects more than 5 bytes and
/// values outside 32 bits; accepts a non-minimal encoding, as Kafka does.
pub(crate) fn get_varint(src: &[u8], pos: &mut usize) -> Result<i32, VarintError> {
    let mut p = *pos;
    let raw = get_unsigned(src, &mut p, MAX_VARINT_LEN)?;
    let raw = u32::try_from(raw).map_err(|_| VarintError::TooLong)?;
    *pos = p;
    Ok((raw >> 1).cast_signed() ^ -(raw & 1).cast_signed())
}

/// Reads a Kafka `varlong` from `src[*pos..]`, advancing `pos`.
pub(crate) fn get_varlong(src: &[u8], pos: &mut usize) -> Result<i64, VarintError> {
    let mut p = *pos;
    let raw = get_unsigned(src, &mut p, MAX_VARLONG_LEN)?;
    *pos = p;
    Ok((raw >> 1).cast_signed() ^ -(raw & 1).cast_signed())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(out.len(), varlong_len(v), "{v}");
            let mut pos = 0;
            assert_eq!(get_varlong(&out, &mut pos), Ok(v));
            assert_eq!(pos, out.len());
        }
    }

    #[test]
    fn known_encodings() {
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
