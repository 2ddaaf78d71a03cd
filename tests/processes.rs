//! Many processes on one store: one writer, readers that follow it (`Store::open_read_only`).
//!
//! * In one process, a read-only store beside the writing one sees every change the writer
//!   makes: appends, rolls, retention, truncation, compaction, a close and a new writer,
//!   deletion; its write methods refuse.
//! * Across processes: a reader process tails a writer process and is woken by its appends;
//!   a writer killed with SIGKILL leaves every published record readable, and the reader
//!   follows the next writer; a reader killed while it waits does not disturb the writer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::time::{Duration, Instant};

use pagelog::{CleanupPolicy, Error, FlushPolicy, NewRecord, Store, TopicConfig};

/// A child process inherits every descriptor of this one from its `fork` until its `exec`,
/// the `flock`s of other tests' stores included: a store closed and reopened by one test
/// while another spawns a child could meet its own old lock (`Error::Locked`). So the tests of
/// this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

const TOPIC: &str = "events";
const TIMEOUT: Duration = Duration::from_secs(60);
const ENV_DIR: &str = "PAGELOG_PROC_DIR";
const ENV_CASE: &str = "PAGELOG_PROC_CASE";

fn config() -> TopicConfig {
    TopicConfig::default()
        .partitions(2)
        .segment_bytes(16 << 10)
        .flush(FlushPolicy::Never)
}

fn value(offset: u64) -> Vec<u8> {
    format!("value {offset} {}", "v".repeat((offset % 50) as usize)).into_bytes()
}

/// Every record of `p` from its start, as (offset, value).
fn all(p: &pagelog::Partition) -> Vec<(u64, Vec<u8>)> {
    p.iter()
        .map(|r| {
            let r = r.unwrap();
            (r.offset(), r.value().to_vec())
        })
        .collect()
}

#[test]
fn a_reader_follows_every_change_the_writer_makes() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path()).unwrap();
    let wt = writer.create_topic(TOPIC, config()).unwrap();
    let wp = wt.partition(0).unwrap().clone();
    let reader = Store::open_read_only(dir.path()).unwrap();
    assert!(reader.is_read_only());
    let rt = reader.topic(TOPIC).unwrap();
    assert!(rt.is_read_only());
    let rp = rt.partition(0).unwrap().clone();
    assert_eq!((rp.start_offset(), rp.next_offset()), (0, 0));

    // Appends, across many rolls; an iterator made before them sees them all.
    let mut it = rp.iter_from(0).unwrap();
    for o in 0..600 {
        assert_eq!(wp.append(NewRecord::new(&value(o))).unwrap(), o);
    }
    assert_eq!(rp.next_offset(), 600);
    assert!(wp.info().segments > 3, "{:?}", wp.info());
    assert_eq!(rp.info().segments, wp.info().segments);
    for o in 0..600 {
        let r = it.next().unwrap().unwrap();
        assert_eq!((r.offset(), r.value()), (o, &value(o)[..]));
    }
    assert!(it.next().is_none());
    assert_eq!(rp.read(333).unwrap().unwrap().value(), &value(333)[..]);
    let ts = wp.read(250).unwrap().unwrap().timestamp();
    assert_eq!(
        rp.offset_for_timestamp(ts).unwrap(),
        wp.offset_for_timestamp(ts).unwrap()
    );

    // Retention: the start rises, segments below it go.
    wp.delete_records_before(300).unwrap();
    assert_eq!(rp.start_offset(), 300);
    assert!(matches!(
        rp.read(10),
        Err(Error::OffsetOutOfRange { start: 300, .. })
    ));
    assert_eq!(rp.info().segments, wp.info().segments);
    assert_eq!(all(&rp), all(&wp));

    // Truncation: an iterator past the cut moves back and reads what is appended next.
    let mut tail = rp.iter_from(600).unwrap();
    wp.truncate_to(450).unwrap();
    for o in 450..460 {
        wp.append(NewRecord::new(format!("after the cut {o}").as_bytes()))
            .unwrap();
    }
    let r = tail.next().unwrap().unwrap();
    assert_eq!((r.offset(), r.value()), (450, &b"after the cut 450"[..]));
    assert_eq!(rp.next_offset(), 460);
    assert_eq!(all(&rp), all(&wp));

    drop((wp, wt));
    compaction_new_topics_a_new_writer_and_deletion(dir.path(), writer, &reader);
}

/// The second half of [`a_reader_follows_every_change_the_writer_makes`]: compaction, a topic
/// created later, writes refused, a new writer, the topic deleted.
fn compaction_new_topics_a_new_writer_and_deletion(dir: &Path, writer: Store, reader: &Store) {
    let wt = writer.topic(TOPIC).unwrap();
    let rt = reader.topic(TOPIC).unwrap();
    let rp = rt.partition(0).unwrap().clone();
    // Compaction: the reader reads the compacted segments.
    let kp = wt.partition(1).unwrap().clone();
    for o in 0..400u64 {
        let key = format!("k{}", o % 7);
        kp.append(NewRecord::new(&value(o)).key(key.as_bytes()))
            .unwrap();
    }
    let rk = rt.partition(1).unwrap().clone();
    assert_eq!(all(&rk).len(), 400);
    let report = kp.compact().unwrap();
    assert!(report.records_removed > 0, "{report:?}");
    assert_eq!(all(&rk), all(&kp));
    assert!(all(&rk).len() < 400);

    // Topics created after the reader opened are there for it.
    let later = writer
        .create_topic("later", TopicConfig::default())
        .unwrap();
    later.append(None, b"new topic").unwrap();
    assert_eq!(reader.topics().unwrap(), ["events", "later"]);
    let rl = reader.topic("later").unwrap();
    assert_eq!(
        rl.partition(0).unwrap().read(0).unwrap().unwrap().value(),
        b"new topic"
    );

    // Writes need the writer.
    assert!(matches!(
        rp.append(NewRecord::new(b"x")),
        Err(Error::ReadOnly(_))
    ));
    assert!(matches!(rp.flush(), Err(Error::ReadOnly(_))));
    assert!(matches!(rp.truncate_to(0), Err(Error::ReadOnly(_))));
    assert!(matches!(
        reader.create_topic("other", TopicConfig::default()),
        Err(Error::ReadOnly(_))
    ));
    assert!(matches!(
        reader.delete_topic(TOPIC),
        Err(Error::ReadOnly(_))
    ));

    // The writer closes and another opens: the reader follows it.
    drop((kp, wt, later));
    writer.close().unwrap();
    assert_eq!(rp.next_offset(), 460);
    let writer = Store::open(dir).unwrap();
    let wp = writer.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    wp.append(NewRecord::new(b"second writer")).unwrap();
    assert_eq!(rp.read(460).unwrap().unwrap().value(), b"second writer");
    assert_eq!(all(&rp), all(&wp));

    // Deletion ends the reader's partitions; what it holds stays readable.
    let held = rp.read(455).unwrap().unwrap();
    let mut waiting = rp.iter_from_end();
    drop(wp);
    writer.delete_topic(TOPIC).unwrap();
    let t0 = Instant::now();
    assert!(waiting.next_timeout(TIMEOUT).is_none());
    assert!(
        t0.elapsed() < TIMEOUT,
        "ended by the deletion, not the timeout"
    );
    assert!(!rp.is_open());
    assert_eq!(held.value(), b"after the cut 455");
    assert_eq!(reader.topics().unwrap(), ["later"]);
}

#[test]
fn a_waiting_reader_is_woken_by_the_writer_in_another_store() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path()).unwrap();
    let wp = writer
        .create_topic(TOPIC, config())
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    let reader = Store::open_read_only(dir.path()).unwrap();
    let rp = reader.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    // Positioned before the first append: a reader thread that took its position itself
    // could start after some appends and then wait for records that never come.
    let mut it = rp.iter_from_end().blocking();
    let waiter = std::thread::spawn(move || {
        (0..200)
            .map(|_| it.next().unwrap().unwrap().value().to_vec())
            .collect::<Vec<_>>()
    });
    for o in 0..200 {
        wp.append(NewRecord::new(&value(o))).unwrap();
    }
    let got = waiter.join().unwrap();
    assert_eq!(got, (0..200).map(value).collect::<Vec<_>>());
}

#[test]
fn a_topic_without_a_usable_live_state_needs_its_writer() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path()).unwrap();
    writer.create_topic(TOPIC, config()).unwrap();
    writer.close().unwrap();
    std::fs::remove_file(dir.path().join(TOPIC).join("live")).unwrap();
    let reader = Store::open_read_only(dir.path()).unwrap();
    assert!(matches!(
        reader.topic(TOPIC),
        Err(Error::NeedsRecovery { .. })
    ));
    // The writer makes it again on its next open.
    Store::open(dir.path())
        .unwrap()
        .topic(TOPIC)
        .unwrap()
        .partition(0)
        .unwrap()
        .append(NewRecord::new(b"x"))
        .unwrap();
    let p = reader.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    assert_eq!(p.next_offset(), 1);
}

// ---------------------------------------------------------------------------------------------
// Across processes
// ---------------------------------------------------------------------------------------------

/// Prints a report line the parent looks for.
fn report(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "@@ {line}").unwrap();
    out.flush().unwrap();
}

/// Report lines of a child, as they come.
fn reports(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find("@@ ") {
                let _ = tx.send(line[at + 3..].to_owned());
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, prefix: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return line,
            Ok(_) => {}
            Err(e) => panic!("no {prefix:?} from the child: {e}"),
        }
    }
}

fn spawn(test: &str, case: &str, dir: &Path) -> Child {
    common::child_command(test)
        .env(ENV_CASE, case)
        .env(ENV_DIR, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A store in a new temporary directory holding the topic, closed.
fn store_with_topic() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path())
        .unwrap()
        .create_topic(TOPIC, config())
        .unwrap();
    dir
}

/// The child's roles.
fn child() {
    let case = std::env::var(ENV_CASE).unwrap();
    let dir = std::env::var(ENV_DIR).unwrap();
    let dir = Path::new(&dir);
    match case.as_str() {
        // Appends `n` records per line read from stdin ("n"), reporting the end after each.
        "writer" => {
            let store = Store::open(dir).unwrap();
            let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
            report("open");
            for line in std::io::stdin().lock().lines() {
                let n: u64 = line.unwrap().trim().parse().unwrap();
                for _ in 0..n {
                    let o = p.next_offset();
                    p.append(NewRecord::new(&value(o))).unwrap();
                }
                report(format!("end {}", p.next_offset()));
            }
        }
        // Appends without end, reporting each offset: killed by the parent.
        "endless" => {
            let store = Store::open(dir).unwrap();
            let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
            loop {
                let o = p.next_offset();
                p.append(NewRecord::new(&value(o))).unwrap();
                if o.is_multiple_of(100) {
                    report(format!("at {o}"));
                }
            }
        }
        // A reader that waits for a record that never comes: killed by the parent.
        "waiter" => {
            let store = Store::open_read_only(dir).unwrap();
            let p = store.topic(TOPIC).unwrap().partition(0).unwrap().clone();
            let mut it = p
                .iter_from(p.next_offset() + 1_000_000)
                .unwrap_or_else(|_| {
                    let mut it = p.iter_from_end();
                    it.seek(u64::MAX);
                    it
                });
            report("waiting");
            let _ = it.next_timeout(Duration::from_secs(3600));
        }
        other => panic!("unknown case {other}"),
    }
}

#[test]
fn a_reader_process_tails_a_writer_process() {
    let test = test_name!();
    if common::is_child_of(test) {
        return child();
    }
    let _serial = serial();
    let dir = store_with_topic();
    let mut w = spawn(test, "writer", dir.path());
    let rx = reports(&mut w);
    wait_for(&rx, "open");
    let reader = Store::open_read_only(dir.path()).unwrap();
    let rp = reader.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    let mut it = rp.iter_from(0).unwrap();
    let mut stdin = w.stdin.take().unwrap();
    let mut next = 0;
    for round in 1..=20u64 {
        // The reader waits first, then the writer appends: the wake-up crosses processes.
        writeln!(stdin, "{}", round * 7).unwrap();
        let end = next + round * 7;
        while next < end {
            let r = it.next_timeout(TIMEOUT).unwrap().unwrap();
            assert_eq!((r.offset(), r.value()), (next, &value(next)[..]));
            next += 1;
        }
        assert_eq!(wait_for(&rx, "end "), format!("end {end}"));
    }
    drop(stdin);
    assert!(w.wait().unwrap().success());
    assert_eq!(rp.next_offset(), next);
    assert!(rp.info().segments > 1, "rolls were followed");
}

#[test]
fn a_killed_writer_leaves_what_it_published_and_the_next_writer_is_followed() {
    let test = test_name!();
    if common::is_child_of(test) {
        return child();
    }
    let _serial = serial();
    let dir = store_with_topic();
    let reader = Store::open_read_only(dir.path()).unwrap();
    let rp = reader.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    let mut it = rp.iter_from(0).unwrap();
    let mut w = spawn(test, "endless", dir.path());
    let rx = reports(&mut w);
    wait_for(&rx, "at 2000");
    // Read while it writes, then kill it in the middle of its appends.
    let mut next = 0;
    while next < 1000 {
        let r = it.next_timeout(TIMEOUT).unwrap().unwrap();
        assert_eq!((r.offset(), r.value()), (next, &value(next)[..]));
        next += 1;
    }
    w.kill().unwrap();
    w.wait().unwrap();
    let published = rp.next_offset();
    assert!(published > 2000);
    for r in it.by_ref() {
        let r = r.unwrap();
        assert_eq!((r.offset(), r.value()), (next, &value(next)[..]));
        next += 1;
    }
    assert_eq!(next, published, "every published record, nothing torn");

    // The next writer recovers and appends; the reader follows it.
    let writer = Store::open(dir.path()).unwrap();
    let wp = writer.topic(TOPIC).unwrap().partition(0).unwrap().clone();
    let recovered = wp.next_offset();
    assert!(recovered >= published);
    wp.append(NewRecord::new(&value(recovered))).unwrap();
    for o in next..=recovered {
        let r = it.next_timeout(TIMEOUT).unwrap().unwrap();
        assert_eq!((r.offset(), r.value()), (o, &value(o)[..]));
    }
    assert_eq!(rp.next_offset(), recovered + 1);
}

#[test]
fn a_killed_reader_does_not_disturb_the_writer() {
    let test = test_name!();
    if common::is_child_of(test) {
        return child();
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path()).unwrap();
    let wp = writer
        .create_topic(TOPIC, config().cleanup_policy(CleanupPolicy::Delete))
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    wp.append(NewRecord::new(&value(0))).unwrap();
    let mut r = spawn(test, "waiter", dir.path());
    let rx = reports(&mut r);
    wait_for(&rx, "waiting");
    r.kill().unwrap();
    r.wait().unwrap();
    for o in 1..500 {
        assert_eq!(wp.append(NewRecord::new(&value(o))).unwrap(), o);
    }
    wp.flush().unwrap();
    assert_eq!(all(&wp).len(), 500);
}
