//! GenAI enrichment: one vocabulary for every LLM instrumentation.
//!
//! - [`ttft`]: time to first token, extracted in one place for enrichment and the latency
//!   breakdown.
//!
//! This crate's logic is pure: no I/O.

pub mod ttft;
