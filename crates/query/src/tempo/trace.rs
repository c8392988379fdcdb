//! The trace-by-id messages, `tempopb.Trace` and `tempopb.TraceByIDResponse`, and
//! [`build_trace`], which turns a trace's spans into the first.
//!
//! `tempopb.Trace` is OTLP's `TracesData` under another package name (field 1, repeated
//! `ResourceSpans`), so the OTLP types are reused as they are. Grafana reads the protobuf
//! form without nil checks, so [`build_trace`] guarantees (TEMPO_API.md §3.4): every
//! `ResourceSpans` has a resource with at least `service.name`, every `ScopeSpans` a scope
//! and every span a status; and no span id appears twice.

use prost::Message as _;
use std::collections::HashMap;
use std::collections::HashSet;
use tracegate_model::proto::trace::v1::ResourceSpans;
use tracegate_model::{Span, attr, keys};

/// `tempopb.Trace`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Trace {
    /// The trace's spans by resource and scope (`batches` in v1 JSON).
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `tempopb.TraceByIDResponse`, the v2 trace-by-id answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceByIdResponse {
    /// The trace; always present (empty when not found), as Grafana dereferences it.
    #[prost(message, optional, tag = "1")]
    pub trace: Option<Trace>,
    /// What the lookup read.
    #[prost(message, optional, tag = "2")]
    pub metrics: Option<TraceByIdMetrics>,
    /// [`PartialStatus`].
    #[prost(enumeration = "PartialStatus", tag = "3")]
    pub status: i32,
    /// Why the trace is partial.
    #[prost(string, tag = "4")]
    pub message: String,
}

/// `tempopb.TraceByIDMetrics`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct TraceByIdMetrics {
    /// Bytes read.
    #[prost(uint64, tag = "1")]
    pub inspected_bytes: u64,
}

/// `tempopb.PartialStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PartialStatus {
    /// The whole trace.
    Complete = 0,
    /// Some spans were left out; the message says why.
    Partial = 1,
}

/// Keeps the first span of each span id, in order.
pub fn dedup_spans(spans: Vec<Span>) -> Vec<Span> {
    let mut seen = HashSet::with_capacity(spans.len());
    spans
        .into_iter()
        .filter(|s| seen.insert(s.span_id))
        .collect()
}

/// The trace of `spans` (deduplicated by span id), grouped by resource and then scope in
/// order of first appearance, each group by start time, with Grafana's invariants.
pub fn build_trace(spans: Vec<Span>) -> Trace {
    let mut spans = dedup_spans(spans);
    // Group by the Arc's address: spans of one resource share it. Fragments from different
    // blocks may hold equal resources behind different Arcs; those become separate
    // `ResourceSpans`, which Grafana shows the same way.
    let mut resource_rank: HashMap<usize, usize> = HashMap::new();
    let mut scope_rank: HashMap<(usize, usize), usize> = HashMap::new();
    let mut keys_of = Vec::with_capacity(spans.len());
    for s in &spans {
        let r = std::sync::Arc::as_ptr(&s.resource) as usize;
        let c = std::sync::Arc::as_ptr(&s.scope) as usize;
        let next = resource_rank.len();
        let rr = *resource_rank.entry(r).or_insert(next);
        let next = scope_rank.len();
        let sr = *scope_rank.entry((r, c)).or_insert(next);
        keys_of.push((rr, sr));
    }
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| (keys_of[i], spans[i].start_time_unix_nano, i));
    let mut slots: Vec<Option<Span>> = spans.drain(..).map(Some).collect();
    let ordered = order.into_iter().filter_map(|i| slots[i].take());
    let request = tracegate_model::span::to_request(ordered, |s| s);
    let mut resource_spans = request.resource_spans;
    for rs in &mut resource_spans {
        ensure_service_name(rs);
    }
    Trace { resource_spans }
}

/// Adds `service.name` to a resource that lacks it (Grafana drops the spans of a resource
/// without attributes), with the OTel default `unknown_service`.
fn ensure_service_name(rs: &mut ResourceSpans) {
    let resource = rs.resource.get_or_insert_with(Default::default);
    if attr::get_str(&resource.attributes, keys::SERVICE_NAME).is_none() {
        resource
            .attributes
            .push(attr::string(keys::SERVICE_NAME, keys::UNKNOWN_SERVICE));
    }
    for ss in &mut rs.scope_spans {
        ss.scope.get_or_insert_with(Default::default);
        for span in &mut ss.spans {
            span.status.get_or_insert_with(Default::default);
        }
    }
}

/// The trace of `spans` kept within `max_bytes` of encoded protobuf: the whole trace when it
/// fits, otherwise the earliest spans that fit. The flag is true when spans were left out.
pub fn build_trace_within(spans: Vec<Span>, max_bytes: usize) -> (Trace, bool) {
    let mut spans = dedup_spans(spans);
    let full = build_trace(spans.clone());
    if full.encoded_len() <= max_bytes {
        return (full, false);
    }
    spans.sort_by_key(|s| s.start_time_unix_nano);
    // The longest prefix (by start time) that fits: a binary search, since the encoded size
    // grows with the prefix. Only traces over the limit pay for it, with ~log2(n) builds.
    let (mut fits, mut over) = (0usize, spans.len());
    while over - fits > 1 {
        let mid = fits + (over - fits) / 2;
        if build_trace(spans[..mid].to_vec()).encoded_len() <= max_bytes {
            fits = mid;
        } else {
            over = mid;
        }
    }
    spans.truncate(fits);
    (build_trace(spans), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tracegate_model::{Resource, Scope, SpanId, SpanKind, Status, TraceId};

    fn span(id: u8, start: u64, resource: &Arc<Resource>) -> Span {
        Span {
            resource: resource.clone(),
            scope: Arc::new(Scope::default()),
            trace_id: TraceId([1; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: None,
            trace_state: String::new(),
            flags: 0,
            name: format!("op-{id}"),
            kind: SpanKind::Server,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 10,
            attributes: vec![attr::string("k", "v".repeat(100))],
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

    #[test]
    fn keeps_grafanas_invariants_and_drops_duplicate_span_ids() {
        let bare = Arc::new(Resource::default());
        let named = Arc::new(Resource::with_service("api"));
        let spans = vec![span(1, 5, &bare), span(2, 3, &named), span(1, 9, &bare)];
        let trace = build_trace(spans);
        assert_eq!(trace.resource_spans.len(), 2);
        let mut ids = Vec::new();
        for rs in &trace.resource_spans {
            let resource = rs.resource.as_ref().unwrap();
            assert!(attr::get_str(&resource.attributes, keys::SERVICE_NAME).is_some());
            for ss in &rs.scope_spans {
                assert!(ss.scope.is_some());
                for s in &ss.spans {
                    assert!(s.status.is_some());
                    ids.push(s.span_id.clone());
                }
            }
        }
        assert_eq!(ids, vec![vec![1; 8], vec![2; 8]]);
        let bare_rs = &trace.resource_spans[0];
        assert_eq!(
            attr::get_str(
                &bare_rs.resource.as_ref().unwrap().attributes,
                keys::SERVICE_NAME
            ),
            Some(keys::UNKNOWN_SERVICE)
        );
    }

    #[test]
    fn a_trace_over_the_limit_keeps_the_earliest_spans_that_fit() {
        let r = Arc::new(Resource::with_service("api"));
        let spans: Vec<Span> = (1..=50).map(|i| span(i, u64::from(i) * 100, &r)).collect();
        let full = build_trace(spans.clone()).encoded_len();
        let (trace, partial) = build_trace_within(spans.clone(), full / 2);
        assert!(partial);
        assert!(trace.encoded_len() <= full / 2);
        let kept: Vec<u64> = trace.resource_spans[0]
            .scope_spans
            .iter()
            .flat_map(|ss| &ss.spans)
            .map(|s| s.start_time_unix_nano)
            .collect();
        assert!(kept.len() > 10 && kept.len() < 50, "{}", kept.len());
        assert_eq!(
            kept,
            (1..=kept.len() as u64).map(|i| i * 100).collect::<Vec<_>>()
        );
        let (whole, partial) = build_trace_within(spans, full);
        assert!(!partial);
        assert_eq!(whole.encoded_len(), full);
    }

    #[test]
    fn an_empty_v2_response_still_carries_field_one() {
        let response = TraceByIdResponse {
            trace: Some(Trace::default()),
            ..Default::default()
        };
        assert_eq!(response.encode_to_vec(), vec![0x0a, 0x00]);
    }
}
