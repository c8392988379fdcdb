//! The `/api/search` response, `tempopb.SearchResponse`, as JSON.
//!
//! The structs hold exactly the fields `tempo.proto` had at commit `87c2dc380c` (the version
//! Grafana vendors): Grafana's backend decodes this JSON with unknown fields denied, so a
//! field added here breaks every search (TEMPO_API.md §5). Fields at their zero value are
//! left out and 64-bit integers are strings, as jsonpb writes them.

use super::{is_zero_u32, is_zero_u64, u64_string};
use serde::Serialize;
use std::collections::BTreeMap;
use tracegate_model::proto::common::v1::KeyValue;

/// `tempopb.SearchResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchResponse {
    /// Matching traces, newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<TraceSearchMetadata>,
    /// What the search read. Always present, as Tempo always sets it.
    pub metrics: SearchMetrics,
}

/// `tempopb.TraceSearchMetadata`: one matching trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceSearchMetadata {
    /// Lowercase hex, leading zeros trimmed.
    #[serde(rename = "traceID", skip_serializing_if = "String::is_empty")]
    pub trace_id: String,
    /// The root span's `service.name`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub root_service_name: String,
    /// The root span's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub root_trace_name: String,
    /// The earliest span start, ns since the epoch.
    #[serde(serialize_with = "u64_string", skip_serializing_if = "is_zero_u64")]
    pub start_time_unix_nano: u64,
    /// The trace's duration in ms.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub duration_ms: u32,
    /// Deprecated by Tempo but still filled with `span_sets[0]`; Grafana's backend prefers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_set: Option<SpanSet>,
    /// Every matching spanset.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub span_sets: Vec<SpanSet>,
    /// Spans and errors per service, over the whole trace.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub service_stats: BTreeMap<String, ServiceStats>,
}

/// `tempopb.SpanSet`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SpanSet {
    /// At most `spss` of the matching spans.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
    /// How many spans matched (may exceed `spans.len()`).
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub matched: u32,
    /// Pipeline outputs such as `count()` or `by(...)`.
    #[serde(
        serialize_with = "super::value::serialize_key_values",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attributes: Vec<KeyValue>,
}

/// `tempopb.Span`: one span of a spanset.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    /// 16 lowercase hex digits.
    #[serde(rename = "spanID", skip_serializing_if = "String::is_empty")]
    pub span_id: String,
    /// Span name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Start, ns since the epoch.
    #[serde(serialize_with = "u64_string", skip_serializing_if = "is_zero_u64")]
    pub start_time_unix_nano: u64,
    /// Duration in ns.
    #[serde(serialize_with = "u64_string", skip_serializing_if = "is_zero_u64")]
    pub duration_nanos: u64,
    /// The attributes the query referred to, by their unscoped names.
    #[serde(
        serialize_with = "super::value::serialize_key_values",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attributes: Vec<KeyValue>,
}

/// `tempopb.ServiceStats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStats {
    /// Spans of the service in the trace.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub span_count: u32,
    /// Of which with status error.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub error_count: u32,
}

/// `tempopb.SearchMetrics`, without the fields Tempo added after May 2025
/// (`backendReads`, `backendBytes`, `additionalMetrics`), which strict clients refuse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchMetrics {
    /// Traces (or trace fragments) looked at.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub inspected_traces: u32,
    /// Bytes read.
    #[serde(serialize_with = "u64_string", skip_serializing_if = "is_zero_u64")]
    pub inspected_bytes: u64,
    /// Blocks searched.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub total_blocks: u32,
    /// Jobs done.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub completed_jobs: u32,
    /// Jobs planned.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub total_jobs: u32,
    /// Bytes of the blocks searched.
    #[serde(serialize_with = "u64_string", skip_serializing_if = "is_zero_u64")]
    pub total_block_bytes: u64,
    /// Spans looked at.
    #[serde(serialize_with = "u64_string", skip_serializing_if = "is_zero_u64")]
    pub inspected_spans: u64,
}

/// Lowercase hex of a trace id with leading zeros trimmed, as Tempo's search writes it
/// (`util.TraceIDToHexString`); an all-zero id is `"0"`.
pub fn trimmed_trace_id(id: &[u8; 16]) -> String {
    tracegate_model::TraceId(*id).to_trimmed_hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_values_are_left_out_and_u64_are_strings() {
        let response = SearchResponse {
            traces: vec![TraceSearchMetadata {
                trace_id: "abc".into(),
                start_time_unix_nano: 1_684_778_327_699_392_724,
                span_sets: vec![SpanSet {
                    matched: 1,
                    spans: vec![Span {
                        span_id: "0000000000000001".into(),
                        duration_nanos: 5,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            metrics: SearchMetrics {
                inspected_bytes: 10,
                ..Default::default()
            },
        };
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::from_str::<serde_json::Value>(r#"{"traces":[{"traceID":"abc","startTimeUnixNano":"1684778327699392724","spanSets":[{"spans":[{"spanID":"0000000000000001","durationNanos":"5"}],"matched":1}]}],"metrics":{"inspectedBytes":"10"}}"#).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&SearchResponse::default()).unwrap(),
            r#"{"metrics":{}}"#
        );
    }

    #[test]
    fn trace_ids_lose_leading_zeros() {
        let mut id = [0u8; 16];
        id[8..].copy_from_slice(&[0x0f, 0x1c, 0xfe, 0x82, 0xa8, 0xee, 0xf9, 0x33]);
        assert_eq!(trimmed_trace_id(&id), "f1cfe82a8eef933");
        assert_eq!(trimmed_trace_id(&[0; 16]), "0");
        assert_eq!(trimmed_trace_id(&[0xab; 16]), "ab".repeat(16));
    }
}
