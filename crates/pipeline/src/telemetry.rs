//! Internal telemetry: every metric name tracegate exposes, in one place, and one small
//! function per event that records it.
//!
//! Names follow `tracegate_<component>_<name>_<unit>[_total]`. Label keys are fixed:
//! `receiver`, `processor`, `exporter`, `transport`, `reason`, `error_type`, `stage`,
//! `component`.

use metrics::{counter, gauge, histogram};

mod queues;
mod receiver_logs;
mod sampling;
mod tenants;
mod wal;

pub use queues::*;
pub use receiver_logs::*;
pub use sampling::*;
pub use tenants::*;
pub use wal::*;

/// Metric names.
pub mod names {
    #![allow(missing_docs)]
    pub const RECEIVER_ACCEPTED_SPANS: &str = "tracegate_receiver_accepted_spans_total";
    pub const RECEIVER_REFUSED_SPANS: &str = "tracegate_receiver_refused_spans_total";
    pub const RECEIVER_REQUESTS: &str = "tracegate_receiver_requests_total";
    pub const RECEIVER_ACCEPTED_LOG_RECORDS: &str = "tracegate_receiver_accepted_log_records_total";
    pub const RECEIVER_REFUSED_LOG_RECORDS: &str = "tracegate_receiver_refused_log_records_total";
    pub const TENANT_LABELS_OVERFLOW: &str = "tracegate_telemetry_tenant_labels_overflow_total";
    pub const PROCESSOR_INCOMING_SPANS: &str = "tracegate_processor_incoming_spans_total";
    pub const PROCESSOR_OUTGOING_SPANS: &str = "tracegate_processor_outgoing_spans_total";
    pub const PROCESSOR_DURATION: &str = "tracegate_processor_duration_seconds";
    pub const EXPORTER_SENT_SPANS: &str = "tracegate_exporter_sent_spans_total";
    pub const EXPORTER_FAILED_SPANS: &str = "tracegate_exporter_failed_spans_total";
    pub const EXPORTER_RETRIES: &str = "tracegate_exporter_retries_total";
    pub const EXPORTER_UNSAMPLED_SPANS: &str = "tracegate_exporter_unsampled_spans_total";
    pub const QUEUE_DEPTH: &str = "tracegate_queue_depth";
    pub const QUEUE_CAPACITY: &str = "tracegate_queue_capacity";
    pub const ARCHIVE_FILES_WRITTEN: &str = "tracegate_archive_files_written_total";
    pub const ARCHIVE_BYTES_WRITTEN: &str = "tracegate_archive_bytes_written_total";
    pub const ARCHIVE_SPANS_WRITTEN: &str = "tracegate_archive_spans_written_total";
    pub const ARCHIVE_BUFFERED_BYTES: &str = "tracegate_archive_buffered_bytes";
    pub const ARCHIVE_UPLOAD_FAILURES: &str = "tracegate_archive_upload_failures_total";
    pub const ASSEMBLY_TRACES_HELD: &str = "tracegate_assembly_traces_held";
    pub const ASSEMBLY_SPANS_HELD: &str = "tracegate_assembly_spans_held";
    pub const ASSEMBLY_BYTES_HELD: &str = "tracegate_assembly_bytes_held";
    pub const ASSEMBLY_RELEASED_TRACES: &str = "tracegate_assembly_released_traces_total";
    pub const ASSEMBLY_LATE_SPANS: &str = "tracegate_assembly_late_spans_total";
    pub const ASSEMBLY_OVER_CAP_SPANS: &str = "tracegate_assembly_over_cap_spans_total";
    pub const ASSEMBLY_EVICTIONS: &str = "tracegate_assembly_evictions_total";
    pub const GENAI_COST_UNKNOWN_MODEL: &str = "tracegate_genai_cost_unknown_model_total";
    pub const REDACTION_REDACTED_VALUES: &str = "tracegate_redaction_redacted_values_total";
    pub const REDACTION_DROPPED_ATTRIBUTES: &str = "tracegate_redaction_dropped_attributes_total";
    pub const REDACTION_TRUNCATED_VALUES: &str = "tracegate_redaction_truncated_values_total";
    // Receivers: memory and connection bounds
    pub const RECEIVER_IN_FLIGHT_BYTES: &str = "tracegate_receiver_in_flight_bytes";
    pub const RECEIVER_CONNECTIONS: &str = "tracegate_receiver_connections";

    // Pipeline runtime: byte-weighted queues, shutdown deadline, task supervision.
    pub const QUEUE_BYTES: &str = "tracegate_queue_bytes";
    pub const QUEUE_CAPACITY_BYTES: &str = "tracegate_queue_capacity_bytes";
    pub const SHUTDOWN_UNFLUSHED_SPANS: &str = "tracegate_shutdown_unflushed_spans_total";
    pub const COMPONENT_FAILURES: &str = "tracegate_component_failures_total";
    pub const PIPELINE_DROPPED_SPANS: &str = "tracegate_pipeline_dropped_spans_total";

    // Archive: error classes and partition bounds
    pub const ARCHIVE_CLAMPED_SPANS: &str = "tracegate_archive_clamped_spans_total";
    pub const ARCHIVE_EARLY_FLUSHES: &str = "tracegate_archive_early_flushes_total";
    pub const ARCHIVE_REPLAY_SKIPPED_SPANS: &str = "tracegate_archive_replay_skipped_spans_total";
    pub const ARCHIVE_DEDUPE_OVERFLOW: &str = "tracegate_archive_dedupe_overflow_ids_total";

    // WAL
    pub const WAL_BYTES: &str = "tracegate_wal_bytes";
    pub const WAL_SEGMENTS: &str = "tracegate_wal_segments";
    pub const WAL_APPEND_SECONDS: &str = "tracegate_wal_append_seconds";
    pub const WAL_SYNC_SECONDS: &str = "tracegate_wal_sync_seconds";
    pub const WAL_APPENDED_RECORDS: &str = "tracegate_wal_appended_records_total";
    pub const WAL_WRITES: &str = "tracegate_wal_writes_total";
    pub const WAL_REPLAYED_RECORDS: &str = "tracegate_wal_replayed_records_total";
    pub const WAL_CORRUPT_RECORDS: &str = "tracegate_wal_corrupt_records_total";
    pub const WAL_FULL_REFUSALS: &str = "tracegate_wal_full_refusals_total";
    pub const WAL_REPLAYED_SPANS: &str = "tracegate_wal_replayed_spans_total";
    pub const WAL_REPLAY_SKIPPED: &str = "tracegate_wal_replay_skipped_records_total";
    pub const WAL_OUTSTANDING_SPANS: &str = "tracegate_wal_outstanding_spans";

    // Exporters' sending queues on disk
    pub const EXPORTER_QUEUE_BYTES: &str = "tracegate_exporter_queue_bytes";
    pub const EXPORTER_QUEUE_BATCHES: &str = "tracegate_exporter_queue_batches";
    pub const EXPORTER_QUEUE_CORRUPT_RECORDS: &str =
        "tracegate_exporter_queue_corrupt_records_total";
}

/// Registers descriptions so `/metrics` explains itself.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    use names::*;
    describe_counter!(
        RECEIVER_ACCEPTED_SPANS,
        Unit::Count,
        "Spans accepted into a pipeline."
    );
    describe_counter!(
        RECEIVER_REFUSED_SPANS,
        Unit::Count,
        "Spans refused, by reason."
    );
    describe_counter!(
        RECEIVER_REQUESTS,
        Unit::Count,
        "Export requests, by transport, signal and outcome."
    );
    describe_counter!(
        PROCESSOR_INCOMING_SPANS,
        Unit::Count,
        "Spans into a processor."
    );
    describe_counter!(
        PROCESSOR_OUTGOING_SPANS,
        Unit::Count,
        "Spans out of a processor."
    );
    describe_histogram!(
        PROCESSOR_DURATION,
        Unit::Seconds,
        "Time a processor spent per call."
    );
    describe_counter!(
        EXPORTER_SENT_SPANS,
        Unit::Count,
        "Spans an exporter delivered."
    );
    describe_counter!(
        EXPORTER_FAILED_SPANS,
        Unit::Count,
        "Spans an exporter gave up on, by error_type."
    );
    describe_counter!(EXPORTER_RETRIES, Unit::Count, "Retried export attempts.");
    describe_counter!(
        EXPORTER_UNSAMPLED_SPANS,
        Unit::Count,
        "Spans of traces the tail sampler did not keep, left out by an exporter that takes only sampled traces."
    );
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Items waiting in a bounded queue, by stage."
    );
    describe_gauge!(
        QUEUE_CAPACITY,
        Unit::Count,
        "Capacity of a bounded queue, by stage."
    );
    describe_counter!(
        ARCHIVE_FILES_WRITTEN,
        Unit::Count,
        "Parquet files uploaded to the archive."
    );
    describe_counter!(
        ARCHIVE_BYTES_WRITTEN,
        Unit::Bytes,
        "Parquet bytes uploaded to the archive."
    );
    describe_counter!(
        ARCHIVE_SPANS_WRITTEN,
        Unit::Count,
        "Spans written to the archive."
    );
    describe_gauge!(
        ARCHIVE_BUFFERED_BYTES,
        Unit::Bytes,
        "Bytes buffered in the archive exporter."
    );
    describe_counter!(
        ARCHIVE_UPLOAD_FAILURES,
        Unit::Count,
        "Failed archive upload attempts, by error_type (permanent, retryable)."
    );

    // Archive: error classes and partition bounds
    describe_counter!(
        ARCHIVE_CLAMPED_SPANS,
        Unit::Count,
        "Spans archived in the partition of their arrival because their start time was \
         outside the window, by reason (too_old, too_new)."
    );
    describe_counter!(
        ARCHIVE_EARLY_FLUSHES,
        Unit::Count,
        "Archive partitions cut early because max_open_partitions were open."
    );
    describe_counter!(
        ARCHIVE_REPLAY_SKIPPED_SPANS,
        Unit::Count,
        "Replayed spans the archive skipped because a file uploaded before the restart holds them."
    );
    describe_counter!(
        ARCHIVE_DEDUPE_OVERFLOW,
        Unit::Count,
        "Archived ids the archive's recovery could not remember (bound reached): they may be archived twice."
    );
    // Receivers: memory and connection bounds
    describe_gauge!(
        RECEIVER_IN_FLIGHT_BYTES,
        Unit::Bytes,
        "Bytes a receiver's requests hold while read, decompressed and decoded (max_in_flight_bytes)."
    );
    describe_gauge!(
        RECEIVER_CONNECTIONS,
        Unit::Count,
        "Connections a receiver's listener has open (max_connections), by transport."
    );
    // Pipeline runtime: byte-weighted queues, shutdown deadline, task supervision.
    describe_gauge!(
        QUEUE_BYTES,
        Unit::Bytes,
        "Estimated bytes held by a bounded queue, by stage."
    );
    describe_gauge!(
        QUEUE_CAPACITY_BYTES,
        Unit::Bytes,
        "Byte capacity of a bounded queue, by stage (service.queue_max_bytes)."
    );
    describe_counter!(
        SHUTDOWN_UNFLUSHED_SPANS,
        Unit::Count,
        "Spans still queued or buffered when service.shutdown_timeout passed, by stage."
    );
    describe_counter!(
        COMPONENT_FAILURES,
        Unit::Count,
        "Pipeline, assembly shard, trace stage or exporter tasks that panicked or stopped."
    );
    describe_counter!(
        PIPELINE_DROPPED_SPANS,
        Unit::Count,
        "Spans a pipeline stage dropped because the next stage had failed, by stage."
    );
    // WAL
    describe_gauge!(
        WAL_BYTES,
        Unit::Bytes,
        "Bytes the WAL holds (segments on disk and appends in flight; bounded by max_bytes)."
    );
    describe_gauge!(WAL_SEGMENTS, Unit::Count, "WAL segment files on disk.");
    describe_histogram!(
        WAL_APPEND_SECONDS,
        Unit::Seconds,
        "Time from a WAL append to its record being written (process) or synced (host)."
    );
    describe_histogram!(
        WAL_SYNC_SECONDS,
        Unit::Seconds,
        "Time of one fdatasync of a WAL segment (sync: host)."
    );
    describe_counter!(
        WAL_APPENDED_RECORDS,
        Unit::Count,
        "Records appended to the WAL."
    );
    describe_counter!(
        WAL_WRITES,
        Unit::Count,
        "WAL write calls; appended records / writes is the group-commit factor."
    );
    describe_counter!(
        WAL_REPLAYED_RECORDS,
        Unit::Count,
        "WAL records replayed at startup."
    );
    describe_counter!(
        WAL_CORRUPT_RECORDS,
        Unit::Count,
        "Corrupt WAL stretches skipped at recovery, by kind (torn, checksum)."
    );
    describe_counter!(
        WAL_FULL_REFUSALS,
        Unit::Count,
        "WAL appends refused because the WAL held max_bytes."
    );
    describe_counter!(
        WAL_REPLAYED_SPANS,
        Unit::Count,
        "Spans replayed from the WAL at startup into their pipelines."
    );
    describe_counter!(
        WAL_REPLAY_SKIPPED,
        Unit::Count,
        "WAL records skipped at replay, by reason (undecodable, unknown_pipeline)."
    );
    describe_gauge!(
        WAL_OUTSTANDING_SPANS,
        Unit::Count,
        "Logged spans not yet durable at the exporter, per exporter: what a restart would replay to it."
    );
    queues::describe_exporter_queues();
    sampling::describe_sampling();
    receiver_logs::describe_receiver_logs();
    tenants::describe_tenants();
}

/// A receiver accepted spans.
pub fn receiver_accepted(receiver: &str, transport: &'static str, spans: usize) {
    receiver_accepted_of(receiver, transport, None, spans);
}

/// As [`receiver_accepted`], labelled with the (bounded) `tenant` when multi-tenancy is on
/// (`tenant` is `Some`; see [`tenant_label`]).
pub fn receiver_accepted_of(
    receiver: &str,
    transport: &'static str,
    tenant: Option<&str>,
    spans: usize,
) {
    match tenant_label(tenant) {
        Some(t) => counter!(names::RECEIVER_ACCEPTED_SPANS, "receiver" => receiver.to_owned(), "transport" => transport, "tenant" => t.to_string()),
        None => counter!(names::RECEIVER_ACCEPTED_SPANS, "receiver" => receiver.to_owned(), "transport" => transport),
    }
    .increment(spans as u64);
}

/// A receiver refused spans; `reason` says why (`pipeline_full`, `invalid_id`, ...).
pub fn receiver_refused(
    receiver: &str,
    transport: &'static str,
    reason: &'static str,
    spans: usize,
) {
    receiver_refused_of(receiver, transport, None, reason, spans);
}

/// As [`receiver_refused`], labelled with the (bounded) `tenant` when multi-tenancy is on.
pub fn receiver_refused_of(
    receiver: &str,
    transport: &'static str,
    tenant: Option<&str>,
    reason: &'static str,
    spans: usize,
) {
    match tenant_label(tenant) {
        Some(t) => counter!(names::RECEIVER_REFUSED_SPANS, "receiver" => receiver.to_owned(), "transport" => transport, "reason" => reason, "tenant" => t.to_string()),
        None => counter!(names::RECEIVER_REFUSED_SPANS, "receiver" => receiver.to_owned(), "transport" => transport, "reason" => reason),
    }
    .increment(spans as u64);
}

/// A receiver finished a request with `outcome` (`ok`, `partial`, `invalid`, `refused`, ...).
pub fn receiver_request(receiver: &str, transport: &'static str, outcome: &'static str) {
    counter!(names::RECEIVER_REQUESTS, "receiver" => receiver.to_owned(), "transport" => transport, "outcome" => outcome)
        .increment(1);
}

// Receivers: memory and connection bounds

/// The gauge of bytes a receiver's requests hold in flight. A handle, made once per
/// receiver, because the receiver sets it on every body chunk.
pub fn receiver_in_flight_gauge(receiver: &str) -> metrics::Gauge {
    gauge!(names::RECEIVER_IN_FLIGHT_BYTES, "receiver" => receiver.to_owned())
}

/// The gauge of connections one of a receiver's listeners has open. A handle, made once per
/// listener.
pub fn receiver_connections_gauge(receiver: &str, transport: &'static str) -> metrics::Gauge {
    gauge!(names::RECEIVER_CONNECTIONS, "receiver" => receiver.to_owned(), "transport" => transport)
}

/// A processor ran once.
pub fn processor_ran(processor: &str, incoming: usize, outgoing: usize, seconds: f64) {
    counter!(names::PROCESSOR_INCOMING_SPANS, "processor" => processor.to_owned())
        .increment(incoming as u64);
    counter!(names::PROCESSOR_OUTGOING_SPANS, "processor" => processor.to_owned())
        .increment(outgoing as u64);
    histogram!(names::PROCESSOR_DURATION, "processor" => processor.to_owned()).record(seconds);
}

/// An exporter delivered spans.
pub fn exporter_sent(exporter: &str, spans: usize) {
    counter!(names::EXPORTER_SENT_SPANS, "exporter" => exporter.to_owned()).increment(spans as u64);
}

/// An exporter gave up on spans.
pub fn exporter_failed(exporter: &str, error_type: &'static str, spans: usize) {
    tracing::warn!(exporter, error_type, spans, "exporter dropped spans");
    counter!(names::EXPORTER_FAILED_SPANS, "exporter" => exporter.to_owned(), "error_type" => error_type)
        .increment(spans as u64);
}

/// An exporter that takes only sampled traces left out `spans` spans of unsampled traces.
pub fn exporter_unsampled(exporter: &str, spans: usize) {
    counter!(names::EXPORTER_UNSAMPLED_SPANS, "exporter" => exporter.to_owned())
        .increment(spans as u64);
}

/// An exporter retries an attempt.
pub fn exporter_retry(exporter: &str) {
    counter!(names::EXPORTER_RETRIES, "exporter" => exporter.to_owned()).increment(1);
}

/// The depth of a bounded queue.
pub fn queue_depth(stage: &str, depth: usize) {
    gauge!(names::QUEUE_DEPTH, "stage" => stage.to_owned()).set(depth as f64);
}

/// The capacity of a bounded queue.
pub fn queue_capacity(stage: &str, capacity: usize) {
    gauge!(names::QUEUE_CAPACITY, "stage" => stage.to_owned()).set(capacity as f64);
}

/// The archive uploaded a file.
pub fn archive_file_written(exporter: &str, bytes: u64, spans: usize) {
    counter!(names::ARCHIVE_FILES_WRITTEN, "exporter" => exporter.to_owned()).increment(1);
    counter!(names::ARCHIVE_BYTES_WRITTEN, "exporter" => exporter.to_owned()).increment(bytes);
    counter!(names::ARCHIVE_SPANS_WRITTEN, "exporter" => exporter.to_owned())
        .increment(spans as u64);
}

/// Bytes the archive holds in memory.
pub fn archive_buffered_bytes(exporter: &str, bytes: usize) {
    gauge!(names::ARCHIVE_BUFFERED_BYTES, "exporter" => exporter.to_owned()).set(bytes as f64);
}

/// An archive upload attempt failed (it will be retried); `error_type` is `permanent` or
/// `retryable`.
pub fn archive_upload_failed(exporter: &str, error_type: &'static str) {
    counter!(names::ARCHIVE_UPLOAD_FAILURES, "exporter" => exporter.to_owned(), "error_type" => error_type)
        .increment(1);
}

/// What one assembly shard holds now.
pub fn assembly_held(shard: usize, traces: usize, spans: usize, bytes: usize) {
    let shard = shard.to_string();
    gauge!(names::ASSEMBLY_TRACES_HELD, "shard" => shard.clone()).set(traces as f64);
    gauge!(names::ASSEMBLY_SPANS_HELD, "shard" => shard.clone()).set(spans as f64);
    gauge!(names::ASSEMBLY_BYTES_HELD, "shard" => shard).set(bytes as f64);
}

/// Trace assembly released `count` traces for `reason` (`complete`, `max_wait`, `evicted`,
/// `shutdown`).
pub fn assembly_released(reason: &'static str, count: usize) {
    counter!(names::ASSEMBLY_RELEASED_TRACES, "reason" => reason).increment(count as u64);
}

/// Spans arrived after their trace was released and went on as a late fragment.
pub fn assembly_late_spans(count: usize) {
    counter!(names::ASSEMBLY_LATE_SPANS).increment(count as u64);
}

/// Spans beyond `max_spans_per_trace` passed straight through.
pub fn assembly_over_cap_spans(count: usize) {
    counter!(names::ASSEMBLY_OVER_CAP_SPANS).increment(count as u64);
}

/// Traces released early because `bound` (`max_traces`, `max_bytes`) was reached.
pub fn assembly_evicted(bound: &'static str, count: usize) {
    counter!(names::ASSEMBLY_EVICTIONS, "bound" => bound).increment(count as u64);
}

// Pipeline runtime: byte-weighted queues, shutdown deadline, task supervision.

/// Gauge handles for one bounded queue, made once so recording allocates nothing.
#[derive(Debug, Clone)]
pub struct QueueGauges {
    depth: metrics::Gauge,
    bytes: metrics::Gauge,
}

impl QueueGauges {
    /// Records the queue's depth in items and its estimated bytes.
    pub fn set(&self, depth: usize, bytes: usize) {
        self.depth.set(depth as f64);
        self.bytes.set(bytes as f64);
    }
}

/// Registers a bounded queue's capacities under `stage` and returns its depth gauges.
pub fn queue_gauges(stage: &str, items: usize, bytes: usize) -> QueueGauges {
    queue_capacity(stage, items);
    gauge!(names::QUEUE_CAPACITY_BYTES, "stage" => stage.to_owned()).set(bytes as f64);
    QueueGauges {
        depth: gauge!(names::QUEUE_DEPTH, "stage" => stage.to_owned()),
        bytes: gauge!(names::QUEUE_BYTES, "stage" => stage.to_owned()),
    }
}

/// The shutdown deadline passed with `spans` still queued or buffered at `stage`.
pub fn shutdown_unflushed(stage: &str, spans: usize) {
    if spans == 0 {
        return;
    }
    tracing::error!(stage, spans, "shutdown deadline passed: spans not flushed");
    counter!(names::SHUTDOWN_UNFLUSHED_SPANS, "stage" => stage.to_owned()).increment(spans as u64);
}

/// A component's task panicked or stopped unexpectedly.
pub fn component_failed(component: &str) {
    counter!(names::COMPONENT_FAILURES, "component" => component.to_owned()).increment(1);
}

/// A stage dropped `spans` because the stage after it (`reason`) is gone.
pub fn pipeline_dropped(stage: &str, reason: &'static str, spans: usize) {
    counter!(names::PIPELINE_DROPPED_SPANS, "stage" => stage.to_owned(), "reason" => reason)
        .increment(spans as u64);
}

/// An exporter is stalled (its queue had no room for `service.exporter_stall_timeout`):
/// `spans` meant for it were dropped. Logged once per stall by the health change, not here.
pub fn exporter_stalled(exporter: &str, spans: usize) {
    counter!(names::EXPORTER_FAILED_SPANS, "exporter" => exporter.to_owned(), "error_type" => "stalled")
        .increment(spans as u64);
}

// Archive: error classes and partition bounds

/// The archive placed `spans` in the partition of their arrival: their start time was
/// `reason` (`too_old`, `too_new`).
pub fn archive_clamped_spans(exporter: &str, reason: &'static str, spans: usize) {
    counter!(names::ARCHIVE_CLAMPED_SPANS, "exporter" => exporter.to_owned(), "reason" => reason)
        .increment(spans as u64);
}

/// The archive cut a partition early to stay within `max_open_partitions`.
pub fn archive_early_flush(exporter: &str) {
    counter!(names::ARCHIVE_EARLY_FLUSHES, "exporter" => exporter.to_owned()).increment(1);
}

/// The archive skipped `spans` replayed from the write-ahead log: a file uploaded before the
/// restart already holds them.
pub fn archive_replay_skipped(exporter: &str, spans: usize) {
    counter!(names::ARCHIVE_REPLAY_SKIPPED_SPANS, "exporter" => exporter.to_owned())
        .increment(spans as u64);
}

/// The archive's recovery could not remember `ids` already archived (its bound was
/// reached): those may be archived twice.
pub fn archive_dedupe_overflow(exporter: &str, ids: u64) {
    counter!(names::ARCHIVE_DEDUPE_OVERFLOW, "exporter" => exporter.to_owned()).increment(ids);
}
