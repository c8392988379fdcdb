//! Pending scores and `attach`.

use super::*;
use tracegate_model::{DEFAULT_TENANT, ScoreJoin, ScoreSource};

const T: &str = DEFAULT_TENANT;

fn joined(t: u8, name: &str) -> Score {
    Score {
        name: name.into(),
        trace_id: Some(TraceId([t; 16])),
        span_id: Some(SpanId([2; 8])),
        joined_by: ScoreJoin::TraceContext,
        ..Default::default()
    }
}

#[test]
fn a_score_posted_before_release_is_attached_once() {
    let b = board();
    assert!(b.post_at(joined(1, "relevance"), T, 0));
    assert!(b.post_at(joined(1, "faithfulness"), T, 1));
    assert!(b.post_at(joined(2, "other"), T, 1));
    assert_eq!(b.stats().pending_scores, 3);
    let mut t = trace(vec![span(1, 2, vec![])]);
    b.attach_at(&mut t, 2);
    let names: Vec<_> = t.scores.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["relevance", "faithfulness"], "in the order posted");
    assert_eq!(b.stats().pending_scores, 1);
    // Released again: nothing left for it.
    let mut again = trace(vec![span(1, 3, vec![])]);
    b.attach_at(&mut again, 3);
    assert!(again.scores.is_empty());
    // A fragment never takes pending scores (its trace, held or decided, has them).
    let mut fragment = trace(vec![span(2, 3, vec![])]);
    fragment.fragment = Some(tracegate_model::Fragment::OverCap);
    b.attach_at(&mut fragment, 3);
    assert!(fragment.scores.is_empty());
    assert_eq!(b.stats().pending_scores, 1);
    b.check();
}

#[test]
fn unjoined_scores_are_not_posted_and_tenants_are_apart() {
    let b = board();
    assert!(!b.post_at(score(Some("c"), None), T, 0));
    assert!(b.post_at(joined(1, "x"), "acme", 0));
    let mut other_tenant = trace(vec![span(1, 2, vec![])]);
    b.attach_at(&mut other_tenant, 1);
    assert!(other_tenant.scores.is_empty());
    let mut acme = trace(vec![span_of(resource(Some("acme")), 1, 2, vec![])]);
    b.attach_at(&mut acme, 1);
    assert_eq!(acme.scores.len(), 1);
}

#[test]
fn pending_scores_expire_and_are_counted() {
    let b = ScoreBoard::new(BoardLimits {
        pending_ttl_ns: 10 * S,
        ..BoardLimits::default()
    });
    b.post_at(joined(1, "x"), T, 0);
    b.post_at(joined(1, "y"), T, 5 * S);
    // The trace's entry expires with its first score.
    let mut t = trace(vec![span(1, 2, vec![])]);
    b.attach_at(&mut t, 10 * S);
    assert!(t.scores.is_empty());
    let stats = b.stats();
    assert_eq!((stats.pending_expired, stats.pending_scores), (2, 0));
    assert_eq!(stats.pending_bytes, 0);
}

#[test]
fn pending_scores_are_bounded_in_count_and_bytes() {
    // 16 scores across 16 shards: one per shard. Two traces whose ids land in the same
    // shard (same bytes 8..12): the second pushes the first out.
    let b = ScoreBoard::new(BoardLimits {
        max_pending: 16,
        ..BoardLimits::default()
    });
    let mut first = joined(1, "first");
    let mut second = joined(1, "second");
    let mut id = [1u8; 16];
    first.trace_id = Some(TraceId(id));
    id[0] = 2;
    second.trace_id = Some(TraceId(id));
    assert!(b.post_at(first, T, 0));
    assert!(b.post_at(second, T, 1));
    let stats = b.stats();
    assert_eq!((stats.pending_scores, stats.pending_full), (1, 1));
    b.check();

    // A score bigger than a shard's byte share is refused and counted.
    let b = ScoreBoard::new(BoardLimits {
        max_pending_bytes: 16 * 1024,
        ..BoardLimits::default()
    });
    let big = Score {
        explanation: Some("x".repeat(2048)),
        ..joined(1, "big")
    };
    assert!(!b.post_at(big, T, 0));
    assert!(b.post_at(joined(1, "small"), T, 0));
    assert_eq!(b.stats().pending_full, 1);
    // Shrinking the bounds lets go of what no longer fits.
    b.set_limits(BoardLimits {
        max_pending: 0,
        ..b.limits()
    });
    assert_eq!(b.stats().pending_scores, 0);
    assert_eq!(b.stats().pending_full, 2);
    b.check();
}

#[test]
fn attach_adds_span_event_and_feedback_span_scores() {
    let b = board();
    // The index knows a call of another trace.
    b.remember_at(&llm(9, 9, "chatcmpl-other", "r-9"), 0);
    let mut rated = llm(1, 2, "chatcmpl-1", "r-1");
    rated.events = vec![evaluation_event(vec![
        attr::string(keys::GEN_AI_EVALUATION_NAME, "on-the-span"),
        attr::double(keys::GEN_AI_EVALUATION_SCORE_VALUE, 0.1),
    ])];
    let mut root = span(1, 1, vec![]);
    root.events = vec![
        // Names the LLM span of this trace by its response id.
        evaluation_event(vec![
            attr::string(keys::GEN_AI_EVALUATION_NAME, "in-trace"),
            attr::string(keys::GEN_AI_RESPONSE_ID, "chatcmpl-1"),
        ]),
        // Names a call of another trace, known to the index.
        evaluation_event(vec![
            attr::string(keys::GEN_AI_EVALUATION_NAME, "indexed"),
            attr::string(keys::GEN_AI_RESPONSE_ID, "chatcmpl-other"),
        ]),
        // Names a call nobody knows: kept, on the span it is on.
        evaluation_event(vec![
            attr::string(keys::GEN_AI_EVALUATION_NAME, "unknown"),
            attr::string(keys::GEN_AI_RESPONSE_ID, "chatcmpl-nobody"),
        ]),
    ];
    let mut feedback = span(1, 3, vec![attr::double("feedback.score", 0.0)]);
    feedback.links = vec![tracegate_model::span::Link {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        ..Default::default()
    }];
    b.post_at(joined(1, "posted"), T, 0);
    let mut t = trace(vec![root, rated, feedback]);
    b.attach_at(&mut t, 1);
    let got: Vec<_> = t
        .scores
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.source,
                s.joined_by,
                s.trace_id.map(|t| t.0[0]),
                s.span_id.map(|s| s.0[0]),
            )
        })
        .collect();
    use ScoreJoin::*;
    use ScoreSource::*;
    assert_eq!(
        got,
        [
            ("posted", Log, TraceContext, Some(1), Some(2)),
            ("in-trace", SpanEvent, TraceContext, Some(1), Some(2)),
            ("indexed", SpanEvent, ResponseId, Some(9), Some(9)),
            ("unknown", SpanEvent, TraceContext, Some(1), Some(1)),
            ("on-the-span", SpanEvent, TraceContext, Some(1), Some(2)),
            ("span-3", FeedbackSpan, TraceContext, Some(1), Some(2)),
        ]
    );
    assert_eq!(b.stats().join_misses, 1, "the unknown response id");
    assert!(t.scores.iter().all(Score::is_joined));
}

#[test]
fn attach_on_an_empty_board_changes_nothing() {
    let b = board();
    let mut t = trace(vec![llm(1, 2, "c", "r"), span(1, 1, vec![])]);
    let before = t.clone();
    b.attach_at(&mut t, 0);
    assert_eq!(t, before);
}
