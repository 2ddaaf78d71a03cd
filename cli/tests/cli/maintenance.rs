//! Retention, compaction and truncation from the command line (`topics enforce-retention`,
//! `compact`, `truncate`), and changing a topic's settings with `topics alter`.

use super::{Ctx, lines, numeric_row, partition_info};

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, its steps and checks in order"
)]
fn retention_compaction_and_truncation_tools() {
    let ctx = Ctx::new();
    let settings = |describe: &str| -> String {
        describe
            .lines()
            .find(|l| l.starts_with("CleanupPolicy: "))
            .unwrap_or_else(|| panic!("no settings line: {describe}"))
            .to_owned()
    };

    // Every retention and compaction flag is stored and shown by describe.
    ctx.ok("topics create --dir $D --topic plain", "");
    assert_eq!(
        settings(&ctx.ok("topics describe --dir $D --topic plain", "")),
        "CleanupPolicy: delete  RetentionBytes: none  RetentionMs: none  \
         RetainUntilConsumed: false  RetentionHardBytes: none  DeleteRetentionMs: 86400000"
    );
    ctx.ok(
        "topics create --dir $D --topic all --retention-bytes 20000 --retention-ms 60000 \
         --retain-until-consumed --retention-hard-bytes 100000 --cleanup-policy compact,delete \
         --delete-retention-ms 5",
        "",
    );
    assert_eq!(
        settings(&ctx.ok("topics describe --dir $D --topic all", "")),
        "CleanupPolicy: compact,delete  RetentionBytes: 20000  RetentionMs: 60000  \
         RetainUntilConsumed: true  RetentionHardBytes: 100000  DeleteRetentionMs: 5"
    );
    ctx.ok(
        "topics create --dir $D --topic both --cleanup-policy delete,compact",
        "",
    );
    ctx.ok(
        "topics create --dir $D --topic kv --cleanup-policy compact",
        "",
    );
    let describe = ctx.ok("topics describe --dir $D --topic both", "");
    assert!(
        settings(&describe).starts_with("CleanupPolicy: compact,delete  "),
        "{describe}"
    );
    let describe = ctx.ok("topics describe --dir $D --topic kv", "");
    assert!(
        settings(&describe).starts_with("CleanupPolicy: compact  "),
        "{describe}"
    );
    assert_eq!(partition_info(&describe, 0)[6], 0, "no forced deletions");

    // Size retention: 300 keyed records in 4 KiB segments, at most 8 KiB kept (plus the
    // active segment). The producer's background thread may already delete some segments;
    // the explicit pass deletes the rest.
    ctx.ok(
        "topics create --dir $D --topic r --segment-bytes 4096 --retention-bytes 8192 \
         --flush never",
        "",
    );
    let input: String = (0..300)
        .map(|i| format!("k{}:value-{i:03}-{}\n", i % 5, "x".repeat(40)))
        .collect::<Vec<_>>()
        .concat();
    ctx.ok("produce --dir $D --topic r --key-separator :", &input);
    let out = ctx.ok("topics enforce-retention --dir $D --topic r", "");
    let lines_out = lines(&out);
    assert!(
        lines_out[0].starts_with("PARTITION  SEGMENTS-DELETED  BYTES-DELETED  FORCED-DELETIONS"),
        "{out}"
    );
    assert!(
        lines_out
            .last()
            .unwrap()
            .starts_with("Retention on topic r: "),
        "{out}"
    );
    let row = numeric_row(&out, 0, 7);
    let (forced, kept, start, next) = (row[3], row[4], row[5], row[6]);
    assert_eq!((forced, kept, next), (0, 0, 300), "{out}");
    assert!(start > 0, "old segments were deleted: {out}");
    let describe = ctx.ok("topics describe --dir $D --topic r", "");
    let [
        d_start,
        d_next,
        records,
        segments,
        bytes,
        _durable,
        d_forced,
    ] = partition_info(&describe, 0);
    assert_eq!(
        (d_start, d_next, records, d_forced),
        (start, 300, 300 - start, 0)
    );
    assert!(segments >= 2, "{describe}");
    assert!((8192..8192 + 4096).contains(&bytes), "{describe}");
    // Nothing more to delete: a second pass reports zeros.
    let out = ctx.ok("topics enforce-retention --dir $D --topic r", "");
    assert_eq!(numeric_row(&out, 0, 7)[1..3], [0, 0], "{out}");
    assert!(
        out.contains(
            "Retention on topic r: 0 segments deleted (0 bytes), 0 forced deletions, \
                       0 segments kept for consumer groups."
        ),
        "{out}"
    );
    // Consumers start at the new start offset.
    let consume = "consume --dir $D --topic r --timeout-ms 50";
    let out = ctx.ok(
        &format!("{consume} --from-beginning --print-offset --max-messages 1"),
        "",
    );
    assert!(
        out.starts_with(&format!("{start}\tvalue-{start:03}-")),
        "{out}"
    );

    // Compaction: the sealed segments keep only the latest record per key; offsets and the
    // next offset do not change.
    let out = ctx.ok("topics compact --dir $D --topic r", "");
    assert!(
        out.starts_with("PARTITION  SEGMENTS-REWRITTEN  RECORDS-REMOVED  TOMBSTONES-REMOVED"),
        "{out}"
    );
    let row: Vec<String> = out
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(row[0], "0", "{out}");
    let rewritten: u64 = row[1].parse().unwrap();
    let removed: u64 = row[2].parse().unwrap();
    assert!(rewritten >= 1 && removed > 0, "{out}");
    assert_eq!((row[3].as_str(), row[5].as_str()), ("0", "no"), "{out}");
    let summary = lines(&out)[2];
    assert!(
        summary.starts_with(&format!("Compacted topic r: {rewritten} segment")),
        "{out}"
    );
    assert!(
        summary.contains(&format!(
            "{removed} records removed (0 tombstones among them)"
        )),
        "{out}"
    );
    let describe = ctx.ok("topics describe --dir $D --topic r", "");
    let [c_start, c_next, _, _, c_bytes, _, _] = partition_info(&describe, 0);
    assert_eq!((c_start, c_next), (start, 300), "{describe}");
    assert!(c_bytes < bytes, "{describe}");
    let all = ctx.ok(
        &format!("{consume} --from-beginning --print-offset --print-key"),
        "",
    );
    let got: Vec<(u64, String, String)> = lines(&all)
        .iter()
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let o = f.next().unwrap().parse().unwrap();
            (
                o,
                f.next().unwrap().to_owned(),
                f.next().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got.len() as u64, 300 - start - removed, "{all}");
    assert!(
        got.windows(2).all(|w| w[0].0 < w[1].0),
        "offsets increase: {all}"
    );
    for k in 0..5u64 {
        // The latest record of each key is the last one produced with it, at its offset.
        let last = (0..300).rev().find(|i| i % 5 == k).unwrap();
        let latest = got.iter().rev().find(|g| g.1 == format!("k{k}")).unwrap();
        assert_eq!(latest.0, last, "{all}");
        assert!(latest.2.starts_with(&format!("value-{last:03}-")), "{all}");
    }
    // A topic with nothing sealed has nothing to compact.
    let out = ctx.ok("topics compact --dir $D --topic kv", "");
    assert!(
        out.ends_with(
            "Compacted topic kv: 0 segments rewritten, 0 records removed \
             (0 tombstones among them), 0 bytes reclaimed.\n"
        ),
        "{out}"
    );

    // Truncation: the records at and above the offset go; appends continue there.
    let out = ctx.ok(
        "topics truncate --dir $D --topic r --partition 0 --offset 290",
        "",
    );
    assert_eq!(
        out,
        "Truncated partition 0 of topic r: next offset 290 (was 300).\n"
    );
    let describe = ctx.ok("topics describe --dir $D --topic r", "");
    assert_eq!(
        partition_info(&describe, 0)[..2],
        [start, 290],
        "{describe}"
    );
    let out = ctx.ok(
        "produce --dir $D --topic r --print-offsets",
        "after the cut\n",
    );
    assert_eq!(out, "0 290\n");
    let out = ctx.ok(&format!("{consume} --from-beginning --print-offset"), "");
    let tail: Vec<&str> = lines(&out).into_iter().rev().take(2).collect();
    assert_eq!(tail[0], "290\tafter the cut", "{out}");
    let below: u64 = tail[1].split('\t').next().unwrap().parse().unwrap();
    assert!(below < 290, "{out}");

    // Bad values: one line, exit 1, nothing created (usage errors: tests/cli/usage.rs).
    let cases = [
        (
            "topics create --dir $D --topic x --retention-bytes 0",
            "retention_bytes must be in 1..",
        ),
        (
            "topics create --dir $D --topic x --retention-hard-bytes 0",
            "retention_hard_bytes must be in 1..",
        ),
        (
            "topics create --dir $D --topic x --retention-ms 0",
            "retention_ms must be in 1..",
        ),
        ("topics compact --dir $D --topic nope", "does not exist"),
        ("topics compact --dir $D/nope --topic r", "does not exist"),
        (
            "topics enforce-retention --dir $D --topic nope",
            "does not exist",
        ),
        (
            "topics truncate --dir $D --topic r --partition 3 --offset 1",
            "no partition 3",
        ),
        (
            "topics truncate --dir $D --topic r --partition 0 --offset 5000",
            "out of range",
        ),
        (
            "topics truncate --dir $D --topic r --partition 0 --offset 0",
            "out of range",
        ),
    ];
    for (command, expected) in cases {
        let err = ctx.fails(command, "");
        assert!(
            err.contains(expected),
            "`{command}`: {err:?} lacks {expected:?}"
        );
    }
    assert!(!lines(&ctx.ok("topics list --dir $D", "")).contains(&"x"));
    let describe = ctx.ok("topics describe --dir $D --topic r", "");
    assert_eq!(
        partition_info(&describe, 0)[..2],
        [start, 291],
        "failures change nothing"
    );
}

#[test]
fn alter_changes_retention_and_keeps_the_layout() {
    let ctx = Ctx::new();
    ctx.ok(
        "topics create --dir $D --topic a --retention-bytes 100000",
        "",
    );
    let out = ctx.ok(
        "topics alter --dir $D --topic a --retention-bytes none --retention-ms 60000 \
         --cleanup-policy compact --flush every-append --retain-until-consumed true",
        "",
    );
    assert!(out.starts_with("Altered topic a.\n"), "{out}");
    let describe = ctx.ok("topics describe --dir $D --topic a", "");
    assert!(describe.contains("Flush: every-append"), "{describe}");
    assert!(
        describe.contains(
            "CleanupPolicy: compact  RetentionBytes: none  RetentionMs: 60000  \
             RetainUntilConsumed: true"
        ),
        "{describe}"
    );
    // The records written before stay readable; appends go on.
    ctx.ok("produce --dir $D --topic a", "one\n");
    let err = ctx.fails("topics alter --dir $D --topic a --retention-ms 0", "");
    assert!(err.contains("retention_ms must be in 1.."), "{err}");
    let out = ctx.ok(
        "consume --dir $D --topic a --from-beginning --timeout-ms 50",
        "",
    );
    assert_eq!(out, "one\n");
}
