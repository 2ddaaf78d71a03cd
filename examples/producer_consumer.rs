//! The main example: producer threads and a consumer group sharing one topic in one process,
//! with live progress four times a second.
//!
//! ```text
//! cargo run --release --example producer_consumer
//! cargo run --release --example producer_consumer -- [--dir DIR] [--records N]
//!     [--producers P] [--batch B] [--group G]
//! ```
//!
//! `P` producer threads (default 2) append `N` records (default 2 000 000) of about 100
//! bytes, keyed `user-0` ... `user-999`, to the 4-partition topic `events` of the store in
//! `DIR` (default `./pagelog-data`), `B` records per partition and append (default 100).
//! Meanwhile the main thread reads them as a member of consumer group `G` (default
//! `events-readers`), checks that each partition's offsets arrive in order without gaps,
//! and auto-commits once a second. Run it again: the producers append after the previous
//! run's records and the group resumes after the last record it committed.

#![allow(
    clippy::cast_precision_loss,
    reason = "rates are printed with a few digits"
)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pagelog::{ConsumerConfig, Error, NewRecord, Partition, Store, Topic, TopicConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const TOPIC: &str = "events";

struct Opts {
    dir: PathBuf,
    records: u64,
    producers: u64,
    batch: usize,
    group: String,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` pairs; every flag is optional.
fn parse_args() -> Result<Opts> {
    let mut o = Opts {
        dir: "pagelog-data".into(),
        records: 2_000_000,
        producers: 2,
        batch: 100,
        group: "events-readers".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("invalid value {value:?} for {flag}");
        match flag.as_str() {
            "--dir" => o.dir = value.clone().into(),
            "--records" => o.records = value.parse().map_err(bad)?,
            "--producers" => o.producers = value.parse().map_err(bad)?,
            "--batch" => o.batch = value.parse().map_err(bad)?,
            "--group" => o.group.clone_from(&value),
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    if o.producers == 0 || o.batch == 0 {
        return Err("--producers and --batch must be at least 1".into());
    }
    Ok(o)
}

fn run() -> Result<()> {
    let o = parse_args()?;
    let store = Store::open(&o.dir)?;
    let topic = match store.topic(TOPIC) {
        Err(Error::TopicNotFound(_)) => {
            store.create_topic(TOPIC, TopicConfig::default().partitions(4))?
        }
        other => other?,
    };
    let dir = std::fs::canonicalize(&o.dir)?;
    println!("data in {} (topic {TOPIC})", dir.join(TOPIC).display());
    let committed = topic.committed_offsets(&o.group)?;
    if committed.iter().all(Option::is_none) {
        println!(
            "group {} starts at the beginning (nothing committed yet)",
            o.group
        );
    } else {
        let at: Vec<u64> = committed.iter().map(|c| c.unwrap_or(0)).collect();
        println!("group {} resumes at offsets {at:?}", o.group);
    }
    produce_and_consume(&topic, &o)?;
    drop(topic);
    store.close()?;
    Ok(())
}

fn produce_and_consume(topic: &Topic, o: &Opts) -> Result<()> {
    // Join the group before producing, so that this member owns every partition from the start.
    let config = ConsumerConfig::default().auto_commit(Some(Duration::from_secs(1)));
    let mut consumer = topic.consumer(&o.group, config)?;
    let partitions = topic.partition_count();
    let mut expected: Vec<Option<u64>> = (0..partitions).map(|p| consumer.position(p)).collect();
    let produced = Arc::new(AtomicU64::new(0));
    let end_offsets =
        |t: &Topic| -> u64 { t.partitions().iter().map(Partition::next_offset).sum() };
    let base = end_offsets(topic);
    let t0 = Instant::now();
    let producers: Vec<_> = (0..o.producers)
        .map(|id| {
            let (topic, produced, batch) = (topic.clone(), Arc::clone(&produced), o.batch);
            let count = o.records / o.producers + u64::from(id < o.records % o.producers);
            std::thread::spawn(move || produce(&topic, id, count, batch, &produced))
        })
        .collect();

    let mut read = 0u64;
    let mut ends: Option<Vec<u64>> = None;
    let mut last = (Instant::now(), 0u64, 0u64);
    loop {
        if ends.is_none() && producers.iter().all(std::thread::JoinHandle::is_finished) {
            // Nothing else appends now: the run is done once the group reaches these.
            ends = Some(
                topic
                    .partitions()
                    .iter()
                    .map(Partition::next_offset)
                    .collect(),
            );
        }
        let position = |p: u32| consumer.position(p).unwrap_or(0);
        if let Some(ends) = &ends
            && (0..partitions)
                .zip(ends)
                .all(|(p, &end)| position(p) >= end)
        {
            break;
        }
        for r in consumer.poll(Duration::from_millis(100))? {
            let slot = &mut expected[r.partition as usize];
            if slot.is_some_and(|e| e != r.offset()) {
                return Err(format!(
                    "partition {}: expected offset {slot:?}, got {}",
                    r.partition,
                    r.offset()
                )
                .into());
            }
            *slot = Some(r.offset() + 1);
            read += 1;
        }
        let dt = last.0.elapsed().as_secs_f64();
        if dt >= 0.25 {
            // Appended in this run, and the lag: records appended that this consumer has not
            // read yet (end offset minus its position, over the partitions).
            let total = end_offsets(topic) - base;
            let lag: u64 = topic
                .partitions()
                .iter()
                .map(|p| {
                    p.next_offset()
                        .saturating_sub(consumer.position(p.id()).unwrap_or(0))
                })
                .sum();
            println!(
                "[{:5.1} s] produced {total} ({:.0} records/s)  consumed {read} ({:.0} records/s)  lag {lag}",
                t0.elapsed().as_secs_f64(),
                (total - last.1) as f64 / dt,
                (read - last.2) as f64 / dt,
            );
            last = (Instant::now(), total, read);
        }
    }
    for h in producers {
        h.join().map_err(|_| "a producer thread panicked")??;
    }
    consumer.commit()?;
    let secs = t0.elapsed().as_secs_f64();
    let total = produced.load(Ordering::Relaxed);
    println!(
        "produced {total} records, consumed {read} records in {secs:.2} s: {:.0} records/s",
        read as f64 / secs
    );
    Ok(())
}

/// Appends `count` records, `batch` at a time per partition, as a Kafka producer batches.
fn produce(topic: &Topic, id: u64, count: u64, batch: usize, produced: &AtomicU64) -> Result<()> {
    let mut pending: Vec<Vec<(String, String)>> =
        vec![Vec::new(); topic.partition_count() as usize];
    let send = |p: usize, buf: &mut Vec<(String, String)>| -> Result<()> {
        let records: Vec<NewRecord<'_>> = buf
            .iter()
            .map(|(k, v)| NewRecord::new(v.as_bytes()).key(k.as_bytes()))
            .collect();
        topic.append_batch_to(u32::try_from(p)?, &records)?;
        produced.fetch_add(records.len() as u64, Ordering::Relaxed);
        buf.clear();
        Ok(())
    };
    for seq in 0..count {
        let key = format!("user-{}", seq % 1000);
        let value = format!("{{\"producer\":{id},\"seq\":{seq},\"pad\":\"{seq:064}\"}}");
        let p = topic.partition_for_key(key.as_bytes()) as usize;
        pending[p].push((key, value));
        if pending[p].len() >= batch {
            send(p, &mut pending[p])?;
        }
    }
    for (p, buf) in pending.iter_mut().enumerate() {
        if !buf.is_empty() {
            send(p, buf)?;
        }
    }
    Ok(())
}
