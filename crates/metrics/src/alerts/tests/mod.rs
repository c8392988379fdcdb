//! Tests of the alerts processor as a whole, with hand-built traces and an injected clock:
//! - `config`: the YAML fixture, defaults and config errors with key paths;
//! - `engine`: the seed's rules firing and resolving on generated traffic, `min_count`,
//!   grouping and its bound, resends, values read from spans;
//! - `api`: the Prometheus JSON shapes;
//! - `notify`: the Alertmanager body and retry against an in-process server, and the run
//!   loop end to end.

mod api;
mod config;
mod engine;
mod notify;

use std::sync::Arc;
use tracegate_model::{
    Category, LlmStages, ReleaseReason, Resource, Scope, Span, SpanFacts, SpanId, SpanKind, Status,
    StatusCode, Trace, TraceId, attr,
};

pub const SEC: u64 = 1_000_000_000;
/// 2023-11-14T22:13:20Z.
pub const T0: u64 = 1_700_000_000 * SEC;

/// A span builder with the fields the rules read.
#[derive(Clone)]
pub struct S {
    pub service: &'static str,
    pub name: &'static str,
    pub kind: SpanKind,
    pub category: Option<Category>,
    pub ms: u64,
    pub error: bool,
    pub attrs: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
    pub prefill_ms: Option<u64>,
}

impl S {
    pub fn new(service: &'static str, name: &'static str, ms: u64) -> Self {
        Self {
            service,
            name,
            kind: SpanKind::Internal,
            category: None,
            ms,
            error: false,
            attrs: vec![],
            prefill_ms: None,
        }
    }

    pub fn llm(ms: u64) -> Self {
        Self {
            category: Some(Category::Llm),
            kind: SpanKind::Client,
            ..Self::new("llm-service", "chat gpt-4o", ms)
        }
        .attr(attr::string("gen_ai.request.model", "gpt-4o"))
    }

    pub fn error(mut self) -> Self {
        self.error = true;
        self
    }

    pub fn attr(mut self, kv: opentelemetry_proto::tonic::common::v1::KeyValue) -> Self {
        self.attrs.push(kv);
        self
    }
}

/// A trace: the first span is the root, the others its children, all starting at 0.
pub fn trace(n: u64, spans: &[S]) -> Trace {
    let trace_id = TraceId(u128::from(n + 1).to_be_bytes());
    let built = spans
        .iter()
        .enumerate()
        .map(|(i, s)| Span {
            resource: Arc::new(Resource::with_service(s.service)),
            scope: Arc::new(Scope::default()),
            trace_id,
            span_id: SpanId(((i as u64) + 1).to_be_bytes()),
            parent_span_id: (i > 0).then(|| SpanId(1u64.to_be_bytes())),
            trace_state: String::new(),
            flags: 0,
            name: s.name.to_owned(),
            kind: s.kind,
            start_time_unix_nano: T0,
            end_time_unix_nano: T0 + s.ms * 1_000_000,
            attributes: s.attrs.clone(),
            dropped_attributes_count: 0,
            events: vec![],
            dropped_events_count: 0,
            links: vec![],
            dropped_links_count: 0,
            status: Status {
                code: if s.error {
                    StatusCode::Error as i32
                } else {
                    StatusCode::Unset as i32
                },
                ..Default::default()
            },
            facts: SpanFacts {
                category: s.category,
                llm: s.prefill_ms.map(|p| LlmStages {
                    prefill_ns: p * 1_000_000,
                    decode_ns: (s.ms - p) * 1_000_000,
                }),
                ..Default::default()
            },
            origin: Default::default(),
        })
        .collect();
    Trace {
        trace_id,
        spans: built,
        release_reason: ReleaseReason::Complete,
        tree_whole: true,
        fragment: None,
        critical_path: None,
        sampling: None,
        scores: Vec::new(),
    }
}

/// A RAG-shaped trace: a server root, a retrieval and an LLM call of `llm_ms`; the LLM call
/// errs when `error`.
pub fn rag(n: u64, llm_ms: u64, error: bool) -> Trace {
    let mut llm = S::llm(llm_ms);
    llm.error = error;
    let root = S {
        kind: SpanKind::Server,
        ..S::new("chat-gateway", "POST /chat", llm_ms + 50)
    };
    let retrieval = S {
        category: Some(Category::Retrieval),
        ..S::new("retriever", "vector search", 20)
    };
    trace(n, &[root, retrieval, llm])
}

/// Parses a YAML `processors.alerts` section and builds the alerts.
pub fn alerts(yaml: &str) -> crate::alerts::Alerts {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let config: crate::alerts::AlertsConfig =
        tracegate_pipeline::parse_section("processors.alerts", value).unwrap();
    crate::alerts::Alerts::new("alerts", &config).unwrap()
}
