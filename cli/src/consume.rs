//! `pagelog consume`: prints a topic's records (kafka-console-consumer).
//!
//! By default only records appended after it started; `--from-beginning`, `--from-time MS`,
//! or `--partition P --offset O|earliest|latest` start elsewhere. With `--group G` it reads
//! as a member of consumer group `G`: it resumes after the group's committed offsets and
//! commits what it printed after each batch (at-least-once). Without `--group` nothing is
//! committed (an uncommitted group private to this process reads every partition fairly).
//!
//! Output: one record per line, its value (a tombstone prints `null`), preceded by the
//! fields `--print-partition`, `--print-offset`, `--print-timestamp` and `--print-key` ask
//! for, in that order, TAB-separated. stdout is written line by line (a pipe sees each record
//! as it is printed). It follows the topic until `--timeout-ms` passes without a record or
//! `--max-messages` were printed, then prints `Processed a total of N messages` on stderr.
//! The store is opened read-only: it runs beside a writer and follows it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use clap::Args as ClapArgs;
use pagelog::{ConsumerConfig, Record, StartFrom, Topic};

use crate::util::{self, Result, open_reading};

pub const EXAMPLE: &str = "\
Examples:
  pagelog consume --topic quickstart-events --from-beginning --timeout-ms 1000
  pagelog consume --topic orders --group billing --print-partition --print-offset
  pagelog consume --topic orders --partition 0 --offset 42 --max-messages 10";

/// Largest number of bytes (keys, values, headers) taken per poll.
const MAX_POLL_BYTES: usize = 1 << 20;
/// How long one blocking wait lasts when following forever.
const FOREVER: Duration = Duration::from_secs(3600);

/// Where `--offset` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OffsetArg {
    Earliest,
    Latest,
    At(u64),
}

fn parse_offset(s: &str) -> Result<OffsetArg, String> {
    Ok(match s {
        "earliest" => OffsetArg::Earliest,
        "latest" => OffsetArg::Latest,
        n => OffsetArg::At(
            n.parse()
                .map_err(|_| format!("expected a number, earliest or latest, got {n:?}"))?,
        ),
    })
}

/// `consume`.
#[derive(Debug, ClapArgs)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "the command line's flags, one field each"
)]
pub struct Args {
    /// Topic to read
    #[arg(long, short = 't', value_name = "NAME")]
    topic: String,
    /// Start at the first stored record [default: only new records]
    #[arg(long, conflicts_with_all = ["from_time", "offset"])]
    from_beginning: bool,
    /// Start at the first record with timestamp >= MS (ms since the epoch)
    #[arg(long, value_name = "MS", conflicts_with = "offset")]
    from_time: Option<i64>,
    /// Read only this partition
    #[arg(long, short = 'p', value_name = "P", conflicts_with = "group")]
    partition: Option<u32>,
    /// With --partition: start at offset O, `earliest` or `latest`
    #[arg(long, value_name = "O", value_parser = parse_offset, requires = "partition")]
    offset: Option<OffsetArg>,
    /// Consume as group G: resume after its committed offsets and commit what was printed
    /// (--from-beginning / --from-time then apply only where G has committed nothing)
    #[arg(long, short = 'g', value_name = "G", value_parser = util::parse_group)]
    group: Option<String>,
    /// Print each record's partition before it
    #[arg(long)]
    print_partition: bool,
    /// Print each record's offset before it
    #[arg(long)]
    print_offset: bool,
    /// Print each record's timestamp (ms) before it
    #[arg(long)]
    print_timestamp: bool,
    /// Print each record's key (`null` if none) before it
    #[arg(long)]
    print_key: bool,
    /// Exit after this long without a new record [default: follow forever]
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// Exit after printing this many records
    #[arg(long, value_name = "N")]
    max_messages: Option<u64>,
}

pub fn run(dir: &Path, a: &Args) -> Result<()> {
    let store = open_reading(dir)?;
    let topic = store.topic(&a.topic)?;
    let mut printer = Printer::new(a);
    let result = match a.partition {
        Some(p) => consume_partition(&topic, p, a, &mut printer),
        None => consume_group(&topic, a, &mut printer),
    };
    let flushed = printer.out.flush();
    drop(topic);
    let closed = util::close(store);
    result?;
    flushed?;
    closed?;
    eprintln!("Processed a total of {} messages", printer.count);
    Ok(())
}

fn timeout(a: &Args) -> Option<Duration> {
    a.timeout_ms.map(Duration::from_millis)
}

/// Reads one partition with a `Records` iterator and `Records::poll`.
fn consume_partition(topic: &Topic, id: u32, a: &Args, printer: &mut Printer) -> Result<()> {
    let p = topic.partition(id)?;
    let mut records = match (a.offset, a.from_time) {
        (Some(OffsetArg::At(n)), _) => p.iter_from(n)?,
        (Some(OffsetArg::Earliest), _) => p.iter(),
        (None, Some(ts)) => p.iter_from_timestamp(ts)?,
        (None, None) if a.from_beginning => p.iter(),
        (Some(OffsetArg::Latest), _) | (None, None) => p.iter_from_end(),
    };
    while !printer.done() {
        let batch = records.poll(MAX_POLL_BYTES, timeout(a).unwrap_or(FOREVER))?;
        if batch.is_empty() {
            if a.timeout_ms.is_some() {
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
    }
    Ok(())
}

/// Reads every partition as a member of a consumer group: the named `--group`, committing
/// after each printed batch, or a private group that never commits (and so leaves no trace).
fn consume_group(topic: &Topic, a: &Args, printer: &mut Printer) -> Result<()> {
    let start = match a.from_time {
        Some(ts) => StartFrom::Timestamp(ts),
        None if a.from_beginning => StartFrom::Earliest,
        None => StartFrom::Latest,
    };
    let (group, commit) = match &a.group {
        Some(g) => (g.clone(), true),
        None => (private_group_name(topic)?, false),
    };
    let config = ConsumerConfig::default()
        .start(start)
        .max_poll_bytes(MAX_POLL_BYTES);
    let mut consumer = topic.consumer(&group, config)?;
    while !printer.done() {
        let batch = consumer.poll(timeout(a).unwrap_or(FOREVER))?;
        if batch.is_empty() {
            if a.timeout_ms.is_some() {
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

/// Formats records on stdout, one write and one flush per record line.
#[expect(
    clippy::struct_excessive_bools,
    reason = "one field per --print-* flag"
)]
struct Printer {
    out: std::io::StdoutLock<'static>,
    line: Vec<u8>,
    partition: bool,
    offset: bool,
    timestamp: bool,
    key: bool,
    count: u64,
    max: Option<u64>,
}

impl Printer {
    fn new(a: &Args) -> Self {
        Self {
            out: std::io::stdout().lock(),
            line: Vec::new(),
            partition: a.print_partition,
            offset: a.print_offset,
            timestamp: a.print_timestamp,
            key: a.print_key,
            count: 0,
            max: a.max_messages,
        }
    }

    fn done(&self) -> bool {
        self.max.is_some_and(|m| self.count >= m)
    }

    /// Prints one record as one line and flushes it: a pipe sees every record at once.
    fn print(&mut self, partition: u32, r: &Record) -> Result<()> {
        let line = &mut self.line;
        line.clear();
        if self.partition {
            write!(line, "{partition}\t")?;
        }
        if self.offset {
            write!(line, "{}\t", r.offset())?;
        }
        if self.timestamp {
            write!(line, "{}\t", r.timestamp())?;
        }
        if self.key {
            line.extend_from_slice(r.key().unwrap_or(b"null"));
            line.push(b'\t');
        }
        line.extend_from_slice(r.value_opt().unwrap_or(b"null"));
        line.push(b'\n');
        self.out.write_all(line)?;
        self.out.flush()?;
        self.count += 1;
        Ok(())
    }
}
