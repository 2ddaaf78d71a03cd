//! A reader in another process: this program writes a topic and starts a second copy of
//! itself that opens the same store with `Store::open_read_only` and prints each record as
//! the writer appends it (woken by the append, without polling).
//!
//! ```text
//! cargo run --example tail                      # store in ./pagelog-data, topic `ticks`
//! ```
//!
//! The same reader works beside any writer: `pagelog produce --topic ticks` in one terminal,
//! `cargo run --example tail -- --reader pagelog-data 0` in another.

use std::process::Command;
use std::time::Duration;

use pagelog::{Error, Store, TopicConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const TICKS: u64 = 5;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, dir, from] if flag == "--reader" => read(dir, from.parse()?),
        [] => write(),
        _ => Err("usage: tail [--reader DIR FROM-OFFSET]".into()),
    }
}

/// The writer: appends a tick every 100 ms while the reader process follows.
fn write() -> Result<()> {
    let store = Store::open("pagelog-data")?;
    let ticks = match store.topic("ticks") {
        Err(Error::TopicNotFound(_)) => store.create_topic("ticks", TopicConfig::default())?,
        other => other?,
    };
    let p = ticks.partition(0)?;
    let from = p.next_offset();
    let mut reader = Command::new(std::env::current_exe()?)
        .args(["--reader", "pagelog-data", &from.to_string()])
        .spawn()?;
    for i in 0..TICKS {
        std::thread::sleep(Duration::from_millis(100));
        let offset = p.append(pagelog::NewRecord::new(format!("tick {i}").as_bytes()))?;
        println!(
            "writer (pid {}): appended offset {offset}",
            std::process::id()
        );
    }
    let status = reader.wait()?;
    drop(ticks);
    store.close()?;
    if !status.success() {
        return Err(format!("the reader failed: {status}").into());
    }
    Ok(())
}

/// The reader: another process, a read-only store, an iterator that waits for appends.
fn read(dir: &str, from: u64) -> Result<()> {
    let store = Store::open_read_only(dir)?;
    let mut records = store.topic("ticks")?.partition(0)?.iter_from(from)?;
    for _ in 0..TICKS {
        let record = records
            .next_timeout(Duration::from_secs(10))
            .ok_or("no record within 10 s")??;
        println!(
            "reader (pid {}): offset {} {:?}",
            std::process::id(),
            record.offset(),
            String::from_utf8_lossy(record.value())
        );
    }
    Ok(())
}
