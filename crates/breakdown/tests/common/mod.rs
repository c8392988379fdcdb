//! A terse span builder for the golden and property tests. Times are in ms.

#![allow(dead_code)]

use std::sync::Arc;
use tracegate_model::proto::common::v1::KeyValue;
use tracegate_model::span::Event;
use tracegate_model::{Resource, Scope, Span, SpanId, SpanKind, Status, TraceId, attr};

pub const MS: u64 = 1_000_000;

/// The span id with `n` in its last byte.
pub fn id(n: u64) -> SpanId {
    SpanId(n.to_be_bytes())
}

/// A span with id `n`, parent `parent`, from `start` to `end` ms, in service `svc`.
pub fn span(n: u64, parent: Option<u64>, start: u64, end: u64) -> Span {
    Span {
        resource: Arc::new(Resource::with_service("svc")),
        scope: Arc::new(Scope::default()),
        trace_id: TraceId([1; 16]),
        span_id: id(n),
        parent_span_id: parent.map(id),
        trace_state: String::new(),
        flags: 0,
        name: format!("span{n}"),
        kind: SpanKind::Internal,
        start_time_unix_nano: start * MS,
        end_time_unix_nano: end * MS,
        attributes: vec![],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        facts: Default::default(),
        origin: Default::default(),
        status: Status::default(),
    }
}

pub trait SpanExt {
    fn named(self, name: &str) -> Self;
    fn with(self, key: &str, value: &str) -> Self;
    fn kind(self, kind: SpanKind) -> Self;
    fn service(self, service: &str) -> Self;
    fn event(self, name: &str, at_ms: u64) -> Self;
}

impl SpanExt for Span {
    fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }
    fn with(mut self, key: &str, value: &str) -> Self {
        self.attributes.push(attr::string(key, value));
        self
    }
    fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }
    fn service(mut self, service: &str) -> Self {
        self.resource = Arc::new(Resource::with_service(service));
        self
    }
    fn event(mut self, name: &str, at_ms: u64) -> Self {
        self.events.push(Event {
            name: name.to_owned(),
            time_unix_nano: at_ms * MS,
            ..Default::default()
        });
        self
    }
}

pub fn attrs(span: &Span) -> &[KeyValue] {
    &span.attributes
}
