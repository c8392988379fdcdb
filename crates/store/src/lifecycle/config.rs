//! The lifecycle's user-facing config, [`LifecycleConfig`], under `exporters.archive`.
//!
//! ```yaml
//! exporters:
//!   archive:
//!     url: s3://bucket/llm-traces
//!     lifecycle:
//!       interval: 1h                  # 0s: only `tracegate lifecycle apply` runs it
//!       cold_after: 90d               # null: never
//!       cold_storage_class: GLACIER_IR
//!       delete_after: 400d            # absent or null (the default): never
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;
use tracegate_pipeline::{ConfigError, Duration};

const DAY: u64 = 24 * 3_600;

/// When the archive's objects leave the warm tier (the storage class they were written
/// with, S3's `STANDARD`) for a cold one, and when they are deleted. Ages are counted from
/// the end of the hour partition an object belongs to (`dt=…/hour=…` in its key), so that
/// rewriting an object (to change its class) does not make it young again.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// How often the gateway plans and applies the lifecycle, the first time one interval
    /// after start. `0s` leaves it to `tracegate lifecycle apply` (a cron job, say).
    /// Default 1h.
    pub interval: Duration,
    /// Age at which an object moves to `cold_storage_class` (S3 only: the files of a local
    /// archive have no storage class and stay until `delete_after`). `null`: never.
    /// Default 90d, the end of the warm tier.
    pub cold_after: Option<Duration>,
    /// The cold tier's S3 storage class. Default `GLACIER_IR`, which DuckDB and
    /// `tracegate` still read at once; `GLACIER` and `DEEP_ARCHIVE` are cheaper but must be
    /// restored before any reader can open them.
    pub cold_storage_class: StorageClass,
    /// Age at which an object is deleted. `null` (the default): kept forever.
    pub delete_after: Option<Duration>,
    /// Actions (moves and deletions) one run carries out at most; the rest wait for the
    /// next run, oldest first. Bounds the memory of a plan. Default 100000.
    pub max_actions_per_run: usize,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3_600),
            cold_after: Some(Duration::from_secs(90 * DAY)),
            cold_storage_class: StorageClass::GlacierIr,
            delete_after: None,
            max_actions_per_run: 100_000,
        }
    }
}

impl LifecycleConfig {
    /// Checks the values serde cannot, naming each key under `path`
    /// (`exporters.archive.lifecycle`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let at = |key: &str, message: String| ConfigError::new(format!("{path}.{key}"), message);
        if let (Some(cold), Some(delete)) = (self.cold_after, self.delete_after)
            && delete <= cold
        {
            return Err(at(
                "delete_after",
                format!(
                    "must be later than cold_after ({cold}), or set cold_after: null to delete \
                     without a cold tier; got {delete}"
                ),
            ));
        }
        if self.max_actions_per_run == 0 || self.max_actions_per_run > 10_000_000 {
            return Err(at(
                "max_actions_per_run",
                format!(
                    "must be between 1 and 10000000, got {}",
                    self.max_actions_per_run
                ),
            ));
        }
        Ok(())
    }
}

/// An S3 storage class an object can move to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    /// Infrequent access: same latency, cheaper storage, a fee per GB read.
    StandardIa,
    /// Infrequent access in one availability zone.
    OnezoneIa,
    /// S3 moves the object between access tiers itself.
    IntelligentTiering,
    /// Glacier Instant Retrieval: archive pricing, read in milliseconds.
    GlacierIr,
    /// Glacier Flexible Retrieval: must be restored (minutes to hours) before it is read.
    Glacier,
    /// Glacier Deep Archive: the cheapest; must be restored (hours) before it is read.
    DeepArchive,
}

impl StorageClass {
    /// The name S3 uses (`x-amz-storage-class`).
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::OnezoneIa => "ONEZONE_IA",
            StorageClass::IntelligentTiering => "INTELLIGENT_TIERING",
            StorageClass::GlacierIr => "GLACIER_IR",
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<LifecycleConfig, String> {
        let config: LifecycleConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        config
            .validate("exporters.archive.lifecycle")
            .map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn defaults_are_the_seeds_tiers() {
        let config = parse("{}").unwrap();
        assert_eq!(config.cold_after, Some(Duration::from_secs(90 * DAY)));
        assert_eq!(config.cold_storage_class, StorageClass::GlacierIr);
        assert_eq!(config.delete_after, None);
        assert_eq!(config.interval, Duration::from_secs(3_600));
    }

    #[test]
    fn null_turns_a_tier_off_and_classes_parse() {
        let config =
            parse("{cold_after: null, delete_after: 30d, cold_storage_class: DEEP_ARCHIVE}")
                .unwrap();
        assert_eq!(config.cold_after, None);
        assert_eq!(config.delete_after, Some(Duration::from_secs(30 * DAY)));
        assert_eq!(config.cold_storage_class.as_str(), "DEEP_ARCHIVE");
        assert!(parse("{cold_storage_class: GLACIERR}").is_err());
    }

    #[test]
    fn bad_ages_are_refused_with_their_key() {
        let err = parse("{cold_after: 90d, delete_after: 60d}").unwrap_err();
        assert!(
            err.contains("delete_after") && err.contains("later than cold_after"),
            "{err}"
        );
        let err = parse("{max_actions_per_run: 0}").unwrap_err();
        assert!(err.contains("max_actions_per_run"), "{err}");
        assert!(parse("{cold_after: 1d, delete_after: 2d}").is_ok());
    }
}
