//! Service-graph edges: the golden trace's, messaging pairs, same-service pairs, fragments.

use super::golden::{NOW, collect};
use super::*;
use crate::snapshot::MetricSource;
use crate::span_metrics::{SpanMetrics, SpanMetricsConfig};
use tracegate_model::attr;

#[test]
fn service_graph_edges_and_virtual_nodes() {
    let f = collect(&SpanMetricsConfig::default());
    let total = family(&f, "traces_service_graph_request");
    let failed = family(&f, "traces_service_graph_request_failed");
    let server = family(&f, "traces_service_graph_request_server_seconds");
    let client = family(&f, "traces_service_graph_request_client_seconds");
    assert_eq!(total.series.len(), 4, "{:?}", total.series);
    let edge = |c, s, t| [("client", c), ("server", s), ("connection_type", t)];
    // user -> gw (root SERVER span): server side only.
    let e = edge("user", "gw", "virtual_node");
    assert_eq!(counter(series(total, &e)), 1.0);
    assert_eq!(counter(series(failed, &e)), 0.0);
    assert_eq!(hist(series(server, &e)).sum, 0.1);
    assert_eq!(hist(series(client, &e)).count, 0);
    // gw -> ret: the server failed, so the request did.
    let e = edge("gw", "ret", "");
    assert_eq!(counter(series(total, &e)), 1.0);
    assert_eq!(counter(series(failed, &e)), 1.0);
    assert_eq!(hist(series(client, &e)).sum, 0.05);
    assert_eq!(hist(series(server, &e)).sum, 0.04);
    // Graph bounds 0.1 0.2: 50 and 40 ms are in the first bucket.
    assert_eq!(buckets(hist(series(client, &e))), [(0, 1)]);
    assert!(hist(series(client, &e)).exemplars[0].is_some());
    // Uninstrumented servers, named by gen_ai.provider.name and db.system.name.
    let e = edge("gw", "openai", "virtual_node");
    assert_eq!(counter(series(total, &e)), 1.0);
    assert_eq!(hist(series(client, &e)).sum, 0.035);
    assert_eq!(hist(series(server, &e)).count, 0);
    let e = edge("ret", "qdrant", "virtual_node");
    assert_eq!(counter(series(total, &e)), 1.0);
}

#[test]
fn messaging_and_same_service_pairs() {
    let a = resource("a");
    let b = resource("b");
    let spans = vec![
        span(2, 1, None, &a, "job", SpanKind::Internal, 0, 10, vec![]),
        span(2, 2, Some(1), &a, "send", SpanKind::Producer, 1, 2, vec![]),
        span(
            2,
            3,
            Some(2),
            &b,
            "receive",
            SpanKind::Consumer,
            3,
            9,
            vec![],
        ),
        span(2, 4, Some(1), &a, "call", SpanKind::Client, 1, 5, vec![]),
        span(2, 5, Some(4), &a, "handle", SpanKind::Server, 2, 4, vec![]),
        // A client with no server child and nothing naming its peer: no edge.
        span(2, 6, Some(1), &a, "mystery", SpanKind::Client, 5, 6, vec![]),
    ];
    let m = SpanMetrics::new(&SpanMetricsConfig::default());
    m.observe(&[trace(spans.clone())], NOW);
    let f = m.collect(NOW);
    let total = family(&f, "traces_service_graph_request");
    assert_eq!(total.series.len(), 1, "{:?}", total.series);
    let e = [
        ("client", "a"),
        ("server", "b"),
        ("connection_type", "messaging_system"),
    ];
    assert_eq!(counter(series(total, &e)), 1.0);

    // A fragment never guesses virtual nodes: its server children may be elsewhere.
    let peer = span(
        3,
        1,
        Some(7),
        &a,
        "call",
        SpanKind::Client,
        0,
        1,
        vec![attr::string("peer.service", "billing")],
    );
    let mut fragment = trace(vec![peer.clone()]);
    fragment.fragment = Some(tracegate_model::Fragment::Late);
    let m = SpanMetrics::new(&SpanMetricsConfig::default());
    m.observe(&[fragment], NOW);
    assert!(
        family(&m.collect(NOW), "traces_service_graph_request")
            .series
            .is_empty()
    );
    m.observe(&[trace(vec![peer])], NOW);
    let f = m.collect(NOW);
    let e = [
        ("client", "a"),
        ("server", "billing"),
        ("connection_type", "virtual_node"),
    ];
    assert_eq!(
        counter(series(family(&f, "traces_service_graph_request"), &e)),
        1.0
    );
    // Fragments are not counted as traces either.
    assert_eq!(family(&f, "tracegate_traces").series.len(), 1);
}
