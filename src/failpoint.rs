//! Crash points for tests (cargo feature `failpoints`, off by default).
//!
//! With the feature on, `hit("name")` aborts the process (no destructors, no syncs: as a
//! `kill -9` would) when the environment variable `PAGELOG_FAILPOINT` equals `name`. The crash
//! tests run a child process at every named step of deletion, truncation and compaction.
//! Without the feature it compiles to nothing.

/// Aborts here if this is the configured crash point.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &str) {
    static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if POINT
        .get_or_init(|| std::env::var("PAGELOG_FAILPOINT").ok())
        .as_deref()
        == Some(name)
    {
        std::process::abort();
    }
}

/// Does nothing: the `failpoints` feature is off.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_name: &str) {}
