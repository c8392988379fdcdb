//! Rows of the `scores` table back to scores (all columns or the projected ones), and
//! scores onto spans as evaluation events: hand-worked cases and properties.

use super::*;
use crate::ScoreEncoder;
use crate::testing;
use proptest::prelude::*;

const T: u64 = 1_795_327_200_000_000_000;

fn tid(n: u8) -> TraceId {
    TraceId([n; 16])
}

fn sid(n: u8) -> SpanId {
    SpanId([n; 8])
}

fn score(name: &str, span: Option<u8>, value: Option<f64>, time: u64) -> Score {
    Score {
        name: name.into(),
        value,
        label: Some(format!("{name}-label")),
        trace_id: Some(tid(5)),
        span_id: span.map(sid),
        joined_by: ScoreJoin::TraceContext,
        source: ScoreSource::Log,
        time_unix_nano: time,
        ..Default::default()
    }
}

/// (span, evaluation name, value, label, time) of an evaluation event.
type Seen = (u8, String, Option<f64>, Option<String>, u64);

/// Every evaluation event, by span.
fn evaluations(spans: &[Span]) -> Vec<Seen> {
    spans
        .iter()
        .flat_map(|s| {
            s.events
                .iter()
                .filter(|e| e.name == keys::GEN_AI_EVALUATION_RESULT)
                .map(move |e| {
                    (
                        s.span_id.0[0],
                        attr::get_str(&e.attributes, keys::GEN_AI_EVALUATION_NAME)
                            .unwrap_or_default()
                            .to_owned(),
                        attr::get_f64(&e.attributes, keys::GEN_AI_EVALUATION_SCORE_VALUE),
                        attr::get_str(&e.attributes, keys::GEN_AI_EVALUATION_SCORE_LABEL)
                            .map(str::to_owned),
                        e.time_unix_nano,
                    )
                })
        })
        .collect()
}

/// Root span 1, child span 2 carrying its own `relevance` evaluation event.
fn trace_spans() -> Vec<Span> {
    let root = testing::span(5, 1, T);
    let mut child = testing::span(5, 2, T + 100);
    child.parent_span_id = Some(sid(1));
    child.events.push(event(
        &score("relevance", Some(2), Some(0.9), T + 500),
        &child,
    ));
    vec![root, child]
}

#[test]
fn rows_decode_to_the_scores_written_whole_or_projected() {
    let mut full = score("relevance", Some(2), Some(0.25), T);
    full.explanation = Some("on topic".into());
    full.error_type = Some("timeout".into());
    full.response_id = Some("resp-1".into());
    full.source = ScoreSource::FeedbackSpan;
    full.joined_by = ScoreJoin::ResponseId;
    full.reviewer_id = Some("rev".into());
    full.service_name = "eval".into();
    let mut bare = score("user_feedback", None, None, T + 1);
    bare.trace_id = None;
    bare.label = None;
    bare.joined_by = ScoreJoin::Unresolved;
    let batch = ScoreEncoder::encode([&full, &bare]).unwrap();

    let expected = |s: &Score| Score {
        reviewer_id: None,
        service_name: String::new(),
        ..s.clone()
    };
    let decoded = scores_from_batch(&batch).unwrap();
    assert_eq!(decoded, vec![expected(&full), expected(&bare)]);

    // Only the lookup's columns, in another order.
    let mut names: Vec<&str> = SCORE_COLUMNS.to_vec();
    names.reverse();
    let projected = batch
        .project(
            &names
                .iter()
                .map(|n| batch.schema().index_of(n).unwrap())
                .collect::<Vec<_>>(),
        )
        .unwrap();
    assert_eq!(scores_from_batch(&projected).unwrap(), decoded);

    // Without the optional columns: nulls. A mistyped column is an error naming it.
    let only_name = batch
        .project(&[batch.schema().index_of(c::NAME).unwrap()])
        .unwrap();
    let names_only = scores_from_batch(&only_name).unwrap();
    assert_eq!(names_only[0].name, "relevance");
    assert_eq!((names_only[0].value, names_only[0].span_id), (None, None));
    let wrong = RecordBatch::try_from_iter([(
        c::VALUE,
        std::sync::Arc::new(StringArray::from(vec!["x"])) as arrow_array::ArrayRef,
    )])
    .unwrap();
    assert!(matches!(
        scores_from_batch(&wrong),
        Err(StoreError::Schema { column: c::VALUE })
    ));
}

#[test]
fn scores_land_on_the_span_they_rate_once() {
    let mut spans = trace_spans();
    let helpful = score("helpfulness", Some(2), Some(1.0), T + 900);
    let mut span_borne = score("relevance", Some(2), Some(0.9), T + 500);
    span_borne.source = ScoreSource::SpanEvent;
    let mut other_trace = score("other", Some(2), Some(0.1), T);
    other_trace.trace_id = Some(tid(6));
    let scores = vec![
        helpful.clone(),
        helpful.clone(), // a replayed row
        span_borne,
        score("faithfulness", Some(99), Some(0.4), T + 700), // not in the trace: root
        score("toxicity", None, Some(0.0), 0),               // no span, no time: root, its end
        other_trace,
    ];
    let done = attach_scores(&mut spans, tid(5), &scores);
    assert_eq!(
        done,
        Attached {
            added: 3,
            already_on_span: 1,
            duplicates: 1
        }
    );
    let label = |n: &str| Some(format!("{n}-label"));
    assert_eq!(
        evaluations(&spans),
        vec![
            (
                1,
                "toxicity".into(),
                Some(0.0),
                label("toxicity"),
                T + 1_500
            ),
            (
                1,
                "faithfulness".into(),
                Some(0.4),
                label("faithfulness"),
                T + 700
            ),
            (
                2,
                "relevance".into(),
                Some(0.9),
                label("relevance"),
                T + 500
            ),
            (
                2,
                "helpfulness".into(),
                Some(1.0),
                label("helpfulness"),
                T + 900
            ),
        ]
    );
    // The event carries every field the hot store's does.
    let added = spans[1].events.last().unwrap();
    assert_eq!(added.name, keys::GEN_AI_EVALUATION_RESULT);

    // A score that differs from the span's event in value only is another evaluation.
    let again = attach_scores(
        &mut spans,
        tid(5),
        &[score("relevance", Some(2), Some(0.8), T + 500)],
    );
    assert_eq!(again.added, 1);
}

#[test]
fn an_event_has_every_field_of_its_score() {
    let span = testing::span(5, 1, T);
    let mut s = score("relevance", Some(1), Some(0.5), T + 3);
    s.explanation = Some("why".into());
    s.error_type = Some("timeout".into());
    s.response_id = Some("resp-9".into());
    let e = event(&s, &span);
    let get = |k| attr::get_str(&e.attributes, k);
    assert_eq!(e.time_unix_nano, T + 3);
    assert_eq!(get(keys::GEN_AI_EVALUATION_NAME), Some("relevance"));
    assert_eq!(
        attr::get_f64(&e.attributes, keys::GEN_AI_EVALUATION_SCORE_VALUE),
        Some(0.5)
    );
    assert_eq!(
        get(keys::GEN_AI_EVALUATION_SCORE_LABEL),
        Some("relevance-label")
    );
    assert_eq!(get(keys::GEN_AI_EVALUATION_EXPLANATION), Some("why"));
    assert_eq!(get(keys::ERROR_TYPE), Some("timeout"));
    assert_eq!(get(keys::GEN_AI_RESPONSE_ID), Some("resp-9"));
    assert_eq!(e.attributes.len(), 6);
}

#[test]
fn no_spans_no_scores_nothing_changes() {
    let mut none: Vec<Span> = Vec::new();
    assert_eq!(
        attach_scores(&mut none, tid(5), &[score("x", None, None, T)]),
        Attached::default()
    );
    let mut spans = trace_spans();
    let before = spans.clone();
    assert_eq!(attach_scores(&mut spans, tid(5), &[]), Attached::default());
    assert_eq!(spans, before);
}

fn arb_score() -> impl Strategy<Value = Score> {
    (
        prop::sample::select(vec!["a", "b", "c"]),
        prop::option::of(1u8..5),
        prop::option::of(prop::sample::select(vec![0.0, 0.5, 1.0])),
        0u64..4,
    )
        .prop_map(|(name, span, value, t)| score(name, span, value, T + t * 1000))
}

proptest! {
    /// Each distinct score is on exactly one span once (its own, else the root), whether
    /// attached once or twice; the counts add up to the scores given.
    #[test]
    fn every_distinct_score_is_added_exactly_once(scores in prop::collection::vec(arb_score(), 0..30)) {
        let mut spans = trace_spans();
        let before = evaluations(&spans).len();
        let first = attach_scores(&mut spans, tid(5), &scores);
        prop_assert_eq!(first.added + first.already_on_span + first.duplicates, scores.len());
        let second = attach_scores(&mut spans, tid(5), &scores);
        prop_assert_eq!(second.added, 0);
        let seen = evaluations(&spans);
        prop_assert_eq!(seen.len(), before + first.added);
        for s in &scores {
            let on = match s.span_id {
                Some(id) if id.0[0] <= 2 => id.0[0],
                _ => 1,
            };
            let key = (on, s.name.clone(), s.value, s.label.clone(), s.time_unix_nano);
            prop_assert_eq!(seen.iter().filter(|e| **e == key).count(), 1, "{:?}", key);
        }
    }
}
