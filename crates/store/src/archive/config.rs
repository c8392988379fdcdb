//! The `archive` exporter's user-facing config.
//!
//! ```yaml
//! exporters:
//!   archive:
//!     url: s3://bucket/llm-traces
//!     flush_bytes: 128MiB
//!     flush_age: 5m
//!     max_buffer_bytes: 512MiB
//!     compression: zstd
//!     row_group_rows: 65536
//!     s3: { endpoint: http://127.0.0.1:9000, allow_http: true }
//!     retry: { initial_backoff: 500ms, max_backoff: 30s }
//!     max_open_partitions: 32
//!     past_window: 7d
//!     future_window: 1h
//!     sampled_only_spans: true
//!     lifecycle: { interval: 1h, cold_after: 90d, cold_storage_class: GLACIER_IR }
//!     compaction: { interval: 10m, target_file_size: 128MiB, min_age: 1h }
//! ```

use crate::compaction::CompactionConfig;
use crate::destination::{Destination, Location, S3Options};
use crate::lifecycle::LifecycleConfig;
use crate::writer::{Compression, WriterOptions};
use serde::Deserialize;
use tracegate_pipeline::{ByteSize, ConfigError, Duration};

/// Configuration of the `archive` exporter: Parquet files of the `spans` table (and, after
/// trace assembly, of the `traces` table) on an object store, Hive-partitioned by hour.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Where the archive lives: a local path (`./data/archive`), `file:///absolute/path`, or
    /// `s3://bucket/prefix`. Default `./data/archive`.
    pub url: String,
    /// Cut an hour's files when its buffered rows (spans, traces, logs, scores) reach this
    /// estimated in-memory size (at most 1GiB). Default 128MiB.
    pub flush_bytes: ByteSize,
    /// Cut an hour's files when its oldest buffered row arrived this long ago. Default 5m.
    pub flush_age: Duration,
    /// Memory bound on buffered rows (of every table) plus files waiting for upload. When it
    /// is reached, export waits, and back-pressure reaches the receivers. At least
    /// `flush_bytes`. Default 512MiB.
    pub max_buffer_bytes: ByteSize,
    /// Parquet page compression: `zstd`, `gzip`, `snappy` or `none`. Default `zstd`.
    pub compression: Compression,
    /// Rows per Parquet row group. Default 65536.
    pub row_group_rows: usize,
    /// S3 settings, for `s3://` URLs only. The usual `AWS_*` environment variables also
    /// apply; these override them.
    pub s3: Option<S3Options>,
    /// Retries of failed uploads. They go on until the shutdown deadline; the data is kept
    /// meanwhile.
    pub retry: RetryConfig,
    /// Hour partitions (with multi-tenancy: (tenant, hour) pairs) buffered at once. When a row needs one more, the partition that has
    /// waited longest is cut first (counted in
    /// `tracegate_archive_early_flushes_total`), so a request spanning many hours makes
    /// more, smaller files but never more buffers than this. 1 to 4096. Default 32.
    pub max_open_partitions: usize,
    /// Rows whose start time is longer than this before their arrival go to the partition
    /// of the hour they arrived in, not of their start (their `start_time` column keeps the
    /// client's value; counted in `tracegate_archive_clamped_spans_total{reason="too_old"}`).
    /// At least 1h. Default 7d.
    pub past_window: Duration,
    /// Rows whose start time is more than this after their arrival go to the partition of
    /// the hour they arrived in (`reason="too_new"`). Default 1h.
    pub future_window: Duration,
    /// Write to the `spans` table only the spans of traces the tail sampler kept. The
    /// `traces` table keeps a row for every trace either way, with the decision in its
    /// `sampled`, `sampling_policy` and `sampling_probability` columns; the spans left out are
    /// counted in `tracegate_exporter_unsampled_spans_total` and released from the
    /// write-ahead log once their trace's row is uploaded. Spans no sampler decided on (a
    /// pipeline without `tail_sampling`, or without trace assembly) are always written.
    /// `false` archives every span, sampled or not. Default `true`.
    pub sampled_only_spans: bool,
    /// What happens to the files later: moved to a cold S3 storage class at
    /// `lifecycle.cold_after` (90d), deleted at `lifecycle.delete_after` (never by default),
    /// checked every `lifecycle.interval` (1h). See [`crate::lifecycle`].
    pub lifecycle: LifecycleConfig,
    /// Merging each hour's small files into few of `compaction.target_file_size` (128MiB),
    /// one row per span, every `compaction.interval` (10m) for hours that ended at least
    /// `compaction.min_age` (1h) ago. See [`crate::compaction`].
    pub compaction: CompactionConfig,
}

/// Backoff between upload attempts: it starts at `initial_backoff` and doubles up to
/// `max_backoff`, each wait drawn at random from its upper half (jitter), so files that
/// failed together do not retry in step.
///
/// Failures the store reports as permanent (rejected credentials, no permission, a missing
/// bucket) are logged at error level once, counted with `error_type="permanent"`, and mark
/// the exporter degraded in `/healthz`; they are still retried, every `max_backoff`, so
/// that fixing the bucket or its policy resumes the uploads without a restart. Nothing is
/// dropped meanwhile: the files wait in memory, and once `max_buffer_bytes` is reached the
/// receivers refuse new data with a retryable status. A retryable failure marks the
/// exporter degraded only once it has lasted until the waits reach `max_backoff`. The next
/// successful upload clears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Wait before the first retry. Default 500ms.
    pub initial_backoff: Duration,
    /// Longest wait between retries. Default 30s.
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            url: "./data/archive".to_owned(),
            flush_bytes: ByteSize::mib(128),
            flush_age: Duration::from_secs(300),
            max_buffer_bytes: ByteSize::mib(512),
            compression: Compression::Zstd,
            row_group_rows: WriterOptions::DEFAULT_ROW_GROUP_ROWS,
            s3: None,
            retry: RetryConfig::default(),
            max_open_partitions: Self::DEFAULT_MAX_OPEN_PARTITIONS,
            past_window: Duration::from_secs(7 * 24 * 3_600),
            future_window: Duration::from_secs(3_600),
            sampled_only_spans: true,
            lifecycle: LifecycleConfig::default(),
            compaction: CompactionConfig::default(),
        }
    }
}

impl ArchiveConfig {
    /// Largest `flush_bytes`: Arrow string columns have 32-bit offsets.
    pub const MAX_FLUSH_BYTES: ByteSize = ByteSize::mib(1024);
    /// Default `max_open_partitions`.
    pub const DEFAULT_MAX_OPEN_PARTITIONS: usize = 32;
    /// Largest `max_open_partitions`.
    pub const MAX_OPEN_PARTITIONS: usize = 4096;

    /// Checks the values serde cannot, naming each key under `path`
    /// (`exporters.archive`). Returns the first problem.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let at = |key: &str, message: String| ConfigError::new(format!("{path}.{key}"), message);
        if self.flush_bytes.get() == 0 || self.flush_bytes > Self::MAX_FLUSH_BYTES {
            return Err(at(
                "flush_bytes",
                format!("must be between 1B and 1GiB, got {}", self.flush_bytes),
            ));
        }
        if self.flush_age.get().is_zero() {
            return Err(at(
                "flush_age",
                "must be more than zero, such as 5m".to_owned(),
            ));
        }
        if self.max_buffer_bytes < self.flush_bytes {
            return Err(at(
                "max_buffer_bytes",
                format!(
                    "must be at least flush_bytes ({}), got {}; a few times flush_bytes lets \
                     uploads overlap with buffering",
                    self.flush_bytes, self.max_buffer_bytes
                ),
            ));
        }
        if self.row_group_rows == 0 {
            return Err(at(
                "row_group_rows",
                "must be at least 1, such as 65536".to_owned(),
            ));
        }
        if self.retry.initial_backoff.get().is_zero() {
            return Err(at(
                "retry.initial_backoff",
                "must be more than zero, such as 500ms".to_owned(),
            ));
        }
        if self.retry.max_backoff < self.retry.initial_backoff {
            return Err(at(
                "retry.max_backoff",
                format!(
                    "must be at least retry.initial_backoff ({}), got {}",
                    self.retry.initial_backoff, self.retry.max_backoff
                ),
            ));
        }
        if self.max_open_partitions == 0 || self.max_open_partitions > Self::MAX_OPEN_PARTITIONS {
            return Err(at(
                "max_open_partitions",
                format!(
                    "must be between 1 and {}, got {}; such as 32",
                    Self::MAX_OPEN_PARTITIONS,
                    self.max_open_partitions
                ),
            ));
        }
        if self.past_window.get() < std::time::Duration::from_secs(3_600) {
            return Err(at(
                "past_window",
                format!(
                    "must be at least 1h, so that spans of the last hour keep their partition; \
                     got {}",
                    self.past_window
                ),
            ));
        }
        self.lifecycle.validate(&format!("{path}.lifecycle"))?;
        self.compaction.validate(&format!("{path}.compaction"))?;
        let location = Location::parse(&self.url).map_err(|e| at("url", e.to_string()))?;
        if self.s3.is_some() && !matches!(location, Location::S3 { .. }) {
            return Err(at(
                "s3",
                format!("applies to s3:// urls only, but url is {:?}", self.url),
            ));
        }
        Ok(())
    }

    /// Validates, then resolves the URL into a destination. Does no I/O.
    pub fn destination(&self, path: &str) -> Result<Destination, ConfigError> {
        self.validate(path)?;
        Destination::from_url(&self.url, self.s3.as_ref()).map_err(|e| {
            let key = if self.s3.is_some() { "s3" } else { "url" };
            ConfigError::new(format!("{path}.{key}"), e.to_string())
        })
    }

    /// The Parquet writer options.
    pub fn writer_options(&self) -> WriterOptions {
        WriterOptions {
            compression: self.compression,
            row_group_rows: self.row_group_rows,
        }
    }
}
