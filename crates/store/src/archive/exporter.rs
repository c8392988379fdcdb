//! The `archive` exporter's run loop, as a chain of named stages:
//!
//! 1. **buffer** ([`Exporter::export`]): spans are encoded straight into Arrow builders, one
//!    per UTC hour partition, reading the shared payload without cloning it. A payload of
//!    traces (from a pipeline with trace assembly) also adds one row per trace to the
//!    `traces` table, in the partition of the trace's start; fragments (late or over-cap
//!    spans) get a row too, with `fragment` set, so no archived span goes undescribed. A
//!    payload of spans writes no traces rows;
//! 2. **cut**: a partition's builders are handed off when the buffer reaches `flush_bytes`,
//!    when the partition's oldest row has waited `flush_age` ([`Exporter::tick`]), and at
//!    [`Exporter::shutdown`];
//! 3. **encode**: on a thread of its own at low CPU priority (at most one such thread per
//!    core), so it never delays the receivers, rows are sorted by (trace_id, start_time) and
//!    written as Parquet ([`crate::writer`]), one file per table a partition has rows of;
//! 4. **upload**: `put` for small files, a multipart upload for large ones, retried with
//!    exponential backoff until it succeeds. The file's path is chosen once, so a retry after
//!    an ambiguous failure overwrites the same object rather than duplicating it.
//!
//! Stages 3 and 4 run in background tasks, so export does not wait for the store. Memory is
//! bounded all the same: the bytes buffered plus the bytes of every file not yet uploaded, of
//! both tables, count against `max_buffer_bytes`, and export waits for room before it takes a
//! payload. `flush_bytes` and `flush_age` apply to a partition's spans and traces together.

use super::config::ArchiveConfig;
use crate::destination::Destination;
use crate::encoder::{EncodedSpans, SizeHint, SpanEncoder};
use crate::error::StoreError;
use crate::layout::{self, HourPartition, SPANS_TABLE, TRACES_TABLE};
use crate::trace_encoder::{EncodedTraces, TraceEncoder};
use crate::writer::{self, WriterOptions};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracegate_pipeline::telemetry;
use tracegate_pipeline::{
    BuildContext, ComponentId, ConfigError, ExportError, Exporter, ExporterFactory, Payload,
    parse_section,
};
use ulid::Ulid;

/// Files up to this size are uploaded with one `put`; larger ones in parts.
pub const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;
/// Size of each part of a multipart upload (S3 needs at least 5 MiB for all but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one file uploaded at once.
const PART_CONCURRENCY: usize = 4;

/// Builds `archive` exporters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArchiveExporterFactory;

impl ExporterFactory for ArchiveExporterFactory {
    fn type_name(&self) -> &'static str {
        "archive"
    }

    fn build(
        &self,
        id: &ComponentId,
        config: serde_yaml_ng::Value,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Exporter>, ConfigError> {
        let path = format!("exporters.{id}");
        let config: ArchiveConfig = parse_section(&path, config)?;
        let destination = config.destination(&path)?;
        Ok(Box::new(ArchiveExporter::new(
            id.as_str(),
            &config,
            destination,
            &ctx.instance,
        )))
    }
}

/// Writes spans as Parquet files of the `spans` table, and released traces as files of the
/// `traces` table, to an object store.
#[derive(Debug)]
pub struct ArchiveExporter {
    shared: Arc<Shared>,
    flush_bytes: usize,
    flush_age: Duration,
    max_buffer_bytes: usize,
    /// Open partitions, few at a time (the current hour, sometimes the previous one).
    partitions: Vec<Buffer>,
    /// Bytes held by `partitions`.
    buffered: usize,
    /// Encode-and-upload tasks.
    uploads: JoinSet<()>,
    /// Column sizes of the last spans file cut, to size the next one's buffers.
    size_hint: SizeHint,
}

#[derive(Debug)]
struct Buffer {
    partition: HourPartition,
    encoder: SpanEncoder,
    /// Rows of the `traces` table whose trace starts in `partition`.
    traces: TraceEncoder,
    /// When its first row arrived.
    since: Instant,
}

impl Buffer {
    fn estimated_bytes(&self) -> usize {
        self.encoder.estimated_bytes() + self.traces.estimated_bytes()
    }
}

/// The rows of one file, waiting to be encoded.
#[derive(Debug)]
enum Rows {
    Spans(SpanEncoder),
    Traces(TraceEncoder),
}

impl Rows {
    fn table(&self) -> &'static str {
        match self {
            Rows::Spans(_) => SPANS_TABLE,
            Rows::Traces(_) => TRACES_TABLE,
        }
    }

    fn len(&self) -> usize {
        match self {
            Rows::Spans(e) => e.len(),
            Rows::Traces(e) => e.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn estimated_bytes(&self) -> usize {
        match self {
            Rows::Spans(e) => e.estimated_bytes(),
            Rows::Traces(e) => e.estimated_bytes(),
        }
    }

    /// Spans the file holds: a traces file describes spans but holds none.
    fn spans(&self) -> usize {
        match self {
            Rows::Spans(e) => e.len(),
            Rows::Traces(_) => 0,
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
        }
    }
}

/// What the exporter shares with its upload tasks.
#[derive(Debug)]
struct Shared {
    name: String,
    instance: String,
    destination: Destination,
    writer: WriterOptions,
    initial_backoff: Duration,
    max_backoff: Duration,
    /// Files larger than this are uploaded in parts of `part_size`.
    multipart_threshold: usize,
    part_size: usize,
    /// Mirror of the exporter's `buffered`, for the gauge.
    buffered: AtomicUsize,
    /// Bytes of files cut but not yet uploaded.
    in_flight: AtomicUsize,
    /// Woken whenever `in_flight` shrinks.
    freed: Notify,
    /// Encoding threads running at once: one per core at most.
    encoders: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    fn report(&self) {
        let total = self.buffered.load(Ordering::Relaxed) + self.in_flight.load(Ordering::Relaxed);
        telemetry::archive_buffered_bytes(&self.name, total);
    }
}

/// Bytes of one file counted against the memory bound until the file is uploaded (or its
/// task ends in any other way).
struct Reservation {
    shared: Arc<Shared>,
    bytes: usize,
}

impl Reservation {
    fn new(shared: Arc<Shared>, bytes: usize) -> Self {
        shared.in_flight.fetch_add(bytes, Ordering::AcqRel);
        Self { shared, bytes }
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
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.shared
            .in_flight
            .fetch_sub(self.bytes, Ordering::AcqRel);
        self.shared.freed.notify_waiters();
        self.shared.report();
    }
}

impl ArchiveExporter {
    /// An exporter named `name` (its component id) writing to `destination`, with files named
    /// after `instance`. Does no I/O.
    pub fn new(
        name: &str,
        config: &ArchiveConfig,
        destination: Destination,
        instance: &str,
    ) -> Self {
        let shared = Shared {
            name: name.to_owned(),
            instance: instance.to_owned(),
            destination,
            writer: config.writer_options(),
            initial_backoff: config.retry.initial_backoff.get(),
            max_backoff: config
                .retry
                .max_backoff
                .get()
                .max(config.retry.initial_backoff.get()),
            multipart_threshold: MULTIPART_THRESHOLD,
            part_size: PART_SIZE,
            buffered: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            freed: Notify::new(),
            encoders: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, usize::from),
            )),
        };
        Self {
            shared: Arc::new(shared),
            flush_bytes: config.flush_bytes.as_usize().max(1),
            flush_age: config.flush_age.get(),
            max_buffer_bytes: config.max_buffer_bytes.as_usize().max(1),
            partitions: Vec::new(),
            buffered: 0,
            uploads: JoinSet::new(),
            size_hint: SizeHint::default(),
        }
    }

    /// Uploads files larger than `threshold` in parts of `part_size`, so tests can exercise
    /// multipart uploads with small files.
    #[cfg(test)]
    pub(crate) fn with_multipart(mut self, threshold: usize, part_size: usize) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.multipart_threshold = threshold;
            shared.part_size = part_size.max(1);
        }
        self
    }

    /// Waits for the files already cut, without cutting more.
    #[cfg(test)]
    pub(crate) async fn drain(&mut self) {
        while let Some(done) = self.uploads.join_next().await {
            log_task_end(&self.shared.name, done);
        }
    }

    /// Bytes of spans and traces rows buffered and not yet cut into a file.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Bytes buffered plus bytes of files waiting for upload.
    pub fn held_bytes(&self) -> usize {
        self.buffered + self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Files cut and not yet uploaded.
    pub fn pending_uploads(&self) -> usize {
        self.uploads.len()
    }

    /// Waits until the buffer and the pending uploads hold less than `max_buffer_bytes`.
    async fn wait_for_room(&mut self) {
        let shared = self.shared.clone();
        loop {
            let freed = shared.freed.notified();
            tokio::pin!(freed);
            // Register before checking, so a release between the check and the wait is seen.
            freed.as_mut().enable();
            let in_flight = self.shared.in_flight.load(Ordering::Acquire);
            if self.buffered + in_flight < self.max_buffer_bytes {
                return;
            }
            if in_flight == 0 {
                // Only the buffer is full: uploading it is the way to make room.
                self.cut_all();
                continue;
            }
            tracing::debug!(
                exporter = %self.shared.name,
                held_bytes = self.buffered + in_flight,
                "archive buffer full; waiting for uploads"
            );
            freed.await;
            self.reap();
        }
    }

    /// The buffer of `partition`, opened if needed.
    fn buffer_for(&mut self, partition: HourPartition) -> usize {
        match self
            .partitions
            .iter()
            .position(|b| b.partition == partition)
        {
            Some(i) => i,
            None => {
                self.partitions.push(Buffer {
                    partition,
                    encoder: SpanEncoder::with_size_hint(&self.size_hint),
                    traces: TraceEncoder::new(),
                    since: Instant::now(),
                });
                self.partitions.len() - 1
            }
        }
    }

    /// Hands the buffer at `index` to background tasks that encode and upload it, one file
    /// per table it has rows of.
    fn cut(&mut self, index: usize) {
        let buffer = self.partitions.swap_remove(index);
        self.buffered = self.buffered.saturating_sub(buffer.estimated_bytes());
        self.shared.buffered.store(self.buffered, Ordering::Relaxed);
        let Buffer {
            partition,
            mut encoder,
            traces,
            ..
        } = buffer;
        if !encoder.is_empty() {
            self.size_hint = encoder.size_hint();
        }
        self.spawn_file(partition, Rows::Spans(encoder));
        self.spawn_file(partition, Rows::Traces(traces));
    }

    fn spawn_file(&mut self, partition: HourPartition, rows: Rows) {
        if rows.is_empty() {
            return;
        }
        let bytes = rows.estimated_bytes();
        let reservation = Reservation::new(self.shared.clone(), bytes);
        tracing::debug!(
            exporter = %self.shared.name,
            table = rows.table(),
            %partition,
            rows = rows.len(),
            bytes,
            "cutting an archive file"
        );
        self.uploads.spawn(write_file(
            self.shared.clone(),
            partition,
            rows,
            reservation,
        ));
    }

    /// Adds a `traces` row for `trace` to the partition of its start; cuts the partition when
    /// it reaches `flush_bytes`.
    fn push_trace(&mut self, trace: &tracegate_model::Trace) {
        if trace.spans.is_empty() {
            return;
        }
        let partition = HourPartition::of_unix_nanos(trace.start_time_unix_nano());
        let index = self.buffer_for(partition);
        let buffer = &mut self.partitions[index];
        self.buffered += buffer.traces.push(trace);
        if buffer.estimated_bytes() >= self.flush_bytes {
            self.cut(index);
        }
    }

    fn cut_all(&mut self) {
        while !self.partitions.is_empty() {
            self.cut(self.partitions.len() - 1);
        }
    }

    /// Collects finished upload tasks.
    fn reap(&mut self) {
        while let Some(done) = self.uploads.try_join_next() {
            log_task_end(&self.shared.name, done);
        }
    }

    fn sync_buffered(&self) {
        self.shared.buffered.store(self.buffered, Ordering::Relaxed);
        self.shared.report();
    }
}

fn log_task_end(name: &str, done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(exporter = %name, error = %e, "archive upload task failed");
    }
}

#[async_trait]
impl Exporter for ArchiveExporter {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        self.reap();
        self.wait_for_room().await;
        let mut last: Option<(HourPartition, usize)> = None;
        for span in payload.spans() {
            let partition = HourPartition::of_unix_nanos(span.start_time_unix_nano);
            let index = match last {
                Some((p, i)) if p == partition => i,
                _ => self.buffer_for(partition),
            };
            let buffer = &mut self.partitions[index];
            let before = buffer.encoder.estimated_bytes();
            buffer.encoder.push(span);
            self.buffered += buffer.encoder.estimated_bytes() - before;
            if buffer.estimated_bytes() >= self.flush_bytes {
                self.cut(index);
                last = None;
            } else {
                last = Some((partition, index));
            }
        }
        if let Payload::Traces(traces) = &*payload {
            for trace in traces {
                self.push_trace(trace);
            }
        }
        if self.buffered >= self.flush_bytes {
            self.cut_all();
        }
        self.sync_buffered();
        Ok(())
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some((self.flush_age / 5).clamp(Duration::from_millis(10), Duration::from_secs(1)))
    }

    async fn tick(&mut self) -> Result<(), ExportError> {
        self.reap();
        let now = Instant::now();
        let mut i = 0;
        while i < self.partitions.len() {
            if now.duration_since(self.partitions[i].since) >= self.flush_age {
                // `cut` moves the last buffer into `i`; look at `i` again.
                self.cut(i);
            } else {
                i += 1;
            }
        }
        self.sync_buffered();
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), ExportError> {
        self.cut_all();
        self.sync_buffered();
        if !self.uploads.is_empty() {
            tracing::info!(
                exporter = %self.shared.name,
                files = self.uploads.len(),
                "archive: waiting for the last uploads"
            );
        }
        while let Some(done) = self.uploads.join_next().await {
            log_task_end(&self.shared.name, done);
        }
        Ok(())
    }
}

impl Drop for ArchiveExporter {
    fn drop(&mut self) {
        let spans: usize = self.partitions.iter().map(|b| b.encoder.len()).sum();
        let traces: usize = self.partitions.iter().map(|b| b.traces.len()).sum();
        if spans > 0 || traces > 0 || !self.uploads.is_empty() {
            tracing::error!(
                exporter = %self.shared.name,
                buffered_spans = spans,
                buffered_traces = traces,
                pending_files = self.uploads.len(),
                "archive exporter stopped before flushing; that data is lost"
            );
        }
    }
}

/// Encodes one file and uploads it, retrying until it is written.
async fn write_file(
    shared: Arc<Shared>,
    partition: HourPartition,
    rows: Rows,
    mut reservation: Reservation,
) {
    let table = rows.table();
    let count = rows.len();
    let spans = rows.spans();
    let options = shared.writer;
    // The semaphore is never closed, so this waits for a permit and gets one.
    let Ok(permit) = Arc::clone(&shared.encoders).acquire_owned().await else {
        let e = "the encoder limit was closed";
        return encode_failed(&shared, table, count, spans, &e);
    };
    let (done, encoded) = tokio::sync::oneshot::channel();
    let started = std::thread::Builder::new()
        .name("archive-encode".to_owned())
        .spawn(move || {
            background_priority();
            // The receiver is gone only when the exporter task was dropped.
            let _ = done.send(rows.encode(&options));
            drop(permit);
        });
    if let Err(e) = started {
        return encode_failed(&shared, table, count, spans, &e);
    }
    let bytes = match encoded.await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return encode_failed(&shared, table, count, spans, &e),
        Err(_) => {
            let e = "the encoding thread stopped without a result";
            return encode_failed(&shared, table, count, spans, &e);
        }
    };
    reservation.resize(bytes.len());

    let id = Ulid::new();
    let path = layout::file_path(
        shared.destination.prefix(),
        table,
        partition,
        &shared.instance,
        id,
    );
    let mut backoff = shared.initial_backoff;
    let mut attempt: u32 = 1;
    while let Err(e) = upload(&shared, &path, &bytes).await {
        telemetry::archive_upload_failed(&shared.name);
        telemetry::exporter_retry(&shared.name);
        tracing::warn!(
            exporter = %shared.name,
            path = %path,
            attempt,
            retry_in = ?backoff,
            error = %e,
            "archive upload failed; the file is kept and will be retried"
        );
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2).min(shared.max_backoff);
        attempt = attempt.saturating_add(1);
    }
    // A traces file counts as a file and its bytes; its spans are counted by their own file.
    telemetry::archive_file_written(&shared.name, bytes.len() as u64, spans);
    if spans > 0 {
        telemetry::exporter_sent(&shared.name, spans);
    }
    tracing::debug!(exporter = %shared.name, path = %path, table, rows = count, bytes = bytes.len(), attempt, "archive file written");
}

/// Lowers the calling thread's CPU priority (nice 10). Encoding a file is seconds of CPU
/// that nobody waits for; at normal priority it takes half a busy core from the receivers
/// for that long, and export calls queue behind it (on one core at 30K rag spans/s, p99
/// fell from 49–66 ms to 9–16 ms with this). At nice 10 the receivers get about 90% of a
/// contended core, and the encoder everything they leave; at saturation the buffer bound
/// (`max_buffer_bytes`) makes the receivers wait for it, so it is never starved.
fn background_priority() {
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
