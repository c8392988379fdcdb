//! The `latency_breakdown` processor on a hand-worked trace: the spans' attributes and the
//! trace's critical-path summary, which the archive's `traces` table reads.

mod common;

use common::*;
use tracegate_breakdown::{LatencyBreakdownConfig, LatencyBreakdownProcessor};
use tracegate_model::schema::{CRITICAL_PATH_CATEGORIES, critical_path_category_index};
use tracegate_model::{Contributor, ReleaseReason, SpanKind, Trace, TraceId, attr, keys};
use tracegate_pipeline::TraceProcessor;

/// Case 7 of the golden tests (two services, 40 ms of clock skew), as a whole trace.
///
/// Path: R 150..200 (50); C 140..150 (10, network); S 130..140 (10); D 70..130 (60);
/// S 60..70 (10); C 50..60 (10, network); R 0..50 (50).
/// Per category: http = R 100 + S 20 = 120; network = C 20; retrieval = D 60; total 200.
/// Top three: R 100 (gateway), D 60 (retriever), then C and S at 20 each: C starts first
/// (50 against S's adjusted 60).
#[test]
fn a_whole_trace_gets_its_summary_with_network_as_its_own_category() {
    let spans = vec![
        span(1, None, 0, 200)
            .named("POST /ask")
            .kind(SpanKind::Server)
            .service("gateway")
            .with("http.request.method", "POST"),
        span(2, Some(1), 50, 150)
            .named("POST retriever")
            .kind(SpanKind::Client)
            .service("gateway")
            .with("http.request.method", "POST"),
        span(3, Some(2), 100, 180)
            .named("POST /search")
            .kind(SpanKind::Server)
            .service("retriever")
            .with("http.request.method", "POST"),
        span(4, Some(3), 110, 170)
            .named("qdrant search")
            .service("retriever")
            .with("db.system.name", "qdrant")
            .with("db.operation.name", "search"),
    ];
    let trace = Trace {
        trace_id: TraceId([1; 16]),
        spans,
        release_reason: ReleaseReason::Complete,
        tree_whole: true,
        fragment: None,
        critical_path: None,
        sampling: None,
        scores: Vec::new(),
    };
    let mut p = LatencyBreakdownProcessor::new(&LatencyBreakdownConfig::default());
    let out = p.process(vec![trace]);
    let summary = out[0].critical_path.as_deref().unwrap();

    assert_eq!(summary.duration_ns, 200 * MS);
    let mut expected = [0u64; CRITICAL_PATH_CATEGORIES.len()];
    expected[critical_path_category_index(Some("http"))] = 120 * MS;
    expected[critical_path_category_index(Some("network"))] = 20 * MS;
    expected[critical_path_category_index(Some("retrieval"))] = 60 * MS;
    assert_eq!(summary.by_category, expected);
    assert_eq!(summary.category_ns("network"), 20 * MS);
    assert_eq!(summary.by_category.iter().sum::<u64>(), summary.duration_ns);
    let top = |name: &str, service: &str, ms: u64| Contributor {
        name: name.into(),
        service: service.into(),
        ns: ms * MS,
    };
    assert_eq!(
        summary.top,
        [
            top("POST /ask", "gateway", 100),
            top("qdrant search", "retriever", 60),
            top("POST retriever", "gateway", 20),
        ]
    );

    // The client span keeps its own category: network exists only on the path, so summing
    // the span attributes by category would put its 20 ms under http.
    let exported = out[0].spans[1].to_proto();
    let client = &exported.attributes;
    assert_eq!(
        attr::get_str(client, keys::TRACEGATE_CATEGORY),
        Some("http")
    );
    assert_eq!(
        attr::get_i64(client, keys::TRACEGATE_CRITICAL_PATH_NS),
        Some(20_000_000)
    );
}
