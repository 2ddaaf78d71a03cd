//! Producer → blocked consumer wake-up latency (issue 6: target p99 < 50 µs in-process;
//! issue 12: p99 < 100 µs for a consumer in another process).
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
//! Two more pagelog contenders read through the follower of a read-only store
//! (`Store::open_read_only`, `partition/follow.rs`), which sleeps on the futex word in the
//! topic's shared `live` file and is woken by the writer's `FUTEX_WAKE`:
//!
//! * a read-only store in this process, its consumer a thread as above;
//! * a reader process: this binary started again (`std::env::current_exe()`, the role in the
//!   environment, `common::child_command`), which opens the store read-only, blocks in
//!   `iter_from_end()` + `next_timeout` (what `blocking()` loops on), takes each record's
//!   latency against the send time the record carries (`CLOCK_MONOTONIC`, see [`mono_ns`]),
//!   and at the end writes its latencies to stdout, one per line, for this process to
//!   summarise. It reads a topic of its own, so it sleeps through the other contenders'
//!   turns. The summary after the table gives both followers' p50 and p99 against the
//!   writer's own reader (`FlushPolicy::Never`) of the same run.
//!
//! Not criterion (percentiles, not means): `cargo bench --bench latency` prints a table and
//! writes `target/pagelog-latency.json`. `PAGELOG_LATENCY_SAMPLES` sets the samples per
//! contender (default 20 000, in 5 rounds taking turns; the first 100 of each round are
//! discarded as warm-up). Without `--bench` (as in
//! `cargo test --benches`) it runs 200 samples as a smoke test and writes nothing.
//!
//! The store is in the system temp dir (`/tmp`, the real disk; `PAGELOG_BENCH_DISK_DIR`
//! overrides), topic with `FlushPolicy::Never` (the wake-up path only; nothing syncs) and
//! with the default `Interval(1 s)` (a background flusher syncs once a second); the two
//! follower contenders read topics with `FlushPolicy::Never`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "benchmark data and figures: offsets, sizes and counts are small, and rates and latencies are printed as floats"
)]

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pagelog::{FlushPolicy, NewRecord, Partition, Store, TopicConfig};

const WARMUP: usize = 100;
const ROUNDS: usize = 5;
const GAP: Duration = Duration::from_micros(200);
const SIZE: usize = 100;
/// The topic the reader process follows, and its role name.
const XPROC_TOPIC: &str = "lat-xproc";
const XPROC_ROLE: &str = "latency-reader";
/// Rows of the table: the writer's own reader (`FlushPolicy::Never`), the read-only store of
/// this process, the reader process.
const IN_PROCESS: usize = 2;
const READ_ONLY: usize = 4;
const XPROC: usize = 5;
/// The send time of the record that tells the reader process to report and exit.
const END: u64 = u64::MAX;
/// How long the reader process waits for a record before it gives up.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

fn encode(t0: Instant) -> [u8; SIZE] {
    let mut v = [0x5au8; SIZE];
    let ns = t0.elapsed().as_nanos() as u64;
    v[..8].copy_from_slice(&ns.to_le_bytes());
    v
}

fn latency_ns(t0: Instant, sent: u64) -> u64 {
    t0.elapsed().as_nanos() as u64 - sent
}

/// Nanoseconds of `CLOCK_MONOTONIC`: the clock the two processes of the cross-process
/// contender share. It is one clock for the whole system (the one `Instant` reads on Linux,
/// but an `Instant` cannot be carried to another process), it is never stepped (NTP only
/// slews it, for both processes alike), and it is read through the vDSO without a system
/// call, as `Instant::now` is. `SystemTime` (`CLOCK_REALTIME`) is shared too, but a clock
/// adjustment between a send and its receipt would step it and falsify that sample.
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the duration of the call, and
    // `clock_gettime` writes nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn encode_mono(sent: u64) -> [u8; SIZE] {
    let mut v = [0x5au8; SIZE];
    v[..8].copy_from_slice(&sent.to_le_bytes());
    v
}

/// The reader process: follows [`XPROC_TOPIC`] of the store in `dir` from its end, takes the
/// time as soon as each record is handed to it, and when the [`END`] record comes writes
/// the latencies (ns) to stdout, one per line, after a line `n <count>`.
fn reader_process(dir: &Path) {
    let store = Store::open_read_only(dir).unwrap();
    let p = store
        .topic(XPROC_TOPIC)
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    // `next_timeout`, which `blocking()` loops on, with a deadline: a parent that dies leaves
    // no reader behind for long.
    let mut tail = p.iter_from_end();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    let mut lat = Vec::new();
    loop {
        let r = tail
            .next_timeout(CHILD_TIMEOUT)
            .expect("no record from the writer for a minute")
            .unwrap();
        let now = mono_ns();
        let sent = u64::from_le_bytes(r.value()[..8].try_into().unwrap());
        if sent == END {
            break;
        }
        lat.push(now - sent);
    }
    let mut text = format!("n {}\n", lat.len());
    for l in &lat {
        text.push_str(&l.to_string());
        text.push('\n');
    }
    out.write_all(text.as_bytes()).unwrap();
    out.flush().unwrap();
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
    if let Some((role, dir)) = common::child_role() {
        assert_eq!(role, XPROC_ROLE, "unknown child role");
        return reader_process(&dir);
    }
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
        "pagelog, Never, read-only store in this process",
        "pagelog, Never, reader process (open_read_only)",
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
    // The followed topics: one for the read-only store of this process, one for the reader
    // process (its iterator lives through every round, so its topic gets no other appends).
    let never = TopicConfig::default().flush(FlushPolicy::Never);
    let ro_writer = store
        .create_topic("lat-ro", never.clone())
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    let xp = store
        .create_topic(XPROC_TOPIC, never)
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    let ro_store = Store::open_read_only(dir.path()).unwrap();
    let ro_reader = ro_store
        .topic("lat-ro")
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    let mut child = common::child_command(XPROC_ROLE, dir.path())
        .spawn()
        .unwrap();
    let mut child_out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    child_out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the reader process did not start");

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

        for (i, w, r) in [
            (IN_PROCESS, &parts[0], &parts[0]),
            (IN_PROCESS + 1, &parts[1], &parts[1]),
            (READ_ONLY, &ro_writer, &ro_reader),
        ] {
            let mut tail = r.iter_from_end().blocking();
            lats[i].extend(run(
                per_round,
                |t0| {
                    w.append(NewRecord::new(&encode(t0))).unwrap();
                },
                move || {
                    let r = tail.next().unwrap().unwrap();
                    u64::from_le_bytes(r.value()[..8].try_into().unwrap())
                },
            ));
        }

        // The reader process: the same sends; it keeps the latencies until the end.
        for _ in 0..per_round + WARMUP {
            std::thread::sleep(GAP);
            xp.append(NewRecord::new(&encode_mono(mono_ns()))).unwrap();
        }
    }
    xp.append(NewRecord::new(&encode_mono(END))).unwrap();
    let mut report = String::new();
    child_out.read_to_string(&mut report).unwrap();
    assert!(child.wait().unwrap().success(), "the reader process failed");
    let mut report = report.lines();
    let n: usize = report
        .next()
        .and_then(|l| l.strip_prefix("n "))
        .unwrap()
        .parse()
        .unwrap();
    let all: Vec<u64> = report.map(|l| l.parse().unwrap()).collect();
    assert_eq!((n, all.len()), (ROUNDS * (per_round + WARMUP), n));
    // Each round's first WARMUP samples are warm-up, as in `run`.
    for round in all.chunks(per_round + WARMUP) {
        lats[XPROC].extend_from_slice(&round[WARMUP..]);
    }
    drop(ro_reader);
    ro_store.close().unwrap();
    drop((ro_writer, xp));
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
    // The followers against the writer's own reader (same topic configuration, same run).
    let base = &results[IN_PROCESS];
    println!(
        "\nfollowers against the in-process reader ({}): p50 ÷, p99 ÷; target p99 < 100 µs\n",
        base.name
    );
    for s in &results[READ_ONLY..] {
        println!(
            "{}: p50 {} µs ({:.2}×), p99 {} µs ({:.2}×): {}",
            s.name,
            us(s.p[0]),
            s.p[0] as f64 / base.p[0] as f64,
            us(s.p[2]),
            s.p[2] as f64 / base.p[2] as f64,
            if s.p[2] < 100_000 { "met" } else { "NOT met" }
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
