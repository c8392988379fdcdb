//! The `hot_store` exporter: recent traces of every tenant on local disk, which the query
//! API serves (trace by id, search).
//!
//! Spans are kept in the archive's own `spans` schema (DESIGN.md §4), encoded by the same
//! code ([`crate::SpanEncoder`], [`crate::writer::write_spans_to`]) and decoded by
//! [`crate::read::spans_from_batch`], in small time-ordered blocks per tenant:
//!
//! ```text
//! {path}/{tenant}/TENANT                 the exact tenant name
//! {path}/{tenant}/{ulid}.parquet         one block: rows sorted by trace id, then start
//! {path}/@late_scores.log                late scores of every tenant (`late_log.rs`)
//! ```
//!
//! - [`config`]: [`HotStoreConfig`] (`path`, `retention`, `max_bytes`, block sizes,
//!   `late_scores` bounds: [`LateScoresConfig`]);
//! - [`exporter`]: [`HotStoreFactory`] and [`HotStoreExporter`]: head → block → disk, with
//!   the write-ahead log's release once a block is on disk;
//! - `head`: a tenant's in-memory head, payloads held by `Arc`, searchable at once;
//! - `block`: writing a block (temporary file, `fsync`, rename) and reopening one;
//! - [`index`]: [`BlockIndex`], per block and in memory: each trace's rows, time range,
//!   longest span and services, so lookups and searches open only blocks that can match;
//!   and [`ScanFilter`];
//! - `reader`: reading only the selected rows of a block back as spans;
//! - [`retention`]: which blocks go, by age then by size, oldest first;
//! - `store`: [`HotStore`], every tenant's heads and blocks, written and evicted;
//! - `scores`: a released trace's scores as `gen_ai.evaluation.result` events on the spans
//!   they rate, in blocks and in what heads serve;
//! - `late`, `late_log`, `late_store`: late scores, which a `logs` pipeline brings after
//!   their trace was released: bounded in memory, in `{path}/@late_scores.log`, and added
//!   to the trace's spans as the same events whenever the store serves them;
//! - `replay`: after a restart, replayed spans a block already held are not stored again;
//! - `search`: its reads, [`HotStore::find_trace`] and [`HotStore::scan`];
//! - [`registry`]: [`HotRegistry`], the stores by exporter id, for the query API;
//! - `tenant`: tenant names → directory names (Tempo's rule);
//! - `metrics`: `tracegate_hot_store_*`.
//!
//! The hot tier keeps every trace, sampled or not ([`Exporter::sampled_only`] is false).
//!
//! [`Exporter::sampled_only`]: tracegate_pipeline::Exporter::sampled_only

mod block;
pub mod config;
pub mod exporter;
mod head;
pub mod index;
mod late;
mod late_log;
mod late_store;
pub mod metrics;
mod reader;
pub mod registry;
mod replay;
pub mod retention;
mod scores;
mod search;
mod store;
mod tenant;

pub use config::{HotStoreConfig, LateScoresConfig};
pub use exporter::{HotStoreExporter, HotStoreFactory};
pub use index::{BlockIndex, ScanFilter, ScanFloor};
pub use registry::HotRegistry;
pub use store::{Clock, HotStats, HotStore, ScanStats, SystemClock};
pub use tenant::tenant_dir;
pub use tenant::{is_valid as is_valid_tenant, sanitise as sanitise_tenant};

#[cfg(test)]
mod tests;
