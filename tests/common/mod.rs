//! Helpers shared by the integration tests (each test file includes this with `mod common;`).
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
/// with `cargo build --example <name>...` and `extra` arguments (such as `--features`).
pub fn built_examples(names: &[&str], extra: &[&str]) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap(); // target/debug/deps/..
    let dir = profile_dir.join("examples");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = newest(&root.join("src")).max(newest(&root.join("examples")));
    let stale = names.iter().any(|name| {
        let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        std::fs::metadata(&bin)
            .and_then(|m| m.modified())
            .map_or(true, |built| built < sources)
    });
    if stale {
        // Build into the target directory this test runs from: the ancestor holding
        // cargo's CACHEDIR.TAG (`<target>/debug`, or `<target>/<triple>/debug`).
        let target = profile_dir
            .ancestors()
            .find(|a| a.join("CACHEDIR.TAG").is_file())
            .unwrap_or_else(|| profile_dir.parent().unwrap());
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root).arg("build");
        for name in names {
            cmd.args(["--example", name]);
        }
        cmd.args(extra).arg("--target-dir").arg(target);
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
        let status = cmd.status().expect("run cargo build for the examples");
        assert!(status.success(), "cargo build of examples {names:?} failed");
    }
    dir
}
