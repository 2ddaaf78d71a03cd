//! Index loading in a store: a cleanly closed partition whose sealed segments are trusted
//! (their indexes are read, not rebuilt), with one sealed segment's `.index` and `.timeindex`
//! replaced by fuzzed bytes. The store must open, and every read must return the record that
//! was written at that offset or an error: never a panic, never another record.
//!
//! Input layout: byte 0 picks the segment and the mode, byte 1 where the input splits into
//! the offset index and the time index; the rest is the index data. Modes: the bytes as the
//! files; the bytes XORed over the real files (mostly valid entries with some damage); or the
//! bytes as entry fields with correct CRCs (`(relative offset, position)` and `(timestamp,
//! relative offset)`), which forges entries that pass their checksum.
#![no_main]

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pagelog::codec::index::{OffsetEntry, TimeEntry};
use pagelog::{FlushPolicy, NewRecord, Store, TopicConfig};

const RECORDS: u64 = 120;
const BASE_TS: i64 = 1_700_000_000_000;

struct Template {
    /// Partition directory files by name.
    files: BTreeMap<String, Vec<u8>>,
    topic_meta: Vec<u8>,
    /// Base offsets of the sealed segments.
    sealed: Vec<u64>,
}

fn value(i: u64) -> Vec<u8> {
    format!("record {i} {}", "x".repeat((i * 37 % 200) as usize)).into_bytes()
}

fn timestamp(i: u64) -> i64 {
    BASE_TS + i as i64 * 10
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir_in(common::shm()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let config = TopicConfig::default()
            .segment_bytes(4096)
            .index_interval_bytes(200)
            .flush(FlushPolicy::Never);
        let t = store.create_topic("t", config).unwrap();
        let p = t.partition(0).unwrap();
        let mut i = 0;
        while i < RECORDS {
            let n = (i % 3 + 1).min(RECORDS - i);
            let values: Vec<Vec<u8>> = (i..i + n).map(value).collect();
            let recs: Vec<NewRecord<'_>> = values
                .iter()
                .zip(i..)
                .map(|(v, j)| NewRecord::new(v).timestamp(timestamp(j)))
                .collect();
            assert_eq!(p.append_batch(&recs).unwrap(), i..i + n);
            i += n;
        }
        let pdir = p.dir().to_path_buf();
        store.close().unwrap();
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(&pdir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            files.insert(name, std::fs::read(e.path()).unwrap());
        }
        let mut bases: Vec<u64> = files
            .keys()
            .filter_map(|n| n.strip_suffix(".log"))
            .map(|s| s.parse().unwrap())
            .collect();
        bases.sort_unstable();
        bases.pop(); // the active segment
        assert!(bases.len() >= 3, "the template needs sealed segments");
        let topic_meta = std::fs::read(dir.path().join("t/topic.meta")).unwrap();
        Template {
            files,
            topic_meta,
            sealed: bases,
        }
    })
}

fn forge(data: &[u8], offset_index: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if offset_index {
        for c in data.chunks_exact(8) {
            let e = OffsetEntry {
                relative_offset: u32::from_le_bytes(c[..4].try_into().unwrap()) % 256,
                position: u32::from_le_bytes(c[4..].try_into().unwrap()) % 8192,
            };
            out.extend_from_slice(&e.encode());
        }
    } else {
        for c in data.chunks_exact(12) {
            let e = TimeEntry {
                timestamp: i64::from_le_bytes(c[..8].try_into().unwrap()),
                relative_offset: u32::from_le_bytes(c[8..].try_into().unwrap()) % 256,
            };
            out.extend_from_slice(&e.encode());
        }
    }
    out
}

fn xor(orig: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = orig.to_vec();
    for (o, d) in out.iter_mut().zip(data) {
        *o ^= d;
    }
    if data.len() > orig.len() {
        out.extend_from_slice(&data[orig.len()..]);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [sel, split, rest @ ..] = data else {
        return;
    };
    let t = template();
    let base = t.sealed[usize::from(sel & 0x0f) % t.sealed.len()];
    let mode = sel >> 6;
    let cut = rest.len() * usize::from(*split) / 255;
    let (idx_data, time_data) = rest.split_at(cut);
    let idx_name = format!("{base:020}.index");
    let time_name = format!("{base:020}.timeindex");
    let (index, time) = match mode {
        0 => (idx_data.to_vec(), time_data.to_vec()),
        1 => (
            xor(&t.files[&idx_name], idx_data),
            xor(&t.files[&time_name], time_data),
        ),
        _ => (forge(idx_data, true), forge(time_data, false)),
    };
    let forged = mode >= 2;

    let dir = tempfile::tempdir_in(common::shm()).unwrap();
    let pdir = dir.path().join("t/0");
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::write(dir.path().join("t/topic.meta"), &t.topic_meta).unwrap();
    for (name, bytes) in &t.files {
        let bytes = if *name == idx_name {
            &index
        } else if *name == time_name {
            &time
        } else {
            bytes
        };
        std::fs::write(pdir.join(name), bytes).unwrap();
    }

    let store = Store::open(dir.path()).expect("store opens");
    let topic = store
        .topic("t")
        .expect("topic opens with damaged sealed indexes");
    let p = topic.partition(0).unwrap();
    assert_eq!(p.next_offset(), RECORDS);
    for o in 0..RECORDS {
        match p.read(o) {
            Ok(Some(r)) => {
                assert_eq!(r.offset(), o, "read({o}) returned another record");
                assert_eq!(r.value(), &value(o)[..]);
            }
            Ok(None) => panic!("read({o}) found nothing"),
            Err(e) => assert!(forged, "read({o}) failed on a damaged index: {e}"),
        }
    }
    let mut expected = 0;
    for r in p.iter() {
        let r = r.expect("iteration does not use the index");
        assert_eq!((r.offset(), r.value()), (expected, &value(expected)[..]));
        expected += 1;
    }
    assert_eq!(expected, RECORDS);
    for o in 0..RECORDS {
        match p.offset_for_timestamp(timestamp(o)) {
            Ok(found) => assert!(
                forged || found == Some(o),
                "offset_for_timestamp of record {o} gave {found:?}"
            ),
            Err(e) => assert!(forged, "offset_for_timestamp({o}) failed: {e}"),
        }
    }
    let _ = p.verify();
    p.append(NewRecord::new(b"more")).expect("append");
    store.close().expect("close");
});
