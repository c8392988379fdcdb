//! `llm_logs`: the seed's structured LLM logs as first-class LLM calls.
//!
//! A team that only logs gets the columns a team that traces gets. For each record of a
//! `logs` pipeline:
//! 1. the body is structured ([`LogRecord::structure_body`]: a JSON-object string body, as a
//!    JSON log formatter writes it, becomes a map, bounded);
//! 2. the record is classified ([`recognise::classify`]): an LLM call is the seed's structured
//!    log (a `model` / `model_name` plus a prompt, response, token count or latency, found
//!    wherever [`LogRecord::field`] looks: attributes such as Python `logging`'s `extra`, the
//!    body map, its nested `metrics` / `config` / `metadata`), or an OTel GenAI inference
//!    event (`gen_ai.client.inference.operation.details`, or a record that already carries
//!    `gen_ai.request.model` and usage). Quality records (`rating`, `feedback`,
//!    `gen_ai.evaluation.*`) are never LLM calls: the `scores` processor takes them;
//! 3. an LLM call gets the canonical attributes spans carry, each only when absent:
//!
//! | seed field | attribute |
//! |---|---|
//! | (always) | `gen_ai.operation.name` = `chat` |
//! | `model` / `model_name` | `gen_ai.request.model` |
//! | `input_tokens` / `prompt_tokens`, `output_tokens` / `completion_tokens` | `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens` (int) |
//! | `temperature`, `max_tokens` | `gen_ai.request.temperature` (double), `gen_ai.request.max_tokens` (int) |
//! | `stop_reason` / `finish_reason` | `gen_ai.response.finish_reasons` (string array) |
//! | `response_id` | `gen_ai.response.id` |
//! | `prompt`, `response`, `system_prompt` | `gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions` (the JSON forms `genai_normalize` gives spans) |
//! | `user_id`, `request_id` | `user.id`, `tracegate.request_id` |
//! | `latency_ms`, `queue_wait_ms` | `tracegate.latency_ms`, `tracegate.queue_wait_ms` (double) |
//! | `first_token_latency_ms` / `ttft_ms` | `gen_ai.response.time_to_first_chunk` (seconds) |
//! | tokens and model | `tracegate.cost_usd` + `tracegate.cost_source` from the price table, or `tracegate.cost_unknown_model` |
//!
//!    plus `facts.kind = LogKind::LlmCall`, and a severity from `level` when the record has
//!    none. The seed's own fields stay where they were (`redaction` then redacts both).
//!
//! Bounded: the body is parsed once and at most [`tracegate_model::log::MAX_JSON_BODY_BYTES`];
//! a prompt or response is copied into the messages once, cut at `max_message_bytes`.
//!
//! ```
//! use tracegate_genai::logs::{LlmLogs, LlmLogsConfig, Outcome};
//! use tracegate_model::{attr, keys, log::{LogKind, LogRecord}};
//!
//! let mut p = LlmLogs::new(LlmLogsConfig::default()).unwrap();
//! let mut record = LogRecord {
//!     body: Some(attr::string_value(
//!         r#"{"event":"llm_response","model":"gpt-4o-mini","response":"Hi!","stop_reason":"stop",
//!             "metrics":{"input_tokens":1200,"output_tokens":300,"latency_ms":1850.5}}"#,
//!     )),
//!     ..LogRecord::empty()
//! };
//! assert!(matches!(p.canonicalise(&mut record), Outcome::LlmCall { unknown_model: false }));
//! assert_eq!(record.facts.kind, LogKind::LlmCall);
//! assert_eq!(attr::get_i64(&record.attributes, keys::GEN_AI_USAGE_INPUT_TOKENS), Some(1200));
//! assert_eq!(attr::get_str(&record.attributes, keys::TRACEGATE_COST_SOURCE), Some("price_table"));
//! ```

pub mod config;
pub mod processor;
pub mod recognise;
#[cfg(test)]
mod tests;

pub use config::LlmLogsConfig;
pub use processor::{LlmLogs, Outcome};

use tracegate_model::Signal;
#[cfg(doc)]
use tracegate_model::log::LogRecord;
use tracegate_pipeline::{
    BuildContext, ComponentId, ConfigError, Processor, ProcessorFactory, parse_section,
};

/// Builds `llm_logs` processors (for `logs` pipelines only).
#[derive(Debug, Clone, Copy, Default)]
pub struct LlmLogsFactory;

impl LlmLogsFactory {
    /// The type name in config.
    pub const TYPE_NAME: &'static str = "llm_logs";
}

impl ProcessorFactory for LlmLogsFactory {
    fn type_name(&self) -> &'static str {
        Self::TYPE_NAME
    }

    fn build(
        &self,
        id: &ComponentId,
        config: serde_yaml_ng::Value,
        ctx: &BuildContext,
    ) -> Result<Processor, ConfigError> {
        let path = format!("processors.{id}");
        if ctx.signal != Signal::Logs {
            return Err(ConfigError::new(
                path,
                format!(
                    "llm_logs works on log records, not {}: list it in a `logs` pipeline \
                     (spans get the same treatment from genai_normalize)",
                    ctx.signal.as_str()
                ),
            ));
        }
        let config: LlmLogsConfig = parse_section(&path, config)?;
        if config.max_message_bytes.get() < 64 {
            return Err(ConfigError::new(
                format!("{path}.max_message_bytes"),
                "too small: use at least 64 bytes (the default is 64KiB)",
            ));
        }
        let p = LlmLogs::new(config)
            .map_err(|e| ConfigError::new(format!("{path}.prices"), e.to_string()))?;
        Ok(Processor::Log(Box::new(p)))
    }
}
