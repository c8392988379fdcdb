//! Compaction's I/O: finding the hours due, and compacting one under its lease.
//!
//! An hour is compacted in these steps, each safe to stop after (a crash, `kill -9`):
//!
//! 1. take the hour's lease, `_compaction.lease` (a conditional create; an expired lease is
//!    taken over with a conditional update on its ETag);
//! 2. list the hour and read its record; delete the garbage ([`HourPlan::garbage`]);
//! 3. merge the inputs into `compacted-g{N}-{ulid}.parquet` files of the target size,
//!    uploaded as multipart uploads, so each appears whole or not at all; renew the lease
//!    after each;
//! 4. commit: write the record of generation N, conditional on the record read in step 2
//!    (its ETag, or that there was none), so that of two compactors only one commits;
//! 5. delete the inputs, and release the lease.
//!
//! A stop before step 4 leaves uncommitted outputs, which no exact reader counts and the
//! next run deletes (step 2); a stop after it leaves inputs the record names as replaced,
//! which no exact reader counts and the next run deletes.
//!
//! The work is synchronous and CPU-bound (decoding, merging, encoding), so it runs on a
//! thread of its own with a current-thread runtime for the I/O ([`Compactor`] takes the
//! runtime), never on the gateway's.

use super::config::CompactionConfig;
use super::io::mark_tables;
use super::lease::HeldLease;
use super::merge::{Input, MergeStats, TableKey, merge};
use super::output::FileSink;
use super::plan::{HourPlan, next_record, plan_hour};
use crate::error::StoreError;
use crate::layout::{HourPartition, LOGS_TABLE, SCORES_TABLE, SPANS_TABLE, TRACES_TABLE};
use crate::read::file::ObjectFile;
use crate::writer::WriterOptions;
use futures::StreamExt;
use metrics::counter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// The tables compaction looks after.
pub const TABLES: [&str; 4] = [SPANS_TABLE, TRACES_TABLE, LOGS_TABLE, SCORES_TABLE];
/// Rows per input batch, at most and at least.
const INPUT_BATCH_ROWS: (usize, usize) = (64, 8_192);
/// Rows per merged batch.
const OUTPUT_BATCH_ROWS: usize = 8_192;

/// Metric names (`tracegate_compaction_*`, label `exporter`).
pub mod names {
    /// Hours handled, by `table` and `outcome` (`compacted`, `cleaned`, `busy`,
    /// `conflict`, `failed`).
    pub const HOURS: &str = "tracegate_compaction_hours_total";
    /// Bytes read and written, by `direction` (`in`, `out`).
    pub const BYTES: &str = "tracegate_compaction_bytes_total";
    /// Files merged and written, by `direction`.
    pub const FILES: &str = "tracegate_compaction_files_total";
    /// Rows, by `kind` (`in`, `out`, `duplicate`).
    pub const ROWS: &str = "tracegate_compaction_rows_total";
}

/// An hour directory of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourDir {
    /// `spans` or `traces`.
    pub table: &'static str,
    /// `{prefix}/{table}[/tenant=T]/dt=…/hour=HH`.
    pub dir: Path,
    /// Its hour.
    pub hour: HourPartition,
}

/// What became of one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HourOutcome {
    /// Nothing to do.
    Nothing,
    /// Another compactor holds its lease.
    Busy,
    /// Only garbage was deleted.
    Cleaned {
        /// Files deleted.
        garbage: usize,
    },
    /// Merged and committed.
    Compacted(HourReport),
}

/// What compacting an hour did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HourReport {
    /// Files merged.
    pub inputs: usize,
    /// Their bytes.
    pub input_bytes: u64,
    /// Files written.
    pub outputs: usize,
    /// Their bytes.
    pub output_bytes: u64,
    /// Rows in, out, and duplicates left out.
    pub rows: MergeStats,
    /// Garbage deleted first.
    pub garbage: usize,
    /// The generation committed.
    pub generation: u64,
    /// The files written (name, bytes, rows), to tell a later pass's inputs that are this
    /// run's own outputs.
    files: Vec<(String, u64, u64)>,
    /// The names of the files merged.
    merged: Vec<(String, u64)>,
}

impl HourReport {
    /// This pass and the next one, as one report: a file the first wrote and the next
    /// merged again is counted once, as the next's output.
    fn then(self, next: HourReport) -> HourReport {
        let again: Vec<&(String, u64, u64)> = self
            .files
            .iter()
            .filter(|(name, _, _)| next.merged.iter().any(|(m, _)| m == name))
            .collect();
        let again_rows: u64 = again.iter().map(|f| f.2).sum();
        let again_bytes: u64 = again.iter().map(|f| f.1).sum();
        let again_files = again.len();
        let mut files: Vec<(String, u64, u64)> = self
            .files
            .iter()
            .filter(|(name, _, _)| !next.merged.iter().any(|(m, _)| m == name))
            .cloned()
            .collect();
        files.extend(next.files);
        let mut merged = self.merged;
        merged.extend(next.merged);
        HourReport {
            inputs: self.inputs + next.inputs - again_files,
            input_bytes: self.input_bytes + next.input_bytes - again_bytes,
            outputs: files.len(),
            output_bytes: files.iter().map(|f| f.1).sum(),
            rows: MergeStats {
                rows_in: self.rows.rows_in + next.rows.rows_in - again_rows,
                rows_out: self.rows.rows_out + next.rows.rows_out - again_rows,
                duplicates: self.rows.duplicates + next.rows.duplicates,
            },
            garbage: self.garbage + next.garbage,
            generation: next.generation,
            files,
            merged,
        }
    }
}

/// Progress of the hour being merged, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Rows merged so far.
    pub rows: u64,
    /// Rows in the inputs.
    pub total_rows: u64,
}

/// The compactor of one archive.
#[derive(Debug, Clone)]
pub struct Compactor {
    pub(super) name: String,
    pub(super) owner: String,
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) prefix: Path,
    pub(super) config: CompactionConfig,
    pub(super) options: WriterOptions,
    pub(super) conditional_update: bool,
    /// Whether the tables' root records are known to exist ([`mark_tables`]).
    pub(super) marked: Arc<std::sync::atomic::AtomicBool>,
}

impl Compactor {
    /// The compactor of the archive at `prefix` in `store`, for exporter `name`, writing
    /// files with `options`. `owner` names it in leases and records;
    /// `conditional_update` is whether the store takes `PutMode::Update` (S3 does, a local
    /// disk does not: there a lease is taken over by delete and create, and the record is
    /// overwritten under the lease).
    pub fn new(
        name: &str,
        owner: &str,
        store: Arc<dyn ObjectStore>,
        prefix: Path,
        config: CompactionConfig,
        options: WriterOptions,
        conditional_update: bool,
    ) -> Self {
        Self {
            name: name.to_owned(),
            owner: owner.to_owned(),
            store,
            prefix,
            config,
            options,
            conditional_update,
            marked: Arc::default(),
        }
    }

    /// Compacts `hour`, blocking on `rt` for its I/O; must not be called from within a
    /// runtime. `progress` hears of the rows merged.
    pub fn compact_hour(
        &self,
        rt: &Runtime,
        hour: &HourDir,
        cancel: &CancellationToken,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<HourOutcome, StoreError> {
        let outcome = self.compact_hour_inner(rt, hour, cancel, progress);
        let label = match &outcome {
            Ok(HourOutcome::Nothing) => "nothing",
            Ok(HourOutcome::Busy) => "busy",
            Ok(HourOutcome::Cleaned { .. }) => "cleaned",
            Ok(HourOutcome::Compacted(_)) => "compacted",
            Err(StoreError::Compaction { .. }) => "conflict",
            Err(_) => "failed",
        };
        counter!(names::HOURS, "exporter" => self.name.clone(), "table" => hour.table, "outcome" => label)
            .increment(1);
        if let Ok(HourOutcome::Compacted(r)) = &outcome {
            let exporter = self.name.clone();
            counter!(names::BYTES, "exporter" => exporter.clone(), "direction" => "in")
                .increment(r.input_bytes);
            counter!(names::BYTES, "exporter" => exporter.clone(), "direction" => "out")
                .increment(r.output_bytes);
            counter!(names::FILES, "exporter" => exporter.clone(), "direction" => "in")
                .increment(r.inputs as u64);
            counter!(names::FILES, "exporter" => exporter.clone(), "direction" => "out")
                .increment(r.outputs as u64);
            counter!(names::ROWS, "exporter" => exporter.clone(), "kind" => "in")
                .increment(r.rows.rows_in);
            counter!(names::ROWS, "exporter" => exporter.clone(), "kind" => "out")
                .increment(r.rows.rows_out);
            counter!(names::ROWS, "exporter" => exporter, "kind" => "duplicate")
                .increment(r.rows.duplicates);
        }
        outcome
    }

    fn compact_hour_inner(
        &self,
        rt: &Runtime,
        hour: &HourDir,
        cancel: &CancellationToken,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<HourOutcome, StoreError> {
        let dir = &hour.dir;
        let Some(mut lease) = rt.block_on(self.acquire(dir))? else {
            return Ok(HourOutcome::Busy);
        };
        // Passes of at most what `memory` admits, until no small file is left.
        let mut result = self.under_lease(rt, hour, &mut lease, cancel, progress);
        while let Ok((HourOutcome::Compacted(done), deferred)) = &result {
            if *deferred == 0 || cancel.is_cancelled() {
                break;
            }
            let done = done.clone();
            result = match self.under_lease(rt, hour, &mut lease, cancel, progress) {
                Ok((HourOutcome::Compacted(next), deferred)) => {
                    Ok((HourOutcome::Compacted(done.then(next)), deferred))
                }
                Ok((_, _)) => Ok((HourOutcome::Compacted(done), 0)),
                Err(e) => Err(e),
            };
        }
        // Released whatever happened; one left behind expires.
        let _ = rt.block_on(self.store.delete(&lease.path));
        result.map(|(outcome, _)| outcome)
    }

    fn under_lease(
        &self,
        rt: &Runtime,
        hour: &HourDir,
        lease: &mut HeldLease,
        cancel: &CancellationToken,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(HourOutcome, usize), StoreError> {
        let dir = &hour.dir;
        let listing = rt.block_on(self.list_hour(dir))?;
        let record = rt.block_on(self.read_record(dir))?;
        let previous = record.as_ref().map(|(r, _)| r);
        let target = self.config.target_file_size.get();
        let plan = plan_hour(&listing, previous, target, self.config.max_inputs);
        if plan.is_empty() {
            return Ok((HourOutcome::Nothing, 0));
        }
        let garbage = plan.garbage.len();
        if garbage > 0 {
            rt.block_on(self.delete(dir, &plan.garbage))?;
            tracing::info!(exporter = %self.name, dir = %dir, files = garbage, "compaction: deleted files no reader counts (left by an earlier run)");
        }
        if plan.inputs.is_empty() {
            return Ok((HourOutcome::Cleaned { garbage }, 0));
        }
        // Before the first output exists: the tables' root records, which DuckDB's recipe
        // needs to find a record at all.
        if !self.marked.load(std::sync::atomic::Ordering::Relaxed) {
            rt.block_on(mark_tables(self.store.as_ref(), &self.prefix, &self.owner))?;
            self.marked
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let (plan, builders, deferred) = self.admit(rt, hour, plan)?;
        let generation = previous.map_or(0, |r| r.generation) + 1;
        let key = TableKey::of(hour.table).unwrap_or_else(TableKey::spans);
        let properties = match hour.table {
            TRACES_TABLE => self.options.traces_properties(),
            LOGS_TABLE => self.options.logs_properties(),
            SCORES_TABLE => self.options.scores_properties(),
            _ => self.options.properties(),
        };
        let mut sink = FileSink {
            rt,
            store: self.store.clone(),
            dir: dir.clone(),
            generation,
            target,
            properties,
            open: None,
            done: Vec::new(),
            cancel,
            progress,
            rows: 0,
            total_rows: 0,
            renew: &mut || rt.block_on(self.renew(lease)),
        };
        let merged = self.merge_inputs(rt, builders, &key, &mut sink);
        let merged = merged.and_then(|stats| sink.finish().map(|()| stats));
        let outputs = std::mem::take(&mut sink.done);
        let stats = match merged {
            Ok(stats) => stats,
            Err(e) => {
                sink.abort();
                let names: Vec<String> = outputs.iter().map(|o| o.name.clone()).collect();
                let _ = rt.block_on(self.delete(dir, &names));
                return Err(e);
            }
        };
        drop(sink);
        let names: Vec<String> = outputs.iter().map(|o| o.name.clone()).collect();
        if cancel.is_cancelled() {
            let _ = rt.block_on(self.delete(dir, &names));
            return Err(StoreError::Compaction {
                dir: dir.to_string(),
                reason: "cancelled (shutting down); the hour is left as it was".into(),
            });
        }
        if stats.rows_out + stats.duplicates != stats.rows_in {
            let _ = rt.block_on(self.delete(dir, &names));
            return Err(StoreError::Compaction {
                dir: dir.to_string(),
                reason: format!(
                    "merged {} rows and {} duplicates of {} read; the inputs are left as they are",
                    stats.rows_out, stats.duplicates, stats.rows_in
                ),
            });
        }
        let now_ms = unix_ms();
        let next = next_record(
            previous,
            &plan,
            names.clone(),
            stats.rows_out,
            &listing,
            &self.owner,
            now_ms,
        );
        // The lease must still be ours when we commit.
        if let Err(e) = rt.block_on(self.renew(lease)) {
            let _ = rt.block_on(self.delete(dir, &names));
            return Err(e);
        }
        if let Err(e) = rt.block_on(self.commit(dir, &next, record.as_ref().map(|(_, v)| v))) {
            let _ = rt.block_on(self.delete(dir, &names));
            return Err(e);
        }
        let inputs: Vec<String> = plan.inputs.iter().map(|i| i.name.clone()).collect();
        if let Err(e) = rt.block_on(self.delete(dir, &inputs)) {
            // Committed: the inputs are not counted; the next run deletes them.
            tracing::warn!(exporter = %self.name, dir = %dir, error = %e, "compaction: committed, but could not delete the merged files yet; the next run will");
        }
        let report = HourReport {
            inputs: plan.inputs.len(),
            input_bytes: plan.input_bytes,
            outputs: outputs.len(),
            output_bytes: outputs.iter().map(|o| o.bytes).sum(),
            rows: stats,
            garbage,
            generation,
            files: outputs
                .iter()
                .map(|o| (o.name.clone(), o.bytes, o.rows))
                .collect(),
            merged: plan
                .inputs
                .iter()
                .map(|i| (i.name.clone(), i.size))
                .collect(),
        };
        tracing::info!(
            exporter = %self.name,
            dir = %dir,
            generation,
            inputs = report.inputs,
            input_bytes = report.input_bytes,
            outputs = report.outputs,
            output_bytes = report.output_bytes,
            rows = stats.rows_out,
            duplicates = stats.duplicates,
            "compaction: hour committed"
        );
        Ok((HourOutcome::Compacted(report), deferred))
    }

    /// Opens the inputs' footers, admitting inputs while their estimated decoding memory
    /// fits in half of `memory` (two at least): the admitted plan, its readers, and how many
    /// small files wait for another pass.
    fn admit(
        &self,
        rt: &Runtime,
        hour: &HourDir,
        mut plan: HourPlan,
    ) -> Result<(HourPlan, Vec<Builder>, usize), StoreError> {
        let budget = self.config.memory.get() / 2;
        let mut builders = Vec::with_capacity(plan.inputs.len());
        let mut used = 0u64;
        for input in &plan.inputs {
            let path = hour.dir.clone().join(input.name.as_str());
            let reader = ObjectFile::new(self.store.clone(), path, input.size, Default::default());
            let builder = rt
                .block_on(ParquetRecordBatchStreamBuilder::new(reader))
                .map_err(StoreError::parquet("open a file to compact"))?;
            // A reader holds a row group's fetched column chunks and a decoded page per
            // column: at most its compressed plus its uncompressed size.
            let cost = builder
                .metadata()
                .row_groups()
                .iter()
                .map(|g| (g.compressed_size().max(0) + g.total_byte_size().max(0)) as u64)
                .max()
                .unwrap_or(0);
            if builders.len() >= 2 && used + cost > budget {
                break;
            }
            used += cost;
            builders.push(builder);
        }
        let deferred = plan.inputs.len() - builders.len();
        plan.inputs.truncate(builders.len());
        plan.input_bytes = plan.inputs.iter().map(|i| i.size).sum();
        Ok((plan, builders, deferred))
    }

    fn merge_inputs<'r>(
        &self,
        rt: &'r Runtime,
        builders: Vec<Builder>,
        key: &TableKey,
        sink: &mut FileSink<'_>,
    ) -> Result<MergeStats, StoreError> {
        let mut row_bytes = 1u64;
        for builder in &builders {
            let meta = builder.metadata();
            let rows = meta.file_metadata().num_rows().max(1) as u64;
            let bytes: i64 = meta.row_groups().iter().map(|g| g.total_byte_size()).sum();
            row_bytes = row_bytes.max(bytes.max(0) as u64 / rows);
            sink.total_rows += rows;
        }
        // Batches: Arrow takes about twice the uncompressed Parquet size.
        let per_input =
            self.config.memory.get() / 4 / (builders.len() as u64).max(1) / (2 * row_bytes);
        let batch_rows = (per_input as usize).clamp(INPUT_BATCH_ROWS.0, INPUT_BATCH_ROWS.1);
        let mut inputs: Vec<Input<'r>> = Vec::with_capacity(builders.len());
        for builder in builders {
            let mut stream = builder
                .with_batch_size(batch_rows)
                .build()
                .map_err(StoreError::parquet("read a file to compact"))?;
            inputs.push(Box::new(std::iter::from_fn(move || {
                rt.block_on(stream.next())
                    .map(|r| r.map_err(StoreError::parquet("read a file to compact")))
            })));
        }
        merge(inputs, key, OUTPUT_BATCH_ROWS, sink)
    }
}

/// A reader of one input, its footer read.
type Builder = ParquetRecordBatchStreamBuilder<ObjectFile>;

pub(super) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What [`Compactor::run`] reports as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// An hour is next.
    Started(&'a HourDir),
    /// Rows merged in the current hour.
    Merged(Progress),
    /// The hour ended so.
    Finished(&'a HourDir, &'a Result<HourOutcome, StoreError>),
}

/// What a run over many hours did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Hours looked at.
    pub hours: usize,
    /// Hours compacted.
    pub compacted: usize,
    /// Hours another compactor held.
    pub busy: usize,
    /// Hours that failed (each logged).
    pub failed: usize,
    /// Bytes merged and written.
    pub input_bytes: u64,
    /// Bytes written.
    pub output_bytes: u64,
    /// Files merged.
    pub inputs: usize,
    /// Files written.
    pub outputs: usize,
    /// Rows written.
    pub rows: u64,
    /// Duplicates left out.
    pub duplicates: u64,
    /// Time taken.
    pub seconds: f64,
}

impl Compactor {
    /// Compacts every hour due at `now_secs` (between `min_age` and `max_age` old), oldest
    /// first, until `cancel` fires. `each` hears of every hour as it starts, of its rows as
    /// they are merged, and of how it ended.
    pub fn run(
        &self,
        rt: &Runtime,
        now_secs: u64,
        min_age_secs: u64,
        max_age_secs: u64,
        cancel: &CancellationToken,
        each: &mut dyn FnMut(Event<'_>),
    ) -> Result<RunReport, StoreError> {
        let started = Instant::now();
        let hours = rt.block_on(self.hours(now_secs, min_age_secs, max_age_secs))?;
        let mut report = RunReport {
            hours: hours.len(),
            ..RunReport::default()
        };
        for hour in &hours {
            if cancel.is_cancelled() {
                break;
            }
            each(Event::Started(hour));
            let outcome = self.compact_hour(rt, hour, cancel, &mut |p| each(Event::Merged(p)));
            match &outcome {
                Ok(HourOutcome::Compacted(r)) => {
                    report.compacted += 1;
                    report.input_bytes += r.input_bytes;
                    report.output_bytes += r.output_bytes;
                    report.inputs += r.inputs;
                    report.outputs += r.outputs;
                    report.rows += r.rows.rows_out;
                    report.duplicates += r.rows.duplicates;
                }
                Ok(HourOutcome::Busy) => report.busy += 1,
                Ok(_) => {}
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(exporter = %self.name, dir = %hour.dir, error = %e, "compaction: hour not compacted; the next run tries again");
                }
            }
            each(Event::Finished(hour, &outcome));
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }
}
