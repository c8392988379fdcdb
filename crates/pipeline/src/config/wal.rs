//! `service.wal`: the write-ahead log's configuration (the log itself is the `tracegate-wal`
//! crate). It is on by default, also when a config has no `wal` section.

use super::{ByteSize, ConfigError};
use serde::Deserialize;
use std::path::PathBuf;

/// What an acknowledged append survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// `append` returns once the record is written to the file (in the OS page cache). It
    /// survives a crash or `kill -9` of the gateway, not a host crash or power loss. The
    /// default: no sync on the ingest path.
    #[default]
    Process,
    /// `append` returns once the record is written and `fdatasync`ed. It survives a host
    /// crash or power loss too, at the cost of one sync per group commit.
    Host,
}

/// `service.wal`: the write-ahead log every acknowledged span is written to first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    /// `false` turns the log off: acknowledged spans then live in memory until exported, and a
    /// crash loses them. Default `true`.
    pub enabled: bool,
    /// Directory of the segment and checkpoint files; created if missing. One gateway per
    /// directory (a lock file enforces it). Default `./data/wal`.
    pub dir: PathBuf,
    /// What an acknowledged span survives: `process` (a gateway crash; the default) or `host`
    /// (a host crash too; one `fdatasync` per group commit).
    pub sync: SyncMode,
    /// Most bytes the WAL holds on disk. When full, appends fail with a retryable error and
    /// receivers refuse with `UNAVAILABLE` / 503 until exporters catch up. Default `4GiB`;
    /// at least twice `segment_bytes`.
    pub max_bytes: ByteSize,
    /// Size at which a new segment file is started. Segments are deleted whole, once every
    /// exporter has made all their spans durable. Default `64MiB`; from `64KiB` to `1GiB`.
    pub segment_bytes: ByteSize,
}

/// The smallest `segment_bytes` accepted.
pub const MIN_SEGMENT_BYTES: u64 = 64 * 1024;
/// The largest `segment_bytes` accepted (a segment is read whole during replay).
pub const MAX_SEGMENT_BYTES: u64 = 1024 * 1024 * 1024;

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::from("./data/wal"),
            sync: SyncMode::Process,
            max_bytes: ByteSize(4 * 1024 * 1024 * 1024),
            segment_bytes: ByteSize::mib(64),
        }
    }
}

impl WalConfig {
    /// A config for `dir` with every other setting at its default.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            ..Self::default()
        }
    }

    /// Checks the bounds; errors carry `path` plus the key.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let at = |key: &str, message: String| {
            let full = if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            };
            ConfigError::new(full, message)
        };
        if self.dir.as_os_str().is_empty() {
            return Err(at("dir", "must not be empty (default ./data/wal)".into()));
        }
        let seg = self.segment_bytes.get();
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&seg) {
            return Err(at(
                "segment_bytes",
                format!(
                    "{} is outside 64KiB..=1GiB (default 64MiB)",
                    self.segment_bytes
                ),
            ));
        }
        if self.max_bytes.get() < seg.saturating_mul(2) {
            return Err(at(
                "max_bytes",
                format!(
                    "{} is less than twice segment_bytes ({}): the WAL could not free a segment while appending to the next",
                    self.max_bytes, self.segment_bytes
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_fixture_parses_with_units() {
        let yaml =
            "dir: /var/lib/tracegate/wal\nsync: host\nmax_bytes: 2GiB\nsegment_bytes: 32MiB\n";
        let c: WalConfig = serde_yaml_ng::from_str(yaml).unwrap();
        assert_eq!(
            c,
            WalConfig {
                enabled: true,
                dir: "/var/lib/tracegate/wal".into(),
                sync: SyncMode::Host,
                max_bytes: ByteSize(2 << 30),
                segment_bytes: ByteSize::mib(32),
            }
        );
        c.validate("service.wal").unwrap();
    }

    #[test]
    fn empty_section_gives_documented_defaults() {
        let c: WalConfig = serde_yaml_ng::from_str("{}").unwrap();
        assert!(c.enabled);
        assert_eq!(c.dir, PathBuf::from("./data/wal"));
        assert_eq!(c.sync, SyncMode::Process);
        assert_eq!(c.max_bytes, ByteSize(4 << 30));
        assert_eq!(c.segment_bytes, ByteSize::mib(64));
        c.validate("wal").unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_modes_are_errors() {
        assert!(serde_yaml_ng::from_str::<WalConfig>("max_byte: 1GiB").is_err());
        assert!(serde_yaml_ng::from_str::<WalConfig>("sync: always").is_err());
    }

    #[test]
    fn bounds_are_reported_with_key_paths() {
        let mut c = WalConfig::new("/x");
        c.segment_bytes = ByteSize::kib(4);
        assert_eq!(
            c.validate("service.wal").unwrap_err().path,
            "service.wal.segment_bytes"
        );
        let mut c = WalConfig::new("/x");
        c.max_bytes = ByteSize::mib(100);
        assert_eq!(
            c.validate("service.wal").unwrap_err().path,
            "service.wal.max_bytes"
        );
        let c = WalConfig::new("");
        assert_eq!(c.validate("wal").unwrap_err().path, "wal.dir");
    }
}
