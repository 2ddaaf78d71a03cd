use super::*;
use std::fs;

fn cfg() -> TopicConfig {
    TopicConfig::default()
        .segment_bytes(64 << 10)
        .index_interval_bytes(256)
}

fn fill(seg: &mut Segment, n: u64) {
    for i in 0..n {
        let v = format!("value-{i:05}");
        let r = seg
            .append(&[NewRecord::new(v.as_bytes()).timestamp(1000 + i.cast_signed())])
            .unwrap();
        assert_eq!(r, i..i + 1);
    }
}

#[test]
fn append_read_and_index_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &cfg()).unwrap();
    assert_eq!(
        seg.read(0).unwrap().map(|r| r.offset()),
        None,
        "empty segment reads nothing"
    );
    fill(&mut seg, 500);
    assert_eq!(seg.next_offset(), 500);
    assert!(seg.core.index.published() > 0, "sparse index has entries");
    for o in [0u64, 1, 77, 250, 499] {
        let r = seg.read(o).unwrap().unwrap();
        assert_eq!(r.offset(), o);
        assert_eq!(r.value(), format!("value-{o:05}").as_bytes());
        assert_eq!(r.timestamp(), 1000 + o.cast_signed());
    }
    assert!(seg.read(500).unwrap().is_none());
    let p = seg.position_of(250).unwrap().unwrap();
    assert!(p > 0 && p < seg.size());
}

/// Lookups prefetch where a segment of alike batches would hold the target, and stop doing
/// so while a lookup finds its batch far from there; reads are right either way.
#[test]
fn the_prefetch_follows_how_well_batch_sizes_predict_positions() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &cfg().segment_bytes(1 << 20)).unwrap();
    // 100 records of 4 KiB, then 2000 of 10 bytes: offset 1000 lies about 410 KB into the
    // log, where an even spread of the offsets puts about 4 % of the way into it.
    let big = vec![7u8; 4096];
    for _ in 0..100 {
        seg.append(&[NewRecord::new(&big)]).unwrap();
    }
    for i in 0..2000u32 {
        seg.append(&[NewRecord::new(&i.to_le_bytes())]).unwrap();
    }
    let unlike = |seg: &Segment| seg.core.unlike_batches.load(Ordering::Relaxed);
    assert!(!unlike(&seg), "no lookup yet");
    let r = seg.read(1000).unwrap().unwrap();
    assert_eq!(r.value(), 900u32.to_le_bytes());
    assert!(unlike(&seg), "found far from the prediction");
    // Offset 5 lies about 20 KB in, where the prediction puts it about 1 KB in: still far.
    assert_eq!(seg.read(5).unwrap().unwrap().value(), big.as_slice());
    assert!(unlike(&seg));
    // The last offsets lie at the end, where the prediction also puts them.
    let r = seg.read(2099).unwrap().unwrap();
    assert_eq!(r.value(), 1999u32.to_le_bytes());
    assert!(!unlike(&seg), "found near the prediction");
}

/// An active segment's indexes reserve disk space a chunk at a time, not their capacity.
#[test]
fn index_files_reserve_a_chunk_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = TopicConfig::default().index_interval_bytes(0);
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    let limits = writer::Limits::new(&config);
    assert!(limits.index_capacity as u64 > 4 * writer::INDEX_RESERVE_CHUNK);
    let len = |p: &std::path::Path| fs::metadata(p).unwrap().len();
    // An entry per batch: 30 000 entries of 12 bytes need two chunks of the offset index.
    for i in 0..30_000u32 {
        seg.append(&[NewRecord::new(&i.to_le_bytes())]).unwrap();
    }
    let (index, time) = (len(&seg.paths().index), len(&seg.paths().time));
    assert_eq!(index, 2 * writer::INDEX_RESERVE_CHUNK, "offset index");
    assert!(
        time <= 2 * writer::INDEX_RESERVE_CHUNK,
        "time index: {time}"
    );
    assert_eq!(
        seg.read(29_999).unwrap().unwrap().value(),
        29_999u32.to_le_bytes()
    );
}

#[test]
fn timestamp_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 10, &cfg()).unwrap();
    for i in 0..300i64 {
        seg.append(&[NewRecord::new(b"x").timestamp(i * 10)])
            .unwrap();
    }
    assert_eq!(
        seg.offset_for_timestamp(-5).unwrap(),
        Some(10),
        "before the first"
    );
    assert_eq!(seg.offset_for_timestamp(0).unwrap(), Some(10));
    assert_eq!(seg.offset_for_timestamp(1).unwrap(), Some(11), "between");
    assert_eq!(seg.offset_for_timestamp(2000).unwrap(), Some(210));
    assert_eq!(
        seg.offset_for_timestamp(2990).unwrap(),
        Some(309),
        "the last"
    );
    assert_eq!(
        seg.offset_for_timestamp(2991).unwrap(),
        None,
        "after the last"
    );
}

#[test]
fn seal_trims_and_recover_restores() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &cfg()).unwrap();
    fill(&mut seg, 200);
    let size = seg.size();
    seg.seal().unwrap();
    assert!(seg.is_sealed());
    assert_eq!(fs::metadata(&seg.paths().log).unwrap().len(), size);
    assert_eq!(fs::metadata(&seg.paths().index).unwrap().len() % 12, 0);
    assert!(matches!(
        seg.append(&[NewRecord::new(b"late")]),
        Err(Error::Closed(_))
    ));
    let index_before = fs::read(&seg.paths().index).unwrap();
    drop(seg);
    let (seg, report) = Segment::recover(dir.path(), 0, &cfg()).unwrap();
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(seg.next_offset(), 200);
    assert_eq!(seg.size(), size);
    // The rebuilt index is the one the writer wrote (the rule is shared).
    let rebuilt = fs::read(&seg.paths().index).unwrap();
    assert_eq!(&rebuilt[..index_before.len()], &index_before[..]);
    assert!(seg.verify().is_ok());
}

#[test]
fn recover_cuts_torn_tail_and_zero_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &cfg()).unwrap();
    fill(&mut seg, 50);
    let good = seg.size();
    let log = seg.paths().log.clone();
    drop(seg); // not sealed: the preallocated zero tail stays
    assert!(fs::metadata(&log).unwrap().len() > good);
    let (mut seg, report) = Segment::recover(dir.path(), 0, &cfg()).unwrap();
    assert_eq!(report.valid_bytes, good);
    assert_eq!(report.stopped, None, "zeros are not reported as damage");
    assert_eq!(seg.next_offset(), 50);
    // Appends continue after recovery.
    assert_eq!(seg.append(&[NewRecord::new(b"more")]).unwrap(), 50..51);
    let good = seg.size();
    drop(seg);
    // A torn last batch: cut it in half.
    let mut bytes = fs::read(&log).unwrap();
    bytes.truncate(crate::num::usize_from(good) - 5);
    fs::write(&log, &bytes).unwrap();
    let (seg, report) = Segment::recover(dir.path(), 0, &cfg()).unwrap();
    assert_eq!(seg.next_offset(), 50);
    assert!(report.stopped.is_some());
    assert_eq!(seg.read(49).unwrap().unwrap().value(), b"value-00049");
}

#[test]
fn verify_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &cfg()).unwrap();
    fill(&mut seg, 100);
    seg.seal().unwrap();
    let log = seg.paths().log.clone();
    drop(seg);
    let mut bytes = fs::read(&log).unwrap();
    let len = bytes.len();
    bytes[len / 3] ^= 0xff;
    bytes[2 * len / 3] ^= 0xff;
    fs::write(&log, &bytes).unwrap();
    let (seg, _) = Segment::recover(dir.path(), 0, &cfg()).unwrap();
    // Recovery cut at the first damage; verify of the original shows both. Rebuild it.
    drop(seg);
    fs::write(&log, &bytes).unwrap();
    let limits = writer::Limits::new(&cfg());
    let core = open::open_sealed(SegmentPaths::new(dir.path(), 0), 0, 100, &limits, true).unwrap();
    let (problems, batches, _) = verify::verify(&core);
    assert_eq!(
        problems.iter().filter(|p| p.path == log).count(),
        2,
        "{problems:?}"
    );
    assert_eq!(batches, 98);
}

#[test]
fn a_sealed_log_longer_than_max_segment_bytes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let paths = SegmentPaths::new(dir.path(), 0);
    // Sparse: no blocks are written.
    let f = fs::File::create(&paths.log).unwrap();
    f.set_len(crate::MAX_SEGMENT_BYTES + 1).unwrap();
    drop(f);
    match open::map_sealed_log(&paths) {
        Err(Error::Corrupt {
            reason: crate::Corruption::TooLarge { .. },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    fs::File::options()
        .write(true)
        .open(&paths.log)
        .unwrap()
        .set_len(crate::MAX_SEGMENT_BYTES)
        .unwrap();
    assert!(open::map_sealed_log(&paths).is_ok());
}

#[test]
fn full_segment_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let c = TopicConfig::default()
        .segment_bytes(4096)
        .max_batch_bytes(4096);
    let mut seg = Segment::create(dir.path(), 0, &c).unwrap();
    let big = vec![7u8; 1500];
    seg.append(&[NewRecord::new(&big)]).unwrap();
    seg.append(&[NewRecord::new(&big)]).unwrap();
    assert!(matches!(
        seg.append(&[NewRecord::new(&big)]),
        Err(Error::SegmentFull { base_offset: 0 })
    ));
    assert!(matches!(
        seg.append(&[NewRecord::new(&[0u8; 5000])]),
        Err(Error::RecordTooLarge { max: 4096, .. })
    ));
    assert!(matches!(seg.append(&[]), Err(Error::EmptyBatch)));
}

#[test]
fn index_full_is_reported_as_full() {
    let dir = tempfile::tempdir().unwrap();
    let c = TopicConfig::default()
        .segment_bytes(1 << 20)
        .index_interval_bytes(0)
        .index_bytes(64);
    let mut seg = Segment::create(dir.path(), 0, &c).unwrap();
    // 64 bytes hold 5 offset entries; interval 0 indexes every batch.
    for _ in 0..5 {
        seg.append(&[NewRecord::new(b"x")]).unwrap();
    }
    assert!(matches!(
        seg.append(&[NewRecord::new(b"x")]),
        Err(Error::SegmentFull { .. })
    ));
}

#[test]
fn relative_offset_overflow_needs_a_roll() {
    let limits = writer::Limits::new(&cfg());
    let rule = writer::IndexRule::EMPTY;
    // The rule itself is offset-agnostic; the writer checks the 32-bit bound first.
    assert!(
        rule.step(&limits, 0, 0, 0, u64::from(u32::MAX), 0)
            .is_some()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &cfg()).unwrap();
    seg.append(&[NewRecord::new(b"a")]).unwrap();
    // Pretend the segment already holds 2^32 - 1 offsets.
    if let Some(w) = seg.writer.as_mut() {
        w.next_offset = u64::from(u32::MAX);
    }
    let plan = plan_batch(&[NewRecord::new(b"b")], 0, 1 << 20).unwrap();
    let r = seg
        .try_append(BatchRecords::Contiguous(&[NewRecord::new(b"b")]), &plan, 0)
        .unwrap();
    assert_eq!(
        r,
        writer::Appended::At(u64::from(u32::MAX) + 1),
        "the last relative offset fits"
    );
    let r = seg
        .try_append(BatchRecords::Contiguous(&[NewRecord::new(b"c")]), &plan, 0)
        .unwrap();
    assert_eq!(r, writer::Appended::Full(writer::Full::Offsets));
}

#[test]
fn offsets_end_below_u64_max() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), u64::MAX - 1, &cfg()).unwrap();
    assert_eq!(
        seg.append(&[NewRecord::new(b"last")]).unwrap(),
        u64::MAX - 1..u64::MAX
    );
    assert!(matches!(
        seg.append(&[NewRecord::new(b"x")]),
        Err(Error::OffsetsExhausted)
    ));
    assert_eq!(seg.next_offset(), u64::MAX);
    drop(seg);
    let (seg, report) = Segment::recover(dir.path(), u64::MAX - 1, &cfg()).unwrap();
    assert_eq!(
        report.stopped, None,
        "the acknowledged batch survives recovery"
    );
    assert!(report.valid_bytes > 0);
    assert_eq!(seg.read(u64::MAX - 1).unwrap().unwrap().value(), b"last");
}

/// Damages one byte of the `.log` in place (the mapping sees it: same page cache).
fn poke(seg: &Segment, at: u64, xor: u8) {
    use std::os::unix::fs::FileExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&seg.paths().log)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ xor], at).unwrap();
}

#[test]
fn a_lookup_steps_over_batches_on_three_fields_and_parses_the_one_it_stops_at() {
    let dir = tempfile::tempdir().unwrap();
    // One index entry per 4 KiB: a lookup walks ~100 single-record batches past its entry.
    let config = cfg().index_interval_bytes(4096);
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    fill(&mut seg, 500);
    let positions: Vec<u64> = (0..500)
        .map(|o| seg.position_of(o).unwrap().unwrap())
        .collect();
    let pos = |o: u64| positions[crate::num::usize_from(o)];
    // A batch header damaged where the walk does not look (its magic) is stepped over by a
    // read of a later offset, and the record returned is still checked in full...
    poke(&seg, pos(5) + batch::field::MAGIC as u64, 0xff);
    assert_eq!(seg.read(9).unwrap().unwrap().value(), b"value-00009");
    // ...while reading it, or scanning or verifying the segment, reports it.
    assert!(matches!(seg.read(5), Err(Error::Corrupt { .. })));
    assert_eq!(seg.verify().problems.len(), 1);
    // A broken chain (a base offset that does not follow) stops the walk with an error, for
    // offsets behind it in the same walk.
    poke(&seg, pos(20) + batch::field::BASE_OFFSET as u64, 0x01);
    assert!(matches!(seg.read(24), Err(Error::Corrupt { .. })));
    // A length pointing past the log stops the walk too, instead of a read out of bounds.
    poke(&seg, pos(30) + batch::field::LENGTH as u64 + 3, 0x7f);
    assert!(matches!(seg.read(31), Err(Error::Corrupt { .. })));
}

#[test]
fn reads_in_a_log_marked_cold_ask_ahead_and_return_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &cfg()).unwrap();
    fill(&mut seg, 500);
    for cold in [true, false] {
        for o in 0..500u64 {
            // A fast lookup clears the mark: set it before each.
            seg.core.log.set_cold(cold);
            let r = seg.read(o).unwrap().unwrap();
            assert_eq!(r.offset(), o);
            assert_eq!(r.value(), format!("value-{o:05}").as_bytes());
        }
        assert!(seg.read(500).unwrap().is_none());
    }
    // A point read keeps the offset index resident; the index still grows afterwards.
    fill_from(&mut seg, 500, 20);
    assert_eq!(seg.read(510).unwrap().unwrap().offset(), 510);
}

#[test]
fn cold_reads_of_batches_larger_than_a_page_return_the_same_records() {
    // Batches of 4 records of 3000 B: about 12 KB each, an index entry each, so a lookup in
    // a cold log asks for everything up to the next entry.
    let dir = tempfile::tempdir().unwrap();
    let config = cfg().segment_bytes(1 << 20);
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    let value = |o: u64| vec![u8::try_from(o % 251).unwrap(); 3000];
    for b in 0..50u64 {
        let values: Vec<Vec<u8>> = (b * 4..b * 4 + 4).map(value).collect();
        let records: Vec<NewRecord<'_>> = values.iter().map(|v| NewRecord::new(v)).collect();
        seg.append(&records).unwrap();
    }
    for cold in [true, false] {
        for o in 0..200u64 {
            seg.core.log.set_cold(cold);
            let r = seg.read(o).unwrap().unwrap();
            assert_eq!(r.offset(), o);
            assert_eq!(r.value(), value(o));
        }
    }
}

fn fill_from(seg: &mut Segment, from: u64, n: u64) {
    for i in from..from + n {
        let v = format!("value-{i:05}");
        seg.append(&[NewRecord::new(v.as_bytes()).timestamp(1000 + i.cast_signed())])
            .unwrap();
    }
}

#[test]
fn a_sealed_segment_reads_headers_for_its_largest_timestamp_only_when_asked() {
    use crate::codec::index::TIME_ENTRY_LEN;
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &cfg()).unwrap();
    fill(&mut seg, 100);
    seg.seal().unwrap();
    let time = seg.paths().time.clone();
    drop(seg);
    let limits = writer::Limits::new(&cfg());
    let open = || open::open_sealed(SegmentPaths::new(dir.path(), 0), 0, 100, &limits, true);
    // The entry written at seal time covers the last offset: nothing left to read.
    let core = open().unwrap();
    assert_eq!(core.max_ts_walk_from.load(Ordering::Relaxed), core::NO_WALK);
    assert_eq!(core.max_timestamp(), Some(1099));
    drop(core);
    // Without it, the open reads no header; the first use of the timestamp does.
    let bytes = fs::read(&time).unwrap();
    fs::write(&time, &bytes[..bytes.len() - TIME_ENTRY_LEN]).unwrap();
    let core = open().unwrap();
    let from = core.max_ts_walk_from.load(Ordering::Relaxed);
    assert!(from > 0 && from < 100, "walk from {from}");
    assert!(core.max_timestamp.load(Ordering::Relaxed) < 1099);
    assert_eq!(core.max_timestamp(), Some(1099));
    assert_eq!(core.max_ts_walk_from.load(Ordering::Relaxed), core::NO_WALK);
    assert_eq!(core.offset_for_timestamp(1099).unwrap(), Some(99));
}
