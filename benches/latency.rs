//! Producer → blocked consumer wake-up latency (issue 6: target p99 < 50 µs).
//!
//! A consumer thread blocks in pagelog's `Records::blocking()` iterator (which waits in
//! `next_timeout`, on the topic's notifier); a producer thread appends one 100 B record at a
//! time carrying the time it was sent (nanoseconds since a shared `Instant`, taken just
//! before `append`), then sleeps about 200 µs so that the consumer is asleep again before
//! the next one. The consumer takes the time as soon as the record is handed to it: the
//! latency is append + notify + the futex wake-up + the read. The same handoff through a
//! `std::sync::mpsc` channel and through a `Mutex` + `Condvar` are the machine's baseline
//! (a thread woken from a futex wait).
//!
//! Not criterion (percentiles, not means): `cargo bench --bench latency` prints a table and
//! writes `target/pagelog-latency.json`. `PAGELOG_LATENCY_SAMPLES` sets the samples per
//! contender (default 20 000, in 5 rounds taking turns; the first 100 of each round are
//! discarded as warm-up). Without `--bench` (as in
//! `cargo test --benches`) it runs 200 samples as a smoke test and writes nothing.
//!
//! The store is in the system temp dir (`/tmp`, the real disk; `PAGELOG_BENCH_DISK_DIR`
//! overrides), topic with `FlushPolicy::Never` (the wake-up path only; nothing syncs) and
//! with the default `Interval(1 s)` (a background flusher syncs once a second).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "benchmark data and figures: offsets, sizes and counts are small, and rates and latencies are printed as floats"
)]

mod common;

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pagelog::{FlushPolicy, NewRecord, Partition, Store, TopicConfig};

const WARMUP: usize = 100;
const ROUNDS: usize = 5;
const GAP: Duration = Duration::from_micros(200);
const SIZE: usize = 100;

fn encode(t0: Instant) -> [u8; SIZE] {
    let mut v = [0x5au8; SIZE];
    let ns = t0.elapsed().as_nanos() as u64;
    v[..8].copy_from_slice(&ns.to_le_bytes());
    v
}

fn latency_ns(t0: Instant, sent: u64) -> u64 {
    t0.elapsed().as_nanos() as u64 - sent
}

/// Runs `WARMUP + samples` handoffs: `send(t0)` on this thread every `GAP`, `recv` on a
/// consumer thread returning the send time it received; returns the latencies past the
/// warm-up.
fn run<S, R>(samples: usize, mut send: S, mut recv: R) -> Vec<u64>
where
    S: FnMut(Instant),
    R: FnMut() -> u64 + Send,
{
    let total = samples + WARMUP;
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let consumer = s.spawn(move || {
            let mut lat = Vec::with_capacity(total);
            for _ in 0..total {
                let stamp = recv();
                lat.push(latency_ns(t0, stamp));
            }
            lat
        });
        for _ in 0..total {
            std::thread::sleep(GAP);
            send(t0);
        }
        let mut lat = consumer.join().unwrap();
        lat.drain(..WARMUP);
        lat
    })
}

struct Stats {
    name: String,
    n: usize,
    mean: f64,
    p: [u64; 4],
    max: u64,
}

const PCTS: [f64; 4] = [50.0, 90.0, 99.0, 99.9];

fn stats(name: &str, mut lat: Vec<u64>) -> Stats {
    lat.sort_unstable();
    let n = lat.len();
    let at = |q: f64| lat[(((q / 100.0) * n as f64).ceil() as usize).clamp(1, n) - 1];
    Stats {
        name: name.to_string(),
        n,
        mean: lat.iter().sum::<u64>() as f64 / n as f64,
        p: PCTS.map(at),
        max: lat[n - 1],
    }
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

#[expect(
    clippy::too_many_lines,
    reason = "the benchmark's setup, checks and groups in order"
)]
fn main() {
    let bench = common::under_bench();
    let samples: usize = common::size_param("PAGELOG_LATENCY_SAMPLES", 20_000, 200);
    // Contenders take turns, ROUNDS times, so that a burst of load from elsewhere on the
    // machine does not land on one of them only.
    let per_round = samples.div_ceil(ROUNDS);
    let names = [
        "raw: std mpsc channel",
        "raw: Mutex + Condvar",
        "pagelog, FlushPolicy::Never",
        "pagelog, default Interval(1 s)",
    ];
    let mut lats: Vec<Vec<u64>> = vec![Vec::new(); names.len()];
    let dir = common::disk_dir();
    let store = Store::open(dir.path()).unwrap();
    let parts: Vec<Partition> = [FlushPolicy::Never, FlushPolicy::default()]
        .iter()
        .enumerate()
        .map(|(i, &flush)| {
            let t = store
                .create_topic(&format!("lat{i}"), TopicConfig::default().flush(flush))
                .unwrap();
            t.partition(0).unwrap().clone()
        })
        .collect();
    for _ in 0..ROUNDS {
        let (tx, rx) = mpsc::channel::<u64>();
        lats[0].extend(run(
            per_round,
            |t0| tx.send(t0.elapsed().as_nanos() as u64).unwrap(),
            move || rx.recv().unwrap(),
        ));

        // A queue, not a single slot: a slow consumer must not lose a value.
        let slot = Arc::new((Mutex::new(VecDeque::<u64>::new()), Condvar::new()));
        let consumer_slot = Arc::clone(&slot);
        lats[1].extend(run(
            per_round,
            |t0| {
                let (m, c) = &*slot;
                m.lock().unwrap().push_back(t0.elapsed().as_nanos() as u64);
                c.notify_one();
            },
            move || {
                let (m, c) = &*consumer_slot;
                let mut g = c.wait_while(m.lock().unwrap(), |q| q.is_empty()).unwrap();
                g.pop_front().unwrap()
            },
        ));

        for (i, p) in parts.iter().enumerate() {
            let mut tail = p.iter_from_end().blocking();
            lats[2 + i].extend(run(
                per_round,
                |t0| {
                    p.append(NewRecord::new(&encode(t0))).unwrap();
                },
                move || {
                    let r = tail.next().unwrap().unwrap();
                    u64::from_le_bytes(r.value()[..8].try_into().unwrap())
                },
            ));
        }
    }
    drop(parts);
    store.close().unwrap();
    let results: Vec<Stats> = names
        .iter()
        .zip(lats)
        .map(|(name, lat)| stats(name, lat))
        .collect();

    // The machine's best raw handoff at each percentile (the two raw rows).
    let best = |i: usize| results[..2].iter().map(|s| s.p[i]).min().unwrap() as f64;
    println!(
        "\nproducer -> blocked consumer wake-up latency, µs ({samples} samples each, \
         one every ~{} µs; ratios against the better of the two raw handoffs)\n",
        GAP.as_micros()
    );
    println!("| | p50 | p90 | p99 | p99.9 | max | mean | p50 ÷ raw | p99 ÷ raw |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in &results {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.2} | {:.2} |",
            s.name,
            us(s.p[0]),
            us(s.p[1]),
            us(s.p[2]),
            us(s.p[3]),
            us(s.max),
            s.mean / 1000.0,
            s.p[0] as f64 / best(0),
            s.p[2] as f64 / best(2)
        );
    }
    if bench {
        let json: Vec<String> = results
            .iter()
            .map(|s| {
                format!(
                    "  {{\"name\": \"{}\", \"samples\": {}, \"mean_ns\": {:.0}, \"p50_ns\": {}, \
                     \"p90_ns\": {}, \"p99_ns\": {}, \"p999_ns\": {}, \"max_ns\": {}}}",
                    s.name, s.n, s.mean, s.p[0], s.p[1], s.p[2], s.p[3], s.max
                )
            })
            .collect();
        // CARGO_TARGET_TMPDIR is <target>/tmp.
        let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let out = target.join("pagelog-latency.json");
        std::fs::write(&out, format!("[\n{}\n]\n", json.join(",\n"))).unwrap();
        println!("\nwritten: {}", out.display());
    }
}
