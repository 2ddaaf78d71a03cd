//! The store: a root directory of topics, locked against other instances.

use std::collections::HashMap;
use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use crate::codec::live;
use crate::codec::meta;
use crate::config::TopicConfig;
use crate::error::{Corruption, Error, Result, io_err};
use crate::flusher::Flusher;
use crate::fsutil;
use crate::group::Groups;
use crate::hooks::{Shared, StoreOptions};
use crate::live::{self as live_state, LiveFile};
use crate::names::validate_topic_name;
use crate::notify::{Notifier, Side};
use crate::partition::Partition;
use crate::partition::{Context, OpenMode, RetentionReport};
use crate::staging;
use crate::topic::{TOPIC_META_FILE, Topic};

mod alter;
mod read_only;

/// Name of the lock file in the root directory.
pub const LOCK_FILE: &str = "pagelog.lock";

/// A pagelog store: a directory holding topics (like a Kafka log dir).
///
/// Opening is cheap: it locks the directory and cleans up leftovers of interrupted topic
/// creations and deletions. Topics are opened on first use. `Send + Sync`; share it with
/// `Arc`. Dropping it closes it cleanly (see [`close`](Self::close)).
///
/// One process at a time opens a store for writing ([`open`](Self::open)); any number of
/// other processes may open it at the same time with [`open_read_only`](Self::open_read_only)
/// and read everything the writer publishes, as it publishes it.
///
/// ```
/// # fn main() -> pagelog::Result<()> {
/// use pagelog::{Store, TopicConfig};
/// let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
/// let store = Store::open(dir.path())?;
/// let orders = store.create_topic("orders", TopicConfig::default().partitions(4))?;
/// let (partition, offset) = orders.append(Some(b"user-42"), b"{\"total\": 12}")?;
/// let p = orders.partition(partition)?;
/// let rec = p.read(offset)?.expect("just written");
/// assert_eq!(rec.value(), b"{\"total\": 12}");
/// p.flush()?; // durable: survives kill -9 and power loss
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    /// Holds the exclusive lock for the store's lifetime; `None` when read-only.
    _lock: Option<File>,
    topics: Mutex<HashMap<String, Topic>>,
    /// The background thread; `None` when read-only.
    flusher: Option<Arc<Flusher>>,
    flusher_thread: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

/// How long a read-only open waits for a writer that is opening a topic.
const READER_OPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl Store {
    /// Opens the store at `root` for writing, creating the directory if it is missing, and
    /// takes an exclusive lock on it (recording this process's id in the lock file).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use pagelog::{Error, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// store.create_topic("events", TopicConfig::default())?;
    /// store.close()?; // a clean close: the next open scans nothing
    /// let store = Store::open(dir.path())?;
    /// assert_eq!(store.topics()?, ["events"]);
    /// // One writer at a time: a second open fails, naming the holder's process.
    /// assert!(matches!(Store::open(dir.path()), Err(Error::Locked { .. })));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Locked`] (with the holder's process id) if another writing `Store`, in any
    /// process, has it open; [`Error::Io`] if the directory cannot be created or read.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(root, StoreOptions::default())
    }

    /// As [`open`](Self::open), with hooks and background retention settings.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if an option is out of range ([`StoreOptions::validate`];
    /// nothing is created then); otherwise as [`open`](Self::open).
    pub fn open_with(root: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        options.validate()?;
        let root = root.as_ref().to_path_buf();
        let lock_path = root.join(LOCK_FILE);
        let open_lock = || {
            File::options()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&lock_path)
        };
        // The root is made only when the lock file cannot be: one system call when it exists.
        let mut lock = match open_lock() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(&root).map_err(io_err(&root))?;
                open_lock()
            }
            opened => opened,
        }
        .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let pid = fs::read_to_string(&lock_path)
                    .ok()
                    .and_then(|t| t.trim().parse().ok());
                return Err(Error::Locked {
                    path: lock_path,
                    pid,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        record_pid(&mut lock).map_err(io_err(&lock_path))?;
        let left_alone = staging::clean_up(&root)?;
        let (flusher, thread) =
            Flusher::start(options.retention_check_interval).map_err(io_err(&root))?;
        let shared = Arc::new(Shared::new(options));
        for note in left_alone {
            shared.report(note);
        }
        Ok(Self {
            shared,
            root,
            _lock: Some(lock),
            topics: Mutex::new(HashMap::new()),
            flusher: Some(flusher),
            flusher_thread: Mutex::new(Some(thread)),
        })
    }

    /// True for a store opened with [`open_read_only`](Self::open_read_only).
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.flusher.is_none()
    }

    /// [`Error::ReadOnly`] for `what` when read-only.
    fn check_writable(&self, what: &str) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly(format!(
                "{what} in {}",
                self.root.display()
            )));
        }
        Ok(())
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Creates a topic. The topic appears atomically: it is built in a staging directory and
    /// renamed into place, so a crash leaves either no topic or a complete one.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use pagelog::{Error, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let orders = store.create_topic("orders", TopicConfig::default().partitions(3))?;
    /// assert_eq!(orders.partition_count(), 3);
    /// let again = store.create_topic("orders", TopicConfig::default());
    /// assert!(matches!(again, Err(Error::TopicExists(_))));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidTopicName`], [`Error::InvalidConfig`], [`Error::TopicExists`];
    /// [`Error::Io`] if a non-topic file or directory already has that name.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "takes the builder's result as `TopicConfig::default().partitions(2)` makes it"
    )]
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Topic> {
        self.check_writable("create_topic")?;
        validate_topic_name(name)?;
        config.validate()?;
        let mut topics = self.topics.lock();
        let dir = self.root.join(name);
        if dir.join(TOPIC_META_FILE).exists() {
            return Err(Error::TopicExists(name.to_owned()));
        }
        if dir.exists() {
            return Err(io_err(&dir)(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a pagelog topic",
            )));
        }
        let staging = staging::begin_create(&self.root)?;
        for p in 0..config.partitions {
            // Creating each partition writes its first segment and syncs its directory.
            let part = Partition::open(
                name.into(),
                p,
                staging.join(p.to_string()),
                &config,
                OpenMode::Create,
                Context::default(),
            )?;
            if let Some(inner) = part.inner() {
                inner.close()?;
            }
        }
        live_state::create(&staging, config.partitions)?;
        fsutil::atomic_write(&staging, TOPIC_META_FILE, &meta::encode_topic(&config))?;
        staging::finish_create(&self.root, &staging, &dir)?;
        let topic = self.load(name, dir)?;
        topics.insert(name.to_owned(), topic.clone());
        Ok(topic)
    }

    /// Opens an existing topic (once; later calls return the same handle).
    ///
    /// # Errors
    /// [`Error::TopicNotFound`]; [`Error::Corrupt`] if its metadata is damaged;
    /// [`Error::Io`].
    pub fn topic(&self, name: &str) -> Result<Topic> {
        validate_topic_name(name)?;
        let mut topics = self.topics.lock();
        if let Some(t) = topics.get(name) {
            return Ok(t.clone());
        }
        let dir = self.root.join(name);
        // A load reads `topic.meta` before anything else: without one it fails at once, and
        // only then is the file looked for.
        let topic = self.load(name, dir.clone()).map_err(|e| {
            if dir.join(TOPIC_META_FILE).is_file() {
                e
            } else {
                Error::TopicNotFound(name.to_owned())
            }
        })?;
        topics.insert(name.to_owned(), topic.clone());
        Ok(topic)
    }

    fn load(&self, name: &str, dir: PathBuf) -> Result<Topic> {
        let Some(flusher) = &self.flusher else {
            return self.load_read_only(name, dir);
        };
        let (config, version) = read_topic_config(&dir)?;
        if version != Some(meta::TOPIC_VERSION) {
            // An earlier version with the same body: raise the topic's version gate before
            // anything in it is opened, so that the development builds that wrote it, which
            // misread what this build may write (empty batches), refuse the topic from now
            // on (FORMAT.md, "Versions").
            fsutil::atomic_write(&dir, TOPIC_META_FILE, &meta::encode_topic(&config))?;
        }
        let topic_name: Arc<str> = name.into();
        // Readers of other processes see a new writer session begin before any file of the
        // topic is opened.
        let live = Arc::new(LiveFile::open_writer(&dir, config.partitions)?);
        let (notifier, groups) = self.shared_parts(&dir, &config, &live, Side::Writer);
        let mut partitions = Vec::with_capacity(config.partitions as usize);
        for p in 0..config.partitions {
            let part = Partition::open(
                Arc::clone(&topic_name),
                p,
                dir.join(p.to_string()),
                &config,
                OpenMode::Existing,
                Context {
                    flusher: Some(Arc::clone(flusher)),
                    notifier: Arc::clone(&notifier),
                    shared: Arc::clone(&self.shared),
                    groups: Some(Arc::clone(&groups) as Arc<dyn crate::partition::ConsumerGroups>),
                    live: Some(Arc::clone(&live)),
                },
            )?;
            if let Some(inner) = part.inner() {
                flusher.register(&(Arc::clone(inner) as Arc<dyn crate::flusher::Background>));
            }
            partitions.push(part);
        }
        live.set_state(live::State::Live);
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

    /// What a topic's partitions and consumers share: the notifier on the live state file,
    /// and the groups registry.
    fn shared_parts(
        &self,
        dir: &Path,
        config: &TopicConfig,
        live: &Arc<LiveFile>,
        side: Side,
    ) -> (Arc<Notifier>, Arc<Groups>) {
        let notifier = Arc::new(Notifier::with_live(Arc::clone(live), side));
        let groups = Arc::new(Groups::new(
            dir.to_path_buf(),
            config.partitions,
            Arc::clone(&notifier),
            Arc::clone(&self.shared),
        ));
        (notifier, groups)
    }

    /// Names of all topics, sorted. Directories and files that are not topics are ignored.
    ///
    /// # Errors
    /// [`Error::Io`] if the root cannot be read.
    pub fn topics(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if validate_topic_name(&name).is_ok() && entry.path().join(TOPIC_META_FILE).is_file() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Deletes a topic and its data. Handles to it stop accepting appends and commits
    /// ([`Error::Closed`]; nothing is written into the topic's directory afterwards); records
    /// already read stay valid (their mappings outlive the files).
    ///
    /// # Errors
    /// [`Error::TopicNotFound`]; [`Error::Io`].
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.check_writable("delete_topic")?;
        validate_topic_name(name)?;
        let mut topics = self.topics.lock();
        let dir = self.root.join(name);
        if !dir.join(TOPIC_META_FILE).is_file() {
            return Err(Error::TopicNotFound(name.to_owned()));
        }
        if let Some(t) = topics.remove(name) {
            t.delete();
        } else if let Ok((config, _)) = read_topic_config(&dir)
            && let Ok(live) = LiveFile::open_writer(&dir, config.partitions)
        {
            // Not open here: readers of other processes still learn that it goes.
            live.set_state(live::State::Deleted);
            live.release();
        }
        staging::delete(&self.root, &dir)
    }

    /// Applies retention to every partition of every open topic now (it also runs in the
    /// background after each roll).
    ///
    /// # Errors
    /// The first error met.
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        self.check_writable("enforce_retention")?;
        let topics: Vec<Topic> = self.topics.lock().values().cloned().collect();
        let mut report = RetentionReport::default();
        for t in topics {
            report.merge(t.enforce_retention()?);
        }
        Ok(report)
    }

    /// Takes the errors background work recorded since the last call: failed hooks and
    /// failed background retention passes (at most the 256 most recent).
    pub fn background_errors(&self) -> Vec<String> {
        self.shared.take_errors()
    }

    /// Flushes every open topic.
    ///
    /// # Errors
    /// The first error met.
    pub fn flush(&self) -> Result<()> {
        self.check_writable("flush")?;
        let topics: Vec<Topic> = self.topics.lock().values().cloned().collect();
        topics.iter().try_for_each(Topic::flush)
    }

    /// Closes the store cleanly: stops the flusher, syncs every partition, trims active
    /// segments and writes clean checkpoints, so the next open reads no record data. Handles
    /// still held refuse appends, commits and new consumers afterwards ([`Error::Closed`]);
    /// records read earlier stay valid.
    ///
    /// # Errors
    /// The first error met while closing; the store is closed regardless.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    /// Drops the store as a crash would: no sync, no trim, no clean checkpoint; handles stop
    /// working. Everything appended is in the page cache, exactly as after `kill -9`. For
    /// tests of recovery; never needed in applications.
    #[doc(hidden)]
    pub fn crash(self) {
        if let Some(f) = &self.flusher {
            f.stop();
        }
        if let Some(t) = self.flusher_thread.lock().take() {
            let _ = t.join();
        }
        for (_, t) in self.topics.lock().drain() {
            t.abandon();
        }
    }

    fn shutdown(&self) -> Result<()> {
        if let Some(f) = &self.flusher {
            f.stop();
        }
        if let Some(t) = self.flusher_thread.lock().take() {
            let _ = t.join();
        }
        let topics: Vec<Topic> = self.topics.lock().drain().map(|(_, t)| t).collect();
        let mut first = Ok(());
        for t in topics {
            let r = t.close();
            // Segments sealed and synced by the close still get their hook.
            t.run_pending_hooks();
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; call `close` to see them. A failed clean close
        // only means the next open recovers.
        let _ = self.shutdown();
    }
}

/// Records this process's id in the store's lock file (which it holds locked), for the
/// [`Error::Locked`] another writer gets: the file then holds exactly the id's decimal digits.
/// The id is written over the one there and the file cut only if that was longer, never
/// emptied first: a cut to zero frees the file's block, which on ext4 is a journalled
/// truncation that also waits for the writeback of the previous content (milliseconds on a
/// busy disk), and an unchanged id (the same process opening again) writes nothing.
fn record_pid(lock: &mut File) -> std::io::Result<()> {
    let pid = std::process::id().to_string();
    // Longer than any process id: a longer content is cut whatever it holds.
    let mut old = [0u8; 24];
    let len = fsutil::read_at(lock, &mut old, 0)?;
    if old[..len] == *pid.as_bytes() {
        return Ok(());
    }
    std::os::unix::fs::FileExt::write_all_at(lock, pid.as_bytes(), 0)?;
    if len > pid.len() {
        lock.set_len(pid.len() as u64)?;
    }
    Ok(())
}

/// A topic's configuration from its `topic.meta`, validated, and the version it is stored
/// in (an earlier version is read as it is).
fn read_topic_config(dir: &Path) -> Result<(TopicConfig, Option<u16>)> {
    let meta_path = dir.join(TOPIC_META_FILE);
    let bytes = fs::read(&meta_path).map_err(io_err(&meta_path))?;
    let config = meta::decode_topic(&bytes).map_err(|e| Error::metadata(&meta_path, &e))?;
    config.validate().map_err(|e| {
        Error::corrupt(
            &meta_path,
            0,
            Corruption::Config {
                reason: e.to_string(),
            },
        )
    })?;
    Ok((config, meta::stored_version(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_holds_exactly_this_process_id() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(LOCK_FILE);
        let pid = std::process::id().to_string();
        // A longer id than this one (and trailing garbage) is cut; a shorter one overwritten.
        for old in ["123456789012345678901234567890", "1", ""] {
            fs::write(&path, old)?;
            let mut f = File::options().read(true).write(true).open(&path)?;
            record_pid(&mut f)?;
            assert_eq!(fs::read_to_string(&path)?, pid, "over {old:?}");
        }
        // The same id again: nothing changes.
        let mut f = File::options().read(true).write(true).open(&path)?;
        record_pid(&mut f)?;
        assert_eq!(fs::read_to_string(&path)?, pid);
        Ok(())
    }
}
