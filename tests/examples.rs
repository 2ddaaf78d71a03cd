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

const EXAMPLES: [&str; 3] = ["producer_consumer", "consumer_group", "tail"];

/// The directory holding the built examples, building them if needed.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::built_examples(&EXAMPLES, &[]))
}

/// Runs example `name` with `args` in a new temporary directory; returns its exit code,
/// stdout and stderr.
fn run(name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let cwd = tempfile::tempdir().unwrap();
    run_in(cwd.path(), name, args)
}

/// Runs example `name` with `args` in `cwd`.
fn run_in(cwd: &Path, name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let bin = examples_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let out = Command::new(&bin)
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap();
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

#[test]
fn consumer_group_splits_and_hands_over() {
    let cwd = tempfile::tempdir().unwrap();
    let (code, out, err) = run_in(cwd.path(), "consumer_group", &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("member a read "), "{out}");
    assert!(out.contains("from partitions [0, 2]"), "{out}");
    assert!(out.contains("from partitions [1, 3]"), "{out}");
    assert!(out.contains("after b left, a reads 1 more"), "{out}");
    assert!(
        out.contains("member a now owns partitions [0, 1, 2, 3]"),
        "{out}"
    );
    assert!(out.contains("lag per partition: [0, 0, 0, 0]"), "{out}");
    assert!(cwd.path().join("pagelog-data/jobs/topic.meta").is_file());
}

#[test]
fn tail_follows_a_writer_from_another_process() {
    let cwd = tempfile::tempdir().unwrap();
    for round in 0..2 {
        let (code, out, err) = run_in(cwd.path(), "tail", &[]);
        assert_eq!(code, Some(0), "{out}{err}");
        let read: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("reader (pid "))
            .collect();
        assert_eq!(read.len(), 5, "{out}");
        for (i, line) in read.iter().enumerate() {
            let offset = round * 5 + i;
            assert!(
                line.ends_with(&format!("offset {offset} \"tick {i}\"")),
                "{out}"
            );
        }
        let writer = out.lines().find(|l| l.starts_with("writer (pid ")).unwrap();
        assert_ne!(
            writer.split(')').next(),
            read[0].split(')').next(),
            "two processes"
        );
    }
}
