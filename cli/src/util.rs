//! What the subcommands share: the error type, opening and closing a store, the policy names
//! of the command line, and tables.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use pagelog::{CleanupPolicy, FlushPolicy, Store};

/// Every runtime error a subcommand reports; printed as one line, exit code 1.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// Result of the subcommands.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `v` as a float, for printing rates and sizes with a few significant digits.
#[expect(
    clippy::cast_precision_loss,
    reason = "for display only: exact below 2^53, and printed with a few digits"
)]
pub fn approx(v: u64) -> f64 {
    v as f64
}

/// Bytes in a MiB, for progress lines.
pub const MIB: f64 = 1_048_576.0;

/// Collapses a message to a single line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Prints what the store's background work recorded (failed checkpoint writes, hooks,
/// retention or compaction passes) as `warning:` lines on stderr, then closes the store: a
/// command never exits with such errors unsaid.
pub fn close(store: Store) -> Result<()> {
    for e in store.background_errors() {
        eprintln!("warning: {}", one_line(&e));
    }
    Ok(store.close()?)
}

/// The error for a store directory that is not there.
fn missing(dir: &Path) -> Error {
    format!("store directory {} does not exist", dir.display()).into()
}

/// Opens the store in `dir` for writing; `dir` must already exist (unlike `Store::open`,
/// which creates it): a typo must not leave an empty directory behind.
pub fn open_existing(dir: &Path) -> Result<Store> {
    if !dir.is_dir() {
        return Err(missing(dir));
    }
    Ok(Store::open(dir)?)
}

/// Opens the store in `dir` for writing and its topic `name`. With `create`, the store and
/// the topic are made if missing (the topic with `partitions` partitions, default 1);
/// without it both must exist, and a missing topic is an error that says how to make it.
pub fn open_for_writing(
    dir: &Path,
    name: &str,
    create: bool,
    partitions: Option<u32>,
) -> Result<(Store, pagelog::Topic)> {
    let store = if create {
        pagelog::validate_topic_name(name)?;
        Store::open(dir)?
    } else {
        open_existing(dir)?
    };
    let topic = match store.topic(name) {
        Ok(t) => t,
        Err(pagelog::Error::TopicNotFound(_)) if create => store.create_topic(
            name,
            pagelog::TopicConfig::default().partitions(partitions.unwrap_or(1)),
        )?,
        Err(pagelog::Error::TopicNotFound(_)) => {
            return Err(format!(
                "topic {name:?} does not exist (create it with `pagelog topics create`, or pass --create)"
            )
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    Ok((store, topic))
}

/// Opens the store in `dir` (which must exist) read-only: reading commands run beside a
/// writer process (a producer, an application) and never keep one out.
pub fn open_reading(dir: &Path) -> Result<Store> {
    if !dir.is_dir() {
        return Err(missing(dir));
    }
    Ok(Store::open_read_only(dir)?)
}

/// Parses `never`, `every-append`, `interval-ms:N` or `every-records:N` (a clap value
/// parser: its error becomes a usage error).
pub fn parse_flush(s: &str) -> Result<FlushPolicy, String> {
    let bad = || {
        format!(
            "invalid flush policy {s:?}: expected never, every-append, interval-ms:N or every-records:N"
        )
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
pub fn parse_cleanup_policy(s: &str) -> Result<CleanupPolicy, String> {
    Ok(match s {
        "delete" => CleanupPolicy::Delete,
        "compact" => CleanupPolicy::Compact,
        "compact,delete" | "delete,compact" => CleanupPolicy::CompactDelete,
        _ => {
            return Err(format!(
                "invalid cleanup policy {s:?}: expected delete, compact or compact,delete"
            ));
        }
    })
}

/// The inverse of [`parse_cleanup_policy`].
pub fn format_cleanup_policy(p: CleanupPolicy) -> &'static str {
    match p {
        CleanupPolicy::Compact => "compact",
        CleanupPolicy::CompactDelete => "compact,delete",
        CleanupPolicy::Delete => "delete",
    }
}

/// `n` with `noun`, pluralised, then `what` (if any): "3 segments rewritten".
pub fn count(n: u64, noun: &str, what: &str) -> String {
    let s = match n {
        1 => "",
        _ if noun.ends_with("ch") || noun.ends_with('s') => "es",
        _ => "s",
    };
    if what.is_empty() {
        format!("{n} {noun}{s}")
    } else {
        format!("{n} {noun}{s} {what}")
    }
}

/// A table row from string literals.
pub fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|s| (*s).to_owned()).collect()
}

/// Prints rows as left-aligned columns separated by two spaces.
pub fn print_table(out: &mut impl Write, rows: &[Vec<String>]) -> io::Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(&widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                // Writing to a String cannot fail.
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// An optional limit as `describe` prints it.
pub fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "none".to_owned(), |v| v.to_string())
}

/// Writes `value` as JSON (indented), then a newline.
pub fn print_json(out: &mut impl Write, value: &serde_json::Value) -> Result<()> {
    // Rendered first, so that a closed stdout is an `io::Error` (a normal end), not a
    // serialization error.
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// A consumer group name from the command line (a clap value parser).
pub fn parse_group(s: &str) -> Result<String, String> {
    match pagelog::validate_group_name(s) {
        Ok(()) => Ok(s.to_owned()),
        Err(pagelog::Error::InvalidTopicName { reason, .. }) => {
            Err(format!("invalid group name {s:?}: {reason}"))
        }
        Err(e) => Err(one_line(&e.to_string())),
    }
}
