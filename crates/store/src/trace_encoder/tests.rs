//! Tests of the traces encoder: every column round-trips through Parquet against an
//! independent oracle ([`testing::expected_trace_row`]); the per-category critical-path
//! columns and the top contributors come from the breakdown's summary when the trace has one
//! (network its own column, the sum exactly the path's window), and from span attributes
//! otherwise; the file carries the table's metadata, sort order, statistics and bloom
//! filter.

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
use tracegate_model::{
    Contributor, CriticalPathSummary, Fragment, ReleaseReason, Resource, SpanId, SpanKind, Status,
};
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
        critical_path: None,
        sampling: None,
        scores: Vec::new(),
    }
}

fn contributor(name: &str, service: &str, ms: u64) -> Contributor {
    Contributor {
        name: name.into(),
        service: service.into(),
        ns: ms * MS,
    }
}

/// The index of a category in the `cp_*_ns` columns.
fn cp_index(category: &str) -> usize {
    critical_path_category_index(Some(category))
}

/// A gateway calling a retriever over HTTP, as the breakdown leaves it (golden case 7 of the
/// breakdown crate, without the skew): span attributes and the trace's summary.
///
/// ```text
/// R gateway   SERVER 0 ──────────────────────────── 200   http
///   C gateway CLIENT    50 ─────────────── 150          http
///     S retriever SERVER   60 ─────────── 140           http
///       D retriever          70 ─────── 130             retrieval (qdrant search)
/// ```
/// Path: R 0..50 and 150..200 (100); C 50..60 and 140..150 (20, category network); S 60..70
/// and 130..140 (20); D 70..130 (60). The span attributes put C's 20 ms under its own
/// category, http; the summary puts it under network: http 120, network 20, retrieval 60.
fn cross_service_trace() -> Trace {
    let t0 = testing::LEAP_NIGHT;
    let span = |id: u8, parent: Option<u8>, (start, end): (u64, u64), service: &str| {
        let mut s = with_service(testing::span(0x5e, id, t0 + start * MS), service);
        s.end_time_unix_nano = t0 + end * MS;
        s.parent_span_id = parent.map(|p| SpanId([p; 8]));
        s
    };
    let annotate = |mut s: Span, category: &str, path_ms: i64| {
        s.attributes = vec![
            attr::string(keys::TRACEGATE_CATEGORY, category),
            attr::int(keys::TRACEGATE_CRITICAL_PATH_NS, path_ms * MS as i64),
        ];
        s
    };
    let mut root = annotate(span(1, None, (0, 200), "gateway"), "http", 100);
    root.name = "POST /ask".into();
    root.kind = SpanKind::Server;
    let mut client = annotate(span(2, Some(1), (50, 150), "gateway"), "http", 20);
    client.name = "POST retriever".into();
    client.kind = SpanKind::Client;
    let mut server = annotate(span(3, Some(2), (60, 140), "retriever"), "http", 20);
    server.name = "POST /search".into();
    server.kind = SpanKind::Server;
    server
        .attributes
        .push(attr::int(keys::TRACEGATE_NETWORK_NS, 20 * MS as i64));
    let mut db = annotate(span(4, Some(3), (70, 130), "retriever"), "retrieval", 60);
    db.name = "qdrant search".into();
    let mut by_category = [0; CATEGORIES];
    by_category[cp_index("http")] = 120 * MS;
    by_category[cp_index("network")] = 20 * MS;
    by_category[cp_index("retrieval")] = 60 * MS;
    Trace {
        trace_id: TraceId([0x5e; 16]),
        spans: vec![db, server, root, client],
        release_reason: ReleaseReason::Complete,
        tree_whole: true,
        fragment: None,
        critical_path: Some(Box::new(CriticalPathSummary {
            duration_ns: 200 * MS,
            by_category,
            top: vec![
                contributor("POST /ask", "gateway", 100),
                contributor("qdrant search", "retriever", 60),
                contributor("POST retriever", "gateway", 20),
            ],
        })),
        sampling: None,
        scores: Vec::new(),
    }
}

/// Traces of every kind: generated RAG traces, the edge-case spans, the hand-made RAG
/// trace, a trace with the breakdown's summary, an orphan with no root, fragments, each
/// release reason, and each kind of sampling decision (none, kept by a rule, kept and dropped
/// by a probabilistic policy).
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
        trace.sampling = match i % 4 {
            1 => Some(sampling(true, "errors", 1.0)),
            2 => Some(sampling(false, "rest", 0.1)),
            3 => Some(sampling(true, "rest", 0.1)),
            _ => None,
        };
        // Some whole traces carry a summary: all their time `other`, the first span on top;
        // one with an empty list.
        if trace.fragment.is_none() && i % 5 == 0 {
            let duration_ns = trace.end_time_unix_nano() - trace.start_time_unix_nano();
            let mut by_category = [0; CATEGORIES];
            by_category[cp_index("other")] = duration_ns;
            let first = &trace.spans[0];
            let top = if i == 0 {
                vec![]
            } else {
                vec![Contributor {
                    name: first.name.clone(),
                    service: first.service_name().to_owned(),
                    ns: duration_ns,
                }]
            };
            trace.critical_path = Some(Box::new(CriticalPathSummary {
                duration_ns,
                by_category,
                top,
            }));
        }
    }
    traces.push(rag_trace());
    traces.push(cross_service_trace());
    let orphan = child(testing::span(0x77, 1, testing::LEAP_NIGHT), 9);
    traces.push(Trace {
        trace_id: TraceId([0x77; 16]),
        spans: vec![orphan],
        release_reason: ReleaseReason::MaxWait,
        tree_whole: false,
        fragment: None,
        critical_path: None,
        sampling: None,
        scores: Vec::new(),
    });
    traces
}

fn sampling(sampled: bool, policy: &str, probability: f64) -> tracegate_model::Sampling {
    tracegate_model::Sampling {
        sampled,
        policy: policy.into(),
        probability,
    }
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
    let top = |r: &TraceRow| r.top_contributors.as_ref().map(Vec::len);
    assert!(actual.values().any(|r| top(r).is_none()));
    assert!(actual.values().any(|r| top(r) == Some(0)));
    assert!(actual.values().any(|r| top(r) == Some(1)));
    assert!(actual.values().any(|r| top(r) == Some(3)));
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
    for sampled in [None, Some(true), Some(false)] {
        assert!(actual.values().any(|r| r.sampled == sampled), "{sampled:?}");
    }
}

#[test]
fn records_the_sampling_decision_of_kept_and_dropped_traces_alike() {
    let mut kept = rag_trace();
    kept.sampling = Some(sampling(true, "errors", 1.0));
    let mut dropped = cross_service_trace();
    dropped.sampling = Some(sampling(false, "rest", 0.1));
    let (batch, _) = read_parquet(write(
        &[kept.clone(), dropped.clone()],
        &WriterOptions::default(),
    ));
    let rows = by_trace_id(trace_rows_of(&batch));
    assert_eq!(rows.len(), 2, "a dropped trace keeps its row");
    let decision = |t: &Trace| {
        let r = &rows[&t.trace_id.to_hex()];
        (r.sampled, r.sampling_policy.clone(), r.sampling_probability)
    };
    assert_eq!(
        decision(&kept),
        (Some(true), Some("errors".into()), Some(1.0))
    );
    assert_eq!(
        decision(&dropped),
        (Some(false), Some("rest".into()), Some(0.1))
    );
    assert_eq!(
        rows[&dropped.trace_id.to_hex()].span_count,
        dropped.spans.len() as i64,
        "the row describes every span, written or not"
    );
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
    // No summary on the trace: the largest shares by span attribute.
    let top = |name: &str, service: &str, ms: u64| (name.into(), service.into(), (ms * MS) as i64);
    assert_eq!(
        row.top_contributors,
        Some(vec![
            top("op-5", "llm", 300),
            top("op-4", "llm", 250),
            top("op-2", "retriever", 150),
        ])
    );
    // No sampler ran.
    assert_eq!(
        (
            row.sampled,
            row.sampling_policy.as_deref(),
            row.sampling_probability
        ),
        (None, None, None)
    );
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
            .downcast_ref::<arrow_array::Int64Array>()
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
    assert_eq!(row.top_contributors, None);
    assert_eq!((row.input_tokens, row.output_tokens), (None, None));
    assert_eq!((row.cost_usd, row.first_llm_ttft_ms), (None, None));
}

#[test]
fn critical_path_columns_come_from_the_summary_and_sum_to_its_duration() {
    let trace = cross_service_trace();
    let summary = trace.critical_path.as_deref().unwrap();
    let row = trace_rows_of(&TraceEncoder::encode([&trace]).unwrap()).remove(0);
    let ms = |category: &str| row.critical_path[cp_index(category)].map(|ns| ns / MS as i64);
    assert_eq!(ms("network"), Some(20), "network is its own column");
    assert_eq!(ms("http"), Some(120), "without the client's network time");
    assert_eq!(ms("retrieval"), Some(60));
    assert_eq!(ms("llm"), Some(0), "a category with no time is 0, not null");
    let total: i64 = row.critical_path.iter().map(|ns| ns.unwrap()).sum();
    assert_eq!(
        total, summary.duration_ns as i64,
        "exactly the path's window"
    );
    assert_eq!(total, row.duration_ns, "the root spans the whole trace");
    let top = |name: &str, service: &str, ms: u64| (name.into(), service.into(), (ms * MS) as i64);
    assert_eq!(
        row.top_contributors,
        Some(vec![
            top("POST /ask", "gateway", 100),
            top("qdrant search", "retriever", 60),
            top("POST retriever", "gateway", 20),
        ])
    );

    // Without the summary, the fallback sums the spans' attributes by their own category:
    // the same total, but the network time lands under http. Ties in the top three go to
    // the earliest start: the client (50 ms) before the server (60 ms), both 20 ms.
    let mut bare = trace;
    bare.critical_path = None;
    let row = trace_rows_of(&TraceEncoder::encode([&bare]).unwrap()).remove(0);
    let ms = |category: &str| row.critical_path[cp_index(category)].map(|ns| ns / MS as i64);
    assert_eq!((ms("network"), ms("http")), (Some(0), Some(140)));
    let total: i64 = row.critical_path.iter().map(|ns| ns.unwrap()).sum();
    assert_eq!(total, row.duration_ns);
    assert_eq!(
        row.top_contributors,
        Some(vec![
            top("POST /ask", "gateway", 100),
            top("qdrant search", "retriever", 60),
            top("POST retriever", "gateway", 20),
        ])
    );
}

#[test]
fn the_fallback_top_three_ranks_by_time_then_start_then_span_id() {
    let t0 = testing::LEAP_NIGHT;
    // (id, start ms, critical-path ms), pushed in an order that matches none of the ranks.
    let spans = [
        (9, 5, 10),
        (3, 5, 10),
        (1, 0, 0),
        (7, 2, 10),
        (5, 1, 30),
        (2, 3, 5),
    ]
    .map(|(id, start, path)| {
        let mut s = testing::span(0x33, id, t0 + start * MS);
        if id != 1 {
            s.parent_span_id = Some(SpanId([1; 8]));
        }
        s.attributes = vec![attr::int(
            keys::TRACEGATE_CRITICAL_PATH_NS,
            path * MS as i64,
        )];
        s
    });
    let trace = Trace {
        trace_id: TraceId([0x33; 16]),
        spans: spans.to_vec(),
        release_reason: ReleaseReason::Complete,
        tree_whole: true,
        fragment: None,
        critical_path: None,
        sampling: None,
        scores: Vec::new(),
    };
    let row = trace_rows_of(&TraceEncoder::encode([&trace]).unwrap()).remove(0);
    let names: Vec<&str> = row
        .top_contributors
        .as_ref()
        .unwrap()
        .iter()
        .map(|(name, _, _)| name.as_str())
        .collect();
    // 30 ms first; then of the 10 ms spans the earliest (op-7 at 2 ms), then op-3 over op-9
    // (same start, lower id).
    assert_eq!(names, ["op-5", "op-7", "op-3"]);
    assert_eq!(row, expected_trace_row(&trace));
}

#[test]
fn traces_with_no_spans_get_no_row() {
    let empty = Trace {
        trace_id: TraceId([1; 16]),
        spans: vec![],
        release_reason: ReleaseReason::Shutdown,
        tree_whole: true,
        fragment: None,
        critical_path: None,
        sampling: None,
        scores: Vec::new(),
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
