//! Records as they are read back: [`Record`] and [`RecordRef`], zero-copy views into a
//! mapped log. What is appended, [`NewRecord`](crate::NewRecord), lives in the codec.

use std::fmt;

use crate::codec::batch::{HeaderIter, RawRecord};
use crate::mmap::MapRef;

/// A byte range inside a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    len: u32,
}

/// Where a record's parts lie in its segment's `.log` (byte spans from the file's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fields {
    offset: u64,
    timestamp: i64,
    key: Option<Span>,
    value: Option<Span>,
    headers: Span,
    header_count: u32,
}

impl Fields {
    /// The spans of `raw`, whose slices point into `batch`, the bytes of the batch that starts
    /// at `position` of the log.
    #[inline]
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the spans lie in a segment's log, at most MAX_SEGMENT_BYTES = u32::MAX long"
    )]
    pub(crate) fn new(
        batch: &[u8],
        position: usize,
        base_offset: u64,
        raw: &RawRecord<'_>,
    ) -> Self {
        let origin = batch.as_ptr() as usize;
        let span = |s: &[u8]| Span {
            start: (position + (s.as_ptr() as usize - origin)) as u32,
            len: s.len() as u32,
        };
        Self {
            offset: base_offset + u64::from(raw.offset_delta),
            timestamp: raw.timestamp,
            key: raw.key.map(span),
            value: raw.value.map(span),
            headers: span(raw.headers),
            header_count: raw.header_count,
        }
    }
}

/// The accessors [`Record`] and [`RecordRef`] share; `$bytes` turns a span into its bytes.
macro_rules! record_accessors {
    () => {
        /// The record's offset in its partition.
        #[inline]
        pub fn offset(&self) -> u64 {
            self.f.offset
        }

        /// Milliseconds since the Unix epoch.
        #[inline]
        pub fn timestamp(&self) -> i64 {
            self.f.timestamp
        }

        /// The key, if the record has one.
        #[inline]
        pub fn key(&self) -> Option<&[u8]> {
            self.f.key.map(|s| self.bytes(s))
        }

        /// The value; empty for a tombstone (see [`is_tombstone`](Self::is_tombstone)).
        #[inline]
        pub fn value(&self) -> &[u8] {
            self.f.value.map_or(&[], |s| self.bytes(s))
        }

        /// The value, `None` for a tombstone.
        #[inline]
        pub fn value_opt(&self) -> Option<&[u8]> {
            self.f.value.map(|s| self.bytes(s))
        }

        /// True when the value is null: a delete marker for the key.
        #[inline]
        pub fn is_tombstone(&self) -> bool {
            self.f.value.is_none()
        }

        /// The headers, in order. Header bytes were covered by the batch CRC; a malformed
        /// header (only possible if a producer wrote one) ends the iteration.
        pub fn headers(&self) -> Headers<'_> {
            Headers(HeaderIter::new(
                self.bytes(self.f.headers),
                self.f.header_count,
            ))
        }

        /// Number of headers.
        #[inline]
        pub fn header_count(&self) -> u32 {
            self.f.header_count
        }

        /// Bytes of key, value and encoded headers: what fetch budgets count.
        #[inline]
        pub fn size(&self) -> usize {
            let len = |s: Option<Span>| s.map_or(0, |s| s.len as usize);
            len(self.f.key) + len(self.f.value) + self.f.headers.len as usize
        }
    };
}

/// A record read from a log: a zero-copy view into the memory-mapped segment.
///
/// Cloning is cheap (a reference-count increment). The view keeps the segment's mapping
/// alive, so it stays valid however long it is held, even after the partition moves on.
/// [`Records::next_ref`](crate::Records::next_ref) lends a [`RecordRef`] instead, which
/// skips the reference count.
#[derive(Clone)]
pub struct Record {
    map: MapRef,
    f: Fields,
}

impl Record {
    /// A record whose fields lie in `map`.
    #[inline]
    pub(crate) fn new(map: &MapRef, f: Fields) -> Self {
        Self::with(map.clone(), f)
    }

    /// A record whose fields lie in `map`, holding that share of it.
    #[inline]
    pub(crate) fn with(map: MapRef, f: Fields) -> Self {
        Self { map, f }
    }

    #[inline]
    fn bytes(&self, s: Span) -> &[u8] {
        let start = s.start as usize;
        // The span was cut from the published prefix, which never shrinks or changes.
        self.map
            .get(start, start + s.len as usize)
            .unwrap_or_default()
    }

    record_accessors!();
}

/// A record lent by [`Records::next_ref`](crate::Records::next_ref): the same view as a
/// [`Record`], borrowed from the iterator instead of holding the segment's mapping, so
/// reading one costs no reference-count update. It lives until the iterator moves on; use
/// [`Records::next`](crate::Records) for records to keep.
#[derive(Clone, Copy)]
pub struct RecordRef<'a> {
    /// The segment's published `.log` bytes.
    log: &'a [u8],
    /// Borrowed from the iterator, which decoded them in place.
    f: &'a Fields,
}

impl<'a> RecordRef<'a> {
    #[inline]
    pub(crate) fn new(log: &'a [u8], f: &'a Fields) -> Self {
        Self { log, f }
    }

    #[inline]
    fn bytes(&self, s: Span) -> &'a [u8] {
        let start = s.start as usize;
        // The span was cut from this published prefix.
        self.log
            .get(start..start + s.len as usize)
            .unwrap_or_default()
    }

    record_accessors!();
}

/// The `Debug` form of a [`Record`] or [`RecordRef`] named `name`.
macro_rules! debug_record {
    ($name:literal) => {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct($name)
                .field("offset", &self.offset())
                .field("timestamp", &self.timestamp())
                .field("key", &self.key().map(String::from_utf8_lossy))
                .field("value", &self.value_opt().map(String::from_utf8_lossy))
                .field("headers", &self.header_count())
                .finish()
        }
    };
}

impl fmt::Debug for RecordRef<'_> {
    debug_record!("RecordRef");
}

impl fmt::Debug for Record {
    debug_record!("Record");
}

/// Iterator over a record's headers as `(key, value)`.
#[derive(Debug, Clone)]
pub struct Headers<'a>(HeaderIter<'a>);

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()?.ok()
    }
}
