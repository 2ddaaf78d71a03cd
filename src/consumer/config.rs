//! A consumer's settings: where it starts, auto-commit, fetch budget, damage handling and how
//! often it looks for other members of its group.

use std::time::Duration;

use crate::error::{Error, Result};
#[cfg(doc)]
use crate::partition::Records;

#[cfg(doc)]
use super::Consumer;

/// Where a consumer starts on a partition its group never committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// The first record still stored (the default: a new group sees everything).
    #[default]
    Earliest,
    /// The end: only records appended after the consumer took the partition.
    Latest,
    /// The first record with a timestamp `>=` this (ms since the Unix epoch).
    Timestamp(i64),
}

/// Settings of a [`Consumer`]: [`Default`] and one method per setting;
/// [`Topic::consumer`](crate::Topic::consumer) checks them with [`validate`](Self::validate).
///
/// ```
/// use std::time::Duration;
/// use pagelog::{ConsumerConfig, StartFrom};
/// let config = ConsumerConfig::default()
///     .start(StartFrom::Latest)
///     .auto_commit(Some(Duration::from_secs(5)))
///     .max_poll_bytes(4 << 20);
/// assert!(config.validate().is_ok());
/// assert!(ConsumerConfig::default().max_poll_bytes(0).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// Where to start without a committed offset. Default [`StartFrom::Earliest`].
    pub(crate) start: StartFrom,
    /// Commit automatically at most this often, from `poll` (and when the consumer is dropped
    /// or loses a partition). Default `None`: only [`Consumer::commit`] commits; range
    /// positive when set.
    pub(crate) auto_commit: Option<Duration>,
    /// Upper bound on the bytes (keys, values, headers) one `poll` returns; at least one
    /// record is always returned. Default 1 MiB; range `1..`.
    pub(crate) max_poll_bytes: usize,
    /// Step over damaged batches (see [`Records::skip_damaged`]): `poll` still returns each
    /// error once, then continues after the damage. Default `false`: a damaged batch is
    /// returned as an error by every poll until the application seeks past it.
    pub(crate) skip_damaged: bool,
    /// How often a member looks for members of its group that joined or left in other
    /// processes (it learns of those in this process at once), and retries taking assigned
    /// partitions whose previous owner in another process has not released them yet. A
    /// waiting `poll` sleeps at most this long at a time. So once a member process exits or
    /// is killed, every partition it read is taken by another member polling the group within
    /// about one interval, and the whole new assignment settles within about two (see
    /// docs/DESIGN.md section 9). Default 100 ms; range 1 ms to 1 hour.
    pub(crate) rebalance_interval: Duration,
}

/// Default of [`ConsumerConfig::rebalance_interval`].
const DEFAULT_REBALANCE_INTERVAL: Duration = Duration::from_millis(100);
/// Bounds of [`ConsumerConfig::rebalance_interval`].
const MIN_REBALANCE_INTERVAL: Duration = Duration::from_millis(1);
const MAX_REBALANCE_INTERVAL: Duration = Duration::from_secs(3600);

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            start: StartFrom::Earliest,
            auto_commit: None,
            max_poll_bytes: 1 << 20,
            skip_damaged: false,
            rebalance_interval: DEFAULT_REBALANCE_INTERVAL,
        }
    }
}

impl ConsumerConfig {
    /// Where to start without a committed offset. Default [`StartFrom::Earliest`].
    #[must_use]
    pub fn start(mut self, start: StartFrom) -> Self {
        self.start = start;
        self
    }

    /// Commit automatically at most this often, from `poll` (and when the consumer is dropped
    /// or loses a partition). Default `None`: only [`Consumer::commit`] commits; range
    /// positive when set.
    #[must_use]
    pub fn auto_commit(mut self, every: Option<Duration>) -> Self {
        self.auto_commit = every;
        self
    }

    /// Step over damaged batches (see [`Records::skip_damaged`]): `poll` still returns each
    /// error once, then continues after the damage. Default `false`: a damaged batch is
    /// returned as an error by every poll until the application seeks past it.
    #[must_use]
    pub fn skip_damaged(mut self, on: bool) -> Self {
        self.skip_damaged = on;
        self
    }

    /// Upper bound on the bytes (keys, values, headers) one `poll` returns; at least one
    /// record is always returned. Default 1 MiB; range `1..`.
    #[must_use]
    pub fn max_poll_bytes(mut self, n: usize) -> Self {
        self.max_poll_bytes = n;
        self
    }

    /// How often a member looks for members of its group that joined or left in other
    /// processes (it learns of those in this process at once), and retries taking assigned
    /// partitions whose previous owner in another process has not released them yet. A
    /// waiting `poll` sleeps at most this long at a time. So once a member process exits or
    /// is killed, every partition it read is taken by another member polling the group within
    /// about one interval, and the whole new assignment settles within about two (see
    /// docs/DESIGN.md section 9). Default 100 ms; range 1 ms to 1 hour.
    #[must_use]
    pub fn rebalance_interval(mut self, every: Duration) -> Self {
        self.rebalance_interval = every;
        self
    }

    /// The [`start`](Self::start) setting.
    #[must_use]
    pub fn get_start(&self) -> StartFrom {
        self.start
    }

    /// The [`auto_commit`](Self::auto_commit) setting.
    #[must_use]
    pub fn get_auto_commit(&self) -> Option<Duration> {
        self.auto_commit
    }

    /// The [`max_poll_bytes`](Self::max_poll_bytes) setting.
    #[must_use]
    pub fn get_max_poll_bytes(&self) -> usize {
        self.max_poll_bytes
    }

    /// The [`skip_damaged`](Self::skip_damaged) setting.
    #[must_use]
    pub fn get_skip_damaged(&self) -> bool {
        self.skip_damaged
    }

    /// The [`rebalance_interval`](Self::rebalance_interval) setting.
    #[must_use]
    pub fn get_rebalance_interval(&self) -> Duration {
        self.rebalance_interval
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for `max_poll_bytes == 0`, a zero auto-commit interval, or a
    /// rebalance interval outside 1 ms to 1 hour.
    pub fn validate(&self) -> Result<()> {
        if !(MIN_REBALANCE_INTERVAL..=MAX_REBALANCE_INTERVAL).contains(&self.rebalance_interval) {
            return Err(Error::InvalidConfig(format!(
                "rebalance_interval must be between 1 ms and 1 hour, got {:?}",
                self.rebalance_interval
            )));
        }
        if self.max_poll_bytes == 0 {
            return Err(Error::InvalidConfig(
                "max_poll_bytes must be at least 1, got 0".into(),
            ));
        }
        if let Some(d) = self.auto_commit
            && d.is_zero()
        {
            return Err(Error::InvalidConfig(format!(
                "auto_commit interval must be positive when set, got {d:?}"
            )));
        }
        Ok(())
    }
}
