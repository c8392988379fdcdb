//! Exporters' sending queues on disk.

use super::names;
use metrics::{counter, gauge};

pub(super) fn describe_exporter_queues() {
    use metrics::{Unit, describe_counter, describe_gauge};
    use names::*;
    describe_gauge!(
        EXPORTER_QUEUE_BYTES,
        Unit::Bytes,
        "Bytes an exporter's sending queue holds on disk, delivered records of its oldest segment included."
    );
    describe_gauge!(
        EXPORTER_QUEUE_BATCHES,
        Unit::Count,
        "Batches in an exporter's sending queue on disk not yet delivered (in flight included)."
    );
    describe_counter!(
        EXPORTER_QUEUE_CORRUPT_RECORDS,
        Unit::Count,
        "Corrupt stretches of an exporter's disk queue skipped, by kind (torn, checksum, cursor)."
    );
}

/// `exporter`'s disk queue holds `bytes` on disk and `batches` batches not yet delivered.
pub fn exporter_queue_size(exporter: &str, bytes: u64, batches: u64) {
    gauge!(names::EXPORTER_QUEUE_BYTES, "exporter" => exporter.to_owned()).set(bytes as f64);
    gauge!(names::EXPORTER_QUEUE_BATCHES, "exporter" => exporter.to_owned()).set(batches as f64);
}

/// `exporter`'s disk queue skipped a corrupt stretch: `torn` (a write cut short at a segment's
/// end), `checksum` (a record that does not verify) or `cursor` (an unreadable cursor file, so
/// delivery restarts at the oldest record kept).
pub fn exporter_queue_corrupt(exporter: &str, kind: &'static str) {
    counter!(names::EXPORTER_QUEUE_CORRUPT_RECORDS, "exporter" => exporter.to_owned(), "kind" => kind)
        .increment(1);
}
