//! `--help` of every subcommand, shell completions, usage errors (exit 2) and runtime errors
//! (exit 1), each one line on stderr, and `--json` output parsed back.

use super::{Ctx, lines};

/// Every subcommand, as typed after `pagelog`.
const SUBCOMMANDS: [&str; 22] = [
    "",
    "topics",
    "topics create",
    "topics list",
    "topics describe",
    "topics alter",
    "topics delete",
    "topics compact",
    "topics enforce-retention",
    "topics truncate",
    "produce",
    "consume",
    "groups",
    "groups list",
    "groups describe",
    "groups reset-offsets",
    "dump",
    "verify",
    "export",
    "import",
    "perf",
    "completions",
];

#[test]
fn help_for_every_subcommand_with_an_example() {
    let ctx = Ctx::new();
    for command in SUBCOMMANDS {
        for flag in ["--help", "-h"] {
            let out = ctx.run(&format!("{command} {flag}"), "");
            assert_eq!(out.code, Some(0), "{command} {flag}: {out:?}");
            assert!(out.stderr.is_empty(), "{command}: {out:?}");
            let usage = format!("Usage: pagelog {command}");
            assert!(out.stdout.contains(usage.trim_end()), "{command}: {out:?}");
            assert!(
                out.stdout.contains("Example"),
                "{command}: no example: {}",
                out.stdout
            );
        }
    }
    let out = ctx.run("help consume", "");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("--from-beginning"), "{out:?}");
    let version = ctx.ok("--version", "");
    assert!(version.starts_with("pagelog "), "{version}");
    // The exit codes are documented.
    assert!(ctx.ok("--help", "").contains("Exit codes: 0"));
}

#[test]
fn shell_completions() {
    let ctx = Ctx::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = ctx.ok(&format!("completions {shell}"), "");
        assert!(out.contains("reset-offsets"), "{shell}: {out}");
    }
    let err = ctx.usage_error("completions tcsh");
    assert!(err.contains("tcsh"), "{err}");
}

#[test]
#[expect(clippy::too_many_lines, reason = "one table of cases")]
fn usage_errors_exit_2_with_one_line() {
    let ctx = Ctx::new();
    ctx.ok("topics create --dir $D --topic t --partitions 2", "");
    let cases = [
        ("", "a subcommand is required"),
        ("topics", "a subcommand is required"),
        (
            "topics frobnicate --dir $D",
            "unrecognized subcommand 'frobnicate'",
        ),
        ("topics create --dir $D", "--topic <NAME>"),
        (
            "topics create --dir $D --topic u --partitions x",
            "--partitions",
        ),
        (
            "topics create --dir $D --topic u --flush often",
            "invalid flush policy",
        ),
        (
            "topics create --dir $D --topic x --retention-ms soon",
            "'soon' for '--retention-ms",
        ),
        (
            "topics create --dir $D --topic x --retention-bytes -1",
            "unexpected argument '-1'",
        ),
        (
            "topics create --dir $D --topic x --delete-retention-ms x",
            "--delete-retention-ms",
        ),
        (
            "topics create --dir $D --topic x --cleanup-policy sometimes",
            "invalid cleanup policy \"sometimes\"",
        ),
        (
            "topics create --dir $D --topic x --cleanup-policy",
            "a value is required for '--cleanup-policy",
        ),
        (
            "topics create --dir $D --topic x --retain-until-consumed=yes",
            "unexpected value 'yes' for '--retain-until-consumed'",
        ),
        ("topics list --dir", "a value is required for '--dir <DIR>'"),
        (
            "topics list --dir $D --verbose",
            "unexpected argument '--verbose'",
        ),
        (
            "topics list --dir $D --partitions 3",
            "unexpected argument '--partitions'",
        ),
        (
            "topics describe --dir $D --topic t --retention-ms 5",
            "unexpected argument '--retention-ms'",
        ),
        (
            "topics compact --dir $D --topic t --partition 0",
            "unexpected argument '--partition'",
        ),
        ("topics enforce-retention --dir $D", "--topic <NAME>"),
        (
            "topics truncate --dir $D --topic t --offset 1",
            "--partition <P>",
        ),
        (
            "topics truncate --dir $D --topic t --partition 0",
            "--offset <O>",
        ),
        (
            "topics truncate --dir $D --topic t --partition 0 --offset -3",
            "unexpected argument '-3'",
        ),
        (
            "topics truncate --dir $D --topic t --partition 0 --offset 5 --retention-ms 1",
            "unexpected argument '--retention-ms'",
        ),
        (
            "topics alter --dir $D --topic t --retention-bytes lots",
            "expected a number or none",
        ),
        (
            "produce --dir $D --topic t --bogus",
            "unexpected argument '--bogus'",
        ),
        ("produce --dir $D", "--topic <NAME>"),
        (
            "produce --dir $D --topic t --sync=yes",
            "unexpected value 'yes' for '--sync'",
        ),
        ("produce --dir $D --topic t --partitions 3", "--create"),
        (
            "produce --dir $D --topic t --key-separator=",
            "--key-separator",
        ),
        ("consume --dir $D --topic t --offset 1", "--partition <P>"),
        (
            "consume --dir $D --topic t --partition 0 --offset x",
            "expected a number, earliest or latest",
        ),
        (
            "consume --dir $D --topic t --group g --partition 0",
            "'--group <G>' cannot be used with '--partition",
        ),
        (
            "consume --dir $D --topic t --group a/b",
            "invalid group name",
        ),
        (
            "consume --dir $D --topic t --from-beginning --from-time 5",
            "cannot be used with",
        ),
        (
            "groups reset-offsets --dir $D --topic t --group g",
            "required arguments were not provided",
        ),
        (
            "groups reset-offsets --dir $D --topic t --group g --to-earliest --to-latest",
            "cannot be used with",
        ),
        ("dump", "<PATH>"),
        ("export --dir $D --topic t", "--log-dir <KAFKA_LOG_DIR>"),
        (
            "import --dir $D --topic t --log-dir /x",
            "unexpected argument '--log-dir'",
        ),
        ("perf --producers 0", "--producers"),
        ("perf --record-size 4", "--record-size"),
    ];
    for (command, expected) in cases {
        let err = ctx.usage_error(command);
        assert!(
            err.contains(expected),
            "`{command}`: {err:?} lacks {expected:?}"
        );
    }
    assert!(!lines(&ctx.ok("topics list --dir $D", "")).contains(&"x"));
}

#[test]
fn runtime_errors_exit_1_with_one_line() {
    let ctx = Ctx::new();
    ctx.ok("topics create --dir $D --topic t --partitions 2", "");
    let cases = [
        ("topics create --dir $D --topic t", "already exists"),
        (
            "topics create --dir $D --topic u --partitions 0",
            "partitions must be",
        ),
        (
            "topics create --dir $D --topic bad/name",
            "invalid topic name",
        ),
        (
            "topics create --dir $D --topic x --retention-bytes 0",
            "retention_bytes must be in 1..",
        ),
        ("topics list --dir $D/nope", "does not exist"),
        ("topics describe --dir $D --topic nope", "does not exist"),
        ("topics delete --dir $D --topic nope", "does not exist"),
        ("topics compact --dir $D --topic nope", "does not exist"),
        (
            "topics alter --dir $D --topic nope --retention-ms 5",
            "does not exist",
        ),
        ("produce --dir $D --topic nope", "does not exist"),
        ("produce --dir $D --topic t --partition 7", "no partition 7"),
        ("consume --dir $D --topic nope", "does not exist"),
        ("consume --dir $D --topic t --partition 9", "no partition 9"),
        (
            "consume --dir $D --topic t --partition 0 --offset 5",
            "out of range",
        ),
        ("consume --dir $D/nope --topic t", "does not exist"),
        (
            "groups describe --dir $D --group nobody",
            "has committed no offsets",
        ),
        ("groups list --dir $D --topic nope", "does not exist"),
        ("verify --dir $D --topic nope", "does not exist"),
        ("dump $D/nope/00000000000000000000.log", "cannot read"),
        ("dump $D", "do not know how to dump"),
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
        "reading commands create no directory"
    );
    assert!(ctx.tmp.path().exists());
}

#[test]
fn json_output_parses_back() {
    let ctx = Ctx::new();
    ctx.ok("topics create --dir $D --topic orders --partitions 2", "");
    ctx.ok("topics create --dir $D --topic a.b_c-d", "");
    ctx.ok(
        "produce --dir $D --topic orders --key-separator :",
        "a:1\nb:2\nc:3\nd:4\n",
    );
    ctx.ok(
        "consume --dir $D --topic orders --group billing --from-beginning --max-messages 3",
        "",
    );

    let list: serde_json::Value =
        serde_json::from_str(&ctx.ok("topics list --dir $D --json", "")).unwrap();
    assert_eq!(list, serde_json::json!(["a.b_c-d", "orders"]));

    let d: serde_json::Value =
        serde_json::from_str(&ctx.ok("topics describe --dir $D --topic orders --json", ""))
            .unwrap();
    assert_eq!(d["topic"], "orders");
    assert_eq!(d["partition_count"], 2);
    assert_eq!(d["config"]["cleanup_policy"], "delete");
    assert_eq!(d["config"]["retention_bytes"], serde_json::Value::Null);
    let parts = d["partitions"].as_array().unwrap();
    let stored: u64 = parts.iter().map(|p| p["records"].as_u64().unwrap()).sum();
    assert_eq!(stored, 4);
    let group = &d["groups"][0];
    assert_eq!(group["group"], "billing");
    assert_eq!(group["lag"], 1, "{d}");

    let groups: serde_json::Value =
        serde_json::from_str(&ctx.ok("groups list --dir $D --json", "")).unwrap();
    assert_eq!(
        groups,
        serde_json::json!([{"topic": "orders", "group": "billing", "lag": 1}])
    );
    let g: serde_json::Value =
        serde_json::from_str(&ctx.ok("groups describe --dir $D --group billing --json", ""))
            .unwrap();
    assert_eq!(g[0]["partitions"].as_array().unwrap().len(), 2, "{g}");
    let committed: u64 = g[0]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["committed"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(committed, 3, "{g}");
}

/// `pagelog mirror` exists only with the `mirror` feature (`cargo test --features mirror`).
#[cfg(feature = "mirror")]
#[test]
fn mirror_help_and_usage() {
    let ctx = Ctx::new();
    let out = ctx.ok("mirror --help", "");
    assert!(
        out.contains("Usage: pagelog mirror") && out.contains("Example"),
        "{out}"
    );
    let err = ctx.usage_error("mirror --topic t --group g");
    assert!(err.contains("--brokers"), "{err}");
}
