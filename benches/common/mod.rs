//! Helpers shared by the benchmarks (each bench file includes this with `mod common;`).
#![allow(
    dead_code,
    reason = "each benchmark uses a different subset of these helpers"
)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run by `cargo bench` (`--bench` on the command line), not by `cargo test`.
pub fn under_bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// How much work a benchmark run without criterion does: `var` (default `bench_default`)
/// under `cargo bench` (`--bench` on the command line), `test_default` under `cargo test`,
/// which only checks that the benchmark runs.
pub fn size_param<T: std::str::FromStr>(var: &str, bench_default: T, test_default: T) -> T {
    if !under_bench() {
        return test_default;
    }
    match std::env::var(var) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{var}: a number, got {s:?}")),
        Err(_) => bench_default,
    }
}

/// Sets the sampling every group here uses: 10 samples after a 500 ms warm-up, measured for
/// `measure` (short runs: the 2-core machine is shared and the suite must stay in minutes).
pub fn short_sampling<M: criterion::measurement::Measurement>(
    g: &mut criterion::BenchmarkGroup<'_, M>,
    measure: Duration,
) {
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(measure);
}

/// A temporary directory on the real disk: under the system temp dir (`/tmp`, on the disk on
/// the benchmark machine, see docs/BENCHMARKS.md), or under `PAGELOG_BENCH_DISK_DIR`.
pub fn disk_dir() -> tempfile::TempDir {
    match std::env::var_os("PAGELOG_BENCH_DISK_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

/// A temporary directory on tmpfs (`/dev/shm`) where there is one, else in the temp dir.
pub fn shm_dir() -> tempfile::TempDir {
    let base = Path::new("/dev/shm");
    if base.is_dir() {
        tempfile::tempdir_in(base).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// Largest amount of value bytes written into one set of fresh files within a sample.
pub const CHUNK_BYTES: u64 = 256 << 20;

/// Runs `iters` iterations in chunks of at most [`CHUNK_BYTES`] value bytes, each chunk on a
/// fresh state made by `setup` and dropped by `teardown`; only `run` is timed.
pub fn chunked<S>(
    iters: u64,
    bytes_per_iter: u64,
    mut setup: impl FnMut(u64) -> S,
    mut run: impl FnMut(&mut S, u64),
    mut teardown: impl FnMut(S),
) -> Duration {
    let per_chunk = (CHUNK_BYTES / bytes_per_iter).max(1);
    let mut left = iters;
    let mut total = Duration::ZERO;
    while left > 0 {
        let n = left.min(per_chunk);
        let mut state = setup(n);
        let t = Instant::now();
        run(&mut state, n);
        total += t.elapsed();
        teardown(state);
        left -= n;
    }
    total
}

/// Set in a child process that a benchmark binary started from itself: the role it plays.
pub const ENV_CHILD_ROLE: &str = "PAGELOG_BENCH_CHILD";
/// Set with [`ENV_CHILD_ROLE`]: the store directory the child works on.
pub const ENV_CHILD_DIR: &str = "PAGELOG_BENCH_CHILD_DIR";

/// The role and store directory of this process if a benchmark started it with
/// [`child_command`], else `None` (a benchmark's `main` checks this first).
pub fn child_role() -> Option<(String, std::path::PathBuf)> {
    let role = std::env::var(ENV_CHILD_ROLE).ok()?;
    let dir = std::env::var_os(ENV_CHILD_DIR).expect("a child role without its directory");
    Some((role, dir.into()))
}

/// This benchmark binary (`std::env::current_exe()`) as a child process playing `role` on the
/// store in `dir`: no arguments (criterion never runs in it), stdout piped for its report,
/// stdin null, stderr inherited.
pub fn child_command(role: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(ENV_CHILD_ROLE, role)
        .env(ENV_CHILD_DIR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// `posix_fadvise(POSIX_FADV_DONTNEED)` on the whole file at `path`: drops its clean pages
/// from the page cache, except those mapped by some process (a mapping pins its pages).
pub fn drop_from_cache(path: &Path) {
    let f = std::fs::File::open(path).unwrap();
    fadvise_dontneed(&f);
}

/// `posix_fadvise(POSIX_FADV_DONTNEED)` on the whole of `file`.
pub fn fadvise_dontneed(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; no memory is passed.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise: {rc}");
}

/// Pages of `path` in the page cache (from `mincore` on a fresh read-only mapping, which
/// faults nothing in), and the file's length in pages.
pub fn resident(path: &Path) -> (usize, usize) {
    use std::os::fd::AsRawFd;
    const PAGE: usize = 4096;
    let f = std::fs::File::open(path).unwrap();
    let len = usize::try_from(f.metadata().unwrap().len()).unwrap();
    if len == 0 {
        return (0, 0);
    }
    let pages = len.div_ceil(PAGE);
    let mut vec = vec![0u8; pages];
    // SAFETY: maps `len` bytes of an open file read-only at an address the kernel picks,
    // checks the result, passes `mincore` a vector of one byte per page of that range, and
    // unmaps the same range. No Rust reference to the mapping is ever made.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        assert_ne!(addr, libc::MAP_FAILED, "mmap for mincore");
        let rc = libc::mincore(addr, len, vec.as_mut_ptr());
        libc::munmap(addr, len);
        assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    }
    (vec.iter().filter(|&&b| b & 1 == 1).count(), pages)
}
