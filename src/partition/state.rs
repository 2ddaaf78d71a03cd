//! The partition's internal operations: rolling, syncing, checkpointing, closing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{CHECKPOINT_FILE, Inner, WriterState};
use crate::codec::meta::{self, Checkpoint};
use crate::error::{Error, PoisonCause, PoisonedBy, Result};
use crate::fsutil;
use crate::segment::core::SegmentCore;
use crate::segment::{Segment, SegmentPaths, create_files, sync_core};

impl Inner {
    pub(super) fn closed_error(&self) -> Error {
        Error::Closed(format!("partition {} of topic {:?}", self.id, &*self.topic))
    }

    pub(super) fn poisoned_error(&self, cause: PoisonCause) -> Error {
        Error::Poisoned {
            path: self.dir.clone(),
            cause,
        }
    }

    /// Fails if appends are not allowed right now.
    pub(super) fn check_writable(&self, w: &WriterState) -> Result<()> {
        if w.closed {
            return Err(self.closed_error());
        }
        if let Some(reason) = self.commit.poisoned() {
            return Err(self.poisoned_error(reason));
        }
        Ok(())
    }

    /// The current segment list.
    pub(crate) fn segments(&self) -> Arc<Vec<Arc<SegmentCore>>> {
        Arc::clone(&self.segments.read())
    }

    /// The segment list and next offset, after checking that `offset` is in range.
    pub(super) fn snapshot_checked(
        &self,
        offset: u64,
    ) -> Result<(Arc<Vec<Arc<SegmentCore>>>, u64)> {
        let end = self.next_offset.load(Ordering::Acquire);
        let segs = self.segments();
        let first = segs.first().map_or(0, |s| s.base);
        let start = self.start_offset.load(Ordering::Acquire).max(first);
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                start,
                end,
            });
        }
        Ok((segs, end))
    }

    /// Seals the active segment and starts a new one at the next offset. The sealed segment
    /// is synced later (by the flusher or the next flush) before the recovery point passes it.
    pub(super) fn roll(&self, w: &mut WriterState) -> Result<()> {
        let base = w.active.next_offset();
        let paths = SegmentPaths::new(&self.dir, base);
        // Files already named for the new base lie past the end of the log: leftovers of a
        // roll that failed half-way. They hold nothing of ours.
        for p in [&paths.log, &paths.index, &paths.time] {
            fsutil::remove_if_exists(p)?;
        }
        let (core, writer) = create_files(paths, base, &self.limits, self.config.verify_checksums)?;
        // The new file names must survive a crash before anything in them is acknowledged.
        fsutil::sync_dir(&self.dir)?;
        let next = Segment::from_parts(core, Some(writer), &self.config);
        let mut old = std::mem::replace(&mut w.active, next);
        if let Err(e) = old.seal_without_sync() {
            // Trimming failed: the old segment keeps its zero tail, which recovery handles,
            // but say so loudly rather than carry on as if the roll were clean.
            self.commit.poison(PoisonCause::new(PoisonedBy::Seal, &e));
        }
        w.unsynced_sealed.push(Arc::clone(old.core()));
        {
            let mut segs = self.segments.write();
            let mut list = Vec::with_capacity(segs.len() + 1);
            list.extend(segs.iter().cloned());
            list.push(Arc::clone(w.active.core()));
            *segs = Arc::new(list);
        }
        if let Some(f) = &self.flusher {
            f.note_roll();
        }
        Ok(())
    }

    /// Blocks until every offset below `target` is durable (group commit).
    /// `epoch` is the truncation epoch the offsets were appended in.
    pub(crate) fn sync_to(&self, target: u64, epoch: u64) -> Result<()> {
        self.commit.wait_durable(
            target,
            epoch,
            || self.sync_once(),
            |r| self.poisoned_error(r),
        )
    }

    /// Makes everything appended so far durable (retrying across a concurrent truncation).
    pub(crate) fn sync_all(&self) -> Result<()> {
        loop {
            let epoch = self.commit.epoch();
            let end = self.next_offset.load(Ordering::Acquire);
            match self.sync_to(end, epoch) {
                Err(Error::Truncated { .. }) => continue,
                r => return r,
            }
        }
    }

    /// One sync: the sealed segments waiting for one, then the active log. Returns the offset
    /// below which everything is now durable.
    pub(super) fn sync_once(&self) -> Result<u64> {
        // After a failed sync nothing may be reported durable, nor the recovery point moved.
        if let Some(reason) = self.commit.poisoned() {
            return Err(self.poisoned_error(reason));
        }
        #[cfg(test)]
        if let Some(step) = self.before_snapshot.lock().take() {
            (step.0)(self);
        }
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
            && self.shared.options.on_segment_sealed.is_some()
            && let Some(f) = &self.flusher
        {
            // Once the recovery point moves past them, the flusher's next pass passes them
            // to the hook.
            f.note_roll();
        }
        active
            .log
            .sync_data()
            .map_err(crate::error::io_err(&active.paths.log))?;
        if !sealed.is_empty() {
            let w = &mut *self.writer.lock();
            // Checked again under the writer lock: a roll whose seal failed poisons the
            // partition in the critical section that queued its untrimmed segment, possibly
            // after the check above; the recovery point must not move past that segment.
            if let Some(reason) = self.commit.poisoned() {
                return Err(self.poisoned_error(reason));
            }
            w.unsynced_sealed
                .retain(|s| !sealed.iter().any(|d| Arc::ptr_eq(s, d)));
            let point = w
                .unsynced_sealed
                .first()
                .map_or(w.active.base_offset(), |s| s.base);
            if point > self.recovery_point.load(Ordering::Acquire) {
                self.recovery_point.store(point, Ordering::Release);
                // The data is durable either way: a checkpoint that cannot be written (disk
                // full) only means a longer recovery, so it is reported, not fatal.
                if let Err(e) = self.write_checkpoint(false, w) {
                    self.shared
                        .report(format!("checkpoint of {}: {e}", self.dir.display()));
                }
            }
        }
        Ok(target)
    }

    /// Writes the checkpoint file atomically. Does nothing once the partition was abandoned
    /// (deleted, or dropped as in a crash): its directory may be gone or reused.
    pub(super) fn write_checkpoint(&self, clean: bool, w: &WriterState) -> Result<()> {
        let _guard = self.checkpoint_lock.lock();
        if self.abandoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let cp = Checkpoint {
            clean,
            recovery_point: self.recovery_point.load(Ordering::Acquire),
            next_offset: w.active.next_offset(),
            active_base: w.active.base_offset(),
            active_len: w.active.size(),
            active_max_timestamp: w.active.max_timestamp().unwrap_or(i64::MIN),
            log_start_offset: self.log_start_offset.load(Ordering::Acquire),
        };
        fsutil::atomic_write(&self.dir, CHECKPOINT_FILE, &meta::encode_checkpoint(&cp))
    }

    /// Closes cleanly: syncs everything, trims the active segment's preallocated space and
    /// writes a clean checkpoint so the next open scans nothing. Further appends fail.
    pub(crate) fn close(&self) -> Result<()> {
        {
            let mut w = self.writer.lock();
            if w.closed {
                return Ok(());
            }
            w.closed = true;
            self.open.store(false, Ordering::Release);
        }
        // No more appends. Sync what was appended through the group commit, so that this
        // sync never overlaps another one (each I/O error is seen by exactly one sync).
        let synced = self
            .commit
            .sync_now(|| self.sync_once(), |r| self.poisoned_error(r));
        let w = &mut *self.writer.lock();
        let result = synced.and_then(|()| self.close_cleanly(w));
        // Whatever happened, this instance writes nothing more and lets go of its files.
        {
            let _guard = self.checkpoint_lock.lock();
            self.abandoned.store(true, Ordering::Release);
        }
        w.active.release_writer();
        self.notifier.notify();
        result
    }

    /// The syncs and the clean checkpoint of `close`. On any failure the checkpoint stays
    /// unclean, so the next open recovers from disk.
    fn close_cleanly(&self, w: &mut WriterState) -> Result<()> {
        if self.commit.poisoned().is_some() {
            return Ok(());
        }
        for seg in &w.unsynced_sealed {
            sync_core(seg)?;
        }
        w.unsynced_sealed.clear();
        w.active.trim_for_close()?;
        w.active.sync()?;
        if self.commit.poisoned().is_some() {
            return Ok(());
        }
        self.recovery_point
            .store(w.active.base_offset(), Ordering::Release);
        self.write_checkpoint(true, w)
    }

    /// Marks the partition closed without writing anything more (used when its topic is
    /// deleted, and to simulate a crash). Reads keep working.
    pub(crate) fn abandon(&self) {
        // Wait for a retention, truncation or compaction pass in progress: once this returns
        // the directory may be renamed away or reused.
        let _pass = self.retention_lock.lock();
        let mut w = self.writer.lock();
        w.closed = true;
        self.open.store(false, Ordering::Release);
        {
            let _guard = self.checkpoint_lock.lock();
            self.abandoned.store(true, Ordering::Release);
            self.discarded.store(true, Ordering::Release);
        }
        w.active.release_writer();
        self.notifier.notify();
    }

    /// Background work: sync rolled segments, and flush under an interval policy.
    pub(crate) fn background_flush(&self, interval_due: bool, retention_due: bool) {
        if !self.open.load(Ordering::Acquire) {
            return;
        }
        let pending = !self.writer.lock().unsynced_sealed.is_empty();
        let end = self.next_offset.load(Ordering::Acquire);
        // A failure poisons the partition; appenders and flushers will see it.
        let flushed = if interval_due && self.commit.durable() < end {
            self.sync_all().is_ok()
        } else {
            true
        };
        if flushed && pending {
            // A failure poisons the partition inside the group commit.
            let _ = self
                .commit
                .sync_now(|| self.sync_once(), |r| self.poisoned_error(r));
        }
        self.run_sealed_hooks();
        if pending || retention_due {
            self.background_retention();
        }
        let tombstones_expired = self
            .tombstones_due_at()
            .is_some_and(|due| due <= crate::segment::now_ms());
        if self.config.cleanup_policy.compacts()
            && (((pending || retention_due) && self.dirty_ratio_reached()) || tombstones_expired)
            && let Err(e) = self.compact()
        {
            self.shared
                .report(format!("compaction of {}: {e}", self.dir.display()));
        }
    }

    /// Background work on this partition panicked (a pagelog bug, not a hook's: those are
    /// caught where they are called). Its state may be half updated, so the partition is
    /// poisoned (nothing more is acknowledged until a reopen recovers from disk) and the panic
    /// reported; the flusher goes on with the other partitions.
    pub(crate) fn background_panicked(&self, message: &str) {
        let reason = format!("background work panicked: {message}");
        self.shared
            .report(format!("partition {}: {reason}", self.dir.display()));
        self.commit.poison(PoisonCause {
            by: PoisonedBy::Background,
            kind: None,
            message: reason,
        });
    }

    /// Retention from the background thread: errors go to the store's error log.
    fn background_retention(&self) {
        if self.has_retention()
            && let Err(e) = self.enforce_retention()
        {
            self.shared
                .report(format!("retention of {}: {e}", self.dir.display()));
        }
    }

    /// The flush policy's interval, if it has one.
    pub(crate) fn interval(&self) -> Option<std::time::Duration> {
        match self.config.flush {
            crate::config::FlushPolicy::Interval(d) => Some(d),
            _ => None,
        }
    }
}

impl crate::flusher::Background for Inner {
    fn background_flush(&self, interval_due: bool, retention_due: bool) {
        Inner::background_flush(self, interval_due, retention_due);
    }

    fn background_panicked(&self, message: &str) {
        Inner::background_panicked(self, message);
    }

    fn interval(&self) -> Option<std::time::Duration> {
        Inner::interval(self)
    }

    fn tombstones_due_at(&self) -> Option<i64> {
        Inner::tombstones_due_at(self)
    }
}
