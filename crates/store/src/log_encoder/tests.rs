//! Tests of the logs encoder: hand-worked golden rows read back through Parquet, the LLM
//! columns from canonical attributes (and null for missing or mistyped ones), the file's
//! metadata, sort order and bloom filter, and (property) the order of any rows.

use super::*;
use crate::testing::logs::{
    LOG_FLOAT_COLUMNS, LOG_INT_COLUMNS, LOG_STRING_COLUMNS, LogRow, assert_file_layout, llm_record,
    log_rows_of, plain_record, sorted_none_last,
};
use crate::testing::{LEAP_NIGHT, read_parquet};
use crate::writer::{WriterOptions, write_logs};
use proptest::prelude::*;
use tracegate_model::proto::common::v1::AnyValue;
use tracegate_model::schema::{LOGS_SCHEMA_VERSION, LOGS_TABLE, logs_col};

fn round_trip(records: &[LogRecord]) -> (Vec<LogRow>, bytes::Bytes) {
    let mut encoder = LogEncoder::new();
    for r in records {
        encoder.push(r);
    }
    assert_eq!(encoder.len(), records.len());
    let EncodedLogs { batch, order } = encoder.finish().unwrap();
    let file = write_logs(&batch, &order, &WriterOptions::default()).unwrap();
    (log_rows_of(&read_parquet(file.clone()).0), file)
}

#[test]
fn golden_rows_of_an_llm_call_and_plain_logs() {
    let t = LEAP_NIGHT as i64;
    let mut no_time = plain_record("late", 0);
    no_time.observed_time_unix_nano = LEAP_NIGHT + 99;
    let mut number_body = plain_record("", LEAP_NIGHT + 30);
    number_body.body = Some(AnyValue {
        value: Some(Value::IntValue(42)),
    });
    let mut no_body = plain_record("", LEAP_NIGHT + 40);
    no_body.body = None;
    let records = [
        plain_record("hello", LEAP_NIGHT + 10),
        llm_record(2, 7, LEAP_NIGHT),
        llm_record(1, 8, LEAP_NIGHT + 20),
        no_time,
        number_body,
        no_body,
    ];
    let (rows, file) = round_trip(&records);

    // Trace 01.., then 02.., then the records without a trace id by time.
    let order: Vec<_> = rows.iter().map(|r| (r.trace_id.clone(), r.time)).collect();
    assert_eq!(
        order,
        [
            (Some("01".repeat(16)), t + 20),
            (Some("02".repeat(16)), t),
            (None, t + 10),
            (None, t + 30),
            (None, t + 40),
            (None, t + 99),
        ]
    );

    let llm = &rows[1];
    assert_eq!(llm.span_id.as_deref(), Some("0707070707070707"));
    assert_eq!(llm.observed_time, None, "0 is unset");
    assert_eq!(llm.service_name, "llm-svc");
    assert_eq!(llm.scope_name.as_deref(), Some("seed.logger"));
    assert_eq!(
        (llm.severity_number, llm.severity_text.as_deref()),
        (9, None)
    );
    assert_eq!(llm.event_name, None);
    assert_eq!(
        llm.body.as_deref(),
        Some(
            r#"{"model":"gpt-4o","prompt":"[REDACTED]","metrics":{"input_tokens":120,"output_tokens":40}}"#
        )
    );
    assert_eq!(llm.kind, "llm_call");
    assert_eq!(
        llm.attributes.get("gen_ai.usage.input_tokens"),
        Some(&Some("120".into()))
    );
    assert_eq!(
        llm.attributes.get("gen_ai.response.finish_reasons"),
        Some(&Some(r#"["stop"]"#.into()))
    );
    assert_eq!(
        llm.resource_attributes.get("service.name"),
        Some(&Some("llm-svc".into()))
    );
    let s = |c| llm.strings[c].as_deref();
    assert_eq!(
        LOG_STRING_COLUMNS.map(s),
        [
            Some("gpt-4o"),
            Some("gpt-4o-2024-08-06"),
            Some("stop"),
            Some("chatcmpl-1"),
            Some("req-1"),
            Some("u-7"),
        ]
    );
    assert_eq!(
        LOG_INT_COLUMNS.map(|c| llm.ints[c]),
        [Some(120), Some(40), Some(512)]
    );
    // cost, TTFT (0.25 s as ms), latency, queue wait, temperature.
    assert_eq!(
        LOG_FLOAT_COLUMNS.map(|c| llm.floats[c]),
        [
            Some(0.0007),
            Some(250.0),
            Some(812.5),
            Some(12.0),
            Some(0.7)
        ]
    );

    let plain = &rows[2];
    assert_eq!(
        (plain.trace_id.as_deref(), plain.span_id.as_deref()),
        (None, None)
    );
    assert_eq!(plain.observed_time, Some(t + 15));
    assert_eq!(plain.body.as_deref(), Some("hello"));
    assert_eq!(plain.severity_text.as_deref(), Some("INFO"));
    assert_eq!(plain.scope_name, None);
    assert_eq!(plain.kind, "log");
    assert_eq!(plain.attributes.get("logger"), Some(&Some("app".into())));
    assert!(plain.strings.values().all(Option::is_none));
    assert!(plain.ints.values().all(Option::is_none));
    assert!(plain.floats.values().all(Option::is_none));

    assert_eq!(
        rows[3].body.as_deref(),
        Some("42"),
        "a structured body as JSON"
    );
    assert_eq!(rows[4].body, None);
    // A record without a time is timed by its observed time.
    assert_eq!(rows[5].body.as_deref(), Some("late"));

    let time = schema::logs_schema().index_of(logs_col::TIME).unwrap();
    assert_file_layout(
        file,
        LOGS_TABLE,
        LOGS_SCHEMA_VERSION,
        time,
        &"02".repeat(16),
    );
}

#[test]
fn mistyped_canonical_attributes_are_null_and_numeric_strings_count() {
    let mut record = llm_record(1, 1, LEAP_NIGHT);
    record.attributes = vec![
        attr::string(keys::GEN_AI_USAGE_INPUT_TOKENS, "many"),
        attr::string(keys::GEN_AI_USAGE_OUTPUT_TOKENS, "12"),
        attr::int(keys::GEN_AI_REQUEST_MODEL, 4),
        attr::double(keys::TRACEGATE_LATENCY_MS, f64::NAN),
        attr::string(keys::GEN_AI_RESPONSE_FINISH_REASONS, "length"),
        // The last occurrence wins, as in attr::get.
        attr::string(keys::USER_ID, "first"),
        attr::string(keys::USER_ID, "second"),
    ];
    let (rows, _) = round_trip(&[record]);
    let row = &rows[0];
    assert_eq!(row.ints[logs_col::INPUT_TOKENS], None);
    assert_eq!(row.ints[logs_col::OUTPUT_TOKENS], Some(12));
    assert_eq!(row.strings[logs_col::REQUEST_MODEL], None);
    assert_eq!(row.floats[logs_col::LATENCY_MS], None, "NaN is no latency");
    assert_eq!(
        row.strings[logs_col::FINISH_REASON].as_deref(),
        Some("length")
    );
    assert_eq!(row.strings[logs_col::USER_ID].as_deref(), Some("second"));
}

#[test]
fn estimated_bytes_grow_with_the_rows() {
    let mut encoder = LogEncoder::new();
    let small = encoder.push(&plain_record("x", 1));
    let big = encoder.push(&plain_record(&"y".repeat(10_000), 2));
    // The same record but for a body 9,999 bytes longer.
    assert_eq!(big - small, 9_999);
    assert_eq!(encoder.estimated_bytes(), small + big);
}

proptest! {
    #[test]
    fn rows_come_out_sorted_by_trace_id_nulls_last_then_time(
        rows in proptest::collection::vec((proptest::option::of(0u8..4), 0u64..1_000), 0..40)
    ) {
        let records: Vec<LogRecord> = rows
            .iter()
            .map(|(trace, time)| {
                let mut r = plain_record("p", LEAP_NIGHT + time);
                r.trace_id = trace.map(|t| TraceId([t; 16]));
                r
            })
            .collect();
        let (out, _) = round_trip(&records);
        let keys: Vec<_> = out.iter().map(|r| (r.trace_id.clone(), r.time)).collect();
        prop_assert!(sorted_none_last(&keys));
        let mut expected: Vec<_> = rows
            .iter()
            .map(|(t, time)| (t.map(|t| format!("{t:02x}").repeat(16)), (LEAP_NIGHT + time) as i64))
            .collect();
        let mut got = keys.clone();
        expected.sort();
        got.sort();
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn a_size_hint_from_one_file_sizes_the_next_so_no_buffer_grows() {
    let records: Vec<LogRecord> = (0..40u8)
        .map(|i| {
            if i % 2 == 0 {
                llm_record(i, i, u64::from(i) * 1_000)
            } else {
                plain_record(&format!("plain log {i}"), u64::from(i))
            }
        })
        .collect();
    let mut first = LogEncoder::new();
    for r in &records {
        first.push(r);
    }
    let hint = first.size_hint();
    let mut next = LogEncoder::with_size_hint(&hint);
    let capacities = |e: &mut LogEncoder| -> Vec<usize> {
        e.string_builders()
            .iter()
            .map(|b| b.values_capacity())
            .collect()
    };
    let before = capacities(&mut next);
    for r in &records {
        next.push(r);
    }
    assert_eq!(before, capacities(&mut next), "a buffer grew");
    assert_eq!(next.size_hint(), hint);
}
