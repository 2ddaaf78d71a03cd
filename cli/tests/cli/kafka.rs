//! `export` and `import`: Kafka partition directories, round trip and from kafka-python.

use std::path::Path;

use super::{Ctx, lines};

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, its steps and checks in order"
)]
fn kafka_export_and_import_tools() {
    let ctx = Ctx::new();
    let kafka = ctx.tmp.path().join("kafka log dir");
    let k = kafka.to_str().unwrap();
    let copy = ctx.tmp.path().join("copy");
    let c = copy.to_str().unwrap();

    ctx.ok("topics create --dir $D --topic orders --partitions 2", "");
    let input: String = (0..2500)
        .map(|i| format!("user-{}:order {i} {}\n", i % 9, "x".repeat(i % 50)))
        .collect::<Vec<_>>()
        .concat();
    ctx.ok("produce --dir $D --topic orders --key-separator :", &input);
    let print = "--from-beginning --timeout-ms 50 --print-partition --print-offset --print-key";
    let before = ctx.ok(&format!("consume --dir $D --topic orders {print}"), "");
    assert_eq!(before.lines().count(), 2500);

    // Export: one Kafka partition directory per partition, progress on stderr (after each
    // batch of 1000 records past the 1000-byte interval, except the last).
    let out = ctx.run_with(
        "export --dir $D --topic orders --log-dir $K --progress-bytes 1000 \
         --segment-bytes 8192",
        &[("$K", k)],
        "",
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let rows = lines(&out.stdout);
    assert_eq!(rows.len(), 2, "{out:?}");
    for (p, row) in rows.iter().enumerate() {
        let dir = kafka.join(format!("orders-{p}"));
        let prefix = format!(
            "Exported partition {p} of topic orders to {}: ",
            dir.display()
        );
        assert!(row.starts_with(&prefix), "{row}");
        assert!(dir.join("00000000000000000000.log").is_file());
        assert!(dir.join("00000000000000000000.index").is_file());
        assert!(dir.join("00000000000000000000.timeindex").is_file());
    }
    assert!(
        out.stderr.lines().count() >= 2
            && out
                .stderr
                .lines()
                .all(|l| l.starts_with("export: partition ")),
        "{out:?}"
    );

    // Import both into a new store; the records come back with the same offsets and keys.
    for p in 0..2 {
        let dir = kafka.join(format!("orders-{p}"));
        let out = ctx.ok_with(
            &format!(
                "import --dir $C --topic orders --create --partitions 2 --partition {p} \
                 --partition-dir $P"
            ),
            &[("$C", c), ("$P", dir.to_str().unwrap())],
            "",
        );
        assert!(
            out.starts_with("Imported ")
                && out.contains(&format!("into partition {p} of topic orders: offsets 0..")),
            "{out}"
        );
        assert!(!out.contains("Not carried"), "{out}");
    }
    let after = ctx.ok_with(
        &format!("consume --dir $C --topic orders {print}"),
        &[("$C", c)],
        "",
    );
    assert_eq!(after, before);

    // A directory written by kafka-python (tests/fixtures/kafka/orders-0): the tool says what
    // it could not carry.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/kafka/orders-0");
    let out = ctx.ok_with(
        "import --dir $C --topic fromkafka --create --partition-dir $P",
        &[("$C", c), ("$P", fixture.to_str().unwrap())],
        "",
    );
    let rows = lines(&out);
    assert_eq!(
        rows[0],
        "Imported 22 records into partition 0 of topic fromkafka: offsets 0..29, 1312 bytes \
         from 2 segments."
    );
    assert!(
        rows.contains(&"Not carried: control batches skipped (transaction markers): 1")
            && rows.contains(
                &"Not carried: gzip-compressed batches (records stored uncompressed, the codec \
                  dropped): 1"
            ),
        "{out}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("Not carried: ignored file ")
                && r.ends_with("leader-epoch-checkpoint")),
        "{out}"
    );

    // Errors: one line each.
    let err = ctx.fails_with(
        "export --dir $D --topic orders --log-dir $K",
        &[("$K", k)],
        "",
    );
    assert!(err.contains("exists"), "{err}");
    let err = ctx.fails_with(
        "import --dir $C --topic orders --partition-dir $P",
        &[("$C", c), ("$P", kafka.join("orders-0").to_str().unwrap())],
        "",
    );
    assert!(err.contains("below the partition's next offset"), "{err}");
    let err = ctx.fails(
        "import --dir $D --topic orders --partition-dir /nonexistent/orders-0",
        "",
    );
    assert!(err.contains("does not exist"), "{err}");
    let err = ctx.usage_error("export --dir $D --topic orders");
    assert!(err.contains("--log-dir"), "{err}");
    let err = ctx.usage_error("import --dir $D --topic orders --log-dir /x");
    assert!(err.contains("unexpected argument '--log-dir'"), "{err}");
}
