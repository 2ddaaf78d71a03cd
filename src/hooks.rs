//! Store-wide options: segment hooks, background retention, and the log of background errors.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::error::Error;

/// What a hook is told about a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// First offset of the segment.
    pub base_offset: u64,
    /// Offset after its last record.
    pub next_offset: u64,
    /// Bytes of its `.log`.
    pub size: u64,
    /// Largest record timestamp, if known.
    pub max_timestamp: Option<i64>,
    /// Its `.log` file.
    pub log_path: PathBuf,
    /// Its `.index` file.
    pub index_path: PathBuf,
    /// Its `.timeindex` file.
    pub time_index_path: PathBuf,
}

/// The error a hook may return; it is reported, never fatal to data.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// A callback about a segment. Runs on the store's background thread (for seals; for the
/// last seals, on the thread closing the store) or on the thread enforcing retention (for
/// deletes). A `before_segment_delete` hook must not call `enforce_retention`,
/// `delete_records_before`, `truncate_to` or `compact` on the same partition: those wait for
/// the pass that is calling the hook. A hook that panics is treated as one that returned an
/// error (the panic is caught, unless the program is built with `panic = "abort"`), so it
/// stops neither the background thread nor `Store::close`.
pub type SegmentHook = Arc<dyn Fn(&SegmentInfo) -> Result<(), HookError> + Send + Sync>;

/// Calls `hook` on `info`; an error or a panic becomes the message to report. A panicking
/// hook must not take down the flusher thread, a retention pass or `Store::close`: pagelog's
/// own state is not being changed while a hook runs, so carrying on is sound.
pub(crate) fn call_hook(hook: &SegmentHook, info: &SegmentInfo) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| hook(info))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => Err(format!("panicked: {}", panic_message(panic.as_ref()))),
    }
}

/// The message of a panic payload (`panic!` with a literal or a format string).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a payload that is not a string")
}

/// Options of a [`Store`](crate::Store), given to [`Store::open_with`](crate::Store::open_with),
/// which checks them with [`validate`](Self::validate): [`Default`] and one method per setting.
///
/// ```
/// use std::sync::Arc;
/// use pagelog::{SegmentInfo, StoreOptions};
/// let options = StoreOptions::default()
///     .on_segment_sealed(Arc::new(|s: &SegmentInfo| {
///         println!("sealed {} ({} bytes)", s.log_path.display(), s.size);
///         Ok(())
///     }))
///     .compaction_max_keys(100_000);
/// # let _ = options;
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Called once a sealed segment is durable (synced): archive, upload or compress it from
    /// here. **At least once** for every sealed segment, in offset order per partition, also
    /// across restarts and crashes: the partition records (in its `hooked` file) how far the
    /// hook got, and segments it has not accepted are passed again after a reopen. So the
    /// hook must be idempotent. An error, or a panic, is recorded (see
    /// [`Store::background_errors`](crate::Store::background_errors)) and that segment, with
    /// the ones after it, is passed again by the next run (after the next seal, at close, or
    /// after a reopen); the segment itself stays as it is. A segment that retention deletes
    /// meanwhile may be passed with paths that no longer exist. Default none.
    pub(crate) on_segment_sealed: Option<SegmentHook>,
    /// Called before retention deletes a segment. If it returns an error, or panics, the
    /// segment and every newer one are kept and the error is reported. Default none.
    pub(crate) before_segment_delete: Option<SegmentHook>,
    /// Besides after every roll, enforce retention in the background this often (needed for
    /// age-based retention of partitions that stop rolling). Default `None` (only after
    /// rolls); range at least 1 ms when set (an interval too long for the clock to represent
    /// never comes).
    pub(crate) retention_check_interval: Option<Duration>,
    /// Largest number of distinct keys one compaction pass maps (about 24 bytes each plus
    /// hash-table overhead); a pass that fills it compacts what it mapped and leaves the
    /// rest for the next pass. Default 1 000 000; range `1..`.
    pub(crate) compaction_max_keys: usize,
}

impl StoreOptions {
    /// The [`retention_check_interval`](Self::retention_check_interval) setting.
    #[must_use]
    pub fn get_retention_check_interval(&self) -> Option<Duration> {
        self.retention_check_interval
    }

    /// The [`compaction_max_keys`](Self::compaction_max_keys) setting.
    #[must_use]
    pub fn get_compaction_max_keys(&self) -> usize {
        self.compaction_max_keys
    }

    /// Checks every field against its documented range;
    /// [`Store::open_with`](crate::Store::open_with) calls it before it touches the directory.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first field out of range and the value given.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(d) = self.retention_check_interval
            && d < Duration::from_millis(1)
        {
            return Err(Error::InvalidConfig(format!(
                "retention_check_interval must be at least 1 ms when set, got {d:?}"
            )));
        }
        if self.compaction_max_keys == 0 {
            return Err(Error::InvalidConfig(
                "compaction_max_keys must be at least 1, got 0".into(),
            ));
        }
        Ok(())
    }

    /// Called once a sealed segment is durable (synced): archive, upload or compress it from
    /// here. **At least once** for every sealed segment, in offset order per partition, also
    /// across restarts and crashes: the partition records (in its `hooked` file) how far the
    /// hook got, and segments it has not accepted are passed again after a reopen. So the
    /// hook must be idempotent. An error, or a panic, is recorded (see
    /// [`Store::background_errors`](crate::Store::background_errors)) and that segment, with
    /// the ones after it, is passed again by the next run (after the next seal, at close, or
    /// after a reopen); the segment itself stays as it is. A segment that retention deletes
    /// meanwhile may be passed with paths that no longer exist. Default none.
    #[must_use]
    pub fn on_segment_sealed(mut self, hook: SegmentHook) -> Self {
        self.on_segment_sealed = Some(hook);
        self
    }

    /// Called before retention deletes a segment. If it returns an error, or panics, the
    /// segment and every newer one are kept and the error is reported. Default none.
    #[must_use]
    pub fn before_segment_delete(mut self, hook: SegmentHook) -> Self {
        self.before_segment_delete = Some(hook);
        self
    }

    /// Besides after every roll, enforce retention in the background this often (needed for
    /// age-based retention of partitions that stop rolling). Default `None` (only after
    /// rolls); range at least 1 ms when set (an interval too long for the clock to represent
    /// never comes).
    #[must_use]
    pub fn retention_check_interval(mut self, every: Option<Duration>) -> Self {
        self.retention_check_interval = every;
        self
    }

    /// Largest number of distinct keys one compaction pass maps (about 24 bytes each plus
    /// hash-table overhead); a pass that fills it compacts what it mapped and leaves the
    /// rest for the next pass. Default 1 000 000; range `1..`.
    #[must_use]
    pub fn compaction_max_keys(mut self, n: usize) -> Self {
        self.compaction_max_keys = n;
        self
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            on_segment_sealed: None,
            before_segment_delete: None,
            retention_check_interval: None,
            compaction_max_keys: 1_000_000,
        }
    }
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreOptions")
            .field("on_segment_sealed", &self.on_segment_sealed.is_some())
            .field(
                "before_segment_delete",
                &self.before_segment_delete.is_some(),
            )
            .field("retention_check_interval", &self.retention_check_interval)
            .field("compaction_max_keys", &self.compaction_max_keys)
            .finish()
    }
}

/// How many background errors are kept.
const MAX_ERRORS: usize = 256;

/// Options plus the background error log, shared by every partition of a store.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub options: StoreOptions,
    errors: Mutex<VecDeque<String>>,
}

impl Shared {
    pub fn new(options: StoreOptions) -> Self {
        Self {
            options,
            errors: Mutex::new(VecDeque::new()),
        }
    }

    /// Records an error from background work (the oldest are dropped beyond a bound).
    pub fn report(&self, what: String) {
        let mut e = self.errors.lock();
        if e.len() == MAX_ERRORS {
            e.pop_front();
        }
        e.push_back(what);
    }

    /// Takes the recorded errors.
    pub fn take_errors(&self) -> Vec<String> {
        self.errors.lock().drain(..).collect()
    }
}
