//! Helpers shared by the `kafka_*` tests: the expected-records line format of
//! `scripts/kafka_fixtures.py`, for pagelog records and decoded Kafka records.
#![allow(
    clippy::cast_sign_loss,
    reason = "test data: offsets, sizes and counts are small"
)]
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use pagelog::kafka::{KafkaHeader, KafkaRecord};

/// `tests/fixtures/kafka/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kafka")
        .join(rel)
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .concat()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn bytes(b: Option<&[u8]>) -> String {
    b.map_or_else(|| "-".to_owned(), |b| format!("x:{}", hex(b)))
}

fn parse_bytes(s: &str) -> Option<Vec<u8>> {
    if s == "-" {
        None
    } else {
        Some(unhex(s.strip_prefix("x:").unwrap()))
    }
}

/// One line: `offset timestamp key value headers`.
pub fn line(
    offset: u64,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&[u8], Option<&[u8]>)],
) -> String {
    let hs: Vec<String> = headers
        .iter()
        .map(|(k, v)| format!("{}={}", hex(k), bytes(*v)))
        .collect();
    let hs = if hs.is_empty() {
        ".".to_owned()
    } else {
        hs.join(",")
    };
    format!(
        "{offset}\t{timestamp}\t{}\t{}\t{hs}",
        bytes(key),
        bytes(value)
    )
}

/// The line of a decoded Kafka record.
pub fn kafka_line(r: &KafkaRecord) -> String {
    let hs: Vec<(&[u8], Option<&[u8]>)> = r
        .headers
        .iter()
        .map(|h| (h.key.as_slice(), h.value.as_deref()))
        .collect();
    line(
        r.offset,
        r.timestamp,
        r.key.as_deref(),
        r.value.as_deref(),
        &hs,
    )
}

/// The line of a pagelog record.
pub fn pagelog_line(r: &pagelog::Record) -> String {
    let hs: Vec<(&[u8], Option<&[u8]>)> =
        r.headers().map(|(k, v)| (k.as_bytes(), Some(v))).collect();
    line(r.offset(), r.timestamp(), r.key(), r.value_opt(), &hs)
}

/// The record lines of an `.expected` file (comments dropped).
pub fn expected_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The records of an `.expected` file.
pub fn expected_records(path: &Path) -> Vec<KafkaRecord> {
    expected_lines(path)
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let headers = if f[4] == "." {
                Vec::new()
            } else {
                f[4].split(',')
                    .map(|h| {
                        let (k, v) = h.split_once('=').unwrap();
                        KafkaHeader {
                            key: unhex(k),
                            value: parse_bytes(v),
                        }
                    })
                    .collect()
            };
            KafkaRecord {
                offset: f[0].parse().unwrap(),
                timestamp: f[1].parse().unwrap(),
                key: parse_bytes(f[2]),
                value: parse_bytes(f[3]),
                headers,
            }
        })
        .collect()
}

/// Writes records as an `.expected` file.
pub fn write_expected(path: &Path, lines: &[String]) {
    let mut s = String::from("# written by a pagelog test\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// Sets the CRC-32C of the batch at the start of `batch` to match its bytes.
pub fn fix_crc(batch: &mut [u8]) {
    let len = i32::from_be_bytes(batch[8..12].try_into().unwrap()) as usize + 12;
    let crc = crc32c_of(&batch[21..len.clamp(21, batch.len())]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// CRC-32C (Castagnoli), bitwise: independent of the crate the codec uses.
pub fn crc32c_of(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Copies the fixture directory `name` into `dst` (created).
pub fn copy_fixture_dir(name: &str, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(fixture(name)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}
