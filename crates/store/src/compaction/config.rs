//! Compaction's user-facing config, [`CompactionConfig`], under `exporters.archive`.
//!
//! ```yaml
//! exporters:
//!   archive:
//!     url: s3://bucket/llm-traces
//!     compaction:
//!       interval: 10m              # 0s: only `tracegate compact` runs it
//!       target_file_size: 128MiB
//!       min_age: 1h                # hours that ended at least this long ago
//!       max_age: 30d               # and not longer ago than this
//!       memory: 256MiB
//!       lease: 10m
//! ```

use serde::Deserialize;
use tracegate_pipeline::{ByteSize, ConfigError, Duration};

const DAY: u64 = 24 * 3_600;

/// When and how the archive's small files of an hour are merged into few large ones.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    /// How often the gateway looks for hours to compact, the first time one interval after
    /// start. `0s` leaves it to `tracegate compact`. Default 10m.
    pub interval: Duration,
    /// Size of the files compaction writes; an hour with more data gets several. Files at
    /// least half this size are left as they are. 1MiB to 4GiB. Default 128MiB.
    pub target_file_size: ByteSize,
    /// Only hours that ended at least this long ago are compacted, so that the exporter's
    /// last files of an hour (cut within `flush_age` of its end) are in. Files that arrive
    /// later still are counted, and merged in by a later run. Default 1h.
    pub min_age: Duration,
    /// Hours that ended longer ago than this are left alone by the gateway (the cold tier
    /// is not rewritten); `tracegate compact --max-age` reaches further back. Default 30d.
    pub max_age: Duration,
    /// Memory for the batches being merged, shared by the inputs (at most 64 rows each, at
    /// least) and the output. Default 256MiB.
    pub memory: ByteSize,
    /// How long an hour's lease lasts before another compactor may take it; a compactor
    /// renews it after each file it writes. Default 10m.
    pub lease: Duration,
    /// Input files merged at once at most; an hour with more is compacted over several
    /// runs. 2 to 10000. Default 1000.
    pub max_inputs: usize,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(600),
            target_file_size: ByteSize::mib(128),
            min_age: Duration::from_secs(3_600),
            max_age: Duration::from_secs(30 * DAY),
            memory: ByteSize::mib(256),
            lease: Duration::from_secs(600),
            max_inputs: 1_000,
        }
    }
}

impl CompactionConfig {
    /// Checks the values serde cannot, naming each key under `path`
    /// (`exporters.archive.compaction`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let at = |key: &str, message: String| ConfigError::new(format!("{path}.{key}"), message);
        let size = self.target_file_size.get();
        if !(ByteSize::mib(1).get()..=ByteSize::mib(4096).get()).contains(&size) {
            return Err(at(
                "target_file_size",
                format!(
                    "must be between 1MiB and 4GiB, got {}",
                    self.target_file_size
                ),
            ));
        }
        if self.memory < ByteSize::mib(16) {
            return Err(at(
                "memory",
                format!("must be at least 16MiB, got {}", self.memory),
            ));
        }
        if self.max_age <= self.min_age {
            return Err(at(
                "max_age",
                format!(
                    "must be longer than min_age ({}), got {}",
                    self.min_age, self.max_age
                ),
            ));
        }
        if self.lease.get() < std::time::Duration::from_secs(10) {
            return Err(at(
                "lease",
                format!("must be at least 10s, got {}", self.lease),
            ));
        }
        if !(2..=10_000).contains(&self.max_inputs) {
            return Err(at(
                "max_inputs",
                format!("must be between 2 and 10000, got {}", self.max_inputs),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_values_name_their_key() {
        CompactionConfig::default().validate("c").unwrap();
        let bad = |f: fn(&mut CompactionConfig)| {
            let mut c = CompactionConfig::default();
            f(&mut c);
            c.validate("exporters.archive.compaction")
                .unwrap_err()
                .to_string()
        };
        assert!(
            bad(|c| c.target_file_size = ByteSize::kib(10)).contains("compaction.target_file_size")
        );
        assert!(bad(|c| c.memory = ByteSize::mib(1)).contains("compaction.memory"));
        assert!(bad(|c| c.max_age = c.min_age).contains("compaction.max_age"));
        assert!(bad(|c| c.lease = Duration::from_secs(1)).contains("compaction.lease"));
        assert!(bad(|c| c.max_inputs = 1).contains("compaction.max_inputs"));
    }
}
