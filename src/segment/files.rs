//! Segment file names: `<20-digit zero-padded base offset>.<kind>`.

use std::path::{Path, PathBuf};

/// Extension of the log file.
pub const LOG_EXT: &str = "log";
/// Extension of the sparse offset index.
pub const INDEX_EXT: &str = "index";
/// Extension of the time index.
pub const TIME_EXT: &str = "timeindex";

/// The three paths of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentPaths {
    /// `.log`: the record batches.
    pub log: PathBuf,
    /// `.index`: offset → position entries.
    pub index: PathBuf,
    /// `.timeindex`: timestamp → offset entries.
    pub time: PathBuf,
}

impl SegmentPaths {
    /// Paths of the segment with base offset `base` in `dir`.
    #[must_use]
    pub fn new(dir: &Path, base: u64) -> Self {
        Self {
            log: dir.join(file_name(base, LOG_EXT)),
            index: dir.join(file_name(base, INDEX_EXT)),
            time: dir.join(file_name(base, TIME_EXT)),
        }
    }
}

/// `00000000000000000042.log` for base 42 and extension `log`.
pub fn file_name(base: u64, ext: &str) -> String {
    format!("{base:020}.{ext}")
}

/// Parses a segment file name into its base offset and extension; `None` for anything that
/// is not exactly 20 ASCII digits, a dot, and one of the three extensions.
pub fn parse_file_name(name: &str) -> Option<(u64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if ![LOG_EXT, INDEX_EXT, TIME_EXT].contains(&ext) {
        return None;
    }
    Some((stem.parse().ok()?, ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        assert_eq!(file_name(42, LOG_EXT), "00000000000000000042.log");
        assert_eq!(
            parse_file_name("00000000000000000042.timeindex"),
            Some((42, TIME_EXT))
        );
        assert_eq!(
            parse_file_name("18446744073709551615.log"),
            Some((u64::MAX, LOG_EXT))
        );
        for bad in [
            "0000000000000000042.log",
            "00000000000000000042.txt",
            "00000000000000000042.log.deleted",
            "9999999999999999999999.log",
            "99999999999999999999.log",
            "readme",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }
}
