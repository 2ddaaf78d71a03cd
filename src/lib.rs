//! # pagelog
//!
//! Kafka's storage layer as a library: durable, append-only, offset-addressed logs organised
//! as **topic → partition → segment**, stored in memory-mapped files with sparse offset and
//! time indexes, and served from the OS page cache. No broker, no network, no JVM.
//!
//! ```
//! # fn main() -> pagelog::Result<()> {
//! use pagelog::{FlushPolicy, NewRecord, Store, TopicConfig};
//! let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
//! let store = Store::open(dir.path())?;
//! let events = store.create_topic("events", TopicConfig::default().partitions(2))?;
//!
//! let p = events.partition(0)?;
//! let offsets = p.append_batch(&[NewRecord::new(b"one"), NewRecord::new(b"two").key(b"k")])?;
//! p.flush()?; // fdatasync: now it survives power loss
//!
//! let values: Vec<Vec<u8>> = p.iter_from(offsets.start)?
//!     .map(|r| r.map(|r| r.value().to_vec()))
//!     .collect::<pagelog::Result<_>>()?;
//! assert_eq!(values, [b"one".to_vec(), b"two".to_vec()]);
//! # Ok(()) }
//! ```
//!
//! * [`Store`] owns a directory and locks it against other processes.
//! * [`Topic`] has a fixed number of [`Partition`]s; keys pick partitions as Kafka does.
//! * A [`Partition`] is a sequence of [`Segment`]s; appends get contiguous offsets.
//! * [`Record`] is a zero-copy view into the mapped log.
//! * Durability is chosen per topic with [`FlushPolicy`]; see the README for what each
//!   policy can lose.
//!
//! The `pagelog` command (package `pagelog-cli`, in the repository's `cli/`) creates,
//! produces to, consumes, inspects, verifies and load-tests stores from the shell, in
//! Kafka's vocabulary; the examples `producer_consumer`, `consumer_group` and `tail` show
//! this API at work.
//!
//! The on-disk format is specified in `docs/FORMAT.md`, the design and crash analysis in
//! `docs/DESIGN.md`, and the soundness argument for the memory mapping in `docs/SAFETY.md`.

/// The README's examples are compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("pagelog maps whole segments and needs a 64-bit address space");

/// Not public API: the pure encoders and decoders of every file pagelog writes
/// (docs/FORMAT.md). Public only for the fuzz targets in `fuzz/` and for `pagelog dump`
/// (cli/), which decode raw files without a store; hidden because its items follow the file
/// format rather than semver. The supported API is everything else in this crate.
#[doc(hidden)]
pub mod codec;
mod config;
mod consumer;
mod error;
mod failpoint;
mod flusher;
mod fsutil;
mod group;
mod hooks;
#[cfg(feature = "kafka")]
pub mod kafka;
mod live;
#[cfg(feature = "mirror")]
pub mod mirror;
mod mmap;
mod names;
mod notify;
mod num;
mod partition;
mod partitioner;
mod record;
mod segment;
mod staging;
mod store;
mod topic;

pub use codec::record::{Header, NewRecord};
pub use config::{
    CleanupPolicy, FlushPolicy, MAX_PARTITIONS, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES, TopicConfig,
};
pub use consumer::{Consumer, ConsumerConfig, ConsumerRecord, StartFrom};
pub use error::{Corruption, Error, PoisonCause, PoisonedBy, Result};
pub use hooks::{HookError, SegmentHook, SegmentInfo, StoreOptions};
pub use names::{MAX_GROUP_NAME_LEN, validate_group_name, validate_topic_name};
pub use partition::{
    Blocking, CompactionReport, Partition, PartitionInfo, Records, RetentionReport,
};
pub use partitioner::{murmur2, partition_for_key};
pub use record::{Headers, Record, RecordRef};
pub use segment::{Problem, Recovery, Segment, SegmentPaths, VerifyReport};
pub use store::{LOCK_FILE, Store};
pub use topic::Topic;

/// Not public API: consumer-group membership on a bare `groups/` directory (the module
/// behind [`Consumer`]), for the cross-process tests in `tests/group_processes.rs`, whose
/// child processes join a group without opening a [`Store`], so that a test can stop or kill
/// a member at a chosen step of a commit or handover (the whole `Consumer` across processes is
/// tested in `tests/processes_stress.rs`).
///
/// Why those tests are an integration test reaching in through this hook rather than unit
/// tests: spawning a child copies every open descriptor of the parent into it until the
/// child's `exec`, so a spawn from the library's unit-test binary would, for a moment, keep
/// alive the `flock`s of whatever other unit tests run at the same time (a store closed and
/// reopened, a segment writer), making them fail with `Error::Locked` at random
/// (`tests/crash.rs` meets the same effect). An integration-test binary holds only its own
/// tests, which it serialises.
#[doc(hidden)]
pub mod group_membership {
    pub use crate::group::member::{Acquire, Member, assignment};
}
