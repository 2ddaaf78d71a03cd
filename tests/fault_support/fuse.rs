//! A one-file FUSE filesystem, served from memory by a thread of the test, that can answer
//! `EIO` to chosen writes: with a loop device on its file and ext4 on the loop device, a test
//! gets a real disk whose writes fail where it says (the kernel's writeback of a page then
//! fails, as with a failing disk).
//!
//! It speaks the raw `/dev/fuse` protocol (no libfuse): one file, `disk.img`, in the root of
//! the mount, of a fixed size; `READ` and `WRITE` go to the bytes in memory; a `WRITE` whose
//! range overlaps the armed range ([`FuseDisk::fail_next_write_overlapping`]) is answered
//! `EIO` and changes nothing.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use parking_lot::Mutex;

/// The largest write the kernel sends in one request.
const MAX_WRITE: usize = 1 << 20;
const FILE_INO: u64 = 2;
const ENOENT: i32 = 2;
const EIO: i32 = 5;
const ENOSYS: i32 = 38;

/// What the server thread shares with the test.
#[derive(Default)]
struct Control {
    /// Answer `EIO` to the next write overlapping `[start, end)` of the file, once.
    fail: Mutex<Option<(u64, u64)>>,
    /// Writes answered with `EIO` so far.
    failed: AtomicU64,
}

/// A mounted FUSE filesystem holding `disk.img`.
pub struct FuseDisk {
    mnt: PathBuf,
    control: Arc<Control>,
    thread: Option<JoinHandle<Vec<u8>>>,
}

impl FuseDisk {
    /// Mounts a filesystem at `mnt` (an empty directory) whose `disk.img` holds `image`.
    ///
    /// # Errors
    /// An error message if `/dev/fuse` cannot be opened or the mount fails.
    pub fn mount(mnt: &Path, image: Vec<u8>) -> Result<Self, String> {
        let dev = File::options()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map_err(|e| format!("/dev/fuse: {e}"))?;
        let opts = format!(
            "fd={},rootmode=40000,user_id=0,group_id=0,allow_other",
            dev.as_raw_fd()
        );
        let c = |s: &str| std::ffi::CString::new(s).map_err(|e| e.to_string());
        let (source, target, fstype, data) = (
            c("pagelog-fuse")?,
            c(mnt.to_str().ok_or("mount point not UTF-8")?)?,
            c("fuse")?,
            c(&opts)?,
        );
        // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
        let rc = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(format!("mount: {}", std::io::Error::last_os_error()));
        }
        let control = Arc::new(Control::default());
        let shared = Arc::clone(&control);
        let thread = std::thread::spawn(move || serve(dev, image, &shared));
        Ok(Self {
            mnt: mnt.to_path_buf(),
            control,
            thread: Some(thread),
        })
    }

    /// The served file.
    pub fn file(&self) -> PathBuf {
        self.mnt.join("disk.img")
    }

    /// Answers `EIO` to the next write that overlaps bytes `[start, end)` of the file, once.
    pub fn fail_next_write_overlapping(&self, start: u64, end: u64) {
        *self.control.fail.lock() = Some((start, end));
    }

    /// Writes answered with `EIO` so far.
    pub fn failed_writes(&self) -> u64 {
        self.control.failed.load(Ordering::Acquire)
    }

    /// Unmounts and returns the file's bytes: what the "disk" holds.
    pub fn unmount(mut self) -> Vec<u8> {
        let image = self.stop();
        image.unwrap_or_default()
    }

    fn stop(&mut self) -> Option<Vec<u8>> {
        let thread = self.thread.take()?;
        let _ = std::process::Command::new("umount").arg(&self.mnt).status();
        thread.join().ok()
    }
}

impl Drop for FuseDisk {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.mnt)
                .status();
            self.stop();
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// `struct fuse_attr` for the root directory (inode 1) or the file.
fn attr(ino: u64, size: u64) -> Vec<u8> {
    let (mode, size, nlink): (u32, u64, u32) = if ino == 1 {
        (0o040_755, 0, 2)
    } else {
        (0o100_644, size, 1)
    };
    let mut a = Vec::with_capacity(88);
    for v in [ino, size, size.div_ceil(512), 0, 0, 0] {
        a.extend_from_slice(&v.to_le_bytes());
    }
    for v in [0u32, 0, 0, mode, nlink, 0, 0, 0, 4096, 0] {
        a.extend_from_slice(&v.to_le_bytes());
    }
    a
}

fn reply(dev: &mut File, unique: u64, err: i32, payload: &[u8]) {
    let len = u32::try_from(16 + payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(16 + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(-err).to_le_bytes());
    out.extend_from_slice(&unique.to_le_bytes());
    out.extend_from_slice(payload);
    // A request the kernel gave up on (interrupted) makes the write fail: nothing to do.
    let _ = dev.write_all(&out);
}

/// `struct fuse_init_out` for an `INIT` request body.
fn init_reply(body: &[u8]) -> Vec<u8> {
    let (ra, flags) = (u32_at(body, 8), u32_at(body, 12));
    let mut out = Vec::new();
    for v in [7u32, 31, ra, flags & ((1 << 5) | (1 << 22))] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(&12u16.to_le_bytes());
    out.extend_from_slice(&u32::try_from(MAX_WRITE).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&256u16.to_le_bytes());
    out.resize(64, 0);
    out
}

/// `struct fuse_entry_out` for the file.
fn entry_reply(size: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [FILE_INO, 0, 1, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&attr(FILE_INO, size));
    out
}

/// The server loop: runs until the filesystem is unmounted, then returns the file's bytes.
fn serve(mut dev: File, mut data: Vec<u8>, control: &Control) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_WRITE + 8192];
    loop {
        let n = match dev.read(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ENOENT)) => continue,
            // ENODEV: unmounted.
            Err(_) => break,
        };
        let req = &buf[..n];
        let (op, unique, nodeid) = (u32_at(req, 4), u64_at(req, 8), u64_at(req, 16));
        let body = req.get(40..).unwrap_or_default();
        let size = data.len() as u64;
        match op {
            // INIT: protocol 7.31, big writes and max pages.
            26 => reply(&mut dev, unique, 0, &init_reply(body)),
            // LOOKUP
            1 => {
                let name = body.split(|&b| b == 0).next().unwrap_or_default();
                if nodeid == 1 && name == b"disk.img" {
                    reply(&mut dev, unique, 0, &entry_reply(size));
                } else {
                    reply(&mut dev, unique, ENOENT, &[]);
                }
            }
            // GETATTR, SETATTR (a fixed size: size changes are ignored)
            3 | 4 => {
                let mut out = 1u64.to_le_bytes().to_vec();
                out.extend_from_slice(&[0u8; 8]);
                out.extend_from_slice(&attr(nodeid, size));
                reply(&mut dev, unique, 0, &out);
            }
            // OPEN, OPENDIR
            14 | 27 => reply(
                &mut dev,
                unique,
                0,
                &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
            // READ
            15 => {
                let (off, len) = (u64_at(body, 8), u32_at(body, 16));
                let start = usize::try_from(off).unwrap_or(usize::MAX).min(data.len());
                let end = start.saturating_add(len as usize).min(data.len());
                let out = data[start..end].to_vec();
                reply(&mut dev, unique, 0, &out);
            }
            // WRITE
            16 => {
                let (off, len) = (u64_at(body, 8), u32_at(body, 16));
                let end = off + u64::from(len);
                let armed = {
                    let mut fail = control.fail.lock();
                    match *fail {
                        Some((a, b)) if off < b && a < end => fail.take().is_some(),
                        _ => false,
                    }
                };
                if armed {
                    control.failed.fetch_add(1, Ordering::AcqRel);
                    reply(&mut dev, unique, EIO, &[]);
                    continue;
                }
                let start = usize::try_from(off).unwrap_or(usize::MAX);
                if let (Some(src), Some(dst)) = (
                    body.get(40..40 + len as usize),
                    data.get_mut(start..start + len as usize),
                ) {
                    dst.copy_from_slice(src);
                }
                let mut out = len.to_le_bytes().to_vec();
                out.extend_from_slice(&[0u8; 4]);
                reply(&mut dev, unique, 0, &out);
            }
            // FSYNC, FSYNCDIR, RELEASE, FLUSH, RELEASEDIR, DESTROY
            20 | 30 | 18 | 25 | 29 | 38 => {
                reply(&mut dev, unique, 0, &[]);
                if op == 38 {
                    break;
                }
            }
            // STATFS
            17 => {
                let mut out = Vec::new();
                for v in [1u64, 0, 0, 1, 0] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                for v in [4096u32, 255, 4096] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                out.resize(80, 0);
                reply(&mut dev, unique, 0, &out);
            }
            // READDIR: empty
            28 => reply(&mut dev, unique, 0, &[]),
            // FORGET, BATCH_FORGET, INTERRUPT: no reply
            2 | 42 | 36 => {}
            _ => reply(&mut dev, unique, ENOSYS, &[]),
        }
    }
    data
}
