//! Runs the `pagelog` binary as a user would: the Kafka quickstart, a producer and a
//! consumer side by side, consumer groups, every subcommand's `--help`, usage and runtime
//! errors, `--json` output, retention, compaction and truncation, `dump` and `verify` of
//! damaged files, export and import, and `perf`. Each test works in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dump;
mod groups;
mod kafka;
mod maintenance;
mod perf;
mod quickstart;
mod usage;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The binary under test (built by cargo for this test).
const BIN: &str = env!("CARGO_BIN_EXE_pagelog");

/// What a tool did.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `pagelog` with `args`, feeding it `stdin`.
fn run_args(args: &[String], stdin: &str) -> Out {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
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

    /// Runs a command that must be refused as a usage error (exit code 2, one line).
    fn usage_error(&self, template: &str) -> String {
        let out = self.run_with(template, &[], "");
        one_line_error_code(template, &out, 2)
    }
}

/// Checks that `out` is a failure with exit code 1 and one `error: ` line on stderr.
fn one_line_error(what: &str, out: &Out) -> String {
    one_line_error_code(what, out, 1)
}

/// Checks that `out` is a failure with exit code `code` and one `error: ` line on stderr.
fn one_line_error_code(what: &str, out: &Out, code: i32) -> String {
    assert_eq!(
        out.code,
        Some(code),
        "`{what}` should fail with {code}: {out:?}"
    );
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

/// A tool running in the background, its stdout read line by line.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Running {
    fn start(ctx: &Ctx, template: &str) -> Self {
        let args = ctx.command(template, &[]);
        let mut child = Command::new(BIN)
            .args(&args)
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
