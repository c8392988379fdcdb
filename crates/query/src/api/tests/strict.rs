//! Strict mirrors of `tempo.proto@87c2dc380c`'s JSON, as Grafana's backend decodes search
//! responses (`jsonpb.Unmarshal` with unknown fields refused). Separate from the production
//! structs on purpose: a field added there by mistake fails here. 64-bit integers must be
//! strings, 32-bit ones numbers. Some fields are declared only so that the decode accepts
//! them, and are never read.
#![allow(dead_code)]

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchResponse {
    #[serde(default)]
    pub traces: Vec<TraceSearchMetadata>,
    pub metrics: Option<SearchMetrics>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TraceSearchMetadata {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub root_service_name: Option<String>,
    pub root_trace_name: Option<String>,
    pub start_time_unix_nano: Option<String>,
    pub duration_ms: Option<u32>,
    pub span_set: Option<SpanSet>,
    #[serde(default)]
    pub span_sets: Vec<SpanSet>,
    #[serde(default)]
    pub service_stats: BTreeMap<String, ServiceStats>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanSet {
    #[serde(default)]
    pub spans: Vec<Span>,
    pub matched: Option<u32>,
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Span {
    #[serde(rename = "spanID")]
    pub span_id: String,
    pub name: Option<String>,
    pub start_time_unix_nano: Option<String>,
    pub duration_nanos: Option<String>,
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    pub key: String,
    pub value: AnyValue,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AnyValue {
    pub string_value: Option<String>,
    pub int_value: Option<String>,
    pub double_value: Option<f64>,
    pub bool_value: Option<bool>,
    pub bytes_value: Option<String>,
    pub array_value: Option<ArrayValue>,
    pub kvlist_value: Option<KvList>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayValue {
    #[serde(default)]
    pub values: Vec<AnyValue>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvList {
    #[serde(default)]
    pub values: Vec<KeyValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceStats {
    pub span_count: Option<u32>,
    pub error_count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SearchMetrics {
    pub inspected_traces: Option<u32>,
    pub inspected_bytes: Option<String>,
    pub total_blocks: Option<u32>,
    pub completed_jobs: Option<u32>,
    pub total_jobs: Option<u32>,
    pub total_block_bytes: Option<String>,
    pub inspected_spans: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsV2 {
    #[serde(default)]
    pub scopes: Vec<TagsScope>,
    pub metrics: Option<MetadataMetrics>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsScope {
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TagsV1 {
    #[serde(default)]
    pub tag_names: Vec<String>,
    pub metrics: Option<MetadataMetrics>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TagValuesV2 {
    #[serde(default)]
    pub tag_values: Vec<TagValue>,
    pub metrics: Option<MetadataMetrics>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagValue {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TagValuesV1 {
    #[serde(default)]
    pub tag_values: Vec<String>,
    pub metrics: Option<MetadataMetrics>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetadataMetrics {
    pub inspected_bytes: Option<String>,
    pub total_jobs: Option<u32>,
    pub completed_jobs: Option<u32>,
    pub total_blocks: Option<u32>,
    pub total_block_bytes: Option<String>,
}

/// Decodes strictly, failing the test with the body on any unknown field.
pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> T {
    serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "strict decode failed ({e}): {}",
            String::from_utf8_lossy(body)
        )
    })
}

#[test]
fn the_mirrors_refuse_fields_outside_the_may_2025_schema() {
    for body in [
        r#"{"metrics":{"backendReads":"1"}}"#,
        r#"{"traces":[{"traceID":"a","rootSpanName":"x"}]}"#,
        r#"{"traces":[{"traceID":"a","spanSets":[{"spans":[{"spanID":"01","kind":"x"}]}]}]}"#,
        r#"{"metrics":{"inspectedBytes":5}}"#,
    ] {
        assert!(
            serde_json::from_str::<SearchResponse>(body).is_err(),
            "{body}"
        );
    }
    assert!(
        serde_json::from_str::<SearchResponse>(r#"{"metrics":{"inspectedBytes":"5"}}"#).is_ok()
    );
}
