//! `dump` of a topic's live state file (FORMAT.md 7.8).

use std::fmt::Write as _;

use pagelog::codec::DecodeError;
use pagelog::codec::live;

/// A topic's live state file (FORMAT.md 7.8): the header, then each partition's slot. The
/// words are read from a copy as they were: a slot whose sequence is odd was being written.
/// words are read from a copy as they were: a slot whose sequence is odd was being written.
pub(super) fn describe_live(b: &[u8]) -> Result<String, DecodeError> {
    let h = live::decode_header(b)?;
    if b.len() != live::file_len(h.partitions) {
        return Err(DecodeError::Truncated {
            at: b.len(),
            what: "live state: not one slot per partition",
        });
    }
    let word = |at: usize| {
        b.get(at..at + 8)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let half = |at: usize| {
        b.get(at..at + 4)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    let state = live::State::from_word(half(live::STATE))
        .map_or_else(|| "unknown".to_owned(), |s| format!("{s:?}"));
    let boot = if h.boot == [0; 16] {
        "zero (closed cleanly: holds across reboots)".to_owned()
    } else {
        h.boot.iter().fold(String::new(), |mut s, x| {
            _ = write!(s, "{x:02x}");
            s
        })
    };
    let mut s = format!(
        "live state: {} partitions, boot {boot}, state {state}, session {}, writer pid {}, \
         wake {}, waiting {}",
        h.partitions,
        word(live::SESSION),
        half(live::WRITER_PID),
        half(live::WAKE),
        half(live::WAITING)
    );
    for p in 0..h.partitions {
        let at = live::slot_at(p);
        let t = |f: usize| word(at + f);
        let sealed = match t(live::tail::SEALED_BASE) {
            u64::MAX => "none".to_owned(),
            base => format!(
                "base {base} log {} index {} time {}",
                t(live::tail::SEALED_LOG_LEN),
                t(live::tail::SEALED_INDEX_LEN),
                t(live::tail::SEALED_TIME_LEN)
            ),
        };
        _ = write!(
            s,
            "\n  partition {p}: tail seq {} active base {} next offset {} log {} index {} time {} \
             max timestamp {}; sealed last: {sealed}\n    cold seq {} start {} epoch {} \
             durable {}; list generation {} changing {}",
            t(live::tail::SEQ),
            t(live::tail::ACTIVE_BASE),
            t(live::tail::NEXT_OFFSET),
            t(live::tail::LOG_LEN),
            t(live::tail::INDEX_LEN),
            t(live::tail::TIME_LEN),
            t(live::tail::MAX_TIMESTAMP).cast_signed(),
            t(live::cold::SEQ),
            t(live::cold::START),
            t(live::cold::EPOCH),
            t(live::cold::DURABLE),
            t(live::cold::GEN),
            t(live::cold::CHANGING)
        );
    }
    Ok(s)
}
