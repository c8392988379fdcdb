//! Hand-built spans and traces for the tests.

use crate::traceql::{SpanSet, parse};
use std::sync::Arc;
use tracegate_model::proto::common::v1::KeyValue;
use tracegate_model::{Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, TraceId, attr};

pub const MS: u64 = 1_000_000;
pub const S: u64 = 1_000_000_000;
/// A start time, so that spans do not start at 0.
pub const T0: u64 = 1_700_000_000 * S;

/// A span of trace 1 with id `id`, named `name`, of service `service`, from `start_ms` to
/// `end_ms` after [`T0`], a root unless given a parent.
pub fn span(id: u8, name: &str, service: &str, start_ms: u64, end_ms: u64) -> Span {
    Span {
        resource: Arc::new(Resource::with_service(service)),
        scope: Arc::new(Scope {
            name: "lib".into(),
            version: "1.2".into(),
            ..Default::default()
        }),
        trace_id: TraceId([7; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: name.to_owned(),
        kind: SpanKind::Internal,
        start_time_unix_nano: T0 + start_ms * MS,
        end_time_unix_nano: T0 + end_ms * MS,
        attributes: vec![],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status: Status::default(),
        facts: Default::default(),
        origin: Default::default(),
    }
}

/// Builder-style changes to a test span.
pub trait SpanExt: Sized {
    fn child_of(self, parent: u8) -> Self;
    fn with(self, kv: KeyValue) -> Self;
    fn kind(self, kind: SpanKind) -> Self;
    fn error(self, message: &str) -> Self;
    fn ok(self) -> Self;
}

impl SpanExt for Span {
    fn child_of(mut self, parent: u8) -> Self {
        self.parent_span_id = Some(SpanId([parent; 8]));
        self
    }
    fn with(mut self, kv: KeyValue) -> Self {
        self.attributes.push(kv);
        self
    }
    fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }
    fn error(mut self, message: &str) -> Self {
        self.status = Status {
            code: StatusCode::Error as i32,
            message: message.to_owned(),
        };
        self
    }
    fn ok(mut self) -> Self {
        self.status.code = StatusCode::Ok as i32;
        self
    }
}

/// A small RAG trace:
/// ```text
/// 1 "POST /chat"  frontend  server  0..2000ms  root
/// ├ 2 "retrieve"   rag      internal 100..600   tracegate.category=retrieval (fact)
/// │ └ 3 "query"    rag      client   150..550   db.system=qdrant, error "timeout"
/// └ 4 "chat gpt-4o" rag     client   700..1900  gen_ai.request.model=gpt-4o,
///                                                 gen_ai.usage.input_tokens=1500
///   5 "chat mini"   rag     client   1900..1950 gen_ai.request.model=gpt-4o-mini,
///                                                 gen_ai.usage.input_tokens="800" (string)
/// ```
pub fn rag_trace() -> Vec<Span> {
    use tracegate_model::{Category, SpanFacts};
    let mut retrieve = span(2, "retrieve", "rag", 100, 600).child_of(1);
    retrieve.facts = SpanFacts {
        category: Some(Category::Retrieval),
        ..Default::default()
    };
    vec![
        span(1, "POST /chat", "frontend", 0, 2000)
            .kind(SpanKind::Server)
            .ok()
            .with(attr::int("http.status_code", 200)),
        retrieve,
        span(3, "query", "rag", 150, 550)
            .child_of(2)
            .kind(SpanKind::Client)
            .with(attr::string("db.system", "qdrant"))
            .error("timeout"),
        span(4, "chat gpt-4o", "rag", 700, 1900)
            .child_of(1)
            .kind(SpanKind::Client)
            .with(attr::string("gen_ai.request.model", "gpt-4o"))
            .with(attr::int("gen_ai.usage.input_tokens", 1500))
            .with(attr::string(
                "tracegate.category",
                tracegate_model::Category::Llm.as_str(),
            )),
        span(5, "chat mini", "rag", 1900, 1950)
            .child_of(1)
            .kind(SpanKind::Client)
            .with(attr::string("gen_ai.request.model", "gpt-4o-mini"))
            .with(attr::string("gen_ai.usage.input_tokens", "800")),
    ]
}

/// The span ids (their first byte) of each spanset `query` gives on `trace`.
pub fn ids(query: &str, trace: &[Span]) -> Vec<Vec<u8>> {
    sets(query, trace)
        .iter()
        .map(|s| s.spans.iter().map(|sp| sp.span_id.0[0]).collect())
        .collect()
}

/// The spansets `query` gives on `trace`.
pub fn sets<'a>(query: &str, trace: &'a [Span]) -> Vec<SpanSet<'a>> {
    parse(query)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .evaluate(trace)
}

/// The ids of the one spanset `query` gives (empty when none).
pub fn one(query: &str, trace: &[Span]) -> Vec<u8> {
    let mut all = ids(query, trace);
    assert!(all.len() <= 1, "{query}: {all:?}");
    all.pop().unwrap_or_default()
}
