//! GenAI enrichment: one vocabulary for every LLM instrumentation.
//!
//! - [`ttft`]: time to first token, extracted in one place for enrichment and the latency
//!   breakdown.
//! - [`normalize`]: the `genai_normalize` span processor: maps every dialect's aliases onto the
//!   current OTel GenAI names, rebuilds `gen_ai.input.messages`/`gen_ai.output.messages`, fixes
//!   token facts, and writes TTFT, decode timing and cost ([`GenAiNormalizeFactory`]).
//! - [`cost`]: the price table (`config/prices.yaml`, embedded) and the cost formula.
//! - [`redaction`]: the `redaction` span processor: masks, hashes or drops personal data and
//!   secrets in span, event and resource attributes, JSON-aware ([`RedactionFactory`]).
//!
//! This crate's logic is pure: no I/O.

pub mod cost;
pub mod normalize;
pub mod redaction;
pub mod ttft;

pub use normalize::{GenAiNormalizeConfig, GenAiNormalizeFactory};
pub use redaction::{RedactionConfig, RedactionFactory};
