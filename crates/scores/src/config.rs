//! The `scores` processor's user-facing config: the bounds of the shared [`ScoreBoard`].
//!
//! ```yaml
//! processors:
//!   scores:
//!     index:            # recent LLM calls, by gen_ai.response.id and request id
//!       max_entries: 200000
//!       ttl: 1h
//!     pending:          # joined scores waiting for trace assembly to release their trace
//!       max_scores: 100000
//!       max_bytes: 64MiB
//!       ttl: 1m
//! ```
//!
//! [`ScoreBoard`]: crate::ScoreBoard

use crate::board::BoardLimits;
use serde::Deserialize;
use tracegate_pipeline::{ByteSize, ConfigError, Duration};

/// `processors.scores`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoresConfig {
    /// The index of recent LLM calls.
    pub index: IndexConfig,
    /// Joined scores waiting for their trace.
    pub pending: PendingConfig,
}

/// `index`: response ids and request ids of recent LLM calls → their trace and span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexConfig {
    /// Ids remembered at once (a call with both a response and a request id takes two),
    /// oldest forgotten first; 106 to 142 bytes each, whatever the ids' length (measured:
    /// see the crate docs). At least 1024. Default 200000 (about 21 MB).
    pub max_entries: usize,
    /// How long an id is remembered: scores that come later than this after their call, and
    /// name it only by id, stay unresolved. Default `1h`.
    pub ttl: Duration,
}

impl Default for IndexConfig {
    fn default() -> Self {
        let d = BoardLimits::default();
        Self {
            max_entries: d.max_calls,
            ttl: Duration(std::time::Duration::from_nanos(d.call_ttl_ns)),
        }
    }
}

/// `pending`: joined scores held until trace assembly releases their trace, so the trace
/// (and `tail_sampling`) sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PendingConfig {
    /// Scores held at once; when full, the oldest trace's go first (counted). `0` holds
    /// none. Default 100000.
    pub max_scores: usize,
    /// Estimated bytes held at once. Default `64MiB`.
    pub max_bytes: ByteSize,
    /// How long a score waits: at least `trace_assembly`'s `max_wait`, so a score that
    /// comes before its trace's first span still meets it. Default `1m`.
    pub ttl: Duration,
}

impl Default for PendingConfig {
    fn default() -> Self {
        let d = BoardLimits::default();
        Self {
            max_scores: d.max_pending,
            max_bytes: ByteSize(d.max_pending_bytes as u64),
            ttl: Duration(std::time::Duration::from_nanos(d.pending_ttl_ns)),
        }
    }
}

impl ScoresConfig {
    /// Fewest `index.max_entries`.
    pub const MIN_INDEX_ENTRIES: usize = 1024;
    /// Most `index.max_entries` and `pending.max_scores`.
    pub const MAX_COUNT: usize = 100_000_000;

    /// Checks what serde cannot, naming each key under `path` (`processors.scores`).
    /// Returns every problem found.
    pub fn validate(&self, path: &str) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut at = |key: &str, message: String| {
            errors.push(ConfigError::new(format!("{path}.{key}"), message));
        };
        if !(Self::MIN_INDEX_ENTRIES..=Self::MAX_COUNT).contains(&self.index.max_entries) {
            at(
                "index.max_entries",
                format!(
                    "must be from {} to {}, such as 200000; got {}",
                    Self::MIN_INDEX_ENTRIES,
                    Self::MAX_COUNT,
                    self.index.max_entries
                ),
            );
        }
        if self.pending.max_scores > Self::MAX_COUNT {
            at(
                "pending.max_scores",
                format!(
                    "must be at most {}, such as 100000; got {}",
                    Self::MAX_COUNT,
                    self.pending.max_scores
                ),
            );
        }
        if self.pending.max_bytes.get() < 64 * 1024 {
            at(
                "pending.max_bytes",
                format!(
                    "must be at least 64KiB, such as 64MiB; got {}",
                    self.pending.max_bytes.get()
                ),
            );
        }
        let longest = std::time::Duration::from_nanos(u64::MAX);
        for (key, value) in [
            ("index.ttl", self.index.ttl),
            ("pending.ttl", self.pending.ttl),
        ] {
            if value.get().is_zero() {
                at(key, "must be more than zero, such as 1m".to_owned());
            } else if value.get() > longest {
                at(
                    key,
                    format!(
                        "must be at most {} (nanoseconds in 64 bits), got {value}",
                        Duration(longest)
                    ),
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The board's bounds. Does not validate.
    pub fn limits(&self) -> BoardLimits {
        let nanos = |d: Duration| u64::try_from(d.get().as_nanos()).unwrap_or(u64::MAX);
        BoardLimits {
            max_calls: self.index.max_entries,
            call_ttl_ns: nanos(self.index.ttl),
            max_pending: self.pending.max_scores,
            max_pending_bytes: self.pending.max_bytes.as_usize(),
            pending_ttl_ns: nanos(self.pending.ttl),
        }
    }
}
