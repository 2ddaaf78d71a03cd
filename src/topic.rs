//! Topics: a fixed set of partitions under one name.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::codec::live;
use crate::codec::record::NewRecord;
use crate::config::TopicConfig;
use crate::error::{Error, Result};
use crate::group::{self, Groups};
use crate::live::LiveFile;
use crate::names::validate_group_name;
use crate::notify::Notifier;
use crate::partition::Partition;
use crate::partitioner;

/// Name of the metadata file in a topic directory.
pub(crate) const TOPIC_META_FILE: &str = "topic.meta";

/// A topic: `N` partitions fixed at creation. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Topic {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    dir: PathBuf,
    config: TopicConfig,
    partitions: Vec<Partition>,
    round_robin: AtomicU32,
    notifier: Arc<Notifier>,
    /// Consumer groups used in this process (shared with the partitions).
    groups: Arc<Groups>,
    /// The live state file shared with other processes.
    live: Arc<LiveFile>,
    /// Opened by a read-only store: another process writes it.
    read_only: bool,
}

impl Topic {
    pub(crate) fn new(
        name: String,
        dir: PathBuf,
        config: TopicConfig,
        partitions: Vec<Partition>,
        notifier: Arc<Notifier>,
        groups: Arc<Groups>,
        live: Arc<LiveFile>,
    ) -> Self {
        let read_only = partitions.iter().any(Partition::is_read_only);
        Self {
            inner: Arc::new(Inner {
                name,
                dir,
                config,
                partitions,
                round_robin: AtomicU32::new(0),
                notifier,
                groups,
                live,
                read_only,
            }),
        }
    }

    /// True for a topic of a read-only store: another process writes it, this handle reads
    /// what it publishes (and commits consumer groups' offsets).
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The topic's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The topic's directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The configuration the topic was created with.
    #[must_use]
    pub fn config(&self) -> &TopicConfig {
        &self.inner.config
    }

    /// Number of partitions.
    #[must_use]
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a topic has at most MAX_PARTITIONS (a u32) partitions"
    )]
    pub fn partition_count(&self) -> u32 {
        self.inner.partitions.len() as u32
    }

    /// All partitions, in order.
    #[must_use]
    pub fn partitions(&self) -> &[Partition] {
        &self.inner.partitions
    }

    /// Partition number `id`.
    ///
    /// # Errors
    /// [`Error::PartitionNotFound`] if `id >= partition_count()`.
    pub fn partition(&self, id: u32) -> Result<&Partition> {
        self.inner
            .partitions
            .get(id as usize)
            .ok_or_else(|| Error::PartitionNotFound {
                topic: self.inner.name.clone(),
                partition: id,
                partitions: self.partition_count(),
            })
    }

    /// The partition a record with `key` goes to: Kafka's default partitioner
    /// (`(murmur2(key) & 0x7fffffff) % partitions`), identical on every platform and release.
    #[must_use]
    pub fn partition_for_key(&self, key: &[u8]) -> u32 {
        partitioner::partition_for_key(key, self.partition_count())
    }

    /// The partition for a record: by key hash if it has a key, otherwise round-robin over
    /// all partitions, one append call at a time.
    fn pick(&self, key: Option<&[u8]>) -> u32 {
        match key {
            Some(k) => self.partition_for_key(k),
            None => self.inner.round_robin.fetch_add(1, Ordering::Relaxed) % self.partition_count(),
        }
    }

    /// Appends a record with this key and value; returns `(partition, offset)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use pagelog::{Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let orders = store.create_topic("orders", TopicConfig::default().partitions(4))?;
    /// let (p, offset) = orders.append(Some(b"user-42"), b"first order")?;
    /// assert_eq!(p, orders.partition_for_key(b"user-42")); // Kafka's key hash
    /// let (q, _) = orders.append(Some(b"user-42"), b"second order")?;
    /// assert_eq!((q, offset), (p, 0)); // same key, same partition, in order
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Partition::append_batch`].
    pub fn append(&self, key: Option<&[u8]>, value: &[u8]) -> Result<(u32, u64)> {
        let mut r = NewRecord::new(value);
        r.key = key;
        self.append_record(r)
    }

    /// Appends a fully specified record to the partition its key selects; returns
    /// `(partition, offset)`.
    ///
    /// # Errors
    /// As [`Partition::append_batch`].
    pub fn append_record(&self, record: NewRecord<'_>) -> Result<(u32, u64)> {
        let p = self.pick(record.key);
        Ok((p, self.partition(p)?.append(record)?))
    }

    /// Appends `records` as one batch to partition `partition`.
    ///
    /// # Errors
    /// [`Error::PartitionNotFound`], or as [`Partition::append_batch`].
    pub fn append_batch_to(&self, partition: u32, records: &[NewRecord<'_>]) -> Result<Range<u64>> {
        self.partition(partition)?.append_batch(records)
    }

    /// Flushes every partition (see [`Partition::flush`]).
    ///
    /// # Errors
    /// The first partition's error.
    pub fn flush(&self) -> Result<()> {
        self.inner.partitions.iter().try_for_each(Partition::flush)
    }

    /// The offsets group `group` committed, one per partition (`None`: nothing committed;
    /// a committed offset is the next offset the group will read), as its offsets file holds
    /// them now (members in other processes commit to the same file).
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
    /// jobs.append(None, b"a")?;
    /// jobs.append(None, b"b")?;
    /// assert_eq!(jobs.committed_offsets("workers")?, [None]);
    /// let mut member = jobs.consumer("workers", ConsumerConfig::default())?;
    /// let first = member.poll(Duration::from_secs(5))?;
    /// member.commit()?;
    /// assert_eq!(jobs.committed_offsets("workers")?, [Some(first.len() as u64)]);
    /// assert_eq!(jobs.groups()?, ["workers"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the group's offsets file is damaged; [`Error::Io`].
    pub fn committed_offsets(&self, group: &str) -> Result<Vec<Option<u64>>> {
        validate_group_name(group)?;
        group::read_offsets(&self.inner.dir, group, self.partition_count())
    }

    /// Lag of group `group` per partition: records stored that it has not committed,
    /// `next_offset - committed` (from the start offset where it never committed).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use pagelog::{Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let jobs = store.create_topic("jobs", TopicConfig::default().partitions(2))?;
    /// jobs.append_batch_to(1, &[pagelog::NewRecord::new(b"x"), pagelog::NewRecord::new(b"y")])?;
    /// // Nothing committed yet: everything stored is lag.
    /// assert_eq!(jobs.group_lag("workers")?, [0, 2]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`committed_offsets`](Self::committed_offsets).
    pub fn group_lag(&self, group: &str) -> Result<Vec<u64>> {
        let committed = self.committed_offsets(group)?;
        Ok(self
            .inner
            .partitions
            .iter()
            .zip(committed)
            .map(|(p, c)| {
                let from = c.unwrap_or(p.start_offset()).max(p.start_offset());
                p.next_offset().saturating_sub(from)
            })
            .collect())
    }

    /// The topic's consumer groups in this process.
    pub(crate) fn group_registry(&self) -> &Arc<Groups> {
        &self.inner.groups
    }

    /// Names of the groups that have committed offsets for this topic, sorted.
    ///
    /// # Errors
    /// [`Error::Io`] if the groups directory cannot be read.
    pub fn groups(&self) -> Result<Vec<String>> {
        group::list(&self.inner.dir)
    }

    /// Applies retention to every partition now (see [`Partition::enforce_retention`]).
    ///
    /// # Errors
    /// The first error met.
    pub fn enforce_retention(&self) -> Result<crate::partition::RetentionReport> {
        let mut report = crate::partition::RetentionReport::default();
        for p in &self.inner.partitions {
            report.merge(p.enforce_retention()?);
        }
        Ok(report)
    }

    /// Compacts every partition now (see [`Partition::compact`]).
    ///
    /// # Errors
    /// The first error met.
    pub fn compact(&self) -> Result<crate::partition::CompactionReport> {
        let mut report = crate::partition::CompactionReport::default();
        for p in &self.inner.partitions {
            report.merge(p.compact()?);
        }
        Ok(report)
    }

    pub(crate) fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }

    /// Closes every partition, then the groups: handles that outlive the store neither
    /// append nor commit.
    pub(crate) fn close(&self) -> Result<()> {
        let mut first = Ok(());
        for p in self.inner.partitions.iter().filter_map(Partition::inner) {
            let r = p.close();
            if first.is_ok() {
                first = r;
            }
        }
        self.inner.groups.close();
        if !self.inner.read_only {
            // Readers of other processes keep what the slots say; after a clean close the
            // slots describe the files exactly and hold across a reboot.
            if first.is_ok() {
                first = self.inner.live.close_clean();
            } else {
                self.inner.live.set_state(live::State::Closed);
            }
            self.inner.live.release();
        }
        first
    }

    /// Runs the `on_segment_sealed` hook for segments synced but not yet announced.
    pub(crate) fn run_pending_hooks(&self) {
        for p in self.inner.partitions.iter().filter_map(Partition::inner) {
            p.run_sealed_hooks();
        }
    }

    /// Abandons every partition (waiting for passes under way, which may lower group
    /// offsets), then closes the groups: nothing writes into the directory afterwards.
    pub(crate) fn abandon(&self) {
        for p in self.inner.partitions.iter().filter_map(Partition::inner) {
            p.abandon();
        }
        self.inner.groups.close();
        if !self.inner.read_only {
            self.inner.live.release();
        }
    }

    /// Tells readers of other processes that the topic is being deleted (before its files
    /// go), then lets it go as [`abandon`](Self::abandon) does.
    pub(crate) fn delete(&self) {
        if !self.inner.read_only {
            self.inner.live.set_state(live::State::Deleted);
        }
        self.abandon();
    }
}
