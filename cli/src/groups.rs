//! `pagelog groups list | describe | reset-offsets` (kafka-consumer-groups). A group belongs
//! to a topic in pagelog (its offsets live in `<topic>/groups/<group>.offsets`), so each row
//! names both. Every subcommand opens the store read-only: groups commit through it.

use std::io::Write;
use std::path::Path;

use clap::{Args as ClapArgs, Subcommand};
use pagelog::{ConsumerConfig, Store, Topic};
use serde_json::json;

use crate::topics::{group_json, group_rows};
use crate::util::{self, Result, open_reading, print_table, row};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the consumer groups that committed offsets, with their total lag
    #[command(after_help = "Example:\n  pagelog groups list --json")]
    List(ListArgs),
    /// Show a group's committed offset, next offset and lag on each partition
    #[command(after_help = "Example:\n  pagelog groups describe --group billing --topic orders")]
    Describe(DescribeArgs),
    /// Move a group's committed offsets (dry run unless --execute); its members must be stopped
    #[command(
        after_help = "Examples:\n  pagelog groups reset-offsets --group billing --topic orders --to-earliest\n  \
        pagelog groups reset-offsets --group billing --topic orders --shift-by -100 --execute"
    )]
    ResetOffsets(ResetArgs),
}

/// `groups list`.
#[derive(Debug, ClapArgs)]
pub struct ListArgs {
    /// Only this topic's groups [default: every topic]
    #[arg(long, short = 't', value_name = "NAME")]
    topic: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

/// `groups describe`.
#[derive(Debug, ClapArgs)]
pub struct DescribeArgs {
    /// The group
    #[arg(long, short = 'g', value_name = "G", value_parser = util::parse_group)]
    group: String,
    /// Only on this topic [default: every topic where it committed]
    #[arg(long, short = 't', value_name = "NAME")]
    topic: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

/// Where `reset-offsets` moves the offsets.
#[derive(Debug, Clone, Copy, ClapArgs)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// To the first stored record
    #[arg(long)]
    to_earliest: bool,
    /// To the end: only records appended later are read
    #[arg(long)]
    to_latest: bool,
    /// To this offset (clamped to each partition's range)
    #[arg(long, value_name = "O")]
    to_offset: Option<u64>,
    /// To the first record with a timestamp >= MS (ms since the epoch)
    #[arg(long, value_name = "MS")]
    to_timestamp: Option<i64>,
    /// By N records from the committed offset (negative: back), clamped to the range
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    shift_by: Option<i64>,
}

/// `groups reset-offsets`.
#[derive(Debug, ClapArgs)]
pub struct ResetArgs {
    /// The group
    #[arg(long, short = 'g', value_name = "G", value_parser = util::parse_group)]
    group: String,
    /// The topic
    #[arg(long, short = 't', value_name = "NAME")]
    topic: String,
    /// Only this partition [default: all]
    #[arg(long, short = 'p', value_name = "P")]
    partition: Option<u32>,
    #[command(flatten)]
    target: Target,
    /// Commit the new offsets [default: only print them]
    #[arg(long)]
    execute: bool,
}

pub fn run(dir: &Path, command: Command) -> Result<()> {
    let store = open_reading(dir)?;
    let result = match command {
        Command::List(a) => list(&store, &a),
        Command::Describe(a) => describe(&store, &a),
        Command::ResetOffsets(a) => reset(&store, &a),
    };
    let closed = util::close(store);
    result?;
    closed
}

/// The topics to look at: the one named, or all.
fn topics(store: &Store, only: Option<&String>) -> Result<Vec<Topic>> {
    let names = match only {
        Some(t) => vec![t.clone()],
        None => store.topics()?,
    };
    Ok(names
        .iter()
        .map(|n| store.topic(n))
        .collect::<pagelog::Result<_>>()?)
}

fn list(store: &Store, a: &ListArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut rows = vec![row(["TOPIC", "GROUP", "LAG"])];
    let mut json = Vec::new();
    for t in topics(store, a.topic.as_ref())? {
        for g in t.groups()? {
            let lag: u64 = t.group_lag(&g)?.iter().sum();
            json.push(json!({ "topic": t.name(), "group": g, "lag": lag }));
            rows.push(vec![t.name().to_owned(), g, lag.to_string()]);
        }
    }
    if a.json {
        util::print_json(&mut out, &json.into())?;
    } else if rows.len() > 1 {
        print_table(&mut out, &rows)?;
    } else {
        writeln!(out, "No consumer group has committed offsets.")?;
    }
    out.flush()?;
    Ok(())
}

fn describe(store: &Store, a: &DescribeArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut rows = vec![row([
        "TOPIC",
        "PARTITION",
        "COMMITTED",
        "NEXT-OFFSET",
        "LAG",
    ])];
    let mut json = Vec::new();
    for t in topics(store, a.topic.as_ref())? {
        if a.topic.is_none() && !t.groups()?.contains(&a.group) {
            continue;
        }
        json.push(group_json(&t, &a.group)?);
        for r in group_rows(&t, &a.group)? {
            rows.push(vec![
                t.name().to_owned(),
                r.partition.to_string(),
                r.committed
                    .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                r.next_offset.to_string(),
                r.lag.to_string(),
            ]);
        }
    }
    if json.is_empty() {
        return Err(format!("consumer group {:?} has committed no offsets", a.group).into());
    }
    if a.json {
        util::print_json(&mut out, &json.into())?;
    } else {
        print_table(&mut out, &rows)?;
    }
    out.flush()?;
    Ok(())
}

fn reset(store: &Store, a: &ResetArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let topic = store.topic(&a.topic)?;
    let committed = topic.committed_offsets(&a.group)?;
    let ids: Vec<u32> = match a.partition {
        Some(p) => vec![topic.partition(p)?.id()],
        None => (0..topic.partition_count()).collect(),
    };
    let mut plan = Vec::new();
    let mut rows = vec![row(["TOPIC", "PARTITION", "COMMITTED", "NEW-OFFSET"])];
    for id in ids {
        let p = topic.partition(id)?;
        let (start, end) = (p.start_offset(), p.next_offset());
        let old = committed.get(id as usize).copied().flatten();
        let t = a.target;
        let new = if t.to_earliest {
            start
        } else if t.to_latest {
            end
        } else if let Some(o) = t.to_offset {
            o
        } else if let Some(ms) = t.to_timestamp {
            p.offset_for_timestamp(ms)?.unwrap_or(end)
        } else {
            let n = t.shift_by.unwrap_or(0);
            let from = old.unwrap_or(start);
            if n < 0 {
                from.saturating_sub(n.unsigned_abs())
            } else {
                from.saturating_add(n.unsigned_abs())
            }
        }
        .clamp(start, end);
        rows.push(vec![
            a.topic.clone(),
            id.to_string(),
            old.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            new.to_string(),
        ]);
        plan.push((id, new));
    }
    print_table(&mut out, &rows)?;
    if !a.execute {
        writeln!(
            out,
            "Dry run: nothing committed (pass --execute to commit)."
        )?;
        out.flush()?;
        return Ok(());
    }
    // Commit as a member of the group: it must own every partition it resets, which it does
    // only while no other member is alive (in any process).
    let mut member = topic.consumer(&a.group, ConsumerConfig::default())?;
    let owned = member.assignment();
    if let Some((p, _)) = plan.iter().find(|(p, _)| !owned.contains(p)) {
        return Err(format!(
            "consumer group {:?} has an active member reading partition {p} of {}: stop its \
             members first",
            a.group, a.topic
        )
        .into());
    }
    member.commit_offsets(&plan)?;
    drop(member);
    writeln!(out, "Committed the new offsets of group {}.", a.group)?;
    out.flush()?;
    Ok(())
}
