//! Trace assembly: puts every distributed trace back together, whole, in bounded memory.
//!
//! Spans of one request arrive from many services, out of order and in many batches. The
//! `trace_assembly` processor holds them by trace id and releases each trace as one
//! [`Trace`](tracegate_model::Trace) that says why it was released and whether its tree is
//! whole (every parent id present).
//!
//! - [`Shard`] is the state machine. It implements
//!   [`Assembler`](tracegate_pipeline::Assembler): `ingest` spans at a time, `tick` at
//!   [`next_deadline`](tracegate_pipeline::Assembler::next_deadline), `drain` at shutdown. It
//!   does no I/O and reads no clock: time is an argument, so tests drive it exactly.
//! - [`TraceAssemblyConfig`] is the user-facing config; [`TraceAssemblyFactory`] builds one
//!   shard per worker. The pipeline's topology runs each shard in its own task and routes
//!   spans to it by trace-id hash, so no shard takes a lock.
//! - With a score board ([`TraceAssemblyFactory::with_scores`], [`Shard::with_scores`]),
//!   each shard hands every span it ingests to
//!   [`ScoreBoard::remember`](tracegate_scores::ScoreBoard::remember) (the index of recent
//!   LLM calls that late scores are joined through) and every trace it releases, on any
//!   path, to [`ScoreBoard::attach`](tracegate_scores::ScoreBoard::attach), which fills
//!   [`Trace::scores`](tracegate_model::Trace::scores). That board's mutexes are the only
//!   locks a shard takes, and only for spans that carry a response or request id.
//!
//! **When a trace is released.** Once its root span (no parent) has arrived, a trace goes
//! when no span of it has arrived for `idle_after_root` (reason `complete`). Whatever happens,
//! it goes `max_wait` after its first span (`max_wait`; with no root it is incomplete). A bound
//! forces the oldest traces out early (`evicted`), and shutdown releases the rest
//! (`shutdown`). Nothing is ever dropped:
//! - a span whose trace was released within `late_window` goes on at once as a
//!   [`Fragment::Late`](tracegate_model::Fragment) carrying the original release reason,
//!   marked `tracegate.late = true`;
//! - spans beyond `max_spans_per_trace` go on at once as `Fragment::OverCap` fragments (reason
//!   `evicted`), marked `tracegate.over_cap = true`, so one giant trace holds neither memory
//!   nor the others.
//!
//! ```
//! use std::sync::Arc;
//! use tracegate_assembly::TraceAssemblyConfig;
//! use tracegate_model::{ReleaseReason, Span, SpanBatch, SpanId, SpanKind, TraceId};
//! use tracegate_pipeline::Assembler;
//!
//! fn span(id: u8, parent: Option<u8>) -> Span {
//!     Span {
//!         resource: Arc::default(), scope: Arc::default(),
//!         trace_id: TraceId([7; 16]), span_id: SpanId([id; 8]),
//!         parent_span_id: parent.map(|p| SpanId([p; 8])),
//!         trace_state: String::new(), flags: 0, name: format!("op{id}"),
//!         kind: SpanKind::Internal, start_time_unix_nano: 0, end_time_unix_nano: 0,
//!         attributes: vec![], dropped_attributes_count: 0, events: vec![],
//!         dropped_events_count: 0, links: vec![], dropped_links_count: 0,
//!         facts: Default::default(),
//!         origin: Default::default(),
//!         status: Default::default(),
//!     }
//! }
//! const S: u64 = 1_000_000_000;
//! let mut shard = TraceAssemblyConfig { shards: 1, ..Default::default() }.build_shards().remove(0);
//! let mut out = Vec::new();
//!
//! // A child first, then the root: idle_after_root (2s) runs from the last span.
//! shard.ingest(SpanBatch { spans: vec![span(2, Some(1))] }, 0, &mut out);
//! shard.ingest(SpanBatch { spans: vec![span(1, None)] }, S, &mut out);
//! assert_eq!(shard.next_deadline(), Some(3 * S));
//! shard.tick(3 * S - 1, &mut out);
//! assert!(out.is_empty());
//! shard.tick(3 * S, &mut out);
//! assert_eq!(out[0].release_reason, ReleaseReason::Complete);
//! assert!(out[0].is_complete() && out[0].spans.len() == 2);
//!
//! // A span 10s later goes on at once as a late fragment with the original reason.
//! shard.ingest(SpanBatch { spans: vec![span(3, Some(1))] }, 13 * S, &mut out);
//! assert_eq!(out[1].fragment, Some(tracegate_model::Fragment::Late));
//! assert_eq!(out[1].release_reason, ReleaseReason::Complete);
//! ```
//!
//! **Design decisions.**
//! - *Deadlines in O(1).* The clock only goes forward, so traces ordered by first span are
//!   ordered by `max_wait` deadline, and rooted traces ordered by last span by idle deadline.
//!   Two intrusive linked lists through the trace records keep these orders: a span moves its
//!   trace to the end of one, and the next deadline is at the front of one. Nothing scans the
//!   held traces; a tick costs only the traces it releases. The first-span order is also the
//!   eviction order (oldest first).
//! - *Little memory per span.* Spans live in a per-shard arena of fixed-size chunks, chained
//!   per trace by a 4-byte index, not in a growing `Vec` per trace (which wastes up to half
//!   its capacity). A trace record is 72 bytes. With 10-span traces the overhead is about
//!   24 bytes per held span, at most about 51 just after the trace table grows (the `memory`
//!   test measures it; the bound is 64).
//! - *Moves, never clones.* A span is moved into its slot and out into its trace's `Vec`,
//!   which is allocated once, at release, with the exact capacity.
//! - *Global bounds without locks.* `max_traces` and `max_remembered` are split evenly between
//!   the shards. `max_bytes` is global: the shards share one atomic counter of estimated bytes
//!   ([`Span::estimated_bytes`](tracegate_model::Span::estimated_bytes), plus each resource and
//!   scope a held trace keeps alive, counted once per run of spans sharing it, so a flood of
//!   single-span requests that each bring their own resource counts every one), and while it
//!   is over the bound a shard holding more than its share evicts its own oldest traces. If eviction
//!   cannot keep up, the shards' bounded input queues fill and back-pressure reaches the
//!   receivers.
//! - *Late is relative to deadlines, not to calls.* `ingest` first releases what is due at its
//!   time, so a span arriving exactly at its trace's deadline is late however the caller
//!   orders `tick` and `ingest`.
//! - *Metrics once per call.* Held gauges and counters (`tracegate_assembly_*`) are updated at
//!   the end of each `ingest`, `tick` and `drain`, never per span.

mod arena;
pub mod config;
mod context;
pub mod factory;
pub mod shard;
mod stats;
mod table;

pub use config::TraceAssemblyConfig;
pub use factory::TraceAssemblyFactory;
pub use shard::{HeldCounts, Limits, MemoryUsage, Shard, ShardStats};

#[cfg(test)]
mod tests;
