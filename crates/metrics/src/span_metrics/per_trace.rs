//! [`PerTrace`]: tracegate's metrics of whole traces.
//!
//! - `tracegate.critical_path.duration` (histogram, RED bounds, s) by the root's service,
//!   the root span's name (`root_operation`) and `category`: for each trace the latency
//!   breakdown summarised ([`Trace::critical_path`]), one value per category with a non-zero
//!   share, so `_count` counts the traces where the category was on the critical path and
//!   `_sum` adds up its time (the `_sum`s of one root operation add up to its traces' total
//!   duration).
//! - `tracegate.trace.duration` (histogram, RED bounds, s) by the root's service and the root
//!   span's name (`root_operation`): each trace's root span duration, the request latency a
//!   user saw. Traces without their root span have none.
//! - `tracegate.traces` (counter) by `release_reason`, `complete` (`Trace::is_complete`) and
//!   `error` (any span with ERROR status). Fragments (late spans, spans over the cap) are
//!   parts of traces already counted and are not counted again.

use super::genai::maker;
use super::histogram::{ExplicitHist, Origin};
use super::store::{HeapSize, KeyHasher, SeriesTable};
use crate::snapshot::{Family, Kind, Value};
use std::sync::Arc;
use tracegate_model::Trace;
use tracegate_model::schema::CRITICAL_PATH_CATEGORIES;

/// `tracegate.critical_path.duration`'s Prometheus name.
pub const CRITICAL_PATH: &str = "tracegate_critical_path_seconds";
/// `tracegate.trace.duration`'s Prometheus name.
pub const TRACE_DURATION: &str = "tracegate_trace_duration_seconds";
/// `tracegate.traces`'s Prometheus name.
pub const TRACES: &str = "tracegate_traces";

impl HeapSize for u64 {
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// The per-trace series.
#[derive(Debug)]
pub struct PerTrace {
    critical: SeriesTable<ExplicitHist>,
    duration: SeriesTable<ExplicitHist>,
    traces: SeriesTable<u64>,
    bounds: Arc<[f64]>,
    exemplars: bool,
}

impl PerTrace {
    /// Empty series; the critical-path histogram uses `bounds` (the RED bounds).
    pub fn new(limit: usize, bounds: Arc<[f64]>, exemplars: bool) -> Self {
        Self {
            critical: SeriesTable::new(
                &["service", "root_operation", "category"],
                limit,
                &[CRITICAL_PATH],
            ),
            duration: SeriesTable::new(&["service", "root_operation"], limit, &[TRACE_DURATION]),
            traces: SeriesTable::new(&["release_reason", "complete", "error"], limit, &[TRACES]),
            bounds,
            exemplars,
        }
    }

    /// Records one trace seen at `now`.
    pub fn record(&mut self, trace: &Trace, now: u64) {
        if trace.fragment.is_some() {
            return;
        }
        let bool_str = |b: bool| if b { "true" } else { "false" };
        let error = trace.spans.iter().any(|s| s.is_error());
        let key = [
            Some(trace.release_reason.as_str()),
            Some(bool_str(trace.is_complete())),
            Some(bool_str(error)),
        ];
        *self.traces.get(KeyHasher::of(&key), &key, now, || 0) += 1;

        let Some(root) = trace.root() else {
            return;
        };
        let origin = Origin {
            trace_id: trace.trace_id.0,
            span_id: root.span_id.0,
            time_unix_nano: now,
        };
        let mut base = KeyHasher::default();
        base.push(Some(root.service_name()));
        base.push(Some(&root.name));
        let key = [Some(root.service_name()), Some(root.name.as_str())];
        self.duration
            .get(
                base.finish(),
                &key,
                now,
                maker(&self.bounds, self.exemplars),
            )
            .record(root.duration_ns() as f64 / 1e9, &origin);
        let Some(summary) = trace.critical_path.as_deref() else {
            return;
        };
        for ((category, _), ns) in CRITICAL_PATH_CATEGORIES.iter().zip(summary.by_category) {
            if ns == 0 {
                continue;
            }
            let mut h = base.clone();
            h.push(Some(category));
            let key = [
                Some(root.service_name()),
                Some(root.name.as_str()),
                Some(*category),
            ];
            self.critical
                .get(h.finish(), &key, now, maker(&self.bounds, self.exemplars))
                .record(ns as f64 / 1e9, &origin);
        }
    }

    /// Expires idle series.
    pub fn expire(&mut self, now: u64, expiry_ns: u64) {
        self.critical.expire(now, expiry_ns);
        self.duration.expire(now, expiry_ns);
        self.traces.expire(now, expiry_ns);
    }

    /// Sends overflow counts to the gateway's telemetry.
    pub fn flush_overflow(&mut self) {
        self.critical.flush_overflow();
        self.duration.flush_overflow();
        self.traces.flush_overflow();
    }

    /// (series, heap bytes).
    pub fn size(&self) -> (usize, usize) {
        (
            self.critical.len() + self.duration.len() + self.traces.len(),
            self.critical.heap_bytes() + self.duration.heap_bytes() + self.traces.heap_bytes(),
        )
    }

    /// The three families.
    pub fn families(&self) -> [Family; 3] {
        [
            Family {
                otel_name: "tracegate.critical_path.duration",
                prom_name: CRITICAL_PATH,
                help: "Critical-path time per trace by category, by root service and operation.",
                unit: "s",
                kind: Kind::Histogram,
                series: self
                    .critical
                    .snapshot(|h| Some(Value::Histogram(h.snapshot()))),
            },
            Family {
                otel_name: "tracegate.trace.duration",
                prom_name: TRACE_DURATION,
                help: "Request latency: each trace's root span duration, by root service and operation.",
                unit: "s",
                kind: Kind::Histogram,
                series: self
                    .duration
                    .snapshot(|h| Some(Value::Histogram(h.snapshot()))),
            },
            Family {
                otel_name: "tracegate.traces",
                prom_name: TRACES,
                help: "Whole traces seen, by release reason, completeness and error.",
                unit: "{trace}",
                kind: Kind::Counter,
                series: self.traces.snapshot(|c| Some(Value::Counter(*c as f64))),
            },
        ]
    }
}
