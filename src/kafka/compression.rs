//! The compression codecs of a batch's records (attribute bits 0-2) and their decoding.
//!
//! Grammar: `codec := 0 none | 1 gzip | 2 snappy | 3 lz4 | 4 zstd` (bits 0-2 of `attributes`).
//! A compressed batch holds `compress(record*)` after its 61-byte header.

use std::borrow::Cow;

/// Largest decompressed size accepted for one batch: 64 MiB, well above Kafka's 1 MiB
/// default `max.message.bytes` (which bounds the *compressed* size), so that a hostile batch
/// cannot make the decoder allocate without bound.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// Compression codec of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Records stored as they are (the only codec pagelog writes).
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy, in Kafka's xerial framing.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
    /// Bits 5-7: not a codec Kafka defines.
    Unknown(u8),
}

impl Compression {
    /// The codec of attribute bits 0-2.
    #[must_use]
    pub fn from_bits(bits: u8) -> Self {
        match bits {
            0 => Self::None,
            1 => Self::Gzip,
            2 => Self::Snappy,
            3 => Self::Lz4,
            4 => Self::Zstd,
            other => Self::Unknown(other),
        }
    }

    /// Kafka's name for the codec (`compression.type`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
            Self::Unknown(_) => "unknown",
        }
    }

    /// True when this build can decode batches compressed with it.
    #[must_use]
    pub fn is_supported(self) -> bool {
        matches!(self, Self::None | Self::Gzip)
    }
}

/// Why records could not be decompressed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// This build has no decoder for the codec.
    Unsupported,
    /// The compressed data is damaged (or decompresses past the limit).
    Corrupt(String),
}

/// The uncompressed records of a batch body.
pub(crate) fn decompress(codec: Compression, data: &[u8]) -> Result<Cow<'_, [u8]>, Failure> {
    match codec {
        Compression::None => Ok(Cow::Borrowed(data)),
        Compression::Gzip => gunzip(data).map(Cow::Owned),
        _ => Err(Failure::Unsupported),
    }
}

/// Decodes gzip data (several members in a row, as `gzip` allows), up to
/// [`MAX_DECOMPRESSED_BYTES`].
fn gunzip(data: &[u8]) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    let decoder = flate2::read::MultiGzDecoder::new(data);
    let mut out = Vec::new();
    let limit = MAX_DECOMPRESSED_BYTES as u64 + 1;
    decoder
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| Failure::Corrupt(e.to_string()))?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(Failure::Corrupt(format!(
            "decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes"
        )));
    }
    Ok(out)
}
