//! `pagelog topics ...`: create, list, describe, alter and delete topics (kafka-topics and
//! kafka-configs), and run compaction, retention and truncation now.

mod describe;
pub use describe::{group_json, group_rows};
mod maintenance;

use std::io::Write;
use std::path::Path;

use clap::{Args as ClapArgs, Subcommand};
use pagelog::{CleanupPolicy, Error, FlushPolicy, Store, TopicConfig};

use crate::util::{self, Result, open_existing, open_reading, parse_cleanup_policy, parse_flush};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a topic (creates the store directory if needed)
    #[command(
        after_help = "Example:\n  pagelog topics create --topic orders --partitions 4 \
        --retention-bytes 1073741824 --cleanup-policy compact,delete"
    )]
    Create(CreateArgs),
    /// List the topics, one name per line
    #[command(after_help = "Example:\n  pagelog topics list --json")]
    List(ListArgs),
    /// Show a topic's settings, its partitions and each consumer group's committed offsets and lag
    #[command(after_help = "Example:\n  pagelog topics describe --topic orders --json")]
    Describe(describe::Args),
    /// Change a topic's retention, cleanup, flush and roll settings (kafka-configs --alter)
    #[command(
        after_help = "Example:\n  pagelog topics alter --topic orders --retention-ms 604800000 \
        --retention-bytes none"
    )]
    Alter(AlterArgs),
    /// Delete a topic and its data
    #[command(after_help = "Example:\n  pagelog topics delete --topic orders")]
    Delete(TopicArg),
    /// Run a compaction pass on every partition now and print its report
    #[command(after_help = "Example:\n  pagelog topics compact --topic profiles")]
    Compact(TopicArg),
    /// Apply the topic's retention rules now and print the report
    #[command(after_help = "Example:\n  pagelog topics enforce-retention --topic orders")]
    EnforceRetention(TopicArg),
    /// Discard a partition's records at and above an offset; appends continue there
    #[command(
        after_help = "Example:\n  pagelog topics truncate --topic orders --partition 0 --offset 295"
    )]
    Truncate(maintenance::TruncateArgs),
}

/// Just the topic.
#[derive(Debug, ClapArgs)]
pub struct TopicArg {
    /// Topic name
    #[arg(long, short = 't', value_name = "NAME")]
    pub topic: String,
}

/// `topics list`.
#[derive(Debug, ClapArgs)]
pub struct ListArgs {
    /// Print a JSON array of names
    #[arg(long)]
    json: bool,
}

/// `topics create`.
#[derive(Debug, ClapArgs)]
pub struct CreateArgs {
    /// Topic name: 1-249 characters from [A-Za-z0-9._-]
    #[arg(long, short = 't', value_name = "NAME")]
    topic: String,
    /// Partition count
    #[arg(long, default_value_t = 1, value_name = "N")]
    partitions: u32,
    /// Roll segments at this size (at least 4096) [default: 1073741824]
    #[arg(long, value_name = "BYTES")]
    segment_bytes: Option<u64>,
    /// Bytes between offset-index entries (0 indexes every batch) [default: 1024]
    #[arg(long, value_name = "BYTES")]
    index_interval_bytes: Option<u32>,
    /// never | every-append | interval-ms:N | every-records:N [default: interval-ms:1000]
    #[arg(long, value_name = "POLICY", value_parser = parse_flush)]
    flush: Option<FlushPolicy>,
    /// Delete old segments while a partition is larger than this [default: none]
    #[arg(long, value_name = "BYTES")]
    retention_bytes: Option<u64>,
    /// Delete segments whose newest record is older than this [default: none]
    #[arg(long, value_name = "MS")]
    retention_ms: Option<u64>,
    /// Keep records a consumer group has not committed yet...
    #[arg(long)]
    retain_until_consumed: bool,
    /// ...unless a partition is larger than this [default: none]
    #[arg(long, value_name = "BYTES")]
    retention_hard_bytes: Option<u64>,
    /// delete | compact | compact,delete [default: delete]
    #[arg(long, value_name = "POLICY", value_parser = parse_cleanup_policy)]
    cleanup_policy: Option<CleanupPolicy>,
    /// How long compaction keeps tombstones [default: 86400000]
    #[arg(long, value_name = "MS")]
    delete_retention_ms: Option<u64>,
    /// Succeed if the topic already exists
    #[arg(long)]
    if_not_exists: bool,
}

/// An optional limit on the command line: a number, or `none` to remove it.
#[derive(Debug, Clone, Copy)]
struct Limit(Option<u64>);

fn parse_limit(s: &str) -> Result<Limit, String> {
    if s == "none" {
        return Ok(Limit(None));
    }
    s.parse()
        .map(|n| Limit(Some(n)))
        .map_err(|_| format!("expected a number or none, got {s:?}"))
}

/// `topics alter`.
#[derive(Debug, ClapArgs)]
pub struct AlterArgs {
    /// Topic name
    #[arg(long, short = 't', value_name = "NAME")]
    topic: String,
    /// never | every-append | interval-ms:N | every-records:N
    #[arg(long, value_name = "POLICY", value_parser = parse_flush)]
    flush: Option<FlushPolicy>,
    /// Roll a segment once its records span this long
    #[arg(long, value_name = "MS")]
    segment_ms: Option<u64>,
    /// Bytes between offset-index entries, for what is written from now on
    #[arg(long, value_name = "BYTES")]
    index_interval_bytes: Option<u32>,
    /// Size limit per partition, or none
    #[arg(long, value_name = "BYTES|none", value_parser = parse_limit)]
    retention_bytes: Option<Limit>,
    /// Age limit, or none
    #[arg(long, value_name = "MS|none", value_parser = parse_limit)]
    retention_ms: Option<Limit>,
    /// Keep records a consumer group has not committed yet
    #[arg(long, value_name = "BOOL")]
    retain_until_consumed: Option<bool>,
    /// Hard size cap per partition, or none
    #[arg(long, value_name = "BYTES|none", value_parser = parse_limit)]
    retention_hard_bytes: Option<Limit>,
    /// delete | compact | compact,delete
    #[arg(long, value_name = "POLICY", value_parser = parse_cleanup_policy)]
    cleanup_policy: Option<CleanupPolicy>,
    /// How long compaction keeps tombstones
    #[arg(long, value_name = "MS")]
    delete_retention_ms: Option<u64>,
}

pub fn run(dir: &Path, command: Command) -> Result<()> {
    match command {
        Command::Create(a) => create(dir, &a),
        Command::List(a) => list(dir, &a),
        Command::Describe(a) => describe::run(dir, &a),
        Command::Alter(a) => alter(dir, &a),
        Command::Delete(a) => delete(dir, &a),
        Command::Compact(a) => maintenance::compact(dir, &a),
        Command::EnforceRetention(a) => maintenance::enforce_retention(dir, &a),
        Command::Truncate(a) => maintenance::truncate(dir, &a),
    }
}

fn create(dir: &Path, a: &CreateArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut config = TopicConfig::default().partitions(a.partitions);
    if let Some(b) = a.segment_bytes {
        config = config.segment_bytes(b);
    }
    if let Some(b) = a.index_interval_bytes {
        config = config.index_interval_bytes(b);
    }
    if let Some(f) = a.flush {
        config = config.flush(f);
    }
    config = config
        .retention_bytes(a.retention_bytes)
        .retention_ms(a.retention_ms)
        .retain_until_consumed(a.retain_until_consumed)
        .retention_hard_bytes(a.retention_hard_bytes);
    if let Some(p) = a.cleanup_policy {
        config = config.cleanup_policy(p);
    }
    if let Some(ms) = a.delete_retention_ms {
        config = config.delete_retention_ms(ms);
    }
    // Check before creating the directory, so a typo leaves nothing behind.
    config.validate()?;
    pagelog::validate_topic_name(&a.topic)?;
    let store = Store::open(dir)?;
    match store.create_topic(&a.topic, config) {
        Ok(_) => writeln!(out, "Created topic {}.", a.topic)?,
        Err(Error::TopicExists(_)) if a.if_not_exists => {}
        Err(e) => return Err(e.into()),
    }
    out.flush()?;
    util::close(store)
}

fn list(dir: &Path, a: &ListArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let store = open_reading(dir)?;
    let names = store.topics()?;
    if a.json {
        util::print_json(&mut out, &serde_json::json!(names))?;
    } else {
        for name in names {
            writeln!(out, "{name}")?;
        }
    }
    out.flush()?;
    util::close(store)
}

fn alter(dir: &Path, a: &AlterArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let store = open_existing(dir)?;
    let topic = store.alter_topic(&a.topic, |mut c| {
        if let Some(f) = a.flush {
            c = c.flush(f);
        }
        if let Some(ms) = a.segment_ms {
            c = c.segment_ms(ms);
        }
        if let Some(b) = a.index_interval_bytes {
            c = c.index_interval_bytes(b);
        }
        if let Some(Limit(v)) = a.retention_bytes {
            c = c.retention_bytes(v);
        }
        if let Some(Limit(v)) = a.retention_ms {
            c = c.retention_ms(v);
        }
        if let Some(v) = a.retain_until_consumed {
            c = c.retain_until_consumed(v);
        }
        if let Some(Limit(v)) = a.retention_hard_bytes {
            c = c.retention_hard_bytes(v);
        }
        if let Some(p) = a.cleanup_policy {
            c = c.cleanup_policy(p);
        }
        if let Some(ms) = a.delete_retention_ms {
            c = c.delete_retention_ms(ms);
        }
        c
    })?;
    writeln!(out, "Altered topic {}.", a.topic)?;
    describe::settings(&mut out, &topic)?;
    drop(topic);
    out.flush()?;
    util::close(store)
}

fn delete(dir: &Path, a: &TopicArg) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let store = open_existing(dir)?;
    store.delete_topic(&a.topic)?;
    writeln!(out, "Deleted topic {}.", a.topic)?;
    out.flush()?;
    util::close(store)
}
