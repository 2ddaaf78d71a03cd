//! Helpers shared by the integration tests (each test file includes this with `mod common;`).
//!
//! **Child processes.** A test that needs a second process runs *itself* again: the child is
//! the same `#[test]` function, re-run alone in a new process of this test binary, so no test
//! exists only to be a child (one that passes doing nothing in a normal run). The pattern:
//!
//! ```ignore
//! #[test]
//! fn a_parent_test() {
//!     let test = test_name!(); // "a_parent_test"
//!     if common::is_child_of(test) {
//!         return child_role(); // a plain function, reading its orders from the environment
//!     }
//!     let status = common::child_command(test).env("MY_CASE", "x").status().unwrap();
//!     // ... check what the child did ...
//! }
//! ```
//!
//! * [`test_name!`] yields the enclosing test function's name as libtest's `--exact` expects
//!   it: `name` for a test at the top of the file, `module::name` for one in `mod module`.
//! * [`child_command`]`(test)` is this test binary with `--exact <test> --nocapture
//!   --test-threads=1` (so it runs that test and nothing else) and the environment variable
//!   [`ENV_CHILD_OF`] set to `test`; the caller adds the child's orders (more environment
//!   variables) and its pipes.
//! * [`is_child_of`]`(test)` is true exactly in such a child: the test then plays the child's
//!   role instead of the parent's. Nothing else sets the variable, so in a normal run every
//!   test is a parent.
//!
//! The child shares its stdout with libtest, which prints `test <name> ... ` (without a newline)
//! before the test runs: children mark their report lines and parents look for the mark rather
//! than at the start of a line.
#![allow(
    dead_code,
    reason = "each test file uses a different subset of these helpers"
)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use pagelog::{Partition, Store, TopicConfig};

pub mod rng;

/// Set in a child process (see the module docs): the name of the test it runs as a child.
pub const ENV_CHILD_OF: &str = "PAGELOG_CHILD_OF";

/// The name of the enclosing test function as libtest's `--exact` expects it: `name` for a
/// test at the top of the test file, `module::name` for one in `mod module`. A `&'static str`.
#[macro_export]
macro_rules! test_name {
    () => {{
        fn f() {}
        $crate::common::test_name_of(::std::any::type_name_of_val(&f))
    }};
}

/// The test name in the type name `<crate>::<path>::<test>::f` of the function that
/// [`test_name!`] declares inside the test: `<path>::<test>`.
pub fn test_name_of(inner_fn: &'static str) -> &'static str {
    let test = inner_fn
        .strip_suffix("::f")
        .unwrap_or_else(|| panic!("{inner_fn} is not a function f"));
    let (_crate, path) = test
        .split_once("::")
        .unwrap_or_else(|| panic!("{inner_fn} is not inside a function"));
    path
}

/// This test binary, set up to run test `test` alone as a child process (see the module docs):
/// `--exact <test> --nocapture --test-threads=1`, with [`ENV_CHILD_OF`]` = test`.
pub fn child_command(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ENV_CHILD_OF, test);
    cmd
}

/// Whether this process is a child started by [`child_command`]`(test)`: then test `test`
/// plays the child's role.
pub fn is_child_of(test: &str) -> bool {
    std::env::var_os(ENV_CHILD_OF).is_some_and(|v| v == test)
}

/// How many entries of directory `dir` have names ending with `suffix`.
pub fn count_ending(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(suffix)
        })
        .count()
}

/// Creates topic `name` with `config` and returns its partition 0.
pub fn partition0(store: &Store, name: &str, config: TopicConfig) -> Partition {
    store
        .create_topic(name, config)
        .unwrap()
        .partition(0)
        .unwrap()
        .clone()
}

/// Partition 0 of the existing topic `name`.
pub fn open_partition0(store: &Store, name: &str) -> Partition {
    store.topic(name).unwrap().partition(0).unwrap().clone()
}

/// Waits (bounded, 30 s) for a condition that a background thread makes true.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// Copies a directory tree, leaving out the store's lock file.
pub fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_dir(&e.path(), &dst);
        } else if e.file_name() != "pagelog.lock" {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Newest modification time of the files under `dir`.
pub fn newest(dir: &Path) -> SystemTime {
    let mut t = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let m = if path.is_dir() {
            newest(&path)
        } else {
            entry.metadata().unwrap().modified().unwrap()
        };
        t = t.max(m);
    }
    t
}

/// The directory holding the example binaries `names`, in the target directory this test
/// runs from (`target/<profile>/examples/`, which `cargo test` builds). When one is missing
/// or older than the sources (e.g. under `cargo test --test <name>`), they are built first
/// with `cargo build -p pagelog --example <name>...` and `extra` arguments (such as
/// `--features`).
pub fn built_examples(names: &[&str], extra: &[&str]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = newest(&root.join("src")).max(newest(&root.join("examples")));
    let mut args = vec!["-p", "pagelog"];
    for name in names {
        args.extend(["--example", name]);
    }
    args.extend(extra);
    let bins: Vec<String> = names.iter().map(|n| format!("examples/{n}")).collect();
    built(&bins, sources, &args);
    profile_dir().join("examples")
}

/// The `pagelog` binary of the `pagelog-cli` package (cli/), built with `cargo build -p
/// pagelog-cli` and `extra` arguments into the target directory this test runs from when it
/// is missing or older than the sources.
pub fn built_cli(extra: &[&str]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = newest(&root.join("src")).max(newest(&root.join("cli/src")));
    let mut args = vec!["-p", "pagelog-cli"];
    args.extend(extra);
    built(&["pagelog".to_owned()], sources, &args);
    profile_dir().join(format!("pagelog{}", std::env::consts::EXE_SUFFIX))
}

/// `target/<profile>` of this test binary (`target/<profile>/deps/<test>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_owned()
}

/// Runs `cargo build` with `args` into this test's target directory unless every binary of
/// `bins` (paths below `target/<profile>`) is newer than `sources`.
fn built(bins: &[String], sources: SystemTime, args: &[&str]) {
    let profile_dir = profile_dir();
    let stale = bins.iter().any(|bin| {
        let bin = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
        std::fs::metadata(&bin)
            .and_then(|m| m.modified())
            .map_or(true, |built| built < sources)
    });
    if !stale {
        return;
    }
    // Build into the target directory this test runs from: the ancestor holding cargo's
    // CACHEDIR.TAG (`<target>/debug`, or `<target>/<triple>/debug`).
    let target = profile_dir
        .ancestors()
        .find(|a| a.join("CACHEDIR.TAG").is_file())
        .unwrap_or_else(|| profile_dir.parent().unwrap());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).arg("build");
    cmd.args(args).arg("--target-dir").arg(target);
    let triple_dir = profile_dir.parent().unwrap();
    if triple_dir != target {
        cmd.arg("--target").arg(triple_dir.file_name().unwrap());
    }
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build {args:?} failed");
}
