use crate::otlp::config::{Compression, DEFAULT_SERVICE_NAME, OtlpMetricsConfig, Temporality};
use opentelemetry_proto::tonic::common::v1::any_value;
use std::collections::BTreeMap;
use tracegate_pipeline::Duration;

fn parse(yaml: &str) -> Result<OtlpMetricsConfig, tracegate_pipeline::ConfigError> {
    OtlpMetricsConfig::from_section("metrics.otlp", serde_yaml_ng::from_str(yaml).unwrap())
}

#[test]
fn fixture_parses() {
    let config = parse(
        r"
endpoint: collector:4317
temporality: delta
interval: 15s
timeout: 2s
compression: none
headers: { X-Scope-OrgID: tenant-a }
resource_attributes: { deployment.environment: prod }
",
    )
    .unwrap();
    assert_eq!(
        config,
        OtlpMetricsConfig {
            endpoint: "collector:4317".to_owned(),
            temporality: Temporality::Delta,
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(2),
            headers: BTreeMap::from([("X-Scope-OrgID".to_owned(), "tenant-a".to_owned())]),
            compression: Compression::None,
            resource_attributes: BTreeMap::from([(
                "deployment.environment".to_owned(),
                "prod".to_owned()
            )]),
        }
    );
}

#[test]
fn defaults() {
    let config = parse("endpoint: http://c:4317").unwrap();
    assert_eq!(config.temporality, Temporality::Cumulative);
    assert_eq!(config.interval, Duration::from_secs(30));
    assert_eq!(config.timeout, Duration::from_secs(10));
    assert_eq!(config.compression, Compression::Gzip);
    assert!(config.headers.is_empty());
}

#[test]
fn errors_name_the_key() {
    let cases = [
        ("temporality: delta", "metrics.otlp.endpoint", "required"),
        ("endpoint: https://c:4317", "metrics.otlp.endpoint", "TLS"),
        (
            "endpoint: 'http://'",
            "metrics.otlp.endpoint",
            "invalid endpoint",
        ),
        (
            "{endpoint: c:1, interval: 0s}",
            "metrics.otlp.interval",
            "more than 0s",
        ),
        (
            "{endpoint: c:1, timeout: 0s}",
            "metrics.otlp.timeout",
            "more than 0s",
        ),
        (
            "{endpoint: c:1, interval: 30}",
            "metrics.otlp.interval",
            "unit",
        ),
        (
            "{endpoint: c:1, temporality: sometimes}",
            "metrics.otlp.temporality",
            "unknown variant",
        ),
        (
            "{endpoint: c:1, headers: {'bad key': v}}",
            "metrics.otlp.headers.bad key",
            "header name",
        ),
        (
            "{endpoint: c:1, extra: 1}",
            "metrics.otlp.extra",
            "unknown field",
        ),
    ];
    for (yaml, path, words) in cases {
        let e = parse(yaml).unwrap_err();
        assert_eq!(e.path, path, "{yaml}: {e}");
        assert!(e.message.contains(words), "{yaml}: {e}");
    }
}

fn attributes(config: &OtlpMetricsConfig) -> Vec<(String, String)> {
    config
        .resource()
        .attributes
        .into_iter()
        .map(|kv| {
            let v = match kv.value.and_then(|v| v.value) {
                Some(any_value::Value::StringValue(s)) => s,
                other => panic!("not a string: {other:?}"),
            };
            (kv.key, v)
        })
        .collect()
}

#[test]
fn resource_has_a_service_name() {
    let mut config = OtlpMetricsConfig::default();
    assert_eq!(
        attributes(&config),
        vec![("service.name".to_owned(), DEFAULT_SERVICE_NAME.to_owned())]
    );
    config
        .resource_attributes
        .insert("service.name".to_owned(), "gw-eu".to_owned());
    config
        .resource_attributes
        .insert("a".to_owned(), "b".to_owned());
    assert_eq!(
        attributes(&config),
        vec![
            ("a".to_owned(), "b".to_owned()),
            ("service.name".to_owned(), "gw-eu".to_owned())
        ]
    );
}
