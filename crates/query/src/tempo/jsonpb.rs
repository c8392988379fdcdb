//! Trace-by-id answers as JSON, written as Go's `jsonpb` writes `tempopb` messages.
//!
//! Ids (`bytes`) are standard base64, not hex as in OTLP/JSON; enums are names
//! (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`); 64-bit integers are strings; fields at their
//! zero value are left out, and a present but empty sub-message is `{}`. v1 renames the
//! trace's `resourceSpans` to `batches` (Tempo's `MarshalToJSONV1`).

use super::trace::{PartialStatus, Trace, TraceByIdResponse};
use super::value::{base64, key_values};
use serde_json::{Map, Value as Json};
use tracegate_model::proto::common::v1::{InstrumentationScope, KeyValue};
use tracegate_model::proto::resource::v1::Resource;
use tracegate_model::proto::trace::v1::span::{Event, Link, SpanKind};
use tracegate_model::proto::trace::v1::status::StatusCode;
use tracegate_model::proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

/// The v1 JSON body: `{"batches":[…]}`.
pub fn trace_v1(trace: &Trace) -> Json {
    let mut out = Map::new();
    if !trace.resource_spans.is_empty() {
        out.insert("batches".into(), resource_spans_list(&trace.resource_spans));
    }
    Json::Object(out)
}

/// The v2 JSON body: `{"trace":{"resourceSpans":[…]},"metrics":{…},"status":…,"message":…}`.
pub fn trace_by_id_v2(response: &TraceByIdResponse) -> Json {
    let mut out = Map::new();
    if let Some(trace) = &response.trace {
        let mut t = Map::new();
        if !trace.resource_spans.is_empty() {
            t.insert(
                "resourceSpans".into(),
                resource_spans_list(&trace.resource_spans),
            );
        }
        out.insert("trace".into(), Json::Object(t));
    }
    if let Some(metrics) = &response.metrics {
        let mut m = Map::new();
        put_u64(&mut m, "inspectedBytes", metrics.inspected_bytes);
        out.insert("metrics".into(), Json::Object(m));
    }
    if response.status == PartialStatus::Partial as i32 {
        out.insert("status".into(), Json::String("PARTIAL".into()));
    }
    put_str(&mut out, "message", &response.message);
    Json::Object(out)
}

fn resource_spans_list(list: &[ResourceSpans]) -> Json {
    Json::Array(list.iter().map(resource_spans).collect())
}

fn resource_spans(rs: &ResourceSpans) -> Json {
    let mut out = Map::new();
    if let Some(r) = &rs.resource {
        out.insert("resource".into(), resource(r));
    }
    if !rs.scope_spans.is_empty() {
        out.insert(
            "scopeSpans".into(),
            Json::Array(rs.scope_spans.iter().map(scope_spans).collect()),
        );
    }
    put_str(&mut out, "schemaUrl", &rs.schema_url);
    Json::Object(out)
}

fn resource(r: &Resource) -> Json {
    let mut out = Map::new();
    put_attrs(&mut out, &r.attributes);
    put_u32(
        &mut out,
        "droppedAttributesCount",
        r.dropped_attributes_count,
    );
    Json::Object(out)
}

fn scope_spans(ss: &ScopeSpans) -> Json {
    let mut out = Map::new();
    if let Some(scope) = &ss.scope {
        out.insert("scope".into(), instrumentation_scope(scope));
    }
    if !ss.spans.is_empty() {
        out.insert(
            "spans".into(),
            Json::Array(ss.spans.iter().map(span).collect()),
        );
    }
    put_str(&mut out, "schemaUrl", &ss.schema_url);
    Json::Object(out)
}

fn instrumentation_scope(scope: &InstrumentationScope) -> Json {
    let mut out = Map::new();
    put_str(&mut out, "name", &scope.name);
    put_str(&mut out, "version", &scope.version);
    put_attrs(&mut out, &scope.attributes);
    put_u32(
        &mut out,
        "droppedAttributesCount",
        scope.dropped_attributes_count,
    );
    Json::Object(out)
}

fn span(s: &Span) -> Json {
    let mut out = Map::new();
    put_bytes(&mut out, "traceId", &s.trace_id);
    put_bytes(&mut out, "spanId", &s.span_id);
    put_str(&mut out, "traceState", &s.trace_state);
    put_bytes(&mut out, "parentSpanId", &s.parent_span_id);
    put_u32(&mut out, "flags", s.flags);
    put_str(&mut out, "name", &s.name);
    if s.kind != 0 {
        let name = SpanKind::try_from(s.kind)
            .map(|k| k.as_str_name().to_owned())
            .unwrap_or_else(|_| s.kind.to_string());
        out.insert("kind".into(), enum_json(name, s.kind));
    }
    put_u64(&mut out, "startTimeUnixNano", s.start_time_unix_nano);
    put_u64(&mut out, "endTimeUnixNano", s.end_time_unix_nano);
    put_attrs(&mut out, &s.attributes);
    put_u32(
        &mut out,
        "droppedAttributesCount",
        s.dropped_attributes_count,
    );
    if !s.events.is_empty() {
        out.insert(
            "events".into(),
            Json::Array(s.events.iter().map(event).collect()),
        );
    }
    put_u32(&mut out, "droppedEventsCount", s.dropped_events_count);
    if !s.links.is_empty() {
        out.insert(
            "links".into(),
            Json::Array(s.links.iter().map(link).collect()),
        );
    }
    put_u32(&mut out, "droppedLinksCount", s.dropped_links_count);
    if let Some(st) = &s.status {
        out.insert("status".into(), status(st));
    }
    Json::Object(out)
}

/// jsonpb writes a known enum value by name and an unknown one as its number.
fn enum_json(name: String, number: i32) -> Json {
    if name.parse::<i32>().is_ok() {
        Json::from(number)
    } else {
        Json::String(name)
    }
}

fn event(e: &Event) -> Json {
    let mut out = Map::new();
    put_u64(&mut out, "timeUnixNano", e.time_unix_nano);
    put_str(&mut out, "name", &e.name);
    put_attrs(&mut out, &e.attributes);
    put_u32(
        &mut out,
        "droppedAttributesCount",
        e.dropped_attributes_count,
    );
    Json::Object(out)
}

fn link(l: &Link) -> Json {
    let mut out = Map::new();
    put_bytes(&mut out, "traceId", &l.trace_id);
    put_bytes(&mut out, "spanId", &l.span_id);
    put_str(&mut out, "traceState", &l.trace_state);
    put_attrs(&mut out, &l.attributes);
    put_u32(
        &mut out,
        "droppedAttributesCount",
        l.dropped_attributes_count,
    );
    put_u32(&mut out, "flags", l.flags);
    Json::Object(out)
}

fn status(st: &Status) -> Json {
    let mut out = Map::new();
    put_str(&mut out, "message", &st.message);
    if st.code != 0 {
        let name = StatusCode::try_from(st.code)
            .map(|c| c.as_str_name().to_owned())
            .unwrap_or_else(|_| st.code.to_string());
        out.insert("code".into(), enum_json(name, st.code));
    }
    Json::Object(out)
}

fn put_str(out: &mut Map<String, Json>, key: &str, value: &str) {
    if !value.is_empty() {
        out.insert(key.into(), Json::String(value.to_owned()));
    }
}

fn put_u64(out: &mut Map<String, Json>, key: &str, value: u64) {
    if value != 0 {
        out.insert(key.into(), Json::String(value.to_string()));
    }
}

fn put_u32(out: &mut Map<String, Json>, key: &str, value: u32) {
    if value != 0 {
        out.insert(key.into(), Json::from(value));
    }
}

fn put_bytes(out: &mut Map<String, Json>, key: &str, value: &[u8]) {
    if !value.is_empty() {
        out.insert(key.into(), Json::String(base64(value)));
    }
}

fn put_attrs(out: &mut Map<String, Json>, attrs: &[KeyValue]) {
    if !attrs.is_empty() {
        out.insert("attributes".into(), key_values(attrs));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tempo::trace::TraceByIdMetrics;
    use tracegate_model::attr;

    fn sample() -> Trace {
        Trace {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![attr::string("service.name", "api")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope::default()),
                    spans: vec![Span {
                        trace_id: vec![
                            0x31, 0x49, 0x19, 0x5f, 0xfb, 0x0b, 0xec, 0x05, 0x34, 0x7b, 0x48, 0xef,
                            0xe8, 0xec, 0xc1, 0xb0,
                        ],
                        span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
                        name: "GET".into(),
                        kind: SpanKind::Server as i32,
                        start_time_unix_nano: 1_684_778_327_699_392_724,
                        end_time_unix_nano: 1_684_778_327_699_392_725,
                        status: Some(Status {
                            code: StatusCode::Error as i32,
                            message: "boom".into(),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn v1_writes_batches_with_base64_ids_and_enum_names() {
        let json = trace_v1(&sample());
        assert_eq!(
            json,
            serde_json::from_str::<Json>(r#"{"batches":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeSpans":[{"scope":{},"spans":[{"traceId":"MUkZX/sL7AU0e0jv6OzBsA==","spanId":"AQIDBAUGBwg=","name":"GET","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1684778327699392724","endTimeUnixNano":"1684778327699392725","status":{"message":"boom","code":"STATUS_CODE_ERROR"}}]}]}]}"#).unwrap()
        );
    }

    #[test]
    fn v2_always_has_the_trace_and_names_partial() {
        let empty = TraceByIdResponse {
            trace: Some(Trace::default()),
            metrics: Some(TraceByIdMetrics::default()),
            ..Default::default()
        };
        assert_eq!(
            trace_by_id_v2(&empty),
            serde_json::json!({"metrics": {}, "trace": {}})
        );
        let partial = TraceByIdResponse {
            trace: Some(sample()),
            metrics: Some(TraceByIdMetrics { inspected_bytes: 7 }),
            status: PartialStatus::Partial as i32,
            message: "too big".into(),
        };
        let json = trace_by_id_v2(&partial);
        assert_eq!(json["status"], "PARTIAL");
        assert_eq!(json["message"], "too big");
        assert_eq!(json["metrics"]["inspectedBytes"], "7");
        assert_eq!(
            json["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"],
            "AQIDBAUGBwg="
        );
    }
}
