//! The LLM-aware rules: cost, tokens, time to first token, finish reasons, retried calls
//! and agent loops. Each reads the attributes `genai_normalize` writes (current OTel GenAI
//! names) and the facts the latency breakdown records, and is a pure function of the
//! trace's spans in any order.

use super::{is_llm, may_be_llm};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::{Span, Trace, attr, keys};

/// `tracegate.cost_usd` in whole picodollars, so sums are exact in any order.
fn picodollars(usd: f64) -> u64 {
    if usd.is_finite() && usd > 0.0 {
        (usd * 1e12).round() as u64
    } else {
        0
    }
}

/// `llm_cost`.
#[derive(Debug, Clone)]
pub struct Cost {
    pub(crate) threshold_pusd: u64,
}

impl Cost {
    pub(crate) fn new(threshold_usd: f64) -> Self {
        Self {
            threshold_pusd: picodollars(threshold_usd),
        }
    }

    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        let total = trace
            .spans
            .iter()
            .filter_map(|s| attr::get_f64(&s.attributes, keys::TRACEGATE_COST_USD))
            .map(picodollars)
            .fold(0u64, u64::saturating_add);
        total >= self.threshold_pusd
    }
}

fn tokens_of(span: &Span) -> u64 {
    let get = |k| attr::get_i64(&span.attributes, k).unwrap_or(0).max(0) as u64;
    get(keys::GEN_AI_USAGE_INPUT_TOKENS).saturating_add(get(keys::GEN_AI_USAGE_OUTPUT_TOKENS))
}

/// `llm_tokens`.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub(crate) total: Option<u64>,
    pub(crate) per_call: Option<u64>,
}

impl Tokens {
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        let mut total = 0u64;
        for s in trace.spans.iter().filter(|s| is_llm(s)) {
            let n = tokens_of(s);
            if self.per_call.is_some_and(|t| n >= t) {
                return true;
            }
            total = total.saturating_add(n);
        }
        self.total.is_some_and(|t| total >= t)
    }
}

fn model_of(span: &Span) -> Option<&str> {
    attr::get_str(&span.attributes, keys::GEN_AI_REQUEST_MODEL)
        .or_else(|| attr::get_str(&span.attributes, keys::GEN_AI_RESPONSE_MODEL))
}

/// `llm_ttft`.
#[derive(Debug, Clone)]
pub struct Ttft {
    pub(crate) threshold_ns: u64,
    pub(crate) models_ns: BTreeMap<String, u64>,
}

impl Ttft {
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        trace.spans.iter().filter(|s| is_llm(s)).any(|s| {
            let ttft = match s.facts.llm {
                Some(stages) => Some(stages.prefill_ns),
                None => tracegate_genai::ttft::extract(s).map(|t| t.ns),
            };
            let threshold = model_of(s)
                .and_then(|m| self.models_ns.get(m))
                .copied()
                .unwrap_or(self.threshold_ns);
            ttft.is_some_and(|t| t >= threshold)
        })
    }
}

/// The OpenAI name of a provider's finish reason, for the ones that differ or that
/// providers spell differently (Anthropic `max_tokens`, Gemini `MAX_TOKENS` and `SAFETY`,
/// Bedrock `guardrail_intervened`, …); `None` for any other value.
pub fn canonical_finish_reason(raw: &str) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("length", "length"),
        ("max_tokens", "length"),
        ("max_output_tokens", "length"),
        ("model_length", "length"),
        ("content_filter", "content_filter"),
        ("content_filtered", "content_filter"),
        ("safety", "content_filter"),
        ("recitation", "content_filter"),
        ("prohibited_content", "content_filter"),
        ("blocklist", "content_filter"),
        ("spii", "content_filter"),
        ("image_safety", "content_filter"),
        ("refusal", "content_filter"),
        ("guardrail_intervened", "content_filter"),
        ("stop", "stop"),
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("complete", "stop"),
        ("tool_calls", "tool_calls"),
        ("tool_use", "tool_calls"),
        ("function_call", "tool_calls"),
    ];
    let raw = raw.trim();
    TABLE
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(raw))
        .map(|(_, v)| *v)
}

/// `llm_finish_reason`: configured values are canonical (or lowercased) at build.
#[derive(Debug, Clone)]
pub struct FinishReason {
    pub(crate) values: Vec<String>,
}

impl FinishReason {
    fn wanted(&self, raw: &str) -> bool {
        match canonical_finish_reason(raw) {
            Some(c) => self.values.iter().any(|v| v == c),
            None => self
                .values
                .iter()
                .any(|v| v.eq_ignore_ascii_case(raw.trim())),
        }
    }

    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        trace.spans.iter().filter(|s| may_be_llm(s)).any(|s| {
            match attr::get(&s.attributes, keys::GEN_AI_RESPONSE_FINISH_REASONS) {
                Some(Value::StringValue(r)) => self.wanted(r),
                Some(Value::ArrayValue(a)) => a
                    .values
                    .iter()
                    .any(|v| matches!(&v.value, Some(Value::StringValue(r)) if self.wanted(r))),
                _ => false,
            }
        })
    }
}

fn hash_of(parts: impl Hash) -> u64 {
    // SipHash with fixed keys: the same in every process, and used only within one trace.
    let mut h = std::hash::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// `llm_retry`: two LLM calls with the same request, by a different model or provider.
///
/// The request is the input messages (`gen_ai.input.messages`) when recorded; otherwise
/// the operation under the same parent span. A different request model (or, failing that,
/// response model) or provider makes it a fallback.
pub(crate) fn has_retry(trace: &Trace) -> bool {
    let mut calls: Vec<(u64, u64)> = trace
        .spans
        .iter()
        .filter(|s| is_llm(s))
        .map(|s| {
            let a = &s.attributes;
            let request = match attr::get(a, "gen_ai.input.messages") {
                Some(Value::StringValue(m)) => hash_of((0u8, m)),
                _ => hash_of((
                    1u8,
                    s.parent_span_id.map(|p| p.0),
                    attr::get_str(a, keys::GEN_AI_OPERATION_NAME),
                )),
            };
            let target = hash_of((model_of(s), attr::get_str(a, keys::GEN_AI_PROVIDER_NAME)));
            (request, target)
        })
        .collect();
    if calls.len() < 2 {
        return false;
    }
    calls.sort_unstable();
    calls
        .windows(2)
        .any(|w| w[0].0 == w[1].0 && w[0].1 != w[1].1)
}

/// `agent_loop`: the same tool (`gen_ai.tool.name`) with the same arguments
/// (`gen_ai.tool.call.arguments`) called at least `min_repeats` times. Calls whose
/// arguments were not recorded do not count: without them a loop cannot be told from a
/// tool used several times on purpose.
#[derive(Debug, Clone)]
pub struct AgentLoop {
    pub(crate) min_repeats: u32,
}

impl AgentLoop {
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        let mut calls: Vec<u64> = trace
            .spans
            .iter()
            .filter_map(|s| {
                let name = attr::get_str(&s.attributes, "gen_ai.tool.name")?;
                let mut args = String::new();
                let value = attr::get(&s.attributes, "gen_ai.tool.call.arguments")?;
                attr::render_into(Some(value), &mut args);
                Some(hash_of((name, args.trim())))
            })
            .collect();
        if calls.len() < self.min_repeats as usize {
            return false;
        }
        calls.sort_unstable();
        calls
            .chunk_by(|a, b| a == b)
            .any(|run| run.len() >= self.min_repeats as usize)
    }
}
