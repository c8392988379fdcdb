//! Which log records are LLM calls: the seed's structured LLM log, and the OTel GenAI
//! inference event. Quality records (ratings, feedback, evaluations) are not, whatever else
//! they carry: the `scores` processor takes them.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tracegate_model::log::{LogKind, LogRecord};
use tracegate_model::{attr, keys};

/// The OTel GenAI event that describes one inference call.
pub const INFERENCE_DETAILS_EVENT: &str = "gen_ai.client.inference.operation.details";

/// The attribute older SDKs put the event name in (before `LogRecord.event_name`).
pub const EVENT_NAME_ATTRIBUTE: &str = "event.name";

/// The seed's model fields, in the order they are read.
pub const MODEL_FIELDS: [&str; 2] = ["model", "model_name"];

/// Seed fields of which a record with a model needs one to be an LLM call: prompt, response,
/// token counts, latencies.
pub const CALL_FIELDS: [&str; 10] = [
    "prompt",
    "response",
    "input_tokens",
    "output_tokens",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "first_token_latency_ms",
    "ttft_ms",
    "queue_wait_ms",
];

/// Fields that make a record a quality record (the seed's quality log).
pub const QUALITY_FIELDS: [&str; 2] = ["rating", "feedback"];

/// What a record is, for `llm_logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Not an LLM call: left as it is.
    Other,
    /// An LLM call: the seed's structured log or a GenAI inference event.
    LlmCall,
}

/// The record's event name: `event_name`, else the `event.name` attribute.
pub fn event_name(record: &LogRecord) -> &str {
    if !record.event_name.is_empty() {
        return &record.event_name;
    }
    attr::get_str(&record.attributes, EVENT_NAME_ATTRIBUTE).unwrap_or_default()
}

/// True for an evaluation or feedback record: a `gen_ai.evaluation.result` event, any
/// `gen_ai.evaluation.*` attribute or body field, or the seed's `rating` / `feedback`.
pub fn is_quality(record: &LogRecord) -> bool {
    const EVALUATION: &str = "gen_ai.evaluation.";
    record.facts.kind == LogKind::Score
        || event_name(record) == keys::GEN_AI_EVALUATION_RESULT
        || QUALITY_FIELDS.iter().any(|f| record.field(f).is_some())
        || record
            .attributes
            .iter()
            .chain(record.body_map().unwrap_or_default())
            .any(|kv| kv.key.starts_with(EVALUATION))
}

/// The model the seed's record names (`model`, else `model_name`), when a string.
pub fn seed_model(record: &LogRecord) -> Option<&str> {
    MODEL_FIELDS
        .iter()
        .find_map(|f| record.field_str(f))
        .filter(|m| !m.is_empty())
}

/// Classifies a record whose body was structured ([`LogRecord::structure_body`]).
pub fn classify(record: &LogRecord) -> Shape {
    if is_quality(record) {
        return Shape::Other;
    }
    if event_name(record) == INFERENCE_DETAILS_EVENT {
        return Shape::LlmCall;
    }
    let canonical_model = [keys::GEN_AI_REQUEST_MODEL, keys::GEN_AI_RESPONSE_MODEL]
        .iter()
        .any(|k| matches!(record.attr(k), Some(Value::StringValue(s)) if !s.is_empty()));
    let canonical_usage = [
        keys::GEN_AI_USAGE_INPUT_TOKENS,
        keys::GEN_AI_USAGE_OUTPUT_TOKENS,
    ]
    .iter()
    .any(|k| record.attr(k).is_some());
    if canonical_model && canonical_usage {
        return Shape::LlmCall;
    }
    let has_model = canonical_model || seed_model(record).is_some();
    if has_model && CALL_FIELDS.iter().any(|f| record.field(f).is_some()) {
        return Shape::LlmCall;
    }
    Shape::Other
}
