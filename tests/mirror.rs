//! End-to-end tests of the mirror (`pagelog::mirror`, `pagelog mirror`) against a real
//! Kafka-protocol broker: tansu, started by the tests on a free loopback port with in-memory
//! storage.
//!
//! They run only when a tansu binary is available (else each test prints why and returns):
//!
//! ```text
//! cargo install tansu --features dynostore --root /tmp/tansu-root   # once, ~10 min
//! PAGELOG_KAFKA_BROKER_BIN=/tmp/tansu-root/bin/tansu cargo test --features mirror --test mirror
//! ```
//!
//! (or with `tansu` on `PATH`). What they prove, reading the broker back with rskafka and,
//! when `python3` with kafka-python is installed, independently with `scripts/mirror_check.py`:
//!
//! * every record arrives in the same-numbered partition with key, value (tombstones stay
//!   null), headers and timestamp unchanged, in offset order;
//! * a mirror process killed between a broker acknowledgement and its commit (the
//!   `mirror-after-ack` failpoint aborts `pagelog mirror` there) loses nothing when rerun,
//!   and the only duplicates are the one batch it had shipped past the committed offset;
//! * a broker outage (the broker stopped with `SIGSTOP`, then killed and replaced by a fresh
//!   one on the same port) is retried by `run_until`; nothing is committed while the broker
//!   cannot acknowledge, nothing is lost, and duplicates are only of uncommitted records.
//!
//! Only loopback addresses are used.
#![cfg(feature = "mirror")]
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use pagelog::mirror::{Mirror, MirrorConfig, MirrorEvent};
use pagelog::{Header, NewRecord, Store, Topic, TopicConfig};
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use tokio::runtime::Runtime;

/// Environment variable naming the tansu binary.
const ENV_BROKER: &str = "PAGELOG_KAFKA_BROKER_BIN";
/// Bound on the broker coming up, and on any single wait for the mirror.
const DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The broker
// ---------------------------------------------------------------------------------------

/// The tansu binary: `$PAGELOG_KAFKA_BROKER_BIN`, else `tansu` on `PATH`.
fn broker_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(ENV_BROKER) {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("tansu"))
        .find(|p| p.is_file())
}

/// The binary, or `None` after printing why the test is skipped.
fn broker_or_skip(test: &str) -> Option<PathBuf> {
    let bin = broker_bin();
    if bin.is_none() {
        eprintln!(
            "skipping {test}: no Kafka-protocol broker; set {ENV_BROKER} to a tansu binary \
             (cargo install tansu --features dynostore) or put tansu on PATH"
        );
    }
    bin
}

/// A free TCP port on 127.0.0.1 (bound, then released for the broker).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tansu broker process with in-memory storage, listening on 127.0.0.1:`port`.
struct Broker {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Broker {
    /// Starts tansu and waits (bounded) until it answers a metadata request.
    fn start(bin: &Path, port: u16, log_dir: &Path) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let log = log_dir.join(format!(
            "tansu-{port}-{}.log",
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let out = File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg("broker")
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut b = Self { child, port, log };
        b.wait_ready();
        b
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Polls until the port accepts connections and a client can read metadata.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        let sock = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("broker exited with {status}:\n{}", self.log_text());
            }
            if TcpStream::connect_timeout(&sock, Duration::from_millis(200)).is_ok() {
                let rt = runtime();
                let ready = rt.block_on(async {
                    let c = tokio::time::timeout(
                        Duration::from_secs(5),
                        ClientBuilder::new(vec![self.addr()]).build(),
                    )
                    .await;
                    match c {
                        Ok(Ok(c)) => c.list_topics().await.is_ok(),
                        _ => false,
                    }
                });
                if ready {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "broker not ready on port {} within {DEADLINE:?}:\n{}",
                self.port,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50)); // polling interval, bounded above
        }
    }

    fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// Stops the broker process (SIGSTOP): connections stay open, requests hang.
    fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Resumes it (SIGCONT).
    fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Kills it (SIGKILL); its in-memory data is gone.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.signal_quiet();
        self.kill();
    }
}

impl Broker {
    /// Resumes a possibly paused broker so that the kill is not left pending.
    fn signal_quiet(&self) -> Option<()> {
        let pid = i32::try_from(self.child.id()).ok()?;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        Some(())
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Records: what the test writes, and their comparable form
// ---------------------------------------------------------------------------------------

/// A record's content as a Kafka consumer sees it (headers sorted by key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Content {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

impl Content {
    /// The `mirror_check.py` line of this content at Kafka `partition`/`offset`.
    fn line(&self, partition: u32, offset: i64) -> String {
        let hex = |b: &Option<Vec<u8>>| match b {
            None => "-".to_owned(),
            Some(b) => b
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .concat(),
        };
        let headers = if self.headers.is_empty() {
            "-".to_owned()
        } else {
            self.headers
                .iter()
                .map(|(k, v)| format!("{k}={}", hex(&Some(v.clone()))))
                .collect::<Vec<_>>()
                .join(";")
        };
        format!(
            "{partition}\t{offset}\t{}\t{}\t{}\t{headers}",
            self.timestamp,
            hex(&self.key),
            hex(&self.value)
        )
    }
}

/// Appends records `from..to` (global sequence numbers) round-robin over the partitions,
/// a few per batch. Each has a unique key or value; some have no key, some are tombstones,
/// some have headers (one with an empty value); timestamps are explicit.
fn append_records(topic: &Topic, from: u64, to: u64) {
    let n = u64::from(topic.partition_count());
    let mut start = from;
    while start < to {
        let end = (start + 4 * n).min(to);
        for p in 0..n {
            let owned: Vec<u64> = (start..end).filter(|k| k % n == p).collect();
            if !owned.is_empty() {
                append_batch(topic, u32::try_from(p).unwrap(), &owned);
            }
        }
        start = end;
    }
}

/// Appends records with sequence numbers `owned` as one batch to partition `p`.
fn append_batch(topic: &Topic, p: u32, owned: &[u64]) {
    let keys: Vec<String> = owned.iter().map(|k| format!("key-{k}")).collect();
    let values: Vec<String> = owned
        .iter()
        .map(|k| format!("value-{k}-{}", "x".repeat((k % 37) as usize)))
        .collect();
    let seqs: Vec<String> = owned.iter().map(u64::to_string).collect();
    let header_sets: Vec<Vec<Header<'_>>> = owned
        .iter()
        .zip(&seqs)
        .map(|(k, s)| match k % 3 {
            0 => vec![
                Header {
                    key: "empty",
                    value: b"",
                },
                Header {
                    key: "seq",
                    value: s.as_bytes(),
                },
                Header {
                    key: "source",
                    value: b"web",
                },
            ],
            1 => vec![Header {
                key: "seq",
                value: s.as_bytes(),
            }],
            _ => Vec::new(),
        })
        .collect();
    let batch: Vec<NewRecord<'_>> = owned
        .iter()
        .enumerate()
        .map(|(x, k)| {
            let mut r = if k % 11 == 5 {
                NewRecord::tombstone(keys[x].as_bytes())
            } else {
                NewRecord::new(values[x].as_bytes())
            };
            if k % 7 != 3 || r.value.is_none() {
                r = r.key(keys[x].as_bytes());
            }
            r.timestamp(1_700_000_000_000 + i64::try_from(*k).unwrap() * 13)
                .headers(&header_sets[x])
        })
        .collect();
    topic.append_batch_to(p, &batch).unwrap();
}

/// What pagelog stores: per partition, the content at each offset, and the reverse map.
struct Expected {
    partitions: Vec<Vec<(u64, Content)>>,
    by_content: HashMap<Content, (u32, u64)>,
}

fn expected(topic: &Topic) -> Expected {
    let mut partitions = Vec::new();
    let mut by_content = HashMap::new();
    for p in topic.partitions() {
        let mut v = Vec::new();
        for r in p.iter_from(p.start_offset()).unwrap() {
            let r = r.unwrap();
            let mut headers: Vec<(String, Vec<u8>)> = r
                .headers()
                .map(|(k, v)| (k.to_owned(), v.to_vec()))
                .collect();
            headers.sort();
            let c = Content {
                timestamp: r.timestamp(),
                key: r.key().map(<[u8]>::to_vec),
                value: r.value_opt().map(<[u8]>::to_vec),
                headers,
            };
            assert!(
                by_content.insert(c.clone(), (p.id(), r.offset())).is_none(),
                "test records must be distinguishable"
            );
            v.push((r.offset(), c));
        }
        partitions.push(v);
    }
    Expected {
        partitions,
        by_content,
    }
}

/// Everything in `topic` on the broker, per partition, as `(kafka offset, content)`.
fn fetch_all(addr: &str, topic: &str, partitions: u32) -> Vec<Vec<(i64, Content)>> {
    runtime().block_on(async {
        let client: Client = ClientBuilder::new(vec![addr.to_owned()])
            .build()
            .await
            .unwrap();
        let mut out = Vec::new();
        for p in 0..partitions {
            let pc = client
                .partition_client(
                    topic,
                    i32::try_from(p).unwrap(),
                    UnknownTopicHandling::Retry,
                )
                .await
                .unwrap();
            // Read until a fetch brings nothing new, not up to ListOffsets' "latest": tansu
            // 0.6 (memory storage) reports the last batch's base offset + 1 there, short of
            // the last records. The data is static while this runs.
            let mut next = pc.get_offset(OffsetAt::Earliest).await.unwrap();
            let mut got = Vec::new();
            let deadline = Instant::now() + DEADLINE;
            loop {
                assert!(Instant::now() < deadline, "fetch of {topic}/{p} stalled");
                let (records, _) = pc.fetch_records(next, 1..4_000_000, 200).await.unwrap();
                let before = got.len();
                for r in records {
                    if r.offset >= next {
                        next = r.offset + 1;
                        let rec = r.record;
                        got.push((
                            r.offset,
                            Content {
                                timestamp: rec.timestamp.timestamp_millis(),
                                key: rec.key,
                                value: rec.value,
                                headers: rec.headers.into_iter().collect(),
                            },
                        ));
                    }
                }
                if got.len() == before {
                    break;
                }
            }
            out.push(got);
        }
        out
    })
}

/// Maps what the broker holds back to pagelog offsets (every field must match a stored
/// record exactly, in its own partition), checks that `want[p]` arrived completely and in
/// order, and returns the duplicated offsets of each partition (each extra copy once).
fn check_mirrored(
    got: &[Vec<(i64, Content)>],
    exp: &Expected,
    want: &[Range<u64>],
    offset_header: Option<&str>,
) -> Vec<Vec<u64>> {
    let mut dups = Vec::new();
    for (p, records) in got.iter().enumerate() {
        let p32 = u32::try_from(p).unwrap();
        let mut seq = Vec::new();
        for (kafka_offset, c) in records {
            let mut c = c.clone();
            let tag = offset_header.map(|h| {
                let i = c
                    .headers
                    .iter()
                    .position(|(k, _)| k == h)
                    .unwrap_or_else(|| panic!("record {p}/{kafka_offset} lacks header {h}"));
                String::from_utf8(c.headers.remove(i).1).unwrap()
            });
            let &(sp, so) = exp.by_content.get(&c).unwrap_or_else(|| {
                panic!("broker record {p}/{kafka_offset} matches no pagelog record: {c:?}")
            });
            assert_eq!(
                sp, p32,
                "record {so} of partition {sp} landed in partition {p}"
            );
            if let Some(tag) = tag {
                assert_eq!(tag, format!("{p}:{so}"), "source offset header");
            }
            seq.push(so);
        }
        // First copies, in order, must be exactly the wanted offsets (those stored).
        let stored: Vec<u64> = exp.partitions[p]
            .iter()
            .map(|(o, _)| *o)
            .filter(|o| want[p].contains(o))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        let mut firsts = Vec::new();
        let mut extra = Vec::new();
        for o in seq {
            if seen.insert(o) {
                firsts.push(o);
            } else {
                extra.push(o);
            }
        }
        assert_eq!(
            firsts, stored,
            "partition {p}: records lost, reordered or unexpected"
        );
        dups.push(extra);
    }
    dups
}

/// Checks the broker's contents with kafka-python (`scripts/mirror_check.py`), if available:
/// its lines must equal those built from the rskafka fetch. Returns whether it ran.
fn python_check(addr: &str, topic: &str, got: &[Vec<(i64, Content)>]) -> bool {
    let has_kafka = Command::new("python3")
        .args(["-c", "import kafka"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_kafka {
        eprintln!("note: python3 with kafka-python not found; skipping the independent check");
        return false;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mirror_check.py");
    let out = Command::new("python3")
        .arg(script)
        .args([addr, topic])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mirror_check.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let want: Vec<String> = got
        .iter()
        .enumerate()
        .flat_map(|(p, rs)| {
            rs.iter()
                .map(move |(o, c)| c.line(u32::try_from(p).unwrap(), *o))
        })
        .collect();
    assert_eq!(
        lines.len(),
        want.len(),
        "kafka-python saw a different count"
    );
    for (a, b) in lines.iter().zip(&want) {
        assert_eq!(a, b, "kafka-python and rskafka disagree");
    }
    eprintln!("kafka-python read the same {} records", lines.len());
    true
}

// ---------------------------------------------------------------------------------------
// The mirror command
// ---------------------------------------------------------------------------------------

/// The `pagelog` binary (cli/), built with its `mirror` feature and the library's failpoints
/// into this test's target directory if missing or older than the sources.
fn mirror_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| common::built_cli(&["--features", "mirror,pagelog/failpoints"]))
}

/// Runs `pagelog mirror` with `args`; `failpoint` sets `PAGELOG_FAILPOINT`.
fn run_mirror(args: &[&str], failpoint: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(mirror_bin());
    cmd.arg("mirror").args(args).stdin(Stdio::null());
    match failpoint {
        Some(f) => cmd.env("PAGELOG_FAILPOINT", f),
        None => cmd.env_remove("PAGELOG_FAILPOINT"),
    };
    cmd.output().unwrap()
}

fn committed(dir: &Path, topic: &str, group: &str) -> Vec<u64> {
    let store = Store::open(dir).unwrap();
    let c = store
        .topic(topic)
        .unwrap()
        .committed_offsets(group)
        .unwrap()
        .into_iter()
        .map(|o| o.unwrap_or(0))
        .collect();
    store.close().unwrap();
    c
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// The console mirror ships everything intact; killed between an acknowledgement and its
/// commit, it resumes on the next run without loss, duplicating only that one batch.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, its steps and checks in order"
)]
fn mirror_process_crash_loses_nothing() {
    const PARTS: u32 = 3;
    const BATCH: u64 = 25;
    let Some(bin) = broker_or_skip("mirror_process_crash_loses_nothing") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&bin, free_port(), tmp.path());
    let dir = tmp.path().join("store");
    let dir_s = dir.to_str().unwrap();
    let addr = broker.addr();
    {
        let store = Store::open(&dir).unwrap();
        let t = store
            .create_topic("events", TopicConfig::default().partitions(PARTS))
            .unwrap();
        append_records(&t, 0, 900);
        store.close().unwrap();
    }
    let batch_s = BATCH.to_string();
    let base: Vec<&str> = vec![
        "--dir",
        dir_s,
        "--topic",
        "events",
        "--group",
        "to-kafka",
        "--brokers",
        &addr,
        "--target-topic",
        "events-copy",
        "--batch-max-records",
        &batch_s,
        "--batch-max-bytes",
        "1500",
        "--source-offset-header",
        "pagelog.offset",
    ];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        base.iter().copied().chain(extra.iter().copied()).collect()
    };

    // Run 1: ship a part, exit cleanly.
    let out = run_mirror(&with(&["--max-records", "200"]), None);
    assert!(
        out.status.success(),
        "run 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c1 = committed(&dir, "events", "to-kafka");
    let shipped1: u64 = c1.iter().sum();
    assert!((200..900).contains(&shipped1), "run 1 committed {c1:?}");
    let lines1 = String::from_utf8(out.stdout).unwrap().lines().count() as u64;
    assert!(lines1 >= 200 / BATCH, "one line per batch");

    // Run 2: crash right after the first acknowledgement, before its commit.
    let out = run_mirror(&with(&["--quiet"]), Some("mirror-after-ack"));
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "run 2 should abort at the failpoint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c2 = committed(&dir, "events", "to-kafka");
    assert_eq!(c2, c1, "nothing may be committed past the crash point");

    // More records while the mirror is down.
    {
        let store = Store::open(&dir).unwrap();
        append_records(&store.topic("events").unwrap(), 900, 1200);
        store.close().unwrap();
    }

    // Run 3: resume and catch up; exit after 1 s without new records.
    let out = run_mirror(&with(&["--timeout-ms", "1000", "--quiet"]), None);
    assert!(
        out.status.success(),
        "run 3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::open(&dir).unwrap();
    let topic = store.topic("events").unwrap();
    assert_eq!(
        topic.group_lag("to-kafka").unwrap(),
        vec![0; PARTS as usize]
    );
    let exp = expected(&topic);
    let ends: Vec<u64> = topic
        .partitions()
        .iter()
        .map(pagelog::Partition::next_offset)
        .collect();
    drop(topic);
    store.close().unwrap();
    assert_eq!(ends.iter().sum::<u64>(), 1200);

    let got = fetch_all(&addr, "events-copy", PARTS);
    let want: Vec<Range<u64>> = ends.iter().map(|e| 0..*e).collect();
    let dups = check_mirrored(&got, &exp, &want, Some("pagelog.offset"));
    // The crashed run shipped exactly one batch of one partition, starting at that
    // partition's committed offset; nothing else is duplicated.
    let dup_parts: Vec<usize> = (0..dups.len()).filter(|p| !dups[*p].is_empty()).collect();
    assert_eq!(dup_parts.len(), 1, "duplicates {dups:?}");
    let p = dup_parts[0];
    let n = dups[p].len() as u64;
    assert!((1..=BATCH).contains(&n), "duplicated batch of {n} records");
    assert_eq!(dups[p], (c1[p]..c1[p] + n).collect::<Vec<_>>());
    let total: usize = got.iter().map(Vec::len).sum();
    eprintln!(
        "mirrored 1200 records ({total} on the broker); crash duplicated {n} records of \
         partition {p} at offsets {}..{}",
        c1[p],
        c1[p] + n
    );
    python_check(&addr, "events-copy", &got);
}

/// Events from a `run_until` thread, for the test to wait on.
#[derive(Debug)]
enum Seen {
    Shipped,
    Retrying(String),
}

/// Waits (bounded) until `cond` holds, checking after each event of the mirror thread.
fn wait_for(events: &mpsc::Receiver<Seen>, what: &str, mut cond: impl FnMut(&Seen) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) => {
                if let Seen::Retrying(m) = &e {
                    eprintln!("mirror retrying: {m}");
                }
                if cond(&e) {
                    return;
                }
            }
            Err(e) => panic!("timed out waiting for {what}: {e}"),
        }
    }
}

/// `run_until` rides out a paused broker and a killed-and-replaced one: nothing is
/// committed while no acknowledgement is possible, nothing is lost, and duplicates are only
/// of records that were not committed.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, its steps and checks in order"
)]
fn broker_outage_is_retried_without_loss() {
    const PARTS: u32 = 2;
    let Some(bin) = broker_or_skip("broker_outage_is_retried_without_loss") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut broker = Broker::start(&bin, port, tmp.path());
    let addr = broker.addr();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let topic = store
        .create_topic("orders", TopicConfig::default().partitions(PARTS))
        .unwrap();
    append_records(&topic, 0, 200);

    let stop = AtomicBool::new(false);
    let (tx, events) = mpsc::channel();
    let lag0 = |t: &Topic| t.group_lag("mirror").unwrap().iter().all(|l| *l == 0);
    std::thread::scope(|s| {
        let mirror = s.spawn(|| {
            let config = MirrorConfig::new([addr.clone()])
                .batch_max_records(20)
                .request_timeout(Duration::from_secs(2))
                .poll_timeout(Duration::from_millis(50))
                .retry_backoff(Duration::from_millis(50), Duration::from_millis(400));
            let mut m = Mirror::new(&topic, "mirror", config).unwrap();
            m.run_until(&stop, |e| {
                let _ = tx.send(match e {
                    MirrorEvent::Shipped(_) => Seen::Shipped,
                    MirrorEvent::Retrying { error, .. } => Seen::Retrying(error.to_string()),
                });
            })
        });
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(&events, "the first 200 records", |_| lag0(&topic));
            let got = fetch_all(&addr, "orders", PARTS);
            let exp = expected(&topic);
            let dups = check_mirrored(&got, &exp, &[0..100, 0..100], None);
            assert_eq!(
                dups,
                vec![Vec::<u64>::new(); 2],
                "no duplicates without faults"
            );

            // Outage 1: the broker stops answering (SIGSTOP) while there is new data.
            broker.pause();
            let before: Vec<Option<u64>> = topic.committed_offsets("mirror").unwrap();
            append_records(&topic, 200, 300);
            let mut errors = 0;
            wait_for(&events, "a broker error during the pause", |e| {
                if matches!(e, Seen::Retrying(_)) {
                    errors += 1;
                }
                errors >= 2
            });
            assert_eq!(
                topic.committed_offsets("mirror").unwrap(),
                before,
                "committed while the broker could not acknowledge"
            );
            broker.resume();
            wait_for(&events, "catching up after the pause", |_| lag0(&topic));
            let got = fetch_all(&addr, "orders", PARTS);
            let exp = expected(&topic);
            let dups = check_mirrored(&got, &exp, &[0..150, 0..150], None);
            for (p, d) in dups.iter().enumerate() {
                let c = before[p].unwrap();
                assert!(
                    d.iter().all(|o| *o >= c),
                    "partition {p}: duplicated committed {d:?}"
                );
            }
            let paused_dups: usize = dups.iter().map(Vec::len).sum();

            // Outage 2: the broker dies; a new, empty one takes its port.
            let before: Vec<u64> = topic
                .committed_offsets("mirror")
                .unwrap()
                .into_iter()
                .map(Option::unwrap)
                .collect();
            broker.kill();
            append_records(&topic, 300, 400);
            wait_for(&events, "a broker error after the kill", |e| {
                matches!(e, Seen::Retrying(_))
            });
            let mid: Vec<u64> = topic
                .committed_offsets("mirror")
                .unwrap()
                .into_iter()
                .map(Option::unwrap)
                .collect();
            assert_eq!(mid, before, "committed while the broker was down");
            broker = Broker::start(&bin, port, tmp.path());
            wait_for(&events, "catching up on the new broker", |_| lag0(&topic));
            // The new broker holds exactly what was not committed before it died.
            let got = fetch_all(&addr, "orders", PARTS);
            let exp = expected(&topic);
            let want: Vec<Range<u64>> = before.iter().map(|c| *c..200).collect();
            let dups = check_mirrored(&got, &exp, &want, None);
            let restart_dups: usize = dups.iter().map(Vec::len).sum();
            python_check(&addr, "orders", &got);
            eprintln!(
                "outage test: 400 records; {paused_dups} duplicated after the pause, \
                 {restart_dups} after the restart; new broker holds {:?} from committed {before:?}",
                got.iter().map(Vec::len).collect::<Vec<_>>()
            );
        }));
        stop.store(true, Ordering::Release);
        let totals = mirror.join().unwrap().unwrap();
        if let Err(panic) = result {
            eprintln!("broker log tail:\n{}", broker.log_text());
            std::panic::resume_unwind(panic);
        }
        assert!(totals.records >= 400, "totals {totals:?}");
        assert!(totals.broker_errors >= 3, "totals {totals:?}");
    });
    drop(topic);
    store.close().unwrap();
}

/// A target topic with fewer partitions than the source is refused before anything is
/// shipped or committed.
#[test]
fn refuses_a_target_with_too_few_partitions() {
    let Some(bin) = broker_or_skip("refuses_a_target_with_too_few_partitions") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&bin, free_port(), tmp.path());
    runtime().block_on(async {
        let client = ClientBuilder::new(vec![broker.addr()])
            .build()
            .await
            .unwrap();
        client
            .controller_client()
            .unwrap()
            .create_topic("small", 1, 1, 5_000)
            .await
            .unwrap();
    });
    let store = Store::open(tmp.path().join("store")).unwrap();
    let topic = store
        .create_topic("big", TopicConfig::default().partitions(3))
        .unwrap();
    append_records(&topic, 0, 30);
    let config = MirrorConfig::new([broker.addr()])
        .target_topic("small")
        .request_timeout(Duration::from_secs(5));
    let mut m = Mirror::new(&topic, "g", config).unwrap();
    match m.run_once() {
        Err(pagelog::mirror::Error::TargetPartitions { topic, has, needs }) => {
            assert_eq!((topic.as_str(), has, needs), ("small", 1, 3));
        }
        other => panic!("expected TargetPartitions, got {other:?}"),
    }
    assert_eq!(topic.committed_offsets("g").unwrap(), vec![None; 3]);
    drop(m);
    drop(topic);
    store.close().unwrap();
}
