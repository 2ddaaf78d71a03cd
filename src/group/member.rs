//! One member of a consumer group as the group's files see it: its member slot, the
//! partitions it owns and its commits. It works on a `groups/` directory alone, so members in
//! different processes, or several in one, coordinate through the kernel's `flock` locks
//! only (see [`locks`](super::locks) and docs/DESIGN.md section 9).
//!
//! * **Membership.** A member holds the exclusive lock of a member slot file, the lowest free
//!   one when it joined. The live members are the slots whose lock is held; the kernel
//!   releases the lock when the member's process dies, however it dies.
//! * **Assignment** is a pure function of the sorted live slots ([`assignment`]): with `n`
//!   live slots, partition `p` belongs to the member of rank `p % n`. Members that probed at
//!   different moments may briefly disagree; ownership keeps that safe.
//! * **Ownership.** A member reads or commits partition `p` only while it holds the exclusive
//!   lock of `p`'s ownership lock file. It takes a partition only when the lock is free, and
//!   then starts from the committed offset read from disk at that moment.
//! * **Commits** rewrite the offsets file under the group's commit lock: read the file as it
//!   is, replace the slots of the partitions this member owns, write, rename. Commits of
//!   different members never overwrite each other's partitions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::locks::{self, Lock};
use super::offsets;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::names::validate_group_name;

/// The partitions (of `partitions`) that the member at slot `me` reads when the live member
/// slots are `live`: ranked by slot number, the member of rank `r` out of `n` gets every
/// partition `p` with `p % n == r`. Empty if `me` is not in `live`.
#[must_use]
pub fn assignment(live: &[u64], me: u64, partitions: u32) -> Vec<u32> {
    let mut sorted = live.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let Some(rank) = sorted.iter().position(|&s| s == me) else {
        return Vec::new();
    };
    let n = sorted.len();
    (0..partitions)
        .filter(|&p| p as usize % n == rank)
        .collect()
}

/// What [`Member::try_acquire`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// The partition is now the member's. The group's committed offset for it, read from
    /// disk after its ownership lock was taken (`None`: never committed).
    Taken(Option<u64>),
    /// Another member holds it.
    Held,
}

/// The locks a member holds. Shared with the group's handle in this process, so that closing
/// or deleting the topic can end the membership of consumers that outlive it.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// `None` once the member left.
    slot: Option<Lock>,
    /// The partitions whose ownership lock the member holds.
    owned: BTreeMap<u32, Lock>,
}

impl Held {
    /// Unlocks every owned partition, then the member slot.
    pub(crate) fn clear(&mut self) {
        self.owned.clear();
        self.slot = None;
    }
}

/// A member of a consumer group, as a set of `flock` locks in the topic's `groups/`
/// directory (module docs). Dropping it leaves the group: its partitions, then its slot, are
/// unlocked.
#[derive(Debug)]
pub struct Member {
    groups_dir: PathBuf,
    /// `<group>.locks` in `groups_dir`.
    locks: PathBuf,
    group: String,
    partitions: u32,
    slot: u64,
    held: Arc<Mutex<Held>>,
    /// Live slots at the last probe, ascending.
    live: Vec<u64>,
    /// What [`assignment`] gave this member at the last probe.
    assigned: Vec<u32>,
}

impl Member {
    /// Joins group `group` of a topic with `partitions` partitions, whose groups directory is
    /// `groups_dir` (created if missing, its parent fsynced so that the directory outlives a
    /// power loss before any offsets file is written in it): takes the lowest free member
    /// slot, removes a leftover `<group>.tmp` under the commit lock, and probes the live
    /// members. Owns no partition yet.
    ///
    /// # Errors
    /// [`Error::InvalidTopicName`] for a bad group name; [`Error::InvalidConfig`] for zero
    /// partitions; [`Error::Io`] if a directory or lock file cannot be created or locked.
    pub fn join(groups_dir: &Path, group: &str, partitions: u32) -> Result<Self> {
        validate_group_name(group)?;
        if partitions == 0 {
            return Err(Error::InvalidConfig(
                "a consumer group needs at least one partition".into(),
            ));
        }
        locks::ensure_dir(groups_dir)?;
        if let Some(topic_dir) = groups_dir.parent().filter(|d| !d.as_os_str().is_empty()) {
            fsutil::sync_dir(topic_dir)?;
        }
        let lock_dir = locks::lock_dir(groups_dir, group);
        locks::ensure_dir(&lock_dir)?;
        let (slot, slot_lock) = locks::take_slot(&lock_dir)?;
        offsets::with_commit_lock(groups_dir, group, || offsets::remove_tmp(groups_dir, group))?;
        let mut m = Self {
            groups_dir: groups_dir.to_owned(),
            locks: lock_dir,
            group: group.to_owned(),
            partitions,
            slot,
            held: Arc::new(Mutex::new(Held {
                slot: Some(slot_lock),
                owned: BTreeMap::new(),
            })),
            live: Vec::new(),
            assigned: Vec::new(),
        };
        m.probe()?;
        Ok(m)
    }

    /// The group's name.
    #[must_use]
    pub fn group(&self) -> &str {
        &self.group
    }

    /// This member's slot number.
    #[must_use]
    pub fn slot(&self) -> u64 {
        self.slot
    }

    /// The live member slots found by the last [`probe`](Self::probe), ascending.
    #[must_use]
    pub fn live(&self) -> &[u64] {
        &self.live
    }

    /// The partitions this member should own according to the last probe, ascending.
    #[must_use]
    pub fn assigned(&self) -> &[u32] {
        &self.assigned
    }

    /// The partitions whose ownership lock this member holds, ascending.
    #[must_use]
    pub fn owned(&self) -> Vec<u32> {
        self.held.lock().owned.keys().copied().collect()
    }

    /// Whether this member holds partition `p`'s ownership lock.
    #[must_use]
    pub fn owns(&self, p: u32) -> bool {
        self.held.lock().owned.contains_key(&p)
    }

    /// Whether this member left the group (or the topic was closed under it).
    #[must_use]
    pub fn has_left(&self) -> bool {
        self.held.lock().slot.is_none()
    }

    /// Owned partitions the last probe assigned to another member: to release (after
    /// committing them, under auto-commit).
    #[must_use]
    pub fn to_release(&self) -> Vec<u32> {
        self.owned()
            .into_iter()
            .filter(|p| !self.assigned.contains(p))
            .collect()
    }

    /// Assigned partitions not owned yet: to acquire once their previous owner let go.
    #[must_use]
    pub fn to_acquire(&self) -> Vec<u32> {
        let held = self.held.lock();
        self.assigned
            .iter()
            .copied()
            .filter(|p| !held.owned.contains_key(p))
            .collect()
    }

    /// Finds the live member slots again and recomputes this member's assignment (nothing,
    /// once it left). Takes or releases nothing.
    ///
    /// # Errors
    /// [`Error::Io`] if a slot file cannot be opened or probed.
    pub fn probe(&mut self) -> Result<()> {
        if self.has_left() {
            self.live.clear();
            self.assigned.clear();
            return Ok(());
        }
        self.live = locks::live_slots(&self.locks, Some(self.slot))?;
        self.assigned = assignment(&self.live, self.slot, self.partitions);
        Ok(())
    }

    /// Takes partition `p` if its ownership lock is free: [`Acquire::Taken`] with the group's
    /// committed offset for `p` read from disk now, or [`Acquire::Held`] while another
    /// member holds it (or this member left). If the offsets cannot be read, the partition is
    /// let go again and the error returned. An owned partition is kept, and its committed
    /// offset read again.
    ///
    /// # Errors
    /// [`Error::PartitionNotFound`] for a partition the topic does not have; [`Error::Io`];
    /// [`Error::Corrupt`] if the offsets file is damaged.
    pub fn try_acquire(&mut self, p: u32) -> Result<Acquire> {
        if p >= self.partitions {
            return Err(self.no_such(p));
        }
        {
            let mut held = self.held.lock();
            if held.slot.is_none() {
                return Ok(Acquire::Held);
            }
            if let std::collections::btree_map::Entry::Vacant(free) = held.owned.entry(p) {
                let path = locks::partition_path(&self.locks, p);
                let Some(lock) = locks::try_exclusive(&path)? else {
                    return Ok(Acquire::Held);
                };
                free.insert(lock);
            }
        }
        match offsets::read(&self.groups_dir, &self.group, self.partitions) {
            Ok(committed) => Ok(Acquire::Taken(committed.get(p as usize).copied().flatten())),
            Err(e) => {
                self.release(p);
                Err(e)
            }
        }
    }

    /// Lets partition `p` go (unlocks its ownership lock); returns whether it was owned.
    pub fn release(&mut self, p: u32) -> bool {
        self.held.lock().owned.remove(&p).is_some()
    }

    /// Probes, releases the partitions assigned elsewhere (without committing them) and takes
    /// the assigned ones that are free. A consumer does the same in steps, committing what it
    /// releases under auto-commit.
    ///
    /// # Errors
    /// As [`probe`](Self::probe) and [`try_acquire`](Self::try_acquire).
    pub fn rebalance(&mut self) -> Result<()> {
        self.probe()?;
        for p in self.to_release() {
            self.release(p);
        }
        for p in self.to_acquire() {
            self.try_acquire(p)?;
        }
        Ok(())
    }

    /// Commits `offsets` (partition, next offset to read), all of partitions this member
    /// owns, durably: under the group's commit lock, reads the offsets file as it is now,
    /// replaces those partitions' slots and, if that changes anything, writes it atomically.
    /// Returns whether the file was rewritten.
    ///
    /// # Errors
    /// [`Error::PartitionNotFound`] for a partition this member does not own (nothing is
    /// committed then); [`Error::Corrupt`] if the offsets file is damaged (it is left alone);
    /// [`Error::Io`].
    pub fn commit(&self, offsets: &[(u32, u64)]) -> Result<bool> {
        // Held throughout: the ownership locks cannot be released under the write.
        let held = self.held.lock();
        if let Some(&(p, _)) = offsets.iter().find(|(p, _)| !held.owned.contains_key(p)) {
            return Err(self.no_such(p));
        }
        if offsets.is_empty() {
            return Ok(false);
        }
        offsets::with_commit_lock(&self.groups_dir, &self.group, || {
            let now = offsets::read(&self.groups_dir, &self.group, self.partitions)?;
            let mut next = now.clone();
            for &(p, o) in offsets {
                if let Some(slot) = next.get_mut(p as usize) {
                    *slot = Some(o);
                }
            }
            if next == now {
                return Ok(false);
            }
            offsets::write(&self.groups_dir, &self.group, &next)?;
            Ok(true)
        })
    }

    /// The group's committed offsets as the offsets file holds them now.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the file is damaged; [`Error::Io`].
    pub fn committed(&self) -> Result<Vec<Option<u64>>> {
        offsets::read(&self.groups_dir, &self.group, self.partitions)
    }

    /// Leaves the group: unlocks every owned partition, then the member slot. Dropping the
    /// member does the same.
    pub fn leave(&mut self) {
        self.held.lock().clear();
        self.assigned.clear();
        self.live.clear();
    }

    /// This member's locks, for the group's handle in this process (see [`Held`]).
    pub(crate) fn held(&self) -> &Arc<Mutex<Held>> {
        &self.held
    }

    /// The error for partition `p` that does not exist or is not owned.
    fn no_such(&self, p: u32) -> Error {
        let topic = self
            .groups_dir
            .parent()
            .and_then(Path::file_name)
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        Error::PartitionNotFound {
            topic,
            partition: p,
            partitions: self.partitions,
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(dir: &tempfile::TempDir) -> PathBuf {
        let topic = dir.path().join("t");
        std::fs::create_dir(&topic).unwrap();
        topic.join(offsets::GROUPS_DIR)
    }

    #[test]
    fn assignment_is_round_robin_over_the_ranks_of_the_sorted_slots() {
        assert_eq!(assignment(&[3], 3, 4), [0, 1, 2, 3]);
        assert_eq!(assignment(&[7, 2], 2, 5), [0, 2, 4]);
        assert_eq!(assignment(&[7, 2], 7, 5), [1, 3]);
        assert_eq!(assignment(&[0, 1, 5], 5, 2), Vec::<u32>::new());
        assert_eq!(assignment(&[0, 1], 9, 2), Vec::<u32>::new(), "not live");
        // Every partition goes to exactly one live member.
        let live = [0, 4, 9];
        let mut all: Vec<u32> = live
            .iter()
            .flat_map(|&s| assignment(&live, s, 10))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn members_split_partitions_and_a_dropped_members_partitions_move() {
        let dir = tempfile::tempdir().unwrap();
        let g = groups(&dir);
        let mut a = Member::join(&g, "g", 4).unwrap();
        a.rebalance().unwrap();
        assert_eq!(a.owned(), [0, 1, 2, 3]);
        let mut b = Member::join(&g, "g", 4).unwrap();
        assert_eq!((a.slot(), b.slot()), (0, 1));
        b.rebalance().unwrap();
        assert_eq!(b.assigned(), [1, 3]);
        assert!(b.owned().is_empty(), "a still holds them");
        a.rebalance().unwrap();
        assert_eq!(a.owned(), [0, 2]);
        b.rebalance().unwrap();
        assert_eq!(b.owned(), [1, 3]);
        drop(b);
        a.rebalance().unwrap();
        assert_eq!(a.live(), [0]);
        assert_eq!(a.owned(), [0, 1, 2, 3]);
    }

    #[test]
    fn commits_of_two_members_keep_each_others_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let g = groups(&dir);
        let mut a = Member::join(&g, "g", 2).unwrap();
        let mut b = Member::join(&g, "g", 2).unwrap();
        a.rebalance().unwrap();
        b.rebalance().unwrap();
        assert_eq!((a.owned(), b.owned()), (vec![0], vec![1]));
        for i in 1..=5 {
            assert!(a.commit(&[(0, i)]).unwrap());
            assert!(b.commit(&[(1, 10 * i)]).unwrap());
        }
        assert_eq!(a.committed().unwrap(), [Some(5), Some(50)]);
        assert!(!a.commit(&[(0, 5)]).unwrap(), "unchanged: not rewritten");
        // A partition it does not own is refused, and nothing is written.
        assert!(matches!(
            a.commit(&[(0, 6), (1, 0)]),
            Err(Error::PartitionNotFound { partition: 1, .. })
        ));
        assert_eq!(b.committed().unwrap(), [Some(5), Some(50)]);
    }

    #[test]
    fn a_taken_partition_starts_from_the_offset_its_previous_owner_committed() {
        let dir = tempfile::tempdir().unwrap();
        let g = groups(&dir);
        let mut a = Member::join(&g, "g", 1).unwrap();
        let mut b = Member::join(&g, "g", 1).unwrap();
        assert_eq!(
            a.try_acquire(0).unwrap(),
            Acquire::Taken(None),
            "never committed"
        );
        assert_eq!(b.try_acquire(0).unwrap(), Acquire::Held, "held by a");
        a.commit(&[(0, 42)]).unwrap();
        assert!(a.release(0));
        assert_eq!(b.try_acquire(0).unwrap(), Acquire::Taken(Some(42)));
        assert!(matches!(
            b.try_acquire(1),
            Err(Error::PartitionNotFound { .. })
        ));
        b.leave();
        assert!(b.owned().is_empty() && b.has_left());
        assert_eq!(a.try_acquire(0).unwrap(), Acquire::Taken(Some(42)));
        assert_eq!(
            b.try_acquire(0).unwrap(),
            Acquire::Held,
            "a member that left takes nothing"
        );
    }

    #[test]
    fn a_join_removes_an_interrupted_commits_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let g = groups(&dir);
        std::fs::create_dir(&g).unwrap();
        std::fs::write(g.join("g.tmp"), b"half").unwrap();
        std::fs::write(g.join("other.tmp"), b"other group's").unwrap();
        let _m = Member::join(&g, "g", 1).unwrap();
        assert!(!g.join("g.tmp").exists());
        assert!(g.join("other.tmp").exists());
    }
}
