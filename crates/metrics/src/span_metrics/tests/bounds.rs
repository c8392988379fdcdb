//! Cardinality bounds and idle expiry, through the whole processor.

use super::*;
use crate::snapshot::MetricSource;
use crate::span_metrics::{SpanMetrics, SpanMetricsConfig};
use tracegate_model::attr;
use tracegate_pipeline::Duration;
use tracegate_testkit::metrics::CapturedMetrics;

const MINUTE: u64 = 60_000_000_000;

fn named(service: &Arc<Resource>, trace_id: u8, name: &str, ms: u64) -> Span {
    span(
        trace_id,
        1,
        None,
        service,
        name,
        SpanKind::Internal,
        0,
        ms,
        vec![
            attr::string("gen_ai.operation.name", "chat"),
            attr::string("gen_ai.request.model", name),
            attr::int("gen_ai.usage.input_tokens", 10),
        ],
    )
}

#[test]
fn overflow_series_takes_the_rest_with_exact_totals_and_is_counted() {
    let svc = resource("svc");
    let config = SpanMetricsConfig {
        max_series_per_metric: 2,
        ..Default::default()
    };
    let m = SpanMetrics::new(&config);
    // Five names, twice each, 1..=5 ms: two named series, the rest in overflow.
    let traces: Vec<Trace> = (0..2)
        .flat_map(|round| {
            let svc = svc.clone();
            (1..=5u64).map(move |i| {
                trace(vec![named(
                    &svc,
                    round * 10 + i as u8,
                    &format!("op{i}"),
                    i,
                )])
            })
        })
        .collect();
    let captured = CapturedMetrics::new();
    captured.run(|| m.observe(&traces, 1));
    let f = m.collect(1);
    let calls = family(&f, "traces_spanmetrics_calls");
    assert_eq!(calls.series.len(), 3);
    let overflow = series(calls, &[("otel.metric.overflow", "true")]);
    assert_eq!(counter(overflow), 6.0);
    assert_eq!(calls.series.iter().map(counter).sum::<f64>(), 10.0);
    let latency = family(&f, "traces_spanmetrics_latency");
    let h = hist(series(latency, &[("otel.metric.overflow", "true")]));
    // Whichever two names got series, every duration is in some series exactly once.
    let total: f64 = latency.series.iter().map(|s| hist(s).sum).sum();
    assert!((total - 0.030).abs() < 1e-12, "{total}");
    assert_eq!(h.count, 6);
    // The GenAI families are bounded on their own: two request models, then overflow.
    let tokens = family(&f, "gen_ai_client_token_usage");
    assert_eq!(tokens.series.len(), 3);
    assert_eq!(
        tokens.series.iter().map(|s| hist(s).sum).sum::<f64>(),
        100.0
    );
    assert_eq!(
        hist(series(tokens, &[("otel.metric.overflow", "true")])).count,
        6
    );
    // Each overflowed observation is counted once per family it missed.
    let overflowed = |metric| {
        captured.counter(
            "tracegate_span_metrics_overflow_total",
            &[("metric", metric)],
        )
    };
    assert_eq!(overflowed("traces_spanmetrics_calls"), 6);
    assert_eq!(overflowed("traces_spanmetrics_latency"), 6);
    assert_eq!(overflowed("gen_ai_client_token_usage"), 6);
    assert_eq!(overflowed("gen_ai_client_operation_duration_seconds"), 6);
    // The spans are INTERNAL: no service-graph edge, so nothing overflowed there.
    assert_eq!(overflowed("traces_service_graph_request"), 0);
}

#[test]
fn idle_series_expire_at_collect_and_restart() {
    let svc = resource("svc");
    let config = SpanMetricsConfig {
        series_expiry: Duration::from_secs(300),
        ..Default::default()
    };
    let m = SpanMetrics::new(&config);
    m.observe(&[trace(vec![named(&svc, 1, "old", 1)])], 0);
    m.observe(&[trace(vec![named(&svc, 2, "new", 1)])], 4 * MINUTE);
    let names = |f: &[Family]| -> Vec<String> {
        family(f, "traces_spanmetrics_calls")
            .series
            .iter()
            .map(|s| s.labels[1].1.to_string())
            .collect()
    };
    assert_eq!(names(&m.collect(5 * MINUTE - 1)), ["new", "old"]);
    let f = m.collect(5 * MINUTE);
    assert_eq!(names(&f), ["new"]);
    // The GenAI series of "old" went with it; "new"'s stays.
    let models: Vec<_> = family(&f, "gen_ai_client_token_usage")
        .series
        .iter()
        .map(|s| {
            s.labels
                .iter()
                .find(|(k, _)| &**k == "gen_ai.request.model")
                .map(|(_, v)| v.to_string())
        })
        .collect();
    assert_eq!(models, [Some("new".to_owned())]);
    // Seen again, "old" starts over from its new creation time.
    m.observe(&[trace(vec![named(&svc, 3, "old", 1)])], 6 * MINUTE);
    let f = m.collect(6 * MINUTE);
    let old = series(
        family(&f, "traces_spanmetrics_calls"),
        &[
            ("service", "svc"),
            ("span_name", "old"),
            ("span_kind", "SPAN_KIND_INTERNAL"),
            ("status_code", "STATUS_CODE_UNSET"),
        ],
    );
    assert_eq!((old.start_time_unix_nano, counter(old)), (6 * MINUTE, 1.0));
    assert_eq!(names(&m.collect(9 * MINUTE)), ["old"]);
    assert!(names(&m.collect(11 * MINUTE)).is_empty());
}

#[test]
fn zero_expiry_keeps_series() {
    let config = SpanMetricsConfig {
        series_expiry: Duration::from_secs(0),
        ..Default::default()
    };
    let m = SpanMetrics::new(&config);
    m.observe(&[trace(vec![named(&resource("svc"), 1, "a", 1)])], 0);
    assert_eq!(
        family(&m.collect(u64::MAX), "traces_spanmetrics_calls")
            .series
            .len(),
        1
    );
}

#[test]
fn each_gen_ai_family_is_bounded_on_its_own() {
    // One series per family: the first span's input tokens take the token family's only
    // series, so its output tokens overflow, while its duration gets a series of its own.
    let config = SpanMetricsConfig {
        max_series_per_metric: 1,
        ..Default::default()
    };
    let m = SpanMetrics::new(&config);
    let mut s = named(&resource("svc"), 1, "m", 1);
    s.attributes
        .push(attr::int("gen_ai.usage.output_tokens", 7));
    let mut e = named(&resource("svc"), 2, "m", 2);
    e.status.code = StatusCode::Error as i32;
    m.observe(&[trace(vec![s]), trace(vec![e])], 1);
    let f = m.collect(1);
    let tokens = family(&f, "gen_ai_client_token_usage");
    assert_eq!(tokens.series.len(), 2);
    let input = hist(series(
        tokens,
        &[
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.request.model", "m"),
            ("gen_ai.token.type", "input"),
        ],
    ));
    assert_eq!((input.count, input.sum), (2, 20.0));
    let overflow = hist(series(tokens, &[("otel.metric.overflow", "true")]));
    assert_eq!((overflow.count, overflow.sum), (1, 7.0));
    // The failed call's duration (with error.type) counts against the same family bound.
    let duration = family(&f, "gen_ai_client_operation_duration_seconds");
    assert_eq!(duration.series.len(), 2);
    let ok = hist(series(
        duration,
        &[
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.request.model", "m"),
        ],
    ));
    assert_eq!(ok.count, 1);
    assert_eq!(
        hist(series(duration, &[("otel.metric.overflow", "true")])).count,
        1
    );
}

#[test]
fn expired_gen_ai_series_free_their_place_under_the_bound() {
    let config = SpanMetricsConfig {
        max_series_per_metric: 1,
        series_expiry: Duration::from_secs(300),
        ..Default::default()
    };
    let m = SpanMetrics::new(&config);
    let svc = resource("svc");
    m.observe(&[trace(vec![named(&svc, 1, "a", 1)])], 0);
    assert_eq!(
        family(&m.collect(6 * MINUTE), "gen_ai_client_token_usage")
            .series
            .len(),
        0
    );
    m.observe(&[trace(vec![named(&svc, 2, "b", 1)])], 6 * MINUTE);
    let f = m.collect(6 * MINUTE);
    let tokens = family(&f, "gen_ai_client_token_usage");
    assert_eq!(tokens.series.len(), 1);
    let model = tokens.series[0]
        .labels
        .iter()
        .find(|(k, _)| &**k == "gen_ai.request.model")
        .map(|(_, v)| v.to_string());
    assert_eq!(model.as_deref(), Some("b"));
    assert_eq!(tokens.series[0].start_time_unix_nano, 6 * MINUTE);
}

/// `svc`'s resource as sent by `tenant`.
fn of_tenant(tenant: &str) -> Arc<Resource> {
    Arc::new(Resource {
        tenant: Some(Arc::from(tenant)),
        ..(*resource("svc")).clone()
    })
}

#[test]
fn with_multitenancy_red_series_carry_the_tenant_inside_the_overflow_bound() {
    let config = SpanMetricsConfig {
        max_series_per_metric: 2,
        tenant_label: true,
        ..Default::default()
    };
    let m = SpanMetrics::new(&config);
    // One span name, three tenants: two series of their own, the third in overflow.
    let traces: Vec<Trace> = ["team-a", "team-b", "team-a", "team-c"]
        .iter()
        .enumerate()
        .map(|(i, t)| trace(vec![named(&of_tenant(t), i as u8 + 1, "op", 1)]))
        .collect();
    m.observe(&traces, 1);
    let f = m.collect(1);
    let calls = family(&f, "traces_spanmetrics_calls");
    assert_eq!(calls.series.len(), 3);
    let base = [
        ("service", "svc"),
        ("span_name", "op"),
        ("span_kind", "SPAN_KIND_INTERNAL"),
        ("status_code", "STATUS_CODE_UNSET"),
    ];
    for (tenant, calls_seen) in [("team-a", 2.0), ("team-b", 1.0)] {
        let mut labels = base.to_vec();
        labels.push(("tenant", tenant));
        assert_eq!(counter(series(calls, &labels)), calls_seen, "{tenant}");
    }
    let overflow = series(calls, &[("otel.metric.overflow", "true")]);
    assert_eq!(counter(overflow), 1.0);

    // Without multi-tenancy: no tenant label, one series for all three.
    let m = SpanMetrics::new(&SpanMetricsConfig::default());
    m.observe(&traces, 1);
    let f = m.collect(1);
    let calls = family(&f, "traces_spanmetrics_calls");
    assert_eq!(counter(series(calls, &base)), 4.0);
}

/// `service`'s resource as sent by `tenant`.
fn service_of(service: &str, tenant: &str) -> Arc<Resource> {
    Arc::new(Resource {
        tenant: Some(Arc::from(tenant)),
        ..(*resource(service)).clone()
    })
}

/// A trace of `tenant`: a root SERVER span of gw, and under it a GenAI CLIENT call that
/// costs `usd` (a CLIENT span of gw with no SERVER child: a gw → openai edge).
fn llm_trace(tenant: &str, trace_id: u8, usd: f64) -> Trace {
    let gw = service_of("gw", tenant);
    let root = span(
        trace_id,
        1,
        None,
        &gw,
        "POST /chat",
        SpanKind::Server,
        0,
        10,
        vec![],
    );
    let call = span(
        trace_id,
        2,
        Some(1),
        &gw,
        "chat gpt-4o",
        SpanKind::Client,
        1,
        5,
        vec![
            attr::string("gen_ai.operation.name", "chat"),
            attr::string("gen_ai.provider.name", "openai"),
            attr::string("gen_ai.request.model", "gpt-4o"),
            attr::int("gen_ai.usage.input_tokens", 100),
            attr::double("tracegate.cost_usd", usd),
        ],
    );
    trace(vec![root, call])
}

#[test]
fn with_multitenancy_gen_ai_and_service_graph_series_carry_the_tenant() {
    let config = SpanMetricsConfig {
        tenant_label: true,
        ..Default::default()
    };
    let m = SpanMetrics::new(&config);
    let traces = vec![
        llm_trace("team-a", 1, 0.25),
        llm_trace("team-b", 2, 1.0),
        llm_trace("team-a", 3, 0.5),
    ];
    m.observe(&traces, 1);
    let f = m.collect(1);

    // Cost and tokens per tenant: what a chargeback needs.
    let cost = family(&f, "tracegate_gen_ai_cost_usd");
    assert_eq!(cost.series.len(), 2);
    let model = [
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "gpt-4o"),
    ];
    for (tenant, usd) in [("team-a", 0.75), ("team-b", 1.0)] {
        let mut labels = model.to_vec();
        labels.push(("tenant", tenant));
        assert_eq!(counter(series(cost, &labels)), usd, "{tenant}");
    }
    let tokens = family(&f, "gen_ai_client_token_usage");
    let labels = |tenant| {
        [
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.request.model", "gpt-4o"),
            ("gen_ai.token.type", "input"),
            ("tenant", tenant),
        ]
    };
    assert_eq!(hist(series(tokens, &labels("team-a"))).sum, 200.0);
    assert_eq!(hist(series(tokens, &labels("team-b"))).sum, 100.0);
    let duration = family(&f, "gen_ai_client_operation_duration_seconds");
    assert_eq!(duration.series.len(), 2);

    // The service graph: user → gw and gw → openai, once per tenant.
    let total = family(&f, "traces_service_graph_request");
    assert_eq!(total.series.len(), 4, "{:?}", total.series);
    let edge = |c, s, tenant| {
        [
            ("client", c),
            ("server", s),
            ("connection_type", "virtual_node"),
            ("tenant", tenant),
        ]
    };
    assert_eq!(counter(series(total, &edge("user", "gw", "team-a"))), 2.0);
    assert_eq!(counter(series(total, &edge("gw", "openai", "team-b"))), 1.0);

    // Without multi-tenancy: the same calls, no tenant label.
    let m = SpanMetrics::new(&SpanMetricsConfig::default());
    m.observe(&traces, 1);
    let f = m.collect(1);
    let cost = family(&f, "tracegate_gen_ai_cost_usd");
    assert_eq!(counter(series(cost, &model)), 1.75);
    let total = family(&f, "traces_service_graph_request");
    let edge = [
        ("client", "gw"),
        ("server", "openai"),
        ("connection_type", "virtual_node"),
    ];
    assert_eq!(counter(series(total, &edge)), 3.0);
}
