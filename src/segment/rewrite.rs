//! Rewriting a segment's log up to an offset, for truncation.
#![warn(clippy::indexing_slicing)]

use std::fs;
use std::path::Path;

use crate::codec::batch::{self, BatchHeader, RecordIter};
use crate::error::{Corruption, Error, Result, io_err};
use crate::mmap::Mapping;
use crate::segment::core::decode_error;
use crate::segment::files::SegmentPaths;
use crate::segment::scan::valid_batch;

/// Suffix of the temporary file a truncation writes before renaming it over the `.log`.
pub(crate) const TRUNCATING_SUFFIX: &str = ".truncating";

/// Rewrites a segment's `.log` to hold exactly the offsets below `target`: batches after
/// it are dropped, and a batch spanning it is re-encoded with only its records below
/// `target` (same offsets, timestamps, keys, values and headers). The new contents go to a
/// temporary file that is synced and renamed over the `.log`, so a crash leaves the old or
/// the new file, and mappings of the old file stay valid. Indexes are not touched; reopen
/// the segment with [`recover`] to rebuild them. Does nothing if nothing is at or past
/// `target`. Returns whether the `.log` was replaced.
///
/// The old `.log` is read under a shared lock ([`Mapping::open_shared`]): a writer of it
/// elsewhere makes this fail with `Error::Locked`.
pub fn rewrite_prefix(paths: &SegmentPaths, base: u64, target: u64) -> Result<bool> {
    let old = Mapping::open_shared(&paths.log).map_err(io_err(&paths.log))?;
    let log = old.prefix();
    // Walk the batches to the one holding `target` (or the end of the valid data).
    let (mut pos, mut expected) = (0usize, base);
    let mut spanning = None;
    while pos < log.len() {
        let Ok((h, bytes)) = valid_batch(log, pos, expected, base) else {
            break;
        };
        if h.last_offset() >= target {
            spanning = Some((h, bytes));
            break;
        }
        pos += bytes.len();
        expected = h.next_offset();
    }
    if spanning.is_none() && pos == log.len() {
        return Ok(false); // nothing to cut
    }
    #[expect(
        clippy::indexing_slicing,
        reason = "pos <= log.len(): it only moved past batches valid_batch found inside log"
    )]
    let mut out = log[..pos].to_vec();
    if let Some((h, bytes)) = spanning.filter(|(h, _)| h.base_offset < target) {
        out.extend(reencode_head(bytes, &h, target, &paths.log)?);
    }
    let mut tmp = paths.log.clone().into_os_string();
    tmp.push(TRUNCATING_SUFFIX);
    let tmp = std::path::PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&out).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    crate::failpoint::hit(crate::failpoint::Failpoint::RewriteBeforeRename);
    fs::rename(&tmp, &paths.log).map_err(io_err(&paths.log))?;
    if let Some(dir) = paths.log.parent() {
        crate::fsutil::sync_dir(dir)?;
    }
    Ok(true)
}

/// The records of `batch` with offsets below `target`, as one new batch with the same base
/// offset covering exactly `[base, target)`: offset deltas (and any gaps compaction left)
/// are kept, and if no record lies below `target` the batch is empty, so offsets still tile.
fn reencode_head(batch: &[u8], h: &BatchHeader, target: u64, path: &Path) -> Result<Vec<u8>> {
    use crate::codec::batch::HeaderIter;
    use crate::codec::record::{Header, NewRecord};
    let keep = target - h.base_offset;
    let mut raws = Vec::new();
    for r in RecordIter::new(batch, h) {
        let r = r.map_err(|e| decode_error(path, 0, e))?;
        if u64::from(r.offset_delta) >= keep {
            break;
        }
        raws.push(r);
    }
    let headers = raws
        .iter()
        .map(|r| {
            HeaderIter::new(r.headers, r.header_count)
                .map(|h| h.map(|(key, value)| Header { key, value }))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| decode_error(path, 0, e))
        })
        .collect::<Result<Vec<Vec<Header<'_>>>>>()?;
    let records: Vec<(u32, NewRecord<'_>)> = raws
        .iter()
        .zip(&headers)
        .map(|(r, hs)| {
            let rec = NewRecord {
                key: r.key,
                value: r.value,
                timestamp: Some(r.timestamp),
                headers: hs,
            };
            (r.offset_delta, rec)
        })
        .collect();
    let plan = batch::measure_placed(&records, 0).ok_or_else(|| {
        Error::corrupt(
            path,
            0,
            Corruption::TooLarge {
                what: "batch too large to re-encode",
            },
        )
    })?;
    let mut out = vec![0u8; plan.len];
    #[expect(
        clippy::cast_possible_truncation,
        reason = "base < target <= last offset (the caller's batch spans target): \
                  keep - 1 < last_offset_delta, a u32"
    )]
    let last_delta = (keep - 1) as u32;
    batch::encode_placed(&mut out, h.base_offset, last_delta, &records, &plan, 0);
    Ok(out)
}
