//! `pagelog topics compact | enforce-retention | truncate`: the maintenance passes that run in
//! the background, run now, with their reports.

use std::io::Write;
use std::path::Path;

use clap::Args as ClapArgs;
use pagelog::{CompactionReport, RetentionReport, Store, Topic};

use super::TopicArg;
use crate::util::{self, Result, count, open_existing, print_table, row};

/// `topics truncate`.
#[derive(Debug, ClapArgs)]
pub struct TruncateArgs {
    /// Topic name
    #[arg(long, short = 't', value_name = "NAME")]
    topic: String,
    /// The partition to cut
    #[arg(long, short = 'p', value_name = "P")]
    partition: u32,
    /// Discard the records at and above this offset
    #[arg(long, value_name = "O")]
    offset: u64,
}

/// Opens the store in `dir` for writing and the topic `name`.
fn open_topic(dir: &Path, name: &str) -> Result<(Store, Topic)> {
    let store = open_existing(dir)?;
    let topic = store.topic(name)?;
    Ok((store, topic))
}

pub fn compact(dir: &Path, a: &TopicArg) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let (store, topic) = open_topic(dir, &a.topic)?;
    let mut rows = vec![row([
        "PARTITION",
        "SEGMENTS-REWRITTEN",
        "RECORDS-REMOVED",
        "TOMBSTONES-REMOVED",
        "BYTES-RECLAIMED",
        "MAP-FULL",
    ])];
    let mut total = CompactionReport::default();
    for p in topic.partitions() {
        let r = p.compact()?;
        rows.push(vec![
            p.id().to_string(),
            r.segments_rewritten.to_string(),
            r.records_removed.to_string(),
            r.tombstones_removed.to_string(),
            r.bytes_reclaimed.to_string(),
            if r.map_full { "yes" } else { "no" }.to_owned(),
        ]);
        total.merge(r);
    }
    print_table(&mut out, &rows)?;
    writeln!(
        out,
        "Compacted topic {}: {}, {} ({}), {} reclaimed.",
        topic.name(),
        count(total.segments_rewritten as u64, "segment", "rewritten"),
        count(total.records_removed, "record", "removed"),
        count(total.tombstones_removed, "tombstone", "among them"),
        count(total.bytes_reclaimed, "byte", ""),
    )?;
    if total.map_full {
        writeln!(
            out,
            "The key map filled up: run compact again to compact the rest."
        )?;
    }
    drop(topic);
    out.flush()?;
    util::close(store)
}

pub fn enforce_retention(dir: &Path, a: &TopicArg) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let (store, topic) = open_topic(dir, &a.topic)?;
    let mut rows = vec![row([
        "PARTITION",
        "SEGMENTS-DELETED",
        "BYTES-DELETED",
        "FORCED-DELETIONS",
        "KEPT-FOR-GROUPS",
        "START-OFFSET",
        "NEXT-OFFSET",
    ])];
    let mut total = RetentionReport::default();
    for p in topic.partitions() {
        let r = p.enforce_retention()?;
        rows.push(vec![
            p.id().to_string(),
            r.segments_deleted.to_string(),
            r.bytes_deleted.to_string(),
            r.forced_deletions.to_string(),
            r.kept_for_groups.to_string(),
            p.start_offset().to_string(),
            p.next_offset().to_string(),
        ]);
        total.merge(r);
    }
    print_table(&mut out, &rows)?;
    writeln!(
        out,
        "Retention on topic {}: {} ({}), {}, {} kept for consumer groups.",
        topic.name(),
        count(total.segments_deleted as u64, "segment", "deleted"),
        count(total.bytes_deleted, "byte", ""),
        count(total.forced_deletions as u64, "forced deletion", ""),
        count(total.kept_for_groups as u64, "segment", ""),
    )?;
    for e in &total.hook_errors {
        writeln!(out, "Hook error: {}", util::one_line(e))?;
    }
    drop(topic);
    out.flush()?;
    util::close(store)
}

pub fn truncate(dir: &Path, a: &TruncateArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let (store, topic) = open_topic(dir, &a.topic)?;
    let p = topic.partition(a.partition)?;
    let before = p.next_offset();
    p.truncate_to(a.offset)?;
    writeln!(
        out,
        "Truncated partition {} of topic {}: next offset {} (was {before}).",
        a.partition,
        topic.name(),
        p.next_offset()
    )?;
    drop(topic);
    out.flush()?;
    util::close(store)
}
