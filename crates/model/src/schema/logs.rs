//! The Arrow schemas of the archive's `logs` and `scores` tables, and the element of the
//! `traces` table's `scores` column (re-exported from [`super`], whose docs describe every
//! column).

use super::{SCHEMA_VERSION_KEY, TABLE_KEY, string_map_type, timestamp_type};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Version of the `logs` schema, written to file metadata under [`SCHEMA_VERSION_KEY`].
pub const LOGS_SCHEMA_VERSION: &str = "1";
/// Version of the `scores` schema, written to file metadata under [`SCHEMA_VERSION_KEY`].
pub const SCORES_SCHEMA_VERSION: &str = "1";
/// The `logs` table's name, in metadata and in the archive's layout.
pub const LOGS_TABLE: &str = "logs";
/// The `scores` table's name, in metadata and in the archive's layout.
pub const SCORES_TABLE: &str = "scores";

/// Column names of the `logs` table, in order.
pub mod logs_col {
    #![allow(missing_docs)]
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const TIME: &str = "time";
    pub const OBSERVED_TIME: &str = "observed_time";
    pub const SERVICE_NAME: &str = "service_name";
    pub const SCOPE_NAME: &str = "scope_name";
    pub const SEVERITY_NUMBER: &str = "severity_number";
    pub const SEVERITY_TEXT: &str = "severity_text";
    pub const EVENT_NAME: &str = "event_name";
    pub const BODY: &str = "body";
    pub const RESOURCE_ATTRIBUTES: &str = "resource_attributes";
    pub const ATTRIBUTES: &str = "attributes";
    pub const KIND: &str = "kind";
    pub const REQUEST_MODEL: &str = "request_model";
    pub const RESPONSE_MODEL: &str = "response_model";
    pub const INPUT_TOKENS: &str = "input_tokens";
    pub const OUTPUT_TOKENS: &str = "output_tokens";
    pub const COST_USD: &str = "cost_usd";
    pub const TTFT_MS: &str = "ttft_ms";
    pub const FINISH_REASON: &str = "finish_reason";
    pub const LATENCY_MS: &str = "latency_ms";
    pub const QUEUE_WAIT_MS: &str = "queue_wait_ms";
    pub const TEMPERATURE: &str = "temperature";
    pub const MAX_TOKENS: &str = "max_tokens";
    pub const RESPONSE_ID: &str = "response_id";
    pub const REQUEST_ID: &str = "request_id";
    pub const USER_ID: &str = "user_id";
}

/// Column names of the `scores` table, in order.
pub mod scores_col {
    #![allow(missing_docs)]
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const TIME: &str = "time";
    pub const NAME: &str = "name";
    pub const VALUE: &str = "value";
    pub const LABEL: &str = "label";
    pub const EXPLANATION: &str = "explanation";
    pub const ERROR_TYPE: &str = "error_type";
    pub const REVIEWER_ID: &str = "reviewer_id";
    pub const ANNOTATIONS: &str = "annotations";
    pub const RESPONSE_ID: &str = "response_id";
    pub const REQUEST_ID: &str = "request_id";
    pub const JOINED_BY: &str = "joined_by";
    pub const SOURCE: &str = "source";
    pub const SERVICE_NAME: &str = "service_name";
}

/// Fields of one element of the `traces` table's `scores` list.
pub fn trace_score_fields() -> Fields {
    Fields::from(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("label", DataType::Utf8, true),
        Field::new("span_id", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
    ])
}

fn metadata(table: &str, version: &str) -> HashMap<String, String> {
    HashMap::from([
        (TABLE_KEY.to_owned(), table.to_owned()),
        (SCHEMA_VERSION_KEY.to_owned(), version.to_owned()),
    ])
}

/// The schema of the `logs` table, built once: one row per log record. See the
/// [module docs](super) for each column.
pub fn logs_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA.get_or_init(build_logs_schema).clone()
}

fn build_logs_schema() -> SchemaRef {
    use logs_col::*;
    let utf8 = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i64f = |n: &str| Field::new(n, DataType::Int64, true);
    let f64f = |n: &str| Field::new(n, DataType::Float64, true);
    let fields = vec![
        utf8(TRACE_ID, true),
        utf8(SPAN_ID, true),
        Field::new(TIME, timestamp_type(), false),
        Field::new(OBSERVED_TIME, timestamp_type(), true),
        utf8(SERVICE_NAME, false),
        utf8(SCOPE_NAME, true),
        Field::new(SEVERITY_NUMBER, DataType::Int32, false),
        utf8(SEVERITY_TEXT, true),
        utf8(EVENT_NAME, true),
        utf8(BODY, true),
        Field::new(RESOURCE_ATTRIBUTES, string_map_type(), false),
        Field::new(ATTRIBUTES, string_map_type(), false),
        utf8(KIND, false),
        utf8(REQUEST_MODEL, true),
        utf8(RESPONSE_MODEL, true),
        i64f(INPUT_TOKENS),
        i64f(OUTPUT_TOKENS),
        f64f(COST_USD),
        f64f(TTFT_MS),
        utf8(FINISH_REASON, true),
        f64f(LATENCY_MS),
        f64f(QUEUE_WAIT_MS),
        f64f(TEMPERATURE),
        i64f(MAX_TOKENS),
        utf8(RESPONSE_ID, true),
        utf8(REQUEST_ID, true),
        utf8(USER_ID, true),
    ];
    Arc::new(Schema::new_with_metadata(
        fields,
        metadata(LOGS_TABLE, LOGS_SCHEMA_VERSION),
    ))
}

/// The schema of the `scores` table, built once: one row per evaluation or feedback. See
/// the [module docs](super) for each column.
pub fn scores_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA.get_or_init(build_scores_schema).clone()
}

fn build_scores_schema() -> SchemaRef {
    use scores_col::*;
    let utf8 = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let fields = vec![
        utf8(TRACE_ID, true),
        utf8(SPAN_ID, true),
        Field::new(TIME, timestamp_type(), false),
        utf8(NAME, false),
        Field::new(VALUE, DataType::Float64, true),
        utf8(LABEL, true),
        utf8(EXPLANATION, true),
        utf8(ERROR_TYPE, true),
        utf8(REVIEWER_ID, true),
        utf8(ANNOTATIONS, true),
        utf8(RESPONSE_ID, true),
        utf8(REQUEST_ID, true),
        utf8(JOINED_BY, false),
        utf8(SOURCE, false),
        utf8(SERVICE_NAME, false),
    ];
    Arc::new(Schema::new_with_metadata(
        fields,
        metadata(SCORES_TABLE, SCORES_SCHEMA_VERSION),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(schema: &Schema) -> Vec<&str> {
        schema.fields().iter().map(|f| f.name().as_str()).collect()
    }

    #[test]
    fn logs_schema_has_the_contract_columns_and_version() {
        use logs_col as l;
        let schema = logs_schema();
        assert_eq!(
            names(&schema),
            [
                l::TRACE_ID,
                l::SPAN_ID,
                l::TIME,
                l::OBSERVED_TIME,
                l::SERVICE_NAME,
                l::SCOPE_NAME,
                l::SEVERITY_NUMBER,
                l::SEVERITY_TEXT,
                l::EVENT_NAME,
                l::BODY,
                l::RESOURCE_ATTRIBUTES,
                l::ATTRIBUTES,
                l::KIND,
                l::REQUEST_MODEL,
                l::RESPONSE_MODEL,
                l::INPUT_TOKENS,
                l::OUTPUT_TOKENS,
                l::COST_USD,
                l::TTFT_MS,
                l::FINISH_REASON,
                l::LATENCY_MS,
                l::QUEUE_WAIT_MS,
                l::TEMPERATURE,
                l::MAX_TOKENS,
                l::RESPONSE_ID,
                l::REQUEST_ID,
                l::USER_ID,
            ]
        );
        assert_eq!(schema.metadata()[TABLE_KEY], LOGS_TABLE);
        assert_eq!(schema.metadata()[SCHEMA_VERSION_KEY], LOGS_SCHEMA_VERSION);
        let time = schema.field_with_name(l::TIME).unwrap();
        assert_eq!(
            (time.data_type(), time.is_nullable()),
            (&timestamp_type(), false)
        );
        assert!(schema.field_with_name(l::TRACE_ID).unwrap().is_nullable());
        assert_eq!(
            schema.field_with_name(l::ATTRIBUTES).unwrap().data_type(),
            &string_map_type()
        );
        // Named like the spans table's columns where both have one.
        let spans = super::super::spans_schema();
        for name in [l::REQUEST_MODEL, l::INPUT_TOKENS, l::COST_USD, l::TTFT_MS] {
            assert_eq!(
                spans.field_with_name(name).unwrap().data_type(),
                schema.field_with_name(name).unwrap().data_type(),
                "{name}"
            );
        }
    }

    #[test]
    fn scores_schema_has_the_contract_columns_and_version() {
        use scores_col as s;
        let schema = scores_schema();
        assert_eq!(
            names(&schema),
            [
                s::TRACE_ID,
                s::SPAN_ID,
                s::TIME,
                s::NAME,
                s::VALUE,
                s::LABEL,
                s::EXPLANATION,
                s::ERROR_TYPE,
                s::REVIEWER_ID,
                s::ANNOTATIONS,
                s::RESPONSE_ID,
                s::REQUEST_ID,
                s::JOINED_BY,
                s::SOURCE,
                s::SERVICE_NAME,
            ]
        );
        assert_eq!(schema.metadata()[TABLE_KEY], SCORES_TABLE);
        assert_eq!(schema.metadata()[SCHEMA_VERSION_KEY], SCORES_SCHEMA_VERSION);
        assert!(!schema.field_with_name(s::NAME).unwrap().is_nullable());
        assert!(schema.field_with_name(s::VALUE).unwrap().is_nullable());
    }
}
