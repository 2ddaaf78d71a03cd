//! Kafka's segment indexes, as a broker writes them: big-endian entries, and the rule that
//! decides which batches get one (`LogSegment.recover` in Kafka's storage module).
//!
//! Grammar: `offset_index := (relativeOffset:u32 position:u32)*` (`.index`, 8-byte entries),
//! `time_index := (timestamp:i64 relativeOffset:u32)*` (`.timeindex`, 12-byte entries).

/// Bytes of one `.index` entry.
pub const OFFSET_ENTRY_LEN: usize = 8;
/// Bytes of one `.timeindex` entry.
pub const TIME_ENTRY_LEN: usize = 12;
/// Kafka's default `index.interval.bytes`.
pub const DEFAULT_INDEX_INTERVAL_BYTES: u32 = 4096;
/// Kafka's default `segment.index.bytes` (the most an index of a segment may hold).
pub const DEFAULT_MAX_INDEX_BYTES: u32 = 10 << 20;

/// One `.index` entry: the batch holding `base + relative_offset` as its last offset starts
/// at byte `position` of the `.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetIndexEntry {
    /// Offset minus the segment's base offset.
    pub relative_offset: u32,
    /// Byte position of the batch in the segment's `.log`.
    pub position: u32,
}

impl OffsetIndexEntry {
    /// The 8 big-endian bytes of the entry.
    #[must_use]
    pub fn encode(&self) -> [u8; OFFSET_ENTRY_LEN] {
        let mut b = [0; OFFSET_ENTRY_LEN];
        b[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        b[4..].copy_from_slice(&self.position.to_be_bytes());
        b
    }

    /// Reads the entry at the start of `bytes`; `None` if fewer than 8 bytes.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let b: [u8; OFFSET_ENTRY_LEN] = bytes.get(..OFFSET_ENTRY_LEN)?.try_into().ok()?;
        let [a0, a1, a2, a3, p0, p1, p2, p3] = b;
        Some(Self {
            relative_offset: u32::from_be_bytes([a0, a1, a2, a3]),
            position: u32::from_be_bytes([p0, p1, p2, p3]),
        })
    }
}

/// One `.timeindex` entry: records with timestamps up to `timestamp` end at or before
/// `base + relative_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeIndexEntry {
    /// Largest timestamp seen in the segment so far.
    pub timestamp: i64,
    /// Offset (minus the base) of the batch that carried it: that batch's last offset.
    pub relative_offset: u32,
}

impl TimeIndexEntry {
    /// The 12 big-endian bytes of the entry.
    #[must_use]
    pub fn encode(&self) -> [u8; TIME_ENTRY_LEN] {
        let mut b = [0; TIME_ENTRY_LEN];
        b[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..].copy_from_slice(&self.relative_offset.to_be_bytes());
        b
    }

    /// Reads the entry at the start of `bytes`; `None` if fewer than 12 bytes.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let ts: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
        let rel: [u8; 4] = bytes.get(8..TIME_ENTRY_LEN)?.try_into().ok()?;
        Some(Self {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes(rel),
        })
    }
}

/// Builds a segment's `.index` and `.timeindex` batch by batch with the rule Kafka's
/// recovery uses, so an exported segment carries the indexes a broker would rebuild:
///
/// * before a batch that starts more than `index_interval_bytes` after the last indexed
///   batch (the first batch never), an offset entry `(batch's last offset, its position)`
///   and a time entry for the largest timestamp so far (at the last offset of the batch that
///   carried it), the latter only if that timestamp grew;
/// * when the segment is done, one more time entry for the largest timestamp, if it grew
///   (what Kafka appends when a segment rolls).
///
/// Timestamps of -1 and below ("no timestamp") never make a time entry.
#[derive(Debug, Clone)]
pub struct IndexBuilder {
    base_offset: u64,
    interval: u64,
    last_indexed_position: u64,
    max_timestamp: i64,
    offset_of_max_timestamp: u64,
    last_time_entry: i64,
    offsets: Vec<u8>,
    times: Vec<u8>,
}

impl IndexBuilder {
    /// Indexes for a segment with this base offset and `index.interval.bytes`.
    #[must_use]
    pub fn new(base_offset: u64, index_interval_bytes: u32) -> Self {
        Self {
            base_offset,
            interval: u64::from(index_interval_bytes),
            last_indexed_position: 0,
            max_timestamp: super::NO_TIMESTAMP,
            offset_of_max_timestamp: base_offset,
            last_time_entry: super::NO_TIMESTAMP,
            offsets: Vec::new(),
            times: Vec::new(),
        }
    }

    fn relative(&self, offset: u64) -> u32 {
        // The exporter keeps every offset of a segment within i32::MAX of its base.
        u32::try_from(offset.saturating_sub(self.base_offset)).unwrap_or(u32::MAX)
    }

    fn maybe_time_entry(&mut self) {
        if self.max_timestamp > self.last_time_entry {
            let e = TimeIndexEntry {
                timestamp: self.max_timestamp,
                relative_offset: self.relative(self.offset_of_max_timestamp),
            };
            self.times.extend_from_slice(&e.encode());
            self.last_time_entry = self.max_timestamp;
        }
    }

    /// Notes a batch written at `position` (its byte position in the `.log`), with its last
    /// offset and max timestamp.
    pub fn on_batch(&mut self, position: u32, last_offset: u64, max_timestamp: i64) {
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.offset_of_max_timestamp = last_offset;
        }
        if u64::from(position) - self.last_indexed_position.min(u64::from(position)) > self.interval
        {
            let e = OffsetIndexEntry {
                relative_offset: self.relative(last_offset),
                position,
            };
            self.offsets.extend_from_slice(&e.encode());
            self.maybe_time_entry();
            self.last_indexed_position = u64::from(position);
        }
    }

    /// Number of offset-index entries so far.
    #[must_use]
    pub fn offset_entries(&self) -> usize {
        self.offsets.len() / OFFSET_ENTRY_LEN
    }

    /// Number of time-index entries so far.
    #[must_use]
    pub fn time_entries(&self) -> usize {
        self.times.len() / TIME_ENTRY_LEN
    }

    /// The `.index` and `.timeindex` bytes of the finished segment.
    #[must_use]
    pub fn finish(mut self) -> (Vec<u8>, Vec<u8>) {
        self.maybe_time_entry();
        (self.offsets, self.times)
    }
}
