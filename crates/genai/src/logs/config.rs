//! The `llm_logs` processor's configuration.

use crate::cost::prices::ModelEntry;
use serde::Deserialize;
use tracegate_pipeline::ByteSize;

/// Configuration of `llm_logs`. The cost keys (`cost`, `builtin_prices`, `prices`) are
/// `genai_normalize`'s, so one price list can serve both.
///
/// ```yaml
/// processors:
///   llm_logs:
///     messages: true
///     max_message_bytes: 64KiB
///     prices:
///       - { provider: openai, model: my-finetune, prices: { input_mtok: 3, output_mtok: 12 } }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmLogsConfig {
    /// Write `gen_ai.input.messages`, `gen_ai.output.messages` and
    /// `gen_ai.system_instructions` from the record's `prompt`, `response` and
    /// `system_prompt`. Default `true`.
    pub messages: bool,
    /// The most bytes of one `prompt`, `response` or `system_prompt` copied into the
    /// canonical messages; longer text is cut there (the original field keeps it whole).
    /// Default `64KiB`, the `redaction` processor's `max_attribute_bytes`.
    pub max_message_bytes: ByteSize,
    /// Write `tracegate.cost_usd`. Default `true`.
    pub cost: bool,
    /// Use the embedded price table (`config/prices.yaml`). Default `true`; with `false`
    /// only `prices` is used.
    pub builtin_prices: bool,
    /// Extra prices, in the price table's shape, as `genai_normalize` takes them.
    pub prices: Vec<ModelEntry>,
}

impl Default for LlmLogsConfig {
    fn default() -> Self {
        Self {
            messages: true,
            max_message_bytes: ByteSize::kib(64),
            cost: true,
            builtin_prices: true,
            prices: Vec::new(),
        }
    }
}
