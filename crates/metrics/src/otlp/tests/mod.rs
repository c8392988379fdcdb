//! Tests of the OTLP metrics export.
//!
//! - [`config`]: the YAML fixture, defaults, errors with key paths, the resource;
//! - [`convert`]: `to_request` cumulative, delta over two snapshots (differences, new,
//!   recreated and vanished series, an exponential histogram whose scale went down), the
//!   delta state's bound, `split`;
//! - [`exporter`]: pushes to an in-process tonic `MetricsService` on 127.0.0.1 port 0:
//!   gzip and headers, a retry after one `UNAVAILABLE`, no retry of `INVALID_ARGUMENT`, the
//!   final push at shutdown, and delta state restored after a failed push.

mod config;
mod convert;
mod exporter;

use crate::snapshot::{Exemplar, ExponentialHistogram, Family, Histogram, Kind, Series, Value};
use std::sync::Arc;

pub(super) const TRACE: [u8; 16] = [7; 16];
pub(super) const SPAN: [u8; 8] = [9; 8];

pub(super) fn series(labels: &[(&str, &str)], start: u64, value: Value) -> Series {
    Series {
        labels: labels
            .iter()
            .map(|(k, v)| (Arc::from(*k), Arc::from(*v)))
            .collect(),
        start_time_unix_nano: start,
        last_update_unix_nano: start,
        value,
    }
}

pub(super) fn family(
    otel_name: &'static str,
    kind: Kind,
    unit: &'static str,
    series: Vec<Series>,
) -> Family {
    Family {
        otel_name,
        prom_name: "unused",
        help: "Help.",
        unit,
        kind,
        series,
    }
}

pub(super) fn histogram(counts: Vec<u64>, sum: f64, exemplar_at: Option<u64>) -> Value {
    let count = counts.iter().sum();
    let mut exemplars = vec![None; counts.len()];
    if let Some(t) = exemplar_at {
        exemplars[0] = Some(Exemplar {
            value: 0.05,
            time_unix_nano: t,
            trace_id: TRACE,
            span_id: SPAN,
        });
    }
    Value::Histogram(Histogram {
        bounds: Arc::from(vec![0.1, 1.0]),
        counts,
        sum,
        count,
        min: Some(0.05),
        max: Some(2.0),
        exemplars,
    })
}

pub(super) fn exponential(scale: i32, offset: i32, counts: Vec<u64>, zero_count: u64) -> Value {
    let count = counts.iter().sum::<u64>() + zero_count;
    Value::Exponential(ExponentialHistogram {
        scale,
        zero_count,
        zero_threshold: 0.0,
        positive_offset: offset,
        positive_counts: counts,
        negative_offset: 0,
        negative_counts: vec![],
        sum: count as f64,
        count,
        min: Some(0.0),
        max: Some(4.0),
        exemplars: vec![],
    })
}
