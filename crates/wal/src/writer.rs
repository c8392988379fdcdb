//! The writer thread: group commit, segment rotation, checkpoint persistence and segment
//! deletion. It is the only code that writes segment files, so none of it needs a lock.
//!
//! Each turn of its loop takes every append waiting in the queue (up to [`BATCH_BYTES`]),
//! encodes them into one buffer, writes it with one `write`, syncs once in `host` mode, and
//! only then completes the appends. A batch that crosses a segment boundary is written (and
//! synced) once per segment.

use crate::batch::Batch;
use crate::checkpoint::Checkpoints;
use crate::record::{self, encoded_len};
use crate::segment;
use crate::{Lsn, SyncMode, WalError};
use bytes::Bytes;
use std::collections::VecDeque;
use std::fs::File;
use std::io::Seek;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracegate_pipeline::telemetry;

/// The most bytes one group commit gathers before writing; the buffer it encodes into is
/// kept at most this big between batches.
pub const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// How often dirty checkpoints are persisted while the WAL runs (also whenever a segment is
/// about to be deleted, and at close). A crash loses at most this much progress, which only
/// means replaying more.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// A message to the writer.
#[derive(Debug)]
pub(crate) enum Command {
    /// Write this record and report its LSN.
    Append {
        record: Bytes,
        done: oneshot::Sender<Result<Lsn, WalError>>,
    },
    /// Checkpoints moved: persist them and delete what they free.
    Wake,
    /// Report once everything before is written, checkpoints are persisted and the
    /// segments they free are deleted.
    Flush { done: oneshot::Sender<()> },
    /// Flush, persist checkpoints, release the directory and report.
    Close { done: oneshot::Sender<()> },
}

/// State shared by the [`Wal`](crate::Wal) handles and the writer.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub sync: SyncMode,
    pub max_bytes: u64,
    /// Bytes of segment files plus appends accepted but not yet written.
    pub used: AtomicU64,
    /// The LSN just past the last record written.
    pub end: AtomicU64,
    pub segments: AtomicU64,
    /// Appends accepted and not yet completed.
    pub pending: AtomicU64,
    pub appended: AtomicU64,
    pub writes: AtomicU64,
    pub syncs: AtomicU64,
    pub full_refusals: AtomicU64,
    pub checkpoints: Mutex<CheckpointState>,
    pub failed: AtomicBool,
    pub failure: Mutex<Option<String>>,
    /// Held by tests to stop the writer between taking its first command and draining the
    /// queue, so a group commit can be observed without timing.
    #[cfg(test)]
    pub gate: Mutex<()>,
    /// Set by tests: the next write (or, in `host` mode, sync) fails as a full disk would.
    #[cfg(test)]
    pub inject: Mutex<Option<Injected>>,
}

/// A failure tests inject into the writer's next batch.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    /// `write` fails after writing half the batch.
    Write,
    /// `fdatasync` fails after the write.
    Sync,
}

/// The checkpoints and whether they changed since they were last persisted.
#[derive(Debug)]
pub(crate) struct CheckpointState {
    pub current: Checkpoints,
    pub dirty: bool,
}

impl Shared {
    pub fn failure(&self) -> Option<WalError> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        let reason = self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        Some(WalError::Failed { reason })
    }

    fn fail(&self, error: &WalError) {
        tracing::error!(%error, "WAL writer stopped; appends fail until the gateway restarts");
        let mut f = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        f.get_or_insert_with(|| error.to_string());
        self.failed.store(true, Ordering::Release);
    }

    fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    fn publish_size(&self) {
        telemetry::wal_size(
            self.used.load(Ordering::Acquire),
            self.segments.load(Ordering::Acquire) as usize,
        );
    }
}

/// A segment the writer knows of: its base LSN and its length on disk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seg {
    pub base: Lsn,
    pub len: u64,
}

impl Seg {
    fn end(&self) -> Lsn {
        self.base.saturating_add(self.len)
    }
}

struct Waiting {
    done: oneshot::Sender<Result<Lsn, WalError>>,
    lsn: Lsn,
}

/// The writer thread's state.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Command>,
    segment_bytes: u64,
    /// Oldest first; the last is the one appended to. Never empty.
    segments: VecDeque<Seg>,
    file: File,
    _lock: File,
    /// The batch being written: each record's header and its payload, written together with
    /// one vectored write (the payloads are not copied).
    batch: Batch,
    waiting: Vec<Waiting>,
    last_persist: Instant,
    /// Only for a timed wait on the queue while checkpoints are waiting to be persisted.
    /// Built on the writer thread (a runtime must not be dropped on an async one); without
    /// it, checkpoints are persisted at the next command instead.
    timer: Option<tokio::runtime::Runtime>,
}

impl Writer {
    /// A writer appending to `file`, the last of `segments`.
    pub fn new(
        shared: Arc<Shared>,
        rx: mpsc::Receiver<Command>,
        segment_bytes: u64,
        segments: VecDeque<Seg>,
        file: File,
        lock: File,
    ) -> Self {
        Self {
            shared,
            rx,
            segment_bytes,
            segments,
            file,
            _lock: lock,
            batch: Batch::default(),
            waiting: Vec::new(),
            last_persist: Instant::now(),
            timer: None,
        }
    }

    /// Runs until every handle is dropped or `close` is called.
    pub fn run(mut self) {
        match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(timer) => self.timer = Some(timer),
            Err(error) => {
                tracing::warn!(%error, "WAL writer has no timer; checkpoints are persisted at the next append or checkpoint");
            }
        }
        self.housekeep(false);
        let mut batch: Vec<(Bytes, oneshot::Sender<Result<Lsn, WalError>>)> = Vec::new();
        let mut close = None;
        let mut flushed: Vec<oneshot::Sender<()>> = Vec::new();
        while let Some(first) = self.next_command() {
            #[cfg(test)]
            let shared = Arc::clone(&self.shared);
            #[cfg(test)]
            let _gate = shared.gate.lock().unwrap_or_else(PoisonError::into_inner);
            let mut bytes = 0usize;
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Append { record, done } => {
                        bytes += record::HEADER_BYTES + record.len();
                        batch.push((record, done));
                    }
                    Command::Wake => {}
                    Command::Flush { done } => flushed.push(done),
                    Command::Close { done } => {
                        close = Some(done);
                        break;
                    }
                }
                if bytes < BATCH_BYTES {
                    next = self.rx.try_recv().ok();
                }
            }
            self.write_batch(&mut batch);
            if close.is_some() {
                break;
            }
            self.housekeep(!flushed.is_empty());
            for done in flushed.drain(..) {
                let _ = done.send(());
            }
        }
        // Appends queued behind a close are refused; nothing after the close is written.
        self.rx.close();
        while let Ok(command) = self.rx.try_recv() {
            match command {
                Command::Append { record, done } => {
                    self.shared.release(encoded_len(record.len()));
                    self.shared.pending.fetch_sub(1, Ordering::AcqRel);
                    let _ = done.send(Err(WalError::Closed));
                }
                Command::Wake => {}
                Command::Flush { done } | Command::Close { done } => flushed.push(done),
            }
        }
        self.housekeep(true);
        drop(self);
        for done in close.into_iter().chain(flushed) {
            let _ = done.send(());
        }
    }

    /// The next command. While moved checkpoints wait to be persisted, waits at most until
    /// they are due, persists them, and waits again: the last checkpoint of a burst reaches
    /// the disk within [`CHECKPOINT_EVERY`] even if nothing else happens.
    fn next_command(&mut self) -> Option<Command> {
        loop {
            let dirty = self
                .shared
                .checkpoints
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .dirty;
            let Some(timer) = self.timer.as_ref().filter(|_| dirty) else {
                return self.rx.blocking_recv();
            };
            let wait = CHECKPOINT_EVERY.saturating_sub(self.last_persist.elapsed());
            let rx = &mut self.rx;
            // The timeout is made inside the timer's runtime: it needs its time driver.
            match timer.block_on(async move { tokio::time::timeout(wait, rx.recv()).await }) {
                Ok(command) => return command,
                Err(_) => self.housekeep(false),
            }
        }
    }

    /// Encodes and writes `batch`, rotating segments as they fill.
    fn write_batch(&mut self, batch: &mut Vec<(Bytes, oneshot::Sender<Result<Lsn, WalError>>)>) {
        for (record, done) in batch.drain(..) {
            let size = encoded_len(record.len());
            if let Some(error) = self.shared.failure() {
                self.shared.release(size);
                self.shared.pending.fetch_sub(1, Ordering::AcqRel);
                let _ = done.send(Err(error));
                continue;
            }
            let active = self.active();
            let filled = active.len + self.batch.len;
            if filled > 0 && filled + size > self.segment_bytes {
                self.flush();
                self.rotate();
            }
            let active = self.active();
            let lsn = active.end() + self.batch.len;
            self.batch.push(record::header(lsn, &record), record);
            self.waiting.push(Waiting { done, lsn });
        }
        self.flush();
    }

    fn active(&self) -> Seg {
        // `segments` is never empty: open creates one and rotation pushes before it pops.
        self.segments
            .back()
            .copied()
            .unwrap_or(Seg { base: 0, len: 0 })
    }

    fn active_path(&self) -> PathBuf {
        self.shared.dir.join(segment::file_name(self.active().base))
    }

    /// Writes the buffer to the active segment, syncs it in `host` mode, and completes the
    /// appends in it.
    fn flush(&mut self) {
        if self.batch.len == 0 {
            return;
        }
        let written = self.batch.len;
        let result = self.write_and_sync();
        let records = self.waiting.len();
        match result {
            Ok(()) => {
                if let Some(active) = self.segments.back_mut() {
                    active.len += written;
                    self.shared.end.store(active.end(), Ordering::Release);
                }
                self.shared.writes.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .appended
                    .fetch_add(records as u64, Ordering::Relaxed);
                telemetry::wal_write(records);
                self.shared
                    .pending
                    .fetch_sub(records as u64, Ordering::AcqRel);
                for w in self.waiting.drain(..) {
                    let _ = w.done.send(Ok(w.lsn));
                }
            }
            Err(error) => {
                self.shared.release(written);
                self.shared
                    .pending
                    .fetch_sub(records as u64, Ordering::AcqRel);
                for w in self.waiting.drain(..) {
                    let _ = w.done.send(Err(clone_error(&error)));
                }
            }
        }
        self.batch.clear();
        self.shared.publish_size();
    }

    fn write_and_sync(&mut self) -> Result<(), WalError> {
        let path = self.active_path();
        #[cfg(test)]
        let injected = self
            .shared
            .inject
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        #[cfg(test)]
        let written = if injected == Some(Injected::Write) {
            // Part of the batch reaches the file, then the disk is full.
            self.batch
                .write_first_header(&mut self.file)
                .and_then(|()| Err(std::io::Error::from_raw_os_error(28)))
        } else {
            self.batch.write_to(&mut self.file)
        };
        #[cfg(not(test))]
        let written = self.batch.write_to(&mut self.file);
        if let Err(e) = written {
            let error = WalError::io("write segment", &path, e);
            // Cut the partial write off so the next batch continues cleanly after the last
            // record that was acknowledged, and write from there (a file opened for writing,
            // not appending, keeps its cursor past the cut); if even that fails, stop.
            let len = self.active().len;
            if let Err(e) = self
                .file
                .set_len(len)
                .and_then(|()| self.file.seek(std::io::SeekFrom::Start(len)).map(|_| ()))
            {
                self.shared.fail(&WalError::io(
                    "truncate a failed write of segment",
                    &path,
                    e,
                ));
            }
            return Err(error);
        }
        if self.shared.sync == SyncMode::Host {
            let started = Instant::now();
            #[cfg(test)]
            let synced = if injected == Some(Injected::Sync) {
                Err(std::io::Error::from_raw_os_error(5))
            } else {
                self.file.sync_data()
            };
            #[cfg(not(test))]
            let synced = self.file.sync_data();
            if let Err(e) = synced {
                // After a failed fsync the kernel may have dropped the dirty pages: nothing
                // written since the last good sync can be trusted. Stop; restart recovers.
                let error = WalError::io("sync segment", &path, e);
                self.shared.fail(&error);
                return Err(error);
            }
            self.shared.syncs.fetch_add(1, Ordering::Relaxed);
            telemetry::wal_sync_seconds(started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// Starts a new segment at the end of the log. If that fails, the current segment goes on
    /// growing and the next batch tries again.
    fn rotate(&mut self) {
        let base = self.active().end();
        let dir = self.shared.dir.clone();
        let created = segment::create(&dir, base).and_then(|file| {
            segment::preallocate(&file, self.segment_bytes);
            if self.shared.sync == SyncMode::Host {
                segment::sync_dir(&dir)?;
            }
            Ok(file)
        });
        match created {
            Ok(file) => {
                self.file = file;
                self.segments.push_back(Seg { base, len: 0 });
                self.shared.segments.fetch_add(1, Ordering::AcqRel);
            }
            Err(error) => {
                tracing::warn!(%error, "WAL could not start a new segment; the current one grows");
            }
        }
    }

    /// Persists moved checkpoints (every [`CHECKPOINT_EVERY`], before a deletion, and when
    /// `force`d) and deletes the segments every consumer has passed.
    fn housekeep(&mut self, force: bool) {
        let (min, dirty) = {
            let state = self
                .shared
                .checkpoints
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            (state.current.min().unwrap_or(0), state.dirty)
        };
        let active = self.active();
        let deletable = self.segments.front().is_some_and(|s| s.end() <= min)
            && (self.segments.len() > 1 || active.len > 0);
        if dirty && (force || deletable || self.last_persist.elapsed() >= CHECKPOINT_EVERY) {
            let snapshot = {
                let mut state = self
                    .shared
                    .checkpoints
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                state.dirty = false;
                state.current.clone()
            };
            self.last_persist = Instant::now();
            let sync = self.shared.sync == SyncMode::Host;
            if let Err(error) = snapshot.store(&self.shared.dir, sync) {
                tracing::warn!(%error, "WAL could not persist checkpoints; will retry");
                if let Ok(mut state) = self.shared.checkpoints.lock() {
                    state.dirty = true;
                }
                return;
            }
        }
        if !deletable {
            return;
        }
        if self.segments.len() == 1 {
            // Everything in the active segment is durable everywhere: start a fresh one so
            // this one can go.
            self.rotate();
        }
        while self.segments.len() > 1 {
            let Some(front) = self.segments.front().copied() else {
                break;
            };
            if front.end() > min {
                break;
            }
            let path = self.shared.dir.join(segment::file_name(front.base));
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %WalError::io("delete segment", &path, e), "WAL keeps the segment; will retry");
                break;
            }
            self.segments.pop_front();
            self.shared.release(front.len);
            self.shared.segments.fetch_sub(1, Ordering::AcqRel);
        }
        if self.shared.sync == SyncMode::Host
            && let Err(error) = segment::sync_dir(&self.shared.dir)
        {
            tracing::warn!(%error, "WAL could not sync its directory after deleting segments");
        }
        self.shared.publish_size();
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("segments", &self.segments)
            .finish_non_exhaustive()
    }
}

/// One error for each waiting append: the I/O source is carried as text after the first.
fn clone_error(error: &WalError) -> WalError {
    match error {
        WalError::Io { what, path, source } => WalError::Io {
            what,
            path: path.clone(),
            source: Box::new(std::io::Error::other(source.to_string())),
        },
        WalError::Failed { reason } => WalError::Failed {
            reason: reason.clone(),
        },
        other => WalError::Failed {
            reason: other.to_string(),
        },
    }
}
