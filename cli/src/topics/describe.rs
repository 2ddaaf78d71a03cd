//! `pagelog topics describe`: a topic's settings, its partitions, and each consumer group's
//! committed offsets and lag, as a table or as JSON.

use std::io::Write;
use std::path::Path;

use clap::Args as ClapArgs;
use pagelog::Topic;
use serde_json::{Value, json};

use crate::util::{
    self, Result, format_cleanup_policy, format_flush, limit, open_reading, print_table, row,
};

/// `topics describe`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Topic name
    #[arg(long, short = 't', value_name = "NAME")]
    topic: String,
    /// Print JSON instead of tables
    #[arg(long)]
    json: bool,
}

pub fn run(dir: &Path, a: &Args) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let store = open_reading(dir)?;
    let topic = store.topic(&a.topic)?;
    if a.json {
        util::print_json(&mut out, &to_json(&topic)?)?;
    } else {
        table(&mut out, &topic)?;
    }
    drop(topic);
    out.flush()?;
    util::close(store)
}

/// The two lines of settings.
pub fn settings(out: &mut impl Write, topic: &Topic) -> Result<()> {
    let c = topic.config();
    writeln!(
        out,
        "Topic: {}  PartitionCount: {}  SegmentBytes: {}  IndexIntervalBytes: {}  Flush: {}",
        topic.name(),
        topic.partition_count(),
        c.get_segment_bytes(),
        c.get_index_interval_bytes(),
        format_flush(&c.get_flush())
    )?;
    writeln!(
        out,
        "CleanupPolicy: {}  RetentionBytes: {}  RetentionMs: {}  RetainUntilConsumed: {}  \
         RetentionHardBytes: {}  DeleteRetentionMs: {}",
        format_cleanup_policy(c.get_cleanup_policy()),
        limit(c.get_retention_bytes()),
        limit(c.get_retention_ms()),
        c.get_retain_until_consumed(),
        limit(c.get_retention_hard_bytes()),
        c.get_delete_retention_ms()
    )?;
    Ok(())
}

/// Settings, one row per partition, then one row per partition of every consumer group that
/// committed offsets.
fn table(out: &mut impl Write, topic: &Topic) -> Result<()> {
    settings(out, topic)?;
    writeln!(out)?;
    let mut rows = vec![row([
        "PARTITION",
        "START-OFFSET",
        "NEXT-OFFSET",
        "RECORDS",
        "SEGMENTS",
        "BYTES",
        "DURABLE-OFFSET",
        "FORCED-DELETIONS",
    ])];
    for p in topic.partitions() {
        let i = p.info();
        rows.push(vec![
            i.id.to_string(),
            i.start_offset.to_string(),
            i.next_offset.to_string(),
            (i.next_offset - i.start_offset).to_string(),
            i.segments.to_string(),
            i.bytes.to_string(),
            i.durable_offset.to_string(),
            i.forced_deletions.to_string(),
        ]);
    }
    print_table(out, &rows)?;
    let groups = topic.groups()?;
    writeln!(out)?;
    if groups.is_empty() {
        writeln!(
            out,
            "No consumer group has committed offsets for {}.",
            topic.name()
        )?;
        return Ok(());
    }
    let mut rows = vec![row([
        "GROUP",
        "PARTITION",
        "COMMITTED",
        "NEXT-OFFSET",
        "LAG",
    ])];
    for g in &groups {
        for r in group_rows(topic, g)? {
            rows.push(vec![
                g.clone(),
                r.partition.to_string(),
                r.committed
                    .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                r.next_offset.to_string(),
                r.lag.to_string(),
            ]);
        }
    }
    print_table(out, &rows)?;
    Ok(())
}

/// A group's state on one partition.
pub struct GroupRow {
    pub partition: u32,
    pub committed: Option<u64>,
    pub next_offset: u64,
    pub lag: u64,
}

/// Group `group`'s committed offset, the next offset and the lag of each partition.
pub fn group_rows(topic: &Topic, group: &str) -> Result<Vec<GroupRow>> {
    let committed = topic.committed_offsets(group)?;
    let lag = topic.group_lag(group)?;
    Ok(topic
        .partitions()
        .iter()
        .zip(committed)
        .zip(lag)
        .map(|((p, committed), lag)| GroupRow {
            partition: p.id(),
            committed,
            next_offset: p.next_offset(),
            lag,
        })
        .collect())
}

/// A group's rows as JSON.
pub fn group_json(topic: &Topic, group: &str) -> Result<Value> {
    let rows = group_rows(topic, group)?;
    Ok(json!({
        "topic": topic.name(),
        "group": group,
        "lag": rows.iter().map(|r| r.lag).sum::<u64>(),
        "partitions": rows.iter().map(|r| json!({
            "partition": r.partition,
            "committed": r.committed,
            "next_offset": r.next_offset,
            "lag": r.lag,
        })).collect::<Vec<_>>(),
    }))
}

fn to_json(topic: &Topic) -> Result<Value> {
    let c = topic.config();
    let partitions: Vec<Value> = topic
        .partitions()
        .iter()
        .map(|p| {
            let i = p.info();
            json!({
                "partition": i.id,
                "start_offset": i.start_offset,
                "next_offset": i.next_offset,
                "records": i.next_offset - i.start_offset,
                "segments": i.segments,
                "bytes": i.bytes,
                "durable_offset": i.durable_offset,
                "forced_deletions": i.forced_deletions,
            })
        })
        .collect();
    let groups = topic
        .groups()?
        .iter()
        .map(|g| group_json(topic, g))
        .collect::<Result<Vec<_>>>()?;
    Ok(json!({
        "topic": topic.name(),
        "partition_count": topic.partition_count(),
        "config": {
            "segment_bytes": c.get_segment_bytes(),
            "segment_ms": c.get_segment_ms(),
            "index_interval_bytes": c.get_index_interval_bytes(),
            "index_bytes": c.get_index_bytes(),
            "max_batch_bytes": c.get_max_batch_bytes(),
            "flush": format_flush(&c.get_flush()),
            "verify_checksums": c.get_verify_checksums(),
            "cleanup_policy": format_cleanup_policy(c.get_cleanup_policy()),
            "retention_bytes": c.get_retention_bytes(),
            "retention_ms": c.get_retention_ms(),
            "retain_until_consumed": c.get_retain_until_consumed(),
            "retention_hard_bytes": c.get_retention_hard_bytes(),
            "delete_retention_ms": c.get_delete_retention_ms(),
        },
        "partitions": partitions,
        "groups": groups,
    }))
}
