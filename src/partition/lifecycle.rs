//! A partition's lifecycle: one state, instead of flags whose combinations mean states.
//!
//! ```text
//! Open ──close()──> Closing ──(its sync and clean checkpoint done or failed)──> Closed
//!   │                  │
//!   └──abandon()───────┴──> Discarded   (topic deleted, or dropped as in a crash)
//! ```
//!
//! | state     | appends, flushes | checkpoint | hook mark | background work |
//! |-----------|------------------|------------|-----------|-----------------|
//! | Open      | yes              | yes        | yes       | yes             |
//! | Closing   | no               | yes (the closer's own) | yes | no         |
//! | Closed    | no               | no         | yes (hooks of segments the close sealed) | no |
//! | Discarded | no               | no         | no        | no              |
//!
//! Invariants: the state only moves right in the diagram. Every write into the partition's
//! directory outside the writer's segment files (checkpoint, hook mark) goes through
//! [`Lifecycle::write_in_dir`], which holds the lifecycle lock while it checks the state and
//! writes; a move to `Closed` or `Discarded` takes the same lock. So once such a move
//! returns, this instance writes nothing more of that kind into a directory that may have
//! been renamed away, or reused by another store.

use std::sync::atomic::{AtomicU8, Ordering};

use parking_lot::Mutex;

use crate::error::Result;

/// Where a partition is in its life (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    /// Accepting appends.
    Open = 0,
    /// `close()` is syncing and writing the clean checkpoint.
    Closing = 1,
    /// Closed: reads only.
    Closed = 2,
    /// Deleted, or dropped as in a crash: reads only, nothing more written.
    Discarded = 3,
}

/// A write into the partition directory, as [`Lifecycle::write_in_dir`] allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirWrite {
    /// The `checkpoint` file: while open or closing.
    Checkpoint,
    /// The `hooked` file: until the partition is discarded.
    HookMark,
}

/// The state and the lock that orders it with writes into the directory.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    state: AtomicU8,
    dir_writes: Mutex<()>,
}

impl Lifecycle {
    /// An open partition.
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(State::Open as u8),
            dir_writes: Mutex::new(()),
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            0 => State::Open,
            1 => State::Closing,
            2 => State::Closed,
            _ => State::Discarded,
        }
    }

    /// True while appends are accepted.
    pub(crate) fn is_open(&self) -> bool {
        self.state() == State::Open
    }

    /// Moves to `to` if that is further along than the current state; returns the state
    /// before. Moves to `Closed` and `Discarded` wait for a directory write in progress.
    pub(crate) fn advance(&self, to: State) -> State {
        let _writes =
            matches!(to, State::Closed | State::Discarded).then(|| self.dir_writes.lock());
        State::from_u8(self.state.fetch_max(to as u8, Ordering::AcqRel))
    }

    /// Runs `write` if the state allows `kind`, holding the lifecycle lock throughout;
    /// `Ok(None)` if it does not (the write is skipped, which is never an error: the
    /// directory may be gone).
    ///
    /// # Errors
    /// Whatever `write` returns.
    pub(crate) fn write_in_dir<T>(
        &self,
        kind: DirWrite,
        write: impl FnOnce() -> Result<T>,
    ) -> Result<Option<T>> {
        let _guard = self.dir_writes.lock();
        let allowed = match (kind, self.state()) {
            (DirWrite::Checkpoint, State::Open | State::Closing) => true,
            (DirWrite::HookMark, state) => state != State::Discarded,
            (DirWrite::Checkpoint, State::Closed | State::Discarded) => false,
        };
        if allowed { write().map(Some) } else { Ok(None) }
    }
}

impl State {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => State::Open,
            1 => State::Closing,
            2 => State::Closed,
            _ => State::Discarded,
        }
    }
}

impl super::Inner {
    /// Closes cleanly: syncs everything, trims the active segment's preallocated space and
    /// writes a clean checkpoint so the next open scans nothing. Further appends fail.
    ///
    /// # Errors
    /// The first failure of the final sync, trim or checkpoint; the partition is closed
    /// regardless (and the next open recovers).
    pub(crate) fn close(&self) -> Result<()> {
        {
            let _w = self.writer.lock();
            if self.lifecycle.advance(State::Closing) != State::Open {
                return Ok(());
            }
            self.log.end();
        }
        // No more appends. Sync what was appended through the group commit, so that this
        // sync never overlaps another one (each I/O error is seen by exactly one sync).
        let synced = self.sync_now();
        let w = &mut *self.writer.lock();
        let result = synced.and_then(|()| self.close_cleanly(w));
        // Whatever happened, this instance writes no more checkpoints and lets go of its
        // files.
        self.lifecycle.advance(State::Closed);
        w.active.release_writer();
        self.log.notifier.notify();
        result
    }

    /// Marks the partition discarded without writing anything more (its topic was deleted,
    /// or the store dropped as in a crash). Reads keep working.
    pub(crate) fn abandon(&self) {
        // Wait for a retention, truncation or compaction pass in progress: once this returns
        // the directory may be renamed away or reused.
        let _pass = self.maintenance.one_pass();
        let mut w = self.writer.lock();
        self.lifecycle.advance(State::Discarded);
        self.log.end();
        w.active.release_writer();
    }
}

#[cfg(test)]
mod tests {
    use super::{DirWrite, Lifecycle, State};

    #[test]
    fn states_only_move_forward_and_gate_directory_writes() {
        let l = Lifecycle::new();
        let wrote = |kind| l.write_in_dir(kind, || Ok(())).unwrap().is_some();
        assert!(wrote(DirWrite::Checkpoint) && wrote(DirWrite::HookMark));
        assert_eq!(l.advance(State::Closing), State::Open);
        assert!(!l.is_open());
        assert!(
            wrote(DirWrite::Checkpoint),
            "the closer writes its clean checkpoint"
        );
        l.advance(State::Closed);
        assert!(!wrote(DirWrite::Checkpoint));
        assert!(
            wrote(DirWrite::HookMark),
            "hooks of segments the close sealed"
        );
        assert_eq!(l.advance(State::Closing), State::Closed, "never back");
        assert_eq!(l.state(), State::Closed);
        l.advance(State::Discarded);
        assert!(!wrote(DirWrite::HookMark));
    }
}
