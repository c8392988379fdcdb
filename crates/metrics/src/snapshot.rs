//! A point-in-time copy of metric families: what every exposition reads.
//!
//! Producers (the `span_metrics` processor) keep their own fast, mutable state and hand out a
//! [`Family`] list on request; the Prometheus endpoint renders it as text, OpenMetrics or
//! protobuf, and the OTLP exporter turns it into an `ExportMetricsServiceRequest`. Values are
//! always **cumulative** since the series' `start_time_unix_nano`; the OTLP exporter derives
//! deltas itself when asked for delta temporality.
//!
//! Names: a family carries its OpenTelemetry name and unit (`gen_ai.client.token.usage`,
//! `{token}`), used over OTLP, and its Prometheus name (`gen_ai_client_token_usage`), used on
//! the scrape endpoint without suffixes (`_total`, `_bucket`, `_sum`, `_count` are added by
//! the renderer). Label keys are OpenTelemetry attribute keys (`gen_ai.request.model`); the
//! Prometheus renderer turns every character outside `[a-zA-Z0-9_]` into `_`.

use std::sync::Arc;

/// What kind of metric a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonic sum ([`Value::Counter`]).
    Counter,
    /// A value that goes up and down ([`Value::Gauge`]).
    Gauge,
    /// A histogram with explicit bucket bounds ([`Value::Histogram`]).
    Histogram,
    /// A base-2 exponential (native) histogram ([`Value::Exponential`]).
    Exponential,
}

/// One metric family: a name, its help and unit, and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The OpenTelemetry name, for OTLP (`gen_ai.client.operation.duration`).
    pub otel_name: &'static str,
    /// The Prometheus name without the suffixes the format adds
    /// (`gen_ai_client_operation_duration_seconds`; a counter's `_total` is added by the
    /// renderer, so a counter's name here does not end in `_total`).
    pub prom_name: &'static str,
    /// One line of help text.
    pub help: &'static str,
    /// UCUM unit, as OTel writes it (`s`, `{token}`, `USD`, `1`).
    pub unit: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Every series, in a stable order (the same labels come out in the same place on each
    /// snapshot while the series lives).
    pub series: Vec<Series>,
}

/// One series: its labels, when it started, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Label (attribute) keys and values, in the family's dimension order. Keys are shared
    /// by every series of the family.
    pub labels: Vec<(Arc<str>, Arc<str>)>,
    /// When the cumulative value started counting (ns since the Unix epoch): the series'
    /// creation, or its re-creation after it expired.
    pub start_time_unix_nano: u64,
    /// The last time the series was updated (ns since the Unix epoch).
    pub last_update_unix_nano: u64,
    /// The value.
    pub value: Value,
}

/// A series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A cumulative count or sum.
    Counter(f64),
    /// A current value.
    Gauge(f64),
    /// A cumulative histogram with explicit bounds.
    Histogram(Histogram),
    /// A cumulative base-2 exponential histogram.
    Exponential(ExponentialHistogram),
}

/// A histogram with explicit upper bounds, as OTLP has it: `counts[i]` counts values in
/// `(bounds[i-1], bounds[i]]`, and `counts[bounds.len()]` those above the last bound. The
/// counts are **not** cumulative across buckets (the Prometheus renderer sums them for `le`).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper bounds, increasing, shared by the family.
    pub bounds: Arc<[f64]>,
    /// Per-bucket counts; `bounds.len() + 1` of them.
    pub counts: Vec<u64>,
    /// Sum of the values.
    pub sum: f64,
    /// Number of values (the sum of `counts`).
    pub count: u64,
    /// Smallest value seen, if any.
    pub min: Option<f64>,
    /// Largest value seen, if any.
    pub max: Option<f64>,
    /// The latest exemplar per bucket, if exemplars are on: `bounds.len() + 1` entries or
    /// none at all.
    pub exemplars: Vec<Option<Exemplar>>,
}

/// A base-2 exponential histogram, as OTLP's `ExponentialHistogramDataPoint` has it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExponentialHistogram {
    /// Resolution: bucket boundaries are powers of `2^(2^-scale)`.
    pub scale: i32,
    /// Count of values whose magnitude is at most `zero_threshold`.
    pub zero_count: u64,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Index of `positive_counts[0]`: bucket `i` covers `(base^(offset+i), base^(offset+i+1)]`.
    pub positive_offset: i32,
    /// Counts of positive values per bucket.
    pub positive_counts: Vec<u64>,
    /// Index of `negative_counts[0]`, as for the positive side.
    pub negative_offset: i32,
    /// Counts of negative values per bucket (by magnitude).
    pub negative_counts: Vec<u64>,
    /// Sum of the values.
    pub sum: f64,
    /// Number of values.
    pub count: u64,
    /// Smallest value seen, if any.
    pub min: Option<f64>,
    /// Largest value seen, if any.
    pub max: Option<f64>,
    /// Recent exemplars (a few, newest last).
    pub exemplars: Vec<Exemplar>,
}

/// A sampled measurement that points back to the trace it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exemplar {
    /// The measured value (in the family's unit).
    pub value: f64,
    /// When it was measured (ns since the Unix epoch).
    pub time_unix_nano: u64,
    /// The trace it came from.
    pub trace_id: [u8; 16],
    /// The span it came from.
    pub span_id: [u8; 8],
}

/// Anything whose metrics the endpoints serve: the `span_metrics` processor, for one.
pub trait MetricSource: Send + Sync + std::fmt::Debug {
    /// Every family, with its series as of now (`now_unix_nano`, ns since the Unix epoch).
    /// May drop series idle past the source's expiry while it is at it.
    fn collect(&self, now_unix_nano: u64) -> Vec<Family>;
}
