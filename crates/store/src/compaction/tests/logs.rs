//! The `logs` and `scores` tables compacted: rows without a trace id last, every record
//! kept (they have no row key), the writer's layout.

use super::store::{Archive, compacted, local, on_moto};
use super::*;
use crate::layout::{LOGS_TABLE, SCORES_TABLE};
use crate::testing::logs::{
    assert_file_layout, llm_record, log_rows_of, plain_record, score, score_rows_of,
    sorted_none_last,
};
use crate::{LogEncoder, ScoreEncoder, write_logs, write_scores};
use tracegate_model::schema::{
    self, LOGS_SCHEMA_VERSION, SCORES_SCHEMA_VERSION, logs_col, scores_col,
};
use tracegate_model::{LogRecord, Score, ScoreSource};

/// The log records of the test's hour: LLM calls of traces 1–9, plain records without ids,
/// and one plain record twice, alike in every column.
fn records() -> Vec<LogRecord> {
    let mut out = Vec::new();
    for i in 0..40u8 {
        let time = BASE + u64::from(i) * 1_000_000_000;
        if i % 3 == 0 {
            out.push(plain_record(&format!("line {i}"), time));
        } else {
            out.push(llm_record(1 + i % 9, i, time));
        }
    }
    out.push(plain_record("twice", BASE + 7));
    out.push(plain_record("twice", BASE + 7));
    out
}

fn scores() -> Vec<Score> {
    (0..30u8)
        .map(|i| {
            let trace = (i % 4 != 0).then_some(1 + i % 5);
            let mut s = score("relevance", trace, trace.map(|_| i), ScoreSource::Log);
            s.time_unix_nano = BASE + u64::from(30 - i) * 1_000_000;
            s
        })
        .collect()
}

fn file_name() -> String {
    format!("gw-1-{}.parquet", Ulid::new())
}

/// Puts `records` in `files` files of the logs hour, as the exporter writes them.
fn put_logs(archive: &Archive, rt: &Runtime, records: &[LogRecord], files: usize) {
    for chunk in records.chunks(records.len().div_ceil(files)) {
        let mut encoder = LogEncoder::new();
        for r in chunk {
            encoder.push(r);
        }
        let encoded = encoder.finish().unwrap();
        let file = write_logs(&encoded.batch, &encoded.order, &WriterOptions::default()).unwrap();
        archive.put(rt, &file_name(), LOGS_TABLE, file);
    }
}

fn put_scores(archive: &Archive, rt: &Runtime, scores: &[Score], files: usize) {
    for chunk in scores.chunks(scores.len().div_ceil(files)) {
        let mut encoder = ScoreEncoder::new();
        for s in chunk {
            encoder.push(s, 0);
        }
        let encoded = encoder.finish().unwrap();
        let file = write_scores(&encoded.batch, &encoded.order, &WriterOptions::default()).unwrap();
        archive.put(rt, &file_name(), SCORES_TABLE, file);
    }
}

/// Every Parquet file of `table`'s hour, read whole.
fn files(archive: &Archive, rt: &Runtime, table: &str) -> Vec<Bytes> {
    archive
        .names(rt, table)
        .into_iter()
        .filter(|n| n.ends_with(".parquet"))
        .map(|n| {
            rt.block_on(async {
                archive
                    .store
                    .get(&archive.hour_dir(table).join(n.as_str()))
                    .await?
                    .bytes()
                    .await
            })
            .unwrap()
        })
        .collect()
}

/// The rows of `files` as a sorted multiset of their debug forms.
fn multiset<R: std::fmt::Debug>(rows: impl IntoIterator<Item = R>) -> Vec<String> {
    let mut out: Vec<String> = rows.into_iter().map(|r| format!("{r:?}")).collect();
    out.sort();
    out
}

fn logs_and_scores_are_compacted(archive: &Archive) {
    let rt = rt();
    let records = records();
    put_logs(archive, &rt, &records, 4);
    let scores = scores();
    put_scores(archive, &rt, &scores, 3);
    let logs_before = multiset(
        files(archive, &rt, LOGS_TABLE)
            .into_iter()
            .flat_map(|f| log_rows_of(&testing::read_parquet(f).0)),
    );
    let scores_before = multiset(
        files(archive, &rt, SCORES_TABLE)
            .into_iter()
            .flat_map(|f| score_rows_of(&testing::read_parquet(f).0)),
    );
    assert_eq!(logs_before.len(), records.len());
    assert_eq!(scores_before.len(), scores.len());

    let compactor = archive.compactor(CompactionConfig::default());
    for (table, inputs, rows) in [
        (LOGS_TABLE, 4, records.len()),
        (SCORES_TABLE, 3, scores.len()),
    ] {
        let report = compacted(compactor.compact_hour(
            &rt,
            &archive.hour(table),
            &CancellationToken::new(),
            &mut |_| {},
        ));
        assert_eq!((report.inputs, report.outputs), (inputs, 1), "{table}");
        // No row key: the record logged twice stays twice.
        assert_eq!(report.rows.rows_out as usize, rows, "{table}");
        assert_eq!(report.rows.duplicates, 0, "{table}");
    }

    let out = files(archive, &rt, LOGS_TABLE);
    assert_eq!(out.len(), 1);
    let logs = log_rows_of(&testing::read_parquet(out[0].clone()).0);
    let keys: Vec<_> = logs.iter().map(|r| (r.trace_id.clone(), r.time)).collect();
    let time = schema::logs_schema().index_of(logs_col::TIME).unwrap();
    let layout = (LOGS_TABLE, LOGS_SCHEMA_VERSION, time);
    assert_output(&out[0], &keys, multiset(logs), &logs_before, layout);

    let out = files(archive, &rt, SCORES_TABLE);
    assert_eq!(out.len(), 1);
    let rows = score_rows_of(&testing::read_parquet(out[0].clone()).0);
    let keys: Vec<_> = rows.iter().map(|r| (r.trace_id.clone(), r.time)).collect();
    let time = schema::scores_schema().index_of(scores_col::TIME).unwrap();
    let layout = (SCORES_TABLE, SCORES_SCHEMA_VERSION, time);
    assert_output(&out[0], &keys, multiset(rows), &scores_before, layout);
}

/// Asserts a compacted file: rows sorted by trace id with trace-less rows last (the last
/// row has none), the same rows as `before`, and the writer's layout for (table, schema
/// version, time column).
fn assert_output(
    file: &Bytes,
    keys: &[(Option<String>, i64)],
    rows: Vec<String>,
    before: &[String],
    (table, version, time): (&str, &str, usize),
) {
    assert!(sorted_none_last(keys), "{keys:?}");
    assert!(keys.last().unwrap().0.is_none());
    assert_eq!(rows, before);
    assert_file_layout(file.clone(), table, version, time, &"02".repeat(16));
}

#[test]
fn on_a_local_disk_logs_and_scores_hours_become_one_file_each() {
    logs_and_scores_are_compacted(&local(&rt()));
}

#[test]
fn on_s3_logs_and_scores_hours_become_one_file_each() {
    let rt = rt();
    let Some(archive) = on_moto(&rt) else {
        eprintln!(
            "skipped: set TRACEGATE_MOTO to a moto_server program or endpoint to run this test"
        );
        return;
    };
    logs_and_scores_are_compacted(&archive);
}
