//! The OTLP/JSON mirrors of `ExportTraceServiceRequest`: resource spans, scope spans, spans,
//! events, links and status, and the span enums (`kind`, `status.code`).

use super::{
    EnumVisitor, FromJson, JsonResource, JsonScope, decode, from_json, hex_id, repeated, string,
    uint32, uint64,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde::Deserialize;
use serde::de::Deserializer;

/// Decodes one OTLP/JSON `ExportTraceServiceRequest`. The error says what was wrong and
/// where, such as `invalid OTLP/JSON at resourceSpans[0].scopeSpans[0].spans[1].traceId: ...`.
pub fn decode_request(body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    decode::<JsonRequest, _>(body)
}

from_json!(
    ResourceSpans => JsonResourceSpans,
    ScopeSpans => JsonScopeSpans,
    Span => JsonSpan,
    Event => JsonEvent,
    Link => JsonLink,
);

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct JsonRequest {
    #[serde(alias = "resource_spans", deserialize_with = "repeated")]
    resource_spans: Vec<ResourceSpans>,
}

impl From<JsonRequest> for ExportTraceServiceRequest {
    fn from(r: JsonRequest) -> Self {
        Self {
            resource_spans: r.resource_spans,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct JsonResourceSpans {
    resource: Option<JsonResource>,
    #[serde(alias = "scope_spans", deserialize_with = "repeated")]
    scope_spans: Vec<ScopeSpans>,
    #[serde(alias = "schema_url", deserialize_with = "string")]
    schema_url: String,
}

impl From<JsonResourceSpans> for ResourceSpans {
    fn from(r: JsonResourceSpans) -> Self {
        Self {
            resource: r.resource.map(Into::into),
            scope_spans: r.scope_spans,
            schema_url: r.schema_url,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct JsonScopeSpans {
    scope: Option<JsonScope>,
    #[serde(deserialize_with = "repeated")]
    spans: Vec<Span>,
    #[serde(alias = "schema_url", deserialize_with = "string")]
    schema_url: String,
}

impl From<JsonScopeSpans> for ScopeSpans {
    fn from(s: JsonScopeSpans) -> Self {
        Self {
            scope: s.scope.map(Into::into),
            spans: s.spans,
            schema_url: s.schema_url,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct JsonSpan {
    #[serde(alias = "trace_id", deserialize_with = "hex_id")]
    trace_id: Vec<u8>,
    #[serde(alias = "span_id", deserialize_with = "hex_id")]
    span_id: Vec<u8>,
    #[serde(alias = "trace_state", deserialize_with = "string")]
    trace_state: String,
    #[serde(alias = "parent_span_id", deserialize_with = "hex_id")]
    parent_span_id: Vec<u8>,
    #[serde(deserialize_with = "uint32")]
    flags: u32,
    #[serde(deserialize_with = "string")]
    name: String,
    #[serde(deserialize_with = "span_kind")]
    kind: i32,
    #[serde(alias = "start_time_unix_nano", deserialize_with = "uint64")]
    start_time_unix_nano: u64,
    #[serde(alias = "end_time_unix_nano", deserialize_with = "uint64")]
    end_time_unix_nano: u64,
    #[serde(deserialize_with = "repeated")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", deserialize_with = "uint32")]
    dropped_attributes_count: u32,
    #[serde(deserialize_with = "repeated")]
    events: Vec<Event>,
    #[serde(alias = "dropped_events_count", deserialize_with = "uint32")]
    dropped_events_count: u32,
    #[serde(deserialize_with = "repeated")]
    links: Vec<Link>,
    #[serde(alias = "dropped_links_count", deserialize_with = "uint32")]
    dropped_links_count: u32,
    status: Option<JsonStatus>,
}

impl From<JsonSpan> for Span {
    fn from(s: JsonSpan) -> Self {
        Self {
            trace_id: s.trace_id,
            span_id: s.span_id,
            trace_state: s.trace_state,
            parent_span_id: s.parent_span_id,
            flags: s.flags,
            name: s.name,
            kind: s.kind,
            start_time_unix_nano: s.start_time_unix_nano,
            end_time_unix_nano: s.end_time_unix_nano,
            attributes: s.attributes,
            dropped_attributes_count: s.dropped_attributes_count,
            events: s.events,
            dropped_events_count: s.dropped_events_count,
            links: s.links,
            dropped_links_count: s.dropped_links_count,
            status: s.status.map(Into::into),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct JsonEvent {
    #[serde(alias = "time_unix_nano", deserialize_with = "uint64")]
    time_unix_nano: u64,
    #[serde(deserialize_with = "string")]
    name: String,
    #[serde(deserialize_with = "repeated")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", deserialize_with = "uint32")]
    dropped_attributes_count: u32,
}

impl From<JsonEvent> for Event {
    fn from(e: JsonEvent) -> Self {
        Self {
            time_unix_nano: e.time_unix_nano,
            name: e.name,
            attributes: e.attributes,
            dropped_attributes_count: e.dropped_attributes_count,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct JsonLink {
    #[serde(alias = "trace_id", deserialize_with = "hex_id")]
    trace_id: Vec<u8>,
    #[serde(alias = "span_id", deserialize_with = "hex_id")]
    span_id: Vec<u8>,
    #[serde(alias = "trace_state", deserialize_with = "string")]
    trace_state: String,
    #[serde(deserialize_with = "repeated")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", deserialize_with = "uint32")]
    dropped_attributes_count: u32,
    #[serde(deserialize_with = "uint32")]
    flags: u32,
}

impl From<JsonLink> for Link {
    fn from(l: JsonLink) -> Self {
        Self {
            trace_id: l.trace_id,
            span_id: l.span_id,
            trace_state: l.trace_state,
            attributes: l.attributes,
            dropped_attributes_count: l.dropped_attributes_count,
            flags: l.flags,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct JsonStatus {
    #[serde(deserialize_with = "string")]
    message: String,
    #[serde(deserialize_with = "status_code")]
    code: i32,
}

impl From<JsonStatus> for Status {
    fn from(s: JsonStatus) -> Self {
        Self {
            message: s.message,
            code: s.code,
        }
    }
}

fn span_kind<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    d.deserialize_any(EnumVisitor {
        what: "span kind",
        example: "SPAN_KIND_SERVER",
        by_name: |s| SpanKind::from_str_name(s).map(|k| k as i32),
    })
}

fn status_code<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    d.deserialize_any(EnumVisitor {
        what: "status code",
        example: "STATUS_CODE_ERROR",
        by_name: |s| StatusCode::from_str_name(s).map(|c| c as i32),
    })
}
