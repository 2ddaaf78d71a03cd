//! The loader: how a partition directory becomes a partition, in named phases. No other
//! module deletes or renames files while a partition opens.
//!
//! 1. **List** the directory ([`Listing`]): segment logs by base offset, index files,
//!    entries named like a log that are not regular files, and the checkpoint.
//! 2. **Finish or undo interrupted operations**: `.deleted` files of a retention pass and
//!    `.truncating` files of a truncation's rewrite are removed; a compaction swap is rolled
//!    forward if it was decided (its `.log.swap` exists) and undone otherwise; `.tmp` files of
//!    the checkpoint and hook mark are removed; index files without their log are removed;
//!    a truncation intent (`truncate`) is carried out again (segments past it removed, the
//!    one holding it rewritten up to it). A non-regular entry named like a log within the log
//!    refuses the open.
//! 3. **Recover the unflushed tail**: after a clean close the checkpoint is trusted and no
//!    record is read; otherwise every segment from the recovery point on is scanned, cut
//!    after its last valid batch, and, if one ends before the next segment's base (a hole),
//!    every later segment is dropped.
//! 4. **Rebuild indexes** of the sealed segments that were trusted without a scan, where
//!    they look damaged or are missing (recovered segments got new ones in phase 3).
//! 5. **Publish**: the segment list, offsets and components are built; a hook mark above the
//!    active segment is lowered; a recovery is recorded in the checkpoint; an interrupted
//!    truncation lowers the groups' committed offsets and its intent goes.
//!
//! DESIGN.md has the table of crash leftovers and the phase that handles each.

mod leftovers;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use self::leftovers::{
    Entries, OddLog, check_odd_logs, entries, finish_file_leftovers, remove_segment,
};

use super::durability::{Checkpointed, Durability};
use super::hooked::{self, HOOKED_FILE};
use super::lifecycle::Lifecycle;
use super::maintenance::Maintenance;
use super::published::Published;
use super::truncate::TRUNCATE_FILE;
use super::writer::Writer;
use super::{CHECKPOINT_FILE, Context, Inner, Partition};
use crate::codec::meta::{self, Checkpoint};
use crate::config::TopicConfig;
use crate::error::{Corruption, Error, Result, io_err};
use crate::fsutil::{self};
use crate::live::SlotWriter;
use crate::mmap::MapRef;
use crate::segment::core::SegmentCore;
use crate::segment::files::{LOG_EXT, parse_file_name};
use crate::segment::open::{
    IndexCheck, check_sealed_indexes, map_sealed_log, open_active_clean, open_sealed_mapped,
};
use crate::segment::recover::{RecoverAs, recover};
use crate::segment::rewrite::rewrite_prefix;
use crate::segment::writer::Limits;
use crate::segment::{Segment, SegmentPaths, create_files};

/// Whether the partition directory is made or must exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// A new partition: the directory is created (if missing) with a first segment.
    Create,
    /// An existing partition: a missing directory is [`Corruption::Missing`].
    Existing,
}

/// Phase 1's result.
struct Listing {
    /// Base offsets that have a `.log`.
    logs: Vec<u64>,
    /// Index files by base offset.
    indexes: BTreeMap<u64, Vec<PathBuf>>,
    /// Entries named like a `.log` that are not regular files.
    odd_logs: Vec<OddLog>,
    /// The checkpoint, if there is one that decodes (a damaged one is never trusted:
    /// everything is recovered instead).
    checkpoint: Option<Checkpoint>,
    /// A truncation intent is listed.
    has_intent: bool,
    /// A hook mark is listed.
    has_hook_mark: bool,
}

impl Listing {
    /// Phase 1: sorts the directory's entries and reads the checkpoint, if listed. No side
    /// effects.
    fn read(dir: &Path, found: Entries) -> Result<Self> {
        let mut logs = BTreeSet::new();
        let mut indexes: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
        let (has_checkpoint, has_intent, has_hook_mark) = (
            found.has(CHECKPOINT_FILE),
            found.has(TRUNCATE_FILE),
            found.has(HOOKED_FILE),
        );
        for (name, path) in found.files {
            match parse_file_name(&name) {
                Some((base, LOG_EXT)) => {
                    logs.insert(base);
                }
                Some((base, _)) => indexes.entry(base).or_default().push(path),
                None => {}
            }
        }
        let checkpoint = if has_checkpoint {
            fsutil::read_optional(&dir.join(CHECKPOINT_FILE))?
                .and_then(|b| meta::decode_checkpoint(&b).ok())
        } else {
            None
        };
        Ok(Self {
            logs: logs.into_iter().collect(),
            indexes,
            odd_logs: found.odd_logs,
            checkpoint,
            has_intent,
            has_hook_mark,
        })
    }
}

/// Phase 2's result: the segments that remain, and what an interrupted truncation needs
/// from phase 5.
struct Finished {
    bases: Vec<u64>,
    checkpoint: Option<Checkpoint>,
    truncated_to: Option<u64>,
    has_hook_mark: bool,
}

/// A sealed segment trusted without a scan: its paths, base and next offset, and its log,
/// mapped.
type Trusted = (SegmentPaths, u64, u64, MapRef);

/// Phase 3's result.
struct Recovered {
    /// Sealed segments trusted without a scan: their logs mapped, indexes not checked yet.
    trusted: Vec<Trusted>,
    /// Sealed segments recovered by a scan, in order after the trusted ones.
    scanned: Vec<Arc<SegmentCore>>,
    active: Segment,
    /// Some segment was scanned or created: the checkpoint must record it.
    checkpoint_stale: bool,
}

impl Partition {
    /// Opens (or creates) the partition in `dir`, through the five phases of the module docs.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a missing directory, a damaged truncation intent or a log that is
    /// not a regular file; [`Error::Io`]; [`Error::Locked`] if another writer holds a segment.
    pub(crate) fn open(
        topic: Arc<str>,
        id: u32,
        dir: PathBuf,
        config: &TopicConfig,
        mode: OpenMode,
        ctx: Context,
    ) -> Result<Self> {
        if mode == OpenMode::Create {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let limits = Limits::new(config);
        // Phase 2 first finishes what renames files, so that the listing it works on is the
        // one that stays: the directory is listed again only if it changed.
        let mut found = list(&dir)?;
        if finish_file_leftovers(&dir, &found)? {
            found = list(&dir)?;
        }
        let listing = Listing::read(&dir, found)?;
        let finished = finish_interrupted(&dir, listing)?;
        let recovered = recover_tail(&dir, &limits, config, &finished)?;
        let sealed = rebuild_indexes(&limits, config, recovered.trusted)?;
        publish(
            (topic, id, dir),
            config,
            limits,
            ctx,
            &finished,
            sealed.into_iter().chain(recovered.scanned).collect(),
            recovered.active,
            recovered.checkpoint_stale,
        )
    }
}

/// Lists a partition's directory; one that is missing (or not a directory) is
/// [`Corruption::Missing`].
fn list(dir: &Path) -> Result<Entries> {
    entries(dir).map_err(|e| match e {
        Error::Io { source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Error::corrupt(
                dir,
                0,
                Corruption::Missing {
                    what: "partition directory",
                },
            )
        }
        e => e,
    })
}

/// Phase 2: index files whose log is gone, non-regular logs, the truncation intent.
fn finish_interrupted(dir: &Path, listing: Listing) -> Result<Finished> {
    let Listing {
        logs: mut bases,
        indexes,
        odd_logs,
        mut checkpoint,
        has_intent,
        has_hook_mark,
    } = listing;
    for (base, paths) in indexes {
        if bases.binary_search(&base).is_err() {
            for p in paths {
                fsutil::remove_if_exists(&p)?;
            }
        }
    }
    check_odd_logs(&odd_logs, &bases, checkpoint.as_ref())?;
    // An interrupted truncation is finished before anything else reads the segments.
    let intent_path = dir.join(TRUNCATE_FILE);
    let intent = if has_intent {
        fsutil::read_optional(&intent_path)?
    } else {
        None
    };
    let truncated_to = match intent {
        Some(bytes) => {
            let target =
                meta::decode_truncate(&bytes).map_err(|e| Error::metadata(&intent_path, &e))?;
            for &b in bases.iter().filter(|&&b| b >= target) {
                remove_segment(dir, b)?;
            }
            bases.retain(|&b| b < target);
            if let Some(&b) = bases.last() {
                rewrite_prefix(&SegmentPaths::new(dir, b), b, target)?;
            }
            fsutil::sync_dir(dir)?;
            if let Some(c) = checkpoint.as_mut() {
                c.clean = false;
                c.recovery_point = c
                    .recovery_point
                    .min(bases.last().copied().unwrap_or(target));
            }
            Some(target)
        }
        None => None,
    };
    // Segments wholly below the log start offset are gone: a retention pass records the new
    // start in the checkpoint before it renames any file, so a crash may leave any subset of
    // them, which must not leave a hole in front of the segments kept.
    if let Some(log_start) = checkpoint.map(|c| c.log_start_offset) {
        let below = bases
            .windows(2)
            .take_while(|pair| pair[1] <= log_start)
            .count();
        if below > 0 {
            for &b in &bases[..below] {
                remove_segment(dir, b)?;
            }
            fsutil::sync_dir(dir)?;
            bases.drain(..below);
        }
    }
    Ok(Finished {
        bases,
        checkpoint,
        truncated_to,
        has_hook_mark,
    })
}

/// Phase 3: the clean path (nothing read), or recovery from the recovery point on.
fn recover_tail(
    dir: &Path,
    limits: &Limits,
    config: &TopicConfig,
    f: &Finished,
) -> Result<Recovered> {
    let verify = config.verify_checksums;
    let bases = &f.bases;
    let mut trusted = Vec::new();
    let mut scanned = Vec::new();
    let mut active: Option<Segment> = None;
    let mut recovered = false;
    if bases.is_empty() {
        return Ok(Recovered {
            trusted,
            scanned,
            active: empty_active(dir, limits, config, f)?,
            checkpoint_stale: true,
        });
    }
    if let Some(c) = f.checkpoint.filter(|c| is_clean(c, dir, bases)) {
        let last = bases.len() - 1;
        for i in 0..last {
            let (b, nb) = (bases[i], bases[i + 1]);
            let paths = SegmentPaths::new(dir, b);
            let log = map_sealed_log(&paths)?;
            trusted.push((paths, b, nb, log));
        }
        let b = bases[last];
        let paths = SegmentPaths::new(dir, b);
        let opened = open_active_clean(
            paths.clone(),
            b,
            limits,
            verify,
            crate::num::usize_from(c.active_len),
            c.next_offset,
            c.active_max_timestamp,
        )?;
        active = Some(if let Some((core, w)) = opened {
            Segment::from_parts(core, Some(w), config)
        } else {
            recovered = true;
            let (core, w, _) = recover(paths, b, limits, verify, RecoverAs::Active)?;
            Segment::from_parts(core, w, config)
        });
    } else {
        recover_from_point(
            dir,
            limits,
            config,
            f,
            &mut trusted,
            &mut scanned,
            &mut active,
        )?;
        recovered = true;
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
    Ok(Recovered {
        trusted,
        scanned,
        active,
        checkpoint_stale: recovered,
    })
}

/// Phase 3 without a clean checkpoint: segments below the recovery point are trusted, every
/// one from it on is scanned.
fn recover_from_point(
    dir: &Path,
    limits: &Limits,
    config: &TopicConfig,
    f: &Finished,
    trusted: &mut Vec<Trusted>,
    scanned: &mut Vec<Arc<SegmentCore>>,
    active: &mut Option<Segment>,
) -> Result<()> {
    let verify = config.verify_checksums;
    let rp = f.checkpoint.map_or(0, |c| c.recovery_point);
    let mut bases = f.bases.clone();
    let mut i = 0;
    while i < bases.len() {
        let b = bases[i];
        let next_base = bases.get(i + 1).copied();
        let paths = SegmentPaths::new(dir, b);
        if let Some(nb) = next_base.filter(|&nb| nb <= rp) {
            let log = map_sealed_log(&paths)?;
            trusted.push((paths, b, nb, log));
            i += 1;
            continue;
        }
        let role = if next_base.is_none() {
            RecoverAs::Active
        } else {
            RecoverAs::Sealed
        };
        let (core, writer, _) = recover(paths.clone(), b, limits, verify, role)?;
        match next_base {
            None => *active = Some(Segment::from_parts(core, writer, config)),
            Some(nb) if core.next_offset() == nb => scanned.push(Arc::new(core)),
            Some(_) => {
                // A hole: what follows was written after data that never became durable, so
                // (syncs being in order) none of it was acknowledged as durable either. Drop
                // it and continue from this segment.
                drop(core);
                for &later in &bases[i + 1..] {
                    remove_segment(dir, later)?;
                }
                fsutil::sync_dir(dir)?;
                bases.truncate(i + 1);
                let (core, writer, _) = recover(paths, b, limits, verify, RecoverAs::Active)?;
                *active = Some(Segment::from_parts(core, writer, config));
            }
        }
        i += 1;
    }
    Ok(())
}

/// The active segment of a partition without segments: a new one at the next offset it
/// ever had (never reusing an offset handed out, unless a truncation gave it back).
fn empty_active(
    dir: &Path,
    limits: &Limits,
    config: &TopicConfig,
    f: &Finished,
) -> Result<Segment> {
    let base = f
        .truncated_to
        .unwrap_or(f.checkpoint.map_or(0, |c| c.next_offset));
    let (core, writer) = create_files(
        SegmentPaths::new(dir, base),
        base,
        limits,
        config.verify_checksums,
    )?;
    fsutil::sync_dir(dir)?;
    Ok(Segment::from_parts(core, Some(writer), config))
}

/// Phase 4: checks the indexes of the sealed segments trusted without a scan, rebuilding
/// those that look damaged, and makes their cores.
fn rebuild_indexes(
    limits: &Limits,
    config: &TopicConfig,
    trusted: Vec<Trusted>,
) -> Result<Vec<Arc<SegmentCore>>> {
    trusted
        .into_iter()
        .map(|(paths, base, next_base, log)| {
            let check: IndexCheck =
                check_sealed_indexes(&paths, base, next_base, limits, log.published())?;
            open_sealed_mapped(paths, base, next_base, log, check, config.verify_checksums)
                .map(Arc::new)
        })
        .collect()
}

/// Phase 5: builds the partition and records what the phases before did.
#[expect(
    clippy::too_many_arguments,
    reason = "the phases' results, consumed once"
)]
fn publish(
    (topic, id, dir): (Arc<str>, u32, PathBuf),
    config: &TopicConfig,
    limits: Limits,
    env: Context,
    finished: &Finished,
    sealed: Vec<Arc<SegmentCore>>,
    active: Segment,
    recovered: bool,
) -> Result<Partition> {
    let cp = finished.checkpoint;
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
    let mut hook_mark = if finished.has_hook_mark {
        hooked::load(&dir, &env.shared)?
    } else {
        0
    };
    if hook_mark > active.base_offset() {
        hook_mark = active.base_offset();
        hooked::store(&dir, hook_mark)?;
    }
    let mut log = Published::new(list, start, next, Arc::clone(&env.notifier));
    if let Some(live) = &env.live {
        log = log.with_beacon(SlotWriter::new(Arc::clone(live), id));
    }
    let inner = Arc::new(Inner {
        topic,
        id,
        dir,
        config: config.clone(),
        limits,
        log: Arc::new(log),
        writer: Writer::new(active),
        durability: Durability::new(next, recovery_point),
        maintenance: Maintenance::new(log_start, hook_mark),
        lifecycle: Lifecycle::new(),
        env,
    });
    let mut recorded = true;
    if recovered {
        // Record the recovery so a crash before the next checkpoint does not redo it. Only
        // a shortcut: without space for it (a full disk) the partition opens all the same,
        // the next open recovers again, and the first append tries the write again.
        let mut w = inner.writer.lock();
        match inner.write_checkpoint(Checkpointed::Unclean, &w) {
            Ok(()) => w.marked_dirty = true,
            Err(e) => {
                recorded = false;
                inner.env.shared.report(format!(
                    "checkpoint of {} after its recovery: {e}; the next open recovers it again",
                    inner.dir.display()
                ));
            }
        }
    }
    publish_session(&inner, start, finished.truncated_to);
    if let Some(target) = finished.truncated_to {
        // The interrupted truncation may not have lowered the groups' offsets yet.
        if let Some(g) = &inner.env.groups {
            g.lower(inner.id, target)?;
        }
        // The intent goes only once the checkpoint that follows it is written: until then
        // the next open replays it (every step of which is idempotent).
        if recorded {
            fsutil::remove_if_exists(&inner.dir.join(TRUNCATE_FILE))?;
            fsutil::sync_dir(&inner.dir)?;
        }
    }
    Ok(Partition::from_inner(inner))
}

/// Publishes the opened partition to readers of other processes: its start, a cut if it
/// now ends below what the previous session published (a replayed truncation, or data the
/// device did not hold), its tail; then the end of the change the session began.
fn publish_session(inner: &Inner, start: u64, truncated_to: Option<u64>) {
    let Some(beacon) = inner.log.beacon() else {
        return;
    };
    let next = inner.log.next_offset_now();
    let prior_next = beacon.prior_tail().map_or(0, |t| t.next_offset);
    let cut = truncated_to
        .into_iter()
        .chain((prior_next > next).then_some(next))
        .min();
    beacon.update_cold(|c| {
        c.start = start;
        if let Some(cut) = cut {
            c.push_cut(cut);
        }
        c.durable = c.durable.min(next);
    });
    inner.log.publish_tail(inner.writer.lock().active.core());
    inner.log.end_change();
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
