//! The Arrow schemas of the archive's `spans`, `traces`, `logs` and `scores` tables
//! (DESIGN.md §4).
//!
//! The schemas are a data-lake contract: changes are additive, or they bump
//! [`SPANS_SCHEMA_VERSION`] / [`TRACES_SCHEMA_VERSION`] / [`LOGS_SCHEMA_VERSION`] /
//! [`SCORES_SCHEMA_VERSION`], which writers put in each file's key-value metadata.
//!
//! # The `logs` table
//!
//! One row per log record of a `logs` pipeline ([`logs_schema`]), sorted by `trace_id`
//! (records without one last), then `time`:
//!
//! | column | type | |
//! |---|---|---|
//! | `trace_id`, `span_id` | string, nullable | lowercase hex; null for a record outside any trace |
//! | `time` | timestamp | the record's time, or its observed time when it has none (0 when neither) |
//! | `observed_time` | timestamp, nullable | when the SDK or a collector saw it; null when unset |
//! | `service_name` | string | the resource's `service.name` |
//! | `scope_name` | string, nullable | the instrumentation scope; null when empty |
//! | `severity_number` | int32 | OTLP's number (0 unspecified, 9 INFO, 17 ERROR, …) |
//! | `severity_text` | string, nullable | as the source wrote it; null when empty |
//! | `event_name` | string, nullable | such as `gen_ai.evaluation.result`; null when empty |
//! | `body` | string, nullable | a string body as it is, a structured body (map, array, number) as JSON |
//! | `resource_attributes`, `attributes` | map<string,string> | as in `spans`: strings as they are, other values as JSON |
//! | `kind` | string | `log`, `llm_call` or `score` (`LogKind::as_str`) |
//! | `request_model`, `response_model` | string, nullable | `gen_ai.request.model`, `gen_ai.response.model` |
//! | `input_tokens`, `output_tokens` | int64, nullable | `gen_ai.usage.input_tokens` / `output_tokens` |
//! | `cost_usd` | double, nullable | `tracegate.cost_usd` |
//! | `ttft_ms` | double, nullable | `gen_ai.response.time_to_first_chunk` (seconds) × 1000 |
//! | `finish_reason` | string, nullable | the first of `gen_ai.response.finish_reasons` |
//! | `latency_ms` | double, nullable | `tracegate.latency_ms` |
//! | `queue_wait_ms` | double, nullable | `tracegate.queue_wait_ms` |
//! | `temperature` | double, nullable | `gen_ai.request.temperature` |
//! | `max_tokens` | int64, nullable | `gen_ai.request.max_tokens` |
//! | `response_id` | string, nullable | `gen_ai.response.id` |
//! | `request_id` | string, nullable | `tracegate.request_id` |
//! | `user_id` | string, nullable | `user.id` |
//!
//! The LLM columns are read from the record's attributes, the canonical ones the `llm_logs`
//! processor writes; the original fields stay in `body` and `attributes`. A column whose
//! attribute is missing (or of the wrong type) is null.
//!
//! # The `scores` table
//!
//! One row per evaluation or feedback ([`scores_schema`]; [`Score`](crate::Score)), sorted
//! by `trace_id` (unjoined scores last), then `time`. A score is written once: from the log
//! record that carried it (`source = log`), or, for a score a span carried (`span_event`,
//! `feedback_span`), from the released trace's [`Trace::scores`](crate::Trace::scores).
//!
//! | column | type | |
//! |---|---|---|
//! | `trace_id`, `span_id` | string, nullable | the rated trace and span, hex; null until joined |
//! | `time` | timestamp | when the score was given (its record's time when the score has none) |
//! | `name` | string | `gen_ai.evaluation.name`, or `user_feedback` |
//! | `value` | double, nullable | `gen_ai.evaluation.score.value`, the seed's `rating` |
//! | `label` | string, nullable | `gen_ai.evaluation.score.label` |
//! | `explanation` | string, nullable | the evaluator's explanation or the user's feedback (redacted) |
//! | `error_type` | string, nullable | `error.type` of a failed evaluation |
//! | `reviewer_id` | string, nullable | the seed's `reviewer_id` |
//! | `annotations` | string, nullable | JSON text |
//! | `response_id`, `request_id` | string, nullable | the ids the score named its call by |
//! | `joined_by` | string | `trace_context`, `response_id`, `request_id` or `unresolved` |
//! | `source` | string | `log`, `span_event` or `feedback_span` |
//! | `service_name` | string | the service that sent the score |
//!
//! # Partitions and start times
//!
//! Files are Hive-partitioned as `{table}/dt=YYYY-MM-DD/hour=HH/`, by the UTC hour of the
//! row's `start_time` (a `traces` row: its trace's earliest start; a `logs` or `scores` row:
//! its `time`), so a query that filters
//! on `dt` and `hour` prunes whole directories. The partition is a storage hint, not the
//! truth: **a row whose start time is far from the time tracegate received it** (older than
//! the archive's `past_window`, default 7 days, or later than its `future_window`, default
//! 1 hour: a wrong client clock, a zero timestamp, a replay of old data) **is written to the
//! partition of the hour it arrived in**. Its `start_time` column still holds the client's
//! value, unchanged. So:
//! - `start_time` is exact for every row; filter on it for exact time ranges;
//! - `dt`/`hour` equal `start_time`'s hour for every row within the window; a row outside it
//!   sits in its arrival hour, and a query that prunes by `dt`/`hour` alone will not find
//!   it under its own start hour. To find such rows, filter on `start_time` without
//!   partition pruning, or widen the partition range by the window.

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

mod logs;
pub use logs::{
    LOGS_SCHEMA_VERSION, LOGS_TABLE, SCORES_SCHEMA_VERSION, SCORES_TABLE, logs_col, logs_schema,
    scores_col, scores_schema, trace_score_fields,
};

/// Version of the `spans` schema, written to file metadata under [`SCHEMA_VERSION_KEY`].
pub const SPANS_SCHEMA_VERSION: &str = "1";
/// Version of the `traces` schema, written to file metadata under [`SCHEMA_VERSION_KEY`].
///
/// Version 2 replaced version 1's `sampling_decision` (a string column, always null) with
/// `sampled` and added `sampling_probability`. Version 3 added `scores`.
pub const TRACES_SCHEMA_VERSION: &str = "3";
/// The `spans` table's name, in metadata and in the archive's layout.
pub const SPANS_TABLE: &str = "spans";
/// The `traces` table's name, in metadata and in the archive's layout.
pub const TRACES_TABLE: &str = "traces";
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
        (TABLE_KEY.to_owned(), SPANS_TABLE.to_owned()),
        (
            SCHEMA_VERSION_KEY.to_owned(),
            SPANS_SCHEMA_VERSION.to_owned(),
        ),
    ]);
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// Column names of the `traces` table, in order.
pub mod traces_col {
    #![allow(missing_docs)]
    pub const TRACE_ID: &str = "trace_id";
    pub const ROOT_SERVICE: &str = "root_service";
    pub const ROOT_NAME: &str = "root_name";
    pub const START_TIME: &str = "start_time";
    pub const END_TIME: &str = "end_time";
    pub const DURATION_NS: &str = "duration_ns";
    pub const SPAN_COUNT: &str = "span_count";
    pub const ERROR_COUNT: &str = "error_count";
    pub const SERVICES: &str = "services";
    pub const COMPLETE: &str = "complete";
    pub const TREE_WHOLE: &str = "tree_whole";
    pub const RELEASE_REASON: &str = "release_reason";
    pub const FRAGMENT: &str = "fragment";
    pub const CP_LLM_NS: &str = "cp_llm_ns";
    pub const CP_EMBEDDING_NS: &str = "cp_embedding_ns";
    pub const CP_RETRIEVAL_NS: &str = "cp_retrieval_ns";
    pub const CP_RERANK_NS: &str = "cp_rerank_ns";
    pub const CP_TOOL_NS: &str = "cp_tool_ns";
    pub const CP_AGENT_NS: &str = "cp_agent_ns";
    pub const CP_CHAIN_NS: &str = "cp_chain_ns";
    pub const CP_GUARDRAIL_NS: &str = "cp_guardrail_ns";
    pub const CP_HTTP_NS: &str = "cp_http_ns";
    pub const CP_DB_NS: &str = "cp_db_ns";
    pub const CP_MESSAGING_NS: &str = "cp_messaging_ns";
    pub const CP_NETWORK_NS: &str = "cp_network_ns";
    pub const CP_OTHER_NS: &str = "cp_other_ns";
    pub const TOP_CONTRIBUTORS: &str = "top_contributors";
    pub const INPUT_TOKENS: &str = "input_tokens";
    pub const OUTPUT_TOKENS: &str = "output_tokens";
    pub const COST_USD: &str = "cost_usd";
    pub const FIRST_LLM_TTFT_MS: &str = "first_llm_ttft_ms";
    pub const SAMPLED: &str = "sampled";
    pub const SAMPLING_POLICY: &str = "sampling_policy";
    pub const SAMPLING_PROBABILITY: &str = "sampling_probability";
    pub const SCORES: &str = "scores";
}

/// The categories of critical-path time, as `tracegate.category` names them, each with its
/// `traces` column. A span whose category is missing or not listed counts as `other`, the
/// last entry.
pub const CRITICAL_PATH_CATEGORIES: [(&str, &str); 13] = {
    use traces_col::*;
    [
        ("llm", CP_LLM_NS),
        ("embedding", CP_EMBEDDING_NS),
        ("retrieval", CP_RETRIEVAL_NS),
        ("rerank", CP_RERANK_NS),
        ("tool", CP_TOOL_NS),
        ("agent", CP_AGENT_NS),
        ("chain", CP_CHAIN_NS),
        ("guardrail", CP_GUARDRAIL_NS),
        ("http", CP_HTTP_NS),
        ("db", CP_DB_NS),
        ("messaging", CP_MESSAGING_NS),
        ("network", CP_NETWORK_NS),
        ("other", CP_OTHER_NS),
    ]
};

/// The index in [`CRITICAL_PATH_CATEGORIES`] of a `tracegate.category` value; anything
/// unknown is `other`.
pub fn critical_path_category_index(category: Option<&str>) -> usize {
    let other = CRITICAL_PATH_CATEGORIES.len() - 1;
    category
        .and_then(|c| {
            CRITICAL_PATH_CATEGORIES
                .iter()
                .position(|(name, _)| *name == c)
        })
        .unwrap_or(other)
}

/// Fields of one element of the `traces` table's `top_contributors` list: a span's name,
/// its service and its critical-path time.
pub fn contributor_fields() -> Fields {
    Fields::from(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("service", DataType::Utf8, false),
        Field::new("critical_path_ns", DataType::Int64, false),
    ])
}

/// The schema of the `traces` table, built once: one row per released trace (or fragment
/// of one).
///
/// - `root_service` and `root_name` are null when the trace has no root span;
/// - `services` is the sorted, distinct service names of its spans;
/// - `complete` is [`Trace::is_complete`](crate::Trace::is_complete); `release_reason` is
///   `complete`, `max_wait`, `evicted` or `shutdown`; `fragment` is null for a whole trace and
///   `late` or `over_cap` for a fragment;
/// - the `cp_*_ns` columns hold the critical-path time per category (see
///   [`CRITICAL_PATH_CATEGORIES`]). For a trace the breakdown analysed they come from its
///   [`CriticalPathSummary`](crate::CriticalPathSummary): `network` is its own column and
///   the columns sum exactly to the critical path's window, the root span's duration (which
///   is `duration_ns` unless a span outlives the root). Otherwise they are summed from the
///   spans' `tracegate.critical_path_ns` by `tracegate.category` (network time then counts
///   under the client span's own category), and null when no span carries it;
/// - `top_contributors` lists the (at most) three spans with the largest critical-path time,
///   largest first, as `{name, service, critical_path_ns}`; null when the `cp_*_ns` columns
///   are;
/// - `input_tokens`, `output_tokens` and `cost_usd` are sums over the spans that carry them,
///   null when none does; `first_llm_ttft_ms` is the TTFT of the earliest-starting span that
///   has one;
/// - `sampled`, `sampling_policy` and `sampling_probability` are the tail sampler's decision
///   ([`Trace::sampling`](crate::Trace::sampling)), all three null when no sampler ran:
///   whether the trace was kept, the name of the policy that decided (for a kept trace and a
///   dropped one alike), and the probability it was kept with (1.0 for a rule-based keep, the
///   policy's rate for a probabilistic one). The table has a row for every trace, sampled
///   or not, while the `spans` table may hold only the sampled ones' spans; counts over
///   sampled traces scale back up by weighting each with `1 / sampling_probability`;
/// - `scores` (added in version 3) lists the trace's [`Trace::scores`](crate::Trace::scores)
///   as `{name, value, label, span_id, source}` ([`trace_score_fields`]): every evaluation or
///   feedback joined to the trace by release time, whatever its source; `span_id` is the
///   rated span (null when only the trace is known). Empty, not null, when there are none.
///   The `scores` table holds each of them in full.
pub fn traces_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA.get_or_init(build_traces_schema).clone()
}

fn build_traces_schema() -> SchemaRef {
    use traces_col::*;
    let utf8 = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i64f = |n: &str, null: bool| Field::new(n, DataType::Int64, null);
    let boolf = |n: &str| Field::new(n, DataType::Boolean, false);
    let mut fields = vec![
        utf8(TRACE_ID, false),
        utf8(ROOT_SERVICE, true),
        utf8(ROOT_NAME, true),
        Field::new(START_TIME, timestamp_type(), false),
        Field::new(END_TIME, timestamp_type(), false),
        i64f(DURATION_NS, false),
        i64f(SPAN_COUNT, false),
        i64f(ERROR_COUNT, false),
        Field::new(
            SERVICES,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))),
            false,
        ),
        boolf(COMPLETE),
        boolf(TREE_WHOLE),
        utf8(RELEASE_REASON, false),
        utf8(FRAGMENT, true),
    ];
    fields.extend(
        CRITICAL_PATH_CATEGORIES
            .iter()
            .map(|(_, column)| i64f(column, true)),
    );
    fields.extend([
        Field::new(
            TOP_CONTRIBUTORS,
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(contributor_fields()),
                false,
            ))),
            true,
        ),
        i64f(INPUT_TOKENS, true),
        i64f(OUTPUT_TOKENS, true),
        Field::new(COST_USD, DataType::Float64, true),
        Field::new(FIRST_LLM_TTFT_MS, DataType::Float64, true),
        Field::new(SAMPLED, DataType::Boolean, true),
        utf8(SAMPLING_POLICY, true),
        Field::new(SAMPLING_PROBABILITY, DataType::Float64, true),
        Field::new(
            SCORES,
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(trace_score_fields()),
                false,
            ))),
            false,
        ),
    ]);
    let metadata = HashMap::from([
        (TABLE_KEY.to_owned(), TRACES_TABLE.to_owned()),
        (
            SCHEMA_VERSION_KEY.to_owned(),
            TRACES_SCHEMA_VERSION.to_owned(),
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

    #[test]
    fn traces_schema_has_the_design_columns_and_version() {
        use traces_col as t;
        let schema = traces_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                t::TRACE_ID,
                t::ROOT_SERVICE,
                t::ROOT_NAME,
                t::START_TIME,
                t::END_TIME,
                t::DURATION_NS,
                t::SPAN_COUNT,
                t::ERROR_COUNT,
                t::SERVICES,
                t::COMPLETE,
                t::TREE_WHOLE,
                t::RELEASE_REASON,
                t::FRAGMENT,
                t::CP_LLM_NS,
                t::CP_EMBEDDING_NS,
                t::CP_RETRIEVAL_NS,
                t::CP_RERANK_NS,
                t::CP_TOOL_NS,
                t::CP_AGENT_NS,
                t::CP_CHAIN_NS,
                t::CP_GUARDRAIL_NS,
                t::CP_HTTP_NS,
                t::CP_DB_NS,
                t::CP_MESSAGING_NS,
                t::CP_NETWORK_NS,
                t::CP_OTHER_NS,
                t::TOP_CONTRIBUTORS,
                t::INPUT_TOKENS,
                t::OUTPUT_TOKENS,
                t::COST_USD,
                t::FIRST_LLM_TTFT_MS,
                t::SAMPLED,
                t::SAMPLING_POLICY,
                t::SAMPLING_PROBABILITY,
                t::SCORES,
            ]
        );
        assert_eq!(schema.metadata()[TABLE_KEY], TRACES_TABLE);
        assert_eq!(schema.metadata()[SCHEMA_VERSION_KEY], TRACES_SCHEMA_VERSION);
        assert_eq!(
            schema.field_with_name(t::END_TIME).unwrap().data_type(),
            &timestamp_type()
        );
        assert!(schema.field_with_name(t::ROOT_NAME).unwrap().is_nullable());
        assert!(!schema.field_with_name(t::SPAN_COUNT).unwrap().is_nullable());
        let sampled = schema.field_with_name(t::SAMPLED).unwrap();
        assert_eq!(
            (sampled.data_type(), sampled.is_nullable()),
            (&DataType::Boolean, true)
        );
        let probability = schema.field_with_name(t::SAMPLING_PROBABILITY).unwrap();
        assert_eq!(
            (probability.data_type(), probability.is_nullable()),
            (&DataType::Float64, true)
        );
        let top = schema.field_with_name(t::TOP_CONTRIBUTORS).unwrap();
        assert!(top.is_nullable());
        match top.data_type() {
            DataType::List(item) => {
                assert_eq!(item.data_type(), &DataType::Struct(contributor_fields()));
            }
            other => panic!("top_contributors is {other}"),
        }
        let scores = schema.field_with_name(t::SCORES).unwrap();
        assert!(!scores.is_nullable(), "empty, not null, without scores");
        match scores.data_type() {
            DataType::List(item) => {
                assert_eq!(item.data_type(), &DataType::Struct(trace_score_fields()));
            }
            other => panic!("scores is {other}"),
        }
    }

    #[test]
    fn unknown_categories_count_as_other() {
        let name = |c| CRITICAL_PATH_CATEGORIES[critical_path_category_index(c)].0;
        assert_eq!(name(Some("llm")), "llm");
        assert_eq!(name(Some("network")), "network");
        assert_eq!(name(Some("vector_search")), "other");
        assert_eq!(name(None), "other");
    }
}
