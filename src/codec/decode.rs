//! Decoding one record of a batch (FORMAT.md section 4.2):
//! `record := length:uvarint offset_delta:uvarint timestamp_delta:svarint key:bytes value:bytes
//! header_count:uvarint (hkey:ubytes hvalue:ubytes)*`, where `bytes := length:svarint (-1 for
//! none) byte*` and `ubytes := length:uvarint byte*`.
//!
//! The read loop runs [`decode_at`] once per record. It tries a fast decoder first, which
//! makes every check of the precise one but carries no error detail, and calls the precise
//! decoder only when the fast one refuses: so a valid record costs one pass with no error
//! plumbing, and a damaged one gets the exact position and reason of its first fault.
#![warn(clippy::indexing_slicing)]

use super::varint;
use super::{Corruption, DecodeError};

/// One record as it lies in a batch: borrowed slices, nothing copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// Offset minus the batch's base offset.
    pub offset_delta: u32,
    /// Absolute timestamp (first timestamp plus the stored delta).
    pub timestamp: i64,
    /// Key bytes, `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value bytes, `None` for a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// The encoded headers (decode with `batch::HeaderIter`).
    pub headers: &'a [u8],
    /// Number of headers in `headers`.
    pub header_count: u32,
}

/// Decodes the record at `*pos` of `batch` and moves `*pos` past it; `next_min_delta` is the
/// smallest offset delta the record may have, and becomes its delta + 1. The fields are
/// passed one by one so that a cursor can step in place, with no copy of its state.
///
/// # Errors
/// [`DecodeError`] for a varint, length or offset delta outside the format, said where.
#[expect(
    clippy::inline_always,
    reason = "once per record in the read loop; the error path stays out of line"
)]
#[inline(always)]
pub(super) fn decode_at<'a>(
    b: &'a [u8],
    last_delta: u32,
    first_ts: i64,
    pos: &mut usize,
    next_min_delta: &mut u64,
) -> Result<RawRecord<'a>, DecodeError> {
    if let Some((r, end)) = decode_fast(b, last_delta, first_ts, *pos, *next_min_delta) {
        *pos = end;
        *next_min_delta = u64::from(r.offset_delta) + 1;
        return Ok(r);
    }
    decode_precise(b, last_delta, first_ts, pos, next_min_delta)
}

/// [`decode_precise`]'s checks without their detail: the record and the position after it,
/// or `None` where [`decode_precise`] would return an error (and, for a few non-minimal
/// varints of three bytes or more, where it would not: it then decides).
#[expect(
    clippy::inline_always,
    reason = "the body of decode_at, once per record"
)]
#[inline(always)]
pub(super) fn decode_fast(
    b: &[u8],
    last_delta: u32,
    first_ts: i64,
    pos: usize,
    next_min_delta: u64,
) -> Option<(RawRecord<'_>, usize)> {
    let mut p = pos;
    let len = uv(b, &mut p)?;
    let end = p.checked_add(usize::try_from(len).ok()?)?;
    let body = b.get(..end)?;
    let delta = u32::try_from(uv(body, &mut p)?).ok()?;
    if u64::from(delta) < next_min_delta || delta > last_delta {
        return None;
    }
    let ts_delta = varint::unzigzag(uv(body, &mut p)?);
    let key = opt(body, &mut p).ok()?;
    let value = opt(body, &mut p).ok()?;
    let header_count = u32::try_from(uv(body, &mut p)?).ok()?;
    let headers_start = p;
    for _ in 0..header_count {
        let n = usize::try_from(uv(body, &mut p)?).ok()?;
        p = p.checked_add(n).filter(|&e| e <= end)?;
        let n = usize::try_from(uv(body, &mut p)?).ok()?;
        p = p.checked_add(n).filter(|&e| e <= end)?;
    }
    if p != end {
        return None;
    }
    Some((
        RawRecord {
            offset_delta: delta,
            timestamp: first_ts.wrapping_add(ts_delta),
            key,
            value,
            headers: body.get(headers_start..)?,
            header_count,
        },
        end,
    ))
}

/// A uvarint of one or two bytes at `b[*p..]`, moving `*p` past it; `None` for anything
/// longer, shorter or past the end (the precise decoder then reads it).
#[expect(
    clippy::inline_always,
    reason = "six or more calls per record in decode_fast"
)]
#[inline(always)]
fn uv(b: &[u8], p: &mut usize) -> Option<u64> {
    let i = *p;
    let b0 = *b.get(i)?;
    if b0 < 0x80 {
        *p = i + 1;
        return Some(u64::from(b0));
    }
    let b1 = *b.get(i + 1)?;
    if b1 < 0x80 {
        *p = i + 2;
        return Some(u64::from(b0 & 0x7f) | (u64::from(b1) << 7));
    }
    None
}

/// A `bytes` field: `Ok(None)` for length -1, the slice otherwise; `Err` for another
/// negative length or one past the end of `bytes`.
#[expect(clippy::inline_always, reason = "twice per record in decode_fast")]
#[inline(always)]
fn opt<'a>(bytes: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, ()> {
    let zz = uv(bytes, pos).ok_or(())?;
    if zz == 1 {
        return Ok(None); // zigzag(-1)
    }
    if zz & 1 == 1 {
        return Err(()); // another negative length
    }
    let len = usize::try_from(zz >> 1).map_err(|_| ())?;
    let end = pos.checked_add(len).ok_or(())?;
    let field = bytes.get(*pos..end).ok_or(())?;
    *pos = end;
    Ok(Some(field))
}

/// The precise decoder: [`decode_at`]'s checks, each failure said with its position.
#[cold]
#[inline(never)]
fn decode_precise<'a>(
    b: &'a [u8],
    last_delta: u32,
    first_ts: i64,
    pos: &mut usize,
    next_min_delta: &mut u64,
) -> Result<RawRecord<'a>, DecodeError> {
    let start = *pos;
    let mut p = start;
    let len = varint::get_u(b, &mut p)?;
    let body = p
        .checked_add(usize::try_from(len).unwrap_or(usize::MAX))
        .and_then(|e| b.get(..e))
        .ok_or(DecodeError::Invalid {
            at: start,
            reason: Corruption::Length {
                what: "record length past end of batch",
            },
        })?;
    let end = body.len();
    let delta = varint::get_u(body, &mut p)?;
    let delta = u32::try_from(delta)
        .ok()
        .filter(|&d| u64::from(d) >= *next_min_delta && d <= last_delta)
        .ok_or(DecodeError::Invalid {
            at: start,
            reason: Corruption::OffsetOrder {
                what: "record offset delta out of order or out of range",
            },
        })?;
    let ts_delta = varint::get_s(body, &mut p)?;
    let key = get_opt(body, &mut p)?;
    let value = get_opt(body, &mut p)?;
    let hc_at = p;
    let header_count = varint::get_u(body, &mut p)?;
    let header_count = u32::try_from(header_count).map_err(|_| DecodeError::Invalid {
        at: hc_at,
        reason: Corruption::Length {
            what: "header count too large",
        },
    })?;
    let headers_start = p;
    for _ in 0..header_count {
        skip_bytes(body, &mut p)?;
        skip_bytes(body, &mut p)?;
    }
    if p != end {
        return Err(DecodeError::Invalid {
            at: p,
            reason: Corruption::Length {
                what: "record length does not match its fields",
            },
        });
    }
    *pos = end;
    *next_min_delta = u64::from(delta) + 1;
    #[expect(
        clippy::indexing_slicing,
        reason = "headers_start <= p == end == body.len(): the readers only advance p within \
                  body, and p == end was checked above"
    )]
    let headers = &body[headers_start..];
    Ok(RawRecord {
        offset_delta: delta,
        timestamp: first_ts.wrapping_add(ts_delta),
        key,
        value,
        headers,
        header_count,
    })
}

#[inline]
fn get_opt<'a>(b: &'a [u8], p: &mut usize) -> Result<Option<&'a [u8]>, DecodeError> {
    let at = *p;
    let len = varint::get_s(b, p)?;
    if len == -1 {
        return Ok(None);
    }
    let len = usize::try_from(len).map_err(|_| DecodeError::Invalid {
        at,
        reason: Corruption::Length {
            what: "negative field length",
        },
    })?;
    take(b, p, Some(len), at, "field length past end of record").map(Some)
}

pub(super) fn skip_bytes<'a>(b: &'a [u8], p: &mut usize) -> Result<&'a [u8], DecodeError> {
    let at = *p;
    let len = varint::get_u(b, p)?;
    take(
        b,
        p,
        usize::try_from(len).ok(),
        at,
        "header length past end of record",
    )
}

/// The `len` bytes of `b` from `*p`, moving `*p` past them; an error at `at` saying `what`
/// when they run past the end of `b` (or `len` is `None`: too large to be a length).
fn take<'a>(
    b: &'a [u8],
    p: &mut usize,
    len: Option<usize>,
    at: usize,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    let s = len
        .and_then(|l| p.checked_add(l))
        .and_then(|e| b.get(*p..e))
        .ok_or(DecodeError::Invalid {
            at,
            reason: Corruption::Length { what },
        })?;
    *p += s.len();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::{decode_at, decode_precise, varint};

    /// One record's bytes: `record := length body` as FORMAT.md 4.2 has it.
    fn record(
        delta: u64,
        ts: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], &[u8])],
    ) -> Vec<u8> {
        let mut body = Vec::new();
        let put_u = |out: &mut Vec<u8>, v: u64| {
            let mut b = [0u8; varint::MAX_LEN];
            let n = varint::put_u(&mut b, v);
            out.extend_from_slice(&b[..n]);
        };
        put_u(&mut body, delta);
        put_u(&mut body, varint::zigzag(ts));
        for f in [key, value] {
            match f {
                None => put_u(&mut body, varint::zigzag(-1)),
                Some(f) => {
                    put_u(&mut body, varint::zigzag(i64::try_from(f.len()).unwrap()));
                    body.extend_from_slice(f);
                }
            }
        }
        put_u(&mut body, headers.len() as u64);
        for (k, v) in headers {
            put_u(&mut body, k.len() as u64);
            body.extend_from_slice(k);
            put_u(&mut body, v.len() as u64);
            body.extend_from_slice(v);
        }
        let mut out = Vec::new();
        put_u(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
        out
    }

    /// The fast path must agree with the precise decoder on every input: the same record
    /// and position after it, or the same error.
    fn agree(b: &[u8], last_delta: u32, min_delta: u64) {
        let (mut p1, mut m1) = (0, min_delta);
        let (mut p2, mut m2) = (0, min_delta);
        let fast = decode_at(b, last_delta, 1000, &mut p1, &mut m1);
        let precise = decode_precise(b, last_delta, 1000, &mut p2, &mut m2);
        assert_eq!(fast, precise, "input {b:02x?}");
        assert_eq!((p1, m1), (p2, m2), "input {b:02x?}");
    }

    #[test]
    fn the_fast_path_agrees_with_the_precise_decoder_on_valid_and_damaged_records() {
        let big = vec![7u8; 20_000]; // three-byte lengths
        let shapes: Vec<Vec<u8>> = vec![
            record(0, 0, None, Some(&[1; 100]), &[]),
            record(3, -5, Some(b"key"), Some(b"v"), &[(b"h", b"x")]),
            record(
                1,
                1 << 20,
                Some(&[2; 200]),
                None,
                &[(b"", b""), (b"k", &[3; 130])],
            ),
            record(2, 64, None, Some(&big), &[]),
            record(200, 0, Some(b""), Some(b""), &[]),
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for r in &shapes {
            for (last, min) in [(300, 0), (2, 0), (300, 2), (0, 0)] {
                agree(r, last, min);
                for cut in 0..r.len().min(300) {
                    agree(&r[..cut], last, min);
                }
                let mut longer = r.clone();
                longer.extend_from_slice(&[0x80, 0x01, 0xff]);
                agree(&longer, last, min);
            }
            for _ in 0..2_000 {
                let mut m = r.clone();
                let at = usize::try_from(rand() % m.len().min(64) as u64).unwrap();
                m[at] = u8::try_from(rand() & 0xff).unwrap();
                agree(&m, 300, 0);
            }
        }
    }
}
