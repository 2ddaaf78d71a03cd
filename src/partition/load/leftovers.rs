//! Phase 2 of the loader, the file-level part: leftovers of interrupted deletions, rewrites
//! and compaction swaps, temporary files, and entries named like a segment log that are not
//! regular files. Only the loader calls these.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::super::hooked::HOOKED_FILE;
use super::super::{CHECKPOINT_FILE, CLEANED_SUFFIX, DELETED_SUFFIX, SWAP_SUFFIX};
use crate::codec::meta::Checkpoint;
use crate::error::{Corruption, Error, Result, io_err};
use crate::fsutil::{self, TMP_SUFFIX};
use crate::segment::SegmentPaths;
use crate::segment::files::{INDEX_EXT, LOG_EXT, TIME_EXT, file_name, parse_file_name};
use crate::segment::rewrite::TRUNCATING_SUFFIX;

/// Phase 2, the file leftovers: a deletion between rename and unlink (`.deleted`: remove)
/// and a truncation's rewrite not yet renamed (`.truncating`: remove), a checkpoint or hook
/// mark `.tmp` (remove). A compaction swap (module
/// `partition::compact`) is finished if it was decided, i.e. if the segment's
/// `.log.swap` exists (the log is renamed to `.swap` after both indexes): each file then takes
/// its `.swap` (or, if that rename was lost, its complete and synced `.cleaned`) version.
/// Otherwise its `.cleaned` and `.swap` files are removed and the old segment stays.
///
/// `found` is the directory's listing; returns whether any file was removed or renamed (the
/// caller then lists the directory again).
pub(super) fn finish_file_leftovers(dir: &Path, found: &Entries) -> Result<bool> {
    let ours = |name: &str, suffix: &str| {
        name.strip_suffix(suffix)
            .and_then(|n| parse_file_name(n).map(|(base, _)| (base, n.to_owned())))
    };
    let mut changed = false;
    let mut compactions: BTreeMap<u64, Vec<(String, PathBuf)>> = BTreeMap::new();
    for (name, path) in &found.files {
        if *name == format!("{CHECKPOINT_FILE}{TMP_SUFFIX}")
            || *name == format!("{HOOKED_FILE}{TMP_SUFFIX}")
            || ours(name, DELETED_SUFFIX).is_some()
            || ours(name, TRUNCATING_SUFFIX).is_some()
        {
            fsutil::remove_if_exists(path)?;
            changed = true;
        } else if let Some((base, _)) = ours(name, CLEANED_SUFFIX).or(ours(name, SWAP_SUFFIX)) {
            compactions
                .entry(base)
                .or_default()
                .push((name.clone(), path.clone()));
        }
    }
    for (base, files) in &compactions {
        let log_swap = format!("{}{SWAP_SUFFIX}", file_name(*base, LOG_EXT));
        let decided = files.iter().any(|(n, _)| *n == log_swap);
        for ext in [INDEX_EXT, TIME_EXT, LOG_EXT] {
            let live = file_name(*base, ext);
            let pick = |suffix: &str| {
                let want = format!("{live}{suffix}");
                files
                    .iter()
                    .find(|(n, _)| *n == want)
                    .map(|(_, p)| p.clone())
            };
            let (swap, cleaned) = (pick(SWAP_SUFFIX), pick(CLEANED_SUFFIX));
            if decided && let Some(from) = swap.clone().or(cleaned.clone()) {
                let to = dir.join(&live);
                fs::rename(&from, &to).map_err(io_err(&to))?;
            }
            for p in [swap, cleaned].into_iter().flatten() {
                fsutil::remove_if_exists(&p)?;
            }
        }
    }
    if !compactions.is_empty() {
        fsutil::sync_dir(dir)?;
        changed = true;
    }
    Ok(changed)
}

/// What a directory listing found: its regular files with UTF-8 names, and the entries
/// named like a segment's `.log` that are not regular files.
pub(super) struct Entries {
    pub(super) files: Vec<(String, PathBuf)>,
    pub(super) odd_logs: Vec<OddLog>,
    /// The UTF-8 names of all entries, whatever their type.
    pub(super) names: HashSet<String>,
}

impl Entries {
    /// Whether an entry of any type is named `name`: a file pagelog names exactly (the
    /// checkpoint, the truncation intent, the hook mark) is read only if it is listed.
    pub(super) fn has(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// An entry named `<base>.log` that is not a regular file.
pub(super) struct OddLog {
    base: u64,
    path: PathBuf,
    /// "a directory", "a symbolic link" or "a special file".
    kind: &'static str,
}

/// Lists `dir`. Only regular files can be pagelog's; other entries are left alone, but those
/// named like a segment's `.log` are reported in `odd_logs` (see `check_odd_logs`).
pub(super) fn entries(dir: &Path) -> Result<Entries> {
    let mut found = Entries {
        files: Vec::new(),
        odd_logs: Vec::new(),
        names: HashSet::new(),
    };
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let kind = entry.file_type().map_err(io_err(entry.path()))?;
        found.names.insert(name.clone());
        if kind.is_file() {
            found.files.push((name, entry.path()));
        } else if let Some((base, LOG_EXT)) = parse_file_name(&name) {
            let kind = if kind.is_dir() {
                "a directory"
            } else if kind.is_symlink() {
                "a symbolic link"
            } else {
                "a special file"
            };
            found.odd_logs.push(OddLog {
                base,
                path: entry.path(),
                kind,
            });
        }
    }
    Ok(found)
}

/// Refuses the open if an entry named `<base>.log` that is not a regular file (a symbolic
/// link, a directory, a device) lies within the log as far as pagelog knows it: at or below
/// the highest segment base found or the active base the checkpoint names. Ignoring it would
/// make the segment before it the active one and hand out its offsets again, or leave a hole
/// that an unclean open takes for lost data and drops every later segment at. Above both it
/// lies past the end of the log and is not pagelog's: it is left alone.
pub(super) fn check_odd_logs(
    odd_logs: &[OddLog],
    bases: &[u64],
    cp: Option<&Checkpoint>,
) -> Result<()> {
    let last_known = bases
        .last()
        .copied()
        .into_iter()
        .chain(cp.map(|c| c.active_base))
        .max();
    match odd_logs
        .iter()
        .find(|o| last_known.is_some_and(|k| o.base <= k))
    {
        // The offsets it holds are unknown: put the segment file back (or move the entry
        // away if it is not one).
        Some(o) => Err(Error::corrupt(
            &o.path,
            0,
            Corruption::NotRegularFile { found: o.kind },
        )),
        None => Ok(()),
    }
}

pub(super) fn remove_segment(dir: &Path, base: u64) -> Result<()> {
    let p = SegmentPaths::new(dir, base);
    fsutil::remove_if_exists(&p.index)?;
    fsutil::remove_if_exists(&p.time)?;
    fsutil::remove_if_exists(&p.log)
}
