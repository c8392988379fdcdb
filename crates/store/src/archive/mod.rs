//! The `archive` exporter: Parquet files of the `spans` table on an object store,
//! Hive-partitioned by hour (DESIGN.md §4).
//!
//! - [`config`]: the user-facing config, [`ArchiveConfig`];
//! - [`exporter`]: the factory, [`ArchiveExporterFactory`], and the run loop,
//!   [`ArchiveExporter`].

pub mod config;
pub mod exporter;

pub use config::{ArchiveConfig, RetryConfig};
pub use exporter::{ArchiveExporter, ArchiveExporterFactory};

#[cfg(test)]
mod tests;
