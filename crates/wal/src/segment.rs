//! Segment files: their names, the directory listing, and the few file operations the
//! writer and recovery share.
//!
//! A segment is named after the LSN of its first byte, zero-padded so names sort in log
//! order: `00000000000000065536.wal`. A record's LSN is the segment's base plus the record's
//! offset in the file.

use crate::{Lsn, WalError};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

/// The suffix of segment files.
pub const SUFFIX: &str = ".wal";
/// The checkpoint file.
pub const CHECKPOINTS: &str = "checkpoints";
/// The lock file.
pub const LOCK: &str = "LOCK";
/// The directory where exporters keep their own durable state (journals, disk queues).
pub const STATE: &str = "state";

/// The file name of the segment starting at `base`.
pub fn file_name(base: Lsn) -> String {
    format!("{base:020}{SUFFIX}")
}

/// The base LSN a segment file name stands for, or `None` if it is no segment's name.
pub fn parse_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    /// LSN of its first byte.
    pub base: Lsn,
    /// Its path.
    pub path: PathBuf,
    /// Its length when listed.
    pub len: u64,
}

/// What is in the WAL directory.
#[derive(Debug, Default)]
pub struct Listing {
    /// Segments in LSN order.
    pub segments: Vec<SegmentFile>,
    /// Files that are neither segments nor the WAL's own, left alone.
    pub unknown: Vec<PathBuf>,
}

/// Lists `dir`, removing leftover temporary files (`*.tmp`) of an interrupted checkpoint.
pub fn list(dir: &Path) -> Result<Listing, WalError> {
    let mut listing = Listing::default();
    let entries = fs::read_dir(dir).map_err(|e| WalError::io("list directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io("list directory", dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            listing.unknown.push(path);
            continue;
        };
        if name == CHECKPOINTS || name == LOCK || name == STATE {
            continue;
        }
        if name.ends_with(".tmp") {
            // A checkpoint write that never reached its rename: the old file is still valid.
            let _ = fs::remove_file(&path);
            continue;
        }
        match parse_name(name) {
            Some(base) => {
                let meta = entry
                    .metadata()
                    .map_err(|e| WalError::io("stat segment", &path, e))?;
                if !meta.is_file() {
                    return Err(WalError::io(
                        "read segment",
                        &path,
                        std::io::Error::other(
                            "a segment's name is used by something that is not a regular file; move it out of the WAL directory",
                        ),
                    ));
                }
                listing.segments.push(SegmentFile {
                    base,
                    path,
                    len: meta.len(),
                });
            }
            None => listing.unknown.push(path),
        }
    }
    listing.segments.sort_by_key(|s| s.base);
    Ok(listing)
}

/// Reads a whole segment.
pub fn read(path: &Path) -> Result<Vec<u8>, WalError> {
    fs::read(path).map_err(|e| WalError::io("read segment", path, e))
}

/// Creates the empty segment starting at `base` and opens it for appending.
pub fn create(dir: &Path, base: Lsn) -> Result<File, WalError> {
    let path = dir.join(file_name(base));
    OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(|e| WalError::io("create segment", &path, e))
}

/// Reserves `len` bytes of disk for a new segment without changing its size
/// (`fallocate(FALLOC_FL_KEEP_SIZE)`), so appends write into blocks already allocated instead
/// of allocating them page by page. The file's length, which recovery reads, stays what was
/// written. Filesystems that cannot do it are left to allocate as they go.
pub fn preallocate(file: &File, len: u64) {
    if let Err(e) = rustix::fs::fallocate(file, rustix::fs::FallocateFlags::KEEP_SIZE, 0, len) {
        tracing::debug!(error = %e, "WAL segment preallocation not supported here; going on without");
    }
}

/// Opens an existing segment for appending at its end.
pub fn open_append(path: &Path) -> Result<File, WalError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| WalError::io("open segment", path, e))
}

/// Makes the directory's entries (created, renamed, removed files) durable.
pub fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WalError::io("sync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_lsn_order_and_round_trip() {
        assert_eq!(file_name(65536), "00000000000000065536.wal");
        assert_eq!(parse_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert!(file_name(9) < file_name(10));
        for bad in [
            "1.wal",
            "0000000000000000000a.wal",
            "00000000000000000001.wa",
            "x",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
