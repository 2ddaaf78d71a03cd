//! The read-ahead of sequential readers on a mapping advised `MADV_RANDOM`.
//!
//! Point reads need `MADV_RANDOM` (a cold read faults in one page, not `read_ahead_kb` around
//! it), which turns the kernel's own read-ahead off for the whole mapping. A sequential
//! reader ([`ReadAhead`]) turns it back on for the window ahead of it only: it advises that
//! window `MADV_NORMAL` when some page of it is not resident, and the kernel's read-ahead then
//! streams the file in, asynchronously and in large folios. The window behind the reader goes
//! back to `MADV_RANDOM` as it moves on, and all of it when the last reader of the mapping
//! leaves. `MADV_WILLNEED` would read the same pages, but the kernel serves it by inserting
//! 4 KiB pages one at a time in the calling thread, which costs a cold scan about half its
//! CPU time; and `MADV_SEQUENTIAL` keeps the kernel's read-ahead off its sequential path when
//! the page before the first fault is already cached (as an open or a point read leaves it).
//!
//! Advice changes no contents: every decision here costs or saves speed, never correctness.

use std::io;
use std::ops::Range;

use super::{MapRef, Mapping, PAGE_SIZE};

/// The largest window [`ReadAhead::window`] checks page by page.
pub(crate) const READ_AHEAD_MAX: usize = 16 << 20;

/// The pages of the largest window: one more than its length alone covers, for a window that
/// starts inside a page.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const RESIDENT_PAGES: usize = READ_AHEAD_MAX / PAGE_SIZE + 1;

/// The first page-aligned position of `[start, end)` and how many pages the range touches.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn pages_of(start: usize, end: usize) -> (usize, usize) {
    let first = start / PAGE_SIZE * PAGE_SIZE;
    (first, end.saturating_sub(first).div_ceil(PAGE_SIZE))
}

/// The sequential readers of one mapping and the range they advised `MADV_NORMAL`.
#[derive(Debug, Default)]
pub(super) struct Streams {
    /// Live [`ReadAhead`]s on the mapping.
    readers: usize,
    /// Page-aligned bytes advised `MADV_NORMAL` and not advised back yet (gaps included:
    /// advising `MADV_RANDOM` again over a gap changes nothing).
    normal: Option<Range<usize>>,
}

/// A sequential reader's read-ahead on one mapping at a time: see the module docs. Dropping it
/// (or moving it to another mapping) leaves the mapping; the last reader to leave advises
/// everything the readers advised back to `MADV_RANDOM`.
#[derive(Debug, Default)]
pub struct ReadAhead {
    on: Option<MapRef>,
}

impl ReadAhead {
    /// Before a sequential reader of `map` reads `[start, start + len)` (clipped to the
    /// published bytes): advises the window for the kernel's read-ahead if a page of it is not
    /// resident, and, when this is the mapping's only reader, advises the pages wholly below
    /// `behind` (which the reader is done with) back to `MADV_RANDOM`. Only for a mapping
    /// advised `MADV_RANDOM`; on any other the kernel reads ahead by itself. The residency
    /// check is one `mincore` call (x86-64 Linux; elsewhere every window counts as cold).
    pub fn window(&mut self, map: &MapRef, behind: usize, start: usize, len: usize) {
        if !map.random.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if !self.on.as_ref().is_some_and(|on| MapRef::ptr_eq(on, map)) {
            self.leave();
            map.streams.lock().readers += 1;
            self.on = Some(map.clone());
        }
        let end = start.saturating_add(len).min(map.published());
        let first = start / PAGE_SIZE * PAGE_SIZE;
        let cold = start < end && !map.all_resident(first, end);
        let mut streams = map.streams.lock();
        if streams.readers == 1 {
            map.advise_back(&mut streams, behind / PAGE_SIZE * PAGE_SIZE);
        }
        if cold && map.advise(memmap2::Advice::Normal, first..end) {
            streams.normal = Some(match streams.normal.take() {
                Some(r) => r.start.min(first)..r.end.max(end),
                None => first..end,
            });
        }
    }

    /// Leaves the mapping this reader is on, if any.
    fn leave(&mut self) {
        if let Some(map) = self.on.take() {
            let mut streams = map.streams.lock();
            streams.readers = streams.readers.saturating_sub(1);
            if streams.readers == 0 {
                map.advise_back(&mut streams, usize::MAX);
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.leave();
    }
}

impl Mapping {
    /// Advises the `MADV_NORMAL` range below `below` back to `MADV_RANDOM`.
    fn advise_back(&self, streams: &mut Streams, below: usize) {
        let Some(normal) = streams.normal.take() else {
            return;
        };
        let cut = below.min(normal.end);
        if cut > normal.start {
            self.advise(memmap2::Advice::Random, normal.start..cut);
        }
        if cut < normal.end {
            streams.normal = Some(cut.max(normal.start)..normal.end);
        }
    }

    /// Whether every page of `[first, end)` is resident (`first` page-aligned). Off x86-64
    /// Linux, and when `mincore` fails, false: the window is then treated as cold.
    fn all_resident(&self, first: usize, end: usize) -> bool {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        {
            let (first, pages) = pages_of(first, end);
            let mut resident = [0u8; RESIDENT_PAGES];
            if let Some(resident) = resident.get_mut(..pages)
                && self.resident(first, resident).is_ok()
            {
                // Bit 0 of each byte: the page is resident.
                return resident.iter().all(|b| b & 1 == 1);
            }
        }
        #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
        let _ = (first, end);
        false
    }

    /// Which pages of `[first, first + 4 KiB × out.len())` are resident (`mincore`): bit 0
    /// of `out[i]` for the page at `first + 4 KiB × i`. `first` must be page-aligned and the
    /// range within the published bytes rounded up to a page.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn resident(&self, first: usize, out: &mut [u8]) -> io::Result<()> {
        let Some(raw) = &self.raw else {
            return Err(io::Error::from(io::ErrorKind::Unsupported));
        };
        let len = out.len() * PAGE_SIZE;
        if !first.is_multiple_of(PAGE_SIZE)
            || first.saturating_add(len) > self.published().next_multiple_of(PAGE_SIZE)
        {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        // SAFETY: `mincore` reads no byte of the mapping: the kernel looks at page tables and
        // the page cache for `[addr, addr + len)` and writes one byte per page into `out`.
        // The range starts on a page boundary of this mapping (its base is page-aligned and
        // `first` a multiple of 4 KiB, the page size of x86-64 Linux) and ends within the
        // page holding the last published byte, which lies within the mapping, so the kernel
        // writes exactly `len / 4096 = out.len()` bytes, into `out`, which this call borrows
        // mutably. A range outside any mapping would be `ENOMEM`, not a fault.
        let rc = unsafe {
            libc::mincore(
                raw.as_ptr().wrapping_add(first).cast_mut().cast(),
                len,
                out.as_mut_ptr(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::unix::fs::FileExt;

    const PAGE: u64 = PAGE_SIZE as u64;

    /// A new file of `len` bytes, all holes (never read, so not resident), and a follower
    /// mapping of all of it, advised `MADV_RANDOM` as segment logs are if `random`.
    fn mapped(dir: &tempfile::TempDir, len: usize, random: bool) -> io::Result<(File, MapRef)> {
        let path = dir.path().join("f");
        let file = File::create(&path)?;
        file.set_len(len as u64)?;
        let map = Mapping::open_follower(&path, len, len)?;
        if random {
            map.advise_random();
        }
        Ok((file, map))
    }

    /// The `VmFlags` of each piece of the mapping at `base`, from `/proc/self/smaps`, in
    /// address order: whether each piece is advised `MADV_RANDOM` (`rr`), with its length.
    fn random_pieces(map: &MapRef) -> io::Result<Vec<(usize, bool)>> {
        let base = map.raw.as_ref().map_or(0, |r| r.as_ptr() as usize);
        let end = base + map.capacity();
        let smaps = std::fs::read_to_string("/proc/self/smaps")?;
        let mut pieces = Vec::new();
        let mut current: Option<usize> = None;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((lo, hi)) = range.split_once('-')
                && let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                current = (lo >= base && hi <= end).then_some(hi - lo);
            } else if let Some(flags) = line.strip_prefix("VmFlags:")
                && let Some(len) = current.take()
            {
                pieces.push((len, flags.split_whitespace().any(|f| f == "rr")));
            }
        }
        Ok(pieces)
    }

    const MIB: usize = 1 << 20;

    /// A cold window goes to the kernel's read-ahead (`MADV_NORMAL`), the pages behind the
    /// only reader go back to `MADV_RANDOM` as it moves on, and all of them when it leaves.
    #[test]
    fn a_reader_advises_its_cold_window_and_then_advises_it_back() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let (_, map) = mapped(&dir, 16 * MIB, true)?;
        assert_eq!(random_pieces(&map)?, [(16 * MIB, true)]);
        let mut ahead = ReadAhead::default();
        ahead.window(&map, 0, 0, 4 * MIB);
        assert_eq!(random_pieces(&map)?, [(4 * MIB, false), (12 * MIB, true)]);
        // Halfway through the first window, the reader asks for the next one.
        ahead.window(&map, 2 * MIB + 100, 4 * MIB, 4 * MIB);
        assert_eq!(
            random_pieces(&map)?,
            [(2 * MIB, true), (6 * MIB, false), (8 * MIB, true)]
        );
        drop(ahead);
        assert_eq!(random_pieces(&map)?, [(16 * MIB, true)]);
        Ok(())
    }

    /// With two readers, neither advises anything back while the other may still read it;
    /// the last to leave advises back all that both advised.
    #[test]
    fn only_the_last_reader_advises_back_what_others_may_read() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let (_, map) = mapped(&dir, 16 * MIB, true)?;
        let (mut a, mut b) = (ReadAhead::default(), ReadAhead::default());
        a.window(&map, 0, 0, 4 * MIB);
        b.window(&map, 8 * MIB, 8 * MIB, 4 * MIB);
        a.window(&map, 3 * MIB, 4 * MIB, 4 * MIB);
        assert_eq!(random_pieces(&map)?, [(12 * MIB, false), (4 * MIB, true)]);
        drop(a);
        assert_eq!(random_pieces(&map)?, [(12 * MIB, false), (4 * MIB, true)]);
        // Now alone, b advises back what lies behind it.
        b.window(&map, 10 * MIB, 12 * MIB, 4 * MIB);
        assert_eq!(random_pieces(&map)?, [(10 * MIB, true), (6 * MIB, false)]);
        drop(b);
        assert_eq!(random_pieces(&map)?, [(16 * MIB, true)]);
        Ok(())
    }

    /// A resident window is left as it is: the kernel has nothing to read.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_resident_window_is_not_advised() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let (file, map) = mapped(&dir, 2 * MIB, true)?;
        file.write_all_at(&vec![7; 2 * MIB], 0)?;
        let mut ahead = ReadAhead::default();
        ahead.window(&map, 0, 0, 2 * MIB);
        assert_eq!(random_pieces(&map)?, [(2 * MIB, true)]);
        Ok(())
    }

    /// A mapping not advised `MADV_RANDOM` has the kernel's read-ahead already: nothing is
    /// advised.
    #[test]
    fn a_mapping_with_default_advice_is_left_alone() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let (_, map) = mapped(&dir, 4 * MIB, false)?;
        let mut ahead = ReadAhead::default();
        ahead.window(&map, 0, 0, 4 * MIB);
        assert_eq!(random_pieces(&map)?, [(4 * MIB, false)]);
        assert_eq!(map.streams.lock().readers, 0);
        Ok(())
    }

    /// `mincore` tells a page written through the page cache from the holes around it, which
    /// nothing has read; read-ahead relies on it to skip windows already there.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn resident_pages_are_told_from_holes() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let (file, map) = mapped(&dir, 4 * PAGE_SIZE, false)?;
        file.write_all_at(&[7; PAGE_SIZE], 2 * PAGE)?;
        let mut out = [0u8; 4];
        map.resident(0, &mut out)?;
        assert_eq!(out.map(|b| b & 1), [0, 0, 1, 0]);
        // Unaligned, or past the published bytes: refused, nothing asked of the kernel.
        assert!(map.resident(1, &mut out[..1]).is_err());
        assert!(map.resident(PAGE_SIZE, &mut out).is_err());
        Ok(())
    }

    /// A read-ahead window of the largest size that starts inside a page spans one page more
    /// than its length; the residency check's buffer holds it, and `mincore` answers for all
    /// of it.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn an_unaligned_window_of_the_largest_size_is_checked() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let (_, map) = mapped(&dir, READ_AHEAD_MAX + 2 * PAGE_SIZE, false)?;
        let (first, pages) = pages_of(100, 100 + READ_AHEAD_MAX);
        assert_eq!((first, pages), (0, RESIDENT_PAGES));
        let mut out = [1u8; RESIDENT_PAGES];
        map.resident(first, &mut out[..pages])?;
        assert!(out.iter().all(|b| b & 1 == 0), "holes, never read");
        assert!(!map.all_resident(100, 100 + READ_AHEAD_MAX));
        Ok(())
    }
}
