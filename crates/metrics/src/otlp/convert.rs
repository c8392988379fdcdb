//! A snapshot as an OTLP `ExportMetricsServiceRequest`, cumulative or delta.
//!
//! One `ResourceMetrics` (the configured resource) with one `ScopeMetrics` (scope
//! `tracegate`), a `Metric` per family with series, named by the family's OpenTelemetry
//! name and unit:
//!
//! | kind | OTLP |
//! |---|---|
//! | counter | `Sum`, monotonic, the requested temporality |
//! | gauge | `Gauge` |
//! | histogram | `Histogram`: bucket counts, bounds, sum, count, min, max, exemplars |
//! | exponential | `ExponentialHistogram`: scale, zero bucket, both sides, exemplars |
//!
//! Snapshots are always cumulative. For delta temporality, [`DeltaState`] keeps the
//! previous cumulative value of each series (by family and label set) and the time it was
//! exported; a point is the difference, over `(previous export, now]`. A series seen for the
//! first time, or whose `start_time_unix_nano` changed (it expired and was recreated), is
//! sent whole, over `(start, now]`. A value that went down although the start did not
//! change (which a well-behaved source never does) is taken as a reset and sent whole from
//! the previous export. Deltas of histograms have no min and max (they are not known for the
//! interval), and only the exemplars newer than the previous export. Exponential histograms
//! whose scale went down are subtracted after merging the previous buckets to the new scale.
//!
//! The state holds exactly the series of the latest snapshot: entries of series that
//! disappeared are dropped on each call. It is bounded by [`DeltaState::with_max_series`]:
//! past the bound, new series are left out of delta exports and counted in
//! `tracegate_metrics_otlp_delta_overflow_total`.
//!

use super::config::{Temporality, string_attribute};
use crate::snapshot::{Exemplar, ExponentialHistogram, Family, Histogram, Kind, Series, Value};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1 as otlp;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::collections::HashMap;
use std::sync::Arc;

/// The instrumentation scope of every exported metric.
pub const SCOPE_NAME: &str = "tracegate";
/// Default bound on the series [`DeltaState`] remembers.
pub const DEFAULT_MAX_DELTA_SERIES: usize = 200_000;
/// Series left out of a delta export because [`DeltaState`] was full.
pub const DELTA_OVERFLOW_TOTAL: &str = "tracegate_metrics_otlp_delta_overflow_total";

type Key = (&'static str, Vec<(Arc<str>, Arc<str>)>);

#[derive(Debug, Clone)]
struct Previous {
    start: u64,
    time: u64,
    value: Value,
}

/// The previous cumulative value of each series, to derive deltas. Bounded; holds only the
/// series of the latest snapshot.
#[derive(Debug, Clone)]
pub struct DeltaState {
    previous: HashMap<Key, Previous>,
    max_series: usize,
}

impl Default for DeltaState {
    fn default() -> Self {
        Self::new()
    }
}

impl DeltaState {
    /// An empty state remembering at most [`DEFAULT_MAX_DELTA_SERIES`] series.
    pub fn new() -> Self {
        Self::with_max_series(DEFAULT_MAX_DELTA_SERIES)
    }

    /// An empty state remembering at most `max_series` series.
    pub fn with_max_series(max_series: usize) -> Self {
        Self {
            previous: HashMap::new(),
            max_series,
        }
    }

    /// Series remembered.
    pub fn len(&self) -> usize {
        self.previous.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.previous.is_empty()
    }
}

/// `families` as one export request as of now; see [`to_request_at`].
pub fn to_request(
    families: &[Family],
    temporality: Temporality,
    state: &mut DeltaState,
    resource: &Resource,
) -> ExportMetricsServiceRequest {
    to_request_at(
        families,
        temporality,
        state,
        resource,
        crate::now_unix_nano(),
    )
}

/// `families` as one export request whose points are stamped `now_unix_nano`. With
/// [`Temporality::Delta`], points are differences from the previous call's values and
/// `state` moves on to these; with [`Temporality::Cumulative`], `state` is not used.
pub fn to_request_at(
    families: &[Family],
    temporality: Temporality,
    state: &mut DeltaState,
    resource: &Resource,
    now_unix_nano: u64,
) -> ExportMetricsServiceRequest {
    let mut builder = Builder {
        temporality,
        now: now_unix_nano,
        previous: std::mem::take(&mut state.previous),
        next: HashMap::new(),
        max_series: state.max_series,
        overflow: 0,
    };
    let metrics: Vec<otlp::Metric> = families
        .iter()
        .filter(|f| !f.series.is_empty())
        .filter_map(|f| builder.metric(f))
        .collect();
    if builder.overflow > 0 {
        metrics::counter!(DELTA_OVERFLOW_TOTAL).increment(builder.overflow);
        tracing::warn!(
            series = builder.overflow,
            max_series = state.max_series,
            "OTLP delta export: more series than the delta state may remember; the rest are left out"
        );
    }
    state.previous = builder.next;
    ExportMetricsServiceRequest {
        resource_metrics: vec![otlp::ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![otlp::ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

struct Builder {
    temporality: Temporality,
    now: u64,
    previous: HashMap<Key, Previous>,
    next: HashMap<Key, Previous>,
    max_series: usize,
    overflow: u64,
}

/// Where a delta point starts and what it subtracts.
enum Base<'a> {
    /// Cumulative export, or a new or recreated series: the whole value since `start`.
    Whole,
    /// The previous export of the same series.
    Since(&'a Previous),
}

impl Builder {
    fn temporality(&self) -> i32 {
        match self.temporality {
            Temporality::Cumulative => otlp::AggregationTemporality::Cumulative as i32,
            Temporality::Delta => otlp::AggregationTemporality::Delta as i32,
        }
    }

    /// For delta temporality, takes the series' previous value out of the old state and
    /// records the current one in the new state; `None` when the state is full and the
    /// series must be left out.
    fn step(&mut self, family: &Family, series: &Series) -> Option<Option<Previous>> {
        if self.temporality == Temporality::Cumulative {
            return Some(None);
        }
        let key: Key = (family.otel_name, series.labels.clone());
        let previous = self.previous.remove(&key);
        if previous.is_none() && self.next.len() + self.previous.len() >= self.max_series {
            self.overflow += 1;
            return None;
        }
        self.next.insert(
            key,
            Previous {
                start: series.start_time_unix_nano,
                time: self.now,
                value: series.value.clone(),
            },
        );
        Some(previous.filter(|p| p.start == series.start_time_unix_nano))
    }

    fn metric(&mut self, family: &Family) -> Option<otlp::Metric> {
        let temporality = self.temporality();
        let data = match family.kind {
            Kind::Counter => {
                let mut data_points = Vec::with_capacity(family.series.len());
                for series in &family.series {
                    let Value::Counter(v) = series.value else {
                        continue;
                    };
                    let Some(previous) = self.step(family, series) else {
                        continue;
                    };
                    let (start, value) = match previous.as_ref().map(|p| (p, &p.value)) {
                        Some((p, Value::Counter(before))) if v >= *before => (p.time, v - before),
                        Some((p, _)) => (p.time, v),
                        None => (series.start_time_unix_nano, v),
                    };
                    data_points.push(otlp::NumberDataPoint {
                        attributes: attributes(series),
                        start_time_unix_nano: start,
                        time_unix_nano: self.now,
                        value: Some(otlp::number_data_point::Value::AsDouble(value)),
                        ..Default::default()
                    });
                }
                Data::Sum(otlp::Sum {
                    data_points,
                    aggregation_temporality: temporality,
                    is_monotonic: true,
                })
            }
            Kind::Gauge => Data::Gauge(otlp::Gauge {
                data_points: family
                    .series
                    .iter()
                    .filter_map(|series| match series.value {
                        Value::Gauge(v) => Some(otlp::NumberDataPoint {
                            attributes: attributes(series),
                            start_time_unix_nano: series.start_time_unix_nano,
                            time_unix_nano: self.now,
                            value: Some(otlp::number_data_point::Value::AsDouble(v)),
                            ..Default::default()
                        }),
                        _ => None,
                    })
                    .collect(),
            }),
            Kind::Histogram => {
                let mut data_points = Vec::with_capacity(family.series.len());
                for series in &family.series {
                    let Value::Histogram(h) = &series.value else {
                        continue;
                    };
                    let Some(previous) = self.step(family, series) else {
                        continue;
                    };
                    let base = previous.as_ref().map_or(Base::Whole, Base::Since);
                    data_points.push(self.histogram_point(series, h, &base));
                }
                Data::Histogram(otlp::Histogram {
                    data_points,
                    aggregation_temporality: temporality,
                })
            }
            Kind::Exponential => {
                let mut data_points = Vec::with_capacity(family.series.len());
                for series in &family.series {
                    let Value::Exponential(h) = &series.value else {
                        continue;
                    };
                    let Some(previous) = self.step(family, series) else {
                        continue;
                    };
                    let base = previous.as_ref().map_or(Base::Whole, Base::Since);
                    data_points.push(self.exponential_point(series, h, &base));
                }
                Data::ExponentialHistogram(otlp::ExponentialHistogram {
                    data_points,
                    aggregation_temporality: temporality,
                })
            }
        };
        Some(otlp::Metric {
            name: family.otel_name.to_owned(),
            description: family.help.to_owned(),
            unit: family.unit.to_owned(),
            metadata: Vec::new(),
            data: Some(data),
        })
    }

    fn histogram_point(
        &self,
        series: &Series,
        h: &Histogram,
        base: &Base<'_>,
    ) -> otlp::HistogramDataPoint {
        let mut point = otlp::HistogramDataPoint {
            attributes: attributes(series),
            start_time_unix_nano: series.start_time_unix_nano,
            time_unix_nano: self.now,
            count: h.count,
            sum: Some(h.sum),
            bucket_counts: h.counts.clone(),
            explicit_bounds: h.bounds.to_vec(),
            exemplars: h.exemplars.iter().flatten().map(exemplar).collect(),
            flags: 0,
            min: h.min,
            max: h.max,
        };
        if let Base::Since(p) = base {
            point.start_time_unix_nano = p.time;
            if let Value::Histogram(before) = &p.value
                && let Some(counts) = subtract_histogram(h, before)
            {
                point.bucket_counts = counts;
                point.count = h.count - before.count;
                point.sum = Some(h.sum - before.sum);
                point.min = None;
                point.max = None;
                point.exemplars = h
                    .exemplars
                    .iter()
                    .flatten()
                    .filter(|e| e.time_unix_nano > p.time)
                    .map(exemplar)
                    .collect();
            }
        }
        point
    }

    fn exponential_point(
        &self,
        series: &Series,
        h: &ExponentialHistogram,
        base: &Base<'_>,
    ) -> otlp::ExponentialHistogramDataPoint {
        let (start, delta, since) = match base {
            Base::Since(p) => match &p.value {
                Value::Exponential(before) => match subtract_exponential(h, before) {
                    Some(d) => (p.time, d, Some(p.time)),
                    None => (p.time, h.clone(), None),
                },
                _ => (p.time, h.clone(), None),
            },
            Base::Whole => (series.start_time_unix_nano, h.clone(), None),
        };
        otlp::ExponentialHistogramDataPoint {
            attributes: attributes(series),
            start_time_unix_nano: start,
            time_unix_nano: self.now,
            count: delta.count,
            sum: Some(delta.sum),
            scale: delta.scale,
            zero_count: delta.zero_count,
            positive: Some(Buckets {
                offset: delta.positive_offset,
                bucket_counts: delta.positive_counts,
            }),
            negative: Some(Buckets {
                offset: delta.negative_offset,
                bucket_counts: delta.negative_counts,
            }),
            flags: 0,
            exemplars: h
                .exemplars
                .iter()
                .filter(|e| since.is_none_or(|t| e.time_unix_nano > t))
                .map(exemplar)
                .collect(),
            min: delta.min,
            max: delta.max,
            zero_threshold: delta.zero_threshold,
        }
    }
}

/// Bucket counts of `now - before`, or `None` when they cannot be subtracted (other
/// bounds, or a count went down).
fn subtract_histogram(now: &Histogram, before: &Histogram) -> Option<Vec<u64>> {
    if now.bounds != before.bounds
        || now.counts.len() != before.counts.len()
        || now.count < before.count
    {
        return None;
    }
    now.counts
        .iter()
        .zip(&before.counts)
        .map(|(a, b)| a.checked_sub(*b))
        .collect()
}

/// `now - before` for exponential histograms, with `before` merged down to `now`'s scale;
/// `None` when that is impossible (finer scale now, another zero threshold, a count down).
fn subtract_exponential(
    now: &ExponentialHistogram,
    before: &ExponentialHistogram,
) -> Option<ExponentialHistogram> {
    if before.scale < now.scale
        || before.zero_threshold != now.zero_threshold
        || now.count < before.count
        || now.zero_count < before.zero_count
    {
        return None;
    }
    let reduce = u32::try_from(before.scale - now.scale).ok()?;
    let side = |now_offset: i32, now_counts: &[u64], before_offset: i32, before_counts: &[u64]| {
        let mut out = now_counts.to_vec();
        for (j, &count) in before_counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let index = (i64::from(before_offset) + i64::try_from(j).ok()?) >> reduce;
            let slot = out.get_mut(usize::try_from(index - i64::from(now_offset)).ok()?)?;
            *slot = slot.checked_sub(count)?;
        }
        Some(out)
    };
    Some(ExponentialHistogram {
        scale: now.scale,
        zero_count: now.zero_count - before.zero_count,
        zero_threshold: now.zero_threshold,
        positive_offset: now.positive_offset,
        positive_counts: side(
            now.positive_offset,
            &now.positive_counts,
            before.positive_offset,
            &before.positive_counts,
        )?,
        negative_offset: now.negative_offset,
        negative_counts: side(
            now.negative_offset,
            &now.negative_counts,
            before.negative_offset,
            &before.negative_counts,
        )?,
        sum: now.sum - before.sum,
        count: now.count - before.count,
        min: None,
        max: None,
        exemplars: Vec::new(),
    })
}

fn attributes(series: &Series) -> Vec<KeyValue> {
    series
        .labels
        .iter()
        .map(|(k, v)| string_attribute(k, v))
        .collect()
}

fn exemplar(e: &Exemplar) -> otlp::Exemplar {
    otlp::Exemplar {
        filtered_attributes: Vec::new(),
        time_unix_nano: e.time_unix_nano,
        span_id: e.span_id.to_vec(),
        trace_id: e.trace_id.to_vec(),
        value: Some(otlp::exemplar::Value::AsDouble(e.value)),
    }
}
