//! `pagelog verify`: checks every batch (header, CRC, offset order, record structure) and
//! every index entry of the store's topics, and each consumer group's offsets file, without
//! stopping at the first problem. Opens the store read-only, so it runs beside a writer.

use std::io::Write;
use std::path::Path;

use clap::Args as ClapArgs;

use crate::util::{self, Result, open_reading};

pub const EXAMPLE: &str = "\
Examples:
  pagelog verify
  pagelog verify --topic orders --topic payments";

/// `verify`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Check only this topic (repeat for more) [default: every topic]
    #[arg(long, short = 't', value_name = "NAME")]
    topic: Vec<String>,
}

pub fn run(dir: &Path, a: &Args) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let store = open_reading(dir)?;
    let names = if a.topic.is_empty() {
        store.topics()?
    } else {
        a.topic.clone()
    };
    let (mut problems, mut first) = (0u64, None::<String>);
    let mut note = |what: String, out: &mut std::io::StdoutLock<'_>| -> Result<()> {
        writeln!(out, "  CORRUPT {what}")?;
        problems += 1;
        first.get_or_insert(what);
        Ok(())
    };
    for name in &names {
        let topic = store.topic(name)?;
        for p in topic.partitions() {
            let r = p.verify();
            let segments = p.info().segments;
            writeln!(
                out,
                "{name}/{}: {} in {}, {} checked, {}",
                p.id(),
                util::count(r.batches, "batch", ""),
                util::count(segments as u64, "segment", ""),
                util::count(r.records, "record", ""),
                if r.is_ok() { "ok" } else { "DAMAGED" }
            )?;
            for problem in &r.problems {
                let what = format!(
                    "{} at byte {}: {}",
                    problem.path.display(),
                    problem.position,
                    problem.reason
                );
                note(what, &mut out)?;
            }
        }
        for g in topic.groups()? {
            match topic.committed_offsets(&g) {
                Ok(_) => writeln!(out, "{name} group {g}: offsets ok")?,
                Err(e) => note(format!("group {g}: {e}"), &mut out)?,
            }
        }
    }
    out.flush()?;
    util::close(store)?;
    match first {
        None => {
            writeln!(
                out,
                "Verified {}: no damage found.",
                util::count(names.len() as u64, "topic", "")
            )?;
            out.flush()?;
            Ok(())
        }
        Some(first) => Err(format!("{problems} problem(s) found, the first: {first}").into()),
    }
}
