//! Opening a WAL directory: lock it, list it, cut a torn tail off the newest segment, read
//! the checkpoints, and work out where appends continue and where replay starts.

use crate::checkpoint::{Checkpoints, check_consumers};
use crate::record::{Item, Scan};
use crate::replay::{Pending, Replay, ReplayStats};
use crate::segment::{self, SegmentFile};
use crate::writer::Seg;
use crate::{Lsn, SyncMode, WalConfig, WalError};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use tracegate_pipeline::telemetry;

/// What the writer starts from.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub segments: VecDeque<Seg>,
    pub file: File,
    pub lock: File,
    pub checkpoints: Checkpoints,
    pub end: Lsn,
    pub used: u64,
    pub replay: Replay,
}

/// The offset just past the last valid record of `buf`, a segment starting at `base`.
fn valid_len(buf: &[u8], base: Lsn) -> usize {
    Scan::new(buf, base)
        .filter_map(|item| match item {
            Item::Record { payload, .. } => Some(payload.end),
            _ => None,
        })
        .last()
        .unwrap_or(0)
}

fn lock(dir: &Path) -> Result<File, WalError> {
    let path = dir.join(segment::LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| WalError::io("create lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(WalError::Locked { dir: dir.into() }),
        Err(TryLockError::Error(e)) => Err(WalError::io("lock", &path, e)),
    }
}

/// Cuts the bytes after the newest segment's last valid record: the write that was in
/// flight when the process died. Returns whether there were any.
fn truncate_torn_tail(last: &mut SegmentFile, sync: SyncMode) -> Result<bool, WalError> {
    let buf = segment::read(&last.path)?;
    let valid = valid_len(&buf, last.base);
    last.len = valid as u64;
    if valid == buf.len() {
        return Ok(false);
    }
    tracing::warn!(
        path = %last.path.display(),
        lsn = last.base.saturating_add(valid as u64),
        bytes = buf.len() - valid,
        "WAL cut a torn write off the newest segment"
    );
    telemetry::wal_corrupt("torn");
    let file = OpenOptions::new()
        .write(true)
        .open(&last.path)
        .map_err(|e| WalError::io("open segment", &last.path, e))?;
    file.set_len(valid as u64)
        .map_err(|e| WalError::io("truncate torn tail of segment", &last.path, e))?;
    if sync == SyncMode::Host {
        file.sync_all()
            .map_err(|e| WalError::io("sync segment", &last.path, e))?;
    }
    Ok(true)
}

/// Opens `config.dir` for `consumers`.
pub(crate) fn recover(config: &WalConfig, consumers: &[&str]) -> Result<Recovered, WalError> {
    check_consumers(consumers)?;
    let dir = config.dir.as_path();
    std::fs::create_dir_all(dir).map_err(|e| WalError::io("create directory", dir, e))?;
    let lock = lock(dir)?;
    let mut listing = segment::list(dir)?;
    for path in &listing.unknown {
        tracing::warn!(path = %path.display(), "WAL directory holds a file that is not the WAL's; left alone");
    }
    let mut stats = ReplayStats {
        unknown_files: listing.unknown.len() as u64,
        ..ReplayStats::default()
    };
    if let Some(last) = listing.segments.last_mut() {
        stats.torn += u64::from(truncate_torn_tail(last, config.sync)?);
    }
    let persisted = Checkpoints::load(dir)?;
    let first = listing.segments.first().map(|s| s.base);
    let log_end = listing
        .segments
        .last()
        .map_or(0, |s| s.base.saturating_add(s.len));
    let checkpoints = Checkpoints::for_consumers(consumers, &persisted, first.unwrap_or(log_end));
    // Appends never reuse an LSN a consumer has passed, even if the log lost its tail.
    let end = log_end.max(persisted.max().unwrap_or(0));
    let start = checkpoints.min().unwrap_or(end).min(end);

    let mut pending = VecDeque::new();
    for (i, s) in listing.segments.iter().enumerate() {
        let limit = listing
            .segments
            .get(i + 1)
            .map_or(log_end, |next| next.base.min(s.base.saturating_add(s.len)));
        pending.push_back(Pending {
            base: s.base,
            path: s.path.clone(),
            limit,
        });
    }

    let mut segments: VecDeque<Seg> = listing
        .segments
        .iter()
        .map(|s| Seg {
            base: s.base,
            len: s.len,
        })
        .collect();
    let file = match listing.segments.last() {
        Some(last) if last.base.saturating_add(last.len) == end => {
            segment::open_append(&last.path)?
        }
        _ => {
            let file = segment::create(dir, end)?;
            segment::preallocate(&file, config.segment_bytes.get());
            if config.sync == SyncMode::Host {
                segment::sync_dir(dir)?;
            }
            segments.push_back(Seg { base: end, len: 0 });
            file
        }
    };
    let used = segments.iter().map(|s| s.len).sum();
    let replay = Replay::new(pending, start, end, checkpoints.clone(), stats);
    Ok(Recovered {
        segments,
        file,
        lock,
        checkpoints,
        end,
        used,
        replay,
    })
}
