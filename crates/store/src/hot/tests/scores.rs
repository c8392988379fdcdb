//! A released trace's scores as `gen_ai.evaluation.result` events on the span they rate
//! (the root when that span is unknown), the same from the head, from a block, by id and
//! in a search; a span event's own score is not repeated; the shared payload is unchanged.

use super::*;
use std::ops::ControlFlow;
use tracegate_model::proto::trace::v1::span::Event;
use tracegate_model::{Score, ScoreSource, attr, keys};

/// (event name, gen_ai.evaluation.name, value, label, time) of each event of span `id`.
type Seen = Vec<(String, Option<String>, Option<f64>, Option<String>, u64)>;

fn events_of(spans: &[Span], id: u64) -> Seen {
    let span = spans
        .iter()
        .find(|s| s.span_id == SpanId(id.to_be_bytes()))
        .expect("the span is served");
    span.events
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                attr::get_str(&e.attributes, keys::GEN_AI_EVALUATION_NAME).map(str::to_owned),
                attr::get_f64(&e.attributes, keys::GEN_AI_EVALUATION_SCORE_VALUE),
                attr::get_str(&e.attributes, keys::GEN_AI_EVALUATION_SCORE_LABEL)
                    .map(str::to_owned),
                e.time_unix_nano,
            )
        })
        .collect()
}

fn score(name: &str, span: Option<u64>, source: ScoreSource, value: f64) -> Score {
    Score {
        name: name.into(),
        value: Some(value),
        label: Some(format!("{name}-label")),
        trace_id: Some(tid(5, 5)),
        span_id: span.map(|s| SpanId(s.to_be_bytes())),
        source,
        time_unix_nano: T0 + 10 * S,
        service_name: "eval".into(),
        ..Default::default()
    }
}

/// Root span 1 and child span 2, which carries its own `relevance` evaluation event, rated
/// by four scores.
fn rated() -> (Arc<Payload>, Seen, Seen) {
    let id = tid(5, 5);
    let root = span_of(id, 1, None, "api", T0, S);
    let mut child = span_of(id, 2, None, "llm", T0 + 10, S / 2);
    child.parent_span_id = Some(SpanId(1u64.to_be_bytes()));
    child.events.push(Event {
        time_unix_nano: T0 + 20,
        name: keys::GEN_AI_EVALUATION_RESULT.into(),
        attributes: vec![attr::string(keys::GEN_AI_EVALUATION_NAME, "relevance")],
        dropped_attributes_count: 0,
    });
    let mut trace = testing::group_into_traces(&[root, child]).remove(0);
    let mut timeless = score("toxicity", None, ScoreSource::Log, 0.0);
    timeless.time_unix_nano = 0;
    trace.scores = vec![
        // Read from span 2's own event: already there.
        score("relevance", Some(2), ScoreSource::SpanEvent, 0.9),
        score("helpfulness", Some(2), ScoreSource::FeedbackSpan, 1.0),
        // A span the trace does not hold, and no span at all: on the root.
        score("faithfulness", Some(99), ScoreSource::Log, 0.4),
        timeless,
    ];
    let event = |name: &str, value, label: Option<&str>, time| {
        (
            keys::GEN_AI_EVALUATION_RESULT.to_owned(),
            Some(name.to_owned()),
            value,
            label.map(str::to_owned),
            time,
        )
    };
    let child_events = vec![
        event("relevance", None, None, T0 + 20),
        event(
            "helpfulness",
            Some(1.0),
            Some("helpfulness-label"),
            T0 + 10 * S,
        ),
    ];
    let root_events = vec![
        event(
            "faithfulness",
            Some(0.4),
            Some("faithfulness-label"),
            T0 + 10 * S,
        ),
        // No time of its own: the rated span's end.
        event("toxicity", Some(0.0), Some("toxicity-label"), T0 + S),
    ];
    (
        Arc::new(Payload::Traces(vec![trace])),
        root_events,
        child_events,
    )
}

fn scanned(store: &HotStore) -> Vec<Span> {
    let mut out = Vec::new();
    store
        .scan(DEFAULT, &ScanFilter::all(), &mut |t| {
            out.extend_from_slice(t);
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

#[tokio::test]
async fn scores_are_served_as_evaluation_events_on_the_spans_they_rate() {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = started("hot-scores", &small_config(dir.path()), clock()).await;
    let (payload, root_events, child_events) = rated();
    exporter.export(payload.clone()).await.unwrap();
    let store = exporter.store().clone();
    let id = tid(5, 5);

    // From the head, twice: the events are added on the way out, not to the payload.
    for _ in 0..2 {
        let found = find(&store, DEFAULT, &id);
        assert_eq!(events_of(&found, 1), root_events);
        assert_eq!(events_of(&found, 2), child_events);
    }
    let searched = scanned(&store);
    assert_eq!(events_of(&searched, 1), root_events);
    assert_eq!(events_of(&searched, 2), child_events);
    let Payload::Traces(traces) = &*payload else {
        unreachable!()
    };
    assert!(
        traces[0].spans[0].events.is_empty(),
        "the payload is unchanged"
    );
    assert_eq!(traces[0].spans[1].events.len(), 1);

    // From the block, written with them.
    exporter.flush().await;
    assert_eq!(store.stats().blocks, 1);
    let found = find(&store, DEFAULT, &id);
    assert_eq!(events_of(&found, 1), root_events);
    assert_eq!(events_of(&found, 2), child_events);
    let searched = scanned(&store);
    assert_eq!(events_of(&searched, 1), root_events);
    assert_eq!(events_of(&searched, 2), child_events);
    exporter.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_trace_without_scores_is_served_as_it_came() {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = started("hot-no-scores", &small_config(dir.path()), clock()).await;
    let id = tid(6, 6);
    let spans = vec![span_of(id, 1, None, "api", T0, S)];
    exporter.export(traces(&spans)).await.unwrap();
    let store = exporter.store().clone();
    assert!(find(&store, DEFAULT, &id)[0].events.is_empty());
    exporter.flush().await;
    assert!(find(&store, DEFAULT, &id)[0].events.is_empty());
    exporter.shutdown().await.unwrap();
}
