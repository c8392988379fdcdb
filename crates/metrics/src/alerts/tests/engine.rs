//! The engine end to end on an injected clock.

use super::{S, SEC, T0, alerts, rag, trace};
use crate::alerts::Notification;
use tracegate_model::{Category, attr};
use tracegate_testkit::metrics::CapturedMetrics;

const SEED: &str = "evaluation_interval: 15s\nresend_interval: 1m\n";

fn names(ns: &[Notification]) -> Vec<(String, bool)> {
    ns.iter()
        .map(|n| (n.labels["alertname"].clone(), n.resolved))
        .collect()
}

/// Feeds 20 traces per 15 s tick from `from` for `ticks` ticks, `errors` of them erring
/// and every LLM call lasting `llm_ms`; evaluates after each tick.
fn feed(
    a: &crate::alerts::Alerts,
    from: u64,
    ticks: u64,
    errors: u64,
    llm_ms: u64,
    sent: &mut Vec<(u64, Notification)>,
) -> u64 {
    let mut now = from;
    for tick in 0..ticks {
        now = from + tick * 15 * SEC;
        let traces: Vec<_> = (0..20)
            .map(|i| rag(tick * 100 + i, llm_ms, i < errors))
            .collect();
        a.observe(&traces, now);
        sent.extend(a.evaluate(now).into_iter().map(|n| (now, n)));
    }
    now
}

#[test]
fn seed_rules_fire_on_errors_and_slow_llm_calls_and_resolve_on_healthy_traffic() {
    let a = alerts(SEED);
    let mut sent = Vec::new();
    // 10 % errors and 12 s LLM calls for 2 minutes.
    let end_bad = feed(&a, T0, 9, 2, 12_000, &mut sent);
    // SlowInference (for: 0s) fired at the first evaluation; HighErrorRate went pending
    // there and fired once `for: 1m` had passed, at T0 + 60 s.
    let firsts: Vec<_> = sent
        .iter()
        .map(|(t, n)| ((t - T0) / SEC, n.labels["alertname"].as_str(), n.resolved))
        .collect();
    assert_eq!(
        firsts,
        [
            (0, "SlowInference", false),
            (60, "HighErrorRate", false),
            // Resent after resend_interval.
            (60, "SlowInference", false),
            (120, "HighErrorRate", false),
            (120, "SlowInference", false),
        ]
    );
    let (_, high) = &sent[1];
    assert_eq!(high.labels["severity"], "critical");
    assert_eq!(high.starts_at_unix_nano, T0 + 60 * SEC);
    // Valid for 4 × max(resend, evaluation interval).
    assert_eq!(high.ends_at_unix_nano, T0 + 60 * SEC + 4 * 60 * SEC);
    assert!(
        high.annotations["description"].starts_with("0.1 of the traces"),
        "{:?}",
        high.annotations
    );
    assert_eq!(sent[0].1.labels["severity"], "warning");
    let listed = a.prometheus_alerts();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Healthy traffic: no errors, 1 s LLM calls, for 15 minutes.
    sent.clear();
    feed(&a, end_bad + 15 * SEC, 60, 0, 1000, &mut sent);
    let resolved: Vec<_> = sent.iter().filter(|(_, n)| n.resolved).collect();
    assert_eq!(
        names(&resolved.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>()),
        [
            ("HighErrorRate".to_owned(), true),
            ("SlowInference".to_owned(), true),
        ]
    );
    for (t, n) in &resolved {
        // Resolved alerts carry their end: the evaluation that found them false.
        assert_eq!(n.ends_at_unix_nano, *t);
        // Sent once: nothing after.
        assert!(!sent.iter().any(|(t2, n2)| t2 > t && n2.labels == n.labels));
    }
    // The error ratio falls under 5 % once healthy traces are 19/20 of the window:
    // 180 erring-window traces (18 errors) need 180 healthy ones (9 ticks).
    let (t_high, _) = resolved[0];
    assert_eq!((t_high - end_bad) / SEC, 9 * 15);
    // The slow calls leave the P95 only when the 10-minute window forgets them.
    let (t_slow, _) = resolved[1];
    assert!(
        t_slow - T0 >= 10 * 60 * SEC - 30 * SEC,
        "{}",
        (t_slow - T0) / SEC
    );
    assert!(t_slow - end_bad <= 10 * 60 * SEC + 15 * SEC);
    assert_eq!(a.prometheus_alerts(), serde_json::json!([]));
}

#[test]
fn a_window_with_fewer_samples_than_min_count_never_fires() {
    let a = alerts("rules: [ { alert: E, expr: \"error_ratio > 0.05 over 1m\" } ]\nmin_count: 10");
    // One erring trace: 100 % errors, but one sample.
    a.observe(&[rag(0, 100, true)], T0);
    assert!(a.evaluate(T0).is_empty());
    // Nine: still under min_count.
    let more: Vec<_> = (1..9).map(|i| rag(i, 100, false)).collect();
    a.observe(&more, T0 + SEC);
    assert!(a.evaluate(T0 + SEC).is_empty());
    assert_eq!(a.prometheus_alerts(), serde_json::json!([]));
    // The tenth: 1/10 > 5 %, fires (for: 0s).
    a.observe(&[rag(9, 100, false)], T0 + 2 * SEC);
    assert_eq!(names(&a.evaluate(T0 + 2 * SEC)), [("E".to_owned(), false)]);
}

#[test]
fn span_error_ratio_counts_matching_spans_only() {
    let a = alerts(
        "rules: [ { alert: E, expr: \"error_ratio of category=retrieval > 0.5 over 1m\", min_count: 1 } ]",
    );
    // Every LLM span errs, no retrieval span does.
    let traces: Vec<_> = (0..10).map(|i| rag(i, 100, true)).collect();
    a.observe(&traces, T0);
    assert!(a.evaluate(T0).is_empty());
    let failing_retrieval = trace(
        99,
        &[
            S::new("chat-gateway", "root", 10),
            S {
                category: Some(Category::Retrieval),
                ..S::new("retriever", "search", 5)
            }
            .error(),
        ],
    );
    let many: Vec<_> = (0..11).map(|_| failing_retrieval.clone()).collect();
    a.observe(&many, T0 + SEC);
    // 11 erring of 21 retrieval spans.
    let n = a.evaluate(T0 + SEC);
    assert_eq!(names(&n), [("E".to_owned(), false)]);
    let value: f64 = a.prometheus_alerts()[0]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((value - 11.0 / 21.0).abs() < 1e-9);
}

#[test]
fn by_groups_fire_separately_and_are_bounded() {
    let captured = CapturedMetrics::new();
    let a = alerts(
        "rules: [ { alert: E, expr: \"error_ratio of category=llm by (service, model) > 0.5 over 1m\", min_count: 1 } ]\nmax_groups: 2",
    );
    let llm = |service: &'static str, model: &str, error: bool| {
        let mut s = S::llm(10).attr(attr::string("gen_ai.request.model", model));
        s.service = service;
        s.error = error;
        trace(0, &[S::new("gw", "root", 20), s])
    };
    captured.run(|| {
        a.observe(
            &[
                llm("a", "m1", true),
                llm("b", "m1", false),
                llm("c", "m2", true),
                llm("d", "m2", true),
            ],
            T0,
        );
    });
    let mut n = a.evaluate(T0);
    n.sort_by(|x, y| x.labels.cmp(&y.labels));
    let labels: Vec<Vec<(&str, &str)>> = n
        .iter()
        .map(|n| {
            n.labels
                .iter()
                .filter(|(k, _)| *k != "alertname" && *k != "severity")
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .collect();
    // a fires on its own; b does not; c and d are over the bound and share the overflow
    // group, which fires.
    assert_eq!(
        labels,
        [
            vec![("model", "m1"), ("service", "a")],
            vec![("overflow", "true")]
        ]
    );
    assert_eq!(
        captured.counter("tracegate_alerts_group_overflow_total", &[("alert", "E")]),
        2
    );
    // Once their windows empty, inactive groups are dropped (and the overflow group too).
    let later = T0 + 5 * 60 * SEC;
    let n = a.evaluate(later);
    assert_eq!(n.len(), 2);
    assert!(n.iter().all(|n| n.resolved));
    a.evaluate(later + SEC);
    let group = a.prometheus_rules();
    assert_eq!(group["rules"][0]["state"], "inactive");
    // New groups fit again.
    a.observe(&[llm("e", "m3", true)], later + 2 * SEC);
    let n = a.evaluate(later + 2 * SEC);
    assert_eq!(n[0].labels["service"], "e");
}

#[test]
fn firing_alerts_are_resent_every_resend_interval_only() {
    let a = alerts(
        "rules: [ { alert: C, expr: \"count > 0 over 1h\" } ]\nresend_interval: 1m\nevaluation_interval: 15s",
    );
    a.observe(&[rag(0, 1, false)], T0);
    let mut sends = Vec::new();
    for i in 0..9 {
        let now = T0 + i * 15 * SEC;
        if !a.evaluate(now).is_empty() {
            sends.push(i * 15);
        }
    }
    assert_eq!(sends, [0, 60, 120]);
}

#[test]
fn values_are_read_from_spans_and_summed_over_traces() {
    let ttft =
        |secs: f64| S::llm(2000).attr(attr::double("gen_ai.response.time_to_first_chunk", secs));
    let with_prefill = S {
        prefill_ms: Some(700),
        ..S::llm(2000)
    };
    let cost = |usd: f64, input: i64, output: i64| {
        S::llm(100)
            .attr(attr::double("tracegate.cost_usd", usd))
            .attr(attr::int("gen_ai.usage.input_tokens", input))
            .attr(attr::int("gen_ai.usage.output_tokens", output))
    };
    let root = || S::new("gw", "root", 3000);
    let traces = vec![
        trace(1, &[root(), ttft(0.3), ttft(0.9)]),
        trace(2, &[root(), with_prefill]),
        trace(3, &[root(), cost(0.25, 100, 20), cost(0.5, 300, 40)]),
    ];
    let check_within = |expr: &str, want: f64, rel: f64| {
        let a = alerts(&format!(
            "rules: [ {{ alert: V, expr: \"{expr}\", min_count: 1 }} ]"
        ));
        a.observe(&traces, T0);
        let n = a.evaluate(T0);
        assert_eq!(n.len(), 1, "{expr} did not fire");
        let got: f64 = a.prometheus_alerts()[0]["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (got - want).abs() <= rel * want.max(1.0),
            "{expr}: {got} != {want}"
        );
    };
    let check = |expr: &str, want: f64| check_within(expr, want, 1e-9);
    // Spans: TTFT from the attribute, else the prefill time.
    check("max(ttft of category=llm) > 0 over 1m", 0.9);
    check("min(ttft of category=llm) > 0 over 1m", 0.3);
    check("sum(cost of category=llm) > 0 over 1m", 0.75);
    check(
        "avg(tokens of category=llm) > 0 over 1m",
        (120.0 + 340.0) / 2.0,
    );
    check("max(input_tokens of category=llm) > 0 over 1m", 300.0);
    check("sum(output_tokens of category=llm) > 0 over 1m", 60.0);
    check("count of category=llm > 0 over 1m", 5.0);
    check("count of category!=llm > 0 over 1m", 3.0);
    check("rate > 0 over 1m", 3.0 / 60.0);
    // Traces: the earliest span's TTFT (all start together: the first listed), sums.
    check("min(ttft) > 0 over 1m", 0.3);
    check("max(ttft) > 0 over 1m", 0.7);
    check("max(cost) > 0 over 1m", 0.75);
    check("max(tokens) > 0 over 1m", 460.0);
    check("avg(duration) > 0 over 1m", 3.0);
    // Percentiles: within the sketch's stated error.
    check_within(
        "p50(duration of category=llm) > 0 over 1m",
        2.0,
        crate::alerts::window::RELATIVE_ERROR,
    );
}

#[test]
fn trace_rules_group_by_the_root_and_skip_fragments() {
    let a = alerts("rules: [ { alert: C, expr: \"count by (service, kind) >= 2 over 1m\" } ]");
    let rooted = |n: u64, service: &'static str| {
        trace(
            n,
            &[S::new(service, "root", 10), S::new("other", "child", 5)],
        )
    };
    let mut late = rooted(9, "gw");
    late.fragment = Some(tracegate_model::Fragment::Late);
    a.observe(
        &[rooted(1, "gw"), rooted(2, "gw"), rooted(3, "api"), late],
        T0,
    );
    let n = a.evaluate(T0);
    // gw has two traces (the late fragment is not a third), api one.
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].labels["service"], "gw");
    assert_eq!(n[0].labels["kind"], "internal");
    let value: f64 = a.prometheus_alerts()[0]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(value, 2.0);
}
