//! Helpers shared by the WAL's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use tracegate_pipeline::ByteSize;
use tracegate_wal::{Lsn, Replay, SyncMode, WalConfig};

/// A config in `dir` with small segments.
pub fn config(dir: &Path, segment_bytes: u64, max_bytes: u64) -> WalConfig {
    WalConfig {
        enabled: true,
        dir: dir.to_path_buf(),
        sync: SyncMode::Process,
        max_bytes: ByteSize(max_bytes),
        segment_bytes: ByteSize(segment_bytes),
    }
}

/// Every record of a replay; panics on an I/O error (tests only).
pub fn records(replay: &mut Replay) -> Vec<(Lsn, Vec<u8>)> {
    replay
        .by_ref()
        .map(|r| {
            let (lsn, bytes) = r.unwrap();
            (lsn, bytes.to_vec())
        })
        .collect()
}

/// The segment files in `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// XORs one byte of a file.
pub fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}
