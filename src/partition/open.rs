//! Opening a partition directory: the clean path that reads no record data, and the
//! recovery path that scans everything after the recovery point.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};

use parking_lot::{Mutex, RwLock};

use super::commit::GroupCommit;
use super::hooked::{self, HOOKED_FILE};
use super::truncate::TRUNCATE_FILE;
use super::{
    CHECKPOINT_FILE, CLEANED_SUFFIX, Context, DELETED_SUFFIX, Inner, Partition, SWAP_SUFFIX,
    WriterState,
};
use crate::codec::meta::{self, Checkpoint};
use crate::config::TopicConfig;
use crate::error::{Corruption, Error, Result, io_err};
use crate::fsutil::{self, TMP_SUFFIX};
use crate::segment::core::SegmentCore;
use crate::segment::files::{INDEX_EXT, LOG_EXT, TIME_EXT, file_name, parse_file_name};
use crate::segment::recover::{open_active_clean, open_sealed, recover};
use crate::segment::rewrite::{TRUNCATING_SUFFIX, rewrite_prefix};
use crate::segment::writer::Limits;
use crate::segment::{Segment, SegmentPaths, create_files};

/// What the directory listing found.
struct Listing {
    /// Base offsets that have a `.log`.
    logs: Vec<u64>,
    /// Entries named like a `.log` that are not regular files.
    odd_logs: Vec<OddLog>,
}

/// Lists segment files, removing leftovers pagelog itself made: a checkpoint or hook mark `.tmp` and
/// index files whose `.log` is gone. Files pagelog does not recognise are left alone.
fn list(dir: &Path) -> Result<Listing> {
    finish_interrupted(dir)?;
    let mut logs = BTreeSet::new();
    let mut indexes: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
    let found = entries(dir)?;
    for (name, path) in found.files {
        let name = name.as_str();
        if name == format!("{CHECKPOINT_FILE}{TMP_SUFFIX}")
            || name == format!("{HOOKED_FILE}{TMP_SUFFIX}")
        {
            fsutil::remove_if_exists(&path)?;
            continue;
        }
        match parse_file_name(name) {
            Some((base, LOG_EXT)) => {
                logs.insert(base);
            }
            Some((base, _)) => indexes.entry(base).or_default().push(path),
            None => {}
        }
    }
    for (base, paths) in indexes {
        if !logs.contains(&base) {
            for p in paths {
                fsutil::remove_if_exists(&p)?;
            }
        }
    }
    Ok(Listing {
        logs: logs.into_iter().collect(),
        odd_logs: found.odd_logs,
    })
}

/// Finishes or discards the leftovers of operations a crash interrupted, before segments
/// are listed: a deletion between rename and unlink (`.deleted`: remove) and a truncation's
/// rewrite not yet renamed (`.truncating`: remove). A compaction swap (module
/// `partition::compact`) is finished if it was decided, i.e. if the segment's
/// `.log.swap` exists (the log is renamed to `.swap` after both indexes): each file then takes
/// its `.swap` (or, if that rename was lost, its complete and synced `.cleaned`) version.
/// Otherwise its `.cleaned` and `.swap` files are removed and the old segment stays.
fn finish_interrupted(dir: &Path) -> Result<()> {
    let ours = |name: &str, suffix: &str| {
        name.strip_suffix(suffix)
            .and_then(|n| parse_file_name(n).map(|(base, _)| (base, n.to_owned())))
    };
    let mut compactions: BTreeMap<u64, Vec<(String, PathBuf)>> = BTreeMap::new();
    for (name, path) in entries(dir)?.files {
        if ours(&name, DELETED_SUFFIX).is_some() || ours(&name, TRUNCATING_SUFFIX).is_some() {
            fsutil::remove_if_exists(&path)?;
        } else if let Some((base, _)) = ours(&name, CLEANED_SUFFIX).or(ours(&name, SWAP_SUFFIX)) {
            compactions.entry(base).or_default().push((name, path));
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
    }
    Ok(())
}

/// What a directory listing found: its regular files with UTF-8 names, and the entries
/// named like a segment's `.log` that are not regular files.
struct Entries {
    files: Vec<(String, PathBuf)>,
    odd_logs: Vec<OddLog>,
}

/// An entry named `<base>.log` that is not a regular file.
struct OddLog {
    base: u64,
    path: PathBuf,
    /// "a directory", "a symbolic link" or "a special file".
    kind: &'static str,
}

/// Lists `dir`. Only regular files can be pagelog's; other entries are left alone, but those
/// named like a segment's `.log` are reported in `odd_logs` (see `check_odd_logs`).
fn entries(dir: &Path) -> Result<Entries> {
    let mut found = Entries {
        files: Vec::new(),
        odd_logs: Vec::new(),
    };
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let kind = entry.file_type().map_err(io_err(entry.path()))?;
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
fn check_odd_logs(odd_logs: &[OddLog], bases: &[u64], cp: Option<&Checkpoint>) -> Result<()> {
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

fn remove_segment(dir: &Path, base: u64) -> Result<()> {
    let p = SegmentPaths::new(dir, base);
    fsutil::remove_if_exists(&p.index)?;
    fsutil::remove_if_exists(&p.time)?;
    fsutil::remove_if_exists(&p.log)
}

impl Partition {
    /// Opens (or, with `create`, creates) the partition in `dir`.
    pub(crate) fn open(
        topic: Arc<str>,
        id: u32,
        dir: PathBuf,
        config: &TopicConfig,
        create: bool,
        ctx: Context,
    ) -> Result<Self> {
        let Context {
            flusher,
            notifier,
            shared,
            groups,
        } = ctx;
        if create {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        } else if !dir.is_dir() {
            return Err(Error::corrupt(
                dir,
                0,
                Corruption::Missing {
                    what: "partition directory",
                },
            ));
        }
        let limits = Limits::new(config);
        let verify = config.verify_checksums;
        let listing = list(&dir)?;
        let cp_path = dir.join(CHECKPOINT_FILE);
        // A damaged checkpoint is never trusted: everything is recovered instead.
        let mut cp: Option<Checkpoint> =
            fsutil::read_optional(&cp_path)?.and_then(|b| meta::decode_checkpoint(&b).ok());
        check_odd_logs(&listing.odd_logs, &listing.logs, cp.as_ref())?;
        let mut bases = listing.logs;
        // An interrupted truncation is finished before anything else.
        let intent_path = dir.join(TRUNCATE_FILE);
        let truncated_to = match fsutil::read_optional(&intent_path)? {
            Some(bytes) => {
                let target =
                    meta::decode_truncate(&bytes).map_err(|e| Error::metadata(&intent_path, &e))?;
                for &b in bases.iter().filter(|&&b| b >= target) {
                    remove_segment(&dir, b)?;
                }
                bases.retain(|&b| b < target);
                if let Some(&b) = bases.last() {
                    rewrite_prefix(&SegmentPaths::new(&dir, b), b, target)?;
                }
                fsutil::sync_dir(&dir)?;
                if let Some(c) = cp.as_mut() {
                    c.clean = false;
                    c.recovery_point = c
                        .recovery_point
                        .min(bases.last().copied().unwrap_or(target));
                }
                Some(target)
            }
            None => None,
        };
        let mut sealed: Vec<Arc<SegmentCore>> = Vec::new();
        let mut active: Option<Segment> = None;
        let mut recovered = false;

        if bases.is_empty() {
            // New partition, or every segment gone: never reuse an offset we handed out
            // (unless a truncation gave it back).
            let base = truncated_to.unwrap_or(cp.map_or(0, |c| c.next_offset));
            let (core, writer) =
                create_files(SegmentPaths::new(&dir, base), base, &limits, verify)?;
            fsutil::sync_dir(&dir)?;
            active = Some(Segment::from_parts(core, Some(writer), config));
            recovered = true;
        } else if let Some(c) = cp.filter(|c| is_clean(c, &dir, &bases)) {
            let last = bases.len() - 1;
            for i in 0..last {
                let (b, nb) = (bases[i], bases[i + 1]);
                sealed.push(Arc::new(open_sealed(
                    SegmentPaths::new(&dir, b),
                    b,
                    nb,
                    &limits,
                    verify,
                )?));
            }
            let b = bases[last];
            let paths = SegmentPaths::new(&dir, b);
            let opened = open_active_clean(
                paths.clone(),
                b,
                &limits,
                verify,
                c.active_len as usize,
                c.next_offset,
                c.active_max_timestamp,
            )?;
            active = Some(match opened {
                Some((core, w)) => Segment::from_parts(core, Some(w), config),
                None => {
                    recovered = true;
                    let (core, w, _) = recover(paths, b, &limits, verify, true)?;
                    Segment::from_parts(core, w, config)
                }
            });
        } else {
            let rp = cp.map_or(0, |c| c.recovery_point);
            let mut i = 0;
            while i < bases.len() {
                let b = bases[i];
                let next_base = bases.get(i + 1).copied();
                let paths = SegmentPaths::new(&dir, b);
                if let Some(nb) = next_base.filter(|&nb| nb <= rp) {
                    sealed.push(Arc::new(open_sealed(paths, b, nb, &limits, verify)?));
                    i += 1;
                    continue;
                }
                recovered = true;
                let is_last = next_base.is_none();
                let (core, writer, _) = recover(paths.clone(), b, &limits, verify, is_last)?;
                match next_base {
                    None => active = Some(Segment::from_parts(core, writer, config)),
                    Some(nb) if core.next_offset() == nb => sealed.push(Arc::new(core)),
                    Some(_) => {
                        // A hole: what follows was written after data that never became
                        // durable, so (syncs being in order) none of it was acknowledged as
                        // durable either. Drop it and continue from this segment.
                        drop(core);
                        for &later in &bases[i + 1..] {
                            remove_segment(&dir, later)?;
                        }
                        fsutil::sync_dir(&dir)?;
                        bases.truncate(i + 1);
                        let (core, writer, _) = recover(paths, b, &limits, verify, true)?;
                        active = Some(Segment::from_parts(core, writer, config));
                    }
                }
                i += 1;
            }
        }
        let Some(active) = active else {
            return Err(Error::corrupt(
                dir,
                0,
                Corruption::Inconsistent {
                    what: "no active segment after opening",
                },
            ));
        };
        let mut list = sealed;
        list.push(Arc::clone(active.core()));
        let next = active.next_offset();
        let log_start = cp.map_or(0, |c| c.log_start_offset).min(next);
        let start = list.first().map_or(0, |s| s.base).max(log_start);
        let recovery_point = if recovered {
            active.base_offset()
        } else {
            cp.map_or(0, |c| c.recovery_point)
        };
        // No sealed segment lies at or above the active one; a mark above it (left by a
        // truncation that a crash interrupted before it lowered the mark) is lowered now,
        // durably, before anything is appended and sealed below it.
        let mut hook_mark = hooked::load(&dir, &shared)?;
        if hook_mark > active.base_offset() {
            hook_mark = active.base_offset();
            hooked::store(&dir, hook_mark)?;
        }
        let inner = Arc::new(Inner {
            topic,
            id,
            dir,
            config: config.clone(),
            limits,
            writer: Mutex::new(WriterState {
                active,
                unsynced_sealed: Vec::new(),
                marked_dirty: false,
                closed: false,
            }),
            segments: RwLock::new(Arc::new(list)),
            next_offset: AtomicU64::new(next),
            start_offset: AtomicU64::new(start),
            commit: GroupCommit::new(next),
            recovery_point: AtomicU64::new(recovery_point),
            checkpoint_lock: Mutex::new(()),
            open: AtomicBool::new(true),
            abandoned: AtomicBool::new(false),
            flusher,
            notifier,
            groups,
            log_start_offset: AtomicU64::new(log_start),
            retention_lock: Mutex::new(()),
            shared,
            hook_mark: Mutex::new(hooked::HookMark::new(hook_mark)),
            hook_run: Mutex::new(()),
            discarded: AtomicBool::new(false),
            #[cfg(test)]
            before_snapshot: Mutex::new(None),
            epoch: AtomicU64::new(0),
            cuts: Mutex::new(Vec::new()),
            forced_deletions: AtomicU64::new(0),
            compacted_to: AtomicU64::new(0),
            // Nothing is mapped yet, so the first pass maps (and scans) everything.
            tombstones_due: AtomicI64::new(super::compact::NO_TOMBSTONE),
        });
        if recovered {
            // Record the recovery so a crash before the next checkpoint does not redo it.
            let mut w = inner.writer.lock();
            inner.write_checkpoint(false, &w)?;
            w.marked_dirty = true;
        }
        if let Some(target) = truncated_to {
            // The interrupted truncation may not have lowered the groups' offsets yet.
            if let Some(g) = &inner.groups {
                g.lower(inner.id, target)?;
            }
            fsutil::remove_if_exists(&intent_path)?;
            fsutil::sync_dir(&inner.dir)?;
        }
        Ok(Partition::from_inner(inner))
    }
}

/// A checkpoint describes the directory exactly as a clean close left it.
fn is_clean(c: &Checkpoint, dir: &Path, bases: &[u64]) -> bool {
    let Some(&last) = bases.last() else {
        return false;
    };
    c.clean
        && c.active_base == last
        && c.recovery_point == last
        && fs::metadata(SegmentPaths::new(dir, last).log).is_ok_and(|m| m.len() == c.active_len)
}
