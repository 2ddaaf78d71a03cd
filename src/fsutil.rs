//! Small filesystem helpers: atomic file replacement and directory syncs.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::error::{Result, io_err};

/// Suffix of a file being written before it is renamed into place.
pub const TMP_SUFFIX: &str = ".tmp";

/// Replaces `dir/name` with `bytes` atomically: write `name.tmp`, fsync it, rename it over
/// `name`, fsync `dir`. A crash leaves either the old or the new contents (and perhaps a
/// stray `.tmp`, removed on the next open).
pub fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    atomic_write_via(dir, name, &format!("{name}{TMP_SUFFIX}"), bytes)
}

/// As [`atomic_write`], through the temporary file `dir/tmp_name`: for names too long to
/// take a suffix within the 255-byte limit on file names.
pub fn atomic_write_via(dir: &Path, name: &str, tmp_name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(tmp_name);
    let dst = dir.join(name);
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
    sync_dir(dir)
}

/// fsync of a directory, making creations, renames and removals in it durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Reads a whole file; `Ok(None)` if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Reads `buf.len()` bytes of `file` at `at`, or fewer at its end; returns how many.
pub fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Removes a file, treating "already gone" as success.
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Bytes read from the device at a time by [`disk_agrees_up_to`].
const DIRECT_CHUNK: usize = 1 << 20;
/// `O_DIRECT` alignment of buffers, offsets and lengths (the largest logical block size in
/// use; 4096 covers 512-byte devices too).
const DIRECT_ALIGN: usize = 4096;

/// The first index at which `a` and `b` (of equal length) differ. Whole blocks are compared
/// with `memcmp` (vectorised), and bytes one at a time only inside the first block that
/// differs: a byte loop over a whole log would take most of a crash recovery's time.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    const BLOCK: usize = 4096;
    let block = a
        .chunks(BLOCK)
        .zip(b.chunks(BLOCK))
        .position(|(x, y)| x != y)?;
    let start = block * BLOCK;
    a.get(start..)?
        .iter()
        .zip(b.get(start..)?)
        .position(|(x, y)| x != y)
        .map(|i| start + i)
}

/// How many leading bytes of `cached` (the page cache's view of `file`, from offset 0) the
/// storage device also holds: the file is read again with `O_DIRECT`, which bypasses the page
/// cache, and compared. `Ok(None)` when the filesystem refuses `O_DIRECT` (tmpfs before Linux
/// 6.6 does): there is no device to compare with. tmpfs from Linux 6.6 accepts `O_DIRECT`; its
/// page cache is the storage, so the comparison always agrees there.
///
/// Why: when the device fails to write a page, Linux keeps that page in the page cache, clean,
/// with the data that never reached the device. Reading through the cache would take it for
/// data on disk.
///
/// # Errors
/// An I/O error reading the device.
pub fn disk_agrees_up_to(path: &Path, cached: &[u8]) -> io::Result<Option<usize>> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let direct = match fs::File::options()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(None),
        Err(e) => return Err(e),
    };
    // An aligned window into a plain buffer: no unsafe allocation needed.
    let mut raw = vec![0u8; DIRECT_CHUNK + DIRECT_ALIGN];
    let skew = raw.as_ptr().align_offset(DIRECT_ALIGN).min(DIRECT_ALIGN);
    let buf = &mut raw[skew..skew + DIRECT_CHUNK];
    let mut at = 0usize;
    while at < cached.len() {
        let n = match direct.read_at(buf, at as u64) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && at == 0 => return Ok(None),
            Err(e) => return Err(e),
        };
        let want = (cached.len() - at).min(n);
        let (disk, cache) = (&buf[..want], &cached[at..at + want]);
        if let Some(i) = first_difference(disk, cache) {
            return Ok(Some(at + i));
        }
        if n < DIRECT_CHUNK {
            // End of the file on the device: what the cache holds beyond it is not there.
            return Ok(Some(at + want));
        }
        at += n;
    }
    Ok(Some(cached.len()))
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    #[test]
    fn first_difference_finds_the_first_differing_byte_in_any_block() {
        let a: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(first_difference(&a, &a), None);
        for at in [0, 1, 4095, 4096, 4097, 8191, 9_999] {
            let mut b = a.clone();
            b[at] ^= 1;
            if at + 3 < b.len() {
                b[at + 3] ^= 1; // a later difference does not hide the first
            }
            assert_eq!(first_difference(&a, &b), Some(at), "difference at {at}");
        }
        assert_eq!(first_difference(&[], &[]), None);
    }
}
