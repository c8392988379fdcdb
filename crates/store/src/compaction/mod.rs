//! Compaction: an hour partition's many small files merged into few large ones, sorted by
//! (trace_id, start_time), with one row per (trace_id, span_id), without any reader that
//! follows the protocol ever counting a row twice or missing one.
//!
//! The archive exporter cuts a file per hour every `flush_age` (and per gateway), so an
//! hour of a busy archive holds hundreds of small files, the small-file debt data-lake
//! engines pay for in every query. A run merges the small files of each hour that ended
//! between `min_age` and `max_age` ago into files of `target_file_size` (128 MiB), with the
//! writer's own properties (statistics, bloom filter on trace_id, encodings), dropping the
//! duplicates an upload retry or a replay of the write-ahead log leaves ([`merge`]). The
//! `logs` and `scores` tables are merged the same way, by (trace_id, time), with every row
//! kept (they have no row key).
//!
//! # How readers stay exact
//!
//! Each compacted hour directory keeps a record, `_compaction.json` ([`record::Record`]):
//! the live compacted files and the files they replaced. Its write is the commit, a single
//! conditional `PUT`. A reader that lists an hour and applies the record
//! ([`record::visible`]) counts every row once, before, during and after a compaction and
//! after a crash in any step ([`run`] lists the steps). tracegate's own readers do:
//! `tracegate query` and `POST /api/sql`, and the archive lookups of the Tempo API read
//! through [`CompactionView`], which also re-checks the record after each listing, so a
//! commit during a listing is not missed. DuckDB does with the query the README gives
//! (`config/sql/duckdb/exact_spans.sql`), which excludes by `filename` what the records
//! exclude.
//!
//! A plain glob (`read_parquet('…/spans/**/*.parquet')`) cannot follow a record, and no
//! design on a store without multi-object transactions makes it exact while files are
//! being replaced: moving rows from n files to one is at least two operations on
//! different keys, and a reader that lists between them sees the rows twice (new file
//! first) or not at all (old files first). This design keeps that window as short as it
//! can be: an output appears whole (a multipart upload's completion) after everything
//! else is done, then the record is written, then the inputs are deleted in one
//! `DeleteObjects` request; a glob that lists in those few milliseconds counts the hour's
//! rows twice. A glob run at any other time is exact. A crash inside the window leaves it
//! open until the next run (at the gateway's start and every `interval`, or `tracegate
//! compact`) closes it.
//!
//! Alternatives weighed:
//!
//! - **Delta Lake** (DuckDB's `delta` extension, the `deltalake` crate): its log gives
//!   snapshot reads, but its `timestamp` type has microseconds and the archive's times have
//!   nanoseconds (the spans' durations and TTFT need them); the crate brings its own
//!   DataFusion and arrow versions, a second copy of both in the gateway's build; every
//!   small file the exporter writes would need a commit to the log, a conditional write per
//!   flush from every gateway; and a plain glob over its data files double counts until
//!   `VACUUM` (seven days by default), far longer than the window above.
//! - **Apache Iceberg**: nanosecond timestamps need format v3, which DuckDB's `iceberg`
//!   extension and `pyiceberg` do not write or read fully yet; the Rust crate pins older
//!   arrow and object_store versions than ours; a catalog is one more service to run.
//! - **A generation directory with a pointer** (`…/hour=HH/gen=N/` and a `CURRENT` file):
//!   the same commit as the record here, but a plain glob sees every generation at once
//!   until the old one is deleted, and Hive readers see a `gen` column that is not data.
//!
//! # Concurrency
//!
//! Several gateways and `tracegate compact` may compact one archive. Each hour has a lease,
//! `_compaction.lease`, taken with a conditional create (`If-None-Match: *` on S3) and
//! renewed after each output file; an expired one is taken over with a conditional update on
//! its ETag. The commit itself is conditional on the record the compactor read, so even a
//! compactor that lost its lease (stalled longer than `lease`) cannot commit over another's
//! work: it deletes its outputs and stops. On a local disk, which has no conditional update,
//! an expired lease is taken over by delete and create, and the record is overwritten under
//! the lease.
//!
//! # Modules
//!
//! - [`config`]: [`CompactionConfig`], under `exporters.archive.compaction`;
//! - [`record`]: the record and lease formats, and the rule of what a reader counts;
//! - [`plan`]: the pure core: which hours are due, which files of an hour to merge;
//! - [`merge`]: the bounded-memory k-way merge with duplicate removal;
//! - [`run`]: [`Compactor`], the steps under the lease, on a runtime of its own;
//! - [`view`]: [`CompactionView`], listings as readers should count them;
//! - [`spawn_schedule`]: the gateway's periodic run, at low CPU priority on its own thread.

pub mod config;
mod io;
mod lease;
pub mod merge;
mod output;
pub mod plan;
pub mod record;
pub mod run;
pub mod view;

pub use config::CompactionConfig;
pub use io::mark_tables;
pub use run::{Compactor, Event, HourDir, HourOutcome, HourReport, Progress, RunReport};
pub use view::CompactionView;

use crate::destination::Destination;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// Runs compaction of the archive at `destination` every `config.interval` until `cancel`
/// fires, on a thread of its own at low CPU priority (nice 10) with its own runtime, so that
/// merging never takes a core from the receivers or blocks the gateway's runtime. The first
/// run starts right away, which also closes whatever a crash left open.
pub fn spawn_schedule(
    compactor_name: &str,
    owner: &str,
    destination: Destination,
    config: CompactionConfig,
    options: crate::writer::WriterOptions,
    cancel: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let name = compactor_name.to_owned();
    let owner = owner.to_owned();
    std::thread::Builder::new().name("compaction".into()).spawn(move || {
        crate::archive::background_priority();
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::warn!(exporter = %name, error = %e, "compaction: not scheduled, no runtime for it");
                return;
            }
        };
        let store = match rt.block_on(destination.open()) {
            Ok(store) => store,
            Err(e) => {
                tracing::warn!(exporter = %name, error = %e, "compaction: not scheduled, the archive cannot be opened");
                return;
            }
        };
        let compactor = Compactor::new(&name, &owner, store, destination.prefix().clone(), config.clone(), options, !destination.is_local());
        let interval = config.interval.get();
        loop {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            match compactor.run(&rt, now, config.min_age.get().as_secs(), config.max_age.get().as_secs(), &cancel, &mut |_| {}) {
                Ok(report) if report.compacted > 0 || report.failed > 0 => tracing::info!(
                    exporter = %name,
                    hours = report.compacted,
                    failed = report.failed,
                    inputs = report.inputs,
                    outputs = report.outputs,
                    input_bytes = report.input_bytes,
                    output_bytes = report.output_bytes,
                    duplicates = report.duplicates,
                    seconds = report.seconds,
                    "compaction: run done"
                ),
                Ok(_) => tracing::debug!(exporter = %name, "compaction: nothing to do"),
                Err(e) => tracing::warn!(exporter = %name, error = %e, "compaction: could not list the archive; trying again in one interval"),
            }
            let stopped = rt.block_on(async {
                tokio::select! {
                    () = tokio::time::sleep(interval) => false,
                    () = cancel.cancelled() => true,
                }
            });
            if stopped {
                return;
            }
        }
    })
}

/// How long the gateway waits for a compaction under way to stop at shutdown: it checks
/// between batches, so this is a batch's merge and an upload's abort.
pub const STOP_WAIT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests;
