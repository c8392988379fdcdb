//! [`SpanMetricsConfig`]: the `processors.span_metrics` section, its documented defaults and
//! its validation.
//!
//! ```yaml
//! span_metrics:
//!   dimensions: []             # extra RED labels: span attribute, else resource attribute
//!   histogram:
//!     type: explicit           # explicit | exponential (RED latency only)
//!     buckets: [2ms, 4ms, 6ms, 8ms, 10ms, 50ms, 100ms, 200ms, 400ms, 800ms, 1s, 1400ms, 2s, 5s, 10s, 15s]
//!     max_size: 160            # exponential: max buckets
//!   exemplars: true
//!   max_series_per_metric: 5000
//!   series_expiry: 5m          # 0s: never
//!   service_graph: true
//!   gen_ai: true
//! ```

use serde::Deserialize;
use tracegate_pipeline::{ConfigError, Duration};

/// The built-in RED labels, which a dimension may not repeat.
pub const BUILTIN_LABELS: [&str; 4] = ["service", "span_name", "span_kind", "status_code"];

/// At most this many extra dimensions.
pub const MAX_DIMENSIONS: usize = 16;

/// The `span_metrics` processor's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    /// Extra labels on the RED metrics: a span attribute key, else a resource attribute key.
    /// A span with neither has no such label (not an empty one). At most
    /// [`MAX_DIMENSIONS`], no repeats, none of [`BUILTIN_LABELS`] (nor `tenant` with
    /// multi-tenancy).
    pub dimensions: Vec<String>,
    /// The RED latency histogram.
    pub histogram: HistogramConfig,
    /// Keep the latest exemplar (trace id, span id, value, time) per explicit bucket.
    pub exemplars: bool,
    /// Not a config key: `service.multitenancy_enabled`, set at build. With it, the RED
    /// series carry a `tenant` label (a dimension like the others, under the same
    /// `max_series_per_metric` overflow bound); without it, none.
    #[serde(skip)]
    pub tenant_label: bool,
    /// Series per metric family; past it, new label sets share one overflow series
    /// (`otel.metric.overflow="true"`).
    pub max_series_per_metric: usize,
    /// A series not updated this long is dropped at the next collect; `0s` keeps series
    /// forever.
    pub series_expiry: Duration,
    /// Compute the service graph (`traces_service_graph_*`).
    pub service_graph: bool,
    /// Compute the GenAI metrics (`gen_ai.*`, `tracegate.gen_ai.cost`).
    pub gen_ai: bool,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        Self {
            dimensions: Vec::new(),
            histogram: HistogramConfig::default(),
            exemplars: true,
            tenant_label: false,
            max_series_per_metric: 5000,
            series_expiry: Duration::from_secs(300),
            service_graph: true,
            gen_ai: true,
        }
    }
}

/// Explicit or base-2 exponential (native) histograms for RED latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistogramKind {
    /// Explicit bucket bounds ([`HistogramConfig::buckets`]).
    #[default]
    Explicit,
    /// Base-2 exponential buckets, rescaled to at most [`HistogramConfig::max_size`].
    Exponential,
}

/// `histogram:`: how RED latency is bucketed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistogramConfig {
    /// `type`: explicit or exponential.
    #[serde(rename = "type")]
    pub kind: HistogramKind,
    /// Explicit upper bounds, strictly increasing (the Collector's `spanmetrics` defaults).
    pub buckets: Vec<Duration>,
    /// Exponential: at most this many buckets (at least 2).
    pub max_size: usize,
}

/// The Collector's `spanmetrics` default bounds, in ms.
pub const DEFAULT_BUCKETS_MS: [u64; 16] = [
    2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000,
];

impl Default for HistogramConfig {
    fn default() -> Self {
        Self {
            kind: HistogramKind::Explicit,
            buckets: DEFAULT_BUCKETS_MS
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
            max_size: 160,
        }
    }
}

impl HistogramConfig {
    /// The bounds in seconds.
    pub fn bounds_seconds(&self) -> Vec<f64> {
        self.buckets.iter().map(|d| d.get().as_secs_f64()).collect()
    }
}

impl SpanMetricsConfig {
    /// Checks what serde cannot; `path` is the section's key path (`processors.span_metrics`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.dimensions.len() > MAX_DIMENSIONS {
            return Err(ConfigError::new(
                format!("{path}.dimensions"),
                format!(
                    "{} dimensions given, at most {MAX_DIMENSIONS} are allowed: every one \
                     multiplies the series count",
                    self.dimensions.len()
                ),
            ));
        }
        for (i, d) in self.dimensions.iter().enumerate() {
            let at = format!("{path}.dimensions[{i}]");
            if d.trim().is_empty() {
                return Err(ConfigError::new(at, "an empty attribute key; remove it"));
            }
            if BUILTIN_LABELS.contains(&d.as_str()) {
                return Err(ConfigError::new(
                    at,
                    format!("{d:?} is a built-in label of the RED metrics; remove it"),
                ));
            }
            if self.tenant_label && d == "tenant" {
                return Err(ConfigError::new(
                    at,
                    "with service.multitenancy_enabled the RED metrics carry the span's tenant \
                     as their `tenant` label already; remove this dimension",
                ));
            }
            if self.dimensions[..i].contains(d) {
                return Err(ConfigError::new(
                    at,
                    format!("{d:?} is listed twice; remove one"),
                ));
            }
        }
        let bounds = self.histogram.bounds_seconds();
        if let Some(i) = bounds.windows(2).position(|w| w[0] >= w[1]) {
            return Err(ConfigError::new(
                format!("{path}.histogram.buckets[{}]", i + 1),
                format!(
                    "bucket bounds must increase strictly: {} follows {}",
                    self.histogram.buckets[i + 1],
                    self.histogram.buckets[i]
                ),
            ));
        }
        if self.histogram.max_size < 2 {
            return Err(ConfigError::new(
                format!("{path}.histogram.max_size"),
                format!(
                    "{} is too small: an exponential histogram needs at least 2 buckets \
                     (the default is 160)",
                    self.histogram.max_size
                ),
            ));
        }
        if self.max_series_per_metric == 0 {
            return Err(ConfigError::new(
                format!("{path}.max_series_per_metric"),
                "must be at least 1 (the default is 5000)",
            ));
        }
        Ok(())
    }
}
