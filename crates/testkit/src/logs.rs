//! LLM logs of the same traces: what a team that logs instead of tracing would send.
//!
//! [`logs_of`] turns a generated trace request into an `ExportLogsServiceRequest` with one
//! log record per span, of about the span's size: the span's attributes become the record's,
//! its trace and span ids its trace context, and its body is the seed's structured LLM log
//! (`event`, `request_id`, `level`, and for an LLM call `model`, `prompt`, and `metrics` with
//! the token counts and the latency). The load generator's `--signal logs` sends these, so
//! the logs path and the spans path are measured on records of similar size.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::Span;

/// Log records of a request's spans, one each, in the same resources and scopes.
pub fn logs_of(request: ExportTraceServiceRequest) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: request
            .resource_spans
            .into_iter()
            .map(|rs| ResourceLogs {
                resource: rs.resource,
                scope_logs: rs
                    .scope_spans
                    .into_iter()
                    .map(|ss| ScopeLogs {
                        scope: ss.scope,
                        log_records: ss.spans.into_iter().map(record_of).collect(),
                        schema_url: ss.schema_url,
                    })
                    .collect(),
                schema_url: rs.schema_url,
            })
            .collect(),
    }
}

/// Log records in a request.
pub fn record_count(request: &ExportLogsServiceRequest) -> usize {
    request
        .resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len())
        .sum()
}

fn value(v: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

fn entry(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: value(v),
        ..Default::default()
    }
}

fn text(key: &str, s: impl Into<String>) -> KeyValue {
    entry(key, any_value::Value::StringValue(s.into()))
}

/// Moves the attribute `key` out of `attrs`.
fn take(attrs: &mut Vec<KeyValue>, key: &str) -> Option<any_value::Value> {
    let i = attrs.iter().position(|kv| kv.key == key)?;
    attrs.swap_remove(i).value.and_then(|v| v.value)
}

fn record_of(mut span: Span) -> LogRecord {
    let span_hex = hex::encode(&span.span_id);
    let mut body = vec![
        text("event", std::mem::take(&mut span.name)),
        text("request_id", format!("req-{span_hex}")),
        text("level", "INFO"),
    ];
    if let Some(model) = take(&mut span.attributes, "gen_ai.request.model") {
        body.push(entry("model", model));
        if let Some(prompt) = take(&mut span.attributes, "gen_ai.input.messages") {
            body.push(entry("prompt", prompt));
        }
        let mut metrics = Vec::new();
        for (from, to) in [
            ("gen_ai.usage.input_tokens", "input_tokens"),
            ("gen_ai.usage.output_tokens", "output_tokens"),
        ] {
            if let Some(v) = take(&mut span.attributes, from) {
                metrics.push(entry(to, v));
            }
        }
        let latency_ms = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano) as f64
            / 1e6;
        metrics.push(entry(
            "latency_ms",
            any_value::Value::DoubleValue(latency_ms),
        ));
        body.push(entry(
            "metrics",
            any_value::Value::KvlistValue(KeyValueList { values: metrics }),
        ));
    }
    LogRecord {
        time_unix_nano: span.start_time_unix_nano,
        observed_time_unix_nano: span.end_time_unix_nano,
        severity_number: 9,
        severity_text: "INFO".to_owned(),
        body: value(any_value::Value::KvlistValue(KeyValueList { values: body })),
        attributes: span.attributes,
        trace_id: span.trace_id,
        span_id: span.span_id,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Generator, GeneratorConfig, Profile, span_count};
    use prost::Message as _;

    #[test]
    fn one_record_per_span_of_about_the_same_size() {
        let mut generator = Generator::new(GeneratorConfig {
            seed: 3,
            profile: Profile::Rag,
            ..Default::default()
        });
        let request = generator.requests(500, 500).remove(0);
        let spans = span_count(&request);
        let span_bytes = request.encoded_len();
        let logs = logs_of(request);
        assert_eq!(record_count(&logs), spans);
        let ratio = logs.encoded_len() as f64 / span_bytes as f64;
        assert!(
            (0.8..1.25).contains(&ratio),
            "logs are {ratio:.2}x the spans' bytes"
        );
        let (batch, rejected) = tracegate_model::LogBatch::from_request(logs);
        assert!(rejected.is_empty());
        let llm = batch
            .records
            .iter()
            .filter(|r| r.field_str("model").is_some())
            .count();
        assert!(llm > 0, "some records are LLM calls");
        assert!(batch.records.iter().all(|r| r.trace_id.is_some()));
    }
}
