//! `topics`: create, list, describe and delete topics, like Kafka's `kafka-topics.sh`, and
//! run compaction, retention and truncation on them now.
//!
//! ```text
//! cargo run --example topics -- create   --dir DIR --topic NAME [--partitions N]
//!                                        [--segment-bytes BYTES] [--index-interval-bytes BYTES]
//!                                        [--flush POLICY] [--retention-bytes BYTES]
//!                                        [--retention-ms MS] [--retain-until-consumed]
//!                                        [--retention-hard-bytes BYTES]
//!                                        [--cleanup-policy POLICY] [--delete-retention-ms MS]
//!                                        [--if-not-exists]
//! cargo run --example topics -- list     --dir DIR
//! cargo run --example topics -- describe --dir DIR --topic NAME
//! cargo run --example topics -- delete   --dir DIR --topic NAME
//! cargo run --example topics -- compact  --dir DIR --topic NAME
//! cargo run --example topics -- enforce-retention --dir DIR --topic NAME
//! cargo run --example topics -- truncate --dir DIR --topic NAME --partition P --offset O
//! ```
//!
//! * `create` makes a topic with `N` partitions (default 1). `--segment-bytes` (default
//!   1 GiB, at least 4096) and `--index-interval-bytes` (default 4096; 0 indexes every batch)
//!   set the segment layout, `--flush` the durability policy: `never`, `every-append`,
//!   `interval-ms:N` (the default is `interval-ms:1000`) or `every-records:N`.
//!   Retention (none by default): `--retention-bytes` and `--retention-ms` delete the oldest
//!   sealed segments of a partition above that size or older than that age (both at least
//!   1); `--retain-until-consumed` keeps records a consumer group has not committed, unless
//!   the partition exceeds `--retention-hard-bytes` (at least 1). `--cleanup-policy` is
//!   `delete` (the default), `compact` or `compact,delete` (also `delete,compact`), and
//!   `--delete-retention-ms` (default 86400000, one day) is how long compaction keeps a
//!   tombstone. `--if-not-exists` makes an existing topic a success instead of an error.
//!   Creates `DIR` if needed. Prints `Created topic NAME.`
//! * `list` prints one topic name per line, sorted.
//! * `describe` prints the topic's configuration (a line of layout and flush settings, a line
//!   of retention and compaction settings; `none` for a limit not set), one row per partition
//!   (start and next offset, the offsets in between as RECORDS, which overcounts after
//!   compaction, segments, bytes, durable offset, and forced deletions: segments retention
//!   deleted over `--retention-hard-bytes` before a group consumed them, counted since the
//!   store was opened: as this tool opens the store itself, it shows 0, and
//!   `enforce-retention` reports them instead), then one row per partition for every consumer group that committed offsets: its
//!   committed offset (`-` if none) and its lag (records stored but not yet committed by the
//!   group).
//! * `delete` removes the topic and its data. Prints `Deleted topic NAME.`
//! * `compact` runs a compaction pass on every partition now, whatever the cleanup policy
//!   (only sealed segments are compacted: the latest record per key stays, offsets never
//!   change), and prints its report: one row per partition (segments rewritten, records and
//!   tombstones removed, bytes reclaimed, whether the key map filled up) and a total line.
//! * `enforce-retention` applies the topic's retention rules to every partition now and prints
//!   the report: one row per partition (segments and bytes deleted, forced deletions, segments
//!   kept for consumer groups, the start and next offset afterwards) and a total line. The
//!   active segment is never deleted.
//! * `truncate` discards every record of partition `P` at and above offset `O`, which must lie
//!   between the partition's start and next offset; appends continue at `O`. Prints
//!   `Truncated partition P of topic NAME: next offset O (was E).`
//!
//! Every command exits 0 on success; on failure it prints one line `error: ...` on stderr
//! and exits 1. Except for `create`, `DIR` must exist. A store is locked by the process
//! that has it open, so these commands fail with "locked" while another program (a console
//! producer or consumer, or your application) has the same directory open.

#[path = "common/mod.rs"]
mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use common::{
    Arg, Args, Result, format_cleanup_policy, format_flush, open_existing, parse_cleanup_policy,
    parse_flush, required,
};
use pagelog::{CompactionReport, Error, RetentionReport, Store, Topic, TopicConfig};

const USAGE: &str = "\
usage: topics create   --dir DIR --topic NAME [--partitions N] [--segment-bytes BYTES]
                       [--index-interval-bytes BYTES] [--flush POLICY]
                       [--retention-bytes BYTES] [--retention-ms MS] [--retain-until-consumed]
                       [--retention-hard-bytes BYTES] [--cleanup-policy POLICY]
                       [--delete-retention-ms MS] [--if-not-exists]
       topics list     --dir DIR
       topics describe --dir DIR --topic NAME
       topics delete   --dir DIR --topic NAME
       topics compact  --dir DIR --topic NAME
       topics enforce-retention --dir DIR --topic NAME
       topics truncate --dir DIR --topic NAME --partition P --offset O

Manages the topics of a pagelog store directory (like kafka-topics.sh).

  --dir DIR                     store directory (created by `create` if missing)
  --topic NAME                  topic name: 1-249 characters from [A-Za-z0-9._-]
  --partitions N                partition count for `create` (default 1)
  --segment-bytes BYTES         roll segments at this size (default 1073741824, min 4096)
  --index-interval-bytes BYTES  bytes between offset-index entries (default 4096)
  --flush POLICY                never | every-append | interval-ms:N | every-records:N
                                (default interval-ms:1000)
  --retention-bytes BYTES       delete old segments while a partition is larger (default none)
  --retention-ms MS             delete segments whose newest record is older (default none)
  --retain-until-consumed       keep records a consumer group has not committed yet...
  --retention-hard-bytes BYTES  ...unless a partition is larger than this (default none)
  --cleanup-policy POLICY       delete | compact | compact,delete (default delete)
  --delete-retention-ms MS      how long compaction keeps tombstones (default 86400000)
  --if-not-exists               `create` succeeds if the topic already exists
  --partition P                 partition to `truncate`
  --offset O                    `truncate` discards the records at and above O
  -h, --help                    print this help

Commands: create, list, describe, delete; compact (compaction pass now, prints its report);
enforce-retention (retention pass now, prints its report); truncate.
";

const COMMANDS: &str = "create, list, describe, delete, compact, enforce-retention or truncate";

/// The options each command accepts.
fn allowed(command: &str) -> Option<&'static [&'static str]> {
    Some(match command {
        "create" => &[
            "dir",
            "topic",
            "partitions",
            "segment-bytes",
            "index-interval-bytes",
            "flush",
            "retention-bytes",
            "retention-ms",
            "retain-until-consumed",
            "retention-hard-bytes",
            "cleanup-policy",
            "delete-retention-ms",
            "if-not-exists",
        ],
        "list" => &["dir"],
        "describe" | "delete" | "compact" | "enforce-retention" => &["dir", "topic"],
        "truncate" => &["dir", "topic", "partition", "offset"],
        _ => return None,
    })
}

#[derive(Debug, Default)]
struct Opts {
    command: Option<String>,
    /// The options given, by name, in order.
    given: Vec<String>,
    dir: Option<PathBuf>,
    topic: Option<String>,
    partitions: Option<u32>,
    segment_bytes: Option<u64>,
    index_interval_bytes: Option<u32>,
    flush: Option<String>,
    retention_bytes: Option<u64>,
    retention_ms: Option<u64>,
    retain_until_consumed: bool,
    retention_hard_bytes: Option<u64>,
    cleanup_policy: Option<String>,
    delete_retention_ms: Option<u64>,
    if_not_exists: bool,
    partition: Option<u32>,
    offset: Option<u64>,
}

fn main() -> ExitCode {
    common::main_with(run)
}

fn run() -> Result<()> {
    let mut args = Args::from_env()?;
    let mut o = Opts::default();
    while let Some(arg) = args.next()? {
        let flag = match &arg {
            Arg::Long(f) => Some(f.clone()),
            _ => None,
        };
        match arg {
            Arg::Long(ref f) if f == "help" => return common::print_usage(USAGE),
            Arg::Short('h') => return common::print_usage(USAGE),
            Arg::Long(ref f) if f == "dir" => o.dir = Some(args.value()?.into()),
            Arg::Long(ref f) if f == "topic" => o.topic = Some(args.value()?),
            Arg::Long(ref f) if f == "partitions" => o.partitions = Some(args.parse()?),
            Arg::Long(ref f) if f == "segment-bytes" => o.segment_bytes = Some(args.parse()?),
            Arg::Long(ref f) if f == "index-interval-bytes" => {
                o.index_interval_bytes = Some(args.parse()?);
            }
            Arg::Long(ref f) if f == "flush" => o.flush = Some(args.value()?),
            Arg::Long(ref f) if f == "retention-bytes" => o.retention_bytes = Some(args.parse()?),
            Arg::Long(ref f) if f == "retention-ms" => o.retention_ms = Some(args.parse()?),
            Arg::Long(ref f) if f == "retain-until-consumed" => o.retain_until_consumed = true,
            Arg::Long(ref f) if f == "retention-hard-bytes" => {
                o.retention_hard_bytes = Some(args.parse()?);
            }
            Arg::Long(ref f) if f == "cleanup-policy" => o.cleanup_policy = Some(args.value()?),
            Arg::Long(ref f) if f == "delete-retention-ms" => {
                o.delete_retention_ms = Some(args.parse()?);
            }
            Arg::Long(ref f) if f == "if-not-exists" => o.if_not_exists = true,
            Arg::Long(ref f) if f == "partition" => o.partition = Some(args.parse()?),
            Arg::Long(ref f) if f == "offset" => o.offset = Some(args.parse()?),
            Arg::Positional(ref c) if o.command.is_none() => o.command = Some(c.clone()),
            other => return Err(args.unexpected(&other)),
        }
        o.given.extend(flag);
    }
    let command = required(o.command.take(), &format!("command ({COMMANDS})"))?;
    let Some(allowed) = allowed(&command) else {
        return Err(
            format!("unknown command {command:?}: expected {COMMANDS} (see --help)").into(),
        );
    };
    if o.given.iter().any(|f| !allowed.contains(&f.as_str())) {
        let names: Vec<String> = allowed.iter().map(|f| format!("--{f}")).collect();
        let list = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => names.concat(),
        };
        return Err(format!("{command} takes only {list} (see --help)").into());
    }
    match command.as_str() {
        "create" => create(o),
        "list" => list(o),
        "describe" => describe(o),
        "delete" => delete(o),
        "compact" => compact(o),
        "enforce-retention" => enforce_retention(o),
        _ => truncate(o),
    }
}

fn create(o: Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let dir = required(o.dir, "--dir")?;
    let name = required(o.topic, "--topic")?;
    let mut config = TopicConfig::default().partitions(o.partitions.unwrap_or(1));
    if let Some(b) = o.segment_bytes {
        config = config.segment_bytes(b);
    }
    if let Some(b) = o.index_interval_bytes {
        config = config.index_interval_bytes(b);
    }
    if let Some(f) = &o.flush {
        config = config.flush(parse_flush(f)?);
    }
    config = config
        .retention_bytes(o.retention_bytes)
        .retention_ms(o.retention_ms)
        .retain_until_consumed(o.retain_until_consumed)
        .retention_hard_bytes(o.retention_hard_bytes);
    if let Some(p) = &o.cleanup_policy {
        config = config.cleanup_policy(parse_cleanup_policy(p)?);
    }
    if let Some(ms) = o.delete_retention_ms {
        config = config.delete_retention_ms(ms);
    }
    // Check before creating the directory, so a typo leaves nothing behind.
    config.validate()?;
    pagelog::validate_topic_name(&name)?;
    let store = Store::open(&dir)?;
    match store.create_topic(&name, config) {
        Ok(_) => writeln!(out, "Created topic {name}.")?,
        Err(Error::TopicExists(_)) if o.if_not_exists => {}
        Err(e) => return Err(e.into()),
    }
    out.flush()?;
    store.close()?;
    Ok(())
}

fn list(o: Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let store = open_existing(&required(o.dir, "--dir")?)?;
    for name in store.topics()? {
        writeln!(out, "{name}")?;
    }
    out.flush()?;
    store.close()?;
    Ok(())
}

fn describe(o: Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let store = open_existing(&required(o.dir, "--dir")?)?;
    let topic = store.topic(&required(o.topic, "--topic")?)?;
    let c = topic.config();
    writeln!(
        out,
        "Topic: {}  PartitionCount: {}  SegmentBytes: {}  IndexIntervalBytes: {}  Flush: {}",
        topic.name(),
        topic.partition_count(),
        c.segment_bytes,
        c.index_interval_bytes,
        format_flush(&c.flush)
    )?;
    let limit = |v: Option<u64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
    writeln!(
        out,
        "CleanupPolicy: {}  RetentionBytes: {}  RetentionMs: {}  RetainUntilConsumed: {}  \
         RetentionHardBytes: {}  DeleteRetentionMs: {}",
        format_cleanup_policy(c.cleanup_policy),
        limit(c.retention_bytes),
        limit(c.retention_ms),
        c.retain_until_consumed,
        limit(c.retention_hard_bytes),
        c.delete_retention_ms
    )?;
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
    print_table(&mut out, &rows)?;
    let groups = topic.groups()?;
    writeln!(out)?;
    if groups.is_empty() {
        writeln!(
            out,
            "No consumer group has committed offsets for {}.",
            topic.name()
        )?;
    } else {
        let mut rows = vec![row([
            "GROUP",
            "PARTITION",
            "COMMITTED",
            "NEXT-OFFSET",
            "LAG",
        ])];
        for g in &groups {
            let committed = topic.committed_offsets(g)?;
            let lag = topic.group_lag(g)?;
            for ((p, c), l) in topic.partitions().iter().zip(committed).zip(lag) {
                rows.push(vec![
                    g.clone(),
                    p.id().to_string(),
                    c.map_or_else(|| "-".to_owned(), |c| c.to_string()),
                    p.next_offset().to_string(),
                    l.to_string(),
                ]);
            }
        }
        print_table(&mut out, &rows)?;
    }
    drop(topic);
    out.flush()?;
    store.close()?;
    Ok(())
}

fn delete(o: Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let store = open_existing(&required(o.dir, "--dir")?)?;
    let name = required(o.topic, "--topic")?;
    store.delete_topic(&name)?;
    writeln!(out, "Deleted topic {name}.")?;
    out.flush()?;
    store.close()?;
    Ok(())
}

fn compact(o: Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let (store, topic) = open_topic(o)?;
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
    store.close()?;
    Ok(())
}

fn enforce_retention(o: Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let (store, topic) = open_topic(o)?;
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
        writeln!(out, "Hook error: {}", common::one_line(e))?;
    }
    drop(topic);
    out.flush()?;
    store.close()?;
    Ok(())
}

fn truncate(o: Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let partition = required(o.partition, "--partition")?;
    let offset = required(o.offset, "--offset")?;
    let (store, topic) = open_topic(o)?;
    let p = topic.partition(partition)?;
    let before = p.next_offset();
    p.truncate_to(offset)?;
    writeln!(
        out,
        "Truncated partition {partition} of topic {}: next offset {} (was {before}).",
        topic.name(),
        p.next_offset()
    )?;
    drop(topic);
    out.flush()?;
    store.close()?;
    Ok(())
}

/// Opens the store in `--dir` and the topic `--topic`.
fn open_topic(o: Opts) -> Result<(Store, Topic)> {
    let dir = required(o.dir, "--dir")?;
    let name = required(o.topic, "--topic")?;
    let store = open_existing(&dir)?;
    let topic = store.topic(&name)?;
    Ok((store, topic))
}

/// `n` with `noun`, pluralised, then `what` (if any): "3 segments rewritten".
fn count(n: u64, noun: &str, what: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    if what.is_empty() {
        format!("{n} {noun}{s}")
    } else {
        format!("{n} {noun}{s} {what}")
    }
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|s| (*s).to_owned()).collect()
}

/// Prints rows as left-aligned columns separated by two spaces.
fn print_table(out: &mut impl Write, rows: &[Vec<String>]) -> Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(&widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}
