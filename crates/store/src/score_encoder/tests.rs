//! Tests of the scores encoder: hand-worked golden rows read back through Parquet, the
//! fallback time, which trace-borne scores are written, and the file's layout.

use super::*;
use crate::testing::logs::{ScoreRow, assert_file_layout, score, score_rows_of};
use crate::testing::{LEAP_NIGHT, read_parquet};
use crate::writer::{WriterOptions, write_scores};
use tracegate_model::schema::{SCORES_SCHEMA_VERSION, SCORES_TABLE, scores_col};
use tracegate_model::{ScoreJoin, SpanId, TraceId};

fn round_trip(scores: &[(Score, u64)]) -> (Vec<ScoreRow>, bytes::Bytes) {
    let mut encoder = ScoreEncoder::new();
    for (s, fallback) in scores {
        encoder.push(s, *fallback);
    }
    let EncodedScores { batch, order } = encoder.finish().unwrap();
    let file = write_scores(&batch, &order, &WriterOptions::default()).unwrap();
    (score_rows_of(&read_parquet(file.clone()).0), file)
}

#[test]
fn golden_rows_of_joined_and_unjoined_scores() {
    let t = LEAP_NIGHT as i64;
    let full = Score {
        name: "user_feedback".into(),
        value: Some(4.0),
        label: Some("thumbs_up".into()),
        explanation: Some("[REDACTED] was helpful".into()),
        error_type: Some("timeout".into()),
        reviewer_id: Some("rev-9".into()),
        annotations: Some(r#"{"tags":["a"]}"#.into()),
        response_id: Some("chatcmpl-1".into()),
        request_id: Some("req-1".into()),
        trace_id: Some(TraceId([2; 16])),
        span_id: Some(SpanId([3; 8])),
        joined_by: ScoreJoin::RequestId,
        source: ScoreSource::Log,
        time_unix_nano: LEAP_NIGHT + 5,
        service_name: "feedback-svc".into(),
    };
    let mut nan = score("relevance", Some(1), None, ScoreSource::SpanEvent);
    nan.value = Some(f64::NAN);
    nan.time_unix_nano = LEAP_NIGHT + 50;
    let unjoined = score("toxicity", None, None, ScoreSource::FeedbackSpan);
    let (rows, file) = round_trip(&[(full, 0), (unjoined, LEAP_NIGHT + 1), (nan, 0)]);

    assert_eq!(
        rows[0],
        ScoreRow {
            trace_id: Some("01".repeat(16)),
            span_id: None,
            time: t + 50,
            name: "relevance".into(),
            value: None,
            label: Some("ok".into()),
            explanation: Some("fine".into()),
            error_type: None,
            reviewer_id: None,
            annotations: None,
            response_id: None,
            request_id: None,
            joined_by: "trace_context".into(),
            source: "span_event".into(),
            service_name: "eval".into(),
        },
        "NaN is no value"
    );
    assert_eq!(
        rows[1],
        ScoreRow {
            trace_id: Some("02".repeat(16)),
            span_id: Some("0303030303030303".into()),
            time: t + 5,
            name: "user_feedback".into(),
            value: Some(4.0),
            label: Some("thumbs_up".into()),
            explanation: Some("[REDACTED] was helpful".into()),
            error_type: Some("timeout".into()),
            reviewer_id: Some("rev-9".into()),
            annotations: Some(r#"{"tags":["a"]}"#.into()),
            response_id: Some("chatcmpl-1".into()),
            request_id: Some("req-1".into()),
            joined_by: "request_id".into(),
            source: "log".into(),
            service_name: "feedback-svc".into(),
        }
    );
    // Unjoined last; a score without a time of its own takes the fallback.
    assert_eq!(
        (
            rows[2].trace_id.as_deref(),
            rows[2].time,
            rows[2].joined_by.as_str()
        ),
        (None, t + 1, "unresolved")
    );
    assert_eq!(rows[2].source, "feedback_span");

    let time = schema::scores_schema().index_of(scores_col::TIME).unwrap();
    assert_file_layout(
        file,
        SCORES_TABLE,
        SCORES_SCHEMA_VERSION,
        time,
        &"02".repeat(16),
    );
}

#[test]
fn only_scores_a_span_carried_are_written_from_the_trace() {
    let of = |source| ScoreEncoder::writes_from_trace(&score("s", Some(1), None, source));
    assert!(!of(ScoreSource::Log));
    assert!(of(ScoreSource::SpanEvent));
    assert!(of(ScoreSource::FeedbackSpan));
}

#[test]
fn row_time_is_the_scores_own_else_the_fallback() {
    let mut s = score("s", None, None, ScoreSource::Log);
    assert_eq!(ScoreEncoder::row_time(&s, 77), 77);
    s.time_unix_nano = 5;
    assert_eq!(ScoreEncoder::row_time(&s, 77), 5);
}
