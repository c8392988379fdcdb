//! The `genai_normalize` processor's configuration.

use crate::cost::prices::ModelEntry;
use serde::Deserialize;

/// Configuration of `genai_normalize`.
///
/// ```yaml
/// processors:
///   genai_normalize:
///     drop_aliases: false
///     prices:
///       - { provider: openai, model: my-finetune, prices: { input_mtok: 3, output_mtok: 12 } }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenAiNormalizeConfig {
    /// Remove alias attributes (and flattened message attributes) once their canonical value
    /// is written. Default `false`: originals are kept next to the canonical names.
    pub drop_aliases: bool,
    /// Rebuild `gen_ai.input.messages` / `gen_ai.output.messages` from older carriers.
    /// Default `true`.
    pub messages: bool,
    /// Write TTFT and decode timing. Default `true`.
    pub timing: bool,
    /// Write `tracegate.cost_usd`. Default `true`.
    pub cost: bool,
    /// Use the embedded price table (`config/prices.yaml`). Default `true`; with `false`
    /// only `prices` is used.
    pub builtin_prices: bool,
    /// Extra prices, in the price table's shape. An entry with the provider and model of an
    /// embedded entry replaces it; entries here are matched before the embedded ones.
    pub prices: Vec<ModelEntry>,
}

impl Default for GenAiNormalizeConfig {
    fn default() -> Self {
        Self {
            drop_aliases: false,
            messages: true,
            timing: true,
            cost: true,
            builtin_prices: true,
            prices: Vec::new(),
        }
    }
}
