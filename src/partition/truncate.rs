//! Truncation: discarding every record at and above an offset.
//!
//! Crash safety comes from an intent file written first (`truncate`, framed and CRC'd, replaced
//! atomically): until it is removed, every open of the partition completes the truncation
//! before anything else, and every step below is idempotent. Mapped files are never shrunk:
//! the segment holding the cut point is rewritten into a new file renamed over the old one,
//! so readers holding records of the old file keep valid (if now discarded) views.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Inner, WriterState};
use crate::codec::meta;
use crate::error::{Error, PoisonCause, PoisonedBy, Result};
use crate::fsutil;
use crate::segment::core::SegmentCore;
use crate::segment::recover::recover;
use crate::segment::rewrite::rewrite_prefix;
use crate::segment::{Segment, SegmentPaths, create_files};

/// How many recent cuts a partition remembers for iterators (older ones are merged).
const MAX_CUTS: usize = 32;

/// Name of the truncation intent file in a partition directory.
pub(crate) const TRUNCATE_FILE: &str = "truncate";

impl Inner {
    /// The lowest offset any truncation since `epoch` cut the log to, if there was one.
    pub(crate) fn lowest_cut_since(&self, epoch: u64) -> Option<u64> {
        // Cuts dropped from the list were merged into the first entry, which every iterator
        // older than them also counts.
        self.cuts
            .lock()
            .iter()
            .filter(|(e, _)| *e > epoch)
            .map(|&(_, target)| target)
            .min()
    }

    /// Discards every record at or above `target`; appends continue at `target`.
    pub(crate) fn truncate_to(&self, target: u64) -> Result<()> {
        let _pass = self.retention_lock.lock();
        let mut w = self.writer.lock();
        self.check_writable(&w)?;
        let next = w.active.next_offset();
        let start = self.start_offset.load(Ordering::Acquire);
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
            self.commit
                .poison(PoisonCause::new(PoisonedBy::Truncation, e));
        }
        self.notifier.notify();
        result
    }

    fn truncate_locked(&self, w: &mut WriterState, target: u64) -> Result<()> {
        fsutil::atomic_write(&self.dir, TRUNCATE_FILE, &meta::encode_truncate(target))?;
        crate::failpoint::hit("truncate.after_intent");
        w.marked_dirty = true;
        // No more writes to the old active segment; its writer lock is released.
        w.active.release_writer();
        let segs = self.segments();
        let (keep, doomed): (Vec<Arc<SegmentCore>>, Vec<Arc<SegmentCore>>) =
            segs.iter().cloned().partition(|s| s.base < target);
        // Unlist what goes, so new readers do not find it.
        *self.segments.write() = Arc::new(keep.clone());
        self.delete_segments(&doomed)?;
        crate::failpoint::hit("truncate.after_delete");
        let replaced = match keep.last() {
            Some(s) => rewrite_prefix(&s.paths, s.base, target)?,
            None => false,
        };
        let new_active = match keep.last() {
            // The kept segment's log was cut: it becomes the active segment again, recovered
            // from its new file (a new inode: mappings of the old one, and their shared
            // locks, stay with readers).
            Some(s) if replaced => {
                crate::failpoint::hit("truncate.after_rewrite");
                let (core, writer, _) = recover(
                    s.paths.clone(),
                    s.base,
                    &self.limits,
                    self.config.verify_checksums,
                    true,
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
        *self.segments.write() = Arc::new(list);
        self.next_offset.store(target, Ordering::Release);
        self.recovery_point.fetch_min(active_base, Ordering::AcqRel);
        // What is appended from the cut on must be mapped by the next compaction pass.
        self.compacted_to.fetch_min(target, Ordering::AcqRel);
        self.commit.truncate(target);
        // Iterators notice this and drop what they were reading.
        {
            // Remember the cut for iterators that notice the new epoch late.
            let mut cuts = self.cuts.lock();
            let epoch = self.epoch.load(Ordering::Acquire) + 1;
            cuts.push((epoch, target));
            if cuts.len() > MAX_CUTS {
                let (_, oldest) = cuts.remove(0);
                // Merge into the next entry: an iterator older than both moves to the lower.
                if let Some(first) = cuts.first_mut() {
                    first.1 = first.1.min(oldest);
                }
            }
            self.epoch.store(epoch, Ordering::Release);
        }
        self.write_checkpoint(false, w)?;
        // Before the intent goes: a crash until then replays this on open.
        if let Some(g) = &self.groups {
            g.lower(self.id, target)?;
        }
        crate::failpoint::hit("truncate.before_intent_removed");
        fsutil::remove_if_exists(&self.dir.join(TRUNCATE_FILE))?;
        fsutil::sync_dir(&self.dir)
    }
}
