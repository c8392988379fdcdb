//! The shipped views and the `spans` table on a hand-built fixture: an archive of two days
//! and a hot tier that holds one of its traces again plus one the archive lacks. Every
//! expected number below is worked out by hand from the fixture.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use object_store::local::LocalFileSystem;
use std::path::Path;
use std::sync::Arc;
use tracegate_model::attr;
use tracegate_model::proto::common::v1::KeyValue;
use tracegate_model::{Resource, Scope, Score, Span, SpanId, SpanKind, Status, TraceId};
use tracegate_sql::{Engine, Limits, Sources};
use tracegate_store::layout::{HourPartition, Partition, partition_file_path};
use tracegate_store::{ScoreEncoder, SpanEncoder, WriterOptions, write_scores, write_spans};

const NS: u64 = 1_000_000_000;
/// 2026-11-01T10:00:00Z and 2026-11-02T09:00:00Z.
const DAY1_10H: u64 = 1_793_527_200 * NS;
const DAY2_09H: u64 = 1_793_610_000 * NS;

fn span(trace: u8, id: u8, start: u64, ms: u64, attrs: Vec<KeyValue>) -> Span {
    Span {
        resource: Arc::new(Resource::with_service("rag-api")),
        scope: Arc::new(Scope::default()),
        trace_id: TraceId([trace; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: format!("op-{id}"),
        kind: SpanKind::Internal,
        start_time_unix_nano: start,
        end_time_unix_nano: start + ms * 1_000_000,
        attributes: attrs,
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

fn llm(model: &str, input: i64, output: i64, cost: f64, ttft_ms: Option<f64>) -> Vec<KeyValue> {
    let mut attrs = vec![
        attr::string("gen_ai.request.model", model),
        attr::int("gen_ai.usage.input_tokens", input),
        attr::int("gen_ai.usage.output_tokens", output),
        attr::double("tracegate.cost_usd", cost),
        attr::string("tracegate.category", "llm"),
    ];
    if let Some(t) = ttft_ms {
        attrs.push(attr::double("gen_ai.response.time_to_first_chunk", t / 1e3));
    }
    attrs
}

fn encode(spans: &[Span]) -> bytes::Bytes {
    let mut encoder = SpanEncoder::new();
    spans.iter().for_each(|s| encoder.push(s));
    let encoded = encoder.finish().unwrap();
    write_spans(
        &encoded.batch,
        Some(&encoded.order),
        &WriterOptions::default(),
    )
    .unwrap()
}

fn put(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Trace 1 (user u1, day 1): a root, a gpt-4o call (100 in, 50 out, $0.01, 1000 ms, TTFT
/// 200 ms) and a gpt-4o-mini call (10 in, 5 out, $0.001, 100 ms).
/// Trace 2 (user u2, day 2): a root and a gpt-4o call (200 in, 100 out, $0.02, 3000 ms) that
/// failed with error.type timeout.
/// The hot tier: trace 2 again (the same ids), and trace 3 (day 2, 11:00, no user): a gpt-4o
/// call (300 in, 150 out, $0.03, 2000 ms).
fn fixture(dir: &Path) -> Sources {
    let archive = dir.join("archive");
    let hot = dir.join("hot");
    let mut root1 = span(1, 1, DAY1_10H, 1_500, vec![attr::string("user.id", "u1")]);
    root1.kind = SpanKind::Server;
    let a = span(
        1,
        2,
        DAY1_10H + NS,
        1_000,
        llm("gpt-4o", 100, 50, 0.01, Some(200.0)),
    );
    let b = span(
        1,
        3,
        DAY1_10H + 2 * NS,
        100,
        llm("gpt-4o-mini", 10, 5, 0.001, None),
    );
    let root2 = span(2, 1, DAY2_09H, 3_500, vec![attr::string("user.id", "u2")]);
    let mut c = span(
        2,
        2,
        DAY2_09H + NS,
        3_000,
        llm("gpt-4o", 200, 100, 0.02, None),
    );
    c.attributes.push(attr::string("error.type", "timeout"));
    c.status = Status {
        code: 2,
        message: "deadline exceeded".into(),
    };
    let partition = |ns| Partition::new(None, HourPartition::of_unix_nanos(ns));
    let p1 = partition_file_path(
        &Default::default(),
        "spans",
        &partition(DAY1_10H),
        "gw",
        ulid::Ulid::from_parts(1, 1),
    );
    let p2 = partition_file_path(
        &Default::default(),
        "spans",
        &partition(DAY2_09H),
        "gw",
        ulid::Ulid::from_parts(2, 2),
    );
    put(&archive, p1.as_ref(), &encode(&[root1, a, b]));
    put(&archive, p2.as_ref(), &encode(&[root2.clone(), c.clone()]));

    // Scores: trace 2's call was rated 0.2 (low), trace 1's 0.9.
    let mut scores = ScoreEncoder::new();
    for (trace, value) in [(1u8, 0.9), (2, 0.2)] {
        scores.push(
            &Score {
                name: "relevance".into(),
                value: Some(value),
                trace_id: Some(TraceId([trace; 16])),
                span_id: Some(SpanId([2; 8])),
                time_unix_nano: DAY2_09H,
                service_name: "evaluator".into(),
                ..Score::default()
            },
            DAY2_09H,
        );
    }
    let scores = scores.finish().unwrap();
    let p3 = partition_file_path(
        &Default::default(),
        "scores",
        &partition(DAY2_09H),
        "gw",
        ulid::Ulid::from_parts(3, 3),
    );
    put(
        &archive,
        p3.as_ref(),
        &write_scores(&scores.batch, &scores.order, &WriterOptions::default()).unwrap(),
    );

    let d = span(
        3,
        2,
        DAY2_09H + 2 * 3_600 * NS,
        2_000,
        llm("gpt-4o", 300, 150, 0.03, None),
    );
    let tenant_dir = hot.join(tracegate_model::DEFAULT_TENANT);
    put(
        &tenant_dir,
        "TENANT",
        tracegate_model::DEFAULT_TENANT.as_bytes(),
    );
    put(
        &tenant_dir,
        &format!("{}.parquet", ulid::Ulid::from_parts(4, 4)),
        &encode(&[root2, c, d]),
    );

    Sources {
        archive: Some((
            Arc::new(LocalFileSystem::new_with_prefix(&archive).unwrap()),
            Default::default(),
        )),
        hot: Some(hot),
        tenant: None,
    }
}

async fn rows(engine: &Engine, sql: &str) -> Vec<RecordBatch> {
    engine
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .1
}

fn strings(batches: &[RecordBatch], col: usize) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let c = datafusion::arrow::compute::cast(
                b.column(col),
                &datafusion::arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            (0..c.len())
                .map(|i| {
                    if c.is_null(i) {
                        "NULL".to_owned()
                    } else {
                        c.as_string::<i32>().value(i).to_owned()
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn floats(batches: &[RecordBatch], col: usize) -> Vec<f64> {
    batches
        .iter()
        .flat_map(|b| {
            let c = datafusion::arrow::compute::cast(
                b.column(col),
                &datafusion::arrow::datatypes::DataType::Float64,
            )
            .unwrap();
            c.as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.unwrap_or(f64::NAN))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn spans_holds_hot_and_cold_each_span_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(&fixture(dir.path()), Limits::default())
        .await
        .unwrap();
    let b = rows(
        &engine,
        "SELECT count(*), count(DISTINCT trace_id || span_id) FROM spans",
    )
    .await;
    assert_eq!(
        b[0].column(0).as_primitive::<Int64Type>().value(0),
        6,
        "3 + 2 archived, 1 only hot"
    );
    assert_eq!(b[0].column(1).as_primitive::<Int64Type>().value(0), 6);
    let b = rows(
        &engine,
        "SELECT (SELECT count(*) FROM archive_spans) AS a, (SELECT count(*) FROM hot_spans) AS h",
    )
    .await;
    assert_eq!(floats(&b, 0), [5.0]);
    assert_eq!(floats(&b, 1), [3.0]);
    // The hot-only span's partition columns come from its start time.
    let b = rows(
        &engine,
        "SELECT dt, hour FROM spans WHERE trace_id = '03030303030303030303030303030303'",
    )
    .await;
    assert_eq!(strings(&b, 0), ["2026-11-02"]);
    assert_eq!(strings(&b, 1), ["11"]);
    // dt prunes partitions.
    let b = rows(
        &engine,
        "SELECT count(*) FROM spans WHERE dt = '2026-11-01'",
    )
    .await;
    assert_eq!(floats(&b, 0), [3.0]);
}

#[tokio::test]
async fn the_shipped_views_give_the_hand_worked_answers() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(&fixture(dir.path()), Limits::default())
        .await
        .unwrap();

    let b = rows(
        &engine,
        "SELECT * FROM cost_per_model_day ORDER BY day, cost_usd DESC",
    )
    .await;
    assert_eq!(strings(&b, 0), ["2026-11-01", "2026-11-01", "2026-11-02"]);
    assert_eq!(strings(&b, 1), ["gpt-4o", "gpt-4o-mini", "gpt-4o"]);
    assert_eq!(floats(&b, 2), [1.0, 1.0, 2.0]);
    assert_eq!(floats(&b, 3), [100.0, 10.0, 500.0]);
    assert_eq!(floats(&b, 4), [50.0, 5.0, 250.0]);
    let cost = floats(&b, 5);
    for (got, want) in cost.iter().zip([0.01, 0.001, 0.05]) {
        assert!((got - want).abs() < 1e-12, "{cost:?}");
    }

    let b = rows(&engine, "SELECT day, user_id, traces, llm_calls, cost_usd FROM cost_per_user_day ORDER BY day, cost_usd DESC").await;
    assert_eq!(strings(&b, 0), ["2026-11-01", "2026-11-02", "2026-11-02"]);
    assert_eq!(strings(&b, 1), ["u1", "(none)", "u2"]);
    assert_eq!(floats(&b, 3), [2.0, 1.0, 1.0]);
    let cost = floats(&b, 4);
    for (got, want) in cost.iter().zip([0.011, 0.03, 0.02]) {
        assert!((got - want).abs() < 1e-12, "{cost:?}");
    }

    let b = rows(
        &engine,
        "SELECT model, calls, p50_ms, ttft_p50_ms FROM latency_by_model ORDER BY model",
    )
    .await;
    assert_eq!(strings(&b, 0), ["gpt-4o", "gpt-4o-mini"]);
    assert_eq!(floats(&b, 1), [3.0, 1.0]);
    // gpt-4o: 1000, 3000 and 2000 ms; the median is 2000. Its only TTFT is 200 ms.
    assert_eq!(floats(&b, 2), [2000.0, 100.0]);
    assert_eq!(floats(&b, 3)[0], 200.0);

    let b = rows(&engine, "SELECT * FROM error_rate_by_class").await;
    assert_eq!(strings(&b, 0), ["rag-api"]);
    assert_eq!(strings(&b, 1), ["timeout"]);
    assert_eq!(floats(&b, 2), [1.0]);
    assert_eq!(floats(&b, 3), [6.0]);
    assert!((floats(&b, 4)[0] - 1.0 / 6.0).abs() < 1e-12);

    let b = rows(&engine, "SELECT trace_id, value FROM low_score_traces").await;
    assert_eq!(strings(&b, 0), ["02020202020202020202020202020202"]);
    assert_eq!(floats(&b, 1), [0.2]);

    // slowest_stages plans and runs (the fixture has no critical-path column values).
    assert!(
        rows(&engine, "SELECT * FROM slowest_stages")
            .await
            .iter()
            .all(|b| b.num_rows() == 0)
    );
}

#[tokio::test]
async fn queries_are_read_only_and_errors_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(&fixture(dir.path()), Limits::default())
        .await
        .unwrap();
    for sql in [
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/etc/'",
        "COPY (SELECT 1) TO '/tmp/x.parquet'",
        "INSERT INTO scores SELECT * FROM scores",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let err = engine.query(sql).await.unwrap_err();
        assert!(err.is_bad_query(), "{sql}: {err}");
    }
    let err = engine.query("SELECT nope FROM spans").await.unwrap_err();
    assert!(
        err.is_bad_query() && err.to_string().contains("nope"),
        "{err}"
    );
    let err = engine.query("SELEC 1").await.unwrap_err();
    assert!(err.is_bad_query(), "{err}");
}

/// A lookup by trace id in an archive of 20 files × 4 row groups reads one row group: the
/// statistics leave one candidate row group per file (each file's rows are sorted by trace
/// id), the bloom filters all but the one that holds it.
#[tokio::test]
async fn a_trace_id_lookup_reads_one_row_group_of_eighty() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let options = WriterOptions {
        row_group_rows: 1_000,
        ..WriterOptions::default()
    };
    let mut wanted = None;
    for file in 0..20u64 {
        let spans: Vec<Span> = (0..4_000u64)
            .map(|i| {
                // Ids spread over the whole range in every file.
                let n = (i * 20 + file).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut s = span(0, 1, DAY1_10H + i, 1, vec![]);
                s.trace_id = TraceId(
                    u128::from(n)
                        .wrapping_mul(0x1000_0000_0000_0001)
                        .to_be_bytes(),
                );
                s
            })
            .collect();
        if file == 7 {
            wanted = Some(spans[1_234].trace_id);
        }
        let mut encoder = SpanEncoder::new();
        spans.iter().for_each(|s| encoder.push(s));
        let encoded = encoder.finish().unwrap();
        let bytes = write_spans(&encoded.batch, Some(&encoded.order), &options).unwrap();
        let p = partition_file_path(
            &Default::default(),
            "spans",
            &Partition::new(None, HourPartition::of_unix_nanos(DAY1_10H)),
            "gw",
            ulid::Ulid::from_parts(file, 0),
        );
        put(&root, p.as_ref(), &bytes);
    }
    let sources = Sources {
        archive: Some((
            Arc::new(LocalFileSystem::new_with_prefix(&root).unwrap()),
            Default::default(),
        )),
        ..Sources::default()
    };
    let engine = Engine::open(&sources, Limits::default()).await.unwrap();
    let id = wanted.unwrap().to_string();
    let b = rows(
        &engine,
        &format!("SELECT count(*) FROM archive_spans WHERE trace_id = '{id}'"),
    )
    .await;
    assert_eq!(floats(&b, 0), [1.0]);
    let plan = rows(
        &engine,
        &format!("EXPLAIN ANALYZE SELECT * FROM archive_spans WHERE trace_id = '{id}'"),
    )
    .await;
    let text = strings(&plan, 1).join("\n");
    let metric = |name: &str| -> String {
        let at = text
            .find(name)
            .unwrap_or_else(|| panic!("no {name} in\n{text}"));
        text[at..].split([',', ']']).next().unwrap().to_owned()
    };
    let stats = metric("row_groups_pruned_statistics=");
    let bloom = metric("row_groups_pruned_bloom_filter=");
    assert!(
        stats.contains("80 total") && stats.contains("20 matched"),
        "{stats}\n{text}"
    );
    assert!(
        bloom.contains("20 total") && bloom.contains("1 matched"),
        "{bloom}\n{text}"
    );
}

/// Every `.parquet` file under `dir`.
fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    out
}

async fn archive_count(engine: &Engine) -> i64 {
    let b = rows(engine, "SELECT count(*) FROM archive_spans").await;
    b[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn the_archive_is_read_as_its_compaction_records_count_it() {
    let dir = tempfile::tempdir().unwrap();
    let sources = fixture(dir.path());
    let engine = Engine::open(&sources, Limits::default()).await.unwrap();
    assert_eq!(archive_count(&engine).await, 5);
    // Day 2's file replaced by a compacted one that holds the same two spans: counted once.
    let day2 = parquet_files(&dir.path().join("archive/spans"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains("dt=2026-11-02"))
        .unwrap();
    let hour_dir = day2.parent().unwrap().to_path_buf();
    let output = "compacted-g000001-01JDQ3ZK9W2E8Y1V0C4T5N6M7P.parquet";
    std::fs::copy(&day2, hour_dir.join(output)).unwrap();
    // Before its commit the output is not counted.
    assert_eq!(archive_count(&engine).await, 5);
    let record = tracegate_store::compaction::record::Record {
        version: tracegate_store::compaction::record::RECORD_VERSION,
        generation: 1,
        outputs: vec![output.to_owned()],
        replaced: vec![day2.file_name().unwrap().to_str().unwrap().to_owned()],
        rows: 2,
        ..Default::default()
    };
    std::fs::write(hour_dir.join("_compaction.json"), record.to_json()).unwrap();
    // Committed: the replaced file, still there, is not counted either.
    assert_eq!(archive_count(&engine).await, 5);
    std::fs::remove_file(&day2).unwrap();
    assert_eq!(archive_count(&engine).await, 5);
}

#[tokio::test]
async fn a_file_deleted_under_a_query_is_reported_as_vanished() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(&fixture(dir.path()), Limits::default())
        .await
        .unwrap();
    let plan = engine
        .context()
        .sql("SELECT count(*) FROM archive_spans WHERE name LIKE 'op-%'")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    // A compaction deletes the files this plan listed.
    for file in parquet_files(&dir.path().join("archive/spans")) {
        std::fs::remove_file(file).unwrap();
    }
    let err = datafusion::physical_plan::collect(plan, engine.context().task_ctx())
        .await
        .unwrap_err();
    let err = tracegate_sql::SqlError::from(err);
    assert!(
        matches!(err, tracegate_sql::SqlError::Vanished(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("run it again"), "{err}");
}
