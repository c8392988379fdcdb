//! The write-ahead log's events.

use super::names;
use metrics::{counter, gauge, histogram};

/// The WAL holds `bytes` in `segments` segment files.
pub fn wal_size(bytes: u64, segments: usize) {
    gauge!(names::WAL_BYTES).set(bytes as f64);
    gauge!(names::WAL_SEGMENTS).set(segments as f64);
}

/// One `append` took `seconds`, from the call until the record was written (or synced).
pub fn wal_append_seconds(seconds: f64) {
    histogram!(names::WAL_APPEND_SECONDS).record(seconds);
}

/// One `fdatasync` of a segment took `seconds` (`host` sync mode).
pub fn wal_sync_seconds(seconds: f64) {
    histogram!(names::WAL_SYNC_SECONDS).record(seconds);
}

/// The WAL wrote `records` records with one `write` (group commit).
pub fn wal_write(records: usize) {
    counter!(names::WAL_WRITES).increment(1);
    counter!(names::WAL_APPENDED_RECORDS).increment(records as u64);
}

/// Replay returned `records` records.
pub fn wal_replayed(records: usize) {
    counter!(names::WAL_REPLAYED_RECORDS).increment(records as u64);
}

/// Recovery skipped a corrupt stretch of the log; `kind` is `torn` (a write cut short at a
/// segment's end) or `checksum` (a record that does not verify, between valid ones).
pub fn wal_corrupt(kind: &'static str) {
    counter!(names::WAL_CORRUPT_RECORDS, "kind" => kind).increment(1);
}

/// An append was refused because the WAL held `max_bytes`.
pub fn wal_full_refusal() {
    counter!(names::WAL_FULL_REFUSALS).increment(1);
}

/// Replay sent `spans` spans back into their pipeline.
pub fn wal_replayed_spans(spans: usize) {
    counter!(names::WAL_REPLAYED_SPANS).increment(spans as u64);
}

/// Replay skipped a record: `undecodable` (damaged inside a valid checksum: a bug or another
/// version) or `unknown_pipeline` (its pipeline is no longer configured).
pub fn wal_replay_skipped(reason: &'static str) {
    counter!(names::WAL_REPLAY_SKIPPED, "reason" => reason).increment(1);
}

/// `spans` logged spans are not yet durable at `exporter`.
pub fn wal_outstanding(exporter: &str, spans: u64) {
    gauge!(names::WAL_OUTSTANDING_SPANS, "exporter" => exporter.to_owned()).set(spans as f64);
}
