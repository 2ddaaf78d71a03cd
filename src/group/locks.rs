//! The lock files of a consumer group: empty files in `<topic>/groups/<group>.locks/` whose
//! `flock(2)` locks say which members are alive, which member reads which partition, and
//! who is rewriting the group's offsets file (docs/FORMAT.md 2.4, DESIGN.md section 9).
//!
//! `flock` locks belong to the open file description: two opens of one file conflict even
//! within a process, and the kernel releases a lock when the last descriptor of its open file
//! description closes, `kill -9` included. (POSIX `fcntl` record locks would not do: they
//! belong to the process and vanish when it closes any descriptor of the file.) A lock taken
//! here is always released by an explicit `unlock` before its file is closed, so a descriptor
//! copied into a child process between `fork` and `exec` cannot keep it alive.
//!
//! Lock files are never deleted while the topic exists: a file deleted while locked would let
//! the next member create a new file of the same name and lock it too.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Suffix of a group's lock directory in `groups/`: `<group>.locks`.
pub(crate) const LOCKS_SUFFIX: &str = ".locks";
/// The lock file taken around every rewrite of the group's offsets file.
const COMMIT_FILE: &str = "commit";
/// Prefix of a member slot file: `member.<n>`.
const MEMBER_PREFIX: &str = "member.";
/// Prefix of a partition's ownership lock file: `partition.<p>`.
const PARTITION_PREFIX: &str = "partition.";

/// The lock directory of `group` in `groups_dir`.
pub(crate) fn lock_dir(groups_dir: &Path, group: &str) -> PathBuf {
    groups_dir.join(format!("{group}{LOCKS_SUFFIX}"))
}

/// Path of member slot `n`'s file in lock directory `locks`.
pub(crate) fn member_path(locks: &Path, n: u64) -> PathBuf {
    locks.join(format!("{MEMBER_PREFIX}{n}"))
}

/// Path of partition `p`'s ownership lock file in lock directory `locks`.
pub(crate) fn partition_path(locks: &Path, p: u32) -> PathBuf {
    locks.join(format!("{PARTITION_PREFIX}{p}"))
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates directory `dir` if it does not exist (only `dir`: a parent that is gone stays
/// gone). Returns whether it created it.
pub(crate) fn ensure_dir(dir: &Path) -> Result<bool> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(io_error(dir, e)),
    }
}

/// An exclusive `flock` held on one lock file, released (explicitly unlocked, then closed)
/// when dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Nothing to do about a failure: closing the file releases the lock anyway, unless a
        // forked child still holds a copy of the descriptor (then until it execs or exits).
        let _ = self.file.unlock();
    }
}

/// Opens lock file `path`, creating it if missing.
fn open_creating(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io_error(path, e))
}

/// Takes the exclusive lock on `path` (created if missing) if nobody holds a lock on it;
/// `Ok(None)` if someone does.
pub(crate) fn try_exclusive(path: &Path) -> Result<Option<Lock>> {
    let file = open_creating(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Lock { file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(io_error(path, e)),
    }
}

/// Takes the exclusive lock on `path` (created if missing), waiting for whoever holds it.
pub(crate) fn exclusive(path: &Path) -> Result<Lock> {
    let file = open_creating(path)?;
    loop {
        match file.lock() {
            Ok(()) => return Ok(Lock { file }),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(path, e)),
        }
    }
}

/// The group's commit lock, in lock directory `locks` (which exists), waiting for it.
pub(crate) fn commit_lock(locks: &Path) -> Result<Lock> {
    exclusive(&locks.join(COMMIT_FILE))
}

/// Whether someone holds a lock on `path`: `None` if there is no such file. The probe takes
/// a shared lock and drops it at once; a member trying to take the file's exclusive lock in
/// that moment fails as if it were held (for a member slot: it takes the next one).
pub(crate) fn is_held(path: &Path) -> Result<Option<bool>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, e)),
    };
    match file.try_lock_shared() {
        Ok(()) => {
            file.unlock().map_err(|e| io_error(path, e))?;
            Ok(Some(false))
        }
        Err(TryLockError::WouldBlock) => Ok(Some(true)),
        Err(TryLockError::Error(e)) => Err(io_error(path, e)),
    }
}

/// The live member slots in lock directory `locks`, ascending: those whose file someone
/// holds a lock on, plus `me` (the caller's own slot) if given, without probing it. Slot
/// files form a prefix `0..k` (a member creates slot `n` only after opening slot `n - 1`),
/// so the scan stops at the first missing file past `me`.
pub(crate) fn live_slots(locks: &Path, me: Option<u64>) -> Result<Vec<u64>> {
    let mut live = Vec::new();
    for n in 0u64.. {
        if Some(n) == me {
            live.push(n);
            continue;
        }
        match is_held(&member_path(locks, n))? {
            Some(true) => live.push(n),
            Some(false) => {}
            None if me.is_some_and(|me| n < me) => {}
            None => break,
        }
    }
    Ok(live)
}

/// Takes the lowest free member slot in lock directory `locks` (which exists), creating its
/// file if needed. Returns the slot number and its lock.
pub(crate) fn take_slot(locks: &Path) -> Result<(u64, Lock)> {
    let mut n = 0u64;
    loop {
        if let Some(lock) = try_exclusive(&member_path(locks, n))? {
            return Ok((n, lock));
        }
        n += 1;
    }
}

/// Names of the groups in `groups_dir` that have a lock directory, unsorted.
pub(crate) fn groups_with_lock_dirs(groups_dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(groups_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(groups_dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(groups_dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some(group) = name.strip_suffix(LOCKS_SUFFIX)
            && crate::names::validate_group_name(group).is_ok()
            && entry.file_type().is_ok_and(|t| t.is_dir())
        {
            names.push(group.to_owned());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_of_separate_opens_conflict_within_a_process_and_probes_see_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        assert_eq!(is_held(&path).unwrap(), None, "no file yet");
        let held = try_exclusive(&path).unwrap().unwrap();
        assert!(try_exclusive(&path).unwrap().is_none());
        assert_eq!(is_held(&path).unwrap(), Some(true));
        drop(held);
        assert_eq!(is_held(&path).unwrap(), Some(false));
        // The probe left no lock behind.
        assert!(try_exclusive(&path).unwrap().is_some());
    }

    #[test]
    fn slots_are_taken_lowest_free_first_and_probed_as_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let (a, la) = take_slot(dir.path()).unwrap();
        let (b, lb) = take_slot(dir.path()).unwrap();
        let (c, lc) = take_slot(dir.path()).unwrap();
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(live_slots(dir.path(), None).unwrap(), vec![0, 1, 2]);
        drop(lb);
        assert_eq!(live_slots(dir.path(), Some(2)).unwrap(), vec![0, 2]);
        let (again, _l) = take_slot(dir.path()).unwrap();
        assert_eq!(again, 1, "the freed slot is reused");
        drop((la, lc));
        assert_eq!(live_slots(dir.path(), None).unwrap(), vec![1]);
    }

    #[test]
    fn only_lock_directories_with_valid_group_names_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["g.locks", "h.locks", "..locks", "x"] {
            fs::create_dir(dir.path().join(d)).unwrap();
        }
        fs::write(dir.path().join("f.locks"), b"").unwrap();
        let mut names = groups_with_lock_dirs(dir.path()).unwrap();
        names.sort();
        assert_eq!(names, ["g", "h"]);
    }
}
