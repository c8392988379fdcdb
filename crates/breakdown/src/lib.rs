//! Where a trace's time went: self time, critical path, LLM stages and network gaps.
//!
//! Summing span durations double-counts overlap (parallel retrieval, tool fan-out), and the
//! longest span says nothing about what it waited on. This crate computes, for every trace:
//!
//! - the **tree** ([`analyze`]): missing parents hang under the root (or under a virtual root
//!   when there is no single root) and are marked; several roots share a virtual root;
//!   duplicate span ids keep one owner; parent cycles are cut and marked, never followed;
//! - **self time**: a span's duration minus the *union* of its children's intervals, each
//!   clipped to the span;
//! - the **critical path**, as CRISP and Jaeger compute it: children are clipped to their
//!   parent (those entirely outside are dropped), then the walk goes back from the root's end,
//!   each time entering the last-finishing child that ends at or before the current point
//!   (ties: earliest start, then span id). Its [`Segment`]s tile the root exactly, so
//!   per-span and per-[`Category`] shares sum to the root's duration, to the nanosecond;
//! - **categories** from one table ([`category::TABLE`]): GenAI, OpenInference and
//!   OpenLLMetry conventions first, then database, HTTP and messaging conventions;
//! - **LLM stages**: prefill (time to first token, from [`tracegate_genai::ttft::extract`])
//!   and decode;
//! - **network gaps**: a CLIENT span's time outside the SERVER span it called in another
//!   service, which counts as [`Category::Network`] on the critical path; and **clock skew**
//!   undone Jaeger-style by shifting a server subtree into its client span.
//!
//! [`annotate()`] records the facts on the spans as typed
//! [`SpanFacts`](tracegate_model::SpanFacts), with no allocation; they leave the gateway as
//! `tracegate.category`, `tracegate.self_time_ns`, `tracegate.critical_path_ns`, …
//! attributes (OTLP export) and archive columns. [`Breakdown::summary`] (or
//! [`summarize`] on a whole trace) gives the archive's per-trace [`TraceSummary`]; and
//! [`LatencyBreakdownFactory`] builds the `latency_breakdown` trace processor, which
//! annotates every trace and leaves each whole trace's summary in
//! [`Trace::critical_path`](tracegate_model::Trace::critical_path) for the archive.
//!
//! ```
//! use std::sync::Arc;
//! use tracegate_breakdown::{Category, Options, analyze};
//! use tracegate_model::{Resource, Scope, Span, SpanId, SpanKind, Status, TraceId, attr};
//!
//! let span = |id: u8, parent: Option<u8>, start_ms: u64, end_ms: u64, op: &str| Span {
//!     resource: Arc::new(Resource::with_service("rag")),
//!     scope: Arc::new(Scope::default()),
//!     trace_id: TraceId([1; 16]),
//!     span_id: SpanId([id; 8]),
//!     parent_span_id: parent.map(|p| SpanId([p; 8])),
//!     trace_state: String::new(),
//!     flags: 0,
//!     name: op.to_owned(),
//!     kind: SpanKind::Internal,
//!     start_time_unix_nano: start_ms * 1_000_000,
//!     end_time_unix_nano: end_ms * 1_000_000,
//!     attributes: vec![attr::string("gen_ai.operation.name", op)],
//!     dropped_attributes_count: 0,
//!     events: vec![],
//!     dropped_events_count: 0,
//!     links: vec![],
//!     dropped_links_count: 0,
//!     facts: Default::default(),
//!     origin: Default::default(),
//!     status: Status::default(),
//! };
//! // A 100 ms request: two retrievals in parallel (10–40 ms and 10–60 ms), then a chat call
//! // (60–100 ms).
//! let spans = vec![
//!     span(1, None, 0, 100, "invoke_agent"),
//!     span(2, Some(1), 10, 40, "retrieval"),
//!     span(3, Some(1), 10, 60, "retrieval"),
//!     span(4, Some(1), 60, 100, "chat"),
//! ];
//! let b = analyze(&spans, &Options::default());
//! let ms = |ns: u64| ns / 1_000_000;
//! // The agent's own time is 0–10 ms; the faster retrieval is off the path.
//! assert_eq!(ms(b.spans[0].self_time_ns), 10);
//! assert_eq!(ms(b.spans[1].critical_path_ns), 0);
//! assert_eq!(ms(b.spans[2].critical_path_ns), 50);
//! assert_eq!(ms(b.category_ns(Category::Llm)), 40);
//! assert_eq!(ms(b.category_ns(Category::Retrieval)), 50);
//! assert_eq!(ms(b.category_ns(Category::Agent)), 10);
//! let summary = b.summary(&spans);
//! assert_eq!(summary.top_contributors[0].name, "retrieval");
//! assert_eq!(summary.critical_path_ns.iter().sum::<u64>(), summary.duration_ns);
//! ```
//!
//! Design decisions:
//! - The analysis is pure (no I/O) and O(n log n): flat index arrays, children in one CSR
//!   array, iterative walks (no recursion, so a deep chain cannot overflow the stack), and
//!   each child is considered once by the critical-path walk.
//! - A child that ends exactly where the walk stands (a sequential step that hands over at
//!   the same nanosecond) is on the path: CRISP's "ends before" is taken as "at or before".
//! - Span times are never rewritten. The skew shift is used for the analysis and recorded in
//!   `tracegate.skew_adjusted_ns` on every shifted span, so a backend still shows what the
//!   services reported.
//! - The analysed window is the root span, not first-start-to-last-end: a fire-and-forget
//!   child that outlives its parent does not make the request slower.

pub mod analysis;
pub mod annotate;
pub mod category;
pub mod processor;
pub mod summary;

pub use analysis::{Breakdown, LlmStages, Options, Segment, SpanBreakdown, analyze};
pub use annotate::{annotate, annotate_span_only};
pub use category::{Category, categorize};
pub use processor::{LatencyBreakdownConfig, LatencyBreakdownFactory, LatencyBreakdownProcessor};
pub use summary::{Contributor, TraceSummary};

/// Analyses a trace and returns its summary: per-category critical-path time that sums to
/// the trace's duration, and the three largest contributors.
pub fn summarize(trace: &tracegate_model::Trace) -> TraceSummary {
    analyze(&trace.spans, &Options::default()).summary(&trace.spans)
}
