//! SQL over tracegate's data, hot and cold together, with DataFusion.
//!
//! Kept out of the gateway's own build path: DataFusion triples a clean release build, so
//! only the `tracegate` binary's `sql` feature brings it in (`tracegate query`, and
//! `POST /api/sql` on the query API); `make run` builds without it.
//!
//! - [`catalog`]: the tables, `spans` (hot and cold, each span once), `archive_spans`,
//!   `hot_spans`, `traces`, `logs` and `scores`, with partition pruning on `dt`/`hour`,
//!   filters pushed into Parquet row groups and the `trace_id` bloom filter;
//! - [`views`]: the ready-made questions shipped in `config/sql/` (cost per model, user and
//!   day; latency and time to first token per model; the slowest critical-path stages;
//!   error rate by class; traces with low scores), registered as views;
//! - [`output`]: results as a table, CSV, JSON, JSON lines, Parquet or Arrow IPC;
//! - [`progress`]: the bytes a query has read so far, for a progress line.
//!
//! [`Engine`] is the entry point: open it on [`Sources`], then [`Engine::query`]. Queries are
//! read-only (no DDL, DML or `SET`), and run within a memory limit.

pub mod catalog;
pub mod output;
pub mod progress;
pub mod views;

pub use catalog::Sources;
pub use output::Format;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::parser::ParserError;
use futures::TryStreamExt;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The query is not valid SQL, names an unknown table or column, or is not read-only.
    #[error("{0}")]
    Query(String),
    /// Running it failed (reading the files, or past the memory limit).
    #[error("the query failed: {0}")]
    Execution(String),
    /// A file the query planned to read was gone by the time it read it: a compaction
    /// committed meanwhile and deleted the files it merged. [`Engine::query`] runs the query
    /// again on a fresh listing before it reports this.
    #[error("the query failed: {0}; the archive changed under it (a compaction), run it again")]
    Vanished(String),
    /// A source could not be opened.
    #[error("could not open {what}: {message}")]
    Source {
        /// Which source.
        what: String,
        /// Why.
        message: String,
    },
}

impl SqlError {
    /// Whether the query itself is at fault (HTTP 400), not the engine or a source.
    pub fn is_bad_query(&self) -> bool {
        matches!(self, SqlError::Query(_))
    }
}

impl From<DataFusionError> for SqlError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_) => SqlError::Query(e.strip_backtrace()),
            _ if vanished(&e) => SqlError::Vanished(e.strip_backtrace()),
            _ => SqlError::Execution(e.strip_backtrace()),
        }
    }
}

/// Whether `e` is an object the query listed and then did not find: object_store's
/// `NotFound`, at the root or wrapped in the Parquet reader's error.
fn vanished(e: &DataFusionError) -> bool {
    if let DataFusionError::ObjectStore(inner) = e.find_root() {
        return matches!(inner.as_ref(), object_store::Error::NotFound { .. });
    }
    let text = e.to_string();
    text.contains("Object at location") && text.contains("not found")
}

impl From<ParserError> for SqlError {
    fn from(e: ParserError) -> Self {
        SqlError::Query(e.to_string())
    }
}

/// Limits of one engine.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Threads (DataFusion's target partitions).
    pub threads: usize,
    /// Memory for joins, sorts and aggregations, in bytes; a query that needs more fails.
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            memory_bytes: 1 << 30,
        }
    }
}

/// A SQL session over [`Sources`], with the views of `config/sql/`.
pub struct Engine {
    ctx: SessionContext,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// Registers the tables of `sources` and the shipped views.
    pub async fn open(sources: &Sources, limits: Limits) -> Result<Self, SqlError> {
        let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut counted = sources.clone();
        counted.archive = sources.archive.clone().map(|(store, prefix)| {
            let store: std::sync::Arc<dyn object_store::ObjectStore> =
                std::sync::Arc::new(progress::CountingStore::new(store, read.clone()));
            (store, prefix)
        });
        let ctx = catalog::session(&counted, limits.threads, limits.memory_bytes).await?;
        views::register(&ctx).await?;
        Ok(Self { ctx, read })
    }

    /// Bytes read from the archive so far, by every query of this engine.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs one read-only statement and streams its rows.
    pub async fn stream(&self, sql: &str) -> Result<SendableRecordBatchStream, SqlError> {
        let options = datafusion::execution::context::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = self.ctx.sql_with_options(sql, options).await?;
        Ok(frame.execute_stream().await?)
    }

    /// Runs one read-only statement; its schema and rows. A run that finds a file it
    /// listed deleted (a compaction committed meanwhile) is run again, up to
    /// [`Self::RUNS`] times in all, each on a fresh listing.
    pub async fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
        let mut runs = 1;
        loop {
            match self.run(sql).await {
                Err(SqlError::Vanished(_)) if runs < Self::RUNS => runs += 1,
                result => return result,
            }
        }
    }

    /// Runs of one statement at most when files vanish under it.
    pub const RUNS: usize = 3;

    async fn run(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
        let stream = self.stream(sql).await?;
        let schema = stream.schema();
        let batches = stream.try_collect().await?;
        Ok((schema, batches))
    }

    /// The session, for what this API does not cover (tests, `EXPLAIN ANALYZE`).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }
}
