//! Integer conversions that are lossless on the targets pagelog builds for.

/// `v` as a `usize`. Lossless: pagelog builds only for 64-bit targets (the `compile_error!` in
/// `lib.rs`), where `usize` is 64 bits. For file lengths, positions and sizes held as `u64`.
#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "usize is 64 bits: lib.rs refuses to build for narrower targets"
)]
pub(crate) const fn usize_from(v: u64) -> usize {
    v as usize
}
