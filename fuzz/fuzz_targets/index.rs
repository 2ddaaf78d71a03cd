//! Index entry loading: `OffsetEntry::decode` and `TimeEntry::decode` over an arbitrary index
//! file, entry by entry as a lookup or recovery reads it, plus short and misaligned slices.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pagelog::codec::index::{OFFSET_ENTRY_LEN, OffsetEntry, TIME_ENTRY_LEN, TimeEntry};

fuzz_target!(|data: &[u8]| {
    // Every slot of the file read as an offset index and as a time index.
    for chunk in data.chunks(OFFSET_ENTRY_LEN) {
        // Every byte is covered by the CRC or is the CRC: a decoded entry re-encodes to exactly
        // the bytes it came from.
        if let Ok(e) = OffsetEntry::decode(chunk) {
            assert_eq!(&e.encode()[..], chunk);
        }
    }
    for chunk in data.chunks(TIME_ENTRY_LEN) {
        if let Ok(e) = TimeEntry::decode(chunk) {
            assert_eq!(&e.encode()[..], chunk);
        }
    }
    // Unaligned reads (a file whose length is not a multiple of the entry size), and slices
    // longer than an entry: only the first entry counts.
    for start in 0..data.len().min(16) {
        let rest = &data[start..];
        if let Ok(e) = OffsetEntry::decode(rest) {
            assert_eq!(&e.encode()[..], &rest[..OFFSET_ENTRY_LEN]);
        }
        if let Ok(e) = TimeEntry::decode(rest) {
            assert_eq!(&e.encode()[..], &rest[..TIME_ENTRY_LEN]);
        }
    }
    // A zero-filled (preallocated) slot is never an entry.
    assert!(OffsetEntry::decode(&[0; OFFSET_ENTRY_LEN]).is_err());
    assert!(TimeEntry::decode(&[0; TIME_ENTRY_LEN]).is_err());
});
