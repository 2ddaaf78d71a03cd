//! Truncation: discarding every record at and above an offset.
//!
//! Crash safety comes from an intent file written first (`truncate`, framed and CRC'd, replaced
//! atomically): until it is removed, every open of the partition completes the truncation
//! before anything else, and every step below is idempotent. Mapped files are never shrunk:
//! the segment holding the cut point is rewritten into a new file renamed over the old one,
//! so readers holding records of the old file keep valid (if now discarded) views.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Inner;
use super::durability::Checkpointed;
use super::writer::WriterState;
use crate::codec::meta;
use crate::error::{Error, PoisonCause, PoisonedBy, Result};
use crate::fsutil;
use crate::segment::core::SegmentCore;
use crate::segment::recover::{RecoverAs, recover};
use crate::segment::rewrite::rewrite_prefix;
use crate::segment::{Segment, SegmentPaths, create_files};

/// Name of the truncation intent file in a partition directory.
pub(crate) const TRUNCATE_FILE: &str = "truncate";

impl Inner {
    /// Discards every record at or above `target`; appends continue at `target`.
    pub(crate) fn truncate_to(&self, target: u64) -> Result<()> {
        let _pass = self.maintenance.one_pass();
        let mut w = self.writer.lock();
        self.check_writable(&w)?;
        let next = w.active.next_offset();
        let start = self.log.start_offset();
        if target < start || target > next {
            return Err(Error::OffsetOutOfRange {
                requested: target,
                start,
                end: next,
            });
        }
        if target == next {
            return Ok(());
        }
        let result = self.truncate_locked(&mut w, target);
        if let Err(e) = &result {
            // Half done: refuse further work; reopening completes the truncation from the
            // intent file.
            self.durability
                .poison(PoisonCause::new(PoisonedBy::Truncation, e));
        }
        self.log.notifier.notify();
        result
    }

    fn truncate_locked(&self, w: &mut WriterState, target: u64) -> Result<()> {
        // Readers of other processes keep the list they have until the truncation is
        // published (on a failure, until the next open publishes the finished one).
        self.log.begin_change();
        fsutil::atomic_write(&self.dir, TRUNCATE_FILE, &meta::encode_truncate(target))?;
        crate::failpoint::hit(crate::failpoint::Failpoint::TruncateAfterIntent);
        w.marked_dirty = true;
        // No more writes to the old active segment; its writer lock is released.
        w.active.release_writer();
        let segs = self.log.segments();
        let (keep, doomed): (Vec<Arc<SegmentCore>>, Vec<Arc<SegmentCore>>) =
            segs.iter().cloned().partition(|s| s.base < target);
        // Unlist what goes, so new readers do not find it.
        self.log.replace_segments(|_| keep.clone());
        self.delete_segments(doomed)?;
        crate::failpoint::hit(crate::failpoint::Failpoint::TruncateAfterDelete);
        let replaced = match keep.last() {
            Some(s) => rewrite_prefix(&s.paths, s.base, target)?,
            None => false,
        };
        let new_active = match keep.last() {
            // The kept segment's log was cut: it becomes the active segment again, recovered
            // from its new file (a new inode: mappings of the old one, and their shared
            // locks, stay with readers).
            Some(s) if replaced => {
                crate::failpoint::hit(crate::failpoint::Failpoint::TruncateAfterRewrite);
                let (core, writer, _) = recover(
                    s.paths.clone(),
                    s.base,
                    &self.limits,
                    self.config.verify_checksums,
                    RecoverAs::Active,
                )?;
                Segment::from_parts(core, writer, &self.config)
            }
            // No segment kept, or the last one ends exactly at the target (the cut falls on a
            // segment boundary): it stays sealed as it is, and a new segment starts at the
            // target. Recovering it as the active segment would need its writer lock, which
            // readers' shared locks on its file refuse.
            _ => {
                let paths = SegmentPaths::new(&self.dir, target);
                let (core, writer) =
                    create_files(paths, target, &self.limits, self.config.verify_checksums)?;
                fsutil::sync_dir(&self.dir)?;
                Segment::from_parts(core, Some(writer), &self.config)
            }
        };
        // Segments from the new active base on will be sealed again, with new contents: the
        // hook must see them (durably lowered before anything can be appended there).
        self.lower_hook_mark(new_active.base_offset())?;
        let mut list: Vec<Arc<SegmentCore>> = keep;
        list.retain(|s| s.base < new_active.base_offset());
        list.push(Arc::clone(new_active.core()));
        w.unsynced_sealed.retain(|s| {
            list.iter().any(|k| Arc::ptr_eq(s, k)) && s.base < new_active.base_offset()
        });
        let active_base = new_active.base_offset();
        w.active = new_active;
        self.log.replace_segments(|_| list);
        self.durability.lower_recovery_point(active_base);
        // What is appended from the cut on must be mapped by the next compaction pass.
        self.maintenance
            .compacted_to
            .fetch_min(target, Ordering::AcqRel);
        self.durability.truncate(target);
        // Iterators notice the new epoch and drop what they were reading.
        self.log.publish_cut(target);
        self.log.publish_tail(w.active.core());
        self.log.end_change();
        self.write_checkpoint(Checkpointed::Unclean, w)?;
        // Before the intent goes: a crash until then replays this on open.
        if let Some(g) = &self.env.groups {
            g.lower(self.id, target)?;
        }
        crate::failpoint::hit(crate::failpoint::Failpoint::TruncateBeforeIntentRemoved);
        fsutil::remove_if_exists(&self.dir.join(TRUNCATE_FILE))?;
        fsutil::sync_dir(&self.dir)
    }
}
