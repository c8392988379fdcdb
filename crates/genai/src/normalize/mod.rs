//! `genai_normalize`: one vocabulary for every LLM instrumentation.
//!
//! For each span, in one pass over its attributes ([`aliases::classify`], a static match):
//! 1. every alias in [`aliases::ALIASES`] is mapped onto the current OTel GenAI name, written
//!    only when the canonical attribute is absent (an explicit canonical value wins); provider
//!    values are normalised ([`aliases::normalize_provider`]);
//! 2. token facts: input is inclusive of cached tokens; an exclusive emitter is converted and
//!    marked `tracegate.usage_exclusive_input` ([`tokens`]);
//! 3. `gen_ai.input.messages` / `gen_ai.output.messages` are rebuilt from the five older
//!    carriers ([`messages`]);
//! 4. TTFT ([`crate::ttft::extract`]) is written as `gen_ai.response.time_to_first_chunk`
//!    with `tracegate.ttft_source`, plus decode time, time per output token and output
//!    tokens per second;
//! 5. cost: `tracegate.cost_usd` with `tracegate.cost_source` = `provided` (the span carried
//!    `llm.cost.total` or `gen_ai.usage.cost`) or `price_table` ([`crate::cost`]); a model
//!    with no price gets `tracegate.cost_unknown_model` and counts in
//!    [`COST_UNKNOWN_MODEL_TOTAL`].
//!
//! Originals stay unless `drop_aliases: true`. Running it twice changes nothing more.
//!
//! ```
//! use tracegate_genai::normalize::{GenAiNormalize, GenAiNormalizeConfig};
//! use tracegate_model::{Span, attr};
//!
//! let mut p = GenAiNormalize::new(GenAiNormalizeConfig::default()).unwrap();
//! # let mut span = tracegate_genai::normalize::test_span();
//! span.attributes = vec![
//!     attr::string("gen_ai.system", "Anthropic"),
//!     attr::string("llm.request.model_name", "claude-3-5-haiku-20241022"),
//!     attr::int("gen_ai.usage.prompt_tokens", 1000),
//!     attr::int("gen_ai.usage.completion_tokens", 100),
//! ];
//! p.normalize_span(&mut span);
//! assert_eq!(attr::get_str(&span.attributes, "gen_ai.provider.name"), Some("anthropic"));
//! assert_eq!(attr::get_i64(&span.attributes, "gen_ai.usage.input_tokens"), Some(1000));
//! assert_eq!(attr::get_str(&span.attributes, "tracegate.cost_source"), Some("price_table"));
//! ```

pub mod aliases;
pub mod config;
pub mod messages;
pub mod processor;
#[cfg(test)]
mod tests;
pub mod tokens;

pub use config::GenAiNormalizeConfig;
pub use processor::{COST_UNKNOWN_MODEL_TOTAL, GenAiNormalize};

use tracegate_pipeline::{
    BuildContext, ComponentId, ConfigError, Processor, ProcessorFactory, parse_section,
};

/// Builds `genai_normalize` processors.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenAiNormalizeFactory;

impl ProcessorFactory for GenAiNormalizeFactory {
    fn type_name(&self) -> &'static str {
        "genai_normalize"
    }

    fn build(
        &self,
        id: &ComponentId,
        config: serde_yaml_ng::Value,
        _ctx: &BuildContext,
    ) -> Result<Processor, ConfigError> {
        let path = format!("processors.{id}");
        let config: GenAiNormalizeConfig = parse_section(&path, config)?;
        let p = GenAiNormalize::new(config)
            .map_err(|e| ConfigError::new(format!("{path}.prices"), e.to_string()))?;
        Ok(Processor::Span(Box::new(p)))
    }
}

/// An empty client span, for doctests and tests.
#[doc(hidden)]
pub fn test_span() -> tracegate_model::Span {
    use std::sync::Arc;
    use tracegate_model::{Resource, Scope, SpanId, SpanKind, Status, TraceId};
    tracegate_model::Span {
        resource: Arc::new(Resource::with_service("llm")),
        scope: Arc::new(Scope::default()),
        trace_id: TraceId([1; 16]),
        span_id: SpanId([2; 8]),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: "chat".into(),
        kind: SpanKind::Client,
        start_time_unix_nano: 1_767_225_600_000_000_000,
        end_time_unix_nano: 1_767_225_602_000_000_000,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        facts: Default::default(),
        origin: Default::default(),
        status: Status::default(),
    }
}
