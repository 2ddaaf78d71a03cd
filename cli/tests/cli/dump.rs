//! `dump` of every kind of file, intact and damaged; `verify`; a consumer that meets a
//! damaged batch header fails there instead of ending early.

use std::path::Path;

use super::{Ctx, Out, one_line_error};

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, its steps and checks in order"
)]
fn dump_checks_segments_and_indexes() {
    let ctx = Ctx::new();
    ctx.ok(
        "topics create --dir $D --topic small --segment-bytes 4096 --index-interval-bytes 0 \
         --flush never",
        "",
    );
    let input: String = (0..120)
        .map(|i| format!("event number {i:04} {}\n", "x".repeat(30)))
        .collect::<Vec<_>>()
        .concat();
    ctx.ok("produce --dir $D --topic small", &input);
    let part = ctx.path().join("small/0");
    let log = part.join("00000000000000000000.log");
    let dump = |path: &Path, flags: &str| -> Out {
        ctx.run_with(
            &format!("dump {flags} $F"),
            &[("$F", path.to_str().unwrap())],
            "",
        )
    };
    let dump_ok = |path: &Path| -> String {
        let out = dump(path, "");
        assert_eq!(out.code, Some(0), "{out:?}");
        out.stdout
    };
    let dump_fails = |path: &Path| -> String { one_line_error("dump", &dump(path, "")) };

    let out = dump_ok(&log);
    let batch_lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("batch at byte "))
        .collect();
    assert!(batch_lines.len() >= 3, "{out}");
    assert!(
        batch_lines[0].starts_with("batch at byte 0: offsets 0..=0 (1 record)"),
        "{out}"
    );
    assert!(out.contains("(0 damaged)"), "{out}");
    assert!(out.contains("  offset 0 timestamp "), "{out}");
    let position = |line: &str| -> usize {
        line["batch at byte ".len()..]
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (second, third) = (position(batch_lines[1]), position(batch_lines[2]));

    // The segment rolled: the sealed segment's indexes have entries, and they check out.
    for ext in ["index", "timeindex"] {
        let out = dump_ok(&log.with_extension(ext));
        assert!(out.contains("entry at byte 0:"), "{ext}: {out}");
    }
    let out = dump(&log, "--batches-only");
    assert!(
        out.code == Some(0) && !out.stdout.contains("  offset "),
        "{out:?}"
    );

    // A flipped bit in the second batch: reported with its position, and the dump goes on
    // with the third batch.
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("00000000000000000000.log");
    let original = std::fs::read(&log).unwrap();
    let mut bytes = original.clone();
    bytes[second + 50] ^= 0x10;
    std::fs::write(&copy, &bytes).unwrap();
    let out = dump(&copy, "");
    let err = one_line_error("dump", &out);
    assert!(
        err.contains(&format!("1 problem(s), the first at byte {second}")),
        "{err}"
    );
    let corrupt = format!("CORRUPT at byte {second}: checksum mismatch");
    assert!(out.stdout.contains(&corrupt), "{out:?}");
    assert!(
        out.stdout.contains(&format!("batch at byte {third}:")),
        "goes on: {out:?}"
    );

    // A length running past the end of the file stops the dump there.
    let mut bytes = original.clone();
    bytes[third + 4..third + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&copy, &bytes).unwrap();
    let err = dump_fails(&copy);
    assert!(
        err.contains(&format!("first at byte {third}: batch length")),
        "{err}"
    );

    // Garbage (not zeros) after the data is damage; a zero-filled tail is reserved space.
    let mut bytes = original.clone();
    bytes.extend_from_slice(&[0xAB; 20]);
    std::fs::write(&copy, &bytes).unwrap();
    let err = dump_fails(&copy);
    let at = original.len();
    assert!(
        err.contains(&format!("first at byte {at}: unreadable batch header")),
        "{err}"
    );
    let mut bytes = original.clone();
    bytes.resize(original.len() + 4096, 0);
    std::fs::write(&copy, &bytes).unwrap();
    let out = dump_ok(&copy);
    assert!(
        out.contains(&format!(
            "valid data ends at byte {at}, then 4096 zero bytes"
        )),
        "{out}"
    );

    // A damaged index entry.
    let index = copy_dir.path().join("00000000000000000000.index");
    let mut bytes = std::fs::read(log.with_extension("index")).unwrap();
    bytes[12] ^= 1;
    std::fs::write(&index, &bytes).unwrap();
    let err = dump_fails(&index);
    assert!(err.contains("first at byte 12: checksum mismatch"), "{err}");

    // Metadata files decode.
    assert!(dump_ok(&part.join("checkpoint")).contains("clean: true"));
    let meta = ctx.path().join("small/topic.meta");
    assert!(dump_ok(&meta).contains("segment_bytes: 4096"));
}

#[test]
fn dump_reads_the_hook_mark_and_the_truncation_intent() {
    let ctx = Ctx::new();
    let dir = tempfile::tempdir().unwrap();
    let dump = |name: &str, bytes: &[u8]| -> Out {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        ctx.run_with("dump $F", &[("$F", path.to_str().unwrap())], "")
    };
    let out = dump("hooked", &pagelog::codec::meta::encode_hooked(52_113));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("below offset 52113"), "{out:?}");
    let out = dump("truncate", &pagelog::codec::meta::encode_truncate(333));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("offset 333"), "{out:?}");
    let mut bad = pagelog::codec::meta::encode_hooked(7);
    bad[12] ^= 1;
    let out = dump("hooked", &bad);
    assert!(
        one_line_error("dump", &out).contains("is corrupt"),
        "{out:?}"
    );
}

/// Issue 13's reproduction: one flipped byte in a batch header of a sealed segment made the
/// console consumer print a prefix of the topic and exit 0. It must fail with the damage's
/// file instead.
#[test]
fn console_consumer_fails_at_a_damaged_header_instead_of_ending_early() {
    let ctx = Ctx::new();
    ctx.ok(
        "topics create --dir $D --topic c --segment-bytes 8192 --index-interval-bytes 256",
        "",
    );
    let input: String = (0..2000)
        .map(|i| format!("msg-{i}\n"))
        .collect::<Vec<_>>()
        .concat();
    ctx.ok("produce --dir $D --topic c", &input);
    let log = ctx.path().join("c/0/00000000000000000940.log");
    let mut bytes = std::fs::read(&log).unwrap();
    // The high byte of the last_offset_delta of the batch holding offset 964 (bytes 24..28
    // of its header): the batch then claims offsets far past the end of the partition.
    let mut pos = 0;
    while u64::from_le_bytes(bytes[pos + 16..pos + 24].try_into().unwrap()) != 964 {
        pos += u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
    }
    bytes[pos + 27] ^= 0xeb;
    std::fs::write(&log, &bytes).unwrap();
    let out = ctx.run(
        "consume --dir $D --topic c --from-beginning --timeout-ms 200",
        "",
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.stdout.lines().count(),
        964,
        "every record before the damage"
    );
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap();
    assert!(error.contains("00000000000000000940.log"), "{error}");
}

#[test]
fn verify_finds_damage_that_dump_locates() {
    let ctx = Ctx::new();
    ctx.ok(
        "topics create --dir $D --topic v --segment-bytes 4096 --partitions 2",
        "",
    );
    let input = (0..300)
        .map(|i| format!("line {i:04} {}\n", "y".repeat(40)))
        .collect::<Vec<_>>()
        .concat();
    ctx.ok("produce --dir $D --topic v", &input);
    ctx.ok(
        "consume --dir $D --topic v --group g --from-beginning --max-messages 10",
        "",
    );
    let out = ctx.ok("verify --dir $D", "");
    assert!(out.contains("v/0: ") && out.contains("v/1: "), "{out}");
    assert!(
        out.lines()
            .filter(|l| l.starts_with("v/"))
            .all(|l| l.ends_with(", ok")),
        "{out}"
    );
    assert!(out.contains("v group g: offsets ok"), "{out}");
    assert!(
        out.ends_with("Verified 1 topic: no damage found.\n"),
        "{out}"
    );

    // One flipped bit in a sealed segment's record data.
    let log = ctx.path().join("v/0/00000000000000000000.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[100] ^= 0x04;
    std::fs::write(&log, &bytes).unwrap();
    let out = ctx.run("verify --dir $D --topic v", "");
    let err = one_line_error("verify", &out);
    assert!(err.contains("1 problem(s) found, the first: "), "{err}");
    assert!(err.contains("00000000000000000000.log at byte 0"), "{err}");
    assert!(out.stdout.contains("DAMAGED"), "{out:?}");
}
