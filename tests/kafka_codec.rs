//! The Kafka `RecordBatch` v2 codec against kafka-python's bytes (tests/fixtures/kafka/, made by
//! `scripts/kafka_fixtures.py`), Kafka's index layout, and hostile input.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "test data: offsets, sizes and counts are small"
)]

mod kafka_support;

use kafka_support::{crc32c_of, expected_lines, expected_records, fix_crc, fixture, kafka_line};
use pagelog::kafka::{
    self, BatchBuilder, BatchHeader, Compression, IndexBuilder, KafkaHeader, KafkaRecord,
    OffsetIndexEntry, TimeIndexEntry, TimestampType, decode_batch, encode_batch, read_log_batches,
};
use proptest::prelude::*;

fn bin(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("batches/{name}.bin"))).unwrap()
}

fn expected(name: &str) -> Vec<String> {
    expected_lines(&fixture(&format!("batches/{name}.expected")))
}

#[test]
fn encoder_writes_kafka_pythons_bytes_exactly() {
    // Same records, same base offset: byte for byte what kafka-python's
    // DefaultRecordBatchBuilder wrote (header, varints, CRC-32C).
    for (name, base) in [("basic", 0), ("gaps", 1000)] {
        let records = expected_records(&fixture(&format!("batches/{name}.expected")));
        let ours = encode_batch(base, &records).unwrap();
        let theirs = bin(name);
        assert_eq!(ours.len(), theirs.len(), "{name}");
        assert_eq!(ours, theirs, "{name}: bytes differ");
    }
}

#[test]
fn decodes_every_kafka_python_fixture_to_the_same_records() {
    for name in [
        "basic",
        "gaps",
        "gzip",
        "transactional",
        "null_header",
        "log_append_time",
        "control_commit",
    ] {
        let bytes = bin(name);
        let batch = decode_batch(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(batch.header.size(), bytes.len() as u64, "{name}");
        let lines: Vec<String> = if batch.header.is_control() {
            Vec::new()
        } else {
            batch.records.iter().map(kafka_line).collect()
        };
        assert_eq!(lines, expected(name), "{name}");
    }
}

#[test]
fn decoded_header_fields_match_what_kafka_python_wrote() {
    let basic = decode_batch(&bin("basic")).unwrap().header;
    assert_eq!(basic.magic, 2);
    assert_eq!(basic.partition_leader_epoch, 0);
    assert_eq!(basic.attributes, 0);
    assert_eq!(basic.last_offset_delta, 3);
    assert_eq!(basic.base_timestamp, 1_700_000_000_000);
    assert_eq!(basic.max_timestamp, 1_700_000_000_005);
    assert_eq!(
        (basic.producer_id, basic.producer_epoch, basic.base_sequence),
        (-1, -1, -1)
    );
    assert_eq!(basic.records_count, 4);
    assert_eq!(basic.timestamp_type(), TimestampType::CreateTime);

    let gaps = decode_batch(&bin("gaps")).unwrap();
    assert_eq!(
        (gaps.header.base(), gaps.header.last_offset()),
        (1000, 1005)
    );

    let gzip = decode_batch(&bin("gzip")).unwrap().header;
    assert_eq!(gzip.compression(), Compression::Gzip);

    let txn = decode_batch(&bin("transactional")).unwrap().header;
    assert!(txn.is_transactional() && txn.has_producer_id() && !txn.is_control());
    assert_eq!(
        (txn.producer_id, txn.producer_epoch, txn.base_sequence),
        (4242, 3, 7)
    );

    let control = decode_batch(&bin("control_commit")).unwrap();
    assert!(control.header.is_control());
    assert_eq!(control.records.len(), 1);
    assert_eq!(control.records[0].key.as_deref(), Some(&[0, 0, 0, 1][..])); // commit
    assert_eq!(control.records[0].offset, 7);

    let lat = decode_batch(&bin("log_append_time")).unwrap();
    assert_eq!(lat.header.timestamp_type(), TimestampType::LogAppendTime);
    assert!(
        lat.records
            .iter()
            .all(|r| r.timestamp == lat.header.max_timestamp)
    );
}

#[test]
fn a_kafka_python_log_reads_batch_by_batch() {
    let log = std::fs::read(fixture("orders-0/00000000000000000000.log")).unwrap();
    let batches: Vec<_> = read_log_batches(&log)
        .collect::<kafka::Result<_>>()
        .unwrap();
    let spans: Vec<(u64, u64, bool)> = batches
        .iter()
        .map(|(_, b)| {
            (
                b.header.base(),
                b.header.last_offset(),
                b.header.is_control(),
            )
        })
        .collect();
    assert_eq!(
        spans,
        [(0, 3, false), (4, 5, false), (6, 6, true), (7, 16, false)]
    );
    let mut pos = 0;
    for (at, b) in &batches {
        assert_eq!(*at, pos);
        pos += b.header.size();
    }
    assert_eq!(pos, log.len() as u64);

    // Cut short anywhere inside the last batch: the whole batches before it still read, then
    // one error at the position where the torn batch starts.
    let last_at = batches[3].0 as usize;
    for cut in [last_at + 1, last_at + 12, last_at + 61, log.len() - 1] {
        let items: Vec<_> = read_log_batches(&log[..cut]).collect();
        assert_eq!(items.len(), 4, "cut at {cut}");
        assert!(items[..3].iter().all(Result::is_ok));
        match &items[3] {
            Err(kafka::Error::Corrupt { position, .. }) => assert_eq!(*position, last_at as u64),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn every_single_byte_flip_is_caught_or_harmless() {
    let good = bin("basic");
    let records = decode_batch(&good).unwrap().records;
    for i in 0..good.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= bit;
            let r = decode_batch(&bad);
            match i {
                // Base offset: not covered by the CRC (Kafka assigns it); offsets move.
                0..=7 => match r {
                    Ok(b) => assert_ne!(b.records, records),
                    Err(kafka::Error::Corrupt { .. }) => {} // negative base offset
                    Err(e) => panic!("byte {i}: {e}"),
                },
                // Partition leader epoch: not covered by the CRC either, not part of records.
                12..=15 => assert_eq!(r.unwrap().records, records, "byte {i}"),
                _ => assert!(r.is_err(), "byte {i} bit {bit:#x} went unnoticed"),
            }
        }
    }
    for len in 0..good.len() {
        assert!(decode_batch(&good[..len]).is_err(), "cut to {len}");
    }
}

/// A batch whose records section is `records`, with the header fields given and a valid CRC.
fn raw_batch(records: &[u8], count: i32, last_delta: i32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((49 + records.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&last_delta.to_be_bytes());
    b.extend_from_slice(&100i64.to_be_bytes());
    b.extend_from_slice(&100i64.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(records);
    fix_crc(&mut b);
    b
}

#[test]
fn malformed_records_with_valid_crcs_are_rejected_with_their_position() {
    // A good record: length 6 (zigzag 0x0c), then attributes 0, timestamp delta 0, offset
    // delta 0, key null (-1 = 0x01), value "" (0x00), no headers (0x00).
    let good = [0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    let b = raw_batch(&good, 1, 0);
    let r = decode_batch(&b).unwrap();
    assert_eq!(r.records[0].value.as_deref(), Some(&[][..]));
    assert_eq!(r.records[0].key, None);

    let cases: &[(&str, Vec<u8>, i32, i32)] = &[
        ("negative record length", vec![0x03, 0, 0, 0, 1, 0, 0], 1, 0),
        ("record past the batch", vec![0x10, 0, 0, 0, 1, 0, 0], 1, 0),
        ("empty record", vec![0x00, 0, 0, 0, 0, 0, 0], 1, 0),
        ("key length -2", vec![0x0c, 0, 0, 0, 0x03, 0, 0], 1, 0),
        ("key past its record", vec![0x0c, 0, 0, 0, 0x10, 0, 0], 1, 0),
        (
            "offset delta past lastOffsetDelta",
            vec![0x0c, 0, 0, 0x02, 1, 0, 0],
            1,
            0,
        ),
        (
            "negative header count",
            vec![0x0c, 0, 0, 0, 1, 0, 0x01],
            1,
            0,
        ),
        (
            "header count that cannot fit",
            vec![0x0c, 0, 0, 0, 1, 0, 0x7e],
            1,
            0,
        ),
        (
            "null header key",
            vec![0x10, 0, 0, 0, 1, 0, 0x02, 0x01, 0x00],
            1,
            0,
        ),
        (
            "bytes left inside the record",
            vec![0x0e, 0, 0, 0, 1, 0, 0, 0],
            1,
            0,
        ),
        (
            "bytes left after the records",
            vec![0x0c, 0, 0, 0, 1, 0, 0, 0],
            1,
            0,
        ),
        ("more records than bytes", good.to_vec(), 2, 1),
        ("huge record count", good.to_vec(), i32::MAX, 0),
        (
            "varint too long",
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0],
            1,
            0,
        ),
        ("offsets not increasing", [good, good].concat(), 2, 1),
    ];
    for (what, records, count, last) in cases {
        match decode_batch(&raw_batch(records, *count, *last)) {
            Err(kafka::Error::Corrupt { position, path, .. }) => {
                assert!(path.is_none());
                assert!(
                    (61..=61 + records.len() as u64).contains(&position),
                    "{what}: {position}"
                );
            }
            other => panic!("{what}: {other:?}"),
        }
    }

    // Header fields: negative base offset, last offset delta, count; short batch length.
    let mut b = raw_batch(&good, 1, 0);
    b[0] = 0x80;
    assert!(matches!(
        decode_batch(&b),
        Err(kafka::Error::Corrupt { position: 0, .. })
    ));
    let mut b = raw_batch(&good, 1, 0);
    b[8..12].copy_from_slice(&48i32.to_be_bytes());
    assert!(matches!(
        decode_batch(&b),
        Err(kafka::Error::Corrupt { position: 8, .. })
    ));
}

#[test]
fn old_formats_and_other_codecs_are_reported_unsupported() {
    for magic in [0u8, 1] {
        let mut b = bin("basic");
        b[16] = magic;
        assert!(
            matches!(decode_batch(&b), Err(kafka::Error::Unsupported { .. })),
            "v{magic}"
        );
    }
    let mut b = bin("basic");
    b[16] = 3;
    assert!(matches!(
        decode_batch(&b),
        Err(kafka::Error::Corrupt { position: 16, .. })
    ));
    for (codec, name) in [(2u8, "snappy"), (3, "lz4"), (4, "zstd")] {
        let mut b = bin("basic");
        b[22] |= codec;
        fix_crc(&mut b);
        match decode_batch(&b) {
            Err(kafka::Error::Unsupported { what, .. }) => assert!(what.contains(name), "{what}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // Damaged gzip data (valid CRC) is corrupt, not a panic.
    let mut b = bin("gzip");
    let n = b.len();
    b[n - 20] ^= 0xff;
    fix_crc(&mut b);
    assert!(matches!(
        decode_batch(&b),
        Err(kafka::Error::Corrupt { position: 61, .. })
    ));
}

#[test]
fn checksum_mismatch_reports_both_crcs() {
    let mut b = bin("basic");
    let stored = u32::from_be_bytes(b[17..21].try_into().unwrap());
    b[70] ^= 1;
    match decode_batch(&b) {
        Err(kafka::Error::ChecksumMismatch {
            expected,
            got,
            position,
            path,
        }) => {
            assert_eq!((expected, position, path), (stored, 0, None));
            assert_eq!(got, crc32c_of(&b[21..]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn builder_refuses_what_kafka_cannot_hold_and_stays_unchanged() {
    let mut b = BatchBuilder::new(10).unwrap();
    b.push(10, 5, None, Some(b"a"), &[]).unwrap();
    let len = b.len();
    let unencodable = |r: kafka::Result<()>| matches!(r, Err(kafka::Error::Unencodable { .. }));
    assert!(unencodable(b.push(10, 5, None, None, &[])), "same offset");
    assert!(unencodable(b.push(9, 5, None, None, &[])), "below the base");
    assert!(
        unencodable(b.push(10 + (1 << 31), 5, None, None, &[])),
        "delta > i32::MAX"
    );
    // Timestamps any distance apart are fine: the delta wraps, as in Kafka's Java code.
    let mut far = BatchBuilder::new(0).unwrap();
    far.push(0, i64::MIN, None, None, &[]).unwrap();
    far.push(1, i64::MAX, None, None, &[]).unwrap();
    let ts: Vec<i64> = decode_batch(&far.finish())
        .unwrap()
        .records
        .iter()
        .map(|r| r.timestamp)
        .collect();
    assert_eq!(ts, [i64::MIN, i64::MAX]);
    assert_eq!(
        (b.len(), b.record_count(), b.last_offset()),
        (len, 1, Some(10))
    );
    assert!(BatchBuilder::new(u64::MAX).is_err());
    // finish_covering: a trailing gap stays covered; a range it cannot cover is refused.
    let bytes = b.clone().finish_covering(20).unwrap();
    let h = BatchHeader::parse(&bytes).unwrap();
    assert_eq!((h.base(), h.last_offset(), h.records_count), (10, 19, 1));
    assert!(b.clone().finish_covering(10).is_err());
    assert!(b.finish_covering(11 + (1 << 31)).is_err());
    // An empty batch: no records, timestamps -1, covers its offsets.
    let empty = BatchBuilder::new(5).unwrap().finish_covering(9).unwrap();
    let e = decode_batch(&empty).unwrap();
    assert!(e.records.is_empty());
    assert_eq!((e.header.base(), e.header.last_offset()), (5, 8));
    assert_eq!((e.header.base_timestamp, e.header.max_timestamp), (-1, -1));
}

#[test]
fn header_keys_are_bytes_and_null_values_survive_decoding() {
    let r = KafkaRecord {
        offset: 0,
        timestamp: 1,
        key: None,
        value: None,
        headers: vec![
            KafkaHeader {
                key: vec![0xff, 0xfe],
                value: None,
            },
            KafkaHeader {
                key: b"ok".to_vec(),
                value: Some(Vec::new()),
            },
        ],
    };
    let b = encode_batch(0, std::slice::from_ref(&r)).unwrap();
    assert_eq!(decode_batch(&b).unwrap().records, [r]);
}

#[test]
fn index_entries_are_kafkas_big_endian_layout() {
    let e = OffsetIndexEntry {
        relative_offset: 0x0102_0304,
        position: 0x0506_0708,
    };
    assert_eq!(e.encode(), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(OffsetIndexEntry::decode(&e.encode()), Some(e));
    assert_eq!(OffsetIndexEntry::decode(&[0; 7]), None);
    let t = TimeIndexEntry {
        timestamp: 0x0102_0304_0506_0708,
        relative_offset: 0x090a_0b0c,
    };
    assert_eq!(t.encode(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(TimeIndexEntry::decode(&t.encode()), Some(t));
    assert_eq!(TimeIndexEntry::decode(&[0; 11]), None);
}

#[test]
fn index_builder_places_entries_as_kafka_recovery_does() {
    // Batches of 3000 bytes at positions 0, 3000, 6000, 9000, 12000 with interval 4096:
    // entries before the batches at 6000 (6000 - 0 > 4096) and 12000 (12000 - 6000 > 4096).
    let mut ix = IndexBuilder::new(100, 4096);
    let batches = [
        (0u32, 104u64, 50i64),
        (3000, 109, 40),
        (6000, 119, 70),
        (9000, 129, 60),
        (12000, 139, 65),
    ];
    for (pos, last, ts) in batches {
        ix.on_batch(pos, last, ts);
    }
    let (offsets, times) = ix.finish();
    let o: Vec<_> = offsets
        .chunks(8)
        .map(|c| OffsetIndexEntry::decode(c).unwrap())
        .collect();
    assert_eq!(
        o,
        [
            OffsetIndexEntry {
                relative_offset: 19,
                position: 6000
            },
            OffsetIndexEntry {
                relative_offset: 39,
                position: 12000
            },
        ]
    );
    // Time entries: max 70 at the first entry (offset 119); at 12000 the max is still 70, so
    // none; at the end none either (70 is not above the last entry).
    let t: Vec<_> = times
        .chunks(12)
        .map(|c| TimeIndexEntry::decode(c).unwrap())
        .collect();
    assert_eq!(
        t,
        [TimeIndexEntry {
            timestamp: 70,
            relative_offset: 19
        }]
    );

    // A single small batch: no offset entry, one final time entry; none for timestamp -1.
    let mut ix = IndexBuilder::new(0, 4096);
    ix.on_batch(0, 3, 500);
    let (o, t) = ix.finish();
    assert!(o.is_empty());
    assert_eq!(
        TimeIndexEntry::decode(&t),
        Some(TimeIndexEntry {
            timestamp: 500,
            relative_offset: 3
        })
    );
    let mut ix = IndexBuilder::new(0, 4096);
    ix.on_batch(0, 3, -1);
    assert_eq!(ix.finish(), (Vec::new(), Vec::new()));
}

/// Offset step, timestamp step, key, value, headers of one generated record.
type RawRecord = (u64, i32, Option<Vec<u8>>, Option<Vec<u8>>, Vec<KafkaHeader>);

fn arb_record() -> impl Strategy<Value = RawRecord> {
    (
        1u64..1000,
        any::<i32>(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..10),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
            )
                .prop_map(|(key, value)| KafkaHeader { key, value }),
            0..4,
        ),
    )
}

proptest! {
    #[test]
    fn encode_then_decode_returns_the_records(
        base in 0u64..(1 << 40),
        t0 in any::<i64>(),
        raw in proptest::collection::vec(arb_record(), 0..20),
    ) {
        let mut offset = base;
        let records: Vec<KafkaRecord> = raw
            .into_iter()
            .enumerate()
            .map(|(i, (step, dt, key, value, headers))| {
                if i > 0 { offset += step; }
                KafkaRecord { offset, timestamp: t0.wrapping_add(i64::from(dt)), key, value, headers }
            })
            .collect();
        let bytes = encode_batch(base, &records).unwrap();
        let batch = decode_batch(&bytes).unwrap();
        prop_assert_eq!(&batch.records, &records);
        prop_assert_eq!(batch.header.size(), bytes.len() as u64);
        prop_assert_eq!(batch.header.records_count as usize, records.len());
        let max = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
        prop_assert_eq!(batch.header.max_timestamp, max);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), fix in any::<bool>()) {
        let mut bytes = bytes;
        if fix && bytes.len() >= 61 {
            bytes[16] = 2;
            fix_crc(&mut bytes);
        }
        let _ = decode_batch(&bytes);
        let _ = read_log_batches(&bytes).count();
    }
}
