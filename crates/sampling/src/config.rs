//! `processors.tail_sampling`: the raw config, in the OTel Collector's `tail_sampling` shape.
//!
//! Parsing does no validation beyond types and unknown keys; [`crate::policy::build`] turns
//! it into policies and reports every other problem with its key path.

use serde::Deserialize;
use std::collections::BTreeMap;
use tracegate_pipeline::{ByteSize, Duration};

/// `processors.tail_sampling`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailSamplingConfig {
    /// Where decisions are remembered for late and over-cap fragments.
    pub decision_cache: DecisionCacheConfig,
    /// The policies, in order: after any matching `drop`, the first that matches keeps the
    /// trace. With none, nothing is marked sampled (every trace gets policy `none`).
    pub policies: Vec<PolicyConfig>,
    /// The Collector's; refused with a pointer to `trace_assembly`, which decides when a
    /// trace is whole here.
    pub decision_wait: Option<serde_yaml_ng::Value>,
    /// The Collector's; refused (see `decision_wait`).
    pub num_traces: Option<serde_yaml_ng::Value>,
    /// The Collector's; refused (see `decision_wait`).
    pub expected_new_traces_per_sec: Option<serde_yaml_ng::Value>,
}

/// `decision_cache`: trace id → decision, for fragments that come after their trace.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionCacheConfig {
    /// How long a decision is remembered. Default `5m`.
    pub late_window: Duration,
    /// The most the cache may allocate, in bytes (about 57 B per remembered trace). Default
    /// `16MiB`; `0` turns the cache off.
    pub max_bytes: ByteSize,
    /// The Collector's; refused with a pointer to `max_bytes`.
    pub sampled_cache_size: Option<u64>,
    /// The Collector's; refused with a pointer to `max_bytes`.
    pub non_sampled_cache_size: Option<u64>,
}

impl Default for DecisionCacheConfig {
    fn default() -> Self {
        Self {
            late_window: Duration::from_secs(300),
            max_bytes: ByteSize::mib(16),
            sampled_cache_size: None,
            non_sampled_cache_size: None,
        }
    }
}

/// Every policy type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum PolicyType {
    AlwaysSample,
    StatusCode,
    Latency,
    Probabilistic,
    RateLimiting,
    BytesLimiting,
    StringAttribute,
    NumericAttribute,
    BooleanAttribute,
    SpanCount,
    TraceState,
    And,
    Composite,
    Drop,
    LlmCost,
    LlmTokens,
    LlmTtft,
    LlmFinishReason,
    LlmError,
    LlmRetry,
    AgentLoop,
    FirstPerSlice,
    EvaluationScore,
}

impl PolicyType {
    /// The name in config, which is also the key of the type's own section.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlwaysSample => "always_sample",
            Self::StatusCode => "status_code",
            Self::Latency => "latency",
            Self::Probabilistic => "probabilistic",
            Self::RateLimiting => "rate_limiting",
            Self::BytesLimiting => "bytes_limiting",
            Self::StringAttribute => "string_attribute",
            Self::NumericAttribute => "numeric_attribute",
            Self::BooleanAttribute => "boolean_attribute",
            Self::SpanCount => "span_count",
            Self::TraceState => "trace_state",
            Self::And => "and",
            Self::Composite => "composite",
            Self::Drop => "drop",
            Self::LlmCost => "llm_cost",
            Self::LlmTokens => "llm_tokens",
            Self::LlmTtft => "llm_ttft",
            Self::LlmFinishReason => "llm_finish_reason",
            Self::LlmError => "llm_error",
            Self::LlmRetry => "llm_retry",
            Self::AgentLoop => "agent_loop",
            Self::FirstPerSlice => "first_per_slice",
            Self::EvaluationScore => "evaluation_score",
        }
    }
}

/// One policy: `{ name, type, <type>: { ... } }`, as in the Collector. Only the section
/// named by `type` may be given; sections whose fields all have defaults may be left out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct PolicyConfig {
    /// The name recorded with each decision (the archive's `sampling_policy`). Defaults to
    /// the type; names must be unique within their list.
    #[serde(default)]
    pub name: Option<String>,
    /// The policy type.
    #[serde(rename = "type")]
    pub kind: PolicyType,
    #[serde(default)]
    pub status_code: Option<StatusCodeConfig>,
    #[serde(default)]
    pub latency: Option<LatencyConfig>,
    #[serde(default)]
    pub probabilistic: Option<ProbabilisticConfig>,
    #[serde(default)]
    pub rate_limiting: Option<RateLimitingConfig>,
    #[serde(default)]
    pub bytes_limiting: Option<BytesLimitingConfig>,
    #[serde(default)]
    pub string_attribute: Option<StringAttributeConfig>,
    #[serde(default)]
    pub numeric_attribute: Option<NumericAttributeConfig>,
    #[serde(default)]
    pub boolean_attribute: Option<BooleanAttributeConfig>,
    #[serde(default)]
    pub span_count: Option<SpanCountConfig>,
    #[serde(default)]
    pub trace_state: Option<TraceStateConfig>,
    #[serde(default)]
    pub and: Option<AndConfig>,
    #[serde(default)]
    pub composite: Option<CompositeConfig>,
    #[serde(default)]
    pub drop: Option<DropConfig>,
    #[serde(default)]
    pub llm_cost: Option<LlmCostConfig>,
    #[serde(default)]
    pub llm_tokens: Option<LlmTokensConfig>,
    #[serde(default)]
    pub llm_ttft: Option<LlmTtftConfig>,
    #[serde(default)]
    pub llm_finish_reason: Option<LlmFinishReasonConfig>,
    #[serde(default)]
    pub llm_error: Option<LlmErrorConfig>,
    #[serde(default)]
    pub llm_retry: Option<LlmRetryConfig>,
    #[serde(default)]
    pub agent_loop: Option<AgentLoopConfig>,
    #[serde(default)]
    pub first_per_slice: Option<FirstPerSliceConfig>,
    #[serde(default)]
    pub evaluation_score: Option<EvaluationScoreConfig>,
}

/// `status_code`: a span has one of these statuses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusCodeConfig {
    /// `ERROR`, `OK` and/or `UNSET`.
    pub status_codes: Vec<String>,
}

/// `latency`: the trace (first start to last end) lasts at least `threshold_ms`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    /// Lower bound, ms (inclusive).
    pub threshold_ms: u64,
    /// Upper bound, ms (inclusive); unset or `0` for none.
    #[serde(default)]
    pub upper_threshold_ms: Option<u64>,
}

/// `probabilistic`: a share of traces, by a hash of the trace id (the Collector's FNV-1a
/// hash of salt then id, so every gateway and Collector with the same salt agrees).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilisticConfig {
    /// Percent of traces, 0–100.
    pub sampling_percentage: f64,
    /// Salt for the hash; default the Collector's `default-hash-seed`.
    #[serde(default)]
    pub hash_salt: Option<String>,
}

/// `rate_limiting`: keep while the kept spans this second stay within the limit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitingConfig {
    /// Spans per second.
    pub spans_per_second: u64,
}

/// `bytes_limiting`: a token bucket over the spans' in-memory size.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BytesLimitingConfig {
    /// Refill rate, bytes per second.
    pub bytes_per_second: u64,
    /// Bucket size, bytes; default twice `bytes_per_second`.
    #[serde(default)]
    pub burst_capacity: Option<u64>,
}

/// `string_attribute`: a span or resource attribute has one of these values.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringAttributeConfig {
    /// Attribute key.
    pub key: String,
    /// Values, or regular expressions with `enabled_regex_matching` (unanchored, as in Go).
    pub values: Vec<String>,
    /// Treat `values` as regular expressions (each at most 1 KiB).
    #[serde(default)]
    pub enabled_regex_matching: bool,
    /// The Collector's regex result cache; accepted and unused (matching is not cached).
    #[serde(default)]
    pub cache_max_size: Option<u64>,
    /// Match when no span has a matching value (a missing key counts as not matching).
    #[serde(default)]
    pub invert_match: bool,
}

/// `numeric_attribute`: a span or resource attribute lies in `[min_value, max_value]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumericAttributeConfig {
    /// Attribute key.
    pub key: String,
    /// Lower bound (inclusive); unset for none.
    #[serde(default)]
    pub min_value: Option<f64>,
    /// Upper bound (inclusive); unset for none.
    #[serde(default)]
    pub max_value: Option<f64>,
    /// Match when no span has a value in range.
    #[serde(default)]
    pub invert_match: bool,
}

/// `boolean_attribute`: a span or resource attribute has this value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BooleanAttributeConfig {
    /// Attribute key.
    pub key: String,
    /// The value.
    pub value: bool,
    /// Match when no span has the value.
    #[serde(default)]
    pub invert_match: bool,
}

/// `span_count`: the trace has between `min_spans` and `max_spans` spans.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanCountConfig {
    /// Lower bound (inclusive).
    pub min_spans: u64,
    /// Upper bound (inclusive); unset or `0` for none.
    #[serde(default)]
    pub max_spans: Option<u64>,
}

/// `trace_state`: a span's W3C trace state has `key` with one of `values`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceStateConfig {
    /// Trace-state key.
    pub key: String,
    /// Values.
    pub values: Vec<String>,
}

/// `and`: every sub-policy matches.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndConfig {
    /// The sub-policies, evaluated in order.
    pub and_sub_policy: Vec<PolicyConfig>,
}

/// `drop`: every sub-policy matches, and then the trace is not sampled whatever else
/// matches.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropConfig {
    /// The sub-policies, evaluated in order.
    pub drop_sub_policy: Vec<PolicyConfig>,
}

/// `composite`: sub-policies with a share each of one spans-per-second budget.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositeConfig {
    /// The whole budget, spans per second.
    pub max_total_spans_per_second: u64,
    /// Sub-policy names, in evaluation order; each sub-policy exactly once.
    pub policy_order: Vec<String>,
    /// The sub-policies.
    pub composite_sub_policy: Vec<PolicyConfig>,
    /// Shares of the budget; sub-policies without one split what is left equally.
    #[serde(default)]
    pub rate_allocation: Vec<RateAllocationConfig>,
}

/// One share of a composite budget.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateAllocationConfig {
    /// Sub-policy name.
    pub policy: String,
    /// Percent of `max_total_spans_per_second`.
    pub percent: f64,
}

/// `llm_cost`: the trace's total `tracegate.cost_usd` is at least `threshold_usd`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmCostConfig {
    /// US dollars.
    pub threshold_usd: f64,
}

/// `llm_tokens`: input plus output tokens, over the trace's LLM calls or on one call.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmTokensConfig {
    /// Match when the trace's LLM calls use at least this many tokens in all.
    #[serde(default)]
    pub total_threshold: Option<u64>,
    /// Match when one LLM call uses at least this many.
    #[serde(default)]
    pub per_call_threshold: Option<u64>,
}

/// `llm_ttft`: an LLM call's time to first token is at least the threshold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmTtftConfig {
    /// Threshold for models not in `models`, ms.
    pub threshold_ms: f64,
    /// Per-model thresholds, ms, by request (or else response) model, exact name.
    #[serde(default)]
    pub models: BTreeMap<String, f64>,
}

/// `llm_finish_reason`: an LLM call stopped for one of these reasons.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmFinishReasonConfig {
    /// Finish reasons, as OpenAI names them (`length`, `content_filter`, `tool_calls`,
    /// `stop`); other providers' names are mapped to these (`max_tokens` → `length`,
    /// `SAFETY` → `content_filter`, …), other values compare lowercased.
    pub values: Vec<String>,
}

/// `llm_error`: a span failed with one of these error classes.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmErrorConfig {
    /// Classes (see [`crate::policy::ErrorClass`]); default every class.
    #[serde(default)]
    pub classes: Vec<String>,
}

/// `llm_retry`: the same request sent to more than one model or provider.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmRetryConfig {}

/// `agent_loop`: the same tool with the same arguments called at least `min_repeats` times.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentLoopConfig {
    /// Calls; default 3, at least 2.
    pub min_repeats: u32,
}

impl Default for AgentLoopConfig {
    fn default() -> Self {
        Self { min_repeats: 3 }
    }
}

/// `first_per_slice`: the first `per_hour` traces each hour of every slice (such as every
/// model and provider pair).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirstPerSliceConfig {
    /// Traces kept per slice per hour; default 5.
    pub per_hour: u32,
    /// What makes a slice: any of `model`, `provider`, `operation`, `service`,
    /// `prompt_version` (the `gen_ai.prompt.version` attribute) or `attribute:KEY`.
    /// Default `[model, provider]`.
    pub by: Vec<String>,
    /// Slices remembered at once (16 B each); default 10000. When full, slices from past
    /// hours are dropped first; a new slice that still finds no room does not match.
    pub max_slices: usize,
}

impl Default for FirstPerSliceConfig {
    fn default() -> Self {
        Self {
            per_hour: 5,
            by: vec!["model".to_owned(), "provider".to_owned()],
            max_slices: 10_000,
        }
    }
}

/// `evaluation_score`: the trace carries a quality score (an evaluation or feedback joined
/// to it while trace assembly held it, or one its spans carry; see `Trace::scores`) that
/// is low enough, or has one of the listed labels. Give `max_value`, `labels` or both.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationScoreConfig {
    /// Only scores of this evaluation (`gen_ai.evaluation.name`, `user_feedback` for the
    /// seed's ratings); unset for every score.
    #[serde(default)]
    pub name: Option<String>,
    /// Match when a score's value is at most this (inclusive).
    #[serde(default)]
    pub max_value: Option<f64>,
    /// Match when a score's label is one of these (compared ignoring ASCII case).
    #[serde(default)]
    pub labels: Vec<String>,
}
