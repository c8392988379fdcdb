//! The `logs` and `scores` tables: a log payload writes one logs row per record and one
//! scores row per record with a score; a trace payload writes scores rows for the scores its
//! spans carried (never a log-borne score again) and lists every score in its traces row;
//! files sit at the Hive paths of their rows' time, sorted by trace id, with a trace_id bloom
//! filter; with the write-ahead log, log records are released once their files are uploaded.

use super::*;
use crate::layout::{LOGS_TABLE, SCORES_TABLE};
use crate::log_encoder::LogEncoder;
use crate::testing::TestLog;
use crate::testing::logs::{
    LogRow, ScoreRow, assert_file_layout, llm_record, log_rows_of, plain_record, score,
    score_record, score_rows_of, sorted_none_last,
};
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use tracegate_model::schema::{
    self as model_schema, LOGS_SCHEMA_VERSION, SCORES_SCHEMA_VERSION, logs_col, scores_col,
    traces_col,
};
use tracegate_model::{LogBatch, LogRecord, Origin, Score, ScoreSource, Signal, SpanId};
use tracegate_pipeline::durability::Ledger;

/// 2024-02-29T23:59:59Z: the last second of one day's last hour.
const NIGHT: u64 = testing::LEAP_NIGHT;
const SECOND: u64 = 1_000_000_000;

/// Every file of `table` under `lake/`, with its bytes, checking its name.
async fn table_files(store: &dyn ObjectStore, table: &str) -> Vec<(Path, bytes::Bytes)> {
    let prefix = Path::from("lake").join(table);
    let mut metas: Vec<ObjectMeta> = store.list(Some(&prefix)).try_collect().await.unwrap();
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::new();
    for meta in metas {
        let name = meta.location.filename().unwrap().to_owned();
        assert!(
            name.starts_with("gw-test-") && name.ends_with(".parquet"),
            "{name}"
        );
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.push((meta.location, bytes));
    }
    out
}

/// Asserts `path` is in the partition of every one of `times`; returns the partition.
fn assert_partition(path: &Path, table: &str, times: &[i64]) -> HourPartition {
    let partition = HourPartition::of_unix_nanos(times[0] as u64);
    for &t in times {
        assert_eq!(HourPartition::of_unix_nanos(t as u64), partition, "{path}");
    }
    let dir = partition.dir(&Path::from("lake"), table);
    assert!(
        path.as_ref().starts_with(&format!("{dir}/")),
        "{path} not in {dir}"
    );
    partition
}

/// Every logs row, checking each file's layout.
async fn logs_rows(store: &dyn ObjectStore) -> Vec<(HourPartition, Vec<LogRow>)> {
    let time = model_schema::logs_schema()
        .index_of(logs_col::TIME)
        .unwrap();
    let mut out = Vec::new();
    for (path, bytes) in table_files(store, LOGS_TABLE).await {
        let rows = log_rows_of(&read_parquet(bytes.clone()).0);
        let keys: Vec<_> = rows.iter().map(|r| (r.trace_id.clone(), r.time)).collect();
        assert!(sorted_none_last(&keys), "{path} is not sorted");
        let times: Vec<i64> = rows.iter().map(|r| r.time).collect();
        let partition = assert_partition(&path, LOGS_TABLE, &times);
        if let Some(known) = rows.iter().find_map(|r| r.trace_id.clone()) {
            assert_file_layout(bytes, LOGS_TABLE, LOGS_SCHEMA_VERSION, time, &known);
        }
        out.push((partition, rows));
    }
    out
}

/// Every scores row, checking each file's layout.
async fn scores_rows(store: &dyn ObjectStore) -> Vec<(HourPartition, Vec<ScoreRow>)> {
    let time = model_schema::scores_schema()
        .index_of(scores_col::TIME)
        .unwrap();
    let mut out = Vec::new();
    for (path, bytes) in table_files(store, SCORES_TABLE).await {
        let rows = score_rows_of(&read_parquet(bytes.clone()).0);
        let keys: Vec<_> = rows.iter().map(|r| (r.trace_id.clone(), r.time)).collect();
        assert!(sorted_none_last(&keys), "{path} is not sorted");
        let times: Vec<i64> = rows.iter().map(|r| r.time).collect();
        let partition = assert_partition(&path, SCORES_TABLE, &times);
        if let Some(known) = rows.iter().find_map(|r| r.trace_id.clone()) {
            assert_file_layout(bytes, SCORES_TABLE, SCORES_SCHEMA_VERSION, time, &known);
        }
        out.push((partition, rows));
    }
    out
}

/// A trace of two spans of trace `0x0a` starting at `NIGHT`, rated by three scores: a span
/// event's on span 2 (three seconds later, in the next hour), a feedback span's on an
/// unknown span with no time of its own, and a copy of the log-borne `log_score`.
fn rated_trace(log_score: &Score) -> Trace {
    let mut root = testing::span(0x0a, 1, NIGHT);
    root.end_time_unix_nano = NIGHT + 900;
    let mut child = testing::span(0x0a, 2, NIGHT + 100);
    child.parent_span_id = Some(SpanId([1; 8]));
    let mut trace = testing::group_into_traces(&[root, child]).remove(0);
    let mut event = score("relevance", Some(0x0a), Some(2), ScoreSource::SpanEvent);
    event.time_unix_nano = NIGHT + 3 * SECOND;
    let feedback = score("helpfulness", Some(0x0a), None, ScoreSource::FeedbackSpan);
    trace.scores = vec![event, feedback, log_score.clone()];
    trace
}

/// Records across midnight: an LLM call in trace 0x0a, a plain log without a trace, and a
/// quality record carrying `log_score` two seconds after midnight.
fn records(log_score: &Score) -> Vec<LogRecord> {
    vec![
        plain_record("hello", NIGHT + 2 * SECOND),
        llm_record(0x0a, 2, NIGHT),
        score_record(log_score.clone(), NIGHT + 2 * SECOND),
    ]
}

fn log_score() -> Score {
    let mut s = score("user_feedback", Some(0x0a), Some(2), ScoreSource::Log);
    s.time_unix_nano = NIGHT + 2 * SECOND;
    s
}

#[test]
fn the_archive_takes_traces_and_logs() {
    let e = exporter(
        "archive/logs-signals",
        &small_config(),
        Arc::new(InMemory::new()),
    );
    assert_eq!(e.signals(), [Signal::Traces, Signal::Logs]);
}

#[tokio::test]
async fn logs_and_scores_rows_go_to_hive_partitions_once_each() {
    let store = Arc::new(InMemory::new());
    let mut exporter = exporter("archive/logs-rows", &small_config(), store.clone());
    let log_score = log_score();
    let records = records(&log_score);
    exporter
        .export(Arc::new(Payload::Logs(LogBatch {
            records: records.clone(),
        })))
        .await
        .unwrap();
    exporter
        .export(Arc::new(Payload::Traces(vec![rated_trace(&log_score)])))
        .await
        .unwrap();
    exporter.shutdown().await.unwrap();

    // Logs: every record once, by the hour of its time.
    let logs = logs_rows(store.as_ref()).await;
    let night = HourPartition::of_unix_nanos(NIGHT);
    let morning = HourPartition::of_unix_nanos(NIGHT + 2 * SECOND);
    assert_ne!(night, morning);
    let by_hour = |p| -> Vec<String> {
        logs.iter()
            .filter(|(h, _)| *h == p)
            .flat_map(|(_, rows)| rows.iter().map(|r| r.kind.clone()))
            .collect()
    };
    assert_eq!(by_hour(night), ["llm_call"]);
    // The score record is in trace 0x0a, so it sorts before the plain log without one.
    assert_eq!(by_hour(morning), ["score", "log"]);
    assert_eq!(
        logs.iter().map(|(_, r)| r.len()).sum::<usize>(),
        records.len()
    );

    // Scores: the log's score once (from the record), the spans' two from the trace.
    let scores = scores_rows(store.as_ref()).await;
    let mut found: Vec<(String, String, HourPartition)> = scores
        .iter()
        .flat_map(|(p, rows)| rows.iter().map(|r| (r.name.clone(), r.source.clone(), *p)))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("helpfulness".into(), "feedback_span".into(), night),
            ("relevance".into(), "span_event".into(), morning),
            ("user_feedback".into(), "log".into(), morning),
        ],
        "each score once; the timeless one at its trace's start"
    );
    let relevance = scores
        .iter()
        .flat_map(|(_, rows)| rows)
        .find(|r| r.name == "relevance")
        .unwrap();
    assert_eq!(
        relevance.trace_id.as_deref(),
        Some("0a".repeat(16).as_str())
    );
    assert_eq!(relevance.span_id.as_deref(), Some("0202020202020202"));
    assert_eq!(relevance.time, (NIGHT + 3 * SECOND) as i64);

    // The traces row lists all three, whatever their source.
    let (_, traces) = trace_files(store.as_ref()).await.remove(0);
    assert_eq!(traces.len(), 1);
    let (_, bytes) = table_files(store.as_ref(), TRACES_TABLE).await.remove(0);
    let batch = read_parquet(bytes).0;
    let list = batch
        .column_by_name(traces_col::SCORES)
        .unwrap()
        .as_list::<i32>();
    let items = list.value(0);
    let items = items.as_struct();
    let names: Vec<_> = items
        .column_by_name("name")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(names, ["relevance", "helpfulness", "user_feedback"]);
    let sources: Vec<_> = items
        .column_by_name("source")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(sources, ["span_event", "feedback_span", "log"]);
    let spans: Vec<_> = items
        .column_by_name("span_id")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .collect();
    assert_eq!(
        spans,
        [Some("0202020202020202"), None, Some("0202020202020202")]
    );
    let values = items
        .column_by_name("value")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(values.iter().collect::<Vec<_>>(), [Some(0.5); 3]);
}

#[tokio::test]
async fn a_log_record_far_from_now_goes_to_the_arrival_hour() {
    let store = Arc::new(InMemory::new());
    let config = ArchiveConfig {
        past_window: Duration::from_secs(3_600),
        future_window: Duration::from_secs(3_600),
        ..small_config()
    };
    let mut exporter = exporter("archive/logs-window", &config, store.clone());
    exporter.set_now(NIGHT);
    let old = plain_record("from 1970", 5);
    let mut s = score("late", None, None, ScoreSource::Log);
    s.time_unix_nano = 7;
    let scored = score_record(s, 7);
    exporter
        .export(Arc::new(Payload::Logs(LogBatch {
            records: vec![old, scored],
        })))
        .await
        .unwrap();
    exporter.shutdown().await.unwrap();
    let arrival = HourPartition::of_unix_nanos(NIGHT).dir(&Path::from("lake"), LOGS_TABLE);
    let logs = table_files(store.as_ref(), LOGS_TABLE).await;
    assert_eq!(logs.len(), 1);
    assert!(logs[0].0.as_ref().starts_with(&format!("{arrival}/")));
    let rows = log_rows_of(&read_parquet(logs[0].1.clone()).0);
    // The column keeps the client's time.
    let mut times: Vec<i64> = rows.iter().map(|r| r.time).collect();
    times.sort();
    assert_eq!(times, [5, 7]);
    let scores = table_files(store.as_ref(), SCORES_TABLE).await;
    let arrival = HourPartition::of_unix_nanos(NIGHT).dir(&Path::from("lake"), SCORES_TABLE);
    assert!(scores[0].0.as_ref().starts_with(&format!("{arrival}/")));
}

#[tokio::test]
async fn log_records_are_released_once_their_logs_and_scores_files_are_uploaded() {
    let store = Arc::new(crate::testing::FaultyStore::new(InMemory::new()));
    let state = tempfile::tempdir().unwrap();
    let log = Arc::new(TestLog::default());
    let ledger = Ledger::new(log.clone(), vec!["archive".to_owned()]);
    // Three records of log record 0, two of log record 1.
    let log_score = log_score();
    let mut batch = records(&log_score);
    batch.push(plain_record("more", NIGHT + 4 * SECOND));
    batch.push(llm_record(0x0b, 1, NIGHT + 5 * SECOND));
    for (i, r) in batch.iter_mut().enumerate() {
        r.origin = Origin::logged(u64::from(i >= 3));
    }
    log.end.store(2, Ordering::SeqCst);
    ledger.logged(None, 0, 3, &[0]);
    ledger.logged(None, 1, 2, &[0]);
    let mut exporter = exporter("archive/logs-durable", &small_config(), store.clone());
    assert!(exporter.take_release(ledger.release(0, state.path().to_owned(), true, 0, 0)));
    exporter.start().await.unwrap();

    store.hold_paths("/scores/");
    exporter
        .export(Arc::new(Payload::Logs(LogBatch { records: batch })))
        .await
        .unwrap();
    assert_eq!(ledger.outstanding(0), 5, "buffered: nothing is durable");
    exporter.flush_now();
    for _ in 0..500 {
        if table_files(store.inner(), LOGS_TABLE).await.len() == 2 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert_eq!(table_files(store.inner(), LOGS_TABLE).await.len(), 2);
    assert_eq!(
        ledger.outstanding(0),
        5,
        "the scores row of record 0's payload is not uploaded yet"
    );

    store.lift();
    exporter.drain().await;
    assert_eq!(ledger.outstanding(0), 0);
    assert_eq!(ledger.low_water(0), 2);
    exporter.shutdown().await.unwrap();
    let rows: usize = logs_rows(store.inner())
        .await
        .iter()
        .map(|(_, r)| r.len())
        .sum();
    assert_eq!(rows, 5);
}

#[tokio::test]
async fn abandon_counts_the_log_records_not_written() {
    let store = Arc::new(crate::testing::FaultyStore::new(InMemory::new()));
    let mut exporter = exporter("archive/logs-abandon", &small_config(), store.clone());
    let log_score = log_score();
    exporter
        .export(Arc::new(Payload::Logs(LogBatch {
            records: records(&log_score),
        })))
        .await
        .unwrap();
    assert_eq!(exporter.abandon(), 3, "buffered records are lost");
    store.fail_always(crate::testing::Failure::Transient);
    exporter
        .export(Arc::new(Payload::Logs(LogBatch {
            records: records(&log_score),
        })))
        .await
        .unwrap();
    exporter.flush_now();
    // Two logs files (two hours) hold the three records; the scores file holds none.
    assert_eq!(
        exporter.abandon(),
        3,
        "records in files not uploaded are lost"
    );
    store.lift();
}

/// One run of the gateway: a ledger owing the archive `counts[lsn]` items of each record.
fn ledger_owing(counts: &[u64]) -> Arc<Ledger> {
    let log = Arc::new(TestLog::default());
    let ledger = Ledger::new(log.clone(), vec!["archive".to_owned()]);
    log.end.store(counts.len() as u64, Ordering::SeqCst);
    for (lsn, &n) in counts.iter().enumerate() {
        ledger.logged(None, lsn as u64, n, &[0]);
    }
    ledger
}

fn logged(mut records: Vec<LogRecord>, lsn: u64) -> Vec<LogRecord> {
    for r in &mut records {
        r.origin = Origin::logged(lsn);
    }
    records
}

#[tokio::test]
async fn a_crash_after_upload_and_before_the_checkpoint_archives_each_log_row_once() {
    let name = "archive/logs-crash";
    let store = Arc::new(crate::testing::FaultyStore::new(InMemory::new()));
    let state = tempfile::tempdir().unwrap();
    let log_score = log_score();
    let dup = plain_record("dup", NIGHT + 10 * SECOND);
    // Record 0: five log records, two of them identical; record 1: two more, one of them
    // identical to those; record 2: the spans of a rated trace.
    let mut first = records(&log_score);
    first.extend([dup.clone(), dup.clone()]);
    let first = logged(first, 0);
    let second = logged(
        vec![dup.clone(), plain_record("more", NIGHT + 4 * SECOND)],
        1,
    );
    let mut trace = rated_trace(&log_score);
    for s in &mut trace.spans {
        s.origin = Origin::logged(2);
    }
    let counts = [5, 2, 2];
    let logs = |records: Vec<LogRecord>| Arc::new(Payload::Logs(LogBatch { records }));

    // Run 1: record 0 and the trace are uploaded; record 1 is being retried at the crash.
    let ledger = ledger_owing(&counts);
    let mut exporter = exporter(name, &small_config(), store.clone());
    exporter.take_release(ledger.release(0, state.path().to_owned(), true, 0, 0));
    exporter.start().await.unwrap();
    exporter.export(logs(first.clone())).await.unwrap();
    exporter
        .export(Arc::new(Payload::Traces(vec![trace.clone()])))
        .await
        .unwrap();
    exporter.flush_now();
    exporter.drain().await;
    assert_eq!(ledger.outstanding(0), 2);
    store.fail_always(crate::testing::Failure::Transient);
    exporter.export(logs(second.clone())).await.unwrap();
    exporter.flush_now();
    assert_eq!(exporter.abandon(), 2);
    drop(exporter);
    store.lift();

    // Run 2: no checkpoint was saved, so everything is replayed, in other batches.
    let ledger = ledger_owing(&counts);
    let mut exporter = super::exporter(name, &small_config(), store.clone());
    exporter.take_release(ledger.release(0, state.path().to_owned(), true, 0, 3));
    exporter.start().await.unwrap();
    assert!(exporter.remembers_archived_ids());
    let mut all = second;
    all.extend(first);
    exporter.export(logs(all)).await.unwrap();
    exporter
        .export(Arc::new(Payload::Traces(vec![trace])))
        .await
        .unwrap();
    exporter.shutdown().await.unwrap();
    assert_eq!(ledger.outstanding(0), 0, "the skipped rows are durable too");

    let mut bodies: Vec<(String, Option<String>)> = logs_rows(store.inner())
        .await
        .into_iter()
        .flat_map(|(_, rows)| rows)
        .map(|r| (r.kind, r.body))
        .collect();
    bodies.sort();
    let llm_body = log_rows_of(&LogEncoder::encode(&[llm_record(0x0a, 2, NIGHT)]).unwrap())
        .remove(0)
        .body;
    let text = |s: &str| ("log".to_owned(), Some(s.to_owned()));
    assert_eq!(
        bodies,
        [
            ("llm_call".to_owned(), llm_body),
            text("dup"),
            text("dup"),
            text("dup"),
            text("hello"),
            text("more"),
            ("score".to_owned(), None),
        ],
        "each record once, the three identical ones three times"
    );
    let mut scores: Vec<String> = scores_rows(store.inner())
        .await
        .into_iter()
        .flat_map(|(_, rows)| rows)
        .map(|r| r.name)
        .collect();
    scores.sort();
    assert_eq!(scores, ["helpfulness", "relevance", "user_feedback"]);
    assert_eq!(trace_files(store.inner()).await.len(), 1);
}
