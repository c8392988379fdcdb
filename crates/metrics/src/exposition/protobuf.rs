//! Prometheus protobuf exposition: `io.prometheus.client.MetricFamily` messages, each
//! preceded by its length as a varint, as the scrape content type
//! `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`
//! has them.
//!
//! The message types below are written by hand from Prometheus's `client_model`
//! `io/prometheus/client/metrics.proto` (no protoc); the tags are that file's field numbers.
//! Only the fields this exporter writes or a test reads are declared; a decoder skips the
//! rest.
//!
//! Mapping (each family with its `unit` word when its name ends with it, as for
//! OpenMetrics' `# UNIT`):
//! - counter → `COUNTER`, family name with `_total` (as the Go client names it);
//! - gauge → `GAUGE`;
//! - explicit histogram → `HISTOGRAM` with classic buckets (cumulative, `+Inf` implied by
//!   `sample_count` unless it carries an exemplar), each with its exemplar;
//! - exponential histogram → `HISTOGRAM` as a **native** histogram: `schema` = the OTel scale
//!   (merged down to 8 when finer; Prometheus knows −4..=8), the zero bucket, and each side as
//!   spans plus count deltas. Prometheus's bucket index is OTel's plus one (its bucket `i`
//!   is `(base^(i-1), base^i]`). Runs of up to two empty buckets stay inside a span; longer
//!   gaps start a new one. An empty positive side gets the no-op span `{0, 0}` that marks a
//!   native histogram. Exemplars go in `exemplars` (with timestamps). A histogram coarser
//!   than schema −4 cannot be represented natively and is written with classic buckets.

use super::{Group, classic, names};
use crate::snapshot::{Exemplar as SnapExemplar, ExponentialHistogram, Kind, Value};
use prost::Message;

/// `MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// Uses `Metric.counter`.
    Counter = 0,
    /// Uses `Metric.gauge`.
    Gauge = 1,
    /// Uses `Metric.summary`.
    Summary = 2,
    /// Uses `Metric.untyped`.
    Untyped = 3,
    /// Uses `Metric.histogram`.
    Histogram = 4,
    /// Uses `Metric.histogram`.
    GaugeHistogram = 5,
}

/// `MetricFamily`.
#[derive(Clone, PartialEq, Message)]
pub struct MetricFamily {
    /// The family's name (a counter's with `_total`).
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Help text.
    #[prost(string, optional, tag = "2")]
    pub help: Option<String>,
    /// A [`MetricType`].
    #[prost(enumeration = "MetricType", optional, tag = "3")]
    pub r#type: Option<i32>,
    /// The series.
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
    /// The unit word, when the name ends with it (as for OpenMetrics' `# UNIT`).
    #[prost(string, optional, tag = "5")]
    pub unit: Option<String>,
}

/// `Metric`: one series.
#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    /// Labels.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// For gauges.
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Gauge>,
    /// For counters.
    #[prost(message, optional, tag = "3")]
    pub counter: Option<Counter>,
    /// Sample time in ms; unset here (the scraper stamps samples).
    #[prost(int64, optional, tag = "6")]
    pub timestamp_ms: Option<i64>,
    /// For histograms.
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
}

/// `LabelPair`.
#[derive(Clone, PartialEq, Message)]
pub struct LabelPair {
    /// Label name.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Label value.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// `Gauge`.
#[derive(Clone, PartialEq, Message)]
pub struct Gauge {
    /// The value.
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

/// `Counter`.
#[derive(Clone, PartialEq, Message)]
pub struct Counter {
    /// The value.
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
    /// An exemplar.
    #[prost(message, optional, tag = "2")]
    pub exemplar: Option<Exemplar>,
}

/// `Histogram`: classic and native fields.
#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    /// Number of observations.
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    /// Sum of observations.
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    /// Classic buckets, increasing `upper_bound`; `+Inf` optional.
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    /// Native: bucket schema, −4..=8.
    #[prost(sint32, optional, tag = "5")]
    pub schema: Option<i32>,
    /// Native: width of the zero bucket.
    #[prost(double, optional, tag = "6")]
    pub zero_threshold: Option<f64>,
    /// Native: count in the zero bucket.
    #[prost(uint64, optional, tag = "7")]
    pub zero_count: Option<u64>,
    /// Native: negative spans.
    #[prost(message, repeated, tag = "9")]
    pub negative_span: Vec<BucketSpan>,
    /// Native: negative bucket counts as deltas to the previous bucket.
    #[prost(sint64, repeated, tag = "10")]
    pub negative_delta: Vec<i64>,
    /// Native: positive spans.
    #[prost(message, repeated, tag = "12")]
    pub positive_span: Vec<BucketSpan>,
    /// Native: positive bucket counts as deltas to the previous bucket.
    #[prost(sint64, repeated, tag = "13")]
    pub positive_delta: Vec<i64>,
    /// Native: exemplars, each with a timestamp.
    #[prost(message, repeated, tag = "16")]
    pub exemplars: Vec<Exemplar>,
}

/// `Bucket`: one classic bucket.
#[derive(Clone, PartialEq, Message)]
pub struct Bucket {
    /// Observations at most `upper_bound`.
    #[prost(uint64, optional, tag = "1")]
    pub cumulative_count: Option<u64>,
    /// Inclusive upper bound.
    #[prost(double, optional, tag = "2")]
    pub upper_bound: Option<f64>,
    /// An exemplar in this bucket.
    #[prost(message, optional, tag = "3")]
    pub exemplar: Option<Exemplar>,
}

/// `BucketSpan`: `length` consecutive native buckets, `offset` after the previous span
/// (or at index `offset`, for the first).
#[derive(Clone, PartialEq, Message)]
pub struct BucketSpan {
    /// Gap to the previous span, or the first span's starting index.
    #[prost(sint32, optional, tag = "1")]
    pub offset: Option<i32>,
    /// Number of consecutive buckets.
    #[prost(uint32, optional, tag = "2")]
    pub length: Option<u32>,
}

/// `Exemplar`.
#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    /// `trace_id` and `span_id`.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// The measured value.
    #[prost(double, optional, tag = "2")]
    pub value: Option<f64>,
    /// When it was measured.
    #[prost(message, optional, tag = "3")]
    pub timestamp: Option<Timestamp>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The finest schema Prometheus accepts.
pub const MAX_SCHEMA: i32 = 8;
/// The coarsest schema Prometheus accepts.
pub const MIN_SCHEMA: i32 = -4;
/// Empty buckets kept inside a span rather than starting a new one.
const MAX_GAP_IN_SPAN: i64 = 2;

/// Renders the groups as delimited `MetricFamily` messages.
pub(crate) fn render(groups: &[Group<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    for group in groups.iter().filter(|g| !g.series.is_empty()) {
        let (name, kind) = match group.family.kind {
            Kind::Counter => (format!("{}_total", group.name), MetricType::Counter),
            Kind::Gauge => (group.name.to_string(), MetricType::Gauge),
            Kind::Histogram | Kind::Exponential => (group.name.to_string(), MetricType::Histogram),
        };
        let mut metric = Vec::with_capacity(group.series.len());
        for series in &group.series {
            let label = names::labels(&series.labels)
                .into_iter()
                .map(|(k, v)| LabelPair {
                    name: Some(k.into_owned()),
                    value: Some(v.into_owned()),
                })
                .collect();
            let mut m = Metric {
                label,
                ..Default::default()
            };
            match (&series.value, kind) {
                (Value::Counter(v), MetricType::Counter) => {
                    m.counter = Some(Counter {
                        value: Some(*v),
                        exemplar: None,
                    });
                }
                (Value::Gauge(v), MetricType::Gauge) => m.gauge = Some(Gauge { value: Some(*v) }),
                (Value::Histogram(h), MetricType::Histogram) => {
                    m.histogram = Some(classic_histogram(classic::explicit(h), h.sum, h.count));
                }
                (Value::Exponential(h), MetricType::Histogram) => {
                    m.histogram = Some(native(h).unwrap_or_else(|| {
                        classic_histogram(classic::exponential(h), h.sum, h.count)
                    }));
                }
                _ => continue,
            }
            metric.push(m);
        }
        let family = MetricFamily {
            name: Some(name),
            help: Some(group.family.help.to_owned()),
            r#type: Some(kind as i32),
            metric,
            unit: names::unit_in_name(&group.name, group.family.unit).map(|u| u.into_owned()),
        };
        out.extend_from_slice(&family.encode_length_delimited_to_vec());
    }
    out
}

fn classic_histogram(buckets: Vec<classic::Bucket>, sum: f64, count: u64) -> Histogram {
    let bucket = buckets
        .into_iter()
        .filter(|b| b.le.is_finite() || b.exemplar.is_some())
        .map(|b| Bucket {
            cumulative_count: Some(b.cumulative),
            upper_bound: Some(b.le),
            exemplar: b.exemplar.as_ref().map(exemplar),
        })
        .collect();
    Histogram {
        sample_count: Some(count),
        sample_sum: Some(sum),
        bucket,
        ..Default::default()
    }
}

fn exemplar(e: &SnapExemplar) -> Exemplar {
    let label = |name: &str, value: String| LabelPair {
        name: Some(name.to_owned()),
        value: Some(value),
    };
    Exemplar {
        label: vec![
            label("trace_id", hex::encode(e.trace_id)),
            label("span_id", hex::encode(e.span_id)),
        ],
        value: Some(e.value),
        timestamp: Some(Timestamp {
            seconds: i64::try_from(e.time_unix_nano / 1_000_000_000).unwrap_or(i64::MAX),
            nanos: i32::try_from(e.time_unix_nano % 1_000_000_000).unwrap_or(0),
        }),
    }
}

/// `h` as a native histogram, or `None` when its scale is coarser than schema −4.
pub(crate) fn native(h: &ExponentialHistogram) -> Option<Histogram> {
    if h.scale < MIN_SCHEMA {
        return None;
    }
    let schema = h.scale.min(MAX_SCHEMA);
    let reduce = u32::try_from(h.scale - schema).unwrap_or(0);
    let (mut positive_span, positive_delta) = side(h.positive_offset, &h.positive_counts, reduce);
    let (negative_span, negative_delta) = side(h.negative_offset, &h.negative_counts, reduce);
    if positive_span.is_empty() {
        positive_span.push(BucketSpan {
            offset: Some(0),
            length: Some(0),
        });
    }
    Some(Histogram {
        sample_count: Some(h.count),
        sample_sum: Some(h.sum),
        bucket: Vec::new(),
        schema: Some(schema),
        zero_threshold: Some(h.zero_threshold.max(0.0)),
        zero_count: Some(h.zero_count),
        negative_span,
        negative_delta,
        positive_span,
        positive_delta,
        exemplars: h.exemplars.iter().map(exemplar).collect(),
    })
}

/// One side's buckets as Prometheus spans and deltas, merging `2^reduce` OTel buckets into
/// one.
fn side(offset: i32, counts: &[u64], reduce: u32) -> (Vec<BucketSpan>, Vec<i64>) {
    // (Prometheus index, count) of the non-empty buckets, indices increasing.
    let mut merged: Vec<(i64, u64)> = Vec::new();
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let otel = i64::from(offset) + i64::try_from(i).unwrap_or(i64::MAX);
        let index = (otel >> reduce) + 1;
        match merged.last_mut() {
            Some((last, c)) if *last == index => *c = c.saturating_add(count),
            _ => merged.push((index, count)),
        }
    }
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut deltas = Vec::with_capacity(merged.len());
    let mut previous: Option<i64> = None;
    let mut last_count: i64 = 0;
    let clamp = |v: i64| i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX });
    for (index, count) in merged {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        match (previous, spans.last_mut()) {
            (Some(p), Some(span)) if index - p - 1 <= MAX_GAP_IN_SPAN => {
                let gap = index - p - 1;
                for _ in 0..gap {
                    deltas.push(-last_count);
                    last_count = 0;
                }
                let grown = u32::try_from(gap + 1).unwrap_or(0);
                span.length = Some(span.length.unwrap_or(0).saturating_add(grown));
            }
            (Some(p), _) => spans.push(BucketSpan {
                offset: Some(clamp(index - p - 1)),
                length: Some(1),
            }),
            (None, _) => spans.push(BucketSpan {
                offset: Some(clamp(index)),
                length: Some(1),
            }),
        }
        deltas.push(count - last_count);
        last_count = count;
        previous = Some(index);
    }
    (spans, deltas)
}
