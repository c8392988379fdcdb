//! Fixtures and an independent oracle for the tests: spans (or traces) in, expected rows out,
//! and the rows actually found in a batch.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_select::concat::concat_batches;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaData;
use std::sync::Arc;
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::proto::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use tracegate_model::proto::trace::v1::span::{Event, Link};
use tracegate_model::schema::{self, col};
use tracegate_model::{
    Category, LlmStages, ReleaseReason, Resource, Scope, Span, SpanFacts, SpanId, SpanKind, Status,
    Trace, TraceId, TreeTimes, attr, keys,
};
use tracegate_testkit::{Generator, GeneratorConfig, Profile};

mod faults;
mod log;
pub mod logs;
mod moto;
mod traces;
pub use faults::{Failure, Fault, FaultyStore};
pub use log::TestLog;
pub use moto::{Moto, http, moto};
pub use traces::{TraceRow, expected_trace_row, group_into_traces, trace_rows_of};

/// 2024-02-29T23:59:59Z in ns.
pub const LEAP_NIGHT: u64 = 1_709_251_199_000_000_000;

/// A plain span.
pub fn span(trace: u8, id: u8, start: u64) -> Span {
    Span {
        resource: Arc::new(Resource::with_service("api")),
        scope: Arc::new(Scope {
            name: "lib".into(),
            version: "1.0".into(),
            ..Default::default()
        }),
        trace_id: TraceId([trace; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: format!("op-{id}"),
        kind: SpanKind::Internal,
        start_time_unix_nano: start,
        end_time_unix_nano: start.saturating_add(1_500),
        attributes: vec![attr::string("k", "v")],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        facts: Default::default(),
        origin: Default::default(),
        status: Status::default(),
    }
}

/// Spans that exercise every column and every odd case the encoder handles.
pub fn edge_case_spans() -> Vec<Span> {
    let resource = Arc::new(Resource {
        attributes: vec![
            attr::string(keys::SERVICE_NAME, "llm-service"),
            attr::int("process.pid", 42),
        ],
        service_name: "llm-service".into(),
        ..Default::default()
    });
    let empty_scope = Arc::new(Scope::default());
    let any = |v: Value| AnyValue { value: Some(v) };

    let mut llm = span(0xab, 1, LEAP_NIGHT);
    llm.resource = resource.clone();
    llm.kind = SpanKind::Client;
    llm.parent_span_id = Some(SpanId([9; 8]));
    llm.trace_state = "vendor=1".into();
    llm.end_time_unix_nano = LEAP_NIGHT + 2_000_000_000; // ends in the next hour
    llm.status = Status {
        code: 2,
        message: "rate limited".into(),
    };
    llm.attributes = vec![
        attr::string(keys::GEN_AI_OPERATION_NAME, "chat"),
        attr::string(keys::GEN_AI_SYSTEM, "openai"),
        attr::string(keys::GEN_AI_REQUEST_MODEL, "gpt-4o"),
        attr::string(keys::GEN_AI_RESPONSE_MODEL, "gpt-4o-2024-08-06"),
        attr::int(keys::GEN_AI_USAGE_INPUT_TOKENS, 1200),
        attr::string(keys::GEN_AI_USAGE_OUTPUT_TOKENS, " 300 "),
        attr::double(keys::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 100.0),
        attr::int(keys::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, 7),
        attr::int(keys::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 0),
        attr::kv(
            keys::GEN_AI_RESPONSE_FINISH_REASONS,
            Value::ArrayValue(ArrayValue {
                values: vec![any(Value::StringValue("stop".into()))],
            }),
        ),
        attr::double(keys::TRACEGATE_COST_USD, 0.0123),
        attr::double(keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, 0.25),
        attr::string(keys::TRACEGATE_DECODE_NS, "1750500000"),
        attr::double(keys::TRACEGATE_OUTPUT_TOKENS_PER_S, 171.4),
        attr::string(keys::TRACEGATE_CATEGORY, "llm"),
        attr::int(keys::TRACEGATE_SELF_TIME_NS, 1_900_000_000),
        attr::int(keys::TRACEGATE_CRITICAL_PATH_NS, 2_000_000_000),
        // A repeated key: the last one wins for the column, both stay in the map.
        attr::string(keys::GEN_AI_REQUEST_MODEL, "gpt-4o-mini"),
        attr::boolean("stream", true),
        attr::kv("payload", Value::BytesValue(vec![0xde, 0xad])),
        attr::kv(
            "tags",
            Value::KvlistValue(KeyValueList {
                values: vec![attr::string("a", "x\"y"), attr::int("b", 2)],
            }),
        ),
        KeyValue {
            key: "valueless".into(),
            value: None,
            ..Default::default()
        },
        attr::string("gen_ai.unknown", "ignored"),
    ];
    llm.events = vec![
        Event {
            time_unix_nano: LEAP_NIGHT + 250_000_000,
            name: "gen_ai.content.first_token".into(),
            attributes: vec![attr::int("index", 0)],
            ..Default::default()
        },
        Event {
            time_unix_nano: LEAP_NIGHT + 300_000_000,
            name: "empty".into(),
            ..Default::default()
        },
    ];
    llm.links = vec![
        Link {
            trace_id: vec![0x11; 16],
            span_id: vec![0x22; 8],
            trace_state: "k=v".into(),
            attributes: vec![attr::string("link.kind", "follows")],
            ..Default::default()
        },
        // Odd lengths are kept as sent.
        Link {
            trace_id: vec![1, 2, 3],
            span_id: vec![],
            ..Default::default()
        },
    ];

    let mut provider_wins = span(0xab, 2, LEAP_NIGHT - 5);
    provider_wins.attributes = vec![
        attr::string(keys::GEN_AI_PROVIDER_NAME, "anthropic"),
        attr::string(keys::GEN_AI_SYSTEM, "openai"),
        attr::string(keys::GEN_AI_RESPONSE_FINISH_REASONS, "end_turn"),
        attr::string(keys::GEN_AI_USAGE_INPUT_TOKENS, "many"),
    ];

    let mut bare = span(0x01, 3, 1_000);
    bare.scope = empty_scope;
    bare.attributes = vec![];
    bare.kind = SpanKind::Unspecified;
    bare.status = Status {
        code: 1,
        message: String::new(),
    };
    bare.end_time_unix_nano = 0; // ends before it starts: duration 0

    let mut server = span(0xff, 4, LEAP_NIGHT + 3_600_000_000_000);
    server.kind = SpanKind::Server;
    server.resource = resource;
    // Facts the latency breakdown derived: typed on the span, entries and columns in the file.
    server.facts = SpanFacts {
        category: Some(Category::Llm),
        tree: Some(TreeTimes {
            self_time_ns: 700,
            critical_path_ns: 900,
        }),
        llm: Some(LlmStages {
            prefill_ns: 250_000_000,
            decode_ns: 1_500_000,
        }),
        ttft_source: Some("event"),
        network_ns: Some(u64::MAX),
        skew_adjusted_ns: -40_000_000,
        orphan: true,
        cycle_broken: false,
        duplicate_span_id: true,
    };

    vec![
        llm,
        provider_wins,
        bare,
        server,
        span(0xab, 5, LEAP_NIGHT - 5),
    ]
}

/// Whole generated RAG traces.
pub fn testkit_spans(traces: usize, profile: Profile) -> Vec<Span> {
    let config = GeneratorConfig {
        seed: 11,
        profile,
        ..Default::default()
    };
    Generator::new(config).batch_with_traces(traces).spans
}

/// Map entries as (key, value).
pub type Entries = Vec<(String, Option<String>)>;

/// An event: (time, name, attributes).
pub type EventRow = (i64, String, Entries);
/// A link: (trace_id, span_id, trace_state, attributes).
pub type LinkRow = (String, String, Option<String>, Entries);

/// One row of the `spans` table, as plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub trace_state: Option<String>,
    pub service_name: String,
    pub name: String,
    pub kind: String,
    pub scope_name: Option<String>,
    pub scope_version: Option<String>,
    pub start_time: i64,
    pub end_time: i64,
    pub duration_ns: i64,
    pub status_code: String,
    pub status_message: Option<String>,
    pub resource_attributes: Entries,
    pub attributes: Entries,
    pub events: Vec<EventRow>,
    pub links: Vec<LinkRow>,
    pub category: Option<String>,
    pub gen_ai_operation: Option<String>,
    pub gen_ai_provider: Option<String>,
    pub request_model: Option<String>,
    pub response_model: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub decode_ms: Option<f64>,
    pub output_tokens_per_s: Option<f64>,
    pub finish_reason: Option<String>,
    pub self_time_ns: Option<i64>,
    pub critical_path_ns: Option<i64>,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn entries(attrs: &[KeyValue]) -> Entries {
    attrs
        .iter()
        .map(|kv| {
            let value = kv.value.as_ref().and_then(|v| v.value.as_ref()).map(|v| {
                let mut s = String::new();
                attr::render_into(Some(v), &mut s);
                s
            });
            (kv.key.clone(), value)
        })
        .collect()
}

/// What the archive should hold for `span`, worked out independently of the encoder.
pub fn expected_row(span: &Span) -> Row {
    // The archive holds what OTLP export would send: derived facts as `tracegate.*` keys.
    let exported = span.to_proto();
    let a = &exported.attributes;
    let finish_reason = match attr::get(a, keys::GEN_AI_RESPONSE_FINISH_REASONS) {
        Some(Value::StringValue(s)) => Some(s.clone()),
        Some(Value::ArrayValue(arr)) => arr.values.first().and_then(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        }),
        _ => None,
    };
    Row {
        trace_id: span.trace_id.to_hex(),
        span_id: span.span_id.to_hex(),
        parent_span_id: span.parent_span_id.map(|p| p.to_hex()),
        trace_state: non_empty(&span.trace_state),
        service_name: span.resource.service_name.clone(),
        name: span.name.clone(),
        kind: schema::kind_name(span.kind).to_owned(),
        scope_name: non_empty(&span.scope.name),
        scope_version: non_empty(&span.scope.version),
        start_time: span.start_time_unix_nano as i64,
        end_time: span.end_time_unix_nano as i64,
        duration_ns: span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano) as i64,
        status_code: schema::status_name(span.status.code).to_owned(),
        status_message: non_empty(&span.status.message),
        resource_attributes: entries(&span.resource.attributes),
        // Facts with a column of their own are not repeated in the map.
        attributes: {
            let mut map = entries(&span.attributes);
            let mut facts = vec![];
            span.facts.write_attributes(&mut facts);
            facts.retain(|kv| !crate::encoder::has_own_column(&kv.key));
            map.extend(entries(&facts));
            map
        },
        events: span
            .events
            .iter()
            .map(|e| {
                (
                    e.time_unix_nano as i64,
                    e.name.clone(),
                    entries(&e.attributes),
                )
            })
            .collect(),
        links: span
            .links
            .iter()
            .map(|l| {
                (
                    hex(&l.trace_id),
                    hex(&l.span_id),
                    non_empty(&l.trace_state),
                    entries(&l.attributes),
                )
            })
            .collect(),
        category: attr::get_str(a, keys::TRACEGATE_CATEGORY).map(str::to_owned),
        gen_ai_operation: attr::get_str(a, keys::GEN_AI_OPERATION_NAME).map(str::to_owned),
        gen_ai_provider: attr::get_str(a, keys::GEN_AI_PROVIDER_NAME)
            .or_else(|| attr::get_str(a, keys::GEN_AI_SYSTEM))
            .map(str::to_owned),
        request_model: attr::get_str(a, keys::GEN_AI_REQUEST_MODEL).map(str::to_owned),
        response_model: attr::get_str(a, keys::GEN_AI_RESPONSE_MODEL).map(str::to_owned),
        input_tokens: attr::get_i64(a, keys::GEN_AI_USAGE_INPUT_TOKENS),
        output_tokens: attr::get_i64(a, keys::GEN_AI_USAGE_OUTPUT_TOKENS),
        cache_read_tokens: attr::get_i64(a, keys::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        cache_write_tokens: attr::get_i64(a, keys::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
        reasoning_tokens: attr::get_i64(a, keys::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
        cost_usd: attr::get_f64(a, keys::TRACEGATE_COST_USD),
        // The breakdown's prefill is the TTFT, from the same extraction.
        ttft_ms: match attr::get_f64(a, keys::TRACEGATE_PREFILL_NS) {
            Some(ns) if span.facts.llm.is_some() => Some(ns / 1e6),
            _ => attr::get_f64(a, keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK).map(|s| s * 1e3),
        },
        decode_ms: attr::get_f64(a, keys::TRACEGATE_DECODE_NS).map(|ns| ns / 1e6),
        output_tokens_per_s: attr::get_f64(a, keys::TRACEGATE_OUTPUT_TOKENS_PER_S),
        finish_reason,
        self_time_ns: attr::get_i64(a, keys::TRACEGATE_SELF_TIME_NS),
        critical_path_ns: attr::get_i64(a, keys::TRACEGATE_CRITICAL_PATH_NS),
    }
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let array = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    array
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

fn required(batch: &RecordBatch, name: &str) -> Vec<String> {
    strings(batch, name)
        .into_iter()
        .map(|v| v.unwrap_or_else(|| panic!("null in {name}")))
        .collect()
}

fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Int64Type>()
        .iter()
        .collect()
}

fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

fn times(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let array = batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<TimestampNanosecondType>();
    assert_eq!(array.null_count(), 0, "{name}");
    array.values().to_vec()
}

fn map_rows(array: &dyn Array) -> Vec<Entries> {
    let map = array.as_map();
    (0..map.len())
        .map(|i| {
            let entry = map.value(i);
            let keys = entry.column(0).as_string::<i32>();
            let values = entry.column(1).as_string::<i32>();
            (0..entry.len())
                .map(|j| {
                    (
                        keys.value(j).to_owned(),
                        values.is_valid(j).then(|| values.value(j).to_owned()),
                    )
                })
                .collect()
        })
        .collect()
}

/// The rows of a `spans` batch, as plain values.
pub fn rows_of(batch: &RecordBatch) -> Vec<Row> {
    assert_eq!(
        batch.schema().fields(),
        schema::spans_schema().fields(),
        "schema"
    );
    let n = batch.num_rows();
    let trace_id = required(batch, col::TRACE_ID);
    let span_id = required(batch, col::SPAN_ID);
    let parent = strings(batch, col::PARENT_SPAN_ID);
    let trace_state = strings(batch, col::TRACE_STATE);
    let service = required(batch, col::SERVICE_NAME);
    let name = required(batch, col::NAME);
    let kind = required(batch, col::KIND);
    let scope_name = strings(batch, col::SCOPE_NAME);
    let scope_version = strings(batch, col::SCOPE_VERSION);
    let start = times(batch, col::START_TIME);
    let end = times(batch, col::END_TIME);
    let duration = ints(batch, col::DURATION_NS);
    let status_code = required(batch, col::STATUS_CODE);
    let status_message = strings(batch, col::STATUS_MESSAGE);
    let resource_attributes = map_rows(batch.column_by_name(col::RESOURCE_ATTRIBUTES).unwrap());
    let attributes = map_rows(batch.column_by_name(col::ATTRIBUTES).unwrap());

    let events_list = batch.column_by_name(col::EVENTS).unwrap().as_list::<i32>();
    let events: Vec<Vec<EventRow>> = (0..n)
        .map(|i| {
            let item = events_list.value(i);
            let s = item.as_struct();
            let t = s.column(0).as_primitive::<TimestampNanosecondType>();
            let names = s.column(1).as_string::<i32>();
            let attrs = map_rows(s.column(2));
            (0..s.len())
                .map(|j| (t.value(j), names.value(j).to_owned(), attrs[j].clone()))
                .collect()
        })
        .collect();
    let links_list = batch.column_by_name(col::LINKS).unwrap().as_list::<i32>();
    let links: Vec<Vec<LinkRow>> = (0..n)
        .map(|i| {
            let item = links_list.value(i);
            let s = item.as_struct();
            let tid = s.column(0).as_string::<i32>();
            let sid = s.column(1).as_string::<i32>();
            let ts = s.column(2).as_string::<i32>();
            let attrs = map_rows(s.column(3));
            (0..s.len())
                .map(|j| {
                    let state = ts.is_valid(j).then(|| ts.value(j).to_owned());
                    (
                        tid.value(j).to_owned(),
                        sid.value(j).to_owned(),
                        state,
                        attrs[j].clone(),
                    )
                })
                .collect()
        })
        .collect();

    let category = strings(batch, col::CATEGORY);
    let operation = strings(batch, col::GEN_AI_OPERATION);
    let provider = strings(batch, col::GEN_AI_PROVIDER);
    let request_model = strings(batch, col::REQUEST_MODEL);
    let response_model = strings(batch, col::RESPONSE_MODEL);
    let input_tokens = ints(batch, col::INPUT_TOKENS);
    let output_tokens = ints(batch, col::OUTPUT_TOKENS);
    let cache_read = ints(batch, col::CACHE_READ_TOKENS);
    let cache_write = ints(batch, col::CACHE_WRITE_TOKENS);
    let reasoning = ints(batch, col::REASONING_TOKENS);
    let cost = floats(batch, col::COST_USD);
    let ttft = floats(batch, col::TTFT_MS);
    let decode = floats(batch, col::DECODE_MS);
    let tps = floats(batch, col::OUTPUT_TOKENS_PER_S);
    let finish = strings(batch, col::FINISH_REASON);
    let self_time = ints(batch, col::SELF_TIME_NS);
    let critical = ints(batch, col::CRITICAL_PATH_NS);

    (0..n)
        .map(|i| Row {
            trace_id: trace_id[i].clone(),
            span_id: span_id[i].clone(),
            parent_span_id: parent[i].clone(),
            trace_state: trace_state[i].clone(),
            service_name: service[i].clone(),
            name: name[i].clone(),
            kind: kind[i].clone(),
            scope_name: scope_name[i].clone(),
            scope_version: scope_version[i].clone(),
            start_time: start[i],
            end_time: end[i],
            duration_ns: duration[i].unwrap(),
            status_code: status_code[i].clone(),
            status_message: status_message[i].clone(),
            resource_attributes: resource_attributes[i].clone(),
            attributes: attributes[i].clone(),
            events: events[i].clone(),
            links: links[i].clone(),
            category: category[i].clone(),
            gen_ai_operation: operation[i].clone(),
            gen_ai_provider: provider[i].clone(),
            request_model: request_model[i].clone(),
            response_model: response_model[i].clone(),
            input_tokens: input_tokens[i],
            output_tokens: output_tokens[i],
            cache_read_tokens: cache_read[i],
            cache_write_tokens: cache_write[i],
            reasoning_tokens: reasoning[i],
            cost_usd: cost[i],
            ttft_ms: ttft[i],
            decode_ms: decode[i],
            output_tokens_per_s: tps[i],
            finish_reason: finish[i].clone(),
            self_time_ns: self_time[i],
            critical_path_ns: critical[i],
        })
        .collect()
}

/// Reads a Parquet file back: all rows in one batch, and the file's metadata.
pub fn read_parquet(file: Bytes) -> (RecordBatch, Arc<ParquetMetaData>) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let metadata = builder.metadata().clone();
    let schema = builder.schema().clone();
    let batches: Vec<_> = builder.build().unwrap().collect::<Result<_, _>>().unwrap();
    (concat_batches(&schema, &batches).unwrap(), metadata)
}

/// True when the rows are sorted by (trace_id, start_time).
pub fn is_sorted(rows: &[Row]) -> bool {
    rows.windows(2)
        .all(|w| (&w[0].trace_id, w[0].start_time) <= (&w[1].trace_id, w[1].start_time))
}
