//! Batch decoding on arbitrary bytes: `BatchHeader::parse`, `check_crc`, `RecordIter` (also
//! saved and resumed half-way) and `HeaderIter`. Each input is tried as given and with its CRC
//! fixed up, so that the record decoder also sees batches whose checksum passes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pagelog::codec::batch::{BatchHeader, HEADER_LEN, HeaderIter, RecordIter, check_crc};

/// Decodes one batch (`bytes` exactly its length) and checks what the decoder promises.
fn decode(bytes: &[u8], h: &BatchHeader) {
    let mut records = 0u64;
    let mut last: Option<u32> = None;
    let mut it = RecordIter::new(bytes, h);
    let mut saved = None;
    let mut rest = Vec::new();
    while let Some(r) = it.next() {
        let Ok(r) = r else {
            assert!(it.next().is_none(), "a failed iterator must stop");
            break;
        };
        records += 1;
        assert!(
            records <= u64::from(h.record_count),
            "more records than the header says"
        );
        assert!(
            r.offset_delta <= h.last_offset_delta,
            "delta past the batch"
        );
        if let Some(l) = last {
            assert!(r.offset_delta > l, "deltas must strictly increase");
        }
        last = Some(r.offset_delta);
        assert!(it.position() <= bytes.len());
        // A malformed header ends the iteration (it yields the error once, then nothing).
        let mut headers = HeaderIter::new(r.headers, r.header_count);
        while let Some(kv) = headers.next() {
            match kv {
                Ok((k, v)) => assert!(k.len() + v.len() <= r.headers.len()),
                Err(_) => {
                    assert!(
                        headers.next().is_none(),
                        "HeaderIter goes on after an error"
                    );
                    break;
                }
            }
        }
        if saved.is_none() && records == 1 {
            saved = Some(it.state());
        } else if saved.is_some() {
            rest.push((r.offset_delta, r.key, r.value, r.timestamp));
        }
    }
    // Resuming from a saved state yields exactly what the first iteration yielded after it.
    if let Some(state) = saved {
        let again: Vec<_> = RecordIter::resume(bytes, h, state)
            .map_while(Result::ok)
            .map(|r| (r.offset_delta, r.key, r.value, r.timestamp))
            .collect();
        assert_eq!(again, rest, "resume diverged");
    }
}

fn run(buf: &[u8]) {
    let Ok(h) = BatchHeader::parse(buf) else {
        return;
    };
    assert!(h.length as usize >= HEADER_LEN);
    assert!(h.next_offset() > h.base_offset);
    let len = h.length as usize;
    if len > buf.len() {
        return;
    }
    let batch = &buf[..len];
    let _ = check_crc(batch);
    decode(batch, &h);
}

fuzz_target!(|data: &[u8]| {
    run(data);
    // Headers decoded straight from the input, with a count taken from it.
    if let Some((&n, rest)) = data.split_first() {
        for kv in HeaderIter::new(rest, u32::from(n)) {
            let _ = kv;
        }
    }
    // The same bytes with a correct CRC, and the length clamped to the input.
    if data.len() >= HEADER_LEN {
        let mut buf = data.to_vec();
        let stored = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        let len = if (HEADER_LEN..=buf.len()).contains(&stored) {
            stored
        } else {
            buf.len()
        };
        buf[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        let crc = crc32fast::hash(&buf[4..len]);
        buf[..4].copy_from_slice(&crc.to_le_bytes());
        assert!(check_crc(&buf[..len]).is_ok(), "a fixed-up CRC must pass");
        run(&buf);
    }
});
