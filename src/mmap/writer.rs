//! The writer side of a mapping: [`MapWriter`] reserves blocks, writes above the watermark,
//! publishes, and trims only down to the watermark.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::Path;
use std::sync::atomic::Ordering;

use super::{MapRef, Mapping, PAGE, lock_error, lock_exclusive};

/// Most pieces [`MapWriter::write_tail_gathered`] passes to one vectored write.
pub const GATHER_WINDOW: usize = 64;

/// The one writer of a [`Mapping`]: appends above the watermark and publishes.
#[derive(Debug)]
pub struct MapWriter {
    map: MapRef,
    /// Bytes of the file that are backed by reserved blocks (the file's length).
    allocated: u64,
    /// How far ahead to reserve when the writer runs out of reserved space.
    chunk: u64,
    /// How far past each write to prefault pages, see [`Self::set_prefault`]; `None` once
    /// the kernel refused.
    prefault: Option<u64>,
    /// Bytes below this were prefaulted (or written).
    populated: u64,
}

impl MapWriter {
    /// Creates `path` (which must not exist) and maps `capacity` bytes of it for appending,
    /// reserving blocks `chunk` bytes at a time.
    pub fn create(path: &Path, capacity: usize, chunk: u64) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let made = file
            .try_lock()
            .map_err(lock_error)
            .and_then(|()| Self::from_file(file, capacity, 0, chunk));
        if made.is_err() {
            let _ = std::fs::remove_file(path);
        }
        made
    }

    /// Opens the existing `path` for appending after its first `published` bytes (which must
    /// be within the file). Anything in the file past `published` is treated as free space.
    pub fn open(path: &Path, capacity: usize, published: usize, chunk: u64) -> io::Result<Self> {
        Self::from_locked(lock_exclusive(path)?, capacity, published, chunk)
    }

    /// As [`open`](Self::open), for a file that already holds the lock from
    /// [`lock_exclusive`].
    pub fn from_locked(
        file: File,
        capacity: usize,
        published: usize,
        chunk: u64,
    ) -> io::Result<Self> {
        Self::from_file(file, capacity, published, chunk)
    }

    /// Opens the existing `path` for appending after all of its bytes (as
    /// [`open`](Self::open) with `published` its length), reading its length once: how an
    /// index file is continued. The mapping's capacity is `capacity` or the file's length if
    /// larger.
    pub fn open_whole(path: &Path, capacity: usize, chunk: u64) -> io::Result<Self> {
        let file = lock_exclusive(path)?;
        let len = file.metadata()?.len();
        let published =
            usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::FileTooLarge))?;
        Self::from_sized(file, len, capacity, published, chunk)
    }

    fn from_file(file: File, capacity: usize, published: usize, chunk: u64) -> io::Result<Self> {
        let allocated = file.metadata()?.len();
        Self::from_sized(file, allocated, capacity, published, chunk)
    }

    /// As `from_file`, for a `file` of `allocated` bytes (its length, just read).
    fn from_sized(
        file: File,
        allocated: u64,
        capacity: usize,
        published: usize,
        chunk: u64,
    ) -> io::Result<Self> {
        let capacity = capacity.max(published);
        let map = MapRef::new(Mapping::map_sized(
            file, allocated, capacity, published, true,
        )?);
        Ok(Self {
            map,
            allocated,
            chunk: chunk.max(PAGE),
            prefault: Some(0),
            populated: 0,
        })
    }

    /// The shared, readable side.
    pub fn mapping(&self) -> &MapRef {
        &self.map
    }

    /// Bytes published so far (no synchronisation needed: only this writer changes it).
    #[inline]
    pub fn published(&self) -> usize {
        self.map.published.load(Ordering::Relaxed)
    }

    /// Space left in the mapping after the watermark.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.map.len - self.published()
    }

    /// Returns the `len` bytes right after the watermark for writing, reserving file blocks
    /// first if needed. `None` if they do not fit in the mapping.
    ///
    /// # Errors
    /// The reservation's I/O error (typically `ENOSPC` or `EFBIG`); nothing was written.
    #[inline]
    pub fn tail_mut(&mut self, len: usize) -> io::Result<Option<&mut [u8]>> {
        let start = self.published();
        let Some(end) = start.checked_add(len).filter(|&e| e <= self.map.len) else {
            return Ok(None);
        };
        if end as u64 > self.allocated {
            self.reserve(end as u64)?;
        }
        if end as u64 > self.populated {
            self.populate(start as u64, end as u64);
        }
        match &self.map.raw {
            // SAFETY: `start..end` lies within the mapping (checked above) and within the
            // file's reserved length (`reserve` succeeded), so the access cannot fault. No
            // shared borrow of these bytes exists: readers borrow only below `published`, and
            // `start == published`. No other mutable borrow exists: this `MapWriter` is the
            // mapping's only writer and the borrow is tied to `&mut self`, so it ends before
            // `publish` can make the bytes readable.
            Some(raw) => Ok(Some(unsafe {
                std::slice::from_raw_parts_mut(raw.as_mut_ptr().add(start), len)
            })),
            None => Ok(if len == 0 { Some(&mut []) } else { None }),
        }
    }

    /// Writes `bytes` right after the watermark with `pwrite(2)` instead of through the
    /// mapping (reserving file blocks first, as [`tail_mut`](Self::tail_mut) does); `false`
    /// if they do not fit in the mapping. The kernel copies them into the page cache pages
    /// the mapping shares, without a page fault per page; readers see them once published.
    ///
    /// # Errors
    /// The reservation's or the write's I/O error; bytes past the watermark may then hold
    /// part of `bytes`, which is unpublished free space like any other.
    pub fn write_tail(&mut self, bytes: &[u8]) -> io::Result<bool> {
        let start = self.published();
        let Some(end) = start
            .checked_add(bytes.len())
            .filter(|&e| e <= self.map.len)
        else {
            return Ok(false);
        };
        if end as u64 > self.allocated {
            self.reserve(end as u64)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            self.map.file.write_all_at(bytes, start as u64)?;
        }
        #[cfg(not(unix))]
        match self.tail_mut(bytes.len())? {
            Some(dst) => dst.copy_from_slice(bytes),
            None => return Ok(false),
        }
        Ok(true)
    }

    /// As [`write_tail`](Self::write_tail) for a tail of `len` bytes given as `pieces`, in
    /// order, written with vectored writes (`writev(2)`, at most [`GATHER_WINDOW`] pieces per
    /// call) from where they are, without copying them together first. Refused with
    /// `InvalidInput` (nothing written) unless the pieces add up to `len`.
    ///
    /// # Errors
    /// As [`write_tail`](Self::write_tail).
    pub fn write_tail_gathered<'p>(
        &mut self,
        len: usize,
        pieces: impl Iterator<Item = &'p [u8]> + Clone,
    ) -> io::Result<bool> {
        let start = self.published();
        let Some(end) = start.checked_add(len).filter(|&e| e <= self.map.len) else {
            return Ok(false);
        };
        if pieces.clone().map(<[u8]>::len).sum::<usize>() != len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the pieces of a tail do not add up to its length",
            ));
        }
        if end as u64 > self.allocated {
            self.reserve(end as u64)?;
        }
        // The descriptor's offset serves only these writes (every other access to the file
        // is positional or through the mapping), and is set before each, under `&mut self`.
        let mut file = &self.map.file;
        file.seek(io::SeekFrom::Start(start as u64))?;
        let mut window = [io::IoSlice::new(&[]); GATHER_WINDOW];
        let mut pieces = pieces.filter(|p| !p.is_empty()).peekable();
        while pieces.peek().is_some() {
            let mut n = 0;
            for (slot, piece) in window.iter_mut().zip(pieces.by_ref()) {
                *slot = io::IoSlice::new(piece);
                n += 1;
            }
            let mut bufs = window.get_mut(..n).unwrap_or_default();
            while !bufs.is_empty() {
                match file.write_vectored(bufs) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(k) => io::IoSlice::advance_slices(&mut bufs, k),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(true)
    }

    /// Makes the first `new_len` bytes readable. Release: the writes made through
    /// [`tail_mut`](Self::tail_mut) happen-before any reader that observes `new_len`.
    ///
    /// Out-of-range values (below the current watermark or beyond the reserved space) are
    /// ignored, which keeps the module's invariants unconditional.
    #[inline]
    pub fn publish(&mut self, new_len: usize) {
        if new_len >= self.published()
            && new_len as u64 <= self.allocated
            && new_len <= self.map.len
        {
            self.map.published.store(new_len, Ordering::Release);
        }
    }

    /// Prefaults the pages a write needs, and those of the next `window` bytes past it,
    /// with one `madvise` call each time the writer passes the prefaulted range, instead of
    /// taking one page fault per page while appending. The pages past the write are dirtied
    /// with the zeros they hold, so a sync may write up to `window` bytes past the data; the
    /// files keep only what is published. With a window of 0 (the default) only pages a write
    /// covers are prefaulted, and only when it covers several.
    pub fn set_prefault(&mut self, window: u64) {
        if self.prefault.is_some() {
            self.prefault = Some(window);
        }
    }

    /// Prefaults `[page of start, end + window)`, within the reserved space, when that is
    /// more than one page. Best effort: on kernels without `MADV_POPULATE_WRITE` (before
    /// Linux 5.14) it turns itself off.
    #[cold]
    fn populate(&mut self, start: u64, end: u64) {
        let Some(window) = self.prefault else {
            self.populated = end;
            return;
        };
        let from = self.populated.max(start - start % PAGE);
        let to = end
            .saturating_add(window)
            .next_multiple_of(PAGE)
            .min(self.allocated);
        if let Some(raw) = &self.map.raw
            && to >= from + 2 * PAGE
            && let (Ok(offset), Ok(len)) = (usize::try_from(from), usize::try_from(to - from))
            && raw
                .advise_range(memmap2::Advice::PopulateWrite, offset, len)
                .is_err()
        {
            self.prefault = None;
        }
        self.populated = to.max(end);
    }

    /// Ensures the file has reserved blocks up to at least `end` bytes.
    fn reserve(&mut self, end: u64) -> io::Result<()> {
        let cap = self.map.len as u64;
        let want = end
            .max(self.allocated.saturating_add(self.chunk))
            .next_multiple_of(PAGE)
            .min(cap)
            .max(end);
        let want = match self.allocate_or_undo(want) {
            Ok(()) => want,
            // Nearly full: reserve just what this write needs rather than a whole chunk.
            Err(_) if want > end => {
                let need = end.next_multiple_of(PAGE).min(cap).max(end);
                self.allocate_or_undo(need)?;
                need
            }
            Err(e) => return Err(e),
        };
        self.allocated = want;
        Ok(())
    }

    /// Reserves up to `to`, or, if that fails, leaves the file as long as it was: a failed
    /// `posix_fallocate` may keep the blocks it did allocate and extend the file (ext4 does),
    /// which would hold space nobody accounts for. Cutting back to the reserved length never
    /// cuts published bytes (they lie below it).
    fn allocate_or_undo(&mut self, to: u64) -> io::Result<()> {
        let result = allocate(&self.map.file, self.allocated, to - self.allocated);
        if result.is_err()
            && self
                .map
                .file
                .metadata()
                .is_ok_and(|m| m.len() > self.allocated)
        {
            // Best effort: the error to report is the allocation's.
            let _ = self.map.file.set_len(self.allocated);
        }
        result
    }

    /// Sets how much the file grows by when it needs space (see [`create`](Self::create)).
    pub fn set_chunk(&mut self, chunk: u64) {
        self.chunk = chunk.max(PAGE);
    }

    /// Shrinks the file to exactly the published length, releasing reserved but unused blocks.
    /// Never cuts published bytes, so mapped readers are unaffected.
    pub fn trim(&mut self) -> io::Result<()> {
        let published = self.published() as u64;
        if self.allocated != published {
            self.map.file.set_len(published)?;
            self.allocated = published;
        }
        Ok(())
    }
}

impl Drop for MapWriter {
    /// Releases the writer's lock; read-only views of the mapping may live on.
    fn drop(&mut self) {
        let _ = self.map.file.unlock();
    }
}

/// Reserves `[offset, offset + len)` of `file` on disk, extending its length.
#[cfg(target_os = "linux")]
fn allocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    if len == 0 {
        return Ok(());
    }
    let (Ok(off), Ok(n)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // SAFETY: plain FFI call on a file descriptor we own for the duration of the call; it
    // reads no memory of ours.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), off, n) };
    match rc {
        0 => Ok(()),
        // The filesystem cannot preallocate: fall back to extending the length. Writes into
        // the resulting hole can still fail for lack of space (docs/SAFETY.md).
        libc::EINVAL | libc::EOPNOTSUPP => file.set_len(offset + len),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Reserves `[offset, offset + len)` of `file`, extending its length.
#[cfg(not(target_os = "linux"))]
fn allocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
    file.set_len(offset + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_become_visible_only_when_published() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        let mut w = MapWriter::create(&path, 1 << 20, 4096)?;
        let map = w.mapping().clone();
        w.tail_mut(5)?
            .ok_or(io::ErrorKind::Other)?
            .copy_from_slice(b"hello");
        assert_eq!(map.prefix(), b"");
        w.publish(5);
        assert_eq!(map.prefix(), b"hello");
        assert_eq!(map.get(1, 3), Some(&b"el"[..]));
        assert_eq!(map.get(3, 6), None);
        // Publishing backwards or past the reservation is ignored.
        w.publish(2);
        assert_eq!(map.published(), 5);
        w.publish(1 << 21);
        assert_eq!(map.published(), 5);
        assert!(w.tail_mut(2 << 20)?.is_none(), "beyond capacity");
        w.trim()?;
        assert_eq!(std::fs::metadata(&path)?.len(), 5);
        drop(w);
        // The view outlives its writer.
        assert_eq!(map.prefix(), b"hello");
        let ro = Mapping::open_read_only(&path, 5)?;
        assert_eq!(ro.prefix(), b"hello");
        Ok(())
    }

    #[test]
    fn reservation_grows_in_chunks() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        let mut w = MapWriter::create(&path, 1 << 20, 64 << 10)?;
        let _ = w.tail_mut(10)?;
        assert_eq!(std::fs::metadata(&path)?.len(), 64 << 10);
        w.publish(10);
        let _ = w.tail_mut((64 << 10) - 5)?;
        assert_eq!(std::fs::metadata(&path)?.len(), 128 << 10);
        Ok(())
    }

    #[test]
    fn written_tails_read_back_through_the_mapping_once_published() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        let mut w = MapWriter::create(&path, 1 << 20, 64 << 10)?;
        let map = w.mapping().clone();
        let a = vec![7u8; 100 << 10]; // past the first 64 KiB reservation
        assert!(w.write_tail(&a)?);
        assert!(
            map.prefix().is_empty(),
            "unpublished bytes are not readable"
        );
        w.publish(a.len());
        assert!(w.write_tail(b"tail")?);
        w.publish(a.len() + 4);
        assert_eq!(&map.prefix()[..a.len()], &a[..]);
        assert_eq!(&map.prefix()[a.len()..], b"tail");
        assert!(
            !w.write_tail(&vec![0; 1 << 20])?,
            "past the mapping: refused"
        );
        w.trim()?;
        assert_eq!(std::fs::metadata(&path)?.len(), (a.len() + 4) as u64);
        Ok(())
    }

    #[test]
    fn gathered_tails_are_written_in_order_at_the_watermark() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        let mut w = MapWriter::create(&path, 1 << 20, 64 << 10)?;
        let map = w.mapping().clone();
        assert!(w.write_tail(b"head")?);
        w.publish(4);
        // More pieces than one vectored write takes, some empty, past the first reservation.
        let big = vec![9u8; 100 << 10];
        let mut pieces: Vec<&[u8]> = vec![b"", &big];
        pieces.extend(std::iter::repeat_n(&b"ab"[..], 2 * GATHER_WINDOW));
        let len = big.len() + 4 * GATHER_WINDOW;
        assert!(
            w.write_tail_gathered(len + 1, pieces.iter().copied())
                .is_err_and(|e| e.kind() == io::ErrorKind::InvalidInput),
            "pieces that do not add up are refused"
        );
        assert!(w.write_tail_gathered(len, pieces.iter().copied())?);
        w.publish(4 + len);
        let expected: Vec<u8> = [&b"head"[..]]
            .iter()
            .chain(&pieces)
            .flat_map(|p| p.iter().copied())
            .collect();
        assert_eq!(map.prefix(), &expected[..]);
        assert!(
            !w.write_tail_gathered(1 << 20, std::iter::once(&big[..]))?,
            "past the mapping"
        );
        w.trim()?;
        drop(w);
        assert_eq!(std::fs::read(&path)?, expected);
        Ok(())
    }

    #[test]
    fn prefaulting_stays_in_reserved_space_and_changes_no_contents() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        let mut w = MapWriter::create(&path, 1 << 20, 64 << 10)?;
        // A window larger than the reservation: prefaulting must stop at the reserved end.
        w.set_prefault(512 << 10);
        let mut expected = Vec::new();
        for i in 0..3000u32 {
            let bytes = i.to_le_bytes();
            let start = w.published();
            w.tail_mut(4)?
                .ok_or_else(|| io::Error::other("full"))?
                .copy_from_slice(&bytes);
            w.publish(start + 4);
            expected.extend_from_slice(&bytes);
            assert!(w.populated <= w.allocated.max(w.published() as u64));
        }
        assert_eq!(w.mapping().prefix(), &expected[..]);
        assert_eq!(std::fs::metadata(&path)?.len(), 64 << 10);
        w.trim()?;
        drop(w);
        assert_eq!(std::fs::read(&path)?, expected);
        Ok(())
    }
}
