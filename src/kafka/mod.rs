//! Kafka interoperability (cargo feature `kafka`): Kafka's `RecordBatch` v2 format, and a
//! partition's log as a Kafka partition directory in both directions.
//!
//! * [`decode_batch`], [`BatchBuilder`], [`encode_batch`]: a pure codec for v2 batches
//!   (magic 2, big-endian header, CRC-32C over attributes..end, zigzag varints). Decoding
//!   reads uncompressed and gzip batches and never panics on hostile input; snappy, lz4 and
//!   zstd are reported as [`Error::Unsupported`].
//! * [`export`]: writes a partition (or an offset range of it) as `<topic>-<partition>/` with
//!   `<20-digit base offset>.log` segments of v2 batches and Kafka's big-endian `.index` and
//!   `.timeindex`, preserving offsets, timestamps, keys, values and headers.
//! * [`import`]: reads such a directory, as written by a Kafka broker, into a partition with
//!   the same offsets, skipping control batches and reporting what it could not carry.
//! * [`OffsetIndexEntry`], [`TimeIndexEntry`], [`IndexBuilder`]: Kafka's index entries and
//!   the rule that places them.
//! * [`Error`]: what every function here returns on failure, pagelog's own errors wrapped
//!   in [`Error::Store`].
//!
//! `docs/KAFKA.md` maps pagelog's concepts and formats to Kafka's and lists exactly what is
//! preserved and what is dropped.

mod batch_builder;
mod compression;
mod error;
mod export;
mod import;
mod import_report;
mod index;
mod log_reader;
mod options;
mod record_batch;

pub use batch_builder::{BatchBuilder, encode_batch};
pub use compression::{Compression, MAX_DECOMPRESSED_BYTES};
pub use error::{Error, Result};
pub use export::{ExportProgress, ExportReport, export, export_with_progress};
pub use import::{ImportProgress, import, import_with_progress};
pub use import_report::ImportReport;
pub use index::{
    DEFAULT_INDEX_INTERVAL_BYTES, DEFAULT_MAX_INDEX_BYTES, IndexBuilder, OFFSET_ENTRY_LEN,
    OffsetIndexEntry, TIME_ENTRY_LEN, TimeIndexEntry,
};
pub use log_reader::{LogBatches, read_log_batches};
pub use options::{ExportOptions, ImportOptions};
pub use record_batch::{
    BatchHeader, HEADER_LEN, KafkaBatch, KafkaHeader, KafkaRecord, LOG_OVERHEAD, MAGIC,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, PARTITION_LEADER_EPOCH,
    TimestampType, decode_batch,
};

/// Kafka's name for a segment file: the base offset as 20 digits, then the extension.
#[must_use]
pub fn segment_file_name(base_offset: u64, extension: &str) -> String {
    format!("{base_offset:020}.{extension}")
}
