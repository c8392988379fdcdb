//! Token facts and decode timing.
//!
//! Input tokens are inclusive of cached tokens, as the GenAI conventions say. An emitter that
//! sends input *exclusive* of the cache (Anthropic's own `input_tokens`, forwarded as is) is
//! detected by `cache_read + cache_write > input`; its input is converted to inclusive and
//! the span marked `tracegate.usage_exclusive_input = true`.
//!
//! Decode timing, given TTFT:
//! - `decode_ns` = span duration − TTFT;
//! - `time_per_output_token_ns` = decode ÷ (output tokens − 1), when more than one token;
//! - `output_tokens_per_s` = (output tokens − 1) ÷ decode seconds: the first token ends the
//!   prefill, the rest are decoded.

use crate::cost::Usage;

/// Raw token counts as found on a span (canonical or alias).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input tokens.
    pub input: Option<i64>,
    /// Output tokens.
    pub output: Option<i64>,
    /// Cache read tokens.
    pub cache_read: Option<i64>,
    /// Cache write tokens.
    pub cache_write: Option<i64>,
    /// Reasoning tokens.
    pub reasoning: Option<i64>,
}

/// Token facts after the inclusive-input rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenFacts {
    /// The usage, input inclusive.
    pub usage: Usage,
    /// The emitter sent exclusive input, and `usage.input` was converted.
    pub exclusive_input: bool,
}

impl Tokens {
    /// True when any count is present.
    pub fn any(&self) -> bool {
        self.input.is_some()
            || self.output.is_some()
            || self.cache_read.is_some()
            || self.cache_write.is_some()
            || self.reasoning.is_some()
    }

    /// The facts, or `None` when the span has neither input nor output tokens.
    pub fn facts(&self) -> Option<TokenFacts> {
        if self.input.is_none() && self.output.is_none() {
            return None;
        }
        let n = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        let mut usage = Usage {
            input: n(self.input),
            output: n(self.output),
            cache_read: n(self.cache_read),
            cache_write: n(self.cache_write),
            reasoning: n(self.reasoning),
        };
        let cached = usage.cache_read.saturating_add(usage.cache_write);
        // Without an input count there is nothing to convert.
        let exclusive_input = self.input.is_some() && cached > usage.input;
        if exclusive_input {
            usage.input = usage.input.saturating_add(cached);
        }
        Some(TokenFacts {
            usage,
            exclusive_input,
        })
    }
}

/// Decode timing of a streamed call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decode {
    /// Span end − first token, ns.
    pub decode_ns: u64,
    /// Decode ÷ (output tokens − 1), ns; `None` with one output token or fewer.
    pub time_per_output_token_ns: Option<u64>,
    /// (output tokens − 1) ÷ decode seconds; `None` without decode time or tokens.
    pub output_tokens_per_s: Option<f64>,
}

/// Decode timing from TTFT, span duration and output tokens.
pub fn decode(ttft_ns: u64, duration_ns: u64, output_tokens: Option<u64>) -> Decode {
    let decode_ns = duration_ns.saturating_sub(ttft_ns);
    let decoded = output_tokens
        .and_then(|o| o.checked_sub(1))
        .filter(|d| *d > 0);
    Decode {
        decode_ns,
        time_per_output_token_ns: decoded.map(|d| decode_ns / d),
        output_tokens_per_s: decoded
            .filter(|_| decode_ns > 0)
            .map(|d| d as f64 / (decode_ns as f64 / 1e9)),
    }
}
