//! Tests of the board and the processor (the extraction's golden cases are in
//! `extract/tests.rs`).
//!
//! - [`join`]: golden join cases: trace context, response id, request id, misses, tenants,
//!   time to live, which span an id names;
//! - [`pending`]: scores posted before release end up in the trace; span-borne scores;
//!   bounds and expiry, counted;
//! - [`properties`]: proptest over random operations: the index and pending scores never
//!   exceed their bounds, ids expire exactly at their time to live, a joined score always
//!   has a trace id;
//! - [`processor`]: the YAML fixture, validation with key paths, the `logs`-only rule, what
//!   a batch comes out as, and the metrics.

mod join;
mod pending;
mod processor;
mod properties;

use crate::{BoardLimits, ScoreBoard};
use std::sync::Arc;
use tracegate_model::proto::common::v1::KeyValue;
use tracegate_model::span::Event;
use tracegate_model::{
    ReleaseReason, Resource, Score, Span, SpanId, SpanKind, Trace, TraceId, attr, keys,
};

pub(super) const S: u64 = 1_000_000_000;

pub(super) fn resource(tenant: Option<&str>) -> Arc<Resource> {
    Arc::new(Resource {
        tenant: tenant.map(Arc::from),
        ..Resource::with_service("rag-api")
    })
}

/// A span of trace `t`, id `id`, of the single tenant.
pub(super) fn span(t: u8, id: u8, attributes: Vec<KeyValue>) -> Span {
    span_of(resource(None), t, id, attributes)
}

pub(super) fn span_of(resource: Arc<Resource>, t: u8, id: u8, attributes: Vec<KeyValue>) -> Span {
    Span {
        resource,
        scope: Arc::default(),
        trace_id: TraceId([t; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: format!("span-{id}"),
        kind: SpanKind::Internal,
        start_time_unix_nano: 0,
        end_time_unix_nano: 0,
        attributes,
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status: Default::default(),
        facts: Default::default(),
        origin: Default::default(),
    }
}

/// An LLM span: a chat call with a response id and the app's request id.
pub(super) fn llm(t: u8, id: u8, response: &str, request: &str) -> Span {
    span(
        t,
        id,
        vec![
            attr::string(keys::GEN_AI_OPERATION_NAME, "chat"),
            attr::string(keys::GEN_AI_RESPONSE_ID, response),
            attr::string("request_id", request),
        ],
    )
}

pub(super) fn trace(spans: Vec<Span>) -> Trace {
    Trace {
        trace_id: spans[0].trace_id,
        spans,
        release_reason: ReleaseReason::Complete,
        tree_whole: true,
        fragment: None,
        critical_path: None,
        sampling: None,
        scores: Vec::new(),
    }
}

/// A score naming the given ids and nothing else.
pub(super) fn score(response: Option<&str>, request: Option<&str>) -> Score {
    Score {
        name: "relevance".into(),
        value: Some(0.1),
        response_id: response.map(str::to_owned),
        request_id: request.map(str::to_owned),
        ..Default::default()
    }
}

pub(super) fn evaluation_event(attributes: Vec<KeyValue>) -> Event {
    Event {
        time_unix_nano: 5,
        name: keys::GEN_AI_EVALUATION_RESULT.into(),
        attributes,
        dropped_attributes_count: 0,
    }
}

pub(super) fn board() -> ScoreBoard {
    ScoreBoard::new(BoardLimits::default())
}

#[test]
fn the_board_is_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ScoreBoard>();
    // Assembly shards and the logs pipeline use one board from several threads.
    let board = Arc::new(board());
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let board = board.clone();
            std::thread::spawn(move || {
                for i in 0..100u8 {
                    board.remember_at(&llm(t, i, &format!("c-{t}-{i}"), &format!("r-{t}-{i}")), 0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(board.stats().index_entries, 800);
    board.check();
}
