//! Every memory mapping pagelog makes, and every `unsafe` block that touches one.
//!
//! Two types carry the soundness argument (written out in `docs/SAFETY.md`):
//!
//! * [`Mapping`]: a shared, read-only view of a file mapped `MAP_SHARED`, with a *published*
//!   watermark. Safe code can only borrow bytes below the watermark, and bytes below the
//!   watermark are never written again while the mapping exists.
//! * [`MapWriter`]: the single writer of a mapping. It owns the file's length (it reserves
//!   blocks with `fallocate` before writing, and trims only down to the watermark), writes only
//!   above the watermark through a `&mut self` borrow, and then moves the watermark up with a
//!   release store.
//!
//! A third kind serves readers in other processes than the writer's:
//!
//! * a *follower* [`Mapping`] ([`Mapping::open_follower`]) has no writer in this process; its
//!   watermark rises ([`Mapping::follow`]) to lengths the writer process published, each
//!   checked against the file's length before it is believed;
//! * [`shared::SharedWords`] maps the topic's live state file, whose words the processes
//!   change only atomically, and sleeps and wakes on them (a futex shared across processes).
//!
//! Another program could still change the files under us; the store's lock keeps a second
//! pagelog writer out, and docs/SAFETY.md states the assumption about the rest.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use memmap2::{MmapOptions, MmapRaw};
use parking_lot::Mutex;

mod counted;
mod read_ahead;
pub(crate) mod shared;
mod writer;

pub use self::counted::{MapRef, MapStock};
pub(crate) use self::read_ahead::READ_AHEAD_MAX;
pub use self::read_ahead::ReadAhead;
pub use self::writer::MapWriter;

/// The page size pagelog assumes: the granularity of block reservation, trims, prefaulting
/// and read-ahead decisions.
pub(crate) const PAGE_SIZE: usize = 4096;
const PAGE: u64 = PAGE_SIZE as u64;

/// The most `MADV_WILLNEED` reads per call: the device's read-ahead size (`read_ahead_kb`,
/// 128 KiB by default). The kernel silently drops the rest of a larger range.
const WILL_NEED_PIECE: usize = 128 << 10;

/// A file mapped into memory, readable up to its published watermark.
#[derive(Debug)]
pub struct Mapping {
    /// `None` when the mapping is empty (`mmap` refuses length 0).
    raw: Option<MmapRaw>,
    /// Length of the mapping in bytes.
    len: usize,
    /// Bytes `[0, published)` are initialised file contents that never change again.
    published: AtomicUsize,
    /// The mapped file, kept open for `fdatasync` and `ftruncate`.
    file: File,
    /// For a follower mapping (no writer in this process): the file length last seen, which
    /// the watermark never passes. `None` for every other mapping.
    follower: Option<AtomicU64>,
    /// Set once [`keep_resident`](Self::keep_resident) has run.
    resident: AtomicBool,
    /// The last timed lookup in this mapping waited for the disk: see
    /// [`set_cold`](Self::set_cold).
    cold: AtomicBool,
    /// Set by [`advise_random`](Self::advise_random).
    random: AtomicBool,
    /// Sequential readers' read-ahead on this mapping (`read_ahead.rs`).
    streams: Mutex<read_ahead::Streams>,
}

impl Mapping {
    /// Maps `len` bytes of `file` read-write (`MAP_SHARED`), `published` of them already
    /// valid. `len` may exceed the file's length; the writer reserves space before it writes,
    /// and nobody reads past `published <= file length`.
    fn map(file: File, len: usize, published: usize, writable: bool) -> io::Result<Self> {
        let file_len = file.metadata()?.len();
        Self::map_sized(file, file_len, len, published, writable)
    }

    /// As [`map`](Self::map), for a `file` of `file_len` bytes (its length, just read).
    fn map_sized(
        file: File,
        file_len: u64,
        len: usize,
        published: usize,
        writable: bool,
    ) -> io::Result<Self> {
        if (published as u64) > file_len || published > len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "published length exceeds the file or the mapping",
            ));
        }
        let raw = if len == 0 {
            None
        } else if writable {
            Some(MmapOptions::new().len(len).map_raw(&file)?)
        } else {
            Some(MmapOptions::new().len(len).map_raw_read_only(&file)?)
        };
        Ok(Self {
            raw,
            len,
            published: AtomicUsize::new(published),
            file,
            follower: None,
            resident: AtomicBool::new(false),
            cold: AtomicBool::new(false),
            random: AtomicBool::new(false),
            streams: Mutex::new(read_ahead::Streams::default()),
        })
    }

    /// Opens `path` read-only, without a lock, and maps `capacity` bytes of it, the first
    /// `published` readable: how a reader process maps a segment file that the writer process
    /// may still append to. Fails with `InvalidData` if `published` exceeds the file's length.
    pub fn open_follower(path: &Path, capacity: usize, published: usize) -> io::Result<MapRef> {
        let file = File::open(path)?;
        let file_len = file.metadata()?.len();
        let capacity = capacity.max(published);
        if published as u64 > file_len {
            return Err(past_the_file(published, file_len));
        }
        let mut map = Self::map(file, capacity, published, false)?;
        map.follower = Some(AtomicU64::new(file_len));
        Ok(MapRef::new(map))
    }

    /// Raises a follower mapping's watermark to `len`, a length the writer process published
    /// (lower values change nothing). The file's length is read again (`fstat`) only when
    /// `len` passes the length last seen; a `len` beyond the file or the mapping is refused
    /// (`InvalidData`), so no read can fault. Release: a reader of this mapping that sees
    /// the new watermark sees what the caller saw before it (the writer's bytes).
    pub fn follow(&self, len: usize) -> io::Result<()> {
        let Some(known) = &self.follower else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "only a follower mapping follows another process",
            ));
        };
        if len <= self.published() {
            return Ok(());
        }
        if len > self.len {
            return Err(past_the_file(len, self.len as u64));
        }
        if len as u64 > known.load(Ordering::Acquire) {
            let file_len = self.file.metadata()?.len();
            known.fetch_max(file_len, Ordering::AcqRel);
            if len as u64 > file_len {
                return Err(past_the_file(len, file_len));
            }
        }
        self.published.fetch_max(len, Ordering::Release);
        Ok(())
    }

    /// Opens `path` read-only and maps its first `len` bytes (`len <= file length`), all of
    /// them published. Used for index files and for scanning during recovery.
    pub fn open_read_only(path: &Path, len: usize) -> io::Result<MapRef> {
        let file = File::open(path)?;
        Ok(MapRef::new(Self::map(file, len, len, false)?))
    }

    /// Opens `path` read-only under a shared `flock` and maps the whole file, all of it
    /// published: how a sealed segment's `.log` is mapped. See [`Self::map_shared`].
    pub fn open_shared(path: &Path) -> io::Result<MapRef> {
        Self::map_shared(File::open(path)?)
    }

    /// Takes a shared `flock` on `file` (converting an exclusive one this descriptor holds)
    /// and maps the whole file as it is then, all published. The mapping keeps the
    /// descriptor, so the lock lasts as long as the mapping: no writer of the file, which
    /// needs the exclusive lock, can be made while it lives, neither between the lock and
    /// the measurement nor later (docs/SAFETY.md section 6). Fails with `WouldBlock` while a
    /// writer holds the file.
    pub fn map_shared(file: File) -> io::Result<MapRef> {
        file.try_lock_shared().map_err(lock_error)?;
        let len = whole_len(&file)?;
        Ok(MapRef::new(Self::map(file, len, len, false)?))
    }

    /// Bytes currently published. Acquire: everything written before the matching
    /// [`MapWriter::publish`] is visible once this returns the new value.
    #[inline]
    pub fn published(&self) -> usize {
        self.published.load(Ordering::Acquire)
    }

    /// Length of the mapping: the capacity a writer may fill (the file's length for a
    /// mapping of a whole file).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.len
    }

    /// The published prefix `[0, published)`.
    #[inline]
    pub fn prefix(&self) -> &[u8] {
        let published = self.published();
        match &self.raw {
            // SAFETY: `published <= self.len` (checked at construction, by `publish` and by
            // `follow`), so the range lies in the mapping; it is also below the file length
            // (the writer reserves before publishing and never trims below its `published`; a
            // follower's watermark is checked against the file's length and never passes the
            // writer process's watermark; recovery never shortens a file in place below bytes
            // any reader may have seen: docs/SAFETY.md sections 2 and 11), so no access can
            // fault. Bytes below `published` are never written again (a writer, in this
            // process or another, only writes above its watermark, which only grows, and a
            // follower's watermark never passes it), so a shared borrow of them cannot alias
            // a write. The borrow is tied to `&self`, and the mapping lives as long as `self`.
            Some(raw) => unsafe { std::slice::from_raw_parts(raw.as_ptr(), published) },
            None => &[],
        }
    }

    /// The published bytes `[start, end)`, or `None` if the range is not fully published.
    #[inline]
    pub fn get(&self, start: usize, end: usize) -> Option<&[u8]> {
        self.prefix().get(start..end)
    }

    /// Tells the kernel that faults on this mapping are point reads (`MADV_RANDOM`): a fault
    /// reads the page it needs, not the several MiB of read-around the default brings in
    /// around each fault, which would make a cold point read wait for all of it. Sequential
    /// readers turn the kernel's read-ahead back on for the window ahead of them
    /// ([`ReadAhead`]). Best effort: advice changes no contents.
    pub fn advise_random(&self) {
        if self.advise(memmap2::Advice::Random, 0..self.len) {
            self.random.store(true, Ordering::Relaxed);
        }
    }

    /// Advises `range` of the mapping, clipped to it. False if the kernel refused (or nothing
    /// was left to advise).
    fn advise(&self, advice: memmap2::Advice, range: std::ops::Range<usize>) -> bool {
        let end = range.end.min(self.len);
        match &self.raw {
            Some(raw) if range.start < end => raw
                .advise_range(advice, range.start, end - range.start)
                .is_ok(),
            _ => false,
        }
    }

    /// Maps the published bytes into this process's page tables, the first time it is
    /// called: read ahead in large pieces ([`will_need`](Self::will_need)), then faulted in
    /// (`MADV_POPULATE_READ`, Linux 5.14). How a segment's offset index is kept resident for
    /// point reads: a lookup then waits for the disk only for the log, and mapped pages stay
    /// in the page cache until memory runs short (`POSIX_FADV_DONTNEED` leaves them). Later
    /// calls cost one load. Best effort: advice changes no contents.
    #[inline]
    pub fn keep_resident(&self) {
        if !self.resident.load(Ordering::Relaxed) && !self.resident.swap(true, Ordering::Relaxed) {
            self.populate();
        }
    }

    /// Whether the last lookup timed in this mapping waited for the disk: lookups then ask
    /// for the pages they will walk at once ([`will_need`](Self::will_need)) instead of
    /// faulting them in one synchronous read after another.
    #[inline]
    pub fn is_cold(&self) -> bool {
        self.cold.load(Ordering::Relaxed)
    }

    /// Records whether a timed lookup waited for the disk (written only when it changes).
    #[inline]
    pub fn set_cold(&self, cold: bool) {
        if self.cold.load(Ordering::Relaxed) != cold {
            self.cold.store(cold, Ordering::Relaxed);
        }
    }

    #[cold]
    fn populate(&self) {
        let len = self.published();
        self.will_need(0, len);
        self.advise(memmap2::Advice::PopulateRead, 0..len);
    }

    /// Starts reading `[start, start + len)` (clipped to the mapping) into the page cache
    /// without waiting (`MADV_WILLNEED`): what a point read in a cold log asks for at once,
    /// and how an index kept resident is read. Best effort.
    ///
    /// The kernel reads at most the device's read-ahead size per call (`read_ahead_kb`, 128
    /// KiB by default) and silently drops the rest, so the range is asked for in pieces of
    /// that size.
    pub fn will_need(&self, start: usize, len: usize) {
        let end = start.saturating_add(len).min(self.len);
        let mut at = start;
        while at < end {
            let n = WILL_NEED_PIECE.min(end - at);
            if !self.advise(memmap2::Advice::WillNeed, at..at + n) {
                return;
            }
            at += n;
        }
    }

    /// `fdatasync` of the file: makes every byte written through any mapping of it, and its
    /// length, durable.
    pub fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// Opens `path` for writing and takes the exclusive writer lock on it (`flock`). Fails with
/// `ErrorKind::WouldBlock` while another writer of the file exists, in this process or
/// another, so two writers can never map the same file.
pub fn lock_exclusive(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    file.try_lock().map_err(lock_error)?;
    Ok(file)
}

fn lock_error(e: std::fs::TryLockError) -> io::Error {
    match e {
        std::fs::TryLockError::WouldBlock => io::Error::from(io::ErrorKind::WouldBlock),
        std::fs::TryLockError::Error(e) => e,
    }
}

/// Maps all of an already opened (and locked) `file` read-only, for a scan.
pub fn map_locked_read_only(file: &File) -> io::Result<MapRef> {
    let len = whole_len(file)?;
    Ok(MapRef::new(Mapping::map(
        file.try_clone()?,
        len,
        len,
        false,
    )?))
}

/// The length of `file`, which must fit the address space to be mapped whole.
fn whole_len(file: &File) -> io::Result<usize> {
    usize::try_from(file.metadata()?.len())
        .map_err(|_| io::Error::from(io::ErrorKind::FileTooLarge))
}

/// The error for a published length past the end of a file or mapping.
fn past_the_file(len: usize, file_len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("published length {len} lies past the end of the file ({file_len} bytes)"),
    )
}

/// Asks the CPU to start loading the cache line holding `bytes[at]` (and its page's address
/// translation) without waiting for it, so that a lookup's next loads from elsewhere overlap
/// with it. A hint: it never faults (a page not mapped in yet is simply not loaded), reads
/// nothing into the program and changes nothing. Out of range, and off x86-64, it does
/// nothing.
#[inline]
pub fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = bytes.get(at) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `PREFETCHT0` only hints the cache: it does not fault (on any address), does
        // not read the byte into a register and writes nothing, so it has no effect on memory
        // the program could observe; the address is that of a byte of `bytes` anyway. It is
        // part of SSE, which every x86-64 CPU has (the target's baseline features).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(b).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}
