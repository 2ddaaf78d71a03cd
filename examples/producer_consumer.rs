//! The main example: producer threads and a consumer group sharing one topic in one process.
//!
//! ```text
//! cargo run --release --example producer_consumer
//! cargo run --release --example producer_consumer -- [--dir DIR] [--records N]
//!     [--producers P] [--batch B] [--group G]
//! ```
//!
//! * Opens the store in `DIR` (default `./pagelog-data`) and the topic `events`, creating
//!   it with 4 partitions and the default configuration (flush policy: sync once a second
//!   from the background flusher) if it does not exist yet.
//! * `P` producer threads (default 2) append `N` records in total (default 1 000 000),
//!   about 100 bytes each, keyed `user-0` … `user-999` and so spread over the partitions by
//!   Kafka's key hash. Each thread collects `B` records per partition (default 100) and
//!   appends them as one batch, as a Kafka producer does.
//! * At the same time the main thread consumes as a member of consumer group `G` (default
//!   `events-readers`) with `Topic::consumer`: it resumes after the group's committed
//!   offsets, checks that every partition's offsets arrive contiguous and in order, and
//!   auto-commits once a second (plus a final commit).
//! * Once a second it prints the records/s and MB/s produced and consumed in that second
//!   and the group's lag (`Topic::group_lag`: records stored but not yet committed). At the
//!   end it prints a summary and closes the store cleanly.
//! * It finishes by itself: the producers stop after `N` records, the consumer once it has
//!   consumed everything produced in this run. Run it again on the same directory and the
//!   producers append after the previous run's records while the group resumes exactly
//!   after the last record it committed, so it again consumes `N` records.
//!
//! Exit code 0 on success; otherwise one line `error: ...` on stderr and exit code 1.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{Arg, Args, Result, approx};
use pagelog::{ConsumerConfig, Error, NewRecord, Store, Topic, TopicConfig};

const USAGE: &str = "\
usage: producer_consumer [--dir DIR] [--records N] [--producers P] [--batch B] [--group G]

Producer threads append N records to the 4-partition topic `events` while a consumer
group tails it, printing throughput and lag once a second, then a summary.

  --dir DIR        store directory (default ./pagelog-data)
  --records N      records to produce in this run (default 1000000)
  --producers P    producer threads (default 2)
  --batch B        records per append, per partition (default 100)
  --group G        consumer group (default events-readers)
  -h, --help       print this help
";

const TOPIC: &str = "events";
const PARTITIONS: u32 = 4;

struct Opts {
    dir: PathBuf,
    records: u64,
    producers: u64,
    batch: usize,
    group: String,
}

/// Progress shared by the producer threads.
#[derive(Default)]
struct Produced {
    records: AtomicU64,
    bytes: AtomicU64,
}

fn main() -> ExitCode {
    common::main_with(run)
}

fn parse_args() -> Result<Option<Opts>> {
    let mut o = Opts {
        dir: "pagelog-data".into(),
        records: 1_000_000,
        producers: 2,
        batch: 100,
        group: "events-readers".into(),
    };
    let mut args = Args::from_env()?;
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long(ref f) if f == "help" => return Ok(None),
            Arg::Short('h') => return Ok(None),
            Arg::Long(ref f) if f == "dir" => o.dir = args.value()?.into(),
            Arg::Long(ref f) if f == "records" => o.records = args.parse()?,
            Arg::Long(ref f) if f == "producers" => o.producers = args.parse()?,
            Arg::Long(ref f) if f == "batch" => o.batch = args.parse()?,
            Arg::Long(ref f) if f == "group" => o.group = args.value()?,
            other => return Err(Args::unexpected(&other)),
        }
    }
    if o.producers == 0 || o.batch == 0 {
        return Err("--producers and --batch must be at least 1".into());
    }
    Ok(Some(o))
}

fn run() -> Result<()> {
    let Some(o) = parse_args()? else {
        return common::print_usage(USAGE);
    };
    let store = Store::open(&o.dir)?;
    let topic = match store.topic(TOPIC) {
        Ok(t) => t,
        Err(Error::TopicNotFound(_)) => {
            store.create_topic(TOPIC, TopicConfig::default().partitions(PARTITIONS))?
        }
        Err(e) => return Err(e.into()),
    };
    let result = produce_and_consume(&topic, &o);
    drop(topic);
    let closed = store.close();
    result?;
    closed?;
    Ok(())
}

fn produce_and_consume(topic: &Topic, o: &Opts) -> Result<()> {
    print_start(topic, o)?;
    println!(
        "producing {} records with {} threads while consuming...",
        o.records, o.producers
    );

    // Join the group before producing, so the consumer owns every partition from the start.
    let config = ConsumerConfig::default().auto_commit(Some(Duration::from_secs(1)));
    let mut consumer = topic.consumer(&o.group, config)?;
    let mut expected: Vec<Option<u64>> = (0..topic.partition_count())
        .map(|p| consumer.position(p))
        .collect();

    let produced = Arc::new(Produced::default());
    let t0 = Instant::now();
    let mut producers = spawn_producers(topic, o, &produced)?;

    let (mut read_records, mut read_bytes) = (0u64, 0u64);
    let mut produce_secs = None;
    let mut ends: Option<Vec<u64>> = None;
    let mut last_report = (Instant::now(), 0u64, 0u64, 0u64, 0u64);
    loop {
        if ends.is_none() && producers.iter().all(std::thread::JoinHandle::is_finished) {
            for h in producers.drain(..) {
                h.join()
                    .map_err(|_| "a producer thread panicked".to_owned())??;
            }
            produce_secs = Some(t0.elapsed().as_secs_f64());
            // Nothing else appends now: this run is done once the group reaches these.
            ends = Some(
                topic
                    .partitions()
                    .iter()
                    .map(pagelog::Partition::next_offset)
                    .collect(),
            );
        }
        if let Some(ends) = &ends
            && ends
                .iter()
                .zip(0u32..)
                .all(|(&end, p)| consumer.position(p).is_some_and(|pos| pos >= end))
        {
            break;
        }
        for r in consumer.poll(Duration::from_millis(100))? {
            let slot = expected
                .get_mut(r.partition as usize)
                .ok_or("record from an unknown partition")?;
            if slot.is_some_and(|e| e != r.offset()) {
                return Err(format!(
                    "partition {}: expected offset {:?}, got {}",
                    r.partition,
                    slot,
                    r.offset()
                )
                .into());
            }
            *slot = Some(r.offset() + 1);
            read_records += 1;
            read_bytes += r.value().len() as u64;
        }
        let (at, recs0, bytes0, crecs0, cbytes0) = last_report;
        let dt = at.elapsed().as_secs_f64();
        if dt >= 1.0 {
            let recs = produced.records.load(Ordering::Relaxed);
            let bytes = produced.bytes.load(Ordering::Relaxed);
            let lag: u64 = topic.group_lag(&o.group)?.iter().sum();
            println!(
                "[{:5.1} s] produced {recs} ({:.0} records/s, {:.1} MB/s)  consumed {read_records} \
                 ({:.0} records/s, {:.1} MB/s)  lag {lag}",
                t0.elapsed().as_secs_f64(),
                approx(recs - recs0) / dt,
                approx(bytes - bytes0) / dt / 1e6,
                approx(read_records - crecs0) / dt,
                approx(read_bytes - cbytes0) / dt / 1e6,
            );
            last_report = (Instant::now(), recs, bytes, read_records, read_bytes);
        }
    }
    consumer.commit()?;
    drop(consumer);
    let total = t0.elapsed().as_secs_f64();
    let produce_secs = produce_secs.unwrap_or(total).max(1e-9);
    let (recs, bytes) = (
        produced.records.load(Ordering::Relaxed),
        produced.bytes.load(Ordering::Relaxed),
    );
    println!(
        "produced {recs} records in {produce_secs:.2} s: {:.0} records/s, {:.1} MB/s",
        approx(recs) / produce_secs,
        approx(bytes) / produce_secs / 1e6
    );
    println!(
        "consumed {read_records} records in {total:.2} s: {:.0} records/s, {:.1} MB/s \
         (offsets checked: contiguous, in order, no duplicates)",
        approx(read_records) / total.max(1e-9),
        approx(read_bytes) / total.max(1e-9) / 1e6
    );
    print_partitions(topic, o)
}

/// Starts `o.producers` threads that produce `o.records` records between them.
fn spawn_producers(
    topic: &Topic,
    o: &Opts,
    produced: &Arc<Produced>,
) -> Result<Vec<JoinHandle<Result<()>>>> {
    (0..o.producers)
        .map(|id| {
            let (topic, produced) = (topic.clone(), Arc::clone(produced));
            // Thread `id` produces sequence numbers [first, first + count).
            let share = o.records / o.producers;
            let count = share + u64::from(id < o.records % o.producers);
            let first = id * share + id.min(o.records % o.producers);
            let batch = o.batch;
            std::thread::Builder::new()
                .name(format!("producer-{id}"))
                .spawn(move || produce(&topic, id, first, count, batch, &produced))
        })
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

/// The topic's state and where the group resumes, before the run.
fn print_start(topic: &Topic, o: &Opts) -> Result<()> {
    let committed = topic.committed_offsets(&o.group)?;
    println!(
        "{}: topic {TOPIC:?} ({} partitions, next offsets {:?}); group {:?} resumes at {}",
        o.dir.display(),
        topic.partition_count(),
        topic
            .partitions()
            .iter()
            .map(pagelog::Partition::next_offset)
            .collect::<Vec<_>>(),
        o.group,
        if committed.iter().all(Option::is_none) {
            "the start (nothing committed yet)".to_owned()
        } else {
            let shown: Vec<String> = committed
                .iter()
                .map(|c| c.map_or_else(|| "-".to_owned(), |c| c.to_string()))
                .collect();
            format!("offsets [{}]", shown.join(", "))
        }
    );
    Ok(())
}

/// Each partition's offsets, size, committed offset and lag, after the run.
fn print_partitions(topic: &Topic, o: &Opts) -> Result<()> {
    let committed = topic.committed_offsets(&o.group)?;
    let lag = topic.group_lag(&o.group)?;
    for ((p, c), l) in topic.partitions().iter().zip(committed).zip(lag) {
        let info = p.info();
        println!(
            "  partition {}: offsets {}..{}, {} segment(s), {} bytes; committed {}, lag {l}",
            info.id,
            info.start_offset,
            info.next_offset,
            info.segments,
            info.bytes,
            c.map_or_else(|| "-".to_owned(), |c| c.to_string())
        );
    }
    Ok(())
}

/// Appends `count` records numbered from `first`, `batch` records per append per partition.
fn produce(
    topic: &Topic,
    id: u64,
    first: u64,
    count: u64,
    batch: usize,
    produced: &Produced,
) -> Result<()> {
    let mut pending: Vec<Vec<(String, String)>> =
        vec![Vec::new(); topic.partition_count() as usize];
    let send = |p: u32, buf: &mut Vec<(String, String)>| -> Result<()> {
        let records: Vec<NewRecord<'_>> = buf
            .iter()
            .map(|(k, v)| NewRecord::new(v.as_bytes()).key(k.as_bytes()))
            .collect();
        topic.append_batch_to(p, &records)?;
        let bytes: usize = buf.iter().map(|(_, v)| v.len()).sum();
        produced
            .records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        produced.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        buf.clear();
        Ok(())
    };
    for seq in first..first + count {
        let key = format!("user-{}", seq % 1000);
        let value = format!("{{\"producer\":{id},\"seq\":{seq},\"pad\":\"{seq:064}\"}}");
        let p = topic.partition_for_key(key.as_bytes());
        let buf = pending
            .get_mut(p as usize)
            .ok_or("partition out of range")?;
        buf.push((key, value));
        if buf.len() >= batch {
            send(p, buf)?;
        }
    }
    for (buf, p) in pending.iter_mut().zip(0u32..) {
        if !buf.is_empty() {
            send(p, buf)?;
        }
    }
    Ok(())
}
