//! `mirror`: ships a pagelog topic to a Kafka-protocol broker (Kafka, Redpanda, tansu, ...),
//! like a one-topic `MirrorMaker`. Needs the `mirror` feature.
//!
//! ```text
//! cargo run --features mirror --example mirror -- --dir DIR --topic NAME --group G
//!     --brokers HOST:PORT[,HOST:PORT...] [--target-topic NAME] [--from-latest]
//!     [--no-create-target] [--batch-max-records N] [--batch-max-bytes N]
//!     [--source-offset-header KEY] [--request-timeout-ms N]
//!     [--timeout-ms N] [--max-records N] [--max-retries N] [--quiet]
//! ```
//!
//! **What it does.** Reads topic `NAME` of the store in `DIR` as consumer group `G` and
//! produces every record (key, value, headers, timestamp) to the same-numbered partition of
//! the target topic (default: the same name) on the broker, creating the target topic with
//! the source's partition count if it does not exist. After the broker acknowledged a batch
//! (`acks=all`), the group's offset is committed past it; so the next run with the same
//! group continues where this one stopped. Delivery is at-least-once: if the tool is killed
//! (or crashes) between an acknowledgement and its commit, the next run produces that batch
//! again. `--source-offset-header KEY` adds a header `KEY: <partition>:<offset>` to every
//! record so that consumers of the target can drop such duplicates.
//!
//! **Where it starts.** At the group's committed offsets; on partitions the group never
//! committed, at the first stored record (or at the end with `--from-latest`).
//!
//! **Broker errors.** An unreachable or failing broker is retried with a growing pause
//! (100 ms doubling up to 10 s), forever unless `--max-retries N` ends the run (exit 1)
//! after `N` consecutive failures. Nothing unacknowledged is committed meanwhile.
//!
//! **When it stops.** It follows the topic forever unless `--timeout-ms N` makes it exit
//! after `N` ms without a new record, or `--max-records N` after shipping at least `N`
//! records (whole batches: it may ship a few more). The store directory is locked while it
//! runs, so with `--timeout-ms` it is used as "ship what is there, then exit".
//!
//! **Output.** On stdout, one line per acknowledged batch:
//! `PARTITION FIRST-OFFSET LAST-OFFSET RECORDS TARGET-OFFSET` (TAB-separated; the target
//! offset is the broker's offset of the first record), unless `--quiet`. On stderr a start
//! line, one line per broker error, and at the end
//! `Mirrored a total of N records in B batches (E broker errors)`. Exit code 0 on success;
//! otherwise one line `error: ...` on stderr and exit code 1.

#[path = "common/mod.rs"]
mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Arg, Args, Result, open_existing, required};
use pagelog::StartFrom;
use pagelog::mirror::{Mirror, MirrorConfig, MirrorEvent};

const USAGE: &str = "\
usage: mirror --dir DIR --topic NAME --group G --brokers HOST:PORT[,HOST:PORT...]
           [--target-topic NAME] [--from-latest] [--no-create-target]
           [--batch-max-records N] [--batch-max-bytes N] [--source-offset-header KEY]
           [--request-timeout-ms N] [--timeout-ms N] [--max-records N] [--max-retries N]
           [--quiet]

Ships a pagelog topic to a Kafka-protocol broker as consumer group G, committing each
batch only after the broker acknowledged it (at-least-once).

  --dir DIR                  store directory
  --topic NAME               topic to mirror
  --group G                  consumer group: resume after its committed offsets
  --brokers LIST             bootstrap brokers, comma-separated HOST:PORT
  --target-topic NAME        topic on the broker (default: NAME); partition p goes to p;
                             created with NAME's partition count if missing
  --from-latest              where G never committed, start at the end (default: the
                             first stored record)
  --no-create-target         fail instead of creating a missing target topic
  --batch-max-records N      most records per produce request (default 500)
  --batch-max-bytes N        most key+value+header bytes per produce request (default 524288)
  --source-offset-header KEY add header KEY = \"<partition>:<offset>\" to every record
  --request-timeout-ms N     bound on one broker exchange (default 30000)
  --timeout-ms N             exit after N ms without a new record (default: follow forever)
  --max-records N            exit after shipping at least N records
  --max-retries N            exit with an error after N consecutive broker errors
                             (default: retry forever)
  --quiet                    do not print a line per batch
  -h, --help                 print this help

Output (stdout), one line per acknowledged batch, TAB-separated:
PARTITION FIRST-OFFSET LAST-OFFSET RECORDS TARGET-OFFSET
";

#[derive(Debug, Default)]
struct Opts {
    dir: Option<PathBuf>,
    topic: Option<String>,
    group: Option<String>,
    brokers: Option<Vec<String>>,
    target_topic: Option<String>,
    from_latest: bool,
    no_create_target: bool,
    batch_max_records: Option<usize>,
    batch_max_bytes: Option<usize>,
    source_offset_header: Option<String>,
    request_timeout: Option<Duration>,
    timeout: Option<Duration>,
    max_records: Option<u64>,
    max_retries: Option<u64>,
    quiet: bool,
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
            Arg::Long(ref f) if f == "group" => o.group = Some(args.value()?),
            Arg::Long(ref f) if f == "brokers" => {
                o.brokers = Some(args.value()?.split(',').map(str::to_owned).collect());
            }
            Arg::Long(ref f) if f == "target-topic" => o.target_topic = Some(args.value()?),
            Arg::Long(ref f) if f == "from-latest" => o.from_latest = true,
            Arg::Long(ref f) if f == "no-create-target" => o.no_create_target = true,
            Arg::Long(ref f) if f == "batch-max-records" => {
                o.batch_max_records = Some(args.parse()?);
            }
            Arg::Long(ref f) if f == "batch-max-bytes" => o.batch_max_bytes = Some(args.parse()?),
            Arg::Long(ref f) if f == "source-offset-header" => {
                o.source_offset_header = Some(args.value()?);
            }
            Arg::Long(ref f) if f == "request-timeout-ms" => {
                o.request_timeout = Some(Duration::from_millis(args.parse()?));
            }
            Arg::Long(ref f) if f == "timeout-ms" => {
                o.timeout = Some(Duration::from_millis(args.parse()?));
            }
            Arg::Long(ref f) if f == "max-records" => o.max_records = Some(args.parse()?),
            Arg::Long(ref f) if f == "max-retries" => o.max_retries = Some(args.parse()?),
            Arg::Long(ref f) if f == "quiet" => o.quiet = true,
            other => return Err(Args::unexpected(&other)),
        }
    }
    Ok(Some(o))
}

fn run() -> Result<()> {
    let Some(mut o) = parse_args()? else {
        return common::print_usage(USAGE);
    };
    let dir = required(o.dir.take(), "--dir")?;
    let name = required(o.topic.take(), "--topic")?;
    let group = required(o.group.take(), "--group")?;
    let brokers = required(o.brokers.take(), "--brokers")?;

    let mut config = MirrorConfig::new(brokers);
    config.target_topic = o.target_topic.take();
    config.create_target = !o.no_create_target;
    if o.from_latest {
        config.start = StartFrom::Latest;
    }
    if let Some(n) = o.batch_max_records {
        config.batch_max_records = n;
    }
    if let Some(n) = o.batch_max_bytes {
        config.batch_max_bytes = n;
    }
    config.source_offset_header = o.source_offset_header.take();
    if let Some(t) = o.request_timeout {
        config.request_timeout = t;
    }
    config.validate()?;

    let store = open_existing(&dir)?;
    let topic = store.topic(&name)?;
    let result = mirror(&topic, &group, config, &o);
    drop(topic);
    let closed = store.close();
    let (records, batches, errors) = result?;
    closed?;
    eprintln!(
        "Mirrored a total of {records} records in {batches} batches ({errors} broker errors)"
    );
    Ok(())
}

/// Runs the mirror until a stop condition; returns records, batches and broker errors.
fn mirror(
    topic: &pagelog::Topic,
    group: &str,
    config: MirrorConfig,
    o: &Opts,
) -> Result<(u64, u64, u64)> {
    let brokers = config.brokers.join(",");
    let mut m = Mirror::new(topic, group, config)?;
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
    let mut trouble: Option<common::Error> = None;
    let totals = m.run_until(&stop, |event| match event {
        MirrorEvent::Shipped(report) => {
            failures = 0;
            shipped += report.records;
            if report.records > 0 {
                last_new = Instant::now();
            }
            if !o.quiet {
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
            let idle = o.timeout.is_some_and(|t| last_new.elapsed() >= t);
            let enough = o.max_records.is_some_and(|n| shipped >= n);
            if idle || enough {
                stop.store(true, Ordering::Release);
            }
        }
        MirrorEvent::Retrying { error, after } => {
            failures += 1;
            eprintln!(
                "{}; retrying in {after:?}",
                common::one_line(&error.to_string())
            );
            if o.max_retries.is_some_and(|n| failures >= n) {
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
