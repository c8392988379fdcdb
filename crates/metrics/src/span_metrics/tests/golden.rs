//! One small trace worked out by hand, checked family by family.
//!
//! ```text
//! s1 GET /chat      SERVER gw   0–100 ms
//! ├─ s2 POST        CLIENT gw   10–60 ms
//! │  └─ s3 POST /retrieve SERVER ret 15–55 ms  ERROR
//! │     └─ s5 query CLIENT ret  20–40 ms  db.system.name=qdrant
//! └─ s4 chat gpt-4o CLIENT gw   60–95 ms  GenAI: 100 in / 11 out tokens, TTFT 15 ms,
//!                                          decode 20 ms, $0.5
//! ```

use super::*;
use crate::snapshot::MetricSource;
use crate::span_metrics::{HistogramKind, SpanMetrics, SpanMetricsConfig};
use tracegate_model::schema::CRITICAL_PATH_CATEGORIES;
use tracegate_model::{CriticalPathSummary, LlmStages, attr};

pub(super) const NOW: u64 = 1_700_000_000_000_000_000;

pub(super) fn golden_trace() -> Trace {
    let gw = resource("gw");
    let ret = resource("ret");
    let s1 = span(
        1,
        1,
        None,
        &gw,
        "GET /chat",
        SpanKind::Server,
        0,
        100,
        vec![],
    );
    let s2 = span(1, 2, Some(1), &gw, "POST", SpanKind::Client, 10, 60, vec![]);
    let s3 = failed(span(
        1,
        3,
        Some(2),
        &ret,
        "POST /retrieve",
        SpanKind::Server,
        15,
        55,
        vec![],
    ));
    let mut s4 = span(
        1,
        4,
        Some(1),
        &gw,
        "chat gpt-4o",
        SpanKind::Client,
        60,
        95,
        vec![
            attr::string("gen_ai.operation.name", "chat"),
            attr::string("gen_ai.provider.name", "openai"),
            attr::string("gen_ai.request.model", "gpt-4o"),
            attr::string("gen_ai.response.model", "gpt-4o-2024"),
            attr::int("gen_ai.usage.input_tokens", 100),
            attr::int("gen_ai.usage.output_tokens", 11),
            attr::double("gen_ai.response.time_to_first_chunk", 0.015),
            attr::double("tracegate.cost_usd", 0.5),
        ],
    );
    s4.facts.llm = Some(LlmStages {
        prefill_ns: 15 * MS,
        decode_ns: 20 * MS,
    });
    let s5 = span(
        1,
        5,
        Some(3),
        &ret,
        "query",
        SpanKind::Client,
        20,
        40,
        vec![attr::string("db.system.name", "qdrant")],
    );
    let mut t = trace(vec![s1, s2, s3, s4, s5]);
    let mut summary = CriticalPathSummary {
        duration_ns: 100 * MS,
        ..Default::default()
    };
    let at = |name: &str| {
        CRITICAL_PATH_CATEGORIES
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap()
    };
    summary.by_category[at("llm")] = 35 * MS;
    summary.by_category[at("http")] = 60 * MS;
    summary.by_category[at("other")] = 5 * MS;
    t.critical_path = Some(Box::new(summary));
    t
}

pub(super) fn collect(config: &SpanMetricsConfig) -> Vec<Family> {
    let m = SpanMetrics::new(config);
    m.observe(&[golden_trace()], NOW);
    m.collect(NOW)
}

fn red(service: &str, name: &str, kind: &str, status: &str) -> Vec<(&'static str, String)> {
    vec![
        ("service", service.to_owned()),
        ("span_name", name.to_owned()),
        ("span_kind", kind.to_owned()),
        ("status_code", status.to_owned()),
    ]
}

fn labels<'a>(l: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    l.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn red_counts_sums_and_le_inclusive_buckets() {
    let f = collect(&SpanMetricsConfig::default());
    let calls = family(&f, "traces_spanmetrics_calls");
    let latency = family(&f, "traces_spanmetrics_latency");
    assert_eq!(calls.series.len(), 5);
    assert_eq!(latency.series.len(), 5);
    // Default bounds (s): 0.002 0.004 0.006 0.008 0.01 0.05 0.1 0.2 …; index 5 is (0.01, 0.05].
    let cases = [
        (
            "gw",
            "GET /chat",
            "SPAN_KIND_SERVER",
            "STATUS_CODE_UNSET",
            0.1,
            6,
        ),
        (
            "gw",
            "POST",
            "SPAN_KIND_CLIENT",
            "STATUS_CODE_UNSET",
            0.05,
            5,
        ),
        (
            "ret",
            "POST /retrieve",
            "SPAN_KIND_SERVER",
            "STATUS_CODE_ERROR",
            0.04,
            5,
        ),
        (
            "gw",
            "chat gpt-4o",
            "SPAN_KIND_CLIENT",
            "STATUS_CODE_UNSET",
            0.035,
            5,
        ),
        (
            "ret",
            "query",
            "SPAN_KIND_CLIENT",
            "STATUS_CODE_UNSET",
            0.02,
            5,
        ),
    ];
    for (service, name, kind, status, seconds, bucket) in cases {
        let l = red(service, name, kind, status);
        assert_eq!(counter(series(calls, &labels(&l))), 1.0, "{name}");
        let h = hist(series(latency, &labels(&l)));
        assert_eq!(h.count, 1);
        assert!((h.sum - seconds).abs() < 1e-12, "{name}: {}", h.sum);
        assert_eq!(buckets(h), [(bucket, 1)], "{name}");
        assert_eq!(h.counts.len(), 17);
        // The exemplar sits on the bucket the value went to, and only there.
        for (i, e) in h.exemplars.iter().enumerate() {
            assert_eq!(e.is_some(), i == bucket, "{name} bucket {i}");
        }
        let e = h.exemplars[bucket].unwrap();
        assert_eq!(e.trace_id, [1; 16]);
        assert_eq!(e.time_unix_nano, NOW);
        assert!((e.value - seconds).abs() < 1e-12);
    }
    let root = hist(series(
        latency,
        &labels(&red(
            "gw",
            "GET /chat",
            "SPAN_KIND_SERVER",
            "STATUS_CODE_UNSET",
        )),
    ));
    assert_eq!(root.exemplars[6].unwrap().span_id, [1; 8]);
    let s = series(
        calls,
        &labels(&red("gw", "POST", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET")),
    );
    assert_eq!(
        (s.start_time_unix_nano, s.last_update_unix_nano),
        (NOW, NOW)
    );
}

#[test]
fn gen_ai_families_use_the_spec_buckets() {
    let f = collect(&SpanMetricsConfig::default());
    let four = [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "gpt-4o"),
        ("gen_ai.response.model", "gpt-4o-2024"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut l = four.to_vec();
        l.push(extra);
        l
    };
    let tokens = family(&f, "gen_ai_client_token_usage");
    assert_eq!(tokens.series.len(), 2);
    // Token bounds 1 4 16 64 256: 100 is in (64, 256], 11 in (4, 16].
    let input = hist(series(tokens, &with(("gen_ai.token.type", "input"))));
    assert_eq!(
        (input.count, input.sum, buckets(input)),
        (1, 100.0, vec![(4, 1)])
    );
    let output = hist(series(tokens, &with(("gen_ai.token.type", "output"))));
    assert_eq!(
        (output.count, output.sum, buckets(output)),
        (1, 11.0, vec![(2, 1)])
    );
    assert_eq!(input.counts.len(), 15);

    // Duration bounds 0.01 0.02 0.04: 35 ms is in (0.02, 0.04]; no error.type when it worked.
    let duration = family(&f, "gen_ai_client_operation_duration_seconds");
    let d = hist(series(duration, &four));
    assert_eq!(buckets(d), [(2, 1)]);
    assert!((d.sum - 0.035).abs() < 1e-12);

    // TTFT bounds 0.001 0.005 0.01 0.02: 15 ms (the attribute) is in (0.01, 0.02].
    let ttft = hist(series(
        family(&f, "gen_ai_server_time_to_first_token_seconds"),
        &four,
    ));
    assert_eq!((ttft.sum, buckets(ttft)), (0.015, vec![(3, 1)]));

    // TPOT: decode 20 ms over 10 tokens after the first = 2 ms, below the first bound 0.01.
    let tpot = hist(series(
        family(&f, "gen_ai_server_time_per_output_token_seconds"),
        &four,
    ));
    assert_eq!(buckets(tpot), [(0, 1)]);
    assert!((tpot.sum - 0.002).abs() < 1e-12);
    assert_eq!(tpot.counts.len(), 14);

    let cost = family(&f, "tracegate_gen_ai_cost_usd");
    assert_eq!(cost.series.len(), 1);
    let c = series(
        cost,
        &[
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.request.model", "gpt-4o"),
        ],
    );
    assert_eq!(counter(c), 0.5);
}

#[test]
fn per_trace_families() {
    let f = collect(&SpanMetricsConfig::default());
    let traces = family(&f, "tracegate_traces");
    assert_eq!(traces.series.len(), 1);
    let s = series(
        traces,
        &[
            ("release_reason", "complete"),
            ("complete", "true"),
            ("error", "true"),
        ],
    );
    assert_eq!(counter(s), 1.0);

    let cp = family(&f, "tracegate_critical_path_seconds");
    assert_eq!(cp.series.len(), 3);
    let at = |category| {
        hist(series(
            cp,
            &[
                ("service", "gw"),
                ("root_operation", "GET /chat"),
                ("category", category),
            ],
        ))
    };
    // RED bounds: 35 ms in (0.01, 0.05], 60 ms in (0.05, 0.1], 5 ms in (0.004, 0.006].
    assert_eq!(buckets(at("llm")), [(5, 1)]);
    assert_eq!(buckets(at("http")), [(6, 1)]);
    assert_eq!(buckets(at("other")), [(2, 1)]);
    let total: f64 = cp.series.iter().map(|s| hist(s).sum).sum();
    assert!((total - 0.1).abs() < 1e-12);

    // The request latency: the root span's 100 ms, in (0.05, 0.1].
    let duration = family(&f, "tracegate_trace_duration_seconds");
    assert_eq!(duration.series.len(), 1);
    let d = hist(series(
        duration,
        &[("service", "gw"), ("root_operation", "GET /chat")],
    ));
    assert_eq!((d.count, buckets(d)), (1, vec![(6, 1)]));
    assert!((d.sum - 0.1).abs() < 1e-12);
    assert_eq!(at("llm").exemplars[5].unwrap().span_id, [1; 8]);
}

#[test]
fn gen_ai_errors_carry_error_type() {
    let llm = resource("llm");
    let attrs = |error_type: Option<&str>| {
        let mut a = vec![
            attr::string("gen_ai.operation.name", "chat"),
            attr::string("gen_ai.request.model", "m"),
            attr::int("gen_ai.usage.output_tokens", 5),
            attr::int("tracegate.time_per_output_token_ns", 30_000_000),
        ];
        if let Some(e) = error_type {
            a.push(attr::string("error.type", e));
        }
        a
    };
    let mut with_facts = span(
        4,
        3,
        None,
        &llm,
        "chat m",
        SpanKind::Client,
        0,
        40,
        attrs(None),
    );
    with_facts.facts.llm = Some(LlmStages {
        prefill_ns: 10 * MS,
        decode_ns: 30 * MS,
    });
    let spans = vec![
        failed(span(
            4,
            1,
            None,
            &llm,
            "chat m",
            SpanKind::Client,
            0,
            30,
            attrs(Some("RateLimitError")),
        )),
        failed(span(
            4,
            2,
            None,
            &llm,
            "chat m",
            SpanKind::Client,
            0,
            30,
            attrs(None),
        )),
        with_facts,
    ];
    let m = SpanMetrics::new(&SpanMetricsConfig::default());
    m.observe(&[trace(spans)], NOW);
    let f = m.collect(NOW);
    let d = family(&f, "gen_ai_client_operation_duration_seconds");
    let base = [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.request.model", "m"),
    ];
    let with = |e| {
        let mut l = base.to_vec();
        l.push(("error.type", e));
        l
    };
    assert_eq!(hist(series(d, &with("RateLimitError"))).count, 1);
    assert_eq!(hist(series(d, &with("_OTHER"))).count, 1);
    assert_eq!(hist(series(d, &base)).count, 1);
    // TPOT: the attribute wins over decode / (tokens - 1) (30 ms / 4 = 7.5 ms).
    let tpot = hist(series(
        family(&f, "gen_ai_server_time_per_output_token_seconds"),
        &base,
    ));
    assert_eq!(tpot.count, 3);
    assert!((tpot.sum - 0.09).abs() < 1e-12, "{}", tpot.sum);
    // TTFT from the breakdown's prefill when the attribute is missing.
    let ttft = hist(series(
        family(&f, "gen_ai_server_time_to_first_token_seconds"),
        &base,
    ));
    assert_eq!((ttft.count, ttft.sum), (1, 0.01));
    // No cost attribute, no cost series.
    assert!(family(&f, "tracegate_gen_ai_cost_usd").series.is_empty());
}

#[test]
fn dimensions_from_span_then_resource_absent_when_missing() {
    let mut res = Resource::with_service("gw");
    res.attributes
        .push(attr::string("deployment.environment", "prod"));
    let gw = Arc::new(res);
    let other = resource("batch");
    let spans = vec![
        span(
            5,
            1,
            None,
            &gw,
            "a",
            SpanKind::Server,
            0,
            1,
            vec![attr::int("http.status_code", 200)],
        ),
        span(
            5,
            2,
            Some(1),
            &gw,
            "a",
            SpanKind::Server,
            0,
            1,
            vec![
                attr::string("deployment.environment", "canary"),
                attr::int("http.status_code", 200),
            ],
        ),
        span(
            5,
            3,
            None,
            &other,
            "a",
            SpanKind::Server,
            0,
            1,
            vec![attr::boolean("http.status_code", true)],
        ),
        span(5, 4, None, &other, "a", SpanKind::Server, 0, 1, vec![]),
    ];
    let config = SpanMetricsConfig {
        dimensions: vec!["deployment.environment".into(), "http.status_code".into()],
        ..Default::default()
    };
    let m = SpanMetrics::new(&config);
    m.observe(&[trace(spans)], NOW);
    let f = m.collect(NOW);
    let calls = family(&f, "traces_spanmetrics_calls");
    assert_eq!(calls.series.len(), 4, "{:?}", calls.series);
    let base = |svc| {
        vec![
            ("service", svc),
            ("span_name", "a"),
            ("span_kind", "SPAN_KIND_SERVER"),
            ("status_code", "STATUS_CODE_UNSET"),
        ]
    };
    let with = |svc, extra: &[(&'static str, &'static str)]| {
        let mut l = base(svc);
        l.extend_from_slice(extra);
        l
    };
    let one = |l: Vec<(&str, &str)>| counter(series(calls, &l));
    assert_eq!(
        one(with(
            "gw",
            &[
                ("deployment.environment", "prod"),
                ("http.status_code", "200")
            ]
        )),
        1.0
    );
    assert_eq!(
        one(with(
            "gw",
            &[
                ("deployment.environment", "canary"),
                ("http.status_code", "200")
            ]
        )),
        1.0
    );
    assert_eq!(one(with("batch", &[("http.status_code", "true")])), 1.0);
    assert_eq!(one(base("batch")), 1.0);
}

#[test]
fn exponential_latency_and_families_switched_off() {
    let mut config = SpanMetricsConfig {
        gen_ai: false,
        service_graph: false,
        exemplars: false,
        ..Default::default()
    };
    config.histogram.kind = HistogramKind::Exponential;
    let f = collect(&config);
    let names: Vec<&str> = f.iter().map(|f| f.prom_name).collect();
    assert_eq!(
        names,
        [
            "traces_spanmetrics_calls",
            "traces_spanmetrics_latency",
            "tracegate_critical_path_seconds",
            "tracegate_trace_duration_seconds",
            "tracegate_traces"
        ]
    );
    let latency = family(&f, "traces_spanmetrics_latency");
    assert_eq!(latency.kind, crate::snapshot::Kind::Exponential);
    let s = series(
        latency,
        &labels(&red(
            "gw",
            "GET /chat",
            "SPAN_KIND_SERVER",
            "STATUS_CODE_UNSET",
        )),
    );
    let Value::Exponential(e) = &s.value else {
        panic!("{:?}", s.value)
    };
    assert_eq!((e.count, e.sum), (1, 0.1));
    assert_eq!(e.positive_counts.iter().sum::<u64>(), 1);
    assert!(e.exemplars.is_empty());
    // Without exemplars explicit histograms carry none either.
    let cp = family(&f, "tracegate_critical_path_seconds");
    assert!(cp.series.iter().all(|s| hist(s).exemplars.is_empty()));
}

#[test]
fn full_family_list_in_order() {
    let f = collect(&SpanMetricsConfig::default());
    let names: Vec<(&str, &str, &str)> = f
        .iter()
        .map(|f| (f.otel_name, f.prom_name, f.unit))
        .collect();
    assert_eq!(
        names,
        [
            (
                "traces.spanmetrics.calls",
                "traces_spanmetrics_calls",
                "{call}"
            ),
            (
                "traces.spanmetrics.latency",
                "traces_spanmetrics_latency",
                "s"
            ),
            (
                "gen_ai.client.token.usage",
                "gen_ai_client_token_usage",
                "{token}"
            ),
            (
                "gen_ai.client.operation.duration",
                "gen_ai_client_operation_duration_seconds",
                "s"
            ),
            (
                "gen_ai.server.time_to_first_token",
                "gen_ai_server_time_to_first_token_seconds",
                "s"
            ),
            (
                "gen_ai.server.time_per_output_token",
                "gen_ai_server_time_per_output_token_seconds",
                "s"
            ),
            ("tracegate.gen_ai.cost", "tracegate_gen_ai_cost_usd", "USD"),
            (
                "tracegate.critical_path.duration",
                "tracegate_critical_path_seconds",
                "s"
            ),
            (
                "tracegate.trace.duration",
                "tracegate_trace_duration_seconds",
                "s"
            ),
            ("tracegate.traces", "tracegate_traces", "{trace}"),
            (
                "traces.service_graph.request.total",
                "traces_service_graph_request",
                "{request}"
            ),
            (
                "traces.service_graph.request.failed.total",
                "traces_service_graph_request_failed",
                "{request}"
            ),
            (
                "traces.service_graph.request.server",
                "traces_service_graph_request_server_seconds",
                "s"
            ),
            (
                "traces.service_graph.request.client",
                "traces_service_graph_request_client_seconds",
                "s"
            ),
        ]
    );
}
