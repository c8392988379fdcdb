//! Golden join cases.

use super::*;
use tracegate_model::{DEFAULT_TENANT, ScoreJoin};

const T: &str = DEFAULT_TENANT;

#[test]
fn a_score_with_trace_context_keeps_it() {
    let b = board();
    b.remember_at(&llm(1, 2, "chatcmpl-1", "req-1"), 0);
    // Its own ids win even when its response id names another call.
    let mut s = Score {
        trace_id: Some(TraceId([9; 16])),
        span_id: Some(SpanId([8; 8])),
        ..score(Some("chatcmpl-1"), None)
    };
    assert_eq!(b.join_at(&mut s, T, 1), ScoreJoin::TraceContext);
    assert_eq!(
        (s.trace_id, s.span_id),
        (Some(TraceId([9; 16])), Some(SpanId([8; 8])))
    );
    assert_eq!(b.stats().join_misses, 0);
}

#[test]
fn by_response_id_then_by_request_id() {
    let b = board();
    assert!(b.remember_at(&llm(1, 2, "chatcmpl-1", "req-1"), 0));
    assert!(b.remember_at(&llm(3, 4, "chatcmpl-3", "req-3"), 0));
    assert_eq!(b.stats().index_entries, 4);

    let mut s = score(Some("chatcmpl-1"), None);
    assert_eq!(b.join_at(&mut s, T, S), ScoreJoin::ResponseId);
    assert_eq!(
        (s.trace_id, s.span_id),
        (Some(TraceId([1; 16])), Some(SpanId([2; 8])))
    );

    let mut s = score(None, Some("req-3"));
    assert_eq!(b.join_at(&mut s, T, S), ScoreJoin::RequestId);
    assert_eq!(s.span_id, Some(SpanId([4; 8])));

    // Both named, naming different calls: the response id is looked up first.
    let mut s = score(Some("chatcmpl-1"), Some("req-3"));
    assert_eq!(b.join_at(&mut s, T, S), ScoreJoin::ResponseId);
    assert_eq!(s.trace_id, Some(TraceId([1; 16])));
    // An unknown response id falls back to the request id.
    let mut s = score(Some("chatcmpl-unknown"), Some(" req-3 "));
    assert_eq!(b.join_at(&mut s, T, S), ScoreJoin::RequestId);
    assert_eq!(s.trace_id, Some(TraceId([3; 16])));
    assert_eq!(b.stats().join_misses, 0);
}

#[test]
fn misses_are_counted_and_the_score_kept() {
    let b = board();
    b.remember_at(&llm(1, 2, "chatcmpl-1", "req-1"), 0);
    let mut unknown = score(Some("chatcmpl-2"), Some("req-2"));
    assert_eq!(b.join_at(&mut unknown, T, 1), ScoreJoin::Unresolved);
    assert_eq!((unknown.trace_id, unknown.span_id), (None, None));
    assert_eq!(unknown.name, "relevance");
    let mut anonymous = score(None, None);
    assert_eq!(b.join_at(&mut anonymous, T, 1), ScoreJoin::Unresolved);
    assert_eq!(b.stats().join_misses, 2);
}

#[test]
fn tenants_never_see_each_others_calls() {
    let b = board();
    b.remember_at(
        &span_of(
            resource(Some("acme")),
            1,
            2,
            llm(1, 2, "c-1", "r-1").attributes,
        ),
        0,
    );
    let mut s = score(Some("c-1"), None);
    assert_eq!(b.join_at(&mut s, "globex", 1), ScoreJoin::Unresolved);
    assert_eq!(b.join_at(&mut s, T, 1), ScoreJoin::Unresolved);
    assert_eq!(b.join_at(&mut s, "acme", 1), ScoreJoin::ResponseId);
}

#[test]
fn ids_are_forgotten_at_their_time_to_live() {
    let b = ScoreBoard::new(BoardLimits {
        call_ttl_ns: 10 * S,
        ..BoardLimits::default()
    });
    // Only a response id, so the one entry is in the shard the lookups visit (expiry is
    // lazy, per shard).
    b.remember_at(
        &span(1, 2, vec![attr::string(keys::GEN_AI_RESPONSE_ID, "c-1")]),
        5 * S,
    );
    let mut s = score(Some("c-1"), None);
    assert_eq!(b.join_at(&mut s, T, 15 * S - 1), ScoreJoin::ResponseId);
    let mut s = score(Some("c-1"), None);
    assert_eq!(b.join_at(&mut s, T, 15 * S), ScoreJoin::Unresolved);
    assert_eq!(b.stats().index_entries, 0, "expired entries are freed");
}

#[test]
fn within_a_trace_the_model_call_wins_and_a_later_trace_replaces() {
    let b = board();
    // The server span, which also carries the request id, arrives first...
    b.remember_at(&span(1, 1, vec![attr::string("app.request_id", "r-1")]), 0);
    // ...then the LLM span of the same trace: it takes the entry.
    b.remember_at(
        &span(
            1,
            2,
            vec![
                attr::string("request.id", "r-1"),
                attr::string(keys::GEN_AI_REQUEST_MODEL, "gpt-4o"),
            ],
        ),
        1,
    );
    // Another span of that trace after it does not.
    b.remember_at(&span(1, 3, vec![attr::string("request_id", "r-1")]), 2);
    let mut s = score(None, Some("r-1"));
    b.join_at(&mut s, T, 3);
    assert_eq!(s.span_id, Some(SpanId([2; 8])));
    // A later call in another trace with the same id replaces it.
    b.remember_at(&span(7, 1, vec![attr::string("request_id", "r-1")]), 4);
    let mut s = score(None, Some("r-1"));
    b.join_at(&mut s, T, 5);
    assert_eq!(s.trace_id, Some(TraceId([7; 16])));
    assert_eq!(b.stats().index_entries, 1);
    b.check();
}

#[test]
fn request_id_keys_in_order_and_integer_ids() {
    let b = board();
    // `tracegate.request_id` outranks `request_id`, wherever each appears.
    b.remember_at(
        &span(
            1,
            2,
            vec![
                attr::string("request_id", "loser"),
                attr::string(keys::TRACEGATE_REQUEST_ID, "winner"),
            ],
        ),
        0,
    );
    let mut s = score(None, Some("winner"));
    assert_eq!(b.join_at(&mut s, T, 1), ScoreJoin::RequestId);
    let mut s = score(None, Some("loser"));
    assert_eq!(b.join_at(&mut s, T, 1), ScoreJoin::Unresolved);
    // An integer id on the span joins the same digits in text.
    b.remember_at(&span(3, 4, vec![attr::int("request_id", -12345)]), 0);
    let mut s = score(None, Some("-12345"));
    assert_eq!(b.join_at(&mut s, T, 1), ScoreJoin::RequestId);
    assert_eq!(s.trace_id, Some(TraceId([3; 16])));
}

#[test]
fn spans_without_ids_are_not_remembered() {
    let b = board();
    let plain = span(
        1,
        2,
        vec![
            attr::string(keys::GEN_AI_OPERATION_NAME, "chat"),
            attr::string("http.request.id_like", "x"),
            attr::string("id", "x"),
            attr::string("gen_ai.response.idx", "x"),
            attr::int(keys::GEN_AI_USAGE_INPUT_TOKENS, 3),
        ],
    );
    assert!(!b.remember_at(&plain, 0));
    // An empty id is none.
    assert!(!b.remember_at(&span(1, 2, vec![attr::string("request_id", " ")]), 0));
    assert_eq!(b.stats().index_entries, 0);
}

#[test]
fn llm_log_records_with_trace_context_feed_the_index() {
    use tracegate_model::{LogKind, LogRecord};
    let b = board();
    let mut record = LogRecord {
        attributes: vec![attr::string(keys::TRACEGATE_REQUEST_ID, "r-log")],
        trace_id: Some(TraceId([4; 16])),
        span_id: Some(SpanId([5; 8])),
        ..LogRecord::empty()
    };
    // Not marked an LLM call: ignored.
    assert!(!b.remember_log_at(&record, 0));
    record.facts.kind = LogKind::LlmCall;
    assert!(b.remember_log_at(&record, 0));
    let mut s = score(None, Some("r-log"));
    assert_eq!(b.join_at(&mut s, T, 1), ScoreJoin::RequestId);
    assert_eq!(s.span_id, Some(SpanId([5; 8])));
    // Without trace context there is nothing to remember.
    record.trace_id = None;
    assert!(!b.remember_log_at(&record, 0));
}

#[test]
fn the_wall_clock_conveniences_agree_with_the_clock_given() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let now = Arc::new(AtomicU64::new(100 * S));
    let clock = now.clone();
    let b = ScoreBoard::with_clock(
        BoardLimits {
            call_ttl_ns: 10 * S,
            ..BoardLimits::default()
        },
        Arc::new(move || clock.load(Ordering::Relaxed)),
    );
    assert!(b.remember(&llm(1, 2, "c-1", "r-1")));
    now.store(109 * S, Ordering::Relaxed);
    let mut s = score(Some("c-1"), None);
    assert_eq!(b.join(&mut s, T), ScoreJoin::ResponseId);
    now.store(110 * S, Ordering::Relaxed);
    let mut s = score(Some("c-1"), None);
    assert_eq!(b.join(&mut s, T), ScoreJoin::Unresolved);
    // The real wall clock is past 2020.
    assert!(crate::wall_clock_ns() > 1_577_836_800 * S);
}
