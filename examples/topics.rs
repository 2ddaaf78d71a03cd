//! `topics`: create, list, describe and delete topics, like Kafka's `kafka-topics.sh`.
//!
//! ```text
//! cargo run --example topics -- create   --dir DIR --topic NAME [--partitions N]
//!                                        [--segment-bytes BYTES] [--index-interval-bytes BYTES]
//!                                        [--flush POLICY] [--if-not-exists]
//! cargo run --example topics -- list     --dir DIR
//! cargo run --example topics -- describe --dir DIR --topic NAME
//! cargo run --example topics -- delete   --dir DIR --topic NAME
//! ```
//!
//! * `create` makes a topic with `N` partitions (default 1). `--segment-bytes` (default
//!   1 GiB, at least 4096) and `--index-interval-bytes` (default 4096; 0 indexes every batch)
//!   set the segment layout, `--flush` the durability policy: `never`, `every-append`,
//!   `interval-ms:N` (the default is `interval-ms:1000`) or `every-records:N`.
//!   `--if-not-exists` makes an existing topic a success instead of an error. Creates `DIR`
//!   if needed. Prints `Created topic NAME.`
//! * `list` prints one topic name per line, sorted.
//! * `describe` prints the topic's configuration, one row per partition (first and next
//!   offset, record count, segments, bytes, durable offset), then one row per partition for
//!   every consumer group that committed offsets: its committed offset (`-` if none) and its
//!   lag (records stored but not yet committed by the group).
//! * `delete` removes the topic and its data. Prints `Deleted topic NAME.`
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

use common::{Arg, Args, Result, format_flush, open_existing, parse_flush, required};
use pagelog::{Error, Store, TopicConfig};

const USAGE: &str = "\
usage: topics create   --dir DIR --topic NAME [--partitions N] [--segment-bytes BYTES]
                       [--index-interval-bytes BYTES] [--flush POLICY] [--if-not-exists]
       topics list     --dir DIR
       topics describe --dir DIR --topic NAME
       topics delete   --dir DIR --topic NAME

Manages the topics of a pagelog store directory (like kafka-topics.sh).

  --dir DIR                     store directory (created by `create` if missing)
  --topic NAME                  topic name: 1-249 characters from [A-Za-z0-9._-]
  --partitions N                partition count for `create` (default 1)
  --segment-bytes BYTES         roll segments at this size (default 1073741824, min 4096)
  --index-interval-bytes BYTES  bytes between offset-index entries (default 4096)
  --flush POLICY                never | every-append | interval-ms:N | every-records:N
                                (default interval-ms:1000)
  --if-not-exists               `create` succeeds if the topic already exists
  -h, --help                    print this help
";

#[derive(Debug, Default)]
struct Opts {
    command: Option<String>,
    dir: Option<PathBuf>,
    topic: Option<String>,
    partitions: Option<u32>,
    segment_bytes: Option<u64>,
    index_interval_bytes: Option<u32>,
    flush: Option<String>,
    if_not_exists: bool,
}

fn main() -> ExitCode {
    common::main_with(run)
}

fn run() -> Result<()> {
    let mut args = Args::from_env()?;
    let mut o = Opts::default();
    while let Some(arg) = args.next()? {
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
            Arg::Long(ref f) if f == "if-not-exists" => o.if_not_exists = true,
            Arg::Positional(ref c) if o.command.is_none() => o.command = Some(c.clone()),
            other => return Err(args.unexpected(&other)),
        }
    }
    let command = required(
        o.command.take(),
        "command (create, list, describe or delete)",
    )?;
    let only_for_create = o.partitions.is_some()
        || o.segment_bytes.is_some()
        || o.index_interval_bytes.is_some()
        || o.flush.is_some()
        || o.if_not_exists;
    if command != "create" && only_for_create {
        return Err(format!("{command} takes only --dir and --topic (see --help)").into());
    }
    match command.as_str() {
        "create" => create(o),
        "list" => list(o),
        "describe" => describe(o),
        "delete" => delete(o),
        other => Err(format!(
            "unknown command {other:?}: expected create, list, describe or delete (see --help)"
        )
        .into()),
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
    if o.topic.is_some() {
        return Err("list takes only --dir (see --help)".into());
    }
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
    writeln!(out)?;
    let mut rows = vec![row([
        "PARTITION",
        "START-OFFSET",
        "NEXT-OFFSET",
        "RECORDS",
        "SEGMENTS",
        "BYTES",
        "DURABLE-OFFSET",
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
