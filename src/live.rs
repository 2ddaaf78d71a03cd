//! The live state of a topic shared between its writer process and reader processes: the
//! file `<topic>/live` (layout in `codec::live`, meaning in FORMAT.md 7.8), mapped by every
//! process that has the topic open.
//!
//! The writer publishes each partition's tail on every append and marks every change of a
//! partition's segment files; readers follow both (`partition/follow.rs`) and sleep on the
//! header's wake word. Invariants:
//! * Only the process holding the topic's writer lock (an OFD lock on the file, Linux; an
//!   exclusive `flock` elsewhere) writes the header and the slots; readers write only the
//!   `WAITING` flag.
//! * A slot's tail is written under the partition's writer mutex, its cold part under
//!   [`SlotWriter`]'s mutex; each is a seqlock (sequence odd while writing).
//! * `GEN` moves after every change of the segment files is complete and published; `CHANGING`
//!   is nonzero from before such a change starts until then. A reader lists the directory
//!   only when `CHANGING` is zero before and after and `GEN` did not move meanwhile.
//! * The file is never shortened: a file of the wrong length is replaced by rename.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::codec::live::{self, Header, State, cold, tail};
use crate::error::{Error, Result, io_err};
use crate::fsutil::{self, read_at};
use crate::mmap::shared::{SharedWords, lock_writer, writer_lock_held};

/// Seqlock reads give up after this many attempts that met a write in progress (the writer
/// died in the middle, or is descheduled); the caller keeps what it had.
const SEQ_TRIES: u32 = 10_000;

/// A partition's tail as published: the active segment and the segment sealed last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Tail {
    pub active_base: u64,
    pub next_offset: u64,
    pub log_len: u64,
    pub index_len: u64,
    pub time_len: u64,
    pub max_timestamp: i64,
    /// The segment sealed last, if one was this session.
    pub sealed: Option<Sealed>,
}

/// Final lengths of a sealed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Sealed {
    pub base: u64,
    pub log_len: u64,
    pub index_len: u64,
    pub time_len: u64,
    pub max_timestamp: i64,
}

/// A partition's cold state as published.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Cold {
    pub start: u64,
    pub epoch: u64,
    pub durable: u64,
    /// Recent cuts, oldest first: (epoch after it, offset cut to).
    pub cuts: Vec<(u64, u64)>,
}

impl Cold {
    /// The lowest offset a truncation since `epoch` cut the log to.
    pub fn lowest_cut_since(&self, epoch: u64) -> Option<u64> {
        self.cuts
            .iter()
            .filter(|(e, _)| *e > epoch)
            .map(|&(_, t)| t)
            .min()
    }

    /// Records a cut to `target` with a new epoch, merging the oldest away when full.
    pub fn push_cut(&mut self, target: u64) {
        self.epoch += 1;
        self.cuts.push((self.epoch, target));
        if self.cuts.len() > cold::CUTS {
            let (_, oldest) = self.cuts.remove(0);
            if let Some(first) = self.cuts.first_mut() {
                first.1 = first.1.min(oldest);
            }
        }
    }
}

/// The live state file of one topic, mapped.
#[derive(Debug)]
pub(crate) struct LiveFile {
    path: PathBuf,
    words: SharedWords,
    partitions: u32,
    /// The writer lock, on a descriptor of its own (an OFD lock belongs to its open file
    /// description): `None` in a reader, and once the writer closed or abandoned the topic.
    lock: Mutex<Option<File>>,
    /// Writer side: the slots the previous writer left held when this one opened the file
    /// (written during this boot, or synced by a clean close), so its epoch and tail are
    /// continued; false in a reader.
    prior_trusted: bool,
}

/// Linux's identifier of the running boot, all zero where there is none: read once per
/// process (a process does not outlive its boot).
pub(crate) fn boot_id() -> [u8; 16] {
    static BOOT: std::sync::OnceLock<[u8; 16]> = std::sync::OnceLock::new();
    *BOOT.get_or_init(read_boot_id)
}

fn read_boot_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    if let Ok(text) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
        let hex: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        for (i, pair) in hex.chunks_exact(2).take(16).enumerate() {
            let digit = |c: u8| {
                char::from(c)
                    .to_digit(16)
                    .and_then(|d| u8::try_from(d).ok())
            };
            if let (Some(hi), Some(lo), Some(slot)) =
                (digit(pair[0]), digit(pair[1]), id.get_mut(i))
            {
                *slot = hi << 4 | lo;
            }
        }
    }
    id
}

/// Whether slots under header `h` hold now: written during this boot, or synced by a clean
/// close (boot id zero).
fn holds_now(h: &Header) -> bool {
    h.boot == boot_id() || h.boot == [0; 16]
}

/// A fresh live state file's bytes: the header for this boot, state `Empty`, zero slots.
fn fresh_bytes(partitions: u32) -> Vec<u8> {
    let mut bytes = vec![0u8; live::file_len(partitions)];
    let header = live::encode_header(&Header {
        partitions,
        boot: boot_id(),
    });
    bytes[..header.len()].copy_from_slice(&header);
    for p in 0..partitions {
        let at = live::slot_at(p) + tail::SEALED_BASE;
        bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    }
    bytes
}

/// Writes a fresh live state file into `dir` (a topic being created, or one whose file is
/// missing or unusable), atomically: a reader maps either the old file or the new one whole.
pub(crate) fn create(dir: &Path, partitions: u32) -> Result<()> {
    fsutil::atomic_write(dir, live::LIVE_FILE, &fresh_bytes(partitions))
}

impl LiveFile {
    /// Opens the topic's live state file as its writer: takes the writer lock, (re)creates
    /// the file if it is missing or not one for `partitions` partitions, and starts a new
    /// session (state `Opening`, every slot marked changing) before anything of the topic
    /// is opened.
    ///
    /// # Errors
    /// [`Error::Locked`] (with the holder's pid) if another writer has the topic;
    /// [`Error::Io`].
    pub fn open_writer(dir: &Path, partitions: u32) -> Result<Self> {
        let path = dir.join(live::LIVE_FILE);
        // Read before this open stamps the header with this boot: whether the slots the
        // previous writer left hold now (a fresh file holds nothing worth continuing).
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&path)(e)),
        };
        let header = file.as_ref().and_then(|f| Self::header_of(f, &path).ok());
        let usable = header.is_some_and(|h| h.partitions == partitions);
        let prior_trusted = usable && header.is_some_and(|h| holds_now(&h));
        let file = match file {
            Some(f) if usable => f,
            _ => {
                create(dir, partitions)?;
                open_rw(&path)?
            }
        };
        let lock = open_rw(&path)?;
        let words = SharedWords::map(file, live::file_len(partitions)).map_err(io_err(&path))?;
        if let Err(e) = lock_writer(&lock) {
            if e.kind() == io::ErrorKind::WouldBlock {
                let pid = words.u32_at(live::WRITER_PID).load(Ordering::SeqCst);
                return Err(Error::Locked {
                    path,
                    pid: (pid != 0).then_some(pid),
                });
            }
            return Err(io_err(&path)(e));
        }
        let me = Self {
            path,
            words,
            partitions,
            lock: Mutex::new(Some(lock)),
            prior_trusted,
        };
        me.write_header(&boot_id())?;
        me.words
            .u32_at(live::WRITER_PID)
            .store(std::process::id(), Ordering::SeqCst);
        for p in 0..partitions {
            me.u64(p, cold::CHANGING).store(1, Ordering::SeqCst);
        }
        me.words
            .u64_at(live::SESSION)
            .fetch_add(1, Ordering::SeqCst);
        me.set_state(State::Opening);
        Ok(me)
    }

    /// Opens the topic's live state file as a reader (read-write: a reader sets the
    /// `WAITING` flag before it sleeps).
    ///
    /// # Errors
    /// [`Error::NeedsRecovery`] if there is no usable file (no writer of this version opened
    /// the topic yet); [`Error::Io`].
    pub fn open_reader(dir: &Path, partitions: u32) -> Result<Self> {
        let path = dir.join(live::LIVE_FILE);
        let unusable = |why: &str| Error::NeedsRecovery {
            path: path.clone(),
            reason: why.to_owned(),
        };
        match Self::read_header(&path) {
            Ok(Some(h)) if h.partitions == partitions => {}
            Ok(Some(_)) => return Err(unusable("it was written for another partition count")),
            Ok(None) => return Err(unusable("no writer of this version has opened the topic")),
            Err(e) => return Err(unusable(&format!("its header is damaged: {e}"))),
        }
        let file = open_rw(&path)?;
        let words = SharedWords::map(file, live::file_len(partitions)).map_err(io_err(&path))?;
        Ok(Self {
            path,
            words,
            partitions,
            lock: Mutex::new(None),
            prior_trusted: false,
        })
    }

    /// The file's static header (`None` if the file does not exist).
    fn read_header(path: &Path) -> Result<Option<Header>> {
        let Some(bytes) = read_prefix(path, live::HEADER_CRC_COVERS + 4)? else {
            return Ok(None);
        };
        live::decode_header(&bytes)
            .map(Some)
            .map_err(|e| Error::metadata(path, &e))
    }

    /// The header as it is now (readers re-read it when a new writer session starts).
    pub fn header(&self) -> Result<Header> {
        Self::header_of(self.words.file(), &self.path)
    }

    /// The header of `file`, the live state file at `path`.
    fn header_of(file: &File, path: &Path) -> Result<Header> {
        let mut bytes = [0u8; live::HEADER_CRC_COVERS + 4];
        let n = read_at(file, &mut bytes, 0).map_err(io_err(path))?;
        live::decode_header(&bytes[..n]).map_err(|e| Error::metadata(path, &e))
    }

    /// Whether the slots hold for this boot: written during it, or synced by a clean close.
    pub fn trusted(&self) -> bool {
        self.header()
            .is_ok_and(|h| h.boot == boot_id() || h.boot == [0; 16])
    }

    fn write_header(&self, boot: &[u8; 16]) -> Result<()> {
        let bytes = live::encode_header(&Header {
            partitions: self.partitions,
            boot: *boot,
        });
        write_at(self.words.file(), &bytes, 0).map_err(io_err(&self.path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn u64(&self, p: u32, field: usize) -> &AtomicU64 {
        self.words.u64_at(live::slot_at(p) + field)
    }

    pub fn state(&self) -> Option<State> {
        State::from_word(self.words.u32_at(live::STATE).load(Ordering::SeqCst))
    }

    pub fn set_state(&self, s: State) {
        self.words
            .u32_at(live::STATE)
            .store(s as u32, Ordering::SeqCst);
        self.wake_all();
    }

    pub fn session(&self) -> u64 {
        self.words.u64_at(live::SESSION).load(Ordering::SeqCst)
    }

    pub fn writer_pid(&self) -> u32 {
        self.words.u32_at(live::WRITER_PID).load(Ordering::SeqCst)
    }

    /// Whether a writer holds the topic now (this process included).
    pub fn writer_alive(&self) -> bool {
        self.lock.lock().is_some() || writer_lock_held(self.words.file(), self.writer_pid())
    }

    /// The writer lets the topic go (closed, deleted or abandoned): handles that outlive
    /// it publish nothing more, and the next writer may come.
    pub fn release(&self) {
        self.lock.lock().take();
    }

    /// The reader side of an open: waits while a writer is opening the topic (up to
    /// `limit`), then checks that the slots can be followed.
    ///
    /// # Errors
    /// [`Error::TopicNotFound`] if the topic is being deleted; [`Error::NeedsRecovery`] if no
    /// writer finished opening it and none is opening it now, if the writer takes longer than
    /// `limit`, or if the slots were written before the last restart of the machine and not
    /// by a clean close.
    pub fn wait_ready(&self, topic: &str, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let needs = |reason: &str| Error::NeedsRecovery {
                path: self.path.clone(),
                reason: reason.to_owned(),
            };
            match self.state() {
                Some(State::Live | State::Closed) => {
                    return if self.trusted() {
                        Ok(())
                    } else {
                        Err(needs(
                            "the machine restarted since its writer last had it open, and                              it was not closed cleanly: its unsynced tail needs recovery",
                        ))
                    };
                }
                Some(State::Deleted) => return Err(Error::TopicNotFound(topic.to_owned())),
                Some(State::Empty | State::Opening) if self.writer_alive() => {
                    if Instant::now() >= deadline {
                        return Err(needs("its writer is still opening it"));
                    }
                    self.nap(Duration::from_millis(100));
                }
                Some(State::Empty | State::Opening) => {
                    return Err(needs(
                        "its last writer stopped before it finished opening it",
                    ));
                }
                None => return Err(needs("its state word holds an unknown value")),
            }
        }
    }

    /// The writer side of a clean close: every slot describes its files exactly and the
    /// data is synced, so the slots are made durable and marked valid for any boot.
    ///
    /// # Errors
    /// [`Error::Io`] if a sync or the header write fails (the state stays valid for this
    /// boot only).
    pub fn close_clean(&self) -> Result<()> {
        self.words.sync().map_err(io_err(&self.path))?;
        self.write_header(&[0; 16])?;
        self.words.sync().map_err(io_err(&self.path))?;
        self.set_state(State::Closed);
        Ok(())
    }

    // Waking and waiting, across processes.

    /// The writer side, called after a sequentially consistent fence that follows the
    /// publication: wakes readers of any process if one may sleep. One load when nobody
    /// waits.
    #[inline]
    pub fn notify_fenced(&self) {
        let waiting = self.words.u32_at(live::WAITING);
        if waiting.load(Ordering::SeqCst) != 0 && waiting.swap(0, Ordering::SeqCst) != 0 {
            self.wake_all();
        }
    }

    /// Wakes every sleeper now, whoever they are.
    pub fn wake_all(&self) {
        self.words.u32_at(live::WAKE).fetch_add(1, Ordering::SeqCst);
        self.words.wake(live::WAKE);
    }

    /// The reader side: blocks until `ready()` or `deadline`; returns the last `ready()`.
    ///
    /// The wake word is read before the flag is set and `ready()` checked, and the sleep
    /// only happens while the word still holds that value: a writer that published after
    /// the check sees the flag (both sides order through sequentially consistent
    /// operations) and changes the word, so no wake-up is lost. A sleeper that dies leaves
    /// the flag set only until the writer's next wake clears it.
    pub fn wait_until(&self, deadline: Option<Instant>, mut ready: impl FnMut() -> bool) -> bool {
        let word: &AtomicU32 = self.words.u32_at(live::WAKE);
        loop {
            let seen = word.load(Ordering::SeqCst);
            self.words.u32_at(live::WAITING).store(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if ready() {
                return true;
            }
            let timeout = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return ready(),
                },
                None => None,
            };
            self.words.wait(live::WAKE, seen, timeout);
        }
    }

    /// Sleeps until the header or a slot may have changed, or `timeout`.
    pub fn nap(&self, timeout: Duration) {
        let seen = self.words.u32_at(live::WAKE).load(Ordering::SeqCst);
        self.words.u32_at(live::WAITING).store(1, Ordering::SeqCst);
        self.words.wait(live::WAKE, seen, Some(timeout));
    }

    // The slots, reader side.

    /// Partition `p`'s tail, `None` if a write was in progress every time it looked.
    pub fn tail(&self, p: u32) -> Option<Tail> {
        let seq = self.u64(p, tail::SEQ);
        for _ in 0..SEQ_TRIES {
            let s1 = seq.load(Ordering::Acquire);
            if s1 % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let f = |at| self.u64(p, at).load(Ordering::Relaxed);
            let sealed_base = f(tail::SEALED_BASE);
            let t = Tail {
                active_base: f(tail::ACTIVE_BASE),
                next_offset: f(tail::NEXT_OFFSET),
                log_len: f(tail::LOG_LEN),
                index_len: f(tail::INDEX_LEN),
                time_len: f(tail::TIME_LEN),
                max_timestamp: f(tail::MAX_TIMESTAMP).cast_signed(),
                sealed: (sealed_base != u64::MAX).then(|| Sealed {
                    base: sealed_base,
                    log_len: f(tail::SEALED_LOG_LEN),
                    index_len: f(tail::SEALED_INDEX_LEN),
                    time_len: f(tail::SEALED_TIME_LEN),
                    max_timestamp: f(tail::SEALED_MAX_TIMESTAMP).cast_signed(),
                }),
            };
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                return Some(t);
            }
        }
        None
    }

    /// Partition `p`'s cold part, `None` as for [`tail`](Self::tail).
    pub fn cold(&self, partition: u32) -> Option<Cold> {
        let seq = self.u64(partition, cold::SEQ);
        for _ in 0..SEQ_TRIES {
            let before = seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let word = |at| self.u64(partition, at).load(Ordering::Relaxed);
            let mut read = Cold {
                start: word(cold::START),
                epoch: word(cold::EPOCH),
                durable: word(cold::DURABLE),
                cuts: Vec::with_capacity(cold::CUTS),
            };
            for i in 0..cold::CUTS {
                let epoch = word(cold::CUTS_AT + 16 * i);
                if epoch != 0 {
                    read.cuts.push((epoch, word(cold::CUTS_AT + 16 * i + 8)));
                }
            }
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == before {
                return Some(read);
            }
        }
        None
    }

    /// Partition `p`'s list generation and changes in progress.
    pub fn list_state(&self, p: u32) -> (u64, u64) {
        let g = self.u64(p, cold::GEN).load(Ordering::SeqCst);
        let c = self.u64(p, cold::CHANGING).load(Ordering::SeqCst);
        (g, c)
    }

    /// The three sequence words of `p` (tail, cold, list generation): they change whenever
    /// anything a reader follows changes.
    #[inline]
    pub fn versions(&self, p: u32) -> [u64; 3] {
        [
            self.u64(p, tail::SEQ).load(Ordering::Acquire),
            self.u64(p, cold::SEQ).load(Ordering::Acquire),
            self.u64(p, cold::GEN).load(Ordering::Acquire),
        ]
    }

    // The slots, writer side.

    /// Writes partition `p`'s tail (under its writer mutex), and the sealed part if given.
    pub fn write_tail(&self, p: u32, t: &Tail, sealed: Option<&Sealed>) {
        let seq = self.u64(p, tail::SEQ);
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1) | 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let w = |at, v: u64| self.u64(p, at).store(v, Ordering::Relaxed);
        w(tail::ACTIVE_BASE, t.active_base);
        w(tail::NEXT_OFFSET, t.next_offset);
        w(tail::LOG_LEN, t.log_len);
        w(tail::INDEX_LEN, t.index_len);
        w(tail::TIME_LEN, t.time_len);
        w(tail::MAX_TIMESTAMP, t.max_timestamp.cast_unsigned());
        if let Some(s) = sealed {
            w(tail::SEALED_BASE, s.base);
            w(tail::SEALED_LOG_LEN, s.log_len);
            w(tail::SEALED_INDEX_LEN, s.index_len);
            w(tail::SEALED_TIME_LEN, s.time_len);
            w(tail::SEALED_MAX_TIMESTAMP, s.max_timestamp.cast_unsigned());
        }
        seq.store((s | 1).wrapping_add(1), Ordering::Release);
    }

    /// Writes partition `p`'s cold part (under its [`SlotWriter`] mutex).
    pub fn write_cold(&self, partition: u32, state: &Cold) {
        let seq = self.u64(partition, cold::SEQ);
        let before = seq.load(Ordering::Relaxed);
        seq.store(before.wrapping_add(1) | 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let put = |at, v: u64| self.u64(partition, at).store(v, Ordering::Relaxed);
        put(cold::START, state.start);
        put(cold::EPOCH, state.epoch);
        put(cold::DURABLE, state.durable);
        for i in 0..cold::CUTS {
            let (epoch, target) = state.cuts.get(i).copied().unwrap_or((0, 0));
            put(cold::CUTS_AT + 16 * i, epoch);
            put(cold::CUTS_AT + 16 * i + 8, target);
        }
        seq.store((before | 1).wrapping_add(1), Ordering::Release);
    }

    /// A change of `p`'s segment files begins.
    pub fn begin_change(&self, p: u32) {
        self.u64(p, cold::CHANGING).fetch_add(1, Ordering::SeqCst);
    }

    /// A change of `p`'s segment files is complete and published.
    pub fn end_change(&self, p: u32) {
        self.u64(p, cold::GEN).fetch_add(1, Ordering::SeqCst);
        let changing = self.u64(p, cold::CHANGING);
        let _ = changing.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
            Some(c.saturating_sub(1))
        });
    }

    /// The segment list of `p` changed (a change that needed no bracket: a roll, a
    /// retention pass's unlisting).
    pub fn bump_gen(&self, p: u32) {
        self.u64(p, cold::GEN).fetch_add(1, Ordering::SeqCst);
    }
}

/// What a partition's writer publishes through: its slot of the topic's live file.
#[derive(Debug)]
pub(crate) struct SlotWriter {
    pub live: std::sync::Arc<LiveFile>,
    pub partition: u32,
    /// The cold part as last written (the writer keeps its own copy and writes it whole).
    cold: Mutex<Cold>,
}

impl SlotWriter {
    /// The slot of `partition`, continuing the epoch and cuts a previous session left (read
    /// from the file, if it holds for this boot).
    pub fn new(live: std::sync::Arc<LiveFile>, partition: u32) -> Self {
        let prior = if live.prior_trusted {
            live.cold(partition).unwrap_or_default()
        } else {
            Cold::default()
        };
        Self {
            live,
            partition,
            cold: Mutex::new(prior),
        }
    }

    /// The tail the previous session left, if it holds for this boot.
    pub fn prior_tail(&self) -> Option<Tail> {
        self.live
            .prior_trusted
            .then(|| self.live.tail(self.partition))
            .flatten()
    }

    /// Changes the cold part with `f` and publishes it.
    pub fn update_cold(&self, f: impl FnOnce(&mut Cold)) {
        let mut c = self.cold.lock();
        f(&mut c);
        self.live.write_cold(self.partition, &c);
    }
}

fn open_rw(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))
}

/// The first `len` bytes of `path`, `None` if it does not exist (shorter files give what
/// they have).
fn read_prefix(path: &Path, len: usize) -> Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let mut buf = vec![0u8; len];
    let n = read_at(&file, &mut buf, 0).map_err(io_err(path))?;
    buf.truncate(n);
    Ok(Some(buf))
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], at: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(buf, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_merge_into_the_oldest_kept() {
        let mut c = Cold::default();
        for t in [50, 40, 60, 70, 80] {
            c.push_cut(t);
        }
        assert_eq!(c.epoch, 5);
        assert_eq!(c.cuts.len(), cold::CUTS);
        // The first cut (to 50, epoch 1) was merged into the next (to 40).
        assert_eq!(c.lowest_cut_since(0), Some(40));
        assert_eq!(c.lowest_cut_since(2), Some(60));
        assert_eq!(c.lowest_cut_since(5), None);
    }

    #[test]
    fn a_new_writer_continues_the_slots_only_if_they_hold_for_this_boot() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io_err("tmp"))?;
        create(dir.path(), 1)?;
        let first = std::sync::Arc::new(LiveFile::open_writer(dir.path(), 1)?);
        SlotWriter::new(std::sync::Arc::clone(&first), 0).update_cold(|c| c.push_cut(7));
        first.release();
        let again = std::sync::Arc::new(LiveFile::open_writer(dir.path(), 1)?);
        assert_eq!(
            SlotWriter::new(std::sync::Arc::clone(&again), 0)
                .cold
                .lock()
                .epoch,
            1
        );
        // Slots left during another boot (and not by a clean close) start over.
        again.write_header(&[1; 16])?;
        again.release();
        let after_reboot = std::sync::Arc::new(LiveFile::open_writer(dir.path(), 1)?);
        let slot = SlotWriter::new(after_reboot, 0);
        assert_eq!(slot.cold.lock().epoch, 0);
        assert_eq!(slot.prior_tail(), None);
        Ok(())
    }

    #[test]
    fn a_reader_sees_what_the_writer_publishes() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io_err("tmp"))?;
        create(dir.path(), 2)?;
        let writer = LiveFile::open_writer(dir.path(), 2)?;
        let reader = LiveFile::open_reader(dir.path(), 2)?;
        assert!(reader.writer_alive());
        assert!(reader.trusted());
        assert_eq!(reader.state(), Some(State::Opening));
        let published = Tail {
            active_base: 10,
            next_offset: 12,
            log_len: 300,
            index_len: 0,
            time_len: 16,
            max_timestamp: -5,
            sealed: None,
        };
        let sealed = Sealed {
            base: 0,
            log_len: 99,
            index_len: 12,
            time_len: 16,
            max_timestamp: 7,
        };
        writer.write_tail(1, &published, Some(&sealed));
        assert_eq!(
            reader.tail(1),
            Some(Tail {
                sealed: Some(sealed),
                ..published
            })
        );
        assert_eq!(reader.tail(0).map(|t| t.sealed), Some(None));
        let mut cold = Cold::default();
        cold.push_cut(3);
        cold.start = 2;
        writer.write_cold(1, &cold);
        assert_eq!(reader.cold(1), Some(cold));
        assert_eq!(
            reader.list_state(1),
            (0, 1),
            "open marks every slot changing"
        );
        writer.end_change(1);
        assert_eq!(reader.list_state(1), (1, 0));
        assert!(matches!(
            LiveFile::open_writer(dir.path(), 2),
            Err(Error::Locked { pid: Some(p), .. }) if p == std::process::id()
        ));
        drop(writer);
        assert!(!reader.writer_alive());
        Ok(())
    }
}
