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

// Keys the `llm_logs` processor writes on a structured LLM log record (besides the
// `gen_ai.*` ones spans use: request and response model, usage, finish reasons, messages).

/// `gen_ai.request.temperature`: the model setting (OTel GenAI semantic conventions).
pub const GEN_AI_REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
/// `gen_ai.request.max_tokens` (OTel GenAI semantic conventions).
pub const GEN_AI_REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
/// `gen_ai.response.id`: the provider's id of the completion; scores may name it.
pub const GEN_AI_RESPONSE_ID: &str = "gen_ai.response.id";
/// `gen_ai.input.messages`: the prompt, as the JSON message list spans carry.
pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// `gen_ai.output.messages`: the completion, as the JSON message list spans carry.
pub const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// `gen_ai.system_instructions`: the system prompt.
pub const GEN_AI_SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
/// `user.id` (OTel semantic conventions): the application's user.
pub const USER_ID: &str = "user.id";
/// The application's own id of the request (the seed's `request_id`), on log records and
/// spans alike; scores may name it.
pub const TRACEGATE_REQUEST_ID: &str = "tracegate.request_id";
/// Attribute keys under which applications put their request id on spans, in the order the
/// score join looks for them.
pub const REQUEST_ID_KEYS: [&str; 4] = [
    TRACEGATE_REQUEST_ID,
    "request_id",
    "app.request_id",
    "request.id",
];
/// The LLM call's whole latency in ms, from a log record (a span has its own duration).
pub const TRACEGATE_LATENCY_MS: &str = "tracegate.latency_ms";
/// Time the request waited in a queue before the model took it, ms (the seed's
/// performance log).
pub const TRACEGATE_QUEUE_WAIT_MS: &str = "tracegate.queue_wait_ms";
/// The `gen_ai.evaluation.result` event's name (log record `event_name` or span event name).
pub const GEN_AI_EVALUATION_RESULT: &str = "gen_ai.evaluation.result";
/// `gen_ai.evaluation.name`.
pub const GEN_AI_EVALUATION_NAME: &str = "gen_ai.evaluation.name";
/// `gen_ai.evaluation.score.value`.
pub const GEN_AI_EVALUATION_SCORE_VALUE: &str = "gen_ai.evaluation.score.value";
/// `gen_ai.evaluation.score.label`.
pub const GEN_AI_EVALUATION_SCORE_LABEL: &str = "gen_ai.evaluation.score.label";
/// `gen_ai.evaluation.explanation`.
pub const GEN_AI_EVALUATION_EXPLANATION: &str = "gen_ai.evaluation.explanation";
/// `error.type`.
pub const ERROR_TYPE: &str = "error.type";
