//! One matching trace as `tempopb.TraceSearchMetadata` (TEMPO_API.md §2.3): root service
//! and name, start and duration, service stats, and each spanset with at most `spss` spans
//! showing the attributes the query refers to.

use crate::api::tql::{Attribute, Query};
use crate::tempo::search::{
    ServiceStats, Span as SearchSpan, SpanSet, TraceSearchMetadata, trimmed_trace_id,
};
use std::collections::BTreeMap;
use tracegate_model::Span;
use tracegate_model::proto::common::v1::KeyValue;

/// What Tempo shows for a trace whose root span has not arrived.
pub const ROOT_NOT_YET_RECEIVED: &str = "<root span not yet received>";

/// Output keys Tempo leaves out of a span's attributes: they are shown as fields already.
const EXCLUDED_INTRINSICS: &[&str] = &[
    "name",
    "span:name",
    "duration",
    "span:duration",
    "traceDuration",
    "trace:duration",
    "rootName",
    "trace:rootName",
    "rootServiceName",
    "rootService",
    "trace:rootService",
    "trace:id",
    "span:id",
    "traceID",
    "spanID",
];

/// The search result for one trace: `spans` is all of it.
pub fn metadata(spans: &[Span], query: &Query, spss: u32) -> Option<TraceSearchMetadata> {
    let sets = query.evaluate(spans);
    if sets.is_empty() {
        return None;
    }
    let first = spans.first()?;
    let start = spans
        .iter()
        .map(|s| s.start_time_unix_nano)
        .min()
        .unwrap_or(0);
    let end = spans
        .iter()
        .map(|s| s.end_time_unix_nano)
        .max()
        .unwrap_or(0);
    let root = spans
        .iter()
        .filter(|s| s.is_root())
        .min_by_key(|s| s.start_time_unix_nano);
    let mut service_stats: BTreeMap<String, ServiceStats> = BTreeMap::new();
    for s in spans {
        let stats = service_stats
            .entry(s.service_name().to_owned())
            .or_default();
        stats.span_count = stats.span_count.saturating_add(1);
        if s.is_error() {
            stats.error_count = stats.error_count.saturating_add(1);
        }
    }
    let shown: Vec<&Attribute> = query
        .output_attributes()
        .iter()
        .filter(|a| !(a.is_intrinsic() && EXCLUDED_INTRINSICS.contains(&a.output_key().as_str())))
        .collect();
    let span_sets: Vec<SpanSet> = sets
        .iter()
        .map(|set| SpanSet {
            spans: set
                .spans
                .iter()
                .take(if spss == 0 { usize::MAX } else { spss as usize })
                .map(|s| search_span(s, spans, &shown))
                .collect(),
            matched: u32::try_from(set.matched).unwrap_or(u32::MAX),
            attributes: set
                .attributes
                .iter()
                .map(|(k, v)| key_value(k.clone(), v.to_any_value()))
                .collect(),
        })
        .collect();
    Some(TraceSearchMetadata {
        trace_id: trimmed_trace_id(first.trace_id.as_bytes()),
        root_service_name: root
            .map_or(ROOT_NOT_YET_RECEIVED, |r| r.service_name())
            .to_owned(),
        root_trace_name: root.map(|r| r.name.clone()).unwrap_or_default(),
        start_time_unix_nano: start,
        duration_ms: u32::try_from(end.saturating_sub(start) / 1_000_000).unwrap_or(u32::MAX),
        span_set: span_sets.first().cloned(),
        span_sets,
        service_stats,
    })
}

fn search_span(span: &Span, trace: &[Span], shown: &[&Attribute]) -> SearchSpan {
    let mut attributes: Vec<KeyValue> = Vec::new();
    for a in shown {
        let key = a.output_key();
        if attributes.iter().any(|kv| kv.key == key) {
            continue;
        }
        if let Some(value) = a.value_of(span, trace) {
            let any = value.to_any_value();
            if any.value.is_some() {
                attributes.push(key_value(key, any));
            }
        }
    }
    SearchSpan {
        span_id: span.span_id.to_hex(),
        name: span.name.clone(),
        start_time_unix_nano: span.start_time_unix_nano,
        duration_nanos: span.duration_ns(),
        attributes,
    }
}

fn key_value(key: String, value: tracegate_model::proto::common::v1::AnyValue) -> KeyValue {
    KeyValue {
        key,
        value: Some(value),
        ..Default::default()
    }
}

/// Sorts by start time, newest first (then by trace id, for a stable order), keeps the first
/// of each trace id and at most `limit`.
pub fn newest_first(
    mut traces: Vec<TraceSearchMetadata>,
    limit: usize,
) -> Vec<TraceSearchMetadata> {
    traces.sort_by(|a, b| {
        b.start_time_unix_nano
            .cmp(&a.start_time_unix_nano)
            .then_with(|| a.trace_id.cmp(&b.trace_id))
    });
    let mut seen = std::collections::HashSet::new();
    traces.retain(|t| seen.insert(t.trace_id.clone()));
    traces.truncate(limit);
    traces
}
