//! Durability: syncs, the recovery point and the checkpoint.
//!
//! Invariants:
//! * Every offset below `commit.durable()` is on stable storage: a sync reported it only
//!   after `fdatasync` of every file holding it returned.
//! * Every segment whose base is below `recovery_point` is synced, indexes included, and
//!   needs no recovery after a crash; the recovery point is always a segment base, and never
//!   passes a sealed segment that is still waiting for its sync (`WriterState::
//!   unsynced_sealed`).
//! * After a failed sync (or seal, or truncation) the partition is poisoned for good: nothing
//!   more is reported durable and the recovery point does not move (`commit.rs`).
//! * The on-disk checkpoint never claims more than this state: it is written after the
//!   recovery point moves, and "clean" only by a close that synced everything.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::commit::GroupCommit;
use super::lifecycle::DirWrite;
use super::writer::WriterState;
use super::{CHECKPOINT_FILE, Inner};
use crate::codec::meta::{self, Checkpoint};
use crate::error::{Error, PoisonCause, Result, io_err};
use crate::failpoint::{self, Failpoint};
use crate::fsutil;
use crate::segment::sync_core;

/// Which checkpoint [`Inner::write_checkpoint`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checkpointed {
    /// Everything is synced and the active segment trimmed: the next open scans nothing.
    Clean,
    /// The partition may have unsynced appends: the next open recovers from the recovery
    /// point.
    Unclean,
}

/// The group commit and the recovery point (see the module docs).
#[derive(Debug)]
pub(crate) struct Durability {
    commit: GroupCommit,
    recovery_point: AtomicU64,
}

impl Durability {
    /// Offsets below `durable` are synced; segments below `recovery_point` need no recovery.
    pub(crate) fn new(durable: u64, recovery_point: u64) -> Self {
        Self {
            commit: GroupCommit::new(durable),
            recovery_point: AtomicU64::new(recovery_point),
        }
    }

    /// Offsets below this are durable.
    pub(crate) fn durable(&self) -> u64 {
        self.commit.durable()
    }

    /// The group commit's truncation epoch.
    pub(crate) fn epoch(&self) -> u64 {
        self.commit.epoch()
    }

    /// Base offset below which every segment is synced.
    pub(crate) fn recovery_point(&self) -> u64 {
        self.recovery_point.load(Ordering::Acquire)
    }

    /// Lowers the recovery point to at most `to` (a truncation cut below it).
    pub(crate) fn lower_recovery_point(&self, to: u64) {
        self.recovery_point.fetch_min(to, Ordering::AcqRel);
    }

    /// The log was truncated to `to`: see [`GroupCommit::truncate`].
    pub(crate) fn truncate(&self, to: u64) {
        self.commit.truncate(to);
    }

    /// Poisons the partition for good.
    pub(crate) fn poison(&self, cause: PoisonCause) {
        self.commit.poison(cause);
    }

    /// True once poisoned.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.commit.poisoned().is_some()
    }

    /// `Err(Poisoned)` once poisoned.
    pub(crate) fn check_not_poisoned(&self, dir: &Path) -> Result<()> {
        match self.commit.poisoned() {
            Some(cause) => Err(poisoned_error(dir, cause)),
            None => Ok(()),
        }
    }
}

fn poisoned_error(dir: &Path, cause: PoisonCause) -> Error {
    Error::Poisoned {
        path: dir.to_path_buf(),
        cause,
    }
}

impl Inner {
    pub(super) fn poisoned_error(&self, cause: PoisonCause) -> Error {
        poisoned_error(&self.dir, cause)
    }

    /// Blocks until every offset below `target` is durable (group commit).
    /// `epoch` is the truncation epoch the offsets were appended in.
    pub(crate) fn sync_to(&self, target: u64, epoch: u64) -> Result<()> {
        self.durability.commit.wait_durable(
            target,
            epoch,
            || self.sync_once(),
            |r| self.poisoned_error(r),
        )
    }

    /// Makes everything appended so far durable (retrying across a concurrent truncation).
    pub(crate) fn sync_all(&self) -> Result<()> {
        loop {
            let epoch = self.durability.epoch();
            let end = self.log.next_offset();
            match self.sync_to(end, epoch) {
                Err(Error::Truncated { .. }) => {}
                r => return r,
            }
        }
    }

    /// Runs one sync now, after any in flight (see [`GroupCommit::sync_now`]).
    pub(crate) fn sync_now(&self) -> Result<()> {
        self.durability
            .commit
            .sync_now(|| self.sync_once(), |r| self.poisoned_error(r))
    }

    /// One sync: the sealed segments waiting for one, then the active log. Returns the offset
    /// below which everything is now durable.
    pub(super) fn sync_once(&self) -> Result<u64> {
        // After a failed sync nothing may be reported durable, nor the recovery point moved.
        self.durability.check_not_poisoned(&self.dir)?;
        failpoint::hit(Failpoint::SyncAfterPoisonCheck);
        let (target, active, sealed) = {
            let w = self.writer.lock();
            (
                w.active.next_offset(),
                Arc::clone(w.active.core()),
                w.unsynced_sealed.clone(),
            )
        };
        for seg in &sealed {
            sync_core(seg)?;
        }
        if !sealed.is_empty()
            && self.env.shared.options.on_segment_sealed.is_some()
            && let Some(f) = &self.env.flusher
        {
            // Once the recovery point moves past them, the flusher's next pass passes them
            // to the hook.
            f.note_roll();
        }
        active.log.sync_data().map_err(io_err(&active.paths.log))?;
        if !sealed.is_empty() {
            let w = &mut *self.writer.lock();
            // Checked again under the writer lock: a roll whose seal failed poisons the
            // partition in the critical section that queued its untrimmed segment, possibly
            // after the check above; the recovery point must not move past that segment.
            self.durability.check_not_poisoned(&self.dir)?;
            w.unsynced_sealed
                .retain(|s| !sealed.iter().any(|d| Arc::ptr_eq(s, d)));
            let point = w
                .unsynced_sealed
                .first()
                .map_or(w.active.base_offset(), |s| s.base);
            if point > self.durability.recovery_point() {
                self.durability
                    .recovery_point
                    .store(point, Ordering::Release);
                // The data is durable either way: a checkpoint that cannot be written (disk
                // full) only means a longer recovery, so it is reported, not fatal.
                if let Err(e) = self.write_checkpoint(Checkpointed::Unclean, w) {
                    self.env
                        .shared
                        .report(format!("checkpoint of {}: {e}", self.dir.display()));
                }
            }
        }
        self.log.publish_durable(target);
        Ok(target)
    }

    /// Writes the checkpoint file atomically. Does nothing once the lifecycle no longer allows
    /// it (closed, deleted, or dropped as in a crash: the directory may be gone or reused).
    pub(super) fn write_checkpoint(&self, kind: Checkpointed, w: &WriterState) -> Result<()> {
        let cp = Checkpoint {
            clean: kind == Checkpointed::Clean,
            recovery_point: self.durability.recovery_point(),
            next_offset: w.active.next_offset(),
            active_base: w.active.base_offset(),
            active_len: w.active.size(),
            active_max_timestamp: w.active.max_timestamp().unwrap_or(i64::MIN),
            log_start_offset: self.maintenance.log_start_offset(),
        };
        self.lifecycle
            .write_in_dir(DirWrite::Checkpoint, || {
                fsutil::atomic_write(&self.dir, CHECKPOINT_FILE, &meta::encode_checkpoint(&cp))
            })
            .map(drop)
    }

    /// Writes an unclean checkpoint unless this instance already did since the partition
    /// opened: before the first append touches the log, a clean checkpoint must not stay on
    /// disk.
    pub(super) fn mark_unclean(&self, w: &mut WriterState) -> Result<()> {
        if !w.marked_dirty {
            self.write_checkpoint(Checkpointed::Unclean, w)?;
            w.marked_dirty = true;
        }
        Ok(())
    }

    /// The syncs and the clean checkpoint of `close`. On any failure the checkpoint stays
    /// unclean, so the next open recovers from disk.
    pub(super) fn close_cleanly(&self, w: &mut WriterState) -> Result<()> {
        if self.durability.is_poisoned() {
            return Ok(());
        }
        for seg in &w.unsynced_sealed {
            sync_core(seg)?;
        }
        w.unsynced_sealed.clear();
        w.active.trim_for_close()?;
        w.active.sync()?;
        if self.durability.is_poisoned() {
            return Ok(());
        }
        self.durability
            .recovery_point
            .store(w.active.base_offset(), Ordering::Release);
        self.write_checkpoint(Checkpointed::Clean, w)
    }
}
