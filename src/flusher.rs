//! The store's background flusher thread ("pagelog-flusher").
//!
//! It syncs sealed segments after a roll (so the recovery point keeps up without making the
//! appender wait), calls the `on_segment_sealed` hook, enforces retention after rolls (and
//! every `retention_check_interval` if set), and performs the syncs of
//! [`FlushPolicy::Interval`](crate::FlushPolicy) topics. It sleeps on a condition variable:
//! woken by a roll, by the first append after a sync under an interval policy (then it waits
//! out the interval), by the retention interval, when a tombstone kept by a compaction pass of
//! a compacting topic expires, or by shutdown. With nothing to do it does not wake at all. It
//! stops and is joined when the `Store` closes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::hooks::panic_message;
use crate::segment::now_ms;

/// What the flusher found due for a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Due {
    /// The flush policy's interval passed with appends not yet synced.
    pub(crate) interval: bool,
    /// The retention check interval passed, or a segment rolled.
    pub(crate) retention: bool,
}

/// The background work of one partition, as the flusher drives it.
pub(crate) trait Background: Send + Sync {
    /// Syncs rolled segments (and, when `interval_due`, everything appended), runs hooks,
    /// and, when `retention_due` or after a roll, retention and compaction.
    fn background_flush(&self, due: Due);
    /// Background work panicked: poison the partition and report it.
    fn background_panicked(&self, message: &str);
    /// The flush policy's interval, if it has one.
    fn interval(&self) -> Option<Duration>;
    /// When the first tombstone kept by compaction expires (ms since the epoch), if any.
    fn tombstones_due_at(&self) -> Option<i64>;
}

#[derive(Default)]
struct State {
    partitions: Vec<Weak<dyn Background>>,
    roll: bool,
    stop: bool,
}

/// Shared handle to the flusher thread.
#[derive(Default)]
pub struct Flusher {
    state: Mutex<State>,
    wake: Condvar,
    /// Set by appenders under an interval policy; cleared when the flusher syncs.
    dirty: AtomicBool,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher")
            .field("partitions", &self.state.lock().partitions.len())
            .finish_non_exhaustive()
    }
}

impl Flusher {
    /// Starts the thread; it also enforces retention every `retention_every`, if given.
    pub fn start(
        retention_every: Option<Duration>,
    ) -> std::io::Result<(Arc<Self>, JoinHandle<()>)> {
        let f = Arc::new(Self::default());
        let run = Arc::clone(&f);
        let handle = std::thread::Builder::new()
            .name("pagelog-flusher".into())
            .spawn(move || run.run(retention_every))?;
        Ok((f, handle))
    }

    /// Adds a partition to look after.
    pub fn register(&self, p: &Arc<dyn Background>) {
        let mut st = self.state.lock();
        st.partitions.retain(|w| w.strong_count() > 0);
        st.partitions.push(Arc::downgrade(p));
    }

    /// A segment was sealed and waits for its sync.
    pub fn note_roll(&self) {
        self.state.lock().roll = true;
        self.wake.notify_one();
    }

    /// A partition under an interval policy has unsynced appends. Cheap when already noted.
    #[inline]
    pub fn note_dirty(&self) {
        if !self.dirty.load(Ordering::Relaxed) && !self.dirty.swap(true, Ordering::AcqRel) {
            let _guard = self.state.lock();
            self.wake.notify_one();
        }
    }

    /// A compaction pass set when the next tombstone expires: the thread recomputes its timer.
    pub fn note_deadline(&self) {
        let _guard = self.state.lock();
        self.wake.notify_one();
    }

    /// Asks the thread to stop; the caller joins it.
    pub fn stop(&self) {
        self.state.lock().stop = true;
        self.wake.notify_one();
    }

    fn live(st: &mut State) -> Vec<Arc<dyn Background>> {
        st.partitions.retain(|w| w.strong_count() > 0);
        st.partitions.iter().filter_map(Weak::upgrade).collect()
    }

    /// When the first tombstone kept by a compaction pass of a compacting partition expires:
    /// the flusher then runs a pass on it.
    fn next_tombstone(st: &mut State) -> Option<Instant> {
        let due = Self::live(st)
            .iter()
            .filter_map(|p| p.tombstones_due_at())
            .min()?;
        let wait = u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0);
        Instant::now().checked_add(Duration::from_millis(wait))
    }

    /// The earliest timer: the retention interval or an expiring tombstone. Recomputed at
    /// every wake (`note_deadline` wakes the thread when a compaction pass on another thread
    /// set an earlier one).
    fn timer(next_retention: Option<Instant>, st: &mut State) -> Option<Instant> {
        next_retention
            .into_iter()
            .chain(Self::next_tombstone(st))
            .min()
    }

    fn run(&self, retention_every: Option<Duration>) {
        let mut next_retention = retention_every.and_then(|d| Instant::now().checked_add(d));
        let mut st = self.state.lock();
        loop {
            while !st.stop && !st.roll && !self.dirty.load(Ordering::Acquire) {
                match Self::timer(next_retention, &mut st) {
                    Some(t) if Instant::now() >= t => break,
                    Some(t) => {
                        self.wake.wait_until(&mut st, t);
                    }
                    None => self.wake.wait(&mut st),
                }
            }
            if st.stop {
                return;
            }
            let now = Instant::now();
            let retention_due = next_retention.is_some_and(|t| now >= t);
            let tombstones_due = Self::next_tombstone(&mut st).is_some_and(|t| now >= t);
            if retention_due {
                next_retention = retention_every.and_then(|d| Instant::now().checked_add(d));
            }
            if !st.roll && !retention_due && !tombstones_due {
                // Interval policy: let the interval pass (a roll, a stop or a timer cuts it
                // short; syncing early is harmless).
                let interval = Self::live(&mut st)
                    .iter()
                    .filter_map(|p| p.interval())
                    .min()
                    .unwrap_or(Duration::from_millis(1));
                let deadline = Instant::now()
                    .checked_add(interval)
                    .into_iter()
                    .chain(Self::timer(next_retention, &mut st))
                    .min();
                while !st.stop && !st.roll {
                    match deadline {
                        Some(d) => {
                            if self.wake.wait_until(&mut st, d).timed_out() {
                                break;
                            }
                        }
                        None => self.wake.wait(&mut st),
                    }
                }
                if st.stop {
                    return;
                }
            }
            let rolled = std::mem::take(&mut st.roll);
            let parts = Self::live(&mut st);
            drop(st);
            let interval_due = self.dirty.swap(false, Ordering::AcqRel);
            for p in &parts {
                let interval = interval_due && p.interval().is_some();
                // Hooks' panics are caught where they are called; this catches pagelog's own,
                // so that one partition's failure cannot stop the syncs of all the others.
                let work = AssertUnwindSafe(|| {
                    p.background_flush(Due {
                        interval,
                        retention: rolled || retention_due,
                    });
                });
                if let Err(panic) = catch_unwind(work) {
                    p.background_panicked(panic_message(panic.as_ref()));
                }
            }
            drop(parts);
            st = self.state.lock();
        }
    }
}
