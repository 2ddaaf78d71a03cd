//! Reading the batches of a Kafka `.log` segment file: from bytes in memory
//! ([`read_log_batches`]) or streamed from a file, one batch in memory at a time (for import).
//!
//! Grammar: `log := batch*` (batches back to back from byte 0, no padding; a broker with
//! `file.preallocate` may leave zero bytes after the last one).
#![warn(clippy::indexing_slicing)]

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::error::{Error, Result};
use super::record_batch::{KafkaBatch, LOG_OVERHEAD, decode_batch};
use crate::error::io_err;

/// Gives a codec error the file it came from, with positions made relative to the file.
pub(crate) fn locate(e: Error, file: &Path, batch_position: u64) -> Error {
    let at = |p: u64| batch_position.saturating_add(p);
    match e {
        Error::Corrupt {
            position, reason, ..
        } => Error::Corrupt {
            path: Some(file.to_path_buf()),
            position: at(position),
            reason,
        },
        Error::ChecksumMismatch {
            position,
            expected,
            got,
            ..
        } => Error::ChecksumMismatch {
            path: Some(file.to_path_buf()),
            position: at(position),
            expected,
            got,
        },
        Error::Unsupported { position, what, .. } => Error::Unsupported {
            path: Some(file.to_path_buf()),
            position: at(position),
            what,
        },
        other => other,
    }
}

/// Iterator over the batches of a `.log` file's contents, with each batch's byte position.
/// Stops after the first error (a batch cut short at the end included), which it yields
/// with positions relative to the start of the bytes.
#[derive(Debug, Clone)]
pub struct LogBatches<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

/// The batches of `log` (the bytes of a Kafka `.log` file).
///
/// ```
/// # fn main() -> pagelog::kafka::Result<()> {
/// use pagelog::kafka::{BatchBuilder, read_log_batches};
/// let mut log = Vec::new();
/// for offset in 0..3 {
///     let mut b = BatchBuilder::new(offset)?;
///     b.push(offset, 1_700_000_000_000, None, Some(b"v"), &[])?;
///     log.extend(b.finish());
/// }
/// let offsets: Vec<u64> = read_log_batches(&log)
///     .map(|b| b.map(|(_pos, batch)| batch.records[0].offset))
///     .collect::<pagelog::kafka::Result<_>>()?;
/// assert_eq!(offsets, [0, 1, 2]);
/// # Ok(()) }
/// ```
#[must_use]
pub fn read_log_batches(log: &[u8]) -> LogBatches<'_> {
    LogBatches {
        buf: log,
        pos: 0,
        failed: false,
    }
}

impl Iterator for LogBatches<'_> {
    type Item = Result<(u64, KafkaBatch)>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..)?;
        if self.failed || rest.is_empty() {
            return None;
        }
        let at = self.pos as u64;
        match decode_batch(rest) {
            Ok(batch) => {
                let size = usize::try_from(batch.header.size()).unwrap_or(usize::MAX);
                self.pos = self.pos.saturating_add(size);
                Some(Ok((at, batch)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(shift(e, at)))
            }
        }
    }
}

/// Moves a codec error's position by `by` bytes, keeping its path.
fn shift(e: Error, by: u64) -> Error {
    match e {
        Error::Corrupt {
            path,
            position,
            reason,
        } => Error::Corrupt {
            path,
            position: position.saturating_add(by),
            reason,
        },
        Error::ChecksumMismatch {
            path,
            position,
            expected,
            got,
        } => Error::ChecksumMismatch {
            path,
            position: position.saturating_add(by),
            expected,
            got,
        },
        Error::Unsupported {
            path,
            position,
            what,
        } => Error::Unsupported {
            path,
            position: position.saturating_add(by),
            what,
        },
        other => other,
    }
}

/// What the file reader found next.
#[derive(Debug)]
pub(crate) enum Next {
    /// The bytes of one whole batch (not yet checked), starting at this file position.
    Batch(u64),
    /// The end of the file, right after a batch.
    End,
    /// The file ends inside a batch (or with bytes too few for one): `position`, why.
    Torn(u64, String),
    /// Only zero bytes from `position` to the end (a preallocated file's unused space).
    ZeroTail(u64),
}

/// Streams a `.log` file batch by batch; memory holds one batch at a time.
#[derive(Debug)]
pub(crate) struct FileBatches {
    path: PathBuf,
    file: BufReader<File>,
    pos: u64,
    len: u64,
    /// The last batch read by `next`.
    pub(crate) buf: Vec<u8>,
}

impl FileBatches {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(io_err(path))?;
        let len = file.metadata().map_err(io_err(path))?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file: BufReader::with_capacity(1 << 20, file),
            pos: 0,
            len,
            buf: Vec::new(),
        })
    }

    /// Size of the file in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Reads the next batch's bytes into `self.buf`.
    pub(crate) fn next(&mut self) -> Result<Next> {
        let remaining = self.len - self.pos;
        if remaining == 0 {
            return Ok(Next::End);
        }
        let at = self.pos;
        if remaining < LOG_OVERHEAD as u64 {
            return self.tail(
                at,
                true,
                format!("{remaining} bytes are too few for a batch"),
            );
        }
        let mut prefix = [0u8; LOG_OVERHEAD];
        self.read(&mut prefix)?;
        let [_, _, _, _, _, _, _, _, l0, l1, l2, l3] = prefix;
        let batch_length = i32::from_be_bytes([l0, l1, l2, l3]);
        if batch_length <= 0 {
            // Zero bytes where a batch should start: the unused end of a preallocated file.
            // Anything else is left to the decoder to describe.
            if prefix.iter().all(|&b| b == 0) && self.rest_is_zero()? {
                return Ok(Next::ZeroTail(at));
            }
        }
        let body = usize::try_from(batch_length).unwrap_or(0); // below 2^31
        let size = (body as u64).saturating_add(LOG_OVERHEAD as u64);
        if size > remaining {
            let prefix_zero = prefix.iter().all(|&b| b == 0);
            return self.tail(
                at,
                prefix_zero,
                format!("a batch of {size} bytes, but only {remaining} bytes are left"),
            );
        }
        self.buf.clear();
        self.buf.extend_from_slice(&prefix);
        self.buf.resize(LOG_OVERHEAD + body, 0);
        if let Some(dst) = self.buf.get_mut(LOG_OVERHEAD..) {
            self.file.read_exact(dst).map_err(io_err(&self.path))?;
        }
        self.pos = at + size;
        Ok(Next::Batch(at))
    }

    fn read(&mut self, dst: &mut [u8]) -> Result<()> {
        self.file.read_exact(dst).map_err(io_err(&self.path))?;
        self.pos += dst.len() as u64;
        Ok(())
    }

    /// The file ends inside a batch: a zero tail if every byte from `at` is zero (those
    /// already read were, `read_zero`, and the rest are), else torn.
    fn tail(&mut self, at: u64, read_zero: bool, reason: String) -> Result<Next> {
        if self.rest_is_zero()? && read_zero {
            return Ok(Next::ZeroTail(at));
        }
        self.pos = self.len;
        Ok(Next::Torn(at, reason))
    }

    /// Reads to the end of the file; true if every byte was zero.
    fn rest_is_zero(&mut self) -> Result<bool> {
        let mut chunk = vec![0u8; 64 << 10];
        let mut zero = true;
        loop {
            let n = self.file.read(&mut chunk).map_err(io_err(&self.path))?;
            if n == 0 {
                break;
            }
            zero &= crate::codec::all_zero(chunk.get(..n).unwrap_or_default());
        }
        self.pos = self.len;
        Ok(zero)
    }
}
