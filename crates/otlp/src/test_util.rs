//! Helpers for this crate's tests: a metrics recorder to check what a component counted,
//! and small OTLP requests.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tracegate_testkit::metrics::CapturedMetrics;

// The recorder is shared by every test in the binary. Tests keep apart by giving their
// components unique ids.

/// Installs the recorder; call before the component under test records anything.
pub(crate) fn init_metrics() {
    CapturedMetrics::global();
}

/// A counter's value, summed over the series whose labels include `labels` (0 if never
/// recorded).
pub(crate) fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    CapturedMetrics::global().counter(name, labels)
}

/// A span with `trace_id` and a distinct span id, named `name`.
pub(crate) fn span(trace_id: Vec<u8>, span_byte: u8, name: &str) -> Span {
    Span {
        trace_id,
        span_id: vec![span_byte; 8],
        name: name.to_owned(),
        kind: 2,
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 2_000,
        attributes: vec![KeyValue {
            key: "k".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("v".into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A request from service `svc` with these spans in one scope.
pub(crate) fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("svc".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// `n` valid spans of one trace.
pub(crate) fn valid_request(n: u8) -> ExportTraceServiceRequest {
    request(
        (1..=n)
            .map(|i| span(vec![7; 16], i, &format!("op{i}")))
            .collect(),
    )
}
