//! Runs the example programs as a user would (the command-line tools are the `pagelog`
//! binary, tested in cli/tests/cli/).
//!
//! The binaries come from `target/<profile>/examples/`, which `cargo test` builds. When they
//! are missing or older than the sources (e.g. under `cargo test --test examples`), they are
//! built first with `cargo build --example`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use pagelog::Store;

const EXAMPLES: [&str; 1] = ["producer_consumer"];

/// The directory holding the built examples, building them if needed.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::built_examples(&EXAMPLES, &[]))
}

/// Runs example `name` with `args`; returns its exit code, stdout and stderr.
fn run(name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let bin = examples_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let out = Command::new(&bin).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn producer_consumer_runs_twice_on_the_same_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let d = dir.to_str().unwrap();
    let args = [
        "--dir",
        d,
        "--records",
        "3000",
        "--producers",
        "3",
        "--batch",
        "7",
    ];
    let (code, first, err) = run("producer_consumer", &args);
    assert_eq!(code, Some(0), "{err}");
    assert!(first.contains("nothing committed yet"), "{first}");
    assert!(first.contains("produced 3000 records"), "{first}");
    assert!(first.contains("consumed 3000 records"), "{first}");
    let (code, second, err) = run("producer_consumer", &args);
    assert_eq!(code, Some(0), "{err}");
    assert!(second.contains("resumes at offsets ["), "{second}");
    assert!(second.contains("consumed 3000 records"), "{second}");

    let store = Store::open_read_only(&dir).unwrap();
    let events = store.topic("events").unwrap();
    assert_eq!(events.partition_count(), 4);
    let committed: u64 = events
        .committed_offsets("events-readers")
        .unwrap()
        .iter()
        .map(|c| c.unwrap())
        .sum();
    let stored: u64 = events
        .partitions()
        .iter()
        .map(pagelog::Partition::next_offset)
        .sum();
    assert_eq!((committed, stored), (6000, 6000));
    assert!(
        events
            .group_lag("events-readers")
            .unwrap()
            .iter()
            .all(|l| *l == 0)
    );
}

#[test]
fn bad_arguments_fail_with_one_line() {
    for (args, expected) in [
        (&["--records", "many"][..], "--records"),
        (&["--producers", "0"][..], "at least 1"),
    ] {
        let (code, out, err) = run("producer_consumer", args);
        assert_eq!(code, Some(1), "{out}{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{err}"
        );
    }
}
