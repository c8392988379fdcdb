//! The `archive` exporter: Parquet files of the `spans` and `traces` tables on an object
//! store, Hive-partitioned by hour (DESIGN.md §4). A payload of spans (no trace assembly)
//! writes spans only; a payload of released traces writes its spans and one traces row per
//! trace, fragments included (marked in the `fragment` column).
//!
//! - [`config`]: the user-facing config, [`ArchiveConfig`];
//! - [`exporter`]: the factory, [`ArchiveExporterFactory`], and the run loop,
//!   [`ArchiveExporter`];
//! - `placement`: which hour partition a row goes to, with client clocks that may be off;
//! - `upload`: encoding and uploading one file, with the classification of failures;
//! - `backoff`: the waits between attempts, with jitter.

mod backoff;
mod buffer;
pub mod config;
mod durable;
pub mod exporter;
mod journal;
mod placement;
mod recovery;
mod retry;
mod upload;

pub use config::{ArchiveConfig, RetryConfig};
pub use exporter::{ArchiveExporter, ArchiveExporterFactory};

#[cfg(test)]
mod tests;
