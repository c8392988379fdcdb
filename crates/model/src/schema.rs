//! The Arrow schema of the archive's `spans` table (DESIGN.md §4).
//!
//! The schema is a data-lake contract: changes are additive, or they bump
//! [`SPANS_SCHEMA_VERSION`], which writers put in each file's key-value metadata.

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Version of the `spans` schema, written to file metadata under [`SCHEMA_VERSION_KEY`].
pub const SPANS_SCHEMA_VERSION: &str = "1";
/// Metadata key holding the schema version.
pub const SCHEMA_VERSION_KEY: &str = "tracegate.schema_version";
/// Metadata key holding the table name.
pub const TABLE_KEY: &str = "tracegate.table";

/// Column names of the `spans` table, in order.
pub mod col {
    #![allow(missing_docs)]
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const PARENT_SPAN_ID: &str = "parent_span_id";
    pub const TRACE_STATE: &str = "trace_state";
    pub const SERVICE_NAME: &str = "service_name";
    pub const NAME: &str = "name";
    pub const KIND: &str = "kind";
    pub const SCOPE_NAME: &str = "scope_name";
    pub const SCOPE_VERSION: &str = "scope_version";
    pub const START_TIME: &str = "start_time";
    pub const END_TIME: &str = "end_time";
    pub const DURATION_NS: &str = "duration_ns";
    pub const STATUS_CODE: &str = "status_code";
    pub const STATUS_MESSAGE: &str = "status_message";
    pub const RESOURCE_ATTRIBUTES: &str = "resource_attributes";
    pub const ATTRIBUTES: &str = "attributes";
    pub const EVENTS: &str = "events";
    pub const LINKS: &str = "links";
    pub const CATEGORY: &str = "category";
    pub const GEN_AI_OPERATION: &str = "gen_ai_operation";
    pub const GEN_AI_PROVIDER: &str = "gen_ai_provider";
    pub const REQUEST_MODEL: &str = "request_model";
    pub const RESPONSE_MODEL: &str = "response_model";
    pub const INPUT_TOKENS: &str = "input_tokens";
    pub const OUTPUT_TOKENS: &str = "output_tokens";
    pub const CACHE_READ_TOKENS: &str = "cache_read_tokens";
    pub const CACHE_WRITE_TOKENS: &str = "cache_write_tokens";
    pub const REASONING_TOKENS: &str = "reasoning_tokens";
    pub const COST_USD: &str = "cost_usd";
    pub const TTFT_MS: &str = "ttft_ms";
    pub const DECODE_MS: &str = "decode_ms";
    pub const OUTPUT_TOKENS_PER_S: &str = "output_tokens_per_s";
    pub const FINISH_REASON: &str = "finish_reason";
    pub const SELF_TIME_NS: &str = "self_time_ns";
    pub const CRITICAL_PATH_NS: &str = "critical_path_ns";
}

/// Timestamps are ns since the epoch, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// `map<string,string>`, the form of attribute columns.
pub fn string_map_type() -> DataType {
    DataType::Map(Arc::new(string_map_entries_field()), false)
}

/// The entries field of [`string_map_type`].
pub fn string_map_entries_field() -> Field {
    Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    )
}

/// Fields of one element of the `events` list.
pub fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("time", timestamp_type(), false),
        Field::new("name", DataType::Utf8, false),
        Field::new("attributes", string_map_type(), false),
    ])
}

/// Fields of one element of the `links` list.
pub fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("trace_id", DataType::Utf8, false),
        Field::new("span_id", DataType::Utf8, false),
        Field::new("trace_state", DataType::Utf8, true),
        Field::new("attributes", string_map_type(), false),
    ])
}

/// The schema of the `spans` table, built once.
pub fn spans_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA.get_or_init(build_spans_schema).clone()
}

fn build_spans_schema() -> SchemaRef {
    use col::*;
    let utf8 = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i64f = |n: &str| Field::new(n, DataType::Int64, true);
    let f64f = |n: &str| Field::new(n, DataType::Float64, true);
    let fields = vec![
        utf8(TRACE_ID, false),
        utf8(SPAN_ID, false),
        utf8(PARENT_SPAN_ID, true),
        utf8(TRACE_STATE, true),
        utf8(SERVICE_NAME, false),
        utf8(NAME, false),
        utf8(KIND, false),
        utf8(SCOPE_NAME, true),
        utf8(SCOPE_VERSION, true),
        Field::new(START_TIME, timestamp_type(), false),
        Field::new(END_TIME, timestamp_type(), false),
        Field::new(DURATION_NS, DataType::Int64, false),
        utf8(STATUS_CODE, false),
        utf8(STATUS_MESSAGE, true),
        Field::new(RESOURCE_ATTRIBUTES, string_map_type(), false),
        Field::new(ATTRIBUTES, string_map_type(), false),
        Field::new(
            EVENTS,
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(event_fields()),
                false,
            ))),
            false,
        ),
        Field::new(
            LINKS,
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(link_fields()),
                false,
            ))),
            false,
        ),
        utf8(CATEGORY, true),
        utf8(GEN_AI_OPERATION, true),
        utf8(GEN_AI_PROVIDER, true),
        utf8(REQUEST_MODEL, true),
        utf8(RESPONSE_MODEL, true),
        i64f(INPUT_TOKENS),
        i64f(OUTPUT_TOKENS),
        i64f(CACHE_READ_TOKENS),
        i64f(CACHE_WRITE_TOKENS),
        i64f(REASONING_TOKENS),
        f64f(COST_USD),
        f64f(TTFT_MS),
        f64f(DECODE_MS),
        f64f(OUTPUT_TOKENS_PER_S),
        utf8(FINISH_REASON, true),
        i64f(SELF_TIME_NS),
        i64f(CRITICAL_PATH_NS),
    ];
    let metadata = HashMap::from([
        (TABLE_KEY.to_owned(), "spans".to_owned()),
        (
            SCHEMA_VERSION_KEY.to_owned(),
            SPANS_SCHEMA_VERSION.to_owned(),
        ),
    ]);
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// The archive's text form of a span kind.
pub fn kind_name(kind: crate::span::SpanKind) -> &'static str {
    use crate::span::SpanKind;
    match kind {
        SpanKind::Unspecified => "unspecified",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

/// The archive's text form of a status code.
pub fn status_name(code: i32) -> &'static str {
    match code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_schema_has_the_design_columns_and_version() {
        let schema = spans_schema();
        for name in [
            col::TRACE_ID,
            col::START_TIME,
            col::ATTRIBUTES,
            col::COST_USD,
            col::CRITICAL_PATH_NS,
        ] {
            assert!(schema.field_with_name(name).is_ok(), "missing {name}");
        }
        assert_eq!(schema.fields().len(), 35);
        assert_eq!(schema.metadata()[SCHEMA_VERSION_KEY], SPANS_SCHEMA_VERSION);
        assert_eq!(
            schema.field_with_name(col::START_TIME).unwrap().data_type(),
            &timestamp_type()
        );
    }
}
