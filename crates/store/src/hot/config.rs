//! The `hot_store` exporter's user-facing config, [`HotStoreConfig`].
//!
//! ```yaml
//! exporters:
//!   hot_store:
//!     path: ./data/hot
//!     retention: 30d
//!     max_bytes: 10GiB
//!     block_max_age: 10s
//!     block_max_bytes: 32MiB
//!     max_head_bytes: 256MiB
//!     compression: zstd
//!     row_group_rows: 16384
//!     late_scores: { max_scores: 100000, max_bytes: 32MiB }
//! ```

use crate::writer::{Compression, WriterOptions};
use serde::Deserialize;
use std::path::PathBuf;
use tracegate_pipeline::{ByteSize, ConfigError, Duration};

/// Configuration of the `hot_store` exporter: recent traces of every tenant on local disk, in
/// small time-ordered Parquet blocks of the archive's `spans` schema, served by the query
/// API. It keeps every trace it is given, sampled or not.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotStoreConfig {
    /// The directory of the blocks, one subdirectory per tenant. Created at start.
    /// Default `./data/hot`.
    pub path: PathBuf,
    /// Blocks older than this (by the time they were written) are deleted, oldest first
    /// (counted in `tracegate_hot_store_evicted_blocks_total{reason="age"}`). At least 1m.
    /// Default 30d, the seed's hot tier (`max_bytes` bounds the disk whatever the age).
    pub retention: Duration,
    /// Disk bound on the blocks of all tenants together: past it, the oldest blocks are
    /// deleted first (`reason="size"`). At least `block_max_bytes`. Default 10GiB.
    pub max_bytes: ByteSize,
    /// Write a tenant's in-memory head to a block once its oldest span arrived this long ago.
    /// Spans in the head are searchable at once and reported durable to the write-ahead log
    /// once their block is on disk. Between 100ms and 10m. Default 10s.
    pub block_max_age: Duration,
    /// Write a tenant's head to a block once its spans reach this estimated in-memory size.
    /// At most 1GiB. Default 32MiB.
    pub block_max_bytes: ByteSize,
    /// Memory bound on the heads of all tenants plus the blocks being written. When it is
    /// reached, export waits for a block write to finish, and back-pressure reaches the
    /// receivers. At least `block_max_bytes`. Default 256MiB.
    pub max_head_bytes: ByteSize,
    /// Parquet page compression of blocks: `zstd`, `gzip`, `snappy` or `none`. Default `zstd`.
    pub compression: Compression,
    /// Rows per Parquet row group in a block. Fewer rows let a lookup read less. Default 16384.
    pub row_group_rows: usize,
    /// Scores that arrive through a `logs` pipeline after their trace was released, kept
    /// by trace id and served as evaluation events with the trace.
    pub late_scores: LateScoresConfig,
}

/// The bounds on the late scores a `hot_store` keeps (`late_scores` under its section): for
/// all tenants together, oldest first past either bound
/// (`tracegate_hot_store_evicted_late_scores_total{reason="entries"|"bytes"}`); older than
/// `retention`, they go too (`reason="age"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LateScoresConfig {
    /// Scores kept, at most. Between 1 and 10000000. Default 100000.
    pub max_scores: usize,
    /// Estimated in-memory bytes of the scores kept, at most. Between 1KiB and 1GiB.
    /// Default 32MiB.
    pub max_bytes: ByteSize,
}

impl Default for LateScoresConfig {
    fn default() -> Self {
        Self {
            max_scores: 100_000,
            max_bytes: ByteSize::mib(32),
        }
    }
}

impl LateScoresConfig {
    /// Largest `max_scores`.
    pub const MAX_SCORES: usize = 10_000_000;

    /// Checks the bounds, naming each key under `path` (`exporters.hot_store.late_scores`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let at = |key: &str, message: String| ConfigError::new(format!("{path}.{key}"), message);
        if self.max_scores == 0 || self.max_scores > Self::MAX_SCORES {
            return Err(at(
                "max_scores",
                format!(
                    "must be between 1 and {}, such as 100000; got {}",
                    Self::MAX_SCORES,
                    self.max_scores
                ),
            ));
        }
        if self.max_bytes < ByteSize::kib(1) || self.max_bytes > ByteSize::mib(1024) {
            return Err(at(
                "max_bytes",
                format!(
                    "must be between 1KiB and 1GiB, such as 32MiB; got {}",
                    self.max_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl Default for HotStoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./data/hot"),
            retention: Duration::from_secs(30 * 24 * 3_600),
            max_bytes: ByteSize::mib(10 * 1024),
            block_max_age: Duration::from_secs(10),
            block_max_bytes: ByteSize::mib(32),
            max_head_bytes: ByteSize::mib(256),
            compression: Compression::Zstd,
            row_group_rows: Self::DEFAULT_ROW_GROUP_ROWS,
            late_scores: LateScoresConfig::default(),
        }
    }
}

impl HotStoreConfig {
    /// Default `row_group_rows`.
    pub const DEFAULT_ROW_GROUP_ROWS: usize = 16_384;
    /// Largest `block_max_bytes`: Arrow string columns have 32-bit offsets.
    pub const MAX_BLOCK_BYTES: ByteSize = ByteSize::mib(1024);

    /// Checks the values serde cannot, naming each key under `path`
    /// (`exporters.hot_store`). Returns the first problem.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let at = |key: &str, message: String| ConfigError::new(format!("{path}.{key}"), message);
        if self.path.as_os_str().is_empty() {
            return Err(at(
                "path",
                "must name a directory, such as ./data/hot".to_owned(),
            ));
        }
        if self.retention.get() < std::time::Duration::from_secs(60) {
            return Err(at(
                "retention",
                format!("must be at least 1m, such as 24h; got {}", self.retention),
            ));
        }
        let age = self.block_max_age.get();
        if age < std::time::Duration::from_millis(100) || age > std::time::Duration::from_secs(600)
        {
            return Err(at(
                "block_max_age",
                format!(
                    "must be between 100ms and 10m, such as 10s; got {}",
                    self.block_max_age
                ),
            ));
        }
        if self.block_max_bytes.get() == 0 || self.block_max_bytes > Self::MAX_BLOCK_BYTES {
            return Err(at(
                "block_max_bytes",
                format!(
                    "must be between 1B and 1GiB, such as 32MiB; got {}",
                    self.block_max_bytes
                ),
            ));
        }
        if self.max_head_bytes < self.block_max_bytes {
            return Err(at(
                "max_head_bytes",
                format!(
                    "must be at least block_max_bytes ({}), got {}; a few times block_max_bytes \
                     lets block writes overlap with new data",
                    self.block_max_bytes, self.max_head_bytes
                ),
            ));
        }
        if self.max_bytes < self.block_max_bytes {
            return Err(at(
                "max_bytes",
                format!(
                    "must be at least block_max_bytes ({}), got {}",
                    self.block_max_bytes, self.max_bytes
                ),
            ));
        }
        if self.row_group_rows == 0 {
            return Err(at(
                "row_group_rows",
                "must be at least 1, such as 16384".to_owned(),
            ));
        }
        self.late_scores.validate(&format!("{path}.late_scores"))
    }

    /// The Parquet writer options of a block.
    pub fn writer_options(&self) -> WriterOptions {
        WriterOptions {
            compression: self.compression,
            row_group_rows: self.row_group_rows,
        }
    }
}
