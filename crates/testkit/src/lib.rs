//! Synthetic multi-service RAG traces for tracegate's tests, benches and load generator.
//!
//! A [`Generator`] yields realistic, seeded and deterministic traces of a RAG chat
//! application spread over four services (`chat-gateway`, `retriever`, `reranker`,
//! `llm-service`), each its own OTLP resource with its own instrumentation scopes. A trace is
//! an HTTP request to the gateway that retrieves context (embedding, vector search, rerank),
//! calls an LLM with a streamed answer, and sometimes runs tools and calls the LLM again:
//! about 10 spans, with GenAI, HTTP and database semantic-convention attributes, correct
//! parent links and children inside their parents in time. About 5% of traces carry an error.
//!
//! - [`GeneratorConfig`] picks the seed, the start time and the [`Profile`]:
//!   [`Profile::Rag`] (about 415 B per encoded span, 570 B per span of a request with the
//!   resources and scopes, 1–2 KB prompts on LLM spans) or [`Profile::Tiny`] (about 130 B per
//!   encoded span, 160 B per span of a request, minimal attributes).
//! - [`Generator`] hands out traces as OTLP requests
//!   ([`next_trace_request`](Generator::next_trace_request),
//!   [`request_with_traces`](Generator::request_with_traces),
//!   [`requests`](Generator::requests)) or as a [`SpanBatch`]
//!   ([`batch_with_traces`](Generator::batch_with_traces)).
//! - [`span_count`] counts the spans of a request; [`logs::logs_of`] turns a request into the
//!   same calls as the seed's structured LLM logs, one record per span.
//!
//! ```
//! use tracegate_model::SpanBatch;
//! use tracegate_testkit::{Generator, GeneratorConfig, Profile, span_count};
//!
//! let config = GeneratorConfig { seed: 7, profile: Profile::Rag, ..Default::default() };
//! let mut generator = Generator::new(config.clone());
//!
//! // 1000 spans of whole traces, in requests of at most 100 spans.
//! let requests = generator.requests(1000, 100);
//! assert_eq!(requests.iter().map(span_count).sum::<usize>(), 1000);
//! assert!(requests.iter().all(|r| span_count(r) <= 100));
//!
//! // Every generated span is valid.
//! let (batch, rejected) = SpanBatch::from_request(requests[0].clone());
//! assert!(rejected.is_empty());
//! assert_eq!(batch.len(), span_count(&requests[0]));
//!
//! // The same config yields the same traces.
//! assert_eq!(Generator::new(config).requests(1000, 100), requests);
//! ```
//!
//! The shape of a trace is drawn in the `trace` module's source. Text comes from a small
//! static corpus, so building a span costs little more than allocating its OTLP structs
//! (about 2 µs per RAG span and 1 µs per tiny span on one core, release build).
//!
//! Output is deterministic for a given version of this crate and of `rand` (whose `StdRng`
//! algorithm may change between its major versions).

mod config;
mod generator;
pub mod logs;
pub mod metrics;
mod services;
mod text;
mod trace;

pub use config::{GeneratorConfig, Profile};
pub use generator::{Generator, span_count, whole_traces};
pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub use tracegate_model::SpanBatch;

#[cfg(test)]
mod tests;
