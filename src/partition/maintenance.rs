//! Maintenance: retention, compaction, truncation and the sealed-segment hook, and the
//! background work that runs them.
//!
//! Invariants:
//! * One pass at a time: retention, compaction and truncation each hold `pass` for their
//!   whole run (and deletion or a crash waits for it), so no two of them change the segment
//!   list or the files under each other.
//! * `log_start_offset` only grows (`delete_records_before`) and is in the checkpoint before
//!   any segment below it is deleted.
//! * `compacted_to`: every sealed offset below it was mapped by a compaction pass of this
//!   instance; a truncation lowers it to its cut.
//! * `tombstones_due`: when the first tombstone the last compaction pass kept expires (ms
//!   since the epoch), [`NO_TOMBSTONE`](super::compact::NO_TOMBSTONE) if it kept none,
//!   [`UNKNOWN`](super::compact::UNKNOWN) after a failed pass.
//! * `hook_mark.to`: every sealed segment below it was accepted by `on_segment_sealed`, and
//!   the `hooked` file says at most that (`hooked.rs`); one hook run at a time (`hook_run`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};

use super::Inner;
use super::compact::NO_TOMBSTONE;
use super::hooked::HookMark;
use crate::flusher::Due;
use crate::segment::now_ms;

/// The maintenance state (see the module docs).
#[derive(Debug)]
pub(crate) struct Maintenance {
    pass: Mutex<()>,
    log_start_offset: AtomicU64,
    forced_deletions: AtomicU64,
    pub(super) compacted_to: AtomicU64,
    pub(super) tombstones_due: AtomicI64,
    pub(super) hook_mark: Mutex<HookMark>,
    pub(super) hook_run: Mutex<()>,
}

impl Maintenance {
    /// State for a partition opened with this log start offset and hook mark.
    pub(crate) fn new(log_start_offset: u64, hook_mark: u64) -> Self {
        Self {
            pass: Mutex::new(()),
            log_start_offset: AtomicU64::new(log_start_offset),
            forced_deletions: AtomicU64::new(0),
            compacted_to: AtomicU64::new(0),
            // No timer until a pass (which, compacted_to being 0, maps every sealed segment).
            tombstones_due: AtomicI64::new(NO_TOMBSTONE),
            hook_mark: Mutex::new(HookMark::new(hook_mark)),
            hook_run: Mutex::new(()),
        }
    }

    /// Holds off every other retention, compaction or truncation pass.
    pub(crate) fn one_pass(&self) -> MutexGuard<'_, ()> {
        self.pass.lock()
    }

    /// The log start offset (`delete_records_before`), persisted in the checkpoint.
    pub(crate) fn log_start_offset(&self) -> u64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Raises the log start offset; true if it moved.
    pub(crate) fn raise_log_start(&self, to: u64) -> bool {
        self.log_start_offset.fetch_max(to, Ordering::AcqRel) < to
    }

    /// Segments deleted over the hard cap although a group had not consumed them.
    pub(crate) fn forced_deletions(&self) -> u64 {
        self.forced_deletions.load(Ordering::Relaxed)
    }

    /// Counts one forced deletion.
    pub(crate) fn count_forced_deletion(&self) {
        self.forced_deletions.fetch_add(1, Ordering::Relaxed);
    }
}

impl Inner {
    /// Background work: sync rolled segments, flush under an interval policy, run the hook,
    /// retention and compaction.
    pub(crate) fn background_flush(&self, due: Due) {
        if !self.lifecycle.is_open() {
            return;
        }
        let pending = !self.writer.lock().unsynced_sealed.is_empty();
        // Without a hook waiting for sealed segments, retention goes first: the segments it
        // deletes leave the queue of segments waiting for a sync (durably deleted, they need
        // none), so the syncs below never spend time, nor keep descriptors open, on segments
        // that are gone. With a hook, segments are synced and passed to it first.
        let hook_first = self.env.shared.options.on_segment_sealed.is_some();
        if (pending || due.retention) && !hook_first {
            self.background_retention();
        }
        let end = self.log.next_offset();
        // A failure poisons the partition; appenders and flushers will see it.
        let flushed = if due.interval && self.durability.durable() < end {
            self.sync_all().is_ok()
        } else {
            true
        };
        if flushed && !self.writer.lock().unsynced_sealed.is_empty() {
            // A failure poisons the partition inside the group commit.
            let _ = self.sync_now();
        }
        self.run_sealed_hooks();
        if (pending || due.retention) && hook_first {
            self.background_retention();
        }
        let tombstones_expired = self.tombstones_due_at().is_some_and(|due| due <= now_ms());
        if self.config.cleanup_policy.compacts()
            && (((pending || due.retention) && self.dirty_ratio_reached()) || tombstones_expired)
            && let Err(e) = self.compact()
        {
            self.env
                .shared
                .report(format!("compaction of {}: {e}", self.dir.display()));
        }
    }

    /// Background work on this partition panicked (a pagelog bug, not a hook's: those are
    /// caught where they are called). Its state may be half updated, so the partition is
    /// poisoned (nothing more is acknowledged until a reopen recovers from disk) and the panic
    /// reported; the flusher goes on with the other partitions.
    pub(crate) fn background_panicked(&self, message: &str) {
        let reason = format!("background work panicked: {message}");
        self.env
            .shared
            .report(format!("partition {}: {reason}", self.dir.display()));
        self.durability.poison(crate::error::PoisonCause {
            by: crate::error::PoisonedBy::Background,
            kind: None,
            message: reason,
        });
    }

    /// Retention from the background thread: errors go to the store's error log.
    fn background_retention(&self) {
        if self.has_retention()
            && let Err(e) = self.enforce_retention()
        {
            self.env
                .shared
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
    fn background_flush(&self, due: Due) {
        Inner::background_flush(self, due);
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
