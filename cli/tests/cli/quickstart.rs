//! The Kafka quickstart with the binary: create, list, produce, consume, consumer groups,
//! and a producer and a consumer running side by side.

use std::collections::{BTreeMap, BTreeSet};

use super::{Ctx, Running, group_rows, lines, one_line_error, partition_row};

#[test]
fn kafka_quickstart() {
    let ctx = Ctx::new();

    // Step 3 of the Kafka quickstart: create a topic; list it.
    let out = ctx.ok("topics create --dir $D --topic quickstart-events", "");
    assert_eq!(out, "Created topic quickstart-events.\n");
    assert_eq!(ctx.ok("topics list --dir $D", ""), "quickstart-events\n");

    // Step 4: write events; each line is acknowledged with its partition and offset.
    let events = "This is my first event\nThis is my second event\n";
    let produce = "produce --dir $D --topic quickstart-events";
    let out = ctx.ok(&format!("{produce} --print-offsets"), events);
    assert_eq!(out, "0 0\n0 1\n");

    // Step 5: read them from the beginning.
    let consume = "consume --dir $D --topic quickstart-events --timeout-ms 50";
    let out = ctx.run(&format!("{consume} --from-beginning"), "");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, events);
    assert_eq!(out.stderr, "Processed a total of 2 messages\n");
    // Without --from-beginning only records appended while it runs are printed: none.
    assert_eq!(ctx.ok(consume, ""), "");

    // A consumer group reads everything once, then only what is new.
    let group = format!("{consume} --group readers --from-beginning");
    assert_eq!(ctx.ok(&group, ""), events);
    let describe = "topics describe --dir $D --topic quickstart-events";
    assert_eq!(
        group_rows(&ctx.ok(describe, ""), "readers"),
        [(0, "2".into(), 0)]
    );
    assert_eq!(ctx.ok(&group, ""), "", "nothing new");

    ctx.ok(&format!("{produce} --sync"), "A third event\n");
    let out = ctx.ok(describe, "");
    assert!(out.contains("PartitionCount: 1"), "{out}");
    assert_eq!(partition_row(&out, 0), [0, 3, 3, 1], "{out}");
    assert_eq!(
        group_rows(&out, "readers"),
        [(0, "2".into(), 1)],
        "lag 1: {out}"
    );

    assert_eq!(ctx.ok(&group, ""), "A third event\n");
    assert_eq!(
        group_rows(&ctx.ok(describe, ""), "readers"),
        [(0, "3".into(), 0)]
    );

    // Offsets and keys, on one partition from an offset.
    let out = ctx.ok(
        &format!("{consume} --partition 0 --offset 1 --print-offset --print-key"),
        "",
    );
    assert_eq!(
        out,
        "1\tnull\tThis is my second event\n2\tnull\tA third event\n"
    );

    // Dump the segment.
    let seg = ctx
        .path()
        .join("quickstart-events/0/00000000000000000000.log");
    let out = ctx.ok_with("dump $F", &[("$F", seg.to_str().unwrap())], "");
    assert!(out.contains("value \"This is my first event\""), "{out}");
    assert!(
        out.contains("Summary: 3 batches (0 damaged), 3 records"),
        "{out}"
    );

    // Step 8 (clean up): delete the topic.
    let out = ctx.ok("topics delete --dir $D --topic quickstart-events", "");
    assert_eq!(out, "Deleted topic quickstart-events.\n");
    assert_eq!(ctx.ok("topics list --dir $D", ""), "");
}

#[test]
fn producer_and_consumer_run_side_by_side_as_in_the_quickstart() {
    let ctx = Ctx::new();
    ctx.ok("topics create --dir $D --topic quickstart-events", "");
    // Terminal 1: a consumer following the topic. Terminal 2: a producer.
    let consumer = Running::start(
        &ctx,
        "consume --dir $D --topic quickstart-events --from-beginning --max-messages 3",
    );
    let mut producer = Running::start(
        &ctx,
        "produce --dir $D --topic quickstart-events --print-offsets",
    );
    producer.send("This is my first event");
    assert_eq!(producer.line(), "0 0");
    assert_eq!(consumer.line(), "This is my first event");
    producer.send("This is my second event");
    assert_eq!(producer.line(), "0 1");
    assert_eq!(consumer.line(), "This is my second event");

    // While the producer holds the store: list and describe it, and read it once more.
    assert_eq!(ctx.ok("topics list --dir $D", ""), "quickstart-events\n");
    let describe = ctx.ok("topics describe --dir $D --topic quickstart-events", "");
    assert_eq!(partition_row(&describe, 0)[..2], [0, 2], "{describe}");
    let again = ctx.ok(
        "consume --dir $D --topic quickstart-events --from-beginning --timeout-ms 50",
        "",
    );
    assert_eq!(again, "This is my first event\nThis is my second event\n");
    // The live state the producer publishes, as `dump` shows it.
    let live = ctx.path().join("quickstart-events/live");
    let out = ctx.ok_with("dump $F", &[("$F", live.to_str().unwrap())], "");
    assert!(out.contains("state Live"), "{out}");
    assert!(
        out.contains(&format!("writer pid {}", producer.child.id())),
        "{out}"
    );
    assert!(out.contains("next offset 2 "), "{out}");
    // A second writer is refused, naming the producer's process.
    let err = ctx.fails("produce --dir $D --topic quickstart-events", "refused\n");
    assert!(
        err.contains(&format!("process {}", producer.child.id())),
        "{err}"
    );

    producer.send("A third event");
    assert_eq!(producer.line(), "0 2");
    assert_eq!(consumer.line(), "A third event");
    let (code, stderr) = consumer.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "Processed a total of 3 messages\n");
    let (code, stderr) = producer.finish();
    assert_eq!((code, stderr), (Some(0), String::new()));
}

#[test]
fn keys_partitions_groups_and_time() {
    let ctx = Ctx::new();
    ctx.ok(
        "topics create --dir $D --topic keyed --partitions 3 --flush every-append",
        "",
    );
    let describe = "topics describe --dir $D --topic keyed";
    assert!(ctx.ok(describe, "").contains("Flush: every-append"));

    // Keyed lines land on their key's partition (Kafka's murmur2 partitioner), with
    // contiguous offsets per partition.
    let input = "alice:1\nbob:2\ncarol:3\nalice:4\ndave:5:with:colons\n";
    let out = ctx.ok(
        "produce --dir $D --topic keyed --key-separator : --print-offsets --sync",
        input,
    );
    assert_eq!(out.lines().count(), 5, "{out}");
    let mut next: BTreeMap<u32, u64> = BTreeMap::new();
    let mut expected = BTreeSet::new();
    for (line, ack) in input.lines().zip(out.lines()) {
        let (key, value) = line.split_once(':').unwrap();
        let (p, o) = ack.split_once(' ').unwrap();
        let (p, o): (u32, u64) = (p.parse().unwrap(), o.parse().unwrap());
        assert_eq!(p, pagelog::partition_for_key(key.as_bytes(), 3), "{line}");
        let n = next.entry(p).or_default();
        assert_eq!(o, *n, "offsets are contiguous per partition");
        *n += 1;
        expected.insert(format!("{p}\t{o}\t{key}\t{value}"));
    }

    // Everything, from the beginning, across partitions.
    let consume = "consume --dir $D --topic keyed";
    let all = format!(
        "{consume} --from-beginning --print-partition --print-offset --print-key --max-messages 5"
    );
    let got: BTreeSet<String> = lines(&ctx.ok(&all, ""))
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(got, expected);

    // One partition, from the earliest offset.
    let p = pagelog::partition_for_key(b"alice", 3);
    let out = ctx.ok(
        &format!("{consume} --partition {p} --offset earliest --print-key --timeout-ms 50"),
        "",
    );
    let alice: Vec<&str> = lines(&out)
        .into_iter()
        .filter(|l| l.starts_with("alice\t"))
        .collect();
    assert_eq!(alice, ["alice\t1", "alice\t4"]);

    // By time: nothing is newer than the year 2100; everything is newer than 1970.
    let by_time = |ms: &str| ctx.ok(&format!("{consume} --from-time {ms} --timeout-ms 50"), "");
    assert_eq!(by_time("4102444800000"), "");
    assert_eq!(by_time("0").lines().count(), 5);

    // A group that stops after 2 records commits exactly those: the next run prints the
    // other 3, nothing twice.
    let group = format!("{consume} --group g --from-beginning --print-key");
    let first = ctx.ok(&format!("{group} --max-messages 2"), "");
    assert_eq!(lines(&first).len(), 2, "{first}");
    let rest = ctx.ok(&format!("{group} --timeout-ms 50"), "");
    let mut seen: Vec<&str> = lines(&first).into_iter().chain(lines(&rest)).collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            "alice\t1",
            "alice\t4",
            "bob\t2",
            "carol\t3",
            "dave\t5:with:colons"
        ]
    );
    let out = ctx.ok(describe, "");
    let rows = group_rows(&out, "g");
    assert_eq!(rows.len(), 3, "{out}");
    assert!(rows.iter().all(|r| r.2 == 0), "{out}");

    // --partition pins every line to one partition; a line without the separator stops the
    // producer after the lines before it were appended.
    let out = ctx.run(
        "produce --dir $D --topic keyed --partition 2 --key-separator = --print-offsets",
        "k=v\nno separator here\nnot reached=x\n",
    );
    assert_eq!(
        one_line_error("no separator", &out),
        "error: line 2 has no key separator \"=\""
    );
    assert_eq!(
        out.stdout,
        format!("2 {}\n", next.get(&2).copied().unwrap_or(0))
    );
    let out = ctx.ok(
        &format!("{consume} --partition 2 --offset latest --timeout-ms 10"),
        "",
    );
    assert_eq!(out, "");
    let out = ctx.ok(describe, "");
    assert_eq!(
        partition_row(&out, 2)[1],
        next.get(&2).copied().unwrap_or(0) + 1
    );
}
