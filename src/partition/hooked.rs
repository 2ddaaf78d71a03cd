//! The `on_segment_sealed` hook's progress. Every sealed segment reaches the hook at least
//! once, in offset order per partition, across restarts and crashes: the partition's `hooked`
//! file (FORMAT.md 7.6) records the offset below which every sealed segment was accepted, and
//! whatever is durable, sealed and above it is passed (again) by the next run.

use std::path::Path;

use super::Inner;
use super::lifecycle::DirWrite;
use crate::codec::meta;
use crate::error::Result;
use crate::fsutil;
use crate::hooks::{Shared, call_hook};

/// Name of the hook mark file in a partition directory.
pub(crate) const HOOKED_FILE: &str = "hooked";

/// The hook mark, behind `Inner::hook_mark`.
#[derive(Debug, Default)]
pub(crate) struct HookMark {
    /// Every sealed segment whose base offset is below this was accepted by the hook.
    pub to: u64,
    /// Bumped when a truncation lowers `to`: a run that started before it raises nothing.
    generation: u64,
}

impl HookMark {
    pub(crate) fn new(to: u64) -> Self {
        Self { to, generation: 0 }
    }
}

/// Reads a partition's hook mark. A missing file means that no segment was accepted yet; so
/// does an unreadable one (reported): every sealed segment then reaches the hook again,
/// which at-least-once allows.
pub(crate) fn load(dir: &Path, shared: &Shared) -> Result<u64> {
    let path = dir.join(HOOKED_FILE);
    let Some(bytes) = fsutil::read_optional(&path)? else {
        return Ok(0);
    };
    Ok(meta::decode_hooked(&bytes).unwrap_or_else(|e| {
        shared.report(format!(
            "{}: {e}; every sealed segment is passed to on_segment_sealed again",
            path.display()
        ));
        0
    }))
}

/// Writes a partition's hook mark atomically (file and directory synced).
pub(crate) fn store(dir: &Path, to: u64) -> Result<()> {
    fsutil::atomic_write(dir, HOOKED_FILE, &meta::encode_hooked(to))
}

impl Inner {
    /// Calls `on_segment_sealed` for the sealed segments that are durable (below the recovery
    /// point) and not yet accepted, oldest first, and stops at the first one the hook fails
    /// (reported; the next run passes it again). Then records the progress in `hooked`. Runs
    /// for one partition never overlap.
    pub(crate) fn run_sealed_hooks(&self) {
        let Some(hook) = &self.env.shared.options.on_segment_sealed else {
            return;
        };
        let _one_run = self.maintenance.hook_run.lock();
        let (from, generation) = {
            let m = self.maintenance.hook_mark.lock();
            (m.to, m.generation)
        };
        let durable = self.durability.recovery_point();
        if from >= durable {
            return;
        }
        let current = self.log.segments();
        let sealed = current.split_last().map_or(&[][..], |(_, s)| s);
        let mut to = from;
        for seg in sealed.iter().filter(|s| s.base >= from && s.base < durable) {
            if let Err(e) = call_hook(hook, &self.segment_info(seg)) {
                let path = seg.paths.log.display();
                self.env
                    .shared
                    .report(format!("on_segment_sealed for {path}: {e}"));
                break;
            }
            to = seg.next_offset();
        }
        let mut m = self.maintenance.hook_mark.lock();
        if to <= m.to || m.generation != generation {
            return;
        }
        match self.write_hook_mark(to) {
            Ok(()) => m.to = to,
            // The hook runs again for these segments next time.
            Err(e) => self
                .env
                .shared
                .report(format!("hook mark of {}: {e}", self.dir.display())),
        }
    }

    /// Lowers the hook mark to `base`, durably, when a truncation makes `base` the start of
    /// the new active segment: segments from there on will be sealed again with new contents.
    pub(crate) fn lower_hook_mark(&self, base: u64) -> Result<()> {
        let mut m = self.maintenance.hook_mark.lock();
        if m.to <= base {
            return Ok(());
        }
        m.generation += 1;
        self.write_hook_mark(base)?;
        m.to = base;
        Ok(())
    }

    /// Writes `hooked`, unless the partition was deleted or dropped as in a crash (its
    /// directory may be gone or reused).
    fn write_hook_mark(&self, to: u64) -> Result<()> {
        self.lifecycle
            .write_in_dir(DirWrite::HookMark, || store(&self.dir, to))
            .map(drop)
    }
}
