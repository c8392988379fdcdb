//! Replay: the records a restart must hand to the consumers again.

use crate::checkpoint::Checkpoints;
use crate::record::{Item, Scan};
use crate::{Lsn, WalError, segment};
use bytes::Bytes;
use std::collections::VecDeque;
use std::path::PathBuf;
use tracegate_pipeline::telemetry;

/// What a replay found, so far; final once the iterator has returned `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records returned.
    pub records: u64,
    /// Payload bytes returned.
    pub bytes: u64,
    /// Corrupt stretches skipped between valid records (`kind="checksum"`).
    pub corrupt: u64,
    /// Torn tails: bytes after a segment's last valid record, from a write cut short. The
    /// newest segment's is cut off by `open`; older ones' are skipped (`kind="torn"`).
    pub torn: u64,
    /// Files in the WAL directory that are not the WAL's, left alone.
    pub unknown_files: u64,
}

/// A segment still to replay.
#[derive(Debug)]
pub(crate) struct Pending {
    pub base: Lsn,
    pub path: PathBuf,
    /// Every record of this segment that replay returns is below this LSN: the next
    /// segment's base, or the end of the log at open.
    pub limit: Lsn,
}

#[derive(Debug)]
struct Current {
    buf: Bytes,
    base: Lsn,
    pos: usize,
}

/// An iterator over `(lsn, payload)` of every record at or after the lowest consumer
/// checkpoint, in LSN order, as the log stood when it was opened. Each consumer's own
/// checkpoint is in [`Replay::checkpoint`], so it can skip what it already made durable.
///
/// Segments are read one at a time (memory: one segment), and their records are checked as
/// they are read: [`Replay::stats`] is complete once the iterator is exhausted. An I/O error
/// is returned as an item, and replay goes on with the next segment.
#[derive(Debug)]
pub struct Replay {
    pending: VecDeque<Pending>,
    current: Option<Current>,
    start: Lsn,
    end: Lsn,
    checkpoints: Checkpoints,
    stats: ReplayStats,
}

impl Replay {
    pub(crate) fn new(
        pending: VecDeque<Pending>,
        start: Lsn,
        end: Lsn,
        checkpoints: Checkpoints,
        stats: ReplayStats,
    ) -> Self {
        Self {
            pending,
            current: None,
            start,
            end,
            checkpoints,
            stats,
        }
    }

    /// The consumer's checkpoint at open: records before it are durable there already.
    pub fn checkpoint(&self, consumer: &str) -> Option<Lsn> {
        self.checkpoints.get(consumer)
    }

    /// Every consumer's checkpoint at open.
    pub fn checkpoints(&self) -> impl Iterator<Item = (&str, Lsn)> {
        self.checkpoints.iter()
    }

    /// The lowest checkpoint: replay starts here.
    pub fn start(&self) -> Lsn {
        self.start
    }

    /// The end of the log at open: replay stops here; new appends start here.
    pub fn end(&self) -> Lsn {
        self.end
    }

    /// What the replay found so far.
    pub fn stats(&self) -> ReplayStats {
        self.stats
    }

    /// Reads the next segment; `Ok(false)` when there is none.
    fn load_next(&mut self) -> Result<bool, WalError> {
        while let Some(p) = self.pending.pop_front() {
            if p.limit <= self.start || p.limit <= p.base {
                continue;
            }
            let mut buf = match segment::read(&p.path) {
                Ok(buf) => buf,
                // Deleted since open: every consumer had passed it.
                Err(WalError::Io { source, .. })
                    if source
                        .downcast_ref::<std::io::Error>()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Bytes appended after open (maybe mid-write) are not this replay's.
            let limit = usize::try_from(p.limit - p.base).unwrap_or(usize::MAX);
            buf.truncate(limit);
            self.current = Some(Current {
                buf: Bytes::from(buf),
                base: p.base,
                pos: 0,
            });
            return Ok(true);
        }
        Ok(false)
    }
}

impl Iterator for Replay {
    type Item = Result<(Lsn, Bytes), WalError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some(cur) = self.current.as_mut() else {
                match self.load_next() {
                    Ok(true) => continue,
                    Ok(false) => return None,
                    Err(e) => return Some(Err(e)),
                }
            };
            let mut scan = Scan::resume(&cur.buf, cur.base, cur.pos);
            let item = scan.next();
            cur.pos = scan.position();
            match item {
                None => {
                    self.current = None;
                }
                Some(Item::Record { lsn, payload }) => {
                    if lsn < self.start {
                        continue; // durable at every consumer already
                    }
                    self.stats.records += 1;
                    self.stats.bytes += payload.len() as u64;
                    telemetry::wal_replayed(1);
                    return Some(Ok((lsn, cur.buf.slice(payload))));
                }
                Some(Item::Corrupt { bytes }) => {
                    self.stats.corrupt += 1;
                    telemetry::wal_corrupt("checksum");
                    tracing::warn!(
                        lsn = cur.base.saturating_add(bytes.start as u64),
                        bytes = bytes.len(),
                        "WAL replay skipped a corrupt record"
                    );
                }
                Some(Item::Torn { bytes }) => {
                    self.stats.torn += 1;
                    telemetry::wal_corrupt("torn");
                    tracing::warn!(
                        lsn = cur.base.saturating_add(bytes.start as u64),
                        bytes = bytes.len(),
                        "WAL replay skipped a torn write at a segment's end"
                    );
                }
            }
        }
    }
}
