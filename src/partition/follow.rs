//! Following a writer in another process: how a reader process's partition catches up with
//! the partition's slot in the topic's live state file (`live.rs`, FORMAT.md 7.8).
//!
//! A refresh costs three loads when nothing changed. Otherwise, under the follower's mutex:
//! * while the writer changes segment files (`CHANGING` nonzero) nothing is taken: the
//!   reader keeps the list, tail and start it has, all of which stay readable (files are
//!   replaced by rename and removed by unlink, never shortened below what was published);
//! * the tail and cold parts are read (seqlocks); if the list generation, the active base or
//!   the writer session moved, the directory is listed again: segments up to the active
//!   base, wholly above the start, each reused if its three files are the same inodes as
//!   before, else mapped anew (sealed: as they are; active: at capacity, up to the published
//!   lengths, which are checked against the files);
//! * the listing counts only if the generation did not move and nothing was changing
//!   meanwhile; otherwise it is tried again;
//! * it is published in the writer's order: the active segment's log, next offset and
//!   indexes; the list; the start; a truncation (as a cut); the partition's next offset.
//!
//! Invariants: a segment core that was active here and is sealed now keeps its identity (an
//! iterator holding it reads its last batches through it) and gets its final lengths; a
//! watermark never passes a length the writer published, nor the file's length.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Partition;
use super::published::{Follow, Published};
use crate::codec::live::State;
use crate::config::TopicConfig;
use crate::error::{Error, Result, io_err};
use crate::live::{Cold, LiveFile, Tail};
use crate::notify::Notifier;
use crate::segment::SegmentPaths;
use crate::segment::core::SegmentCore;
use crate::segment::files::{LOG_EXT, parse_file_name};
use crate::segment::open::{open_active_follower, open_sealed_follower, set_sealed_max_timestamp};
use crate::segment::writer::Limits;

/// How many times a refresh lists the directory again when the writer changed it meanwhile,
/// before it keeps what it had until the next refresh.
const LIST_TRIES: usize = 8;

/// The identity of a segment's three files: (device, inode) of each.
type FileIds = [(u64, u64); 3];

/// A reader process's follower of one partition.
#[derive(Debug)]
pub(crate) struct Follower {
    live: Arc<LiveFile>,
    partition: u32,
    dir: PathBuf,
    limits: Limits,
    verify_checksums: bool,
    /// The slot's versions, the session and the topic's state when last applied: the fast
    /// path compares.
    seen: [AtomicU64; 5],
    state: Mutex<Applied>,
}

/// What the follower last applied.
#[derive(Debug, Default)]
struct Applied {
    generation: u64,
    session: u64,
    epoch: u64,
    active_base: Option<u64>,
    cores: Vec<(Arc<SegmentCore>, FileIds)>,
    /// The last refresh failed: readers get this error until one succeeds.
    failure: Option<(PathBuf, std::io::ErrorKind, String)>,
}

impl Follower {
    /// A follower of partition `partition` in `dir`, not yet refreshed.
    pub fn new(
        live: Arc<LiveFile>,
        partition: u32,
        dir: PathBuf,
        limits: Limits,
        verify_checksums: bool,
    ) -> Self {
        Self {
            live,
            partition,
            dir,
            limits,
            verify_checksums,
            seen: Default::default(),
            state: Mutex::new(Applied {
                generation: u64::MAX,
                ..Applied::default()
            }),
        }
    }

    /// The first refresh of a partition being opened: `Ok(true)` once it applied a
    /// listing, `Ok(false)` while the writer changes files (the caller waits for it).
    ///
    /// # Errors
    /// What listing and mapping the files met.
    pub fn first_refresh(&self, log: &Published) -> Result<bool> {
        let mut st = self.state.lock();
        self.refresh_locked(&mut st, log)?;
        Ok(st.active_base.is_some())
    }

    fn versions(&self) -> [u64; 5] {
        let [t, c, g] = self.live.versions(self.partition);
        let state = self.live.state().map_or(u64::MAX, |s| s as u64);
        [t, c, g, self.live.session(), state]
    }

    fn refresh_locked(&self, st: &mut Applied, log: &Published) -> Result<()> {
        let seen = self.versions();
        for _ in 0..LIST_TRIES {
            let (generation, changing) = self.live.list_state(self.partition);
            if changing != 0 {
                return Ok(());
            }
            let (Some(tail), Some(cold)) = (
                self.live.tail(self.partition),
                self.live.cold(self.partition),
            ) else {
                if !self.live.writer_alive() {
                    // The writer died in the middle of a write: nothing to follow until the
                    // next one starts (a new session changes the versions).
                    for (w, v) in self.seen.iter().zip(seen) {
                        w.store(v, Ordering::Release);
                    }
                }
                return Ok(());
            };
            let session = seen[3];
            let relist = generation != st.generation
                || session != st.session
                || st.active_base != Some(tail.active_base);
            let listed = if relist {
                match self.list(st, &tail, &cold) {
                    Ok(l) => Some(l),
                    // Files vanished or changed under the listing: the writer moved on; the
                    // generation tells below.
                    Err(e) if self.live.list_state(self.partition) != (generation, 0) => {
                        drop(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            } else {
                None
            };
            if self.live.list_state(self.partition) != (generation, 0) {
                continue;
            }
            Self::apply(st, log, &tail, &cold, listed)?;
            st.generation = generation;
            st.session = session;
            for (w, v) in self.seen.iter().zip(seen) {
                w.store(v, Ordering::Release);
            }
            if self.live.state() == Some(State::Deleted) {
                log.end();
            }
            return Ok(());
        }
        Ok(())
    }

    /// Lists the segments the slot describes and maps what is new.
    fn list(
        &self,
        st: &Applied,
        tail: &Tail,
        cold: &Cold,
    ) -> Result<Vec<(Arc<SegmentCore>, FileIds)>> {
        let mut bases: Vec<u64> = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            if let Some(name) = entry.file_name().to_str()
                && let Some((base, LOG_EXT)) = parse_file_name(name)
                && base <= tail.active_base
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        // Segments wholly below the start are gone for readers (their files may be too).
        let below = bases
            .windows(2)
            .take_while(|pair| pair[1] <= cold.start)
            .count();
        bases.drain(..below);
        if bases.last() != Some(&tail.active_base) {
            return Err(missing(&self.dir, tail.active_base));
        }
        let old: HashMap<u64, &(Arc<SegmentCore>, FileIds)> =
            st.cores.iter().map(|c| (c.0.base, c)).collect();
        let mut out = Vec::with_capacity(bases.len());
        for (i, &base) in bases.iter().enumerate() {
            let paths = SegmentPaths::new(&self.dir, base);
            let ids = file_ids(&paths)?;
            let next_base = bases.get(i + 1).copied();
            if let Some(&(core, old_ids)) = old.get(&base)
                && *old_ids == ids
            {
                if let Some(nb) = next_base
                    && st.active_base == Some(base)
                {
                    seal(core, nb, tail)?;
                }
                out.push((Arc::clone(core), ids));
                continue;
            }
            let core = match next_base {
                Some(nb) => {
                    let len = tail.sealed.filter(|s| s.base == base).map(|s| s.log_len);
                    open_sealed_follower(paths, base, nb, len, self.verify_checksums)?
                }
                None => open_active_follower(
                    paths,
                    base,
                    &self.limits,
                    [tail.log_len, tail.index_len, tail.time_len],
                    tail.next_offset,
                    tail.max_timestamp,
                    self.verify_checksums,
                )?,
            };
            out.push((Arc::new(core), ids));
        }
        Ok(out)
    }

    /// Publishes a consistent view of the slot into `log`, in the writer's order.
    fn apply(
        st: &mut Applied,
        log: &Published,
        tail: &Tail,
        cold: &Cold,
        listed: Option<Vec<(Arc<SegmentCore>, FileIds)>>,
    ) -> Result<()> {
        let cores = listed.as_ref().unwrap_or(&st.cores);
        if let Some((active, _)) = cores.last() {
            follow_active(active, tail)?;
        }
        if let Some(list) = listed {
            let segs: Vec<Arc<SegmentCore>> = list.iter().map(|(c, _)| Arc::clone(c)).collect();
            log.replace_segments(|_| segs);
            st.cores = list;
            st.active_base = Some(tail.active_base);
        }
        log.raise_start(cold.start);
        let local_end = log.next_offset_now();
        let cut = if cold.epoch > st.epoch && st.session != 0 {
            cold.lowest_cut_since(st.epoch).or(Some(tail.next_offset))
        } else if tail.next_offset < local_end {
            // Fewer records than this reader saw, with no truncation recorded (a writer
            // session that recovered less): readers move back as after one.
            Some(tail.next_offset)
        } else {
            None
        };
        st.epoch = cold.epoch;
        if let Some(target) = cut.filter(|&t| t < local_end) {
            log.publish_cut(target);
        }
        log.follow_end(tail.next_offset);
        st.failure = None;
        Ok(())
    }
}

impl Follow for Follower {
    fn durable(&self) -> u64 {
        self.live.cold(self.partition).map_or(0, |c| c.durable)
    }

    fn failure(&self) -> Option<Error> {
        self.state
            .lock()
            .failure
            .as_ref()
            .map(|(path, kind, msg)| Error::Io {
                path: path.clone(),
                source: std::io::Error::new(*kind, msg.clone()),
            })
    }

    #[inline]
    fn refresh(&self, log: &Published) {
        let now = self.versions();
        if self
            .seen
            .iter()
            .zip(now)
            .all(|(s, v)| s.load(Ordering::Acquire) == v)
        {
            return;
        }
        self.refresh_slow(log);
    }
}

impl Follower {
    #[cold]
    #[inline(never)]
    fn refresh_slow(&self, log: &Published) {
        let mut st = self.state.lock();
        if let Err(e) = self.refresh_locked(&mut st, log) {
            let (path, kind) = match &e {
                Error::Io { path, source } => (path.clone(), source.kind()),
                _ => (self.dir.clone(), std::io::ErrorKind::InvalidData),
            };
            st.failure = Some((path, kind, e.to_string()));
        }
    }
}

/// Raises the active segment's watermarks to the tail: log first, then its next offset and
/// largest timestamp, then its indexes (the writer's publication order).
fn follow_active(core: &SegmentCore, tail: &Tail) -> Result<()> {
    let follow = |m: &crate::mmap::Mapping, len: u64, path: &Path| {
        m.follow(crate::num::usize_from(len)).map_err(io_err(path))
    };
    follow(&core.log, tail.log_len, &core.paths.log)?;
    core.max_timestamp
        .fetch_max(tail.max_timestamp, Ordering::AcqRel);
    core.next_offset
        .fetch_max(tail.next_offset, Ordering::AcqRel);
    follow(&core.index, tail.index_len, &core.paths.index)?;
    follow(&core.time, tail.time_len, &core.paths.time)
}

/// Gives a core that was active here and is sealed now its final lengths: those the writer
/// published with the roll if it was the segment sealed last, else its files' lengths
/// (trimmed to exactly what was published when it was sealed).
fn seal(core: &SegmentCore, next_base: u64, tail: &Tail) -> Result<()> {
    let (lens, max_ts) = if let Some(s) = tail.sealed.filter(|s| s.base == core.base) {
        ([s.log_len, s.index_len, s.time_len], Some(s.max_timestamp))
    } else {
        let len = |p: &Path| fs::metadata(p).map(|m| m.len()).map_err(io_err(p));
        let entries = |p: &Path, n: u64| len(p).map(|l| l - l % n);
        (
            [
                len(&core.paths.log)?,
                entries(
                    &core.paths.index,
                    crate::codec::index::OFFSET_ENTRY_LEN as u64,
                )?,
                entries(&core.paths.time, crate::codec::index::TIME_ENTRY_LEN as u64)?,
            ],
            None,
        )
    };
    let final_tail = Tail {
        active_base: core.base,
        next_offset: next_base,
        log_len: lens[0],
        index_len: lens[1],
        time_len: lens[2],
        max_timestamp: max_ts.unwrap_or(i64::MIN),
        sealed: None,
    };
    follow_active(core, &final_tail)?;
    if max_ts.is_none() {
        set_sealed_max_timestamp(core, core.base, next_base);
    }
    Ok(())
}

/// (device, inode) of a segment's three files.
fn file_ids(paths: &SegmentPaths) -> Result<FileIds> {
    let id = |p: &Path| -> Result<(u64, u64)> {
        let m = fs::metadata(p).map_err(io_err(p))?;
        Ok(inode(&m))
    };
    Ok([id(&paths.log)?, id(&paths.index)?, id(&paths.time)?])
}

#[cfg(unix)]
fn inode(m: &fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn inode(m: &fs::Metadata) -> (u64, u64) {
    (m.len(), 0)
}

fn missing(dir: &Path, base: u64) -> Error {
    io_err(SegmentPaths::new(dir, base).log)(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the active segment the writer published is not in the directory",
    ))
}

/// How long a read-only open waits for a writer that is opening the topic or changing a
/// partition's files before it reports [`Error::NeedsRecovery`].
const OPEN_WAIT: Duration = Duration::from_secs(60);

/// Opens partition `id` of a read-only topic: a published log that follows the writer
/// process through `live`. Waits while the writer changes the partition's files.
///
/// # Errors
/// [`Error::NeedsRecovery`] if the writer stopped in the middle of a change (or did not
/// finish within a minute); what listing and mapping the files met.
pub(crate) fn open(
    topic: Arc<str>,
    id: u32,
    dir: PathBuf,
    config: &TopicConfig,
    live: &Arc<LiveFile>,
    notifier: Arc<Notifier>,
) -> Result<Partition> {
    let follower = Arc::new(Follower::new(
        Arc::clone(live),
        id,
        dir.clone(),
        Limits::new(config),
        config.verify_checksums,
    ));
    let log = Published::new(Vec::new(), 0, 0, notifier)
        .with_follow(Arc::clone(&follower) as Arc<dyn Follow>);
    let deadline = Instant::now() + OPEN_WAIT;
    while !follower.first_refresh(&log)? {
        if !live.writer_alive() || Instant::now() >= deadline {
            return Err(Error::NeedsRecovery {
                path: live.path().to_path_buf(),
                reason: format!(
                    "the writer {} in the middle of changing partition {id}'s files",
                    if live.writer_alive() {
                        "is still"
                    } else {
                        "stopped"
                    }
                ),
            });
        }
        live.nap(Duration::from_millis(100));
    }
    Ok(Partition::from_follower(topic, id, dir, log))
}
