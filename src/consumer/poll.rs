//! Polling: the fetch loop of [`Consumer::poll`] and [`Consumer::poll_with`], and the wait
//! between fetches.

use std::time::{Duration, Instant};

use super::{Consumer, ConsumerRecord};
use crate::error::{Error, Result};
use crate::partition::Records;
use crate::record::RecordRef;

impl Consumer {
    /// Returns records from this member's partitions, waiting up to `timeout` for the first
    /// one. Partitions take turns, so a busy partition does not starve the others. An empty
    /// vector means the timeout passed.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use std::time::Duration;
    /// use pagelog::{ConsumerConfig, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let jobs = store.create_topic("jobs", TopicConfig::default())?;
    /// jobs.append(Some(b"customer-1"), b"job 1")?;
    /// let mut worker = jobs.consumer("workers", ConsumerConfig::default())?;
    /// let records = worker.poll(Duration::from_secs(5))?;
    /// assert_eq!(records.len(), 1);
    /// assert_eq!((records[0].partition, records[0].offset(), records[0].value()), (0, 0, &b"job 1"[..]));
    /// assert!(worker.poll(Duration::from_millis(10))?.is_empty()); // caught up: the timeout passed
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Damaged data ([`Error::ChecksumMismatch`], [`Error::Corrupt`]); a failed auto-commit;
    /// [`Error::Corrupt`] for a damaged offsets file when this member takes a partition over
    /// (it tries again at its next probe); [`Error::Io`] probing the group's lock files;
    /// [`Error::Closed`] once the store was closed or the topic deleted (this member left the
    /// group then).
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let mut out = Vec::with_capacity(self.fetched);
        self.poll_into(timeout, |records, partition, budget| {
            let mut taken = Taken::default();
            while taken.bytes < budget {
                match records.next() {
                    Some(Ok(record)) => {
                        taken.add(record.size());
                        out.push(ConsumerRecord { partition, record });
                    }
                    Some(Err(e)) => return taken.stopped_by(e),
                    None => break,
                }
            }
            taken
        })?;
        self.fetched = out.len();
        Ok(out)
    }

    /// As [`poll`](Self::poll), but lends each record to `f` with its partition instead of
    /// returning owned [`Record`](crate::Record)s: no reference-count update and no vector per
    /// record, the fastest way to consume. Returns how many records `f` was given; 0 means
    /// the timeout passed. The records are covered by the next commit (auto or explicit)
    /// exactly as those `poll` returns.
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use std::time::Duration;
    /// use pagelog::{ConsumerConfig, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let jobs = store.create_topic("jobs", TopicConfig::default())?;
    /// jobs.append(None, b"job 1")?;
    /// jobs.append(None, b"job 2")?;
    /// let mut worker = jobs.consumer("workers", ConsumerConfig::default())?;
    /// let mut bytes = 0;
    /// let n = worker.poll_with(Duration::from_secs(5), |_partition, r| bytes += r.value().len())?;
    /// assert_eq!((n, bytes), (2, 10));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`poll`](Self::poll): an error met after records were lent is returned by the next
    /// call.
    pub fn poll_with(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(u32, RecordRef<'_>),
    ) -> Result<usize> {
        self.poll_into(timeout, |records, partition, budget| {
            let mut taken = Taken::default();
            while taken.bytes < budget {
                match records.next_ref() {
                    Some(Ok(r)) => {
                        taken.add(r.size());
                        f(partition, r);
                    }
                    Some(Err(e)) => return taken.stopped_by(e),
                    None => break,
                }
            }
            taken
        })
    }

    /// The loop of [`poll`](Self::poll) and [`poll_with`](Self::poll_with): `take` hands
    /// out a partition's records, from its iterator, until their bytes reach the budget it is
    /// given, the iterator ends or an error stops it.
    fn poll_into(
        &mut self,
        timeout: Duration,
        mut take: impl FnMut(&mut Records, u32, usize) -> Taken,
    ) -> Result<usize> {
        let deadline = Instant::now().checked_add(timeout);
        // Auto-commit covers what earlier polls returned (the application has had them),
        // never the records this poll is about to return: at-least-once.
        self.maybe_auto_commit()?;
        loop {
            if self.member.has_left() {
                // The topic was closed or deleted, which ended this membership: the
                // partitions may be another member's now.
                self.owned.clear();
                return Err(Error::Closed(format!("topic {:?}", self.topic.name())));
            }
            self.rebalance()?;
            let n = self.fetch(&mut take)?;
            if n > 0 || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(n);
            }
            if self.owned.iter().any(|o| o.records.at_closed_end()) {
                return Err(Error::Closed(format!("topic {:?}", self.topic.name())));
            }
            self.wait(deadline);
        }
    }

    /// Takes what is there, up to the byte budget, rotating over owned partitions; returns
    /// how many records `take` handed out.
    fn fetch(&mut self, take: &mut impl FnMut(&mut Records, u32, usize) -> Taken) -> Result<usize> {
        if let Some(e) = self.owned.iter_mut().find_map(|o| o.pending.take()) {
            return Err(e);
        }
        let n = self.owned.len();
        if n == 0 {
            return Ok(0);
        }
        let share = (self.config.max_poll_bytes / n).max(1);
        let start = self.rotation % n;
        self.rotation = self.rotation.wrapping_add(1);
        let (mut total, mut count) = (0, 0);
        for i in 0..n {
            let o = &mut self.owned[(start + i) % n];
            let budget = share.min(self.config.max_poll_bytes.saturating_sub(total));
            if budget == 0 {
                break;
            }
            let taken = take(&mut o.records, o.partition, budget);
            total += taken.bytes;
            count += taken.count;
            if let Some(e) = taken.error {
                if !self.config.skip_damaged {
                    // Stay at the damage: every poll reports it until a seek.
                    let at = o.records.position();
                    o.records.seek(at);
                }
                if count == 0 {
                    return Err(e);
                }
                o.pending = Some(e); // after the records already handed out
            }
        }
        Ok(count)
    }

    /// Sleeps until a record, a membership change in this process, the next probe of the
    /// membership (at most `rebalance_interval` away) or the deadline.
    fn wait(&self, deadline: Option<Instant>) {
        let parts = self.topic.partitions();
        let probe = self.probed_at.checked_add(self.config.rebalance_interval);
        let until = match (deadline, probe) {
            (Some(d), Some(p)) => Some(d.min(p)),
            (d, p) => d.or(p),
        };
        let ready = || {
            self.group.epoch() != self.seen_epoch
                || self.owned.iter().any(|o| {
                    parts.get(o.partition as usize).is_some_and(|p| {
                        p.next_offset() > o.records.position()
                            || !p.is_open()
                            || o.records.is_stale()
                    })
                })
        };
        self.topic.notifier().wait_until(until, ready);
    }
}

/// What a fetch's `take` did with one partition: the records it handed out, their bytes as
/// the budget counts them (at least 1 per record), and the error that stopped it.
#[derive(Default)]
struct Taken {
    count: usize,
    bytes: usize,
    error: Option<Error>,
}

impl Taken {
    /// Counts a record of `size` bytes of key, value and headers.
    #[inline]
    fn add(&mut self, size: usize) {
        self.count += 1;
        self.bytes += size.max(1);
    }

    /// What was taken before `e` stopped the partition.
    fn stopped_by(self, e: Error) -> Self {
        Self {
            error: Some(e),
            ..self
        }
    }
}
