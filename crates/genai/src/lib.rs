//! GenAI enrichment: one vocabulary for every LLM instrumentation.
//!
//! - [`ttft`]: time to first token, extracted in one place for enrichment and the latency
//!   breakdown.
//! - [`normalize`]: the `genai_normalize` span processor: maps every dialect's aliases onto the
//!   current OTel GenAI names, rebuilds `gen_ai.input.messages`/`gen_ai.output.messages`, fixes
//!   token facts, and writes TTFT, decode timing and cost ([`GenAiNormalizeFactory`]).
//! - [`logs`]: the `llm_logs` log processor: recognises the seed's structured LLM logs and
//!   OTel GenAI inference events among log records and writes the canonical `gen_ai.*`
//!   attributes spans carry, cost from the same price table ([`LlmLogsFactory`]).
//! - [`cost`]: the price table (`config/prices.yaml`, embedded), the cost formula and the
//!   [`cost::pricer::Pricer`] both processors price calls with.
//! - [`redaction`]: the `redaction` processor: masks, hashes or drops personal data and
//!   secrets in span, event and resource attributes, and in log bodies (strings, structured
//!   and JSON) and log attributes, JSON-aware ([`RedactionFactory`]; it builds a log
//!   processor in a `logs` pipeline).
//!
//! This crate's logic is pure: no I/O.

pub mod cost;
pub mod logs;
pub mod normalize;
pub mod redaction;
pub mod ttft;

pub use logs::{LlmLogsConfig, LlmLogsFactory};
pub use normalize::{GenAiNormalizeConfig, GenAiNormalizeFactory};
pub use redaction::{RedactionConfig, RedactionFactory};
