//! What [`import`](super::import) did, and what it could not carry.
//!
//! Grammar: not an encoded type; `not_carried() := ("<what>: <count>" | "torn tail ..." |
//! "ignored file <path>")*`, one line each.

use std::path::PathBuf;

/// What an import did, and everything it could not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// `.log` segment files read.
    pub segments: u64,
    /// Bytes of `.log` read (whole files, tails included).
    pub bytes: u64,
    /// Data batches imported (control and unsupported ones not counted).
    pub batches: u64,
    /// Records imported.
    pub records: u64,
    /// Base offset of the first Kafka segment, if there was one.
    pub first_offset: Option<u64>,
    /// The partition's next offset after the import: the last Kafka batch's last offset + 1
    /// (or the last segment's base offset, if that is higher: an empty last segment).
    pub next_offset: u64,
    /// Control batches skipped (transaction markers; a Kafka consumer never sees them
    /// either). Their offsets are gaps.
    pub control_batches: u64,
    /// Commit markers among the control records.
    pub commit_markers: u64,
    /// Abort markers among the control records. Records of aborted transactions are
    /// imported like any others (Kafka hides them from `read_committed` consumers using its
    /// `.txnindex`, which is not read): check this is 0 if that matters.
    pub abort_markers: u64,
    /// Data batches written by a transactional producer: imported, the transaction dropped.
    pub transactional_batches: u64,
    /// Data batches with a producer id (idempotent or transactional): imported, the producer
    /// id, epoch and sequence numbers dropped.
    pub producer_id_batches: u64,
    /// Data batches with `LogAppendTime` timestamps: imported with each record's timestamp
    /// the batch's append time (what a Kafka consumer sees), the timestamp type dropped.
    pub log_append_time_batches: u64,
    /// Gzip-compressed data batches decoded (and stored uncompressed).
    pub compressed_batches: u64,
    /// Batches of record-less Kafka batches (left by compaction) imported as gaps.
    pub empty_batches: u64,
    /// Batches skipped because of [`ImportOptions::skip_unsupported`](super::ImportOptions::skip_unsupported); their offsets are gaps.
    pub unsupported_batches: u64,
    /// Header values that were null in Kafka, imported as empty (pagelog has no null header).
    pub null_header_values: u64,
    /// Header keys that were not valid UTF-8, imported with U+FFFD replacing bad bytes (as
    /// Kafka's Java client decodes them).
    pub lossy_header_keys: u64,
    /// The last segment ended inside a batch (a write the broker never finished): the file,
    /// the byte position, and why. The import stopped there, as Kafka's recovery would.
    pub torn_tail: Option<(PathBuf, u64, String)>,
    /// Zero bytes at the end of the last segment (a preallocated file's unused space):
    /// the file and where they start.
    pub zero_tail: Option<(PathBuf, u64)>,
    /// Files of the directory that were not read, besides the `.index` and `.timeindex`
    /// pagelog rebuilds: leader-epoch-checkpoint, partition.metadata, producer-state
    /// `.snapshot`s, `.txnindex` (aborted transactions), in-flight `.deleted`/`.cleaned`/`.swap`
    /// files, anything else.
    pub ignored_files: Vec<PathBuf>,
}

impl ImportReport {
    /// One line per thing the import could not carry exactly (empty if it carried
    /// everything): for tools and logs.
    #[must_use]
    pub fn not_carried(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut note = |n: u64, what: &str| {
            if n > 0 {
                out.push(format!("{what}: {n}"));
            }
        };
        note(
            self.control_batches,
            "control batches skipped (transaction markers)",
        );
        note(
            self.abort_markers,
            "abort markers (records of aborted transactions were imported as ordinary records)",
        );
        note(
            self.transactional_batches,
            "transactional batches (transaction metadata dropped)",
        );
        note(
            self.producer_id_batches,
            "batches with a producer id (producer id, epoch and sequence dropped)",
        );
        note(
            self.log_append_time_batches,
            "LogAppendTime batches (timestamps kept as the append time, timestamp type dropped)",
        );
        note(
            self.compressed_batches,
            "gzip-compressed batches (records stored uncompressed, the codec dropped)",
        );
        note(
            self.unsupported_batches,
            "unsupported batches skipped (their offsets are gaps)",
        );
        note(
            self.null_header_values,
            "null header values imported as empty",
        );
        note(
            self.lossy_header_keys,
            "header keys not UTF-8 (imported with U+FFFD)",
        );
        if let Some((path, pos, why)) = &self.torn_tail {
            out.push(format!(
                "torn tail in {} at byte {pos} not imported: {why}",
                path.display()
            ));
        }
        for f in &self.ignored_files {
            out.push(format!("ignored file {}", f.display()));
        }
        out
    }
}
