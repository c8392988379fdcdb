//! The read side of tracegate: what Grafana's Tempo datasource and the `tracegate trace` and
//! `tracegate search` commands talk to.
//!
//! - `traceql`: a parser (recursive descent, with the byte position of every error) and an
//!   evaluator of TraceQL over one trace's spans, read through `tracegate_model`'s accessors;
//! - `api`: the Tempo-compatible HTTP API (axum) over the hot store, with the archive as the
//!   cold fallback for trace-by-id lookups, behind the `api::Backend` trait;
//! - `stores`: the `api::Backend` the gateway serves, over the hot store and the archive;
//! - `tempo`: Tempo's wire shapes (search and tags JSON, trace-by-id protobuf and jsonpb JSON).

pub mod api;
pub mod stores;
pub mod tempo;
pub mod traceql;
