//! Consumer groups: committed offsets persisted per group, and membership through `flock`
//! locks, shared by every process and every consumer that opens the topic's directory.
//!
//! A group's committed offsets live in `<topic>/groups/<group>.offsets` (docs/FORMAT.md 7.4),
//! replaced atomically under the group's commit lock ([`offsets`]). Membership, partition
//! ownership and commits are coordinated by lock files in `<topic>/groups/<group>.locks/`
//! ([`locks`], [`member`]): each [`Consumer`](crate::Consumer) is one [`member::Member`],
//! whether the other members are in this process or another.
//!
//! **Assignment rule.** The live members are ranked by member slot (the lowest free slot when
//! they joined); with `n` members, partition `p` belongs to the member of rank `p % n`. A
//! member probes the membership at most every `ConsumerConfig::rebalance_interval` (at once
//! when a member of this process joins, leaves or releases a partition), releases the
//! partitions it lost (committing them first under auto-commit) and takes the ones it gained
//! as soon as their previous owner has released them. A partition is never read by two
//! members of a group at once.

pub(crate) mod locks;
pub mod member;
pub(crate) mod offsets;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use self::member::{Acquire, Held, Member};
pub(crate) use self::offsets::GROUPS_DIR;
use crate::error::{Error, Result};
use crate::hooks::Shared;
use crate::notify::Notifier;

/// Whether the groups of a topic may still write into its directory. `delete_topic` and
/// `Store::close` shut it (waiting for the writes under way), so that no handle that outlives
/// them writes into a directory that was deleted, re-created or opened by another store.
#[derive(Debug)]
pub(crate) struct Gate {
    topic: String,
    open: RwLock<bool>,
}

impl Gate {
    fn new(topic_dir: &Path) -> Self {
        let topic = topic_dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        Self {
            topic,
            open: RwLock::new(true),
        }
    }

    /// Holds the gate open for one write; `Error::Closed` once it is shut.
    fn enter(&self) -> Result<RwLockReadGuard<'_, bool>> {
        let open = self.open.read();
        if *open {
            Ok(open)
        } else {
            Err(Error::Closed(format!("topic {:?}", self.topic)))
        }
    }

    /// Shuts the gate once the writes under way are done.
    fn shut(&self) {
        *self.open.write() = false;
    }
}

/// Reads a group's committed offsets; `None` for every partition if it never committed.
///
/// # Errors
/// [`Error::Corrupt`] if the file is damaged or written for another partition count.
pub(crate) fn read_offsets(
    topic_dir: &Path,
    group: &str,
    partitions: u32,
) -> Result<Vec<Option<u64>>> {
    offsets::read(&topic_dir.join(GROUPS_DIR), group, partitions)
}

/// Names of the groups that committed offsets for the topic in `topic_dir`, sorted.
pub(crate) fn list(topic_dir: &Path) -> Result<Vec<String>> {
    offsets::list(&topic_dir.join(GROUPS_DIR))
}

/// The consumer groups of one topic as this process uses them, shared by the topic (which
/// hands them to consumers) and its partitions (whose truncation lowers their committed
/// offsets).
#[derive(Debug)]
pub(crate) struct Groups {
    /// `<topic>/groups`.
    dir: PathBuf,
    partitions: u32,
    notifier: Arc<Notifier>,
    loaded: Mutex<HashMap<String, Arc<Group>>>,
    gate: Arc<Gate>,
    /// The store's background error log, where damaged offsets files are reported.
    shared: Arc<Shared>,
    /// Groups whose offsets file was found damaged and reported (once until it reads again).
    damaged: Mutex<HashSet<String>>,
}

impl crate::partition::ConsumerGroups for Groups {
    fn consumed_floor(&self, partition: u32) -> Result<Option<u64>> {
        self.consumed_floor_of(partition)
    }

    fn lower(&self, partition: u32, cut: u64) -> Result<()> {
        self.lower_all(partition, cut)
    }
}

impl Groups {
    /// No group used yet, for the topic in `topic_dir`.
    pub fn new(
        topic_dir: PathBuf,
        partitions: u32,
        notifier: Arc<Notifier>,
        shared: Arc<Shared>,
    ) -> Self {
        let gate = Arc::new(Gate::new(&topic_dir));
        let mut dir = topic_dir;
        dir.push(GROUPS_DIR);
        Self {
            gate,
            dir,
            partitions,
            notifier,
            loaded: Mutex::new(HashMap::new()),
            shared,
            damaged: Mutex::new(HashSet::new()),
        }
    }

    /// Group `name`'s offsets from its file, for work that must not stop at one damaged file
    /// (truncation, retention): a file that does not decode, or was written for another
    /// partition count, is reported to the store's error log (once, until it reads again) and
    /// gives `None`, the group then counting as having no committed offsets. The file is left
    /// as it is; joining that group still fails with `Error::Corrupt`.
    fn read_tolerant(&self, name: &str) -> Result<Option<Vec<Option<u64>>>> {
        match offsets::read(&self.dir, name, self.partitions) {
            Ok(offsets) => {
                self.damaged.lock().remove(name);
                Ok(Some(offsets))
            }
            Err(e @ Error::Corrupt { .. }) => {
                if self.damaged.lock().insert(name.to_owned()) {
                    self.shared.report(format!(
                        "{e}; group {name:?} counts as having committed nothing until the \
                         file is repaired or removed"
                    ));
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// This process's handle of group `name` (one per name, shared by its consumers).
    ///
    /// # Errors
    /// [`Error::Closed`] once the topic was closed or deleted.
    pub fn get(&self, name: &str) -> Result<Arc<Group>> {
        let mut loaded = self.loaded.lock();
        drop(self.gate.enter()?);
        let g = loaded.entry(name.to_owned()).or_insert_with(|| {
            Arc::new(Group {
                name: name.to_owned(),
                groups_dir: self.dir.clone(),
                partitions: self.partitions,
                notifier: Arc::clone(&self.notifier),
                gate: Arc::clone(&self.gate),
                epoch: AtomicU64::new(0),
                members: Mutex::new(Vec::new()),
            })
        });
        Ok(Arc::clone(g))
    }

    /// The topic was closed or deleted: from now on no group writes into its directory, and
    /// no group is handed out. Waits for the commits under way, then ends the membership of
    /// this process's consumers of the topic (their locks are released, their polls return
    /// `Error::Closed`), so that members of a store opened later, or of another process,
    /// take the partitions over.
    pub fn close(&self) {
        self.gate.shut();
        for g in self.loaded.lock().values() {
            g.end_all();
        }
    }

    /// The offset of partition `p` below which every group of the topic has committed, or
    /// `None` if the topic has no group: what consumer-aware retention must keep. The groups
    /// are those with an offsets file and those with a live member (in any process), whether
    /// or not they have a file yet; a group that never committed on `p`, or whose file is
    /// damaged (reported, see `read_tolerant`), counts as 0.
    ///
    /// # Errors
    /// [`Error::Io`] if the groups directory or a file cannot be read.
    fn consumed_floor_of(&self, p: u32) -> Result<Option<u64>> {
        let mut floor: Option<u64> = None;
        let mut hold = |c: Option<u64>| {
            let c = c.unwrap_or(0);
            floor = Some(floor.map_or(c, |f| f.min(c)));
        };
        let with_file = offsets::list(&self.dir)?;
        for name in &with_file {
            let committed = self.read_tolerant(name)?;
            hold(committed.and_then(|c| c.get(p as usize).copied().flatten()));
        }
        for name in locks::groups_with_lock_dirs(&self.dir)? {
            if !with_file.contains(&name)
                && !locks::live_slots(&locks::lock_dir(&self.dir, &name), None)?.is_empty()
            {
                hold(None);
            }
        }
        Ok(floor)
    }

    /// Partition `p` was truncated to `cut`: every group's committed offset for it above
    /// `cut` becomes `cut`, on disk, under each group's commit lock, so that no group skips
    /// the records appended from the cut on. Idempotent (truncation replays it after a
    /// crash). A damaged offsets file is reported and left alone (see `read_tolerant`): it
    /// holds no offset to lower.
    ///
    /// # Errors
    /// [`Error::Io`] reading or writing an offsets file; [`Error::Closed`] once the topic
    /// was closed.
    fn lower_all(&self, p: u32, cut: u64) -> Result<()> {
        for name in offsets::list(&self.dir)? {
            // Held until the file is in place: a close or deletion of the topic waits for it.
            let _open = self.gate.enter()?;
            offsets::with_commit_lock(&self.dir, &name, || {
                let Some(mut committed) = self.read_tolerant(&name)? else {
                    return Ok(());
                };
                if let Some(slot) = committed.get_mut(p as usize)
                    && slot.is_some_and(|o| o > cut)
                {
                    *slot = Some(cut);
                    offsets::write(&self.dir, &name, &committed)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// One consumer group of one topic, as this process's consumers share it: the group's files
/// behind the topic's gate, and a counter that lets the members in this process notice each
/// other's changes at once instead of at their next periodic probe.
#[derive(Debug)]
pub(crate) struct Group {
    name: String,
    groups_dir: PathBuf,
    partitions: u32,
    notifier: Arc<Notifier>,
    gate: Arc<Gate>,
    /// Bumped whenever a member in this process joins, leaves or releases a partition.
    epoch: AtomicU64,
    /// The locks of this process's members, released when the topic closes.
    members: Mutex<Vec<Weak<Mutex<Held>>>>,
}

impl Group {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Joins the group as a new member (see [`Member::join`]).
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the group's offsets file is damaged (nothing is joined then);
    /// [`Error::Closed`] once the topic was closed or deleted; [`Error::Io`].
    pub fn join(&self) -> Result<Member> {
        let _open = self.gate.enter()?;
        offsets::read(&self.groups_dir, &self.name, self.partitions)?;
        let m = Member::join(&self.groups_dir, &self.name, self.partitions)?;
        {
            let mut members = self.members.lock();
            members.retain(|w| w.strong_count() > 0);
            members.push(Arc::downgrade(m.held()));
        }
        self.changed();
        Ok(m)
    }

    /// The count of membership changes in this process so far.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Whether the topic was closed or deleted.
    pub fn is_closed(&self) -> bool {
        self.gate.enter().is_err()
    }

    /// Takes partition `p` for `member` if it is free (see [`Member::try_acquire`]);
    /// `Held` as well once the topic was closed (no lock file is created then).
    ///
    /// # Errors
    /// As [`Member::try_acquire`].
    pub fn try_acquire(&self, member: &mut Member, p: u32) -> Result<Acquire> {
        let Ok(_open) = self.gate.enter() else {
            return Ok(Acquire::Held);
        };
        member.try_acquire(p)
    }

    /// Lets `member`'s partition `p` go, and tells the other members in this process.
    pub fn release(&self, member: &mut Member, p: u32) {
        if member.release(p) {
            self.changed();
        }
    }

    /// Commits `offsets` of partitions `member` owns (see [`Member::commit`]).
    ///
    /// # Errors
    /// [`Error::Closed`] once the topic was closed or deleted (nothing is written); as
    /// [`Member::commit`].
    pub fn commit(&self, member: &Member, offsets: &[(u32, u64)]) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        // Held until the file is in place: a close or deletion of the topic waits for it.
        let _open = self.gate.enter()?;
        member.commit(offsets)?;
        Ok(())
    }

    /// `member` leaves the group: its partitions and slot are unlocked, and the other
    /// members in this process are told.
    pub fn leave(&self, member: &mut Member) {
        member.leave();
        self.changed();
    }

    /// Ends every membership of this process (the topic closed).
    fn end_all(&self) {
        for held in self.members.lock().drain(..) {
            if let Some(held) = held.upgrade() {
                held.lock().clear();
            }
        }
        self.changed();
    }

    fn changed(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.notifier.notify();
    }
}
