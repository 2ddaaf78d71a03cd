//! Helpers shared by the example programs: a tiny command-line parser, the `main` wrapper
//! that turns any error into one `error: ...` line on stderr and a non-zero exit code, and
//! parsing/printing of flush and cleanup policies.
//!
//! Included from each example with `#[path = "common/mod.rs"] mod common;`. Each example
//! uses a different subset of these helpers, hence the `dead_code` allowance below (it covers
//! this shared module only).
#![allow(dead_code)]

use std::fmt::Display;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use pagelog::{CleanupPolicy, FlushPolicy, Store};

/// `v` as a float, for printing rates and sizes with a few significant digits.
#[expect(
    clippy::cast_precision_loss,
    reason = "for display only: exact below 2^53, and printed with a few digits"
)]
pub fn approx(v: u64) -> f64 {
    v as f64
}

/// Every error a tool reports; printed as one line.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// Result of the tools' functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs a tool's `run` function: `Ok` exits 0; an error prints `error: <message>` as one line
/// on stderr and exits 1. A broken pipe on stdout (`tool | head`) is a normal end: exit 0.
/// A panic (a bug) prints one line too, never a backtrace, and exits 101.
pub fn main_with(run: fn() -> Result<()>) -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error{at}: {}", one_line(&msg));
    }));
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// Collapses a message to a single line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Prints `text` (a usage message) to stdout.
pub fn print_usage(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// One command-line item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// `--name` or `--name=value` (the value is read with [`Args::value`]).
    Long(String),
    /// `-x`.
    Short(char),
    /// Anything else, and everything after `--`.
    Positional(String),
}

/// A minimal command-line parser in the style of `lexopt`: call [`next`](Self::next) in a
/// loop, and [`value`](Self::value) / [`parse`](Self::parse) after an option that takes a
/// value (`--dir D` and `--dir=D` both work).
#[derive(Debug)]
pub struct Args {
    items: std::vec::IntoIter<String>,
    /// The `value` of `--name=value`, not yet taken.
    inline: Option<String>,
    /// The option last returned, for messages.
    last: String,
    positional_only: bool,
}

impl Args {
    /// The process's arguments (without the program name).
    pub fn from_env() -> Result<Self> {
        let items = std::env::args_os()
            .skip(1)
            .map(|a| {
                a.into_string().map_err(|a| {
                    // Debug, not display: it escapes the bytes that are not UTF-8.
                    #[expect(clippy::unnecessary_debug_formatting, reason = "see above")]
                    let msg = format!("argument {a:?} is not valid UTF-8");
                    msg
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(items))
    }

    /// Parses `items`.
    pub fn new(items: Vec<String>) -> Self {
        Self {
            items: items.into_iter(),
            inline: None,
            last: String::new(),
            positional_only: false,
        }
    }

    /// The next item, `None` at the end.
    pub fn next(&mut self) -> Result<Option<Arg>> {
        if self.inline.take().is_some() {
            return Err(format!("{} does not take a value", self.last).into());
        }
        let Some(a) = self.items.next() else {
            return Ok(None);
        };
        if self.positional_only {
            return Ok(Some(Arg::Positional(a)));
        }
        if a == "--" {
            self.positional_only = true;
            return self.next();
        }
        if let Some(long) = a.strip_prefix("--") {
            let name = match long.split_once('=') {
                Some((name, value)) => {
                    self.inline = Some(value.to_owned());
                    name
                }
                None => long,
            };
            self.last = format!("--{name}");
            return Ok(Some(Arg::Long(name.to_owned())));
        }
        if let Some(short) = a.strip_prefix('-') {
            let mut chars = short.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                self.last.clone_from(&a);
                return Ok(Some(Arg::Short(c)));
            }
            if !short.is_empty() {
                return Err(format!("unknown option {a:?} (see --help)").into());
            }
        }
        Ok(Some(Arg::Positional(a)))
    }

    /// The value of the option just returned.
    pub fn value(&mut self) -> Result<String> {
        if let Some(v) = self.inline.take() {
            return Ok(v);
        }
        self.items
            .next()
            .ok_or_else(|| format!("{} needs a value (see --help)", self.last).into())
    }

    /// The value of the option just returned, parsed.
    pub fn parse<T>(&mut self) -> Result<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let v = self.value()?;
        v.parse()
            .map_err(|e| format!("invalid value {v:?} for {}: {e}", self.last).into())
    }

    /// The error for an item the tool does not accept.
    pub fn unexpected(arg: &Arg) -> Error {
        match arg {
            Arg::Long(name) => format!("unknown option --{name} (see --help)").into(),
            Arg::Short(c) => format!("unknown option -{c} (see --help)").into(),
            Arg::Positional(s) => format!("unexpected argument {s:?} (see --help)").into(),
        }
    }
}

/// The value of a required option, or an error naming it.
pub fn required<T>(value: Option<T>, flag: &str) -> Result<T> {
    value.ok_or_else(|| format!("missing {flag} (see --help)").into())
}

/// Prints what the store's background work recorded (failed checkpoint writes, hooks,
/// retention or compaction passes) as `warning:` lines on stderr, then closes the store: a
/// tool never exits with such errors unsaid.
///
/// # Errors
/// The close's error.
pub fn close(store: Store) -> Result<()> {
    for e in store.background_errors() {
        eprintln!("warning: {e}");
    }
    Ok(store.close()?)
}

/// Opens the store in `dir`, which must already exist (unlike `Store::open`, which creates
/// it): reading tools should not leave empty directories behind after a typo.
pub fn open_existing(dir: &Path) -> Result<Store> {
    if !dir.is_dir() {
        return Err(format!("store directory {} does not exist", dir.display()).into());
    }
    Ok(Store::open(dir)?)
}

/// Opens the store in `dir` (which must exist) read-only: reading tools run beside a writer
/// process (a producer, an application) and never keep one out.
pub fn open_reading(dir: &Path) -> Result<Store> {
    if !dir.is_dir() {
        return Err(format!("store directory {} does not exist", dir.display()).into());
    }
    Ok(Store::open_read_only(dir)?)
}

/// Parses `never`, `every-append`, `interval-ms:N` or `every-records:N`.
pub fn parse_flush(s: &str) -> Result<FlushPolicy> {
    let bad = || -> Error {
        format!(
            "invalid flush policy {s:?}: expected never, every-append, interval-ms:N or every-records:N"
        )
        .into()
    };
    Ok(match s.split_once(':') {
        None if s == "never" => FlushPolicy::Never,
        None if s == "every-append" => FlushPolicy::EveryAppend,
        Some(("interval-ms", n)) => {
            FlushPolicy::Interval(Duration::from_millis(n.parse().map_err(|_| bad())?))
        }
        Some(("every-records", n)) => FlushPolicy::EveryRecords(n.parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    })
}

/// The inverse of [`parse_flush`].
pub fn format_flush(p: &FlushPolicy) -> String {
    match p {
        FlushPolicy::Never => "never".into(),
        FlushPolicy::EveryAppend => "every-append".into(),
        FlushPolicy::Interval(d) => format!("interval-ms:{}", d.as_millis()),
        FlushPolicy::EveryRecords(n) => format!("every-records:{n}"),
    }
}

/// Parses a cleanup policy as Kafka spells it: `delete`, `compact`, or both (`compact,delete`
/// or `delete,compact`).
pub fn parse_cleanup_policy(s: &str) -> Result<CleanupPolicy> {
    Ok(match s {
        "delete" => CleanupPolicy::Delete,
        "compact" => CleanupPolicy::Compact,
        "compact,delete" | "delete,compact" => CleanupPolicy::CompactDelete,
        _ => {
            return Err(format!(
                "invalid cleanup policy {s:?}: expected delete, compact or compact,delete"
            )
            .into());
        }
    })
}

/// The inverse of [`parse_cleanup_policy`].
pub fn format_cleanup_policy(p: CleanupPolicy) -> &'static str {
    match p {
        CleanupPolicy::Delete => "delete",
        CleanupPolicy::Compact => "compact",
        CleanupPolicy::CompactDelete => "compact,delete",
    }
}
