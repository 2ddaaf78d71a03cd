//! Waking readers that wait for new records, without polling.
//!
//! Writers call [`Notifier::notify`] after publishing; it costs one fence and one atomic load
//! when nobody waits. Waiters register under the mutex and re-check their condition before
//! sleeping. Both sides use sequentially consistent fences (the writer between publishing and
//! reading the waiter count, the waiter between registering and checking), so either the
//! writer sees the waiter and wakes it, or the waiter sees the new data: no lost wake-ups.
//!
//! Across processes the same protocol runs on the topic's live state file (`live.rs`): the
//! writer's notifier also wakes sleepers of other processes, and a notifier of a read-only
//! topic, which has no writer in its process, sleeps on the file's futex word instead of the
//! condition variable.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::live::LiveFile;

/// Shared by the partitions of a topic and everyone reading them.
#[derive(Debug, Default)]
pub struct Notifier {
    lock: Mutex<()>,
    cond: Condvar,
    waiters: AtomicUsize,
    /// The topic's live state file: `Writer` wakes other processes too, `Reader` sleeps
    /// on it.
    live: Option<(Arc<LiveFile>, Side)>,
}

/// Which side of the live state file a notifier is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The writer's process: wakes local waiters and other processes.
    Writer,
    /// A read-only topic: every wake-up comes through the file.
    Reader,
}

impl Notifier {
    /// A notifier that also serves other processes through `live`.
    pub(crate) fn with_live(live: Arc<LiveFile>, side: Side) -> Self {
        Self {
            live: Some((live, side)),
            ..Self::default()
        }
    }

    /// Wakes every waiter if there is one. Call after publishing new state.
    #[inline]
    pub fn notify(&self) {
        match &self.live {
            Some((live, Side::Reader)) => {
                // Local events of a read-only process (a group member joined): wake its
                // sleepers, which sleep on the file.
                live.wake_all();
                return;
            }
            Some((live, Side::Writer)) => {
                fence(Ordering::SeqCst);
                live.notify_fenced();
            }
            None => fence(Ordering::SeqCst),
        }
        if self.waiters.load(Ordering::Relaxed) > 0 {
            let _guard = self.lock.lock();
            self.cond.notify_all();
        }
    }

    /// Blocks until `ready()` returns true or `deadline` passes (`None`: no deadline).
    /// Returns the last value of `ready()`.
    pub fn wait_until(&self, deadline: Option<Instant>, mut ready: impl FnMut() -> bool) -> bool {
        if let Some((live, Side::Reader)) = &self.live {
            return live.wait_until(deadline, ready);
        }
        let mut guard = self.lock.lock();
        self.waiters.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let result = loop {
            if ready() {
                break true;
            }
            match deadline {
                Some(d) => {
                    if self.cond.wait_until(&mut guard, d).timed_out() {
                        break ready();
                    }
                }
                None => self.cond.wait(&mut guard),
            }
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    #[test]
    fn a_waiter_is_woken_by_a_later_publish() {
        let n = Arc::new(Notifier::default());
        let value = Arc::new(AtomicU64::new(0));
        let (n2, v2) = (Arc::clone(&n), Arc::clone(&value));
        let waiter =
            std::thread::spawn(move || n2.wait_until(None, || v2.load(Ordering::Acquire) == 1000));
        for i in 1..=1000 {
            value.store(i, Ordering::Release);
            n.notify();
        }
        assert!(waiter.join().unwrap_or(false));
    }

    #[test]
    fn a_deadline_ends_the_wait() {
        let n = Notifier::default();
        let deadline = Instant::now() + Duration::from_millis(5);
        assert!(!n.wait_until(Some(deadline), || false));
        assert!(Instant::now() >= deadline);
    }
}
