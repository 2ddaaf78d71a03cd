//! [`Store::open_read_only`]: a store opened in a process other than its writer's, whose
//! topics follow the writer through their live state files (DESIGN.md section 18).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{READER_OPEN_WAIT, Store, read_topic_config};
#[cfg(doc)]
use crate::error::Error;
use crate::error::{Result, io_err};
use crate::hooks::{Shared, StoreOptions};
use crate::live::LiveFile;
use crate::notify::Side;
use crate::topic::Topic;

impl Store {
    /// Opens the store at `root` for reading, while a writer process (or none) has it open:
    /// takes no lock and changes no file of the topics. Its topics follow the writer: reads,
    /// iterators, timestamp lookups and blocking tails see every record the writer publishes,
    /// as it publishes it (a waiting reader is woken by the writer's append, across
    /// processes), and they see rolls, retention, truncation, compaction and deletion. The
    /// writer may stop (even be killed) and start again: readers keep what it published and
    /// follow the next one.
    ///
    /// Consumer groups work as in a writing store, their offsets committed into the topic's
    /// `groups/` directory. Everything else that writes (appends, flushes, retention,
    /// compaction, truncation, topic creation and deletion) returns [`Error::ReadOnly`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// use pagelog::{Store, TopicConfig};
    /// let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// let writer = Store::open(dir.path())?;               // in one process...
    /// let t = writer.create_topic("events", TopicConfig::default())?;
    /// t.append(None, b"hello")?;
    ///
    /// let reader = Store::open_read_only(dir.path())?;     // ...and in another
    /// let p = reader.topic("events")?.partition(0)?.clone();
    /// assert_eq!(p.read(0)?.map(|r| r.value().to_vec()), Some(b"hello".to_vec()));
    /// t.append(None, b"world")?;
    /// assert_eq!(p.next_offset(), 2);                       // follows the writer
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if `root` is not a readable directory. Opening a topic can fail with
    /// [`Error::NeedsRecovery`] (see there) when the topic's files need its writer first.
    pub fn open_read_only(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let meta = fs::metadata(&root).map_err(io_err(&root))?;
        if !meta.is_dir() {
            return Err(io_err(&root)(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        Ok(Self {
            shared: Arc::new(Shared::new(StoreOptions::default())),
            root,
            _lock: None,
            topics: Mutex::new(HashMap::new()),
            flusher: None,
            flusher_thread: Mutex::new(None),
        })
    }

    /// Opens a topic of a read-only store: follows its writer through its live state file.
    pub(super) fn load_read_only(&self, name: &str, dir: PathBuf) -> Result<Topic> {
        let (config, _) = read_topic_config(&dir)?;
        let live = Arc::new(LiveFile::open_reader(&dir, config.partitions)?);
        live.wait_ready(name, READER_OPEN_WAIT)?;
        let topic_name: Arc<str> = name.into();
        let (notifier, groups) = self.shared_parts(&dir, &config, &live, Side::Reader);
        let mut partitions = Vec::with_capacity(config.partitions as usize);
        for p in 0..config.partitions {
            partitions.push(crate::partition::open_follower(
                Arc::clone(&topic_name),
                p,
                dir.join(p.to_string()),
                &config,
                &live,
                Arc::clone(&notifier),
            )?);
        }
        Ok(Topic::new(
            name.to_owned(),
            dir,
            config,
            partitions,
            notifier,
            groups,
            live,
        ))
    }
}
