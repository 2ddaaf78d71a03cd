//! Staging directories: how a topic appears and disappears atomically, and how the leftovers
//! of an interrupted creation or deletion are told from a user's own directories.
//!
//! A topic is built in `~creating.<16 hex digits>` and renamed to its name once complete; a
//! deleted topic is renamed to `~deleting.<16 hex digits>` and then emptied. `~` never occurs
//! in a topic name, and both names are short, so every valid topic name has room. On open, a
//! directory with such a name is removed only when pagelog provably made it:
//!
//! * it holds a valid marker file `pagelog.staging`, which a creation writes (and syncs)
//!   before anything else, or a valid `topic.meta`, which a deletion removes last; or
//! * it is empty (a creation stopped right after its `mkdir`), or holds nothing but the
//!   marker's temporary file, no longer than a marker (it stopped while writing it).
//!
//! Anything else is left alone and reported in the store's error log, whatever its name. A
//! marker found in a topic directory is the trace of a creation that stopped after its
//! rename: the topic is complete, and only the marker is removed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::codec::meta;
use crate::error::{Result, io_err};
use crate::fsutil;
use crate::names::validate_topic_name;
use crate::topic::TOPIC_META_FILE;

/// The marker that proves a staging directory is pagelog's (FORMAT.md 2.1).
pub(crate) const MARKER_FILE: &str = "pagelog.staging";
/// Name prefix of a topic directory being created.
const CREATING: &str = "~creating.";
/// Name prefix of a topic directory being deleted.
const DELETING: &str = "~deleting.";

/// A new staging directory for a topic being created, with its marker written and synced.
///
/// # Errors
/// [`Error::Io`](crate::Error::Io) if it cannot be made.
pub(crate) fn begin_create(root: &Path) -> Result<PathBuf> {
    let dir = loop {
        let dir = root.join(unique_name(CREATING));
        match fs::create_dir(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(&dir)(e)),
        }
    };
    crate::failpoint::hit(crate::failpoint::Failpoint::CreateTopicAfterMkdir);
    let marker = meta::encode_staging(meta::STAGING_CREATE);
    if let Err(e) = fsutil::atomic_write(&dir, MARKER_FILE, &marker) {
        // Nothing of the topic is in it yet: an empty directory is removed on open anyway.
        let _ = fsutil::remove_if_exists(&dir.join(format!("{MARKER_FILE}{}", fsutil::TMP_SUFFIX)));
        let _ = fs::remove_dir(&dir);
        return Err(e);
    }
    crate::failpoint::hit(crate::failpoint::Failpoint::CreateTopicAfterMarker);
    Ok(dir)
}

/// Publishes the complete staging directory `staging` as topic directory `dir`: the rename
/// is the moment the topic exists. The marker is removed afterwards (a crash in between
/// leaves it in the topic, where the next open removes it).
///
/// # Errors
/// [`Error::Io`](crate::Error::Io).
pub(crate) fn finish_create(root: &Path, staging: &Path, dir: &Path) -> Result<()> {
    crate::failpoint::hit(crate::failpoint::Failpoint::CreateTopicBeforeRename);
    fs::rename(staging, dir).map_err(io_err(dir))?;
    fsutil::sync_dir(root)?;
    crate::failpoint::hit(crate::failpoint::Failpoint::CreateTopicAfterRename);
    fsutil::remove_if_exists(&dir.join(MARKER_FILE))
}

/// Deletes topic directory `dir`: renamed away (the moment the topic is gone), then
/// emptied, its `topic.meta` last.
///
/// # Errors
/// [`Error::Io`](crate::Error::Io); after the rename, a failure leaves a leftover that the
/// next open removes.
pub(crate) fn delete(root: &Path, dir: &Path) -> Result<()> {
    let doomed = loop {
        let doomed = root.join(unique_name(DELETING));
        if fs::symlink_metadata(&doomed).is_err() {
            break doomed;
        }
    };
    fs::rename(dir, &doomed).map_err(io_err(dir))?;
    fsutil::sync_dir(root)?;
    crate::failpoint::hit(crate::failpoint::Failpoint::DeleteTopicAfterRename);
    remove_staged(&doomed)
}

/// Removes the leftovers of interrupted creations and deletions in `root` (see the module
/// docs). Returns one line for each directory named like a leftover that was left alone.
///
/// # Errors
/// [`Error::Io`](crate::Error::Io) if `root` cannot be read or a leftover cannot be removed.
pub(crate) fn clean_up(root: &Path) -> Result<Vec<String>> {
    let mut left_alone = Vec::new();
    for entry in fs::read_dir(root).map_err(io_err(root))? {
        let entry = entry.map_err(io_err(root))?;
        // Not followed: a symbolic link is never a leftover.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let path = entry.path();
        if validate_topic_name(&name).is_ok() {
            let marker = path.join(MARKER_FILE);
            if is_marker(&marker) {
                fsutil::remove_if_exists(&marker)?;
            }
        } else if is_staging_name(&name) {
            if is_marker(&path.join(MARKER_FILE))
                || is_topic_meta(&path.join(TOPIC_META_FILE))
                || holds_only_marker_tmp(&path)
            {
                remove_staged(&path)?;
            } else if fs::remove_dir(&path).is_err() {
                left_alone.push(format!(
                    "left {} alone: named like a staging directory, but holds no pagelog \
                     marker or topic.meta",
                    path.display()
                ));
            }
        }
    }
    Ok(left_alone)
}

/// Removes a staging directory that is pagelog's, the files that prove it last, so that an
/// interrupted removal is still recognised on the next open.
fn remove_staged(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if name == MARKER_FILE || name == TOPIC_META_FILE {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(io_err(&path))?;
    }
    crate::failpoint::hit(crate::failpoint::Failpoint::DeleteTopicBeforeProofRemoved);
    fsutil::remove_if_exists(&dir.join(TOPIC_META_FILE))?;
    fsutil::remove_if_exists(&dir.join(MARKER_FILE))?;
    fs::remove_dir(dir).map_err(io_err(dir))
}

/// `prefix` and 16 hex digits, different on every call in this process and unlikely to
/// repeat across processes.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let id = (u64::from(std::process::id()) << 32 | u64::from(nanos)) ^ n.rotate_left(48);
    format!("{prefix}{id:016x}")
}

fn is_staging_name(name: &str) -> bool {
    [CREATING, DELETING].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

/// True if `dir` holds nothing but a marker being written (`pagelog.staging.tmp`, at most a
/// marker's size): a creation that stopped before its marker was renamed into place.
fn holds_only_marker_tmp(dir: &Path) -> bool {
    let tmp = format!("{MARKER_FILE}{}", fsutil::TMP_SUFFIX);
    let marker_len = meta::encode_staging(meta::STAGING_CREATE).len() as u64;
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    let entries: Vec<_> = entries.collect();
    matches!(entries.as_slice(), [Ok(e)] if e.file_name() == tmp.as_str()
        && e.metadata().is_ok_and(|m| m.is_file() && m.len() <= marker_len))
}

fn is_marker(path: &Path) -> bool {
    fs::read(path).is_ok_and(|b| meta::decode_staging(&b).is_ok())
}

fn is_topic_meta(path: &Path) -> bool {
    fs::read(path).is_ok_and(|b| meta::decode_topic(&b).is_ok())
}

#[cfg(test)]
mod tests {
    use super::{CREATING, DELETING, is_staging_name, unique_name};

    #[test]
    fn staging_names_are_recognised_and_never_topic_names() {
        for prefix in [CREATING, DELETING] {
            let name = unique_name(prefix);
            assert!(is_staging_name(&name), "{name}");
            assert!(crate::names::validate_topic_name(&name).is_err());
            assert_ne!(unique_name(prefix), name);
        }
        for name in [
            "backup~creating",
            "t~deleting",
            "~creating.",
            "~creating.0123456789abcdeg",
            "~deleting.0123456789abcdef0",
        ] {
            assert!(!is_staging_name(name), "{name}");
        }
    }
}
