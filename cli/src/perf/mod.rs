//! `pagelog perf`: a load generator like Kafka's `kafka-producer-perf-test` and
//! `kafka-consumer-perf-test` at once. Producer threads append `--records` records of
//! `--record-size` bytes in batches while reader threads consume them; once a second it
//! prints the records/s produced and consumed and the lag (the records appended but not yet
//! consumed: end offset - consumed offset, summed over the partitions), then totals and the
//! latency percentiles of appends and of each record from its append to its consumption.
//!
//! Every record's value starts with the time it was appended (in this process), which is
//! how the reader measures the end-to-end latency. The data stays in the store directory
//! (topic `--topic`, created if missing) for `pagelog topics describe` or `dump`.

mod histogram;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use pagelog::{Error, FlushPolicy, NewRecord, Partition, Store, Topic, TopicConfig};

use crate::util::{self, Result, approx, parse_flush};
use histogram::Histogram;

pub const EXAMPLE: &str = "\
Examples:
  pagelog perf
  pagelog perf --records 5000000 --record-size 1024 --producers 4 --flush every-append
  pagelog perf --seconds 30 --throughput 200000";

/// `perf`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Topic to write (created if missing)
    #[arg(long, short = 't', value_name = "NAME", default_value = "perf-test")]
    topic: String,
    /// Records to produce
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1_000_000,
        conflicts_with = "seconds"
    )]
    records: u64,
    /// Produce for this many seconds instead of a number of records
    #[arg(long, value_name = "S")]
    seconds: Option<u64>,
    /// Bytes per record value (at least 8: the append time)
    #[arg(long, value_name = "BYTES", default_value_t = 100, value_parser = clap::value_parser!(u32).range(8..=1_048_576))]
    record_size: u32,
    /// Partitions of a topic this creates
    #[arg(long, value_name = "N", default_value_t = 4)]
    partitions: u32,
    /// Producer threads
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    producers: u32,
    /// Reader threads (each reads every n-th partition); 0 produces only
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=256))]
    consumers: u32,
    /// Records per append
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// Most records per second over all producers [default: as fast as possible]
    #[arg(long, value_name = "N")]
    throughput: Option<u64>,
    /// Flush policy of a topic this creates [default: interval-ms:1000]
    #[arg(long, value_name = "POLICY", value_parser = parse_flush)]
    flush: Option<FlushPolicy>,
}

/// Counters the threads share with the reporter.
#[derive(Default)]
struct Progress {
    produced: AtomicU64,
    produced_bytes: AtomicU64,
    consumed: AtomicU64,
    consumed_bytes: AtomicU64,
    /// Producers and readers stop at once (an error, or everything was consumed).
    stop: AtomicBool,
}

pub fn run(dir: &Path, a: &Args) -> Result<()> {
    let store = Store::open(dir)?;
    let topic = match store.topic(&a.topic) {
        Ok(t) => t,
        Err(Error::TopicNotFound(_)) => {
            let mut config = TopicConfig::default().partitions(a.partitions);
            if let Some(f) = a.flush {
                config = config.flush(f);
            }
            store.create_topic(&a.topic, config)?
        }
        Err(e) => return Err(e.into()),
    };
    let where_ = std::fs::canonicalize(topic.dir()).unwrap_or_else(|_| topic.dir().to_owned());
    let amount = match a.seconds {
        Some(s) => format!("for {s} s"),
        None => format!("{} records", a.records),
    };
    println!(
        "Writing {amount} of {} bytes to topic {} ({} partitions) in {}",
        a.record_size,
        topic.name(),
        topic.partition_count(),
        where_.display()
    );
    let result = perf(&topic, a);
    drop(topic);
    let closed = util::close(store);
    result?;
    closed?;
    println!(
        "Data left in {} (pagelog topics describe --dir {} --topic {}).",
        where_.display(),
        dir.display(),
        a.topic
    );
    Ok(())
}

fn perf(topic: &Topic, a: &Args) -> Result<()> {
    let progress = Arc::new(Progress::default());
    let t0 = Instant::now();
    // Readers start at the current end, before any producer appends.
    let starts: Vec<u64> = topic
        .partitions()
        .iter()
        .map(Partition::next_offset)
        .collect();
    let consumed: Arc<Vec<AtomicU64>> =
        Arc::new(starts.iter().map(|&s| AtomicU64::new(s)).collect());
    let readers = spawn_readers(topic, a, &progress, &consumed, t0)?;
    let producers = spawn_producers(topic, a, &progress, t0)?;
    let outcome = report(topic, a, &progress, &consumed, &producers, t0);
    progress.stop.store(true, Ordering::Release);
    let mut append = Histogram::new();
    for h in producers {
        append.merge(&h.join().map_err(|_| "a producer thread panicked")??);
    }
    let mut e2e = Histogram::new();
    for h in readers {
        e2e.merge(&h.join().map_err(|_| "a reader thread panicked")??);
    }
    let (produce_secs, total_secs) = outcome?;
    summary(a, &progress, produce_secs, total_secs, &append, &e2e);
    Ok(())
}

/// Prints a line a second until everything was produced and consumed (or a thread failed);
/// returns the seconds producing took and the seconds in all.
fn report(
    topic: &Topic,
    a: &Args,
    progress: &Progress,
    consumed: &[AtomicU64],
    producers: &[JoinHandle<Result<Histogram>>],
    t0: Instant,
) -> Result<(f64, f64)> {
    let mut last = (Instant::now(), 0u64, 0u64);
    let mut produce_secs = None;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let done_producing = producers.iter().all(JoinHandle::is_finished);
        if done_producing && produce_secs.is_none() {
            produce_secs = Some(t0.elapsed().as_secs_f64());
        }
        let lag: u64 = topic
            .partitions()
            .iter()
            .zip(consumed)
            .map(|(p, c)| p.next_offset().saturating_sub(c.load(Ordering::Acquire)))
            .sum();
        let produced = progress.produced.load(Ordering::Relaxed);
        let read = progress.consumed.load(Ordering::Relaxed);
        let finished = done_producing && (a.consumers == 0 || lag == 0);
        let dt = last.0.elapsed().as_secs_f64();
        if dt >= 1.0 || finished {
            if dt >= 0.05 {
                println!(
                    "{:6.1} s  produced {produced:>10} ({:>9.0} records/s)  consumed {read:>10} \
                     ({:>9.0} records/s)  lag {lag}",
                    t0.elapsed().as_secs_f64(),
                    approx(produced - last.1) / dt,
                    approx(read - last.2) / dt,
                );
            }
            last = (Instant::now(), produced, read);
        }
        if finished || progress.stop.load(Ordering::Acquire) {
            let total = t0.elapsed().as_secs_f64();
            return Ok((produce_secs.unwrap_or(total), total));
        }
    }
}

fn summary(
    a: &Args,
    p: &Progress,
    produce_secs: f64,
    total_secs: f64,
    append: &Histogram,
    e2e: &Histogram,
) {
    let ms = |us: u64| approx(us) / 1000.0;
    let (n, bytes) = (
        p.produced.load(Ordering::Relaxed),
        p.produced_bytes.load(Ordering::Relaxed),
    );
    println!(
        "Produced {n} records in {produce_secs:.2} s: {:.0} records/s, {:.1} MB/s; append of {} records: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        approx(n) / produce_secs.max(1e-9),
        approx(bytes) / produce_secs.max(1e-9) / 1e6,
        a.batch,
        ms(append.quantile(0.5)),
        ms(append.quantile(0.99)),
        ms(append.max()),
    );
    if a.consumers > 0 {
        let (n, bytes) = (
            p.consumed.load(Ordering::Relaxed),
            p.consumed_bytes.load(Ordering::Relaxed),
        );
        println!(
            "Consumed {n} records in {total_secs:.2} s: {:.0} records/s, {:.1} MB/s",
            approx(n) / total_secs.max(1e-9),
            approx(bytes) / total_secs.max(1e-9) / 1e6,
        );
        println!(
            "Latency from append to consume over {} records: p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
            e2e.count(),
            ms(e2e.quantile(0.5)),
            ms(e2e.quantile(0.99)),
            ms(e2e.quantile(0.999)),
            ms(e2e.max()),
        );
    }
}

/// Microseconds since `t0`.
fn micros(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn spawn_producers(
    topic: &Topic,
    a: &Args,
    progress: &Arc<Progress>,
    t0: Instant,
) -> Result<Vec<JoinHandle<Result<Histogram>>>> {
    let n = u64::from(a.producers);
    (0..n)
        .map(|id| {
            let (topic, progress) = (topic.clone(), Arc::clone(progress));
            let count = match a.seconds {
                Some(_) => u64::MAX,
                None => a.records / n + u64::from(id < a.records % n),
            };
            let until = a.seconds.map(|s| t0 + Duration::from_secs(s));
            let rate = a.throughput.map(|t| (t / n).max(1));
            let (size, batch) = (a.record_size as usize, a.batch as usize);
            std::thread::Builder::new()
                .name(format!("producer-{id}"))
                .spawn(move || {
                    let r = produce(&topic, id, (count, until), size, batch, rate, &progress, t0);
                    if r.is_err() {
                        progress.stop.store(true, Ordering::Release);
                    }
                    r
                })
                .map_err(Into::into)
        })
        .collect()
}

/// Appends `count` records (or until `until`), `batch` at a time, round-robin over the
/// partitions.
#[expect(
    clippy::too_many_arguments,
    reason = "one thread's share of the settings"
)]
fn produce(
    topic: &Topic,
    id: u64,
    (count, until): (u64, Option<Instant>),
    size: usize,
    batch: usize,
    rate: Option<u64>,
    progress: &Progress,
    t0: Instant,
) -> Result<Histogram> {
    let mut hist = Histogram::new();
    let mut values: Vec<Vec<u8>> = vec![vec![b'x'; size]; batch];
    let partitions = u64::from(topic.partition_count());
    let started = Instant::now();
    let (mut sent, mut turn) = (0u64, id);
    while sent < count
        && !progress.stop.load(Ordering::Relaxed)
        && until.is_none_or(|u| Instant::now() < u)
    {
        let n = usize::try_from((count - sent).min(batch as u64)).unwrap_or(batch);
        let now = micros(t0).to_le_bytes();
        for v in values.iter_mut().take(n) {
            if let Some(stamp) = v.get_mut(..8) {
                stamp.copy_from_slice(&now);
            }
        }
        let records: Vec<NewRecord<'_>> =
            values.iter().take(n).map(|v| NewRecord::new(v)).collect();
        let p = u32::try_from(turn % partitions).unwrap_or(0);
        turn += 1;
        let before = Instant::now();
        topic.append_batch_to(p, &records)?;
        hist.record(u64::try_from(before.elapsed().as_micros()).unwrap_or(u64::MAX));
        sent += n as u64;
        progress.produced.fetch_add(n as u64, Ordering::Relaxed);
        progress
            .produced_bytes
            .fetch_add((n * size) as u64, Ordering::Relaxed);
        if let Some(rate) = rate {
            // Sleep while ahead of `rate` records per second.
            let due = Duration::from_secs_f64(approx(sent) / approx(rate));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    Ok(hist)
}

fn spawn_readers(
    topic: &Topic,
    a: &Args,
    progress: &Arc<Progress>,
    consumed: &Arc<Vec<AtomicU64>>,
    t0: Instant,
) -> Result<Vec<JoinHandle<Result<Histogram>>>> {
    let n = a.consumers.min(topic.partition_count());
    (0..n)
        .map(|id| {
            let mine: Vec<Partition> = topic
                .partitions()
                .iter()
                .filter(|p| p.id() % n == id)
                .cloned()
                .collect();
            let (progress, consumed) = (Arc::clone(progress), Arc::clone(consumed));
            std::thread::Builder::new()
                .name(format!("reader-{id}"))
                .spawn(move || {
                    let r = read(&mine, &progress, &consumed, t0);
                    if r.is_err() {
                        progress.stop.store(true, Ordering::Release);
                    }
                    r
                })
                .map_err(Into::into)
        })
        .collect()
}

/// Reads `partitions` from their end when it started, taking turns, until told to stop.
fn read(
    partitions: &[Partition],
    progress: &Progress,
    consumed: &[AtomicU64],
    t0: Instant,
) -> Result<Histogram> {
    let mut hist = Histogram::new();
    let mut iters = partitions
        .iter()
        .map(|p| {
            let at = consumed
                .get(p.id() as usize)
                .map_or(0, |c| c.load(Ordering::Acquire));
            p.iter_from(at)
        })
        .collect::<pagelog::Result<Vec<_>>>()?;
    // With one partition the poll may wait; with several it must not sit on one of them.
    let wait = if iters.len() == 1 {
        Duration::from_millis(20)
    } else {
        Duration::ZERO
    };
    while !progress.stop.load(Ordering::Relaxed) {
        let mut got = 0;
        for (it, p) in iters.iter_mut().zip(partitions) {
            let batch = it.poll(1 << 20, wait)?;
            let Some(last) = batch.last() else { continue };
            let now = micros(t0);
            let mut bytes = 0;
            for r in &batch {
                let v = r.value();
                bytes += v.len() as u64;
                if let Some(stamp) = v.get(..8).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                    hist.record(now.saturating_sub(u64::from_le_bytes(stamp)));
                }
            }
            got += batch.len();
            progress
                .consumed
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            progress.consumed_bytes.fetch_add(bytes, Ordering::Relaxed);
            if let Some(c) = consumed.get(p.id() as usize) {
                c.store(last.offset() + 1, Ordering::Release);
            }
        }
        if got == 0 && iters.len() > 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(hist)
}
