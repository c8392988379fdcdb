//! Log records and scores for the tests, and the rows of the `logs` and `scores` tables read
//! back from a batch, column by column, independently of the encoders.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampNanosecondType};
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::ReadOptionsBuilder;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::proto::common::v1::{AnyValue, ArrayValue, KeyValueList};
use tracegate_model::schema::{self, SCHEMA_VERSION_KEY, TABLE_KEY, logs_col, scores_col};
use tracegate_model::{
    LogFacts, LogKind, LogRecord, Resource, Scope, Score, ScoreJoin, ScoreSource, SpanId, TraceId,
    attr, keys,
};

fn any(v: Value) -> AnyValue {
    AnyValue { value: Some(v) }
}

/// A plain log record of service `api`: a string body, no ids.
pub fn plain_record(body: &str, time: u64) -> LogRecord {
    LogRecord {
        resource: Arc::new(Resource::with_service("api")),
        time_unix_nano: time,
        observed_time_unix_nano: time + 5,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Some(attr::string_value(body)),
        attributes: vec![attr::string("logger", "app")],
        ..LogRecord::empty()
    }
}

/// An LLM call record as `llm_logs` leaves it: the seed's structured body (a map with nested
/// `metrics`) and the canonical attributes, in trace `trace` / span `span`.
pub fn llm_record(trace: u8, span: u8, time: u64) -> LogRecord {
    let metrics = KeyValueList {
        values: vec![
            attr::int("input_tokens", 120),
            attr::int("output_tokens", 40),
        ],
    };
    let body = KeyValueList {
        values: vec![
            attr::string("model", "gpt-4o"),
            attr::string("prompt", "[REDACTED]"),
            attr::kv("metrics", Value::KvlistValue(metrics)),
        ],
    };
    let reasons = ArrayValue {
        values: vec![any(Value::StringValue("stop".into()))],
    };
    LogRecord {
        resource: Arc::new(Resource::with_service("llm-svc")),
        scope: Arc::new(Scope {
            name: "seed.logger".into(),
            ..Default::default()
        }),
        time_unix_nano: time,
        observed_time_unix_nano: 0,
        severity_number: 9,
        severity_text: String::new(),
        body: Some(any(Value::KvlistValue(body))),
        attributes: vec![
            attr::string(keys::GEN_AI_OPERATION_NAME, "chat"),
            attr::string(keys::GEN_AI_REQUEST_MODEL, "gpt-4o"),
            attr::string(keys::GEN_AI_RESPONSE_MODEL, "gpt-4o-2024-08-06"),
            attr::int(keys::GEN_AI_USAGE_INPUT_TOKENS, 120),
            attr::int(keys::GEN_AI_USAGE_OUTPUT_TOKENS, 40),
            attr::double(keys::TRACEGATE_COST_USD, 0.0007),
            attr::double(keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, 0.25),
            attr::kv(
                keys::GEN_AI_RESPONSE_FINISH_REASONS,
                Value::ArrayValue(reasons),
            ),
            attr::double(keys::TRACEGATE_LATENCY_MS, 812.5),
            attr::double(keys::TRACEGATE_QUEUE_WAIT_MS, 12.0),
            attr::double(keys::GEN_AI_REQUEST_TEMPERATURE, 0.7),
            attr::int(keys::GEN_AI_REQUEST_MAX_TOKENS, 512),
            attr::string(keys::GEN_AI_RESPONSE_ID, "chatcmpl-1"),
            attr::string(keys::TRACEGATE_REQUEST_ID, "req-1"),
            attr::string(keys::USER_ID, "u-7"),
        ],
        trace_id: Some(TraceId([trace; 16])),
        span_id: Some(SpanId([span; 8])),
        facts: LogFacts {
            kind: LogKind::LlmCall,
            score: None,
        },
        ..LogRecord::empty()
    }
}

/// A score of `name` rating span `span` of trace `trace`, from `source`.
pub fn score(name: &str, trace: Option<u8>, span: Option<u8>, source: ScoreSource) -> Score {
    Score {
        name: name.into(),
        value: Some(0.5),
        label: Some("ok".into()),
        explanation: Some("fine".into()),
        trace_id: trace.map(|t| TraceId([t; 16])),
        span_id: span.map(|s| SpanId([s; 8])),
        joined_by: if trace.is_some() {
            ScoreJoin::TraceContext
        } else {
            ScoreJoin::Unresolved
        },
        source,
        time_unix_nano: 0,
        service_name: "eval".into(),
        ..Default::default()
    }
}

/// A quality record carrying `score`, at `time`.
pub fn score_record(score: Score, time: u64) -> LogRecord {
    LogRecord {
        event_name: keys::GEN_AI_EVALUATION_RESULT.into(),
        time_unix_nano: time,
        trace_id: score.trace_id,
        span_id: score.span_id,
        attributes: vec![attr::string(keys::GEN_AI_EVALUATION_NAME, &score.name)],
        facts: LogFacts {
            kind: LogKind::Score,
            score: Some(Box::new(score)),
        },
        ..LogRecord::empty()
    }
}

/// One row of the `logs` table, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub time: i64,
    pub observed_time: Option<i64>,
    pub service_name: String,
    pub scope_name: Option<String>,
    pub severity_number: i32,
    pub severity_text: Option<String>,
    pub event_name: Option<String>,
    pub body: Option<String>,
    pub resource_attributes: BTreeMap<String, Option<String>>,
    pub attributes: BTreeMap<String, Option<String>>,
    pub kind: String,
    pub strings: BTreeMap<&'static str, Option<String>>,
    pub ints: BTreeMap<&'static str, Option<i64>>,
    pub floats: BTreeMap<&'static str, Option<f64>>,
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = batch.column_by_name(name).unwrap().as_string::<i32>();
    a.iter().map(|v| v.map(str::to_owned)).collect()
}

fn required(batch: &RecordBatch, name: &str) -> Vec<String> {
    let values = strings(batch, name);
    values.into_iter().map(|v| v.expect(name)).collect()
}

fn times(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let a = batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<TimestampNanosecondType>();
    a.iter().collect()
}

fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let a = batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Int64Type>();
    a.iter().collect()
}

fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let a = batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>();
    a.iter().collect()
}

fn maps(batch: &RecordBatch, name: &str) -> Vec<BTreeMap<String, Option<String>>> {
    let m = batch.column_by_name(name).unwrap().as_map();
    (0..m.len())
        .map(|i| {
            let entries = m.value(i);
            let keys = entries.column(0).as_string::<i32>();
            let values = entries.column(1).as_string::<i32>();
            keys.iter()
                .zip(values.iter())
                .map(|(k, v)| (k.unwrap().to_owned(), v.map(str::to_owned)))
                .collect()
        })
        .collect()
}

/// The LLM columns of the `logs` table by type.
pub const LOG_STRING_COLUMNS: [&str; 6] = [
    logs_col::REQUEST_MODEL,
    logs_col::RESPONSE_MODEL,
    logs_col::FINISH_REASON,
    logs_col::RESPONSE_ID,
    logs_col::REQUEST_ID,
    logs_col::USER_ID,
];
/// See [`LOG_STRING_COLUMNS`].
pub const LOG_INT_COLUMNS: [&str; 3] = [
    logs_col::INPUT_TOKENS,
    logs_col::OUTPUT_TOKENS,
    logs_col::MAX_TOKENS,
];
/// See [`LOG_STRING_COLUMNS`].
pub const LOG_FLOAT_COLUMNS: [&str; 5] = [
    logs_col::COST_USD,
    logs_col::TTFT_MS,
    logs_col::LATENCY_MS,
    logs_col::QUEUE_WAIT_MS,
    logs_col::TEMPERATURE,
];

/// The rows of a batch of the `logs` schema.
pub fn log_rows_of(batch: &RecordBatch) -> Vec<LogRow> {
    use logs_col as l;
    assert_eq!(batch.schema().fields(), schema::logs_schema().fields());
    let trace_id = strings(batch, l::TRACE_ID);
    let span_id = strings(batch, l::SPAN_ID);
    let time = times(batch, l::TIME);
    let observed = times(batch, l::OBSERVED_TIME);
    let service = required(batch, l::SERVICE_NAME);
    let scope = strings(batch, l::SCOPE_NAME);
    let severity = batch
        .column_by_name(l::SEVERITY_NUMBER)
        .unwrap()
        .as_primitive::<Int32Type>();
    let severity_text = strings(batch, l::SEVERITY_TEXT);
    let event_name = strings(batch, l::EVENT_NAME);
    let body = strings(batch, l::BODY);
    let resource = maps(batch, l::RESOURCE_ATTRIBUTES);
    let attributes = maps(batch, l::ATTRIBUTES);
    let kind = required(batch, l::KIND);
    let s: Vec<_> = LOG_STRING_COLUMNS
        .iter()
        .map(|c| (*c, strings(batch, c)))
        .collect();
    let n: Vec<_> = LOG_INT_COLUMNS
        .iter()
        .map(|c| (*c, ints(batch, c)))
        .collect();
    let f: Vec<_> = LOG_FLOAT_COLUMNS
        .iter()
        .map(|c| (*c, floats(batch, c)))
        .collect();
    (0..batch.num_rows())
        .map(|i| LogRow {
            trace_id: trace_id[i].clone(),
            span_id: span_id[i].clone(),
            time: time[i].expect("time is not null"),
            observed_time: observed[i],
            service_name: service[i].clone(),
            scope_name: scope[i].clone(),
            severity_number: severity.value(i),
            severity_text: severity_text[i].clone(),
            event_name: event_name[i].clone(),
            body: body[i].clone(),
            resource_attributes: resource[i].clone(),
            attributes: attributes[i].clone(),
            kind: kind[i].clone(),
            strings: s.iter().map(|(c, v)| (*c, v[i].clone())).collect(),
            ints: n.iter().map(|(c, v)| (*c, v[i])).collect(),
            floats: f.iter().map(|(c, v)| (*c, v[i])).collect(),
        })
        .collect()
}

/// One row of the `scores` table, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub time: i64,
    pub name: String,
    pub value: Option<f64>,
    pub label: Option<String>,
    pub explanation: Option<String>,
    pub error_type: Option<String>,
    pub reviewer_id: Option<String>,
    pub annotations: Option<String>,
    pub response_id: Option<String>,
    pub request_id: Option<String>,
    pub joined_by: String,
    pub source: String,
    pub service_name: String,
}

/// The rows of a batch of the `scores` schema.
pub fn score_rows_of(batch: &RecordBatch) -> Vec<ScoreRow> {
    use scores_col as c;
    assert_eq!(batch.schema().fields(), schema::scores_schema().fields());
    let col = |name| strings(batch, name);
    let (trace_id, span_id, label) = (col(c::TRACE_ID), col(c::SPAN_ID), col(c::LABEL));
    let (explanation, error_type) = (col(c::EXPLANATION), col(c::ERROR_TYPE));
    let (reviewer_id, annotations) = (col(c::REVIEWER_ID), col(c::ANNOTATIONS));
    let (response_id, request_id) = (col(c::RESPONSE_ID), col(c::REQUEST_ID));
    let time = times(batch, c::TIME);
    let name = required(batch, c::NAME);
    let value = floats(batch, c::VALUE);
    let joined_by = required(batch, c::JOINED_BY);
    let source = required(batch, c::SOURCE);
    let service = required(batch, c::SERVICE_NAME);
    (0..batch.num_rows())
        .map(|i| ScoreRow {
            trace_id: trace_id[i].clone(),
            span_id: span_id[i].clone(),
            time: time[i].expect("time is not null"),
            name: name[i].clone(),
            value: value[i],
            label: label[i].clone(),
            explanation: explanation[i].clone(),
            error_type: error_type[i].clone(),
            reviewer_id: reviewer_id[i].clone(),
            annotations: annotations[i].clone(),
            response_id: response_id[i].clone(),
            request_id: request_id[i].clone(),
            joined_by: joined_by[i].clone(),
            source: source[i].clone(),
            service_name: service[i].clone(),
        })
        .collect()
}

/// True when `keys` (trace id, time) are in the files' order: by trace id, rows without
/// one last, then by time.
pub fn sorted_none_last(keys: &[(Option<String>, i64)]) -> bool {
    let key = |(t, time): &(Option<String>, i64)| (t.is_none(), t.clone(), *time);
    keys.windows(2).all(|w| key(&w[0]) <= key(&w[1]))
}

/// Asserts a file of `table` names its table and version, declares its sort by
/// (trace_id, `time_column`), and has a trace_id bloom filter that knows `known_trace`.
pub fn assert_file_layout(
    file: Bytes,
    table: &str,
    version: &str,
    time_column: usize,
    known_trace: &str,
) {
    let reader = SerializedFileReader::new_with_options(
        file,
        ReadOptionsBuilder::new()
            .with_reader_properties(
                ReaderProperties::builder()
                    .set_read_bloom_filter(true)
                    .build(),
            )
            .build(),
    )
    .unwrap();
    let metadata = reader.metadata();
    let kv = metadata.file_metadata().key_value_metadata().unwrap();
    let get = |key: &str| {
        kv.iter()
            .find(|e| e.key == key)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(get(TABLE_KEY).as_deref(), Some(table));
    assert_eq!(get(SCHEMA_VERSION_KEY).as_deref(), Some(version));
    assert!(metadata.num_row_groups() > 0);
    for (i, group) in metadata.row_groups().iter().enumerate() {
        let sorting = group.sorting_columns().unwrap();
        assert_eq!(
            sorting
                .iter()
                .map(|c| (c.column_idx, c.nulls_first))
                .collect::<Vec<_>>(),
            [(0, false), (time_column as i32, false)]
        );
        assert_eq!(group.column(0).column_path().string(), "trace_id");
        assert!(
            group.column(0).bloom_filter_offset().is_some(),
            "row group {i}"
        );
    }
    let found = (0..metadata.num_row_groups()).any(|g| {
        let group = reader.get_row_group(g).unwrap();
        group
            .get_column_bloom_filter(0)
            .expect("trace_id bloom filter")
            .check(&known_trace)
    });
    assert!(found, "the bloom filter does not know {known_trace}");
}
