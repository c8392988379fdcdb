//! The score hook, end to end: spans feed the board's index at ingest, the `scores` log
//! processor joins and posts, and every release path attaches scores to the trace.

use super::*;
use std::sync::atomic::{AtomicU64, Ordering};
use tracegate_model::span::Event;
use tracegate_model::{
    Fragment, LogBatch, LogRecord, ReleaseReason, ScoreJoin, ScoreSource, SpanBatch, keys,
};
use tracegate_pipeline::{Assembler, LogProcessor};
use tracegate_scores::{BoardLimits, ScoreBoard, ScoresProcessor};

/// A board on a clock the test moves.
fn board() -> (Arc<ScoreBoard>, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(1_000 * S));
    let clock = now.clone();
    let board = ScoreBoard::with_clock(
        BoardLimits::default(),
        Arc::new(move || clock.load(Ordering::Relaxed)),
    );
    (Arc::new(board), now)
}

fn llm_span(trace: TraceId, id: u64, parent: Option<u64>) -> Span {
    let mut s = span(trace, id, parent, &service("rag-app"), "chat gpt-4o", 0);
    s.attributes = vec![
        attr::string(keys::GEN_AI_OPERATION_NAME, "chat"),
        attr::string(keys::GEN_AI_RESPONSE_ID, "chatcmpl-42"),
        attr::string("request_id", "req-42"),
    ];
    s
}

fn evaluation(name: &str, extra: Vec<tracegate_model::proto::common::v1::KeyValue>) -> LogRecord {
    let mut attributes = vec![
        attr::string(keys::GEN_AI_EVALUATION_NAME, name),
        attr::double(keys::GEN_AI_EVALUATION_SCORE_VALUE, 0.1),
    ];
    attributes.extend(extra);
    LogRecord {
        event_name: keys::GEN_AI_EVALUATION_RESULT.into(),
        attributes,
        ..LogRecord::empty()
    }
}

fn batch(spans: Vec<Span>) -> SpanBatch {
    SpanBatch { spans }
}

#[test]
fn scores_posted_before_release_end_up_in_the_released_trace() {
    let (board, _) = board();
    let mut shard = shard(&config()).with_scores(board.clone());
    let mut scores = ScoresProcessor::new(board.clone());
    let trace = trace_id(1);
    let mut out = Vec::new();
    // The LLM span and the root arrive; assembly remembers the LLM call's ids.
    shard.ingest(
        batch(vec![
            llm_span(trace, 2, Some(1)),
            span(trace, 1, None, &service("api"), "POST /v1/chat", 0),
        ]),
        0,
        &mut out,
    );
    assert_eq!(board.stats().index_entries, 2);
    // Three evaluations while the trace is held: by trace context, by response id only, and
    // the seed's quality log by request id only.
    let mut by_context = evaluation("relevance", vec![]);
    by_context.trace_id = Some(trace);
    by_context.span_id = Some(span_id(2));
    let by_response = evaluation(
        "faithfulness",
        vec![attr::string(keys::GEN_AI_RESPONSE_ID, "chatcmpl-42")],
    );
    let mut quality = LogRecord {
        body: Some(attr::string_value(
            r#"{"event":"quality","request_id":"req-42","rating":4,"feedback":"helpful"}"#,
        )),
        ..LogRecord::empty()
    };
    quality.structure_body();
    let logs = scores.process(LogBatch {
        records: vec![by_context, by_response, quality],
    });
    assert!(logs.records.iter().all(|r| r.facts.score.is_some()));
    assert!(out.is_empty());
    assert_eq!(board.stats().pending_scores, 3);

    // Released when idle: the trace carries the three, joined to the LLM span.
    shard.tick(2 * S, &mut out);
    assert_eq!(out.len(), 1);
    let got: Vec<_> = out[0]
        .scores
        .iter()
        .map(|s| (s.name.as_str(), s.joined_by, s.trace_id, s.span_id))
        .collect();
    let at = (Some(trace), Some(span_id(2)));
    assert_eq!(
        got,
        [
            ("relevance", ScoreJoin::TraceContext, at.0, at.1),
            ("faithfulness", ScoreJoin::ResponseId, at.0, at.1),
            ("user_feedback", ScoreJoin::RequestId, at.0, at.1),
        ]
    );
    assert_eq!(board.stats().pending_scores, 0);
    shard.check();
}

#[test]
fn span_event_scores_are_attached_at_release() {
    let (board, _) = board();
    let mut shard = shard(&config()).with_scores(board.clone());
    let trace = trace_id(2);
    let mut llm = llm_span(trace, 2, Some(1));
    llm.events = vec![Event {
        time_unix_nano: 7,
        name: keys::GEN_AI_EVALUATION_RESULT.into(),
        attributes: vec![
            attr::string(keys::GEN_AI_EVALUATION_NAME, "toxicity"),
            attr::string(keys::GEN_AI_EVALUATION_SCORE_LABEL, "safe"),
        ],
        dropped_attributes_count: 0,
    }];
    let mut out = Vec::new();
    shard.ingest(
        batch(vec![span(trace, 1, None, &service("api"), "root", 0), llm]),
        0,
        &mut out,
    );
    shard.tick(2 * S, &mut out);
    assert_eq!(out.len(), 1);
    let s = &out[0].scores;
    assert_eq!(s.len(), 1);
    assert_eq!(
        (
            s[0].name.as_str(),
            s[0].label.as_deref(),
            s[0].source,
            s[0].joined_by
        ),
        (
            "toxicity",
            Some("safe"),
            ScoreSource::SpanEvent,
            ScoreJoin::TraceContext
        )
    );
    assert_eq!(s[0].span_id, Some(span_id(2)));
}

#[test]
fn every_release_path_attaches() {
    let (board, _) = board();
    let limits = Limits {
        max_traces: 1,
        max_spans_per_trace: 1,
        ..config().limits(1)
    };
    let mut shard = shard_with(limits).with_scores(board.clone());
    let joined = |t: TraceId, name: &str| tracegate_model::Score {
        name: name.into(),
        trace_id: Some(t),
        span_id: Some(span_id(1)),
        ..Default::default()
    };
    let tenant = tracegate_model::DEFAULT_TENANT;
    let (a, b, c) = (trace_id(10), trace_id(11), trace_id(12));
    for (t, name) in [(a, "evicted"), (b, "over-cap"), (c, "shutdown")] {
        assert!(board.post(joined(t, name), tenant));
    }
    let root = |t| span(t, 1, None, &service("api"), "root", 0);
    let mut out = Vec::new();
    shard.ingest(batch(vec![root(a)]), 0, &mut out);
    // Trace b pushes a out (max_traces 1); b's second span is over the cap.
    shard.ingest(
        batch(vec![root(b), span(b, 2, Some(1), &service("api"), "x", 0)]),
        1,
        &mut out,
    );
    let reasons: Vec<_> = out
        .iter()
        .map(|t| (t.trace_id, t.release_reason, t.fragment))
        .collect();
    assert_eq!(
        reasons,
        [
            (a, ReleaseReason::Evicted, None),
            (b, ReleaseReason::Evicted, Some(Fragment::OverCap))
        ]
    );
    assert_eq!(out[0].scores[0].name, "evicted");
    // The over-cap fragment leaves trace b's pending score to the trace itself...
    assert!(out[1].scores.is_empty());
    // ...which gets it when trace c evicts it; c's comes with it at shutdown.
    out.clear();
    shard.ingest(batch(vec![root(c)]), 2, &mut out);
    shard.drain(&mut out);
    let got: Vec<_> = out
        .iter()
        .map(|t| {
            let names: Vec<_> = t.scores.iter().map(|s| s.name.as_str()).collect();
            (t.trace_id, t.release_reason, names)
        })
        .collect();
    assert_eq!(
        got,
        [
            (b, ReleaseReason::Evicted, vec!["over-cap"]),
            (c, ReleaseReason::Shutdown, vec!["shutdown"]),
        ]
    );
    // A late span of a released trace, carrying an evaluation event, comes out as a
    // fragment with its score.
    let mut late = span(a, 5, Some(1), &service("api"), "late", 0);
    late.events = vec![Event {
        name: keys::GEN_AI_EVALUATION_RESULT.into(),
        ..Default::default()
    }];
    out.clear();
    shard.ingest(batch(vec![late]), 3, &mut out);
    assert_eq!(out[0].fragment, Some(Fragment::Late));
    assert_eq!(out[0].scores.len(), 1);
    assert_eq!(board.stats().pending_scores, 0);
}

#[test]
fn without_a_board_assembly_knows_nothing_of_scores() {
    let mut shard = shard(&config());
    assert!(shard.scores().is_none());
    let trace = trace_id(3);
    let mut llm = llm_span(trace, 1, None);
    llm.events = vec![Event {
        name: keys::GEN_AI_EVALUATION_RESULT.into(),
        ..Default::default()
    }];
    let mut out = Vec::new();
    shard.ingest(batch(vec![llm]), 0, &mut out);
    shard.tick(2 * S, &mut out);
    assert_eq!(out.len(), 1);
    assert!(out[0].scores.is_empty());
}

#[test]
fn the_factory_gives_every_shard_the_board() {
    use tracegate_pipeline::{BuildContext, ComponentId, Processor, ProcessorFactory};
    let (board, _) = board();
    let factory = crate::TraceAssemblyFactory::with_scores(board.clone());
    let built = factory
        .build(
            &ComponentId::parse("trace_assembly").unwrap(),
            serde_yaml_ng::from_str("{ shards: 3 }").unwrap(),
            &BuildContext::new("t"),
        )
        .unwrap();
    let Processor::Assemble(mut shards) = built else {
        panic!("not an assembler");
    };
    assert_eq!(shards.len(), 3);
    let mut out = Vec::new();
    for (i, shard) in shards.iter_mut().enumerate() {
        let mut s = llm_span(trace_id(20 + i as u64), 1, None);
        s.attributes = vec![attr::string("request_id", format!("req-{i}"))];
        shard.ingest(batch(vec![s]), 0, &mut out);
    }
    assert_eq!(board.stats().index_entries, 3, "each shard fed the board");
}
