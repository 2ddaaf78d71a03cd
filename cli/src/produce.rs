//! `pagelog produce`: appends each line of stdin to a topic as one record
//! (kafka-console-producer).
//!
//! Every line (without its `\n` or `\r\n`; an empty line is an empty value; bytes, not
//! necessarily UTF-8) becomes one record, timestamped now. `--key-separator` splits a line
//! into key and value at the first separator (a line without it stops the command with an
//! error; the lines before it stay appended). Without `--partition`, a keyed record goes to
//! its key's partition (Kafka's murmur2 partitioner) and key-less records go round-robin.
//! The store is closed cleanly at the end of input, which makes everything durable.

use std::io::{BufRead, Write};
use std::path::Path;

use clap::Args as ClapArgs;
use pagelog::{NewRecord, Topic};

use crate::util::{self, Result, open_for_writing};

pub const EXAMPLE: &str = "\
Examples:
  printf 'first\\nsecond\\n' | pagelog produce --topic quickstart-events --print-offsets
  printf 'user-1:{\"visits\": 1}\\n' | pagelog produce --topic profiles --key-separator :";

/// `produce`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Topic to append to
    #[arg(long, short = 't', value_name = "NAME")]
    topic: String,
    /// Append every record to this partition [default: by key hash, key-less round-robin]
    #[arg(long, short = 'p', value_name = "P")]
    partition: Option<u32>,
    /// Split each line into KEY SEP VALUE at the first SEP; a line without SEP is an error
    #[arg(long, value_name = "SEP", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    key_separator: Option<String>,
    /// Make each record durable (fdatasync) before reading the next line
    #[arg(long)]
    sync: bool,
    /// Print `PARTITION OFFSET` on stdout for each line once it is appended
    #[arg(long)]
    print_offsets: bool,
    /// Create the topic if it does not exist [default: error]
    #[arg(long)]
    create: bool,
    /// Partition count when --create creates the topic
    #[arg(long, value_name = "N", requires = "create")]
    partitions: Option<u32>,
}

pub fn run(dir: &Path, a: &Args) -> Result<()> {
    let (store, topic) = open_for_writing(dir, &a.topic, a.create, a.partitions)?;
    if let Some(p) = a.partition {
        topic.partition(p)?; // fail before reading any input
    }
    let result = produce(&topic, a);
    drop(topic);
    // A clean close syncs every partition: what was appended is durable once we exit 0.
    let closed = util::close(store);
    result?;
    closed
}

fn produce(topic: &Topic, a: &Args) -> Result<()> {
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
        let (key, value) = match &a.key_separator {
            None => (None, &line[..]),
            Some(sep) => match find(&line, sep.as_bytes()) {
                Some(i) => (line.get(..i), line.get(i + sep.len()..).unwrap_or_default()),
                None => {
                    return Err(format!("line {number} has no key separator {sep:?}").into());
                }
            },
        };
        let mut record = NewRecord::new(value);
        record.key = key;
        let (partition, offset) = match a.partition {
            Some(p) => (p, topic.partition(p)?.append(record)?),
            None => topic.append_record(record)?,
        };
        if a.sync {
            topic.partition(partition)?.flush()?;
        }
        if a.print_offsets {
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
