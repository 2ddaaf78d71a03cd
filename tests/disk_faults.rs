//! Real disk faults (issue 19), on ext4 over loop devices: a write the disk fails, and a disk
//! that fills up. Each test needs root, loop devices and e2fsprogs (the first also
//! `/dev/fuse`); where they are missing it says so on stderr and passes without running,
//! since the fault cannot be made.
//!
//! * A failed write is never trusted after a reopen: when the disk fails the write of a
//!   batch's pages, Linux keeps those pages in the page cache, clean, with the new data, while
//!   the disk keeps the old bytes. A reopen must not resume after that batch: the records
//!   appended after the reopen, acknowledged as durable, must still be there once the
//!   filesystem is remounted from what the disk really holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fault_support;

use std::path::Path;

use fault_support::fuse::FuseDisk;
use fault_support::{LoopMount, ext4_image, physical_extents, unavailable};
use pagelog::{Error, FlushPolicy, NewRecord, Store, TopicConfig};

fn skip_unless_possible(test: &str, fuse: bool) -> bool {
    match unavailable(fuse) {
        Some(why) => {
            eprintln!("{test}: skipped, {why}");
            true
        }
        None => false,
    }
}

fn durable_config() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(16 << 20)
        .flush(FlushPolicy::EveryAppend)
}

/// Every `(offset, value)` is readable at its offset with its value.
fn assert_readable(dir: &Path, acked: &[(u64, Vec<u8>)], what: &str) {
    let store = Store::open(dir).unwrap();
    let p = common::open_partition0(&store, "c");
    for (o, v) in acked {
        match p.read(*o) {
            Ok(Some(r)) if r.offset() == *o && r.value() == &v[..] => {}
            other => panic!(
                "{what}: acknowledged offset {o} reads {:?}",
                other.map(|r| r.map(|r| (r.offset(), r.value().len())))
            ),
        }
    }
    store.close().unwrap();
}

#[test]
fn a_failed_write_is_not_trusted_after_a_reopen() {
    if skip_unless_possible("a_failed_write_is_not_trusted_after_a_reopen", true) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fmnt = tmp.path().join("fuse");
    std::fs::create_dir(&fmnt).unwrap();
    let fuse = FuseDisk::mount(&fmnt, ext4_image(tmp.path(), 64)).unwrap();
    let mnt = LoopMount::new(&fuse.file(), &tmp.path().join("m"));
    let dir = mnt.path().join("s");
    let mut acked = Vec::new();
    {
        let store = Store::open(&dir).unwrap();
        let p = common::partition0(&store, "c", durable_config());
        for i in 0..200u64 {
            let v = format!("msg-{i}").into_bytes();
            acked.push((p.append(NewRecord::new(&v)).unwrap(), v));
        }
        // The next durable append's pages are written where the log's blocks are: fail that
        // write. Its batch crosses a page boundary, so the write covers the page that holds
        // the end of the records already acknowledged, too.
        let log = &p.segment_paths()[0].log;
        let (start, end) = physical_extents(log)[0];
        fuse.fail_next_write_overlapping(start, end);
        let big = vec![b'x'; 6000];
        match p.append(NewRecord::new(&big)) {
            Err(Error::Poisoned { .. }) => {}
            other => panic!("the append whose write failed returned {other:?}"),
        }
        assert_eq!(fuse.failed_writes(), 1);
        drop(p);
        drop(store);
    }
    // Reopen on the live mount, where the page cache still holds the failed batch.
    {
        let store = Store::open(&dir).unwrap();
        let p = common::open_partition0(&store, "c");
        for i in 0..300u64 {
            let v = format!("after-{i}").into_bytes();
            acked.push((p.append(NewRecord::new(&v)).unwrap(), v));
        }
        store.close().unwrap();
    }
    assert_readable(&dir, &acked, "on the live mount");
    // What the disk holds: remount it from the served bytes, without FUSE.
    mnt.release();
    let image = fuse.unmount();
    let img = tmp.path().join("disk.img");
    std::fs::write(&img, image).unwrap();
    let mnt = LoopMount::new(&img, &tmp.path().join("m2"));
    assert_readable(&mnt.path().join("s"), &acked, "after a remount");
}
