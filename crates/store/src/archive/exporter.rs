//! The `archive` exporter's run loop, as a chain of named stages:
//!
//! 1. **buffer** ([`Exporter::export`]): spans are encoded straight into Arrow builders, one
//!    per UTC hour partition, reading the shared payload without cloning it. A payload of
//!    traces (from a pipeline with trace assembly) also adds one row per trace to the
//!    `traces` table, in the partition of the trace's start; fragments (late or over-cap
//!    spans) get a row too, with `fragment` set, so no archived span goes undescribed. A
//!    payload of spans writes no traces rows. With `sampled_only_spans` (the default), the
//!    spans of a trace the tail sampler did not keep are left out of the `spans` table; its
//!    traces row is written all the same, and holds the payload's unit, so those spans are
//!    released once it is uploaded. A payload of log records adds one `logs` row per record
//!    and a `scores` row per record carrying a score, in the partition of the record's time;
//!    a trace adds a `scores` row for each score its spans carried (`exporter/logs.rs`).
//!    A start time outside `past_window` /
//!    `future_window` of the arrival goes to the arrival's hour instead
//!    (`placement.rs`);
//! 2. **cut**: a partition's builders are handed off when the buffer reaches `flush_bytes`,
//!    when the partition's oldest row has waited `flush_age` ([`Exporter::tick`]), when a
//!    new partition would exceed `max_open_partitions` (the one waiting longest goes first),
//!    and at [`Exporter::shutdown`];
//! 3. **encode**: on a thread of its own at low CPU priority (at most one such thread per
//!    core), so it never delays the receivers, rows are sorted by (trace_id, start_time) and
//!    written as Parquet ([`crate::writer`]), one file per table a partition has rows of;
//! 4. **upload** (`upload.rs`): `put` for small files, a multipart upload for large
//!    ones, retried with exponential backoff and jitter until it succeeds; permanent errors
//!    are reported loudly and retried at the `max_backoff` cadence. The file's path is chosen
//!    once, so a retry after an ambiguous failure overwrites the same object rather than
//!    duplicating it.
//!
//! Stages 3 and 4 run in background tasks, so export does not wait for the store. Memory is
//! bounded all the same: the bytes buffered plus the bytes of every file not yet uploaded, of
//! both tables, count against `max_buffer_bytes`, and export waits for room before it takes a
//! payload. `flush_bytes` and `flush_age` apply to a partition's rows of all tables together.
//!
//! If the shutdown deadline passes first, [`Exporter::abandon`] drops the buffers and the
//! upload tasks and returns how many spans they held.
//!
//! With the write-ahead log on ([`Exporter::take_release`]), each upload is first recorded
//! in an intent journal, spans are reported durable once every file holding rows of their
//! payload is uploaded, and [`Exporter::start`] reads back what was uploaded before a crash
//! so the replay does not archive it twice (see the [module docs](super)).

use super::buffer::{Buffer, Clamped, spans_to_write};
use super::config::ArchiveConfig;
use super::durable::{DoneSets, Durable, MAX_DONE_IDS, Unit, Units};
use super::placement::{PlacementPolicy, unix_now};
use super::recovery;
use super::upload::{Reservation, Rows, Shared, write_file};
use crate::destination::Destination;
use crate::encoder::{SizeHint, SpanEncoder};
use crate::layout::{HourPartition, Partition};
use crate::log_encoder::LogEncoder;
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracegate_model::Signal;
use tracegate_model::{Span, Trace};
use tracegate_pipeline::durability::{OriginCounts, Release};
use tracegate_pipeline::telemetry;
use tracegate_pipeline::{
    BuildContext, ComponentId, ConfigError, ExportError, Exporter, ExporterFactory, Payload,
    parse_section,
};

mod logs;
mod run;
#[cfg(test)]
mod test_hooks;

/// Files up to this size are uploaded with one `put`; larger ones in parts.
pub const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;
/// Size of each part of a multipart upload (S3 needs at least 5 MiB for all but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

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
            ctx,
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
    max_open_partitions: usize,
    placement: PlacementPolicy,
    /// Leave the spans of unsampled traces out of the `spans` table.
    sampled_only_spans: bool,
    /// The wall clock in tests; `None` reads the system clock.
    fixed_now: Option<u64>,
    /// Open partitions, at most `max_open_partitions` (usually the current hour, sometimes
    /// the previous one).
    partitions: Vec<Buffer>,
    /// The most partitions open at once so far.
    peak_partitions: usize,
    /// Bytes held by `partitions`.
    buffered: usize,
    /// Encode-and-upload tasks.
    uploads: JoinSet<()>,
    /// Column sizes of the last spans file cut, to size the next one's buffers.
    size_hint: SizeHint,
    /// The same for the `logs` table's columns.
    log_size_hint: SizeHint,
    /// After a restart with the log on: ids the archive holds already, until every replayed
    /// span that could match went by.
    done: Option<DoneSets>,
    /// `service.multitenancy_enabled`: partitions are (tenant, hour), under `tenant={T}/`.
    multitenancy: bool,
    /// The lifecycle and compaction, started with the exporter.
    background: super::schedule::Background,
}

impl ArchiveExporter {
    /// An exporter named `name` (its component id) writing to `destination`, with files named
    /// after `ctx.instance`, reporting its health to `ctx.health`. Does no I/O.
    pub fn new(
        name: &str,
        config: &ArchiveConfig,
        destination: Destination,
        ctx: &BuildContext,
    ) -> Self {
        let shared = Shared {
            name: name.to_owned(),
            instance: ctx.instance.clone(),
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
            pending_spans: AtomicUsize::new(0),
            freed: Notify::new(),
            encoders: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, usize::from),
            )),
            health: ctx.health.clone(),
            component: format!("exporter/{name}"),
            problem: Mutex::new(None),
            jitter_seed: None,
            files: AtomicU64::new(0),
            durable: OnceLock::new(),
        };
        Self {
            shared: Arc::new(shared),
            flush_bytes: config.flush_bytes.as_usize().max(1),
            flush_age: config.flush_age.get(),
            max_buffer_bytes: config.max_buffer_bytes.as_usize().max(1),
            max_open_partitions: config.max_open_partitions.max(1),
            placement: PlacementPolicy::new(config.past_window.get(), config.future_window.get()),
            sampled_only_spans: config.sampled_only_spans,
            fixed_now: None,
            partitions: Vec::new(),
            peak_partitions: 0,
            buffered: 0,
            uploads: JoinSet::new(),
            size_hint: SizeHint::default(),
            log_size_hint: SizeHint::default(),
            done: None,
            multitenancy: ctx.multitenancy,
            background: super::schedule::Background::new(config),
        }
    }

    /// Bytes of rows (of every table) buffered and not yet cut into a file.
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

    /// Partitions buffered now.
    pub fn open_partitions(&self) -> usize {
        self.partitions.len()
    }

    /// The most partitions buffered at once so far (never more than `max_open_partitions`).
    pub fn peak_open_partitions(&self) -> usize {
        self.peak_partitions
    }

    fn now(&self) -> u64 {
        self.fixed_now.unwrap_or_else(unix_now)
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

    /// The partition of `hour` for data of `tenant` (a resource's tenant, `None` for the
    /// single tenant): with multi-tenancy the (tenant, hour) pair, else the hour alone.
    pub(super) fn partition(&self, tenant: Option<&Arc<str>>, hour: HourPartition) -> Partition {
        if !self.multitenancy {
            return Partition::new(None, hour);
        }
        let tenant = tenant
            .cloned()
            .unwrap_or_else(|| Arc::from(tracegate_model::DEFAULT_TENANT));
        Partition::new(Some(tenant), hour)
    }

    /// The buffer of `partition`, opened if needed. Opening one more than
    /// `max_open_partitions` (which counts (tenant, hour) pairs) first cuts the buffer that
    /// has waited longest.
    pub(super) fn buffer_for(&mut self, partition: Partition) -> usize {
        if let Some(i) = self
            .partitions
            .iter()
            .position(|b| b.partition == partition)
        {
            return i;
        }
        if self.partitions.len() >= self.max_open_partitions {
            let oldest = self
                .partitions
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| (b.since, &b.partition))
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                telemetry::archive_early_flush(&self.shared.name);
                self.cut(i);
            }
        }
        self.partitions.push(Buffer::new(
            partition,
            SpanEncoder::with_size_hint(&self.size_hint),
            LogEncoder::with_size_hint(&self.log_size_hint),
        ));
        self.peak_partitions = self.peak_partitions.max(self.partitions.len());
        self.partitions.len() - 1
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
            span_units,
            traces,
            trace_units,
            mut logs,
            log_units,
            scores,
            score_units,
            ..
        } = buffer;
        if !encoder.is_empty() {
            self.size_hint = encoder.size_hint();
        }
        if !logs.is_empty() {
            self.log_size_hint = logs.size_hint();
        }
        self.spawn_file(partition.clone(), Rows::Spans(encoder), span_units);
        self.spawn_file(partition.clone(), Rows::Traces(traces), trace_units);
        self.spawn_file(partition.clone(), Rows::Logs(logs), log_units);
        self.spawn_file(partition, Rows::Scores(scores), score_units);
    }

    fn spawn_file(&mut self, partition: Partition, rows: Rows, units: Units) {
        if rows.is_empty() {
            // A buffer takes a unit only with a row, so an empty one holds none.
            return;
        }
        let bytes = rows.estimated_bytes();
        let reservation = Reservation::new(self.shared.clone(), bytes, rows.spans());
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
            units,
            reservation,
        ));
    }

    /// Adds a `traces` row for `trace` to the partition of its start (or of `now`, when the
    /// start is outside the window); cuts the partition when it reaches `flush_bytes`.
    fn push_trace(&mut self, trace: &Trace, now: u64, unit: Option<&Arc<Unit>>) {
        if trace.spans.is_empty() {
            return;
        }
        let (hour, _) = self.placement.place(trace.start_time_unix_nano(), now);
        let index = self.buffer_for(self.partition(trace_tenant(trace), hour));
        let buffer = &mut self.partitions[index];
        self.buffered += buffer.traces.push(trace);
        buffer.trace_units.note(unit);
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

    /// Spans and log records buffered: what `abandon` reports lost.
    fn buffered_spans(&self) -> usize {
        self.partitions
            .iter()
            .map(|b| b.encoder.len() + b.logs.len())
            .sum()
    }

    /// Whether `span`, replayed from the log, is in a file uploaded before the restart.
    fn span_archived(&self, release: Option<&Release>, span: &Span) -> bool {
        let tenant = done_tenant(self.multitenancy, span.resource.tenant.as_ref());
        (self.done.as_ref().zip(release)).is_some_and(|(d, r)| d.skips_span(r, tenant, span))
    }

    /// The end of `export`: cuts everything once the buffer is over `flush_bytes`, and ends
    /// the export call's own hold on `unit`.
    fn export_done(
        &mut self,
        unit: Option<Arc<Unit>>,
        release: Option<&Release>,
    ) -> Result<(), ExportError> {
        if self.buffered >= self.flush_bytes {
            self.cut_all();
        }
        self.sync_buffered();
        if let (Some(unit), Some(release)) = (unit, release) {
            unit.finish(release);
        }
        Ok(())
    }

    /// Whether `trace`, replayed from the log, has a traces row uploaded before the restart.
    fn trace_archived(&self, release: Option<&Release>, trace: &Trace) -> bool {
        let tenant = done_tenant(self.multitenancy, trace_tenant(trace));
        (self.done.as_ref().zip(release)).is_some_and(|(d, r)| d.skips_trace(r, tenant, trace))
    }
}

/// The tenant of data of `tenant` (a resource's) in the done-sets: the same as recovery
/// derives from a file's `tenant=` level (`None` without multi-tenancy).
pub(super) fn done_tenant(multitenancy: bool, tenant: Option<&Arc<str>>) -> Option<&str> {
    multitenancy.then(|| tenant.map_or(tracegate_model::DEFAULT_TENANT, |t| &**t))
}

/// Whether data of `tenant` belongs with `partition`'s tenant.
fn same_tenant(multitenancy: bool, partition: &Partition, tenant: Option<&Arc<str>>) -> bool {
    !multitenancy
        || partition.tenant.as_deref()
            == Some(tenant.map_or(tracegate_model::DEFAULT_TENANT, |t| &**t))
}

/// The tenant of a trace: its spans' (assembly keeps tenants apart, so they share one).
pub(super) fn trace_tenant(trace: &Trace) -> Option<&Arc<str>> {
    trace.spans.first().and_then(|s| s.resource.tenant.as_ref())
}

fn log_task_end(name: &str, done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(exporter = %name, error = %e, "archive upload task failed");
    }
}

impl Drop for ArchiveExporter {
    fn drop(&mut self) {
        let spans = self.buffered_spans();
        let rows: usize = self
            .partitions
            .iter()
            .map(|b| b.traces.len() + b.scores.len())
            .sum();
        if spans > 0 || rows > 0 || !self.uploads.is_empty() {
            tracing::error!(
                exporter = %self.shared.name,
                buffered_spans_and_log_records = spans,
                buffered_trace_and_score_rows = rows,
                pending_files = self.uploads.len(),
                "archive exporter stopped before flushing; that data is lost"
            );
        }
    }
}
