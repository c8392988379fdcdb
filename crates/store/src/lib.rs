//! The Parquet writer and the `archive` exporter: tracegate's spans, traces, logs and scores
//! as a data lake.
//!
//! The archive is a contract with data-lake readers (DuckDB, Athena, Trino, Spark,
//! DataFusion), set out in DESIGN.md §4. This crate keeps it, one job per module:
//!
//! - [`encoder`]: [`SpanEncoder`] turns spans into an Arrow batch of the `spans` table
//!   ([`tracegate_model::schema::spans_schema`]), reading them in place;
//! - [`trace_encoder`]: [`TraceEncoder`] turns released traces into an Arrow batch of the
//!   `traces` table ([`tracegate_model::schema::traces_schema`]), one row per trace;
//! - [`log_encoder`], [`score_encoder`]: [`LogEncoder`] and [`ScoreEncoder`], the same for
//!   the `logs` and `scores` tables ([`tracegate_model::schema::logs_schema`],
//!   [`tracegate_model::schema::scores_schema`]);
//! - [`writer`]: [`write_spans`] (and [`write_traces`], [`write_logs`], [`write_scores`]) turns that batch into Parquet bytes, rows sorted by
//!   (trace_id, start_time), with min/max statistics and a bloom filter on trace_id, zstd by
//!   default, and the schema version in the key-value metadata;
//! - [`layout`]: where each file goes,
//!   `{prefix}/{spans,traces,logs,scores}/dt=YYYY-MM-DD/hour=HH/{instance}-{ulid}.parquet`,
//!   by the UTC hour of each span's (or trace's) start, or each record's (score's) time;
//! - [`destination`]: a URL (a local path, `file://…` or `s3://…`) → an object store;
//! - [`archive`]: the `archive` exporter, which buffers spans (and, after trace assembly,
//!   traces rows) per hour, at most `max_open_partitions` hours at once (rows with far-off
//!   start times go to their arrival hour), cuts files by size and age, and uploads them in
//!   the background within a memory bound, retrying with jittered backoff until they are
//!   written; permanent errors ([`ErrorClass`]) mark the exporter degraded. Register it with
//!   [`ArchiveExporterFactory`];
//! - [`read`]: the way back: [`spans_from_batch`] decodes a `spans` batch into spans, and
//!   [`ColdArchive`] finds a trace's rows by id, reading few row groups, with its rows of
//!   the `scores` table as evaluation events on the spans they rate;
//! - [`compaction`]: each hour's small files merged into few large ones, each span once,
//!   committed by a record per hour (`_compaction.json`) that exact readers follow
//!   ([`compaction::CompactionView`]); the `archive` exporter runs it on a schedule,
//!   `tracegate compact` by hand;
//! - [`lifecycle`]: the archive's tiers after it is written, warm → cold → deleted by the
//!   age of each hour partition: [`lifecycle::Lifecycle`] plans and applies them, the
//!   `archive` exporter on a schedule, `tracegate lifecycle plan|apply` by hand;
//! - [`hot`]: the `hot_store` exporter, recent traces of every tenant on local disk in small
//!   Parquet blocks of the same schema, with an in-memory index per block, retention by age
//!   and size, and the reads the query API serves ([`HotStore::find_trace`],
//!   [`HotStore::scan`]). Register it with [`HotStoreFactory`].
//!
//! Encoding spans and reading the file back:
//!
//! ```
//! use arrow_array::{Array, cast::AsArray};
//! use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
//! use std::sync::Arc;
//! use tracegate_model::{Resource, Scope, Span, SpanId, SpanKind, Status, TraceId};
//! use tracegate_store::{SpanEncoder, WriterOptions, write_spans};
//!
//! let span = |trace: u8, id: u8, start: u64| Span {
//!     resource: Arc::new(Resource::with_service("api")),
//!     scope: Arc::new(Scope::default()),
//!     trace_id: TraceId([trace; 16]),
//!     span_id: SpanId([id; 8]),
//!     parent_span_id: None,
//!     trace_state: String::new(),
//!     flags: 0,
//!     name: "GET /chat".into(),
//!     kind: SpanKind::Server,
//!     start_time_unix_nano: start,
//!     end_time_unix_nano: start + 1_000,
//!     attributes: vec![],
//!     dropped_attributes_count: 0,
//!     events: vec![],
//!     dropped_events_count: 0,
//!     links: vec![],
//!     dropped_links_count: 0,
//!     facts: Default::default(),
//!     origin: Default::default(),
//!     status: Status::default(),
//! };
//! let spans = [span(2, 1, 10), span(1, 2, 30), span(1, 3, 20)];
//!
//! let mut encoder = SpanEncoder::new();
//! spans.iter().for_each(|s| encoder.push(s));
//! let encoded = encoder.finish()?;
//! let file = write_spans(&encoded.batch, Some(&encoded.order), &WriterOptions::default())?;
//!
//! let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?.collect::<Result<_, _>>()?;
//! let span_ids = batches[0].column_by_name("span_id").unwrap().as_string::<i32>();
//! // Sorted by trace id, then start time.
//! assert_eq!(span_ids.iter().flatten().collect::<Vec<_>>(), ["0303030303030303", "0202020202020202", "0101010101010101"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod archive;
pub mod compaction;
pub mod destination;
pub mod encoder;
pub mod error;
pub mod hot;
pub mod layout;
pub mod lifecycle;
pub mod log_encoder;
pub mod read;
pub mod score_encoder;
pub mod trace_encoder;
pub mod writer;

pub use archive::{ArchiveConfig, ArchiveExporter, ArchiveExporterFactory};
pub use destination::{Destination, S3Options};
pub use encoder::{EncodedSpans, SizeHint, SpanEncoder};
pub use error::{ErrorClass, StoreError};
pub use hot::{
    HotRegistry, HotStore, HotStoreConfig, HotStoreFactory, ScanFilter, ScanFloor, ScanStats,
};
pub use log_encoder::{EncodedLogs, LogEncoder};
pub use read::{ColdArchive, ColdLookup, ColdOptions, ColdScores, SpanDecoder, spans_from_batch};
pub use score_encoder::{EncodedScores, ScoreEncoder};
pub use trace_encoder::{EncodedTraces, TraceEncoder};
pub use writer::{Compression, WriterOptions, write_logs, write_scores, write_spans, write_traces};

#[cfg(test)]
mod testing;
