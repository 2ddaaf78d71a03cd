//! Real disk faults for tests: ext4 on loop devices, over a FUSE file that can fail chosen
//! writes ([`fuse`]), or on a small image that fills up. Everything here needs root, loop
//! devices, `/dev/fuse` and e2fsprogs; [`unavailable`] says what is missing, and a test then
//! skips with that message.
#![allow(
    dead_code,
    reason = "each test file uses a different subset of these helpers"
)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod fuse;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why disk-fault tests cannot run here, or `None` if they can (`fuse`: whether `/dev/fuse`
/// is needed too).
pub fn unavailable(fuse: bool) -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (loop devices and mounts)".into());
    }
    if fuse && !Path::new("/dev/fuse").exists() {
        return Some("needs /dev/fuse".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("needs loop devices (/dev/loop-control)".into());
    }
    for tool in ["losetup", "mkfs.ext4", "mount", "umount"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("needs {tool}"));
        }
    }
    None
}

/// Runs a command that must succeed; returns its stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The bytes of a fresh ext4 image of `mib` MiB.
pub fn ext4_image(dir: &Path, mib: u64) -> Vec<u8> {
    let path = dir.join("fresh.img");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(mib << 20).unwrap();
    drop(f);
    run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&path));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    bytes
}

/// An ext4 filesystem mounted from `file` through a loop device; unmounted and detached on
/// drop.
pub struct LoopMount {
    dev: String,
    mnt: PathBuf,
    mounted: bool,
}

impl LoopMount {
    /// Attaches `file` to a free loop device and mounts it at `mnt` (created if missing).
    pub fn new(file: &Path, mnt: &Path) -> Self {
        std::fs::create_dir_all(mnt).unwrap();
        let dev = run(Command::new("losetup").args(["-f", "--show"]).arg(file))
            .trim()
            .to_owned();
        let mut m = Self {
            dev,
            mnt: mnt.to_path_buf(),
            mounted: false,
        };
        run(Command::new("mount").arg(&m.dev).arg(mnt));
        m.mounted = true;
        m
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.mnt
    }

    /// Free bytes for root on the filesystem.
    pub fn free_bytes(&self) -> u64 {
        let c = std::ffi::CString::new(self.mnt.to_str().unwrap()).unwrap();
        // SAFETY: a zeroed statvfs is a valid out-parameter.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid path and `st` a valid statvfs to fill.
        let rc = unsafe { libc::statvfs(c.as_ptr(), &raw mut st) };
        assert_eq!(rc, 0, "statvfs");
        st.f_bfree * st.f_frsize
    }

    /// Unmounts and detaches now.
    pub fn release(mut self) {
        self.teardown();
    }

    fn teardown(&mut self) {
        if self.mounted {
            self.mounted = false;
            let _ = Command::new("umount").arg(&self.mnt).status();
            let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
        }
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
            let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
        }
    }
}

/// The physical byte ranges (on the device) of `file`'s data, by `FS_IOC_FIEMAP` (after a
/// sync of the file), merged.
pub fn physical_extents(file: &Path) -> Vec<(u64, u64)> {
    const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
    const FIEMAP_FLAG_SYNC: u32 = 1;
    const MAX_EXTENTS: usize = 64;
    // struct fiemap (32 bytes) followed by MAX_EXTENTS struct fiemap_extent (56 bytes each).
    let mut buf = vec![0u64; (32 + 56 * MAX_EXTENTS) / 8];
    buf[1] = u64::MAX; // fm_length
    // fm_flags (u32 at byte 16) and fm_extent_count (u32 at byte 24)
    buf[2] = u64::from(FIEMAP_FLAG_SYNC);
    buf[3] = MAX_EXTENTS as u64;
    let f = std::fs::File::open(file).unwrap();
    // SAFETY: `buf` is a fiemap header followed by room for MAX_EXTENTS extents, as the ioctl
    // expects; it is aligned for u64.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            FS_IOC_FIEMAP,
            buf.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "FIEMAP: {}", std::io::Error::last_os_error());
    let mapped = (buf[2] >> 32) as usize;
    let mut out: Vec<(u64, u64)> = Vec::new();
    for i in 0..mapped.min(MAX_EXTENTS) {
        let e = 4 + i * 7; // u64 index of extent i
        let (physical, length) = (buf[e + 1], buf[e + 2]);
        match out.last_mut() {
            Some(last) if last.1 == physical => last.1 = physical + length,
            _ => out.push((physical, physical + length)),
        }
    }
    out
}
