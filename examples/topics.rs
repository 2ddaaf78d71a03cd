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
//! cargo run --example topics -- export   --dir DIR --topic NAME --log-dir KAFKA_LOG_DIR
//!                                        [--partition P] [--from O] [--to O]
//!                                        [--segment-bytes BYTES] [--index-interval-bytes BYTES]
//!                                        [--progress-bytes BYTES]
//! cargo run --example topics -- import   --dir DIR --topic NAME --partition-dir KAFKA_PARTITION_DIR
//!                                        [--partition P] [--create [--partitions N]]
//!                                        [--skip-unsupported] [--progress-bytes BYTES]
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
//! * `export` writes each partition (or only `--partition P`, optionally only offsets
//!   `--from O` (default: start) up to `--to O` (exclusive, default: end)) as a Kafka
//!   partition directory `KAFKA_LOG_DIR/NAME-P/` of `<20-digit base>.log` segments of
//!   `RecordBatch` v2 with Kafka's `.index` and `.timeindex` (`--segment-bytes`, default
//!   1073741824, and `--index-interval-bytes`, default 4096, as Kafka's settings of those
//!   names). Refuses a target directory that exists. Prints one line per partition:
//!   `Exported partition P of topic NAME to PATH: R records, offsets S..E, N segments, B bytes.`
//! * `import` reads a Kafka partition directory (as a broker writes it: `.log` segments of
//!   `RecordBatch` v2, uncompressed or gzip) into partition `P` (default 0) with the same
//!   offsets; the partition must not already hold offsets at or above the Kafka log's
//!   first one. `--create` creates the topic first if it does not exist (with
//!   `--partitions N`, default 1). Batches with codecs other than gzip stop the import unless
//!   `--skip-unsupported` leaves them as gaps. Prints
//!   `Imported R records into partition P of topic NAME: offsets S..E, B bytes from N segments.`
//!   then one `Not carried: ...` line per thing dropped (control batches, producer ids, null
//!   header values, a torn tail, ignored files, ...; docs/KAFKA.md lists them).
//! * `export` and `import` print progress to stderr every `--progress-bytes` bytes (default
//!   67108864, 64 MiB) of log written or read: `export: partition 0: 128.0 MiB, 1048576
//!   records, offset 1048576 of 4000000` / `import: 128.0 of 512.3 MiB, 1048576 records`.
//!
//! Every command exits 0 on success; on failure it prints one line `error: ...` on stderr
//! and exits 1. Except for `create`, `DIR` must exist. A store is locked by the process
//! that has it open, so these commands fail with "locked" while another program (a console
//! producer or consumer, or your application) has the same directory open.

#[path = "common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use common::{
    Arg, Args, Result, approx, format_cleanup_policy, format_flush, open_existing,
    parse_cleanup_policy, parse_flush, required,
};
use pagelog::{CompactionReport, Error, RetentionReport, Store, Topic, TopicConfig, kafka};

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
       topics export   --dir DIR --topic NAME --log-dir KAFKA_LOG_DIR [--partition P]
                       [--from O] [--to O] [--segment-bytes BYTES]
                       [--index-interval-bytes BYTES] [--progress-bytes BYTES]
       topics import   --dir DIR --topic NAME --partition-dir KAFKA_PARTITION_DIR
                       [--partition P] [--create] [--partitions N] [--skip-unsupported]
                       [--progress-bytes BYTES]

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
  --log-dir KAFKA_LOG_DIR       `export` writes KAFKA_LOG_DIR/NAME-P/ for each partition
  --from O / --to O             `export` only offsets O.. / ..O (exclusive)
  --partition-dir DIR           `import` reads this Kafka partition directory (e.g. orders-0)
  --create                      `import` creates the topic if it does not exist
  --skip-unsupported            `import` leaves batches it cannot decode as gaps
  --progress-bytes BYTES        progress on stderr every BYTES of log (default 67108864)
  -h, --help                    print this help

Commands: create, list, describe, delete; compact (compaction pass now, prints its report);
enforce-retention (retention pass now, prints its report); truncate; export and import
(Kafka partition directories: RecordBatch v2 with Kafka's indexes; see docs/KAFKA.md).
";

const COMMANDS: &str =
    "create, list, describe, delete, compact, enforce-retention, truncate, export or import";

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
        "export" => &[
            "dir",
            "topic",
            "log-dir",
            "partition",
            "from",
            "to",
            "segment-bytes",
            "index-interval-bytes",
            "progress-bytes",
        ],
        "import" => &[
            "dir",
            "topic",
            "partition-dir",
            "partition",
            "create",
            "partitions",
            "skip-unsupported",
            "progress-bytes",
        ],
        _ => return None,
    })
}

#[derive(Debug, Default)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "the command line's flags, one field each"
)]
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
    log_dir: Option<PathBuf>,
    partition_dir: Option<PathBuf>,
    from: Option<u64>,
    to: Option<u64>,
    create: bool,
    skip_unsupported: bool,
    progress_bytes: Option<u64>,
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
            Arg::Long(ref f) if f == "log-dir" => o.log_dir = Some(args.value()?.into()),
            Arg::Long(ref f) if f == "partition-dir" => {
                o.partition_dir = Some(args.value()?.into());
            }
            Arg::Long(ref f) if f == "from" => o.from = Some(args.parse()?),
            Arg::Long(ref f) if f == "to" => o.to = Some(args.parse()?),
            Arg::Long(ref f) if f == "create" => o.create = true,
            Arg::Long(ref f) if f == "skip-unsupported" => o.skip_unsupported = true,
            Arg::Long(ref f) if f == "progress-bytes" => o.progress_bytes = Some(args.parse()?),
            Arg::Positional(ref c) if o.command.is_none() => o.command = Some(c.clone()),
            other => return Err(Args::unexpected(&other)),
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
        "export" => export(o),
        "import" => import(&o),
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
    common::close(store)?;
    Ok(())
}

fn list(o: Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let store = common::open_reading(&required(o.dir, "--dir")?)?;
    for name in store.topics()? {
        writeln!(out, "{name}")?;
    }
    out.flush()?;
    common::close(store)?;
    Ok(())
}

fn describe(o: Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let store = common::open_reading(&required(o.dir, "--dir")?)?;
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
    common::close(store)?;
    Ok(())
}

fn delete(o: Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let store = open_existing(&required(o.dir, "--dir")?)?;
    let name = required(o.topic, "--topic")?;
    store.delete_topic(&name)?;
    writeln!(out, "Deleted topic {name}.")?;
    out.flush()?;
    common::close(store)?;
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
    common::close(store)?;
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
    common::close(store)?;
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
    common::close(store)?;
    Ok(())
}

const MIB: f64 = (1 << 20) as f64;

fn export(o: Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let log_dir = required(o.log_dir.clone(), "--log-dir")?;
    let mut options = kafka::ExportOptions {
        from: o.from,
        to: o.to,
        ..kafka::ExportOptions::default()
    };
    if let Some(b) = o.segment_bytes {
        options.segment_bytes = u32::try_from(b)
            .map_err(|_| format!("--segment-bytes {b} is above Kafka's limit of 2147483647"))?;
    }
    if let Some(b) = o.index_interval_bytes {
        options.index_interval_bytes = b;
    }
    if let Some(b) = o.progress_bytes {
        options.progress_interval_bytes = b.max(1);
    }
    let only = o.partition;
    let dir = required(o.dir, "--dir")?;
    let store = common::open_reading(&dir)?;
    let topic = store.topic(&required(o.topic, "--topic")?)?;
    let partitions: Vec<_> = match only {
        Some(p) => vec![topic.partition(p)?.clone()],
        None => topic.partitions().to_vec(),
    };
    for p in &partitions {
        let id = p.id();
        let mut progress = |pr: &kafka::ExportProgress| {
            if pr.offset < pr.end {
                eprintln!(
                    "export: partition {id}: {:.1} MiB, {} records, offset {} of {}",
                    approx(pr.bytes) / MIB,
                    pr.records,
                    pr.offset,
                    pr.end
                );
            }
        };
        let r = kafka::export_with_progress(p, &log_dir, &options, &mut progress)?;
        writeln!(
            out,
            "Exported partition {id} of topic {} to {}: {}, offsets {}..{}, {}, {}.",
            topic.name(),
            r.dir.display(),
            count(r.records, "record", ""),
            r.start_offset,
            r.end_offset,
            count(r.segments, "segment", ""),
            count(r.bytes, "byte", ""),
        )?;
    }
    drop(partitions);
    drop(topic);
    out.flush()?;
    common::close(store)?;
    Ok(())
}

fn import(o: &Opts) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let source = required(o.partition_dir.clone(), "--partition-dir")?;
    if !source.is_dir() {
        return Err(format!(
            "Kafka partition directory {} does not exist",
            source.display()
        )
        .into());
    }
    let dir = required(o.dir.clone(), "--dir")?;
    let name = required(o.topic.clone(), "--topic")?;
    let store = if o.create {
        pagelog::validate_topic_name(&name)?;
        Store::open(&dir)?
    } else {
        open_existing(&dir)?
    };
    let topic = match store.topic(&name) {
        Err(Error::TopicNotFound(_)) if o.create => store.create_topic(
            &name,
            TopicConfig::default().partitions(o.partitions.unwrap_or(1)),
        )?,
        other => other?,
    };
    let id = o.partition.unwrap_or(0);
    let p = topic.partition(id)?.clone();
    let mut options = kafka::ImportOptions {
        skip_unsupported: o.skip_unsupported,
        ..kafka::ImportOptions::default()
    };
    if let Some(b) = o.progress_bytes {
        options.progress_interval_bytes = b.max(1);
    }
    let mut progress = |pr: &kafka::ImportProgress| {
        if pr.bytes < pr.total_bytes {
            eprintln!(
                "import: {:.1} of {:.1} MiB, {} records",
                approx(pr.bytes) / MIB,
                approx(pr.total_bytes) / MIB,
                pr.records
            );
        }
    };
    let r = kafka::import_with_progress(&source, &p, &options, &mut progress)?;
    writeln!(
        out,
        "Imported {} into partition {id} of topic {}: offsets {}..{}, {} from {}.",
        count(r.records, "record", ""),
        topic.name(),
        p.start_offset(),
        r.next_offset,
        count(r.bytes, "byte", ""),
        count(r.segments, "segment", ""),
    )?;
    for note in r.not_carried() {
        writeln!(out, "Not carried: {note}")?;
    }
    drop(p);
    drop(topic);
    out.flush()?;
    common::close(store)?;
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
                // Writing to a String cannot fail.
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}
