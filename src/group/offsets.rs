//! A group's committed offsets file, `<topic>/groups/<group>.offsets` (docs/FORMAT.md 7.4):
//! its names, reading it, and the locked read-modify-write that every writer of it uses.

use std::fs;
use std::path::{Path, PathBuf};

use super::locks;
use crate::codec::meta;
use crate::error::{Corruption, Error, Result, io_err};
use crate::fsutil;

/// Directory of a topic holding its groups' files.
pub(crate) const GROUPS_DIR: &str = "groups";
/// Extension of an offsets file.
const OFFSETS_EXT: &str = "offsets";

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

/// Path of a group's offsets file in `groups_dir`.
pub(crate) fn offsets_path(groups_dir: &Path, group: &str) -> PathBuf {
    groups_dir.join(offsets_file(group))
}

/// Reads a group's committed offsets from `groups_dir`; `None` for every partition if it
/// never committed. The file is replaced by renames only, so this needs no lock.
///
/// # Errors
/// [`Error::Corrupt`] if the file is damaged or written for another partition count.
pub(crate) fn read(groups_dir: &Path, group: &str, partitions: u32) -> Result<Vec<Option<u64>>> {
    let path = offsets_path(groups_dir, group);
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

/// Replaces group `group`'s offsets file in `groups_dir` atomically (`<group>.tmp`, fsync,
/// rename, fsync `groups_dir`). Only under the group's commit lock ([`with_commit_lock`]).
pub(crate) fn write(groups_dir: &Path, group: &str, committed: &[Option<u64>]) -> Result<()> {
    let bytes = meta::encode_group_offsets(committed);
    fsutil::atomic_write_via(
        groups_dir,
        &offsets_file(group),
        &offsets_tmp_file(group),
        &bytes,
    )
}

/// Runs `f` holding group `group`'s commit lock (an exclusive `flock` on
/// `<group>.locks/commit`, waiting for it; the lock directory is created if missing): no
/// other writer of the group's offsets file, in this process or another, runs meanwhile.
/// `groups_dir` must exist.
pub(crate) fn with_commit_lock<T>(
    groups_dir: &Path,
    group: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let dir = locks::lock_dir(groups_dir, group);
    locks::ensure_dir(&dir)?;
    let _lock = locks::commit_lock(&dir)?;
    f()
}

/// Removes a leftover `<group>.tmp` of a commit interrupted before its rename: the offsets
/// file is the truth. Only under the group's commit lock (a commit in progress writes it).
pub(crate) fn remove_tmp(groups_dir: &Path, group: &str) -> Result<()> {
    fsutil::remove_if_exists(&groups_dir.join(offsets_tmp_file(group)))
}

/// Names of the groups with an offsets file in `groups_dir`, sorted.
pub(crate) fn list(groups_dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(groups_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(groups_dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(groups_dir))?;
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
