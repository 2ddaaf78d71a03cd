//! `groups list | describe | reset-offsets`, and `dump` of a group's lock files.

use super::{Ctx, group_rows, lines};

#[test]
fn groups_list_describe_and_reset_offsets() {
    let ctx = Ctx::new();
    ctx.ok("topics create --dir $D --topic orders --partitions 2", "");
    let input = (0..10)
        .map(|i| format!("k{i}:v{i}\n"))
        .collect::<Vec<_>>()
        .concat();
    ctx.ok("produce --dir $D --topic orders --key-separator :", &input);
    assert_eq!(
        ctx.ok("groups list --dir $D", ""),
        "No consumer group has committed offsets.\n"
    );
    let consume = "consume --dir $D --topic orders --group billing --from-beginning";
    ctx.ok(&format!("{consume} --max-messages 4"), "");

    let out = ctx.ok("groups list --dir $D", "");
    assert_eq!(
        lines(&out),
        ["TOPIC   GROUP    LAG", "orders  billing  6"],
        "{out}"
    );
    let out = ctx.ok("groups describe --dir $D --group billing", "");
    assert!(
        out.starts_with("TOPIC   PARTITION  COMMITTED  NEXT-OFFSET  LAG\n"),
        "{out}"
    );
    assert_eq!(lines(&out).len(), 3, "{out}");

    // A dry run changes nothing; --execute commits.
    let reset = "groups reset-offsets --dir $D --topic orders --group billing";
    let out = ctx.ok(&format!("{reset} --to-latest"), "");
    assert!(out.contains("Dry run: nothing committed"), "{out}");
    assert_eq!(
        ctx.ok(&format!("{consume} --timeout-ms 50"), "")
            .lines()
            .count(),
        6
    );
    // Everything was consumed and committed: back to the start of partition 0 only.
    let out = ctx.ok(
        &format!("{reset} --to-earliest --partition 0 --execute"),
        "",
    );
    assert!(
        out.contains("Committed the new offsets of group billing."),
        "{out}"
    );
    let describe = ctx.ok("topics describe --dir $D --topic orders", "");
    let rows = group_rows(&describe, "billing");
    assert_eq!(rows[0].1, "0", "{describe}");
    assert_eq!(rows[1].2, 0, "{describe}");
    let again = ctx.ok(&format!("{consume} --timeout-ms 50 --print-partition"), "");
    assert!(
        !again.is_empty() && again.lines().all(|l| l.starts_with("0\t")),
        "{again}"
    );
    // Shift back by 2 and to an offset past the end (clamped to the end).
    ctx.ok(&format!("{reset} --shift-by -2 --execute"), "");
    let rows = group_rows(
        &ctx.ok("topics describe --dir $D --topic orders", ""),
        "billing",
    );
    assert!(rows.iter().all(|r| r.2 == 2), "{rows:?}");
    ctx.ok(&format!("{reset} --to-offset 1000 --execute"), "");
    let rows = group_rows(
        &ctx.ok("topics describe --dir $D --topic orders", ""),
        "billing",
    );
    assert!(rows.iter().all(|r| r.2 == 0), "{rows:?}");
    ctx.ok(&format!("{reset} --to-timestamp 0 --execute"), "");
    let rows = group_rows(
        &ctx.ok("topics describe --dir $D --topic orders", ""),
        "billing",
    );
    assert_eq!(rows.iter().map(|r| r.2).sum::<u64>(), 10, "{rows:?}");

    // The group's lock files are told apart from its offsets file.
    let locks = ctx.path().join("orders/groups/billing.locks");
    for (file, says) in [
        ("commit", "the commit lock of consumer group \"billing\""),
        ("member.0", "member slot 0 of consumer group"),
        ("partition.1", "the ownership lock of partition 1"),
    ] {
        let out = ctx.ok_with("dump $F", &[("$F", locks.join(file).to_str().unwrap())], "");
        assert!(out.contains(says), "{file}: {out}");
    }
    let out = ctx.ok_with(
        "dump $F",
        &[(
            "$F",
            ctx.path()
                .join("orders/groups/billing.offsets")
                .to_str()
                .unwrap(),
        )],
        "",
    );
    assert!(
        out.contains("committed offsets (next offset to read):"),
        "{out}"
    );
    assert!(
        !ctx.ok("topics describe --dir $D --topic orders", "")
            .contains(".locks")
    );
}

#[test]
fn reset_offsets_refuses_while_a_member_is_alive() {
    let ctx = Ctx::new();
    ctx.ok("topics create --dir $D --topic t", "");
    ctx.ok("produce --dir $D --topic t", "a\nb\n");
    let member = super::Running::start(
        &ctx,
        "consume --dir $D --topic t --group g --from-beginning --max-messages 3",
    );
    assert_eq!(member.line(), "a");
    assert_eq!(member.line(), "b");
    let err = ctx.fails(
        "groups reset-offsets --dir $D --topic t --group g --to-earliest --execute",
        "",
    );
    assert!(err.contains("has an active member"), "{err}");
    ctx.ok("produce --dir $D --topic t", "c\n");
    let (code, stderr) = member.finish();
    assert_eq!(code, Some(0), "{stderr}");
}
