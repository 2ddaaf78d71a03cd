//! Configuration types. Every field has a documented default and valid range;
//! [`TopicConfig::validate`] checks them and returns [`Error::InvalidConfig`] instead of
//! panicking.

use std::time::Duration;

use crate::Error;

/// Smallest allowed `segment_bytes`: room for a few batches.
pub const MIN_SEGMENT_BYTES: u64 = 4096;
/// Largest allowed `segment_bytes`: index positions are 32-bit.
pub const MAX_SEGMENT_BYTES: u64 = u32::MAX as u64;
/// Largest partition count a topic may have.
pub const MAX_PARTITIONS: u32 = 10_000;

/// When appended data is made durable with a real sync (`msync`/`fdatasync`).
///
/// Whatever the policy, an append that returned is in the OS page cache and survives the crash
/// of the *process* (kill -9, panic, abort): pagelog writes into a shared file mapping, so
/// there is no in-process buffer to lose. The policy decides what survives an *OS crash or
/// power loss*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Never sync on its own; only explicit `flush()` calls, segment rolls (synced in the
    /// background) and a clean close sync. A power loss can lose everything since the last
    /// explicit flush.
    Never,
    /// Sync after every N records appended to a partition (checked on append; the appender
    /// that crosses the threshold performs the sync). A power loss can lose fewer than N
    /// records per partition. Range: N at least 1.
    EveryRecords(u64),
    /// Sync at most this long after a record is appended, from the store's background flusher
    /// thread. A power loss can lose about this much time of appends. Range: from 1 ms to
    /// `u64::MAX` ms (about 584 million years; `topic.meta` stores whole milliseconds).
    Interval(Duration),
    /// Every append returns only once its records are durable. Concurrent appenders share one
    /// sync (group commit). A power loss loses nothing that was acknowledged.
    EveryAppend,
}

impl Default for FlushPolicy {
    /// `Interval(1 s)`: like Redis' `appendfsync everysec`, a bounded loss window on power
    /// loss at a negligible cost to throughput.
    fn default() -> Self {
        FlushPolicy::Interval(Duration::from_secs(1))
    }
}

/// What happens to old data of a topic (Kafka's `cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// Retention deletes whole old segments (by size, age, start offset).
    #[default]
    Delete,
    /// Compaction keeps the latest record per key in sealed segments; retention by size
    /// and age is off (`delete_records_before` and `retention_hard_bytes` still remove
    /// segments).
    Compact,
    /// Both: compaction, and retention by size and age.
    CompactDelete,
}

impl CleanupPolicy {
    /// True if compaction runs.
    #[must_use]
    pub fn compacts(self) -> bool {
        matches!(self, Self::Compact | Self::CompactDelete)
    }

    /// True if retention by size and age runs.
    #[must_use]
    pub fn deletes(self) -> bool {
        matches!(self, Self::Delete | Self::CompactDelete)
    }
}

/// Per-topic configuration, persisted in the topic's metadata file at creation (some
/// settings can be changed later with [`Store::alter_topic`](crate::Store::alter_topic)).
///
/// Built from [`Default`] with one method per setting, read back with the `get_` methods;
/// [`Store::create_topic`](crate::Store::create_topic) checks it with
/// [`validate`](Self::validate).
///
/// ```
/// use std::time::Duration;
/// use pagelog::{CleanupPolicy, FlushPolicy, TopicConfig};
/// let config = TopicConfig::default()
///     .partitions(4)
///     .segment_bytes(64 << 20)
///     .flush(FlushPolicy::Interval(Duration::from_millis(100)))
///     .retention_bytes(Some(1 << 30))
///     .cleanup_policy(CleanupPolicy::CompactDelete);
/// assert!(config.validate().is_ok());
/// assert_eq!(config.get_partitions(), 4);
/// assert!(TopicConfig::default().partitions(0).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicConfig {
    /// Number of partitions, fixed at creation. Default 1; range `1..=10_000`.
    pub(crate) partitions: u32,
    /// Roll to a new segment before the `.log` file would exceed this many bytes.
    /// Default 1 GiB; range `4096..=u32::MAX`.
    pub(crate) segment_bytes: u64,
    /// Roll to a new segment once a batch's timestamp is this many milliseconds after the
    /// segment's first record. Default 7 days; range `1..`.
    pub(crate) segment_ms: u64,
    /// Add an offset-index entry once this many bytes were appended since the last one.
    /// Default 1024; range `0..=segment_bytes` (0 indexes every batch).
    pub(crate) index_interval_bytes: u32,
    /// Upper bound on each index file of a segment; a segment whose index is full rolls.
    /// Default 16 MiB; range `64..`.
    pub(crate) index_bytes: u32,
    /// Largest encoded batch (header plus records) an append may write; batches are also
    /// limited to `segment_bytes`, whichever is smaller. Default 1 MiB; range `64..`.
    pub(crate) max_batch_bytes: u32,
    /// When appends become durable. Default [`FlushPolicy::Interval`] of 1 s; range as given
    /// for each [`FlushPolicy`] variant.
    pub(crate) flush: FlushPolicy,
    /// Check each batch's CRC when it is read. Default `true`.
    pub(crate) verify_checksums: bool,
    /// Delete the oldest sealed segments while a partition holds more than this many bytes.
    /// Default `None` (no size limit); range `1..u64::MAX` (exclusive).
    pub(crate) retention_bytes: Option<u64>,
    /// Delete sealed segments whose newest record is older than this many milliseconds.
    /// Default `None` (no age limit); range `1..u64::MAX` (exclusive).
    pub(crate) retention_ms: Option<u64>,
    /// Consumer-aware retention: never delete records that a consumer group of the topic has
    /// not committed yet (a group that never committed on a partition holds all of it), even
    /// past `retention_bytes` / `retention_ms`, unless `retention_hard_bytes` is exceeded.
    /// Default `false`.
    pub(crate) retain_until_consumed: bool,
    /// Hard cap per partition: above it the oldest sealed segments are deleted even if a
    /// group has not consumed them (reported as forced deletions). Applies under every
    /// cleanup policy. Default `None`; range `1..u64::MAX` (exclusive).
    pub(crate) retention_hard_bytes: Option<u64>,
    /// Delete old segments, compact them, or both. Default [`CleanupPolicy::Delete`].
    pub(crate) cleanup_policy: CleanupPolicy,
    /// Compaction keeps a tombstone (a record with a null value) that is the latest for its
    /// key until it is this many milliseconds old (by its timestamp), so consumers see the
    /// delete; then the next pass drops it, with or without new data to compact (under a
    /// compacting policy the background runs that pass when the tombstone expires, once a
    /// pass of this store has seen it). Default 1 day; range `0..`.
    pub(crate) delete_retention_ms: u64,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            partitions: 1,
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 1024,
            index_bytes: 16 << 20,
            max_batch_bytes: 1 << 20,
            flush: FlushPolicy::default(),
            verify_checksums: true,
            retention_bytes: None,
            retention_ms: None,
            retain_until_consumed: false,
            retention_hard_bytes: None,
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: 24 * 60 * 60 * 1000,
        }
    }
}

impl TopicConfig {
    /// Number of partitions, fixed at creation. Default 1; range `1..=10_000`.
    #[must_use]
    pub fn partitions(mut self, n: u32) -> Self {
        self.partitions = n;
        self
    }

    /// Roll to a new segment before the `.log` file would exceed this many bytes.
    /// Default 1 GiB; range `4096..=u32::MAX`.
    #[must_use]
    pub fn segment_bytes(mut self, n: u64) -> Self {
        self.segment_bytes = n;
        self
    }

    /// Roll to a new segment once a batch's timestamp is this many milliseconds after the
    /// segment's first record. Default 7 days; range `1..`.
    #[must_use]
    pub fn segment_ms(mut self, ms: u64) -> Self {
        self.segment_ms = ms;
        self
    }

    /// Add an offset-index entry once this many bytes were appended since the last one.
    /// Default 1024; range `0..=segment_bytes` (0 indexes every batch).
    ///
    /// A point read walks the batch headers from the entry before its offset, so a smaller
    /// interval means a shorter walk for a larger index: at the default, 12 bytes of offset
    /// index (and at most 16 of time index) per KiB of log, about 1.2 % of it, which the
    /// default [`index_bytes`](Self::index_bytes) holds for a whole 1 GiB segment.
    #[must_use]
    pub fn index_interval_bytes(mut self, n: u32) -> Self {
        self.index_interval_bytes = n;
        self
    }

    /// Upper bound on each index file of a segment; a segment whose index is full rolls.
    /// Default 16 MiB; range `64..`.
    #[must_use]
    pub fn index_bytes(mut self, n: u32) -> Self {
        self.index_bytes = n;
        self
    }

    /// Largest encoded batch (header plus records) an append may write; batches are also
    /// limited to `segment_bytes`, whichever is smaller. Default 1 MiB; range `64..`.
    #[must_use]
    pub fn max_batch_bytes(mut self, n: u32) -> Self {
        self.max_batch_bytes = n;
        self
    }

    /// When appends become durable. Default [`FlushPolicy::Interval`] of 1 s; range as given
    /// for each [`FlushPolicy`] variant.
    #[must_use]
    pub fn flush(mut self, policy: FlushPolicy) -> Self {
        self.flush = policy;
        self
    }

    /// Check each batch's CRC when it is read. Default `true`.
    #[must_use]
    pub fn verify_checksums(mut self, on: bool) -> Self {
        self.verify_checksums = on;
        self
    }

    /// Delete the oldest sealed segments while a partition holds more than this many bytes.
    /// Default `None` (no size limit); range `1..u64::MAX` (exclusive).
    #[must_use]
    pub fn retention_bytes(mut self, n: Option<u64>) -> Self {
        self.retention_bytes = n;
        self
    }

    /// Delete sealed segments whose newest record is older than this many milliseconds.
    /// Default `None` (no age limit); range `1..u64::MAX` (exclusive).
    #[must_use]
    pub fn retention_ms(mut self, ms: Option<u64>) -> Self {
        self.retention_ms = ms;
        self
    }

    /// Consumer-aware retention: never delete records that a consumer group of the topic has
    /// not committed yet (a group that never committed on a partition holds all of it), even
    /// past `retention_bytes` / `retention_ms`, unless `retention_hard_bytes` is exceeded.
    /// Default `false`.
    #[must_use]
    pub fn retain_until_consumed(mut self, on: bool) -> Self {
        self.retain_until_consumed = on;
        self
    }

    /// Hard cap per partition: above it the oldest sealed segments are deleted even if a
    /// group has not consumed them (reported as forced deletions). Applies under every
    /// cleanup policy. Default `None`; range `1..u64::MAX` (exclusive).
    #[must_use]
    pub fn retention_hard_bytes(mut self, n: Option<u64>) -> Self {
        self.retention_hard_bytes = n;
        self
    }

    /// Delete old segments, compact them, or both. Default [`CleanupPolicy::Delete`].
    #[must_use]
    pub fn cleanup_policy(mut self, policy: CleanupPolicy) -> Self {
        self.cleanup_policy = policy;
        self
    }

    /// Compaction keeps a tombstone (a record with a null value) that is the latest for its
    /// key until it is this many milliseconds old (by its timestamp), so consumers see the
    /// delete; then the next pass drops it, with or without new data to compact (under a
    /// compacting policy the background runs that pass when the tombstone expires, once a
    /// pass of this store has seen it). Default 1 day; range `0..`.
    #[must_use]
    pub fn delete_retention_ms(mut self, ms: u64) -> Self {
        self.delete_retention_ms = ms;
        self
    }

    // Getters: one per setting, named `get_` because the setting's own name is its builder.

    /// The [`partitions`](Self::partitions) setting.
    #[must_use]
    pub fn get_partitions(&self) -> u32 {
        self.partitions
    }

    /// The [`segment_bytes`](Self::segment_bytes) setting.
    #[must_use]
    pub fn get_segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// The [`segment_ms`](Self::segment_ms) setting.
    #[must_use]
    pub fn get_segment_ms(&self) -> u64 {
        self.segment_ms
    }

    /// The [`index_interval_bytes`](Self::index_interval_bytes) setting.
    #[must_use]
    pub fn get_index_interval_bytes(&self) -> u32 {
        self.index_interval_bytes
    }

    /// The [`index_bytes`](Self::index_bytes) setting.
    #[must_use]
    pub fn get_index_bytes(&self) -> u32 {
        self.index_bytes
    }

    /// The [`max_batch_bytes`](Self::max_batch_bytes) setting.
    #[must_use]
    pub fn get_max_batch_bytes(&self) -> u32 {
        self.max_batch_bytes
    }

    /// The [`flush`](Self::flush) setting.
    #[must_use]
    pub fn get_flush(&self) -> FlushPolicy {
        self.flush
    }

    /// The [`verify_checksums`](Self::verify_checksums) setting.
    #[must_use]
    pub fn get_verify_checksums(&self) -> bool {
        self.verify_checksums
    }

    /// The [`retention_bytes`](Self::retention_bytes) setting.
    #[must_use]
    pub fn get_retention_bytes(&self) -> Option<u64> {
        self.retention_bytes
    }

    /// The [`retention_ms`](Self::retention_ms) setting.
    #[must_use]
    pub fn get_retention_ms(&self) -> Option<u64> {
        self.retention_ms
    }

    /// The [`retain_until_consumed`](Self::retain_until_consumed) setting.
    #[must_use]
    pub fn get_retain_until_consumed(&self) -> bool {
        self.retain_until_consumed
    }

    /// The [`retention_hard_bytes`](Self::retention_hard_bytes) setting.
    #[must_use]
    pub fn get_retention_hard_bytes(&self) -> Option<u64> {
        self.retention_hard_bytes
    }

    /// The [`cleanup_policy`](Self::cleanup_policy) setting.
    #[must_use]
    pub fn get_cleanup_policy(&self) -> CleanupPolicy {
        self.cleanup_policy
    }

    /// The [`delete_retention_ms`](Self::delete_retention_ms) setting.
    #[must_use]
    pub fn get_delete_retention_ms(&self) -> u64 {
        self.delete_retention_ms
    }

    /// Checks every field against its documented range.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |msg: String| Err(Error::InvalidConfig(msg));
        if self.partitions == 0 || self.partitions > MAX_PARTITIONS {
            return bad(format!(
                "partitions must be in 1..={MAX_PARTITIONS}, got {}",
                self.partitions
            ));
        }
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return bad(format!(
                "segment_bytes must be in {MIN_SEGMENT_BYTES}..={MAX_SEGMENT_BYTES}, got {}",
                self.segment_bytes
            ));
        }
        if self.segment_ms == 0 || self.segment_ms > i64::MAX as u64 {
            return bad(format!(
                "segment_ms must be in 1..=i64::MAX, got {}",
                self.segment_ms
            ));
        }
        if u64::from(self.index_interval_bytes) > self.segment_bytes {
            return bad(format!(
                "index_interval_bytes must be at most segment_bytes ({}), got {}",
                self.segment_bytes, self.index_interval_bytes
            ));
        }
        if self.index_bytes < 64 {
            return bad(format!(
                "index_bytes must be at least 64, got {}",
                self.index_bytes
            ));
        }
        if self.max_batch_bytes < 64 {
            return bad(format!(
                "max_batch_bytes must be at least 64, got {}",
                self.max_batch_bytes
            ));
        }
        for (name, v) in [
            ("retention_bytes", self.retention_bytes),
            ("retention_ms", self.retention_ms),
            ("retention_hard_bytes", self.retention_hard_bytes),
        ] {
            if let Some(v) = v
                && (v == 0 || v == u64::MAX)
            {
                return bad(format!("{name} must be in 1..u64::MAX when set, got {v}"));
            }
        }
        match self.flush {
            FlushPolicy::EveryRecords(0) => bad("flush EveryRecords(n) needs n >= 1, got 0".into()),
            FlushPolicy::Interval(d)
                if d < Duration::from_millis(1) || d.as_millis() > u128::from(u64::MAX) =>
            {
                bad(format!(
                    "flush Interval must be from 1 ms to {} ms (u64::MAX), got {d:?}",
                    u64::MAX
                ))
            }
            _ => Ok(()),
        }
    }
}
