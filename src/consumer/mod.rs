//! Consumers: read a topic's partitions as a member of a named group, resuming from the
//! group's committed offsets.

mod config;
mod join;
mod poll;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

pub use self::config::{ConsumerConfig, StartFrom};
use crate::error::{Error, Result};
use crate::group::Group;
use crate::group::member::{Acquire, Member};
use crate::partition::Records;
use crate::record::Record;
use crate::topic::Topic;

/// A record returned by [`Consumer::poll`], with its partition. Dereferences to [`Record`].
#[derive(Debug, Clone)]
pub struct ConsumerRecord {
    /// The partition it came from.
    pub partition: u32,
    /// The record.
    pub record: Record,
}

impl Deref for ConsumerRecord {
    type Target = Record;

    fn deref(&self) -> &Record {
        &self.record
    }
}

/// A partition this member reads.
#[derive(Debug)]
struct Owned {
    partition: u32,
    records: Records,
    /// An error met after other records were collected; returned by the next poll.
    pending: Option<Error>,
}

/// A member of a consumer group reading a topic.
///
/// The group's members split the topic's partitions (see the assignment rule in the docs of
/// [`Topic::consumer`]); each member reads its partitions fairly,
/// starting where the group last committed. [`commit`](Self::commit) stores the positions;
/// a restarted consumer of the same group resumes after the last committed record. Delivery
/// is at-least-once: records polled but not committed are read again after a restart or a
/// rebalance.
///
/// ```
/// # fn main() -> pagelog::Result<()> {
/// use std::time::Duration;
/// use pagelog::{ConsumerConfig, Store, TopicConfig};
/// let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
/// let store = Store::open(dir.path())?;
/// let topic = store.create_topic("jobs", TopicConfig::default().partitions(2))?;
/// topic.append(Some(b"a"), b"job 1")?;
/// topic.append(Some(b"b"), b"job 2")?;
///
/// let mut consumer = topic.consumer("workers", ConsumerConfig::default())?;
/// let mut seen = Vec::new();
/// while seen.len() < 2 {
///     for r in consumer.poll(Duration::from_secs(5))? {
///         seen.push(r.value().to_vec());
///     }
/// }
/// consumer.commit()?; // a restarted "workers" consumer starts after these
/// assert_eq!(topic.group_lag("workers")?, vec![0, 0]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Consumer {
    topic: Topic,
    group: Arc<Group>,
    /// This member's locks: it holds the ownership lock of exactly the partitions in `owned`.
    member: Member,
    /// The group's in-process epoch at the last probe.
    seen_epoch: u64,
    /// When membership was last probed.
    probed_at: Instant,
    owned: Vec<Owned>,
    /// Where the fair rotation over owned partitions starts next.
    rotation: usize,
    /// Records the last fetch returned: the next one's vector starts that large, instead of
    /// growing by doubling through a poll.
    fetched: usize,
    config: ConsumerConfig,
    last_commit: Instant,
}

impl Consumer {
    pub(crate) fn new(topic: Topic, group: Arc<Group>, config: ConsumerConfig) -> Result<Self> {
        config.validate()?;
        let member = group.join()?;
        let mut c = Self {
            topic,
            group,
            member,
            seen_epoch: u64::MAX,
            probed_at: Instant::now(),
            owned: Vec::new(),
            rotation: 0,
            fetched: 0,
            config,
            last_commit: Instant::now(),
        };
        c.rebalance()?;
        Ok(c)
    }

    /// The group's name.
    #[must_use]
    pub fn group(&self) -> &str {
        self.group.name()
    }

    /// Partitions this member reads now, in order.
    #[must_use]
    pub fn assignment(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.owned.iter().map(|o| o.partition).collect();
        v.sort_unstable();
        v
    }

    /// The next offset this member will read from `partition`, if it owns it.
    #[must_use]
    pub fn position(&self, partition: u32) -> Option<u64> {
        self.owned
            .iter()
            .find(|o| o.partition == partition)
            .map(|o| o.records.position())
    }

    /// Moves this member's position on an owned `partition` to `offset`; an offset past the
    /// partition's end moves it to the end (the next offset now), one below the start to the
    /// start, as [`Records::seek`] does. So a [`commit`](Self::commit) after it never stores
    /// an offset past the end, which would skip the records appended later.
    ///
    /// # Errors
    /// [`Error::PartitionNotFound`] if this member does not own `partition`.
    pub fn seek(&mut self, partition: u32, offset: u64) -> Result<()> {
        match self.owned.iter_mut().find(|o| o.partition == partition) {
            Some(o) => {
                o.records.seek(offset);
                Ok(())
            }
            None => Err(self.not_owned(partition)),
        }
    }

    /// The error for a partition this member does not own.
    fn not_owned(&self, partition: u32) -> Error {
        Error::PartitionNotFound {
            topic: self.topic.name().to_owned(),
            partition,
            partitions: self.topic.partition_count(),
        }
    }

    /// Commits the given offsets (partition, next offset to read) of partitions this member
    /// owns, without moving its positions: to commit part of what [`poll`](Self::poll)
    /// returned once it is processed, or a position kept elsewhere. Durable when it returns,
    /// like [`commit`](Self::commit); with auto-commit on, the next automatic commit stores
    /// the positions again.
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use std::time::Duration;
    /// use pagelog::{ConsumerConfig, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let topic = store.create_topic("jobs", TopicConfig::default())?;
    /// for job in [b"a", b"b", b"c"] {
    ///     topic.append(None, job)?;
    /// }
    /// let config = ConsumerConfig::default().auto_commit(None);
    /// let mut consumer = topic.consumer("workers", config)?;
    /// let polled = consumer.poll(Duration::from_secs(5))?;
    /// // Only the first job is done: the group resumes at the second.
    /// consumer.commit_offsets(&[(polled[0].partition, polled[0].offset() + 1)])?;
    /// assert_eq!(topic.committed_offsets("workers")?, vec![Some(1)]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::PartitionNotFound`] for a partition this member does not own;
    /// [`Error::OffsetOutOfRange`] for an offset past the partition's next offset (committing
    /// it would skip records not yet appended); [`Error::Io`] if the offsets file cannot be
    /// written; [`Error::Corrupt`] if it is damaged (it is left alone); [`Error::Closed`] once
    /// the store was closed or the topic deleted. Nothing is committed when an error is
    /// returned.
    pub fn commit_offsets(&mut self, offsets: &[(u32, u64)]) -> Result<()> {
        for &(p, offset) in offsets {
            if !self.owned.iter().any(|o| o.partition == p) {
                return Err(self.not_owned(p));
            }
            let part = self.topic.partition(p)?;
            let end = part.next_offset();
            if offset > end {
                return Err(Error::OffsetOutOfRange {
                    requested: offset,
                    start: part.start_offset(),
                    end,
                });
            }
        }
        self.group.commit(&self.member, offsets)
    }

    /// When a member of this process changed the group or `rebalance_interval` has passed
    /// since the last probe: probes the membership, commits (under auto-commit) and releases
    /// the partitions now assigned to others, and takes the assigned ones whose previous owner
    /// let go. Otherwise does nothing (no system call).
    fn rebalance(&mut self) -> Result<()> {
        let epoch = self.group.epoch();
        if (epoch == self.seen_epoch && self.probed_at.elapsed() < self.config.rebalance_interval)
            || self.group.is_closed()
        {
            return Ok(());
        }
        self.seen_epoch = epoch;
        self.probed_at = Instant::now();
        self.member.probe()?;
        let lost: Vec<Owned> = {
            let assigned = self.member.assigned();
            let (keep, lost) = std::mem::take(&mut self.owned)
                .into_iter()
                .partition(|o| assigned.contains(&o.partition));
            self.owned = keep;
            lost
        };
        let committed = if self.config.auto_commit.is_some() {
            self.commit_owned(&lost)
        } else {
            Ok(())
        };
        // Released whatever the commit did: the partitions are no longer ours.
        for o in lost {
            self.group.release(&mut self.member, o.partition);
        }
        let mut first_error = committed.err();
        for p in self.member.to_acquire() {
            let committed = match self.group.try_acquire(&mut self.member, p) {
                Ok(Acquire::Taken(committed)) => committed,
                Ok(Acquire::Held) => continue, // tried again at the next probe
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            match self.open_partition(p, committed) {
                Ok(records) => self.owned.push(Owned {
                    partition: p,
                    records,
                    pending: None,
                }),
                Err(e) => {
                    // Give it back and try again at the next probe.
                    self.group.release(&mut self.member, p);
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// An iterator over partition `p` positioned where this member starts reading it.
    fn open_partition(&self, p: u32, committed: Option<u64>) -> Result<Records> {
        let part = self.topic.partition(p)?;
        let from = match (committed, self.config.start) {
            (Some(o), _) => o.clamp(part.start_offset(), part.next_offset()),
            (None, StartFrom::Earliest) => part.start_offset(),
            (None, StartFrom::Latest) => part.next_offset(),
            (None, StartFrom::Timestamp(ts)) => {
                part.offset_for_timestamp(ts)?.unwrap_or(part.next_offset())
            }
        };
        let mut records = part.iter();
        if self.config.skip_damaged {
            records = records.skip_damaged();
        }
        records.seek(from);
        Ok(records)
    }

    fn maybe_auto_commit(&mut self) -> Result<()> {
        if let Some(every) = self.config.auto_commit
            && self.last_commit.elapsed() >= every
        {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits the positions of `owned`. The group compares them with its committed offsets,
    /// which a truncation may have lowered since this member last committed, and writes only
    /// if one differs.
    fn commit_owned(&self, owned: &[Owned]) -> Result<()> {
        let offsets: Vec<(u32, u64)> = owned
            .iter()
            .map(|o| (o.partition, o.records.position()))
            .collect();
        self.group.commit(&self.member, &offsets)
    }

    /// Commits this member's positions: for each partition it reads, the offset after the
    /// last record `poll` returned. Durable when it returns (atomic file replace with fsync).
    /// Other members' partitions keep what they committed, whatever process they are in.
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
    /// jobs.append(None, b"job 1")?;
    /// let mut worker = jobs.consumer("workers", ConsumerConfig::default())?;
    /// assert_eq!(worker.poll(Duration::from_secs(5))?.len(), 1);
    /// worker.commit()?; // after processing: at-least-once
    /// drop(worker);
    /// jobs.append(None, b"job 2")?;
    /// let mut next = jobs.consumer("workers", ConsumerConfig::default())?; // resumes after the commit
    /// assert_eq!(next.poll(Duration::from_secs(5))?[0].offset(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if the offsets file cannot be written; [`Error::Corrupt`] if it is
    /// damaged (it is left alone); [`Error::Closed`] once the store
    /// was closed or the topic deleted (nothing is written then: the directory may be gone or
    /// held by another store).
    pub fn commit(&mut self) -> Result<()> {
        self.commit_owned(&self.owned)?;
        self.last_commit = Instant::now();
        Ok(())
    }
}

impl Drop for Consumer {
    /// Leaves the group (after a final commit under auto-commit), handing its partitions to
    /// the remaining members.
    fn drop(&mut self) {
        if self.config.auto_commit.is_some() {
            // Errors cannot be reported from drop; the records are then read again.
            let _ = self.commit();
        }
        self.group.leave(&mut self.member);
    }
}
