//! Consumer groups: committed offsets persisted per group, and in-process membership.
//!
//! A group's committed offsets live in `<topic>/groups/<group>.offsets` (docs/FORMAT.md),
//! replaced atomically on every commit. Membership is in-process only: the members of a group
//! are the [`Consumer`](crate::Consumer)s of this store that joined it.
//!
//! **Assignment rule.** Members are ordered by when they joined; with `n` members, partition
//! `p` belongs to the member at position `p % n` (round-robin). When a member joins or leaves,
//! the generation changes; each member notices on its next poll (waiting polls are woken),
//! releases the partitions it lost (committing them first under auto-commit) and picks up the
//! ones it gained as soon as their previous owner has released them. A partition is never
//! read by two members of a group at once.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::codec::meta;
use crate::error::{Corruption, Error, Result, io_err};
use crate::fsutil;
use crate::hooks::Shared;
use crate::notify::Notifier;

/// Directory of a topic holding its groups' offset files.
pub(crate) const GROUPS_DIR: &str = "groups";
/// Extension of an offsets file.
const OFFSETS_EXT: &str = "offsets";

#[derive(Debug)]
struct State {
    committed: Vec<Option<u64>>,
    /// Member ids in join order.
    members: Vec<u64>,
    next_member: u64,
    generation: u64,
    /// The member currently reading each partition.
    owners: Vec<Option<u64>>,
}

/// One consumer group of one topic.
#[derive(Debug)]
pub(crate) struct Group {
    name: String,
    dir: PathBuf,
    state: Mutex<State>,
    notifier: Arc<Notifier>,
    gate: Arc<Gate>,
}

/// [`Group::try_acquire`]: another member holds the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held;

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

/// Path of a group's offsets file under a topic directory.
fn offsets_path(topic_dir: &Path, group: &str) -> PathBuf {
    topic_dir.join(GROUPS_DIR).join(offsets_file(group))
}

/// Name of a group's offsets file in the groups directory.
fn offsets_file(group: &str) -> String {
    format!("{group}.{OFFSETS_EXT}")
}

/// Name of the temporary file a commit of `group` writes before renaming it into place:
/// `<group>.tmp`, which fits the 255-byte file-name limit for every valid group name (the
/// longer `<group>.offsets.tmp` would not).
fn offsets_tmp_file(group: &str) -> String {
    format!("{group}{}", fsutil::TMP_SUFFIX)
}

/// Replaces group `group`'s offsets file in `groups_dir` (which exists) atomically.
fn write_offsets(groups_dir: &Path, group: &str, committed: &[Option<u64>]) -> Result<()> {
    let bytes = meta::encode_group_offsets(committed);
    fsutil::atomic_write_via(
        groups_dir,
        &offsets_file(group),
        &offsets_tmp_file(group),
        &bytes,
    )
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
    let path = offsets_path(topic_dir, group);
    let Some(bytes) = fsutil::read_optional(&path)? else {
        return Ok(vec![None; partitions as usize]);
    };
    let offsets = meta::decode_group_offsets(&bytes).map_err(|e| Error::metadata(&path, &e))?;
    if offsets.len() != partitions as usize {
        return Err(Error::corrupt(
            path,
            0,
            Corruption::PartitionCount {
                found: offsets.len(),
                expected: partitions,
            },
        ));
    }
    Ok(offsets)
}

/// Names of the groups that committed offsets for the topic in `topic_dir`, sorted.
pub(crate) fn list(topic_dir: &Path) -> Result<Vec<String>> {
    let dir = topic_dir.join(GROUPS_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(&dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some(group) = name.strip_suffix(&format!(".{OFFSETS_EXT}"))
            && crate::names::validate_group_name(group).is_ok()
        {
            names.push(group.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The consumer groups of one topic loaded in this process, shared by the topic (which hands
/// them to consumers) and its partitions (whose truncation lowers their committed offsets).
#[derive(Debug)]
pub(crate) struct Groups {
    topic_dir: PathBuf,
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
    /// No group loaded yet, for the topic in `topic_dir`.
    pub fn new(
        topic_dir: PathBuf,
        partitions: u32,
        notifier: Arc<Notifier>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            gate: Arc::new(Gate::new(&topic_dir)),
            topic_dir,
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
        match read_offsets(&self.topic_dir, name, self.partitions) {
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

    /// Group `name`, loaded from its offsets file the first time.
    ///
    /// # Errors
    /// [`Error::Closed`] once the topic was closed or deleted; as [`Group::load`].
    pub fn get(&self, name: &str) -> Result<Arc<Group>> {
        let mut loaded = self.loaded.lock();
        drop(self.gate.enter()?);
        if let Some(g) = loaded.get(name) {
            return Ok(Arc::clone(g));
        }
        let g = Arc::new(Group::load(
            &self.topic_dir,
            name,
            self.partitions,
            Arc::clone(&self.notifier),
            Arc::clone(&self.gate),
        )?);
        loaded.insert(name.to_owned(), Arc::clone(&g));
        Ok(g)
    }

    /// The topic was closed or deleted: from now on no group writes into its directory, and
    /// no group is handed out. Waits for the commits under way.
    pub fn close(&self) {
        self.gate.shut();
    }

    /// Group `name` if it is loaded.
    pub fn loaded(&self, name: &str) -> Option<Arc<Group>> {
        self.loaded.lock().get(name).cloned()
    }

    /// The offset of partition `p` below which every group of the topic has committed, or
    /// `None` if the topic has no group: what consumer-aware retention must keep. The groups
    /// are those with an offsets file and those with members in this process (a live
    /// consumer), whether or not they have a file yet; a group that never committed on `p`,
    /// or whose file is damaged (reported, see `read_tolerant`), counts as 0.
    ///
    /// # Errors
    /// [`Error::Io`] if the groups directory or a file cannot be read.
    fn consumed_floor_of(&self, p: u32) -> Result<Option<u64>> {
        let mut floor: Option<u64> = None;
        let mut hold = |c: Option<u64>| {
            let c = c.unwrap_or(0);
            floor = Some(floor.map_or(c, |f| f.min(c)));
        };
        for name in list(&self.topic_dir)? {
            let committed = self.read_tolerant(&name)?;
            hold(committed.and_then(|c| c.get(p as usize).copied().flatten()));
        }
        for g in self.loaded.lock().values() {
            let st = g.state.lock();
            if !st.members.is_empty() {
                hold(st.committed.get(p as usize).copied().flatten());
            }
        }
        Ok(floor)
    }

    /// Partition `p` was truncated to `cut`: every group's committed offset for it above
    /// `cut` becomes `cut`, in memory and on disk, so that no group skips the records
    /// appended from the cut on. Idempotent (truncation replays it after a crash). A damaged
    /// offsets file is reported and left alone (see `read_tolerant`): it holds no offset to
    /// lower.
    ///
    /// # Errors
    /// [`Error::Io`] reading or writing an offsets file.
    fn lower_all(&self, p: u32, cut: u64) -> Result<()> {
        // Held throughout: no group is loaded from a file while it is being rewritten.
        let loaded = self.loaded.lock();
        for name in list(&self.topic_dir)? {
            if let Some(g) = loaded.get(&name) {
                g.lower(p, cut)?;
                continue;
            }
            let Some(mut committed) = self.read_tolerant(&name)? else {
                continue;
            };
            if let Some(slot) = committed.get_mut(p as usize)
                && slot.is_some_and(|o| o > cut)
            {
                *slot = Some(cut);
                let _open = self.gate.enter()?;
                write_offsets(&self.topic_dir.join(GROUPS_DIR), &name, &committed)?;
            }
        }
        Ok(())
    }
}

impl Group {
    /// Loads the group's committed offsets.
    pub fn load(
        topic_dir: &Path,
        name: &str,
        partitions: u32,
        notifier: Arc<Notifier>,
        gate: Arc<Gate>,
    ) -> Result<Self> {
        let committed = read_offsets(topic_dir, name, partitions)?;
        // A commit interrupted before its rename: the committed file is the truth. (Builds
        // before group names were limited to 247 characters wrote `<group>.offsets.tmp`.)
        let groups = topic_dir.join(GROUPS_DIR);
        fsutil::remove_if_exists(&groups.join(offsets_tmp_file(name)))?;
        if name.len() + OFFSETS_EXT.len() + 1 + fsutil::TMP_SUFFIX.len() <= 255 {
            let legacy = format!("{}{}", offsets_file(name), fsutil::TMP_SUFFIX);
            fsutil::remove_if_exists(&groups.join(legacy))?;
        }
        Ok(Self {
            name: name.to_owned(),
            dir: topic_dir.join(GROUPS_DIR),
            state: Mutex::new(State {
                committed,
                members: Vec::new(),
                next_member: 0,
                generation: 0,
                owners: vec![None; partitions as usize],
            }),
            notifier,
            gate,
        })
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Committed offsets, one per partition.
    pub fn committed(&self) -> Vec<Option<u64>> {
        self.state.lock().committed.clone()
    }

    /// Records `offsets` (partition, next offset to read) as committed, durably.
    pub fn commit(&self, offsets: &[(u32, u64)]) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut st = self.state.lock();
        self.commit_locked(&mut st, offsets)
    }

    /// Lowers the committed offset of partition `p` to `cut` if it is above it (the
    /// partition was truncated there), durably.
    pub fn lower(&self, p: u32, cut: u64) -> Result<()> {
        let mut st = self.state.lock();
        match st.committed.get(p as usize) {
            Some(Some(o)) if *o > cut => self.commit_locked(&mut st, &[(p, cut)]),
            _ => Ok(()),
        }
    }

    fn commit_locked(&self, st: &mut State, offsets: &[(u32, u64)]) -> Result<()> {
        let mut next = st.committed.clone();
        for &(p, o) in offsets {
            if let Some(slot) = next.get_mut(p as usize) {
                *slot = Some(o);
            }
        }
        if next == st.committed {
            return Ok(());
        }
        // Held until the file is in place: a close or deletion of the topic waits for it.
        let _open = self.gate.enter()?;
        if !self.dir.is_dir() {
            // Only `groups/` itself: a topic directory that is gone stays gone.
            match fs::create_dir(&self.dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(&self.dir)(e)),
            }
            if let Some(topic_dir) = self.dir.parent() {
                fsutil::sync_dir(topic_dir)?;
            }
        }
        write_offsets(&self.dir, &self.name, &next)?;
        st.committed = next;
        Ok(())
    }

    /// Adds a member; returns its id.
    pub fn join(&self) -> u64 {
        let id = {
            let mut st = self.state.lock();
            let id = st.next_member;
            st.next_member += 1;
            st.members.push(id);
            st.generation += 1;
            id
        };
        self.notifier.notify();
        id
    }

    /// Removes a member and releases its partitions.
    pub fn leave(&self, member: u64) {
        {
            let mut st = self.state.lock();
            st.members.retain(|&m| m != member);
            for o in &mut st.owners {
                if *o == Some(member) {
                    *o = None;
                }
            }
            st.generation += 1;
        }
        self.notifier.notify();
    }

    /// The current generation and the partitions the rule assigns to `member`.
    pub fn assignment(&self, member: u64) -> (u64, Vec<u32>) {
        let st = self.state.lock();
        let n = st.members.len();
        let assigned = match st.members.iter().position(|&m| m == member) {
            Some(i) => (0u32..)
                .take(st.owners.len())
                .filter(|p| *p as usize % n == i)
                .collect(),
            None => Vec::new(),
        };
        (st.generation, assigned)
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.state.lock().generation
    }

    /// Takes partition `p` for `member` if nobody else reads it; returns the committed offset
    /// to start from (`Ok(None)`: never committed), or [`Held`] while another member has it
    /// (or `p` is not a partition of the topic).
    pub fn try_acquire(&self, member: u64, p: u32) -> Result<Option<u64>, Held> {
        let mut st = self.state.lock();
        let slot = st.owners.get_mut(p as usize).ok_or(Held)?;
        match *slot {
            Some(owner) if owner != member => Err(Held),
            _ => {
                *slot = Some(member);
                Ok(st.committed.get(p as usize).copied().flatten())
            }
        }
    }

    /// True if partition `p` is free for `member` to take.
    pub fn is_free_for(&self, member: u64, p: u32) -> bool {
        let st = self.state.lock();
        st.owners
            .get(p as usize)
            .is_some_and(|o| o.is_none_or(|o| o == member))
    }

    /// Gives partition `p` up.
    pub fn release(&self, member: u64, p: u32) {
        {
            let mut st = self.state.lock();
            if let Some(slot) = st.owners.get_mut(p as usize)
                && *slot == Some(member)
            {
                *slot = None;
            }
        }
        self.notifier.notify();
    }
}
