//! Cross-check with kafka-python, an independent implementation of Kafka's formats: batches
//! and whole exported partition directories written by pagelog are parsed by kafka-python
//! (`scripts/kafka_check.py`) and must give back the same records, with `.index` and
//! `.timeindex` byte for byte what Kafka's recovery would build.
//!
//! Runs when `python3 -c "import kafka"` succeeds; otherwise prints a skip line and passes.
//! Alone: `pip install kafka-python && cargo test --test kafka_python -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_wrap,
    reason = "test data: offsets, sizes and counts are small"
)]

mod kafka_support;

use std::path::Path;
use std::process::Command;

use kafka_support::{line, pagelog_line, write_expected};
use pagelog::kafka::{BatchBuilder, ExportOptions, export};
use pagelog::{Header, NewRecord, Store, TopicConfig};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// True when python3 with kafka-python is available; otherwise says why the test is skipped.
fn have_kafka_python(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import kafka"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!(
            "skipped {test}: python3 with kafka-python not available (pip install kafka-python)"
        );
    }
    ok
}

/// Runs `scripts/kafka_check.py`; panics with its output unless it succeeds.
fn check(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(root().join("scripts/kafka_check.py"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kafka_check.py {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("ok: "), "{stdout}");
    stdout
}

#[test]
fn kafka_python_reads_our_batches_as_the_records_we_encoded() {
    if !have_kafka_python("kafka_python_reads_our_batches_as_the_records_we_encoded") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let big = vec![0xabu8; 70_000]; // multi-byte varint lengths
    let mut log = Vec::new();
    let mut lines = Vec::new();
    let mut offset = 0u64;
    for batch in 0..6u64 {
        let mut b = BatchBuilder::new(offset).unwrap();
        for i in 0..=(batch * 7) {
            let ts = match i % 3 {
                0 => 1_700_000_000_000 + i as i64 * 1000,
                1 => -1_000 - i as i64, // before the epoch: negative deltas
                _ => i64::from(i32::MAX) * 3,
            };
            let key_owned = format!("key-{batch}-{i}");
            let key = (i % 4 != 0).then_some(key_owned.as_bytes());
            let value: Option<&[u8]> = match i % 5 {
                0 => None,
                1 => Some(b""),
                2 => Some(&big),
                _ => Some(b"plain value"),
            };
            let headers: Vec<(&[u8], Option<&[u8]>)> = match i % 3 {
                0 => vec![],
                1 => vec![("ключ".as_bytes(), Some(b"v")), (b"empty", Some(b""))],
                _ => vec![(b"n", Some(key_owned.as_bytes()))],
            };
            b.push(offset, ts, key, value, &headers).unwrap();
            lines.push(line(offset, ts, key, value, &headers));
            offset += 1 + i % 3; // gaps of 0, 1 or 2 offsets
        }
        log.extend(b.finish());
    }
    let file = tmp.path().join("batches.log");
    std::fs::write(&file, &log).unwrap();
    let expected = tmp.path().join("batches.expected");
    write_expected(&expected, &lines);
    let out = check(&["batch", file.to_str().unwrap(), expected.to_str().unwrap()]);
    assert!(
        out.contains(&format!("ok: {} records in 6 batches", lines.len())),
        "{out}"
    );
}

#[test]
fn kafka_python_reads_an_exported_partition_and_kafkas_indexes_match() {
    if !have_kafka_python("kafka_python_reads_an_exported_partition_and_kafkas_indexes_match") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let p = store
        .create_topic("events", TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    let hs = [Header {
        key: "source",
        value: b"sensor",
    }];
    for i in 0..4000u32 {
        let v = format!("reading {i} {}", "~".repeat((i % 200) as usize));
        // Timestamps mostly rising, sometimes back in time.
        let ts = 1_700_000_000_000 + i64::from(i) * 10 - if i % 7 == 0 { 5_000 } else { 0 };
        let r = NewRecord::new(v.as_bytes()).key(b"sensor-1").timestamp(ts);
        let r = if i % 3 == 0 { r.headers(&hs) } else { r };
        if i % 50 == 49 {
            p.append(NewRecord::tombstone(b"sensor-1").timestamp(ts))
                .unwrap();
        } else {
            p.append(r).unwrap();
        }
    }
    // Offsets 4000..4010 are a gap (as after compaction), then one more record.
    p.append_at(
        &[(4010, NewRecord::new(b"after the gap").timestamp(1))],
        4012,
    )
    .unwrap();
    let want: Vec<String> = p.iter().map(|r| pagelog_line(&r.unwrap())).collect();
    let expected = tmp.path().join("events.expected");
    write_expected(&expected, &want);

    for (interval, batch_records) in [(4096u32, 25usize), (100, 3)] {
        let out_dir = tmp.path().join(format!("out-{interval}"));
        let opts = ExportOptions::default()
            .index_interval_bytes(interval)
            .max_batch_records(batch_records)
            .segment_bytes(128 << 10);
        let report = export(&p, &out_dir, &opts).unwrap();
        assert!(report.segments >= 3, "{report:?}");
        assert_eq!(report.end_offset, 4012);
        let out = check(&[
            "dir",
            report.dir.to_str().unwrap(),
            expected.to_str().unwrap(),
            &interval.to_string(),
        ]);
        assert!(
            out.contains(&format!("{} records", want.len())) && out.contains("next offset 4012"),
            "{out}"
        );
        // The index comparison is not vacuous: there are entries, and one changed bit in
        // them is noticed.
        let mut indexes: Vec<_> = std::fs::read_dir(&report.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "index"))
            .collect();
        indexes.sort();
        let first = std::fs::read(&indexes[0]).unwrap();
        assert!(first.len() >= 16, "{} index bytes", first.len());
        let mut bad = first.clone();
        bad[7] ^= 1;
        std::fs::write(&indexes[0], &bad).unwrap();
        let out = Command::new("python3")
            .arg(root().join("scripts/kafka_check.py"))
            .args([
                "dir",
                report.dir.to_str().unwrap(),
                expected.to_str().unwrap(),
            ])
            .arg(interval.to_string())
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(".index: "));
        std::fs::write(&indexes[0], &first).unwrap();
    }
}
