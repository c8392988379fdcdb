//! Hand-built spans and traces, and samplers from YAML, shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use tracegate_model::proto::common::v1::KeyValue;
use tracegate_model::{
    Fragment, ReleaseReason, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, Trace,
    TraceId, attr,
};
use tracegate_sampling::{Sampler, TailSamplingConfig};

pub const MS: u64 = 1_000_000;

/// A span of trace `trace`, id `id`, under `parent`, from `start_ms` to `end_ms`.
pub fn span(trace: u8, id: u8, parent: Option<u8>, start_ms: u64, end_ms: u64) -> Span {
    Span {
        resource: Arc::new(Resource::with_service("rag")),
        scope: Arc::new(Scope::default()),
        trace_id: TraceId([trace; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: parent.map(|p| SpanId([p; 8])),
        trace_state: String::new(),
        flags: 0,
        name: format!("span-{id}"),
        kind: SpanKind::Internal,
        start_time_unix_nano: 1_700_000_000_000 * MS + start_ms * MS,
        end_time_unix_nano: 1_700_000_000_000 * MS + end_ms * MS,
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

/// A chat call: `gen_ai.operation.name = chat` with a model and provider.
pub fn chat(trace: u8, id: u8, parent: Option<u8>, model: &str, provider: &str) -> Span {
    with(
        span(trace, id, parent, 10, 60),
        vec![
            attr::string("gen_ai.operation.name", "chat"),
            attr::string("gen_ai.request.model", model),
            attr::string("gen_ai.provider.name", provider),
        ],
    )
}

/// `s` with `attrs` added.
pub fn with(mut s: Span, attrs: Vec<KeyValue>) -> Span {
    s.attributes.extend(attrs);
    s
}

/// `s` with status `code` and `message`.
pub fn status(mut s: Span, code: StatusCode, message: &str) -> Span {
    s.status = Status {
        code: code as i32,
        message: message.to_owned(),
    };
    s
}

/// A whole trace of `spans`.
pub fn trace(spans: Vec<Span>) -> Trace {
    Trace {
        trace_id: spans.first().map_or(TraceId([0; 16]), |s| s.trace_id),
        spans,
        release_reason: ReleaseReason::Complete,
        tree_whole: true,
        fragment: None,
        critical_path: None,
        sampling: None,
        scores: Vec::new(),
    }
}

/// A late fragment of `spans`.
pub fn late(spans: Vec<Span>) -> Trace {
    Trace {
        fragment: Some(Fragment::Late),
        ..trace(spans)
    }
}

/// A root with one plain child: matches no rule.
pub fn plain(trace_byte: u8) -> Trace {
    trace(vec![
        span(trace_byte, 1, None, 0, 100),
        span(trace_byte, 2, Some(1), 10, 50),
    ])
}

/// A sampler from the YAML of a `tail_sampling` section.
pub fn sampler(yaml: &str) -> Sampler {
    let config: TailSamplingConfig = serde_yaml_ng::from_str(yaml).unwrap();
    Sampler::new(&config, "processors.tail_sampling").unwrap()
}

/// A sampler with the single policy `{ name: p, type: TYPE, TYPE: SECTION }`.
pub fn one(kind: &str, section: &str) -> Sampler {
    sampler(&format!(
        "policies: [ {{ name: p, type: {kind}, {kind}: {section} }} ]"
    ))
}

/// Whether `sampler` keeps `t` (at time 0).
pub fn keeps(sampler: &mut Sampler, t: &Trace) -> bool {
    sampler.evaluate(t, 0).sampled
}

/// The config error for `yaml`: (path, message).
pub fn config_error(yaml: &str) -> (String, String) {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let config: Result<TailSamplingConfig, _> =
        tracegate_pipeline::parse_section("processors.tail_sampling", value);
    let e = match config {
        Err(e) => e,
        Ok(c) => Sampler::new(&c, "processors.tail_sampling").unwrap_err(),
    };
    (e.path, e.message)
}
