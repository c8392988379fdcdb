//! Cost of an LLM call from its token facts and the price table.
//!
//! ```text
//! cost = uncached input × input price
//!      + cache read × cache-read price      (absent: input price)
//!      + cache write × cache-write price    (absent: input price)
//!      + (output − reasoning) × output price
//!      + reasoning × reasoning price        (absent: output price)
//! uncached input = input − cache read − cache write      (input is inclusive of cache)
//! ```
//!
//! Prices are per million tokens; a tiered price picks its tier by the inclusive input
//! tokens. [`prices`] holds the table, its YAML shape and model matching; [`cache`] the
//! bounded cache of match results by (provider, model); [`pricer`] both, for pricing one call.
//!
//! ```
//! use tracegate_genai::cost::{Usage, cost_usd, prices::PriceTable};
//!
//! let table = PriceTable::builtin_with(&[]).unwrap();
//! let model = table.find(Some("openai"), "gpt-4o-mini").and_then(|i| table.get(i)).unwrap();
//! let usage = Usage { input: 1_000_000, output: 0, ..Default::default() };
//! assert!(cost_usd(model.at(0).unwrap(), &usage) > 0.0);
//! ```

pub mod cache;
pub mod pricer;
pub mod prices;
#[cfg(test)]
mod tests;

use prices::{Price, Prices};

/// The token facts of one call, input inclusive of cached tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens, cached ones included.
    pub input: u64,
    /// Output tokens, reasoning ones included.
    pub output: u64,
    /// Input tokens read from the cache.
    pub cache_read: u64,
    /// Input tokens written to the cache.
    pub cache_write: u64,
    /// Reasoning tokens, part of output.
    pub reasoning: u64,
}

impl Usage {
    /// Input tokens neither read from nor written to the cache.
    pub fn uncached_input(&self) -> u64 {
        self.input
            .saturating_sub(self.cache_read)
            .saturating_sub(self.cache_write)
    }
}

/// The cost in USD of `usage` at `prices`.
pub fn cost_usd(prices: &Prices, usage: &Usage) -> f64 {
    let input_tokens = usage.input;
    let per = |p: Option<&Price>| p.map_or(0.0, |p| p.per_mtok(input_tokens));
    let input = per(prices.input.as_ref());
    let output = per(prices.output.as_ref());
    let cache_read = prices
        .cache_read
        .as_ref()
        .map_or(input, |p| p.per_mtok(input_tokens));
    let cache_write = prices
        .cache_write
        .as_ref()
        .map_or(input, |p| p.per_mtok(input_tokens));
    let reasoning = prices
        .reasoning
        .as_ref()
        .map_or(output, |p| p.per_mtok(input_tokens));
    let reasoning_tokens = usage.reasoning.min(usage.output);
    let micro = usage.uncached_input() as f64 * input
        + usage.cache_read as f64 * cache_read
        + usage.cache_write as f64 * cache_write
        + (usage.output - reasoning_tokens) as f64 * output
        + reasoning_tokens as f64 * reasoning;
    micro / 1e6
}
