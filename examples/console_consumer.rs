//! `console_consumer`: prints a topic's records, like Kafka's `kafka-console-consumer.sh`.
//!
//! ```text
//! cargo run --example console_consumer -- --dir DIR --topic NAME
//!     [--from-beginning | --from-time MS | --partition P [--offset O|earliest|latest]]
//!     [--group G] [--print-partition] [--print-offset] [--print-timestamp] [--print-key]
//!     [--timeout-ms N] [--max-messages N]
//! ```
//!
//! **Where it starts.** By default only records appended after it started (Kafka's
//! `latest`). `--from-beginning` starts at the first stored record, `--from-time MS` at the
//! first record with a timestamp `>= MS` (ms since the Unix epoch). `--partition P` reads
//! only partition `P`; with it, `--offset O` starts at offset `O` (or `earliest` /
//! `latest`).
//!
//! **Groups.** `--group G` reads as a member of consumer group `G` (`Topic::consumer`): it
//! resumes after the group's committed offsets, and commits what it printed after every
//! batch (once stdout was flushed), so the next run with the same group prints only what is
//! new. `--from-beginning` / `--from-time` apply only to partitions where the group has no
//! committed offset yet (`ConsumerConfig::start`); `--partition` and `--offset` cannot be
//! combined with `--group`. Delivery is at-least-once: if the tool is killed between printing
//! and committing, the next run prints those records again. Without `--group` nothing is
//! committed and no group is left behind (internally an uncommitted, process-private group
//! reads all partitions fairly, as Kafka's console consumer does).
//!
//! **Output.** One record per line: its value (bytes as stored, so a value containing a
//! newline spans lines; a tombstone prints `null`). Options add fields before it, in this
//! order, separated by a TAB:
//! `[PARTITION]<TAB>[OFFSET]<TAB>[TIMESTAMP]<TAB>[KEY]<TAB>VALUE` with `--print-partition`,
//! `--print-offset`, `--print-timestamp` (ms since the epoch) and `--print-key` (`null`
//! for a key-less record). stdout is flushed after every batch, before waiting for more.
//!
//! **When it stops.** It follows the topic forever (blocking, woken by appends) unless
//! `--timeout-ms N` makes it exit after `N` ms without a new record, or `--max-messages N`
//! after `N` records. On exit it prints `Processed a total of N messages` on stderr, like
//! Kafka. Exit code 0 on success (also when stdout is closed early, e.g. `| head`);
//! otherwise one line `error: ...` on stderr and exit code 1 (damaged data is reported with
//! its file and byte position).
//!
//! The store is opened read-only (`Store::open_read_only`): the tool runs beside a writer
//! process (`console_producer`, an application), follows it as it appends, and never keeps
//! it out; as in Kafka's quickstart, run the producer in one terminal and the consumer in
//! another.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use common::{Arg, Args, Result, open_reading, required};
use pagelog::{ConsumerConfig, Record, StartFrom, Topic};

const USAGE: &str = "\
usage: console_consumer --dir DIR --topic NAME
           [--from-beginning | --from-time MS | --partition P [--offset O|earliest|latest]]
           [--group G] [--print-partition] [--print-offset] [--print-timestamp]
           [--print-key] [--timeout-ms N] [--max-messages N]

Prints the topic's records, one value per line (like kafka-console-consumer.sh).

  --dir DIR           store directory
  --topic NAME        topic to read
  --from-beginning    start at the first stored record (default: only new records)
  --from-time MS      start at the first record with timestamp >= MS (ms since the epoch)
  --partition P       read only partition P
  --offset O          with --partition: start at offset O, `earliest` or `latest`
  --group G           consume as group G: resume after its committed offsets and commit
                      what was printed (--from-beginning/--from-time then apply only
                      where G has committed nothing)
  --print-partition   prefix each value with its partition and a TAB
  --print-offset      prefix each value with its offset and a TAB
  --print-timestamp   prefix each value with its timestamp (ms) and a TAB
  --print-key         prefix each value with its key (`null` if none) and a TAB
  --timeout-ms N      exit after N ms without a new record (default: follow forever)
  --max-messages N    exit after printing N records
  -h, --help          print this help

Output fields, in this order: [PARTITION] [OFFSET] [TIMESTAMP] [KEY] VALUE, TAB-separated.
";

/// Largest number of bytes (keys, values, headers) taken per poll.
const MAX_POLL_BYTES: usize = 1 << 20;
/// How long one blocking wait lasts when following forever.
const FOREVER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OffsetArg {
    Earliest,
    Latest,
    At(u64),
}

#[derive(Debug, Default)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "the command line's flags, one field each"
)]
struct Opts {
    dir: Option<PathBuf>,
    topic: Option<String>,
    from_beginning: bool,
    from_time: Option<i64>,
    partition: Option<u32>,
    offset: Option<OffsetArg>,
    group: Option<String>,
    print_partition: bool,
    print_offset: bool,
    print_timestamp: bool,
    print_key: bool,
    timeout: Option<Duration>,
    max_messages: Option<u64>,
}

fn main() -> ExitCode {
    common::main_with(run)
}

fn parse_args() -> Result<Option<Opts>> {
    let mut args = Args::from_env()?;
    let mut o = Opts::default();
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long(ref f) if f == "help" => return Ok(None),
            Arg::Short('h') => return Ok(None),
            Arg::Long(ref f) if f == "dir" => o.dir = Some(args.value()?.into()),
            Arg::Long(ref f) if f == "topic" => o.topic = Some(args.value()?),
            Arg::Long(ref f) if f == "from-beginning" => o.from_beginning = true,
            Arg::Long(ref f) if f == "from-time" => o.from_time = Some(args.parse()?),
            Arg::Long(ref f) if f == "partition" => o.partition = Some(args.parse()?),
            Arg::Long(ref f) if f == "offset" => {
                o.offset = Some(match args.value()?.as_str() {
                    "earliest" => OffsetArg::Earliest,
                    "latest" => OffsetArg::Latest,
                    n => OffsetArg::At(n.parse().map_err(|_| {
                        format!("invalid value {n:?} for --offset: expected a number, earliest or latest")
                    })?),
                });
            }
            Arg::Long(ref f) if f == "group" => o.group = Some(args.value()?),
            Arg::Long(ref f) if f == "print-partition" => o.print_partition = true,
            Arg::Long(ref f) if f == "print-offset" => o.print_offset = true,
            Arg::Long(ref f) if f == "print-timestamp" => o.print_timestamp = true,
            Arg::Long(ref f) if f == "print-key" => o.print_key = true,
            Arg::Long(ref f) if f == "timeout-ms" => {
                o.timeout = Some(Duration::from_millis(args.parse()?));
            }
            Arg::Long(ref f) if f == "max-messages" => o.max_messages = Some(args.parse()?),
            other => return Err(Args::unexpected(&other)),
        }
    }
    let starts = [o.from_beginning, o.from_time.is_some(), o.offset.is_some()];
    if starts.iter().filter(|s| **s).count() > 1 {
        return Err("use only one of --from-beginning, --from-time and --offset".into());
    }
    if o.offset.is_some() && o.partition.is_none() {
        return Err("--offset needs --partition".into());
    }
    if o.group.is_some() && o.partition.is_some() {
        return Err("--partition cannot be used with --group".into());
    }
    Ok(Some(o))
}

fn run() -> Result<()> {
    let Some(mut o) = parse_args()? else {
        return common::print_usage(USAGE);
    };
    let dir = required(o.dir.take(), "--dir")?;
    let name = required(o.topic.take(), "--topic")?;
    if let Some(g) = &o.group {
        pagelog::validate_topic_name(g).map_err(|e| match e {
            pagelog::Error::InvalidTopicName { reason, .. } => {
                format!("invalid group name {g:?}: {reason}")
            }
            e => e.to_string(),
        })?;
    }
    let store = open_reading(&dir)?;
    let topic = store.topic(&name)?;
    let mut printer = Printer::new(&o);
    let result = match o.partition {
        Some(p) => consume_partition(&topic, p, &o, &mut printer),
        None => consume_group(&topic, &o, &mut printer),
    };
    let flushed = printer.out.flush();
    drop(topic);
    let closed = common::close(store);
    result?;
    flushed?;
    closed?;
    eprintln!("Processed a total of {} messages", printer.count);
    Ok(())
}

/// Reads one partition with a `Records` iterator and `Records::poll`.
fn consume_partition(topic: &Topic, id: u32, o: &Opts, printer: &mut Printer) -> Result<()> {
    let p = topic.partition(id)?;
    let mut records = match (o.offset, o.from_time) {
        (Some(OffsetArg::At(n)), _) => p.iter_from(n)?,
        (Some(OffsetArg::Earliest), _) => p.iter(),
        (None, Some(ts)) => p.iter_from_timestamp(ts)?,
        (None, None) if o.from_beginning => p.iter(),
        (Some(OffsetArg::Latest), _) | (None, None) => p.iter_from_end(),
    };
    while !printer.done() {
        let batch = records.poll(MAX_POLL_BYTES, o.timeout.unwrap_or(FOREVER))?;
        if batch.is_empty() {
            if o.timeout.is_some() {
                break;
            }
            if !p.is_open() {
                return Err(format!("partition {id} was closed").into());
            }
            continue;
        }
        for r in &batch {
            if printer.done() {
                break;
            }
            printer.print(id, r)?;
        }
        printer.out.flush()?;
    }
    Ok(())
}

/// Reads every partition as a member of a consumer group: the named `--group`, committing
/// after each printed batch, or a private group that never commits (and so leaves no trace).
fn consume_group(topic: &Topic, o: &Opts, printer: &mut Printer) -> Result<()> {
    let start = match o.from_time {
        Some(ts) => StartFrom::Timestamp(ts),
        None if o.from_beginning => StartFrom::Earliest,
        None => StartFrom::Latest,
    };
    let (group, commit) = match &o.group {
        Some(g) => (g.clone(), true),
        None => (private_group_name(topic)?, false),
    };
    let config = ConsumerConfig::default()
        .start(start)
        .max_poll_bytes(MAX_POLL_BYTES);
    let mut consumer = topic.consumer(&group, config)?;
    while !printer.done() {
        let batch = consumer.poll(o.timeout.unwrap_or(FOREVER))?;
        if batch.is_empty() {
            if o.timeout.is_some() {
                break;
            }
            if topic.partitions().iter().any(|p| !p.is_open()) {
                return Err(format!("topic {:?} was closed", topic.name()).into());
            }
            continue;
        }
        // With --max-messages the batch may be printed only in part: move each partition
        // back to its first unprinted record so that the commit covers exactly what was
        // printed.
        let mut unprinted: BTreeMap<u32, u64> = BTreeMap::new();
        for r in &batch {
            if printer.done() {
                unprinted.entry(r.partition).or_insert(r.offset());
            } else {
                printer.print(r.partition, &r.record)?;
            }
        }
        printer.out.flush()?;
        if commit {
            for (p, offset) in unprinted {
                consumer.seek(p, offset)?;
            }
            consumer.commit()?;
        }
    }
    Ok(())
}

/// A group name no one committed under, for reading without `--group`.
fn private_group_name(topic: &Topic) -> Result<String> {
    let taken = topic.groups()?;
    let base = format!("console-consumer-{}", std::process::id());
    let mut name = base.clone();
    let mut n = 0;
    while taken.contains(&name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    Ok(name)
}

/// Formats records on a buffered stdout.
#[expect(
    clippy::struct_excessive_bools,
    reason = "one field per --print-* flag"
)]
struct Printer {
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    partition: bool,
    offset: bool,
    timestamp: bool,
    key: bool,
    count: u64,
    max: Option<u64>,
}

impl Printer {
    fn new(o: &Opts) -> Self {
        Self {
            out: std::io::BufWriter::new(std::io::stdout().lock()),
            partition: o.print_partition,
            offset: o.print_offset,
            timestamp: o.print_timestamp,
            key: o.print_key,
            count: 0,
            max: o.max_messages,
        }
    }

    fn done(&self) -> bool {
        self.max.is_some_and(|m| self.count >= m)
    }

    fn print(&mut self, partition: u32, r: &Record) -> Result<()> {
        let out = &mut self.out;
        if self.partition {
            write!(out, "{partition}\t")?;
        }
        if self.offset {
            write!(out, "{}\t", r.offset())?;
        }
        if self.timestamp {
            write!(out, "{}\t", r.timestamp())?;
        }
        if self.key {
            out.write_all(r.key().unwrap_or(b"null"))?;
            out.write_all(b"\t")?;
        }
        out.write_all(r.value_opt().unwrap_or(b"null"))?;
        out.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }
}
