//! [`Wal`]: the handle receivers append through and exporters checkpoint through.

use crate::recovery::recover;
use crate::replay::Replay;
use crate::writer::{CheckpointState, Command, Shared, Writer};
use crate::{Lsn, WalConfig, WalError, record};
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tracegate_pipeline::telemetry;

/// Appends waiting for the writer at most; more wait in `append` (backpressure, not loss).
/// Small in unit tests, so a test can fill it.
pub(crate) const QUEUE: usize = if cfg!(test) { 64 } else { 4096 };

/// The write-ahead log. Cheap to clone; every clone appends to the same log.
#[derive(Clone)]
pub struct Wal {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

/// Bytes reserved under `max_bytes` by an append the writer does not have yet; released
/// when dropped.
struct Reserved<'a> {
    shared: &'a Shared,
    size: u64,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.shared.used.fetch_sub(self.size, Ordering::AcqRel);
        self.shared.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The WAL's own counters, for tests and for the lead's health checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Bytes held: segment files plus appends in flight.
    pub bytes: u64,
    /// Segment files.
    pub segments: u64,
    /// Records written.
    pub appended_records: u64,
    /// `write` calls; `appended_records / writes` is the group-commit factor.
    pub writes: u64,
    /// `fdatasync` calls (`host` mode).
    pub syncs: u64,
    /// Appends refused with [`WalError::Full`].
    pub full_refusals: u64,
    /// Appends accepted and not yet completed.
    pub pending: u64,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.inner.shared.dir)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Wal {
    /// Opens (or creates) the WAL in `config.dir` for `consumers` (say, one per exporter),
    /// recovers it and starts its writer thread. The [`Replay`] returns what the consumers
    /// have not yet made durable. Does blocking I/O: call it at startup, or from
    /// `spawn_blocking`.
    ///
    /// A consumer with no checkpoint yet starts at the oldest record kept; checkpoints of
    /// consumers no longer listed are forgotten.
    pub fn open(config: &WalConfig, consumers: &[&str]) -> Result<(Wal, Replay), WalError> {
        let recovered = recover(config, consumers)?;
        let shared = Arc::new(Shared {
            dir: config.dir.clone(),
            sync: config.sync,
            max_bytes: config.max_bytes.get(),
            used: AtomicU64::new(recovered.used),
            end: AtomicU64::new(recovered.end),
            segments: AtomicU64::new(recovered.segments.len() as u64),
            pending: AtomicU64::new(0),
            appended: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            full_refusals: AtomicU64::new(0),
            checkpoints: Mutex::new(CheckpointState {
                current: recovered.checkpoints,
                dirty: true,
            }),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            #[cfg(test)]
            gate: Mutex::new(()),
            #[cfg(test)]
            inject: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer::new(
            Arc::clone(&shared),
            rx,
            config.segment_bytes.get(),
            recovered.segments,
            recovered.file,
            recovered.lock,
        );
        std::thread::Builder::new()
            .name("tracegate-wal".into())
            .spawn(move || writer.run())
            .map_err(|e| WalError::io("start writer thread for", &config.dir, e))?;
        let wal = Wal {
            inner: Arc::new(Inner { tx, shared }),
        };
        Ok((wal, recovered.replay))
    }

    /// Appends `record` and returns its LSN once it is written (`process`) or synced
    /// (`host`). Concurrent appends share one write and one sync. Never blocks the runtime.
    ///
    /// Fails fast with [`WalError::Full`] (retryable) when the WAL holds `max_bytes`; a
    /// failed append wrote nothing the caller should count on, and a retry may succeed.
    pub async fn append(&self, record: impl Into<Bytes>) -> Result<Lsn, WalError> {
        let started = Instant::now();
        let record = record.into();
        let shared = &self.inner.shared;
        if let Some(error) = shared.failure() {
            return Err(error);
        }
        let size = record::encoded_len(record.len());
        if record.len() > record::MAX_PAYLOAD || size > shared.max_bytes {
            return Err(WalError::TooLarge {
                bytes: size,
                max: shared
                    .max_bytes
                    .min(record::encoded_len(record::MAX_PAYLOAD)),
            });
        }
        let before = shared.used.fetch_add(size, Ordering::AcqRel);
        if before + size > shared.max_bytes {
            shared.used.fetch_sub(size, Ordering::AcqRel);
            shared.full_refusals.fetch_add(1, Ordering::Relaxed);
            telemetry::wal_full_refusal();
            return Err(WalError::Full {
                used: before,
                max_bytes: shared.max_bytes,
            });
        }
        shared.pending.fetch_add(1, Ordering::AcqRel);
        // Until the writer has the record, the reservation is ours to give back: also when
        // this future is dropped while waiting for room in the queue.
        let reserved = Reserved { shared, size };
        let permit = self
            .inner
            .tx
            .reserve()
            .await
            .map_err(|_| WalError::Closed)?;
        std::mem::forget(reserved);
        let (done, result) = oneshot::channel();
        permit.send(Command::Append { record, done });
        let lsn = result.await.map_err(|_| WalError::Closed)??;
        telemetry::wal_append_seconds(started.elapsed().as_secs_f64());
        Ok(lsn)
    }

    /// Records that `consumer` has made durable every record with an LSN below
    /// `durable_before`. Checkpoints never go backwards (a lower value is ignored). Segments
    /// every consumer has passed are deleted by the writer, which also persists the
    /// checkpoints (crash-safely, at least once a second, before a deletion, and at close).
    /// Does no I/O itself.
    pub fn checkpoint(&self, consumer: &str, durable_before: Lsn) -> Result<(), WalError> {
        let shared = &self.inner.shared;
        let end = shared.end.load(Ordering::Acquire);
        if durable_before > end {
            return Err(WalError::CheckpointAhead {
                consumer: consumer.to_owned(),
                lsn: durable_before,
                end,
            });
        }
        let moved = {
            let mut state = shared
                .checkpoints
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let moved = state
                .current
                .advance(consumer, durable_before)
                .ok_or_else(|| WalError::UnknownConsumer {
                    consumer: consumer.to_owned(),
                })?;
            state.dirty |= moved;
            moved
        };
        if moved {
            // If the queue is full the writer is busy and looks at checkpoints after its
            // batch anyway.
            let _ = self.inner.tx.try_send(Command::Wake);
        }
        Ok(())
    }

    /// The consumer's current checkpoint.
    pub fn checkpoint_of(&self, consumer: &str) -> Option<Lsn> {
        self.inner
            .shared
            .checkpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .get(consumer)
    }

    /// The LSN just past the last record written.
    pub fn end(&self) -> Lsn {
        self.inner.shared.end.load(Ordering::Acquire)
    }

    /// The WAL's counters.
    pub fn stats(&self) -> WalStats {
        let s = &self.inner.shared;
        WalStats {
            bytes: s.used.load(Ordering::Acquire),
            segments: s.segments.load(Ordering::Acquire),
            appended_records: s.appended.load(Ordering::Relaxed),
            writes: s.writes.load(Ordering::Relaxed),
            syncs: s.syncs.load(Ordering::Relaxed),
            full_refusals: s.full_refusals.load(Ordering::Relaxed),
            pending: s.pending.load(Ordering::Acquire),
        }
    }

    /// Waits until everything appended before is written, the checkpoints are persisted and
    /// the segments they free are deleted. Returns at once if the WAL is closed.
    pub async fn flush(&self) {
        let (done, finished) = oneshot::channel();
        if self.inner.tx.send(Command::Flush { done }).await.is_ok() {
            let _ = finished.await;
        }
    }

    /// Writes what was appended before, persists the checkpoints, stops the writer and
    /// releases the directory. Appends still running on other clones fail with
    /// [`WalError::Closed`]. Dropping every clone does the same, without waiting.
    pub async fn close(self) {
        let (done, finished) = oneshot::channel();
        if self.inner.tx.send(Command::Close { done }).await.is_ok() {
            let _ = finished.await;
        }
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }
}
