//! `pagelog mirror`: ships a topic to a Kafka-protocol broker (Kafka, Redpanda, tansu, ...)
//! like a one-topic `MirrorMaker`; built with the `mirror` feature.
//!
//! It reads the topic as consumer group `G` and produces every record (key, value, headers,
//! timestamp) to the same-numbered partition of the target topic (created with the source's
//! partition count if missing). After the broker acknowledged a batch (`acks=all`) the group
//! commits past it, so the next run continues where this one stopped (at-least-once;
//! `--source-offset-header` lets consumers of the target drop duplicates). Broker errors are
//! retried with a growing pause (100 ms doubling up to 10 s), forever unless
//! `--max-retries`. stdout gets one line per acknowledged batch, flushed at once:
//! `PARTITION FIRST-OFFSET LAST-OFFSET RECORDS TARGET-OFFSET` (TAB-separated). The store is
//! opened read-only: the mirror runs beside the writer.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use pagelog::StartFrom;
use pagelog::mirror::{Mirror, MirrorConfig, MirrorEvent};

use crate::util::{self, Result, open_reading};

pub const EXAMPLE: &str = "\
Example:
  pagelog mirror --topic orders --group to-kafka --brokers localhost:9092 --timeout-ms 5000";

/// `mirror`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Topic to mirror
    #[arg(long, short = 't', value_name = "NAME")]
    topic: String,
    /// Consumer group: resume after its committed offsets
    #[arg(long, short = 'g', value_name = "G", value_parser = util::parse_group)]
    group: String,
    /// Bootstrap brokers, comma-separated HOST:PORT
    #[arg(long, value_name = "LIST", value_delimiter = ',', required = true)]
    brokers: Vec<String>,
    /// Topic on the broker [default: NAME]; partition p goes to p
    #[arg(long, value_name = "NAME")]
    target_topic: Option<String>,
    /// Where G never committed, start at the end [default: the first stored record]
    #[arg(long)]
    from_latest: bool,
    /// Fail instead of creating a missing target topic
    #[arg(long)]
    no_create_target: bool,
    /// Most records per produce request [default: 500]
    #[arg(long, value_name = "N")]
    batch_max_records: Option<usize>,
    /// Most key+value+header bytes per produce request [default: 524288]
    #[arg(long, value_name = "N")]
    batch_max_bytes: Option<usize>,
    /// Add header KEY = "<partition>:<offset>" to every record
    #[arg(long, value_name = "KEY")]
    source_offset_header: Option<String>,
    /// Bound on one broker exchange [default: 30000]
    #[arg(long, value_name = "MS")]
    request_timeout_ms: Option<u64>,
    /// Exit after this long without a new record [default: follow forever]
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// Exit after shipping at least N records
    #[arg(long, value_name = "N")]
    max_records: Option<u64>,
    /// Exit with an error after N consecutive broker errors [default: retry forever]
    #[arg(long, value_name = "N")]
    max_retries: Option<u64>,
    /// Do not print a line per batch
    #[arg(long)]
    quiet: bool,
}

pub fn run(dir: &Path, a: &Args) -> Result<()> {
    let mut config = MirrorConfig::new(a.brokers.clone()).create_target(!a.no_create_target);
    if let Some(t) = &a.target_topic {
        config = config.target_topic(t.clone());
    }
    if a.from_latest {
        config = config.start(StartFrom::Latest);
    }
    if let Some(n) = a.batch_max_records {
        config = config.batch_max_records(n);
    }
    if let Some(n) = a.batch_max_bytes {
        config = config.batch_max_bytes(n);
    }
    if let Some(h) = &a.source_offset_header {
        config = config.source_offset_header(h.clone());
    }
    if let Some(ms) = a.request_timeout_ms {
        config = config.request_timeout(Duration::from_millis(ms));
    }
    config.validate()?;

    let store = open_reading(dir)?;
    let topic = store.topic(&a.topic)?;
    let result = mirror(&topic, config, a);
    drop(topic);
    let closed = util::close(store);
    let (records, batches, errors) = result?;
    closed?;
    eprintln!(
        "Mirrored a total of {records} records in {batches} batches ({errors} broker errors)"
    );
    Ok(())
}

/// Runs the mirror until a stop condition; returns records, batches and broker errors.
fn mirror(topic: &pagelog::Topic, config: MirrorConfig, a: &Args) -> Result<(u64, u64, u64)> {
    let brokers = a.brokers.join(",");
    let mut m = Mirror::new(topic, &a.group, config)?;
    eprintln!(
        "Mirroring topic {} ({} partitions) as group {} to topic {} on {brokers}; lag {}",
        topic.name(),
        topic.partition_count(),
        m.group(),
        m.target_topic(),
        m.lag()?.iter().sum::<u64>()
    );
    let stop = AtomicBool::new(false);
    let mut out = std::io::stdout().lock();
    let mut last_new = Instant::now();
    let mut failures = 0u64;
    let mut shipped = 0u64;
    let mut trouble: Option<util::Error> = None;
    let timeout = a.timeout_ms.map(Duration::from_millis);
    let totals = m.run_until(&stop, |event| match event {
        MirrorEvent::Shipped(report) => {
            failures = 0;
            shipped += report.records;
            if report.records > 0 {
                last_new = Instant::now();
            }
            if !a.quiet {
                for b in &report.batches {
                    let line = writeln!(
                        out,
                        "{}\t{}\t{}\t{}\t{}",
                        b.partition, b.first_offset, b.last_offset, b.records, b.target_offset
                    )
                    .and_then(|()| out.flush());
                    if let Err(e) = line {
                        trouble.get_or_insert(e.into());
                        stop.store(true, Ordering::Release);
                    }
                }
            }
            let idle = timeout.is_some_and(|t| last_new.elapsed() >= t);
            let enough = a.max_records.is_some_and(|n| shipped >= n);
            if idle || enough {
                stop.store(true, Ordering::Release);
            }
        }
        MirrorEvent::Retrying { error, after } => {
            failures += 1;
            eprintln!(
                "{}; retrying in {after:?}",
                util::one_line(&error.to_string())
            );
            if a.max_retries.is_some_and(|n| failures >= n) {
                trouble.get_or_insert(format!("giving up after {failures} broker errors").into());
                stop.store(true, Ordering::Release);
            }
        }
    })?;
    if let Some(e) = trouble {
        return Err(e);
    }
    Ok((totals.records, totals.batches, totals.broker_errors))
}
