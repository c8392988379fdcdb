//! The tag-name and tag-value responses of `/api/search/tags`, `/api/v2/search/tags`,
//! `/api/search/tag/{tag}/values` and `/api/v2/search/tag/{tag}/values`, as JSON.
//!
//! Grafana passes these to the browser, which reads them leniently, but the fields are still
//! exactly `tempo.proto`'s (May 2025) so that strict clients such as `tempo-cli` accept them.

use super::{is_zero_u32, is_zero_u64, u64_string};
use serde::Serialize;

/// `tempopb.MetadataMetrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataMetrics {
    /// Bytes read.
    #[serde(serialize_with = "u64_string", skip_serializing_if = "is_zero_u64")]
    pub inspected_bytes: u64,
    /// Jobs planned.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub total_jobs: u32,
    /// Jobs done.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub completed_jobs: u32,
    /// Blocks read.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub total_blocks: u32,
    /// Bytes of the blocks read.
    #[serde(serialize_with = "u64_string", skip_serializing_if = "is_zero_u64")]
    pub total_block_bytes: u64,
}

/// `tempopb.SearchTagsResponse` (v1).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchTagsResponse {
    /// Tag names, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tag_names: Vec<String>,
    /// What was read.
    pub metrics: MetadataMetrics,
}

/// `tempopb.SearchTagsV2Response`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchTagsV2Response {
    /// One entry per scope that has tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<SearchTagsV2Scope>,
    /// What was read.
    pub metrics: MetadataMetrics,
}

/// `tempopb.SearchTagsV2Scope`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchTagsV2Scope {
    /// `resource`, `span`, `intrinsic`, `event`, `link` or `instrumentation`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Tag names, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// `tempopb.SearchTagValuesResponse` (v1).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchTagValuesResponse {
    /// Values, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tag_values: Vec<String>,
    /// What was read.
    pub metrics: MetadataMetrics,
}

/// `tempopb.SearchTagValuesV2Response`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchTagValuesV2Response {
    /// Typed values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tag_values: Vec<TagValue>,
    /// What was read.
    pub metrics: MetadataMetrics,
}

/// `tempopb.TagValue`. Grafana quotes a value in the queries it builds only when `type` is
/// `string`, so status and kind values must be `keyword`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TagValue {
    /// `string`, `int`, `float`, `bool`, `duration` or `keyword`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value as text.
    pub value: String,
}
