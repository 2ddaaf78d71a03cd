//! `Partition::append_at`: records placed at given offsets, with gaps, as an import needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_wrap,
    reason = "test data: offsets, sizes and counts are small"
)]

mod common;

use common::{open_partition0, partition0};
use pagelog::{Error, NewRecord, Store, TopicConfig};

fn offsets(p: &pagelog::Partition) -> Vec<u64> {
    p.iter().map(|r| r.unwrap().offset()).collect()
}

#[test]
fn records_keep_their_offsets_and_gaps_read_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = partition0(&store, "t", TopicConfig::default());
    let h = [pagelog::Header {
        key: "h",
        value: b"v",
    }];
    let r = p
        .append_at(
            &[
                (3, NewRecord::new(b"three").key(b"k").timestamp(1_000)),
                (7, NewRecord::new(b"seven").timestamp(2_000).headers(&h)),
            ],
            10,
        )
        .unwrap();
    assert_eq!(r, 0..10);
    assert_eq!(p.next_offset(), 10);
    assert_eq!(offsets(&p), vec![3, 7]);
    let rec = p.read(4).unwrap().unwrap();
    assert_eq!(
        (rec.offset(), rec.value(), rec.timestamp()),
        (7, &b"seven"[..], 2_000)
    );
    assert_eq!(
        rec.headers().next().map(|(_, v)| v.to_vec()),
        Some(b"v".to_vec())
    );
    assert!(p.read(8).unwrap().is_none(), "8 and 9 are a gap at the end");
    assert_eq!(p.offset_for_timestamp(1_500).unwrap(), Some(7));
    // Ordinary appends continue after the placed batch.
    assert_eq!(p.append(NewRecord::new(b"next")).unwrap(), 10);
    assert_eq!(offsets(&p), vec![3, 7, 10]);
}

#[test]
fn an_empty_placement_only_moves_the_next_offset() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = partition0(&store, "t", TopicConfig::default());
    // A gap of the largest span one batch can cover.
    let end = 1u64 << 32;
    assert_eq!(p.append_at(&[], end).unwrap(), 0..end);
    assert_eq!(
        p.append_at(&[(end + 1, NewRecord::new(b"x"))], end + 2)
            .unwrap(),
        end..end + 2
    );
    assert_eq!(offsets(&p), vec![end + 1]);
    assert_eq!(p.read(0).unwrap().map(|r| r.offset()), Some(end + 1));
}

#[test]
fn bad_placements_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = partition0(&store, "t", TopicConfig::default());
    p.append_at(&[(1, NewRecord::new(b"a"))], 5).unwrap();
    let r = NewRecord::new(b"r");
    let cases: Vec<(Vec<(u64, NewRecord<'_>)>, u64)> = vec![
        (vec![(4, r)], 6),           // below the next offset
        (vec![(6, r), (6, r)], 9),   // not strictly increasing
        (vec![(7, r), (6, r)], 9),   // decreasing
        (vec![(9, r)], 9),           // not below end
        (vec![], 5),                 // end not above the next offset
        (vec![], 3),                 // end below the next offset
        (vec![], 5 + (1 << 32) + 1), // more than 2^32 offsets
    ];
    for (records, end) in cases {
        let err = p.append_at(&records, end).unwrap_err();
        assert!(
            matches!(err, Error::InvalidPlacement { .. }),
            "{records:?} {end}: {err}"
        );
        assert_eq!(p.next_offset(), 5);
    }
    assert_eq!(offsets(&p), vec![1]);
    let big = vec![0u8; 2 << 20];
    let err = p.append_at(&[(5, NewRecord::new(&big))], 6).unwrap_err();
    assert!(matches!(err, Error::RecordTooLarge { .. }), "{err}");
}

#[test]
fn placed_batches_survive_clean_and_unclean_reopen_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let config = TopicConfig::default().segment_bytes(64 * 1024);
    let value = [7u8; 1000];
    let mut expected = Vec::new();
    {
        let store = Store::open(dir.path()).unwrap();
        let p = partition0(&store, "t", config);
        // Every third offset holds a record; batches of 10 offsets roll several segments.
        for batch in 0..300u64 {
            let base = batch * 10;
            let placed: Vec<_> = (base..base + 10)
                .filter(|o| o % 3 == 0)
                .map(|o| (o, NewRecord::new(&value).timestamp(o as i64)))
                .collect();
            expected.extend(placed.iter().map(|(o, _)| *o));
            p.append_at(&placed, base + 10).unwrap();
        }
        assert!(p.info().segments > 10);
        p.flush().unwrap();
        store.close().unwrap();
    }
    // Opens after a clean close, then after a crash (the second open sees the first one's
    // crash), then after a clean close again.
    for crash in [true, false, false] {
        let store = Store::open(dir.path()).unwrap();
        let p = open_partition0(&store, "t");
        assert_eq!(p.next_offset(), 3000);
        assert_eq!(offsets(&p), expected);
        assert!(p.verify().problems.is_empty());
        assert_eq!(p.read(1000).unwrap().unwrap().offset(), 1002);
        assert_eq!(p.offset_for_timestamp(1000).unwrap(), Some(1002));
        if crash {
            store.crash();
        } else {
            store.close().unwrap();
        }
    }
}
