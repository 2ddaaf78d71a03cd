//! `pagelog`: the command-line tool of the pagelog library, in Kafka's vocabulary. Every
//! subcommand opens the store directory itself (there is no broker): `pagelog --help` lists
//! them, `pagelog SUBCOMMAND --help` describes each with an example.
//!
//! Exit codes: 0 success, 1 runtime error, 2 usage error; an error is one line on stderr.

mod consume;
mod dump;
mod groups;
#[cfg(feature = "mirror")]
mod mirror;
mod perf;
mod produce;
mod topics;
mod transfer;
mod util;
mod verify;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// What `--help` prints after the subcommands.
const AFTER_HELP: &str = "\
Examples:
  pagelog topics create --topic quickstart-events
  echo 'hello' | pagelog produce --topic quickstart-events
  pagelog consume --topic quickstart-events --from-beginning --timeout-ms 1000
  pagelog perf --records 1000000

The store directory is --dir, or $PAGELOG_DIR, or ./pagelog-data. One process writes a store
(produce, topics create/alter/delete/compact/..., import, perf); consume, topics list/describe,
groups, verify and export open it read-only and run beside it.

Exit codes: 0 success, 1 runtime error (one line `error: ...` on stderr), 2 usage error.";

/// Kafka's storage layer on local files: topics, partitions, consumer groups.
#[derive(Debug, Parser)]
#[command(name = "pagelog", version, after_help = AFTER_HELP, max_term_width = 100)]
struct Cli {
    #[arg(
        help = "Store directory [env: PAGELOG_DIR] [default: pagelog-data]",
        long,
        short = 'd',
        global = true,
        value_name = "DIR",
        env = "PAGELOG_DIR",
        hide_env = true,
        default_value = "pagelog-data",
        hide_default_value = true
    )]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list, describe, alter and delete topics; compact, apply retention, truncate
    #[command(
        subcommand,
        after_help = "Examples:\n  pagelog topics create --topic orders --partitions 4\n  \
                      pagelog topics describe --topic orders"
    )]
    Topics(topics::Command),
    /// Append each line of stdin to a topic as one record (kafka-console-producer)
    #[command(after_help = produce::EXAMPLE)]
    Produce(produce::Args),
    /// Print a topic's records, following it as it grows (kafka-console-consumer)
    #[command(after_help = consume::EXAMPLE)]
    Consume(consume::Args),
    /// List and describe consumer groups, reset their offsets (kafka-consumer-groups)
    #[command(
        subcommand,
        after_help = "Examples:\n  pagelog groups list\n  \
                      pagelog groups describe --group billing --json"
    )]
    Groups(groups::Command),
    /// Print and check any pagelog file: segments, indexes, metadata (kafka-dump-log)
    #[command(after_help = dump::EXAMPLE)]
    Dump(dump::Args),
    /// Check every batch and index entry of a store's topics; exit 1 if any is damaged
    #[command(after_help = verify::EXAMPLE)]
    Verify(verify::Args),
    /// Write a topic's partitions as Kafka partition directories
    #[command(after_help = transfer::EXPORT_EXAMPLE)]
    Export(transfer::ExportArgs),
    /// Read a Kafka partition directory into a partition of a topic
    #[command(after_help = transfer::IMPORT_EXAMPLE)]
    Import(transfer::ImportArgs),
    /// Ship a topic to a Kafka-protocol broker as a consumer group (like MirrorMaker)
    #[allow(clippy::doc_markdown, reason = "the text is the help line")]
    #[cfg(feature = "mirror")]
    #[command(after_help = mirror::EXAMPLE)]
    Mirror(mirror::Args),
    /// Load generator: producers and consumers at once, live rates, latency percentiles
    #[command(after_help = perf::EXAMPLE)]
    Perf(perf::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_help = "Example:\n  pagelog completions bash > /etc/bash_completion.d/pagelog")]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    set_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let dir = cli.dir;
    let result = match cli.command {
        Command::Topics(c) => topics::run(&dir, c),
        Command::Produce(a) => produce::run(&dir, &a),
        Command::Consume(a) => consume::run(&dir, &a),
        Command::Groups(c) => groups::run(&dir, c),
        Command::Dump(a) => dump::run(&a),
        Command::Verify(a) => verify::run(&dir, &a),
        Command::Export(a) => transfer::export(&dir, &a),
        Command::Import(a) => transfer::import(&dir, &a),
        #[cfg(feature = "mirror")]
        Command::Mirror(a) => mirror::run(&dir, &a),
        Command::Perf(a) => perf::run(&dir, &a),
        Command::Completions { shell } => completions(shell),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `pagelog consume | head`: a closed stdout is a normal end.
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", util::one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// `--help` and `--version` print to stdout and exit 0; any other parse error is a usage
/// error: one line on stderr (clap's message without its usage block), exit code 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return match e.print() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let text = e.render().to_string();
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .flat_map(str::split_whitespace)
        .collect();
    let mut message = message.join(" ");
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        "error: a subcommand is required".clone_into(&mut message);
    }
    let message = message
        .strip_prefix("error: ")
        .unwrap_or(&message)
        .to_owned();
    eprintln!("error: {message} (see --help)");
    ExitCode::from(2)
}

/// A panic (a bug) prints one line too, never a backtrace, and exits 101.
fn set_panic_hook() {
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
        eprintln!("error: internal error{at}: {}", util::one_line(&msg));
    }));
}

/// `pagelog completions SHELL`.
fn completions(shell: clap_complete::Shell) -> util::Result<()> {
    let mut out = io::stdout().lock();
    clap_complete::generate(shell, &mut Cli::command(), "pagelog", &mut out);
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
