//! Helpers shared by the integration tests (each test file includes this with `mod common;`).
#![allow(
    dead_code,
    reason = "each test file uses a different subset of these helpers"
)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use pagelog::{Partition, Store, TopicConfig};

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
