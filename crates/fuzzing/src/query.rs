//! The TraceQL parser (`q=` of the search API), and the parsed query on a small trace.
//!
//! Checked: a parsed query's canonical text parses to the same query and prints the same
//! text again; evaluation terminates without panicking; and when the query matches the
//! trace, its [`Hints`](tracegate_query::traceql::Hints) hold for that trace, since a store
//! skips every trace they rule out.

use std::sync::OnceLock;
use tracegate_model::Span;
use tracegate_query::traceql::{self, Query};
use tracegate_testkit::{Generator, GeneratorConfig, Profile};

/// A TraceQL query, as UTF-8 text (other bytes are refused before the parser, as by the API).
pub fn traceql(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = traceql::parse(text) else {
        return;
    };
    let canonical = query.to_string();
    match traceql::parse(&canonical) {
        Ok(again) => {
            assert_eq!(
                again, query,
                "canonical text {canonical:?} parses to another query"
            );
            assert_eq!(again.to_string(), canonical, "canonical text is not stable");
        }
        Err(e) => panic!("canonical text {canonical:?} of {text:?} does not parse: {e}"),
    }
    let _ = query.output_attributes();
    let _ = query.needs_whole_trace();
    let spans = trace();
    if query.matches(spans) {
        check_hints(&query, spans);
    }
    // A trace's fragment, as the hot tier may hold it.
    let _ = query.evaluate(&spans[..spans.len() / 2]);
}

fn check_hints(query: &Query, spans: &[Span]) {
    let hints = query.hints();
    let long_enough = |s: &Span| {
        hints
            .min_span_duration_ns
            .is_none_or(|min| s.duration_ns() >= min)
    };
    let named = |s: &Span| {
        hints
            .service_names
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == s.service_name()))
    };
    assert!(
        spans.iter().any(named),
        "service_names hint rules out a match: {hints:?}"
    );
    assert!(
        spans.iter().any(long_enough),
        "min_span_duration hint rules out a match: {hints:?}"
    );
    if hints.same_span {
        assert!(
            spans.iter().any(|s| named(s) && long_enough(s)),
            "same_span hint rules out a match: {hints:?}"
        );
    }
    if let Some(min) = hints.min_trace_duration_ns {
        let start = spans
            .iter()
            .map(|s| s.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let end = spans
            .iter()
            .map(|s| s.end_time_unix_nano)
            .max()
            .unwrap_or(0);
        assert!(
            end.saturating_sub(start) >= min,
            "min_trace_duration hint rules out a match: {hints:?}"
        );
    }
}

/// One RAG trace of the testkit (about 10 spans over four services, with GenAI attributes).
fn trace() -> &'static [Span] {
    static TRACE: OnceLock<Vec<Span>> = OnceLock::new();
    TRACE.get_or_init(|| {
        let config = GeneratorConfig {
            seed: 17,
            profile: Profile::Rag,
            ..Default::default()
        };
        Generator::new(config).batch_with_traces(1).spans
    })
}
