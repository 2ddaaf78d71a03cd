//! Tailing: waiting for records that are not appended yet.
//!
//! A waiting reader registers with the topic's notifier and re-checks its condition (the
//! partition's next offset past its position, the log ended, or a truncation) before it
//! sleeps; the writer notifies after it publishes (`notify.rs`), so no wake-up is lost and
//! nothing polls.

use std::time::{Duration, Instant};

use super::iter::Records;
use crate::error::Result;
use crate::record::Record;

impl Records {
    /// The next record, waiting up to `timeout` for one to be appended. `None` on timeout,
    /// after an error the iterator does not skip, or once the partition is closed and every
    /// record was read.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<Record>> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if let Some(r) = self.next() {
                return Some(r);
            }
            if self.failed || self.at_closed_end() {
                return None;
            }
            let (log, next, epoch) = (&self.log, self.next, self.epoch);
            let ready = || log.next_offset() > next || log.has_ended() || log.epoch() != epoch;
            if !log.notifier.wait_until(deadline, ready) {
                return None;
            }
        }
    }

    /// A fetch, like a Kafka consumer's: waits up to `timeout` for at least one record, then
    /// returns every record already there, up to about `max_bytes` of keys, values and
    /// headers (always at least one record). An empty vector means the timeout passed.
    ///
    /// # Errors
    /// A damaged batch ([`Error::ChecksumMismatch`](crate::Error::ChecksumMismatch), [`Error::Corrupt`](crate::Error::Corrupt)); if records were
    /// collected before it, they are returned and the error comes with the next call.
    pub fn poll(&mut self, max_bytes: usize, timeout: Duration) -> Result<Vec<Record>> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let mut out = Vec::new();
        let first = match self.next_timeout(timeout) {
            None => return Ok(out),
            Some(r) => r?,
        };
        let mut bytes = first.size();
        out.push(first);
        while bytes < max_bytes {
            match self.next() {
                Some(Ok(r)) => {
                    bytes += r.size();
                    out.push(r);
                }
                Some(Err(e)) => {
                    self.pending = Some(e);
                    break;
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// Turns this into an iterator that blocks until each next record is appended, and ends
    /// when the partition is closed (after its last record) or at an error it does not skip.
    #[must_use]
    pub fn blocking(self) -> Blocking {
        Blocking(self)
    }
}

/// A [`Records`] iterator that waits for new records; see [`Records::blocking`].
#[derive(Debug)]
pub struct Blocking(Records);

impl Blocking {
    /// The offset it will return next (see [`Records::position`]).
    #[must_use]
    pub fn position(&self) -> u64 {
        self.0.position()
    }
}

impl Iterator for Blocking {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.0.next_timeout(Duration::from_secs(3600)) {
                return Some(r);
            }
            if self.0.failed || self.0.at_closed_end() {
                return None;
            }
        }
    }
}
