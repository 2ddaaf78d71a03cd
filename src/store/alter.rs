//! [`Store::alter_topic`]: changing the settings of an existing topic that apply to what is
//! written and kept from now on.

use super::{Store, read_topic_config};
use crate::codec::meta;
use crate::config::TopicConfig;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::names::validate_topic_name;
use crate::topic::{TOPIC_META_FILE, Topic};

impl Store {
    /// Changes the settings of topic `name` that govern what happens from now on, and opens
    /// it: `alter` gets the stored configuration and returns the new one, which replaces the
    /// topic's `topic.meta` atomically before the topic is opened. The settings that may
    /// change are [`flush`](TopicConfig::flush), [`verify_checksums`](TopicConfig::verify_checksums),
    /// [`segment_ms`](TopicConfig::segment_ms), [`index_interval_bytes`](TopicConfig::index_interval_bytes),
    /// the retention settings and [`cleanup_policy`](TopicConfig::cleanup_policy) with
    /// [`delete_retention_ms`](TopicConfig::delete_retention_ms) (Kafka's `kafka-configs
    /// --alter`); the partition count and the segment and index sizes describe the files
    /// already written and stay as they were created. Reading processes that opened the topic
    /// before keep the settings they read (they only matter to the writer).
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use pagelog::{CleanupPolicy, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// drop(store.create_topic("events", TopicConfig::default())?);
    /// store.close()?;
    ///
    /// let store = Store::open(dir.path())?;
    /// let events = store.alter_topic("events", |c| {
    ///     c.retention_bytes(Some(1 << 30)).cleanup_policy(CleanupPolicy::CompactDelete)
    /// })?;
    /// assert_eq!(events.config().get_retention_bytes(), Some(1 << 30));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only store; [`Error::TopicNotFound`];
    /// [`Error::InvalidConfig`] if the new configuration is out of range, changes a setting
    /// fixed at creation, or the topic is already open in this store (alter it before its
    /// first use); [`Error::Corrupt`] if its `topic.meta` is damaged; [`Error::Io`].
    pub fn alter_topic(
        &self,
        name: &str,
        alter: impl FnOnce(TopicConfig) -> TopicConfig,
    ) -> Result<Topic> {
        self.check_writable("alter_topic")?;
        validate_topic_name(name)?;
        let mut topics = self.topics.lock();
        let dir = self.root.join(name);
        if !dir.join(TOPIC_META_FILE).is_file() {
            return Err(Error::TopicNotFound(name.to_owned()));
        }
        if topics.contains_key(name) {
            return Err(Error::InvalidConfig(format!(
                "topic {name} is open in this store: alter it before its first use"
            )));
        }
        let (old, _) = read_topic_config(&dir)?;
        let new = alter(old.clone());
        new.validate()?;
        for (setting, was, now) in [
            (
                "partitions",
                u64::from(old.partitions),
                u64::from(new.partitions),
            ),
            ("segment_bytes", old.segment_bytes, new.segment_bytes),
            (
                "index_bytes",
                u64::from(old.index_bytes),
                u64::from(new.index_bytes),
            ),
            (
                "max_batch_bytes",
                u64::from(old.max_batch_bytes),
                u64::from(new.max_batch_bytes),
            ),
        ] {
            if was != now {
                return Err(Error::InvalidConfig(format!(
                    "{setting} of topic {name} is fixed at creation ({was}), got {now}"
                )));
            }
        }
        fsutil::atomic_write(&dir, TOPIC_META_FILE, &meta::encode_topic(&new))?;
        let topic = self.load(name, dir)?;
        topics.insert(name.to_owned(), topic.clone());
        Ok(topic)
    }
}
