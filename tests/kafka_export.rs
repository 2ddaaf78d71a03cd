//! Export to and import from Kafka partition directories: the kafka-python fixture
//! directories (tests/fixtures/kafka/), round trips, Kafka's layout, damage and refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "test data: offsets, sizes and counts are small"
)]

mod kafka_support;

use std::path::Path;

use kafka_support::{copy_fixture_dir, expected_lines, fix_crc, fixture, pagelog_line};
use pagelog::kafka::{
    self, ExportOptions, ImportOptions, OffsetIndexEntry, TimeIndexEntry, decode_batch, export,
    export_with_progress, import, read_log_batches,
};
use pagelog::{Error, Header, NewRecord, Partition, Store, TopicConfig};

fn store(dir: &Path) -> Store {
    Store::open(dir.join("store")).unwrap()
}

fn partition(store: &Store, topic: &str) -> Partition {
    store
        .create_topic(topic, TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap()
        .clone()
}

fn lines(p: &Partition) -> Vec<String> {
    p.iter().map(|r| pagelog_line(&r.unwrap())).collect()
}

/// The records of orders-0 as pagelog holds them: the one null header value (offset 26)
/// becomes empty, as documented; everything else exactly as kafka-python wrote it.
fn orders_expected() -> Vec<String> {
    let want = expected_lines(&fixture("orders-0.expected"));
    assert_eq!(want.iter().filter(|l| l.contains("=-")).count(), 1);
    want.into_iter().map(|l| l.replace("=-", "=x:")).collect()
}

#[test]
fn importing_kafka_pythons_directory_keeps_every_record_and_reports_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    let p = partition(&s, "orders");
    let report = import(&fixture("orders-0"), &p, &ImportOptions::default()).unwrap();

    assert_eq!(lines(&p), orders_expected());
    assert_eq!((p.start_offset(), p.next_offset()), (0, 29));
    // Offsets Kafka does not hold read over as gaps: the control batch at 6, 17..=19, 21.
    assert_eq!(p.read(6).unwrap().unwrap().offset(), 7);
    assert_eq!(p.read(17).unwrap().unwrap().offset(), 20);
    assert_eq!(p.read(21).unwrap().unwrap().offset(), 22);

    assert_eq!(
        (report.segments, report.records, report.next_offset),
        (2, 22, 29)
    );
    assert_eq!(report.batches, 6);
    assert_eq!(
        (
            report.control_batches,
            report.commit_markers,
            report.abort_markers
        ),
        (1, 1, 0)
    );
    assert_eq!(
        (report.transactional_batches, report.producer_id_batches),
        (1, 1)
    );
    assert_eq!(report.compressed_batches, 1);
    assert_eq!(report.log_append_time_batches, 1);
    assert_eq!(report.null_header_values, 1);
    assert_eq!(
        (report.torn_tail.clone(), report.zero_tail.clone()),
        (None, None)
    );
    let ignored: Vec<String> = report
        .ignored_files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        ignored,
        [
            "00000000000000000020.snapshot",
            "leader-epoch-checkpoint",
            "partition.metadata"
        ]
    );
    let total: u64 = ["00000000000000000000.log", "00000000000000000020.log"]
        .iter()
        .map(|f| {
            std::fs::metadata(fixture("orders-0").join(f))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(report.bytes, total);
    let notes = report.not_carried();
    assert!(
        notes
            .iter()
            .any(|n| n == "control batches skipped (transaction markers): 1"),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n == "null header values imported as empty: 1"),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n
                == "gzip-compressed batches (records stored uncompressed, the codec dropped): 1"),
        "{notes:?}"
    );
    assert_eq!(notes.len(), 9, "{notes:?}");
    s.close().unwrap();

    // Everything survives a reopen (import flushed).
    let s = Store::open(tmp.path().join("store")).unwrap();
    let p = s.topic("orders").unwrap().partition(0).unwrap().clone();
    assert_eq!(lines(&p), orders_expected());
}

#[test]
fn a_kafka_log_starting_late_moves_the_start_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    let p = partition(&s, "late");
    let report = import(&fixture("late-0"), &p, &ImportOptions::default()).unwrap();
    assert_eq!(report.first_offset, Some(1000));
    assert_eq!((p.start_offset(), p.next_offset()), (1000, 1007));
    assert_eq!(lines(&p), expected_lines(&fixture("late-0.expected")));

    // Without set_start_offset the start stays 0 and offsets below 1005 are a gap.
    let q = partition(&s, "late2");
    let o = ImportOptions::default().set_start_offset(false);
    import(&fixture("late-0"), &q, &o).unwrap();
    assert_eq!((q.start_offset(), q.next_offset()), (0, 1007));
    assert_eq!(q.read(0).unwrap().unwrap().offset(), 1005);
}

/// A partition with keys, tombstones, empty values, headers, odd timestamps and gaps.
fn sample(p: &Partition, n: u64) {
    let hs = [
        Header {
            key: "trace",
            value: b"abc",
        },
        Header {
            key: "ключ",
            value: b"",
        },
    ];
    let values: Vec<Vec<u8>> = (0..n)
        .map(|i| vec![b'a' + (i % 26) as u8; (i % 300) as usize])
        .collect();
    let mut placed = Vec::new();
    for i in 0..n {
        let offset = p.next_offset() + i * 2; // every other offset a gap
        let ts = match i % 4 {
            0 => 1_700_000_000_000 + i as i64,
            1 => -5 - i as i64,
            2 => 0,
            _ => 1_600_000_000_000,
        };
        let r = match i % 5 {
            0 => NewRecord::tombstone(b"gone"),
            1 => NewRecord::new(&values[i as usize]).key(b"k").headers(&hs),
            2 => NewRecord::new(b""),
            _ => NewRecord::new(&values[i as usize]).key(format!("{i}").leak().as_bytes()),
        };
        placed.push((offset, r.timestamp(ts)));
    }
    let end = placed.last().map_or(p.next_offset(), |(o, _)| o + 3); // a trailing gap too
    for chunk in placed.chunks(50) {
        let last = chunk.last().unwrap().0;
        let next_first = placed
            .iter()
            .find(|(o, _)| *o > last)
            .map_or(end, |(o, _)| *o);
        p.append_at(chunk, next_first).unwrap();
    }
}

#[test]
fn export_then_import_gives_back_the_same_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    let src = partition(&s, "src");
    src.append(NewRecord::new(b"first")).unwrap();
    sample(&src, 500);
    let out = tmp.path().join("kafka");
    let opts = ExportOptions::default()
        .max_batch_records(20)
        .segment_bytes(16 << 10);
    let report = export(&src, &out, &opts).unwrap();
    assert_eq!(report.dir, out.join("src-0"));
    assert_eq!(
        (report.start_offset, report.end_offset),
        (0, src.next_offset())
    );
    assert_eq!(report.records, 501);
    assert!(report.segments > 3, "{report:?}");

    let dst = partition(&s, "dst");
    let back = import(&report.dir, &dst, &ImportOptions::default()).unwrap();
    assert_eq!(lines(&dst), lines(&src));
    assert_eq!(dst.next_offset(), src.next_offset());
    assert_eq!(back.records, 501);
    assert_eq!(back.segments, report.segments);
    assert!(back.not_carried().is_empty(), "{:?}", back.not_carried());
}

#[test]
fn exported_segments_have_kafkas_names_offsets_and_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    let src = partition(&s, "layout");
    for i in 0..3000u32 {
        let v = format!("value-{i}-{}", "x".repeat((i % 100) as usize));
        src.append(NewRecord::new(v.as_bytes()).timestamp(1_000 + i64::from(i % 700)))
            .unwrap();
    }
    let opts = ExportOptions::default()
        .max_batch_records(7)
        .segment_bytes(64 << 10);
    let report = export(&src, tmp.path(), &opts).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&report.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let logs: Vec<&String> = names
        .iter()
        .filter(|n| {
            std::path::Path::new(n)
                .extension()
                .is_some_and(|e| e == "log")
        })
        .collect();
    assert_eq!(logs.len() as u64, report.segments);
    assert_eq!(names.len(), logs.len() * 3, "{names:?}");
    let mut next = 0;
    let mut offset_entries = 0;
    for log_name in logs {
        let stem = &log_name[..20];
        let base: u64 = stem.parse().unwrap();
        assert_eq!(base, next, "segments follow each other");
        let log = std::fs::read(report.dir.join(log_name)).unwrap();
        assert!(log.len() <= 64 << 10);
        let batches: Vec<_> = read_log_batches(&log)
            .collect::<kafka::Result<_>>()
            .unwrap();
        assert!(batches.iter().all(|(_, b)| b.records.len() <= 7));
        assert!(
            batches
                .iter()
                .all(|(_, b)| b.header.partition_leader_epoch == 0)
        );
        next = batches.last().unwrap().1.header.last_offset() + 1;

        // Every offset entry points at a batch whose last offset it names; entries grow.
        let index = std::fs::read(report.dir.join(format!("{stem}.index"))).unwrap();
        assert_eq!(index.len() % 8, 0);
        let mut prev = None;
        for e in index
            .chunks(8)
            .map(|c| OffsetIndexEntry::decode(c).unwrap())
        {
            let (_, b) = batches
                .iter()
                .find(|(at, _)| *at == u64::from(e.position))
                .unwrap();
            assert_eq!(b.header.last_offset(), base + u64::from(e.relative_offset));
            assert!(prev.is_none_or(|p| p < e.relative_offset));
            prev = Some(e.relative_offset);
            offset_entries += 1;
        }
        // Sparse: about one entry per 4096 bytes, never more.
        assert!((index.len() / 8) as u64 <= log.len() as u64 / 4096 + 1);
        // Time entries: strictly growing timestamps; the last is the segment's max.
        let times = std::fs::read(report.dir.join(format!("{stem}.timeindex"))).unwrap();
        let t: Vec<_> = times
            .chunks(12)
            .map(|c| TimeIndexEntry::decode(c).unwrap())
            .collect();
        assert!(t.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
        let max = batches
            .iter()
            .map(|(_, b)| b.header.max_timestamp)
            .max()
            .unwrap();
        assert_eq!(t.last().unwrap().timestamp, max);
    }
    assert_eq!(next, 3000);
    assert!(offset_entries > 10, "{offset_entries}");
}

#[test]
fn a_range_export_keeps_its_leading_and_trailing_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    let src = partition(&s, "r");
    src.append_at(
        &[
            (10, NewRecord::new(b"ten")),
            (12, NewRecord::new(b"twelve")),
        ],
        20,
    )
    .unwrap();
    src.append(NewRecord::new(b"twenty")).unwrap();

    // 5..18: starts in the gap before 10, ends in the gap after 12.
    let report = export(&src, tmp.path(), &ExportOptions::default().range(5..18)).unwrap();
    assert_eq!(
        (report.start_offset, report.end_offset, report.records),
        (5, 18, 2)
    );
    assert!(report.dir.join("00000000000000000005.log").is_file());
    let log = std::fs::read(report.dir.join("00000000000000000005.log")).unwrap();
    let b = decode_batch(&log).unwrap();
    assert_eq!((b.header.base(), b.header.last_offset()), (10, 17));

    let dst = partition(&s, "r2");
    import(&report.dir, &dst, &ImportOptions::default()).unwrap();
    assert_eq!((dst.start_offset(), dst.next_offset()), (5, 18));
    let got: Vec<u64> = dst.iter().map(|r| r.unwrap().offset()).collect();
    assert_eq!(got, [10, 12]);

    // A range with no record at all: one empty batch covers it; an empty range: an empty
    // segment at its offset.
    let gap = export(
        &src,
        &tmp.path().join("g"),
        &ExportOptions::default().range(13..19),
    )
    .unwrap();
    assert_eq!((gap.records, gap.batches, gap.end_offset), (0, 1, 19));
    let none = export(
        &src,
        &tmp.path().join("n"),
        &ExportOptions::default().range(13..13),
    )
    .unwrap();
    assert_eq!((none.records, none.batches, none.segments), (0, 0, 1));
    assert_eq!(
        std::fs::metadata(none.dir.join("00000000000000000013.log"))
            .unwrap()
            .len(),
        0
    );
    let dst = partition(&s, "r3");
    import(&none.dir, &dst, &ImportOptions::default()).unwrap();
    assert_eq!((dst.start_offset(), dst.next_offset()), (13, 13));
}

#[test]
fn export_refuses_bad_ranges_and_an_existing_directory_and_reports_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    let src = partition(&s, "p");
    let big = vec![7u8; 10_000];
    for _ in 0..200 {
        src.append(NewRecord::new(&big)).unwrap();
    }
    assert!(matches!(
        export(&src, tmp.path(), &ExportOptions::default().range(0..201)),
        Err(kafka::Error::Store(Error::OffsetOutOfRange {
            requested: 201,
            ..
        }))
    ));
    assert!(matches!(
        export(
            &src,
            tmp.path(),
            &ExportOptions::default().segment_bytes(10)
        ),
        Err(kafka::Error::Store(Error::InvalidConfig(_)))
    ));
    let mut calls = Vec::new();
    let opts = ExportOptions::default()
        .progress_interval_bytes(500_000)
        .max_batch_bytes(64 << 10);
    let report = export_with_progress(&src, tmp.path(), &opts, &mut |p| calls.push(*p)).unwrap();
    assert!(calls.len() >= 4, "{calls:?}");
    assert!(
        calls
            .windows(2)
            .all(|w| w[0].bytes <= w[1].bytes && w[0].offset <= w[1].offset)
    );
    let last = calls.last().unwrap();
    assert_eq!(
        (last.records, last.bytes, last.offset, last.end),
        (200, report.bytes, 200, 200)
    );
    match export(&src, tmp.path(), &ExportOptions::default()) {
        Err(kafka::Error::Store(Error::Io { path, source })) => {
            assert_eq!(path, report.dir);
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
        }
        other => panic!("{other:?}"),
    }
    // No temporary directory is left behind.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.to_string_lossy().ends_with(".exporting")),
        "{names:?}"
    );
}

#[test]
fn import_stops_at_a_damaged_batch_after_importing_those_before() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("orders-0");
    copy_fixture_dir("orders-0", &dir);
    let seg0 = dir.join("00000000000000000000.log");
    let mut log = std::fs::read(&seg0).unwrap();
    let second = decode_batch(&log).unwrap().header.size() as usize; // position of batch 2
    log[second + 70] ^= 0x40;
    std::fs::write(&seg0, &log).unwrap();

    let s = store(tmp.path());
    let p = partition(&s, "o");
    match import(&dir, &p, &ImportOptions::default()) {
        Err(kafka::Error::ChecksumMismatch { path, position, .. }) => {
            assert_eq!(path.as_deref(), Some(seg0.as_path()));
            assert_eq!(position, second as u64);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.next_offset(), 4, "the first batch (0..=3) was imported");
}

#[test]
fn a_torn_or_zero_filled_end_of_the_last_segment_is_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    let dir = tmp.path().join("torn-0");
    copy_fixture_dir("orders-0", &dir);
    let seg1 = dir.join("00000000000000000020.log");
    let log = std::fs::read(&seg1).unwrap();
    std::fs::write(&seg1, &log[..log.len() - 10]).unwrap();
    let p = partition(&s, "torn");
    let report = import(&dir, &p, &ImportOptions::default()).unwrap();
    let (path, at, _) = report.torn_tail.clone().unwrap();
    assert_eq!(path, seg1);
    let last_batch_at = read_log_batches(&log).last().unwrap().unwrap().0;
    assert_eq!(at, last_batch_at);
    assert_eq!(p.next_offset(), 27, "everything before the torn batch");
    assert!(
        report
            .not_carried()
            .iter()
            .any(|n| n.starts_with("torn tail"))
    );

    let dir = tmp.path().join("zero-0");
    copy_fixture_dir("orders-0", &dir);
    let seg1 = dir.join("00000000000000000020.log");
    let mut padded = log.clone();
    padded.extend(std::iter::repeat_n(0u8, 5000));
    std::fs::write(&seg1, &padded).unwrap();
    let p = partition(&s, "zero");
    let report = import(&dir, &p, &ImportOptions::default()).unwrap();
    assert_eq!(report.zero_tail, Some((seg1, log.len() as u64)));
    assert_eq!((p.next_offset(), report.torn_tail), (29, None));

    // A torn segment that is not the last is an error.
    let dir = tmp.path().join("mid-0");
    copy_fixture_dir("orders-0", &dir);
    let seg0 = dir.join("00000000000000000000.log");
    let log0 = std::fs::read(&seg0).unwrap();
    std::fs::write(&seg0, &log0[..log0.len() - 3]).unwrap();
    let p = partition(&s, "mid");
    assert!(matches!(
        import(&dir, &p, &ImportOptions::default()),
        Err(kafka::Error::Corrupt { .. })
    ));
}

#[test]
fn import_refuses_to_go_below_the_next_offset_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    let p = partition(&s, "busy");
    p.append(NewRecord::new(b"already here")).unwrap();
    assert!(matches!(
        import(&fixture("orders-0"), &p, &ImportOptions::default()),
        Err(kafka::Error::Store(Error::InvalidPlacement { .. }))
    ));
    assert_eq!(p.next_offset(), 1);
    // Below the late log's first offset it is fine: the import continues the partition.
    let r = import(&fixture("late-0"), &p, &ImportOptions::default()).unwrap();
    assert_eq!((p.start_offset(), r.next_offset), (0, 1007));
    assert_eq!(p.read(1).unwrap().unwrap().offset(), 1005);

    let empty = tmp.path().join("empty-0");
    std::fs::create_dir_all(&empty).unwrap();
    let q = partition(&s, "q");
    assert!(matches!(
        import(&empty, &q, &ImportOptions::default()),
        Err(kafka::Error::Corrupt { .. })
    ));
}

#[test]
fn unsupported_codecs_stop_the_import_unless_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snappy-0");
    copy_fixture_dir("orders-0", &dir);
    let seg1 = dir.join("00000000000000000020.log");
    let mut log = std::fs::read(&seg1).unwrap();
    log[22] |= 2; // the first batch (offsets 20..=25) claims snappy
    fix_crc(&mut log);
    std::fs::write(&seg1, &log).unwrap();

    let s = store(tmp.path());
    let p = partition(&s, "a");
    match import(&dir, &p, &ImportOptions::default()) {
        Err(kafka::Error::Unsupported {
            path,
            position,
            what,
        }) => {
            assert_eq!((path.as_deref(), position), (Some(seg1.as_path()), 0));
            assert!(what.contains("snappy"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    let q = partition(&s, "b");
    let o = ImportOptions::default().skip_unsupported(true);
    let report = import(&dir, &q, &o).unwrap();
    assert_eq!(report.unsupported_batches, 1);
    assert_eq!(q.next_offset(), 29);
    assert_eq!(q.read(20).unwrap().unwrap().offset(), 26);
}
