//! Interleavings of the partition's own threads that no public API can force.

use std::path::Path;
use std::sync::atomic::Ordering;

use super::{Context, Inner, Partition};
use crate::codec::record::NewRecord;
use crate::config::{FlushPolicy, TopicConfig};
use crate::error::Error;

/// A step run inside `sync_once` (see `Inner::before_snapshot`).
pub(crate) struct Interleave(pub Box<dyn FnOnce(&Inner) + Send>);

impl std::fmt::Debug for Interleave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interleave")
    }
}

fn partition(dir: &Path) -> Partition {
    let config = TopicConfig::default()
        .segment_bytes(64 << 10)
        .flush(FlushPolicy::Never);
    Partition::open(
        "t".into(),
        0,
        dir.join("0"),
        &config,
        true,
        Context::default(),
    )
    .unwrap()
}

/// DESIGN.md section 20, item 2: a roll whose seal fails poisons the partition in the same
/// critical section that queues the untrimmed segment. A sync that passed its first poison
/// check before that roll, and snapshotted the queue after it, must not move the recovery
/// point past the segment: it checks the poison again under the writer lock.
#[test]
fn a_sync_does_not_move_the_recovery_point_past_a_roll_that_poisoned() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path());
    p.append(NewRecord::new(b"before the roll")).unwrap();
    let inner = p.inner();
    let point = inner.recovery_point.load(Ordering::Acquire);
    *inner.before_snapshot.lock() = Some(Interleave(Box::new(|inner: &Inner| {
        // The roll of a failing seal, in one critical section: queue the segment, poison.
        let mut w = inner.writer.lock();
        inner.roll(&mut w).unwrap();
        inner.commit.poison(crate::error::PoisonCause {
            by: crate::error::PoisonedBy::Seal,
            kind: None,
            message: "trim failed (simulated)".into(),
        });
    })));
    let sync = inner.sync_once();
    assert!(matches!(sync, Err(Error::Poisoned { .. })), "{sync:?}");
    assert_eq!(
        inner.recovery_point.load(Ordering::Acquire),
        point,
        "the recovery point stays before the segment the failed roll queued"
    );
    assert_eq!(inner.writer.lock().unsynced_sealed.len(), 1, "still queued");
}
