//! [`MapRef`], the counted handle every holder of a [`Mapping`] keeps, and [`MapStock`], the
//! handles a record iterator takes from one count raised in bulk.
//!
//! `MapRef` is `Arc<Mapping>` less the weak count, plus one thing `Arc` cannot do: raise the
//! count by many at once. Each handle is an atomic increment and an atomic decrement, and on
//! x86 both are full barriers that wait for the stores before them. A scan that hands out
//! an owned record per record would pay both per record; with a stock it pays the decrement
//! (when the record is dropped) and one increment per [`STOCK`] records.
//!
//! Invariant: the count is at least the number of live `MapRef`s on the mapping plus the
//! shares [`MapStock`]s hold for it. The mapping is dropped when the count reaches zero.

use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use super::Mapping;

/// How many shares a stock takes per atomic increment.
pub(crate) const STOCK: usize = 64;

/// The count's ceiling: past it the process aborts, as `Arc` does, rather than risk an
/// overflow that would free a mapping still in use. Unreachable in practice (it would take
/// 2^63 live handles).
const MAX_COUNT: usize = isize::MAX as usize;

/// The allocation a [`MapRef`] points to.
struct Inner {
    count: AtomicUsize,
    map: Mapping,
}

/// A counted, shared handle on a [`Mapping`]: cloning raises the count, dropping lowers it,
/// and the last drop unmaps.
pub struct MapRef {
    ptr: NonNull<Inner>,
}

// SAFETY: a `MapRef` gives shared access (`&Mapping`) only, and moves the mapping's drop to
// whichever thread drops the last handle, exactly as `Arc` does; `Mapping` is Send and Sync
// (its fields are an `MmapRaw`, a `File`, atomics and a `parking_lot::Mutex`), so both are
// sound here too.
unsafe impl Send for MapRef {}
// SAFETY: as for Send above: `&MapRef` yields `&Mapping`, which is Sync, and the count is
// only changed atomically.
unsafe impl Sync for MapRef {}

impl MapRef {
    /// A first handle on `map`.
    pub fn new(map: Mapping) -> Self {
        let inner = Box::new(Inner {
            count: AtomicUsize::new(1),
            map,
        });
        Self {
            ptr: NonNull::from(Box::leak(inner)),
        }
    }

    /// Whether `a` and `b` are handles on the same mapping.
    #[inline]
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }

    #[inline]
    fn inner(&self) -> &Inner {
        // SAFETY: the count includes this handle, so the allocation lives at least as long
        // as `self` (the invariant in the module docs), and nothing gets `&mut` to it.
        unsafe { self.ptr.as_ref() }
    }

    /// Raises the count by `n`, aborting past [`MAX_COUNT`] as `Arc` does.
    #[inline]
    fn raise(&self, n: usize) {
        if self.inner().count.fetch_add(n, Ordering::Relaxed) > MAX_COUNT - n {
            std::process::abort();
        }
    }

    /// Lowers the count by `n`, the shares the caller gives up (this handle's own, or a
    /// stock's unused ones besides it); frees the mapping when that takes the count to zero.
    #[inline]
    fn lower(&self, n: usize) {
        // Release: this holder's uses of the mapping happen before the free below, on
        // whichever thread ends up doing it (the Acquire fence pairs with this).
        if self.inner().count.fetch_sub(n, Ordering::Release) != n {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: the count reached zero, so no other handle and no stock share is left, and
        // this handle is being dropped: nothing can reach the allocation any more. `ptr` came
        // from `Box::leak` in `new`, and no reference into it outlives this line.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

impl Clone for MapRef {
    #[inline]
    fn clone(&self) -> Self {
        self.raise(1);
        Self { ptr: self.ptr }
    }
}

impl Drop for MapRef {
    #[inline]
    fn drop(&mut self) {
        self.lower(1);
    }
}

impl Deref for MapRef {
    type Target = Mapping;

    #[inline]
    fn deref(&self) -> &Mapping {
        &self.inner().map
    }
}

impl fmt::Debug for MapRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Shares of one mapping's count taken in bulk, [`STOCK`] per atomic increment, and handed
/// out as [`MapRef`]s with no atomic operation each. Dropping the stock (or moving it to
/// another mapping) gives the unused shares back in one decrement.
#[derive(Default)]
pub struct MapStock {
    /// A handle on the mapping the shares are of, and how many shares it holds besides its
    /// own; `left` is 0 when `of` is None.
    of: Option<MapRef>,
    left: usize,
}

impl MapStock {
    /// A handle on `map`, taken from the stock; the stock is refilled (or moved to `map`)
    /// when it holds no share of `map`.
    #[inline]
    pub fn take(&mut self, map: &MapRef) -> MapRef {
        match &self.of {
            Some(of) if of.ptr == map.ptr && self.left > 0 => {
                self.left -= 1;
                MapRef { ptr: of.ptr }
            }
            _ => self.refill(map),
        }
    }

    /// Gives back what is left, takes [`STOCK`] shares of `map` and hands out one of them.
    #[cold]
    fn refill(&mut self, map: &MapRef) -> MapRef {
        self.give_back();
        // The stock's own handle, and STOCK shares of which the caller gets one.
        map.raise(1 + STOCK);
        self.left = STOCK - 1;
        self.of = Some(MapRef { ptr: map.ptr });
        MapRef { ptr: map.ptr }
    }

    /// Gives the unused shares back, and the stock's own handle.
    fn give_back(&mut self) {
        if let Some(of) = self.of.take() {
            of.lower(std::mem::take(&mut self.left) + 1);
            std::mem::forget(of);
        }
    }
}

impl Drop for MapStock {
    fn drop(&mut self) {
        self.give_back();
    }
}

impl fmt::Debug for MapStock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapStock")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(m: &MapRef) -> usize {
        m.inner().count.load(Ordering::Relaxed)
    }

    fn mapping(dir: &tempfile::TempDir) -> MapRef {
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").expect("write");
        Mapping::open_read_only(&path, 10).expect("map")
    }

    #[test]
    fn a_stock_takes_shares_in_bulk_and_gives_the_unused_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let map = mapping(&dir);
        let mut stock = MapStock::default();
        let handles: Vec<MapRef> = (0..3).map(|_| stock.take(&map)).collect();
        assert_eq!(
            count(&map),
            1 + 1 + STOCK,
            "its own, the stock's and the stock's shares"
        );
        assert!(handles.iter().all(|h| MapRef::ptr_eq(h, &map)));
        assert_eq!(handles[2].get(2, 4), Some(&b"23"[..]));
        drop(stock);
        assert_eq!(count(&map), 1 + 3);
        drop(handles);
        assert_eq!(count(&map), 1);
    }

    #[test]
    fn a_stock_refills_when_empty_and_moves_to_another_mapping() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (mapping(&dir), mapping(&dir));
        let mut stock = MapStock::default();
        let from_a: Vec<MapRef> = (0..=STOCK).map(|_| stock.take(&a)).collect();
        assert_eq!(
            count(&a),
            2 + 2 * STOCK,
            "a second bulk share after the first ran out"
        );
        let from_b = stock.take(&b);
        assert_eq!(count(&a), 1 + STOCK + 1, "a's unused shares given back");
        assert_eq!(count(&b), 2 + STOCK);
        drop((from_a, from_b, stock));
        assert_eq!((count(&a), count(&b)), (1, 1));
    }

    #[test]
    fn the_mapping_lives_until_its_last_handle_or_share_is_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let map = mapping(&dir);
        let mut stock = MapStock::default();
        let taken = stock.take(&map);
        drop(map);
        let clone = taken.clone();
        drop(taken);
        // The stock's shares and `clone` keep the mapping readable on another thread.
        let read = std::thread::spawn(move || clone.get(0, 10).map(<[u8]>::to_vec))
            .join()
            .expect("join");
        assert_eq!(read.as_deref(), Some(&b"0123456789"[..]));
        drop(stock);
    }

    #[test]
    fn handles_dropped_on_other_threads_while_a_stock_hands_out_more_balance_the_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let map = mapping(&dir);
        let (tx, rx) = std::sync::mpsc::channel::<Vec<MapRef>>();
        let rx = std::sync::Arc::new(parking_lot::Mutex::new(rx));
        let droppers: Vec<_> = (0..3)
            .map(|_| {
                let rx = std::sync::Arc::clone(&rx);
                std::thread::spawn(move || {
                    let mut read = 0;
                    while let Ok(batch) = rx.lock().recv() {
                        read += batch
                            .iter()
                            .filter(|h| h.get(0, 1) == Some(&b"0"[..]))
                            .count();
                    }
                    read
                })
            })
            .collect();
        let mut stock = MapStock::default();
        for _ in 0..1000 {
            tx.send((0..37).map(|_| stock.take(&map)).collect())
                .expect("send");
        }
        drop((tx, stock));
        let read: usize = droppers.into_iter().map(|t| t.join().expect("join")).sum();
        assert_eq!(read, 37_000);
        assert_eq!(count(&map), 1);
    }
}
