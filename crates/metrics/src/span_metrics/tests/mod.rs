//! Tests of the whole processor: hand-worked golden cases per family ([`golden`]), random
//! traces ([`properties`]), bounds and expiry ([`bounds`]), the factory ([`factory`]),
//! service-graph edges ([`graph`]).

mod bounds;
mod factory;
mod golden;
mod graph;
mod properties;

use crate::snapshot::{Family, Histogram, Series, Value};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use std::sync::Arc;
use tracegate_model::{
    ReleaseReason, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, Trace, TraceId,
};

pub(super) const MS: u64 = 1_000_000;

/// A span of trace `trace`, id `id`, from `start_ms` to `end_ms`.
#[allow(clippy::too_many_arguments)]
pub(super) fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    service: &Arc<Resource>,
    name: &str,
    kind: SpanKind,
    start_ms: u64,
    end_ms: u64,
    attributes: Vec<KeyValue>,
) -> Span {
    Span {
        resource: service.clone(),
        scope: Arc::new(Scope::default()),
        trace_id: TraceId([trace; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: parent.map(|p| SpanId([p; 8])),
        trace_state: String::new(),
        flags: 0,
        name: name.to_owned(),
        kind,
        start_time_unix_nano: start_ms * MS,
        end_time_unix_nano: end_ms * MS,
        attributes,
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status: Status::default(),
        facts: Default::default(),
        origin: Default::default(),
    }
}

pub(super) fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource::with_service(service))
}

pub(super) fn failed(mut s: Span) -> Span {
    s.status.code = StatusCode::Error as i32;
    s
}

pub(super) fn trace(spans: Vec<Span>) -> Trace {
    Trace {
        trace_id: spans.first().map_or(TraceId([9; 16]), |s| s.trace_id),
        spans,
        release_reason: ReleaseReason::Complete,
        tree_whole: true,
        fragment: None,
        critical_path: None,
        sampling: None,
        scores: Vec::new(),
    }
}

pub(super) fn family<'a>(families: &'a [Family], prom_name: &str) -> &'a Family {
    families
        .iter()
        .find(|f| f.prom_name == prom_name)
        .unwrap_or_else(|| panic!("no family {prom_name}"))
}

/// The series whose labels are exactly `labels` (in any order).
pub(super) fn series<'a>(family: &'a Family, labels: &[(&str, &str)]) -> &'a Series {
    let mut want: Vec<(&str, &str)> = labels.to_vec();
    want.sort();
    family
        .series
        .iter()
        .find(|s| {
            let mut have: Vec<(&str, &str)> = s.labels.iter().map(|(k, v)| (&**k, &**v)).collect();
            have.sort();
            have == want
        })
        .unwrap_or_else(|| {
            let all: Vec<_> = family.series.iter().map(|s| &s.labels).collect();
            panic!("{}: no series {labels:?} among {all:?}", family.prom_name)
        })
}

pub(super) fn counter(s: &Series) -> f64 {
    match s.value {
        Value::Counter(c) => c,
        ref other => panic!("not a counter: {other:?}"),
    }
}

pub(super) fn hist(s: &Series) -> &Histogram {
    match &s.value {
        Value::Histogram(h) => h,
        other => panic!("not a histogram: {other:?}"),
    }
}

/// A histogram's counts as (bucket index, count) for the non-empty buckets.
pub(super) fn buckets(h: &Histogram) -> Vec<(usize, u64)> {
    h.counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| (i, *c))
        .collect()
}
