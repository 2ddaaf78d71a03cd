//! `perf`: a few seconds of load with live lines, totals and latency percentiles.

use super::{Ctx, lines};

#[test]
fn perf_runs_and_reports() {
    let ctx = Ctx::new();
    // About three seconds: 30 000 records at 10 000 records/s.
    let out = ctx.ok(
        "perf --dir $D --records 30000 --throughput 10000 --record-size 64 --batch 10",
        "",
    );
    let l = lines(&out);
    assert!(
        l[0].starts_with("Writing 30000 records of 64 bytes to topic perf-test (4 partitions) in "),
        "{out}"
    );
    let live: Vec<&&str> = l.iter().filter(|l| l.contains(" s  produced ")).collect();
    assert!(live.len() >= 2, "a line a second: {out}");
    assert!(
        live.iter()
            .all(|l| l.contains("records/s)  consumed ") && l.contains("  lag ")),
        "{out}"
    );
    assert!(live.last().unwrap().ends_with("lag 0"), "{out}");
    assert!(out.contains("Produced 30000 records in "), "{out}");
    assert!(out.contains("Consumed 30000 records in "), "{out}");
    let latency = l
        .iter()
        .find(|l| l.starts_with("Latency from append to consume over 30000 records: p50 "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(latency.contains(", p99 "), "{latency}");
    assert!(l.last().unwrap().starts_with("Data left in "), "{out}");
    // The records are there.
    let describe = ctx.ok("topics describe --dir $D --topic perf-test --json", "");
    let d: serde_json::Value = serde_json::from_str(&describe).unwrap();
    let stored: u64 = d["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["records"].as_u64().unwrap())
        .sum();
    assert_eq!(stored, 30_000);
    // Producing only, for a time.
    let out = ctx.ok(
        "perf --dir $D --seconds 1 --throughput 5000 --consumers 0",
        "",
    );
    assert!(out.starts_with("Writing for 1 s of 100 bytes"), "{out}");
    assert!(!out.contains("Consumed"), "{out}");
    assert!(out.contains("Produced "), "{out}");
}
