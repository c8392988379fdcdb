//! Tests of trace assembly.
//!
//! - [`config`]: the YAML fixture, defaults, validation errors with key paths, the factory;
//! - [`golden`]: cases worked out by hand: a 5-service RAG trace arriving child-first, an
//!   orphan, a 100,000-span trace beside 1,000 normal ones, a late span; each bound; shutdown;
//! - [`properties`]: proptest over random trees, arrival orders, batch splits and bounds:
//!   every span comes out once, traces come out together, deadlines are exact;
//! - [`memory`]: the overhead per held span;
//! - [`bytes`]: what `max_bytes` counts: resources and scopes, once per trace when shared,
//!   once per span when each span brings its own (issue 18);
//! - [`metrics`]: the `tracegate_assembly_*` metrics a shard emits;
//! - [`scores`]: the score board hook: the index fed at ingest, scores attached on every
//!   release path, nothing without a board.

mod bytes;
mod config;
mod golden;
mod memory;
mod metrics;
mod properties;
mod scores;

use crate::{Limits, Shard, TraceAssemblyConfig};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, LazyLock};
use tracegate_model::{Resource, Scope, Span, SpanId, SpanKind, Trace, TraceId, attr};
use tracegate_pipeline::Duration;

pub(super) const MS: u64 = 1_000_000;
pub(super) const S: u64 = 1_000 * MS;

/// A trace id from a number, with random-looking low bytes as W3C requires.
pub(super) fn trace_id(n: u64) -> TraceId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(n + 1).to_be_bytes());
    bytes[8..].copy_from_slice(&(n + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    TraceId(bytes)
}

pub(super) fn span_id(n: u64) -> SpanId {
    SpanId((n + 1).to_be_bytes())
}

/// The scope every test span shares, as the spans of one `ScopeSpans` do.
pub(super) static SCOPE: LazyLock<Arc<Scope>> = LazyLock::new(Arc::default);

/// A span of `trace` from `service` (and [`SCOPE`]), with `extra` bytes of attribute payload.
pub(super) fn span(
    trace: TraceId,
    id: u64,
    parent: Option<u64>,
    service: &Arc<Resource>,
    name: &str,
    extra: usize,
) -> Span {
    Span {
        resource: service.clone(),
        scope: SCOPE.clone(),
        trace_id: trace,
        span_id: span_id(id),
        parent_span_id: parent.map(span_id),
        trace_state: String::new(),
        flags: 0,
        name: name.to_owned(),
        kind: SpanKind::Internal,
        start_time_unix_nano: 0,
        end_time_unix_nano: 0,
        attributes: if extra > 0 {
            vec![attr::string("payload", "x".repeat(extra))]
        } else {
            Vec::new()
        },
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        facts: Default::default(),
        origin: Default::default(),
        status: Default::default(),
    }
}

pub(super) fn service(name: &str) -> Arc<Resource> {
    Arc::new(Resource::with_service(name))
}

/// The bytes `max_bytes` counts for a trace's first span: the span, its resource and scope.
pub(super) fn first_span_bytes(span: &Span) -> usize {
    span.estimated_bytes() + span.resource.estimated_bytes() + span.scope.estimated_bytes()
}

/// The default config with one shard.
pub(super) fn config() -> TraceAssemblyConfig {
    TraceAssemblyConfig {
        shards: 1,
        ..Default::default()
    }
}

/// One shard with `config`'s limits.
pub(super) fn shard(config: &TraceAssemblyConfig) -> Shard {
    Shard::new(0, config.limits(1), Arc::new(AtomicUsize::new(0)))
}

/// One shard with `limits`.
pub(super) fn shard_with(limits: Limits) -> Shard {
    Shard::new(0, limits, Arc::new(AtomicUsize::new(0)))
}

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub(super) fn has_attr(span: &Span, key: &str) -> bool {
    matches!(
        span.attr(key),
        Some(tracegate_model::proto::common::v1::any_value::Value::BoolValue(true))
    )
}

/// The span ids of a trace, sorted.
pub(super) fn ids(trace: &Trace) -> Vec<SpanId> {
    let mut ids: Vec<SpanId> = trace.spans.iter().map(|s| s.span_id).collect();
    ids.sort();
    ids
}
