//! Group commit: concurrent callers that need their appends durable share syncs.
//!
//! At most one sync runs per partition at a time. A caller whose target is already durable
//! returns at once; otherwise it either becomes the leader of the next sync (when none is in
//! flight) or waits for the one in flight and checks again. A sync covers every append
//! published before it started, so N callers arriving during one sync are served by the
//! next single sync instead of N.
//!
//! On a machine with fewer cores than appenders, the callers a sync wakes cannot all append
//! again before the first of them starts the next sync, which then covers only a few of
//! them. So a leader whose last sync woke other callers first *gathers*: it waits, with the
//! sync already marked in flight, until as many callers wait on it as the last sync woke, or
//! for at most half the duration of the last sync ([`GATHER_MAX`] at most). A lone appender
//! never gathers, so its latency is one sync.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, PoisonCause, PoisonedBy, Result};

#[derive(Debug, Default)]
struct State {
    /// Every offset below this is durable.
    durable: u64,
    /// A sync is running.
    in_flight: bool,
    /// The error of a failed sync; sticky.
    poisoned: Option<PoisonCause>,
    /// Bumped by every truncation: syncs started before it report nothing, and waiters for
    /// appends made before it are told their records are gone.
    epoch: u64,
    /// Recent truncations as (epoch after it, offset cut to); older ones merged into the first.
    cuts: Vec<(u64, u64)>,
    /// Callers waiting for the sync in flight.
    waiting: usize,
    /// How many callers the last sync woke: appenders likely to append again at once.
    woken: usize,
    /// A leader is gathering: the sync is marked in flight but has not started.
    gathering: bool,
    /// Callers that started waiting since the gathering began. (`waiting` also counts callers
    /// that the last sync woke but that have not run yet.)
    arrived: usize,
    /// How long the last sync took.
    last_sync: Duration,
}

/// How long a leader gathers callers before its sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gathering {
    /// Half the duration of the last sync, at most [`GATHER_MAX`].
    #[default]
    Adaptive,
    /// Exactly this long (unless enough callers arrive first).
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "tests pin the gathering time to force interleavings"
        )
    )]
    Fixed(Duration),
}

/// The longest a leader gathers before its sync (a sync that takes longer than twice this
/// is rare enough on any device for the bound not to matter).
pub const GATHER_MAX: Duration = Duration::from_millis(1);

/// Group-commit coordinator of one partition.
#[derive(Debug, Default)]
pub struct GroupCommit {
    state: Mutex<State>,
    done: Condvar,
    /// Wakes a gathering leader once enough callers wait (or on poison and truncation).
    gathered: Condvar,
    /// Mirrors `state.poisoned.is_some()` so appenders check it without taking the lock.
    poisoned_flag: AtomicBool,
    /// Mirrors `state.durable` for lock-free reads.
    durable: AtomicU64,
    gathering: Gathering,
}

impl GroupCommit {
    /// A coordinator for a log whose offsets below `durable` are already durable.
    pub fn new(durable: u64) -> Self {
        Self::with_gathering(durable, Gathering::Adaptive)
    }

    /// As [`new`](Self::new), gathering as `gathering` says.
    pub fn with_gathering(durable: u64, gathering: Gathering) -> Self {
        Self {
            state: Mutex::new(State {
                durable,
                ..State::default()
            }),
            done: Condvar::new(),
            gathered: Condvar::new(),
            poisoned_flag: AtomicBool::new(false),
            durable: AtomicU64::new(durable),
            gathering,
        }
    }

    /// Offsets below this are durable.
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// The current truncation epoch.
    pub fn epoch(&self) -> u64 {
        self.state.lock().epoch
    }

    /// The log was truncated to `to`: offsets from `to` on are no longer durable (they are
    /// gone), and syncs and waits from before are void.
    pub fn truncate(&self, to: u64) {
        let mut st = self.state.lock();
        st.epoch += 1;
        let epoch = st.epoch;
        st.cuts.push((epoch, to));
        if st.cuts.len() > 32 {
            let (_, oldest) = st.cuts.remove(0);
            if let Some(first) = st.cuts.first_mut() {
                first.1 = first.1.min(oldest);
            }
        }
        st.durable = st.durable.min(to);
        self.durable.store(st.durable, Ordering::Release);
        self.done.notify_all();
        self.gathered.notify_all();
    }

    /// The sticky error, if a sync failed.
    pub fn poisoned(&self) -> Option<PoisonCause> {
        if !self.poisoned_flag.load(Ordering::Acquire) {
            return None;
        }
        self.state.lock().poisoned.clone()
    }

    /// Marks the partition poisoned with `reason`.
    pub fn poison(&self, cause: PoisonCause) {
        let mut st = self.state.lock();
        st.poisoned.get_or_insert(cause);
        self.poisoned_flag.store(true, Ordering::Release);
        self.done.notify_all();
        self.gathered.notify_all();
    }

    /// Returns once every offset below `target` is durable. `sync` performs one sync and
    /// returns the offset below which everything is then durable. `poisoned` builds the
    /// error returned once a sync has failed.
    ///
    /// `epoch` is the truncation epoch in which the offsets were appended; if the log was
    /// truncated since, the wait ends with [`Error::Truncated`].
    pub fn wait_durable(
        &self,
        target: u64,
        mut epoch: u64,
        sync: impl Fn() -> Result<u64>,
        poisoned: impl Fn(PoisonCause) -> Error,
    ) -> Result<()> {
        let mut st = self.state.lock();
        loop {
            if let Some(reason) = &st.poisoned {
                return Err(poisoned(reason.clone()));
            }
            if st.epoch != epoch {
                // Truncated since: only records at or above the lowest cut are gone.
                let lowest = st
                    .cuts
                    .iter()
                    .filter(|(e, _)| *e > epoch)
                    .map(|c| c.1)
                    .min();
                if lowest.is_some_and(|cut| target > cut) {
                    return Err(Error::Truncated { offset: st.durable });
                }
                epoch = st.epoch;
            }
            if st.durable >= target {
                return Ok(());
            }
            if st.in_flight {
                st.waiting += 1;
                if st.gathering {
                    st.arrived += 1;
                    if st.arrived >= st.woken {
                        self.gathered.notify_one();
                    }
                }
                self.done.wait(&mut st);
                st.waiting -= 1;
                continue;
            }
            if st.woken > 0 {
                st = self.gather(st);
            }
            st = self.lead(st, &sync);
        }
    }

    /// Marks a sync in flight and waits until as many callers wait for it as the last sync
    /// woke, or for half the last sync's duration (at most [`GATHER_MAX`]). The appends of
    /// the callers that arrive meanwhile were published before they wait, so the sync that
    /// follows covers them.
    fn gather<'a>(
        &'a self,
        mut st: parking_lot::MutexGuard<'a, State>,
    ) -> parking_lot::MutexGuard<'a, State> {
        st.in_flight = true;
        st.gathering = true;
        st.arrived = 0;
        let bound = match self.gathering {
            Gathering::Adaptive => (st.last_sync / 2).min(GATHER_MAX),
            Gathering::Fixed(d) => d,
        };
        let deadline = Instant::now() + bound;
        // A yield first: the woken callers often need no more than the rest of this time
        // slice, which costs less than sleeping on the condition variable.
        parking_lot::MutexGuard::unlocked(&mut st, std::thread::yield_now);
        while st.arrived < st.woken && st.poisoned.is_none() {
            if self.gathered.wait_until(&mut st, deadline).timed_out() {
                break;
            }
        }
        st.gathering = false;
        st.in_flight = false;
        st
    }

    /// Runs one sync now, after any sync in flight, even if everything is already durable
    /// (the background uses it for sealed segments waiting for their sync). Syncs never
    /// overlap, so an I/O error is reported by exactly the sync that ran into it.
    pub fn sync_now(
        &self,
        sync: impl Fn() -> Result<u64>,
        poisoned: impl Fn(PoisonCause) -> Error,
    ) -> Result<()> {
        let mut st = self.state.lock();
        while st.in_flight {
            self.done.wait(&mut st);
        }
        if let Some(reason) = &st.poisoned {
            return Err(poisoned(reason.clone()));
        }
        st = self.lead(st, &sync);
        match &st.poisoned {
            Some(reason) => Err(poisoned(reason.clone())),
            None => Ok(()),
        }
    }

    /// Performs one sync as the leader: marks it in flight, runs it unlocked, records the
    /// outcome and wakes the waiters.
    fn lead<'a>(
        &'a self,
        mut st: parking_lot::MutexGuard<'a, State>,
        sync: &impl Fn() -> Result<u64>,
    ) -> parking_lot::MutexGuard<'a, State> {
        {
            st.in_flight = true;
            let started = st.epoch;
            drop(st);
            let clock = Instant::now();
            let result = sync();
            let took = clock.elapsed();
            st = self.state.lock();
            st.in_flight = false;
            st.last_sync = took;
            match result {
                // A sync that overlapped a truncation proves nothing about the new log.
                Ok(_) if st.epoch != started => {}
                Ok(d) => {
                    st.durable = st.durable.max(d);
                    self.durable.store(st.durable, Ordering::Release);
                }
                Err(e) => {
                    st.poisoned
                        .get_or_insert(PoisonCause::new(PoisonedBy::Sync, &e));
                    self.poisoned_flag.store(true, Ordering::Release);
                }
            }
            st.woken = st.waiting;
            self.done.notify_all();
        }
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn poisoned(cause: PoisonCause) -> Error {
        Error::Poisoned {
            path: "p".into(),
            cause,
        }
    }

    #[test]
    fn concurrent_waiters_share_syncs() {
        let gc = Arc::new(GroupCommit::new(0));
        let syncs = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (1..=8u64)
            .map(|t| {
                let (gc, syncs) = (Arc::clone(&gc), Arc::clone(&syncs));
                std::thread::spawn(move || {
                    gc.wait_durable(
                        t,
                        0,
                        || {
                            syncs.fetch_add(1, Ordering::SeqCst);
                            Ok(8)
                        },
                        poisoned,
                    )
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok_and(|r| r.is_ok()));
        }
        // Every sync reports offset 8 durable, which satisfies every waiter, so a waiter
        // that arrives after the first sync never syncs again.
        assert_eq!(gc.durable(), 8);
        assert!(syncs.load(Ordering::SeqCst) <= 8);
        assert!(
            gc.wait_durable(8, 0, || panic!("no sync needed"), poisoned)
                .is_ok()
        );
    }

    /// Runs a first sync (led by this thread, target 1) during which another caller waits
    /// for target 2, which the sync does not cover, so that the sync wakes one caller.
    /// Returns that caller's thread; it gathers next.
    fn first_sync_wakes_one(
        gc: &Arc<GroupCommit>,
        published: &Arc<AtomicU64>,
        syncs: &Arc<AtomicU64>,
    ) -> std::thread::JoinHandle<Result<()>> {
        published.store(1, Ordering::SeqCst);
        let sync = {
            let (published, syncs) = (Arc::clone(published), Arc::clone(syncs));
            move || {
                syncs.fetch_add(1, Ordering::SeqCst);
                Ok(published.load(Ordering::SeqCst))
            }
        };
        let waiter = {
            let (gc, published, sync) = (Arc::clone(gc), Arc::clone(published), sync.clone());
            std::thread::spawn(move || {
                // Appended (published) only once the first sync has started.
                while !gc.state.lock().in_flight {
                    std::thread::yield_now();
                }
                published.store(2, Ordering::SeqCst);
                gc.wait_durable(2, 0, sync, poisoned)
            })
        };
        let first = gc.wait_durable(
            1,
            0,
            || {
                while gc.state.lock().waiting == 0 {
                    std::thread::yield_now();
                }
                syncs.fetch_add(1, Ordering::SeqCst);
                Ok(1)
            },
            poisoned,
        );
        assert!(first.is_ok());
        waiter
    }

    #[test]
    fn a_gathering_leader_covers_callers_that_arrive() {
        let gc = Arc::new(GroupCommit::with_gathering(
            0,
            Gathering::Fixed(Duration::from_secs(3600)),
        ));
        let (published, syncs) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let waiter = first_sync_wakes_one(&gc, &published, &syncs);
        // The woken caller leads the next sync, but first gathers: it waits for one caller
        // (this thread, appending again) however long that takes.
        while !gc.state.lock().gathering {
            std::thread::yield_now();
        }
        published.store(3, Ordering::SeqCst);
        let again = gc.wait_durable(3, 0, || panic!("the gathering leader syncs"), poisoned);
        assert!(again.is_ok());
        assert!(waiter.join().is_ok_and(|r| r.is_ok()));
        assert_eq!(
            syncs.load(Ordering::SeqCst),
            2,
            "one sync covered both callers"
        );
        assert_eq!(gc.durable(), 3);
    }

    #[test]
    fn gathering_ends_when_woken_callers_do_not_return() {
        let gc = Arc::new(GroupCommit::with_gathering(
            0,
            Gathering::Fixed(Duration::ZERO),
        ));
        let (published, syncs) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let waiter = first_sync_wakes_one(&gc, &published, &syncs);
        // Nobody appends again: the woken caller's gathering times out and it syncs alone.
        assert!(waiter.join().is_ok_and(|r| r.is_ok()));
        assert_eq!(syncs.load(Ordering::SeqCst), 2);
        assert_eq!(gc.durable(), 2);
        assert_eq!(gc.state.lock().woken, 0, "its sync woke nobody");
    }

    fn eio_kind() -> std::io::ErrorKind {
        std::io::Error::from_raw_os_error(5).kind()
    }

    #[test]
    fn a_failed_sync_poisons_for_good() {
        let gc = GroupCommit::new(0);
        let eio = || Error::Io {
            path: "seg.log".into(),
            source: std::io::Error::from_raw_os_error(5),
        };
        let r = gc.wait_durable(1, 0, || Err(eio()), poisoned);
        match r {
            Err(Error::Poisoned { cause, .. }) => {
                assert_eq!(cause.by, PoisonedBy::Sync);
                assert_eq!(cause.kind, Some(eio_kind()), "the I/O error kind is kept");
                assert!(cause.message.contains("seg.log"), "{}", cause.message);
            }
            other => panic!("{other:?}"),
        }
        let r = gc.wait_durable(1, 0, || Ok(5), poisoned);
        assert!(matches!(r, Err(Error::Poisoned { .. })), "sticky");
        assert_eq!(gc.durable(), 0);
    }
}
