//! Small filesystem helpers: atomic file replacement and directory syncs.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::error::{Result, io_err};

/// Suffix of a file being written before it is renamed into place.
pub const TMP_SUFFIX: &str = ".tmp";

/// Replaces `dir/name` with `bytes` atomically: write `name.tmp`, fsync it, rename it over
/// `name`, fsync `dir`. A crash leaves either the old or the new contents (and perhaps a
/// stray `.tmp`, removed on the next open).
pub fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    atomic_write_via(dir, name, &format!("{name}{TMP_SUFFIX}"), bytes)
}

/// As [`atomic_write`], through the temporary file `dir/tmp_name`: for names too long to
/// take a suffix within the 255-byte limit on file names.
pub fn atomic_write_via(dir: &Path, name: &str, tmp_name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(tmp_name);
    let dst = dir.join(name);
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
    sync_dir(dir)
}

/// fsync of a directory, making creations, renames and removals in it durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Reads a whole file; `Ok(None)` if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Removes a file, treating "already gone" as success.
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}
