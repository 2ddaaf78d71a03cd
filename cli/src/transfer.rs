//! `pagelog export` and `pagelog import`: a topic's partitions as Kafka partition
//! directories (`<20-digit base>.log` segments of `RecordBatch` v2 with Kafka's `.index` and
//! `.timeindex`), and back; docs/KAFKA.md describes both. Progress goes to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args as ClapArgs;
use pagelog::kafka;

use crate::util::{self, MIB, Result, approx, count, open_for_writing, open_reading};

pub const EXPORT_EXAMPLE: &str = "\
Example:
  pagelog export --topic orders --log-dir /tmp/kafka-logs --partition 0 --from 1000";

pub const IMPORT_EXAMPLE: &str = "\
Example:
  pagelog import --topic orders --create --partition-dir /var/lib/kafka/data/orders-0";

/// `export`.
#[derive(Debug, ClapArgs)]
pub struct ExportArgs {
    /// Topic to export
    #[arg(long, short = 't', value_name = "NAME")]
    topic: String,
    /// Writes KAFKA_LOG_DIR/NAME-P/ for each partition (refuses one that exists)
    #[arg(long, value_name = "KAFKA_LOG_DIR")]
    log_dir: PathBuf,
    /// Only this partition [default: all]
    #[arg(long, short = 'p', value_name = "P")]
    partition: Option<u32>,
    /// Only offsets from O [default: the start]
    #[arg(long, value_name = "O")]
    from: Option<u64>,
    /// Only offsets below O [default: the end]
    #[arg(long, value_name = "O")]
    to: Option<u64>,
    /// Kafka's segment.bytes for the written segments [default: 1073741824]
    #[arg(long, value_name = "BYTES")]
    segment_bytes: Option<u32>,
    /// Kafka's index.interval.bytes [default: 4096]
    #[arg(long, value_name = "BYTES")]
    index_interval_bytes: Option<u32>,
    /// Progress on stderr every BYTES of log written [default: 67108864]
    #[arg(long, value_name = "BYTES")]
    progress_bytes: Option<u64>,
}

/// `import`.
#[derive(Debug, ClapArgs)]
pub struct ImportArgs {
    /// Topic to import into
    #[arg(long, short = 't', value_name = "NAME")]
    topic: String,
    /// The Kafka partition directory to read (e.g. .../orders-0)
    #[arg(long, value_name = "DIR")]
    partition_dir: PathBuf,
    /// Partition to import into
    #[arg(long, short = 'p', value_name = "P", default_value_t = 0)]
    partition: u32,
    /// Create the topic if it does not exist
    #[arg(long)]
    create: bool,
    /// Partition count when --create creates the topic
    #[arg(long, value_name = "N", requires = "create")]
    partitions: Option<u32>,
    /// Leave batches that cannot be decoded (snappy, lz4, zstd, v0/v1) as gaps
    #[arg(long)]
    skip_unsupported: bool,
    /// Progress on stderr every BYTES of log read [default: 67108864]
    #[arg(long, value_name = "BYTES")]
    progress_bytes: Option<u64>,
}

pub fn export(dir: &Path, a: &ExportArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut options = kafka::ExportOptions::default().from(a.from).to(a.to);
    if let Some(b) = a.segment_bytes {
        options = options.segment_bytes(b);
    }
    if let Some(b) = a.index_interval_bytes {
        options = options.index_interval_bytes(b);
    }
    if let Some(b) = a.progress_bytes {
        options = options.progress_interval_bytes(b.max(1));
    }
    let store = open_reading(dir)?;
    let topic = store.topic(&a.topic)?;
    let partitions: Vec<_> = match a.partition {
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
        let r = kafka::export_with_progress(p, &a.log_dir, &options, &mut progress)?;
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
    util::close(store)
}

pub fn import(dir: &Path, a: &ImportArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if !a.partition_dir.is_dir() {
        return Err(format!(
            "Kafka partition directory {} does not exist",
            a.partition_dir.display()
        )
        .into());
    }
    let (store, topic) = open_for_writing(dir, &a.topic, a.create, a.partitions)?;
    let p = topic.partition(a.partition)?.clone();
    let mut options = kafka::ImportOptions::default().skip_unsupported(a.skip_unsupported);
    if let Some(b) = a.progress_bytes {
        options = options.progress_interval_bytes(b.max(1));
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
    let r = kafka::import_with_progress(&a.partition_dir, &p, &options, &mut progress)?;
    writeln!(
        out,
        "Imported {} into partition {} of topic {}: offsets {}..{}, {} from {}.",
        count(r.records, "record", ""),
        a.partition,
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
    util::close(store)
}
