//! Tests of the traces encoder: every column round-trips through Parquet against an
//! independent oracle ([`testing::expected_trace_row`]); the per-category critical-path
//! columns sum from span attributes; the file carries the table's metadata, sort order,
//! statistics and bloom filter.

use super::*;
use crate::testing::{
    self, TraceRow, expected_trace_row, group_into_traces, read_parquet, trace_rows_of,
};
use crate::writer::{WriterOptions, write_traces};
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::ReadOptionsBuilder;
use std::collections::HashMap;
use tracegate_model::schema::{SCHEMA_VERSION_KEY, TABLE_KEY, TRACES_SCHEMA_VERSION};
use tracegate_model::{Fragment, ReleaseReason, Resource, SpanId, Status};
use tracegate_testkit::Profile;

const MS: u64 = 1_000_000;

fn with_service(mut span: Span, service: &str) -> Span {
    span.resource = Arc::new(Resource::with_service(service));
    span
}

fn child(mut span: Span, parent: u8) -> Span {
    span.parent_span_id = Some(SpanId([parent; 8]));
    span
}

/// A RAG trace across three services whose spans carry breakdown and LLM attributes.
fn rag_trace() -> Trace {
    let t0 = testing::LEAP_NIGHT;
    let mut root = with_service(testing::span(0x42, 1, t0), "gateway");
    root.name = "POST /chat".into();
    root.end_time_unix_nano = t0 + 900 * MS;
    root.attributes = vec![
        attr::string(keys::TRACEGATE_CATEGORY, "http"),
        attr::int(keys::TRACEGATE_CRITICAL_PATH_NS, 100_000_000),
    ];
    let mut retrieve = child(
        with_service(testing::span(0x42, 2, t0 + 10 * MS), "retriever"),
        1,
    );
    retrieve.attributes = vec![
        attr::string(keys::TRACEGATE_CATEGORY, "retrieval"),
        attr::int(keys::TRACEGATE_CRITICAL_PATH_NS, 150_000_000),
    ];
    let mut embed = child(
        with_service(testing::span(0x42, 3, t0 + 12 * MS), "retriever"),
        2,
    );
    embed.attributes = vec![
        attr::string(keys::TRACEGATE_CATEGORY, "embedding"),
        attr::string(keys::TRACEGATE_CRITICAL_PATH_NS, "50000000"),
        attr::int(keys::GEN_AI_USAGE_INPUT_TOKENS, 30),
        attr::double(keys::TRACEGATE_COST_USD, 0.0001),
    ];
    // Two LLM calls: the first to start gives the TTFT, whatever the arrival order.
    let mut second_llm = child(
        with_service(testing::span(0x42, 5, t0 + 500 * MS), "llm"),
        1,
    );
    second_llm.attributes = vec![
        attr::string(keys::TRACEGATE_CATEGORY, "llm"),
        attr::int(keys::TRACEGATE_CRITICAL_PATH_NS, 300_000_000),
        attr::int(keys::GEN_AI_USAGE_INPUT_TOKENS, 1_000),
        attr::int(keys::GEN_AI_USAGE_OUTPUT_TOKENS, 200),
        attr::double(keys::TRACEGATE_COST_USD, 0.02),
        attr::double(keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, 0.4),
    ];
    let mut first_llm = child(
        with_service(testing::span(0x42, 4, t0 + 200 * MS), "llm"),
        1,
    );
    first_llm.status = Status {
        code: 2,
        message: "retry".into(),
    };
    first_llm.attributes = vec![
        attr::string(keys::TRACEGATE_CATEGORY, "llm"),
        attr::int(keys::TRACEGATE_CRITICAL_PATH_NS, 250_000_000),
        attr::int(keys::GEN_AI_USAGE_INPUT_TOKENS, 800),
        attr::string(keys::GEN_AI_USAGE_OUTPUT_TOKENS, "50"),
        attr::double(keys::TRACEGATE_COST_USD, 0.01),
        attr::double(keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, 0.25),
    ];
    // An unknown category counts as `other`; a span with no category too.
    let mut vector_db = child(
        with_service(testing::span(0x42, 6, t0 + 20 * MS), "retriever"),
        2,
    );
    vector_db.attributes = vec![
        attr::string(keys::TRACEGATE_CATEGORY, "vector_search"),
        attr::int(keys::TRACEGATE_CRITICAL_PATH_NS, 40_000_000),
    ];
    let mut uncategorised = child(testing::span(0x42, 7, t0 + 30 * MS), 1);
    uncategorised.attributes = vec![attr::int(keys::TRACEGATE_CRITICAL_PATH_NS, 10_000_000)];
    Trace {
        trace_id: TraceId([0x42; 16]),
        spans: vec![
            second_llm,
            embed,
            root,
            first_llm,
            retrieve,
            vector_db,
            uncategorised,
        ],
        release_reason: ReleaseReason::Complete,
        tree_whole: true,
        fragment: None,
    }
}

/// Traces of every kind: generated RAG traces, the edge-case spans, the hand-made RAG
/// trace, an orphan with no root, fragments, and each release reason.
fn traces() -> Vec<Trace> {
    let mut spans = testing::testkit_spans(40, Profile::Rag);
    spans.extend(testing::edge_case_spans());
    let mut traces = group_into_traces(&spans);
    let reasons = [
        ReleaseReason::Complete,
        ReleaseReason::MaxWait,
        ReleaseReason::Evicted,
        ReleaseReason::Shutdown,
    ];
    for (i, trace) in traces.iter_mut().enumerate() {
        trace.release_reason = reasons[i % reasons.len()];
        trace.tree_whole = i % 3 != 0;
        trace.fragment = match i % 7 {
            1 => Some(Fragment::Late),
            2 => Some(Fragment::OverCap),
            _ => None,
        };
    }
    traces.push(rag_trace());
    let orphan = child(testing::span(0x77, 1, testing::LEAP_NIGHT), 9);
    traces.push(Trace {
        trace_id: TraceId([0x77; 16]),
        spans: vec![orphan],
        release_reason: ReleaseReason::MaxWait,
        tree_whole: false,
        fragment: None,
    });
    traces
}

fn by_trace_id(rows: Vec<TraceRow>) -> HashMap<String, TraceRow> {
    rows.into_iter().map(|r| (r.trace_id.clone(), r)).collect()
}

fn write(traces: &[Trace], options: &WriterOptions) -> bytes::Bytes {
    let mut encoder = TraceEncoder::new();
    traces.iter().for_each(|t| {
        encoder.push(t);
    });
    let encoded = encoder.finish().unwrap();
    write_traces(&encoded.batch, Some(&encoded.order), options).unwrap()
}

#[test]
fn round_trips_every_column_through_parquet() {
    let traces = traces();
    let (batch, _) = read_parquet(write(&traces, &WriterOptions::default()));
    let rows = trace_rows_of(&batch);
    assert_eq!(rows.len(), traces.len());
    assert!(
        rows.windows(2)
            .all(|w| (&w[0].trace_id, w[0].start_time) <= (&w[1].trace_id, w[1].start_time)),
        "rows sorted by trace_id, then start_time"
    );
    let actual = by_trace_id(rows);
    assert_eq!(actual.len(), traces.len(), "one row per trace");
    for trace in &traces {
        let expected = expected_trace_row(trace);
        assert_eq!(
            actual[&expected.trace_id], expected,
            "{}",
            expected.trace_id
        );
    }
    // The oracle and the encoder agree on the flags the schema derives.
    assert!(actual.values().any(|r| r.complete));
    assert!(actual.values().any(|r| !r.complete));
    assert!(
        actual
            .values()
            .any(|r| r.fragment.as_deref() == Some("late"))
    );
    assert!(
        actual
            .values()
            .any(|r| r.fragment.as_deref() == Some("over_cap"))
    );
    for reason in ["complete", "max_wait", "evicted", "shutdown"] {
        assert!(
            actual.values().any(|r| r.release_reason == reason),
            "{reason}"
        );
    }
}

#[test]
fn summarises_a_rag_trace_by_hand() {
    let trace = rag_trace();
    let row = trace_rows_of(&TraceEncoder::encode([&trace]).unwrap()).remove(0);
    let t0 = testing::LEAP_NIGHT as i64;
    assert_eq!(row.trace_id, "42".repeat(16));
    assert_eq!(row.root_service.as_deref(), Some("gateway"));
    assert_eq!(row.root_name.as_deref(), Some("POST /chat"));
    assert_eq!(row.start_time, t0);
    assert_eq!(row.end_time, t0 + 900 * MS as i64);
    assert_eq!(row.duration_ns, 900 * MS as i64);
    assert_eq!(row.span_count, 7);
    assert_eq!(row.error_count, 1);
    // `testing::span` runs as service "api".
    assert_eq!(row.services, ["api", "gateway", "llm", "retriever"]);
    assert!(row.complete);
    assert_eq!(row.release_reason, "complete");
    assert_eq!(row.fragment, None);
    assert_eq!(row.input_tokens, Some(1_830));
    assert_eq!(row.output_tokens, Some(250));
    assert!((row.cost_usd.unwrap() - 0.0301).abs() < 1e-12);
    assert_eq!(row.first_llm_ttft_ms, Some(250.0));
    assert_eq!(row.sampling_decision, None);
    assert_eq!(row.sampling_policy, None);
}

#[test]
fn critical_path_columns_sum_by_category_from_span_attributes() {
    let trace = rag_trace();
    let batch = TraceEncoder::encode([&trace]).unwrap();
    let cp = |column: &str| {
        batch
            .column_by_name(column)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap()
            .iter()
            .next()
            .flatten()
    };
    use traces_col as t;
    assert_eq!(cp(t::CP_LLM_NS), Some(550_000_000), "two LLM spans");
    assert_eq!(cp(t::CP_RETRIEVAL_NS), Some(150_000_000));
    assert_eq!(cp(t::CP_EMBEDDING_NS), Some(50_000_000), "a numeric string");
    assert_eq!(cp(t::CP_HTTP_NS), Some(100_000_000));
    assert_eq!(
        cp(t::CP_OTHER_NS),
        Some(50_000_000),
        "an unknown category and a missing one"
    );
    for column in [
        t::CP_RERANK_NS,
        t::CP_TOOL_NS,
        t::CP_AGENT_NS,
        t::CP_CHAIN_NS,
        t::CP_GUARDRAIL_NS,
        t::CP_DB_NS,
        t::CP_MESSAGING_NS,
        t::CP_NETWORK_NS,
    ] {
        assert_eq!(cp(column), Some(0), "{column}: on the path, but no time");
    }
    let total: i64 = CRITICAL_PATH_CATEGORIES
        .iter()
        .map(|(_, c)| cp(c).unwrap())
        .sum();
    let attributes: i64 = trace
        .spans
        .iter()
        .filter_map(|s| attr::get_i64(&s.attributes, keys::TRACEGATE_CRITICAL_PATH_NS))
        .sum();
    assert_eq!(total, attributes, "categories partition the critical path");

    // With no breakdown attributes, the columns are null rather than zero.
    let mut bare = trace;
    for span in &mut bare.spans {
        span.attributes.clear();
    }
    let row = trace_rows_of(&TraceEncoder::encode([&bare]).unwrap()).remove(0);
    assert!(row.critical_path.iter().all(Option::is_none));
    assert_eq!((row.input_tokens, row.output_tokens), (None, None));
    assert_eq!((row.cost_usd, row.first_llm_ttft_ms), (None, None));
}

#[test]
fn traces_with_no_spans_get_no_row() {
    let empty = Trace {
        trace_id: TraceId([1; 16]),
        spans: vec![],
        release_reason: ReleaseReason::Shutdown,
        tree_whole: true,
        fragment: None,
    };
    let mut encoder = TraceEncoder::new();
    assert_eq!(encoder.push(&empty), 0);
    assert!(encoder.is_empty());
    assert_eq!(encoder.estimated_bytes(), 0);
    assert_eq!(encoder.finish().unwrap().batch.num_rows(), 0);
}

#[test]
fn files_carry_metadata_sort_order_statistics_and_bloom_filters() {
    let traces = group_into_traces(&testing::testkit_spans(300, Profile::Tiny));
    let options = WriterOptions {
        row_group_rows: 100,
        ..Default::default()
    };
    let file = write(&traces, &options);
    let (_, metadata) = read_parquet(file.clone());
    let kv: HashMap<_, _> = metadata
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect();
    assert_eq!(kv[TABLE_KEY].as_deref(), Some("traces"));
    assert_eq!(
        kv[SCHEMA_VERSION_KEY].as_deref(),
        Some(TRACES_SCHEMA_VERSION)
    );
    let groups = metadata.row_groups();
    assert_eq!(groups.len(), traces.len().div_ceil(100));
    for group in groups {
        let sorting = group.sorting_columns().unwrap();
        assert_eq!(
            sorting.iter().map(|c| c.column_idx).collect::<Vec<_>>(),
            [0, 3]
        );
        let stats = group.column(0).statistics().unwrap();
        assert!(stats.min_bytes_opt().is_some() && stats.max_bytes_opt().is_some());
        assert!(group.column(0).bloom_filter_offset().is_some());
    }
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
    let group = reader.get_row_group(0).unwrap();
    let bloom = group
        .get_column_bloom_filter(0)
        .expect("trace_id bloom filter");
    let first = traces.iter().map(|t| t.trace_id.to_hex()).min().unwrap();
    assert!(bloom.check(&first.as_str()));
}
