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
    /// Late scores kept (gauge).
    pub const LATE_SCORES: &str = "tracegate_hot_store_late_scores";
    /// Estimated bytes of the late scores kept (gauge).
    pub const LATE_SCORE_BYTES: &str = "tracegate_hot_store_late_score_bytes";
    /// Bytes of the late scores' file (gauge).
    pub const LATE_SCORE_FILE_BYTES: &str = "tracegate_hot_store_late_score_file_bytes";
    /// Late scores kept (new ones, not duplicates).
    pub const LATE_SCORES_STORED: &str = "tracegate_hot_store_late_scores_stored_total";
    /// Late scores evicted, by `reason` (`age`, `entries`, `bytes`).
    pub const LATE_SCORES_EVICTED: &str = "tracegate_hot_store_evicted_late_scores_total";
    /// Appends to the late scores' file that failed (each is retried).
    pub const LATE_SCORE_WRITE_FAILURES: &str =
        "tracegate_hot_store_late_score_write_failures_total";
    /// Bytes of a damaged or torn tail of the late scores' file, dropped at start.
    pub const LATE_SCORE_DAMAGED_BYTES: &str = "tracegate_hot_store_late_score_damaged_bytes_total";
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

/// What the late scores hold now.
pub fn late_held(exporter: &str, scores: usize, bytes: usize, file_bytes: u64) {
    gauge!(names::LATE_SCORES, "exporter" => exporter.to_owned()).set(scores as f64);
    gauge!(names::LATE_SCORE_BYTES, "exporter" => exporter.to_owned()).set(bytes as f64);
    gauge!(names::LATE_SCORE_FILE_BYTES, "exporter" => exporter.to_owned()).set(file_bytes as f64);
}

/// New late scores were kept.
pub fn late_stored(exporter: &str, n: usize) {
    if n > 0 {
        counter!(names::LATE_SCORES_STORED, "exporter" => exporter.to_owned()).increment(n as u64);
    }
}

/// Late scores were evicted.
pub fn late_evicted(exporter: &str, reason: &'static str, n: usize) {
    counter!(names::LATE_SCORES_EVICTED, "exporter" => exporter.to_owned(), "reason" => reason)
        .increment(n as u64);
}

/// An append to the late scores' file failed.
pub fn late_write_failed(exporter: &str) {
    counter!(names::LATE_SCORE_WRITE_FAILURES, "exporter" => exporter.to_owned()).increment(1);
}

/// A damaged tail of the late scores' file was dropped.
pub fn late_damaged(exporter: &str, bytes: u64) {
    counter!(names::LATE_SCORE_DAMAGED_BYTES, "exporter" => exporter.to_owned()).increment(bytes);
}
