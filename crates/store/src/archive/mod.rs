//! The `archive` exporter: Parquet files of the `spans`, `traces`, `logs` and `scores` tables
//! on an object store, Hive-partitioned by hour (DESIGN.md §4). A payload of spans (no trace
//! assembly) writes spans only; a payload of released traces writes its spans, one traces
//! row per trace, fragments included (marked in the `fragment` column), and a scores row for
//! each score its spans carried; a payload of log records (a `logs` pipeline: the exporter's
//! `signals` are traces and logs) writes one logs row per record and a scores row for each
//! record that carries a score. Each score is written once, with whatever brought it first
//! (`exporter/logs.rs`).
//!
//! With tail sampling, the `traces` table keeps a row for every trace, sampled or not, with
//! the decision in `sampled`, `sampling_policy` and `sampling_probability`; the `spans` table
//! holds only the kept traces' spans unless `sampled_only_spans: false`.
//!
//! - [`config`]: the user-facing config, [`ArchiveConfig`];
//! - [`exporter`]: the factory, [`ArchiveExporterFactory`], and the run loop,
//!   [`ArchiveExporter`];
//! - `buffer`: one open partition's rows (of all four tables), and the payloads they came
//!   from;
//! - `placement`: which hour partition a row goes to, with client clocks that may be off;
//! - `upload`: encoding and uploading one file, with the classification of failures;
//! - `backoff`: the waits between attempts, with jitter; `retry`: the same for what is not
//!   an upload (the journal, reading files back);
//! - `durable`, `journal`, `recovery`: durability with the write-ahead log, below;
//! - `schedule`: the periodic [`crate::lifecycle`] run, started and stopped with the exporter.
//!
//! # Tenants
//!
//! With `service.multitenancy_enabled` ([`BuildContext::multitenancy`]) a partition is a
//! (tenant, hour) pair ([`crate::layout::Partition`]): every table is written under
//! `{prefix}/{table}/tenant={T}/dt=YYYY-MM-DD/hour=HH/`, each buffer holds one tenant's rows,
//! so a file never mixes tenants, and `max_open_partitions` counts (tenant, hour) pairs. A
//! span, log record or score goes to its resource's tenant; a trace's row and its scores to
//! its spans' tenant. Without multi-tenancy the layout has no `tenant=` level, as before.
//! The journal names whole paths, so recovery reads the tenant back from a file's `tenant=`
//! level and keys its done-sets by tenant too: two tenants may send the same trace and span
//! ids, and a replayed span of one is never taken for the other's archived one.
//!
//! [`BuildContext::multitenancy`]: tracegate_pipeline::BuildContext::multitenancy
//!
//! # Durability and exactly-once with the write-ahead log
//!
//! With the log on, the topology hands the exporter a
//! [`Release`](tracegate_pipeline::durability::Release). Each `export` call is a *unit*:
//! the tally of its spans' log records and a count of holds, one for the call itself and one
//! for each buffer (a partition's spans table or traces table) that took a row of it. A file
//! carries the units it holds rows of; once it is uploaded each of them loses a hold, and a
//! unit with none left is reported durable. So a span is released only when its own spans
//! row *and* its trace's traces row, which may sit in another partition, are in the store.
//! Nothing else counts down: a crash, or `abandon` at the shutdown deadline, releases nothing
//! and the log replays those records. A file that cannot be encoded (a bug) is given up for
//! good, and its units are released, so the log does not replay it forever.
//!
//! A restart replays every record at or after the archive's checkpoint, and a checkpoint is
//! only as fresh as its last save: spans uploaded after it come again. Deterministic object
//! keys cannot catch that, because the replay goes through trace assembly again and regroups
//! the spans (other payloads, other traces and fragments, other cut points), so a replayed
//! file is never byte-identical to, nor named like, the one uploaded before. The archive
//! keeps an **intent journal** instead (`journal.rs`, in the release's state directory):
//! before a file's upload starts, one line with the object's path, its table, and the newest
//! record its units hold spans of, `fdatasync`ed when the log syncs. At start, recovery
//! (`recovery.rs`) drops the entries below the checkpoint, reads each remaining object back
//! — not found means the upload never happened — and collects the ids it holds (`trace_id`
//! and `span_id` of a spans file, `trace_id` of a traces file, read through a projection)
//! into *done-sets*. A replayed span found there is not written again but counts as durable
//! at once; a traces row is not written again for a replayed trace (all its spans replayed)
//! whose id is there.
//!
//! What survives what: a crash before the intent is written loses nothing (the file was not
//! uploaded, the records replay); a crash between the intent and the end of the upload is
//! settled by reading the object back; a torn last journal line (a crash during the append)
//! belongs to an upload that had not started. A damaged line is counted and skipped, and the
//! rows of its file may be archived twice. Duplicates are possible in a few stated cases,
//! loss is not.
//!
//! Bounds: the done-sets hold at most 4 Mi ids (about 100 MiB); beyond that recovery warns,
//! counts `tracegate_archive_dedupe_overflow_ids_total` and stops adding, so later replayed
//! spans may be archived twice. They are freed once the checkpoint passes the newest record a
//! journaled file held, since no replayed span can match them after that. The journal is
//! rewritten atomically at start with the entries whose objects were found, and while
//! running once it has more than 1024 entries, without those below the checkpoint.
//!
//! Log records are held and released the same way (a logs payload is a unit; its logs and
//! scores files hold it), and their files are journaled too. A log record (or a score) has
//! no id, so recovery reads a logs or scores file back whole and remembers the fingerprint
//! of each row (`fingerprint.rs`), with how many rows have it; a replayed record whose logs
//! row, encoded again, has a remembered fingerprint takes one of them and is not written
//! again, and so is its score's row. A replayed record that comes out different (a
//! processor whose output changed across the restart, a score joined otherwise) is written
//! again: a duplicate, never a loss.
//!
//! Recovery waits for the store: reading objects back is retried with the uploads' backoff
//! for as long as it takes (a permanent error marks the exporter degraded), and meanwhile
//! the pipeline holds payloads back. A 404 naming a missing bucket is an error to wait out,
//! not a missing object. With the log off the exporter behaves as before: no units, no
//! journal.

mod backoff;
mod buffer;
pub mod config;
mod durable;
pub mod exporter;
mod fingerprint;
mod journal;
mod placement;
mod recovery;
mod retry;
mod schedule;
mod upload;
pub(crate) use upload::background_priority;

pub use config::{ArchiveConfig, RetryConfig};
pub use exporter::{ArchiveExporter, ArchiveExporterFactory};

#[cfg(test)]
mod tests;
