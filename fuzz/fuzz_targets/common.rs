//! Helpers shared by fuzz targets (each includes this with `mod common;`).

use std::path::{Path, PathBuf};

/// A memory-backed directory when there is one: recovery fsyncs, which is slow on disk.
pub fn shm() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}
