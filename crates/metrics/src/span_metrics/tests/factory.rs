//! The factory: config parsing, defaults, errors with key paths, registration.

use super::*;
use crate::MetricsRegistry;
use crate::span_metrics::config::{DEFAULT_BUCKETS_MS, HistogramKind};
use crate::span_metrics::{SpanMetricsConfig, SpanMetricsFactory};
use tracegate_pipeline::{BuildContext, ComponentId, ConfigError, Processor, ProcessorFactory};

fn build(id: &str, yaml: &str) -> (MetricsRegistry, Result<Processor, ConfigError>) {
    let registry = MetricsRegistry::new();
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let p = SpanMetricsFactory::new(registry.clone()).build(
        &ComponentId::parse(id).unwrap(),
        value,
        &BuildContext::new("t"),
    );
    (registry, p)
}

fn error_of(yaml: &str) -> ConfigError {
    match build("span_metrics", yaml).1 {
        Err(e) => e,
        Ok(p) => panic!("{yaml} built {p:?}"),
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = SpanMetricsConfig::default();
    assert!(c.dimensions.is_empty());
    assert_eq!(c.histogram.kind, HistogramKind::Explicit);
    let ms: Vec<u128> = c
        .histogram
        .buckets
        .iter()
        .map(|d| d.get().as_millis())
        .collect();
    assert_eq!(ms, DEFAULT_BUCKETS_MS.map(u128::from));
    assert_eq!(c.histogram.max_size, 160);
    assert!(c.exemplars && c.service_graph && c.gen_ai);
    assert_eq!(c.max_series_per_metric, 5000);
    assert_eq!(c.series_expiry.get().as_secs(), 300);
    let parsed: SpanMetricsConfig = tracegate_pipeline::parse_section(
        "p",
        serde_yaml_ng::from_str("{histogram: {max_size: 20}}").unwrap(),
    )
    .unwrap();
    assert_eq!(parsed.histogram.max_size, 20);
    assert_eq!(parsed.histogram.buckets, c.histogram.buckets);
    assert_eq!(parsed.max_series_per_metric, 5000);
}

#[test]
fn builds_a_trace_processor_and_registers_its_source() {
    let (registry, p) = build("span_metrics/llm", "");
    let Ok(Processor::Trace(mut p)) = p else {
        panic!("not a trace processor")
    };
    let sources = registry.sources();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].0, "span_metrics/llm");
    let t = trace(vec![span(
        1,
        1,
        None,
        &resource("a"),
        "x",
        SpanKind::Server,
        0,
        1,
        vec![],
    )]);
    let out = p.process(vec![t.clone()]);
    assert_eq!(out, vec![t]);
    let f = registry.collect(crate::now_unix_nano());
    assert_eq!(family(&f, "traces_spanmetrics_calls").series.len(), 1);
}

#[test]
fn parses_every_key() {
    let yaml = "
dimensions: [gen_ai.request.model, deployment.environment]
histogram: { type: exponential, buckets: [1ms, 1s], max_size: 80 }
exemplars: false
max_series_per_metric: 10
series_expiry: 1m
service_graph: false
gen_ai: false
";
    let (_, p) = build("span_metrics", yaml);
    assert!(matches!(p, Ok(Processor::Trace(_))));
    let c: SpanMetricsConfig =
        tracegate_pipeline::parse_section("p", serde_yaml_ng::from_str(yaml).unwrap()).unwrap();
    assert_eq!(
        c.dimensions,
        ["gen_ai.request.model", "deployment.environment"]
    );
    assert_eq!(c.histogram.kind, HistogramKind::Exponential);
    assert_eq!(c.histogram.bounds_seconds(), [0.001, 1.0]);
    assert_eq!(
        (c.max_series_per_metric, c.series_expiry.get().as_secs()),
        (10, 60)
    );
    assert!(!c.exemplars && !c.service_graph && !c.gen_ai);
}

#[test]
fn rejects_unknown_keys_and_bad_values_with_their_path() {
    let e = error_of("{histogram: {bucket: [1s]}}");
    assert_eq!(e.path, "processors.span_metrics.histogram.bucket");
    assert!(
        e.message.contains("unknown field `bucket`"),
        "{}",
        e.message
    );
    let e = error_of("{dimension: [a]}");
    assert_eq!(e.path, "processors.span_metrics.dimension");
    assert!(
        e.message.contains("unknown field `dimension`"),
        "{}",
        e.message
    );
    let e = error_of("{histogram: {type: native}}");
    assert_eq!(e.path, "processors.span_metrics.histogram.type");
    let e = error_of("{series_expiry: 5}");
    assert_eq!(e.path, "processors.span_metrics.series_expiry");
    assert!(e.message.contains("give a unit"), "{}", e.message);
    let e = error_of("{histogram: {buckets: [1s, 1s]}}");
    assert_eq!(e.path, "processors.span_metrics.histogram.buckets[1]");
    let e = error_of("{histogram: {max_size: 1}}");
    assert_eq!(e.path, "processors.span_metrics.histogram.max_size");
    let e = error_of("{max_series_per_metric: 0}");
    assert_eq!(e.path, "processors.span_metrics.max_series_per_metric");
    let e = error_of("{dimensions: [a, service]}");
    assert_eq!(e.path, "processors.span_metrics.dimensions[1]");
    let e = error_of("{dimensions: [a, a]}");
    assert_eq!(e.path, "processors.span_metrics.dimensions[1]");
    let many: Vec<String> = (0..17).map(|i| format!("d{i}")).collect();
    let e = error_of(&format!("{{dimensions: [{}]}}", many.join(", ")));
    assert_eq!(e.path, "processors.span_metrics.dimensions");
}

#[test]
fn a_tenant_dimension_is_refused_only_when_multi_tenancy_adds_that_label() {
    let config: SpanMetricsConfig = serde_yaml_ng::from_str("{dimensions: [tenant]}").unwrap();
    let path = "processors.span_metrics";
    assert!(
        config.validate(path).is_ok(),
        "without multi-tenancy `tenant` is a dimension like any"
    );
    let with = SpanMetricsConfig {
        tenant_label: true,
        ..config
    };
    let e = with.validate(path).unwrap_err();
    assert_eq!(e.path, "processors.span_metrics.dimensions[0]");
    assert!(
        e.message.contains("`tenant` label already"),
        "{}",
        e.message
    );
}
