//! [`ExportOptions`] and [`ImportOptions`]: what an export writes and how an import treats
//! what it cannot carry.

use super::error::Result;
use super::index::DEFAULT_INDEX_INTERVAL_BYTES;
use super::record_batch::HEADER_LEN;
#[cfg(doc)]
use super::{Error, ImportReport, export_with_progress, import_with_progress};
#[cfg(doc)]
use crate::Partition;

/// What to export and how to lay it out. `ExportOptions::default()` exports everything
/// stored, with Kafka's default segment and index settings; [`export`](super::export) checks
/// the options with [`validate`](Self::validate).
///
/// ```
/// use pagelog::kafka::ExportOptions;
/// let options = ExportOptions::default()
///     .range(1000..2000)
///     .name("orders", 3)
///     .segment_bytes(64 << 20)
///     .max_batch_records(500);
/// assert!(options.validate().is_ok());
/// assert!(ExportOptions::default().segment_bytes(10).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportOptions {
    pub(crate) from: Option<u64>,
    pub(crate) to: Option<u64>,
    pub(crate) topic: Option<String>,
    pub(crate) partition: Option<u32>,
    pub(crate) segment_bytes: u32,
    pub(crate) index_interval_bytes: u32,
    pub(crate) max_batch_records: usize,
    pub(crate) max_batch_bytes: usize,
    pub(crate) progress_interval_bytes: u64,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            from: None,
            to: None,
            topic: None,
            partition: None,
            segment_bytes: 1 << 30,
            index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES,
            max_batch_records: 1000,
            max_batch_bytes: 1 << 20,
            progress_interval_bytes: 64 << 20,
        }
    }
}

impl ExportOptions {
    /// Exports only the offsets in `range`.
    #[must_use]
    pub fn range(mut self, range: std::ops::Range<u64>) -> Self {
        self.from = Some(range.start);
        self.to = Some(range.end);
        self
    }

    /// First offset to export; default (`None`) the partition's start offset.
    #[must_use]
    pub fn from(mut self, offset: Option<u64>) -> Self {
        self.from = offset;
        self
    }

    /// Offset to stop before; default (`None`) the partition's next offset when the export
    /// starts.
    #[must_use]
    pub fn to(mut self, offset: Option<u64>) -> Self {
        self.to = offset;
        self
    }

    /// Names the directory `<topic>-<partition>` instead of after the partition.
    #[must_use]
    pub fn name(mut self, topic: &str, partition: u32) -> Self {
        self.topic = Some(topic.to_owned());
        self.partition = Some(partition);
        self
    }

    /// Kafka's `segment.bytes`: a segment is rolled before it would exceed this (a batch
    /// larger than it gets a segment of its own). Default 1 GiB; range from a batch header's
    /// 61 bytes to `i32::MAX`.
    #[must_use]
    pub fn segment_bytes(mut self, bytes: u32) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Kafka's `index.interval.bytes`: bytes between two offset-index entries. Default 4096.
    #[must_use]
    pub fn index_interval_bytes(mut self, bytes: u32) -> Self {
        self.index_interval_bytes = bytes;
        self
    }

    /// Most records per batch. Default 1000; range `1..`.
    #[must_use]
    pub fn max_batch_records(mut self, n: usize) -> Self {
        self.max_batch_records = n;
        self
    }

    /// Batches are closed before they would exceed this many bytes (a single larger record
    /// gets a batch of its own). Default 1 MiB, Kafka's `max.message.bytes`; range `1..`.
    #[must_use]
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes;
        self
    }

    /// Bytes of `.log` written between two calls of the progress callback of
    /// [`export_with_progress`]. Default 64 MiB; range `1..`.
    #[must_use]
    pub fn progress_interval_bytes(mut self, bytes: u64) -> Self {
        self.progress_interval_bytes = bytes;
        self
    }

    /// Checks the settings against their documented ranges (the offsets are checked against
    /// the partition when the export starts).
    ///
    /// # Errors
    /// [`Error::Store`] holding [`crate::Error::InvalidConfig`] naming the setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(crate::Error::InvalidConfig(m).into());
        if u64::from(self.segment_bytes) < HEADER_LEN as u64
            || i32::try_from(self.segment_bytes).is_err()
        {
            return bad(format!(
                "segment_bytes must be between {HEADER_LEN} and {}, got {}",
                i32::MAX,
                self.segment_bytes
            ));
        }
        if self.max_batch_records == 0 || self.max_batch_bytes == 0 {
            return bad(format!(
                "max_batch_records and max_batch_bytes must be at least 1, got {} and {}",
                self.max_batch_records, self.max_batch_bytes
            ));
        }
        if self.progress_interval_bytes == 0 {
            return bad("progress_interval_bytes must be at least 1, got 0".into());
        }
        Ok(())
    }
}

/// How to import. `ImportOptions::default()` stops at anything it cannot carry;
/// [`import`](super::import) checks the options with [`validate`](Self::validate).
///
/// ```
/// use pagelog::kafka::ImportOptions;
/// let options = ImportOptions::default()
///     .skip_unsupported(true)
///     .progress_interval_bytes(1 << 20);
/// assert!(options.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    pub(crate) skip_unsupported: bool,
    pub(crate) set_start_offset: bool,
    pub(crate) progress_interval_bytes: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            skip_unsupported: false,
            set_start_offset: true,
            progress_interval_bytes: 64 << 20,
        }
    }
}

impl ImportOptions {
    /// Leave a batch this build cannot decode (snappy, lz4 or zstd compression; message
    /// format v0/v1) as a gap of its offsets and count it in
    /// [`ImportReport::unsupported_batches`], instead of stopping with
    /// [`Error::Unsupported`]. Default false.
    #[must_use]
    pub fn skip_unsupported(mut self, on: bool) -> Self {
        self.skip_unsupported = on;
        self
    }

    /// When the partition holds no records when the import starts, raise its start offset
    /// to the first Kafka segment's base offset (with [`Partition::delete_records_before`]),
    /// as Kafka's log start offset would be. Default true.
    #[must_use]
    pub fn set_start_offset(mut self, on: bool) -> Self {
        self.set_start_offset = on;
        self
    }

    /// Bytes of `.log` read between two calls of the progress callback of
    /// [`import_with_progress`]. Default 64 MiB; range `1..`.
    #[must_use]
    pub fn progress_interval_bytes(mut self, bytes: u64) -> Self {
        self.progress_interval_bytes = bytes;
        self
    }

    /// Checks the settings against their documented ranges.
    ///
    /// # Errors
    /// [`Error::Store`] holding [`crate::Error::InvalidConfig`] naming the setting.
    pub fn validate(&self) -> Result<()> {
        if self.progress_interval_bytes == 0 {
            return Err(crate::Error::InvalidConfig(
                "progress_interval_bytes must be at least 1, got 0".into(),
            )
            .into());
        }
        Ok(())
    }
}
