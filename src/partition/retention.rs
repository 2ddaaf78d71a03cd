//! Retention: deleting whole sealed segments from the front of a partition.
//!
//! Segments go, oldest first, while one of the rules wants them: below the log start offset
//! (`delete_records_before`), over `retention_bytes`, older than `retention_ms`, or over
//! `retention_hard_bytes`. The pass stops at the first segment no rule wants, so what remains
//! is always a contiguous suffix, and the active segment is never deleted: the next offset
//! never changes. Under consumer-aware retention a segment holding records that some group
//! has not committed stops the pass unless the hard cap is exceeded.
//!
//! Deletion is crash-safe: the segment leaves the in-memory list first (new readers do not
//! see it; readers holding its records keep their mappings), then each file is renamed to
//! `<name>.deleted`, the directory is synced, and the files are unlinked. Leftover `.deleted`
//! files are removed when the partition is opened.

use std::sync::Arc;

use super::Inner;
use super::durability::Checkpointed;
use crate::error::{Result, io_err};
use crate::fsutil;
use crate::hooks::{SegmentInfo, call_hook};
use crate::segment::core::SegmentCore;
use crate::segment::now_ms;

/// Suffix of a file being deleted.
pub(crate) const DELETED_SUFFIX: &str = ".deleted";

/// What a retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes of `.log` deleted.
    pub bytes_deleted: u64,
    /// Segments deleted although a consumer group had not consumed them, because the
    /// partition exceeded `retention_hard_bytes`.
    pub forced_deletions: usize,
    /// Segments that retention wanted to delete but kept because a consumer group had not
    /// consumed them yet.
    pub kept_for_groups: usize,
    /// Errors from `before_segment_delete` hooks (the segments concerned were kept).
    pub hook_errors: Vec<String>,
}

impl RetentionReport {
    /// Adds another report's counts to this one.
    pub fn merge(&mut self, other: RetentionReport) {
        self.segments_deleted += other.segments_deleted;
        self.bytes_deleted += other.bytes_deleted;
        self.forced_deletions += other.forced_deletions;
        self.kept_for_groups += other.kept_for_groups;
        self.hook_errors.extend(other.hook_errors);
    }
}

impl Inner {
    pub(crate) fn segment_info(&self, seg: &SegmentCore) -> SegmentInfo {
        SegmentInfo {
            topic: self.topic.to_string(),
            partition: self.id,
            base_offset: seg.base,
            next_offset: seg.next_offset(),
            size: seg.size(),
            max_timestamp: seg.max_timestamp(),
            log_path: seg.paths.log.clone(),
            index_path: seg.paths.index.clone(),
            time_index_path: seg.paths.time.clone(),
        }
    }

    /// The offset below which every consumer group of the topic has committed, if
    /// consumer-aware retention is on and the topic has groups (see
    /// `Groups::consumed_floor`).
    fn consumed_floor(&self) -> Result<Option<u64>> {
        match &self.env.groups {
            Some(groups) if self.config.retain_until_consumed => groups.consumed_floor(self.id),
            _ => Ok(None),
        }
    }

    /// True if some retention rule is configured (or the start offset was raised).
    pub(crate) fn has_retention(&self) -> bool {
        let c = &self.config;
        c.retention_bytes.is_some()
            || c.retention_ms.is_some()
            || c.retention_hard_bytes.is_some()
            || self.maintenance.log_start_offset() > 0
    }

    /// One retention pass.
    pub(crate) fn enforce_retention(&self) -> Result<RetentionReport> {
        let _pass = self.maintenance.one_pass();
        let mut report = RetentionReport::default();
        if !self.lifecycle.is_open() {
            return Ok(report);
        }
        let floor = self.consumed_floor()?;
        let segs = self.log.segments();
        let Some((_active, sealed)) = segs.split_last() else {
            return Ok(report);
        };
        let c = &self.config;
        let now = now_ms();
        let log_start = self.maintenance.log_start_offset();
        let mut remaining: u64 = segs.iter().map(|s| s.size()).sum();
        let mut doomed: Vec<Arc<SegmentCore>> = Vec::new();
        for seg in sealed {
            let end = seg.next_offset();
            let size = seg.size();
            let below_start = end <= log_start;
            // Compact-only topics keep everything retention by size or age would delete.
            let deletes = c.cleanup_policy.deletes();
            let by_size = deletes
                && c.retention_bytes
                    .is_some_and(|limit| remaining - size >= limit);
            let by_age = deletes
                && c.retention_ms.is_some_and(|ms| {
                    seg.max_timestamp().is_some_and(|t| {
                        t < now.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX))
                    })
                });
            let over_hard = c.retention_hard_bytes.is_some_and(|h| remaining > h);
            if !(below_start || by_size || by_age || over_hard) {
                break;
            }
            let unconsumed = floor.is_some_and(|f| end > f);
            if unconsumed && !below_start && !over_hard {
                report.kept_for_groups += 1;
                break;
            }
            if let Some(hook) = &self.env.shared.options.before_segment_delete
                && let Err(e) = call_hook(hook, &self.segment_info(seg))
            {
                let msg = format!("before_segment_delete for {}: {e}", seg.paths.log.display());
                self.env.shared.report(msg.clone());
                report.hook_errors.push(msg);
                break;
            }
            if unconsumed && !below_start {
                report.forced_deletions += 1;
                self.maintenance.count_forced_deletion();
            }
            remaining -= size;
            report.segments_deleted += 1;
            report.bytes_deleted += size;
            doomed.push(Arc::clone(seg));
        }
        if doomed.is_empty() {
            return Ok(report);
        }
        // Unlist first: new readers no longer find the segments; open views keep them mapped.
        self.log.replace_segments(|list| {
            let kept: Vec<Arc<SegmentCore>> = list
                .iter()
                .filter(|s| !doomed.iter().any(|d| Arc::ptr_eq(s, d)))
                .cloned()
                .collect();
            let first = kept.first().map_or(0, |s| s.base);
            self.log.raise_start(first.max(log_start));
            kept
        });
        crate::failpoint::hit(crate::failpoint::Failpoint::RetentionAfterUnlist);
        // The new start is durable before any file goes: an open removes the segments that
        // lie wholly below the checkpoint's log start offset (`partition/load`), so from here
        // the doomed segments are gone whatever a crash leaves of their files. They leave the
        // queue of segments a flush syncs first now: a power loss can no longer bring one back
        // torn in front of acknowledged records.
        let new_start = doomed.last().map_or(log_start, |s| s.next_offset());
        {
            let mut w = self.writer.lock();
            if self.maintenance.raise_log_start(new_start) {
                self.write_checkpoint(Checkpointed::Unclean, &w)?;
                w.marked_dirty = true;
            }
            w.unsynced_sealed
                .retain(|s| !doomed.iter().any(|d| Arc::ptr_eq(s, d)));
        }
        self.delete_segments(doomed)?;
        Ok(report)
    }

    /// Deletes unlisted segments' files: rename each file to `.deleted` (oldest segment
    /// first), sync the directory once, then unlink. A crash in between is safe because the
    /// segments' removal is decided before this is called: by the checkpoint's log start
    /// offset (retention) or by the truncation intent, which the next open applies. This
    /// call's references are dropped before the unlinks, so the segments' descriptors and
    /// mappings close as soon as no reader holds them. Readers' mappings stay valid.
    pub(crate) fn delete_segments(&self, doomed: Vec<Arc<SegmentCore>>) -> Result<()> {
        let mut renamed = Vec::with_capacity(doomed.len() * 3);
        for seg in doomed {
            for p in [&seg.paths.log, &seg.paths.index, &seg.paths.time] {
                let mut to = p.clone().into_os_string();
                to.push(DELETED_SUFFIX);
                match std::fs::rename(p, &to) {
                    Ok(()) => renamed.push(std::path::PathBuf::from(to)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(p)(e)),
                }
                crate::failpoint::hit(crate::failpoint::Failpoint::DeleteAfterFirstRename);
            }
        }
        if renamed.is_empty() {
            return Ok(());
        }
        fsutil::sync_dir(&self.dir)?;
        crate::failpoint::hit(crate::failpoint::Failpoint::DeleteBeforeUnlink);
        for p in renamed {
            fsutil::remove_if_exists(&p)?;
        }
        Ok(())
    }

    /// Raises the log start offset to `offset` (at most the next offset): records below it
    /// can no longer be read, and whole segments below it are deleted.
    pub(crate) fn delete_records_before(&self, offset: u64) -> Result<u64> {
        let next = self.log.next_offset();
        let target = offset.min(next);
        {
            let mut w = self.writer.lock();
            self.check_writable(&w)?;
            if self.maintenance.raise_log_start(target) {
                self.log.raise_start(target);
                // Durable before any segment below it is deleted.
                self.write_checkpoint(Checkpointed::Unclean, &w)?;
                w.marked_dirty = true;
            }
        }
        self.enforce_retention()?;
        Ok(self.log.start_offset())
    }
}
