//! In-process producer/consumer on a 4-partition topic.
//!
//! ```text
//! cargo run --release --example producer_consumer -- [--dir DIR] [--records N] [--producers P]
//! ```
//!
//! Producer threads append `N` records (keys `user-0` … spread over the partitions by
//! Kafka's key hash), flush, and then a consumer reads every partition from where the
//! previous run stopped to the end, checking each record. It prints records/s and MB/s for
//! both sides and finishes by itself. Data lives in `./pagelog-data` unless `--dir` says
//! otherwise; run it twice and the second run appends after the first.

use std::sync::Arc;
use std::time::Instant;

use pagelog::{FlushPolicy, NewRecord, Store, TopicConfig};

struct Args {
    dir: String,
    records: u64,
    producers: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        dir: "pagelog-data".into(),
        records: 1_000_000,
        producers: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => a.dir = value()?,
            "--records" => a.records = value()?.parse().map_err(|e| format!("--records: {e}"))?,
            "--producers" => {
                a.producers = value()?.parse().map_err(|e| format!("--producers: {e}"))?;
                if a.producers == 0 {
                    return Err("--producers must be at least 1".into());
                }
            }
            "--help" | "-h" => {
                println!("usage: producer_consumer [--dir DIR] [--records N] [--producers P]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(a)
}

fn run(args: Args) -> pagelog::Result<()> {
    let store = Store::open(&args.dir)?;
    let topic = match store.topic("events") {
        Ok(t) => t,
        Err(pagelog::Error::TopicNotFound(_)) => store.create_topic(
            "events",
            TopicConfig::default()
                .partitions(4)
                .flush(FlushPolicy::Never),
        )?,
        Err(e) => return Err(e),
    };
    let starts: Vec<u64> = topic.partitions().iter().map(|p| p.next_offset()).collect();

    let t0 = Instant::now();
    let per = args.records / args.producers;
    let topic = Arc::new(topic);
    let handles: Vec<_> = (0..args.producers)
        .map(|id| {
            let topic = Arc::clone(&topic);
            std::thread::spawn(move || -> pagelog::Result<u64> {
                let mut bytes = 0;
                for i in 0..per {
                    let key = format!("user-{}", i % 1000);
                    let value = format!("{{\"producer\":{id},\"seq\":{i},\"pad\":\"{:064}\"}}", i);
                    topic.append_record(NewRecord::new(value.as_bytes()).key(key.as_bytes()))?;
                    bytes += value.len() as u64;
                }
                Ok(bytes)
            })
        })
        .collect();
    let mut produced_bytes = 0;
    for h in handles {
        produced_bytes += h
            .join()
            .map_err(|_| pagelog::Error::Closed("producer thread".into()))??;
    }
    topic.flush()?;
    let produce = t0.elapsed().as_secs_f64();
    let produced = per * args.producers;
    println!(
        "produced {produced} records in {produce:.2} s: {:.0} records/s, {:.1} MB/s (flushed)",
        produced as f64 / produce,
        produced_bytes as f64 / produce / 1e6
    );

    let t1 = Instant::now();
    let (mut consumed, mut consumed_bytes) = (0u64, 0u64);
    for (p, start) in topic.partitions().iter().zip(starts) {
        for (expected, r) in (start..).zip(p.iter_from(start)?) {
            let r = r?;
            assert_eq!(r.offset(), expected, "offsets are contiguous");
            consumed += 1;
            consumed_bytes += r.value().len() as u64;
        }
        println!(
            "  partition {}: offsets {}..{} ({} segments)",
            p.id(),
            p.start_offset(),
            p.next_offset(),
            p.info().segments
        );
    }
    let consume = t1.elapsed().as_secs_f64();
    println!(
        "consumed {consumed} records in {consume:.2} s: {:.0} records/s, {:.1} MB/s",
        consumed as f64 / consume,
        consumed_bytes as f64 / consume / 1e6
    );
    store.close()
}

fn main() {
    let result = parse_args()
        .map_err(|e| e.to_string())
        .and_then(|a| run(a).map_err(|e| e.to_string()));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
