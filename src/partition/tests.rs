//! Interleavings of the partition's own threads that no public API can force.

use std::path::Path;
use std::sync::Arc;

use super::{Context, OpenMode, Partition};
use crate::codec::record::NewRecord;
use crate::config::{FlushPolicy, TopicConfig};
use crate::error::Error;
use crate::failpoint::{self, Failpoint};

fn partition(dir: &Path) -> Partition {
    let config = TopicConfig::default()
        .segment_bytes(64 << 10)
        .flush(FlushPolicy::Never);
    Partition::open(
        "t".into(),
        0,
        dir.join("0"),
        &config,
        OpenMode::Create,
        Context::default(),
    )
    .unwrap()
}

/// A roll whose seal fails poisons the partition in the same
/// critical section that queues the untrimmed segment. A sync that passed its first poison
/// check before that roll, and snapshotted the queue after it, must not move the recovery
/// point past the segment: it checks the poison again under the writer lock.
#[test]
fn a_sync_does_not_move_the_recovery_point_past_a_roll_that_poisoned() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path());
    p.append(NewRecord::new(b"before the roll")).unwrap();
    let inner = p.inner().unwrap();
    let point = inner.durability.recovery_point();
    let rolling = Arc::clone(inner);
    failpoint::on_this_thread(Failpoint::SyncAfterPoisonCheck, move || {
        // The roll of a failing seal, in one critical section: queue the segment, poison.
        let mut w = rolling.writer.lock();
        rolling.roll(&mut w).unwrap();
        rolling.durability.poison(crate::error::PoisonCause {
            by: crate::error::PoisonedBy::Seal,
            kind: None,
            message: "trim failed (simulated)".into(),
        });
    });
    let sync = inner.sync_once();
    assert!(matches!(sync, Err(Error::Poisoned { .. })), "{sync:?}");
    assert_eq!(
        inner.durability.recovery_point(),
        point,
        "the recovery point stays before the segment the failed roll queued"
    );
    assert_eq!(inner.writer.lock().unsynced_sealed.len(), 1, "still queued");
}
