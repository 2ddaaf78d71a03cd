//! What an append encodes: [`NewRecord`] and its [`Header`]s, borrowed from the caller.
#![warn(clippy::indexing_slicing)]

/// A record header: a string key and a byte value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header name.
    pub key: &'a str,
    /// Header value.
    pub value: &'a [u8],
}

/// A record to append. Borrowed: building one copies nothing.
///
/// ```
/// use pagelog::{Header, NewRecord};
/// let headers = [Header { key: "source", value: b"web" }];
/// let r = NewRecord::new(b"payload").key(b"user-42").timestamp(1_700_000_000_000).headers(&headers);
/// assert_eq!(r.value, Some(&b"payload"[..]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NewRecord<'a> {
    /// Optional key (used for partitioning and, later, compaction).
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a tombstone (a delete marker for the key).
    pub value: Option<&'a [u8]>,
    /// Milliseconds since the Unix epoch; `None` means "now" at append time.
    pub timestamp: Option<i64>,
    /// Headers, in order.
    pub headers: &'a [Header<'a>],
}

impl<'a> NewRecord<'a> {
    /// A record with this value, no key, no headers, timestamped at append.
    #[must_use]
    pub fn new(value: &'a [u8]) -> Self {
        Self {
            value: Some(value),
            ..Self::default()
        }
    }

    /// A tombstone (null value) for `key`.
    #[must_use]
    pub fn tombstone(key: &'a [u8]) -> Self {
        Self {
            key: Some(key),
            ..Self::default()
        }
    }

    /// Sets the key.
    #[must_use]
    pub fn key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the timestamp (ms since the Unix epoch).
    #[must_use]
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }

    /// Sets the headers.
    #[must_use]
    pub fn headers(mut self, headers: &'a [Header<'a>]) -> Self {
        self.headers = headers;
        self
    }
}
