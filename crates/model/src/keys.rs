//! Canonical attribute keys, in one place.

/// Resource attribute naming the service.
pub const SERVICE_NAME: &str = "service.name";
/// The OTel spec's service name when none was given.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// GenAI semantic conventions (current names).
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// Provider of the model.
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// Older name of the provider attribute.
pub const GEN_AI_SYSTEM: &str = "gen_ai.system";
/// Model requested.
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
/// Model that answered.
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
/// Input tokens, including cached ones.
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// Output tokens.
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// Input tokens read from the provider's cache.
pub const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
/// Input tokens written to the provider's cache.
pub const GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: &str =
    "gen_ai.usage.cache_creation.input_tokens";
/// Reasoning tokens, part of output.
pub const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
/// Why the model stopped.
pub const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";

/// tracegate's own attributes.
pub const TRACEGATE_CATEGORY: &str = "tracegate.category";
/// Cost in US dollars, set by enrichment.
pub const TRACEGATE_COST_USD: &str = "tracegate.cost_usd";
/// Time to first token in seconds (canonical GenAI name), set by enrichment.
pub const GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
/// Where the TTFT came from.
pub const TRACEGATE_TTFT_SOURCE: &str = "tracegate.ttft_source";
/// Time to first token in ns on LLM spans, set by the breakdown.
pub const TRACEGATE_PREFILL_NS: &str = "tracegate.prefill_ns";
/// Span end minus first token, in ns.
pub const TRACEGATE_DECODE_NS: &str = "tracegate.decode_ns";
/// Decode time divided by (output tokens - 1), in ns.
pub const TRACEGATE_TIME_PER_OUTPUT_TOKEN_NS: &str = "tracegate.time_per_output_token_ns";
/// Where the cost came from: `provided` or `price_table`.
pub const TRACEGATE_COST_SOURCE: &str = "tracegate.cost_source";
/// Set when no price is known for the model.
pub const TRACEGATE_COST_UNKNOWN_MODEL: &str = "tracegate.cost_unknown_model";
/// Set when the emitter sent input tokens exclusive of cached ones and they were converted.
pub const TRACEGATE_USAGE_EXCLUSIVE_INPUT: &str = "tracegate.usage_exclusive_input";
/// Network and queueing time of a server span's client call, in ns.
pub const TRACEGATE_NETWORK_NS: &str = "tracegate.network_ns";
/// Clock-skew shift applied to a server subtree, in ns.
pub const TRACEGATE_SKEW_ADJUSTED_NS: &str = "tracegate.skew_adjusted_ns";
/// Set on spans passed through over `max_spans_per_trace`.
pub const TRACEGATE_OVER_CAP: &str = "tracegate.over_cap";
/// Output tokens per second of decoding, set by enrichment.
pub const TRACEGATE_OUTPUT_TOKENS_PER_S: &str = "tracegate.output_tokens_per_s";
/// Self time in ns, set by the breakdown.
pub const TRACEGATE_SELF_TIME_NS: &str = "tracegate.self_time_ns";
/// Share of the critical path in ns, set by the breakdown.
pub const TRACEGATE_CRITICAL_PATH_NS: &str = "tracegate.critical_path_ns";
/// Set on spans that arrived after their trace was released.
pub const TRACEGATE_LATE: &str = "tracegate.late";
/// Set on a span whose parent id names no span of its trace (it hangs under the root), by the
/// breakdown.
pub const TRACEGATE_ORPHAN: &str = "tracegate.orphan";
/// Set on a span whose parent link closed a cycle and was cut (it hangs under the root), by the
/// breakdown.
pub const TRACEGATE_CYCLE_BROKEN: &str = "tracegate.cycle_broken";
/// Set on a span whose id another span of the trace also has, and which lost the id, by the
/// breakdown.
pub const TRACEGATE_DUPLICATE_SPAN_ID: &str = "tracegate.duplicate_span_id";
