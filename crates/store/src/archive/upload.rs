//! Stages 3 and 4 of the archive: encode one file's rows on a background thread, then upload
//! it, retrying until it is written.
//!
//! Each failed attempt is classified ([`StoreError::class`]):
//! - **retryable** (network, timeouts, 5xx, 429, anything unrecognised): logged at warn level
//!   and retried with exponential backoff and jitter ([`Backoff`]); once the failures have
//!   gone on until the waits reach `max_backoff`, the exporter is marked degraded;
//! - **permanent** (rejected credentials, no permission, a missing bucket, bad
//!   configuration): logged at error level once per change of cause, with what to do, and
//!   the exporter is marked degraded in `/healthz` at once. It is still retried, every
//!   `max_backoff`, so an operator's fix resumes the uploads without a restart.
//!
//! Both count `tracegate_archive_upload_failures_total{error_type=...}`. The first success
//! after a problem logs it and marks the exporter recovered.
//!
//! The file's path is chosen once, so a retry after an ambiguous failure (the store wrote
//! the object but the answer was lost) overwrites the same object rather than duplicating
//! it; a multipart upload that fails is aborted before the retry, so no parts are left
//! behind.

use super::backoff::Backoff;
use super::durable::{Durable, Units};
use super::journal::Entry;
use super::retry::{blocking, retry};
use crate::destination::Destination;
use crate::encoder::{EncodedSpans, SpanEncoder};
use crate::error::{ErrorClass, StoreError};
use crate::layout::{self, LOGS_TABLE, Partition, SCORES_TABLE, SPANS_TABLE, TRACES_TABLE};
use crate::log_encoder::{EncodedLogs, LogEncoder};
use crate::score_encoder::{EncodedScores, ScoreEncoder};
use crate::trace_encoder::{EncodedTraces, TraceEncoder};
use crate::writer::{self, WriterOptions};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;
use tracegate_pipeline::health::Health;
use tracegate_pipeline::telemetry;
use ulid::Ulid;

/// Parts of one file uploaded at once.
const PART_CONCURRENCY: usize = 4;

/// The rows of one file, waiting to be encoded.
#[derive(Debug)]
pub(super) enum Rows {
    Spans(SpanEncoder),
    Traces(TraceEncoder),
    Logs(LogEncoder),
    Scores(ScoreEncoder),
}

impl Rows {
    pub(super) fn table(&self) -> &'static str {
        match self {
            Rows::Spans(_) => SPANS_TABLE,
            Rows::Traces(_) => TRACES_TABLE,
            Rows::Logs(_) => LOGS_TABLE,
            Rows::Scores(_) => SCORES_TABLE,
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Rows::Spans(e) => e.len(),
            Rows::Traces(e) => e.len(),
            Rows::Logs(e) => e.len(),
            Rows::Scores(e) => e.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn estimated_bytes(&self) -> usize {
        match self {
            Rows::Spans(e) => e.estimated_bytes(),
            Rows::Traces(e) => e.estimated_bytes(),
            Rows::Logs(e) => e.estimated_bytes(),
            Rows::Scores(e) => e.estimated_bytes(),
        }
    }

    /// Items the file holds, as the pipeline counts them: spans, or log records. A traces
    /// file describes spans but holds none; a scores file's rows are derived from records
    /// (or spans) counted by their own files.
    pub(super) fn spans(&self) -> usize {
        match self {
            Rows::Spans(e) => e.len(),
            Rows::Logs(e) => e.len(),
            Rows::Traces(_) | Rows::Scores(_) => 0,
        }
    }

    fn encode(self, options: &WriterOptions) -> Result<Bytes, StoreError> {
        match self {
            Rows::Spans(encoder) => {
                let EncodedSpans { batch, order } = encoder.finish()?;
                writer::write_spans(&batch, Some(&order), options)
            }
            Rows::Traces(encoder) => {
                let EncodedTraces { batch, order } = encoder.finish()?;
                writer::write_traces(&batch, Some(&order), options)
            }
            Rows::Logs(encoder) => {
                let EncodedLogs { batch, order } = encoder.finish()?;
                writer::write_logs(&batch, &order, options)
            }
            Rows::Scores(encoder) => {
                let EncodedScores { batch, order } = encoder.finish()?;
                writer::write_scores(&batch, &order, options)
            }
        }
    }
}

/// What the exporter shares with its upload tasks.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) name: String,
    pub(super) instance: String,
    pub(super) destination: Destination,
    pub(super) writer: WriterOptions,
    pub(super) initial_backoff: Duration,
    pub(super) max_backoff: Duration,
    /// Files larger than this are uploaded in parts of `part_size`.
    pub(super) multipart_threshold: usize,
    pub(super) part_size: usize,
    /// Mirror of the exporter's `buffered`, for the gauge.
    pub(super) buffered: AtomicUsize,
    /// Bytes of files cut but not yet uploaded.
    pub(super) in_flight: AtomicUsize,
    /// Spans in files cut but not yet uploaded.
    pub(super) pending_spans: AtomicUsize,
    /// Woken whenever `in_flight` shrinks.
    pub(super) freed: Notify,
    /// Encoding threads running at once: one per core at most.
    pub(super) encoders: Arc<tokio::sync::Semaphore>,
    /// Where degraded and recovered states are reported.
    pub(super) health: Health,
    /// The component's name in `/healthz`: `exporter/<name>`.
    pub(super) component: String,
    /// The problem currently reported, if any.
    pub(super) problem: Mutex<Option<ErrorClass>>,
    /// Seeds the jitter of each file's backoff: fixed in tests, random otherwise.
    pub(super) jitter_seed: Option<u64>,
    /// Files started, to vary a fixed seed per file.
    pub(super) files: AtomicU64,
    /// With the write-ahead log on: where durable spans are reported, and the journal.
    pub(super) durable: OnceLock<Durable>,
}

impl Shared {
    pub(super) fn report(&self) {
        let total = self.buffered.load(Ordering::Relaxed) + self.in_flight.load(Ordering::Relaxed);
        telemetry::archive_buffered_bytes(&self.name, total);
    }

    pub(super) fn backoff(&self) -> Backoff {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        let seed = match self.jitter_seed {
            Some(seed) => seed.wrapping_add(n),
            None => rand::random(),
        };
        Backoff::new(self.initial_backoff, self.max_backoff, seed)
    }

    fn with_problem<R>(&self, f: impl FnOnce(&mut Option<ErrorClass>) -> R) -> R {
        // Only ever set or taken whole: a panic elsewhere cannot leave it inconsistent.
        let mut guard = match self.problem.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Counts and reports a failed attempt that will be retried after `wait`.
    fn upload_failed(
        &self,
        path: &Path,
        attempt: u32,
        wait: Duration,
        error: &StoreError,
        class: ErrorClass,
        persistent: bool,
    ) {
        telemetry::archive_upload_failed(&self.name, class.label());
        telemetry::exporter_retry(&self.name);
        let name = self.name.as_str();
        let hint = class.hint().replace("<id>", name);
        let news = self.with_problem(|problem| {
            let report = if class.is_permanent() {
                *problem != Some(class)
            } else {
                // A retryable failure does not replace a permanent cause, and is news only
                // once it has lasted.
                persistent && problem.is_none()
            };
            if report {
                *problem = Some(class);
            }
            report
        });
        if news {
            let reason = format!("{}: {error}; {hint}", class.cause());
            tracing::error!(
                exporter = name,
                path = %path,
                error_type = class.label(),
                attempt,
                retry_in = ?wait,
                error = %error,
                "archive uploads are failing: {}; {hint}. Files are kept in memory and retried \
                 every retry.max_backoff; once max_buffer_bytes is held, receivers refuse new \
                 data with a retryable status",
                class.cause()
            );
            self.health.degraded(&self.component, reason);
        } else if class.is_permanent() {
            tracing::debug!(exporter = name, path = %path, attempt, retry_in = ?wait, error = %error, "archive upload failed again (permanent error already reported)");
        } else {
            tracing::warn!(
                exporter = name,
                path = %path,
                attempt,
                retry_in = ?wait,
                error = %error,
                "archive upload failed; the file is kept and will be retried"
            );
        }
    }

    /// Reports recovery after a problem.
    fn upload_succeeded(&self) {
        if let Some(was) = self.with_problem(Option::take) {
            tracing::info!(exporter = %self.name, was = was.cause(), "archive uploads succeed again");
            self.health.recovered(&self.component);
        }
    }
}

/// Bytes and spans of one file counted against the memory bound (and by `abandon`) until
/// the file is uploaded (or its task ends in any other way).
pub(super) struct Reservation {
    shared: Arc<Shared>,
    bytes: usize,
    spans: usize,
}

impl Reservation {
    pub(super) fn new(shared: Arc<Shared>, bytes: usize, spans: usize) -> Self {
        shared.in_flight.fetch_add(bytes, Ordering::AcqRel);
        shared.pending_spans.fetch_add(spans, Ordering::AcqRel);
        Self {
            shared,
            bytes,
            spans,
        }
    }

    /// Re-counts the file at `bytes`, as when Arrow buffers become a smaller Parquet file.
    fn resize(&mut self, bytes: usize) {
        if bytes >= self.bytes {
            self.shared
                .in_flight
                .fetch_add(bytes - self.bytes, Ordering::AcqRel);
        } else {
            self.shared
                .in_flight
                .fetch_sub(self.bytes - bytes, Ordering::AcqRel);
            self.shared.freed.notify_waiters();
        }
        self.bytes = bytes;
        self.shared.report();
    }

    /// The spans are written (or counted as failed): no longer pending.
    fn settle_spans(&mut self) {
        self.shared
            .pending_spans
            .fetch_sub(std::mem::take(&mut self.spans), Ordering::AcqRel);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.settle_spans();
        self.shared
            .in_flight
            .fetch_sub(self.bytes, Ordering::AcqRel);
        self.shared.freed.notify_waiters();
        self.shared.report();
    }
}

/// Encodes one file and uploads it, retrying until it is written; then each payload with
/// rows in it has one file fewer to wait for (`units`).
pub(super) async fn write_file(
    shared: Arc<Shared>,
    partition: Partition,
    rows: Rows,
    units: Units,
    mut reservation: Reservation,
) {
    let table = rows.table();
    let count = rows.len();
    let spans = rows.spans();
    let release = shared.durable.get().map(|d| &d.release);
    let bytes = match encode(&shared, rows).await {
        Ok(bytes) => bytes,
        Err(e) => {
            encode_failed(&shared, table, count, spans, &e);
            // Given up for good: the same rows would fail the same way after a replay.
            units.finish(release);
            return;
        }
    };
    reservation.resize(bytes.len());

    let id = Ulid::new();
    let path = layout::partition_file_path(
        shared.destination.prefix(),
        table,
        &partition,
        &shared.instance,
        id,
    );
    if let (Some(durable), Some(max_lsn)) = (shared.durable.get(), units.max_lsn()) {
        let entry = Entry {
            max_lsn,
            table,
            path: path.to_string(),
        };
        retry(&shared, "record an upload in the intent journal", || {
            let (journal, entry) = (durable.journal.clone(), entry.clone());
            async move {
                let dir = journal.dir().to_owned();
                blocking("append to", &dir, move || journal.append(entry)).await
            }
        })
        .await;
    }
    let mut backoff = shared.backoff();
    let mut attempt: u32 = 1;
    while let Err(e) = upload(&shared, &path, &bytes).await {
        let class = e.class();
        let wait = if class.is_permanent() {
            backoff.permanent()
        } else {
            backoff.retryable()
        };
        shared.upload_failed(&path, attempt, wait, &e, class, backoff.saturated());
        tokio::time::sleep(wait).await;
        attempt = attempt.saturating_add(1);
    }
    // Settled before the next await, so an abort from here on does not count them as lost.
    reservation.settle_spans();
    units.finish(release);
    shared.upload_succeeded();
    // A traces file counts as a file and its bytes; its spans are counted by their own file.
    telemetry::archive_file_written(&shared.name, bytes.len() as u64, spans);
    if spans > 0 {
        telemetry::exporter_sent(&shared.name, spans);
    }
    tracing::debug!(exporter = %shared.name, path = %path, table, rows = count, bytes = bytes.len(), attempt, "archive file written");
}

/// Encodes `rows` as Parquet on a thread of its own, at most one such thread per core.
async fn encode(shared: &Shared, rows: Rows) -> Result<Bytes, String> {
    let options = shared.writer;
    // The semaphore is never closed, so this waits for a permit and gets one.
    let Ok(permit) = Arc::clone(&shared.encoders).acquire_owned().await else {
        return Err("the encoder limit was closed".to_owned());
    };
    let (done, encoded) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("archive-encode".to_owned())
        .spawn(move || {
            background_priority();
            // The receiver is gone only when the exporter task was dropped.
            let _ = done.send(rows.encode(&options));
            drop(permit);
        })
        .map_err(|e| format!("could not start an encoding thread: {e}"))?;
    match encoded.await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the encoding thread stopped without a result".to_owned()),
    }
}

/// Lowers the calling thread's CPU priority (nice 10). Encoding a file is seconds of CPU
/// that nobody waits for; at normal priority it takes half a busy core from the receivers
/// for that long, and export calls queue behind it (on one core at 30K rag spans/s, p99
/// fell from 49–66 ms to 9–16 ms with this). At nice 10 the receivers get about 90% of a
/// contended core, and the encoder everything they leave; at saturation the buffer bound
/// (`max_buffer_bytes`) makes the receivers wait for it, so it is never starved.
pub(crate) fn background_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux a nice value belongs to the thread, which `gettid` names.
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), 10) {
            tracing::debug!(error = %e, "could not lower the archive encoder's priority");
        }
    }
}

fn encode_failed(
    shared: &Shared,
    table: &'static str,
    rows: usize,
    spans: usize,
    error: &dyn std::fmt::Display,
) {
    // Not retryable: the same rows would fail the same way.
    tracing::error!(exporter = %shared.name, table, rows, error = %error, "could not encode an archive file; its rows are dropped");
    if spans > 0 {
        telemetry::exporter_failed(&shared.name, "encode", spans);
    }
}

/// One upload attempt.
async fn upload(shared: &Shared, path: &Path, bytes: &Bytes) -> Result<(), StoreError> {
    let store = shared.destination.open().await?;
    let failed = |op: &'static str| {
        move |source: object_store::Error| StoreError::ObjectStore {
            op,
            path: path.to_string(),
            source,
        }
    };
    if bytes.len() <= shared.multipart_threshold {
        store
            .put(path, PutPayload::from(bytes.clone()))
            .await
            .map_err(failed("put"))?;
        return Ok(());
    }
    let mut upload = store
        .put_multipart(path)
        .await
        .map_err(failed("start a multipart upload of"))?;
    let part_size = shared.part_size.max(1);
    let parts: Vec<_> = (0..bytes.len())
        .step_by(part_size)
        .map(|start| {
            let end = (start + part_size).min(bytes.len());
            upload.put_part(PutPayload::from(bytes.slice(start..end)))
        })
        .collect();
    let sent = futures::stream::iter(parts)
        .buffer_unordered(PART_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .map_err(failed("upload a part of"));
    let done = match sent {
        Ok(_) => upload
            .complete()
            .await
            .map(|_| ())
            .map_err(failed("complete the multipart upload of")),
        Err(e) => Err(e),
    };
    if done.is_err() {
        // Best effort: S3 keeps the parts of an upload that is neither completed nor aborted.
        if let Err(e) = upload.abort().await {
            tracing::debug!(path = %path, error = %e, "could not abort a failed multipart upload");
        }
    }
    done
}

#[cfg(all(test, target_os = "linux"))]
mod priority_tests {
    use super::background_priority;

    #[test]
    fn the_encoder_thread_runs_at_nice_10_and_no_other_thread_does() {
        let own = || rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        let before = own().unwrap();
        let lowered = std::thread::spawn(move || {
            background_priority();
            own().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, 10.max(before));
        assert_eq!(own().unwrap(), before, "the caller's priority changed");
    }
}
