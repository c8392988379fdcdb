//! The Prometheus JSON shapes, hand-written for one known state.

use super::{SEC, T0, alerts, rag};
use crate::alerts::api::{go_float, rfc3339};
use serde_json::{Value, json};

/// Zeroes the timing fields, which measure the test machine.
fn without_timings(mut group: Value) -> Value {
    group["evaluationTime"] = json!(0);
    if let Some(rules) = group["rules"].as_array_mut() {
        for r in rules {
            r["evaluationTime"] = json!(0);
        }
    }
    group
}

#[test]
fn alerts_and_rules_in_prometheus_shapes() {
    let a = alerts(
        r#"
evaluation_interval: 15s
rules:
  - alert: HighErrorRate
    expr: error_ratio > 0.05 over 5m
    for: 1m
    severity: critical
    annotations: { summary: "{{ $value }} of traces err" }
  - alert: SlowInference
    expr: p95(duration of category=llm) by (model) > 10s over 10m
    labels: { team: llm }
  - alert: Quiet
    expr: count < 1 over 1m
"#,
    );
    let never = without_timings(a.prometheus_rules());
    assert_eq!(never["lastEvaluation"], "0001-01-01T00:00:00Z");
    assert_eq!(never["rules"][0]["health"], "unknown");

    let traces: Vec<_> = (0..20).map(|i| rag(i, 12_000, i < 2)).collect();
    a.observe(&traces, T0);
    a.evaluate(T0 + SEC);
    let t = "2023-11-14T22:13:21.000000000Z";
    assert_eq!(rfc3339(Some(T0 + SEC)), t);
    let pending = json!({
        "labels": {"alertname": "HighErrorRate", "severity": "critical"},
        "annotations": {"summary": "0.1 of traces err"},
        "state": "pending",
        "activeAt": t,
        "value": "1.0000000000e-01",
    });
    let slow = a.prometheus_alerts()[1]["value"].clone();
    let slow_value: f64 = slow.as_str().unwrap().parse().unwrap();
    assert!((slow_value - 12.0).abs() <= 0.12, "{slow_value}");
    let firing = json!({
        "labels": {"alertname": "SlowInference", "severity": "warning", "team": "llm", "model": "gpt-4o"},
        "annotations": {},
        "state": "firing",
        "activeAt": t,
        "value": slow,
    });
    assert_eq!(a.prometheus_alerts(), json!([pending, firing]));
    assert_eq!(
        without_timings(a.prometheus_rules()),
        json!({
            "name": "alerts",
            "file": "tracegate:processors.alerts",
            "interval": 15.0,
            "limit": 0,
            "evaluationTime": 0,
            "lastEvaluation": t,
            "rules": [
                {
                    "state": "pending",
                    "name": "HighErrorRate",
                    "query": "error_ratio > 0.05 over 5m",
                    "duration": 60.0,
                    "keepFiringFor": 0,
                    "labels": {"severity": "critical"},
                    "annotations": {"summary": "{{ $value }} of traces err"},
                    "alerts": [pending],
                    "health": "ok",
                    "evaluationTime": 0,
                    "lastEvaluation": t,
                    "type": "alerting",
                },
                {
                    "state": "firing",
                    "name": "SlowInference",
                    "query": "p95(duration of category=llm) by (model) > 10s over 10m",
                    "duration": 0.0,
                    "keepFiringFor": 0,
                    "labels": {"severity": "warning", "team": "llm"},
                    "annotations": {},
                    "alerts": [firing],
                    "health": "ok",
                    "evaluationTime": 0,
                    "lastEvaluation": t,
                    "type": "alerting",
                },
                {
                    "state": "inactive",
                    "name": "Quiet",
                    "query": "count < 1 over 1m",
                    "duration": 0.0,
                    "keepFiringFor": 0,
                    "labels": {"severity": "warning"},
                    "annotations": {},
                    "alerts": [],
                    "health": "ok",
                    "evaluationTime": 0,
                    "lastEvaluation": t,
                    "type": "alerting",
                },
            ],
        })
    );
}

#[test]
fn values_are_written_as_prometheus_writes_them() {
    assert_eq!(go_float(0.1), "1.0000000000e-01");
    assert_eq!(go_float(12.5), "1.2500000000e+01");
    assert_eq!(go_float(0.0), "0.0000000000e+00");
    assert_eq!(go_float(-3e-120), "-3.0000000000e-120");
    assert_eq!(go_float(f64::NAN), "NaN");
    assert_eq!(go_float(f64::INFINITY), "+Inf");
}
