//! `processors.alerts`: the fixture, defaults and errors with key paths.

use crate::MetricsRegistry;
use crate::alerts::config::{RetryConfig, TargetConfig};
use crate::alerts::{AlertsConfig, AlertsFactory, RuleConfig, seed_rules};
use std::collections::BTreeMap;
use tracegate_pipeline::{BuildContext, ComponentId, Duration, ProcessorFactory, parse_section};

const FIXTURE: &str = r#"
evaluation_interval: 10s
rules:
  - alert: HighErrorRate
    expr: error_ratio > 0.05 over 5m
    for: 1m
    severity: critical
    labels: { team: llm }
    annotations: { summary: "errors: {{ $value }}" }
  - alert: SlowInference
    expr: p95(duration of category=llm) > 10s over 10m
    min_count: 3
alertmanager: { url: "http://alertmanager:9093/" }
webhooks: [ { url: "http://hook:8080/alerts", timeout: 2s } ]
retry: { initial_backoff: 100ms, max_backoff: 5s, max_elapsed: 1m }
resend_interval: 2m
min_count: 20
max_groups: 7
external_url: http://gateway:8889
"#;

fn parse(yaml: &str) -> Result<AlertsConfig, tracegate_pipeline::ConfigError> {
    parse_section("processors.alerts", serde_yaml_ng::from_str(yaml).unwrap())
}

#[test]
fn fixture_parses_to_the_expected_config() {
    let config = parse(FIXTURE).unwrap();
    assert_eq!(
        config,
        AlertsConfig {
            evaluation_interval: Duration::from_secs(10),
            rules: vec![
                RuleConfig {
                    alert: "HighErrorRate".into(),
                    expr: "error_ratio > 0.05 over 5m".into(),
                    for_: Duration::from_secs(60),
                    severity: "critical".into(),
                    labels: BTreeMap::from([("team".into(), "llm".into())]),
                    annotations: BTreeMap::from([(
                        "summary".into(),
                        "errors: {{ $value }}".into()
                    )]),
                    min_count: None,
                },
                RuleConfig {
                    alert: "SlowInference".into(),
                    expr: "p95(duration of category=llm) > 10s over 10m".into(),
                    for_: Duration::from_secs(0),
                    severity: "warning".into(),
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                    min_count: Some(3),
                },
            ],
            alertmanager: Some(TargetConfig {
                url: "http://alertmanager:9093/".into(),
                timeout: Duration::from_secs(5),
                tls: None,
            }),
            webhooks: vec![TargetConfig {
                url: "http://hook:8080/alerts".into(),
                timeout: Duration::from_secs(2),
                tls: None,
            }],
            retry: RetryConfig {
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                max_elapsed: Duration::from_secs(60),
            },
            resend_interval: Duration::from_secs(120),
            min_count: 20,
            max_groups: 7,
            external_url: "http://gateway:8889".into(),
        }
    );
    let s = config.validate("processors.alerts").unwrap();
    assert_eq!(s.targets[0].url, "http://alertmanager:9093/api/v2/alerts");
    assert_eq!(s.targets[0].name, "alertmanager");
    assert_eq!(s.targets[1].url, "http://hook:8080/alerts");
    assert_eq!(s.targets[1].name, "webhook[0]");
    assert_eq!(s.generator_url, "http://gateway:8889/api/v1/rules");
    assert_eq!(s.rules[0].min_count, 20);
    assert_eq!(s.rules[1].min_count, 3);
    assert_eq!(s.rules[0].for_ns, 60_000_000_000);
    assert_eq!(
        s.rules[0].labels,
        BTreeMap::from([
            ("alertname".into(), "HighErrorRate".into()),
            ("severity".into(), "critical".into()),
            ("team".into(), "llm".into()),
        ])
    );
}

#[test]
fn defaults_are_the_seed_rules_and_the_documented_values() {
    let config = parse("{}").unwrap();
    assert_eq!(config, AlertsConfig::default());
    assert_eq!(config.rules, seed_rules());
    assert_eq!(config.evaluation_interval, Duration::from_secs(15));
    assert_eq!(config.resend_interval, Duration::from_secs(60));
    assert_eq!(config.min_count, 10);
    assert_eq!(config.retry.initial_backoff, Duration::from_millis(500));
    assert_eq!(config.retry.max_backoff, Duration::from_secs(30));
    assert_eq!(config.retry.max_elapsed, Duration::from_secs(300));
    let s = config.validate("processors.alerts").unwrap();
    let names: Vec<_> = s
        .rules
        .iter()
        .map(|r| (r.alert.as_str(), r.labels["severity"].as_str()))
        .collect();
    assert_eq!(
        names,
        [("HighErrorRate", "critical"), ("SlowInference", "warning")]
    );
    assert_eq!(s.rules[0].for_ns, 60 * super::SEC);
    assert!(s.targets.is_empty());
    assert!(
        parse("rules: []")
            .unwrap()
            .validate("p")
            .unwrap()
            .rules
            .is_empty()
    );
}

#[test]
fn errors_name_their_key_path() {
    let cases = [
        (
            "rules: [ { alert: A, expr: \"error_ratio > 0.05 over\" } ]",
            "processors.alerts.rules[0].expr: at byte 23: expected the window as a duration with a unit (such as `5m`), found the end of the rule in \"error_ratio > 0.05 over\"",
        ),
        (
            "rules: [ { alert: A, expr: \"count > 1 over 1m\" }, { alert: A, expr: \"count > 1 over 1m\" } ]",
            "processors.alerts.rules[1].alert: \"A\" is used by an earlier rule: names must be unique",
        ),
        (
            "rules: [ { alert: \"High Errors\", expr: \"count > 1 over 1m\" } ]",
            "processors.alerts.rules[0].alert: \"High Errors\" is not a valid alert name: use letters, digits and `_`, not starting with a digit",
        ),
        (
            "rules: [ { alert: A, expr: \"count > 1 over 1m\", labels: { alertname: x } } ]",
            "processors.alerts.rules[0].labels.alertname: not a valid label name (letters, digits and `_`), or one set by tracegate (alertname, severity)",
        ),
        (
            "rules: [ { alert: A, expr: \"count by (service) > 1 over 1m\", labels: { service: x } } ]",
            "processors.alerts.rules[0].labels.service: also a `by` label of the rule (service)",
        ),
        (
            "alertmanager: { url: \"alertmanager:9093\" }",
            "processors.alerts.alertmanager.url: URL \"alertmanager:9093\" must start with http:// or https://",
        ),
        (
            "alertmanager: { url: \"http://am:9093\", tls: { insecure_skip_verify: true } }",
            "processors.alerts.alertmanager.tls: set for \"http://am:9093\", an http:// URL; use https:// or remove tls:",
        ),
        (
            "webhooks: [ { url: \"https://hook\", tls: { server_name_override: hook.internal } } ]",
            "processors.alerts.webhooks[0].tls.server_name_override: not supported for alert targets: use a URL with the name the server's certificate carries",
        ),
        (
            "webhooks: [ { url: \"https://hook\", tls: { ca_file: /nonexistent/ca.crt } } ]",
            "processors.alerts.webhooks[0].tls.ca_file: /nonexistent/ca.crt: cannot open: No such file or directory (os error 2) (check the path and that tracegate may read it)",
        ),
        (
            "webhooks: [ { url: \"not a url\" } ]",
            "processors.alerts.webhooks[0].url: invalid URL \"not a url\": relative URL without a base",
        ),
        (
            "evaluation_interval: 0s",
            "processors.alerts.evaluation_interval: must be more than 0s",
        ),
        (
            "max_groups: 0",
            "processors.alerts.max_groups: must be at least 1",
        ),
        (
            "retry: { initial_backoff: 10s, max_backoff: 1s }",
            "processors.alerts.retry: initial_backoff must be more than 0s and at most max_backoff",
        ),
    ];
    for (yaml, want) in cases {
        let err = parse(yaml)
            .unwrap()
            .validate("processors.alerts")
            .unwrap_err();
        assert_eq!(err.to_string(), want, "for {yaml}");
    }
    let err = parse("rules: [ { alert: A, expr: x, four: 1m } ]").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("processors.alerts.rules[0].four: unknown field `four`"),
        "{err}"
    );
    let err = parse("resend_interval: soon").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("processors.alerts.resend_interval: invalid duration"),
        "{err}"
    );
}

#[test]
fn factory_builds_a_trace_processor_and_registers_the_alerts() {
    let registry = MetricsRegistry::new();
    let factory = AlertsFactory::new(registry.clone());
    assert_eq!(factory.type_name(), "alerts");
    let id = ComponentId::parse("alerts/llm").unwrap();
    let built = factory
        .build(&id, serde_yaml_ng::Value::Null, &BuildContext::new("test"))
        .unwrap();
    let tracegate_pipeline::Processor::Trace(mut processor) = built else {
        panic!("expected a trace processor");
    };
    let registered = registry.alerts();
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].0, "alerts/llm");
    // The processor passes traces unchanged and feeds the registered handle.
    let traces: Vec<_> = (0..3).map(|i| super::rag(i, 100, false)).collect();
    assert_eq!(processor.process(traces.clone()), traces);
    let group = registered[0].1.prometheus_rules();
    assert_eq!(group["name"], "alerts/llm");
    assert_eq!(group["rules"].as_array().unwrap().len(), 2);
    // Bad config fails the build with its path.
    let bad =
        serde_yaml_ng::from_str("rules: [ { alert: A, expr: \"p0(duration) > 1 over 1m\" } ]")
            .unwrap();
    let err = factory
        .build(&id, bad, &BuildContext::new("test"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "processors.alerts/llm.rules[0].expr: at byte 0: `p0` is not a percentile: write p1 to p99, or p99.9 in \"p0(duration) > 1 over 1m\""
    );
}
