//! Runs the example programs (the console tools and the main example) as a user would,
//! walking through the Kafka quickstart in a temporary directory, then through retention,
//! compaction and truncation with `topics`.
//!
//! The binaries come from `target/<profile>/examples/`, which `cargo test` builds. When they
//! are missing or older than the sources (e.g. under `cargo test --test tools`), they are
//! built first with `cargo build --examples`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const EXAMPLES: [&str; 5] = [
    "topics",
    "console_producer",
    "console_consumer",
    "dump",
    "producer_consumer",
];

/// The directory holding the built examples, building them if needed.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::built_examples(&EXAMPLES, &[]))
}

/// What a tool did.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `command` (the example's name, then its arguments), feeding it `stdin`.
fn run_args(command: &[String], stdin: &str) -> Out {
    let (name, args) = command.split_first().expect("a tool name");
    let bin = examples_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let mut child = Command::new(&bin)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.as_bytes().to_vec();
    // Written from a thread so that a tool that exits early cannot block the test.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A store directory in a fresh temporary directory, and shorthands to run the tools on it.
///
/// Commands are written as one string, split at whitespace; then in each word `$D` becomes
/// the store directory and each `(name, value)` of `vars` is substituted (so paths may
/// contain spaces).
struct Ctx {
    tmp: tempfile::TempDir,
    dir: String,
}

impl Ctx {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data").to_str().unwrap().to_owned();
        Self { tmp, dir }
    }

    fn path(&self) -> &Path {
        Path::new(&self.dir)
    }

    fn command(&self, template: &str, vars: &[(&str, &str)]) -> Vec<String> {
        template
            .split_whitespace()
            .map(|w| {
                vars.iter()
                    .fold(w.replace("$D", &self.dir), |w, (k, v)| w.replace(k, v))
            })
            .collect()
    }

    fn run(&self, template: &str, stdin: &str) -> Out {
        run_args(&self.command(template, &[]), stdin)
    }

    fn run_with(&self, template: &str, vars: &[(&str, &str)], stdin: &str) -> Out {
        run_args(&self.command(template, vars), stdin)
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, template: &str, stdin: &str) -> String {
        self.ok_with(template, &[], stdin)
    }

    fn ok_with(&self, template: &str, vars: &[(&str, &str)], stdin: &str) -> String {
        let out = self.run_with(template, vars, stdin);
        assert_eq!(out.code, Some(0), "`{template}` failed: {out:?}");
        out.stdout
    }

    /// Runs a command that must fail with exit code 1 and a one-line error; returns it.
    fn fails(&self, template: &str, stdin: &str) -> String {
        self.fails_with(template, &[], stdin)
    }

    fn fails_with(&self, template: &str, vars: &[(&str, &str)], stdin: &str) -> String {
        let out = self.run_with(template, vars, stdin);
        one_line_error(template, &out)
    }
}

/// Checks that `out` is a failure with exit code 1 and one `error: ` line on stderr.
fn one_line_error(what: &str, out: &Out) -> String {
    assert_eq!(out.code, Some(1), "`{what}` should fail: {out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "`{what}`: one line on stderr: {out:?}");
    assert!(lines[0].starts_with("error: "), "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    lines[0].to_owned()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

/// The rows of `topics describe`'s group table for `group`: (partition, committed, lag).
fn group_rows(describe: &str, group: &str) -> Vec<(u32, String, u64)> {
    describe
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 5 && w[0] == group)
        .map(|w| {
            (
                w[1].parse().unwrap(),
                w[2].to_owned(),
                w[4].parse().unwrap(),
            )
        })
        .collect()
}

/// The numbers of the row for partition `p` in a table with `columns` columns (the first
/// being the partition).
fn numeric_row(table: &str, p: u32, columns: usize) -> Vec<u64> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.len() == columns && w[0] == p.to_string())
        .unwrap_or_else(|| panic!("no row for partition {p}: {table}"))
        .iter()
        .map(|c| c.parse().unwrap())
        .collect()
}

/// The row of `topics describe`'s partition table for partition `p`: start offset, next
/// offset, records, segments.
fn partition_row(describe: &str, p: u32) -> [u64; 4] {
    let w = numeric_row(describe, p, 8);
    [w[1], w[2], w[3], w[4]]
}

/// The full row of `topics describe`'s partition table for partition `p`: start offset, next
/// offset, records, segments, bytes, durable offset, forced deletions.
fn partition_info(describe: &str, p: u32) -> [u64; 7] {
    numeric_row(describe, p, 8)[1..].try_into().unwrap()
}

#[test]
fn help_exits_zero_for_every_tool() {
    let ctx = Ctx::new();
    for name in EXAMPLES {
        for flag in ["--help", "-h"] {
            let out = ctx.run(&format!("{name} {flag}"), "");
            assert_eq!(out.code, Some(0), "{name} {flag}: {out:?}");
            assert!(out.stdout.starts_with("usage: "), "{name}: {out:?}");
            assert!(out.stderr.is_empty(), "{name}: {out:?}");
        }
    }
}

#[test]
fn kafka_quickstart() {
    let ctx = Ctx::new();

    // Step 3 of the Kafka quickstart: create a topic; list it.
    let out = ctx.ok("topics create --dir $D --topic quickstart-events", "");
    assert_eq!(out, "Created topic quickstart-events.\n");
    assert_eq!(ctx.ok("topics list --dir $D", ""), "quickstart-events\n");

    // Step 4: write events; each line is acknowledged with its partition and offset.
    let events = "This is my first event\nThis is my second event\n";
    let produce = "console_producer --dir $D --topic quickstart-events";
    let out = ctx.ok(&format!("{produce} --print-offsets"), events);
    assert_eq!(out, "0 0\n0 1\n");

    // Step 5: read them from the beginning.
    let consume = "console_consumer --dir $D --topic quickstart-events --timeout-ms 50";
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

/// A tool running in the background, its stdout read line by line.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Running {
    fn start(ctx: &Ctx, template: &str) -> Self {
        let command = ctx.command(template, &[]);
        let (name, args) = command.split_first().unwrap();
        let bin = examples_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next line it prints (within a minute).
    fn line(&self) -> String {
        self.lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a line from the running tool")
    }

    fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Closes its stdin and waits for it; returns its exit code and stderr.
    fn finish(mut self) -> (Option<i32>, String) {
        drop(self.child.stdin.take());
        let out = self.child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    }
}

#[test]
fn producer_and_consumer_run_side_by_side_as_in_the_quickstart() {
    let ctx = Ctx::new();
    ctx.ok("topics create --dir $D --topic quickstart-events", "");
    // Terminal 1: a consumer following the topic. Terminal 2: a producer.
    let consumer = Running::start(
        &ctx,
        "console_consumer --dir $D --topic quickstart-events --from-beginning --max-messages 3",
    );
    let mut producer = Running::start(
        &ctx,
        "console_producer --dir $D --topic quickstart-events --print-offsets",
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
        "console_consumer --dir $D --topic quickstart-events --from-beginning --timeout-ms 50",
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
    let err = ctx.fails(
        "console_producer --dir $D --topic quickstart-events",
        "refused\n",
    );
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
        "console_producer --dir $D --topic keyed --key-separator : --print-offsets --sync",
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
    let consume = "console_consumer --dir $D --topic keyed";
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
        "console_producer --dir $D --topic keyed --partition 2 --key-separator = --print-offsets",
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
    ctx.ok("console_producer --dir $D --topic small", &input);
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
fn bad_input_fails_with_one_line() {
    let ctx = Ctx::new();
    ctx.ok("topics create --dir $D --topic t --partitions 2", "");
    let cases = [
        ("topics", "missing command"),
        ("topics frobnicate --dir $D", "unknown command"),
        ("topics create --dir $D", "missing --topic"),
        ("topics create --dir $D --topic t", "already exists"),
        (
            "topics create --dir $D --topic u --partitions x",
            "--partitions",
        ),
        (
            "topics create --dir $D --topic u --partitions 0",
            "partitions must be",
        ),
        (
            "topics create --dir $D --topic u --flush often",
            "invalid flush policy",
        ),
        (
            "topics create --dir $D --topic bad/name",
            "invalid topic name",
        ),
        ("topics list --dir $D/nope", "does not exist"),
        ("topics describe --dir $D --topic nope", "does not exist"),
        ("topics delete --dir $D --topic nope", "does not exist"),
        ("topics list --dir", "--dir needs a value"),
        ("topics list --dir $D --verbose", "unknown option --verbose"),
        ("topics list --dir $D --partitions 3", "takes only"),
        ("console_producer --dir $D --topic nope", "does not exist"),
        (
            "console_producer --dir $D --topic t --partition 7",
            "no partition 7",
        ),
        (
            "console_producer --dir $D --topic t --bogus",
            "unknown option --bogus",
        ),
        ("console_producer --dir $D", "missing --topic"),
        (
            "console_producer --dir $D --topic t --sync=yes",
            "--sync does not take a value",
        ),
        ("console_consumer --dir $D --topic nope", "does not exist"),
        (
            "console_consumer --dir $D --topic t --offset 1",
            "needs --partition",
        ),
        (
            "console_consumer --dir $D --topic t --partition 9",
            "no partition 9",
        ),
        (
            "console_consumer --dir $D --topic t --partition 0 --offset 5",
            "out of range",
        ),
        (
            "console_consumer --dir $D --topic t --partition 0 --offset x",
            "--offset",
        ),
        (
            "console_consumer --dir $D --topic t --group g --partition 0",
            "with --group",
        ),
        (
            "console_consumer --dir $D --topic t --group a/b",
            "invalid group name",
        ),
        (
            "console_consumer --dir $D --topic t --from-beginning --from-time 5",
            "only one",
        ),
        ("console_consumer --dir $D/nope --topic t", "does not exist"),
        ("dump", "missing PATH"),
        ("dump $D/nope/00000000000000000000.log", "cannot read"),
        ("dump $D", "do not know how to dump"),
        ("producer_consumer --records many", "--records"),
        ("producer_consumer --producers 0", "at least 1"),
    ];
    for (command, expected) in cases {
        let err = ctx.fails(command, "");
        assert!(
            err.contains(expected),
            "`{command}`: {err:?} lacks {expected:?}"
        );
    }
    assert!(
        !ctx.path().join("nope").exists(),
        "reading tools create no directory"
    );
    assert!(ctx.tmp.path().exists());
}

#[test]
fn producer_consumer_runs_twice_on_the_same_directory() {
    let ctx = Ctx::new();
    let command = "producer_consumer --dir $D --records 3000 --producers 3 --batch 7";
    let first = ctx.ok(command, "");
    assert!(first.contains("nothing committed yet"), "{first}");
    assert!(first.contains("produced 3000 records"), "{first}");
    assert!(first.contains("consumed 3000 records"), "{first}");
    let second = ctx.ok(command, "");
    assert!(second.contains("resumes at offsets ["), "{second}");
    assert!(second.contains("consumed 3000 records"), "{second}");

    let out = ctx.ok("topics describe --dir $D --topic events", "");
    assert!(out.contains("PartitionCount: 4"), "{out}");
    let rows = group_rows(&out, "events-readers");
    assert_eq!(rows.len(), 4, "{out}");
    assert!(rows.iter().all(|r| r.2 == 0), "{out}");
    let committed: u64 = rows.iter().map(|r| r.1.parse::<u64>().unwrap()).sum();
    let stored: u64 = (0..4).map(|p| partition_row(&out, p)[2]).sum();
    assert_eq!((committed, stored), (6000, 6000));

    // The group's lock files are told apart from its offsets file.
    let locks = ctx.path().join("events/groups/events-readers.locks");
    for (file, says) in [
        (
            "commit",
            "the commit lock of consumer group \"events-readers\"",
        ),
        ("member.0", "member slot 0 of consumer group"),
        ("partition.3", "the ownership lock of partition 3"),
    ] {
        let out = ctx.ok_with("dump $F", &[("$F", locks.join(file).to_str().unwrap())], "");
        assert!(out.contains(says), "{file}: {out}");
    }
    let out = ctx.ok("topics describe --dir $D --topic events", "");
    assert!(!out.contains(".locks"), "{out}");
}

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
    ctx.ok(
        "console_producer --dir $D --topic r --key-separator :",
        &input,
    );
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
    let consume = "console_consumer --dir $D --topic r --timeout-ms 50";
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
        "console_producer --dir $D --topic r --print-offsets",
        "after the cut\n",
    );
    assert_eq!(out, "0 290\n");
    let out = ctx.ok(&format!("{consume} --from-beginning --print-offset"), "");
    let tail: Vec<&str> = lines(&out).into_iter().rev().take(2).collect();
    assert_eq!(tail[0], "290\tafter the cut", "{out}");
    let below: u64 = tail[1].split('\t').next().unwrap().parse().unwrap();
    assert!(below < 290, "{out}");

    // Bad values: one line, exit 1, nothing created.
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
        (
            "topics create --dir $D --topic x --retention-ms soon",
            "invalid value \"soon\" for --retention-ms",
        ),
        (
            "topics create --dir $D --topic x --retention-bytes -1",
            "for --retention-bytes",
        ),
        (
            "topics create --dir $D --topic x --delete-retention-ms x",
            "for --delete-retention-ms",
        ),
        (
            "topics create --dir $D --topic x --cleanup-policy sometimes",
            "invalid cleanup policy \"sometimes\"",
        ),
        (
            "topics create --dir $D --topic x --cleanup-policy",
            "--cleanup-policy needs a value",
        ),
        (
            "topics create --dir $D --topic x --retain-until-consumed=yes",
            "--retain-until-consumed does not take a value",
        ),
        (
            "topics describe --dir $D --topic r --retention-ms 5",
            "describe takes only --dir and --topic",
        ),
        (
            "topics compact --dir $D --topic r --partition 0",
            "compact takes only --dir and --topic",
        ),
        ("topics compact --dir $D --topic nope", "does not exist"),
        ("topics compact --dir $D/nope --topic r", "does not exist"),
        (
            "topics enforce-retention --dir $D --topic nope",
            "does not exist",
        ),
        ("topics enforce-retention --dir $D", "missing --topic"),
        (
            "topics truncate --dir $D --topic r --offset 1",
            "missing --partition",
        ),
        (
            "topics truncate --dir $D --topic r --partition 0",
            "missing --offset",
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
        (
            "topics truncate --dir $D --topic r --partition 0 --offset -3",
            "for --offset",
        ),
        (
            "topics truncate --dir $D --topic r --partition 0 --offset 5 --retention-ms 1",
            "truncate takes only --dir, --topic, --partition and --offset",
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
    ctx.ok(
        "console_producer --dir $D --topic orders --key-separator :",
        &input,
    );
    let print = "--from-beginning --timeout-ms 50 --print-partition --print-offset --print-key";
    let before = ctx.ok(
        &format!("console_consumer --dir $D --topic orders {print}"),
        "",
    );
    assert_eq!(before.lines().count(), 2500);

    // Export: one Kafka partition directory per partition, progress on stderr (after each
    // batch of 1000 records past the 1000-byte interval, except the last).
    let out = ctx.run_with(
        "topics export --dir $D --topic orders --log-dir $K --progress-bytes 1000 \
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
                "topics import --dir $C --topic orders --create --partitions 2 --partition {p} \
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
        &format!("console_consumer --dir $C --topic orders {print}"),
        &[("$C", c)],
        "",
    );
    assert_eq!(after, before);

    // A directory written by kafka-python (tests/fixtures/kafka/orders-0): the tool says what
    // it could not carry.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kafka/orders-0");
    let out = ctx.ok_with(
        "topics import --dir $C --topic fromkafka --create --partition-dir $P",
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
        rows.contains(&"Not carried: control batches skipped (transaction markers): 1"),
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
        "topics export --dir $D --topic orders --log-dir $K",
        &[("$K", k)],
        "",
    );
    assert!(err.contains("exists"), "{err}");
    let err = ctx.fails_with(
        "topics import --dir $C --topic orders --partition-dir $P",
        &[("$C", c), ("$P", kafka.join("orders-0").to_str().unwrap())],
        "",
    );
    assert!(err.contains("below the partition's next offset"), "{err}");
    let err = ctx.fails(
        "topics import --dir $D --topic orders --partition-dir /nonexistent/orders-0",
        "",
    );
    assert!(err.contains("does not exist"), "{err}");
    let err = ctx.fails("topics export --dir $D --topic orders", "");
    assert!(err.contains("--log-dir"), "{err}");
    let err = ctx.fails("topics import --dir $D --topic orders --log-dir /x", "");
    assert!(err.contains("import takes only"), "{err}");
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
    ctx.ok("console_producer --dir $D --topic c", &input);
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
        "console_consumer --dir $D --topic c --from-beginning --timeout-ms 200",
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
