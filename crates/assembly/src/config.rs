//! The `trace_assembly` processor's user-facing config.
//!
//! ```yaml
//! processors:
//!   trace_assembly:
//!     idle_after_root: 2s
//!     max_wait: 30s
//!     late_window: 5m
//!     max_remembered: 1000000
//!     max_traces: 200000
//!     max_spans_per_trace: 20000
//!     max_bytes: 512MiB
//!     shards: 8
//! ```

use crate::shard::{Limits, Shard};
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use tracegate_pipeline::{ByteSize, ConfigError, Duration};

/// Configuration of the `trace_assembly` processor: when a trace is whole, and how much it may
/// hold. Global bounds (`max_traces`, `max_remembered`, `max_bytes`) hold across all shards.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceAssemblyConfig {
    /// Once a trace's root span (no parent) has arrived, release the trace when no span of it
    /// has arrived for this long. Must be less than `max_wait`. Default 2s.
    pub idle_after_root: Duration,
    /// Release every trace this long after its first span arrived, root or not. A trace with
    /// no root by then is released incomplete, with reason `max_wait`. Default 30s.
    pub max_wait: Duration,
    /// How long a released trace id is remembered, so that its late spans go on at once as
    /// late fragments carrying the original release reason. `0s` forgets at once. Default 5m.
    pub late_window: Duration,
    /// How many released trace ids are remembered across all shards, oldest forgotten first.
    /// About 60 to 120 bytes each. `0` remembers none. Default 1000000.
    pub max_remembered: usize,
    /// Traces held at once across all shards. When reached, the oldest trace is released
    /// early, marked `evicted`. At most 4294967294. Default 200000.
    pub max_traces: usize,
    /// Spans held per trace. Later spans of the trace pass straight through as `over_cap`
    /// fragments, so one giant trace can neither hold memory nor stall the others.
    /// At most 4294967294. Default 20000.
    pub max_spans_per_trace: usize,
    /// Estimated bytes held across all shards: the spans, and the resources and scopes they
    /// keep alive (counted once per trace for spans that share one, once per span for spans
    /// that each bring their own, as a span-per-request exporter sends them). When exceeded,
    /// the oldest traces are released early, marked `evicted`. Default 512MiB.
    pub max_bytes: ByteSize,
    /// Independent single-owner workers; a trace goes to one by its id's hash. Default: the
    /// number of CPUs available.
    pub shards: usize,
}

impl Default for TraceAssemblyConfig {
    fn default() -> Self {
        Self {
            idle_after_root: Duration::from_secs(2),
            max_wait: Duration::from_secs(30),
            late_window: Duration::from_secs(300),
            max_remembered: 1_000_000,
            max_traces: 200_000,
            max_spans_per_trace: 20_000,
            max_bytes: ByteSize::mib(512),
            shards: default_shards(),
        }
    }
}

/// The number of CPUs available, at least 1.
pub fn default_shards() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl TraceAssemblyConfig {
    /// Most shards allowed.
    pub const MAX_SHARDS: usize = 1024;

    /// Most `max_traces` and `max_spans_per_trace` allowed: a shard numbers its traces and
    /// spans with 32-bit indices.
    pub const MAX_COUNT: usize = u32::MAX as usize - 1;

    /// Checks the values serde cannot, naming each key under `path`
    /// (`processors.trace_assembly`). Returns every problem found.
    pub fn validate(&self, path: &str) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut at = |key: &str, message: String| {
            errors.push(ConfigError::new(format!("{path}.{key}"), message));
        };
        if self.idle_after_root.get().is_zero() {
            at(
                "idle_after_root",
                "must be more than zero, such as 2s".to_owned(),
            );
        }
        if self.idle_after_root >= self.max_wait {
            at(
                "idle_after_root",
                format!(
                    "must be less than max_wait ({}), got {}",
                    self.max_wait, self.idle_after_root
                ),
            );
        }
        // Times are counted in u64 nanoseconds; a longer one would silently be cut short.
        let longest = std::time::Duration::from_nanos(u64::MAX);
        for (key, value) in [
            ("idle_after_root", self.idle_after_root),
            ("max_wait", self.max_wait),
            ("late_window", self.late_window),
        ] {
            if value.get() > longest {
                at(
                    key,
                    format!(
                        "must be at most {} (nanoseconds in 64 bits), got {value}",
                        Duration(longest)
                    ),
                );
            }
        }
        if self.max_traces == 0 {
            at(
                "max_traces",
                "must be at least 1, such as 200000".to_owned(),
            );
        }
        // Traces and their spans are numbered with u32 indices.
        if self.max_traces > Self::MAX_COUNT {
            at(
                "max_traces",
                format!(
                    "must be at most {}, got {}",
                    Self::MAX_COUNT,
                    self.max_traces
                ),
            );
        }
        if self.max_spans_per_trace == 0 {
            at(
                "max_spans_per_trace",
                "must be at least 1, such as 20000".to_owned(),
            );
        }
        if self.max_spans_per_trace > Self::MAX_COUNT {
            at(
                "max_spans_per_trace",
                format!(
                    "must be at most {}, got {}",
                    Self::MAX_COUNT,
                    self.max_spans_per_trace
                ),
            );
        }
        if self.max_bytes.get() == 0 {
            at(
                "max_bytes",
                "must be more than zero, such as 512MiB".to_owned(),
            );
        }
        if self.shards == 0 || self.shards > Self::MAX_SHARDS {
            at(
                "shards",
                format!(
                    "must be between 1 and {}, got {}",
                    Self::MAX_SHARDS,
                    self.shards
                ),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The limits of one of `shards` shards: global counts are split evenly (rounded up), and
    /// `max_bytes` stays global, enforced through a counter the shards share.
    pub fn limits(&self, shards: usize) -> Limits {
        let shards = shards.max(1);
        let nanos = |d: Duration| u64::try_from(d.get().as_nanos()).unwrap_or(u64::MAX);
        let max_bytes = self.max_bytes.as_usize();
        Limits {
            idle_after_root_ns: nanos(self.idle_after_root),
            max_wait_ns: nanos(self.max_wait),
            late_window_ns: nanos(self.late_window),
            max_remembered: self.max_remembered.div_ceil(shards),
            max_traces: self.max_traces.div_ceil(shards).max(1),
            max_spans_per_trace: self.max_spans_per_trace.max(1),
            max_bytes,
            fair_share_bytes: max_bytes.div_ceil(shards),
        }
    }

    /// Builds `shards` shards (at least one) sharing one byte counter. Does not validate.
    pub fn build_shards(&self) -> Vec<Shard> {
        let shards = self.shards.clamp(1, Self::MAX_SHARDS);
        let limits = self.limits(shards);
        let bytes_held = Arc::new(AtomicUsize::new(0));
        (0..shards)
            .map(|index| Shard::new(index, limits, bytes_held.clone()))
            .collect()
    }
}
