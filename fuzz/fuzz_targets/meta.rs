//! Metadata parsing: `decode_topic`, `decode_checkpoint`, `decode_group_offsets`,
//! `decode_truncate` and `decode_hooked` on arbitrary bytes, each also with its frame (magic, version, body length,
//! CRC) fixed up so that the body decoders see every body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pagelog::codec::meta::{
    CHECKPOINT_BODY_LEN, CHECKPOINT_MAGIC, GROUP_MAGIC, HOOKED_MAGIC, TOPIC_BODY_LEN, TOPIC_MAGIC,
    TOPIC_VERSION, TOPIC_VERSION_1, TRUNCATE_MAGIC, VERSION, decode_checkpoint,
    decode_group_offsets, decode_hooked, decode_topic, decode_truncate, encode_checkpoint,
    encode_group_offsets, encode_hooked, encode_topic, encode_truncate, frame,
};

fn all(bytes: &[u8]) {
    if let Ok(c) = decode_topic(bytes) {
        // `flush_value` is not checked for the kinds that do not use it (FORMAT.md 7.2), so the
        // bytes need not round-trip; the decoded value must.
        let again = decode_topic(&encode_topic(&c)).expect("re-encoded topic.meta decodes");
        assert_eq!(again, c);
        let _ = c.validate();
    }
    if let Ok(c) = decode_checkpoint(bytes) {
        assert_eq!(encode_checkpoint(&c), bytes, "checkpoint round trip");
    }
    if let Ok(o) = decode_group_offsets(bytes) {
        assert_eq!(encode_group_offsets(&o), bytes, "group offsets round trip");
    }
    if let Ok(t) = decode_truncate(bytes) {
        assert_eq!(encode_truncate(t), bytes, "truncate intent round trip");
    }
    if let Ok(t) = decode_hooked(bytes) {
        assert_eq!(encode_hooked(t), bytes, "hook mark round trip");
    }
}

fuzz_target!(|data: &[u8]| {
    all(data);
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let pad = |n: usize| {
        let mut b = body.to_vec();
        b.resize(n, 0);
        b
    };
    let file = match kind % 7 {
        6 => frame(HOOKED_MAGIC, VERSION, &pad(8)),
        0 => frame(TOPIC_MAGIC, TOPIC_VERSION, &pad(TOPIC_BODY_LEN)),
        // The earlier topic.meta version, same body.
        5 => frame(TOPIC_MAGIC, TOPIC_VERSION_1, &pad(TOPIC_BODY_LEN)),
        1 => frame(CHECKPOINT_MAGIC, VERSION, &pad(CHECKPOINT_BODY_LEN)),
        2 => frame(TRUNCATE_MAGIC, VERSION, &pad(8)),
        3 => frame(GROUP_MAGIC, VERSION, body),
        // A group body whose partition count matches its length (reserved word as given).
        _ => {
            let mut b = pad(8.max(body.len() - body.len() % 8));
            let n = (b.len() - 8) / 8;
            b[..4].copy_from_slice(&(n as u32).to_le_bytes());
            frame(GROUP_MAGIC, VERSION, &b)
        }
    };
    all(&file);
});
