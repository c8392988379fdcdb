//! [`LateStore`]: the late scores of a hot store, in memory ([`LateScores`], bounded) and in
//! their file ([`LateLog`]), kept in step.
//!
//! - [`LateStore::load`] replays the file at start (bounds and retention apply again), and
//!   rewrites it when it was damaged or has grown past about twice its live size;
//! - [`LateStore::add`] keeps new scores (searchable at once) and appends their records;
//!   a failed append keeps them to write again ([`LateStore::flush`]);
//! - [`LateStore::expire`] drops scores past `retention` (at each tick);
//! - [`LateStore::of_trace`] is what reads add to a trace's spans.
//!
//! Reads take the memory's lock only to clone a trace's scores; file I/O holds only the
//! file's lock, and only the exporter's task writes.

use super::late::{Evicted, LateScores};
use super::late_log::{self, LateLog};
use super::metrics;
use crate::error::StoreError;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tracegate_model::{Score, TraceId};

/// A hot store's late scores. See the [module docs](self).
#[derive(Debug)]
pub(super) struct LateStore {
    exporter: String,
    read_only: bool,
    scores: RwLock<LateScores>,
    log: Mutex<LateLog>,
}

impl LateStore {
    /// The late scores of the store `exporter` in `dir`, within these bounds. No I/O.
    pub(super) fn new(
        exporter: &str,
        dir: &Path,
        read_only: bool,
        max_scores: usize,
        max_bytes: usize,
        retention_ms: u64,
    ) -> Self {
        Self {
            exporter: exporter.to_owned(),
            read_only,
            scores: RwLock::new(LateScores::new(max_scores, max_bytes, retention_ms)),
            log: Mutex::new(LateLog::new(dir)),
        }
    }

    fn scores(&self) -> RwLockReadGuard<'_, LateScores> {
        self.scores.read().unwrap_or_else(|e| e.into_inner())
    }

    fn scores_mut(&self) -> RwLockWriteGuard<'_, LateScores> {
        self.scores.write().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self) -> MutexGuard<'_, LateLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether appends are `fdatasync`ed (the write-ahead log's `sync`).
    pub(super) fn set_sync(&self, sync: bool) {
        self.log().set_sync(sync);
    }

    /// Replays the file into memory at `now_ms`; rewrites it when it was damaged or holds
    /// about twice what is live (unless read-only). Read-only, retention does not apply, as
    /// it does not to blocks. Blocking.
    pub(super) fn load(&self, now_ms: u64) -> Result<(), StoreError> {
        let now_ms = if self.read_only { 0 } else { now_ms };
        let mut log = self.log();
        let replayed = log.replay()?;
        let mut evicted = Evicted::default();
        {
            let mut scores = self.scores_mut();
            for record in replayed.records {
                let (_, e) = scores.insert(&record.tenant, record.score, record.arrived_ms, now_ms);
                evicted.merge(e);
            }
        }
        if replayed.damaged_bytes > 0 {
            metrics::late_damaged(&self.exporter, replayed.damaged_bytes);
            tracing::warn!(exporter = %self.exporter, bytes = replayed.damaged_bytes, "hot store: the late scores' file ends in a damaged or torn record (a crash mid-write); it is dropped");
        }
        self.counted(evicted);
        if self.read_only {
            return Ok(());
        }
        let live = self.scores().frame_bytes();
        if replayed.damaged_bytes > 0 || log.wants_compaction(live) {
            self.compact(&mut log)?;
        }
        Ok(())
    }

    /// Keeps `scores` (tenant, joined score) arrived at `now_ms`, and appends the new ones
    /// (not duplicates of kept ones) to the file, with any a failed append left. On failure
    /// they stay in memory, and are written by the next append or [`Self::flush`]. Returns
    /// how many were new. Blocking.
    pub(super) fn add(
        &self,
        scores: Vec<(Arc<str>, Score)>,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let mut frames = Vec::new();
        let mut evicted = Evicted::default();
        let mut new = 0;
        {
            let mut kept = self.scores_mut();
            for (tenant, score) in scores {
                let (k, e) = kept.insert(&tenant, score, now_ms, now_ms);
                evicted.merge(e);
                if let Some(k) = k {
                    new += 1;
                    frames.extend(late_log::encode(k.arrived_ms, &k.tenant, &k.score));
                }
            }
        }
        self.counted(evicted);
        metrics::late_stored(&self.exporter, new);
        if self.read_only {
            return Ok(new);
        }
        let mut log = self.log();
        log.append(&frames)?;
        self.maybe_compact(&mut log)?;
        Ok(new)
    }

    /// Writes what a failed append left. Blocking.
    pub(super) fn flush(&self) -> Result<(), StoreError> {
        let mut log = self.log();
        log.flush()?;
        self.maybe_compact(&mut log)
    }

    /// Bytes of records a failed append left to write.
    pub(super) fn pending_bytes(&self) -> usize {
        self.log().pending_bytes()
    }

    /// Drops the scores past `retention` at `now_ms`. Blocking (it may compact the file).
    pub(super) fn expire(&self, now_ms: u64) {
        let evicted = self.scores_mut().expire(now_ms);
        self.counted(evicted);
        if evicted.total() > 0 && !self.read_only {
            let mut log = self.log();
            if log.pending_bytes() == 0
                && let Err(e) = self.maybe_compact(&mut log)
            {
                tracing::warn!(exporter = %self.exporter, error = %e, "hot store: could not compact the late scores' file; it is tried again later");
            }
        }
    }

    fn maybe_compact(&self, log: &mut LateLog) -> Result<(), StoreError> {
        if log.wants_compaction(self.scores().frame_bytes()) {
            self.compact(log)?;
        }
        Ok(())
    }

    /// Rewrites the file with the live scores (pending ones included: they are live).
    fn compact(&self, log: &mut LateLog) -> Result<(), StoreError> {
        let frames: Vec<u8> = self
            .scores()
            .iter()
            .flat_map(|k| late_log::encode(k.arrived_ms, &k.tenant, &k.score))
            .collect();
        let before = log.bytes();
        log.compact(&frames)?;
        tracing::debug!(exporter = %self.exporter, before, after = frames.len(), "hot store: compacted the late scores' file");
        Ok(())
    }

    /// The late scores of `tenant`'s trace `id`, oldest first.
    pub(super) fn of_trace(&self, tenant: &str, id: &TraceId) -> Vec<Score> {
        self.scores().of_trace(tenant, id)
    }

    /// Whether there are no late scores at all.
    pub(super) fn is_empty(&self) -> bool {
        self.scores().is_empty()
    }

    /// (scores, estimated bytes, file bytes) held.
    pub(super) fn stats(&self) -> (usize, usize, u64) {
        let (n, bytes) = {
            let s = self.scores();
            (s.len(), s.bytes())
        };
        (n, bytes, self.log().bytes())
    }

    fn counted(&self, evicted: Evicted) {
        for (reason, n) in [
            ("age", evicted.age),
            ("entries", evicted.entries),
            ("bytes", evicted.bytes),
        ] {
            if n > 0 {
                metrics::late_evicted(&self.exporter, reason, n);
            }
        }
    }
}
