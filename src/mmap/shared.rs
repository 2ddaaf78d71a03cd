//! The live state file's mapping: 32- and 64-bit words shared with other processes, which
//! every process changes only atomically, a futex on one of them that works across
//! processes, and the topic writer's lock on the file, which readers can see without taking.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};

/// A whole file mapped read-write (`MAP_SHARED`) as atomic words.
#[derive(Debug)]
pub struct SharedWords {
    raw: MmapRaw,
    len: usize,
    /// Kept open: the mapping's file, for `fdatasync` and the header's `pread`/`pwrite`.
    file: File,
}

impl SharedWords {
    /// Maps all of `file`, which must be exactly `len` bytes long, readable and writable.
    ///
    /// # Errors
    /// `InvalidData` if the file's length is not `len` (or is 0); the mapping's I/O error.
    pub fn map(file: File, len: usize) -> io::Result<Self> {
        let file_len = file.metadata()?.len();
        if len == 0 || file_len != len as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("live state file of {file_len} bytes, {len} expected"),
            ));
        }
        let raw = MmapOptions::new().len(len).map_raw(&file)?;
        Ok(Self { raw, len, file })
    }

    /// The mapped file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The 64-bit word at byte `at`.
    ///
    /// # Panics
    /// If `at` is not a multiple of 8 or the word is not inside the mapping: positions come
    /// from the layout constants of `codec::live` and slot numbers checked at open.
    #[expect(
        clippy::cast_ptr_alignment,
        reason = "the position is checked to be 8-byte aligned in a page-aligned mapping"
    )]
    pub fn u64_at(&self, at: usize) -> &AtomicU64 {
        assert!(
            at.is_multiple_of(8) && at + 8 <= self.len,
            "word at {at} outside the live state mapping"
        );
        // SAFETY: the word lies inside the mapping (checked above) and is 8-byte aligned
        // (the mapping starts on a page, `at` is a multiple of 8), as `AtomicU64` needs. The
        // file is never shortened while mapped (pagelog replaces it by rename, never
        // truncates it; docs/SAFETY.md section 11), so the access cannot fault. Every
        // process, this one included, accesses these bytes only through atomics of this
        // size at this position, so there is no mixed or non-atomic access. The reference
        // is tied to `&self`, which owns the mapping.
        unsafe { AtomicU64::from_ptr(self.raw.as_mut_ptr().add(at).cast::<u64>()) }
    }

    /// The 32-bit word at byte `at`.
    ///
    /// # Panics
    /// As [`u64_at`](Self::u64_at), for a multiple of 4.
    #[expect(
        clippy::cast_ptr_alignment,
        reason = "the position is checked to be 4-byte aligned in a page-aligned mapping"
    )]
    pub fn u32_at(&self, at: usize) -> &AtomicU32 {
        assert!(
            at.is_multiple_of(4) && at + 4 <= self.len,
            "word at {at} outside the live state mapping"
        );
        // SAFETY: as in `u64_at`, for a 4-byte aligned 32-bit word.
        unsafe { AtomicU32::from_ptr(self.raw.as_mut_ptr().add(at).cast::<u32>()) }
    }

    /// Sleeps while the 32-bit word at `at` holds `expected`, until a [`wake`](Self::wake)
    /// on it from any process or `timeout` passes (`None`: no limit). Returns at once if the
    /// word holds another value; may return early (signals, spurious wake-ups): callers
    /// re-check their condition.
    #[cfg(target_os = "linux")]
    pub fn wait(&self, at: usize, expected: u32, timeout: Option<Duration>) {
        let word = self.u32_at(at);
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(i32::try_from(d.subsec_nanos()).unwrap_or(0)),
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), std::ptr::from_ref::<libc::timespec>);
        // SAFETY: FUTEX_WAIT reads the aligned 32-bit word, which lies in this mapping for
        // the whole call (`&self`); the timespec, if any, lives on this stack frame until the
        // call returns. Without FUTEX_PRIVATE_FLAG the kernel keys the futex by the file's
        // inode and offset, so a wake from another process that maps the same file finds it.
        // The result is ignored on purpose: every outcome (woken, value changed, timeout,
        // signal) sends the caller back to re-check its condition.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                ts_ptr,
                std::ptr::null::<u32>(),
                0u32,
            );
        }
    }

    /// Wakes every process and thread sleeping in [`wait`](Self::wait) on the word at `at`.
    #[cfg(target_os = "linux")]
    pub fn wake(&self, at: usize) {
        let word = self.u32_at(at);
        // SAFETY: FUTEX_WAKE only uses the word's address as a key (shared: inode and
        // offset); it reads no memory of ours beyond it.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE,
                i32::MAX,
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            );
        }
    }

    /// Without a futex shared across processes (off Linux) a waiter sleeps at most 1 ms at a
    /// time and re-checks (docs/DESIGN.md, "Many processes").
    #[cfg(not(target_os = "linux"))]
    pub fn wait(&self, _at: usize, _expected: u32, timeout: Option<Duration>) {
        let nap = Duration::from_millis(1);
        std::thread::sleep(timeout.map_or(nap, |t| t.min(nap)));
    }

    /// Off Linux, waiters poll (see [`wait`](Self::wait)); nothing to wake.
    #[cfg(not(target_os = "linux"))]
    pub fn wake(&self, _at: usize) {}

    /// `fdatasync` of the file.
    ///
    /// # Errors
    /// The sync's I/O error.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// Takes the topic's writer lock on `file`: an OFD write lock on its first byte (Linux),
/// which readers can see without taking it ([`writer_lock_held`]).
#[cfg(target_os = "linux")]
pub fn lock_writer(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut fl = ofd_lock(libc::F_WRLCK);
    // SAFETY: fcntl on a descriptor we own; `fl` is a valid `struct flock` on this stack
    // frame for the whole call.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &raw mut fl) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES) => Err(io::Error::from(io::ErrorKind::WouldBlock)),
        _ => Err(e),
    }
}

/// Whether another open file description holds the topic's writer lock.
#[cfg(target_os = "linux")]
pub fn writer_lock_held(file: &File, _pid: u32) -> bool {
    use std::os::fd::AsRawFd;
    let mut fl = ofd_lock(libc::F_WRLCK);
    // SAFETY: as in `lock_writer`; F_OFD_GETLK only fills in `fl`.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &raw mut fl) };
    // Unknown (an error): say a writer may be there, so a reader waits instead of giving up.
    rc != 0 || i32::from(fl.l_type) != libc::F_UNLCK
}

#[cfg(target_os = "linux")]
fn ofd_lock(kind: i32) -> libc::flock {
    libc::flock {
        l_type: i16::try_from(kind).unwrap_or(0),
        l_whence: 0,
        l_start: 0,
        l_len: 1,
        l_pid: 0,
    }
}

/// Elsewhere: an exclusive `flock`; liveness is then judged by the pid.
#[cfg(not(target_os = "linux"))]
pub fn lock_writer(file: &File) -> io::Result<()> {
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => io::Error::from(io::ErrorKind::WouldBlock),
        std::fs::TryLockError::Error(e) => e,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn writer_lock_held(_file: &File, pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    pid != 0 && unsafe { libc::kill(pid, 0) } == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    #[test]
    fn two_mappings_of_one_file_share_words_and_wake_each_other() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("w");
        std::fs::write(&path, [0u8; 64])?;
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
        };
        let a = Arc::new(SharedWords::map(open()?, 64)?);
        let b = SharedWords::map(open()?, 64)?;
        a.u64_at(8).store(42, Ordering::SeqCst);
        assert_eq!(b.u64_at(8).load(Ordering::SeqCst), 42);
        let waiter = {
            let a = Arc::clone(&a);
            std::thread::spawn(move || {
                while a.u32_at(0).load(Ordering::SeqCst) == 0 {
                    a.wait(0, 0, None);
                }
            })
        };
        b.u32_at(0).store(1, Ordering::SeqCst);
        b.wake(0);
        waiter
            .join()
            .map_err(|_| io::Error::other("waiter panicked"))?;
        assert!(SharedWords::map(open()?, 32).is_err(), "length must match");
        Ok(())
    }
}
