//! `console_producer`: appends each line of stdin to a topic as one record, like Kafka's
//! `kafka-console-producer.sh`.
//!
//! ```text
//! cargo run --example console_producer -- --dir DIR --topic NAME [--partition P]
//!     [--key-separator SEP] [--sync] [--print-offsets] [--create [--partitions N]]
//! ```
//!
//! * Every line read from stdin (without its `\n` or `\r\n`; an empty line is an empty
//!   value) is appended as one record, timestamped now. Lines are bytes: they need not be
//!   UTF-8. The tool ends at end of input (Ctrl-D) and closes the store cleanly, which
//!   makes everything durable.
//! * `--key-separator SEP` splits each line at the first `SEP` into `key SEP value`. A line
//!   without `SEP` is an error (as in Kafka): the tool stops with exit code 1; the lines
//!   before it stay appended.
//! * Partition: `--partition P` appends every record to partition `P`; otherwise a record
//!   with a key goes to the partition of its key (Kafka's murmur2 partitioner, the one the
//!   Java producer picks) and key-less records go round-robin over the partitions.
//! * `--sync` makes each record durable (`Partition::flush`, an fdatasync) before the next
//!   line is read. Without it the topic's flush policy applies; a record that was appended
//!   survives a crash of this process either way (it is in the page cache).
//! * `--print-offsets` prints `PARTITION OFFSET` on stdout for each line once it is
//!   appended (and durable, with `--sync`), flushing stdout each time, so a script can wait
//!   for the acknowledgement of every line.
//! * A missing topic is an error (Kafka does not create topics here either) unless
//!   `--create` is given, which creates it with `--partitions N` (default 1) and the
//!   default configuration (see the `topics` example for the other settings).
//!
//! Exit code 0 on success; otherwise one line `error: ...` on stderr and exit code 1. The
//! store directory is locked while the tool runs, so it cannot run at the same time as a
//! console consumer on the same directory (pagelog is an in-process library, not a broker).

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use common::{Arg, Args, Result, open_existing, required};
use pagelog::{Error, NewRecord, Store, Topic, TopicConfig};

const USAGE: &str = "\
usage: console_producer --dir DIR --topic NAME [--partition P] [--key-separator SEP]
                        [--sync] [--print-offsets] [--create [--partitions N]]

Appends each line of stdin to the topic as one record (like kafka-console-producer.sh).

  --dir DIR            store directory
  --topic NAME         topic to append to
  --partition P        append every record to partition P (default: by key hash,
                       key-less records round-robin)
  --key-separator SEP  split each line into KEY SEP VALUE at the first SEP; a line
                       without SEP is an error
  --sync               make each record durable (fdatasync) before reading the next line
  --print-offsets      print `PARTITION OFFSET` for each appended line on stdout
  --create             create the topic if it does not exist (default: error)
  --partitions N       partition count when --create creates the topic (default 1)
  -h, --help           print this help
";

#[derive(Debug, Default)]
struct Opts {
    dir: Option<PathBuf>,
    topic: Option<String>,
    partition: Option<u32>,
    key_separator: Option<String>,
    sync: bool,
    print_offsets: bool,
    create: bool,
    partitions: Option<u32>,
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
            Arg::Long(ref f) if f == "partition" => o.partition = Some(args.parse()?),
            Arg::Long(ref f) if f == "key-separator" => o.key_separator = Some(args.value()?),
            Arg::Long(ref f) if f == "sync" => o.sync = true,
            Arg::Long(ref f) if f == "print-offsets" => o.print_offsets = true,
            Arg::Long(ref f) if f == "create" => o.create = true,
            Arg::Long(ref f) if f == "partitions" => o.partitions = Some(args.parse()?),
            other => return Err(Args::unexpected(&other)),
        }
    }
    let dir = required(o.dir.take(), "--dir")?;
    let name = required(o.topic.take(), "--topic")?;
    if o.key_separator.as_deref() == Some("") {
        return Err("--key-separator must not be empty".into());
    }
    if o.partitions.is_some() && !o.create {
        return Err("--partitions is only used with --create (see --help)".into());
    }
    let store = if o.create {
        Store::open(&dir)?
    } else {
        open_existing(&dir)?
    };
    let topic = match store.topic(&name) {
        Ok(t) => t,
        Err(Error::TopicNotFound(_)) if o.create => {
            let config = TopicConfig::default().partitions(o.partitions.unwrap_or(1));
            store.create_topic(&name, config)?
        }
        Err(Error::TopicNotFound(_)) => {
            return Err(format!(
                "topic {name:?} does not exist (create it with the topics example, or pass --create)"
            )
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(p) = o.partition {
        topic.partition(p)?; // fail before reading any input
    }
    let result = produce(&topic, &o);
    drop(topic);
    // A clean close syncs every partition: what was appended is durable once we exit 0.
    let closed = common::close(store);
    result?;
    closed?;
    Ok(())
}

fn produce(topic: &Topic, o: &Opts) -> Result<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    let mut line = Vec::new();
    for number in 1u64.. {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        let (key, value) = match &o.key_separator {
            None => (None, &line[..]),
            Some(sep) => match find(&line, sep.as_bytes()) {
                Some(i) => (Some(&line[..i]), &line[i + sep.len()..]),
                None => {
                    return Err(format!("line {number} has no key separator {sep:?}").into());
                }
            },
        };
        let mut record = NewRecord::new(value);
        record.key = key;
        let (partition, offset) = match o.partition {
            Some(p) => (p, topic.partition(p)?.append(record)?),
            None => topic.append_record(record)?,
        };
        if o.sync {
            topic.partition(partition)?.flush()?;
        }
        if o.print_offsets {
            writeln!(out, "{partition} {offset}")?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Position of the first occurrence of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
