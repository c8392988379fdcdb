//! The hot store's metrics, named as in `tracegate_pipeline::telemetry`
//! (`tracegate_<component>_<name>_<unit>[_total]`, label keys `exporter` and `reason`).

use metrics::{counter, gauge, histogram};

/// Metric names.
pub mod names {
    /// Blocks on disk (gauge).
    pub const BLOCKS: &str = "tracegate_hot_store_blocks";
    /// Bytes of blocks on disk (gauge).
    pub const BYTES: &str = "tracegate_hot_store_bytes";
    /// Estimated bytes of the in-memory heads, blocks being written included (gauge).
    pub const HEAD_BYTES: &str = "tracegate_hot_store_head_bytes";
    /// Blocks written.
    pub const BLOCKS_WRITTEN: &str = "tracegate_hot_store_blocks_written_total";
    /// Spans written to blocks.
    pub const SPANS_WRITTEN: &str = "tracegate_hot_store_spans_written_total";
    /// Seconds to encode and write one block.
    pub const BLOCK_WRITE_DURATION: &str = "tracegate_hot_store_block_write_duration_seconds";
    /// Block writes that failed (each is retried).
    pub const WRITE_FAILURES: &str = "tracegate_hot_store_write_failures_total";
    /// Blocks deleted, by `reason` (`age`, `size`).
    pub const EVICTED_BLOCKS: &str = "tracegate_hot_store_evicted_blocks_total";
    /// Spans in the blocks deleted, by `reason`.
    pub const EVICTED_SPANS: &str = "tracegate_hot_store_evicted_spans_total";
    /// Replayed spans left out because a block held them before the restart.
    pub const REPLAY_SKIPPED_SPANS: &str = "tracegate_hot_store_replay_skipped_spans_total";
    /// Blocks that could not be reopened at start (left in place, not served).
    pub const UNREADABLE_BLOCKS: &str = "tracegate_hot_store_unreadable_blocks_total";
}

/// What the store holds now.
pub fn held(exporter: &str, blocks: usize, bytes: u64, head_bytes: usize) {
    gauge!(names::BLOCKS, "exporter" => exporter.to_owned()).set(blocks as f64);
    gauge!(names::BYTES, "exporter" => exporter.to_owned()).set(bytes as f64);
    gauge!(names::HEAD_BYTES, "exporter" => exporter.to_owned()).set(head_bytes as f64);
}

/// A block was written.
pub fn block_written(exporter: &str, spans: usize, seconds: f64) {
    counter!(names::BLOCKS_WRITTEN, "exporter" => exporter.to_owned()).increment(1);
    counter!(names::SPANS_WRITTEN, "exporter" => exporter.to_owned()).increment(spans as u64);
    histogram!(names::BLOCK_WRITE_DURATION, "exporter" => exporter.to_owned()).record(seconds);
}

/// A block write failed.
pub fn write_failed(exporter: &str) {
    counter!(names::WRITE_FAILURES, "exporter" => exporter.to_owned()).increment(1);
}

/// A block was evicted.
pub fn evicted(exporter: &str, reason: &'static str, spans: u64) {
    counter!(names::EVICTED_BLOCKS, "exporter" => exporter.to_owned(), "reason" => reason)
        .increment(1);
    counter!(names::EVICTED_SPANS, "exporter" => exporter.to_owned(), "reason" => reason)
        .increment(spans);
}

/// Replayed spans were left out, already stored.
pub fn replay_skipped(exporter: &str, spans: u64) {
    counter!(names::REPLAY_SKIPPED_SPANS, "exporter" => exporter.to_owned()).increment(spans);
}

/// A block could not be reopened.
pub fn unreadable(exporter: &str) {
    counter!(names::UNREADABLE_BLOCKS, "exporter" => exporter.to_owned()).increment(1);
}
