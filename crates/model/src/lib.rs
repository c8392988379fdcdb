//! The data model every tracegate crate shares.
//!
//! Two shapes of data move through the gateway (DESIGN.md §1):
//!
//! - a [`SpanBatch`]: spans as they arrive. Each [`Span`] holds its fields moved out of the
//!   decoded OTLP request, with validated [`TraceId`] and [`SpanId`], and shares its
//!   [`Resource`] and [`Scope`] with its neighbours behind an `Arc`;
//! - a [`Trace`]: every span of one trace id, as trace assembly releases it;
//! - a [`LogBatch`] of [`LogRecord`]s, in a `logs` pipeline; a quality record among them
//!   carries a [`Score`], which is joined to the trace it rates ([`score`]).
//!
//! Attributes stay in OTLP's `KeyValue` form; [`attr`] reads and renders them, and [`keys`]
//! names the canonical ones. What tracegate derives about a span (category, self time,
//! critical-path share) travels typed in [`SpanFacts`] and becomes `tracegate.*` attributes
//! only on the way out. [`schema`] holds the Arrow schemas of the archive's `spans`,
//! `traces`, `logs` and `scores` tables.
//!
//! Converting a request keeps the valid spans and describes the rest, which is what OTLP's
//! partial success needs:
//!
//! ```
//! use tracegate_model::SpanBatch;
//! use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
//! use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
//!
//! let span = |trace_id: Vec<u8>| Span { trace_id, span_id: vec![7; 8], ..Default::default() };
//! let request = ExportTraceServiceRequest {
//!     resource_spans: vec![ResourceSpans {
//!         scope_spans: vec![ScopeSpans { spans: vec![span(vec![1; 16]), span(vec![1; 17])], ..Default::default() }],
//!         ..Default::default()
//!     }],
//! };
//! let (batch, rejected) = SpanBatch::from_request(request);
//! assert_eq!(batch.len(), 1);
//! assert_eq!(rejected.count, 1);
//! assert!(rejected.message().contains("trace_id is 17 bytes, expected 16"));
//! ```
//!
//! This crate does no I/O.

pub mod attr;
pub mod facts;
pub mod ids;
pub mod keys;
pub mod log;
pub mod origin;
pub mod schema;
pub mod score;
pub mod span;
pub mod tenant;
pub mod trace;
pub mod wire;

pub use facts::{Category, LlmStages, SpanFacts, TreeTimes};
pub use ids::{IdError, SpanId, TraceId};
pub use log::{LogBatch, LogFacts, LogKind, LogRecord};
pub use opentelemetry_proto::tonic as proto;
pub use origin::Origin;
pub use score::{Score, ScoreJoin, ScoreSource};
pub use span::{
    DEFAULT_TENANT, Rejections, Resource, Scope, Signal, Span, SpanBatch, SpanKind, Status,
    StatusCode,
};
pub use trace::{Contributor, CriticalPathSummary, Fragment, ReleaseReason, Sampling, Trace};
