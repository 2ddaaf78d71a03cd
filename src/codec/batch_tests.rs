use super::*;
use crate::codec::record::Header;
use proptest::prelude::*;

/// The exact bytes of a one-record batch. Changing the format must change this test.
#[test]
fn golden_batch() {
    let headers = [Header {
        key: "h",
        value: b"v",
    }];
    let records = [NewRecord {
        key: Some(b"k"),
        value: Some(b"val"),
        timestamp: Some(1000),
        headers: &headers,
    }];
    let plan = measure(&records, 0).unwrap();
    let mut buf = vec![0u8; plan.len];
    encode(&mut buf, 7, &records, &plan, 0);
    #[rustfmt::skip]
    let mut want: Vec<u8> = vec![
        0, 0, 0, 0,             // crc, filled below
        62, 0, 0, 0,            // length = 48 + 1 + 13
        1, 0, 0, 0,             // magic, attributes, reserved
        1, 0, 0, 0,             // record_count
        7, 0, 0, 0, 0, 0, 0, 0, // base_offset
        0, 0, 0, 0,             // last_offset_delta
        0, 0, 0, 0,             // reserved
        0xe8, 0x03, 0, 0, 0, 0, 0, 0, // first_timestamp 1000
        0xe8, 0x03, 0, 0, 0, 0, 0, 0, // max_timestamp 1000
        13,                     // record body length
        0,                      // offset delta
        0,                      // timestamp delta (zigzag 0)
        2, b'k',                // key length 1 (zigzag 2), key
        6, b'v', b'a', b'l',    // value length 3 (zigzag 6), value
        1,                      // header count
        1, b'h', 1, b'v',       // header key, header value
    ];
    let crc = crc32fast::hash(&want[4..]);
    want[..4].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(buf, want);
    let h = BatchHeader::parse(&buf).unwrap();
    assert_eq!(h.last_offset(), 7);
    check_crc(&buf).unwrap();
}

#[test]
fn tombstones_and_null_keys_roundtrip() {
    let records = [NewRecord::tombstone(b"gone"), NewRecord::new(b"")];
    let plan = measure(&records, 5).unwrap();
    let mut buf = vec![0u8; plan.len];
    encode(&mut buf, 0, &records, &plan, 5);
    let h = BatchHeader::parse(&buf).unwrap();
    let got: Vec<_> = RecordIter::new(&buf, &h).collect::<Result<_, _>>().unwrap();
    assert_eq!(got[0].key, Some(&b"gone"[..]));
    assert_eq!(got[0].value, None);
    assert_eq!(got[1].key, None);
    assert_eq!(got[1].value, Some(&b""[..]));
    assert_eq!(got[1].timestamp, 5);
}

#[test]
fn header_rejects_bad_fields() {
    let records = [NewRecord::new(b"x")];
    let plan = measure(&records, 0).unwrap();
    let mut good = vec![0u8; plan.len];
    encode(&mut good, 0, &records, &plan, 0);
    for (at, val) in [
        (field::MAGIC, 2u8),
        (field::ATTRIBUTES, 1),
        (field::RESERVED2, 1),
        (field::RECORD_COUNT, 9),
        (field::LENGTH, 3),
    ] {
        let mut b = good.clone();
        b[at] = val;
        // Nine records claimed in a batch covering one offset.
        assert!(BatchHeader::parse(&b).is_err(), "field at {at}");
    }
    assert!(matches!(
        BatchHeader::parse(&good[..10]),
        Err(DecodeError::Truncated { .. })
    ));
    assert!(
        BatchHeader::parse(&[0u8; HEADER_LEN]).is_err(),
        "zeros are not a batch"
    );
}

type ArbRecord = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    i64,
    Vec<(String, Vec<u8>)>,
);

fn arb_record() -> impl Strategy<Value = ArbRecord> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        any::<i64>(),
        proptest::collection::vec(
            ("[a-z]{0,5}", proptest::collection::vec(any::<u8>(), 0..5)),
            0..3,
        ),
    )
}

/// `recs` encoded as one batch at `base_offset` (timestamps as given, `now` 0).
fn encode_arb(recs: &[ArbRecord], base_offset: u64) -> Vec<u8> {
    let hs: Vec<Vec<Header<'_>>> = recs
        .iter()
        .map(|r| {
            r.3.iter()
                .map(|(k, v)| Header { key: k, value: v })
                .collect()
        })
        .collect();
    let records: Vec<NewRecord<'_>> = recs
        .iter()
        .zip(&hs)
        .map(|(r, h)| NewRecord {
            key: r.0.as_deref(),
            value: r.1.as_deref(),
            timestamp: Some(r.2),
            headers: h,
        })
        .collect();
    let plan = measure(&records, 0).unwrap();
    let mut buf = vec![0u8; plan.len];
    encode(&mut buf, base_offset, &records, &plan, 0);
    buf
}

proptest! {
    #[test]
    fn roundtrip(recs in proptest::collection::vec(arb_record(), 1..20), base in 0u64..u64::MAX / 2) {
        let buf = encode_arb(&recs, base);
        let h = BatchHeader::parse(&buf)?;
        prop_assert_eq!(h.length as usize, buf.len());
        prop_assert_eq!(h.max_timestamp, recs.iter().map(|r| r.2).max().unwrap());
        check_crc(&buf)?;
        let got: Vec<_> = RecordIter::new(&buf, &h).collect::<Result<_, _>>()?;
        prop_assert_eq!(got.len(), recs.len());
        for (i, (g, want)) in got.iter().zip(&recs).enumerate() {
            prop_assert_eq!(g.offset_delta as usize, i);
            prop_assert_eq!(g.key, want.0.as_deref());
            prop_assert_eq!(g.value, want.1.as_deref());
            prop_assert_eq!(g.timestamp, want.2);
            let hdrs: Vec<_> = HeaderIter::new(g.headers, g.header_count).collect::<Result<_, _>>()?;
            let want_h: Vec<_> = want.3.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
            prop_assert_eq!(hdrs, want_h);
        }
    }

    #[test]
    fn any_single_bit_flip_fails_the_crc(flip_bit in 0usize..(63 * 8)) {
        let records = [NewRecord::new(b"abcdefghijklmno")];
        let plan = measure(&records, 0).unwrap();
        let mut buf = vec![0u8; plan.len];
        encode(&mut buf, 0, &records, &plan, 0);
        let at = flip_bit / 8 % buf.len();
        buf[at] ^= 1 << (flip_bit % 8);
        let ok = BatchHeader::parse(&buf).is_ok_and(|h| h.length as usize == buf.len()) && check_crc(&buf).is_ok();
        prop_assert!(!ok);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(h) = BatchHeader::parse(&bytes) {
            let end = (h.length as usize).min(bytes.len());
            let _ = check_crc(&bytes[..end]);
            for r in RecordIter::new(&bytes[..end], &h).flatten() {
                let _ = HeaderIter::new(r.headers, r.header_count).count();
            }
        }
    }

    /// The cursor's in-place stepping (`next_at`) and skipping (`skip_below`) agree with
    /// `RecordIter` on valid batches and on batches with one byte of their records changed
    /// (the decoder sees those when a producer wrote bad records under a good CRC).
    #[test]
    fn stepping_in_place_and_skipping_agree_with_the_iterator(
        recs in proptest::collection::vec(arb_record(), 1..12),
        damage in proptest::option::of((any::<usize>(), 1u8..=255)),
        skip in 0u32..14,
    ) {
        let mut buf = encode_arb(&recs, 7);
        if let Some((at, x)) = damage {
            let at = HEADER_LEN + at % (buf.len() - HEADER_LEN);
            buf[at] ^= x;
        }
        let h = BatchHeader::parse(&buf)?;
        let by_iter: Vec<_> = RecordIter::new(&buf, &h)
            .map(|r| r.map(|r| (r.offset_delta, r.key, r.value, r.timestamp)))
            .collect();
        let mut state = RecordIter::new(&buf, &h).state();
        let mut in_place = Vec::new();
        while let Some(r) = RecordIter::next_at(&buf, &h, &mut state) {
            let failed = r.is_err();
            in_place.push(r.map(|r| (r.offset_delta, r.key, r.value, r.timestamp)));
            if failed {
                break;
            }
        }
        prop_assert_eq!(&in_place, &by_iter);
        let mut it = RecordIter::new(&buf, &h);
        let skipped = it.skip_below(skip);
        let after: Vec<_> = it.map(|r| r.map(|r| r.offset_delta)).collect();
        if damage.is_none() {
            skipped?;
            let after: Vec<u32> = after.into_iter().collect::<Result<_, _>>()?;
            let want: Vec<u32> = (0u32..).zip(&recs).map(|(d, _)| d).filter(|&d| d >= skip).collect();
            prop_assert_eq!(after, want);
        } else if skipped.is_ok() {
            // Skipping reads only lengths and deltas, so it may step over a damaged record the
            // iterator stops at (the batch's CRC is what vouches for skipped records). What it
            // yields is still decoded and checked in full: deltas at or above `skip`, strictly
            // increasing, and below the last record the iterator reached only ones it yielded.
            let oks: Vec<u32> = after.iter().map_while(|r| r.as_ref().ok().copied()).collect();
            prop_assert!(oks.iter().all(|&d| d >= skip));
            prop_assert!(oks.windows(2).all(|w| w[0] < w[1]));
            let reached: Vec<u32> = by_iter.iter().filter_map(|r| r.as_ref().ok().map(|r| r.0)).collect();
            for d in oks.iter().filter(|&&d| d < reached.last().map_or(0, |l| l + 1)) {
                prop_assert!(reached.contains(d), "{} not among {:?}", d, reached);
            }
        }
    }
}

#[test]
fn placed_records_and_empty_batches() {
    let recs = [
        (2u32, NewRecord::new(b"a").timestamp(5)),
        (7, NewRecord::tombstone(b"k").timestamp(9)),
    ];
    let plan = measure_placed(&recs, 0).unwrap();
    let mut buf = vec![0u8; plan.len];
    encode_placed(&mut buf, 100, 9, &recs, &plan, 0);
    check_crc(&buf).unwrap();
    let h = BatchHeader::parse(&buf).unwrap();
    assert_eq!(
        (h.base_offset, h.last_offset(), h.record_count),
        (100, 109, 2)
    );
    let got: Vec<_> = RecordIter::new(&buf, &h).collect::<Result<_, _>>().unwrap();
    assert_eq!(
        got.iter().map(|r| r.offset_delta).collect::<Vec<_>>(),
        vec![2, 7]
    );
    assert_eq!(h.max_timestamp, 9);

    let plan = measure_placed(&[], 0).unwrap();
    assert_eq!((plan.len, plan.count), (HEADER_LEN, 0));
    let mut empty = vec![0u8; plan.len];
    encode_placed(&mut empty, 100, 4, &[], &plan, 0);
    check_crc(&empty).unwrap();
    let h = BatchHeader::parse(&empty).unwrap();
    assert_eq!(
        (h.record_count, h.next_offset(), h.max_timestamp),
        (0, 105, i64::MIN)
    );
    assert_eq!(RecordIter::new(&empty, &h).count(), 0);
}

#[test]
fn skipping_by_length_lands_where_decoding_would() {
    let values: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; usize::from(i) * 13]).collect();
    let recs: Vec<(u32, NewRecord<'_>)> = values
        .iter()
        .zip(0u32..)
        .map(|(v, i)| (i * 3, NewRecord::new(v).key(b"k")))
        .collect();
    let plan = measure_placed(&recs, 0).unwrap();
    let mut buf = vec![0u8; plan.len];
    encode_placed(&mut buf, 0, 60, &recs, &plan, 0);
    let h = BatchHeader::parse(&buf).unwrap();
    for target in 0..=61u32 {
        let mut it = RecordIter::new(&buf, &h);
        it.skip_below(target).unwrap();
        let skipped: Vec<u32> = it.map(|r| r.unwrap().offset_delta).collect();
        let decoded: Vec<u32> = RecordIter::new(&buf, &h)
            .map(|r| r.unwrap().offset_delta)
            .filter(|&d| d >= target)
            .collect();
        assert_eq!(skipped, decoded, "target {target}");
    }
    // A record length pointing past the batch is an error, and ends the iteration.
    let mut bad = buf.clone();
    bad[HEADER_LEN..HEADER_LEN + 3].copy_from_slice(&[0xff, 0xff, 0x7f]); // 2 MiB
    assert!(bad.len() < 1 << 21);
    let mut it = RecordIter::new(&bad, &h);
    assert!(it.skip_below(30).is_err());
    assert!(it.next().is_none());
}
